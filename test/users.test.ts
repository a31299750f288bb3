// Users, roles, sessions and API tokens: argon2id hashes, refusals, expiry, revocation, and
// the built-in roles seeded by migration 090 exactly as src/domain/permissions.ts defines them.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES } from '../src/domain/permissions.ts';
import type { Clock, Context } from '../src/services/context.ts';
import {
  addUser,
  changeOwnPassword,
  countUsers,
  createToken,
  getUser,
  listRoles,
  listTokens,
  login,
  logout,
  passwordProblem,
  removeRole,
  revokeToken,
  saveRole,
  sessionUser,
  tokenUser,
  updateUser,
} from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

let t: TestDatabase;
let now = new Date('2025-06-30T15:00:00Z');
const clock: Clock = { now: () => new Date(now) };
let ctx: Context;
const PASSWORD = 'correct horse battery staple';
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock, actor: 'cli:root' };
});
afterAll(() => t.dispose());

function at(iso: string): void {
  now = new Date(iso);
}

describe('built-in roles', () => {
  it('are seeded exactly as the code defines them and cannot be changed or removed', async () => {
    const roles = await listRoles(t.db);
    expect(roles.filter((r) => r.builtIn).map((r) => ({ name: r.name, description: r.description, permissions: r.permissions }))).toEqual(
      [...BUILT_IN_ROLES].sort((a, b) => a.name.localeCompare(b.name)).map((r) => ({ name: r.name, description: r.description, permissions: [...r.permissions] })),
    );
    await expect(saveRole(ctx, { name: 'viewer', permissions: ['audit.view'] })).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(removeRole(ctx, 'admin')).rejects.toMatchObject({ name: 'ConflictError', message: '"admin" is a built-in role and cannot be removed' });
  });
});

describe('users and passwords', () => {
  it('stores an argon2id hash, never the password, and audits the user without it', async () => {
    expect(await countUsers(t.db)).toBe(0);
    const user = await addUser(ctx, { username: ' Alice ', password: PASSWORD, displayName: 'Alice Liddell', roles: ['circulation'] });
    expect(user).toMatchObject({ username: 'alice', displayName: 'Alice Liddell', roles: ['circulation'], active: true, hasPassword: true });
    expect(user.permissions).toEqual(['parameters.view', 'runs.run', 'ledger.view', 'recordsets.manage']);
    const row = await t.db.selectFrom('users').select('password_hash').where('username', '=', 'alice').executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(row.password_hash).not.toContain(PASSWORD);
    const audit = await t.db.selectFrom('audit_log').select(['actor', 'action', 'entity_id', 'after']).where('action', '=', 'user.create').execute();
    expect(audit).toEqual([
      { actor: 'cli:root', action: 'user.create', entity_id: 'alice', after: { username: 'alice', displayName: 'Alice Liddell', roles: ['circulation'], active: true, hasPassword: true } },
    ]);
    expect(JSON.stringify(audit)).not.toContain('argon2');
  });

  it('refuses bad names, short passwords and unknown roles by field, and a taken name as a conflict', async () => {
    await expect(addUser(ctx, { username: 'no spaces!', password: 'short', roles: ['admin', 'wizard'] })).rejects.toMatchObject({
      name: 'ValidationError',
      problems: [
        { field: 'username', reason: expect.stringContaining('letters, digits') },
        { field: 'password', reason: 'must be at least 12 characters' },
        { field: 'roles', reason: expect.stringContaining('no role is named "wizard"') },
      ],
    });
    await expect(addUser(ctx, { username: 'ALICE', password: PASSWORD, roles: [] })).rejects.toMatchObject({ name: 'ConflictError', message: 'a user named "alice" already exists' });
  });

  it('signs in with the right password only; unknown users get the same answer', async () => {
    at('2025-06-30T15:00:00Z');
    const signedIn = await login(ctx, 'Alice', PASSWORD);
    expect(signedIn.user).toMatchObject({ username: 'alice', roles: ['circulation'] });
    expect(signedIn.expiresAt).toEqual(new Date('2025-07-01T03:00:00Z'));
    expect(signedIn.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const stored = await t.db.selectFrom('sessions').select('id').execute();
    expect(stored.map((r) => r.id)).toContain(sha256(signedIn.token));
    expect(stored.map((r) => r.id)).not.toContain(signedIn.token);

    const wrong = await login(ctx, 'alice', 'not the password').catch((e: unknown) => e);
    expect(wrong).toMatchObject({ name: 'SignInError', httpStatus: 401, message: 'unknown username or wrong password' });
    const unknown = await login(ctx, 'mallory', PASSWORD).catch((e: unknown) => e);
    expect(unknown).toMatchObject({ name: 'SignInError', message: 'unknown username or wrong password' });
    expect((await sessionUser(ctx, signedIn.token))?.username).toBe('alice');
    await logout({ ...ctx, actor: 'alice' }, signedIn.token);
    expect(await sessionUser(ctx, signedIn.token)).toBeNull();
  });

  it('a session ends when idle too long, and at its absolute end however busy', async () => {
    const policy = { idleMinutes: 30, maxMinutes: 120 };
    at('2025-07-01T09:00:00Z');
    const idle = await login(ctx, 'alice', PASSWORD, policy);
    at('2025-07-01T09:29:59Z');
    expect(await sessionUser(ctx, idle.token, policy)).not.toBeNull();
    at('2025-07-01T09:59:59Z');
    expect(await sessionUser(ctx, idle.token, policy)).toBeNull();

    at('2025-07-01T10:00:00Z');
    const busy = await login(ctx, 'alice', PASSWORD, policy);
    for (const time of ['10:25', '10:50', '11:15', '11:40', '11:59']) {
      at(`2025-07-01T${time}:00Z`);
      expect(await sessionUser(ctx, busy.token, policy)).not.toBeNull();
    }
    at('2025-07-01T12:00:00Z');
    expect(await sessionUser(ctx, busy.token, policy)).toBeNull();
  });

  it('a password must be 12 characters, not one of the 10,000 most common, and not the username', async () => {
    const tried = { short: 'elevenchars', common: '1qaz2wsx3edc', commonUpper: 'QWERTY123456', named: 'carol.banks.1' };
    const reasons = Object.fromEntries(Object.entries(tried).map(([k, v]) => [k, passwordProblem(v, 'Carol.Banks.1')]));
    expect(reasons).toEqual({
      short: 'must be at least 12 characters',
      common: 'is one of the 10,000 most common passwords; choose another',
      commonUpper: 'is one of the 10,000 most common passwords; choose another',
      named: 'must not be the username',
    });
    expect(passwordProblem(PASSWORD, 'carol')).toBeNull();
    await expect(addUser(ctx, { username: 'carol', password: '123qweasdzxc', roles: [] })).rejects.toMatchObject({ problems: [{ field: 'password', reason: 'is one of the 10,000 most common passwords; choose another' }] });
  });

  it('a deactivated user cannot sign in, and their sessions and tokens stop working', async () => {
    at('2025-07-02T09:00:00Z');
    await addUser(ctx, { username: 'bob', password: PASSWORD, roles: ['viewer'] });
    const session = await login(ctx, 'bob', PASSWORD);
    const token = await createToken(ctx, 'bob', 'nightly');
    expect((await tokenUser(ctx, token.token))?.username).toBe('bob');

    const bob = await updateUser(ctx, 'bob', { active: false });
    expect(bob.active).toBe(false);
    expect(await sessionUser(ctx, session.token)).toBeNull();
    expect(await tokenUser(ctx, token.token)).toBeNull();
    await expect(login(ctx, 'bob', PASSWORD)).rejects.toMatchObject({ name: 'SignInError' });

    // Reactivated, bob signs in again, but the token was revoked with the deactivation and stays so.
    await updateUser(ctx, 'bob', { active: true });
    expect((await login(ctx, 'bob', PASSWORD)).user.username).toBe('bob');
    expect(await tokenUser(ctx, token.token)).toBeNull();
    expect((await listTokens(t.db, 'bob')).map((r) => r.revokedAt)).toEqual([new Date('2025-07-02T09:00:00Z')]);
    const revoked = await t.db.selectFrom('audit_log').select(['action', 'after']).where('action', '=', 'token.revoke').where('entity_id', '=', String(token.id)).execute();
    expect(revoked).toEqual([{ action: 'token.revoke', after: { reason: 'user deactivated' } }]);
  });

  it("an administrator's password reset revokes the user's API tokens; the user's own change keeps them", async () => {
    await addUser(ctx, { username: 'dora', password: PASSWORD, roles: ['viewer'] });
    const own = await createToken(ctx, 'dora', 'scripts');
    await changeOwnPassword({ ...ctx, actor: 'dora' }, 'dora', PASSWORD, 'dora changed her passphrase');
    expect((await tokenUser(ctx, own.token))?.username).toBe('dora');
    await updateUser(ctx, 'dora', { password: 'reset by the administrator' });
    expect(await tokenUser(ctx, own.token)).toBeNull();
    await expect(changeOwnPassword({ ...ctx, actor: 'dora' }, 'dora', 'reset by the administrator', 'reset by the administrator')).rejects.toMatchObject({
      problems: [{ field: 'newPassword', reason: 'must differ from your current password' }],
    });
  });

  it('changing a password needs the current one and ends the sessions', async () => {
    const session = await login(ctx, 'bob', PASSWORD);
    await expect(changeOwnPassword({ ...ctx, actor: 'bob' }, 'bob', 'wrong one!!', 'a brand new password')).rejects.toMatchObject({ name: 'WrongCurrentPasswordError', problems: [{ field: 'currentPassword' }] });
    await changeOwnPassword({ ...ctx, actor: 'bob' }, 'bob', PASSWORD, 'a brand new password');
    expect(await sessionUser(ctx, session.token)).toBeNull();
    await expect(login(ctx, 'bob', PASSWORD)).rejects.toMatchObject({ name: 'SignInError' });
    expect((await login(ctx, 'bob', 'a brand new password')).user.username).toBe('bob');
    const audit = await t.db.selectFrom('audit_log').select(['actor', 'after']).where('action', '=', 'user.update').orderBy('id', 'desc').executeTakeFirstOrThrow();
    expect(audit).toEqual({ actor: 'bob', after: { username: 'bob', displayName: '', roles: ['viewer'], active: true, hasPassword: true, passwordChanged: true } });
  });
});

describe('API tokens', () => {
  it('are shown once, stored as sha256, work until revoked, and a user without a password can only use them', async () => {
    const bot = await addUser(ctx, { username: 'ils-bot', password: null, roles: ['viewer'] });
    expect(bot.hasPassword).toBe(false);
    await expect(login(ctx, 'ils-bot', '')).rejects.toMatchObject({ name: 'SignInError' });

    const created = await createToken(ctx, 'ils-bot', 'ILS nightly export');
    expect(created.token).toMatch(/^arr_[A-Za-z0-9_-]{43}$/);
    const row = await t.db.selectFrom('api_tokens').select(['token_hash', 'last_used_at']).where('id', '=', created.id).executeTakeFirstOrThrow();
    expect(row).toEqual({ token_hash: sha256(created.token), last_used_at: null });

    at('2025-07-03T08:00:00Z');
    expect(await tokenUser(ctx, created.token)).toMatchObject({ username: 'ils-bot', permissions: ['parameters.view', 'ledger.view'] });
    expect(await tokenUser(ctx, created.token.slice(0, -1) + (created.token.endsWith('A') ? 'B' : 'A'))).toBeNull();
    expect(await tokenUser(ctx, 'not-a-token')).toBeNull();
    const listed = await listTokens(t.db, 'ils-bot');
    expect(listed).toEqual([{ id: created.id, name: 'ILS nightly export', userId: bot.id, username: 'ils-bot', createdAt: expect.any(Date), lastUsedAt: new Date('2025-07-03T08:00:00Z'), revokedAt: null }]);
    expect(JSON.stringify(listed)).not.toContain(created.token);

    const revoked = await revokeToken(ctx, created.id);
    expect(revoked.revokedAt).toEqual(new Date('2025-07-03T08:00:00Z'));
    expect(await tokenUser(ctx, created.token)).toBeNull();
    await expect(revokeToken(ctx, created.id)).rejects.toMatchObject({ name: 'ConflictError' });
    await expect(revokeToken(ctx, 999_999)).rejects.toMatchObject({ name: 'NotFoundError' });
    await expect(createToken(ctx, 'ils-bot', '  ')).rejects.toMatchObject({ problems: [{ field: 'name' }] });
  });
});

describe('custom roles', () => {
  it('grant their permissions, cannot be removed while held, and unknown permissions are refused by index', async () => {
    await expect(saveRole(ctx, { name: 'auditor', permissions: ['audit.view', 'audit.delete'] })).rejects.toMatchObject({
      problems: [{ field: 'permissions[1]', reason: expect.stringContaining('"audit.delete" is not a permission') }],
    });
    const role = await saveRole(ctx, { name: 'auditor', description: 'Reads the audit log', permissions: ['ledger.view', 'audit.view'] });
    expect(role).toEqual({ name: 'auditor', description: 'Reads the audit log', permissions: ['ledger.view', 'audit.view'], builtIn: false, users: 0 });
    const carol = await addUser(ctx, { username: 'carol', password: PASSWORD, roles: ['auditor', 'viewer'] });
    expect(carol.permissions).toEqual(['parameters.view', 'ledger.view', 'audit.view']);
    await expect(removeRole(ctx, 'auditor')).rejects.toMatchObject({ name: 'ConflictError', message: 'role "auditor" is held by 1 user; take it from them first' });

    await saveRole(ctx, { name: 'auditor', permissions: ['audit.view'] });
    expect((await getUser(t.db, 'carol')).permissions).toEqual(['parameters.view', 'ledger.view', 'audit.view']);
    await updateUser(ctx, 'carol', { roles: ['auditor'] });
    expect((await getUser(t.db, 'carol')).permissions).toEqual(['audit.view']);
    await updateUser(ctx, 'carol', { roles: ['viewer'] });
    expect((await removeRole(ctx, 'auditor')).name).toBe('auditor');
    expect((await listRoles(t.db)).map((r) => r.name)).not.toContain('auditor');
  });
});
