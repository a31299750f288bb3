// The import file formats of DESIGN.md ("Interfaces that scripts rely on"): which columns
// each kind has, which are required, and how one cell's text becomes a typed value.
// Pure: reading files, time zones of libraries and references live in services/imports.
import { instantAt, parseDate, parseDateTime, isTimeZone, type LocalDate } from './dates.ts';
import { parseMoney } from './money.ts';
import type { Problem } from './errors.ts';
import { ptypeTextProblem } from './ptype.ts';

export const IMPORT_KINDS = ['libraries', 'patrons', 'items', 'charges', 'payments'] as const;
export type ImportKind = (typeof IMPORT_KINDS)[number];

export const ITEM_STATUSES = ['available', 'checked_out', 'lost', 'missing', 'withdrawn', 'claims_returned'] as const;
export const CHARGE_REASONS = ['overdue', 'replacement', 'processing', 'manual', 'damage', 'agency_fee'] as const;
export const PAYMENT_TYPES = ['payment', 'waive', 'writeoff'] as const;

export function isImportKind(s: string): s is ImportKind {
  return (IMPORT_KINDS as readonly string[]).includes(s);
}

/** A wall-clock date-time with no offset: it means local time in some library's zone. */
export interface LocalDateTime {
  date: LocalDate;
  hour: number;
  minute: number;
  second: number;
}

export type DateTimeValue = { instant: Date } | { local: LocalDateTime };

export type CellValue = string | number | null | DateTimeValue;

type Parsed = { value: CellValue } | { reason: string };

/** What a column holds, which says how its cells are read (and lets an importer read common cells faster). */
export type CellForm = 'key' | 'text' | 'date' | 'dateTime' | 'amount' | 'ptype' | 'timeZone' | 'oneOf';

export interface ColumnSpec {
  name: string;
  /** The header must be present and every row must have a value. */
  required: boolean;
  form: CellForm;
  /** The values a 'oneOf' column allows. */
  allowed?: readonly string[];
  /** Parses a non-blank, trimmed cell. */
  parse: (text: string) => Parsed;
  /** What a blank cell of an optional column means. */
  blank: '' | null;
}

const MAX_TEXT = 1000;
/** Ids and codes are index keys, which PostgreSQL caps at a few kilobytes. */
const MAX_KEY = 100;

/** A cell quoted in a problem: long enough to find it, never the whole of a huge cell. */
function quoted(t: string): string {
  return JSON.stringify(t.length > 60 ? `${t.slice(0, 60)}…` : t);
}

function text(t: string): Parsed {
  return t.length > MAX_TEXT ? { reason: `longer than ${MAX_TEXT} characters` } : { value: t };
}

function key(t: string): Parsed {
  return t.length > MAX_KEY ? { reason: `longer than ${MAX_KEY} characters` } : { value: t };
}

function date(t: string): Parsed {
  const d = parseDate(t);
  return d ? { value: d } : { reason: `not a date (YYYY-MM-DD): ${quoted(t)}` };
}

function dateTime(t: string): Parsed {
  const v = parseImportDateTime(t);
  return v ? { value: v } : { reason: `not an ISO 8601 date-time: ${quoted(t)}` };
}

/** Positive decimal currency; "negative amount" is the reason scripts see for a minus sign. */
function amount(t: string): Parsed {
  const c = parseMoney(t);
  if (c === null) return { reason: `not an amount (like 12.50): ${quoted(t)}` };
  if (c < 0 || /^-/.test(t)) return { reason: `negative amount ${quoted(t)}` };
  if (c === 0) return { reason: `amount must be more than 0.00: ${quoted(t)}` };
  return { value: c };
}

/** The ILS's patron category as text; a number is its digits ("3"), compared exactly. */
function ptype(t: string): Parsed {
  const problem = ptypeTextProblem(t);
  return problem === null ? { value: t } : { reason: `a patron type ${problem}` };
}

function oneOf(what: string, allowed: readonly string[]): (t: string) => Parsed {
  return (t) => (allowed.includes(t) ? { value: t } : { reason: `unknown ${what} ${quoted(t)}; expected one of ${allowed.join(', ')}` });
}

function timeZone(t: string): Parsed {
  return isTimeZone(t) ? { value: t } : { reason: `unknown time zone ${quoted(t)}` };
}

const READERS = { key, text, date, dateTime, amount, ptype, timeZone };
type Form = keyof typeof READERS | { oneOf: string; allowed: readonly string[] };

function spec(name: string, required: boolean, form: Form, blank: '' | null): ColumnSpec {
  if (typeof form === 'string') return { name, required, form, parse: READERS[form], blank };
  return { name, required, form: 'oneOf', allowed: form.allowed, parse: oneOf(form.oneOf, form.allowed), blank };
}
const req = (name: string, form: Form = 'text'): ColumnSpec => spec(name, true, form, null);
const opt = (name: string, form: Form = 'text', blank: '' | null = ''): ColumnSpec => spec(name, false, form, blank);

export const COLUMNS: Record<ImportKind, readonly ColumnSpec[]> = {
  libraries: [req('code', 'key'), req('name'), req('time_zone', 'timeZone')],
  patrons: [
    req('id', 'key'),
    opt('barcode'),
    opt('first_name'),
    opt('last_name'),
    opt('address'),
    opt('address2'),
    opt('city'),
    opt('state'),
    opt('postal_code'),
    opt('phone'),
    opt('mobile'),
    opt('alt_phone_1'),
    opt('alt_phone_2'),
    opt('email'),
    opt('birth_date', 'date', null),
    req('home_library', 'key'),
    req('ptype', 'ptype'),
    opt('patron_code'),
    opt('adult_or_child'),
  ],
  items: [req('id', 'key'), opt('barcode'), opt('title'), req('status', { oneOf: 'status', allowed: ITEM_STATUSES }), opt('patron_id', 'key', null), opt('due_date', 'date', null)],
  charges: [
    req('id', 'key'),
    req('patron_id', 'key'),
    opt('item_id', 'key', null),
    req('library', 'key'),
    req('reason', { oneOf: 'reason', allowed: CHARGE_REASONS }),
    req('amount', 'amount'),
    req('assessed_at', 'dateTime'),
  ],
  payments: [
    req('id', 'key'),
    req('patron_id', 'key'),
    opt('charge_id', 'key', null),
    req('type', { oneOf: 'type', allowed: PAYMENT_TYPES }),
    opt('method'),
    req('amount', 'amount'),
    req('paid_at', 'dateTime'),
  ],
};

type Where = Pick<Problem, 'row' | 'column' | 'reason'>;

export interface Header {
  /** The column each cell position belongs to; null for a blank header cell. */
  columns: (ColumnSpec | null)[];
  /** Names present, so a re-import updates only the columns the file carries. */
  present: Set<string>;
}

/** Checks the header row: every required column present, no unknown or repeated names. */
export function readHeader(kind: ImportKind, cells: readonly string[]): { header: Header; problems: Where[] } {
  const specs = COLUMNS[kind];
  const problems: Where[] = [];
  const columns: (ColumnSpec | null)[] = [];
  const present = new Set<string>();
  for (const raw of cells) {
    const name = raw.trim();
    if (name === '') {
      columns.push(null);
      continue;
    }
    const spec = specs.find((s) => s.name === name);
    if (!spec) {
      problems.push({ row: 1, column: name.length > 60 ? `${name.slice(0, 60)}…` : name, reason: `unknown column; ${kind} files have ${specs.map((s) => s.name).join(', ')}` });
      columns.push(null);
    } else if (present.has(name)) {
      problems.push({ row: 1, column: name, reason: 'column appears twice' });
      columns.push(null);
    } else {
      present.add(name);
      columns.push(spec);
    }
  }
  for (const s of specs) if (s.required && !present.has(s.name)) problems.push({ row: 1, column: s.name, reason: 'required column is missing' });
  return { header: { columns, present }, problems };
}

export type ParsedRow = Record<string, CellValue>;

/**
 * One data row: every cell of a known column parsed, every problem collected.
 * Returns null for a row whose cells are all blank (a spreadsheet's empty row).
 */
export function parseRow(header: Header, cells: readonly string[], row: number): { values: ParsedRow; problems: Where[] } | null {
  if (cells.every((c) => c.trim() === '')) return null;
  const values: ParsedRow = {};
  const problems: Where[] = [];
  const width = Math.max(cells.length, header.columns.length);
  for (let i = 0; i < width; i++) {
    const spec = header.columns[i];
    const t = (cells[i] ?? '').trim();
    if (!spec) {
      if (t !== '') problems.push({ row, column: `#${i + 1}`, reason: `value ${quoted(t)} is in a column with no header` });
      continue;
    }
    if (t.includes('\u0000')) {
      problems.push({ row, column: spec.name, reason: 'contains a NUL character' });
      continue;
    }
    // What a UTF-8 decoder makes of bytes in another encoding (Latin-1, Windows-1252).
    if (t.includes('\uFFFD')) {
      problems.push({ row, column: spec.name, reason: 'contains bytes that are not UTF-8 text; save the file as "CSV UTF-8"' });
      continue;
    }
    if (t === '') {
      if (spec.required) problems.push({ row, column: spec.name, reason: 'a value is required' });
      else values[spec.name] = spec.blank;
      continue;
    }
    const p = spec.parse(t);
    if ('reason' in p) problems.push({ row, column: spec.name, reason: p.reason });
    else values[spec.name] = p.value;
  }
  return { values, problems };
}

const LOCAL = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,6})?)?)?$/;

/**
 * An import date-time as parseDateTime reads it (src/domain/dates.ts), but without
 * choosing a zone yet: a value with no offset stays wall-clock time until the row's
 * library is known.
 */
export function parseImportDateTime(t: string): DateTimeValue | null {
  const fast = commonDateTime(t);
  if (fast !== undefined) return fast;
  const m = LOCAL.exec(t.trim());
  if (!m) {
    // With an offset the zone is irrelevant; anything else parseDateTime rejects.
    const instant = parseDateTime(t, 'UTC');
    return instant ? { instant } : null;
  }
  const d = parseDate(m[1]!);
  const [hour, minute, second] = [Number(m[2] ?? 0), Number(m[3] ?? 0), Number(m[4] ?? 0)];
  if (!d || hour > 23 || minute > 59 || second > 59) return null;
  return { local: { date: d, hour, minute, second } };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** The number of the two ASCII digits at `i`, or -1. */
function twoDigits(t: string, i: number): number {
  const a = t.charCodeAt(i) - 48;
  const b = t.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/** The shape commonDateTime reads a text as: not one of its shapes, a wall-clock time, or one with its offset ("Z" or ±HH:MM). */
export type DateTimeShape = 'other' | 'local' | 'instant';

/**
 * The shapes nearly every export writes, told apart without regular expressions or objects
 * (a million-row file spends seconds in them otherwise): "YYYY-MM-DDTHH:MM:SS" (or a space
 * for the T), alone, with "Z" or with a "±HH:MM" offset, each field in range. Other means the
 * general reading decides, which gives the same answer for these shapes (a test compares).
 */
export function dateTimeShape(t: string): DateTimeShape {
  const n = t.length;
  if (n !== 19 && n !== 20 && n !== 25) return 'other';
  const sep = t.charCodeAt(10);
  if (t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || (sep !== 84 && sep !== 32) || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58) return 'other';
  const [y1, y2, mo, d, h, mi, s] = [twoDigits(t, 0), twoDigits(t, 2), twoDigits(t, 5), twoDigits(t, 8), twoDigits(t, 11), twoDigits(t, 14), twoDigits(t, 17)];
  if (y1 < 0 || y2 < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || mi < 0 || s < 0) return 'other';
  const y = y1 * 100 + y2;
  // Date.UTC reads years 0–99 as 1900–1999, so parseDate refuses them; so does the general reading.
  if (y < 100) return 'other';
  const leap = mo === 2 && y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
  // Out-of-range values are refused by the general reading, with the same answer.
  if (d > DAYS_IN_MONTH[mo - 1]! + (leap ? 1 : 0) || h > 23 || mi > 59 || s > 59) return 'other';
  if (n === 19) return 'local';
  if (n === 20) return t.charCodeAt(19) === 90 ? 'instant' : 'other';
  const sign = t.charCodeAt(19);
  const [oh, om] = [twoDigits(t, 20), twoDigits(t, 23)];
  if ((sign !== 43 && sign !== 45) || t.charCodeAt(22) !== 58 || oh < 0 || oh > 14 || om < 0 || om > 59) return 'other';
  return 'instant';
}

/** A date-time of one of dateTimeShape's shapes, read; undefined for any other text. */
function commonDateTime(t: string): DateTimeValue | undefined {
  const shape = dateTimeShape(t);
  if (shape === 'other') return undefined;
  const [y, mo, d, h, mi, s] = [twoDigits(t, 0) * 100 + twoDigits(t, 2), twoDigits(t, 5), twoDigits(t, 8), twoDigits(t, 11), twoDigits(t, 14), twoDigits(t, 17)];
  if (shape === 'local') return { local: { date: t.slice(0, 10) as LocalDate, hour: h, minute: mi, second: s } };
  const offset = t.length === 20 ? 0 : (t.charCodeAt(19) === 45 ? -1 : 1) * (twoDigits(t, 20) * 60 + twoDigits(t, 23));
  return { instant: new Date(Date.UTC(y, mo - 1, d, h, mi, s) - offset * 60_000) };
}

/**
 * Resolves wall-clock date-times to instants like parseDateTime does, remembering per
 * zone when each local hour starts: instantAt costs several Intl calls, and a
 * million-row file has only a few thousand distinct hours. Exact wherever offsets change
 * on the hour, which is every zone a library is likely to be in.
 */
export function wallClockResolver(): (local: LocalDateTime, timeZone: string) => Date {
  const hourStarts = new Map<string, number>();
  return (l, timeZone) => {
    const key = `${timeZone}|${l.date}|${l.hour}`;
    let start = hourStarts.get(key);
    if (start === undefined) {
      if (hourStarts.size > 200_000) hourStarts.clear();
      start = instantAt(l.date, timeZone, l.hour).getTime();
      hourStarts.set(key, start);
    }
    return new Date(start + (l.minute * 60 + l.second) * 1000);
  };
}

export function isDateTimeValue(v: CellValue): v is DateTimeValue {
  return typeof v === 'object' && v !== null;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}

/**
 * The text of one spreadsheet cell as exceljs reads it. Date cells carry the wall-clock
 * value as if it were UTC, so they turn back into 'YYYY-MM-DD' or a local date-time;
 * numbers lose binary noise at Excel's own 15 significant digits.
 */
export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toPrecision(15))) : String(v);
  if (typeof v === 'boolean') return v ? 'TRUE' : 'FALSE';
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return '';
    const day = `${v.getUTCFullYear()}-${pad(v.getUTCMonth() + 1)}-${pad(v.getUTCDate())}`;
    const [h, m, s] = [v.getUTCHours(), v.getUTCMinutes(), v.getUTCSeconds()];
    return h === 0 && m === 0 && s === 0 ? day : `${day}T${pad(h)}:${pad(m)}:${pad(s)}`;
  }
  if (typeof v === 'object') {
    const o = v as { richText?: { text: string }[]; result?: unknown; text?: unknown; error?: unknown };
    if (Array.isArray(o.richText)) return o.richText.map((r) => r.text).join('');
    if ('result' in o) return cellText(o.result);
    if ('text' in o) return cellText(o.text);
    if ('error' in o) return String(o.error);
  }
  return String(v);
}
