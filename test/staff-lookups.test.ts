// The reads the staff app's Patron screen and lists are built on: patron lookup by the start
// of an id, barcode, name or email in any case; one patron's audit trail, record sets and
// explain context (a patron the run referred, with the file held for review); report files,
// referrals and the audit log sorted, searched and paged; libraries; import columns and
// their template.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { addExclusion } from '../src/services/exclusions.ts';
import { createPatronSet } from '../src/services/recordsets.ts';
import { addUser } from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PASSWORD = 'correct horse battery staple';
let t: TestDatabase;
let app: FastifyInstance;
let cookie = '';
let adminCookie = '';

async function signIn(username: string): Promise<string> {
  const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username, password: PASSWORD } });
  return `${SESSION_COOKIE}=${res.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`;
}
const clock: Clock = { now: () => new Date('2025-06-02T18:00:00Z') };

beforeAll(async () => {
  t = await freshDatabase();
  const s = new Scenario(t);
  const ctx: Context = { database: t, clock, actor: 'setup' };
  await s.libraries({ code: 'MAIN' }, { code: 'EAST', time_zone: 'America/New_York' });
  await s.agency('UMS');
  await s.agency('Consortium');
  await s.load('patrons', [
    { id: 'P100', barcode: '21000100', first_name: 'Zoë', last_name: "O'Brien", email: 'zoe.obrien@example.org', home_library: 'MAIN', ptype: 1 },
    { id: 'P101', barcode: '21000101', first_name: 'Mary Ann', last_name: 'Smith', email: 'MAS@Example.org', home_library: 'EAST', ptype: 1 },
    { id: 'P102', barcode: '31000102', first_name: 'Obadiah', last_name: 'Jones', email: 'oj@example.org', home_library: 'MAIN', ptype: 2 },
    { id: 'X_1', barcode: '99', first_name: 'Percent', last_name: '100% Sure', email: 'x@example.org', home_library: 'MAIN', ptype: 1 },
  ]);
  await s.charges(
    { id: 'C100', patron_id: 'P100', reason: 'replacement', amount: '45.00', assessed_at: '2025-05-01T10:00:00' },
    { id: 'C101', patron_id: 'P101', reason: 'replacement', amount: '60.00', assessed_at: '2025-05-01T10:00:00', library: 'EAST' },
  );
  // Each library's patrons go to their own agency; New Submissions are held a day for review.
  await s.settings({ name: 'Main', homeLibraries: ['MAIN'], reviewHours: 24, baseFilename: 'consortium' }, { name: 'East', homeLibraries: ['EAST'], agency: 'Consortium' });
  await s.run('2025-06-02', {}, '2025-06-02T14:00:00Z');
  const dir = mkdtempSync(join(tmpdir(), 'arrears-lookups-'));
  writeFileSync(join(dir, 'returned.csv'), 'PatronID\nP100\nP102\n');
  await createPatronSet(ctx, { name: 'UMS returns', file: join(dir, 'returned.csv') });
  await addExclusion(ctx, { patronId: 'P102', reason: 'payment plan' });
  await addUser(ctx, { username: 'clerk', password: PASSWORD, roles: ['business_office', 'viewer'] });
  await addUser(ctx, { username: 'admin', password: PASSWORD, roles: ['admin'] });
  app = await buildServer(ctx);
  cookie = await signIn('clerk');
  adminCookie = await signIn('admin');
});
afterAll(async () => {
  await app?.close();
  await t?.dispose();
});

async function get(url: string, as = cookie) {
  const res = await app.inject({ url, headers: { cookie: as } });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const found = async (q: string) => ((await get(`/api/patrons?q=${encodeURIComponent(q)}`)).items as { id: string }[]).map((p) => p.id);

describe('patron lookup', () => {
  it('finds by the start of an id, barcode, first or last name, email, in any case', async () => {
    expect(await found('p10')).toEqual(['P102', 'P100', 'P101']);
    expect(await found('2100')).toEqual(['P100', 'P101']);
    expect(await found("o'bri")).toEqual(['P100']);
    expect(await found('ZOË')).toEqual(['P100']);
    expect(await found('mas@')).toEqual(['P101']);
    expect(await found('ob')).toEqual(['P102']);
    // Not in the middle of a word.
    expect(await found('rien')).toEqual([]);
  });

  it('finds "first last" and "last, first", a first name with a space, and takes % and _ literally', async () => {
    expect(await found('mary ann')).toEqual(['P101']);
    expect(await found('Mary Sm')).toEqual(['P101']);
    expect(await found('smith, ma')).toEqual(['P101']);
    expect(await found('100%')).toEqual(['X_1']);
    expect(await found('x_')).toEqual(['X_1']);
    expect(await found('x%')).toEqual([]);
  });

  it('answers a page with the total, sorted by a column, each patron with what they owe now', async () => {
    const page = await get('/api/patrons?sort=-balance&limit=2');
    expect(page.total).toBe(4);
    expect(page.items.map((p: { id: string; balance: string; inCollections: boolean }) => [p.id, p.balance, p.inCollections])).toEqual([
      ['P101', '60.00', true],
      ['P100', '45.00', true],
    ]);
    expect((await get('/api/patrons?sort=name&offset=3')).items).toMatchObject([{ id: 'P101', firstName: 'Mary Ann', lastName: 'Smith', homeLibrary: 'EAST' }]);
  });
});

describe('one patron', () => {
  it('their audit trail: their referral and exclusion, not other patrons’', async () => {
    const trail = await get('/api/audit?patron=P102');
    expect(trail.items.map((a: { action: string }) => a.action)).toEqual(['exclusion.create']);
    const referred = await get('/api/audit?patron=P100');
    expect(referred.items.map((a: { action: string; entity: string }) => `${a.entity} ${a.action}`)).toEqual(['referral referral.refer']);
  });

  it('the record sets that hold them', async () => {
    expect((await get('/api/recordsets?member=P102')).items.map((x: { name: string }) => x.name)).toEqual(['UMS returns']);
    expect((await get('/api/recordsets?member=P101')).items).toEqual([]);
  });

  it('explain says the run for the date referred them and their file is held for review', async () => {
    const x = await get('/api/explain/P100?date=2025-06-02');
    expect(x.eligible).toBe(false);
    expect(x.conditions.find((c: { pass: boolean }) => !c.pass)).toMatchObject({ label: expect.stringMatching(/collections/i) });
    expect(x.referral).toEqual({
      referralId: expect.any(Number),
      agency: 'UMS',
      status: 'open',
      referredOn: '2025-06-02',
      runId: expect.any(Number),
      referredOnDate: true,
      file: { id: expect.any(Number), name: expect.stringMatching(/^consortium_new_\d{14}\.txt$/), status: 'held', holdUntil: '2025-06-03T14:00:00.000Z' },
    });
    expect((await get('/api/explain/P102?date=2025-06-02')).referral).toBeNull();
  });
});

describe('lists sorted, searched and paged on the server', () => {
  it('report files: newest first, a page at a time, found by agency', async () => {
    const all = await get('/api/files');
    expect(all.items.map((f: { id: number }) => f.id)).toEqual([...all.items.map((f: { id: number }) => f.id)].sort((a, b) => a - b));
    const page = await get('/api/files?sort=-id&limit=1');
    expect(page.total).toBe(all.total);
    expect(page.items.map((f: { id: number }) => f.id)).toEqual([Math.max(...all.items.map((f: { id: number }) => f.id))]);
    const consortium = await get('/api/files?q=CONSORT');
    // The Main entry's files are named consortium_…; the East entry's go to the agency Consortium.
    expect(new Set(consortium.items.map((f: { agency: string }) => f.agency))).toEqual(new Set(['UMS', 'Consortium']));
  });

  it('referrals: found by name, sorted by amount, with what they owe and recovered', async () => {
    const list = await get('/api/referrals?q=smith&sort=-referred');
    expect(list.items).toMatchObject([{ patronId: 'P101', agency: 'Consortium', balance: '60.00', recovered: '0.00' }]);
    const sorted = await get('/api/referrals?sort=referred');
    expect(sorted.items.map((r: { patronId: string }) => r.patronId)).toEqual(['P100', 'P101']);
  });

  it('the audit log: text anywhere in actor, action or record, sorted by action', async () => {
    const found = await get('/api/audit?q=EXCLUSION');
    expect(found.items.map((a: { action: string }) => a.action)).toEqual(['exclusion.create']);
    const byAction = await get('/api/audit?sort=action&limit=500');
    const actions = byAction.items.map((a: { action: string }) => a.action);
    expect(actions).toEqual([...actions].sort());
  });
});

describe('reference data for the screens', () => {
  it('libraries with their names, zones and patrons', async () => {
    expect((await get('/api/libraries')).items).toEqual([
      { code: 'EAST', name: 'EAST Library', timeZone: 'America/New_York', patrons: 1 },
      { code: 'MAIN', name: 'MAIN Library', timeZone: 'America/Chicago', patrons: 3 },
    ]);
  });

  it('import kinds with their columns, and a template holding the header row', async () => {
    const kinds = await get('/api/imports/kinds', adminCookie);
    expect(kinds.items.map((k: { kind: string }) => k.kind)).toEqual(['libraries', 'patrons', 'items', 'charges', 'payments']);
    expect(kinds.items[4].columns).toContainEqual({ name: 'type', required: true, note: 'payment, waive, writeoff' });
    expect(kinds.items[4].columns).toContainEqual({ name: 'charge_id', required: false, note: 'blank = oldest charges first' });
    const template = await app.inject({ url: '/api/imports/payments/template', headers: { cookie: adminCookie } });
    expect(template.headers['content-disposition']).toBe('attachment; filename="payments-template.csv"');
    expect(template.body).toBe('id,patron_id,charge_id,type,method,amount,paid_at\r\n');
  });
});
