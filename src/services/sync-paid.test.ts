// StagedPaid against a plain reading of its rule: random sequences of staged payments and
// charges, each charge's paid_cents and the two verdicts compared with the reference.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChargeRow, PaymentRow } from '../connectors/types.ts';
import { StagedPaid } from './sync-paid.ts';

const patrons = ['koha:1', 'koha:2'];
const chargeIds = ['koha:10', 'koha:11', 'koha:12'];
const charge = (id: string, patronId: string): ChargeRow => ({ id, key: 1, patronId, itemId: null, library: 'MAIN', reason: 'manual', amountCents: 5000, assessedAt: new Date(0) });
const payment = (chargeId: string, patronId: string, amountCents: number): PaymentRow => ({ id: `${chargeId}:${amountCents}`, key: 1, patronId, chargeId, type: 'payment', method: 'cash', amountCents, paidAt: new Date(0) });

const step = fc.oneof(
  fc.record({ kind: fc.constant('payment' as const), charge: fc.constantFrom(...chargeIds), patron: fc.constantFrom(...patrons), cents: fc.integer({ min: 1, max: 900 }) }),
  fc.record({ kind: fc.constant('charge' as const), charge: fc.constantFrom(...chargeIds), patron: fc.constantFrom(...patrons) }),
);

describe('StagedPaid', () => {
  it('stages each charge with what the payments before it pay of it, and vouches only when every payment came before its charge, for the same patron', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 12 }), (steps) => {
        const paid = new StagedPaid();
        // The reference: each payment waits for the next charge of its id staged after it.
        const waiting: { charge: string; patron: string; cents: number }[] = [];
        let given = 0;
        let total = 0;
        let samePayer = true;
        for (const s of steps) {
          if (s.kind === 'payment') {
            paid.count([payment(s.charge, s.patron, s.cents)]);
            waiting.push({ charge: s.charge, patron: s.patron, cents: s.cents });
            total += s.cents;
            continue;
          }
          const mine = waiting.filter((w) => w.charge === s.charge);
          const expected = mine.reduce((t, w) => t + w.cents, 0);
          if (mine.some((w) => w.patron !== s.patron)) samePayer = false;
          waiting.splice(0, waiting.length, ...waiting.filter((w) => w.charge !== s.charge));
          given += expected;
          expect(paid.of(charge(s.charge, s.patron))).toBe(expected);
        }
        // Two patrons paying one charge that never came is no voucher either; it is not complete anyway.
        expect(paid.complete).toBe(given === total);
        expect(paid.vouched).toBe(given === total && samePayer);
      }),
      { numRuns: 2000 },
    );
  });

  it('does not vouch for a charge paid by one patron and staged for another', () => {
    const paid = new StagedPaid();
    paid.count([payment('koha:10', 'koha:1', 500)]);
    expect(paid.of(charge('koha:10', 'koha:2'))).toBe(500);
    expect(paid.complete).toBe(true);
    expect(paid.vouched).toBe(false);
  });
});
