// Issue 16 through the server itself (buildServer, inject) and the services, with an injected
// clock: CSRF and other origins on every unsafe request (a route added later included), TOTP
// two-factor sign-in with real RFC 6238 codes computed here at a fixed clock, recovery codes,
// the role that requires it, the 30-minute idle session, the throttled password change,
// audited sign-in failures, layoutConfig validated by shape and depth, transfer destinations
// that never climb out and can be restricted, and the PGlite data folder kept to its owner.
import { createHmac, randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/http/auth.ts';
import Fastify from 'fastify';
import type { AddressInfo } from 'node:net';
import { applyConnectionLimits, connectionLimits } from '../src/http/security.ts';
import { buildServer } from '../src/http/server.ts';
import { addAgency, getAgency } from '../src/services/agencies.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { transferFor } from '../src/services/transfer/index.ts';
import { totpCode } from '../src/services/two-factor.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

const PASSWORD = 'correct horse battery staple';
const savedKey = process.env.ARREARS_SECRET_KEY;
const savedAllow = process.env.ARREARS_TRANSFER_ALLOW;

let t: TestDatabase;
let ctx: Context;
let now = new Date('2025-06-02T15:00:07Z');
const clock: Clock = { now: () => new Date(now) };
const advance = (seconds: number) => (now = new Date(now.getTime() + seconds * 1000));
const dir = mkdtempSync(join(tmpdir(), 'arrears-security-'));

beforeAll(async () => {
  process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
  t = await freshDatabase();
  ctx = { database: t, clock, actor: 'setup' };
});

afterAll(async () => {
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
  for (const [name, value] of [
    ['ARREARS_SECRET_KEY', savedKey],
    ['ARREARS_TRANSFER_ALLOW', savedAllow],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** RFC 6238 (TOTP, SHA-1, 30-second steps) written out here, independent of the library Arrears uses. */
function rfc6238(secret: Buffer, at: Date, digits = 6): string {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at.getTime() / 1000 / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const offset = mac[mac.length - 1]! & 0xf;
  const value = ((mac[offset]! & 0x7f) << 24) | (mac[offset + 1]! << 16) | (mac[offset + 2]! << 8) | mac[offset + 3]!;
  return String(value % 10 ** digits).padStart(digits, '0');
}

function base32(text: string): Buffer {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  return Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
}

/** Code for the secret Arrears showed (base32) at a moment. */
const codeAt = (secret: string, at: Date) => rfc6238(base32(secret), at);

interface Session {
  cookie: string;
  csrf: string;
}

async function signIn(app: FastifyInstance, username: string, extra: Record<string, string> = {}, password = PASSWORD): Promise<Session> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password, ...extra } });
  expect(res.statusCode, res.body).toBe(200);
  return { cookie: `${SESSION_COOKIE}=${res.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`, csrf: res.json().csrfToken as string };
}

/** As the staff app calls, unless a test takes something away. */
function as(app: FastifyInstance, session: Session, req: InjectOptions & { url: string }, headers: Record<string, string | undefined> = {}) {
  const all: Record<string, string> = { cookie: session.cookie, [CSRF_HEADER]: session.csrf };
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) delete all[k];
    else all[k] = v;
  }
  return app.inject({ method: 'GET', ...req, headers: { ...req.headers, ...all } });
}

describe('RFC 6238 as computed here', () => {
  it('matches the RFC test vector and the codes Arrears computes', () => {
    // RFC 6238 appendix B: SHA-1, the ASCII secret "12345678901234567890", T = 59 s → 94287082.
    expect(rfc6238(Buffer.from('12345678901234567890'), new Date(59_000), 8)).toBe('94287082');
    expect(rfc6238(Buffer.from('12345678901234567890'), new Date(1_111_111_109_000), 8)).toBe('07081804');
    const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
    expect(totpCode(secret, now)).toBe(codeAt(secret, now));
  });
});

describe('requests from other origins, and the CSRF token', () => {
  let app: FastifyInstance;
  let session: Session;
  let bearer: string;
  const newUser = () => ({ method: 'POST' as const, url: '/api/users', payload: { username: `u${randomBytes(4).toString('hex')}`, roles: ['viewer'] } });

  beforeAll(async () => {
    await addUser(ctx, { username: 'clerk', password: PASSWORD, roles: ['admin'] });
    await addUser(ctx, { username: 'script', password: null, roles: ['admin'] });
    bearer = (await createToken(ctx, 'script', 'nightly')).token;
    app = await buildServer(ctx);
    // A route added after the others, as a new feature would: the same checks cover it.
    app.post('/api/later-feature', { config: { permission: 'signed-in' } }, async () => ({ done: true }));
    session = await signIn(app, 'clerk');
  });
  afterAll(() => app?.close());

  it('a cookie-signed-in unsafe request needs the session’s token; safe requests do not', async () => {
    expect((await as(app, session, newUser())).statusCode).toBe(201);
    const without = await as(app, session, newUser(), { [CSRF_HEADER]: undefined });
    expect(without.statusCode).toBe(403);
    expect(without.json().error.message).toMatch(/^the x-csrf-token header is missing or wrong/);
    expect((await as(app, session, newUser(), { [CSRF_HEADER]: `${session.csrf}x` })).statusCode).toBe(403);
    // Another session's token is no good either.
    const other = await signIn(app, 'clerk');
    expect((await as(app, session, newUser(), { [CSRF_HEADER]: other.csrf })).statusCode).toBe(403);
    expect((await as(app, session, { url: '/api/users' }, { [CSRF_HEADER]: undefined })).statusCode).toBe(200);
    // Every reply to a signed-in request carries the token, so the app learns it again after a reload.
    expect((await as(app, session, { url: '/api/me' })).headers[CSRF_HEADER]).toBe(session.csrf);
    for (const method of ['POST', 'DELETE'] as const) {
      const res = await as(app, session, { method, url: method === 'POST' ? '/api/later-feature' : '/api/tokens/1' }, { [CSRF_HEADER]: undefined });
      expect(res.statusCode, `${method} without the token`).toBe(403);
    }
    expect((await as(app, session, { method: 'POST', url: '/api/later-feature' })).json()).toEqual({ done: true });
  });

  it('another origin is refused even with the token, and so is another site of the same host (Sec-Fetch-Site)', async () => {
    const own = 'http://localhost';
    expect((await as(app, session, newUser(), { origin: own })).statusCode).toBe(201);
    for (const origin of ['http://localhost:8081', 'http://evil.example', 'null']) {
      const res = await as(app, session, newUser(), { origin });
      expect(res.statusCode, origin).toBe(403);
      expect(res.json().error.message).toContain(`a request from another origin (${origin}) is refused`);
    }
    expect((await as(app, session, newUser(), { 'sec-fetch-site': 'same-site' })).statusCode).toBe(403);
    expect((await as(app, session, newUser(), { 'sec-fetch-site': 'cross-site' })).statusCode).toBe(403);
    expect((await as(app, session, newUser(), { 'sec-fetch-site': 'same-origin' })).statusCode).toBe(201);
    // Signing in from another page (login CSRF) is refused too.
    const login = await app.inject({ method: 'POST', url: '/api/login', headers: { origin: 'http://localhost:8081' }, payload: { username: 'clerk', password: PASSWORD } });
    expect(login.statusCode).toBe(403);
  });

  it('API tokens are unaffected: no cookie, nothing a browser sends by itself', async () => {
    const res = await app.inject({ ...newUser(), headers: { authorization: `Bearer ${bearer}`, origin: 'http://elsewhere.example' } });
    expect(res.statusCode).toBe(201);
    expect(res.headers[CSRF_HEADER]).toBeUndefined();
  });

  it('behind a reverse proxy the configured origin is ours (ARREARS_ORIGIN)', async () => {
    const proxied = await buildServer(ctx, { origins: ['https://arrears.example.org'], trustProxy: true });
    try {
      const s = await signIn(proxied, 'clerk');
      expect((await as(proxied, s, newUser(), { origin: 'https://arrears.example.org' })).statusCode).toBe(201);
      expect((await as(proxied, s, newUser(), { origin: 'http://localhost' })).statusCode).toBe(403);
    } finally {
      await proxied.close();
    }
    await expect(buildServer(ctx, { origins: ['https://arrears.example.org/app'] })).rejects.toMatchObject({ problems: [{ field: 'ARREARS_ORIGIN' }] });
  });
});

describe('two-factor sign-in (TOTP) with recovery codes, required for admins', () => {
  let app: FastifyInstance;
  let secret = '';
  let recovery: string[] = [];

  beforeAll(async () => {
    await addUser(ctx, { username: 'ada', password: PASSWORD, roles: ['admin'] });
    await addUser(ctx, { username: 'vic', password: PASSWORD, roles: ['viewer'] });
    app = await buildServer(ctx, { totpRequiredRoles: ['admin'], loginLimit: { attempts: 5, windowMinutes: 15 } });
  });
  afterAll(() => app?.close());

  it('an admin without it may only set it up; a viewer is not asked', async () => {
    const ada = await signIn(app, 'ada');
    const users = await as(app, ada, { url: '/api/users' });
    expect(users.statusCode).toBe(403);
    expect(users.json().error.message).toMatch(/^your role requires two-factor sign-in/);
    expect((await as(app, ada, { url: '/api/me' })).json().twoFactor).toEqual({ enabled: false, required: true, enrolling: false, recoveryCodesLeft: 0 });
    const vic = await signIn(app, 'vic');
    expect((await as(app, vic, { url: '/api/referrals' })).statusCode).toBe(200);
  });

  it('enrols: the password again, then a code from the new secret; ten recovery codes are shown once', async () => {
    const ada = await signIn(app, 'ada');
    const wrong = await as(app, ada, { method: 'POST', url: '/api/me/totp', payload: { password: 'not my password at all' } });
    expect(wrong.statusCode).toBe(400);
    expect(wrong.json().error.problems).toEqual([{ field: 'password', reason: 'is not your password' }]);
    const begun = await as(app, ada, { method: 'POST', url: '/api/me/totp', payload: { password: PASSWORD } });
    expect(begun.statusCode).toBe(200);
    secret = begun.json().secret as string;
    expect(secret).toMatch(/^[A-Z2-7]{32}$/);
    expect(begun.json().uri).toBe(`otpauth://totp/Arrears:ada?issuer=Arrears&secret=${secret}&algorithm=SHA1&digits=6&period=30`);
    const stored = await t.db.selectFrom('users').select(['totp_secret', 'totp_enabled_at']).where('username', '=', 'ada').executeTakeFirstOrThrow();
    expect(stored.totp_secret).toMatch(/^v1:/);
    expect(stored.totp_secret).not.toContain(secret);
    expect(stored.totp_enabled_at).toBeNull();

    const bad = await as(app, ada, { method: 'POST', url: '/api/me/totp/confirm', payload: { code: codeAt(secret, new Date(now.getTime() + 120_000)) } });
    expect(bad.json().error.problems).toEqual([{ field: 'code', reason: expect.stringMatching(/^is not the code the authenticator shows now/) }]);
    const confirmed = await as(app, ada, { method: 'POST', url: '/api/me/totp/confirm', payload: { code: codeAt(secret, now) } });
    expect(confirmed.statusCode).toBe(200);
    recovery = confirmed.json().recoveryCodes as string[];
    expect(recovery).toHaveLength(10);
    for (const c of recovery) expect(c).toMatch(/^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$/);
    expect(new Set(recovery).size).toBe(10);
    // This session goes on, now with everything an admin may do.
    expect((await as(app, ada, { url: '/api/users' })).statusCode).toBe(200);
    expect((await as(app, ada, { url: '/api/me/totp' })).json()).toEqual({ enabled: true, required: true, enrolling: false, recoveryCodesLeft: 10 });
  });

  it('signs in with the password and the current code; a code is accepted once; wrong codes count as failures', async () => {
    const noCode = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD } });
    expect(noCode.statusCode).toBe(401);
    expect(noCode.json()).toEqual({ error: { code: 'totp_required', message: 'enter the 6-digit code from your authenticator app, or a recovery code' } });
    expect(noCode.cookies).toEqual([]);
    // The code the enrolment used: spent.
    const replay = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, code: codeAt(secret, now) } });
    expect(replay.statusCode).toBe(401);
    expect(replay.json().error).toMatchObject({ code: 'unauthenticated', message: 'wrong or already used code' });
    advance(30);
    await signIn(app, 'ada', { code: codeAt(secret, now) });
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, code: codeAt(secret, now) } })).statusCode).toBe(401);
    // The clock of the phone may be a step behind or ahead: one step either side is accepted.
    advance(30);
    await signIn(app, 'ada', { code: codeAt(secret, new Date(now.getTime() + 30_000)) });

    const audit = await t.db.selectFrom('audit_log').select(['action', 'after']).where('entity_id', '=', 'ada').where('action', 'like', 'user.login%').orderBy('id').execute();
    // Wrong secrets while setting it up count too.
    expect(audit.filter((a) => a.action === 'user.login_failed').map((a) => a.after)).toEqual([
      { address: '127.0.0.1', reason: 'wrong password (two-factor set-up)' },
      { address: '127.0.0.1', reason: 'wrong two-factor code' },
      { address: '127.0.0.1', reason: 'wrong or already used code' },
      { address: '127.0.0.1', reason: 'wrong or already used code' },
    ]);
    expect(audit.at(-1)).toEqual({ action: 'user.login', after: { address: '127.0.0.1', secondFactor: 'totp' } });

    // Guessing codes with the right password is limited like guessing passwords: 5, then 429.
    for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, code: '000000' } })).statusCode).toBe(401);
    const limited = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, code: codeAt(secret, new Date(now.getTime() + 30_000)) } });
    expect(limited.statusCode).toBe(429);
    advance(15 * 60);
  });

  it('a recovery code signs in once, in place of a code; renewing replaces them all', async () => {
    const s = await signIn(app, 'ada', { recoveryCode: recovery[0]!.toUpperCase() });
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, recoveryCode: recovery[0]! } })).json().error.message).toBe('wrong or already used recovery code');
    expect((await as(app, s, { url: '/api/me/totp' })).json().recoveryCodesLeft).toBe(9);
    advance(30);
    const renewed = await as(app, s, { method: 'POST', url: '/api/me/totp/recovery-codes', payload: { code: codeAt(secret, now) } });
    expect(renewed.statusCode, renewed.body).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'ada', password: PASSWORD, recoveryCode: recovery[1]! } })).statusCode).toBe(401);
    recovery = renewed.json().recoveryCodes as string[];
    await signIn(app, 'ada', { recoveryCode: recovery[1]! });
    // The role requires it: it cannot be turned off by its holder.
    advance(30);
    expect((await as(app, s, { method: 'POST', url: '/api/me/totp/disable', payload: { code: codeAt(secret, now) } })).statusCode).toBe(409);
  });

  it("an administrator's reset turns it off and ends the user's sessions; the user must set it up again", async () => {
    const ada = await signIn(app, 'ada', { recoveryCode: recovery[2]! });
    await addUser(ctx, { username: 'helpdesk', password: PASSWORD, roles: ['viewer'] });
    const helpdesk = await signIn(app, 'helpdesk');
    expect((await as(app, helpdesk, { method: 'DELETE', url: '/api/users/ada/totp' })).statusCode).toBe(403);
    expect((await as(app, ada, { method: 'DELETE', url: '/api/users/ada/totp' })).json()).toEqual({ reset: true });
    expect((await as(app, ada, { url: '/api/me' })).statusCode).toBe(401);
    const again = await signIn(app, 'ada');
    expect((await as(app, again, { url: '/api/users' })).statusCode).toBe(403);
    const actions = (await t.db.selectFrom('audit_log').select('action').where('entity_id', '=', 'ada').where('action', 'like', 'user.totp%').orderBy('id').execute()).map((a) => a.action);
    expect(actions).toEqual(['user.totp_enable', 'user.totp_reset']);
  });

  it('a user whose role does not require it can turn it off with a current code', async () => {
    const vic = await signIn(app, 'vic');
    const s = (await as(app, vic, { method: 'POST', url: '/api/me/totp', payload: { password: PASSWORD } })).json().secret as string;
    expect((await as(app, vic, { method: 'POST', url: '/api/me/totp/confirm', payload: { code: codeAt(s, now) } })).statusCode).toBe(200);
    advance(30);
    expect((await as(app, vic, { method: 'POST', url: '/api/me/totp/disable', payload: { code: codeAt(s, now) } })).json()).toEqual({ enabled: false });
    await signIn(app, 'vic');
  });
});

describe('sessions, password changes and failed sign-ins', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    await addUser(ctx, { username: 'idler', password: PASSWORD, roles: ['viewer'] });
    await addUser(ctx, { username: 'changer', password: PASSWORD, roles: ['viewer'] });
    await addUser(ctx, { username: 'fumbler', password: PASSWORD, roles: ['viewer'] });
    // The defaults: no session option.
    app = await buildServer(ctx);
  });
  afterAll(() => app?.close());

  it('a staff session ends after 30 minutes unused, and 12 hours after sign-in however busy', async () => {
    const idle = await signIn(app, 'idler');
    advance(29 * 60);
    expect((await as(app, idle, { url: '/api/me' })).statusCode).toBe(200);
    advance(30 * 60);
    expect((await as(app, idle, { url: '/api/me' })).statusCode).toBe(401);
    const busy = await signIn(app, 'idler');
    for (let minutes = 25; minutes < 12 * 60; minutes += 25) {
      advance(25 * 60);
      expect((await as(app, busy, { url: '/api/me' })).statusCode, `after ${minutes} minutes`).toBe(200);
    }
    advance(25 * 60);
    expect((await as(app, busy, { url: '/api/me' })).statusCode).toBe(401);
  });

  it('a password change refuses the current password as the new one and is limited like sign-in', async () => {
    const s = await signIn(app, 'changer');
    const same = await as(app, s, { method: 'POST', url: '/api/me/password', payload: { currentPassword: PASSWORD, newPassword: PASSWORD } });
    expect(same.json().error.problems).toEqual([{ field: 'newPassword', reason: 'must differ from your current password' }]);
    const common = await as(app, s, { method: 'POST', url: '/api/me/password', payload: { currentPassword: PASSWORD, newPassword: 'qwerty123456' } });
    expect(common.json().error.problems).toEqual([{ field: 'newPassword', reason: 'is one of the 10,000 most common passwords; choose another' }]);
    for (let i = 0; i < 5; i++) {
      const wrong = await as(app, s, { method: 'POST', url: '/api/me/password', payload: { currentPassword: `guess number ${i}`, newPassword: 'a perfectly fine passphrase' } });
      expect(wrong.statusCode).toBe(400);
    }
    const limited = await as(app, s, { method: 'POST', url: '/api/me/password', payload: { currentPassword: PASSWORD, newPassword: 'a perfectly fine passphrase' } });
    expect(limited.statusCode).toBe(429);
    const failed = await t.db.selectFrom('audit_log').select('after').where('entity_id', '=', 'changer').where('action', '=', 'user.login_failed').execute();
    expect(failed).toHaveLength(5);
    expect(failed[0]!.after).toEqual({ address: '127.0.0.1', reason: 'wrong current password (password change)' });
    advance(15 * 60);
  });

  it('failed sign-ins and the lock they set off are audited with the address; a sign-in with its address', async () => {
    for (let i = 0; i < 5; i++) expect((await app.inject({ method: 'POST', url: '/api/login', remoteAddress: '10.7.0.9', payload: { username: 'fumbler', password: 'not it at all' } })).statusCode).toBe(401);
    const audit = await t.db.selectFrom('audit_log').select(['actor', 'action', 'after']).where('entity_id', '=', 'fumbler').orderBy('id').execute();
    expect(audit.filter((a) => a.action === 'user.login_failed')).toHaveLength(5);
    expect(audit.filter((a) => a.action === 'user.login_failed')[0]).toEqual({ actor: 'fumbler', action: 'user.login_failed', after: { address: '10.7.0.9', reason: 'wrong password, or no such active user' } });
    expect(audit.filter((a) => a.action === 'user.login_locked')).toEqual([
      { actor: 'fumbler', action: 'user.login_locked', after: { address: '10.7.0.9', scope: 'this username from this address', until: new Date(now.getTime() + 15 * 60_000).toISOString() } },
    ]);
    await app.inject({ method: 'POST', url: '/api/login', remoteAddress: '10.7.0.10', payload: { username: 'fumbler', password: PASSWORD } });
    expect((await t.db.selectFrom('audit_log').select('after').where('entity_id', '=', 'fumbler').where('action', '=', 'user.login').executeTakeFirstOrThrow()).after).toEqual({ address: '10.7.0.10' });
  });
});

describe('agency settings that could reach too far', () => {
  let app: FastifyInstance;
  let auth: Record<string, string>;

  beforeAll(async () => {
    await addUser(ctx, { username: 'setter', password: null, roles: ['admin'] });
    auth = { authorization: `Bearer ${(await createToken(ctx, 'setter', 'settings')).token}` };
    app = await buildServer(ctx);
  });
  afterAll(() => app?.close());

  const post = (payload: unknown) => app.inject({ method: 'POST', url: '/api/agencies', headers: auth, payload: payload as Record<string, unknown> });

  it('layoutConfig: a 5,000-deep value is a 400 naming the field, not a 500; the other layouts take no settings', async () => {
    let deep = '1';
    for (let i = 0; i < 5000; i++) deep = `{"a":${deep}}`;
    const res = await app.inject({ method: 'POST', url: '/api/agencies', headers: { ...auth, 'content-type': 'application/json' }, payload: `{"name":"Deep","layout":"custom","layoutConfig":${deep}}` });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.problems).toEqual([{ field: 'layoutConfig.a', reason: 'is not a known field' }]);
    const deepFields = await post({ name: 'Deep fields', layout: 'custom', layoutConfig: { fields: [[[['patron_id']]]] } });
    expect(deepFields.statusCode).toBe(400);
    const junk = await post({ name: 'Junk', layout: 'ums', layoutConfig: { fields: ['patron_id'] } });
    expect(junk.json().error.problems).toEqual([{ field: 'layoutConfig', reason: 'the ums layout has no settings: leave layoutConfig out (or {})' }]);
    expect((await post({ name: 'Custom', layout: 'custom', layoutConfig: { fields: ['patron_id'], header: false } })).statusCode).toBe(201);
    // Leaving the custom layout leaves its settings behind.
    const edited = await app.inject({ method: 'PATCH', url: '/api/agencies/Custom', headers: auth, payload: { layout: 'arrears' } });
    expect(edited.json()).toMatchObject({ layout: 'arrears', layoutConfig: {} });
    // The service refuses the same without the HTTP schema in front of it (a nest of 5,000, built without recursion).
    let nested: unknown = 1;
    for (let i = 0; i < 5000; i++) nested = { fields: nested };
    await expect(addAgency(ctx, { name: 'Nested', layout: 'custom', layoutConfig: nested as Record<string, unknown> })).rejects.toMatchObject({
      problems: [{ field: 'layoutConfig', reason: expect.stringMatching(/^is nested more than 3 levels deep/) }],
    });
  });

  it('transfer destinations never climb out with "..", a folder is absolute, and ARREARS_TRANSFER_ALLOW restricts them', async () => {
    const problems = async (payload: Record<string, unknown>) => (await post({ name: `A${randomBytes(3).toString('hex')}`, ...payload })).json().error?.problems;
    expect(await problems({ transferMethod: 'folder', transferConfig: { path: 'outbox' } })).toEqual([{ field: 'transferConfig.path', reason: 'must be an absolute path (starting with /)' }]);
    expect(await problems({ transferMethod: 'folder', transferConfig: { path: '/srv/outbox/../../etc' } })).toEqual([{ field: 'transferConfig.path', reason: 'must not contain ".." (write the folder itself)' }]);
    expect(await problems({ transferMethod: 'sftp', transferConfig: { host: 'sftp.agency.example', username: 'lib', remoteFolder: '../../root' } })).toEqual([{ field: 'transferConfig.remoteFolder', reason: 'must not contain ".."' }]);
    expect(await problems({ transferMethod: 's3', transferConfig: { bucket: 'drop-box', prefix: 'a/../../b' } })).toEqual([{ field: 'transferConfig.prefix', reason: 'must not contain ".."' }]);

    process.env.ARREARS_TRANSFER_ALLOW = 'sftp.agency.example, *.amazonaws.com, 127.0.0.1:4569, /srv/arrears';
    try {
      const listed = 'is not among the destinations the operator allows (ARREARS_TRANSFER_ALLOW)';
      expect(await problems({ transferMethod: 's3', transferConfig: { bucket: 'drop-box', endpoint: 'http://169.254.169.254/latest' } })).toEqual([{ field: 'transferConfig.endpoint', reason: `(169.254.169.254) ${listed}` }]);
      expect(await problems({ transferMethod: 's3', transferConfig: { bucket: 'drop-box', endpoint: 'http://127.0.0.1:9000' } })).toEqual([{ field: 'transferConfig.endpoint', reason: `(127.0.0.1) ${listed}` }]);
      expect(await problems({ transferMethod: 's3', transferConfig: { bucket: 'drop-box', endpoint: 'http://127.0.0.1:4569' } })).toBeUndefined();
      expect(await problems({ transferMethod: 's3', transferConfig: { bucket: 'drop-box', region: 'us-west-2' } })).toBeUndefined();
      expect(await problems({ transferMethod: 'sftp', transferConfig: { host: 'intranet.local', username: 'lib' } })).toEqual([{ field: 'transferConfig.host', reason: listed }]);
      expect(await problems({ transferMethod: 'sftp', transferConfig: { host: 'SFTP.agency.example', username: 'lib' } })).toBeUndefined();
      expect(await problems({ transferMethod: 'folder', transferConfig: { path: '/srv/arrears-other' } })).toEqual([{ field: 'transferConfig.path', reason: listed }]);
      expect(await problems({ transferMethod: 'folder', transferConfig: { path: '/srv/arrears/outbox' } })).toBeUndefined();
    } finally {
      delete process.env.ARREARS_TRANSFER_ALLOW;
    }
    // Saved while allowed, refused at delivery once the operator has narrowed the list.
    const outbox = mkdtempSync(join(dir, 'outbox-'));
    const agency = await addAgency(ctx, { name: 'Outbox', transferMethod: 'folder', transferConfig: { path: outbox } });
    process.env.ARREARS_TRANSFER_ALLOW = '/srv/arrears';
    try {
      await expect(transferFor('folder')!.send({ name: 'x_new_20250602.txt', content: Buffer.from('x') }, await getAgency(t.db, agency.id), {})).rejects.toThrow(
        'refused to send: transfer setting path is not among the destinations the operator allows (ARREARS_TRANSFER_ALLOW)',
      );
      expect(readdirSync(outbox)).toEqual([]);
    } finally {
      delete process.env.ARREARS_TRANSFER_ALLOW;
    }
    await transferFor('folder')!.send({ name: 'x_new_20250602.txt', content: Buffer.from('x') }, await getAgency(t.db, agency.id), {});
    expect(readdirSync(outbox)).toEqual(['x_new_20250602.txt']);
  });
});

describe('the body timeout', () => {
  it('cuts off a client that stops sending, not one the server is slow to read', async () => {
    const app = Fastify();
    app.addContentTypeParser('application/octet-stream', (_request, payload, done) => done(null, payload));
    applyConnectionLimits(app, connectionLimits({ bodyIdleTimeoutMs: 1000 }));
    // A busy import: it reads the body only after 2.5 s.
    app.post('/slow-reader', async (request) => {
      await new Promise((resolve) => setTimeout(resolve, 2500));
      let bytes = 0;
      for await (const chunk of request.body as AsyncIterable<Buffer>) bytes += chunk.length;
      return { bytes };
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    try {
      const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
      const body = Buffer.alloc(512 * 1024, 1);
      const res = await fetch(`${base}/slow-reader`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body });
      expect(await res.json()).toEqual({ bytes: body.length });
      // A client that sends half its body and stops is cut off once the server has read what came.
      const stalled = await fetch(`${base}/slow-reader`, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(body.length) },
        body: new ReadableStream({ start: (c) => c.enqueue(body.subarray(0, 1000)) }),
        duplex: 'half',
      } as RequestInit).then(
        (r) => r.status,
        (err: Error) => err.message,
      );
      expect(stalled).toBe('fetch failed');
    } finally {
      await app.close();
    }
  });
});

describe('the embedded data folder', () => {
  it('is made 0700, and a folder left readable by others is tightened at open: folders 0700, files 0600', async () => {
    const fresh = join(dir, 'fresh-data');
    const db = await openDatabase({ url: fresh });
    await db.close();
    expect(statSync(fresh).mode & 0o777).toBe(0o700);

    // As an older version left it: 0755 and 0644 throughout, catalogue files included.
    const walk = (p: string): string[] => [p, ...(statSync(p).isDirectory() ? readdirSync(p).flatMap((n) => walk(join(p, n))) : [])];
    for (const p of walk(fresh)) chmodSync(p, statSync(p).isDirectory() ? 0o755 : 0o644);
    mkdirSync(join(fresh, 'extra'), { mode: 0o755 });
    writeFileSync(join(fresh, 'extra', 'notes.txt'), 'patron emails', { mode: 0o644 });
    const reopened = await openDatabase({ url: fresh });
    try {
      const loose = walk(fresh).filter((p) => (statSync(p).mode & 0o077) !== 0);
      expect(loose).toEqual([]);
      expect(statSync(join(fresh, 'extra', 'notes.txt')).mode & 0o777).toBe(0o600);
      expect(walk(fresh).length).toBeGreaterThan(100);
    } finally {
      await reopened.close();
    }
  });
});
