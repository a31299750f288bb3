import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { splitLedger, type EgBilling, type EgPayment, type EgXact } from './ledger.ts';

const day = (n: number) => new Date(Date.UTC(2026, 0, n));
const billing = (id: number, xact: number, amount: number, date = day(id)): EgBilling => ({ id, xact, amount, date });
const payment = (id: number, xact: number, amount: number, date = day(id)): EgPayment => ({ id, xact, amount, date });
const xact = (id: number, balanceOwed: number, open = true): EgXact => ({ id, balanceOwed, open });
/** Each billing's amount minus the splits on it: what Arrears will say is still owed. */
function owed(billings: EgBilling[], splits: { billingId: number; cents: number }[]): Record<number, number> {
  return Object.fromEntries(billings.map((b) => [b.id, b.amount - splits.filter((s) => s.billingId === b.id).reduce((t, s) => t + s.cents, 0)]));
}

describe('splitLedger', () => {
  it('spreads a transaction\'s payments over its billings oldest first, leaving balance_owed on the newest', () => {
    const billings = [billing(1, 100, 25), billing(2, 100, 3000), billing(3, 100, 500)];
    const r = splitLedger([xact(100, 2525)], billings, [payment(10, 100, 1000)]);
    expect(r.splits).toEqual([
      { paymentId: 10, billingId: 1, cents: 25 },
      { paymentId: 10, billingId: 2, cents: 975 },
    ]);
    expect(owed(billings, r.splits)).toEqual({ 1: 0, 2: 2025, 3: 500 });
    expect(r.creditBalance).toBe(0);
  });

  it('lets a refund take back the latest payment', () => {
    const billings = [billing(1, 100, 1000)];
    const r = splitLedger([xact(100, 500)], billings, [payment(10, 100, 200), payment(11, 100, 500), payment(12, 100, -400), payment(13, 100, 200)]);
    expect(r.splits).toEqual([
      { paymentId: 10, billingId: 1, cents: 200 },
      { paymentId: 11, billingId: 1, cents: 100 },
      { paymentId: 13, billingId: 1, cents: 200 },
    ]);
    expect(owed(billings, r.splits)).toEqual({ 1: 500 });
  });

  it('settles a closed transaction in full, with an adjustment for what its payments do not explain', () => {
    const billings = [billing(1, 100, 1000)];
    const r = splitLedger([xact(100, 300, false)], billings, [payment(10, 100, 700)]);
    expect(r.splits).toEqual([
      { paymentId: null, billingId: 1, cents: 300 },
      { paymentId: 10, billingId: 1, cents: 700 },
    ]);
  });

  it('explains a balance below the billings with no payments (a negative billing) as an adjustment', () => {
    const billings = [billing(1, 100, 1000)];
    const r = splitLedger([xact(100, 600)], billings, []);
    expect(r.splits).toEqual([{ paymentId: null, billingId: 1, cents: 400 }]);
  });

  it('never leaves more owed than the billings, whatever balance_owed says', () => {
    const billings = [billing(1, 100, 1000)];
    expect(owed(billings, splitLedger([xact(100, 1500)], billings, []).splits)).toEqual({ 1: 1000 });
  });

  it('lets an overpaid transaction\'s credit pay the patron\'s oldest other billings, and keeps the rest as a credit balance', () => {
    const billings = [billing(1, 100, 300, day(1)), billing(2, 200, 400, day(3)), billing(3, 300, 200, day(2))];
    const r = splitLedger([xact(100, -500), xact(200, 400), xact(300, 200)], billings, [payment(10, 100, 800)]);
    expect(r.splits).toEqual([
      { paymentId: 10, billingId: 1, cents: 300 },
      { paymentId: 10, billingId: 2, cents: 300 },
      { paymentId: 10, billingId: 3, cents: 200 },
    ]);
    expect(owed(billings, r.splits)).toEqual({ 1: 0, 2: 100, 3: 0 });
    expect(r.creditBalance).toBe(0);
    const more = splitLedger([xact(100, -900), xact(200, 400)], [billings[0]!, billings[1]!], [payment(10, 100, 1200)]);
    expect(owed([billings[0]!, billings[1]!], more.splits)).toEqual({ 1: 0, 2: 0 });
    expect(more.creditBalance).toBe(500);
  });

  it('takes a credit only as far as Evergreen counts it (balance_owed cut back for forgiven money)', () => {
    // 10.00 billed, 10.00 forgiven, 5.00 cash: Evergreen's balance_owed is 0, not -5.00.
    const billings = [billing(1, 100, 1000), billing(2, 200, 500)];
    const r = splitLedger([xact(100, 0), xact(200, 500)], billings, [payment(10, 100, 1000), payment(11, 100, 500)]);
    expect(owed(billings, r.splits)).toEqual({ 1: 0, 2: 500 });
    expect(r.creditBalance).toBe(0);
  });

  it('gives every patron Evergreen\'s balance, whatever Evergreen did to the account (property)', () => {
    // Evergreen's own bookkeeping, simulated: billings and payments on a few transactions,
    // refunds of money received, voided billings and payments, balance_owed whole or cut back
    // for non-refundable kinds, and transactions closed or reopened as check_open_xact does
    // (or left as staff left them).
    type Op =
      | { kind: 'bill'; x: number; cents: number }
      | { kind: 'pay'; x: number; cents: number; refundable: boolean }
      | { kind: 'refund'; x: number; cents: number }
      | { kind: 'voidBilling'; which: number }
      | { kind: 'voidPayment'; which: number }
      | { kind: 'toggle'; x: number };
    const x = fc.integer({ min: 1, max: 4 });
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('bill' as const), x, cents: fc.integer({ min: 1, max: 5000 }) }),
      fc.record({ kind: fc.constant('pay' as const), x, cents: fc.integer({ min: 1, max: 6000 }), refundable: fc.boolean() }),
      fc.record({ kind: fc.constant('refund' as const), x, cents: fc.integer({ min: 1, max: 3000 }) }),
      fc.record({ kind: fc.constant('voidBilling' as const), which: fc.nat(20) }),
      fc.record({ kind: fc.constant('voidPayment' as const), which: fc.nat(20) }),
      fc.record({ kind: fc.constant('toggle' as const), x }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const billings: (EgBilling & { voided: boolean })[] = [];
        const payments: (EgPayment & { voided: boolean; refundable: boolean })[] = [];
        const staffClosed = new Set<number>();
        let id = 0;
        const standing = <T extends { voided: boolean; xact: number }>(rows: T[], on: number) => rows.filter((r) => !r.voided && r.xact === on);
        const refundable = (on: number) => standing(payments, on).filter((p) => p.refundable).reduce((t, p) => t + p.amount, 0);
        for (const o of ops) {
          if (o.kind === 'bill') billings.push({ ...billing(++id, o.x, o.cents), voided: false });
          else if (o.kind === 'pay') payments.push({ ...payment(++id, o.x, o.cents), voided: false, refundable: o.refundable });
          else if (o.kind === 'refund') {
            // Only money received is given back.
            const cents = Math.min(o.cents, refundable(o.x));
            if (cents > 0) payments.push({ ...payment(++id, o.x, -cents), voided: false, refundable: true });
          } else if (o.kind === 'voidBilling') {
            const b = billings.filter((r) => !r.voided)[o.which];
            if (b) b.voided = true;
          } else if (o.kind === 'voidPayment') {
            const p = payments.filter((r) => !r.voided && r.amount > 0)[o.which];
            if (p && (!p.refundable || refundable(p.xact) - p.amount >= 0)) p.voided = true;
          } else if (staffClosed.has(o.x)) staffClosed.delete(o.x);
          else staffClosed.add(o.x);
        }
        const xacts: EgXact[] = [1, 2, 3, 4].map((on) => {
          const raw = standing(billings, on).reduce((t, b) => t + b.amount, 0) - standing(payments, on).reduce((t, p) => t + p.amount, 0);
          const notRefundable = standing(payments, on).filter((p) => !p.refundable).reduce((t, p) => t + p.amount, 0);
          const balanceOwed = raw < 0 ? Math.min(raw + notRefundable, 0) : raw;
          return { id: on, balanceOwed, open: balanceOwed !== 0 || !staffClosed.has(on) };
        });
        const live = billings.filter((b) => !b.voided);
        const r = splitLedger(xacts, live, payments.filter((p) => !p.voided));
        const left = owed(live, r.splits);
        const evergreen = xacts.filter((t) => t.open).reduce((t, v) => t + v.balanceOwed, 0);
        expect(Object.values(left).reduce((t, v) => t + v, 0) - r.creditBalance).toBe(evergreen);
        for (const b of live) {
          expect(left[b.id]).toBeGreaterThanOrEqual(0);
          expect(left[b.id]).toBeLessThanOrEqual(b.amount);
        }
        for (const p of payments) {
          const used = r.splits.filter((s) => s.paymentId === p.id).reduce((t, s) => t + s.cents, 0);
          expect(used).toBeLessThanOrEqual(p.voided ? 0 : Math.max(0, p.amount));
        }
      }),
      { numRuns: 300 },
    );
  });
});
