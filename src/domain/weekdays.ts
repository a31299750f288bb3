// Sierra's "Auto Update Submission" days: a comma list of day numbers and ranges,
// "1,4" or "1-4" or "1,3-5", with 1 = Sunday .. 7 = Saturday. Blank = no day.
import { weekday, type LocalDate } from './dates.ts';

export type WeekdayParse = { ok: true; days: number[] } | { ok: false; reason: string };

const DAY_HINT = '1 = Sunday .. 7 = Saturday';

function dayNumber(token: string): number | string {
  if (!/^\d+$/.test(token)) return `"${token}" is not a day number (${DAY_HINT})`;
  const n = Number(token);
  if (n < 1 || n > 7) return `day ${token} is not between 1 and 7 (${DAY_HINT})`;
  return n;
}

/** Sorted unique day numbers, or the reason the text is not a weekday spec. */
export function parseWeekdaySpec(text: string): WeekdayParse {
  const spec = text.trim();
  if (spec === '') return { ok: true, days: [] };
  const days = new Set<number>();
  for (const raw of spec.split(',')) {
    const part = raw.trim();
    if (part === '') return { ok: false, reason: `empty item in "${spec}"; write days like 1,4 or 1-4` };
    const range = /^([^-]*)-([^-]*)$/.exec(part);
    const bounds = range ? [range[1]!.trim(), range[2]!.trim()] : [part];
    if (bounds.includes('')) return { ok: false, reason: `"${part}" is not a range; write ranges like 1-4` };
    const numbers: number[] = [];
    for (const b of bounds) {
      const n = dayNumber(b);
      if (typeof n === 'string') return { ok: false, reason: n };
      numbers.push(n);
    }
    const from = numbers[0]!;
    const to = numbers[numbers.length - 1]!;
    if (from > to) return { ok: false, reason: `range ${part} runs backwards; write the earlier day first` };
    for (let d = from; d <= to; d++) days.add(d);
  }
  return { ok: true, days: [...days].sort((a, b) => a - b) };
}

/** The shortest spec for a set of days: runs of three or more become ranges ("1-4,6"). */
export function formatWeekdaySpec(days: readonly number[]): string {
  const sorted = [...new Set(days)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    if (j - i >= 2) parts.push(`${sorted[i]}-${sorted[j]}`);
    else for (let k = i; k <= j; k++) parts.push(String(sorted[k]));
    i = j + 1;
  }
  return parts.join(',');
}

/** Whether a (valid) spec includes the weekday of a calendar date; an invalid spec includes none. */
export function specIncludes(spec: string, date: LocalDate): boolean {
  const parsed = parseWeekdaySpec(spec);
  return parsed.ok && parsed.days.includes(weekday(date));
}
