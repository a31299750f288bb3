// When the scheduler owes a run: Auto New Submission every day, Auto Update Submission on
// the entry's weekdays, each report date D due once the entry's zone reaches D at the local
// run time. Pure: the instant and the zone are passed in.
import { addDays, compareDates, instantAt, localDateOf, weekday, type LocalDate } from './dates.ts';
import { parseWeekdaySpec } from './weekdays.ts';
import type { SettingsEntry } from './settings.ts';

/** The two scheduled jobs; they match runReport's parts. */
export type Job = 'new' | 'update';
export const JOBS: readonly Job[] = ['new', 'update'];

export interface RunTime {
  hour: number;
  minute: number;
}

export const DEFAULT_RUN_TIME: RunTime = { hour: 2, minute: 0 };

/** Sierra numbering, 1 = Sunday .. 7 = Saturday. */
export const EVERY_DAY: readonly number[] = [1, 2, 3, 4, 5, 6, 7];

/** "HH:MM" on a 24-hour clock, or null. */
export function parseRunTime(text: string): RunTime | null {
  const m = /^(\d{2}):(\d{2})$/.exec(text.trim());
  if (!m) return null;
  const hour = Number(m[1]);
  const minute = Number(m[2]);
  return hour <= 23 && minute <= 59 ? { hour, minute } : null;
}

export function formatRunTime(t: RunTime): string {
  return `${String(t.hour).padStart(2, '0')}:${String(t.minute).padStart(2, '0')}`;
}

/** The weekdays a job runs on for an entry; none when it is switched off (or the spec is invalid). */
export function jobDays(entry: Pick<SettingsEntry, 'autoNewSubmission' | 'autoUpdateDays'>, job: Job): readonly number[] {
  if (job === 'new') return entry.autoNewSubmission ? EVERY_DAY : [];
  const parsed = parseWeekdaySpec(entry.autoUpdateDays);
  return parsed.ok ? parsed.days : [];
}

/**
 * The zone an entry is scheduled in: that of the first of its home libraries that exists,
 * else (a blank list) that of the first library by code; null when there are no libraries.
 */
export function entryTimeZone(entry: Pick<SettingsEntry, 'homeLibraries'>, libraries: readonly { code: string; timeZone: string }[]): string | null {
  const byCode = new Map(libraries.map((l) => [l.code, l.timeZone]));
  for (const code of entry.homeLibraries) {
    const zone = byCode.get(code);
    if (zone !== undefined) return zone;
  }
  const first = [...libraries].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0))[0];
  return first?.timeZone ?? null;
}

/** The instant report date D becomes due: D at the run time in the zone (shifted forward in a DST gap, the first one in an overlap). */
export function dueAt(date: LocalDate, timeZone: string, runTime: RunTime): Date {
  return instantAt(date, timeZone, runTime.hour, runTime.minute);
}

/**
 * The latest report date that is due at `now`. Compared as instants rather than wall-clock
 * times so the answer never goes back when clocks fall back.
 */
export function latestDueDate(now: Date, timeZone: string, runTime: RunTime): LocalDate {
  const today = localDateOf(now, timeZone);
  return now.getTime() >= dueAt(today, timeZone, runTime).getTime() ? today : addDays(today, -1);
}

/**
 * Where a job starts the first time the scheduler sees it: the day before today, so today
 * is the first date it owes and nothing from before the entry existed is caught up.
 */
export function startingPoint(now: Date, timeZone: string): LocalDate {
  return addDays(localDateOf(now, timeZone), -1);
}

export interface DueQuery {
  /** The last report date settled (run, skipped or not on the job's days); null = never seen. */
  lastDone: LocalDate | null;
  now: Date;
  timeZone: string;
  runTime: RunTime;
  days: readonly number[];
}

/** Every date after lastDone that is due by now and falls on one of the days, oldest first. */
export function dueDates(q: DueQuery): LocalDate[] {
  if (q.days.length === 0) return [];
  const latest = latestDueDate(q.now, q.timeZone, q.runTime);
  const dates: LocalDate[] = [];
  for (let d = addDays(q.lastDone ?? startingPoint(q.now, q.timeZone), 1); compareDates(d, latest) <= 0; d = addDays(d, 1)) {
    if (q.days.includes(weekday(d))) dates.push(d);
  }
  return dates;
}

/** The first date still to come on the job's days (not yet due at now) and when it falls due; null when the job never runs. */
export function nextDueDate(q: DueQuery): { date: LocalDate; at: Date } | null {
  if (q.days.length === 0) return null;
  let d = latestDueDate(q.now, q.timeZone, q.runTime);
  if (q.lastDone !== null && compareDates(q.lastDone, d) > 0) d = q.lastDone;
  do d = addDays(d, 1);
  while (!q.days.includes(weekday(d)));
  return { date: d, at: dueAt(d, q.timeZone, q.runTime) };
}
