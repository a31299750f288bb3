// The Koha connector against a real MariaDB holding Koha's tables (test/helpers/koha-schema.ts),
// written to by the same operations Koha's own code performs; Arrears on PGlite and PostgreSQL.
// The connector's database user has only DESIGN.md's least-privilege GRANTs throughout.
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { KohaFixture } from './helpers/koha.ts';
import { kohaGrants } from './helpers/koha-schema.ts';
import type { RowDataPacket } from 'mysql2/promise';
import { connectKoha, KOHA_SQL_MODE } from '../src/connectors/koha/connection.ts';
import { kohaDriver } from '../src/connectors/koha/index.ts';
import { Scenario } from './helpers/scenario.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addConnector, setMapping, testConnector, updateConnector } from '../src/services/connectors.ts';
import { Scheduler } from '../src/services/scheduler.ts';
import { syncConnector } from '../src/services/sync.ts';
import { addExclusion, releaseHeldFiles } from '../src/services/exclusions.ts';
import { applyWritebacks, listWrites } from '../src/services/writeback.ts';
import { needsAttention } from '../src/services/attention.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

let t: TestDatabase;
let s: Scenario;
let koha: KohaFixture;

const ctx = (at = '2026-12-04T15:00:00Z'): Context => ({ database: t, clock: fixedClock(at), actor: 'test' });

useTestSecretKey();
beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(async () => {
  await t.dispose();
});
beforeEach(async () => {
  await s.reset();
  koha = await KohaFixture.create();
  await koha.branch('CPL', 'Centerville');
  await koha.branch('MPL', 'Midway');
  await koha.category('PT', 'A', 'Patron');
  await koha.category('J', 'C', 'Juvenile');
  await addConnector(ctx(), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
});
afterEach(async () => {
  await koha.dispose();
});

/** Arrears's balance of each patron of the connector: charges less what is allocated to them. */
async function arrearsBalances(): Promise<Map<number, number>> {
  const rows = await sql<{ patron_id: string; owed: number }>`
    select p.id as patron_id, coalesce(sum(c.amount_cents - c.paid_cents), 0)::bigint as owed
    from patrons p left join charges c on c.patron_id = p.id
    where starts_with(p.id, 'koha:') group by p.id`.execute(t.db);
  return new Map(rows.rows.map((r) => [Number(r.patron_id.slice(5)), Number(r.owed)]));
}

/** Every patron's balance in Arrears is Koha's own (Koha::Account->balance), or 0 for a patron in credit. */
async function expectLedgerAgrees(): Promise<void> {
  const ours = await arrearsBalances();
  const theirs = await koha.balances();
  for (const [borrowernumber, owed] of ours) expect({ borrowernumber, owed }).toEqual({ borrowernumber, owed: Math.max(0, theirs.get(borrowernumber) ?? 0) });
}

describe('full sync', () => {
  it('reads branches, patrons with their category as PTYPE, items and the whole account; every balance is Koha\'s to the cent', async () => {
    const ann = await koha.patron({ cardnumber: '21000001', surname: 'Archer', firstname: 'Ann', address: '1 Elm St', address2: 'Apt 4', city: 'Centerville', state: 'IL', zipcode: '62701', phone: '217-555-0101', mobile: '217-555-0199', phonepro: '217-555-0111', B_phone: '217-555-0122', email: 'ann@example.org', dateofbirth: '1980-02-03' });
    const ben = await koha.patron({ cardnumber: '21000002', surname: 'Baker', categorycode: 'J', branchcode: 'MPL' });
    const book = await koha.item('39000001', 'The Long Winter');
    await koha.checkout(ann, book, '2026-10-01');
    const lost = await koha.debit(ann, { type: 'LOST', cents: 3000, itemnumber: book, date: '2026-10-15T15:00:00Z' });
    await koha.debit(ann, { type: 'PROCESSING', cents: 500, itemnumber: book, date: '2026-10-15T15:00:01Z' });
    await koha.pay(ann, 1000, { debits: [lost] });
    const fine = await koha.debit(ben, { type: 'OVERDUE', cents: 250, date: '2026-09-01T12:00:00Z', branch: 'MPL' });
    await koha.debit(ben, { type: 'MANUAL', cents: 4000, date: '2026-09-02T12:00:00Z', branch: 'MPL' });
    await koha.pay(ben, 500, { apply: false }); // at the desk, not applied to anything yet

    const r = await syncConnector(ctx(), 'koha');
    expect(r).toMatchObject({ connector: 'koha', mode: 'full', libraries: 2, patrons: 2, items: 1, charges: 4 });
    const patrons = await t.db.selectFrom('patrons').selectAll().orderBy('id').execute();
    expect(patrons.map((p) => [p.id, p.barcode, p.home_library, p.ptype, p.adult_or_child])).toEqual([
      [`koha:${ann}`, '21000001', 'CPL', 'PT', 'A'],
      [`koha:${ben}`, '21000002', 'MPL', 'J', 'C'],
    ]);
    expect(patrons[0]).toMatchObject({ first_name: 'Ann', last_name: 'Archer', address: '1 Elm St', address2: 'Apt 4', city: 'Centerville', postal_code: '62701', phone: '217-555-0101', mobile: '217-555-0199', alt_phone_1: '217-555-0111', alt_phone_2: '217-555-0122', email: 'ann@example.org', birth_date: '1980-02-03' });
    expect(await t.db.selectFrom('libraries').select(['code', 'name', 'time_zone', 'connector_id']).orderBy('code').execute()).toEqual([
      { code: 'CPL', name: 'Centerville', time_zone: 'America/Chicago', connector_id: expect.any(Number) },
      { code: 'MPL', name: 'Midway', time_zone: 'America/Chicago', connector_id: expect.any(Number) },
    ]);
    expect(await t.db.selectFrom('items').select(['id', 'barcode', 'title', 'status', 'patron_id', 'due_date']).execute()).toEqual([
      { id: `koha:${book}`, barcode: '39000001', title: 'The Long Winter', status: 'checked_out', patron_id: `koha:${ann}`, due_date: '2026-10-01' },
    ]);
    const charges = await t.db.selectFrom('charges').select(['id', 'reason', 'amount_cents', 'paid_cents', 'item_id', 'library', 'assessed_on']).orderBy('id').execute();
    expect(charges).toContainEqual({ id: `koha:${lost}`, reason: 'replacement', amount_cents: 3000, paid_cents: 1000, item_id: `koha:${book}`, library: 'CPL', assessed_on: '2026-10-15' });
    expect(charges).toContainEqual({ id: `koha:${fine}`, reason: 'overdue', amount_cents: 250, paid_cents: 250, item_id: null, library: 'MPL', assessed_on: '2026-09-01' });
    await expectLedgerAgrees();
  });

  it('loaded in bulk (keys and indexes rebuilt once) it writes the same ledger and leaves every index and constraint as it was', async () => {
    const ledgerTables = ['patrons', 'items', 'charges', 'payments', 'allocations'];
    const schema = async () => {
      const indexes = await sql<{ d: string }>`
        select pg_get_indexdef(x.indexrelid) || case when x.indisvalid then '' else ' INVALID' end as d
        from pg_index x where x.indrelid = any(${ledgerTables}::regclass[]) order by 1`.execute(t.db);
      const constraints = await sql<{ d: string; oid: number }>`
        select conname || ': ' || pg_get_constraintdef(oid) || case when convalidated then '' else ' NOT VALID' end as d, oid::int as oid
        from pg_constraint where conrelid = any(${ledgerTables}::regclass[]) and contype = 'f' order by 1`.execute(t.db);
      return { indexes: indexes.rows.map((r) => r.d), constraints: constraints.rows.map((r) => r.d), oids: constraints.rows.map((r) => r.oid) };
    };
    const ann = await koha.patron({ cardnumber: '21000001', surname: 'Archer' });
    const ben = await koha.patron({ cardnumber: '21000002', surname: 'Baker', branchcode: 'MPL' });
    const book = await koha.item('39000001', 'The Long Winter');
    const lost = await koha.debit(ann, { type: 'LOST', cents: 3000, itemnumber: book, date: '2026-10-15T15:00:00Z' });
    const fee = await koha.debit(ann, { type: 'PROCESSING', cents: 500, itemnumber: book, date: '2026-10-15T15:00:01Z' });
    await koha.pay(ann, 1200, { debits: [lost, fee] });
    const fine = await koha.debit(ben, { type: 'OVERDUE', cents: 250, date: '2026-09-01T12:00:00Z', branch: 'MPL' });
    await koha.pay(ben, 250, { debits: [fine] });
    await koha.debit(ben, { type: 'MANUAL', cents: 4000, date: '2026-09-02T12:00:00Z', branch: 'MPL' });
    const before = await schema();

    const r = await syncConnector(ctx(), 'koha', { bulkRows: 1 });
    expect(r).toMatchObject({ mode: 'full', patrons: 2, items: 1, charges: 4 });
    const after = await schema();
    // Every foreign key was dropped and added back (a new constraint), and is as it was.
    expect(after.oids.every((oid) => !before.oids.includes(oid))).toBe(true);
    expect({ indexes: after.indexes, constraints: after.constraints }).toEqual({ indexes: before.indexes, constraints: before.constraints });
    const paid = await sql<{ id: string; paid_cents: number; allocated: number }>`
      select c.id, c.paid_cents, coalesce((select sum(a.amount_cents) from allocations a where a.charge_id = c.id), 0)::bigint as allocated
      from charges c order by c.id`.execute(t.db);
    expect(paid.rows.map((c) => c.paid_cents)).toEqual(paid.rows.map((c) => Number(c.allocated)));
    expect(paid.rows.reduce((sum, c) => sum + c.paid_cents, 0)).toBe(1200 + 250);
    // Each charge was written once, with what Koha's payments pay of it: no version of a charge is
    // newer than the payments (cmin numbers the sync transaction's commands in order).
    const versions = await sql<{ charges: number; payments: number }>`
      select (select max(cmin::text::int) from charges) as charges, (select min(cmin::text::int) from payments) as payments`.execute(t.db);
    expect(versions.rows[0]!.charges).toBeLessThan(versions.rows[0]!.payments);
    await expectLedgerAgrees();
    // The keys are in force again.
    await expect(sql`insert into charges (id, patron_id, library, reason, amount_cents, assessed_at, assessed_on) values ('x', 'nobody', 'CPL', 'manual', 1, now(), current_date)`.execute(t.db)).rejects.toThrow(/charges_patron_id_fkey/);

    // Synced again with nothing changed: nothing to write, so no bulk load, and the keys stay where they are.
    const again = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha', { bulkRows: 1, full: true });
    expect(again).toMatchObject({ mode: 'full', patrons: 0, items: 0, charges: 0, payments: 0 });
    expect((await schema()).oids).toEqual(after.oids);
    await expectLedgerAgrees();
  });

  it('reads the items it needs by key when they are few beside Koha\'s, the whole table in one pass when they are many, and sends only those', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const book = await koha.item('39000001', 'The Long Winter');
    await koha.checkout(ann, book, '2026-11-01');
    await koha.exec('ANALYZE TABLE items');
    // One item wanted of one: read in one pass over the table.
    const whole = await syncConnector(ctx(), 'koha');
    // Seven more on the shelf, never lent or billed: the one item wanted is read by its key.
    for (let i = 2; i <= 8; i++) await koha.item(`3900000${i}`, `Shelf ${i}`);
    await koha.exec('ANALYZE TABLE items');
    const keyed = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha', { full: true });
    expect(keyed.rowsRead).toBe(whole.rowsRead);
    // Half of them lent: the table is read whole again (every row counted as read), and only the lent ones sent.
    const bea = await koha.patron({ cardnumber: '21000002' });
    for (const n of [2, 3, 4]) await koha.checkout(bea, book + n - 1, '2026-11-02');
    const lent = await syncConnector(ctx('2026-12-04T15:10:00Z'), 'koha', { full: true });
    expect(lent.rowsRead).toBe(whole.rowsRead + 1 + 3 + 7);
    const held = await t.db.selectFrom('items').select(['id', 'status', 'patron_id']).orderBy('id').execute();
    expect(held.map((i) => [i.id, i.status, i.patron_id])).toEqual([
      [`koha:${book}`, 'checked_out', `koha:${ann}`],
      [`koha:${book + 1}`, 'checked_out', `koha:${bea}`],
      [`koha:${book + 2}`, 'checked_out', `koha:${bea}`],
      [`koha:${book + 3}`, 'checked_out', `koha:${bea}`],
    ]);
  });
});

describe('one source per library', () => {
  it('refuses CSV rows for a connector\'s library or patron, and a branch code CSV imports already use, naming both sources', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const fine = await koha.debit(ann, { type: 'OVERDUE', cents: 3000, date: '2026-10-15T15:00:00Z' });
    const paid = await koha.pay(ann, 500, { debits: [fine] });
    const unpaid = await koha.debit(ann, { type: 'MANUAL', cents: 1000, date: '2026-10-16T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    await expect(s.libraries({ code: 'CPL' })).rejects.toThrow('library "CPL" comes from connector "koha"; CSV imports cannot change it');
    await expect(s.patrons({ id: 'P1', home_library: 'CPL' })).rejects.toThrow('library "CPL" comes from connector "koha", not CSV imports');
    await s.libraries({ code: 'EAST' });
    await expect(s.charges({ id: 'C1', patron_id: `koha:${ann}`, library: 'EAST', reason: 'manual', amount: '5.00', assessed_at: '2026-11-01T10:00:00' })).rejects.toThrow(
      `patron "koha:${ann}" comes from connector "koha"; CSV imports cannot change their records`,
    );

    // A CSV library with patrons of its own, and a Koha branch of the same code.
    await s.patrons({ id: 'P2', home_library: 'EAST' });
    // A CSV patron's rows may not take over Koha's by their ids, sit at a Koha branch, or use ids of Koha's kind.
    const charge = { patron_id: 'P2', library: 'EAST', reason: 'manual', amount: '1.00', assessed_at: '2026-11-01T10:00:00' };
    await expect(s.charges({ ...charge, id: `koha:${unpaid}` })).rejects.toThrow(`charge "koha:${unpaid}" is a record of connector "koha"; CSV imports cannot change it`);
    await expect(s.charges({ ...charge, id: 'C2', library: 'CPL' })).rejects.toThrow('library "CPL" comes from connector "koha", not CSV imports');
    await expect(s.charges({ ...charge, id: 'koha:999999' })).rejects.toThrow('charge "koha:999999" is in the ids of connector "koha" (koha:…); CSV imports cannot use them');
    const payment = await t.db.selectFrom('payments').select('id').where('patron_id', '=', `koha:${ann}`).executeTakeFirstOrThrow();
    expect(payment.id).toMatch(new RegExp(`^koha:${paid}:`));
    await expect(s.payments({ id: payment.id, patron_id: 'P2', type: 'payment', amount: '1.00', paid_at: '2026-11-02T10:00:00' })).rejects.toThrow(`payment "${payment.id}" is a record of connector "koha"`);
    expect(await koha.balances()).toEqual(new Map([[ann, 3500]]));
    await expectLedgerAgrees();
    await koha.branch('EAST', 'East Side');
    await expect(syncConnector(ctx(), 'koha')).rejects.toThrow('library code "EAST" comes from two sources: CSV imports and connector "koha"');
    // Mapped away, the branch is left out and the sync goes through.
    await setMapping(ctx(), 'koha', { libraries: { EAST: { ignore: true } } });
    await expect(syncConnector(ctx(), 'koha')).resolves.toMatchObject({ mode: 'incremental' });
    expect(await t.db.selectFrom('libraries').select(['code', 'connector_id']).where('code', '=', 'EAST').execute()).toEqual([{ code: 'EAST', connector_id: null }]);
  });
});

describe('the least-privilege user', () => {
  it('has every privilege the connector needs, and a missing GRANT is named', async () => {
    const report = await testConnector(ctx(), 'koha');
    expect(report.ok).toBe(true);
    expect(report.version).toMatch(/^Koha 23\.1103000 on .*MariaDB/);
    expect(report.privileges.every((p) => p.ok)).toBe(true);
    // README's GRANTs are exactly enough: nothing more to take away.
    expect(report.excess).toEqual([]);
    await koha.exec(`REVOKE INSERT ON \`${koha.database}\`.account_offsets FROM '${koha.user}'@'127.0.0.1'`);
    const missing = await testConnector(ctx(), 'koha');
    expect(missing.ok).toBe(false);
    expect(missing.privileges.filter((p) => !p.ok).map((p) => p.what)).toEqual(['INSERT on account_offsets']);
  });

  it("names what a user may do beyond the connector's needs: Koha's own user, a read-only connector's writes", async () => {
    // Koha's own database user, as koha-create makes it, reused for Arrears.
    await koha.exec(`GRANT ALL PRIVILEGES ON \`${koha.database}\`.* TO '${koha.user}'@'127.0.0.1'`);
    const broad = await testConnector(ctx(), 'koha');
    expect(broad.ok).toBe(true);
    expect(broad.excess).toEqual([`ALL PRIVILEGES on ${koha.database}.*`]);
    await koha.exec(`REVOKE ALL PRIVILEGES ON \`${koha.database}\`.* FROM '${koha.user}'@'127.0.0.1'`);
    await koha.exec(`GRANT SELECT ON \`${koha.database}\`.* TO '${koha.user}'@'127.0.0.1'`);
    await updateConnector(ctx(), 'koha', { readOnly: true });
    // In the order MariaDB lists the grants.
    expect((await testConnector(ctx(), 'koha')).excess.sort()).toEqual([
      `INSERT on ${koha.database}.borrower_debarments`,
      `UPDATE on ${koha.database}.borrower_debarments`,
      `DELETE on ${koha.database}.borrower_debarments`,
      `UPDATE (debarredcomment, debarred) on ${koha.database}.borrowers`,
      `INSERT on ${koha.database}.accountlines`,
      `INSERT on ${koha.database}.account_offsets`,
    ].sort());
  });

  it("warns of Koha's own settings that lift the block: a restriction type lifted after payment, a system type", async () => {
    expect((await testConnector(ctx(), 'koha')).warnings).toEqual([]);
    await koha.exec("UPDATE restriction_types SET lift_after_payment = 1, fee_limit = 5 WHERE code = 'MANUAL'");
    try {
      expect((await testConnector(ctx(), 'koha')).warnings).toEqual([
        'restriction type "MANUAL" is lifted by Koha itself after a payment that leaves the patron owing 5.00 or less (restriction_types.lift_after_payment): the block ends at the desk before the agency is paid; the next sync lists it as gone',
      ]);
      await updateConnector(ctx(), 'koha', { options: { restrictionType: 'OVERDUES' } });
      expect((await testConnector(ctx(), 'koha')).warnings).toEqual([
        'restriction type "OVERDUES" is one Koha places and lifts itself (restriction_types.is_system): Koha may lift Arrears\'s block on its own; use a type of the library\'s own, such as MANUAL (--restriction-type)',
      ]);
    } finally {
      await koha.exec("UPDATE restriction_types SET lift_after_payment = 0, fee_limit = NULL WHERE code = 'MANUAL'");
      await updateConnector(ctx(), 'koha', { options: {} });
    }
  });

  it('tests the codes it would write and uses up none of Koha\'s ids; options wider than Koha\'s columns are refused', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const before = { restriction: await koha.restrict(ann, { comment: 'first' }), debit: await koha.debit(ann, { type: 'MANUAL', cents: 100 }) };
    await updateConnector(ctx(), 'koha', { options: { restrictionType: 'COLLECTIONS', feeType: 'COLLECTION_FEE' } });
    const report = await testConnector(ctx(), 'koha');
    expect(report.privileges.filter((p) => !p.ok).map((p) => p.what)).toEqual([
      'restriction type "COLLECTIONS" in restriction_types',
      'debit type "COLLECTION_FEE" in account_debit_types, not archived',
    ]);
    // The probes inserted nothing, so the next rows get the next ids.
    expect(await koha.restrict(ann, { comment: 'second' })).toBe(before.restriction + 1);
    expect(await koha.debit(ann, { type: 'MANUAL', cents: 100 })).toBe(before.debit + 1);
    // accountlines.interface is varchar(16), borrower_debarments.type varchar(50) in Koha.
    await expect(updateConnector(ctx(), 'koha', { options: { interface: 'collections-agency' } })).rejects.toThrow(/options\.interface.*1 to 16 characters/);
    await expect(updateConnector(ctx(), 'koha', { options: { restrictionType: 'R'.repeat(51) } })).rejects.toThrow(/options\.restrictionType.*1 to 50 characters/);
    // A table this Koha does not have is named as missing, not as a GRANT to give.
    await updateConnector(ctx(), 'koha', { options: { restrictionType: 'MANUAL', feeType: 'MANUAL' } });
    await koha.exec('RENAME TABLE restriction_types TO restriction_types_renamed');
    try {
      expect((await testConnector(ctx(), 'koha')).privileges.filter((p) => !p.ok).map((p) => p.what)).toEqual(['SELECT on restriction_types (Koha has no such table)', 'restriction type "MANUAL" in restriction_types']);
    } finally {
      await koha.exec('RENAME TABLE restriction_types_renamed TO restriction_types');
    }
  });

  it('a wrong password fails the sync with a clear error naming the connector and nothing is written', async () => {
    await koha.patron({ cardnumber: '21000009' });
    const wrong = new URL(koha.url);
    wrong.password = 'not-the-password';
    await updateConnector(ctx(), 'koha', { url: wrong.toString() });
    await expect(syncConnector(ctx(), 'koha')).rejects.toThrow(/connector "koha": the ILS database cannot be reached or refused the connector's user/);
    await expect(syncConnector(ctx(), 'koha')).rejects.not.toThrow(/not-the-password/);
    expect(await t.db.selectFrom('patrons').select('id').execute()).toEqual([]);
    expect(await listWrites(t.db)).toEqual([]);
  });
});

describe('incremental sync', () => {
  it('reads again only the patrons something changed for: a desk payment, a cancelled debit, a voided payment, a write-off', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    const cal = await koha.patron({ cardnumber: '21000003' });
    const annLost = await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    const benFine = await koha.debit(ben, { type: 'OVERDUE', cents: 800, date: '2026-10-16T15:00:00Z' });
    const benManual = await koha.debit(ben, { type: 'MANUAL', cents: 1200, date: '2026-10-17T15:00:00Z' });
    const benPaid = await koha.pay(ben, 1200, { debits: [benManual] });
    await koha.debit(cal, { type: 'MANUAL', cents: 5000, date: '2026-10-18T15:00:00Z' });
    await koha.age(60);
    const first = await syncConnector(ctx(), 'koha');
    expect(first).toMatchObject({ mode: 'full', patrons: 3, charges: 4, payments: 1 });

    // At the desk: Ann pays 10.00 on her lost item; Ben's overdue fine is cancelled and his
    // payment voided; Cal is written off 20.00. Nothing else changes.
    await koha.pay(ann, 1000, { debits: [annLost] });
    await koha.cancel(benFine);
    await koha.void(benPaid);
    await koha.pay(cal, 2000, { type: 'WRITEOFF', paymentType: null });
    const next = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha');
    expect(next).toMatchObject({ mode: 'incremental', patrons: 0, charges: 0, payments: 3, removed: { payments: 1, charges: 0, itemLinks: 0 } });
    await expectLedgerAgrees();
    const payments = await t.db.selectFrom('payments').select(['id', 'type', 'method', 'amount_cents', 'charge_id']).orderBy('id').execute();
    expect(payments).toHaveLength(3);
    expect(payments).toContainEqual(expect.objectContaining({ charge_id: `koha:${benFine}`, type: 'waive', amount_cents: 800 }));
    expect(payments).toContainEqual(expect.objectContaining({ charge_id: `koha:${annLost}`, type: 'payment', method: 'cash', amount_cents: 1000 }));
    expect(payments.find((p) => p.type === 'writeoff')).toMatchObject({ amount_cents: 2000, method: '' });

    // Unchanged since: an incremental sync compares and writes nothing.
    await koha.age(60);
    const idle = await syncConnector(ctx('2026-12-04T15:10:00Z'), 'koha');
    expect(idle).toMatchObject({ mode: 'incremental', patrons: 0, charges: 0, payments: 0, removed: { payments: 0, charges: 0, itemLinks: 0 } });
  });

  it('a patron Koha deleted is never submitted again, and their account is still followed by its own keys', async () => {
    const dee = await koha.patron({ cardnumber: '21000004' });
    const fine = await koha.debit(dee, { type: 'MANUAL', cents: 4500, date: '2026-10-15T15:00:00Z' });
    await koha.age(60);
    await syncConnector(ctx(), 'koha');
    await koha.pay(dee, 4500, { debits: [fine] });
    await koha.deletePatron(dee);
    const r = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha');
    expect(r).toMatchObject({ mode: 'incremental', deletedPatrons: 1, payments: 1 });
    expect(await t.db.selectFrom('exclusions').select(['patron_id', 'reason', 'lifted_at']).execute()).toEqual([
      { patron_id: `koha:${dee}`, reason: 'deleted in the ILS (connector koha)', lifted_at: null },
    ]);
    expect((await arrearsBalances()).get(dee)).toBe(0);
    // A full reconciliation finds the same, and adds nothing twice.
    const full = await syncConnector(ctx('2026-12-04T15:10:00Z'), 'koha', { full: true });
    expect(full).toMatchObject({ mode: 'full', deletedPatrons: 0, payments: 0, charges: 0 });
  });

  it('a lost item stays linked to its patron through an incremental sync that reads only part of their account', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const book = await koha.item('39000001', 'The Long Winter');
    const lost = await koha.debit(ann, { type: 'LOST', cents: 2500, itemnumber: book, date: '2026-10-15T15:00:00Z' });
    await koha.exec('UPDATE items SET itemlost = 1 WHERE itemnumber = ?', [book]);
    await koha.pay(ann, 2500, { debits: [lost] });
    const fine = await koha.debit(ann, { type: 'MANUAL', cents: 4000, date: '2026-10-20T15:00:00Z' });
    await koha.age(60);
    await syncConnector(ctx(), 'koha');
    await koha.pay(ann, 1000, { debits: [fine] });
    const r = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha');
    expect(r).toMatchObject({ mode: 'incremental', removed: { itemLinks: 0, payments: 0, charges: 0 } });
    expect(await t.db.selectFrom('items').select(['status', 'patron_id']).execute()).toEqual([{ status: 'lost', patron_id: `koha:${ann}` }]);
    await expectLedgerAgrees();
  });

  it('agrees with Koha after any mix of desk operations and incremental syncs (property)', async () => {
    type Op = { kind: 'debit'; who: number; cents: number } | { kind: 'pay' | 'writeoff'; who: number; cents: number; apply: boolean } | { kind: 'void' | 'cancel'; which: number } | { kind: 'sync' };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('debit' as const), who: fc.nat(2), cents: fc.integer({ min: 100, max: 5000 }) }),
      fc.record({ kind: fc.constantFrom('pay' as const, 'writeoff' as const), who: fc.nat(2), cents: fc.integer({ min: 50, max: 6000 }), apply: fc.boolean() }),
      fc.record({ kind: fc.constantFrom('void' as const, 'cancel' as const), which: fc.nat(9) }),
      fc.constant({ kind: 'sync' as const }),
    );
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 4, maxLength: 14 }), async (ops) => {
        run++;
        if (run > 1) {
          await koha.dispose();
          await s.reset();
          koha = await KohaFixture.create();
          await koha.branch('CPL', 'Centerville');
          await koha.category('PT', 'A', 'Patron');
          await addConnector(ctx(), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
        }
        const patrons = [await koha.patron({ cardnumber: 'A' }), await koha.patron({ cardnumber: 'B' }), await koha.patron({ cardnumber: 'C' })];
        const debits: number[] = [];
        const credits: number[] = [];
        let minute = 0;
        for (const o of [...ops, { kind: 'sync' as const }]) {
          if (o.kind === 'debit') debits.push(await koha.debit(patrons[o.who]!, { type: 'MANUAL', cents: o.cents, date: `2026-10-${String(10 + (debits.length % 20)).padStart(2, '0')}T15:00:00Z` }));
          else if (o.kind === 'pay' || o.kind === 'writeoff') credits.push(await koha.pay(patrons[o.who]!, o.cents, { type: o.kind === 'pay' ? 'PAYMENT' : 'WRITEOFF', apply: o.apply }));
          else if (o.kind === 'void') {
            const c = credits[o.which % Math.max(1, credits.length)];
            const [row] = c === undefined ? [] : await koha.query("SELECT status FROM accountlines WHERE accountlines_id = ? AND credit_type_code <> 'CANCELLATION'", [c]);
            if (row && row.status !== 'VOID') await koha.void(c!);
          } else if (o.kind === 'cancel') {
            const d = debits[o.which % Math.max(1, debits.length)];
            const [row] = d === undefined ? [] : await koha.query('SELECT amount = amountoutstanding AS untouched, status FROM accountlines WHERE accountlines_id = ?', [d]);
            if (row && Number(row.untouched) === 1 && row.status !== 'CANCELLED') await koha.cancel(d!);
          } else {
            await syncConnector(ctx(`2026-12-04T${String(15 + Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}:00Z`), 'koha');
            minute += 5;
            await expectLedgerAgrees();
            // What this sync read moves behind the cursor, so the next one reads only part of each account.
            await koha.age(60);
          }
        }
        // What the incremental syncs built, payment by payment, is what a full sync builds: one now writes and removes nothing.
        const full = await syncConnector(ctx('2026-12-04T23:00:00Z'), 'koha', { full: true });
        expect(full).toMatchObject({ mode: 'full', charges: 0, payments: 0, removed: { payments: 0, charges: 0 } });
      }),
      { numRuns: Number(process.env.KOHA_PROPERTY_RUNS ?? 6) },
    );
  }, 600_000);

  it('a desk payment reads the account, not the checkouts: the items of a patron whose record and loans did not change stay as they are', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    const book = await koha.item('39000001', 'The Long Winter');
    const lostBook = await koha.item('39000002', 'Little House');
    await koha.checkout(ann, book, '2026-11-01');
    await koha.debit(ann, { type: 'LOST', cents: 2500, itemnumber: lostBook, date: '2026-10-14T15:00:00Z' });
    await koha.exec('UPDATE items SET itemlost = 1 WHERE itemnumber = ?', [lostBook]);
    const annFine = await koha.debit(ann, { type: 'MANUAL', cents: 2500, date: '2026-10-15T15:00:00Z' });
    const benFine = await koha.debit(ben, { type: 'MANUAL', cents: 2500, date: '2026-10-15T15:00:00Z' });
    await koha.age(60);
    await syncConnector(ctx(), 'koha');
    const before = await t.db.selectFrom('items').select(['id', 'status', 'patron_id', 'due_date']).orderBy('id').execute();
    expect(before.map((i) => [i.status, i.patron_id])).toEqual([['checked_out', `koha:${ann}`], ['lost', `koha:${ann}`]]);

    // The same desk payment by a patron with no loans and by one with a checkout and a lost item.
    await koha.pay(ben, 1000, { debits: [benFine] });
    const plain = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha');
    await koha.age(60);
    await koha.pay(ann, 1000, { debits: [annFine] });
    const lending = await syncConnector(ctx('2026-12-04T16:15:00Z'), 'koha');
    expect(lending).toMatchObject({ mode: 'incremental', items: 0, payments: 1, removed: { itemLinks: 0, payments: 0, charges: 0 } });
    // Neither the checkout nor the lost item is read for it: only what the payment changed.
    expect(lending.rowsRead).toBe(plain.rowsRead);
    expect(await t.db.selectFrom('items').select(['id', 'status', 'patron_id', 'due_date']).orderBy('id').execute()).toEqual(before);
    await expectLedgerAgrees();
  });

  it('a returned item leaves the patron it was linked to', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const book = await koha.item('39000001', 'The Long Winter');
    await koha.checkout(ann, book, '2026-11-01');
    await koha.age(60);
    await syncConnector(ctx(), 'koha');
    await koha.checkin(book);
    const r = await syncConnector(ctx('2026-12-04T15:05:00Z'), 'koha');
    // Read again as the patron's item, it comes back available and linked to no one.
    expect(r).toMatchObject({ mode: 'incremental', items: 1 });
    expect(await t.db.selectFrom('items').select(['status', 'patron_id']).execute()).toEqual([{ status: 'available', patron_id: null }]);
  });
});

describe('write-back', () => {
  beforeEach(async () => {
    await s.agency('UMS');
    await s.settings({ ptypes: ['PT'], minimumOwed: '25.00', agencyFee: '10.00', removeIfLessThan: '0.01' });
  });

  const run = (date: string, options: { dryRun?: boolean; writeBack?: boolean } = {}) => s.run(date, options, `${date}T15:00:00Z`);

  async function debarments(borrowernumber: number) {
    return koha.query('SELECT borrower_debarment_id, type, comment, expiration FROM borrower_debarments WHERE borrowernumber = ? ORDER BY borrower_debarment_id', [borrowernumber]);
  }
  async function flags(borrowernumber: number) {
    const [b] = await koha.query('SELECT debarred, debarredcomment FROM borrowers WHERE borrowernumber = ?', [borrowernumber]);
    return { debarred: b!.debarred as string | null, debarredcomment: b!.debarredcomment as string | null };
  }

  /** Ann owes a 30.00 lost item since October, synced and referred on 2026-12-04 (block and fee written back). */
  async function referredAnn(): Promise<{ ann: number; lost: number }> {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const lost = await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    await run('2026-12-04');
    return { ann, lost };
  }

  /** The patron pays the lost item and the agency fee at the desk; the next day's sync and run clear the referral and lift the block. */
  async function payAllAndClear(patron: number, lost: number) {
    const fees = (await koha.query("SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [patron])).map((r) => Number(r.accountlines_id));
    await koha.pay(patron, 4000, { debits: [lost, ...fees] });
    await syncConnector(ctx('2026-12-05T15:00:00Z'), 'koha');
    const r = await run('2026-12-05');
    expect(r.removals.map((x) => x.patronId)).toEqual([`koha:${patron}`]);
    expect(r.writeback).toEqual([{ connector: 'koha', applied: 1, pending: 0, failed: 0, skipped: 0 }]);
  }

  it('a referral places the restriction, borrowers.debarred and the agency fee in Koha; the fee paid at the desk comes back as a fee payment', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');

    const dry = await run('2026-12-04', { dryRun: true });
    expect(dry.writebacks.map((w) => [w.connector, w.kind, w.patronId])).toEqual([
      ['koha', 'block', `koha:${ann}`],
      ['koha', 'fee', `koha:${ann}`],
    ]);
    expect(await listWrites(t.db)).toEqual([]);
    expect(await debarments(ann)).toEqual([]);

    const r = await run('2026-12-04');
    expect(r.newSubmissions.map((n) => n.patronId)).toEqual([`koha:${ann}`]);
    expect(r.writeback).toEqual([{ connector: 'koha', applied: 2, pending: 0, failed: 0, skipped: 0 }]);
    expect(await debarments(ann)).toEqual([{ borrower_debarment_id: expect.any(Number), type: 'MANUAL', comment: 'Sent to collections (UMS) on 2026-12-04', expiration: null }]);
    expect(await flags(ann)).toEqual({ debarred: '9999-12-31', debarredcomment: 'Sent to collections (UMS) on 2026-12-04' });
    const fee = await koha.query("SELECT accountlines_id, debit_type_code, CAST(amount AS CHAR) AS amount, CAST(amountoutstanding AS CHAR) AS outstanding, interface, description FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [ann]);
    expect(fee).toEqual([{ accountlines_id: expect.any(Number), debit_type_code: 'MANUAL', amount: '10.000000', outstanding: '10.000000', interface: 'cron', description: 'Collection agency fee (UMS)' }]);
    expect(await koha.query("SELECT type, CAST(amount AS CHAR) AS amount, credit_id FROM account_offsets WHERE debit_id = ?", [fee[0]!.accountlines_id])).toEqual([{ type: 'CREATE', amount: '10.000000', credit_id: null }]);
    const audit = await t.db.selectFrom('audit_log').select(['action', 'entity_id']).where('action', 'like', 'writeback.%').orderBy('id').execute();
    expect(audit).toEqual([
      { action: 'writeback.block', entity_id: `koha:${ann}` },
      { action: 'writeback.fee', entity_id: `koha:${ann}` },
    ]);

    // The desk takes the fee: the next sync brings it back as a payment of the Arrears fee charge.
    await koha.pay(ann, 1000, { debits: [Number(fee[0]!.accountlines_id)] });
    await syncConnector(ctx('2026-12-04T16:00:00Z'), 'koha');
    const feeCharge = await t.db.selectFrom('charges').select(['id', 'reason', 'paid_cents']).where('reason', '=', 'agency_fee').execute();
    expect(feeCharge).toEqual([{ id: expect.stringMatching(/^fee-/), reason: 'agency_fee', paid_cents: 1000 }]);
    expect(await t.db.selectFrom('charges').select('id').where('id', '=', `koha:${fee[0]!.accountlines_id}`).execute()).toEqual([]);
    await expectLedgerAgrees();

    // Running the same date again writes nothing.
    const again = await run('2026-12-04');
    expect(again.alreadyRun).toBe(true);
    expect(await debarments(ann)).toHaveLength(1);
    expect(await koha.query("SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [ann])).toHaveLength(1);
  });

  it('clearing lifts only the restriction Arrears placed; a staff suspension and its debarred date stay', async () => {
    const { ann, lost } = await referredAnn();
    const staff = await koha.restrict(ann, { type: 'SUSPENSION', comment: 'Damaged items', expiration: '2099-01-31' });
    // Staff edit the comment of ours: it is still found by its id, not by its text.
    await koha.exec("UPDATE borrower_debarments SET comment = 'Collections: call before lifting' WHERE borrowernumber = ? AND type = 'MANUAL'", [ann]);
    await koha.age(60);

    // Everything is paid at the desk; the next run clears the referral and lifts ours.
    await payAllAndClear(ann, lost);
    expect(await debarments(ann)).toEqual([{ borrower_debarment_id: staff, type: 'SUSPENSION', comment: 'Damaged items', expiration: '2099-01-31' }]);
    expect(await flags(ann)).toEqual({ debarred: '2099-01-31', debarredcomment: 'Damaged items' });
  });

  it('a restriction of ours lifted in Koha while the referral is open is noticed by the next sync and told to staff, not placed again behind their back', async () => {
    const { ann } = await referredAnn();
    const staff = await koha.restrict(ann, { type: 'SUSPENSION', comment: 'Damaged items', expiration: '2099-01-31' });
    expect((await syncConnector(ctx('2026-12-04T16:00:00Z'), 'koha')).blocksGone).toEqual([]);
    // Staff lift ours at the desk (or Koha does, after a payment, for a type set to do so).
    await koha.exec("DELETE FROM borrower_debarments WHERE borrowernumber = ? AND type = 'MANUAL'", [ann]);
    const r = await syncConnector(ctx('2026-12-04T17:00:00Z'), 'koha');
    expect(r.blocksGone).toEqual([`koha:${ann}`]);
    expect(await needsAttention(ctx('2026-12-04T17:00:00Z'))).toEqual([
      expect.objectContaining({ kind: 'blocks-gone', level: 'warning', subject: 'connector koha', message: expect.stringContaining(`for 1 patron whose referral is open (koha:${ann})`) }),
    ]);
    expect(await s.referred()).toEqual([`koha:${ann}`]);
    expect((await debarments(ann)).map((d) => d.borrower_debarment_id)).toEqual([staff]);
  });

  it('a lift finds our restriction where Koha\'s patron merge moved it, and recomputes the flags of the patron who holds it', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    const lost = await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    await run('2026-12-04');
    // Koha merges: the restriction rows go to the patron kept, whose flags Koha recomputes.
    await koha.exec('UPDATE borrower_debarments SET borrowernumber = ? WHERE borrowernumber = ?', [ben, ann]);
    await koha.exec("UPDATE borrowers SET debarred = '9999-12-31', debarredcomment = 'Sent to collections (UMS) on 2026-12-04' WHERE borrowernumber = ?", [ben]);
    await koha.exec('UPDATE borrowers SET debarred = NULL, debarredcomment = NULL WHERE borrowernumber = ?', [ann]);
    await koha.age(60);
    await payAllAndClear(ann, lost);
    expect(await debarments(ben)).toEqual([]);
    expect(await flags(ben)).toEqual({ debarred: null, debarredcomment: null });
    const lift = (await listWrites(t.db)).find((w) => w.kind === 'lift');
    expect(lift?.detail).toMatchObject({ lifted: true, liftedFrom: ben });
  });

  it('the agency fee follows its line when Koha merges the patron it was posted to into another; a payment of it there comes back on it', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    await run('2026-12-04');
    const fee = await t.db.selectFrom('charges').select('id').where('reason', '=', 'agency_fee').executeTakeFirstOrThrow();
    const [line] = await koha.query("SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [ann]);
    await koha.age(60);
    // Koha's merge: the lines and restrictions go to the patron kept, the other is deleted.
    await koha.exec('UPDATE accountlines SET borrowernumber = ? WHERE borrowernumber = ?', [ben, ann]);
    await koha.exec('UPDATE borrower_debarments SET borrowernumber = ? WHERE borrowernumber = ?', [ben, ann]);
    await koha.deletePatron(ann);
    await syncConnector(ctx('2026-12-05T15:00:00Z'), 'koha');
    expect(await t.db.selectFrom('charges').select('patron_id').where('id', '=', fee.id).executeTakeFirstOrThrow()).toEqual({ patron_id: `koha:${ben}` });
    expect((await arrearsBalances()).get(ann)).toBe(0);
    await expectLedgerAgrees();
    // Ann's referral ends: her debt went to Ben, nothing was paid, and the agency is told so.
    expect((await run('2026-12-05')).removals).toEqual([expect.objectContaining({ patronId: `koha:${ann}`, reason: 'removed' })]);
    // Ben pays the fee at the desk: it comes back as a payment of the fee, his.
    await koha.age(60);
    await koha.pay(ben, 1000, { debits: [Number(line!.accountlines_id)] });
    await syncConnector(ctx('2026-12-05T16:00:00Z'), 'koha');
    expect(await t.db.selectFrom('charges').select(['patron_id', 'paid_cents']).where('id', '=', fee.id).executeTakeFirstOrThrow()).toEqual({ patron_id: `koha:${ben}`, paid_cents: 1000 });
    await expectLedgerAgrees();
    expect(await syncConnector(ctx('2026-12-05T16:10:00Z'), 'koha', { full: true })).toMatchObject({ mode: 'full', charges: 0, payments: 0 });
  });

  it('a write that fails in the middle of a batch leaves nothing of itself in Koha; the others commit, and it is applied once later', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await koha.debit(ben, { type: 'LOST', cents: 3500, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    await run('2026-12-04', { writeBack: false });
    // A site's own trigger refuses the flags of the patron whose block is written last: the
    // restriction row that write inserted before it must not be committed by the batch.
    const last = (await listWrites(t.db)).find((w) => w.kind === 'block')!;
    const failing = Number(last.patronId.slice('koha:'.length));
    const other = failing === ann ? ben : ann;
    await koha.exec(`CREATE TRIGGER arrears_test_refuse BEFORE UPDATE ON borrowers FOR EACH ROW BEGIN IF NEW.borrowernumber = ${failing} THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'held by a site rule'; END IF; END`);
    try {
      expect(await applyWritebacks(ctx('2026-12-04T16:00:00Z'), 'koha')).toMatchObject({ applied: 3, pending: 1, failed: 0 });
      expect(await debarments(failing)).toEqual([]);
      expect(await debarments(other)).toHaveLength(1);
      expect(await flags(other)).toMatchObject({ debarred: '9999-12-31' });
    } finally {
      await koha.exec('DROP TRIGGER arrears_test_refuse');
    }
    expect(await applyWritebacks(ctx('2026-12-04T18:00:00Z'), 'koha')).toMatchObject({ applied: 1, pending: 0, failed: 0 });
    expect(await debarments(failing)).toHaveLength(1);
    expect(await flags(failing)).toMatchObject({ debarred: '9999-12-31' });
  });

  it('a batch Koha committed while its answer was lost (left pending, or applying when Arrears stopped) is found again on retry, not written twice', async () => {
    const { ann } = await referredAnn();
    const fees = () => koha.query("SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [ann]);
    const before = { restrictions: await debarments(ann), fees: await fees(), flags: await flags(ann) };
    const refs = Object.fromEntries((await listWrites(t.db)).map((w) => [w.kind, w.ilsRef]));
    for (const status of ['pending', 'applying'] as const) {
      await t.db.updateTable('connector_writes').set({ status, ils_ref: null, next_attempt_at: null, last_error: 'Connection lost: The server closed the connection.' }).execute();
      expect(await applyWritebacks(ctx('2026-12-04T16:30:00Z'), 'koha')).toMatchObject({ applied: 2, pending: 0, failed: 0 });
      expect({ restrictions: await debarments(ann), fees: await fees(), flags: await flags(ann) }).toEqual(before);
      expect(Object.fromEntries((await listWrites(t.db)).map((w) => [w.kind, w.ilsRef]))).toEqual(refs);
    }
  });

  it('Koha unreachable, or refusing the user, during write-back: the run commits, the writes stay queued and are applied exactly once later', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    // The user loses its right to write restrictions: Koha refuses the first write.
    await koha.exec(`REVOKE INSERT, UPDATE, DELETE ON \`${koha.database}\`.borrower_debarments FROM '${koha.user}'@'127.0.0.1'`);
    const r = await run('2026-12-04');
    expect(r.newSubmissions).toHaveLength(1);
    expect(r.writeback).toEqual([expect.objectContaining({ connector: 'koha', applied: 0, pending: 2, failed: 0 })]);
    expect(await s.referred()).toEqual([`koha:${ann}`]);
    const queued = await listWrites(t.db);
    expect(queued.map((w) => [w.kind, w.status, w.attempts])).toEqual([
      ['fee', 'pending', 1],
      ['block', 'pending', 1],
    ]);
    expect(queued[1]!.lastError).toMatch(/refused the connector's user/);
    // Staff and the administrator are told (dashboard, `arrears status`).
    expect(await needsAttention(ctx())).toEqual([
      {
        key: expect.stringMatching(/^connector:\d+:writes-waiting$/),
        kind: 'writes-waiting',
        level: 'warning',
        screen: 'connectors',
        subject: 'connector koha',
        message: expect.stringMatching(/^2 write-backs waiting to be written to the ILS: connector "koha": the ILS database cannot be reached or refused the connector's user: .*; they are retried on their own$/),
        since: expect.any(Date),
      },
    ]);

    // Then the server is down altogether (a port nothing listens on).
    await koha.exec(`GRANT INSERT, UPDATE, DELETE ON \`${koha.database}\`.borrower_debarments TO '${koha.user}'@'127.0.0.1'`);
    const down = new URL(koha.url);
    down.port = '1';
    await updateConnector(ctx(), 'koha', { url: down.toString() });
    const later = ctx('2026-12-04T16:00:00Z');
    expect(await applyWritebacks(later, 'koha')).toMatchObject({ applied: 0, pending: 2 });
    // Not due again until the back-off has passed.
    await updateConnector(ctx(), 'koha', { url: koha.url });
    expect(await applyWritebacks(later, 'koha')).toMatchObject({ applied: 0, pending: 2 });
    expect(await applyWritebacks(ctx('2026-12-04T17:00:00Z'), 'koha')).toEqual({ connector: 'koha', applied: 2, pending: 0, failed: 0, skipped: 0 });
    expect(await applyWritebacks(ctx('2026-12-04T18:00:00Z'), 'koha')).toEqual({ connector: 'koha', applied: 0, pending: 0, failed: 0, skipped: 0 });
    expect(await needsAttention(ctx('2026-12-04T18:00:00Z'))).toEqual([]);
    expect(await debarments(ann)).toHaveLength(1);
    expect(await koha.query("SELECT accountlines_id FROM accountlines WHERE borrowernumber = ? AND debit_type_code = 'MANUAL'", [ann])).toHaveLength(1);
  });

  it('a referral held for review writes nothing to Koha until its file is released; one excluded at review never does', async () => {
    await s.reset();
    await addConnector(ctx(), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
    await s.agency('UMS');
    await s.settings({ ptypes: ['PT'], minimumOwed: '25.00', agencyFee: '10.00', reviewHours: 24 });
    const ann = await koha.patron({ cardnumber: '21000001' });
    const ben = await koha.patron({ cardnumber: '21000002' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await koha.debit(ben, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    const r = await run('2026-12-04');
    expect(r.newSubmissions).toHaveLength(2);
    expect(r.writeback).toEqual([{ connector: 'koha', applied: 0, pending: 4, failed: 0, skipped: 0 }]);
    expect(await koha.query('SELECT borrowernumber FROM borrower_debarments')).toEqual([]);

    // Staff take Ben out at review: his referral is cancelled and his fee removed, so nothing is ever written for him.
    await addExclusion(ctx('2026-12-04T16:00:00Z'), { patronId: `koha:${ben}`, reason: 'disputed' });
    const held = await t.db.selectFrom('report_files').select('id').where('status', '=', 'held').execute();
    expect(held).toHaveLength(1);
    await releaseHeldFiles(ctx('2026-12-04T17:00:00Z'), { fileId: held[0]!.id });
    expect(await applyWritebacks(ctx('2026-12-04T17:00:00Z'), 'koha')).toEqual({ connector: 'koha', applied: 2, pending: 0, failed: 0, skipped: 3 });
    expect(await koha.query('SELECT borrowernumber FROM borrower_debarments')).toEqual([{ borrowernumber: ann }]);
    expect(await koha.query("SELECT borrowernumber FROM accountlines WHERE debit_type_code = 'MANUAL'")).toEqual([{ borrowernumber: ann }]);
    expect((await listWrites(t.db, { patronId: `koha:${ben}` })).map((w) => [w.kind, w.status])).toEqual([
      ['lift', 'skipped'],
      ['fee', 'skipped'],
      ['block', 'skipped'],
    ]);
  });

  it('a read-only connector and a run with write-back off write nothing to Koha', async () => {
    const ann = await koha.patron({ cardnumber: '21000001' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    await syncConnector(ctx(), 'koha');
    const off = await run('2026-12-04', { writeBack: false });
    expect(off.writebacks).toHaveLength(2);
    expect(off.writeback).toBeUndefined();
    expect(await debarments(ann)).toEqual([]);
    expect((await listWrites(t.db)).map((w) => w.status)).toEqual(['pending', 'pending']);

    await s.reset();
    await addConnector(ctx(), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago', readOnly: true });
    await s.agency('UMS');
    await s.settings({ ptypes: ['PT'], minimumOwed: '25.00', agencyFee: '10.00' });
    await syncConnector(ctx(), 'koha');
    const r = await run('2026-12-04');
    expect(r.newSubmissions).toHaveLength(1);
    expect(r.writebacks).toEqual([]);
    expect(await listWrites(t.db)).toEqual([]);
    expect(await debarments(ann)).toEqual([]);
    expect(await flags(ann)).toEqual({ debarred: null, debarredcomment: null });
  });
});

describe('sync modes and connections', () => {
  it('reconciles in full once the last full sync is older than fullSyncEveryDays, incrementally before', async () => {
    await koha.patron({ cardnumber: '21000001' });
    await syncConnector(ctx('2026-12-01T12:00:00Z'), 'koha');
    expect((await syncConnector(ctx('2026-12-07T12:00:00Z'), 'koha')).mode).toBe('incremental');
    expect((await syncConnector(ctx('2026-12-08T12:00:00Z'), 'koha')).mode).toBe('full');
    await updateConnector(ctx(), 'koha', { options: { fullSyncEveryDays: 1 } });
    expect((await syncConnector(ctx('2026-12-08T18:00:00Z'), 'koha')).mode).toBe('incremental');
    expect((await syncConnector(ctx('2026-12-09T12:00:00Z'), 'koha')).mode).toBe('full');
  });

  it('TLS required of a server that does not offer it fails clearly, and nothing is written', async () => {
    const [ssl] = await koha.query("SHOW VARIABLES LIKE 'have_ssl'");
    await updateConnector(ctx(), 'koha', { options: { tls: 'require' } });
    if (ssl?.Value === 'YES') {
      // A server with TLS but a certificate no CA here signed: refused all the same.
      await expect(syncConnector(ctx(), 'koha')).rejects.toThrow(/^connector "koha": no trusted TLS connection to the ILS database: .*(certificate|self.signed)/i);
    } else {
      await expect(syncConnector(ctx(), 'koha')).rejects.toThrow('connector "koha": no trusted TLS connection to the ILS database: Server does not support secure connection');
    }
    expect(await t.db.selectFrom('libraries').select('code').execute()).toEqual([]);
  });

  it("honours the URL's ssl-mode (not ignored: REQUIRED of this server fails as --tls does) and refuses PREFERRED when the URL is given", async () => {
    const [ssl] = await koha.query("SHOW VARIABLES LIKE 'have_ssl'");
    await updateConnector(ctx(), 'koha', { url: `${koha.url}?ssl-mode=REQUIRED` });
    if (ssl?.Value === 'YES') expect((await syncConnector(ctx(), 'koha')).mode).toBe('full');
    else await expect(syncConnector(ctx(), 'koha')).rejects.toThrow('connector "koha": no trusted TLS connection to the ILS database: Server does not support secure connection');
    await expect(updateConnector(ctx(), 'koha', { url: `${koha.url}?ssl-mode=PREFERRED` })).rejects.toThrow('ssl-mode=PREFERRED would fall back to an unencrypted connection');
    await expect(updateConnector(ctx(), 'koha', { url: `${koha.url}?ssl-mode=DISABLED`, options: { tls: 'require' } })).rejects.toThrow("the URL's TLS mode (no TLS) and --tls require disagree");
  });

  it("runs its sessions in its own SQL mode, strict whatever the server's default, and values with quotes and backslashes go as given", async () => {
    const conn = await connectKoha({ id: 1, name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago', readOnly: false, options: {}, mapping: kohaDriver.stockMapping });
    try {
      const [rows] = await conn.query<RowDataPacket[]>('SELECT @@SESSION.sql_mode AS mode, @@GLOBAL.sql_mode AS server, ? AS c', ["O'Brien \\ Co"]);
      expect(rows[0]).toMatchObject({ mode: KOHA_SQL_MODE, c: "O'Brien \\ Co" });
      // This server's default differs, so the mode above is the connector's own.
      expect(rows[0]!.server).not.toBe(KOHA_SQL_MODE);
    } finally {
      await conn.end();
    }
  });

  it('connects through the Unix socket the URL names, as a Koha server on the same host is often reached', async () => {
    const socket = (await koha.query<{ socket: string } & RowDataPacket>('SELECT @@socket AS socket'))[0]!.socket;
    // A socket login comes from 'localhost', a user of its own with the same GRANTs.
    const local = `'${koha.user}'@'localhost'`;
    await koha.exec(`CREATE USER ${local} IDENTIFIED BY '${koha.password}'`);
    try {
      for (const g of kohaGrants(koha.database, local)) await koha.exec(g);
      const borrowernumber = await koha.patron({ cardnumber: '21000077' });
      await koha.debit(borrowernumber, { type: 'OVERDUE', cents: 1250 });
      // Port 1 answers nothing: only the socket gets there.
      await updateConnector(ctx(), 'koha', { url: `mysql://${koha.user}:${koha.password}@localhost:1/${koha.database}?socket=${encodeURIComponent(socket)}` });
      expect(await syncConnector(ctx(), 'koha')).toMatchObject({ mode: 'full', patrons: 1, charges: 1 });
      await expectLedgerAgrees();
    } finally {
      await koha.exec(`DROP USER IF EXISTS ${local}`);
    }
  });
});

describe('the scheduler', () => {
  it('syncs every connector before a scheduled run, and refuses to run on data older than the connector allows', async () => {
    await s.agency('UMS');
    await s.settings({ ptypes: ['PT'], minimumOwed: '25.00', autoNewSubmission: true });
    await updateConnector(ctx(), 'koha', { options: { maxSyncAgeMinutes: 60 } });
    const ann = await koha.patron({ cardnumber: '21000001' });
    await syncConnector(ctx('2026-12-03T12:00:00Z'), 'koha');
    const at = (iso: string) => new Scheduler({ database: t, clock: fixedClock(iso) }, { runTime: { hour: 2, minute: 0 } });
    expect(await at('2026-12-03T12:00:00Z').tick()).toMatchObject({ ran: [expect.objectContaining({ reportDate: '2026-12-03' })], failed: [] });
    expect(await s.referred()).toEqual([]);

    // A lost item charged in Koha after the last sync: the tick syncs it in before it runs.
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-12-03T20:00:00Z' });
    const tick = await at('2026-12-04T09:00:00Z').tick();
    expect(tick.synced).toEqual([{ connector: 'koha', ok: true, mode: 'incremental' }]);
    expect(tick.ran).toEqual([expect.objectContaining({ reportDate: '2026-12-04', job: 'new', alreadyRun: false })]);
    expect(await s.referred()).toEqual([`koha:${ann}`]);
    expect(await koha.query('SELECT type FROM borrower_debarments WHERE borrowernumber = ?', [ann])).toEqual([{ type: 'MANUAL' }]);

    // Koha cannot be reached the next night: the sync fails, its data is a day old, no run.
    const down = new URL(koha.url);
    down.port = '1';
    await updateConnector(ctx(), 'koha', { url: down.toString() });
    const refused = await at('2026-12-05T09:00:00Z').tick();
    expect(refused.synced).toEqual([expect.objectContaining({ connector: 'koha', ok: false })]);
    expect(refused.ran).toEqual([]);
    expect(refused.failed).toEqual([expect.objectContaining({ reportDate: '2026-12-05', error: expect.stringMatching(/^connector "koha": its data is 1440 minutes old \(the limit is 60\); the last sync failed: .*; the run waits for a fresh sync$/) })]);
    // Back up: the same tick, later, syncs and catches the date up.
    await updateConnector(ctx(), 'koha', { url: koha.url });
    const caught = await at('2026-12-05T09:30:00Z').tick();
    expect(caught.ran).toEqual([expect.objectContaining({ reportDate: '2026-12-05', alreadyRun: false })]);
  });
});

describe('the CLI', () => {
  it('adds a connector from an environment variable (never argv), tests it, syncs, runs and writes back', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrears-koha-cli-'));
    // Another process reaches the PostgreSQL test schema through search_path; on PGlite a data folder of its own.
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : join(dir, 'data');
    await s.reset();
    const ann = await koha.patron({ cardnumber: '21000001' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    const env = { KOHA_DB_URL: koha.url };
    const cli = (...args: string[]) => runCli(url, args, env);
    try {
      const added = await cli('connectors', 'add', 'koha', 'koha', '--url-env', 'KOHA_DB_URL', '--time-zone', 'America/Chicago');
      expect(added.stderr).toBe('');
      expect(added.stdout).toContain(`added connector koha: mysql://127.0.0.1:3306/${koha.database}, time zone America/Chicago`);
      expect(added.stdout).not.toContain(koha.password);

      const tested = await cli('connectors', 'test', 'koha');
      expect(tested.code).toBe(0);
      expect(tested.stdout).toMatch(/^koha: Koha 23\.1103000 on /);
      expect(tested.stdout).not.toContain('MISSING');

      const synced = await cli('sync', 'koha', '--json');
      expect(synced.code).toBe(0);
      expect(JSON.parse(synced.stdout)).toMatchObject({ connector: 'koha', mode: 'full', patrons: 1, charges: 1, payments: 0 });

      expect((await cli('agencies', 'add', 'UMS', '--transfer', 'none')).code).toBe(0);
      const settings = join(dir, 'settings.json');
      (await import('node:fs')).writeFileSync(settings, JSON.stringify([{ name: 'Koha patrons', ptypes: ['PT'], minimumOwed: '25.00', agencyFee: '10.00', agency: 'UMS' }]));
      expect((await cli('settings', 'import', settings)).code).toBe(0);

      const dry = await cli('run', '--date', '2026-12-04', '--dry-run', '--json');
      expect(JSON.parse(dry.stdout).writebacks.map((w: { kind: string }) => w.kind)).toEqual(['block', 'fee']);
      const run = await cli('run', '--date', '2026-12-04', '--no-writeback', '--json');
      const result = JSON.parse(run.stdout);
      expect(result.newSubmissions.map((n: { patronId: string }) => n.patronId)).toEqual([`koha:${ann}`]);
      expect(result.writeback).toBeUndefined();

      const pending = await cli('writeback', 'koha', '--dry-run', '--json');
      expect(JSON.parse(pending.stdout)).toMatchObject({ connector: 'koha', dryRun: true, applied: 0, pending: 2, failed: 0 });
      expect(JSON.parse(pending.stdout).writes.map((w: { kind: string; status: string }) => [w.kind, w.status])).toEqual([
        ['fee', 'pending'],
        ['block', 'pending'],
      ]);
      expect(await koha.query('SELECT * FROM borrower_debarments')).toEqual([]);
      const applied = await cli('writeback', 'koha', '--json');
      expect(JSON.parse(applied.stdout)).toEqual({ connector: 'koha', applied: 2, pending: 0, failed: 0, skipped: 0 });
      expect(await koha.query('SELECT type FROM borrower_debarments WHERE borrowernumber = ?', [ann])).toEqual([{ type: 'MANUAL' }]);

      const missing = await runCli(url, ['connectors', 'add', 'koha', 'other', '--url-env', 'NOT_SET_ANYWHERE'], {});
      expect(missing).toMatchObject({ code: 2, stderr: 'error: field --url-env: the environment variable NOT_SET_ANYWHERE is not set or empty\n' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
