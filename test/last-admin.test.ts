// The last active administrator cannot be demoted or deactivated, by the service, the API or
// the CLI: otherwise nobody could manage users or the settings table any more (issue 15,
// defect 1; issue 16, finding 9). Two administrators demoting each other, one after the other
// or at the same moment, leave one administrator.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { addUser, getUser, updateUser } from '../src/services/users.ts';
import { runCli } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';

const PASSWORD = 'correct horse battery staple';
let t: TestDatabase;
let ctx: Context;
let app: FastifyInstance;
const clock: Clock = { now: () => new Date('2025-06-30T15:00:00Z') };

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock, actor: 'cli:root' };
  app = await buildServer(ctx);
});
afterAll(async () => {
  await app?.close();
  await t?.dispose();
});

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(username: string): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password: PASSWORD } });
  expect(res.statusCode).toBe(200);
  return { cookie: `${SESSION_COOKIE}=${res.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`, csrf: res.json().csrfToken as string };
}

/** As the staff app sends it: the session cookie and its CSRF token. */
function patchUser(session: Session, user: string, body: object) {
  return app.inject({ method: 'PATCH', url: `/api/users/${user}`, payload: body, headers: { cookie: session.cookie, [CSRF_HEADER]: session.csrf } });
}

async function activeAdmins(): Promise<string[]> {
  const rows = await t.db
    .selectFrom('user_roles as ur')
    .innerJoin('users as u', 'u.id', 'ur.user_id')
    .where('ur.role', '=', 'admin')
    .where('u.active', '=', true)
    .select('u.username')
    .orderBy('u.username')
    .execute();
  return rows.map((r) => r.username);
}

describe('the last active administrator', () => {
  it('cannot lose the admin role or be deactivated through the service; nothing changes and nothing is audited', async () => {
    await addUser(ctx, { username: 'solo', password: PASSWORD, roles: ['admin'] });
    await expect(updateUser(ctx, 'solo', { roles: ['viewer'] })).rejects.toMatchObject({
      name: 'ConflictError',
      message: 'cannot remove the admin role from solo: they are the last active administrator; give another user the admin role first',
    });
    await expect(updateUser(ctx, 'solo', { active: false })).rejects.toMatchObject({
      name: 'ConflictError',
      message: 'cannot deactivate solo: they are the last active administrator; give another user the admin role first',
    });
    expect(await getUser(t.db, 'solo')).toMatchObject({ roles: ['admin'], active: true });
    expect(await t.db.selectFrom('audit_log').select('id').where('action', '=', 'user.update').execute()).toEqual([]);
    // Everything else about them can still change, and adding roles is fine.
    expect(await updateUser(ctx, 'solo', { displayName: 'Solo Admin', roles: ['admin', 'viewer'] })).toMatchObject({ displayName: 'Solo Admin', roles: ['admin', 'viewer'] });
  });

  it('an inactive administrator does not count; with a second active one, either may be demoted', async () => {
    await addUser(ctx, { username: 'dormant', password: PASSWORD, roles: ['admin'] });
    await updateUser(ctx, 'dormant', { active: false });
    await expect(updateUser(ctx, 'solo', { roles: ['viewer'] })).rejects.toMatchObject({ name: 'ConflictError' });
    await updateUser(ctx, 'dormant', { active: true });
    expect(await updateUser(ctx, 'solo', { roles: ['viewer'] })).toMatchObject({ roles: ['viewer'] });
    expect(await activeAdmins()).toEqual(['dormant']);
    await updateUser(ctx, 'solo', { roles: ['admin'] });
  });
});

describe('through the API (issue 16, finding 9)', () => {
  it('two administrators demoting each other one after the other leave one administrator: 409, nothing changed', async () => {
    await addUser(ctx, { username: 'ann', password: PASSWORD, roles: ['admin'] });
    await addUser(ctx, { username: 'ben', password: PASSWORD, roles: ['admin'] });
    // Only these two: the others lose the role first.
    await updateUser(ctx, 'solo', { roles: ['viewer'] });
    await updateUser(ctx, 'dormant', { roles: ['viewer'] });
    const ann = await signIn('ann');
    const ben = await signIn('ben');

    const first = await patchUser(ann, 'ben', { roles: ['business_office'] });
    expect(first.statusCode).toBe(200);
    // Ben's session still stands, but he is no longer an administrator.
    const second = await patchUser(ben, 'ann', { roles: ['viewer'] });
    expect(second.statusCode).toBe(403);
    // Ann demoting herself, or switching herself off, would leave nobody.
    const self = await patchUser(ann, 'ann', { roles: ['viewer'] });
    expect(self.statusCode).toBe(409);
    expect(self.json()).toEqual({
      error: { code: 'conflict', message: 'cannot remove the admin role from ann: they are the last active administrator; give another user the admin role first' },
    });
    expect((await patchUser(ann, 'ann', { active: false })).statusCode).toBe(409);
    expect(await activeAdmins()).toEqual(['ann']);
  });

  it('two administrators demoting each other at the same moment: one succeeds, the other is refused', async () => {
    await updateUser(ctx, 'ben', { roles: ['admin'] });
    const ann = await signIn('ann');
    const ben = await signIn('ben');
    const replies = await Promise.all([patchUser(ann, 'ben', { roles: ['viewer'] }), patchUser(ben, 'ann', { roles: ['viewer'] })]);
    const codes = replies.map((r) => r.statusCode).sort();
    // The second to run either finds its caller demoted already (403) or itself the last one (409).
    expect(codes[0]).toBe(200);
    expect([403, 409]).toContain(codes[1]);
    expect(await activeAdmins()).toHaveLength(1);
  });
});

describe('through the CLI', () => {
  it('`users roles-of` and `users deactivate` of the last administrator exit 3 and change nothing', async () => {
    // PGlite: a folder the CLI opens after this process has closed it; PostgreSQL: this file's schema.
    const dir = mkdtempSync(join(tmpdir(), 'arrears-last-admin-'));
    try {
      const folder = join(dir, 'db');
      const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : folder;
      if (testDbKind() === 'pglite') {
        const db = await openDatabase({ url: folder });
        await addUser({ database: db, clock, actor: 'setup' }, { username: 'ann', password: PASSWORD, roles: ['admin'] });
        await db.close();
      }
      const last = (await activeAdminsAt(url))[0]!;
      const demote = await runCli(url, ['users', 'roles-of', last, 'viewer']);
      expect(demote.code).toBe(3);
      expect(demote.stderr).toBe(`error: cannot remove the admin role from ${last}: they are the last active administrator; give another user the admin role first\n`);
      const off = await runCli(url, ['users', 'deactivate', last]);
      expect(off.code).toBe(3);
      expect(off.stderr).toContain(`cannot deactivate ${last}: they are the last active administrator`);
      expect(await activeAdminsAt(url)).toEqual([last]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** The active administrators as another process sees them. */
async function activeAdminsAt(url: string): Promise<string[]> {
  if (testDbKind() === 'postgres') return activeAdmins();
  const db = await openDatabase({ url });
  try {
    const rows = await db.db
      .selectFrom('user_roles as ur')
      .innerJoin('users as u', 'u.id', 'ur.user_id')
      .where('ur.role', '=', 'admin')
      .where('u.active', '=', true)
      .select('u.username')
      .execute();
    return rows.map((r) => r.username);
  } finally {
    await db.close();
  }
}
