// Agencies and the strategies that pick one for each new referral, on PGlite and PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../src/domain/errors.ts';
import type { Cents } from '../src/domain/money.ts';
import type { AgencyStrategyName, SettingsEntry } from '../src/domain/settings.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addAgency, editAgency, getAgency, listAgencies, type AgencyRow } from '../src/services/agencies.ts';
import { assignAgencies, getStrategy, registerStrategy, roundRobin } from '../src/services/agency-strategies.ts';
import { getEntry, importSettings } from '../src/services/settings.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

let t: TestDatabase;
let ctx: Context;

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock: fixedClock('2024-05-01T12:00:00Z'), actor: 'test:agencies' };
  await t.db.insertInto('libraries').values({ code: 'MAIN', name: 'Main', time_zone: 'America/Chicago' }).execute();
});
afterAll(() => t.dispose());

async function problemsOf(p: Promise<unknown>) {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return (err as ValidationError).problems;
}

async function agencyAudits(id: number) {
  return t.db.selectFrom('audit_log').select(['action', 'before', 'after', 'actor']).where('entity', '=', 'agency').where('entity_id', '=', String(id)).orderBy('id').execute();
}

describe('agencies', () => {
  it('adds an agency with defaults and audits it', async () => {
    const a = await addAgency(ctx, { name: 'Unique Management Services' });
    expect(a).toEqual({
      id: a.id,
      name: 'Unique Management Services',
      active: true,
      transferMethod: 'none',
      transferConfig: {},
      layout: 'arrears',
      layoutConfig: {},
    });
    expect(await getAgency(t.db, 'Unique Management Services')).toEqual(a);
    expect(await getAgency(t.db, a.id)).toEqual(a);
    const audits = await agencyAudits(a.id);
    expect(audits).toEqual([{ action: 'agency.create', before: null, after: a, actor: 'test:agencies' }]);
  });

  it('stores the non-secret settings of each transfer method', async () => {
    const sftp = await addAgency(ctx, { name: 'Sftp Co', transferMethod: 'sftp', transferConfig: { host: 'sftp.agency.com', username: 'lib', remoteFolder: 'in' } });
    expect(sftp.transferConfig).toEqual({ host: 'sftp.agency.com', port: 22, username: 'lib', remoteFolder: 'in' });
    const s3 = await addAgency(ctx, {
      name: 'S3 Co',
      transferMethod: 's3',
      transferConfig: { bucket: 'agency-drop', prefix: 'library/', region: 'us-east-1', endpoint: 'http://127.0.0.1:4569', accessKeyId: 'AKIAEXAMPLE' },
    });
    expect(s3.transferConfig).toEqual({ bucket: 'agency-drop', prefix: 'library/', region: 'us-east-1', endpoint: 'http://127.0.0.1:4569', accessKeyId: 'AKIAEXAMPLE' });
    const email = await addAgency(ctx, { name: 'Mail Co', transferMethod: 'email', transferConfig: { to: 'a@agency.com, b@agency.com', subject: 'Referrals' } });
    expect(email.transferConfig).toEqual({ to: 'a@agency.com, b@agency.com', subject: 'Referrals' });
    const folder = await addAgency(ctx, { name: 'Folder Co', transferMethod: 'folder', transferConfig: { path: '/srv/outbox' }, layout: 'custom', layoutConfig: { fields: ['patron_id'], delimiter: ';', header: false, dateFormat: 'YYYY-MM-DD', moneyFormat: 'decimal' } });
    expect([folder.transferConfig, folder.layout, folder.layoutConfig]).toEqual([
      { path: '/srv/outbox' },
      'custom',
      { fields: ['patron_id'], delimiter: ';', header: false, dateFormat: 'YYYY-MM-DD', moneyFormat: 'decimal' },
    ]);
  });

  it('rejects bad input naming the field, and never stores a secret', async () => {
    const before = (await listAgencies(t.db)).length;
    expect(
      await problemsOf(addAgency(ctx, { name: 'Bad Sftp', transferMethod: 'sftp', transferConfig: { host: 'h', port: 70000, password: 'hunter2', bucket: 'b' } })),
    ).toEqual([
      { field: 'transferConfig.port', reason: 'must be a whole number from 1 to 65535' },
      { field: 'transferConfig.password', reason: 'secrets are not kept with the transfer settings; they are stored encrypted, separately' },
      { field: 'transferConfig.bucket', reason: 'is not a setting of the sftp transfer method (it has host, port, username, remoteFolder, hostKey)' },
      { field: 'transferConfig.username', reason: 'is required for the sftp transfer method' },
    ]);
    expect(await problemsOf(addAgency(ctx, { name: 'x'.repeat(101) }))).toEqual([{ field: 'name', reason: 'must be at most 100 characters; this has 101' }]);
    expect(await problemsOf(addAgency(ctx, { name: '123' }))).toEqual([{ field: 'name', reason: 'must not be only digits (it would read as an id)' }]);
    expect(await problemsOf(addAgency(ctx, { name: 'Bad Mail', transferMethod: 'email', transferConfig: { from: `${'f'.repeat(37)}@library.org`, to: 'nobody' } }))).toEqual([
      { field: 'transferConfig.from', reason: 'must be shorter than 49 characters; this has 49' },
      { field: 'transferConfig.to', reason: '"nobody" is not an email address' },
    ]);
    expect(await problemsOf(addAgency(ctx, { name: 'Bad Method', transferMethod: 'ftp' as never, layout: 'csv' as never }))).toEqual([
      { field: 'transferMethod', reason: 'must be one of sftp, s3, email, folder, none' },
      { field: 'layout', reason: 'must be one of arrears, ums, custom' },
    ]);
    await expect(addAgency(ctx, { name: 'Sftp Co' })).rejects.toBeInstanceOf(ConflictError);
    expect((await listAgencies(t.db)).length).toBe(before);
  });

  it('edits merge transfer settings, switch methods, rename (entries follow) and are audited', async () => {
    const a = await addAgency(ctx, { name: 'Editable', transferMethod: 'sftp', transferConfig: { host: 'old.example.com', username: 'lib' } });
    await importSettings(ctx, [{ name: 'Uses Editable', minimumOwed: '1.00', agency: 'Editable' }]);

    const b = await editAgency(ctx, 'Editable', { transferConfig: { port: '2222', remoteFolder: 'drop' } });
    expect(b.transferConfig).toEqual({ host: 'old.example.com', port: 2222, username: 'lib', remoteFolder: 'drop' });
    const c = await editAgency(ctx, a.id, { rename: 'Edited', active: false, transferMethod: 'folder', transferConfig: { path: '/srv/out' } });
    expect(c).toMatchObject({ id: a.id, name: 'Edited', active: false, transferMethod: 'folder', transferConfig: { path: '/srv/out' } });
    expect((await getEntry(t.db, 'Uses Editable')).agency).toEqual({ kind: 'fixed', agency: 'Edited' });

    // Nothing to change: no write, no audit row.
    await editAgency(ctx, 'Edited', { active: false, transferConfig: { path: '/srv/out' } });
    const audits = await agencyAudits(a.id);
    expect(audits.map((x) => x.action)).toEqual(['agency.create', 'agency.update', 'agency.update']);
    expect(audits[2]!.before).toMatchObject({ name: 'Editable', active: true, transferMethod: 'sftp' });
    expect(audits[2]!.after).toMatchObject({ name: 'Edited', active: false, transferMethod: 'folder' });

    expect(await problemsOf(editAgency(ctx, 'Edited', { transferConfig: { host: 'x' } }))).toEqual([
      { field: 'transferConfig.host', reason: 'is not a setting of the folder transfer method (it has path)' },
    ]);
    await expect(editAgency(ctx, 'Edited', { rename: 'Sftp Co' })).rejects.toBeInstanceOf(ConflictError);
    await expect(editAgency(ctx, 'No Such Agency', { active: true })).rejects.toThrow('agency "No Such Agency" not found');
  });
});

// Strategy fixtures: patrons, entries and referrals written straight to the tables.
let patronSeq = 0;
async function patron(id = `P${String(++patronSeq).padStart(3, '0')}`): Promise<string> {
  await t.db.insertInto('patrons').values({ id, home_library: 'MAIN', ptype: '1' }).execute();
  return id;
}

async function referral(agency: AgencyRow, cents: number, options: { entryId?: number; status?: 'open' | 'cleared' } = {}): Promise<void> {
  await t.db
    .insertInto('referrals')
    .values({
      patron_id: await patron(),
      agency_id: agency.id,
      entry_id: options.entryId ?? null,
      status: options.status ?? 'open',
      referred_on: '2024-04-01',
      referred_cents: cents,
      last_reported_cents: cents,
    })
    .execute();
}

async function agencies(...specs: [name: string, active?: boolean][]): Promise<AgencyRow[]> {
  const out: AgencyRow[] = [];
  for (const [name, active] of specs) out.push(await addAgency(ctx, { name, active: active ?? true }));
  return out;
}

async function entryWith(name: string, agency: unknown): Promise<SettingsEntry> {
  await importSettings(ctx, [{ name, minimumOwed: '25.00', agency }]);
  return getEntry(t.db, name);
}

const batch = (...pairs: [string, number][]) => pairs.map(([patronId, cents]) => ({ patronId, cents: cents as Cents }));

/** patron id → agency name, for readable expectations. */
async function named(assigned: Map<string, number>): Promise<Record<string, string>> {
  const names = new Map((await listAgencies(t.db)).map((a) => [a.id, a.name]));
  return Object.fromEntries([...assigned].map(([p, id]) => [p, names.get(id)!]));
}

describe('least_referred_debt (the CC&B sample)', () => {
  it('each referral goes to the agency with the least open referred debt, counting this batch; ties to the lowest name', async () => {
    const [a, b, c] = await agencies(['LRD Alpha'], ['LRD Bravo'], ['LRD Charlie'], ['LRD Delta', false]);
    await referral(a!, 100_00);
    await referral(b!, 25_00);
    await referral(b!, 15_00);
    await referral(b!, 500_00, { status: 'cleared' }); // closed: not open debt
    await referral(c!, 0);
    // Open debt now: Alpha 100.00, Bravo 40.00, Charlie 0.00; Delta has none but is inactive.
    const entry = await entryWith('LRD entry', { strategy: 'least_referred_debt', among: ['LRD Alpha', 'LRD Bravo', 'LRD Charlie', 'LRD Delta'] });
    const assigned = await assignAgencies(
      t.db,
      entry,
      // Given out of order: patrons are taken by id.
      batch(['N7', 5_00], ['N3', 20_00], ['N1', 30_00], ['N5', 10_00], ['N2', 50_00], ['N6', 10_00], ['N4', 70_00]),
    );
    expect(await named(assigned)).toEqual({
      N1: 'LRD Charlie', // C 0 → 30
      N2: 'LRD Charlie', // C 30 < B 40 → C 80
      N3: 'LRD Bravo', // B 40 → 60
      N4: 'LRD Bravo', // B 60 < C 80 < A 100 → B 130
      N5: 'LRD Charlie', // C 80 → 90
      N6: 'LRD Charlie', // C 90 → 100
      N7: 'LRD Alpha', // A 100 = C 100: the lower name
    });
  });
});

describe('round robin', () => {
  it('starts with the first name, then continues where the last run stopped', async () => {
    const [x, y, z] = await agencies(['RR Xray'], ['RR Yankee'], ['RR Zulu']);
    const entry = await entryWith('RR entry', { strategy: 'round_robin', among: ['RR Zulu', 'RR Xray', 'RR Yankee'] });
    const first = await assignAgencies(t.db, entry, batch(['R2', 1], ['R1', 1]));
    expect(await named(first)).toEqual({ R1: 'RR Xray', R2: 'RR Yankee' });

    // The run stores its referrals in patron order; the latest went to Yankee.
    await referral(x!, 1_00, { entryId: entry.id });
    await referral(y!, 1_00, { entryId: entry.id });
    const second = await assignAgencies(t.db, entry, batch(['R3', 1], ['R4', 1], ['R5', 1], ['R6', 1]));
    expect(await named(second)).toEqual({ R3: 'RR Zulu', R4: 'RR Xray', R5: 'RR Yankee', R6: 'RR Zulu' });

    // Another entry's referrals do not move this entry's place.
    const other = await entryWith('RR other', { strategy: 'round_robin', among: ['RR Xray', 'RR Zulu'] });
    await referral(z!, 1_00, { entryId: other.id });
    expect(await named(await assignAgencies(t.db, entry, batch(['R7', 1])))).toEqual({ R7: 'RR Zulu' });
  });

  it('skips inactive agencies, keeping the place of one switched off since', async () => {
    const [, , c] = await agencies(['RRI Alpha'], ['RRI Bravo'], ['RRI Charlie'], ['RRI Delta']);
    const entry = await entryWith('RRI entry', { strategy: 'round_robin', among: ['RRI Alpha', 'RRI Bravo', 'RRI Charlie', 'RRI Delta'] });
    await referral(c!, 1_00, { entryId: entry.id });
    await editAgency(ctx, 'RRI Charlie', { active: false });
    await editAgency(ctx, 'RRI Alpha', { active: false });
    expect(await named(await assignAgencies(t.db, entry, batch(['S1', 1], ['S2', 1], ['S3', 1])))).toEqual({ S1: 'RRI Delta', S2: 'RRI Bravo', S3: 'RRI Delta' });
  });

  it('is registered under its name', () => {
    expect(getStrategy('round_robin')).toBe(roundRobin);
    expect(() => registerStrategy(roundRobin)).toThrow('an agency strategy named "round_robin" is already registered');
    expect(() => getStrategy('lottery')).toThrow('agency strategy "lottery" not found');
  });
});

describe('assignAgencies', () => {
  it('a fixed agency takes every referral while it is active', async () => {
    const [f] = await agencies(['Fixed Agency']);
    const entry = await entryWith('Fixed entry', 'Fixed Agency');
    expect(await named(await assignAgencies(t.db, entry, batch(['F1', 1], ['F2', 1])))).toEqual({ F1: 'Fixed Agency', F2: 'Fixed Agency' });
    await editAgency(ctx, f!.id, { active: false });
    expect(await problemsOf(assignAgencies(t.db, entry, batch(['F3', 1])))).toEqual([
      { field: 'agency', reason: 'settings entry "Fixed entry" refers to agency "Fixed Agency", which is inactive' },
    ]);
    expect((await assignAgencies(t.db, entry, [])).size).toBe(0);
  });

  it('a strategy with no active candidate is refused', async () => {
    await agencies(['Sleepy One', false], ['Sleepy Two', false]);
    const entry = await entryWith('Sleepy entry', { strategy: 'least_referred_debt', among: ['Sleepy One', 'Sleepy Two'] });
    expect(await problemsOf(assignAgencies(t.db, entry, batch(['Z1', 1])))).toEqual([
      { field: 'agency', reason: 'settings entry "Sleepy entry" has no agency to refer to: none of "Sleepy One", "Sleepy Two" is active' },
    ]);
  });

  it('a library strategy plugs in; an empty list offers every active agency, sorted by name', async () => {
    await agencies(['Plug Inactive', false]);
    let offered: string[] = [];
    registerStrategy({
      name: 'first_candidate',
      async assign({ candidates, referrals }) {
        offered = candidates.map((c) => c.name);
        return new Map(referrals.map((r) => [r.patronId, candidates[0]!.id]));
      },
    });
    const base = await entryWith('Plug entry', { strategy: 'round_robin', among: [] });
    const entry: SettingsEntry = { ...base, agency: { kind: 'strategy', strategy: 'first_candidate' as AgencyStrategyName, among: [] } };
    const assigned = await assignAgencies(t.db, entry, batch(['Q1', 1]));
    const active = (await listAgencies(t.db)).filter((a) => a.active).map((a) => a.name);
    expect(offered).toEqual(active);
    expect(offered).not.toContain('Plug Inactive');
    expect(offered).toContain('RR Xray');
    expect(await named(assigned)).toEqual({ Q1: active[0] });
  });
});
