import { describe, expect, it } from 'vitest';
import { countedWindow, inWindow } from './window.ts';
import type { LocalDate } from './dates.ts';
import type { WindowSpec } from './settings.ts';

const d = (s: string) => s as LocalDate;
const rel = (startDays: number | null, endDays: number | null): WindowSpec => ({ mode: 'relative', startDays, endDays });
const abs = (start: string | null, end: string | null, graceDays: number | null): WindowSpec => ({
  mode: 'absolute',
  start: start as LocalDate | null,
  end: end as LocalDate | null,
  graceDays,
});

describe('countedWindow', () => {
  it('Start 16, End 4 on 2015-04-28 is 2015-04-12 .. 2015-04-24 (seed 002)', () => {
    expect(countedWindow({ window: rel(16, 4), feeAgeDays: null }, d('2015-04-28'))).toEqual({ from: '2015-04-12', to: '2015-04-24' });
  });
  it('Start 16, End 4 on 2015-05-17 is 2015-05-01 .. 2015-05-13 (the seed says May 2nd; the same rule gives May 1st)', () => {
    expect(countedWindow({ window: rel(16, 4), feeAgeDays: null }, d('2015-05-17'))).toEqual({ from: '2015-05-01', to: '2015-05-13' });
  });
  it('both blank counts every charge up to the report date', () => {
    expect(countedWindow({ window: rel(null, null), feeAgeDays: null }, d('2015-04-28'))).toEqual({ from: null, to: '2015-04-28' });
  });
  it('both 0 counts only charges assessed on the report date', () => {
    expect(countedWindow({ window: rel(0, 0), feeAgeDays: null }, d('2015-04-28'))).toEqual({ from: '2015-04-28', to: '2015-04-28' });
  });
  it('blank absolute start is 1970-01-01 and blank end is the report date', () => {
    expect(countedWindow({ window: abs(null, null, null), feeAgeDays: null }, d('2017-12-31'))).toEqual({ from: '1970-01-01', to: '2017-12-31' });
  });
  it('grace 30 on 2017-12-31 excludes 2017-12-02 .. 2017-12-31', () => {
    const w = countedWindow({ window: abs(null, null, 30), feeAgeDays: null }, d('2017-12-31'));
    expect(inWindow(w, d('2017-12-01'))).toBe(true);
    expect(inWindow(w, d('2017-12-02'))).toBe(false);
    expect(inWindow(w, d('2017-12-31'))).toBe(false);
  });
  it('with an absolute end and a grace period the earlier end wins', () => {
    expect(countedWindow({ window: abs('2017-01-01', '2017-11-15', 30), feeAgeDays: null }, d('2017-12-31')).to).toBe('2017-11-15');
    expect(countedWindow({ window: abs('2017-01-01', '2017-12-20', 30), feeAgeDays: null }, d('2017-12-31')).to).toBe('2017-12-01');
  });
  it('fee age 30: an item billed March 1 counts from March 31 (Polaris timeline)', () => {
    const entry = { window: rel(null, null), feeAgeDays: 30 };
    expect(inWindow(countedWindow(entry, d('2015-03-30')), d('2015-03-01'))).toBe(false);
    expect(inWindow(countedWindow(entry, d('2015-03-31')), d('2015-03-01'))).toBe(true);
  });
});
