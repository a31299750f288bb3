// The assessment-date window of a settings entry for one report date, as inclusive
// calendar dates in the posting library's time zone. Every charge is compared by the
// date it was assessed on locally (charges.assessed_on), so a relative start "at 00:00"
// and end "at 23:59:59" become plain date bounds.
import { addDays, compareDates, type LocalDate } from './dates.ts';
import type { SettingsEntry } from './settings.ts';

export interface DateWindow {
  /** Earliest counted assessment date, inclusive; null = no lower bound. */
  from: LocalDate | null;
  /** Latest counted assessment date, inclusive. Never after the report date: a run cannot see later charges. */
  to: LocalDate;
}

const EPOCH = '1970-01-01' as LocalDate;

function earlier(a: LocalDate, b: LocalDate): LocalDate {
  return compareDates(a, b) <= 0 ? a : b;
}

/**
 * Seed 002, authoritative example: Start 16, End 4, report 2015-04-28 → 2015-04-12 .. 2015-04-24.
 * Grace (absolute only): the last N days counting the report date as day 1 are excluded,
 * so the window ends on report − N; with an absolute end too, the earlier end wins.
 * Fee age (Polaris): a charge counts once it is N days old, i.e. assessed on or before report − N.
 */
export function countedWindow(entry: Pick<SettingsEntry, 'window' | 'feeAgeDays'>, reportDate: LocalDate): DateWindow {
  const w = entry.window;
  let from: LocalDate | null;
  let to: LocalDate = reportDate;
  if (w.mode === 'relative') {
    from = w.startDays === null ? null : addDays(reportDate, -w.startDays);
    if (w.endDays !== null) to = earlier(to, addDays(reportDate, -w.endDays));
  } else {
    from = w.start ?? EPOCH;
    if (w.end !== null) to = earlier(to, w.end);
    if (w.graceDays !== null && w.graceDays > 0) to = earlier(to, addDays(reportDate, -w.graceDays));
  }
  if (entry.feeAgeDays !== null && entry.feeAgeDays > 0) to = earlier(to, addDays(reportDate, -entry.feeAgeDays));
  return { from, to };
}

export function inWindow(window: DateWindow, assessedOn: LocalDate): boolean {
  return (window.from === null || compareDates(assessedOn, window.from) >= 0) && compareDates(assessedOn, window.to) <= 0;
}
