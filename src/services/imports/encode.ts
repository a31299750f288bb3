// The rows nearly every import file is made of, written straight into the staging table's
// COPY text, byte by byte: no cell strings, parsed values, problem lists, tuples, Date objects
// or line strings per row, which cost a million-row file more than PostgreSQL's COPY of the
// same rows. A line of the file (its bytes, as the CSV reader hands them over) or a row's
// cells is encoded only when every cell is of a shape read the same way here as by parseRow
// (import-formats.ts): plain cells (no edge spaces, control characters, backslashes or
// replacement characters), amounts like 12.50, ISO dates and date-times. Any other row is
// refused and goes the general way (parseRow, which names its problems), so what is staged is
// always what parseRow would stage.
import { dateTimeShape, type ColumnSpec, type Header } from '../../domain/import-formats.ts';
import type { LocalDate } from '../../domain/dates.ts';
import type { CopyText } from './copy-text.ts';
import { digestInto, newDigest, writeDigestText, type Digest, type DigestSet } from './digest.ts';
import type { WallClock } from './wall-clock.ts';

export interface RowEncoder {
  /**
   * Writes a line of the file to `out` as a COPY text line (row number first, then the staging
   * columns) and says true; or writes nothing and says false: read the row with parseRow. The
   * line is buf[start, end): valid UTF-8 whose cells are separated by commas; with `quoted`, some
   * cells are in quotes (as fastCsvLines marks such a line), else none is.
   */
  line(buf: Buffer, start: number, end: number, row: number, out: CopyText, quoted?: boolean): boolean;
  /** The same for a row already split into cells (a quoted line, or csv-parse's reading). */
  cells(cells: readonly string[], row: number, out: CopyText): boolean;
  /** Gives the key cell of the row last encoded to `order`. */
  keyInto(order: KeyOrder): void;
  /** Lines said true for whose digest was stored (options.digests): nothing was written for them. */
  readonly skipped: number;
  /** From the next line on, every line is written, stored digest or not. */
  stopSkipping(): void;
}

/**
 * Whether a file's keys so far came in strictly ascending order: while they do, none can repeat.
 * Two orders are followed at once, and either will do: byte order (UTF-8, so code point order),
 * and shorter keys first, then byte order, which is the numeric order of numbers without leading
 * zeros (an ILS's record numbers: 9 before 10). Holds one key, never the file's.
 */
export class KeyOrder {
  ascending = true;
  private bytewise = true;
  private byLength = true;
  private last = Buffer.alloc(256);
  private length = -1;

  /** Takes the next key, src[start, end). */
  next(src: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.length >= 0) {
      const after = greater(src, start, n, this.last, this.length);
      this.bytewise &&= after;
      this.byLength &&= n > this.length || (n === this.length && after);
      if (!this.bytewise && !this.byLength) {
        this.ascending = false;
        return;
      }
    }
    if (this.last.length < n) this.last = Buffer.alloc(2 * n);
    // A key is a few bytes: a loop costs less than Buffer.copy's call into C++, once a row.
    const last = this.last;
    for (let i = 0; i < n; i++) last[i] = src[start + i]!;
    this.length = n;
  }
}

/** Whether a[s, s + n) sorts after b[0, m), byte by byte. */
function greater(a: Buffer, s: number, n: number, b: Buffer, m: number): boolean {
  const common = Math.min(n, m);
  for (let i = 0; i < common; i++) {
    const d = a[s + i]! - b[i]!;
    if (d !== 0) return d > 0;
  }
  return n > m;
}

export interface EncoderOptions {
  /** The staging table's columns after row_no, by the import column each comes from. */
  stageColumns: readonly string[];
  /** The import column whose value names a row's zone for its wall-clock date-times (charges: library). */
  zoneColumn?: string;
  /** Zones by that column's value; a value not here leaves the row to the general way. */
  zones?: ReadonlyMap<string, string>;
  /** Every row must have a zone (charges: an unknown library is a problem the general way names). */
  zoneRequired?: boolean;
  /** The column keyInto gives. */
  keyColumn: string;
  wallClock: WallClock;
  /** Each line begins with the row number (a staging table's row_no); false for a table of the kind's own columns. */
  rowNumbers?: boolean;
  /**
   * A date-time column whose calendar date in the row's zone ends each line (charges copied
   * straight into their table: assessed_on, as assessedOnSql derives it from assessed_at).
   */
  localDateOf?: string;
  /**
   * Each line ends with its digest (the line_digest column; see digest.ts), salted with `salt`.
   * A line whose digest is in `stored` is the row as the table holds it: it is said true for,
   * written nowhere, and counted in skipped.
   */
  digests?: { salt: Digest; stored?: DigestSet };
}

/** Buffer's own decoder, which toString calls after checking its arguments (once a row for a date-time: it counts). */
interface FastSlices {
  latin1Slice(start: number, end: number): string;
}

const MAX_TEXT = 1000;
const MAX_KEY = 100;

export function rowEncoder(header: Header, options: EncoderOptions): RowEncoder {
  const at = new Map<string, number>();
  header.columns.forEach((c, i) => c && at.set(c.name, i));
  const column = (name: string) => at.get(name) ?? -1;
  // Each staging column as numbers, read per cell without a property lookup or string compare.
  const specs = options.stageColumns.map((name) => header.columns[column(name)] ?? null);
  const n = specs.length;
  const index = Int32Array.from(options.stageColumns, (name) => column(name));
  const form = Uint8Array.from(specs, (spec) => (spec === null ? NONE : FORMS[spec.form] ?? OTHER));
  const required = Uint8Array.from(specs, (spec) => (spec?.required ? 1 : 0));
  /** A blank cell is null (\N), not empty text. */
  const blankNull = Uint8Array.from(specs, (spec) => (spec === null || spec.blank === null ? 1 : 0));
  const allowed = specs.map((spec) => (spec?.allowed ?? []).map((a) => Buffer.from(a, 'utf8')));
  /** Cells under a blank header must be blank. */
  const unheaded = header.columns.flatMap((c, i) => (c ? [] : [i]));
  const width = header.columns.length;
  const keyAt = column(options.keyColumn);
  const zoneAt = options.zoneColumn === undefined ? -1 : column(options.zoneColumn);
  const rowNumbers = options.rowNumbers ?? true;
  const localDateAt = options.localDateOf === undefined ? -1 : column(options.localDateOf);
  const digesting = options.digests !== undefined;
  const salt = options.digests?.salt ?? null;
  let stored = options.digests?.stored;
  const digest = newDigest();
  let skipped = 0;
  if (options.localDateOf !== undefined && localDateAt < 0) throw new Error(`no column ${options.localDateOf} to take a local date of`);
  const wantsZone = options.zoneRequired || specs.some((spec) => spec?.form === 'dateTime');
  const zoneRequired = options.zoneRequired ?? false;
  const zones: Zone[] = [...(options.zones ?? new Map<string, string>())].map(([value, zone]) => ({ bytes: Buffer.from(value, 'utf8'), zone, years: new Map(), year: -1, days: [] }));
  let lastZone = 0;
  let yearsMet = 0;
  /** The offset of the day of the date-time src[s, s + 19), as ±HH:MM; null on a day the zone's clocks change. */
  const offsetText: OffsetText = (src, s, zone) => {
    // dateTimeShapeOf has read the digits: a year from 100 to 9999, a month and a day of it.
    const year = (src[s]! - 48) * 1000 + (src[s + 1]! - 48) * 100 + (src[s + 2]! - 48) * 10 + (src[s + 3]! - 48);
    const day = ((src[s + 5]! - 48) * 10 + (src[s + 6]! - 48) - 1) * 31 + (src[s + 8]! - 48) * 10 + (src[s + 9]! - 48) - 1;
    if (year !== zone.year) {
      let days = zone.years.get(year);
      if (days === undefined) {
        // Some 6 MB of years at most (a file of any years, any libraries): past them, start again.
        if (++yearsMet > 2000) {
          for (const z of zones) z.years.clear();
          yearsMet = 1;
        }
        days = new Array<string | null | undefined>(12 * 31);
        zone.years.set(year, days);
      }
      zone.year = year;
      zone.days = days;
    }
    const days = zone.days;
    let text = days[day];
    if (text === undefined) {
      const date = (src as unknown as FastSlices).latin1Slice(s, s + 10) as LocalDate;
      text = days[day] = minutesOffset(options.wallClock.steadyOffset(date, zone.zone));
    }
    return text;
  };
  /** The zone named by buf[s, e), matched byte for byte; undefined for none. */
  const zoneOf = (buf: Buffer, s: number, e: number): Zone | undefined => {
    for (let k = 0; k < zones.length; k++) {
      const z = zones[(lastZone + k) % zones.length]!;
      if (sameBytes(buf, s, e, z.bytes)) {
        lastZone = (lastZone + k) % zones.length;
        return z;
      }
    }
    return undefined;
  };

  // The cells of the row being encoded: spans of `src` (the line, or `scratch` for split cells).
  const starts = new Int32Array(width);
  const ends = new Int32Array(width);
  let src: Buffer = Buffer.alloc(0);
  let scratch = Buffer.alloc(4096);

  /** Encodes the row whose `count` cells are spans of src; nothing is written when it says false. */
  const encode = (count: number, row: number, out: CopyText): boolean => {
    for (const i of unheaded) if (i < count && ends[i]! > starts[i]!) return false;
    let zone: Zone | undefined;
    if (wantsZone && zoneAt >= 0) {
      zone = zoneAt < count ? zoneOf(src, starts[zoneAt]!, ends[zoneAt]!) : undefined;
      if (zone === undefined && zoneRequired) return false;
    } else if (zoneRequired) return false;
    // Room for the longest line these cells can make: their bytes, and the extras.
    let most = (localDateAt >= 0 ? 27 : 16) + (digesting ? 36 : 0);
    for (let c = 0; c < n; c++) {
      const i = index[c]!;
      most += i < 0 || i >= count ? 3 : ends[i]! - starts[i]! + 8;
    }
    out.reserve(most);
    const buf = out.chunk;
    let to = rowNumbers ? writeNumber(buf, out.at, row) : out.at;
    /** Where the row's own text begins: its digest leaves out the row number. */
    const first = rowNumbers ? to + 1 : to;
    for (let c = 0; c < n; c++) {
      if (rowNumbers || c > 0) buf[to++] = TAB;
      const i = index[c]!;
      const s = i < 0 || i >= count ? 0 : starts[i]!;
      const e = i < 0 || i >= count ? 0 : ends[i]!;
      if (s === e) {
        if (required[c]) return false;
        if (blankNull[c]) {
          buf[to++] = BACKSLASH;
          buf[to++] = LETTER_N;
        }
        continue;
      }
      to = writeCell(form[c]!, allowed[c]!, src, s, e, zone, offsetText, buf, to);
      if (to < 0) return false;
    }
    if (localDateAt >= 0) {
      // The cell was written above, so it is of a date-time shape and the row has its zone.
      const s = localDateAt < count ? starts[localDateAt]! : 0;
      const e = localDateAt < count ? ends[localDateAt]! : 0;
      buf[to++] = TAB;
      if (e - s === 19) to = copy(src, s, s + 10, buf, to); // a wall-clock time: its own date
      else {
        const date = e > s && zone !== undefined ? localDate((src as unknown as FastSlices).latin1Slice(s, e), zone.zone, options.wallClock) : null;
        if (date === null) return false;
        for (let i = 0; i < 10; i++) buf[to++] = date.charCodeAt(i);
      }
    }
    if (digesting) {
      digestInto(buf, first, to, salt, digest);
      if (stored?.take(digest)) {
        skipped++;
        return true;
      }
      buf[to++] = TAB;
      to = writeDigestText(digest, buf, to);
    }
    buf[to++] = LINE_BREAK;
    out.at = to;
    out.lines++;
    return true;
  };

  return {
    line(buf, start, end, row, out, quoted = false) {
      src = buf;
      let count = 0;
      let s = start;
      for (;;) {
        // A cell is a few bytes: a loop costs less than indexOf, which would search past the line.
        let comma = s;
        let from = s;
        let to: number;
        if (quoted && s < end && buf[s] === QUOTE) {
          // A quoted cell is the bytes between its quotes; one holding a quote ("") goes the general way.
          from = s + 1;
          to = from;
          while (to < end && buf[to] !== QUOTE) to++;
          comma = to + 1;
          if (to === end || (comma < end && buf[comma] !== COMMA)) return false;
        } else {
          while (comma < end && buf[comma] !== COMMA) {
            if (quoted && buf[comma] === QUOTE) return false; // in an unquoted cell: csv-parse's call
            comma++;
          }
          to = comma;
        }
        if (count < width) {
          starts[count] = from;
          ends[count] = to;
        } else if (to > from) return false; // cells past the header's must be blank
        count++;
        if (comma === end) break;
        s = comma + 1;
      }
      return encode(Math.min(count, width), row, out);
    },
    cells(cells, row, out) {
      for (let i = width; i < cells.length; i++) if (cells[i] !== '') return false;
      const count = Math.min(cells.length, width);
      let bytes = 0;
      for (let i = 0; i < count; i++) bytes += cells[i]!.length * 3;
      if (scratch.length < bytes) scratch = Buffer.alloc(Math.max(bytes, 2 * scratch.length));
      let to = 0;
      for (let i = 0; i < count; i++) {
        starts[i] = to;
        to += scratch.write(cells[i]!, to);
        ends[i] = to;
      }
      src = scratch;
      return encode(count, row, out);
    },
    keyInto(order) {
      order.next(src, starts[keyAt]!, ends[keyAt]!);
    },
    get skipped() {
      return skipped;
    },
    stopSkipping() {
      stored = undefined;
    },
  };
}

/** A zone the rows name (by a library's code), with the offsets of the days met so far. */
interface Zone {
  bytes: Buffer;
  zone: string;
  /**
   * Offsets of the days met so far, as ±HH:MM (null on a day the clocks change), by year and then
   * by (month − 1) × 31 + day − 1: no key made per row. (A sparse array of years would be a
   * dictionary underneath, slower than the map.)
   */
  years: Map<number, (string | null | undefined)[]>;
  /** The year last looked up, and its days: the next row's is usually the same. */
  year: number;
  days: (string | null | undefined)[];
}

type OffsetText = (src: Buffer, s: number, zone: Zone) => string | null;

// The forms of cell writeCell knows; OTHER is always read the general way, NONE is a column the file lacks.
const [NONE, KEY, TEXT, ONE_OF, DATE, AMOUNT, DATE_TIME, OTHER] = [0, 1, 2, 3, 4, 5, 6, 7];
const FORMS: Partial<Record<ColumnSpec['form'], number>> = { key: KEY, ptype: KEY, text: TEXT, oneOf: ONE_OF, date: DATE, amount: AMOUNT, dateTime: DATE_TIME };

const TAB = 9;
const LINE_BREAK = 10;
const COMMA = 44;
const QUOTE = 34;
const BACKSLASH = 92;
const LETTER_N = 78;

/**
 * Writes the non-blank cell src[s, e) as its staged value at `at`; returns where it ends, or -1
 * when parseRow must read the row.
 */
function writeCell(
  form: number,
  allowed: readonly Buffer[],
  src: Buffer,
  s: number,
  e: number,
  zone: Zone | undefined,
  offsetText: OffsetText,
  buf: Buffer,
  at: number,
): number {
  switch (form) {
    case KEY:
      // Plain, a key or ptype is neither blank, nor edged with spaces, nor holding control characters.
      // (Lengths are counted in bytes, never fewer than parseRow's characters.)
      return e - s <= MAX_KEY ? writePlain(src, s, e, buf, at) : -1;
    case TEXT:
      return e - s <= MAX_TEXT ? writePlain(src, s, e, buf, at) : -1;
    case ONE_OF:
      for (const a of allowed) if (sameBytes(src, s, e, a)) return copy(src, s, e, buf, at);
      return -1;
    case DATE:
      return isIsoDate(src, s, e) ? copy(src, s, e, buf, at) : -1;
    case AMOUNT: {
      const cents = amountCents(src, s, e);
      return cents > 0 ? writeNumber(buf, at, cents) : -1;
    }
    case DATE_TIME: {
      const shape = dateTimeShapeOf(src, s, e);
      if (shape === INSTANT) return copy(src, s, e, buf, at);
      if (shape !== LOCAL || zone === undefined) return -1;
      const offset = offsetText(src, s, zone);
      if (offset === null) return -1;
      at = copy(src, s, e, buf, at);
      for (let i = 0; i < offset.length; i++) buf[at + i] = offset.charCodeAt(i);
      return at + offset.length;
    }
    default:
      return -1;
  }
}

/**
 * The calendar date in `zone` of a date-time of dateTimeShape's shapes, as PostgreSQL's
 * `(t at time zone zone)::date` gives it: a wall-clock time's own date (writeCell wrote it with
 * its zone's offset), an instant's date where the zone's offset holds all that day; null on a
 * day the zone's clocks change (the general way works it out).
 */
function localDate(t: string, zone: string, wallClock: WallClock): string | null {
  const shape = dateTimeShape(t);
  if (shape === 'local') return t.slice(0, 10);
  if (shape !== 'instant') return null;
  const own = t.length === 20 ? 0 : (t.charCodeAt(19) === 45 ? -1 : 1) * (Number(t.slice(20, 22)) * 60 + Number(t.slice(23, 25)));
  const utc = Date.UTC(Number(t.slice(0, 4)), Number(t.slice(5, 7)) - 1, Number(t.slice(8, 10)), Number(t.slice(11, 13)), Number(t.slice(14, 16)), Number(t.slice(17, 19))) - own * 60_000;
  // The zone's offset on the text's own date first: the date in the zone is then that day or the one beside it.
  const guess = wallClock.steadyOffset(t.slice(0, 10) as LocalDate, zone);
  if (guess === null) return null;
  const date = new Date(utc + guess).toISOString().slice(0, 10);
  return wallClock.steadyOffset(date as LocalDate, zone) === guess ? date : null;
}

function sameBytes(src: Buffer, s: number, e: number, bytes: Buffer): boolean {
  if (e - s !== bytes.length) return false;
  for (let i = 0; i < bytes.length; i++) if (src[s + i] !== bytes[i]) return false;
  return true;
}

/** src[s, e) byte for byte. */
function copy(src: Buffer, s: number, e: number, buf: Buffer, at: number): number {
  for (let i = s; i < e; i++) buf[at++] = src[i]!;
  return at;
}

/** A whole number's decimal digits. */
function writeNumber(buf: Buffer, at: number, n: number): number {
  let digits = 1;
  for (let k = n; k >= 10; k = Math.floor(k / 10)) digits++;
  for (let i = at + digits - 1, k = n; i >= at; i--, k = Math.floor(k / 10)) buf[i] = 48 + (k % 10);
  return at + digits;
}

/**
 * A cell (valid UTF-8) trim() leaves as it is, holding nothing COPY text escapes (tab, line
 * breaks, backslash) and no control, delete or replacement character (parseRow's problems,
 * or its call), copied as it is; -1 for any other.
 */
function writePlain(src: Buffer, s: number, e: number, buf: Buffer, at: number): number {
  if (!edge(codePointAt(src, s))) return -1;
  let last = e - 1;
  while (last > s && (src[last]! & 0xc0) === 0x80) last--;
  if (!edge(codePointAt(src, last))) return -1;
  for (let i = s; i < e; i++) {
    const c = src[i]!;
    if (c < 128) {
      if (c < 32 || c === BACKSLASH || c === 127) return -1;
    } else if (c === 0xef && src[i + 1] === 0xbf && src[i + 2] === 0xbd) return -1; // U+FFFD
    buf[at++] = c;
  }
  return at;
}

/** The code point whose UTF-8 starts at src[i] (valid UTF-8). */
function codePointAt(src: Buffer, i: number): number {
  const c = src[i]!;
  if (c < 0x80) return c;
  if (c < 0xe0) return ((c & 0x1f) << 6) | (src[i + 1]! & 0x3f);
  if (c < 0xf0) return ((c & 0x0f) << 12) | ((src[i + 1]! & 0x3f) << 6) | (src[i + 2]! & 0x3f);
  return 0x10000; // beyond the basic plane: no space or control character
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

/** The digit at src[i], or a large negative number for any other byte. */
function digit(src: Buffer, i: number): number {
  const d = src[i]! - 48;
  return d >= 0 && d <= 9 ? d : -100_000;
}

/** dateTimeShape's shapes as numbers. */
export const [OTHER_SHAPE, LOCAL, INSTANT] = [0, 1, 2];

/**
 * dateTimeShape (import-formats.ts) of the text src[s, e), read from its bytes, so no string is
 * made per row: a byte past ASCII reads as no digit or separator there as here.
 */
export function dateTimeShapeOf(src: Buffer, s: number, e: number): number {
  const n = e - s;
  if (n !== 19 && n !== 20 && n !== 25) return OTHER_SHAPE;
  const sep = src[s + 10];
  if (src[s + 4] !== 45 || src[s + 7] !== 45 || (sep !== 84 && sep !== 32) || src[s + 13] !== 58 || src[s + 16] !== 58) return OTHER_SHAPE;
  const y1 = twoDigits(src, s);
  const y2 = twoDigits(src, s + 2);
  const mo = twoDigits(src, s + 5);
  const d = twoDigits(src, s + 8);
  const h = twoDigits(src, s + 11);
  const mi = twoDigits(src, s + 14);
  const sec = twoDigits(src, s + 17);
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || mi < 0 || sec < 0) return OTHER_SHAPE;
  const y = y1 * 100 + y2;
  if (y < 100) return OTHER_SHAPE;
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  if (d > DAYS_IN_MONTH[mo - 1]! + (leap ? 1 : 0) || h > 23 || mi > 59 || sec > 59) return OTHER_SHAPE;
  if (n === 19) return LOCAL;
  if (n === 20) return src[s + 19] === 90 ? INSTANT : OTHER_SHAPE;
  const sign = src[s + 19];
  const oh = twoDigits(src, s + 20);
  const om = twoDigits(src, s + 23);
  if ((sign !== 43 && sign !== 45) || src[s + 22] !== 58 || oh < 0 || oh > 14 || om < 0 || om > 59) return OTHER_SHAPE;
  return INSTANT;
}

/** The two ASCII digits at src[i] as a number, or -1 (digit's large negative for a byte that is none). */
function twoDigits(src: Buffer, i: number): number {
  const n = digit(src, i) * 10 + digit(src, i + 1);
  return n < 0 ? -1 : n;
}

/** YYYY-MM-DD of a real calendar day from year 1000 (parseDate's answer for these). */
function isIsoDate(src: Buffer, s: number, e: number): boolean {
  if (e - s !== 10 || src[s + 4] !== 45 || src[s + 7] !== 45) return false;
  const y = digit(src, s) * 1000 + digit(src, s + 1) * 100 + digit(src, s + 2) * 10 + digit(src, s + 3);
  const m = digit(src, s + 5) * 10 + digit(src, s + 6);
  const d = digit(src, s + 8) * 10 + digit(src, s + 9);
  if (y < 1000 || m < 1 || m > 12 || d < 1) return false;
  const leap = m === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  return d <= DAYS_IN_MONTH[m - 1]! + (leap ? 1 : 0);
}

/** parseMoney's cents for "12", "12.5" or "12.50" (1–13 digits, no sign); -1 for anything else. */
function amountCents(src: Buffer, s: number, e: number): number {
  let dot = s;
  while (dot < e && src[dot] !== 46) dot++;
  if (dot === e) dot = -1;
  const whole = (dot < 0 ? e : dot) - s;
  if (whole < 1 || whole > 13) return -1;
  const fraction = dot < 0 ? 0 : e - dot - 1;
  if (dot >= 0 && (fraction < 1 || fraction > 2)) return -1;
  let cents = 0;
  for (let i = 0; i < whole; i++) {
    const d = digit(src, s + i);
    if (d < 0) return -1;
    cents = cents * 10 + d;
  }
  cents *= 100;
  if (fraction >= 1) {
    const tens = digit(src, dot + 1);
    const ones = fraction === 2 ? digit(src, dot + 2) : 0;
    if (tens < 0 || ones < 0) return -1;
    cents += tens * 10 + ones;
  }
  return cents;
}
