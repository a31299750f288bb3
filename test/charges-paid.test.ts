// charges.paid_cents is derived from allocations by statement triggers (migration 170) so the
// eligibility statement reads charges alone. Every way the ledger is written must keep it
// equal to the sum of the charge's allocations: this file writes the ledger each of those ways.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ValidationError } from '../src/domain/errors.ts';
import { cents } from '../src/domain/money.ts';
import { importFile } from '../src/services/imports.ts';
import { postPayment, settleBalance } from '../src/services/ledger.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { paidMismatches } from './helpers/ledger-invariants.ts';
import { Scenario } from './helpers/scenario.ts';

let t: TestDatabase;
let s: Scenario;
const dir = mkdtempSync(join(tmpdir(), 'arrears-paid-'));
let n = 0;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(async () => {
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await s.reset();
  await s.libraries({ code: 'MAIN' });
  await s.patrons({ id: 'P1' }, { id: 'P2' });
  await s.charges(
    { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2015-02-01T10:00:00' },
    { id: 'C2', patron_id: 'P1', reason: 'overdue', amount: '3.00', assessed_at: '2015-02-02T10:00:00' },
    { id: 'C3', patron_id: 'P2', reason: 'processing', amount: '5.00', assessed_at: '2015-02-03T10:00:00' },
  );
});

async function paid(): Promise<Record<string, number>> {
  const rows = await t.db.selectFrom('charges').select(['id', 'paid_cents']).orderBy('id').execute();
  return Object.fromEntries(rows.map((r) => [r.id, r.paid_cents]));
}

function csv(lines: string[]): string {
  const path = join(dir, `payments-${++n}.csv`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const HEADER = 'id,patron_id,charge_id,type,method,amount,paid_at';

describe('charges.paid_cents follows the allocations', () => {
  it('starts at zero and follows postPayment, oldest charge first', async () => {
    expect(await paid()).toEqual({ C1: 0, C2: 0, C3: 0 });
    await postPayment(t.db, { patronId: 'P1', type: 'payment', method: 'cash', amountCents: cents(4100), paidAt: new Date('2015-03-01T10:00:00Z') });
    expect(await paid()).toEqual({ C1: 4000, C2: 100, C3: 0 });
    expect(await paidMismatches(t)).toEqual([]);
  });

  it('follows settleBalance (waive everything, or named charges)', async () => {
    await settleBalance(t.db, 'P2', 'waive', 'staff', new Date('2015-03-01T10:00:00Z'), { chargeIds: ['C3'] });
    await settleBalance(t.db, 'P1', 'writeoff', 'staff', new Date('2015-03-01T10:00:00Z'));
    expect(await paid()).toEqual({ C1: 4000, C2: 300, C3: 500 });
    expect(await paidMismatches(t)).toEqual([]);
  });

  it('follows a payments import, a changed payment re-imported, and one refused', async () => {
    await importFile(s.context(), 'payments', csv([HEADER, 'Y1,P1,C1,payment,cash,10.00,2015-03-01T10:00:00', 'Y2,P1,,payment,cash,30.00,2015-03-02T10:00:00']));
    expect(await paid()).toEqual({ C1: 4000, C2: 0, C3: 0 });
    // The same file with Y1 changed: Y1 is re-allocated from scratch, and Y2 moves with it.
    await importFile(s.context(), 'payments', csv([HEADER, 'Y1,P1,C2,payment,cash,3.00,2015-03-01T10:00:00', 'Y2,P1,,payment,cash,30.00,2015-03-02T10:00:00']));
    expect(await paid()).toEqual({ C1: 3000, C2: 300, C3: 0 });
    expect(await paidMismatches(t)).toEqual([]);
    // An over-payment refuses the file and changes nothing.
    const refused = await importFile(s.context(), 'payments', csv([HEADER, 'Y3,P2,C3,payment,cash,9.00,2015-03-03T10:00:00'])).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(await paid()).toEqual({ C1: 3000, C2: 300, C3: 0 });
  });

  it('keeps a bad row\'s old allocations with --skip-bad-rows', async () => {
    await importFile(s.context(), 'payments', csv([HEADER, 'Y1,P1,C2,payment,cash,2.00,2015-03-01T10:00:00']));
    // Y1 changed to more than C2 owes: a bad row; skipped, it stays as it was.
    const result = await importFile(s.context(), 'payments', csv([HEADER, 'Y1,P1,C2,payment,cash,9.00,2015-03-01T10:00:00', 'Y4,P2,C3,payment,cash,1.00,2015-03-04T10:00:00']), { skipBadRows: true });
    expect(result.skipped).toBe(1);
    expect(await paid()).toEqual({ C1: 0, C2: 200, C3: 100 });
    expect(await paidMismatches(t)).toEqual([]);
  });

  it('follows a bulk load of payments', async () => {
    const lines = [HEADER];
    for (let i = 0; i < 30; i++) lines.push(`B${i},P${1 + (i % 2)},,payment,cash,0.10,2015-03-${String(1 + (i % 28)).padStart(2, '0')}T10:00:00`);
    await importFile(s.context(), 'payments', csv(lines), { bulkRows: 1, batchRows: 7 });
    expect(await paid()).toEqual({ C1: 150, C2: 0, C3: 150 });
    expect(await paidMismatches(t)).toEqual([]);
  });

  it('follows direct updates, deletes and a truncate of allocations, and a rolled-back transaction', async () => {
    await postPayment(t.db, { id: 'Y1', patronId: 'P1', type: 'payment', method: 'cash', amountCents: cents(4200), paidAt: new Date('2015-03-01T10:00:00Z') });
    await postPayment(t.db, { id: 'Y2', patronId: 'P2', type: 'payment', method: 'cash', amountCents: cents(200), paidAt: new Date('2015-03-01T10:00:00Z') });
    expect(await paid()).toEqual({ C1: 4000, C2: 200, C3: 200 });
    await sql`update allocations set amount_cents = amount_cents - 50 where charge_id in ('C2', 'C3')`.execute(t.db);
    // Moved from one charge to another in one statement.
    await sql`update allocations set charge_id = 'C1' where payment_id = 'Y2'`.execute(t.db);
    expect(await paid()).toEqual({ C1: 4150, C2: 150, C3: 0 });
    expect(await paidMismatches(t)).toEqual([]);
    await sql`update allocations set charge_id = 'C3' where payment_id = 'Y2'`.execute(t.db);
    await sql`delete from allocations where charge_id = 'C3'`.execute(t.db);
    expect((await paid()).C3).toBe(0);
    // Deleting a payment cascades to its allocations.
    await sql`delete from payments where id = 'Y1'`.execute(t.db);
    expect(await paid()).toEqual({ C1: 0, C2: 0, C3: 0 });
    await postPayment(t.db, { patronId: 'P1', type: 'payment', method: 'cash', amountCents: cents(500), paidAt: new Date('2015-03-02T10:00:00Z') });
    await t.db.transaction().execute(async (trx) => {
      await sql`truncate allocations`.execute(trx);
      expect((await sql<{ n: number }>`select count(*)::int as n from charges where paid_cents <> 0`.execute(trx)).rows[0]!.n).toBe(0);
      await sql`rollback`.execute(trx).catch(() => undefined);
      throw new Error('undo');
    }).catch(() => undefined);
    expect(await paid()).toEqual({ C1: 500, C2: 0, C3: 0 });
    expect(await paidMismatches(t)).toEqual([]);
  });

  it('a re-imported charge may not drop below what is paid on it, nor move to another patron once paid', async () => {
    await postPayment(t.db, { patronId: 'P1', type: 'payment', method: 'cash', amountCents: cents(1000), paidAt: new Date('2015-03-01T10:00:00Z') });
    const chargesCsv = (lines: string[]) => {
      const path = join(dir, `charges-${++n}.csv`);
      writeFileSync(path, ['id,patron_id,library,reason,amount,assessed_at', ...lines].join('\n') + '\n');
      return path;
    };
    const refused = await importFile(
      s.context(),
      'charges',
      chargesCsv(['C1,P1,MAIN,replacement,5.00,2015-02-01T10:00:00', 'C1X,P1,MAIN,overdue,1.00,2015-02-05T10:00:00']),
    ).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect((refused as ValidationError).problems.map((p) => `${p.row} ${p.column} ${p.reason}`)).toEqual(['2 amount 5.00 is less than the 10.00 already paid, waived or written off']);
    const moved = await importFile(s.context(), 'charges', chargesCsv(['C1,P2,MAIN,replacement,40.00,2015-02-01T10:00:00'])).catch((e: unknown) => e);
    expect((moved as ValidationError).problems.map((p) => `${p.row} ${p.column} ${p.reason}`)).toEqual([
      '2 patron_id charge "C1" has payments from patron "P1" and cannot move to another patron',
    ]);
    // Unpaid, C2 may move; paid exactly, C1 may be re-imported at what was paid.
    await importFile(s.context(), 'charges', chargesCsv(['C2,P2,MAIN,overdue,3.00,2015-02-02T10:00:00', 'C1,P1,MAIN,replacement,10.00,2015-02-01T10:00:00']));
    expect(await paid()).toEqual({ C1: 1000, C2: 0, C3: 0 });
    const c2 = await t.db.selectFrom('charges').select('patron_id').where('id', '=', 'C2').executeTakeFirstOrThrow();
    expect(c2.patron_id).toBe('P2');
  });
});
