// The agencies' report files as text: one patron (with their outstanding charges) becomes
// one or more lines of cells in the agency's layout. Pure: the service reads the database
// in batches and feeds patrons through here.
//
// Layouts:
//   arrears  tab-delimited, UTF-8, LF line ends, one header line. Column 1 is the record type:
//            a P line per patron, then a C line per outstanding charge. Both share one header:
//            P lines leave the charge columns blank, C lines repeat the patron id and leave
//            the other patron columns blank. Tabs and line breaks inside values become spaces.
//   ums      the CSV Unique Management Services receives from Koha libraries (RFC 4180
//            quoting, CRLF line ends), one line per patron, with exactly UMS's columns.
//   custom   one line per patron with the agency's own field list, delimiter, header on/off,
//            date and money formats (validated by validateCustomLayout); RFC 4180-style
//            quoting with the chosen delimiter, CRLF line ends.
//
// What the amounts mean (the service fills ReportPatron accordingly):
//   amount owed      new: the balance before the agency fee (what `arrears run` calls owed);
//                    update: the amount of this run's history record (for a cancellation, the
//                    balance when cancelled, before any write-off); sync: the balance now.
//   amount in window new only: the counted amount that qualified the patron. Update and sync
//                    files leave it blank (it is not kept after the referral).
//   amount referred  the referral's amount, including the agency fee.
//   oldest/newest    assessed dates (local to the posting library) of the outstanding
//                    charges other than agency fees.
// Every text cell that starts with =, +, -, @, tab or CR gets a leading ' so no spreadsheet
// runs it as a formula; our own amounts, dates and numbers are never touched.
import type { LocalDate } from './dates.ts';
import type { Problem } from './errors.ts';
import { formatMoney, type Cents } from './money.ts';
import type { PatronRecord } from './patron-record.ts';

export type ReportKind = 'new' | 'update' | 'sync';
export type LayoutName = 'arrears' | 'ums' | 'custom';
export type CellType = 'text' | 'money' | 'date' | 'number';
/** The history record type behind an Updated Patrons line. */
export type ChangeType = 'update' | 'clear' | 'cancel' | 'return';

export const REPORT_KINDS: readonly ReportKind[] = ['new', 'update', 'sync'];

export interface ReportCharge {
  id: string;
  /** Assessed date in the posting library's time zone. */
  assessedOn: string;
  reason: string;
  library: string;
  itemBarcode: string;
  itemTitle: string;
  outstandingCents: Cents;
}

export interface ReportPatron extends PatronRecord {
  patronId: string;
  /** As the report states it; see the header of this file. */
  owedCents: Cents;
  /** New Submissions only. */
  countedCents: Cents | null;
  referredCents: Cents;
  feeCents: Cents;
  referredOn: string;
  oldestCharge: string | null;
  newestCharge: string | null;
  /** Updated Patrons only. */
  change: ChangeType | null;
  previousCents: Cents | null;
  reason: string | null;
  /** Outstanding charges, oldest first. */
  charges: ReportCharge[];
}

export interface Column {
  name: string;
  type: CellType;
}

export interface Encoding {
  delimiter: string;
  /** tsv: no quoting, tabs and line breaks in values become spaces; csv: RFC 4180 quoting. */
  quoting: 'tsv' | 'csv';
  lineEnd: '\n' | '\r\n';
}

/** A layout bound to one report kind and date. */
export interface ReportFormat extends Encoding {
  columns: readonly Column[];
  header: boolean;
  /** The lines of one patron, each a cell per column (blank = ''). */
  rows(p: ReportPatron): string[][];
}

export const DELIMITERS = [',', '\t', '|', ';'] as const;
export const DATE_FORMATS = ['YYYY-MM-DD', 'MM/DD/YYYY', 'YYYYMMDD'] as const;
export const MONEY_FORMATS = ['decimal', 'cents'] as const;

export interface CustomLayoutConfig {
  fields: CustomField[];
  delimiter: (typeof DELIMITERS)[number];
  header: boolean;
  dateFormat: (typeof DATE_FORMATS)[number];
  moneyFormat: (typeof MONEY_FORMATS)[number];
}

export type LayoutSpec = { layout: 'arrears' } | { layout: 'ums' } | { layout: 'custom'; config: CustomLayoutConfig };

// --- cells --------------------------------------------------------------------------------

/** Prefixes ' to text a spreadsheet would read as a formula; applying it twice changes nothing. */
export function neutralise(text: string): string {
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

function quoteCsv(value: string, delimiter: string): string {
  return value.includes(delimiter) || /["\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One line: text cells neutralised (unless types is null, as for a header), then escaped. */
export function encodeLine(cells: readonly string[], types: readonly CellType[] | null, enc: Encoding): string {
  const out = cells.map((cell, i) => {
    const value = types?.[i] === 'text' ? neutralise(cell) : cell;
    return enc.quoting === 'tsv' ? value.replace(/[\t\r\n]/g, ' ') : quoteCsv(value, enc.delimiter);
  });
  return out.join(enc.delimiter) + enc.lineEnd;
}

export function headerLine(format: ReportFormat): string {
  return format.header ? encodeLine(format.columns.map((c) => c.name), null, format) : '';
}

export function patronLines(format: ReportFormat, p: ReportPatron): string {
  const types = format.columns.map((c) => c.type);
  return format.rows(p).map((cells) => encodeLine(cells, types, format)).join('');
}

/**
 * Reads a file written by a format back into rows of cells, header first (the column names
 * when the file has no header line), for the CSV and .xlsx downloads.
 */
export function parseReport(format: ReportFormat, text: string): string[][] {
  const rows = format.quoting === 'tsv' ? parseTsv(text, format.lineEnd) : parseCsv(text, format.delimiter);
  return format.header ? rows : [format.columns.map((c) => c.name), ...rows];
}

function parseTsv(text: string, lineEnd: string): string[][] {
  const lines = text.split(lineEnd);
  if (lines[lines.length - 1] === '') lines.pop();
  return lines.map((l) => l.split('\t'));
}

/** RFC 4180 with any one-character delimiter; CRLF or LF line ends. */
export function parseCsv(text: string, delimiter: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let i = 0;
  let quoted = false;
  let started = false;
  while (i < text.length) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 2;
        continue;
      }
      if (ch === '"') quoted = false;
      else cell += ch;
      i += 1;
      continue;
    }
    started = true;
    if (ch === '"' && cell === '') quoted = true;
    else if (ch === delimiter) {
      row.push(cell);
      cell = '';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      started = false;
      if (ch === '\r') i += 1;
    } else cell += ch;
    i += 1;
  }
  if (started || cell !== '' || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

// --- values -------------------------------------------------------------------------------

/** "Last, First"; either alone when the other is blank. */
export function displayName(p: Pick<ReportPatron, 'firstName' | 'lastName'>): string {
  return [p.lastName, p.firstName].filter((s) => s !== '').join(', ');
}

/**
 * UMS's "Adult or Child": the ILS's own value when it gave one (sent as it is, as Koha's UMS
 * plugin sends category_type), else under 18 on the report date is a child; blank without either.
 */
export function adultOrChild(p: Pick<ReportPatron, 'adultOrChild' | 'birthDate'>, reportDate: LocalDate): string {
  if (p.adultOrChild !== '') return p.adultOrChild;
  const birthDate = p.birthDate;
  if (!birthDate) return '';
  const eighteenth = `${String(Number(birthDate.slice(0, 4)) + 18).padStart(4, '0')}${birthDate.slice(4)}`;
  return reportDate < eighteenth ? 'Child' : 'Adult';
}

export function formatDateAs(date: string | null, format: CustomLayoutConfig['dateFormat']): string {
  if (!date) return '';
  const [y, m, d] = [date.slice(0, 4), date.slice(5, 7), date.slice(8, 10)];
  if (format === 'MM/DD/YYYY') return `${m}/${d}/${y}`;
  if (format === 'YYYYMMDD') return `${y}${m}${d}`;
  return date;
}

function money(c: Cents | null, format: CustomLayoutConfig['moneyFormat'] = 'decimal'): string {
  if (c === null) return '';
  return format === 'cents' ? String(c) : formatMoney(c);
}

// --- arrears ------------------------------------------------------------------------------

const text = (name: string): Column => ({ name, type: 'text' });
const amount = (name: string): Column => ({ name, type: 'money' });
const date = (name: string): Column => ({ name, type: 'date' });

const ARREARS_PATRON: Column[] = [
  text('record_type'),
  text('patron_id'),
  text('barcode'),
  text('name'),
  text('address'),
  text('city'),
  text('state'),
  text('postal_code'),
  text('phone'),
  text('email'),
  date('birth_date'),
  text('home_library'),
  text('patron_type'),
  amount('amount_owed'),
  amount('amount_in_window'),
  amount('amount_referred'),
  date('oldest_charge'),
  date('newest_charge'),
];
const ARREARS_UPDATE: Column[] = [text('change'), amount('previous_amount'), text('reason')];
const ARREARS_CHARGE: Column[] = [
  text('charge_id'),
  date('assessed_date'),
  text('charge_reason'),
  text('posting_library'),
  text('item_barcode'),
  text('item_title'),
  amount('charge_amount'),
];

function arrearsFormat(kind: ReportKind): ReportFormat {
  const update = kind === 'update' ? ARREARS_UPDATE : [];
  const columns = [...ARREARS_PATRON, ...update, ...ARREARS_CHARGE];
  const blank = (n: number) => Array<string>(n).fill('');
  return {
    columns,
    header: true,
    delimiter: '\t',
    quoting: 'tsv',
    lineEnd: '\n',
    rows(p) {
      const patron = [
        'P',
        p.patronId,
        p.barcode,
        displayName(p),
        p.address,
        p.city,
        p.state,
        p.postalCode,
        p.phone,
        p.email,
        p.birthDate ?? '',
        p.homeLibrary,
        p.ptype,
        money(p.owedCents),
        money(p.countedCents),
        money(p.referredCents),
        p.oldestCharge ?? '',
        p.newestCharge ?? '',
        ...(kind === 'update' ? [p.change ?? '', money(p.previousCents), p.reason ?? ''] : []),
        ...blank(ARREARS_CHARGE.length),
      ];
      const charges = p.charges.map((c) => [
        'C',
        p.patronId,
        ...blank(ARREARS_PATRON.length - 2 + update.length),
        c.id,
        c.assessedOn,
        c.reason,
        c.library,
        c.itemBarcode,
        c.itemTitle,
        money(c.outstandingCents),
      ]);
      return [patron, ...charges];
    },
  };
}

// --- ums ----------------------------------------------------------------------------------

const UMS_NEW: Column[] = [
  text('borrowernumber'),
  text('surname'),
  text('firstname'),
  text('cardnumber'),
  text('address'),
  text('address2'),
  text('city'),
  text('zipcode'),
  text('state'),
  text('phone'),
  text('mobile'),
  text('Alt Ph 1'),
  text('Alt Ph 2'),
  text('branchcode'),
  text('Adult or Child'),
  date('dateofbirth'),
  date('Most recent charge'),
  amount('Amt_In_Range'),
  amount('Total_Due'),
  amount('Total_Plus_Fee'),
  text('email'),
];
const UMS_CHANGES: Column[] = [text('borrowernumber'), text('surname'), text('firstname'), text('cardnumber'), amount('Due')];

function umsFormat(kind: ReportKind, reportDate: LocalDate): ReportFormat {
  const base = { header: true, delimiter: ',', quoting: 'csv', lineEnd: '\r\n' } as const;
  if (kind !== 'new') {
    return { ...base, columns: UMS_CHANGES, rows: (p) => [[p.patronId, p.lastName, p.firstName, p.barcode, money(p.owedCents)]] };
  }
  return {
    ...base,
    columns: UMS_NEW,
    rows: (p) => [
      [
        p.patronId,
        p.lastName,
        p.firstName,
        p.barcode,
        p.address,
        p.address2,
        p.city,
        p.postalCode,
        p.state,
        p.phone,
        p.mobile,
        p.altPhone1,
        p.altPhone2,
        p.homeLibrary,
        adultOrChild(p, reportDate),
        p.birthDate ?? '',
        p.newestCharge ?? '',
        money(p.countedCents),
        money(p.owedCents),
        money(p.referredCents),
        p.email,
      ],
    ],
  };
}

// --- custom -------------------------------------------------------------------------------

interface FieldContext {
  reportDate: LocalDate;
  config: CustomLayoutConfig;
}

type FieldDef = { type: CellType; value: (p: ReportPatron, c: FieldContext) => string };

const textField = (value: (p: ReportPatron, c: FieldContext) => string): FieldDef => ({ type: 'text', value });
const moneyField = (value: (p: ReportPatron) => Cents | null): FieldDef => ({ type: 'money', value: (p, c) => money(value(p), c.config.moneyFormat) });
const dateField = (value: (p: ReportPatron, c: FieldContext) => string | null): FieldDef => ({
  type: 'date',
  value: (p, c) => formatDateAs(value(p, c), c.config.dateFormat),
});

const CUSTOM_FIELD_DEFS = {
  patron_id: textField((p) => p.patronId),
  barcode: textField((p) => p.barcode),
  first_name: textField((p) => p.firstName),
  last_name: textField((p) => p.lastName),
  name: textField((p) => displayName(p)),
  address: textField((p) => p.address),
  address2: textField((p) => p.address2),
  city: textField((p) => p.city),
  state: textField((p) => p.state),
  postal_code: textField((p) => p.postalCode),
  phone: textField((p) => p.phone),
  mobile: textField((p) => p.mobile),
  alt_phone_1: textField((p) => p.altPhone1),
  alt_phone_2: textField((p) => p.altPhone2),
  email: textField((p) => p.email),
  birth_date: dateField((p) => p.birthDate),
  home_library: textField((p) => p.homeLibrary),
  patron_type: textField((p) => p.ptype),
  patron_code: textField((p) => p.patronCode),
  adult_or_child: textField((p, c) => adultOrChild(p, c.reportDate)),
  amount_owed: moneyField((p) => p.owedCents),
  amount_in_window: moneyField((p) => p.countedCents),
  amount_referred: moneyField((p) => p.referredCents),
  agency_fee: moneyField((p) => p.feeCents),
  previous_amount: moneyField((p) => p.previousCents),
  oldest_charge: dateField((p) => p.oldestCharge),
  newest_charge: dateField((p) => p.newestCharge),
  referred_on: dateField((p) => p.referredOn),
  report_date: dateField((_p, c) => c.reportDate),
  change: textField((p) => p.change ?? ''),
  reason: textField((p) => p.reason ?? ''),
  charge_count: { type: 'number', value: (p) => String(p.charges.length) },
} satisfies Record<string, FieldDef>;

export type CustomField = keyof typeof CUSTOM_FIELD_DEFS;

/** Every field name a custom layout may list, in a stable order. */
export const CUSTOM_FIELDS = Object.keys(CUSTOM_FIELD_DEFS) as readonly CustomField[];

function customFormat(config: CustomLayoutConfig, reportDate: LocalDate): ReportFormat {
  const defs = config.fields.map((f) => CUSTOM_FIELD_DEFS[f]);
  const context: FieldContext = { reportDate, config };
  return {
    columns: config.fields.map((name, i) => ({ name, type: defs[i]!.type })),
    header: config.header,
    delimiter: config.delimiter,
    quoting: 'csv',
    lineEnd: '\r\n',
    rows: (p) => [defs.map((d) => d.value(p, context))],
  };
}

export function reportFormat(spec: LayoutSpec, kind: ReportKind, reportDate: LocalDate): ReportFormat {
  switch (spec.layout) {
    case 'arrears':
      return arrearsFormat(kind);
    case 'ums':
      return umsFormat(kind, reportDate);
    case 'custom':
      return customFormat(spec.config, reportDate);
  }
}

export const CUSTOM_KEYS = ['fields', 'delimiter', 'header', 'dateFormat', 'moneyFormat'];

/** The deepest a layout's settings go: an object holding a list of names. */
export const LAYOUT_CONFIG_MAX_DEPTH = 3;

/** How deeply arrays and objects nest in a value, counted without recursion (a hostile value may nest thousands deep), stopping past `limit`. */
export function nestingDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    deepest = Math.max(deepest, depth);
    if (deepest > limit) return deepest;
    for (const child of Object.values(v)) stack.push([child, depth + 1]);
  }
  return deepest;
}

function shown(v: string): string {
  return v === '\t' ? '"\\t" (tab)' : `"${v}"`;
}

/**
 * An agency's layout_config for the custom layout, with defaults filled in (delimiter ",",
 * header true, dateFormat "YYYY-MM-DD", moneyFormat "decimal"). Every problem names its
 * field, e.g. `layoutConfig.fields[2]`; config is null when there is any.
 */
export function validateCustomLayout(raw: unknown): { config: CustomLayoutConfig | null; problems: Problem[] } {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { config: null, problems: [{ field: 'layoutConfig', reason: 'must be an object with the custom layout settings' }] };
  }
  if (nestingDepth(raw, LAYOUT_CONFIG_MAX_DEPTH) > LAYOUT_CONFIG_MAX_DEPTH) {
    return { config: null, problems: [{ field: 'layoutConfig', reason: `is nested more than ${LAYOUT_CONFIG_MAX_DEPTH} levels deep; it holds only fields (a list of names), delimiter, header, dateFormat and moneyFormat` }] };
  }
  const r = raw as Record<string, unknown>;
  const problems: Problem[] = [];
  for (const key of Object.keys(r)) {
    if (!CUSTOM_KEYS.includes(key)) problems.push({ field: `layoutConfig.${key}`, reason: `is not a setting of the custom layout (it has ${CUSTOM_KEYS.join(', ')})` });
  }
  const fields: CustomField[] = [];
  if (!Array.isArray(r.fields) || r.fields.length === 0) {
    problems.push({ field: 'layoutConfig.fields', reason: 'is required: a non-empty list of field names' });
  } else {
    r.fields.forEach((f, i) => {
      if (typeof f === 'string' && (CUSTOM_FIELDS as readonly string[]).includes(f)) fields.push(f as CustomField);
      else problems.push({ field: `layoutConfig.fields[${i}]`, reason: `unknown field ${typeof f === 'string' ? `"${f}"` : typeof f === 'object' ? (f === null ? 'null' : Array.isArray(f) ? '(a list)' : '(an object)') : String(f)}; known fields: ${CUSTOM_FIELDS.join(', ')}` });
    });
  }
  const choice = <T extends string>(key: string, allowed: readonly T[], fallback: T): T => {
    const v = r[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    problems.push({ field: `layoutConfig.${key}`, reason: `must be one of ${allowed.map(shown).join(', ')}` });
    return fallback;
  };
  const delimiter = choice('delimiter', DELIMITERS, ',');
  const dateFormat = choice('dateFormat', DATE_FORMATS, 'YYYY-MM-DD');
  const moneyFormat = choice('moneyFormat', MONEY_FORMATS, 'decimal');
  let header = true;
  if (r.header !== undefined && r.header !== null) {
    if (typeof r.header === 'boolean') header = r.header;
    else problems.push({ field: 'layoutConfig.header', reason: 'must be true or false' });
  }
  return problems.length ? { config: null, problems } : { config: { fields, delimiter, header, dateFormat, moneyFormat }, problems };
}
