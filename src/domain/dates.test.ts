// localDateResolver gives localDateOf's answer for any instant and zone, the hours whose
// offset changes included (it remembers offsets per hour of UTC, so a wrong memory shows).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { localDateOf, localDateResolver } from './dates.ts';

const ZONES = ['America/Chicago', 'America/St_Johns', 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'America/Sao_Paulo', 'UTC', 'Pacific/Apia', 'Asia/Tehran'];

describe('localDateResolver', () => {
  it('agrees with localDateOf for every instant and zone (property)', () => {
    const resolve = localDateResolver();
    const instant = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true });
    fc.assert(fc.property(instant, fc.constantFrom(...ZONES), (at, zone) => {
      expect(resolve(at, zone)).toBe(localDateOf(at, zone));
    }), { numRuns: 20_000 });
  });

  it('agrees around clock changes, to the minute, with the hour already remembered', () => {
    const resolve = localDateResolver();
    // Chicago 2026-03-08 02:00 CST → 03:00 CDT (08:00Z); London 2026-10-25 02:00 BST → 01:00 GMT (01:00Z);
    // St. John's 2026-03-08 at 05:30Z and Lord Howe 2026-10-04 at 15:30Z, within an hour of UTC; Tehran
    // 2021-09-22 00:00 +04:30 → 2021-09-21 23:00 +03:30 (19:30Z), where the hour's first offset gives the wrong date.
    const changes = [['America/Chicago', '2026-03-08T08:00:00Z'], ['Europe/London', '2026-10-25T01:00:00Z'], ['America/St_Johns', '2026-03-08T05:30:00Z'], ['Australia/Lord_Howe', '2026-10-03T15:30:00Z'], ['Asia/Tehran', '2021-09-21T19:30:00Z'], ['Pacific/Apia', '2011-12-30T10:00:00Z']] as const;
    for (const [zone, around] of changes) {
      const t = Date.parse(around);
      for (let m = -180; m <= 180; m++) {
        const at = new Date(t + m * 60_000 + 59_999);
        expect(resolve(at, zone), `${zone} ${at.toISOString()}`).toBe(localDateOf(at, zone));
      }
    }
  });

  it('fails as localDateOf does for an invalid instant', () => {
    expect(() => localDateResolver()(new Date(Number.NaN), 'UTC')).toThrow(RangeError);
  });
});
