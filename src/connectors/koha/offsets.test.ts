import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { KohaOffset } from './ledger.ts';
import { OffsetsByDebit } from './offsets.ts';

describe('OffsetsByDebit', () => {
  it('gives each debit its offsets, in the order they were read, however they were read', () => {
    const offset = fc.record({ debitId: fc.integer({ min: 1, max: 40 }), creditId: fc.integer({ min: 1, max: 2 ** 31 - 1 }), amount: fc.integer({ min: -(10 ** 9), max: 10 ** 9 }) });
    fc.assert(
      fc.property(fc.array(offset, { maxLength: 3000 }), (read) => {
        const held = new OffsetsByDebit();
        for (const o of read) held.add(o.debitId, o.creditId, o.amount);
        held.seal();
        expect(held.length).toBe(read.length);
        for (let debit = 0; debit <= 41; debit++) {
          const out: KohaOffset[] = [];
          held.offsetsOf(debit, out);
          expect(out).toEqual(read.filter((o) => o.debitId === debit).map((o) => ({ creditId: o.creditId, debitId: o.debitId, amount: o.amount })));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('refuses a key a 32-bit array would wrap, and a read before seal', () => {
    const held = new OffsetsByDebit();
    expect(() => held.add(2 ** 31, 1, 100)).toThrow(/32-bit/);
    held.add(5, 1, 100);
    held.add(3, 1, 100);
    expect(() => held.offsetsOf(5, [])).toThrow(/seal/);
  });
});
