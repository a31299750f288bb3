// The fast resolver against wallClockResolver, the import's rule, over zones with every kind
// of clock change (DST at 02:00 and at midnight, half-hour DST, a skipped day, no DST at all).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { LocalDate } from '../../domain/dates.ts';
import { wallClockResolver, type LocalDateTime } from '../../domain/import-formats.ts';
import { fastWallClockResolver } from './wall-clock.ts';

const ZONES = [
  'America/Chicago', 'America/New_York', 'America/Phoenix', 'Pacific/Honolulu', 'America/Anchorage', 'America/St_Johns',
  'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Havana', 'America/Santiago', 'Pacific/Apia', 'Africa/Casablanca', 'UTC',
];

const pad = (n: number) => String(n).padStart(2, '0');

/** Local date-times bunched around clock changes (March, April, October, November, late December) and spread over other months. */
const locals = fc.record({
  year: fc.integer({ min: 1995, max: 2030 }),
  month: fc.constantFrom(1, 3, 3, 4, 6, 9, 10, 11, 11, 12),
  day: fc.integer({ min: 1, max: 31 }),
  hour: fc.integer({ min: 0, max: 23 }),
  minute: fc.constantFrom(0, 1, 29, 30, 59),
  second: fc.constantFrom(0, 30, 59),
});

describe('fast wall-clock resolver', () => {
  it('gives wallClockResolver answer for every zone, day and time, clock changes included', () => {
    const fast = fastWallClockResolver();
    const exact = wallClockResolver();
    fc.assert(
      fc.property(locals, fc.constantFrom(...ZONES), (t, zone) => {
        const days = new Date(Date.UTC(t.year, t.month, 0)).getUTCDate();
        const local: LocalDateTime = { date: `${t.year}-${pad(t.month)}-${pad(Math.min(t.day, days))}` as LocalDate, hour: t.hour, minute: t.minute, second: t.second };
        expect(fast(local, zone).toISOString()).toBe(exact(local, zone).toISOString());
      }),
      { numRuns: 20_000 },
    );
  });

  it('every hour of the days around each 2024 change in Chicago and Lord Howe', () => {
    const fast = fastWallClockResolver();
    const exact = wallClockResolver();
    for (const zone of ['America/Chicago', 'Australia/Lord_Howe'])
      for (const date of ['2024-03-09', '2024-03-10', '2024-03-11', '2024-04-06', '2024-04-07', '2024-10-05', '2024-10-06', '2024-11-02', '2024-11-03', '2024-11-04'])
        for (let hour = 0; hour < 24; hour++)
          for (const minute of [0, 30]) {
            const local: LocalDateTime = { date: date as LocalDate, hour, minute, second: 0 };
            expect(fast(local, zone).getTime()).toBe(exact(local, zone).getTime());
          }
  });
});
