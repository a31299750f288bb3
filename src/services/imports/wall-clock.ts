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

export interface WallClock {
  /** The instant of a wall-clock date-time in a zone: wallClockResolver's answer. */
  (local: LocalDateTime, timeZone: string): Date;
  /** The zone's UTC offset in milliseconds all through the day, or null on a day its clocks change. */
  steadyOffset(date: LocalDate, timeZone: string): number | null;
}

export function fastWallClockResolver(): WallClock {
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
  /** zone → date → the day's offset when it holds all day, null on a day the clocks change. */
  const steady = new Map<string, Map<string, number | null>>();
  let days = 0;
  const steadyOffset = (date: LocalDate, zone: string): number | null => {
    let byDate = steady.get(zone);
    if (byDate === undefined) steady.set(zone, (byDate = new Map()));
    let offset = byDate.get(date);
    if (offset === undefined) {
      if (++days > 200_000) {
        steady.clear();
        steady.set(zone, (byDate = new Map()));
        days = 0;
      }
      const start = utcMidnight(date);
      const atStart = start - midnight(date, zone);
      const atEnd = start + DAY_MS - midnight(addDays(date, 1), zone);
      offset = atStart === atEnd ? atStart : null;
      byDate.set(date, offset);
    }
    return offset;
  };
  const resolve = (l: LocalDateTime, zone: string): Date => {
    const offset = steadyOffset(l.date, zone);
    if (offset === null) return exact(l, zone);
    return new Date(utcMidnight(l.date) - offset + ((l.hour * 60 + l.minute) * 60 + l.second) * 1000);
  };
  return Object.assign(resolve, { steadyOffset });
}
