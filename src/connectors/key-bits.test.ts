import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { KeyBits } from './key-bits.ts';

describe('KeyBits', () => {
  it('holds what a Set of the same keys holds, in ascending order (property)', () => {
    // Dense keys, keys the bitmap grows for, and sparse ones it leaves to its Set (then, grown, may cover).
    const key = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.integer({ min: 0, max: 2 ** 24 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.constantFrom(0, 7, 8, 2 ** 23, 2 ** 30, 2 ** 30 + 1, Number.MAX_SAFE_INTEGER));
    fc.assert(
      fc.property(fc.array(key, { maxLength: 400 }), fc.array(key, { maxLength: 50 }), (added, probed) => {
        const bits = new KeyBits();
        for (const k of added) bits.add(k);
        const set = new Set(added);
        expect(bits.size).toBe(set.size);
        for (const k of [...added, ...probed]) expect(bits.has(k), String(k)).toBe(set.has(k));
        expect([...bits.keys()]).toEqual([...set].sort((a, b) => a - b));
      }),
      { numRuns: 100 },
    );
  });

  it('counts a key once when the bitmap grows to cover a key it had left to its Set', () => {
    const bits = new KeyBits();
    const far = 2 ** 23 + 5;
    bits.add(far); // past the bitmap's free megabyte, with nothing held: kept aside
    for (let k = 0; k < 40_000; k++) bits.add(k);
    bits.add(2 ** 23 + 100); // 40,000 keys held: the bitmap may now grow this far
    bits.add(far);
    expect(bits.size).toBe(40_002);
    expect(bits.has(far)).toBe(true);
    expect([...bits.keys()].slice(-2)).toEqual([far, 2 ** 23 + 100]);
  });

  it('refuses what is not a key, and holds none of it', () => {
    const bits = new KeyBits();
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) {
      expect(() => bits.add(bad), String(bad)).toThrow(/not a key/);
      expect(bits.has(bad)).toBe(false);
    }
    expect(bits.size).toBe(0);
  });
});
