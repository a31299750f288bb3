// The rows nearly every import file is made of, written straight into the staging table's
// COPY text, byte by byte: no parsed values, problem lists, tuples, Date objects or line
// strings per row, which cost a million-row file more than PostgreSQL's COPY of the same rows. A row is encoded only when
// every cell is of a shape read the same way here as by parseRow (import-formats.ts): plain
// cells (no edge spaces, control characters, backslashes or replacement characters), amounts
// like 12.50, ISO dates and date-times. Any other row gets undefined and goes the general way
// (parseRow, which names its problems), so what is staged is always what parseRow would stage.
import { dateTimeShape, type ColumnSpec, type Header } from '../../domain/import-formats.ts';
import type { LocalDate } from '../../domain/dates.ts';
import type { CopyText } from './copy-text.ts';
import type { WallClock } from './wall-clock.ts';

/**
 * Writes a data row to `out` as a COPY text line (row number first, then the staging
 * columns) and says true; or writes nothing and says false: read the row with parseRow.
 */
export type RowEncoder = (cells: readonly string[], row: number, out: CopyText) => boolean;

export interface EncoderOptions {
  /** The staging table's columns after row_no, by the import column each comes from. */
  stageColumns: readonly string[];
  /** A row's zone for its wall-clock date-times, from its cells; undefined leaves the row to the general way. */
  zoneOf?: (cells: readonly string[], column: (name: string) => number) => string | undefined;
  /** Every row must have a zone (charges: an unknown library is a problem the general way names). */
  zoneRequired?: boolean;
  wallClock: WallClock;
}

const MAX_TEXT = 1000;
const MAX_KEY = 100;

export function rowEncoder(header: Header, options: EncoderOptions): RowEncoder {
  const at = new Map<string, number>();
  header.columns.forEach((c, i) => c && at.set(c.name, i));
  const column = (name: string) => at.get(name) ?? -1;
  const columns = options.stageColumns.map((name) => ({ index: column(name), spec: header.columns[column(name)] ?? null }));
  /** Cells under a blank header must be blank. */
  const unheaded = header.columns.flatMap((c, i) => (c ? [] : [i]));
  const width = header.columns.length;
  const wantsZone = options.zoneRequired || columns.some((c) => c.spec?.form === 'dateTime');
  /** zone → day (YYYYMMDD as a number, so no key text is made per row) → the day's offset as ±HH:MM, null on a day the clocks change. */
  const offsets = new Map<string, Map<number, string | null>>();
  let days = 0;
  const offsetText = (dateTime: string, zone: string): string | null => {
    const day = dayNumber(dateTime);
    let byDay = offsets.get(zone);
    if (byDay === undefined) offsets.set(zone, (byDay = new Map()));
    let text = byDay.get(day);
    if (text === undefined) {
      if (++days > 200_000) {
        offsets.clear();
        offsets.set(zone, (byDay = new Map()));
        days = 0;
      }
      text = minutesOffset(options.wallClock.steadyOffset(dateTime.slice(0, 10) as LocalDate, zone));
      byDay.set(day, text);
    }
    return text;
  };

  return (cells, row, out) => {
    for (let i = width; i < cells.length; i++) if (cells[i] !== '') return false;
    for (const i of unheaded) if (cells[i] !== undefined && cells[i] !== '') return false;
    let zone: string | undefined;
    if (wantsZone && options.zoneOf) {
      zone = options.zoneOf(cells, column);
      if (zone === undefined && options.zoneRequired) return false;
    }
    // Room for the longest line these cells can make: three bytes a UTF-16 unit, and the extras.
    let most = 16;
    for (const { index } of columns) most += index < 0 ? 3 : (cells[index]?.length ?? 0) * 3 + 8;
    out.reserve(most);
    const buf = out.chunk;
    let at = writeNumber(buf, out.at, row);
    for (const { index, spec } of columns) {
      buf[at++] = TAB;
      const s = spec === null ? '' : (cells[index] ?? '');
      if (s === '') {
        if (spec?.required) return false;
        if (spec === null || spec.blank === null) {
          buf[at++] = BACKSLASH;
          buf[at++] = LETTER_N;
        }
        continue;
      }
      at = writeCell(spec!, s, zone, offsetText, buf, at);
      if (at < 0) return false;
    }
    buf[at++] = LINE_BREAK;
    out.at = at;
    out.lines++;
    return true;
  };
}

const TAB = 9;
const LINE_BREAK = 10;
const BACKSLASH = 92;
const LETTER_N = 78;

/** Writes one non-blank cell's staged value at `at`; returns where it ends, or -1 when parseRow must read the row. */
function writeCell(spec: ColumnSpec, s: string, zone: string | undefined, offsetText: (dateTime: string, zone: string) => string | null, buf: Buffer, at: number): number {
  switch (spec.form) {
    case 'key':
    case 'ptype':
      // Plain, a ptype is neither blank, nor edged with spaces, nor holding control characters.
      return s.length <= MAX_KEY ? writePlain(buf, at, s) : -1;
    case 'text':
      return s.length <= MAX_TEXT ? writePlain(buf, at, s) : -1;
    case 'oneOf':
      return spec.allowed?.includes(s) ? writeAscii(buf, at, s) : -1;
    case 'date':
      return isIsoDate(s) ? writeAscii(buf, at, s) : -1;
    case 'amount': {
      const cents = amountCents(s);
      return cents > 0 ? writeNumber(buf, at, cents) : -1;
    }
    case 'dateTime': {
      // Both shapes are ASCII digits and separators.
      const shape = dateTimeShape(s);
      if (shape === 'instant') return writeAscii(buf, at, s);
      if (shape !== 'local' || zone === undefined) return -1;
      const offset = offsetText(s, zone);
      return offset === null ? -1 : writeAscii(buf, writeAscii(buf, at, s), offset);
    }
    default:
      return -1;
  }
}

/** Text known to be ASCII, byte for byte. */
function writeAscii(buf: Buffer, at: number, s: string): number {
  for (let i = 0; i < s.length; i++) buf[at + i] = s.charCodeAt(i);
  return at + s.length;
}

/** A whole number's decimal digits. */
function writeNumber(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let k = n; k >= 10; k = Math.floor(k / 10)) digits++;
  for (let i = at + digits - 1, k = n; i >= at; i--, k = Math.floor(k / 10)) buf[i] = 48 + (k % 10);
  return at + digits;
}

/**
 * A cell trim() leaves as it is, holding nothing COPY text escapes (tab, line breaks,
 * backslash) and no control, delete or replacement character (parseRow's problems, or its
 * call), written as UTF-8; -1 for any other.
 */
function writePlain(buf: Buffer, at: number, s: string): number {
  const n = s.length;
  if (!edge(s.charCodeAt(0)) || !edge(s.charCodeAt(n - 1))) return -1;
  let ascii = true;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 128) {
      if (c < 32 || c === BACKSLASH || c === 127) return -1;
      buf[at + i] = c;
    } else if (c === 0xfffd) return -1;
    else ascii = false;
  }
  return ascii ? at + n : at + buf.write(s, at);
}

/** ±HH:MM of an offset in milliseconds; null for none (a day the clocks change) or one of seconds (old local mean times). */
function minutesOffset(ms: number | null): string | null {
  if (ms === null || ms % 60_000 !== 0) return null;
  const minutes = Math.abs(ms / 60_000);
  const hh = String(Math.floor(minutes / 60)).padStart(2, '0');
  const mm = String(minutes % 60).padStart(2, '0');
  return `${ms < 0 ? '-' : '+'}${hh}:${mm}`;
}

/** Not a character String.prototype.trim removes, nor a control or replacement character. */
function edge(c: number): boolean {
  if (c > 32 && c < 127) return c !== 92;
  if (c <= 160) return false;
  return c !== 0x1680 && !(c >= 0x2000 && c <= 0x200a) && c !== 0x2028 && c !== 0x2029 && c !== 0x202f && c !== 0x205f && c !== 0x3000 && c !== 0xfeff && c !== 0xfffd;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digit(s: string, i: number): number {
  const d = s.charCodeAt(i) - 48;
  return d >= 0 && d <= 9 ? d : -100_000;
}

/** The day of a date-time dateTimeShape has read, as the number YYYYMMDD. */
function dayNumber(s: string): number {
  return ((digit(s, 0) * 10 + digit(s, 1)) * 100 + digit(s, 2) * 10 + digit(s, 3)) * 10_000 + (digit(s, 5) * 10 + digit(s, 6)) * 100 + digit(s, 8) * 10 + digit(s, 9);
}

/** YYYY-MM-DD of a real calendar day from year 1000 (parseDate's answer for these). */
function isIsoDate(s: string): boolean {
  if (s.length !== 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  const y = digit(s, 0) * 1000 + digit(s, 1) * 100 + digit(s, 2) * 10 + digit(s, 3);
  const m = digit(s, 5) * 10 + digit(s, 6);
  const d = digit(s, 8) * 10 + digit(s, 9);
  if (y < 1000 || m < 1 || m > 12 || d < 1) return false;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= DAYS_IN_MONTH[m - 1]! + (leap ? 1 : 0);
}

/** parseMoney's cents for "12", "12.5" or "12.50" (1–13 digits, no sign); -1 for anything else. */
function amountCents(s: string): number {
  const dot = s.indexOf('.');
  const whole = dot < 0 ? s.length : dot;
  if (whole < 1 || whole > 13) return -1;
  const fraction = dot < 0 ? 0 : s.length - dot - 1;
  if (dot >= 0 && (fraction < 1 || fraction > 2)) return -1;
  let cents = 0;
  for (let i = 0; i < whole; i++) {
    const d = digit(s, i);
    if (d < 0) return -1;
    cents = cents * 10 + d;
  }
  cents *= 100;
  if (fraction >= 1) {
    const tens = digit(s, dot + 1);
    const ones = fraction === 2 ? digit(s, dot + 2) : 0;
    if (tens < 0 || ones < 0) return -1;
    cents += tens * 10 + ones;
  }
  return cents;
}
