// Record sets and the bulk actions on them: bad agency files refused with a clear message and
// nothing changed, the id column picked by name, bulk change all-or-nothing, securing refused
// while items are linked, bulk settle. Runs on PGlite and PostgreSQL.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import ExcelJS from 'exceljs';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerRecordsets } from '../src/cli/recordsets.ts';
import { registerSecondAgency } from '../src/cli/second-agency.ts';
import { openDatabase } from '../src/db/connection.ts';
import { ConflictError, ValidationError } from '../src/domain/errors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { patronBalance } from '../src/services/ledger.ts';
import {
  addMembers,
  bulkChange,
  createItemSet,
  createPatronSet,
  deleteLostItems,
  deleteRecordSet,
  listRecordSets,
  readIdFile,
  removeMembers,
  showRecordSet,
  transitionLostItems,
} from '../src/services/recordsets.ts';
import { releasePatrons, returnAndRerefer, SecureRefusedError, securePatrons, settlePatrons } from '../src/services/second-agency.ts';
import type { Executor } from '../src/services/context.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { LedgerFactory } from './helpers/ledger-factory.ts';

let t: TestDatabase;
let dir: string;
let ctx: Context;

beforeAll(async () => {
  t = await freshDatabase();
  dir = mkdtempSync(join(tmpdir(), 'arrears-recordsets-'));
  ctx = { database: t, clock: fixedClock('2024-05-01T15:00:00Z'), actor: 'clerk:alice' };
});
afterAll(async () => {
  await t.dispose();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
function csv(lines: string[]): string {
  const path = join(dir, `file-${++files}.csv`);
  writeFileSync(path, lines.join('\r\n') + '\r\n');
  return path;
}

async function xlsx(rows: (string | number)[][], name = `book-${++files}.xlsx`): Promise<string> {
  const path = join(dir, name);
  const book = new ExcelJS.Workbook();
  const sheet = book.addWorksheet('Accounts');
  for (const r of rows) sheet.addRow(r);
  await book.xlsx.writeFile(path);
  return path;
}

function bytes(name: string, content: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

async function counts() {
  const n = async (table: 'record_sets' | 'record_set_members' | 'audit_log') =>
    Number((await t.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { sets: await n('record_sets'), members: await n('record_set_members'), audit: await n('audit_log') };
}

/** The ValidationError a call throws, as the lines the CLI prints. */
async function problems(p: Promise<unknown>): Promise<string[]> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ValidationError);
  return (err as ValidationError).message.split('\n');
}

async function patrons(f: LedgerFactory, n: number) {
  const list = [];
  for (let i = 0; i < n; i++) list.push((await f.patron({ first_name: 'Pat', last_name: `Ron${i}` })).id);
  return list;
}

describe('bad agency files are refused with a clear message and change nothing', () => {
  it('no patron id column: the message names the headers found', async () => {
    const f = new LedgerFactory(t.db);
    const [p] = await patrons(f, 1);
    const before = await counts();
    const file = csv(['Account,Name,Balance', `A1,${p},12.00`]);
    expect(await problems(createPatronSet(ctx, { name: 'no id column', file }))).toEqual([
      `${file.split('/').pop()}, row 1: no patron id column (a header like "PatronID", "Patron ID" or "patron_id"); the headers are "Account", "Name", "Balance"; name the column to use`,
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'no such column', file, column: 'Borrower' }))).toEqual([
      `${file.split('/').pop()}, row 1, column Borrower: no column headed "Borrower"; the headers are "Account", "Name", "Balance"`,
    ]);
    expect(await counts()).toEqual(before);
  });

  it('an empty file, a sheet without rows, and a header without ids', async () => {
    const before = await counts();
    expect(await problems(createPatronSet(ctx, { name: 'empty csv', file: bytes('empty.csv', Buffer.alloc(0)) }))).toEqual([
      'empty.csv: the file is empty: expected a header row naming the patron id column, then one id per row',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'empty xlsx', file: bytes('empty.xlsx', Buffer.alloc(0)) }))).toEqual([
      'empty.xlsx: the file is empty: expected a header row naming the patron id column, then one id per row',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'blank sheet', file: await xlsx([], 'blank-sheet.xlsx') }))).toEqual([
      'blank-sheet.xlsx: the file has no rows: expected a header row naming the patron id column, then one id per row',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'header only', file: await xlsx([['Patron ID', 'Name']], 'header-only.xlsx') }))).toEqual([
      'header-only.xlsx, column Patron ID: no patron ids under column "Patron ID"',
    ]);
    expect(await counts()).toEqual(before);
  });

  it('not a spreadsheet: a PNG or random bytes renamed .xlsx, a PNG renamed .csv, another extension', async () => {
    const before = await counts();
    const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(200, 7)]);
    // Fixed "random" bytes, so the test never depends on luck: no zip signature, a NUL inside.
    const noise = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 2654435761) % 251));
    expect(await problems(createPatronSet(ctx, { name: 'png', file: bytes('returns.xlsx', png) }))).toEqual([
      'returns.xlsx: not a spreadsheet: this is not an Excel .xlsx workbook (it looks like a PNG image)',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'noise', file: bytes('noise.xlsx', noise) }))).toEqual([
      'noise.xlsx: not a spreadsheet: this is not an Excel .xlsx workbook',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'png csv', file: bytes('returns.csv', png) }))).toEqual([
      'returns.csv: not a spreadsheet: this is not a CSV text file (it looks like a PNG image)',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'noise csv', file: bytes('noise.csv', noise) }))).toEqual([
      'noise.csv: not a spreadsheet: this is not a CSV text file',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'xlsx as csv', file: bytes('book.csv', Buffer.from('PK\x03\x04rest of a zip')) }))).toEqual([
      'book.csv: not a CSV file: it is a zip archive (an .xlsx workbook named .csv?)',
    ]);
    expect(await problems(createPatronSet(ctx, { name: 'txt', file: bytes('returns.txt', Buffer.from('PatronID\n1\n')) }))).toEqual([
      'returns.txt: agency files must be .xlsx or .csv, not ".txt"',
    ]);
    expect(await counts()).toEqual(before);
  });

  it('10,000 unknown ids: refused, with or without allowUnknown, listing the first 20 by row', async () => {
    const before = await counts();
    const ids = Array.from({ length: 10_000 }, (_, i) => `NOPE${String(i).padStart(5, '0')}`);
    const file = csv(['PatronID', ...ids]);
    const name = file.split('/').pop();
    const lines = await problems(createPatronSet(ctx, { name: 'all unknown', file }));
    expect(lines[0]).toBe(`${name}, column PatronID: none of the 10000 patron ids in the file is a patron here; nothing was created (is it the right file and column?)`);
    expect(lines[1]).toBe(`${name}, row 2, column PatronID: unknown patron "NOPE00000"`);
    expect(lines[20]).toBe(`${name}, row 21, column PatronID: unknown patron "NOPE00019"`);
    expect(lines.slice(21)).toEqual(['… and 9980 more']);
    expect((await problems(createPatronSet(ctx, { name: 'all unknown', file, allowUnknown: true })))[0]).toContain('none of the 10000 patron ids');
    expect(await counts()).toEqual(before);
  });

  it('some unknown ids: refused by default; with allowUnknown the set holds the known and lists every unknown', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b] = await patrons(f, 2);
    const unknown = Array.from({ length: 10_000 }, (_, i) => `GONE${i}`);
    const file = csv(['PatronID', a!, ...unknown, b!]);
    const before = await counts();
    const lines = await problems(createPatronSet(ctx, { name: 'mostly unknown', file }));
    expect(lines[0]).toContain('10000 of the 10002 patron ids in the file are not patrons here; nothing was created');
    expect(await counts()).toEqual(before);

    const r = await createPatronSet(ctx, { name: 'mostly unknown', file, allowUnknown: true });
    expect(r.set).toMatchObject({ name: 'mostly unknown', kind: 'patron', members: 2, createdBy: 'clerk:alice' });
    expect(r.unknown).toHaveLength(10_000);
    expect(r.unknown[0]).toEqual({ id: 'GONE0', row: 3 });
    expect(r.unknown[9999]).toEqual({ id: 'GONE9999', row: 10_002 });
    const view = await showRecordSet(t.db, r.set.id);
    expect(view.members.map((m) => m.id)).toEqual([a, b].sort());
  });
});

describe('reading the id column', () => {
  it('chooses the column named by the user, whatever the default would be', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b, c] = await patrons(f, 3);
    const path = await xlsx([
      ['PatronID', 'Borrower', 'Balance'],
      [a!, b!, 10],
      [a!, c!, 20],
    ]);
    expect(await readIdFile(path)).toMatchObject({ column: 'PatronID', ids: [{ id: a, row: 2 }], duplicates: 1 });
    const r = await createPatronSet(ctx, { name: 'by borrower', file: path, column: ' borrower ' });
    expect(r.column).toBe('Borrower');
    expect((await showRecordSet(t.db, 'BY BORROWER')).members.map((m) => m.id)).toEqual([b, c].sort());
  });

  it.each(['PatronID', 'Patron ID', 'patron_id', ' PATRON id '])('finds the default column headed %j; nothing else in the file is read', async (header) => {
    const f = new LedgerFactory(t.db);
    const [a] = await patrons(f, 1);
    const r = await readIdFile(csv([`Name,${header},Balance Due`, `"Someone, Else",${a},99999.99`, 'blank id,,1.00', `again,${a},2.00`]));
    expect(r).toEqual({ file: expect.stringMatching(/\.csv$/), column: header.trim(), ids: [{ id: a, row: 2 }], duplicates: 1 });
  });

  it('refuses two columns that both look like the patron id', async () => {
    const path = csv(['Patron ID,patron_id', '1,2']);
    expect(await problems(readIdFile(path))).toEqual([`${path.split('/').pop()}, row 1: more than one patron id column ("Patron ID", "patron_id"); name the column to use`]);
  });

  it('reads numeric id cells of an .xlsx as the digits a person sees', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron({ id: '4400123' });
    const r = await readIdFile(await xlsx([['Patron ID'], [Number(p.id)]]));
    expect(r.ids).toEqual([{ id: p.id, row: 2 }]);
  });
});

describe('sets: names, list, membership, delete', () => {
  it('a name picks one set regardless of case; names of digits are refused', async () => {
    const f = new LedgerFactory(t.db);
    const [a] = await patrons(f, 1);
    const file = csv(['PatronID', a!]);
    const first = await createPatronSet(ctx, { name: 'Returned June', file });
    const clash = await createPatronSet(ctx, { name: 'RETURNED june', file }).catch((e: unknown) => e);
    expect(clash).toBeInstanceOf(ConflictError);
    expect((clash as Error).message).toBe(`a record set named "RETURNED june" already exists (#${first.set.id})`);
    expect(await problems(createPatronSet(ctx, { name: '2024', file }))).toEqual(['field name: a record set name cannot be only digits (it would read as an id)']);
    expect((await listRecordSets(t.db)).find((s) => s.id === first.set.id)).toMatchObject({ name: 'Returned June', members: 1, source: `${file.split('/').pop()} (column PatronID)` });
  });

  it('adds and removes members, listing back what did not apply; unknown ids refuse the add', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b, c] = await patrons(f, 3);
    const { set } = await createPatronSet(ctx, { name: `members ${a}`, file: csv(['PatronID', a!]) });
    expect(await problems(addMembers(ctx, set.id, [b!, 'NOBODY']))).toEqual(['field ids: unknown patron "NOBODY"']);
    const added = await addMembers(ctx, set.name, [b!, c!, a!]);
    expect([added.added, added.unchanged, added.set.members]).toEqual([[b, c], [a], 3]);
    const removed = await removeMembers(ctx, set.id, [c!, 'NOBODY']);
    expect([removed.removed, removed.unchanged, removed.set.members]).toEqual([[c], ['NOBODY'], 2]);
    const audit = await t.db.selectFrom('audit_log').select(['action', 'actor', 'after', 'before']).where('entity', '=', 'record_set').where('entity_id', '=', String(set.id)).orderBy('id').execute();
    expect(audit.map((x) => [x.action, x.actor])).toEqual([
      ['recordset.create', 'clerk:alice'],
      ['recordset.add', 'clerk:alice'],
      ['recordset.remove', 'clerk:alice'],
    ]);
    expect(audit[2]!.before).toEqual({ name: set.name, removed: [c] });

    await deleteRecordSet(ctx, set.id);
    expect(await t.db.selectFrom('record_set_members').select('member_id').where('record_set_id', '=', set.id).execute()).toEqual([]);
    expect(await t.db.selectFrom('patrons').select('id').where('id', 'in', [a!, b!, c!]).execute()).toHaveLength(3);
  });

  it("shows each member's name, balance, status, in-collections flag and linked items", async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron({ first_name: 'Ada', last_name: 'Byron', in_collections: true, status: 'secured' });
    const charge = await f.charge({ patron_id: p.id, amount_cents: 4250 });
    await f.payment({ patron_id: p.id, charge_id: charge.id, amount_cents: 1000 });
    await f.item({ patron_id: p.id, status: 'lost' });
    const { set } = await createPatronSet(ctx, { name: `show ${p.id}`, file: csv(['PatronID', p.id]) });
    const view = await showRecordSet(t.db, set.id);
    expect(view.members).toEqual([
      expect.objectContaining({ id: p.id, exists: true, firstName: 'Ada', lastName: 'Byron', balanceCents: 3250, status: 'secured', inCollections: true, blocked: false, linkedItems: 1 }),
    ]);
  });
});

describe('bulk change', () => {
  it('changes patron code, patron type, note and block of every member, with before and after in the audit log', async () => {
    const f = new LedgerFactory(t.db);
    const a = await f.patron({ patron_code: 'ADULT', ptype: '1', note: 'Called 3 times' });
    const b = await f.patron({ patron_code: 'ADULT', ptype: 'PT' });
    const { set } = await createPatronSet(ctx, { name: `change ${a.id}`, file: csv(['PatronID', a.id, b.id]) });

    const r = await bulkChange(ctx, set.id, { patronCode: 'COLL2', ptype: 'PT', note: { text: 'Returned by UMS', mode: 'append' }, blocked: true });
    expect(r.changed).toEqual([
      { patronId: a.id, before: { patron_code: 'ADULT', ptype: '1', note: 'Called 3 times', blocked: false }, after: { patron_code: 'COLL2', ptype: 'PT', note: 'Called 3 times\nReturned by UMS', blocked: true } },
      { patronId: b.id, before: { patron_code: 'ADULT', note: '', blocked: false }, after: { patron_code: 'COLL2', note: 'Returned by UMS', blocked: true } },
    ]);
    const rows = await t.db.selectFrom('patrons').select(['id', 'patron_code', 'ptype', 'note', 'blocked']).where('id', 'in', [a.id, b.id]).orderBy('id').execute();
    expect(rows).toEqual([
      { id: a.id, patron_code: 'COLL2', ptype: 'PT', note: 'Called 3 times\nReturned by UMS', blocked: true },
      { id: b.id, patron_code: 'COLL2', ptype: 'PT', note: 'Returned by UMS', blocked: true },
    ]);
    const audit = await t.db.selectFrom('audit_log').select(['entity_id', 'actor', 'before', 'after']).where('action', '=', 'patron.change').where('entity_id', 'in', [a.id, b.id]).orderBy('entity_id').execute();
    expect(audit[1]).toEqual({ entity_id: b.id, actor: 'clerk:alice', before: { patron_code: 'ADULT', note: '', blocked: false }, after: { patron_code: 'COLL2', note: 'Returned by UMS', blocked: true, recordSet: set.name } });

    const again = await bulkChange(ctx, set.id, { note: { text: 'Second agency', mode: 'replace' }, blocked: false, patronCode: 'COLL2' });
    expect(again.changed.map((c) => c.after)).toEqual([
      { note: 'Second agency', blocked: false },
      { note: 'Second agency', blocked: false },
    ]);
    expect((await bulkChange(ctx, set.id, { blocked: false })).unchanged).toEqual([a.id, b.id]);
  });

  it('refuses an empty change and a bad patron type before touching anyone', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    const { set } = await createPatronSet(ctx, { name: `refuse ${p.id}`, file: csv(['PatronID', p.id]) });
    expect(await problems(bulkChange(ctx, set.id, {}))).toEqual(['nothing to change: give a patron code, a patron type, a note, or block/unblock']);
    expect(await problems(bulkChange(ctx, set.id, { ptype: ' ', patronCode: 'X'.repeat(51) }))).toEqual([
      'field patronCode: a patron code is at most 50 characters',
      'field ptype: a patron type must not be blank',
    ]);
    expect(await problems(bulkChange(ctx, set.id, { ptype: 'P'.repeat(101) }))).toEqual(['field ptype: a patron type must be at most 100 characters; this has 101']);
    expect(await problems(bulkChange(ctx, set.id, { ptype: 'P\nT' }))).toEqual(['field ptype: a patron type must not contain control characters']);
  });

  it('is one transaction: a failure part way through changes nobody', async () => {
    const f = new LedgerFactory(t.db);
    const ps = [await f.patron({ patron_code: 'ADULT' }), await f.patron({ patron_code: 'ADULT' }), await f.patron({ patron_code: 'ADULT' })];
    const { set } = await createPatronSet(ctx, { name: `atomic ${ps[0]!.id}`, file: csv(['PatronID', ...ps.map((p) => p.id)]) });
    const auditBefore = (await counts()).audit;
    // The audit entry of the last patron fails after every patron row has been updated.
    await sql`create or replace function h8_fail() returns trigger language plpgsql as $$ begin raise exception 'audit log unavailable'; end $$`.execute(t.db);
    await sql
      .raw(`create trigger h8_fail_audit before insert on audit_log for each row when (new.action = 'patron.change' and new.entity_id = '${ps[2]!.id}') execute function h8_fail()`)
      .execute(t.db);
    try {
      await expect(bulkChange(ctx, set.id, { patronCode: 'COLL2', blocked: true })).rejects.toThrow('audit log unavailable');
    } finally {
      await sql`drop trigger h8_fail_audit on audit_log`.execute(t.db);
    }
    const rows = await t.db.selectFrom('patrons').select(['patron_code', 'blocked']).where('id', 'in', ps.map((p) => p.id)).execute();
    expect(rows).toEqual(ps.map(() => ({ patron_code: 'ADULT', blocked: false })));
    expect((await counts()).audit).toBe(auditBefore);
  });
});

describe('item record sets and lost items', () => {
  it('collects the linked items of the members by status; unknown statuses are refused', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b, outsider] = await patrons(f, 3);
    const lost = await f.item({ patron_id: a!, status: 'lost' });
    const out = await f.item({ patron_id: b!, status: 'checked_out' });
    await f.item({ patron_id: b!, status: 'claims_returned' });
    await f.item({ patron_id: outsider!, status: 'lost' });
    const { set } = await createPatronSet(ctx, { name: `items ${a}`, file: csv(['PatronID', a!, b!]) });
    expect(await problems(createItemSet(ctx, { from: set.id, statuses: ['lost,stolen'] }))).toEqual([
      'field statuses: unknown item status "stolen"; expected available, checked_out, lost, missing, withdrawn, claims_returned',
    ]);
    const r = await createItemSet(ctx, { from: set.name, statuses: ['lost', 'checked_out'] });
    expect(r.set).toMatchObject({ name: `${set.name} items (lost,checked_out)`, kind: 'item', members: 2, source: `record set #${set.id} "${set.name}", items lost,checked_out` });
    expect(r.items.map((i) => [i.id, i.status, i.patronId])).toEqual([
      [lost.id, 'lost', a],
      [out.id, 'checked_out', b],
    ]);
    expect(await problems(deleteLostItems(ctx, set.id))).toEqual([`field set: record set "${set.name}" is a patron set, not an item set; build an item set from it first`]);
  });

  it('delete: an item no charge names is deleted, one a charge names is kept withdrawn and unlinked; charges stay whole', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    const billed = await f.item({ patron_id: p.id, status: 'lost', barcode: '31234000111', title: 'Moby-Dick' });
    const unbilled = await f.item({ patron_id: p.id, status: 'lost', title: 'Emma' });
    const out = await f.item({ patron_id: p.id, status: 'checked_out' });
    const charge = await f.charge({ patron_id: p.id, item_id: billed.id, amount_cents: 2599 });
    const { set } = await createPatronSet(ctx, { name: `delete ${p.id}`, file: csv(['PatronID', p.id]) });
    const items = await createItemSet(ctx, { from: set.id, statuses: ['lost', 'checked_out'] });

    const r = await deleteLostItems(ctx, items.set.id);
    expect(r.deleted.map((i) => i.id)).toEqual([unbilled.id]);
    expect(r.kept).toEqual([{ id: billed.id, barcode: '31234000111', title: 'Moby-Dick', patronId: p.id, status: 'withdrawn' }]);
    expect(r.skipped).toEqual([{ id: out.id, reason: 'status is checked_out, not lost' }]);
    expect(r.set.members).toBe(2);

    const left = await t.db.selectFrom('items').select(['id', 'status', 'patron_id', 'title']).where('id', 'in', [billed.id, unbilled.id, out.id]).orderBy('id').execute();
    expect(left).toEqual([
      { id: billed.id, status: 'withdrawn', patron_id: null, title: 'Moby-Dick' },
      { id: out.id, status: 'checked_out', patron_id: p.id, title: 'A Book' },
    ]);
    expect(await t.db.selectFrom('charges').select(['id', 'item_id', 'amount_cents']).where('patron_id', '=', p.id).execute()).toEqual([{ id: charge.id, item_id: billed.id, amount_cents: 2599 }]);
    const audit = await t.db.selectFrom('audit_log').select(['action', 'entity_id']).where('entity', '=', 'item').where('entity_id', 'in', [billed.id, unbilled.id]).orderBy('action').execute();
    expect(audit).toEqual([
      { action: 'item.delete', entity_id: unbilled.id },
      { action: 'item.withdraw', entity_id: billed.id },
    ]);
  });

  it("transition: each lost item goes to its patron's home library's setting and is unlinked", async () => {
    const f = new LedgerFactory(t.db);
    const missingLib = await f.library({ lost_item_transition: 'missing' });
    const withdrawnLib = await f.library({ lost_item_transition: 'withdrawn' });
    const a = await f.patron({ home_library: missingLib.code });
    const b = await f.patron({ home_library: withdrawnLib.code });
    const ia = await f.item({ patron_id: a.id, status: 'lost' });
    const ib = await f.item({ patron_id: b.id, status: 'lost' });
    const { set } = await createPatronSet(ctx, { name: `transition ${a.id}`, file: csv(['PatronID', a.id, b.id]) });
    const items = await createItemSet(ctx, { from: set.id, statuses: ['lost'] });
    const r = await transitionLostItems(ctx, items.set.name);
    expect(r.kept.map((i) => [i.id, i.status, i.library, i.patronId])).toEqual([
      [ia.id, 'missing', missingLib.code, a.id],
      [ib.id, 'withdrawn', withdrawnLib.code, b.id],
    ]);
    expect(await t.db.selectFrom('items').select(['status', 'patron_id']).where('id', 'in', [ia.id, ib.id]).orderBy('id').execute()).toEqual([
      { status: 'missing', patron_id: null },
      { status: 'withdrawn', patron_id: null },
    ]);
    expect((await transitionLostItems(ctx, items.set.id)).skipped).toEqual([
      { id: ia.id, reason: 'status is missing, not lost' },
      { id: ib.id, reason: 'status is withdrawn, not lost' },
    ]);
  });
});

describe('secure, release and settle in bulk', () => {
  it('securing is refused while items are linked, naming them per patron; nothing is secured', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b, c] = await patrons(f, 3);
    const item = await f.item({ patron_id: b!, status: 'checked_out', barcode: '31234000222', title: 'The Hobbit' });
    const { set } = await createPatronSet(ctx, { name: `secure ${a}`, file: csv(['PatronID', a!, b!, c!]) });
    const err = await securePatrons(ctx, { set: set.id }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecureRefusedError);
    expect((err as SecureRefusedError).refused).toEqual([{ patronId: b, items: [{ id: item.id, barcode: '31234000222', title: 'The Hobbit', status: 'checked_out' }] }]);
    expect((err as Error).message).toBe(
      [
        'securing refused: 1 patron has items still linked, and nothing was secured; remove or transition the items first',
        `patron ${b} has 1 linked item:`,
        `  item ${item.id}, barcode 31234000222, "The Hobbit", checked_out`,
      ].join('\n'),
    );
    const statuses = await t.db.selectFrom('patrons').select('status').where('id', 'in', [a!, b!, c!]).execute();
    expect(statuses.map((s) => s.status)).toEqual(['active', 'active', 'active']);

    const r = await securePatrons(ctx, { set: set.name }, { skipRefused: true });
    expect(r).toEqual({ secured: [a, c], alreadySecured: [], refused: [{ patronId: b, items: [expect.objectContaining({ id: item.id })] }] });
    const flags = await t.db.selectFrom('flag_changes').select(['patron_id', 'secured', 'in_collections']).where('patron_id', 'in', [a!, b!, c!]).orderBy('patron_id').execute();
    expect(flags).toEqual([
      { patron_id: a, secured: true, in_collections: false },
      { patron_id: c, secured: true, in_collections: false },
    ]);
    expect((await securePatrons(ctx, { patronIds: [a!] })).alreadySecured).toEqual([a]);

    expect(await releasePatrons(ctx, { patronIds: [c!, b!] })).toEqual({ released: [c], notSecured: [b] });
    expect(await problems(releasePatrons(ctx, { patronIds: ['NOBODY'] }))).toEqual(['field patronIds: unknown patron "NOBODY"']);
  });

  it('secured records keep their charges', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, amount_cents: 1234 });
    await securePatrons(ctx, { patronIds: [p.id] });
    expect(await patronBalance(t.db, p.id)).toMatchObject({ flags: { status: 'secured' }, outstandingCents: 1234 });
  });

  it('settles a set: per-patron amounts waived, or paid by "collection agency"; balances end at 0', async () => {
    const f = new LedgerFactory(t.db);
    const [a, b, zero] = await patrons(f, 3);
    const ca = await f.charge({ patron_id: a!, amount_cents: 3000 });
    await f.charge({ patron_id: a!, amount_cents: 1500, reason: 'overdue' });
    await f.payment({ patron_id: a!, charge_id: ca.id, amount_cents: 500 });
    await f.charge({ patron_id: b!, amount_cents: 2000 });
    const { set } = await createPatronSet(ctx, { name: `settle ${a}`, file: csv(['PatronID', a!, b!, zero!]) });

    const waived = await settlePatrons(ctx, { set: set.id }, 'waive');
    expect(waived).toEqual({
      mode: 'waive',
      patrons: [
        { patronId: a, amountCents: 4000 },
        { patronId: b, amountCents: 2000 },
        { patronId: zero, amountCents: 0 },
      ],
      totalCents: 6000,
    });
    for (const id of [a!, b!, zero!]) expect((await patronBalance(t.db, id)).outstandingCents).toBe(0);
    const payments = await t.db.selectFrom('payments').select(['patron_id', 'type', 'method', 'amount_cents']).where('patron_id', 'in', [a!, b!]).where('type', '=', 'waive').orderBy('patron_id').execute();
    expect(payments).toEqual([
      { patron_id: a, type: 'waive', method: '', amount_cents: 4000 },
      { patron_id: b, type: 'waive', method: '', amount_cents: 2000 },
    ]);

    await f.charge({ patron_id: b!, amount_cents: 750 });
    const paid = await settlePatrons(ctx, { patronIds: [b!] }, 'agency_payment');
    expect(paid.patrons).toEqual([{ patronId: b, amountCents: 750 }]);
    expect(await t.db.selectFrom('payments').select(['type', 'method', 'amount_cents']).where('patron_id', '=', b!).where('type', '=', 'payment').execute()).toEqual([
      { type: 'payment', method: 'collection agency', amount_cents: 750 },
    ]);
    const audit = await t.db.selectFrom('audit_log').select(['entity_id', 'actor', 'after']).where('action', '=', 'ledger.settle').where('entity_id', 'in', [a!, b!, zero!]).orderBy('id').execute();
    expect(audit).toEqual([
      { entity_id: a, actor: 'clerk:alice', after: { balance: 0, type: 'waive', method: '', amount: 4000 } },
      { entity_id: b, actor: 'clerk:alice', after: { balance: 0, type: 'waive', method: '', amount: 2000 } },
      { entity_id: b, actor: 'clerk:alice', after: { balance: 0, type: 'payment', method: 'collection agency', amount: 750 } },
    ]);
  });
});

describe('return and re-refer', () => {
  it('refuses, by name and changing nothing, patrons without an open referral or already with that agency, and an inactive agency', async () => {
    const f = new LedgerFactory(t.db);
    const first = await f.agency();
    const second = await f.agency();
    const dormant = await t.db.insertInto('agencies').values({ name: `${f.prefix}dormant`, active: false }).returning('name').executeTakeFirstOrThrow();
    const name = async (id: number) => (await t.db.selectFrom('agencies').select('name').where('id', '=', id).executeTakeFirstOrThrow()).name;
    const [firstName, secondName] = [await name(first), await name(second)];
    const [open, none, already] = await patrons(f, 3);
    await f.charge({ patron_id: open!, amount_cents: 3300 });
    const entry = await t.db
      .insertInto('settings_entries')
      .values({ position: 900, name: 'Rerefer entry', minimum_owed_cents: 100, agency_id: first })
      .returning('id')
      .executeTakeFirstOrThrow();
    const referral = await f.referral({ patron_id: open!, agency_id: first, entry_id: entry.id });
    await f.referral({ patron_id: already!, agency_id: second });
    const historyBefore = await t.db.selectFrom('referral_history').select('id').execute();

    expect(await problems(returnAndRerefer(ctx, { patronIds: [open!, none!, already!] }, secondName))).toEqual([
      'nothing was returned or re-referred',
      `field patronIds: patron "${none}" has no open referral to return`,
      `field patronIds: patron "${already}" is already referred to ${secondName}`,
    ]);
    expect(await problems(returnAndRerefer(ctx, { patronIds: [open!] }, dormant.name))).toEqual([`field agency: agency "${dormant.name}" is inactive`]);
    expect(await t.db.selectFrom('referrals').select('status').where('id', '=', referral).executeTakeFirstOrThrow()).toEqual({ status: 'open' });
    expect(await t.db.selectFrom('referral_history').select('id').execute()).toEqual(historyBefore);

    const r = await returnAndRerefer(ctx, { patronIds: [open!] }, secondName);
    expect(r.referrals).toEqual([{ patronId: open, returnedReferralId: referral, fromAgency: firstName, referralId: expect.any(Number), agency: secondName, amountCents: 3300 }]);
    const rows = await t.db.selectFrom('referrals').select(['id', 'status', 'agency_id', 'entry_id', 'previous_referral_id', 'fee_cents', 'closed_on']).where('patron_id', '=', open!).orderBy('id').execute();
    // The re-referral stays under the first referral's settings entry, so runs go on updating it.
    expect(rows).toEqual([
      { id: referral, status: 'returned', agency_id: first, entry_id: entry.id, previous_referral_id: null, fee_cents: 0, closed_on: '2024-05-01' },
      { id: r.referrals[0]!.referralId, status: 'open', agency_id: second, entry_id: entry.id, previous_referral_id: referral, fee_cents: 0, closed_on: null },
    ]);
  });
});

describe('the commands', () => {
  let url: string;
  let folder: string | undefined;
  let out: string[];
  let err: string[];
  let file: string;

  async function seed(db: Executor): Promise<void> {
    const f = new LedgerFactory(db, 'cli_');
    await f.patron({ id: 'CLI1', first_name: 'Cleo', last_name: 'Lee' });
    await f.patron({ id: 'CLI2' });
    await f.charge({ patron_id: 'CLI1', amount_cents: 1250 });
    await f.item({ id: 'CLI-IT1', patron_id: 'CLI1', status: 'checked_out', barcode: '39000111', title: 'Kindred' });
  }

  beforeAll(async () => {
    file = csv(['Account,PatronID', 'X1,CLI1', 'X2,CLI2', 'X3,NOBODY1']);
    if (testDbKind() === 'postgres') {
      await seed(t.db);
      url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
      return;
    }
    // The commands open the database themselves: give them a PGlite folder.
    folder = mkdtempSync(join(tmpdir(), 'arrears-recordsets-cli-'));
    const database = await openDatabase({ url: folder });
    await seed(database.db);
    await database.close();
    url = folder;
  });
  afterAll(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });
  beforeEach(() => {
    out = [];
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(`${line}\n`));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  async function arrears(...args: string[]): Promise<number> {
    const program = new Command('arrears').option('--db <url>');
    registerRecordsets(program);
    registerSecondAgency(program);
    await program.parseAsync(['--db', url, ...args], { from: 'user' });
    return Number(process.exitCode ?? 0);
  }

  it('a file that is not a spreadsheet: exit 2 and one clear line', async () => {
    const png = bytes('cli-returns.xlsx', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0]));
    expect(await arrears('recordset', 'create', 'cli returns', '--from', png)).toBe(2);
    expect(err.join('')).toBe('error: cli-returns.xlsx: not a spreadsheet: this is not an Excel .xlsx workbook (it looks like a PNG image)\n');
    expect(out).toEqual([]);
  });

  it('create --allow-unknown lists the ids not found; show --json gives balances as decimals', async () => {
    expect(await arrears('recordset', 'create', 'cli returns', '--from', file, '--allow-unknown')).toBe(0);
    const name = file.split('/').pop();
    expect(out.join('')).toMatch(new RegExp(`^created patron record set #\\d+ "cli returns" \\(2 members\\) from ${name}, column "PatronID"\nnot found \\(1\\), left out:\n  NOBODY1 \\(row 4\\)\n$`));
    out.length = 0;
    expect(await arrears('recordset', 'show', 'CLI RETURNS', '--json')).toBe(0);
    const shown = JSON.parse(out.join('')) as { members: { id: string; balance: string; status: string; linkedItems: number }[] };
    expect(shown.members.map((m) => [m.id, m.balance, m.status, m.linkedItems])).toEqual([
      ['CLI1', '12.50', 'active', 1],
      ['CLI2', '0.00', 'active', 0],
    ]);
  });

  it('secure refused: exit 3, naming the linked item', async () => {
    expect(await arrears('secure', '--set', 'cli returns')).toBe(3);
    expect(err.join('')).toBe(
      'error: securing refused: 1 patron has items still linked, and nothing was secured; remove or transition the items first\n' +
        'patron CLI1 has 1 linked item:\n  item CLI-IT1, barcode 39000111, "Kindred", checked_out\n',
    );
  });

  it('settle needs --waive or --agency-payment (exit 2); with one, prints per-patron amounts', async () => {
    expect(await arrears('settle', '--set', 'cli returns')).toBe(2);
    expect(err.join('')).toBe('error: field --waive: give --waive or --agency-payment (one of them)\n');
    process.exitCode = undefined;
    expect(await arrears('settle', 'CLI1', 'CLI2', '--agency-payment', '--json')).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({
      mode: 'agency_payment',
      patrons: [
        { patronId: 'CLI1', amount: '12.50' },
        { patronId: 'CLI2', amount: '0.00' },
      ],
      total: '12.50',
    });
  });
});
