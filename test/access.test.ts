// Access, beyond what api.test.ts already proves (per username-and-address sign-in limit,
// session expiry, logout, token revocation, deactivation): the sign-in limit also holds for
// one address spraying many usernames, and one username tried from many addresses is slowed
// but never locked (the right password still gets in); and
// no password, token, session or agency credential ever reaches the logs of a real
// `arrears start` (pino, stdout and stderr) or the CLI's output, through sign-in, token
// creation, a password change, saving agency credentials and a failed delivery.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { SESSION_COOKIE, WIDE_LOGIN_FACTOR } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import { addAgency } from '../src/services/agencies.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { addUser } from '../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

const ROOT = join(import.meta.dirname, '..');
const PASSWORD = 'correct horse battery staple';
useTestSecretKey();

let t: TestDatabase;
let now = new Date('2025-06-02T15:00:00Z');
const clock: Clock = { now: () => new Date(now) };
let ctx: Context;
const dir = mkdtempSync(join(tmpdir(), 'arrears-access-'));

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock, actor: 'setup' };
});

afterAll(async () => {
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the sign-in limit beyond one username at one address', () => {
  const LIMIT = { attempts: 2, windowMinutes: 10 };
  const WIDE = LIMIT.attempts * WIDE_LOGIN_FACTOR;
  let app: FastifyInstance;
  const login = (username: string, password: string, address: string) =>
    app.inject({ method: 'POST', url: '/api/login', remoteAddress: address, payload: { username, password } }).then((r) => r.statusCode);

  beforeAll(async () => {
    for (const name of ['alice', 'bob']) await addUser(ctx, { username: name, password: PASSWORD, roles: ['viewer'] });
    app = await buildServer(ctx, { loginLimit: LIMIT });
  });
  afterAll(() => app?.close());

  it('one address spraying many usernames is refused with 429, even the right password, until the window has passed', async () => {
    for (let i = 0; i < WIDE; i++) expect(await login(`nobody${i}`, 'guess guess guess', '10.0.0.1')).toBe(401);
    expect(await login('alice', PASSWORD, '10.0.0.1')).toBe(429);
    // Alice from her own address is not affected.
    expect(await login('alice', PASSWORD, '10.0.0.2')).toBe(200);
    now = new Date(now.getTime() + LIMIT.windowMinutes * 60_000);
    expect(await login('alice', PASSWORD, '10.0.0.1')).toBe(200);
  });

  it('one username tried from many addresses is slowed, never locked: the right password from another address gets in', async () => {
    for (let i = 0; i < WIDE; i++) expect(await login('bob', 'guess guess guess', `10.1.0.${i + 1}`)).toBe(401);
    // Past the wide count every attempt on bob waits (1 s, then 2 s, …) but is answered.
    let started = Date.now();
    expect(await login('bob', 'guess guess guess', '10.1.1.1')).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    started = Date.now();
    expect(await login('bob', PASSWORD, '10.9.9.9')).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2000);
    const audit = await t.db.selectFrom('audit_log').select(['actor', 'action', 'after']).where('entity_id', '=', 'bob').where('action', 'like', 'user.login%').orderBy('id').execute();
    expect(audit.filter((a) => a.action === 'user.login_failed')).toHaveLength(WIDE + 1);
    expect(audit.filter((a) => a.action === 'user.login_slowed')).toEqual([{ actor: 'bob', action: 'user.login_slowed', after: { address: `10.1.0.${WIDE}`, scope: 'this username, from every address' } }]);
    expect(audit.at(-1)).toEqual({ actor: 'bob', action: 'user.login', after: { address: '10.9.9.9' } });
  });

  it('the pair limit still comes first: two failures for one username at one address', async () => {
    now = new Date(now.getTime() + LIMIT.windowMinutes * 60_000);
    for (let i = 0; i < LIMIT.attempts; i++) expect(await login('alice', 'wrong wrong wrong', '10.2.0.1')).toBe(401);
    expect(await login('alice', PASSWORD, '10.2.0.1')).toBe(429);
  });
});

/** Runs the CLI as scripts do: its own Node process, through tsx. */
function cli(args: string[], stdin?: string): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: ROOT, env: process.env });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, out }));
    child.stdin.end(stdin ?? '');
  });
}

describe('secrets never reach the logs', () => {
  const WRONG = 'Wrong-Guess-8c1f0e';
  const NEW_PASSWORD = 'a brand new passphrase 4d7a';
  const CREDENTIALS = ['Sftp-Secret-First-91b2', 'Sftp-Secret-Second-77d0'];
  let server: ChildProcess | undefined;
  let log = '';

  afterAll(() => {
    server?.kill('SIGTERM');
  });

  it('a real `arrears start`: sign-in, token, password change, agency credentials and a failed delivery', async () => {
    // PGlite: a folder the server opens after setup has closed it; PostgreSQL: this file's schema.
    const folder = join(dir, 'db');
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : folder;
    const setup = testDbKind() === 'postgres' ? t : Object.assign(await openDatabase({ url: folder }), { url: folder, dispose: async () => undefined });
    const s = new Scenario(setup as TestDatabase);
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
    const setupCtx: Context = { database: setup, clock, actor: 'setup' };
    // Port 1 on loopback refuses: the delivery fails, with the credential in hand.
    await addAgency(setupCtx, { name: 'Vault', transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: 1, username: 'library' }, secrets: { password: CREDENTIALS[0] } });
    await s.settings({ agency: 'Vault' });
    await addUser(setupCtx, { username: 'keeper', password: PASSWORD, roles: ['admin'] });
    if (testDbKind() === 'pglite') await setup.close();

    server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, 'start', '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT, env: process.env });
    server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
    server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
    const base = await new Promise<string>((resolve, reject) => {
      const timer = setInterval(() => {
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
        if (m) {
          clearInterval(timer);
          resolve(m[1]!);
        }
      }, 50);
      server!.on('exit', (code) => {
        clearInterval(timer);
        reject(new Error(`arrears start exited ${code}: ${log}`));
      });
    });

    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${base}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post('/api/login', { username: 'keeper', password: WRONG })).status).toBe(401);
    const signedIn = await post('/api/login', { username: 'keeper', password: PASSWORD });
    expect(signedIn.status).toBe(200);
    const session = /arrears_session=([^;]+)/.exec(signedIn.headers.get('set-cookie') ?? '')![1]!;
    const cookie = { cookie: `${SESSION_COOKIE}=${session}`, 'x-csrf-token': signedIn.headers.get('x-csrf-token')! };

    const created = await post('/api/users/keeper/tokens', { name: 'nightly' }, cookie);
    expect(created.status).toBe(201);
    const { token } = (await created.json()) as { token: string };
    const bearer = { authorization: `Bearer ${token}` };
    expect((await fetch(`${base}/api/me`, { headers: bearer })).status).toBe(200);
    expect((await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);

    const saved = await fetch(`${base}/api/agencies/Vault`, { method: 'PATCH', headers: { 'content-type': 'application/json', ...bearer }, body: JSON.stringify({ secrets: { password: CREDENTIALS[1] } }) });
    expect(saved.status).toBe(200);
    const run = await post('/api/runs', { reportDate: '2025-06-02' }, bearer);
    expect(run.status, await run.clone().text()).toBe(200);
    const files = (await (await fetch(`${base}/api/files`, { headers: bearer })).json()) as { items: { id: number }[] };
    expect(files.items.length).toBeGreaterThan(0);
    const retry = (await (await post(`/api/files/${files.items[0]!.id}/retry`, {}, bearer)).json()) as { ok?: boolean; error?: string };
    expect(retry).toMatchObject({ ok: false });

    expect((await post('/api/me/password', { currentPassword: PASSWORD, newPassword: NEW_PASSWORD }, cookie)).status).toBe(200);
    expect((await post('/api/login', { username: 'keeper', password: NEW_PASSWORD })).status).toBe(200);

    server.kill('SIGTERM');
    await new Promise((resolve) => server!.once('close', resolve));
    server = undefined;

    // The log is real: pino request lines for what was done above.
    expect(log).toContain('"url":"/api/login"');
    expect(log).toContain('"url":"/api/agencies/Vault"');
    for (const secret of [PASSWORD, WRONG, NEW_PASSWORD, token, session, ...CREDENTIALS, '$argon2']) expect(log, `the server log holds ${secret}`).not.toContain(secret);

    // The CLI: a password given on standard input and a token shown once on stdout, never elsewhere.
    const added = await cli(['--db', url, 'users', 'add', 'scripted', '--role', 'viewer', '--password-stdin'], `${NEW_PASSWORD}-cli\n`);
    expect(added.code, added.out).toBe(0);
    expect(added.out).not.toContain(`${NEW_PASSWORD}-cli`);
    const listed = await cli(['--db', url, 'agencies', 'list', '--json']);
    expect(listed.code, listed.out).toBe(0);
    for (const secret of CREDENTIALS) expect(listed.out).not.toContain(secret);
  });
});
