import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { allocateOldestFirst, outstanding } from './ledger.ts';
import type { Cents } from './money.ts';

const c = (n: number) => n as Cents;
const at = (s: string) => new Date(s);

describe('outstanding', () => {
  it('is the amount minus what was allocated, in whole cents', () => {
    expect(outstanding(c(2500), c(1050))).toBe(1450);
  });
});

describe('allocateOldestFirst', () => {
  const charges = [
    { id: 'C3', assessedAt: at('2015-03-03T10:00:00Z'), outstanding: c(500) },
    { id: 'C1', assessedAt: at('2015-03-01T10:00:00Z'), outstanding: c(1000) },
    { id: 'C2', assessedAt: at('2015-03-01T10:00:00Z'), outstanding: c(300) },
  ];

  it('pays the oldest charge first, ties by id', () => {
    expect(allocateOldestFirst(charges, c(1200))).toEqual({
      ok: true,
      allocations: [
        { chargeId: 'C1', amountCents: 1000 },
        { chargeId: 'C2', amountCents: 200 },
      ],
    });
  });

  it('covers every charge exactly when the amount equals the total', () => {
    const r = allocateOldestFirst(charges, c(1800));
    expect(r).toEqual({
      ok: true,
      allocations: [
        { chargeId: 'C1', amountCents: 1000 },
        { chargeId: 'C2', amountCents: 300 },
        { chargeId: 'C3', amountCents: 500 },
      ],
    });
  });

  it('skips charges with nothing outstanding', () => {
    const r = allocateOldestFirst([{ id: 'A', assessedAt: at('2015-01-01T00:00:00Z'), outstanding: c(0) }, ...charges], c(100));
    expect(r).toEqual({ ok: true, allocations: [{ chargeId: 'C1', amountCents: 100 }] });
  });

  it('refuses an amount above what is outstanding, saying how much is', () => {
    expect(allocateOldestFirst(charges, c(1801))).toEqual({ ok: false, reason: '18.01 exceeds the outstanding balance of 18.00' });
  });

  it('refuses zero and negative amounts', () => {
    expect(allocateOldestFirst(charges, c(0))).toEqual({ ok: false, reason: 'amount must be more than 0.00, got 0.00' });
    expect(allocateOldestFirst(charges, c(-5))).toEqual({ ok: false, reason: 'amount must be more than 0.00, got -0.05' });
  });

  it('never over-pays a charge and always applies the whole amount (property)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ day: fc.integer({ min: 1, max: 28 }), cents: fc.integer({ min: 0, max: 100_000 }) }), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 3_000_000 }),
        (rows, amount) => {
          const open = rows.map((r, i) => ({ id: `C${String(i).padStart(2, '0')}`, assessedAt: at(`2015-03-${String(r.day).padStart(2, '0')}T00:00:00Z`), outstanding: c(r.cents) }));
          const total = rows.reduce((s, r) => s + r.cents, 0);
          const result = allocateOldestFirst(open, c(amount));
          if (amount > total) return !result.ok;
          if (!result.ok) return false;
          const byId = new Map(open.map((o) => [o.id, o.outstanding]));
          const applied = result.allocations.reduce((s, a) => s + a.amountCents, 0);
          return applied === amount && result.allocations.every((a) => Number.isInteger(a.amountCents) && a.amountCents > 0 && a.amountCents <= byId.get(a.chargeId)!);
        },
      ),
    );
  });
});
