import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decimalToCents, patternDecimalCents } from './money.ts';

describe('decimalToCents', () => {
  it('reads a database DECIMAL as cents, rounded half away from zero', () => {
    const cases: [string, number | null][] = [
      ['12.500000', 1250],
      ['-3.1', -310],
      ['0', 0],
      ['-0.004', 0],
      ['1.995', 200],
      ['-1.995', -200],
      ['1.994999', 199],
      ['12.', 1200],
      ['.5', null],
      ['', null],
      ['-', null],
      ['+5', null],
      [' 7.25 ', 725],
      ['1e3', null],
      ['12345678901234', null],
      ['1234567890123.99', 123456789012399],
    ];
    for (const [text, cents] of cases) expect([text, decimalToCents(text)]).toEqual([text, cents]);
  });

  it('reads every text exactly as its pattern does', () => {
    const digits = (max: number) => fc.string({ unit: fc.constantFrom('0', '1', '5', '9'), maxLength: max });
    const decimal = fc.tuple(fc.constantFrom('', '-', '+', ' ', '--'), digits(15), fc.constantFrom('', '.', ','), digits(8), fc.constantFrom('', ' ', 'x', '\n'));
    fc.assert(
      fc.property(fc.oneof(decimal.map((parts) => parts.join('')), fc.string()), (text) => {
        expect(decimalToCents(text)).toBe(patternDecimalCents(text));
      }),
      { numRuns: 20_000 },
    );
  });
});
