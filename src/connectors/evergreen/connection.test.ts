import fc from 'fast-check';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { instantOf } from './connection.ts';

const driver = pg.types.getTypeParser(1184, 'text') as (text: string) => Date;

/** A TIMESTAMPTZ as PostgreSQL writes it in a UTC session: fraction without trailing zeros, offset +00. */
function pgText(ms: number, micros: number): string {
  const iso = new Date(ms).toISOString();
  const fraction = (String(ms % 1000 < 0 ? (ms % 1000) + 1000 : ms % 1000).padStart(3, '0') + String(micros).padStart(3, '0')).replace(/0+$/, '');
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction ? `.${fraction}` : ''}+00`;
}

describe('instantOf', () => {
  it('reads a UTC session’s TIMESTAMPTZ as the driver does, to the millisecond (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(1000, 0, 1), max: Date.UTC(9999, 11, 31, 23, 59, 59, 999) }), fc.integer({ min: 0, max: 999 }), (ms, micros) => {
        const text = pgText(ms, micros);
        expect(instantOf(text).getTime(), text).toBe(driver(text).getTime());
        expect(instantOf(text).getTime(), text).toBe(ms);
      }),
      { numRuns: 2000 },
    );
  });

  it('leaves every other shape to the driver', () => {
    for (const text of ['2026-12-04 21:45:10+05:30', '0099-01-01 00:00:00+00', '12345-01-01 00:00:00+00', '2000-01-01 00:00:00+00 BC', '2026-12-04 21:45:10.+00', '2026-12-04 21:45:1x+00']) {
      expect(instantOf(text), text).toEqual(driver(text));
    }
    expect(instantOf('infinity')).toBe(driver('infinity'));
    expect(instantOf('2026-12-04 21:45:10.9995+00').getTime()).toBe(Date.UTC(2026, 11, 4, 21, 45, 10, 999));
  });
});
