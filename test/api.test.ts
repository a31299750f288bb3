// The HTTP API through Fastify's inject (no network): every /api route × every built-in role
// (allowed → 2xx, otherwise 403 naming the permission; signed out → 401), from one table that
// must cover every registered route; then bad bodies, API tokens, session expiry, the sign-in
// limit, deactivation and secrets that never come back.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUILT_IN_ROLES } from '../src/domain/permissions.ts';
import { toSettingsJson } from '../src/domain/settings-validation.ts';
import { apiRoutes, CSRF_HEADER, SESSION_COOKIE, type RoutePermission } from '../src/http/auth.ts';
import { progressBoard, progressKey } from '../src/http/progress.ts';
import { buildServer } from '../src/http/server.ts';
import { addAgency } from '../src/services/agencies.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { addConnector } from '../src/services/connectors.ts';
import { addExclusion } from '../src/services/exclusions.ts';
import { syncConnector } from '../src/services/sync.ts';
import { createItemSet, createPatronSet } from '../src/services/recordsets.ts';
import { exportSettings, importSettings, listEntries } from '../src/services/settings.ts';
import { beginTotp, confirmTotp, totpCode } from '../src/services/two-factor.ts';
import { addUser, createToken, saveRole } from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { KohaFixture } from './helpers/koha.ts';
import { LedgerFactory } from './helpers/ledger-factory.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

type Role = 'admin' | 'business_office' | 'circulation' | 'viewer';
const ROLES: Role[] = ['admin', 'business_office', 'circulation', 'viewer'];
const GRANTS = new Map(BUILT_IN_ROLES.map((r) => [r.name, r.permissions as readonly string[]]));
const PASSWORD = 'correct horse battery staple';
const SECRET = 'Sftp-pa55word-never-shown';

let t: TestDatabase;
let s: Scenario;
let app: FastifyInstance;
let ctx: Context;
let now = new Date('2025-06-02T15:00:00Z');
const clock: Clock = { now: () => new Date(now) };
let dir: string;
const cookies = new Map<string, string>();
/** Each session cookie's CSRF token, as the sign-in reply gave it. */
const csrf = new Map<string, string>();
useTestSecretKey();
let seq = 0;
const n = () => ++seq;

/** Ids made in beforeAll that the table's requests use. */
const ids = { entry: 0, run: 0, referral: 0, file: 0, dropAgency: 0 };
let factory: LedgerFactory;
/** A real Koha database (MariaDB) for the connector routes. */
let koha: KohaFixture;

interface Req extends InjectOptions {
  url: string;
  /** A session cookie to use instead of the role's own. */
  cookie?: string;
}

interface Row {
  route: string;
  permission: RoutePermission;
  request: (role: Role) => Req | Promise<Req>;
}

function form(fields: Record<string, string>, file: { name: string; content: string }): { payload: Buffer; headers: Record<string, string> } {
  const boundary = `----arrears${randomBytes(8).toString('hex')}`;
  const parts = Object.entries(fields).map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`);
  parts.push(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${file.name}"\r\nContent-Type: application/octet-stream\r\n\r\n${file.content}\r\n--${boundary}--\r\n`);
  return { payload: Buffer.from(parts.join('')), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } };
}

async function signIn(username: string, password = PASSWORD): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password } });
  expect(res.statusCode).toBe(200);
  const cookie = `${SESSION_COOKIE}=${res.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`;
  expect(res.json().csrfToken).toBe(res.headers[CSRF_HEADER]);
  csrf.set(cookie, res.headers[CSRF_HEADER] as string);
  return cookie;
}

/** As the staff app calls: the session cookie, and its CSRF token on unsafe requests. */
async function call(who: Role | null, req: Req) {
  const { cookie, ...options } = req;
  const header = cookie ?? (who ? cookies.get(who) : undefined);
  const unsafe = !['GET', 'HEAD'].includes(options.method ?? 'GET');
  const token = header && unsafe ? csrf.get(header) : undefined;
  return app.inject({ method: 'GET', ...options, headers: { ...options.headers, ...(header ? { cookie: header } : {}), ...(token ? { [CSRF_HEADER]: token } : {}) } });
}

/** A new user with the role, signed in, with two-factor sign-in turned on in that session; codes are made at `now`. */
async function enrolledUser(role: Role): Promise<{ username: string; cookie: string; secret: string }> {
  const user = await addUser(ctx, { username: `tf${n()}`, password: PASSWORD, roles: [role] });
  const cookie = await signIn(user.username);
  const { secret } = await beginTotp(ctx, user.username);
  await confirmTotp(ctx, user.username, totpCode(secret, now), cookie.split('=')[1]);
  return { username: user.username, cookie, secret };
}

/** The code of the next 30-second step: each code is accepted once. */
const nextCode = (secret: string) => totpCode(secret, new Date(now.getTime() + 30_000));

/** A report file row straight into the table: queued for the folder agency, or held. */
async function storedFile(status: 'queued' | 'held'): Promise<number> {
  const content = Buffer.from(`header\n${n()}\n`);
  const row = await t.db
    .insertInto('report_files')
    .values({
      run_id: ids.run,
      entry_id: ids.entry,
      agency_id: ids.dropAgency,
      kind: 'new',
      name: `extra_${n()}.txt`,
      content,
      sha256: createHash('sha256').update(content).digest('hex'),
      row_count: 1,
      status,
      next_attempt_at: status === 'held' ? new Date('2030-01-01T00:00:00Z') : now,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

const rows: Row[] = [
  { route: 'POST /api/login', permission: 'public', request: () => ({ method: 'POST', url: '/api/login', payload: { username: 'u_viewer', password: PASSWORD } }) },
  { route: 'POST /api/logout', permission: 'signed-in', request: async (role) => ({ method: 'POST', url: '/api/logout', cookie: await signIn(`u_${role}`) }) },
  { route: 'GET /api/me', permission: 'signed-in', request: () => ({ url: '/api/me' }) },
  {
    route: 'POST /api/me/password',
    permission: 'signed-in',
    request: async (role) => {
      const user = await addUser(ctx, { username: `pw${n()}`, password: PASSWORD, roles: [role] });
      return { method: 'POST', url: '/api/me/password', payload: { currentPassword: PASSWORD, newPassword: 'another fine password' }, cookie: await signIn(user.username) };
    },
  },
  { route: 'GET /api/users', permission: 'users.manage', request: () => ({ url: '/api/users' }) },
  { route: 'POST /api/users', permission: 'users.manage', request: () => ({ method: 'POST', url: '/api/users', payload: { username: `new${n()}`, password: PASSWORD, roles: ['viewer'] } }) },
  { route: 'GET /api/users/:id', permission: 'users.manage', request: () => ({ url: '/api/users/u_viewer' }) },
  { route: 'PATCH /api/users/:id', permission: 'users.manage', request: () => ({ method: 'PATCH', url: '/api/users/u_viewer', payload: { displayName: 'Vera Viewer' } }) },
  { route: 'GET /api/users/:id/tokens', permission: 'users.manage', request: () => ({ url: '/api/users/bot/tokens' }) },
  { route: 'POST /api/users/:id/tokens', permission: 'users.manage', request: () => ({ method: 'POST', url: '/api/users/bot/tokens', payload: { name: `token ${n()}` } }) },
  { route: 'GET /api/tokens', permission: 'users.manage', request: () => ({ url: '/api/tokens' }) },
  { route: 'DELETE /api/tokens/:id', permission: 'users.manage', request: async () => ({ method: 'DELETE', url: `/api/tokens/${(await createToken(ctx, 'bot', 'doomed')).id}` }) },
  { route: 'GET /api/roles', permission: 'users.manage', request: () => ({ url: '/api/roles' }) },
  { route: 'PUT /api/roles/:name', permission: 'users.manage', request: () => ({ method: 'PUT', url: `/api/roles/custom${n()}`, payload: { permissions: ['audit.view'] } }) },
  { route: 'DELETE /api/roles/:name', permission: 'users.manage', request: async () => ({ method: 'DELETE', url: `/api/roles/${(await saveRole(ctx, { name: `gone${n()}`, permissions: [] })).name}` }) },
  { route: 'GET /api/permissions', permission: 'signed-in', request: () => ({ url: '/api/permissions' }) },
  { route: 'GET /api/me/totp', permission: 'signed-in', request: () => ({ url: '/api/me/totp' }) },
  {
    route: 'POST /api/me/totp',
    permission: 'signed-in',
    request: async (role) => {
      const user = await addUser(ctx, { username: `tf${n()}`, password: PASSWORD, roles: [role] });
      return { method: 'POST', url: '/api/me/totp', payload: { password: PASSWORD }, cookie: await signIn(user.username) };
    },
  },
  {
    route: 'POST /api/me/totp/confirm',
    permission: 'signed-in',
    request: async (role) => {
      const user = await addUser(ctx, { username: `tf${n()}`, password: PASSWORD, roles: [role] });
      const cookie = await signIn(user.username);
      const { secret } = await beginTotp(ctx, user.username);
      return { method: 'POST', url: '/api/me/totp/confirm', payload: { code: totpCode(secret, now) }, cookie };
    },
  },
  {
    route: 'POST /api/me/totp/recovery-codes',
    permission: 'signed-in',
    request: async (role) => {
      const user = await enrolledUser(role);
      return { method: 'POST', url: '/api/me/totp/recovery-codes', payload: { code: nextCode(user.secret) }, cookie: user.cookie };
    },
  },
  {
    route: 'POST /api/me/totp/disable',
    permission: 'signed-in',
    request: async (role) => {
      const user = await enrolledUser(role);
      return { method: 'POST', url: '/api/me/totp/disable', payload: { code: nextCode(user.secret) }, cookie: user.cookie };
    },
  },
  { route: 'DELETE /api/users/:id/totp', permission: 'users.manage', request: async () => ({ method: 'DELETE', url: `/api/users/${(await enrolledUser('viewer')).username}/totp` }) },

  { route: 'GET /api/settings', permission: 'parameters.view', request: () => ({ url: '/api/settings' }) },
  { route: 'GET /api/settings/export', permission: 'parameters.view', request: () => ({ url: '/api/settings/export' }) },
  { route: 'GET /api/settings/:id', permission: 'parameters.view', request: () => ({ url: `/api/settings/${ids.entry}` }) },
  { route: 'POST /api/settings/import', permission: 'settings.edit', request: async () => ({ method: 'POST', url: '/api/settings/import?mode=merge', payload: await exportSettings(t.db) }) },
  {
    route: 'DELETE /api/settings/:id',
    permission: 'settings.edit',
    request: async () => {
      const name = `Temporary ${n()}`;
      await importSettings(ctx, [...(await exportSettings(t.db)), { name, minimumOwed: '99.00', agency: 'UMS' }]);
      return { method: 'DELETE', url: `/api/settings/${encodeURIComponent(name)}` };
    },
  },
  { route: 'POST /api/settings', permission: 'settings.edit', request: () => ({ method: 'POST', url: '/api/settings', payload: { name: `Added ${n()}`, minimumOwed: '99.00', agency: 'UMS' } }) },
  { route: 'PATCH /api/settings/:id', permission: 'settings.edit', request: () => ({ method: 'PATCH', url: `/api/settings/${ids.entry}`, payload: { reviewHours: null } }) },
  {
    route: 'PUT /api/settings/order',
    permission: 'settings.edit',
    request: async () => ({ method: 'PUT', url: '/api/settings/order', payload: { ids: (await listEntries(t.db)).map((e) => e.id) } }),
  },
  {
    route: 'POST /api/settings/preview',
    permission: 'settings.edit',
    request: async () => ({ method: 'POST', url: '/api/settings/preview', payload: { reportDate: '2025-06-03', entries: (await listEntries(t.db)).map((e) => ({ id: e.id, ...toSettingsJson(e) })) } }),
  },
  { route: 'GET /api/agencies', permission: 'parameters.view', request: () => ({ url: '/api/agencies' }) },
  { route: 'GET /api/agencies/:id', permission: 'parameters.view', request: () => ({ url: '/api/agencies/UMS' }) },
  { route: 'POST /api/agencies', permission: 'settings.edit', request: () => ({ method: 'POST', url: '/api/agencies', payload: { name: `Agency ${n()}` } }) },
  { route: 'PATCH /api/agencies/:id', permission: 'settings.edit', request: () => ({ method: 'PATCH', url: '/api/agencies/UMS', payload: { active: true } }) },

  { route: 'POST /api/runs', permission: 'runs.run', request: () => ({ method: 'POST', url: '/api/runs', payload: { reportDate: '2025-06-03', dryRun: true } }) },
  { route: 'GET /api/runs', permission: 'ledger.view', request: () => ({ url: '/api/runs?limit=5' }) },
  { route: 'GET /api/runs/:id', permission: 'ledger.view', request: () => ({ url: `/api/runs/${ids.run}` }) },
  { route: 'GET /api/explain/:patronId', permission: 'runs.run', request: () => ({ url: '/api/explain/P1?date=2025-06-02' }) },
  { route: 'GET /api/referrals', permission: 'ledger.view', request: () => ({ url: '/api/referrals?status=open&agency=UMS' }) },
  { route: 'GET /api/referrals/:id', permission: 'ledger.view', request: () => ({ url: `/api/referrals/${ids.referral}` }) },
  { route: 'GET /api/patrons/:id', permission: 'ledger.view', request: () => ({ url: '/api/patrons/P1' }) },
  { route: 'GET /api/patrons', permission: 'ledger.view', request: () => ({ url: '/api/patrons?q=ron&sort=-balance&limit=5' }) },
  { route: 'GET /api/libraries', permission: 'ledger.view', request: () => ({ url: '/api/libraries' }) },
  { route: 'GET /api/imports/kinds', permission: 'imports.run', request: () => ({ url: '/api/imports/kinds' }) },
  { route: 'GET /api/imports/:kind/template', permission: 'imports.run', request: () => ({ url: '/api/imports/payments/template' }) },
  {
    route: 'POST /api/imports/:kind',
    permission: 'imports.run',
    request: () => ({ method: 'POST', url: '/api/imports/libraries', ...form({}, { name: 'libraries.csv', content: `code,name,time_zone\nL${n()},Branch,America/Chicago\n` }) }),
  },

  { route: 'GET /api/files', permission: 'ledger.view', request: () => ({ url: '/api/files?kind=new' }) },
  { route: 'GET /api/files/:id', permission: 'ledger.view', request: () => ({ url: `/api/files/${ids.file}` }) },
  { route: 'GET /api/files/:id/download', permission: 'ledger.view', request: () => ({ url: `/api/files/${ids.file}/download?format=csv` }) },
  { route: 'POST /api/files/:id/retry', permission: 'runs.run', request: async () => ({ method: 'POST', url: `/api/files/${await storedFile('queued')}/retry` }) },
  { route: 'POST /api/files/:id/release', permission: 'runs.run', request: async () => ({ method: 'POST', url: `/api/files/${await storedFile('held')}/release` }) },
  { route: 'GET /api/review', permission: 'ledger.view', request: () => ({ url: '/api/review' }) },

  { route: 'GET /api/recordsets', permission: 'ledger.view', request: () => ({ url: '/api/recordsets' }) },
  {
    route: 'POST /api/recordsets',
    permission: 'recordsets.manage',
    request: () => ({ method: 'POST', url: '/api/recordsets', ...form({ name: `Returned ${n()}` }, { name: 'ums.csv', content: 'PatronID\nP1\nP2\n' }) }),
  },
  { route: 'GET /api/recordsets/:id', permission: 'ledger.view', request: () => ({ url: '/api/recordsets/returns' }) },
  { route: 'DELETE /api/recordsets/:id', permission: 'recordsets.manage', request: async () => ({ method: 'DELETE', url: `/api/recordsets/${(await patronSet(`doomed${n()}`)).set.id}` }) },
  { route: 'POST /api/recordsets/:id/members', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/recordsets/returns/members', payload: { ids: ['P3'] } }) },
  { route: 'POST /api/recordsets/:id/members/remove', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/recordsets/returns/members/remove', payload: { ids: ['P6'] } }) },
  { route: 'POST /api/recordsets/:id/bulk-change', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/recordsets/returns/bulk-change', payload: { note: { text: 'reviewed' } } }) },
  {
    route: 'POST /api/recordsets/:id/item-sets',
    permission: 'recordsets.manage',
    request: () => ({ method: 'POST', url: '/api/recordsets/returns/item-sets', payload: { statuses: ['lost'], name: `items${n()}` } }),
  },
  { route: 'POST /api/recordsets/:id/delete-lost', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/recordsets/lostitems/delete-lost' }) },
  { route: 'POST /api/recordsets/:id/transition-lost', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/recordsets/lostitems/transition-lost' }) },
  { route: 'POST /api/secure', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/secure', payload: { patronIds: ['P5'] } }) },
  { route: 'POST /api/release', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/release', payload: { patronIds: ['P5'] } }) },
  { route: 'POST /api/settle', permission: 'balances.settle', request: () => ({ method: 'POST', url: '/api/settle', payload: { patronIds: ['P6'], mode: 'waive' } }) },
  { route: 'POST /api/cleared', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/cleared', ...form({}, { name: 'cleared.xlsx.csv', content: 'Patron ID\nP6\n' }) }) },
  {
    route: 'POST /api/rerefer',
    permission: 'recordsets.manage',
    request: async () => {
      const p = await factory.patron();
      await factory.referral({ patron_id: p.id, agency_id: (await t.db.selectFrom('agencies').select('id').where('name', '=', 'UMS').executeTakeFirstOrThrow()).id });
      return { method: 'POST', url: '/api/rerefer', payload: { patronIds: [p.id], agency: 'Second' } };
    },
  },

  { route: 'GET /api/exclusions', permission: 'ledger.view', request: () => ({ url: '/api/exclusions?state=active' }) },
  { route: 'POST /api/exclusions', permission: 'recordsets.manage', request: () => ({ method: 'POST', url: '/api/exclusions', payload: { patronId: 'P4', reason: 'disputed', until: '2025-12-31' } }) },
  {
    route: 'DELETE /api/exclusions/:id',
    permission: 'recordsets.manage',
    request: async () => ({ method: 'DELETE', url: `/api/exclusions/${(await addExclusion(ctx, { patronId: 'P4', reason: 'temporary' })).exclusion.id}` }),
  },
  { route: 'GET /api/flags', permission: 'ledger.view', request: () => ({ url: '/api/flags?format=csv' }) },
  { route: 'GET /api/audit', permission: 'audit.view', request: () => ({ url: '/api/audit?action=user.' }) },
  { route: 'GET /api/schedule', permission: 'parameters.view', request: () => ({ url: '/api/schedule' }) },
  { route: 'GET /api/dashboard', permission: 'ledger.view', request: () => ({ url: '/api/dashboard?from=2025-01' }) },
  { route: 'GET /api/attention', permission: 'signed-in', request: () => ({ url: '/api/attention' }) },
  { route: 'GET /api/connectors', permission: 'parameters.view', request: () => ({ url: '/api/connectors' }) },
  { route: 'GET /api/connectors/:name', permission: 'parameters.view', request: () => ({ url: '/api/connectors/koha' }) },
  {
    route: 'POST /api/connectors',
    permission: 'settings.edit',
    request: () => ({ method: 'POST', url: '/api/connectors', payload: { name: `k${n()}`, kind: 'koha', url: koha.url, timeZone: 'America/Chicago', readOnly: true } }),
  },
  { route: 'PATCH /api/connectors/:name', permission: 'settings.edit', request: () => ({ method: 'PATCH', url: '/api/connectors/koha', payload: { timeZone: 'America/Chicago' } }) },
  {
    route: 'DELETE /api/connectors/:name',
    permission: 'settings.edit',
    request: async () => ({ method: 'DELETE', url: `/api/connectors/${(await addConnector(ctx, { name: `gone${n()}`, kind: 'koha', url: koha.url, timeZone: 'UTC' })).name}` }),
  },
  { route: 'POST /api/connectors/:name/test', permission: 'settings.edit', request: () => ({ method: 'POST', url: '/api/connectors/koha/test' }) },
  { route: 'GET /api/connectors/:name/codes', permission: 'parameters.view', request: () => ({ url: '/api/connectors/koha/codes' }) },
  { route: 'PUT /api/connectors/:name/mapping', permission: 'settings.edit', request: () => ({ method: 'PUT', url: '/api/connectors/koha/mapping', payload: { methods: { CASH: 'cash' } } }) },
  { route: 'POST /api/connectors/:name/sync', permission: 'imports.run', request: () => ({ method: 'POST', url: '/api/connectors/koha/sync', payload: {} }) },
  { route: 'GET /api/connectors/:name/writes', permission: 'ledger.view', request: () => ({ url: '/api/connectors/koha/writes?status=failed' }) },
  { route: 'POST /api/connectors/:name/writeback', permission: 'runs.run', request: () => ({ method: 'POST', url: '/api/connectors/koha/writeback' }) },
  {
    route: 'POST /api/writes/:id/retry',
    permission: 'runs.run',
    request: async () => {
      const connector = await t.db.selectFrom('connectors').select('id').where('name', '=', 'koha').executeTakeFirstOrThrow();
      const w = await t.db
        .insertInto('connector_writes')
        .values({ connector_id: connector.id, kind: 'block', patron_id: 'P1', referral_id: ids.referral, idempotency_key: `block:test${n()}`, status: 'failed', last_error: 'refused' })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { method: 'POST', url: `/api/writes/${w.id}/retry` };
    },
  },
  {
    route: 'GET /api/progress/:id',
    permission: 'signed-in',
    // Work already finished under the caller's id, so the stream tells its end and closes.
    request: async (role) => {
      const id = `matrix-${n()}-progress`;
      const user = await t.db.selectFrom('users').select('id').where('username', '=', `u_${role}`).executeTakeFirstOrThrow();
      progressBoard(app).start(progressKey(user.id, id), 'run').finish();
      return { url: `/api/progress/${id}` };
    },
  },
];

function patronSet(name: string) {
  const path = join(dir, `${name}.csv`);
  writeFileSync(path, 'PatronID\nP1\nP2\nP6\n');
  return createPatronSet(ctx, { name, file: path });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrears-api-'));
  t = await freshDatabase();
  s = new Scenario(t);
  ctx = { database: t, clock, actor: 'setup' };
  factory = new LedgerFactory(t.db, 'api_');

  await s.libraries({ code: 'MAIN' });
  await s.agency('UMS');
  await s.agency('Second');
  ids.dropAgency = (await addAgency(ctx, { name: 'Drop', transferMethod: 'folder', transferConfig: { path: dir } })).id;
  await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' }, { id: 'P4' }, { id: 'P5' }, { id: 'P6' });
  await s.load('items', [{ id: 'I1', barcode: '31001', title: 'Lost Book', status: 'lost', patron_id: 'P1', due_date: '2025-03-01' }]);
  await s.charges(
    { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' },
    { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2025-05-02T10:00:00' },
    { id: 'C6', patron_id: 'P6', reason: 'overdue', amount: '3.00', assessed_at: '2025-05-02T10:00:00' },
  );
  await s.settings({ agencyFee: '10.00' });
  ids.entry = (await listEntries(t.db))[0]!.id;
  const run = await s.run('2025-06-02', {}, '2025-06-02T14:00:00Z');
  ids.run = run.runId!;
  ids.referral = (await t.db.selectFrom('referrals').select('id').where('patron_id', '=', 'P1').executeTakeFirstOrThrow()).id;
  ids.file = (await t.db.selectFrom('report_files').select('id').where('kind', '=', 'new').executeTakeFirstOrThrow()).id;
  await patronSet('returns');
  await createItemSet(ctx, { from: 'returns', statuses: ['lost'], name: 'lostitems' });

  koha = await KohaFixture.create();
  await koha.branch('KPL', 'Koha Public Library');
  await koha.category('PT');
  await koha.patron({ branchcode: 'KPL', cardnumber: '29000001' });
  await addConnector(ctx, { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
  await syncConnector(ctx, 'koha');

  for (const role of ROLES) await addUser(ctx, { username: `u_${role}`, password: PASSWORD, roles: [role] });
  await addUser(ctx, { username: 'bot', password: null, roles: ['viewer'] });
  app = await buildServer(ctx, { session: { idleMinutes: 60, maxMinutes: 180 }, loginLimit: { attempts: 3, windowMinutes: 15 } });
  for (const role of ROLES) cookies.set(role, await signIn(`u_${role}`));
});

afterAll(async () => {
  await app?.close();
  await t?.dispose();
  await koha?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('route × role matrix', () => {
  it('covers every /api route, each with the permission the table expects', () => {
    const registered = apiRoutes(app).map((r) => `${r.method} ${r.url} ${r.permission}`);
    expect(registered.sort()).toEqual(rows.map((r) => `${r.route} ${r.permission}`).sort());
  });

  it('signing in needs no session', async () => {
    const res = await call(null, await rows[0]!.request('viewer'));
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ user: { username: 'u_viewer', roles: ['viewer'], permissions: ['parameters.view', 'ledger.view'] } });
  });

  for (const row of rows.filter((r) => r.permission !== 'public')) {
    it(`${row.route} (${row.permission})`, async () => {
      const anonymous = await call(null, { ...(await row.request('viewer')), cookie: undefined });
      expect(anonymous.statusCode, anonymous.body).toBe(401);
      expect(anonymous.json()).toMatchObject({ error: { code: 'unauthenticated' } });
      for (const role of ROLES) {
        const res = await call(role, await row.request(role));
        const allowed = row.permission === 'signed-in' || GRANTS.get(role)!.includes(row.permission);
        if (allowed) {
          expect([200, 201], `${role}: ${res.statusCode} ${res.body.slice(0, 500)}`).toContain(res.statusCode);
        } else {
          expect(res.statusCode, `${role}: ${res.body}`).toBe(403);
          expect(res.json()).toEqual({ error: { code: 'forbidden', message: `permission "${row.permission}" is required`, permission: row.permission } });
        }
      }
    });
  }

  it('an unknown /api path is 401 signed out and 404 signed in', async () => {
    expect((await call(null, { url: '/api/nothing/here' })).statusCode).toBe(401);
    // The router decodes "%61" to "a": the permission check goes by the matched route, not the raw path.
    expect((await call(null, { url: '/%61pi/settings' })).statusCode).toBe(401);
    expect((await call(null, { method: 'HEAD', url: '/api/settings' })).statusCode).toBe(401);
    expect((await call('viewer', { url: '/%61pi/users' })).statusCode).toBe(403);
    const res = await call('viewer', { url: '/api/nothing/here' });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: { code: 'not_found', message: 'no route GET /api/nothing/here' } });
  });
});

describe('requests and replies', () => {
  it('a bad body or query is a 400 naming each field', async () => {
    const unknown = await call('admin', { method: 'POST', url: '/api/runs', payload: { reportDate: '2025-06-03', dryrun: true } });
    expect(unknown.statusCode).toBe(400);
    expect(unknown.json()).toEqual({ error: { code: 'validation', message: 'field dryrun: is not a known field', problems: [{ field: 'dryrun', reason: 'is not a known field' }] } });

    const missing = await call('admin', { method: 'POST', url: '/api/users', payload: { password: { plain: 'text' }, roles: { admin: true } } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.problems).toEqual([
      { field: 'username', reason: 'is required' },
      { field: 'password', reason: 'must be string or null' },
      { field: 'roles', reason: 'must be array' },
    ]);

    const date = await call('admin', { method: 'POST', url: '/api/runs', payload: { reportDate: '2025-02-30' } });
    expect(date.json()).toEqual({
      error: { code: 'validation', message: 'field reportDate: "2025-02-30" is not a calendar date (YYYY-MM-DD)', problems: [{ field: 'reportDate', reason: '"2025-02-30" is not a calendar date (YYYY-MM-DD)' }] },
    });

    const query = await call('viewer', { url: '/api/referrals?status=lost&limit=0' });
    expect(query.statusCode).toBe(400);
    expect(query.json().error.problems.map((p: { field: string }) => p.field).sort()).toEqual(['limit', 'status']);

    // The service's own checks come back the same way, with their field.
    const agency = await call('admin', { method: 'POST', url: '/api/agencies', payload: { name: 'Half', transferMethod: 'sftp', transferConfig: { username: 'lib' } } });
    expect(agency.json()).toMatchObject({ error: { code: 'validation', problems: [{ field: 'transferConfig.host', reason: 'is required for the sftp transfer method' }] } });
    const settings = await call('admin', { method: 'POST', url: '/api/settings/import', payload: [{ name: 'No minimum', agency: 'UMS' }] });
    expect(settings.statusCode).toBe(400);
    expect(settings.json().error.problems).toContainEqual({ field: 'entries[0].minimumOwed', reason: expect.any(String) });
  });

  it('a run through the API is the run the CLI prints, with the user as actor in the audit log', async () => {
    const res = await call('circulation', { method: 'POST', url: '/api/runs', payload: { reportDate: '2025-06-02', dryRun: true, entryIds: [ids.entry] } });
    expect(res.json()).toMatchObject({ reportDate: '2025-06-02', dryRun: true, alreadyRun: true, skipped: [{ id: ids.entry, name: 'Entry 1', parts: ['new', 'update'] }] });
    const set = await call('circulation', { method: 'POST', url: '/api/recordsets/returns/bulk-change', payload: { note: { text: 'called twice', mode: 'replace' } } });
    expect(set.statusCode).toBe(200);
    const audit = await call('admin', { url: '/api/audit?action=patron.change&limit=1' });
    expect(audit.json()).toMatchObject({ items: [{ actor: 'u_circulation', action: 'patron.change', after: { note: 'called twice', recordSet: 'returns' } }] });
  });

  it("bulk change takes a PTYPE code, and an older client's number as its digits", async () => {
    const ptypes = async () => (await call('viewer', { url: '/api/recordsets/returns' })).json().members.map((m: { ptype: string | null }) => m.ptype);
    expect((await call('circulation', { method: 'POST', url: '/api/recordsets/returns/bulk-change', payload: { ptype: 'PT' } })).statusCode).toBe(200);
    const members: string[] = (await call('viewer', { url: '/api/recordsets/returns' })).json().members.map((m: { id: string }) => m.id);
    expect(new Set(await ptypes())).toEqual(new Set(['PT']));
    expect((await call('viewer', { url: `/api/patrons/${members[0]}` })).json().patron.ptype).toBe('PT');
    // The scenario's PTYPE again, sent as a JSON number.
    expect((await call('circulation', { method: 'POST', url: '/api/recordsets/returns/bulk-change', payload: { ptype: 1 } })).statusCode).toBe(200);
    expect(new Set(await ptypes())).toEqual(new Set(['1']));
    const blank = await call('circulation', { method: 'POST', url: '/api/recordsets/returns/bulk-change', payload: { ptype: '' } });
    expect([blank.statusCode, blank.json().error.problems[0].field]).toEqual([400, 'ptype']);
  });

  it('lists referrals with amounts as decimal strings and one with its history', async () => {
    const list = await call('viewer', { url: '/api/referrals?patron=P1' });
    expect(list.json()).toEqual({
      total: 1,
      items: [
        {
          id: ids.referral,
          patronId: 'P1',
          patronName: 'Pat Ron P1',
          agency: 'UMS',
          entry: 'Entry 1',
          status: 'open',
          referredOn: '2025-06-02',
          closedOn: null,
          referred: '50.00',
          fee: '10.00',
          lastReported: '50.00',
          runId: ids.run,
          previousReferralId: null,
          balance: '50.00',
          recovered: '0.00',
        },
      ],
    });
    const one = await call('viewer', { url: `/api/referrals/${ids.referral}` });
    expect(one.json().history).toEqual([
      { id: expect.any(Number), type: 'refer', amount: '50.00', reason: 'new submission', runId: ids.run, reportDate: '2025-06-02', at: '2025-06-02T14:00:00.000Z', actor: 'test' },
    ]);
    expect((await call('viewer', { url: '/api/referrals/999999' })).statusCode).toBe(404);
  });

  it('uploads a record set, refusing unknown ids by file, row and column', async () => {
    const bad = await call('circulation', { method: 'POST', url: '/api/recordsets', ...form({ name: 'With strangers' }, { name: 'agency.csv', content: 'PatronID\nP1\nX9\n' }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.problems).toContainEqual({ file: 'agency.csv', row: 3, column: 'PatronID', reason: 'unknown patron "X9"' });
    const ok = await call('circulation', { method: 'POST', url: '/api/recordsets', ...form({ name: 'With strangers', allowUnknown: 'true' }, { name: 'agency.csv', content: 'PatronID\nP1\nX9\n' }) });
    expect(ok.statusCode).toBe(201);
    expect(ok.json()).toMatchObject({ set: { name: 'With strangers', members: 1, createdBy: 'u_circulation' }, unknown: [{ id: 'X9', row: 3 }] });
    const wrongType = await call('circulation', { method: 'POST', url: '/api/recordsets', ...form({ name: 'Pic' }, { name: 'photo.png', content: 'x' }) });
    expect(wrongType.json()).toMatchObject({ error: { code: 'validation', problems: [{ field: 'file', file: 'photo.png' }] } });
  });

  it('downloads a report file as csv with its own file name', async () => {
    const res = await call('viewer', { url: `/api/files/${ids.file}/download?format=csv` });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toMatch(/^attachment; filename="\d+_new_\d{14}\.csv"$/);
    expect(res.body.split('\r\n')[0]).toContain('patron_id');
  });

  it('the OpenAPI document is public and says which permission each route needs', async () => {
    const res = await app.inject({ url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as { paths: Record<string, Record<string, { description?: string }>> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/api/runs', '/api/exclusions/{id}', '/api/imports/{kind}']));
    expect(doc.paths['/api/runs']!.post!.description).toContain('Requires the permission **runs.run**');
  });
});

describe('dashboard', () => {
  it('counts refer records as referred, and payments once each as recovered', async () => {
    // P1 pays 15.00 at the desk while referred: the next run reports the drop as "paid".
    await s.payments({ id: 'Y1', patron_id: 'P1', amount: '15.00', paid_at: '2025-06-02T16:00:00' });
    await s.run('2025-06-03', {}, '2025-06-03T08:00:00Z');
    // P2 is cleared by the agency's file, then the rest is recorded as a collection-agency payment.
    const cleared = await call('circulation', { method: 'POST', url: '/api/cleared', ...form({}, { name: 'cleared.csv', content: 'PatronID\nP2\n' }) });
    expect(cleared.json()).toMatchObject({ cleared: [{ patronId: 'P2', agency: 'UMS', amount: '40.00' }] });
    now = new Date(now.getTime() + 60_000);
    expect((await call('business_office', { method: 'POST', url: '/api/settle', payload: { patronIds: ['P2'], mode: 'agency_payment' } })).json()).toMatchObject({ total: '40.00' });

    const res = await call('viewer', { url: '/api/dashboard' });
    expect(res.statusCode).toBe(200);
    const body = res.json() as { months: { library: string }[]; openReferrals: { agency: string }[] };
    expect(body.months.filter((m) => m.library === 'MAIN')).toEqual([{ month: '2025-06', library: 'MAIN', agency: 'UMS', referred: '90.00', recovered: '55.00' }]);
    expect(body.openReferrals.find((a) => a.agency === 'UMS')).toEqual({ agency: 'UMS', count: 1, amount: '35.00', outstanding: '35.00' });
    expect((await call('viewer', { url: '/api/dashboard?from=2025-07' })).json().months).toEqual([]);
    expect((await call('viewer', { url: '/api/dashboard?from=2025-13' })).json()).toMatchObject({ error: { problems: [{ field: 'from' }] } });
  });
});

describe('money moved outside a run (issue 15, defect 9)', () => {
  it('a waiver and a collection-agency payment on referred patrons show at once in the referral, the patron and the dashboard', async () => {
    // P1 is referred (50.00, last reported 35.00); P7 is referred for 30.00 by hand here.
    const p7 = await factory.patron({ id: 'P7', home_library: 'MAIN' });
    await factory.charge({ id: 'C7', patron_id: p7.id, amount_cents: 3000, library: 'MAIN', assessed_on: '2025-05-03' });
    const ums = (await t.db.selectFrom('agencies').select('id').where('name', '=', 'UMS').executeTakeFirstOrThrow()).id;
    const referral = { id: await factory.referral({ patron_id: p7.id, agency_id: ums, referred_on: '2025-06-02', referred_cents: 3000, last_reported_cents: 3000 }) };
    await t.db
      .insertInto('referral_history')
      .values({ referral_id: referral.id, patron_id: p7.id, type: 'refer', amount_cents: 3000, reason: 'new submission', report_date: '2025-06-02', at: new Date('2025-06-02T14:00:00Z') })
      .execute();
    const before = (await call('viewer', { url: '/api/dashboard' })).json() as { headline: { recovered: string; outstanding: string } };

    now = new Date(now.getTime() + 60_000);
    const paid = await call('business_office', { method: 'POST', url: '/api/settle', payload: { patronIds: [p7.id], mode: 'agency_payment' } });
    expect(paid.json()).toMatchObject({ total: '30.00' });
    const waived = await call('business_office', { method: 'POST', url: '/api/settle', payload: { patronIds: ['P1'], mode: 'waive' } });
    expect(waived.json()).toMatchObject({ total: '35.00' });

    // Still open until the next run tells the agency, but owing nothing now; the payment is recovered, the waiver is not.
    const r7 = (await call('viewer', { url: `/api/referrals/${referral.id}` })).json();
    expect(r7).toMatchObject({ status: 'open', lastReported: '30.00', balance: '0.00', recovered: '30.00' });
    const r1 = (await call('viewer', { url: `/api/referrals/${ids.referral}` })).json();
    expect(r1).toMatchObject({ status: 'open', lastReported: '35.00', balance: '0.00', recovered: '15.00' });
    expect((await call('viewer', { url: `/api/patrons/${p7.id}` })).json().referrals).toMatchObject([{ id: referral.id, recovered: '30.00' }]);
    const after = (await call('viewer', { url: '/api/dashboard' })).json() as { headline: { recovered: string; outstanding: string } };
    expect(Number(after.headline.recovered) * 100 - Number(before.headline.recovered) * 100).toBe(3000);
    expect(after.headline.outstanding).toBe('0.00');
  });
});

describe('secrets', () => {
  it('agency credentials, password hashes and token hashes never appear in replies', async () => {
    const created = await call('admin', {
      method: 'POST',
      url: '/api/agencies',
      payload: { name: 'Vault', transferMethod: 'sftp', transferConfig: { host: 'sftp.example.org', username: 'library' }, secrets: { password: SECRET } },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'Vault', secrets: { hasPassword: true, hasPrivateKey: false } });
    await call('admin', { method: 'PATCH', url: '/api/agencies/Vault', payload: { secrets: { password: `${SECRET}-2` } } });
    const token = (await call('admin', { method: 'POST', url: '/api/users/bot/tokens', payload: { name: 'peek' } })).json() as { token: string };
    const hashes = (await t.db.selectFrom('users').select('password_hash').where('password_hash', 'is not', null).execute()).map((u) => u.password_hash!);
    const tokenHashes = (await t.db.selectFrom('api_tokens').select('token_hash').execute()).map((r) => r.token_hash);
    for (const url of ['/api/agencies', '/api/agencies/Vault', '/api/audit?limit=500', '/api/users', '/api/tokens', '/api/users/bot/tokens', '/api/me']) {
      const body = (await call('admin', { url })).body;
      expect(body).not.toContain(SECRET);
      expect(body).not.toContain(token.token);
      expect(body).not.toContain('$argon2');
      for (const h of [...hashes, ...tokenHashes]) expect(body).not.toContain(h);
    }
  });
});

describe('API tokens', () => {
  it('work as a bearer token with the user’s permissions and stop working when revoked', async () => {
    const created = await call('admin', { method: 'POST', url: '/api/users/bot/tokens', payload: { name: 'ILS nightly' } });
    expect(created.statusCode).toBe(201);
    const { id, token } = created.json() as { id: number; token: string };
    const auth = { authorization: `Bearer ${token}` };
    expect((await app.inject({ url: '/api/me', headers: auth })).json()).toMatchObject({ username: 'bot', roles: ['viewer'] });
    expect((await app.inject({ url: '/api/referrals', headers: auth })).statusCode).toBe(200);
    expect((await app.inject({ method: 'POST', url: '/api/runs', headers: auth, payload: { reportDate: '2025-06-03', dryRun: true } })).statusCode).toBe(403);
    expect((await app.inject({ url: '/api/me', headers: { authorization: `Basic ${token}` } })).statusCode).toBe(401);

    expect((await call('admin', { method: 'DELETE', url: `/api/tokens/${id}` })).json()).toMatchObject({ id, name: 'ILS nightly', revokedAt: now.toISOString() });
    const after = await app.inject({ url: '/api/me', headers: auth });
    expect(after.statusCode).toBe(401);
    expect(after.json()).toEqual({ error: { code: 'unauthenticated', message: 'the API token is unknown or revoked' } });
  });
});

describe('sessions and sign-in', () => {
  it('the session cookie is HttpOnly and SameSite=Lax, and Secure behind https', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'u_viewer', password: PASSWORD } });
    expect(res.cookies.find((c) => c.name === SESSION_COOKIE)).toMatchObject({ httpOnly: true, sameSite: 'Lax', path: '/' });
    expect(res.headers['set-cookie']).not.toMatch(/Secure/);
    const proxied = await buildServer(ctx, { trustProxy: true });
    try {
      const https = await proxied.inject({ method: 'POST', url: '/api/login', headers: { 'x-forwarded-proto': 'https' }, payload: { username: 'u_viewer', password: PASSWORD } });
      expect(https.cookies.find((c) => c.name === SESSION_COOKIE)).toMatchObject({ secure: true, httpOnly: true });
    } finally {
      await proxied.close();
    }
  });

  it('a deactivated user is signed out and refused', async () => {
    await addUser(ctx, { username: 'leaver', password: PASSWORD, roles: ['viewer'] });
    const cookie = await signIn('leaver');
    expect((await call(null, { url: '/api/me', cookie })).statusCode).toBe(200);
    expect((await call('admin', { method: 'PATCH', url: '/api/users/leaver', payload: { active: false } })).json()).toMatchObject({ active: false });
    expect((await call(null, { url: '/api/me', cookie })).statusCode).toBe(401);
    const again = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'leaver', password: PASSWORD } });
    expect(again.statusCode).toBe(401);
    expect(again.json()).toEqual({ error: { code: 'unauthenticated', message: 'unknown username or wrong password' } });
  });

  it('limits failed sign-ins per username and address with 429, until the window has passed', async () => {
    await addUser(ctx, { username: 'fumbler', password: PASSWORD, roles: ['viewer'] });
    for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'fumbler', password: 'wrong wrong wrong' } })).statusCode).toBe(401);
    const limited = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'Fumbler', password: PASSWORD } });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('900');
    expect(limited.json()).toEqual({ error: { code: 'rate_limited', message: 'too many failed sign-ins; try again in 15 minutes' } });
    // Another user from the same address is not affected.
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'u_viewer', password: PASSWORD } })).statusCode).toBe(200);
    now = new Date(now.getTime() + 15 * 60_000);
    expect((await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'fumbler', password: PASSWORD } })).statusCode).toBe(200);
  });

  it('a session ends after the idle time, and after the absolute time however busy (injected clock)', async () => {
    const idle = await signIn('u_viewer');
    now = new Date(now.getTime() + 59 * 60_000);
    expect((await call(null, { url: '/api/me', cookie: idle })).statusCode).toBe(200);
    now = new Date(now.getTime() + 60 * 60_000);
    expect((await call(null, { url: '/api/me', cookie: idle })).statusCode).toBe(401);

    const busy = await signIn('u_viewer');
    for (let minutes = 50; minutes < 180; minutes += 50) {
      now = new Date(now.getTime() + 50 * 60_000);
      expect((await call(null, { url: '/api/me', cookie: busy })).statusCode, `after ${minutes} minutes`).toBe(200);
    }
    now = new Date(now.getTime() + 30 * 60_000);
    expect((await call(null, { url: '/api/me', cookie: busy })).statusCode).toBe(401);
  });

  it('signing out ends the session', async () => {
    const cookie = await signIn('u_admin');
    expect((await call(null, { method: 'POST', url: '/api/logout', cookie })).json()).toEqual({ signedOut: true });
    expect((await call(null, { url: '/api/me', cookie })).statusCode).toBe(401);
  });
});
