// The Collection Agency Settings table through its service, on PGlite and PostgreSQL:
// seed 002's limits (each rejected with its field named and nothing written), import order
// as table order, update by name, remove, export round trip, audit rows, and the CLI's exit code.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NotFoundError, ValidationError, type Problem } from '../src/domain/errors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addAgency } from '../src/services/agencies.ts';
import { exportSettings, getEntry, importSettings, loadEntries, removeEntry } from '../src/services/settings.ts';
import { registerSettings } from '../src/cli/settings.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

let t: TestDatabase;
let ctx: Context;

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock: fixedClock('2024-05-01T12:00:00Z'), actor: 'test:settings' };
  await addAgency(ctx, { name: 'UMS' });
  await addAgency(ctx, { name: 'Second' });
});
afterAll(() => t.dispose());

const entry = (name: string, extra: Record<string, unknown> = {}) => ({ name, minimumOwed: '25.00', agency: 'UMS', ...extra });

async function audits(action?: string) {
  let q = t.db.selectFrom('audit_log').select(['action', 'entity', 'entity_id', 'before', 'after', 'actor']).where('entity', '=', 'settings_entry');
  if (action) q = q.where('action', '=', action);
  return q.orderBy('id').execute();
}

async function state() {
  return { table: await exportSettings(t.db), ids: (await loadEntries(t.db)).map((e) => [e.id, e.position]), audits: (await audits()).length };
}

/** Imports a file that must fail: returns its problems after checking nothing changed. */
async function rejected(json: unknown, options: { replace?: boolean } = {}): Promise<Problem[]> {
  const before = await state();
  const err = await importSettings(ctx, json, options).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  expect(await state()).toEqual(before);
  return (err as ValidationError).problems;
}

describe('seed 002 limits: rejected with the field named, nothing written', () => {
  beforeAll(async () => {
    await importSettings(ctx, [entry('Limits kept', { baseFilename: 'kept' })], { replace: true });
  });

  it('at most 500 entries (500 + 1 is rejected)', async () => {
    const many = Array.from({ length: 501 }, (_, i) => entry(`Bulk ${i}`));
    expect(await rejected(many)).toEqual([{ field: 'entries', reason: 'the table can hold at most 500 entries; this has 501' }]);
  });

  it('500 in the file plus one kept entry is over the limit too', async () => {
    const many = Array.from({ length: 500 }, (_, i) => entry(`Bulk ${i}`));
    expect(await rejected(many)).toEqual([
      { field: 'entries', reason: 'the table can hold at most 500 entries; with the 1 entries not in this file it would have 501' },
    ]);
  });

  it('name of 36 characters', async () => {
    expect(await rejected([entry('n'.repeat(36))])).toEqual([{ field: 'entries[0].name', reason: 'must be at most 35 characters; this has 36' }]);
  });

  it('101 home libraries', async () => {
    const libs = Array.from({ length: 101 }, (_, i) => `LIB${i}`);
    expect(await rejected([entry('Many libraries', { homeLibraries: libs })])).toEqual([
      { field: 'entries[0].homeLibraries', reason: 'at most 100 values are allowed; this has 101' },
    ]);
  });

  it('missing minimumOwed', async () => {
    expect(await rejected([{ name: 'No minimum', agency: 'UMS' }])).toEqual([{ field: 'entries[0].minimumOwed', reason: 'is required (an amount like "25.00")' }]);
  });

  it('bad base filename', async () => {
    expect(await rejected([entry('Bad base', { baseFilename: 'main/branch' })])).toEqual([
      { field: 'entries[0].baseFilename', reason: '"main/branch" may contain only letters, digits, ".", "_" and "-"' },
    ]);
  });

  it('duplicate base filename, in the file and against an entry the file keeps', async () => {
    expect(await rejected([entry('Dup A', { baseFilename: 'dup' }), entry('Dup B', { baseFilename: 'dup' })])).toEqual([
      { field: 'entries[1].baseFilename', reason: '"dup" is already the base filename of entries[0]' },
    ]);
    expect(await rejected([entry('Dup C', { baseFilename: 'kept' })])).toEqual([
      { field: 'entries[0].baseFilename', reason: '"kept" is already the base filename of entry "Limits kept"' },
    ]);
  });

  it('relative days of 10000', async () => {
    expect(await rejected([entry('Far back', { window: { mode: 'relative', startDays: 10000, endDays: 0 } })])).toEqual([
      { field: 'entries[0].window.startDays', reason: 'must be a whole number from 0 to 9999, or null' },
    ]);
  });

  it("weekday spec '8'", async () => {
    expect(await rejected([entry('Eighth day', { autoUpdateDays: '8' })])).toEqual([
      { field: 'entries[0].autoUpdateDays', reason: 'day 8 is not between 1 and 7 (1 = Sunday .. 7 = Saturday)' },
    ]);
  });

  it('email from of 49 characters', async () => {
    const from = `${'f'.repeat(37)}@library.org`;
    expect(from).toHaveLength(49);
    expect(await rejected([entry('Long from', { email: { from } })])).toEqual([
      { field: 'entries[0].email.from', reason: 'must be shorter than 49 characters; this has 49' },
    ]);
  });

  it('email to of 201 characters', async () => {
    const to = `${'t'.repeat(189)}@library.org`;
    expect(to).toHaveLength(201);
    expect(await rejected([entry('Long to', { email: { to } })])).toEqual([{ field: 'entries[0].email.to', reason: 'must be at most 200 characters; this has 201' }]);
  });

  it('grace period with a relative window', async () => {
    expect(await rejected([entry('Relative grace', { window: { mode: 'relative', startDays: 16, endDays: 4, graceDays: 30 } })])).toEqual([
      { field: 'entries[0].window.graceDays', reason: 'graceDays is only allowed with the absolute mode' },
    ]);
  });

  it('unknown agency, by name and in a strategy list', async () => {
    expect(await rejected([entry('Nobody', { agency: 'Nobody Inc' }), entry('Some', { agency: { strategy: 'round_robin', among: ['UMS', 'Ghost'] } })])).toEqual([
      { field: 'entries[0].agency', reason: 'no agency is named "Nobody Inc"' },
      { field: 'entries[1].agency.among[1]', reason: 'no agency is named "Ghost"' },
    ]);
  });

  it('reports every problem of the file at once, in entry order', async () => {
    const problems = await rejected([entry('Fine'), { name: 'n'.repeat(36), agency: 'Ghost', colour: 'red' }, entry('Late', { autoUpdateDays: '4-1' })]);
    expect(problems.map((p) => p.field)).toEqual(['entries[1].colour', 'entries[1].name', 'entries[1].minimumOwed', 'entries[1].agency', 'entries[2].autoUpdateDays']);
  });
});

describe('import order, updates, removal', () => {
  it('the file order becomes the table order and decides loadEntries order', async () => {
    await importSettings(ctx, [entry('Order B'), entry('Order A'), entry('Order C')], { replace: true });
    let entries = await loadEntries(t.db);
    expect(entries.map((e) => [e.name, e.position])).toEqual([
      ['Order B', 1],
      ['Order A', 2],
      ['Order C', 3],
    ]);
    const ids = new Map(entries.map((e) => [e.name, e.id]));

    // A partial file goes first; the entries not in it keep their relative order after it.
    const summary = await importSettings(ctx, [entry('Order C'), entry('Order A', { minimumOwed: '30.00' }), entry('Order D')]);
    expect(summary).toEqual({ created: ['Order D'], updated: ['Order C', 'Order A', 'Order B'], unchanged: [], removed: [] });
    entries = await loadEntries(t.db);
    expect(entries.map((e) => [e.name, e.position])).toEqual([
      ['Order C', 1],
      ['Order A', 2],
      ['Order D', 3],
      ['Order B', 4],
    ]);
    // Updated in place: the ids stay.
    expect(entries.filter((e) => e.name !== 'Order D').map((e) => e.id === ids.get(e.name))).toEqual([true, true, true]);
    expect(entries[1]!.minimumOwed).toBe(3000);
  });

  it('an update by name is audited with before and after', async () => {
    await importSettings(ctx, [entry('Audited', { agencyFee: '10.00', homeLibraries: ['MAIN'] })], { replace: true });
    const id = (await getEntry(t.db, 'Audited')).id;
    const created = (await audits('settings.create')).filter((a) => a.entity_id === String(id));
    expect(created).toHaveLength(1);
    expect(created[0]!.before).toBeNull();
    expect(created[0]!.after).toMatchObject({ id, position: 1, name: 'Audited', agencyFee: '10.00', homeLibraries: ['MAIN'], agency: 'UMS' });
    expect(created[0]!.actor).toBe('test:settings');

    const summary = await importSettings(ctx, [entry('Audited', { agencyFee: '12.50', homeLibraries: ['MAIN'], agency: 'Second' })]);
    expect(summary.updated).toEqual(['Audited']);
    const updated = (await audits('settings.update')).filter((a) => a.entity_id === String(id));
    expect(updated).toHaveLength(1);
    expect(updated[0]!.before).toMatchObject({ id, agencyFee: '10.00', agency: 'UMS' });
    expect(updated[0]!.after).toMatchObject({ id, agencyFee: '12.50', agency: 'Second' });
    const e = await getEntry(t.db, id);
    expect([e.agencyFee, e.agency]).toEqual([1250, { kind: 'fixed', agency: 'Second' }]);
  });

  it('replace removes the entries not in the file, audited', async () => {
    await importSettings(ctx, [entry('Stay'), entry('Go', { baseFilename: 'go' })], { replace: true });
    const goId = (await getEntry(t.db, 'Go')).id;
    const summary = await importSettings(ctx, [entry('Stay'), entry('New', { baseFilename: 'go' })], { replace: true });
    expect(summary).toEqual({ created: ['New'], updated: [], unchanged: ['Stay'], removed: ['Go'] });
    expect((await loadEntries(t.db)).map((e) => e.name)).toEqual(['Stay', 'New']);
    const removed = (await audits('settings.remove')).filter((a) => a.entity_id === String(goId));
    expect(removed).toHaveLength(1);
    expect(removed[0]!.before).toMatchObject({ id: goId, name: 'Go', baseFilename: 'go' });
    expect(removed[0]!.after).toBeNull();
  });

  it('two entries can swap base filenames in one import', async () => {
    await importSettings(ctx, [entry('Swap 1', { baseFilename: 'one' }), entry('Swap 2', { baseFilename: 'two' })], { replace: true });
    await importSettings(ctx, [entry('Swap 2', { baseFilename: 'one' }), entry('Swap 1', { baseFilename: 'two' })]);
    expect((await loadEntries(t.db)).map((e) => [e.name, e.baseFilename])).toEqual([
      ['Swap 2', 'one'],
      ['Swap 1', 'two'],
    ]);
  });

  it('removeEntry by name or id; the later entries move up', async () => {
    await importSettings(ctx, [entry('Rm 1'), entry('Rm 2'), entry('Rm 3'), entry('Rm 4')], { replace: true });
    const rm2 = await removeEntry(ctx, 'Rm 2');
    expect(rm2.name).toBe('Rm 2');
    const rm1 = await getEntry(t.db, 'Rm 1');
    await removeEntry(ctx, String(rm1.id));
    expect((await loadEntries(t.db)).map((e) => [e.name, e.position])).toEqual([
      ['Rm 3', 1],
      ['Rm 4', 2],
    ]);
    const removed = (await audits('settings.remove')).filter((a) => [String(rm2.id), String(rm1.id)].includes(a.entity_id));
    expect(removed.map((a) => (a.before as { name: string }).name)).toEqual(['Rm 2', 'Rm 1']);
    await expect(removeEntry(ctx, 'Rm 2')).rejects.toBeInstanceOf(NotFoundError);
    await expect(getEntry(t.db, 999999)).rejects.toThrow('settings entry "999999" not found');
  });
});

describe('export and loadEntries', () => {
  const full = [
    {
      name: 'Main adults',
      homeLibraries: ['MAIN', 'EAST'],
      ptypes: [1, 2, 'PT'],
      exemptPatronCodes: ['STAFF'],
      countedCharges: 'item_fees',
      window: { mode: 'relative', startDays: 16, endDays: 4 },
      feeAgeDays: 30,
      minimumOwed: '25.00',
      requireBill: true,
      minDaysOverdue: 45,
      removeIfLessThan: '0.01',
      agencyFee: '10.00',
      agency: 'UMS',
      resubmitAfterClear: false,
      autoCancelDays: 180,
      writeOffOnCancel: true,
      baseFilename: 'main',
      autoNewSubmission: true,
      autoUpdateDays: '1,4',
      sendEmptyReports: false,
      reviewHours: 24,
      email: { from: 'circ@library.org', to: 'a@ums.com, b@ums.com', cc: 'boss@library.org', subject: 'Collections' },
    },
    {
      name: 'Everyone else',
      homeLibraries: [],
      ptypes: [],
      exemptPatronCodes: [],
      countedCharges: 'all',
      window: { mode: 'absolute', start: '2017-01-01', end: '2017-12-31', graceDays: 30 },
      feeAgeDays: null,
      minimumOwed: '50.00',
      requireBill: false,
      minDaysOverdue: null,
      removeIfLessThan: '0.00',
      agencyFee: '0.00',
      agency: { strategy: 'least_referred_debt', among: ['Second', 'UMS'] },
      resubmitAfterClear: true,
      autoCancelDays: null,
      writeOffOnCancel: false,
      baseFilename: null,
      autoNewSubmission: false,
      autoUpdateDays: '2-6',
      sendEmptyReports: true,
      reviewHours: null,
      email: { from: '', to: '', cc: '', subject: '' },
    },
  ];

  it('export gives back exactly the file, and importing it again changes nothing', async () => {
    await importSettings(ctx, full, { replace: true });
    const exported = await exportSettings(t.db);
    expect(exported).toEqual(full);
    const auditsBefore = (await audits()).length;
    const summary = await importSettings(ctx, JSON.parse(JSON.stringify(exported)));
    expect(summary).toEqual({ created: [], updated: [], unchanged: ['Main adults', 'Everyone else'], removed: [] });
    expect((await audits()).length).toBe(auditsBefore);
    expect(await exportSettings(t.db)).toEqual(full);
  });

  it('a PTYPE written as digits is the same as the number: re-importing it that way changes nothing', async () => {
    await importSettings(ctx, full, { replace: true });
    const digits = full.map((e) => ({ ...e, ptypes: e.ptypes.map(String) }));
    expect(await importSettings(ctx, digits)).toEqual({ created: [], updated: [], unchanged: ['Main adults', 'Everyone else'], removed: [] });
    expect((await exportSettings(t.db))[0]!.ptypes).toEqual([1, 2, 'PT']);
  });

  it('loadEntries converts rows to the engine type: cents, dates, arrays, agency names', async () => {
    await importSettings(ctx, full, { replace: true });
    const [main, rest] = await loadEntries(t.db);
    expect(main).toMatchObject({
      position: 1,
      name: 'Main adults',
      homeLibraries: ['MAIN', 'EAST'],
      ptypes: ['1', '2', 'PT'],
      countedCharges: 'item_fees',
      window: { mode: 'relative', startDays: 16, endDays: 4 },
      minimumOwed: 2500,
      removeIfLessThan: 1,
      agencyFee: 1000,
      agency: { kind: 'fixed', agency: 'UMS' },
      baseFilename: 'main',
      autoUpdateDays: '1,4',
      reviewHours: 24,
    });
    expect(rest).toMatchObject({
      position: 2,
      window: { mode: 'absolute', start: '2017-01-01', end: '2017-12-31', graceDays: 30 },
      agency: { kind: 'strategy', strategy: 'least_referred_debt', among: ['Second', 'UMS'] },
      baseFilename: null,
    });
    expect(typeof main!.id).toBe('number');
    expect(await getEntry(t.db, main!.id)).toEqual(main);
  });
});

describe('arrears settings import (CLI)', () => {
  it('a bad settings file exits 2 with one line per problem naming the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrears-settings-'));
    const file = join(dir, 'bad.json');
    writeFileSync(file, JSON.stringify([entry('n'.repeat(36)), entry('Fine', { baseFilename: 'a b', agency: 'Nobody' })]));
    const program = new Command('arrears').option('--db <url>').exitOverride();
    registerSettings(program);
    const written: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    try {
      await program.parseAsync(['node', 'arrears', '--db', 'memory://', 'settings', 'import', file]);
    } finally {
      spy.mockRestore();
    }
    const code = process.exitCode;
    process.exitCode = 0;
    expect(code).toBe(2);
    expect(written.join('')).toBe(
      [
        'error: bad.json, field entries[0].name: must be at most 35 characters; this has 36',
        'error: bad.json, field entries[0].agency: no agency is named "UMS"',
        'error: bad.json, field entries[1].baseFilename: "a b" may contain only letters, digits, ".", "_" and "-"',
        'error: bad.json, field entries[1].agency: no agency is named "Nobody"',
        '',
      ].join('\n'),
    );
  });
});
