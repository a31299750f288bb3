// Seed 000, the Second Collection Agency Workflow, end to end and in order: patrons referred
// to UMS by a real run; UMS's returned-accounts spreadsheet → a record set; review and bulk
// change; an item record set; lost items deleted or transitioned; securing (refused, then
// done); return to UMS and re-referral to a second agency; the cleared-accounts file; release;
// settle. Once with spreadsheets written by LibreOffice (committed fixtures) and once with
// spreadsheets written by exceljs, on PGlite and on PostgreSQL.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateRawSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock, type Context } from '../src/services/context.ts';
import { patronBalance } from '../src/services/ledger.ts';
import { createItemSet, createPatronSet, bulkChange, deleteLostItems, removeMembers, showRecordSet, transitionLostItems } from '../src/services/recordsets.ts';
import { referralsOfPatron } from '../src/services/referrals.ts';
import {
  importClearedAccounts,
  releasePatrons,
  returnAndRerefer,
  SecureRefusedError,
  securePatrons,
  settlePatrons,
} from '../src/services/second-agency.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { paidMismatches } from './helpers/ledger-invariants.ts';
import { Scenario } from './helpers/scenario.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'agency-files');
const SECOND = 'Second Chance Recovery';
const [A, B, C, D, E, F] = ['100001', '100002', '100003', '100004', '100005', '100006'];

let t: TestDatabase;
let s: Scenario;
let dir: string;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
  dir = mkdtempSync(join(tmpdir(), 'arrears-second-agency-'));
});
afterAll(async () => {
  // Whatever the tests above wrote, paid_cents still equals each charge's allocations.
  expect(await paidMismatches(t)).toEqual([]);
  await t.dispose();
  rmSync(dir, { recursive: true, force: true });
});

/** The staff member working through the steps, at a given moment. */
function clerk(at: string): Context {
  return { database: t, clock: fixedClock(at), actor: 'clerk:alice' };
}

/** The same rows as the committed CSV sources, as exceljs writes them (ids as numbers). */
async function exceljsBook(name: string, header: string[], rows: (string | number)[][]): Promise<string> {
  const book = new ExcelJS.Workbook();
  const sheet = book.addWorksheet('Sheet1');
  sheet.addRow(header);
  for (const r of rows) sheet.addRow(r);
  const path = join(dir, name);
  await book.xlsx.writeFile(path);
  return path;
}

interface AgencyFiles {
  returned: string;
  cleared: string;
}

const variants: { writer: string; lostItems: 'delete' | 'transition'; files: () => Promise<AgencyFiles> }[] = [
  {
    writer: 'LibreOffice',
    lostItems: 'delete',
    files: async () => ({
      returned: join(FIXTURES, 'ums-returned.libreoffice.xlsx'),
      cleared: join(FIXTURES, 'second-agency-cleared.libreoffice.xlsx'),
    }),
  },
  {
    writer: 'exceljs',
    lostItems: 'transition',
    files: async () => ({
      returned: await exceljsBook('ums-returned.exceljs.xlsx', ['Patron ID', 'Last Name', 'Balance Due'], [
        [100001, 'Ron 100001', 999.99],
        [100002, 'Ron 100002', 1],
        [100003, 'Ron 100003', 45],
        [100004, 'Ron 100004', 60],
        [999999, 'Unknown', 12],
        [888888, 'Unknown', 13],
      ]),
      cleared: await exceljsBook('second-agency-cleared.exceljs.xlsx', ['Account', 'patron_id', 'Status'], [
        ['SCR-0001', 100001, 'CLEARED'],
        ['SCR-0002', 100002, 'CLEARED'],
        ['SCR-0003', 777777, 'CLEARED'],
        ['SCR-0004', 100006, 'CLEARED'],
      ]),
    }),
  },
];

/** One file's text out of a zip archive, found through the central directory. */
function zipEntry(zip: Buffer, name: string): string {
  const end = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0; i < zip.readUInt16LE(end + 10); i++) {
    const [method, size, nameLength, extra, comment, local] = [zip.readUInt16LE(at + 10), zip.readUInt32LE(at + 20), zip.readUInt16LE(at + 28), zip.readUInt16LE(at + 30), zip.readUInt16LE(at + 32), zip.readUInt32LE(at + 42)];
    if (zip.toString('utf8', at + 46, at + 46 + nameLength) === name) {
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + size);
      return (method === 8 ? inflateRawSync(data) : data).toString('utf8');
    }
    at += 46 + nameLength + extra + comment;
  }
  throw new Error(`${name} is not in the archive`);
}

it('the committed fixtures were written by LibreOffice', () => {
  for (const name of ['ums-returned.libreoffice.xlsx', 'second-agency-cleared.libreoffice.xlsx']) {
    expect(zipEntry(readFileSync(join(FIXTURES, name)), 'docProps/app.xml')).toMatch(/<Application>LibreOffice\//);
  }
});

describe.each(variants)('seed 000 with spreadsheets written by $writer (lost items: $lostItems)', ({ writer, lostItems, files }) => {
  let agencyFiles: AgencyFiles;
  let setId: number;
  let itemSetId: number;

  beforeAll(async () => {
    await s.reset();
    agencyFiles = await files();
  });

  it('1. patrons are referred to the first agency (UMS) by a run', async () => {
    await s.libraries({ code: 'MAIN' }, { code: 'BRANCH' });
    // Lost Item Transition, per library (Polaris Administration).
    await t.db.updateTable('libraries').set({ lost_item_transition: 'withdrawn' }).where('code', '=', 'MAIN').execute();
    await s.agency('UMS');
    await s.agency(SECOND);
    await s.settings({ agency: 'UMS', minimumOwed: '25.00', agencyFee: '10.00', removeIfLessThan: '0.01' });
    await s.patrons({ id: A }, { id: B, home_library: 'BRANCH' }, { id: C }, { id: D }, { id: E }, { id: F });
    await s.load('items', [
      { id: 'IA1', barcode: '31000001', title: 'Moby-Dick', status: 'lost', patron_id: A, due_date: '2024-01-10' },
      { id: 'IA2', barcode: '31000002', title: 'Emma', status: 'lost', patron_id: A, due_date: '2024-01-10' },
      { id: 'IB1', barcode: '31000003', title: 'Dune', status: 'lost', patron_id: B, due_date: '2024-01-12' },
      { id: 'IB2', barcode: '31000004', title: 'The Hobbit', status: 'checked_out', patron_id: B, due_date: '2024-02-01' },
      { id: 'ID1', barcode: '31000005', title: 'Ulysses', status: 'lost', patron_id: D, due_date: '2024-01-15' },
    ]);
    await s.charges(
      { id: 'CA1', patron_id: A, item_id: 'IA1', reason: 'replacement', amount: '30.00', assessed_at: '2024-01-20T10:00:00' },
      { id: 'CA2', patron_id: A, reason: 'overdue', amount: '5.00', assessed_at: '2024-01-20T10:00:00' },
      { id: 'CB1', patron_id: B, reason: 'manual', amount: '40.00', assessed_at: '2024-01-22T10:00:00', library: 'BRANCH' },
      { id: 'CC1', patron_id: C, reason: 'processing', amount: '45.00', assessed_at: '2024-01-25T10:00:00' },
      { id: 'CD1', patron_id: D, item_id: 'ID1', reason: 'replacement', amount: '60.00', assessed_at: '2024-01-25T10:00:00' },
      { id: 'CE1', patron_id: E, reason: 'replacement', amount: '50.00', assessed_at: '2024-01-25T10:00:00' },
      { id: 'CF1', patron_id: F, reason: 'overdue', amount: '5.00', assessed_at: '2024-01-25T10:00:00' },
    );
    const run = await s.run('2024-03-01');
    expect(run.newSubmissions.map((n) => [n.patronId, n.agency, n.owed, n.fee])).toEqual([
      [A, 'UMS', '35.00', '10.00'],
      [B, 'UMS', '40.00', '10.00'],
      [C, 'UMS', '45.00', '10.00'],
      [D, 'UMS', '60.00', '10.00'],
      [E, 'UMS', '50.00', '10.00'],
    ]);
  });

  it("2. UMS's returned-accounts spreadsheet becomes a patron record set by patron id; unknown ids are listed", async () => {
    const r = await createPatronSet(clerk('2024-05-06T14:00:00Z'), { name: 'UMS returns 2024-05', file: agencyFiles.returned, allowUnknown: true });
    setId = r.set.id;
    expect(r.column).toBe(writer === 'LibreOffice' ? 'PatronID' : 'Patron ID');
    expect(r.unknown).toEqual([
      { id: '999999', row: 6 },
      { id: '888888', row: 7 },
    ]);
    // Nothing but the id is read: the balances are the database's, not the file's.
    const view = await showRecordSet(t.db, setId);
    expect(view.kind === 'patron' && view.members.map((m) => [m.id, m.balanceCents, m.status, m.inCollections])).toEqual([
      [A, 4500, 'active', true],
      [B, 5000, 'active', true],
      [C, 5500, 'active', true],
      [D, 7000, 'active', true],
    ]);
  });

  it('3. review: one patron is removed; patron code and a note are changed in bulk', async () => {
    const removed = await removeMembers(clerk('2024-05-06T14:05:00Z'), setId, [D]);
    expect(removed.removed).toEqual([D]);
    const changed = await bulkChange(clerk('2024-05-06T14:06:00Z'), 'ums returns 2024-05', {
      patronCode: 'COLL2',
      note: { text: `Returned by UMS; referred to ${SECOND}`, mode: 'append' },
    });
    expect(changed.changed.map((c) => c.patronId)).toEqual([A, B, C]);
    const rows = await t.db.selectFrom('patrons').select(['id', 'patron_code', 'note']).where('id', 'in', [A, B, C, D]).orderBy('id').execute();
    expect(rows).toEqual([
      { id: A, patron_code: 'COLL2', note: `Returned by UMS; referred to ${SECOND}` },
      { id: B, patron_code: 'COLL2', note: `Returned by UMS; referred to ${SECOND}` },
      { id: C, patron_code: 'COLL2', note: `Returned by UMS; referred to ${SECOND}` },
      { id: D, patron_code: 'ADULT', note: '' },
    ]);
  });

  it('4. an item record set of the linked items, by status', async () => {
    const r = await createItemSet(clerk('2024-05-06T14:10:00Z'), { from: setId, statuses: ['lost', 'checked_out'] });
    itemSetId = r.set.id;
    // D was removed from the patron set, so D's lost item is not included.
    expect(r.items.map((i) => [i.id, i.status, i.patronId])).toEqual([
      ['IA1', 'lost', A],
      ['IA2', 'lost', A],
      ['IB1', 'lost', B],
      ['IB2', 'checked_out', B],
    ]);
  });

  it(`5. the lost items are ${lostItems === 'delete' ? 'deleted in bulk' : "moved by each library's lost-item transition"}`, async () => {
    const at = clerk('2024-05-06T14:15:00Z');
    if (lostItems === 'delete') {
      const r = await deleteLostItems(at, itemSetId);
      expect(r.deleted.map((i) => i.id)).toEqual(['IA2', 'IB1']);
      // IA1 is named by charge CA1: kept, withdrawn and unlinked, so the charge keeps its title.
      expect(r.kept.map((i) => [i.id, i.status])).toEqual([['IA1', 'withdrawn']]);
      expect(r.skipped).toEqual([{ id: 'IB2', reason: 'status is checked_out, not lost' }]);
      const items = await t.db.selectFrom('items').select(['id', 'status', 'patron_id']).where('id', 'in', ['IA1', 'IA2', 'IB1', 'IB2']).orderBy('id').execute();
      expect(items).toEqual([
        { id: 'IA1', status: 'withdrawn', patron_id: null },
        { id: 'IB2', status: 'checked_out', patron_id: B },
      ]);
    } else {
      const r = await transitionLostItems(at, itemSetId);
      expect(r.kept.map((i) => [i.id, i.status, i.library])).toEqual([
        ['IA1', 'withdrawn', 'MAIN'],
        ['IA2', 'withdrawn', 'MAIN'],
        ['IB1', 'missing', 'BRANCH'],
      ]);
      expect(r.skipped).toEqual([{ id: 'IB2', reason: 'status is checked_out, not lost' }]);
      const items = await t.db.selectFrom('items').select(['id', 'status', 'patron_id']).where('id', 'in', ['IA1', 'IA2', 'IB1', 'IB2']).orderBy('id').execute();
      expect(items).toEqual([
        { id: 'IA1', status: 'withdrawn', patron_id: null },
        { id: 'IA2', status: 'withdrawn', patron_id: null },
        { id: 'IB1', status: 'missing', patron_id: null },
        { id: 'IB2', status: 'checked_out', patron_id: B },
      ]);
    }
    // Charges remain on the accounts.
    expect(await t.db.selectFrom('charges').select(['id', 'item_id']).where('patron_id', '=', A).where('reason', '<>', 'agency_fee').orderBy('id').execute()).toEqual([
      { id: 'CA1', item_id: 'IA1' },
      { id: 'CA2', item_id: null },
    ]);
  });

  it('6. securing is refused while an item is linked, naming it; once it is checked in, the set is secured', async () => {
    const err = await securePatrons(clerk('2024-05-06T14:20:00Z'), { set: setId }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecureRefusedError);
    expect((err as SecureRefusedError).refused).toEqual([{ patronId: B, items: [{ id: 'IB2', barcode: '31000004', title: 'The Hobbit', status: 'checked_out' }] }]);
    expect((err as Error).message).toContain('item IB2, barcode 31000004, "The Hobbit", checked_out');
    expect((await t.db.selectFrom('patrons').select('status').where('id', 'in', [A, B, C]).execute()).map((p) => p.status)).toEqual(['active', 'active', 'active']);

    // The ILS checks the item in and pushes it again.
    await s.load('items', [{ id: 'IB2', barcode: '31000004', title: 'The Hobbit', status: 'available', patron_id: '', due_date: '' }]);
    const r = await securePatrons(clerk('2024-05-06T14:25:00Z'), { set: setId });
    expect(r).toEqual({ secured: [A, B, C], alreadySecured: [], refused: [] });
    const flags = await t.db.selectFrom('flag_changes').select(['patron_id', 'in_collections', 'secured']).where('secured', '=', true).orderBy('patron_id').execute();
    expect(flags).toEqual([A, B, C].map((id) => ({ patron_id: id, in_collections: true, secured: true })));
    // Secured records keep their charges.
    expect((await patronBalance(t.db, A)).outstandingCents).toBe(4500);
  });

  it(`7. returned to UMS and re-referred to ${SECOND} in one step, without a second fee`, async () => {
    const r = await returnAndRerefer(clerk('2024-05-06T15:00:00Z'), { set: setId }, SECOND);
    expect(r.referrals.map((x) => [x.patronId, x.fromAgency, x.agency, x.amountCents])).toEqual([
      [A, 'UMS', SECOND, 4500],
      [B, 'UMS', SECOND, 5000],
      [C, 'UMS', SECOND, 5500],
    ]);
    const open = await t.db
      .selectFrom('referrals as r')
      .innerJoin('agencies as a', 'a.id', 'r.agency_id')
      .select(['r.patron_id', 'a.name', 'r.fee_cents', 'r.referred_cents', 'r.previous_referral_id', 'r.referred_on'])
      .where('r.status', '=', 'open')
      .orderBy('r.patron_id')
      .execute();
    expect(open).toEqual([
      { patron_id: A, name: SECOND, fee_cents: 0, referred_cents: 4500, previous_referral_id: r.referrals[0]!.returnedReferralId, referred_on: '2024-05-06' },
      { patron_id: B, name: SECOND, fee_cents: 0, referred_cents: 5000, previous_referral_id: r.referrals[1]!.returnedReferralId, referred_on: '2024-05-06' },
      { patron_id: C, name: SECOND, fee_cents: 0, referred_cents: 5500, previous_referral_id: r.referrals[2]!.returnedReferralId, referred_on: '2024-05-06' },
      { patron_id: D, name: 'UMS', fee_cents: 1000, referred_cents: 7000, previous_referral_id: null, referred_on: '2024-03-01' },
      { patron_id: E, name: 'UMS', fee_cents: 1000, referred_cents: 6000, previous_referral_id: null, referred_on: '2024-03-01' },
    ]);
    const fees = await t.db.selectFrom('charges').select('patron_id').where('reason', '=', 'agency_fee').orderBy('patron_id').execute();
    expect(fees.map((f) => f.patron_id)).toEqual([A, B, C, D, E]);
    expect((await t.db.selectFrom('referrals').select('status').where('patron_id', '=', A).orderBy('id').execute()).map((x) => x.status)).toEqual(['returned', 'open']);
  });

  it(`8. ${SECOND} collects part of one account (a "collection agency" payment)`, async () => {
    await s.payments({ id: `PAY-${writer}`, patron_id: A, type: 'payment', method: 'collection agency', amount: '20.00', paid_at: '2024-06-15T10:00:00' });
    expect((await patronBalance(t.db, A)).outstandingCents).toBe(2500);
  });

  it(`9. ${SECOND}'s cleared-accounts file: referrals cleared at the balance now, patrons out of collections and released`, async () => {
    const r = await importClearedAccounts(clerk('2024-07-01T15:00:00Z'), agencyFiles.cleared);
    expect(r.column).toBe(writer === 'LibreOffice' ? 'Patron ID' : 'patron_id');
    expect(r.cleared).toEqual([
      { patronId: A, referralId: expect.any(Number), agency: SECOND, amountCents: 2500, released: true },
      { patronId: B, referralId: expect.any(Number), agency: SECOND, amountCents: 5000, released: true },
    ]);
    expect(r.unknown).toEqual([{ id: '777777', row: 4 }]);
    expect(r.notReferred).toEqual([{ id: F, row: 5 }]);
    const patrons = await t.db.selectFrom('patrons').select(['id', 'status', 'in_collections']).where('id', 'in', [A, B, C]).orderBy('id').execute();
    expect(patrons).toEqual([
      { id: A, status: 'active', in_collections: false },
      { id: B, status: 'active', in_collections: false },
      { id: C, status: 'secured', in_collections: true },
    ]);
    const last = await t.db.selectFrom('flag_changes').select(['in_collections', 'secured']).where('patron_id', '=', A).orderBy('id', 'desc').limit(1).execute();
    expect(last).toEqual([{ in_collections: false, secured: false }]);
  });

  it('10. patron records are released one at a time', async () => {
    expect(await releasePatrons(clerk('2024-07-01T15:10:00Z'), { patronIds: [C] })).toEqual({ released: [C], notSecured: [] });
    // A was released when the agency cleared the account.
    expect(await releasePatrons(clerk('2024-07-01T15:11:00Z'), { patronIds: [A] })).toEqual({ released: [], notSecured: [A] });
  });

  it('11. the rest is waived, or paid as a "collection agency" payment: the balance is 0', async () => {
    const waived = await settlePatrons(clerk('2024-07-01T15:20:00Z'), { patronIds: [A] }, 'waive');
    expect(waived.patrons).toEqual([{ patronId: A, amountCents: 2500 }]);
    const paid = await settlePatrons(clerk('2024-07-01T15:21:00Z'), { patronIds: [B] }, 'agency_payment');
    expect(paid.patrons).toEqual([{ patronId: B, amountCents: 5000 }]);
    expect((await patronBalance(t.db, A)).outstandingCents).toBe(0);
    expect((await patronBalance(t.db, B)).outstandingCents).toBe(0);
    const payments = await t.db.selectFrom('payments').select(['patron_id', 'type', 'method', 'amount_cents']).where('patron_id', 'in', [A, B]).orderBy('paid_at').orderBy('patron_id').execute();
    expect(payments).toEqual([
      { patron_id: A, type: 'payment', method: 'collection agency', amount_cents: 2000 },
      { patron_id: A, type: 'waive', method: '', amount_cents: 2500 },
      { patron_id: B, type: 'payment', method: 'collection agency', amount_cents: 5000 },
    ]);
  });

  it('the referral history reads refer, return, refer, clear', async () => {
    const referrals = await referralsOfPatron(t.db, A);
    expect(referrals.map((r) => [r.agency, r.status, r.history.map((h) => [h.type, h.amountCents, h.reason])])).toEqual([
      [
        'UMS',
        'returned',
        [
          ['refer', 4500, 'new submission'],
          ['return', 4500, 'returned by agency'],
        ],
      ],
      [
        SECOND,
        'cleared',
        [
          ['refer', 4500, 'second agency (returned by UMS)'],
          ['clear', 2500, 'cleared by agency'],
        ],
      ],
    ]);
    const all = await t.db.selectFrom('referral_history').select(['type', 'actor']).where('patron_id', '=', A).orderBy('id').execute();
    expect(all).toEqual([
      { type: 'refer', actor: 'test' },
      { type: 'return', actor: 'clerk:alice' },
      { type: 'refer', actor: 'clerk:alice' },
      { type: 'clear', actor: 'clerk:alice' },
    ]);
  });

  it('the audit log has every step, in order, with the actor', async () => {
    const rows = await t.db.selectFrom('audit_log').select(['action', 'entity_id']).where('actor', '=', 'clerk:alice').orderBy('id').execute();
    const firstSeen = [...new Set(rows.map((r) => r.action))];
    const lost = lostItems === 'delete' ? ['item.delete', 'item.withdraw'] : ['item.transition'];
    expect(firstSeen).toEqual([
      'recordset.create',
      'recordset.remove',
      'patron.change',
      ...lost,
      'patron.secure',
      'referral.return',
      'referral.refer',
      'referral.clear',
      'patron.release',
      'ledger.settle',
    ]);
    const count = (action: string) => rows.filter((r) => r.action === action).length;
    expect([count('recordset.create'), count('patron.change'), count('patron.secure'), count('referral.return'), count('referral.refer'), count('referral.clear'), count('patron.release'), count('ledger.settle')]).toEqual([
      2, 3, 3, 3, 3, 2, 3, 2,
    ]);
    expect(rows.filter((r) => r.action === 'patron.release').map((r) => r.entity_id)).toEqual([A, B, C]);
  });
});
