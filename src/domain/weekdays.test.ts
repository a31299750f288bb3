import { describe, expect, it } from 'vitest';
import { formatWeekdaySpec, parseWeekdaySpec, specIncludes } from './weekdays.ts';
import type { LocalDate } from './dates.ts';

function days(spec: string): number[] {
  const r = parseWeekdaySpec(spec);
  if (!r.ok) throw new Error(`expected "${spec}" to parse: ${r.reason}`);
  return r.days;
}

function reason(spec: string): string {
  const r = parseWeekdaySpec(spec);
  if (r.ok) throw new Error(`expected "${spec}" to be rejected, got ${r.days.join(',')}`);
  return r.reason;
}

describe('parseWeekdaySpec', () => {
  it('"1,4" is Sunday and Wednesday (seed 002)', () => {
    expect(days('1,4')).toEqual([1, 4]);
  });
  it('"1-4" is Sunday through Wednesday (seed 002)', () => {
    expect(days('1-4')).toEqual([1, 2, 3, 4]);
  });
  it('mixes days and ranges, sorts and removes repeats', () => {
    expect(days('1,3-5')).toEqual([1, 3, 4, 5]);
    expect(days(' 7, 2-3 ,3 ')).toEqual([2, 3, 7]);
    expect(days('4-4')).toEqual([4]);
  });
  it('blank means no day', () => {
    expect(days('')).toEqual([]);
    expect(days('   ')).toEqual([]);
  });
  it('rejects day 0 and day 8', () => {
    expect(reason('0')).toBe('day 0 is not between 1 and 7 (1 = Sunday .. 7 = Saturday)');
    expect(reason('8')).toBe('day 8 is not between 1 and 7 (1 = Sunday .. 7 = Saturday)');
    expect(reason('2-8')).toBe('day 8 is not between 1 and 7 (1 = Sunday .. 7 = Saturday)');
  });
  it('rejects a backwards range', () => {
    expect(reason('4-1')).toBe('range 4-1 runs backwards; write the earlier day first');
  });
  it('rejects words, empty items and broken ranges', () => {
    expect(reason('a')).toBe('"a" is not a day number (1 = Sunday .. 7 = Saturday)');
    expect(reason('1,,4')).toBe('empty item in "1,,4"; write days like 1,4 or 1-4');
    expect(reason('-4')).toBe('"-4" is not a range; write ranges like 1-4');
    expect(reason('1-2-3')).toBe('"1-2-3" is not a day number (1 = Sunday .. 7 = Saturday)');
    expect(reason('1.5')).toBe('"1.5" is not a day number (1 = Sunday .. 7 = Saturday)');
  });
});

describe('formatWeekdaySpec', () => {
  it('writes runs of three or more as ranges', () => {
    expect(formatWeekdaySpec([1, 2, 3, 4])).toBe('1-4');
    expect(formatWeekdaySpec([1, 3, 4, 5])).toBe('1,3-5');
    expect(formatWeekdaySpec([1, 2, 4, 6, 7])).toBe('1,2,4,6,7');
    expect(formatWeekdaySpec([7, 1, 1])).toBe('1,7');
    expect(formatWeekdaySpec([])).toBe('');
  });
  it('round-trips through parseWeekdaySpec', () => {
    for (const spec of ['1,4', '1-4', '1,3-5', '1-7', '2,3', '5,1-2,7', '']) {
      expect(days(formatWeekdaySpec(days(spec)))).toEqual(days(spec));
    }
  });
});

describe('specIncludes', () => {
  it('2015-04-26 is a Sunday (1) and 2015-04-29 a Wednesday (4)', () => {
    expect(specIncludes('1,4', '2015-04-26' as LocalDate)).toBe(true);
    expect(specIncludes('1,4', '2015-04-29' as LocalDate)).toBe(true);
    expect(specIncludes('1,4', '2015-04-27' as LocalDate)).toBe(false);
    expect(specIncludes('', '2015-04-26' as LocalDate)).toBe(false);
    expect(specIncludes('9', '2015-04-26' as LocalDate)).toBe(false);
  });
});
