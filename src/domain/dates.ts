// Business dates are calendar dates ("YYYY-MM-DD" strings). Instants exist only where a
// date meets a library's time zone, and that conversion happens here, once.

export type LocalDate = string & { readonly __brand: 'LocalDate' };

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A valid calendar date or null: "2015-02-30" is rejected, not rolled over. */
export function parseDate(text: string): LocalDate | null {
  const m = DATE.exec(text.trim());
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = new Date(Date.UTC(y, mo - 1, d));
  if (t.getUTCFullYear() !== y || t.getUTCMonth() !== mo - 1 || t.getUTCDate() !== d) return null;
  return text.trim() as LocalDate;
}

export function asDate(text: string): LocalDate {
  const d = parseDate(text);
  if (!d) throw new RangeError(`not a calendar date: ${text}`);
  return d;
}

function toUtcMidnight(d: LocalDate): number {
  const [y, m, day] = d.split('-').map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, day);
}

function fromUtcMidnight(ms: number): LocalDate {
  return new Date(ms).toISOString().slice(0, 10) as LocalDate;
}

export function addDays(d: LocalDate, n: number): LocalDate {
  return fromUtcMidnight(toUtcMidnight(d) + n * 86_400_000);
}

/** Whole days from a to b (b − a). */
export function daysBetween(a: LocalDate, b: LocalDate): number {
  return Math.round((toUtcMidnight(b) - toUtcMidnight(a)) / 86_400_000);
}

/** Day of the week as Sierra numbers it: 1 = Sunday .. 7 = Saturday. */
export function weekday(d: LocalDate): number {
  return new Date(toUtcMidnight(d)).getUTCDay() + 1;
}

export function compareDates(a: LocalDate, b: LocalDate): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

const partsCache = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = partsCache.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-CA', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    partsCache.set(timeZone, f);
  }
  return f;
}

export function isTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

interface WallClock {
  date: LocalDate;
  hour: number;
  minute: number;
  second: number;
}

export function wallClock(instant: Date, timeZone: string): WallClock {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(instant).map((p) => [p.type, p.value]));
  return {
    date: `${parts.year}-${parts.month}-${parts.day}` as LocalDate,
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
  };
}

/** The calendar date an instant falls on in a time zone. */
export function localDateOf(instant: Date, timeZone: string): LocalDate {
  return wallClock(instant, timeZone).date;
}

const HOUR_MS = 3_600_000;

/** A zone's UTC offset at an instant, in milliseconds (to the second, as Intl gives local times). */
function offsetAt(ms: number, timeZone: string): number {
  const at = Math.floor(ms / 1000) * 1000;
  const w = wallClock(new Date(at), timeZone);
  return Date.UTC(Number(w.date.slice(0, 4)), Number(w.date.slice(5, 7)) - 1, Number(w.date.slice(8, 10)), w.hour, w.minute, w.second) - at;
}

/**
 * localDateOf for many instants (a sync's hundreds of thousands of due dates): each zone's
 * offset asked of Intl at the start and end of an hour of UTC, and used for every instant in
 * that hour when the two agree; in an hour whose offset changes, localDateOf itself.
 */
export function localDateResolver(): (instant: Date, timeZone: string) => LocalDate {
  const offsets = new Map<string, Map<number, number | null>>();
  return (instant, timeZone) => {
    const ms = instant.getTime();
    const hour = Math.floor(ms / HOUR_MS);
    let byHour = offsets.get(timeZone);
    if (!byHour) offsets.set(timeZone, (byHour = new Map()));
    let offset = byHour.get(hour);
    if (offset === undefined) {
      if (byHour.size > 100_000) byHour.clear();
      const start = offsetAt(hour * HOUR_MS, timeZone);
      offset = start === offsetAt((hour + 1) * HOUR_MS - 1, timeZone) ? start : null;
      byHour.set(hour, offset);
    }
    return offset === null ? localDateOf(instant, timeZone) : (new Date(ms + offset).toISOString().slice(0, 10) as LocalDate);
  };
}

/** The instant at which a wall-clock time happens in a zone (the earlier one in a DST overlap, the shifted one in a gap). */
export function instantAt(date: LocalDate, timeZone: string, hour = 0, minute = 0, second = 0): Date {
  const wanted = toUtcMidnight(date) + ((hour * 60 + minute) * 60 + second) * 1000;
  // Two passes converge for every real zone: guess with the offset at the guess.
  let guess = wanted;
  for (let i = 0; i < 3; i++) {
    const w = wallClock(new Date(guess), timeZone);
    const seen = toUtcMidnight(w.date) + ((w.hour * 60 + w.minute) * 60 + w.second) * 1000;
    const diff = wanted - seen;
    if (diff === 0) break;
    guess += diff;
  }
  return new Date(guess);
}

/** Parses an import date-time: ISO 8601 with an offset, or without one meaning wall-clock time in `timeZone`. */
export function parseDateTime(text: string, timeZone: string): Date | null {
  const t = text.trim();
  const m = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?(Z|[+-]\d{2}:?\d{2})?$/.exec(t);
  if (!m) return null;
  const date = parseDate(m[1]!);
  if (!date) return null;
  const [h, mi, s] = [Number(m[2] ?? 0), Number(m[3] ?? 0), Number(m[4] ?? 0)];
  if (h > 23 || mi > 59 || s > 59) return null;
  if (m[5]) {
    const d = new Date(t.replace(' ', 'T'));
    return Number.isNaN(d.getTime()) ? null : d;
  }
  return instantAt(date, timeZone, h, mi, s);
}
