// Wall-clock date-times of an import file resolved to instants, as wallClockResolver does,
// without its Intl calls for almost every row. A file spread over ten years and ten zones
// has hundreds of thousands of distinct (zone, day, hour)s, each costing instantAt several
// Intl calls, but only some 36,000 (zone, day)s; and on a day whose UTC offset is the same
// at its start and at the next day's start (every day but a few a year), local time t is
// simply t − offset, which is what instantAt finds. Days with a clock change go to
// wallClockResolver, so every answer is its answer.
import { addDays, instantAt, type LocalDate } from '../../domain/dates.ts';
import { wallClockResolver, type LocalDateTime } from '../../domain/import-formats.ts';

const DAY_MS = 86_400_000;

function utcMidnight(d: LocalDate): number {
  return Date.UTC(Number(d.slice(0, 4)), Number(d.slice(5, 7)) - 1, Number(d.slice(8, 10)));
}

export function fastWallClockResolver(): (local: LocalDateTime, timeZone: string) => Date {
  const exact = wallClockResolver();
  /** zone|date → the instant the day starts. */
  const midnights = new Map<string, number>();
  const midnight = (date: LocalDate, zone: string): number => {
    const key = `${zone}|${date}`;
    let at = midnights.get(key);
    if (at === undefined) {
      if (midnights.size > 200_000) midnights.clear();
      at = instantAt(date, zone, 0).getTime();
      midnights.set(key, at);
    }
    return at;
  };
  /** zone → date → the instant of the day's local midnight when its offset holds all day, null on a day the clocks change. */
  const steady = new Map<string, Map<string, number | null>>();
  let days = 0;
  return (l, zone) => {
    let byDate = steady.get(zone);
    if (byDate === undefined) steady.set(zone, (byDate = new Map()));
    let base = byDate.get(l.date);
    if (base === undefined) {
      if (++days > 200_000) {
        steady.clear();
        steady.set(zone, (byDate = new Map()));
        days = 0;
      }
      const start = utcMidnight(l.date);
      const atStart = start - midnight(l.date, zone);
      const atEnd = start + DAY_MS - midnight(addDays(l.date, 1), zone);
      base = atStart === atEnd ? start - atStart : null;
      byDate.set(l.date, base);
    }
    if (base === null) return exact(l, zone);
    return new Date(base + ((l.hour * 60 + l.minute) * 60 + l.second) * 1000);
  };
}
