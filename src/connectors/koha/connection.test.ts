import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utcInstant } from './connection.ts';

// The reading it replaced: the fields of a regular expression's groups.
function byRegex(text: string | null): Date | null {
  if (!text || text.startsWith('0000')) return null;
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/.exec(text);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(t) ? null : new Date(t);
}

describe('utcInstant', () => {
  it('reads a Koha TIMESTAMP in UTC, and nothing else', () => {
    expect(utcInstant('2026-12-04 21:45:10')).toEqual(new Date('2026-12-04T21:45:10Z'));
    expect(utcInstant('2026-12-04T21:45:10.123')).toEqual(new Date('2026-12-04T21:45:10Z'));
    for (const bad of [null, '', '0000-00-00 00:00:00', '2026-12-04', '2026-12-04 21:45', '2026/12/04 21:45:10', '2026-12-04 2l:45:10', ' 2026-12-04 21:45:10']) expect(utcInstant(bad)).toBeNull();
  });

  it('agrees with the regular expression it replaced, on timestamps and on near misses', () => {
    const digit = fc.constantFrom(...'0123456789');
    const noise = fc.constantFrom(...'0123456789-: Tx/.');
    const shaped = fc.array(fc.oneof(digit, noise), { minLength: 0, maxLength: 24 }).map((cs) => cs.join(''));
    const stamp = fc
      .tuple(fc.integer({ min: 0, max: 9999 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.constantFrom(' ', 'T'), fc.string({ maxLength: 4 }))
      .map(([y, mo, d, h, mi, s, sep, rest]) => `${String(y).padStart(4, '0')}-${String(mo).padStart(2, '0')}-${String(d).padStart(2, '0')}${sep}${String(h).padStart(2, '0')}:${String(mi).padStart(2, '0')}:${String(s).padStart(2, '0')}${rest}`);
    fc.assert(
      fc.property(fc.oneof(stamp, shaped), (text) => {
        expect(utcInstant(text)?.getTime() ?? null).toEqual(byRegex(text)?.getTime() ?? null);
      }),
      { numRuns: 5000 },
    );
  });
});
