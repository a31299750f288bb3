// The JSON form of the Collection Agency Settings table (DESIGN.md "Settings entries") and
// every limit of seed 002. Problems are collected, never thrown, so a file is reported whole;
// each names its field as `entries[i].key` (0-based, as in the JSON array).
//
// Defaults for omitted keys (null and "" mean the same as omitted — "blank" in Sierra's words):
//   homeLibraries [] (all libraries)        ptypes [] (all PTYPEs)       exemptPatronCodes []
//   countedCharges "all"                    window relative, startDays null, endDays null (all charges)
//   feeAgeDays / minDaysOverdue / autoCancelDays / reviewHours null (not used)
//   requireBill false    resubmitAfterClear false    writeOffOnCancel false
//   removeIfLessThan "0.00" (removed at zero or less)    agencyFee "0.00"
//   baseFilename null (the entry id)        autoNewSubmission false      autoUpdateDays "" (no day)
//   sendEmptyReports true                   email from/to/cc/subject ""
// Required: name, minimumOwed, agency. Amounts are strings ("25.00"), never JSON numbers;
// a PTYPE is a whole number 0..32767 or a text (src/domain/ptype.ts), 1 and "1" being the same;
// autoUpdateDays is kept in its shortest form ("1,2,3,4" becomes "1-4").
import { parseDate, type LocalDate } from './dates.ts';
import type { Problem } from './errors.ts';
import { formatMoney, parseMoney, type Cents } from './money.ts';
import { ptypeJson, readPtype } from './ptype.ts';
import type { AgencyChoice, AgencyStrategyName, SettingsEntry, WindowSpec } from './settings.ts';
import { formatWeekdaySpec, parseWeekdaySpec } from './weekdays.ts';

export type SettingsEntryInput = Omit<SettingsEntry, 'id' | 'position'>;

export type WindowJson =
  | { mode: 'relative'; startDays: number | null; endDays: number | null }
  | { mode: 'absolute'; start: string | null; end: string | null; graceDays: number | null };

/**
 * One entry as `settings import` reads it and `settings list --json` writes it: the engine's
 * entry with money as decimal text, dates as text and the agency as a name or a strategy.
 */
export interface SettingsEntryJson extends Omit<SettingsEntryInput, 'ptypes' | 'window' | 'minimumOwed' | 'removeIfLessThan' | 'agencyFee' | 'agency'> {
  /** Sierra-style numbers as JSON numbers, other patron categories as text: [1, 2, "PT"]. */
  ptypes: (number | string)[];
  window: WindowJson;
  minimumOwed: string;
  removeIfLessThan: string;
  agencyFee: string;
  agency: string | { strategy: AgencyStrategyName; among: string[] };
}

export const LIMITS = {
  entries: 500,
  name: 35,
  homeLibraries: 100,
  /** Sierra: "This setting has a 4-digit maximum" — used for every day and hour count. */
  days: 9999,
  baseFilename: 100,
  /** Sierra: the "From" address must be less than 49 characters. */
  emailFromBelow: 49,
  emailList: 200,
  emailSubject: 200,
} as const;

export const STRATEGIES: readonly AgencyStrategyName[] = ['least_referred_debt', 'round_robin'];

const BASE_FILENAME = /^[A-Za-z0-9._-]+$/;
// Plausible, not RFC 5322: one @, a dot in the domain, nothing that breaks a mail header.
const EMAIL = /^[^\s@,;<>()"']+@[^\s@,;<>()"'.]+(\.[^\s@,;<>()"'.]+)+$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

const ENTRY_KEYS = [
  'name', 'homeLibraries', 'ptypes', 'exemptPatronCodes', 'countedCharges', 'window', 'feeAgeDays',
  'minimumOwed', 'requireBill', 'minDaysOverdue', 'removeIfLessThan', 'agencyFee', 'agency',
  'resubmitAfterClear', 'autoCancelDays', 'writeOffOnCancel', 'baseFilename', 'autoNewSubmission',
  'autoUpdateDays', 'sendEmptyReports', 'reviewHours', 'email',
] as const;
const RELATIVE_KEYS = ['mode', 'startDays', 'endDays'];
const ABSOLUTE_KEYS = ['mode', 'start', 'end', 'graceDays'];
const EMAIL_KEYS = ['from', 'to', 'cc', 'subject'];
const AGENCY_KEYS = ['strategy', 'among'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function blank(v: unknown): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.trim() === '');
}

/** Reads one JSON object's keys, recording a problem per bad value under `path.key`. */
class Reader {
  constructor(
    readonly obj: Record<string, unknown>,
    readonly path: string,
    readonly problems: Problem[],
  ) {}

  field(key: string): string {
    return `${this.path}.${key}`;
  }

  problem(key: string, reason: string): void {
    this.problems.push({ field: this.field(key), reason });
  }

  /** Keys other than `allowed`, each reported by name (with a hint when `misplaced` knows it). */
  rejectUnknown(allowed: readonly string[], misplaced: Record<string, string> = {}): void {
    for (const key of Object.keys(this.obj)) {
      if (!allowed.includes(key)) this.problem(key, misplaced[key] ?? `unknown key "${key}"`);
    }
  }

  text(key: string, fallback = ''): string {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string') {
      this.problem(key, 'must be a string');
      return fallback;
    }
    return v.trim();
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') {
      this.problem(key, 'must be true or false');
      return fallback;
    }
    return v;
  }

  /** A whole number 0..max, or null when blank. */
  count(key: string, max: number = LIMITS.days): number | null {
    const v = this.obj[key];
    if (blank(v)) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
      this.problem(key, `must be a whole number from 0 to ${max}, or null`);
      return null;
    }
    return v;
  }

  /** Decimal money as a string ("25.00"), not negative; `fallback` when blank, a problem when required. */
  money(key: string, fallback: Cents | null): Cents {
    const v = this.obj[key];
    if (blank(v)) {
      if (fallback === null) this.problem(key, 'is required (an amount like "25.00")');
      return fallback ?? (0 as Cents);
    }
    const c = typeof v === 'string' ? parseMoney(v) : null;
    if (c === null) {
      this.problem(key, `must be an amount written as a string like "25.00", not ${JSON.stringify(v)}`);
      return 0 as Cents;
    }
    if (c < 0) this.problem(key, 'must not be negative');
    return c;
  }

  /** An array (blank = empty) of unique values, each checked by `item`. */
  list<T>(key: string, item: (v: unknown) => Checked<T>, max?: number): T[] {
    const v = this.obj[key];
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.problem(key, 'must be an array');
      return [];
    }
    if (max !== undefined && v.length > max) this.problem(key, `at most ${max} values are allowed; this has ${v.length}`);
    const out: T[] = [];
    v.forEach((raw, i) => {
      const c = item(raw);
      const field = `${this.field(key)}[${i}]`;
      if (!c.ok) this.problems.push({ field, reason: c.reason });
      else if (out.includes(c.value)) this.problems.push({ field, reason: `${JSON.stringify(c.value)} is listed twice` });
      else out.push(c.value);
    });
    return out;
  }
}

type Checked<T> = { ok: true; value: T } | { ok: false; reason: string };

function code(v: unknown): Checked<string> {
  if (typeof v !== 'string' || v.trim() === '') return { ok: false, reason: 'must be a non-blank string' };
  if (CONTROL.test(v)) return { ok: false, reason: 'must not contain control characters' };
  return { ok: true, value: v.trim() };
}

/** Why a trimmed entry or agency name is not acceptable, or null. */
export function nameProblem(name: string, max: number): string | null {
  if (name === '') return 'is required';
  if (name.length > max) return `must be at most ${max} characters; this has ${name.length}`;
  if (CONTROL.test(name)) return 'must not contain control characters';
  if (/^\d+$/.test(name)) return 'must not be only digits (it would read as an id)';
  return null;
}

/** A plausible address (not a full RFC 5322 check). */
export function isPlausibleEmail(text: string): boolean {
  return EMAIL.test(text);
}

/** A comma-separated list of plausible addresses; reason or null. Blank is fine. */
export function emailListProblem(text: string, max: number = LIMITS.emailList): string | null {
  if (text.length > max) return `must be at most ${max} characters; this has ${text.length}`;
  if (text === '') return null;
  for (const part of text.split(',')) {
    const address = part.trim();
    if (!isPlausibleEmail(address)) return `"${address}" is not an email address`;
  }
  return null;
}

export function emailFromProblem(text: string): string | null {
  if (text.length >= LIMITS.emailFromBelow) return `must be shorter than ${LIMITS.emailFromBelow} characters; this has ${text.length}`;
  if (text !== '' && !isPlausibleEmail(text)) return `"${text}" is not an email address`;
  return null;
}

export function subjectProblem(text: string): string | null {
  if (text.length > LIMITS.emailSubject) return `must be at most ${LIMITS.emailSubject} characters; this has ${text.length}`;
  if (CONTROL.test(text)) return 'must be one line without control characters';
  return null;
}

function readWindow(r: Reader): WindowSpec {
  const fallback: WindowSpec = { mode: 'relative', startDays: null, endDays: null };
  const v = r.obj.window;
  if (v === undefined || v === null) return fallback;
  if (!isObject(v)) {
    r.problem('window', 'must be an object with "mode": "relative" or "absolute"');
    return fallback;
  }
  const w = new Reader(v, r.field('window'), r.problems);
  if (v.mode === 'relative') {
    w.rejectUnknown(RELATIVE_KEYS, {
      graceDays: 'graceDays is only allowed with the absolute mode',
      start: 'start is only allowed with the absolute mode (relative windows use startDays)',
      end: 'end is only allowed with the absolute mode (relative windows use endDays)',
    });
    const startDays = w.count('startDays');
    const endDays = w.count('endDays');
    if (startDays !== null && endDays !== null && startDays < endDays) {
      w.problem('startDays', `the start (${startDays} days before the report date) must not be later than the end (${endDays} days before); use startDays >= endDays`);
    }
    return { mode: 'relative', startDays, endDays };
  }
  if (v.mode === 'absolute') {
    w.rejectUnknown(ABSOLUTE_KEYS, {
      startDays: 'startDays is only allowed with the relative mode (absolute windows use start)',
      endDays: 'endDays is only allowed with the relative mode (absolute windows use end)',
    });
    const date = (key: string): LocalDate | null => {
      const text = w.text(key);
      if (text === '') return null;
      const d = parseDate(text);
      if (!d) w.problem(key, `must be a calendar date YYYY-MM-DD, not "${text}"`);
      return d;
    };
    const start = date('start');
    const end = date('end');
    if (start !== null && end !== null && start > end) w.problem('start', `${start} is after the end ${end}`);
    return { mode: 'absolute', start, end, graceDays: w.count('graceDays') };
  }
  w.problem('mode', 'must be "relative" or "absolute"');
  return fallback;
}

function readAgency(r: Reader): AgencyChoice {
  const v = r.obj.agency;
  const fallback: AgencyChoice = { kind: 'fixed', agency: '' };
  if (typeof v === 'string' && v.trim() !== '') return { kind: 'fixed', agency: v.trim() };
  if (!isObject(v)) {
    r.problem('agency', 'is required: an agency name, or {"strategy": "least_referred_debt" | "round_robin", "among": [names]}');
    return fallback;
  }
  const a = new Reader(v, r.field('agency'), r.problems);
  a.rejectUnknown(AGENCY_KEYS);
  const strategy = v.strategy;
  if (typeof strategy !== 'string' || !STRATEGIES.includes(strategy as AgencyStrategyName)) {
    a.problem('strategy', `must be one of ${STRATEGIES.map((s) => `"${s}"`).join(', ')}`);
    return fallback;
  }
  return { kind: 'strategy', strategy: strategy as AgencyStrategyName, among: a.list('among', code) };
}

function readEmail(r: Reader): SettingsEntry['email'] {
  const none = { from: '', to: '', cc: '', subject: '' };
  const v = r.obj.email;
  if (v === undefined || v === null) return none;
  if (!isObject(v)) {
    r.problem('email', 'must be an object with optional "from", "to", "cc" and "subject"');
    return none;
  }
  const e = new Reader(v, r.field('email'), r.problems);
  e.rejectUnknown(EMAIL_KEYS);
  const email = { from: e.text('from'), to: e.text('to'), cc: e.text('cc'), subject: e.text('subject') };
  const check = (key: string, reason: string | null) => reason !== null && e.problem(key, reason);
  check('from', emailFromProblem(email.from));
  check('to', emailListProblem(email.to));
  check('cc', emailListProblem(email.cc));
  check('subject', subjectProblem(email.subject));
  return email;
}

/** One entry of the JSON array; `index` is its 0-based place, used in field names. */
export function parseSettingsEntry(json: unknown, index: number): { entry?: SettingsEntryInput; problems: Problem[] } {
  const problems: Problem[] = [];
  const path = `entries[${index}]`;
  if (!isObject(json)) return { problems: [{ field: path, reason: 'must be an object' }] };
  const r = new Reader(json, path, problems);
  r.rejectUnknown(ENTRY_KEYS);

  const name = r.text('name');
  const nameReason = nameProblem(name, LIMITS.name);
  if (nameReason && !problems.some((p) => p.field === r.field('name'))) r.problem('name', nameReason);

  const countedCharges = r.obj.countedCharges;
  if (!blank(countedCharges) && countedCharges !== 'all' && countedCharges !== 'item_fees') {
    r.problem('countedCharges', 'must be "all" or "item_fees"');
  }

  const baseFilename = r.text('baseFilename') || null;
  if (baseFilename !== null) {
    if (baseFilename.length > LIMITS.baseFilename) r.problem('baseFilename', `must be at most ${LIMITS.baseFilename} characters; this has ${baseFilename.length}`);
    else if (!BASE_FILENAME.test(baseFilename)) r.problem('baseFilename', `"${baseFilename}" may contain only letters, digits, ".", "_" and "-"`);
    else if (/^\d+$/.test(baseFilename)) r.problem('baseFilename', 'must not be only digits (a blank base filename already means the entry id)');
  }

  const spec = r.text('autoUpdateDays');
  const days = parseWeekdaySpec(spec);
  if (!days.ok) r.problem('autoUpdateDays', days.reason);

  const entry: SettingsEntryInput = {
    name,
    homeLibraries: r.list('homeLibraries', code, LIMITS.homeLibraries),
    ptypes: r.list('ptypes', readPtype),
    exemptPatronCodes: r.list('exemptPatronCodes', code),
    countedCharges: countedCharges === 'item_fees' ? 'item_fees' : 'all',
    window: readWindow(r),
    feeAgeDays: r.count('feeAgeDays'),
    minimumOwed: r.money('minimumOwed', null),
    requireBill: r.bool('requireBill', false),
    minDaysOverdue: r.count('minDaysOverdue'),
    removeIfLessThan: r.money('removeIfLessThan', 0 as Cents),
    agencyFee: r.money('agencyFee', 0 as Cents),
    agency: readAgency(r),
    resubmitAfterClear: r.bool('resubmitAfterClear', false),
    autoCancelDays: r.count('autoCancelDays'),
    writeOffOnCancel: r.bool('writeOffOnCancel', false),
    baseFilename,
    autoNewSubmission: r.bool('autoNewSubmission', false),
    autoUpdateDays: days.ok ? formatWeekdaySpec(days.days) : '',
    sendEmptyReports: r.bool('sendEmptyReports', true),
    reviewHours: r.count('reviewHours'),
    email: readEmail(r),
  };
  return problems.length ? { problems } : { entry, problems };
}

/** The whole table: every entry, at most 500, names and base filenames unique. */
export function validateSettingsTable(list: unknown): { entries?: SettingsEntryInput[]; problems: Problem[] } {
  if (!Array.isArray(list)) return { problems: [{ field: 'entries', reason: 'must be a JSON array of settings entries' }] };
  const problems: Problem[] = [];
  if (list.length > LIMITS.entries) {
    problems.push({ field: 'entries', reason: `the table can hold at most ${LIMITS.entries} entries; this has ${list.length}` });
  }
  const entries: SettingsEntryInput[] = [];
  const names = new Map<string, number>();
  const bases = new Map<string, number>();
  list.forEach((json, i) => {
    const parsed = parseSettingsEntry(json, i);
    problems.push(...parsed.problems);
    // Uniqueness is checked on the raw values too, so one bad key elsewhere does not hide a clash.
    const raw = isObject(json) ? json : {};
    const name = typeof raw.name === 'string' ? raw.name.trim() : '';
    if (name !== '') {
      const first = names.get(name);
      if (first !== undefined) problems.push({ field: `entries[${i}].name`, reason: `"${name}" is already the name of entries[${first}]` });
      else names.set(name, i);
    }
    const base = typeof raw.baseFilename === 'string' ? raw.baseFilename.trim() : '';
    if (base !== '') {
      const first = bases.get(base);
      if (first !== undefined) problems.push({ field: `entries[${i}].baseFilename`, reason: `"${base}" is already the base filename of entries[${first}]` });
      else bases.set(base, i);
    }
    if (parsed.entry) entries.push(parsed.entry);
  });
  return problems.length ? { problems } : { entries, problems };
}

/** The JSON form of an entry; parseSettingsEntry(toSettingsJson(e)) gives e back. */
export function toSettingsJson(entry: SettingsEntryInput): SettingsEntryJson {
  const w = entry.window;
  return {
    name: entry.name,
    homeLibraries: [...entry.homeLibraries],
    ptypes: entry.ptypes.map(ptypeJson),
    exemptPatronCodes: [...entry.exemptPatronCodes],
    countedCharges: entry.countedCharges,
    window:
      w.mode === 'relative'
        ? { mode: 'relative', startDays: w.startDays, endDays: w.endDays }
        : { mode: 'absolute', start: w.start, end: w.end, graceDays: w.graceDays },
    feeAgeDays: entry.feeAgeDays,
    minimumOwed: formatMoney(entry.minimumOwed),
    requireBill: entry.requireBill,
    minDaysOverdue: entry.minDaysOverdue,
    removeIfLessThan: formatMoney(entry.removeIfLessThan),
    agencyFee: formatMoney(entry.agencyFee),
    agency: entry.agency.kind === 'fixed' ? entry.agency.agency : { strategy: entry.agency.strategy, among: [...entry.agency.among] },
    resubmitAfterClear: entry.resubmitAfterClear,
    autoCancelDays: entry.autoCancelDays,
    writeOffOnCancel: entry.writeOffOnCancel,
    baseFilename: entry.baseFilename,
    autoNewSubmission: entry.autoNewSubmission,
    autoUpdateDays: entry.autoUpdateDays,
    sendEmptyReports: entry.sendEmptyReports,
    reviewHours: entry.reviewHours,
    email: { ...entry.email },
  };
}
