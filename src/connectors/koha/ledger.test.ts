import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitLedger, type KohaDebit } from './ledger.ts';

const day = (n: number) => new Date(Date.UTC(2026, 0, n));
const debit = (id: number, amount: number, outstanding: number, date = day(id)): KohaDebit => ({ id, amount, outstanding, date });
/** Each debit's amount minus the splits on it: what Arrears will say is still owed. */
function owed(debits: KohaDebit[], splits: { debitId: number; cents: number }[]): Record<number, number> {
  return Object.fromEntries(debits.map((d) => [d.id, d.amount - splits.filter((s) => s.debitId === d.id).reduce((t, s) => t + s.cents, 0)]));
}

describe('splitLedger', () => {
  it('follows the APPLY offsets: one payment over two debits, each left with Koha\'s amountoutstanding', () => {
    const debits = [debit(1, 1000, 0), debit(2, 2500, 1500)];
    const r = splitLedger(debits, [{ id: 9, outstanding: 0 }], [
      { creditId: 9, debitId: 1, amount: -1000 },
      { creditId: 9, debitId: 2, amount: -1000 },
    ]);
    expect(r.splits).toEqual([
      { creditId: 9, debitId: 1, cents: 1000 },
      { creditId: 9, debitId: 2, cents: 1000 },
    ]);
    expect(owed(debits, r.splits)).toEqual({ 1: 0, 2: 1500 });
    expect(r.creditBalance).toBe(0);
  });

  it('nets a voided payment out: APPLY then VOID on the same debit leaves nothing paid', () => {
    const debits = [debit(1, 1000, 1000)];
    const r = splitLedger(debits, [{ id: 9, outstanding: 0 }], [
      { creditId: 9, debitId: 1, amount: -1000 },
      { creditId: 9, debitId: 1, amount: 1000 },
    ]);
    expect(r.splits).toEqual([]);
    expect(owed(debits, r.splits)).toEqual({ 1: 1000 });
  });

  it('explains a paid amount with no offsets (data from before offsets) as an adjustment', () => {
    const debits = [debit(1, 1000, 400)];
    const r = splitLedger(debits, [], []);
    expect(r.splits).toEqual([{ creditId: null, debitId: 1, cents: 600 }]);
  });

  it('never lets offsets pay a debit below what Koha says it still owes', () => {
    const debits = [debit(1, 1000, 500)];
    const r = splitLedger(debits, [{ id: 9, outstanding: 0 }], [{ creditId: 9, debitId: 1, amount: -800 }]);
    expect(r.splits).toEqual([{ creditId: 9, debitId: 1, cents: 500 }]);
  });

  it('applies an unapplied credit to the oldest open debits, and keeps what is beyond the debt as a credit balance', () => {
    const debits = [debit(2, 1000, 1000, day(5)), debit(1, 300, 300, day(9))];
    const r = splitLedger(debits, [{ id: 7, outstanding: -1200 }, { id: 8, outstanding: -500 }], []);
    expect(r.splits).toEqual([
      { creditId: 7, debitId: 1, cents: 200 },
      { creditId: 8, debitId: 1, cents: 100 },
      { creditId: 7, debitId: 2, cents: 1000 },
    ]);
    expect(owed(debits, r.splits)).toEqual({ 1: 0, 2: 0 });
    expect(r.creditBalance).toBe(400);
  });

  it('adds a partly applied credit\'s remainder to its split on the same debit', () => {
    const debits = [debit(1, 1000, 700)];
    const r = splitLedger(debits, [{ id: 9, outstanding: -200 }], [{ creditId: 9, debitId: 1, amount: -300 }]);
    expect(r.splits).toEqual([{ creditId: 9, debitId: 1, cents: 500 }]);
    expect(owed(debits, r.splits)).toEqual({ 1: 500 });
  });

  it('ignores offsets to lines it was not given (a debit the mapping leaves out)', () => {
    const debits = [debit(1, 1000, 1000)];
    const r = splitLedger(debits, [{ id: 9, outstanding: 0 }], [{ creditId: 9, debitId: 5, amount: -1000 }]);
    expect(r.splits).toEqual([]);
  });

  it('gives every patron Koha\'s balance, whatever Koha did to the account (property)', () => {
    // Koha's own bookkeeping, simulated: debits, payments applied oldest first with any rest
    // left unapplied, and voids that put back what a payment had paid.
    type Op = { kind: 'debit'; cents: number } | { kind: 'pay'; cents: number } | { kind: 'void'; which: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('debit' as const), cents: fc.integer({ min: 1, max: 5000 }) }),
      fc.record({ kind: fc.constant('pay' as const), cents: fc.integer({ min: 1, max: 6000 }) }),
      fc.record({ kind: fc.constant('void' as const), which: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const debits: KohaDebit[] = [];
        const credits: { id: number; outstanding: number; voided: boolean }[] = [];
        const offsets: { creditId: number; debitId: number; amount: number }[] = [];
        let id = 0;
        for (const o of ops) {
          if (o.kind === 'debit') debits.push(debit(++id, o.cents, o.cents, day(id)));
          else if (o.kind === 'pay') {
            const c = { id: ++id, outstanding: -o.cents, voided: false };
            for (const d of debits) {
              const a = Math.min(-c.outstanding, d.outstanding);
              if (a <= 0) continue;
              d.outstanding -= a;
              c.outstanding += a;
              offsets.push({ creditId: c.id, debitId: d.id, amount: -a });
            }
            credits.push(c);
          } else {
            const c = credits.filter((x) => !x.voided)[o.which];
            if (!c) continue;
            for (const off of offsets.filter((x) => x.creditId === c.id && x.amount < 0)) {
              debits.find((d) => d.id === off.debitId)!.outstanding -= off.amount;
              offsets.push({ creditId: c.id, debitId: off.debitId, amount: -off.amount });
            }
            c.outstanding = 0;
            c.voided = true;
          }
        }
        const r = splitLedger(debits, credits, offsets);
        const left = owed(debits, r.splits);
        const kohaBalance = debits.reduce((t, d) => t + d.outstanding, 0) + credits.reduce((t, c) => t + c.outstanding, 0);
        expect(Object.values(left).reduce((t, v) => t + v, 0) - r.creditBalance).toBe(kohaBalance);
        for (const d of debits) {
          expect(left[d.id]).toBeGreaterThanOrEqual(0);
          expect(left[d.id]).toBeLessThanOrEqual(d.outstanding);
        }
      }),
    );
  });
});
