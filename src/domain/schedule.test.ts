import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { compareDates, weekday, type LocalDate } from './dates.ts';
import {
  DEFAULT_RUN_TIME,
  EVERY_DAY,
  dueAt,
  dueDates,
  entryTimeZone,
  formatRunTime,
  jobDays,
  latestDueDate,
  nextDueDate,
  parseRunTime,
  type RunTime,
} from './schedule.ts';

const d = (s: string) => s as LocalDate;
const at = (iso: string) => new Date(iso);
const NY = 'America/New_York';
const HNL = 'Pacific/Honolulu';
const TWO: RunTime = { hour: 2, minute: 0 };

function due(lastDone: string | null, now: string, days: readonly number[], timeZone = NY, runTime = TWO): string[] {
  return dueDates({ lastDone: lastDone === null ? null : d(lastDone), now: at(now), timeZone, runTime, days });
}

describe('parseRunTime', () => {
  it('reads HH:MM on a 24-hour clock', () => {
    expect(parseRunTime('02:00')).toEqual({ hour: 2, minute: 0 });
    expect(parseRunTime(' 23:59 ')).toEqual({ hour: 23, minute: 59 });
    expect(formatRunTime({ hour: 7, minute: 5 })).toBe('07:05');
    expect(formatRunTime(DEFAULT_RUN_TIME)).toBe('02:00');
  });
  it('rejects anything else', () => {
    for (const bad of ['24:00', '02:60', '2:00', '0200', '02:00:00', '', 'noon']) expect(parseRunTime(bad)).toBeNull();
  });
});

describe('jobDays', () => {
  it('Auto New Submission is every day when on, never when off', () => {
    expect(jobDays({ autoNewSubmission: true, autoUpdateDays: '' }, 'new')).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(jobDays({ autoNewSubmission: false, autoUpdateDays: '1-7' }, 'new')).toEqual([]);
  });
  it('Auto Update Submission follows the weekday spec; blank is never', () => {
    expect(jobDays({ autoNewSubmission: true, autoUpdateDays: '1,4' }, 'update')).toEqual([1, 4]);
    expect(jobDays({ autoNewSubmission: true, autoUpdateDays: '1-4' }, 'update')).toEqual([1, 2, 3, 4]);
    expect(jobDays({ autoNewSubmission: true, autoUpdateDays: '' }, 'update')).toEqual([]);
    expect(jobDays({ autoNewSubmission: true, autoUpdateDays: '9' }, 'update')).toEqual([]);
  });
});

describe('entryTimeZone', () => {
  const libraries = [
    { code: 'WEST', timeZone: 'America/Los_Angeles' },
    { code: 'HILO', timeZone: HNL },
    { code: 'EAST', timeZone: NY },
  ];
  it('is the zone of the first home library', () => {
    expect(entryTimeZone({ homeLibraries: ['HILO', 'EAST'] }, libraries)).toBe(HNL);
    expect(entryTimeZone({ homeLibraries: ['GONE', 'WEST'] }, libraries)).toBe('America/Los_Angeles');
  });
  it('is the zone of the first library by code when the list is blank', () => {
    expect(entryTimeZone({ homeLibraries: [] }, libraries)).toBe(NY);
  });
  it('is null when there is no library at all', () => {
    expect(entryTimeZone({ homeLibraries: [] }, [])).toBeNull();
  });
});

describe('the run time boundary', () => {
  it('report date D is due from D at the local run time, not a second earlier', () => {
    // 2015-03-02 is EST (UTC-5): 02:00 local is 07:00Z.
    expect(latestDueDate(at('2015-03-02T06:59:59Z'), NY, TWO)).toBe('2015-03-01');
    expect(latestDueDate(at('2015-03-02T07:00:00Z'), NY, TWO)).toBe('2015-03-02');
    expect(due('2015-03-01', '2015-03-02T06:59:59Z', EVERY_DAY)).toEqual([]);
    expect(due('2015-03-01', '2015-03-02T07:00:00Z', EVERY_DAY)).toEqual(['2015-03-02']);
  });
  it('honours a configured run time', () => {
    const evening = { hour: 21, minute: 30 };
    expect(latestDueDate(at('2015-03-03T02:29:00Z'), NY, evening)).toBe('2015-03-01');
    expect(latestDueDate(at('2015-03-03T02:30:00Z'), NY, evening)).toBe('2015-03-02');
  });
});

describe('time zones', () => {
  it('at the same instant New York owes today and Honolulu only yesterday', () => {
    const now = '2015-03-02T10:00:00Z'; // 05:00 in New York, 00:00 in Honolulu
    expect(due('2015-02-28', now, EVERY_DAY, NY)).toEqual(['2015-03-01', '2015-03-02']);
    expect(due('2015-02-28', now, EVERY_DAY, HNL)).toEqual(['2015-03-01']);
    expect(due('2015-02-28', '2015-03-02T12:00:00Z', EVERY_DAY, HNL)).toEqual(['2015-03-01', '2015-03-02']);
  });
  it('weekdays are those of the report date in the entry’s zone', () => {
    // Sunday 2015-03-01 02:00 in Honolulu is 12:00Z; in New York Sunday was due at 07:00Z.
    expect(due('2015-02-28', '2015-03-01T11:00:00Z', [1], HNL)).toEqual([]);
    expect(due('2015-02-28', '2015-03-01T11:00:00Z', [1], NY)).toEqual(['2015-03-01']);
  });
});

describe('weekday specs', () => {
  const fortnight = (days: readonly number[]) => due('2015-02-28', '2015-03-15T12:00:00Z', days);
  it('"1,4" runs on Sundays and Wednesdays', () => {
    expect(fortnight([1, 4])).toEqual(['2015-03-01', '2015-03-04', '2015-03-08', '2015-03-11', '2015-03-15']);
    expect(fortnight([1, 4]).map((x) => weekday(d(x)))).toEqual([1, 4, 1, 4, 1]);
  });
  it('"1-4" runs Sunday through Wednesday', () => {
    expect(fortnight([1, 2, 3, 4])).toEqual([
      '2015-03-01', '2015-03-02', '2015-03-03', '2015-03-04',
      '2015-03-08', '2015-03-09', '2015-03-10', '2015-03-11',
      '2015-03-15',
    ]);
  });
  it('a blank spec never runs', () => {
    expect(fortnight([])).toEqual([]);
  });
});

describe('catch-up and the first sighting', () => {
  it('after downtime every missed date is due, oldest first', () => {
    expect(due('2015-03-02', '2015-03-07T12:00:00Z', EVERY_DAY)).toEqual(['2015-03-03', '2015-03-04', '2015-03-05', '2015-03-06', '2015-03-07']);
  });
  it('nothing is due again once the latest due date is done', () => {
    expect(due('2015-03-07', '2015-03-07T23:00:00Z', EVERY_DAY)).toEqual([]);
  });
  it('a job never seen starts from today: nothing from before it existed', () => {
    expect(due(null, '2015-03-07T12:00:00Z', EVERY_DAY)).toEqual(['2015-03-07']);
    expect(due(null, '2015-03-07T06:00:00Z', EVERY_DAY)).toEqual([]);
    expect(due(null, '2015-03-07T12:00:00Z', [1, 4])).toEqual([]);
  });
});

describe('daylight saving time', () => {
  it('on the spring-forward day a run time in the gap falls due when the clock jumps past it', () => {
    // 2024-03-10: New York jumps from 02:00 EST (07:00Z) to 03:00 EDT.
    const half = { hour: 2, minute: 30 };
    expect(dueAt(d('2024-03-10'), NY, TWO).toISOString()).toBe('2024-03-10T07:00:00.000Z');
    expect(dueAt(d('2024-03-10'), NY, half).toISOString()).toBe('2024-03-10T07:30:00.000Z');
    expect(latestDueDate(at('2024-03-10T06:59:59Z'), NY, TWO)).toBe('2024-03-09');
    expect(latestDueDate(at('2024-03-10T07:00:00Z'), NY, TWO)).toBe('2024-03-10');
    // The next day 02:00 is EDT again: 06:00Z.
    expect(dueAt(d('2024-03-11'), NY, TWO).toISOString()).toBe('2024-03-11T06:00:00.000Z');
  });
  it('on the fall-back day a repeated run time is due at its first occurrence and stays due', () => {
    // 2024-11-03: 01:00..01:59 happens twice in New York, first in EDT (05:00Z..), then in EST (06:00Z..).
    const early = { hour: 1, minute: 30 };
    expect(dueAt(d('2024-11-03'), NY, early).toISOString()).toBe('2024-11-03T05:30:00.000Z');
    expect(latestDueDate(at('2024-11-03T05:29:59Z'), NY, early)).toBe('2024-11-02');
    expect(latestDueDate(at('2024-11-03T05:30:00Z'), NY, early)).toBe('2024-11-03');
    // 06:15Z reads 01:15 on the wall again, before the run time, yet the date stays due.
    expect(latestDueDate(at('2024-11-03T06:15:00Z'), NY, early)).toBe('2024-11-03');
  });
  it('catch-up across either change lists each date exactly once', () => {
    expect(due('2024-03-08', '2024-03-12T12:00:00Z', EVERY_DAY)).toEqual(['2024-03-09', '2024-03-10', '2024-03-11', '2024-03-12']);
    expect(due('2024-11-01', '2024-11-04T12:00:00Z', EVERY_DAY)).toEqual(['2024-11-02', '2024-11-03', '2024-11-04']);
  });
});

describe('nextDueDate', () => {
  const q = (lastDone: string | null, now: string, days: readonly number[]) =>
    nextDueDate({ lastDone: lastDone === null ? null : d(lastDone), now: at(now), timeZone: NY, runTime: TWO, days });
  it('is today at the run time when that is still ahead', () => {
    expect(q('2015-03-01', '2015-03-02T06:00:00Z', EVERY_DAY)).toEqual({ date: '2015-03-02', at: at('2015-03-02T07:00:00Z') });
  });
  it('is the next date on the weekdays after the latest due one', () => {
    expect(q('2015-03-02', '2015-03-02T12:00:00Z', [1, 4])).toEqual({ date: '2015-03-04', at: at('2015-03-04T07:00:00Z') });
    expect(q('2015-02-20', '2015-03-02T12:00:00Z', EVERY_DAY)?.date).toBe('2015-03-03');
  });
  it('comes after a last date done that is ahead of the clock', () => {
    expect(q('2015-03-05', '2015-03-02T12:00:00Z', EVERY_DAY)?.date).toBe('2015-03-06');
  });
  it('is null for a job that never runs', () => {
    expect(q('2015-03-01', '2015-03-02T12:00:00Z', [])).toBeNull();
  });
});

describe('properties', () => {
  const zones = fc.constantFrom(NY, HNL, 'Europe/London', 'Australia/Lord_Howe', 'Asia/Kolkata', 'America/Santiago');
  const instant = fc.integer({ min: Date.UTC(2014, 0, 1), max: Date.UTC(2026, 0, 1) });
  const runTime = fc.record({ hour: fc.integer({ min: 0, max: 23 }), minute: fc.integer({ min: 0, max: 59 }) });
  const days = fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { maxLength: 7 });

  it('the latest due date never goes back as time moves on', () => {
    fc.assert(
      fc.property(zones, instant, fc.integer({ min: 0, max: 3 * 86_400_000 }), runTime, (zone, t, step, rt) => {
        expect(compareDates(latestDueDate(new Date(t), zone, rt), latestDueDate(new Date(t + step), zone, rt))).toBeLessThanOrEqual(0);
      }),
    );
  });

  it('ticking twice owes the same dates, in the same order, as ticking once later', () => {
    fc.assert(
      fc.property(zones, instant, fc.integer({ min: 0, max: 10 * 86_400_000 }), runTime, days, (zone, t, step, rt, ds) => {
        const lastDone = latestDueDate(new Date(t - 5 * 86_400_000), zone, rt);
        const q = { timeZone: zone, runTime: rt, days: ds };
        const first = dueDates({ ...q, lastDone, now: new Date(t) });
        const middle = latestDueDate(new Date(t), zone, rt);
        const second = dueDates({ ...q, lastDone: compareDates(middle, lastDone) > 0 ? middle : lastDone, now: new Date(t + step) });
        expect([...first, ...second]).toEqual(dueDates({ ...q, lastDone, now: new Date(t + step) }));
        expect(new Set([...first, ...second]).size).toBe(first.length + second.length);
      }),
    );
  });
});
