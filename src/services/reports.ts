// Report files: New Submissions, Updated Patrons and Sync per settings entry and agency.
// They are built inside the run's transaction from what the run wrote, a page of patrons at
// a time, and stored (content and sha256) before any delivery is tried; staff download them
// as the stored text, as CSV or as .xlsx. The layouts themselves are in domain/report-layouts.ts.
import { createHash } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import { localDateOf, wallClock, type LocalDate } from '../domain/dates.ts';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import {
  REPORT_KINDS,
  encodeLine,
  headerLine,
  neutralise,
  parseReport,
  patronLines,
  reportFormat,
  validateCustomLayout,
  type ChangeType,
  type LayoutSpec,
  type ReportCharge,
  type ReportFormat,
  type ReportKind,
  type ReportPatron,
} from '../domain/report-layouts.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { listAgencies, type AgencyRow } from './agencies.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Executor } from './context.ts';
import { faultPoint } from './faults.ts';
import type { RunPart } from './runs.ts';

export type FileStatus = 'queued' | 'delivered' | 'held' | 'none';
export const FILE_STATUSES: readonly FileStatus[] = ['queued', 'delivered', 'held', 'none'];
export type DownloadFormat = 'txt' | 'csv' | 'xlsx';
export const DOWNLOAD_FORMATS: readonly DownloadFormat[] = ['txt', 'csv', 'xlsx'];

/** What `arrears run --json` lists for each file. */
export interface RunFile {
  name: string;
  kind: ReportKind;
  agency: string;
}

export interface RunFilesInput {
  runId: number;
  reportDate: LocalDate;
  /** The run's clock time: the files' timestamps, created_at and first delivery time. */
  at: Date;
  actor: string;
  /** The entries this run evaluated and which parts of each. */
  entries: readonly { entry: SettingsEntry; parts: readonly RunPart[] }[];
  /** Patron id → the counted (in-window) amount of this run's New Submissions. */
  counted: ReadonlyMap<string, Cents>;
}

export interface BuildOptions {
  /** Patrons read per query (keyset pagination); the whole file is never read at once. */
  pageSize?: number;
  /**
   * A dry run: decide which files there would be and their names, but leave their contents
   * empty. The transaction is rolled back unseen, and rendering is most of a run's time
   * after the eligibility statement.
   */
  namesOnly?: boolean;
}

const PAGE_SIZE = 1000;
const CHANGE_TYPES: readonly ChangeType[] = ['update', 'clear', 'cancel', 'return'];

/** Which part of a run makes which report. */
const PART_OF: Record<ReportKind, RunPart> = { new: 'new', update: 'update', sync: 'update' };

/** One report's rows: a settings entry, an agency, a kind, and the run it describes. */
export interface ReportScope {
  runId: number;
  entryId: number;
  agencyId: number;
  kind: ReportKind;
}

interface PageRow {
  referral_id: number;
  patron_id: string;
  referred_cents: number;
  fee_cents: number;
  referred_on: string;
  change: ChangeType | null;
  amount_cents: number | null;
  previous_cents: number | null;
  reason: string | null;
  barcode: string;
  first_name: string;
  last_name: string;
  address: string;
  address2: string;
  city: string;
  state: string;
  postal_code: string;
  phone: string;
  mobile: string;
  alt_phone_1: string;
  alt_phone_2: string;
  email: string;
  birth_date: string | null;
  home_library: string;
  ptype: string;
  patron_code: string;
  adult_or_child: string;
}

const PATRON_COLUMNS = sql`p.barcode, p.first_name, p.last_name, p.address, p.address2, p.city, p.state, p.postal_code, p.phone,
  p.mobile, p.alt_phone_1, p.alt_phone_2, p.email, p.birth_date, p.home_library, p.ptype, p.patron_code, p.adult_or_child`;

/** The next page of a report's patrons after `after`, in code-point order of patron id. */
function pageQuery(s: ReportScope, after: string | null, limit: number): RawBuilder<PageRow> {
  const next = (column: RawBuilder<unknown>) => (after === null ? sql`` : sql`and ${column} collate "C" > ${after}`);
  switch (s.kind) {
    case 'new':
      // The referrals this run opened under the entry, to the agency.
      return sql<PageRow>`
        select r.id as referral_id, r.patron_id, r.referred_cents, r.fee_cents, r.referred_on,
               null as change, null::bigint as amount_cents, null::bigint as previous_cents, null as reason, ${PATRON_COLUMNS}
        from referrals r join patrons p on p.id = r.patron_id
        where r.run_id = ${s.runId} and r.entry_id = ${s.entryId} and r.agency_id = ${s.agencyId} ${next(sql.ref('r.patron_id'))}
          and r.status <> 'cancelled' -- cancelled at review (exclusions.ts) before the file was sent
        order by r.patron_id collate "C"
        limit ${limit}`;
    case 'update':
      // The patron's latest update / clear / cancel / return record of this run, with the amount reported before it.
      return sql<PageRow>`
        select r.id as referral_id, r.patron_id, r.referred_cents, r.fee_cents, r.referred_on,
               h.type as change, h.amount_cents, prev.amount_cents as previous_cents, h.reason, ${PATRON_COLUMNS}
        from referral_history h
        join referrals r on r.id = h.referral_id
        join patrons p on p.id = h.patron_id
        left join lateral (
          select x.amount_cents from referral_history x
          where x.referral_id = h.referral_id and x.id < h.id
          order by x.id desc limit 1
        ) prev on true
        where h.run_id = ${s.runId} and h.type = any(${CHANGE_TYPES}::text[])
          and r.entry_id = ${s.entryId} and r.agency_id = ${s.agencyId} ${next(sql.ref('h.patron_id'))}
          and not exists (
            select 1 from referral_history y join referrals yr on yr.id = y.referral_id
            where y.run_id = h.run_id and y.patron_id = h.patron_id and y.id > h.id and y.type = any(${CHANGE_TYPES}::text[])
              and yr.entry_id = r.entry_id and yr.agency_id = r.agency_id)
        order by h.patron_id collate "C"
        limit ${limit}`;
    case 'sync':
      // Everyone in collections with the agency under the entry, as the run leaves them.
      return sql<PageRow>`
        select r.id as referral_id, r.patron_id, r.referred_cents, r.fee_cents, r.referred_on,
               null as change, null::bigint as amount_cents, null::bigint as previous_cents, null as reason, ${PATRON_COLUMNS}
        from referrals r join patrons p on p.id = r.patron_id
        where r.status = 'open' and r.entry_id = ${s.entryId} and r.agency_id = ${s.agencyId} ${next(sql.ref('r.patron_id'))}
        order by r.patron_id collate "C"
        limit ${limit}`;
  }
}

/** Agencies that have at least one row in the entry's report of this kind for the run. */
async function agenciesWithRows(db: Executor, runId: number, entryId: number, kind: ReportKind): Promise<Set<number>> {
  const query =
    kind === 'new'
      ? sql<{ agency_id: number }>`select distinct agency_id from referrals where run_id = ${runId} and entry_id = ${entryId}`
      : kind === 'sync'
        ? sql<{ agency_id: number }>`select distinct agency_id from referrals where status = 'open' and entry_id = ${entryId}`
        : sql<{ agency_id: number }>`
            select distinct r.agency_id from referral_history h join referrals r on r.id = h.referral_id
            where h.run_id = ${runId} and h.type = any(${CHANGE_TYPES}::text[]) and r.entry_id = ${entryId}`;
  return new Set((await query.execute(db)).rows.map((r) => r.agency_id));
}

/** The outstanding charges of a page of patrons, oldest first, by patron. */
async function outstandingCharges(db: Executor, patronIds: string[]): Promise<Map<string, ReportCharge[]>> {
  const rows = await sql<{
    id: string;
    patron_id: string;
    assessed_on: string;
    reason: string;
    library: string;
    item_barcode: string;
    item_title: string;
    outstanding: number;
  }>`
    select c.id, c.patron_id, c.assessed_on, c.reason, c.library,
           coalesce(i.barcode, '') as item_barcode, coalesce(i.title, '') as item_title,
           (c.amount_cents - c.paid_cents)::bigint as outstanding
    from charges c
    -- Each charge's item by its key: a plain join let the planner hash every item of the
    -- consortium for each page (178 ms a page at 433 k items, most of writing the files).
    left join lateral (select x.barcode, x.title from items x where x.id = c.item_id) i on true
    where c.patron_id = any(${patronIds}::text[]) and c.amount_cents > c.paid_cents
    order by c.assessed_at, c.id collate "C"`.execute(db);
  const byPatron = new Map<string, ReportCharge[]>();
  for (const r of rows.rows) {
    const list = byPatron.get(r.patron_id) ?? [];
    list.push({
      id: r.id,
      assessedOn: r.assessed_on,
      reason: r.reason,
      library: r.library,
      itemBarcode: r.item_barcode,
      itemTitle: r.item_title,
      outstandingCents: r.outstanding as Cents,
    });
    byPatron.set(r.patron_id, list);
  }
  return byPatron;
}

function toPatron(kind: ReportKind, r: PageRow, charges: ReportCharge[], counted: ReadonlyMap<string, Cents>): ReportPatron {
  const debt = charges.filter((c) => c.reason !== 'agency_fee').map((c) => c.assessedOn);
  const balance = charges.reduce((total, c) => total + c.outstandingCents, 0);
  const owed = kind === 'new' ? r.referred_cents - r.fee_cents : kind === 'update' ? r.amount_cents! : balance;
  return {
    patronId: r.patron_id,
    barcode: r.barcode,
    firstName: r.first_name,
    lastName: r.last_name,
    address: r.address,
    address2: r.address2,
    city: r.city,
    state: r.state,
    postalCode: r.postal_code,
    phone: r.phone,
    mobile: r.mobile,
    altPhone1: r.alt_phone_1,
    altPhone2: r.alt_phone_2,
    email: r.email,
    birthDate: r.birth_date,
    homeLibrary: r.home_library,
    ptype: r.ptype,
    patronCode: r.patron_code,
    adultOrChild: r.adult_or_child,
    owedCents: owed as Cents,
    countedCents: kind === 'new' ? (counted.get(r.patron_id) ?? null) : null,
    referredCents: r.referred_cents as Cents,
    feeCents: r.fee_cents as Cents,
    referredOn: r.referred_on,
    oldestCharge: debt.length ? debt.reduce((a, b) => (a < b ? a : b)) : null,
    newestCharge: debt.length ? debt.reduce((a, b) => (a > b ? a : b)) : null,
    change: r.change,
    previousCents: r.previous_cents as Cents | null,
    reason: r.reason,
    charges,
  };
}

/**
 * One report's bytes, read a page of patrons at a time. `counted` gives New Submissions
 * their in-window amounts (the run computed them; they are not stored).
 */
export async function renderReport(
  db: Executor,
  scope: ReportScope,
  format: ReportFormat,
  counted: ReadonlyMap<string, Cents>,
  options: BuildOptions = {},
): Promise<{ content: Buffer; rowCount: number }> {
  const pageSize = options.pageSize ?? PAGE_SIZE;
  const chunks = [Buffer.from(headerLine(format), 'utf8')];
  let rowCount = 0;
  let after: string | null = null;
  for (;;) {
    const page: PageRow[] = (await pageQuery(scope, after, pageSize).execute(db)).rows;
    if (page.length === 0) break;
    const charges = await outstandingCharges(
      db,
      page.map((r) => r.patron_id),
    );
    const text = page.map((r) => patronLines(format, toPatron(scope.kind, r, charges.get(r.patron_id) ?? [], counted))).join('');
    chunks.push(Buffer.from(text, 'utf8'));
    rowCount += page.length;
    after = page[page.length - 1]!.patron_id;
    if (page.length < pageSize) break;
  }
  return { content: Buffer.concat(chunks), rowCount };
}

/** The layout an agency's files are written in; a custom layout must validate. */
export function layoutOf(agency: Pick<AgencyRow, 'name' | 'layout' | 'layoutConfig'>): LayoutSpec {
  if (agency.layout !== 'custom') return { layout: agency.layout };
  const { config, problems } = validateCustomLayout(agency.layoutConfig);
  if (!config) throw new ValidationError(problems.map((p) => ({ ...p, reason: `agency "${agency.name}": ${p.reason}` })));
  return { layout: 'custom', config };
}

/** The agencies an entry refers to: its fixed one, or its strategy's active candidates. */
function candidateAgencies(entry: SettingsEntry, agencies: readonly AgencyRow[]): Set<number> {
  const choice = entry.agency;
  if (choice.kind === 'fixed') return new Set(agencies.filter((a) => a.name === choice.agency).map((a) => a.id));
  return new Set(agencies.filter((a) => a.active && (choice.among.length === 0 || choice.among.includes(a.name))).map((a) => a.id));
}

/** The zone of the entry's first home library, or of the first library by code when it lists none. */
function entryTimeZone(entry: SettingsEntry, libraries: readonly { code: string; time_zone: string }[]): string {
  const first = entry.homeLibraries[0];
  const library = (first === undefined ? undefined : libraries.find((l) => l.code === first)) ?? libraries[0];
  return library?.time_zone ?? 'UTC';
}

/** YYYYMMDDHHMMSS of an instant on the wall clock of a zone. */
export function fileTimestamp(at: Date, timeZone: string): string {
  const w = wallClock(at, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${w.date.replace(/-/g, '')}${two(w.hour)}${two(w.minute)}${two(w.second)}`;
}

/** `<stem>.txt`, or `<stem>-2.txt`, `-3`, … when the agency already has a file of that name. */
async function freeName(db: Executor, agencyId: number, stem: string): Promise<string> {
  const rows = await db.selectFrom('report_files').select('name').where('agency_id', '=', agencyId).where('name', 'like', `${stem}%`).execute();
  const taken = new Set(rows.map((r) => r.name));
  let name = `${stem}.txt`;
  for (let n = 2; taken.has(name); n++) name = `${stem}-${n}.txt`;
  return name;
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Builds and stores the files of a run: per entry, the New Submissions file when its 'new'
 * part ran and the Updated Patrons and Sync files when its 'update' part ran, one per agency
 * (empty ones only when the entry's sendEmptyReports is on). Stored as 'queued' for delivery
 * (or 'none' when the agency's transfer method is none; New Submissions of an entry with
 * reviewHours as 'held'), in the caller's transaction.
 */
export async function buildRunFiles(db: Executor, input: RunFilesInput, options: BuildOptions = {}): Promise<RunFile[]> {
  const agencies = await listAgencies(db);
  const libraries = (await db.selectFrom('libraries').select(['code', 'time_zone']).execute()).sort((a, b) => byCodePoint(a.code, b.code));
  const files: RunFile[] = [];
  const audit: AuditEntry[] = [];
  for (const { entry, parts } of input.entries) {
    const stamp = fileTimestamp(input.at, entryTimeZone(entry, libraries));
    const base = entry.baseFilename ?? String(entry.id);
    const candidates = candidateAgencies(entry, agencies);
    for (const kind of REPORT_KINDS.filter((k) => parts.includes(PART_OF[k]))) {
      const withRows = await agenciesWithRows(db, input.runId, entry.id, kind);
      for (const agency of agencies) {
        if (!withRows.has(agency.id) && !(candidates.has(agency.id) && entry.sendEmptyReports)) continue;
        const layout = layoutOf(agency);
        const scope = { runId: input.runId, entryId: entry.id, agencyId: agency.id, kind };
        const format = reportFormat(layout, kind, input.reportDate);
        const { content, rowCount } = options.namesOnly ? { content: Buffer.alloc(0), rowCount: 0 } : await renderReport(db, scope, format, input.counted, options);
        const name = await freeName(db, agency.id, `${base}_${kind}_${stamp}`);
        const sha256 = createHash('sha256').update(content).digest('hex');
        const queued = agency.transferMethod !== 'none';
        // Review before sending: New Submissions wait reviewHours, the hold's end kept in
        // next_attempt_at; exclusions.ts releaseHeldFiles queues them when it has passed.
        const holdUntil = kind === 'new' && entry.reviewHours ? new Date(input.at.getTime() + entry.reviewHours * 3_600_000) : null;
        const status = holdUntil ? 'held' : queued ? 'queued' : 'none';
        const { id } = await db
          .insertInto('report_files')
          .values({
            run_id: input.runId,
            entry_id: entry.id,
            agency_id: agency.id,
            kind,
            name,
            content,
            sha256,
            row_count: rowCount,
            status,
            next_attempt_at: holdUntil ?? (queued ? input.at : null),
            created_at: input.at,
            layout: layout.layout,
            layout_config: JSON.stringify(layout.layout === 'custom' ? layout.config : {}),
          })
          .returning('id')
          .executeTakeFirstOrThrow();
        faultPoint('reports.file-stored');
        files.push({ name, kind, agency: agency.name });
        audit.push({
          actor: input.actor,
          action: 'report_file.create',
          entity: 'report_file',
          entityId: id,
          after: { name, kind, agency: agency.name, entry: entry.name, rows: rowCount, bytes: content.length, sha256, status },
          at: input.at,
        });
      }
    }
  }
  await recordAudit(db, audit);
  return files;
}

// --- staff: list, show, download ----------------------------------------------------------

export interface FileSummary {
  id: number;
  name: string;
  kind: ReportKind;
  agency: string;
  agencyId: number;
  /** Null when the settings entry has since been removed. */
  entry: string | null;
  runId: number | null;
  reportDate: string | null;
  status: FileStatus;
  layout: 'arrears' | 'ums' | 'custom';
  rowCount: number;
  bytes: number;
  sha256: string;
  attempts: number;
  nextAttemptAt: Date | null;
  deliveredAt: Date | null;
  createdAt: Date;
}

export interface TransferAttempt {
  id: number;
  method: string;
  startedAt: Date;
  finishedAt: Date | null;
  ok: boolean;
  error: string;
}

export interface FileDetails extends FileSummary {
  /** Every delivery attempt, oldest first. */
  transferAttempts: TransferAttempt[];
}

export interface FileFilter {
  status?: FileStatus;
  /** Agency name. */
  agency?: string;
  runId?: number;
  kind?: ReportKind;
}

function selectFiles(db: Executor) {
  return db
    .selectFrom('report_files as f')
    .innerJoin('agencies as a', 'a.id', 'f.agency_id')
    .leftJoin('settings_entries as e', 'e.id', 'f.entry_id')
    .leftJoin('runs as r', 'r.id', 'f.run_id')
    .select([
      'f.id',
      'f.name',
      'f.kind',
      'a.name as agency',
      'f.agency_id',
      'e.name as entry',
      'f.run_id',
      'r.report_date',
      'f.status',
      'f.layout',
      'f.row_count',
      sql<number>`octet_length(f.content)`.as('bytes'),
      'f.sha256',
      'f.attempts',
      'f.next_attempt_at',
      'f.delivered_at',
      'f.created_at',
    ]);
}

type FileRow = Awaited<ReturnType<ReturnType<typeof selectFiles>['executeTakeFirstOrThrow']>>;

function toSummary(r: FileRow): FileSummary {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    agency: r.agency,
    agencyId: r.agency_id,
    entry: r.entry,
    runId: r.run_id,
    reportDate: r.report_date,
    status: r.status,
    layout: r.layout,
    rowCount: r.row_count,
    bytes: r.bytes,
    sha256: r.sha256,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    deliveredAt: r.delivered_at,
    createdAt: r.created_at,
  };
}

/** Files, oldest first, narrowed by status, agency name, run or kind. */
export async function listFiles(db: Executor, filter: FileFilter = {}): Promise<FileSummary[]> {
  return (await (await filteredFiles(db, filter)).orderBy('f.id').execute()).map(toSummary);
}

export const FILE_SORTS = ['id', 'name', 'agency', 'kind', 'reportDate', 'status', 'rowCount', 'attempts', 'createdAt'] as const;
export type FileSort = (typeof FILE_SORTS)[number] | `-${(typeof FILE_SORTS)[number]}`;

const FILE_SORT_COLUMNS = {
  id: sql`f.id`,
  name: sql`f.name collate "C"`,
  agency: sql`lower(a.name)`,
  kind: sql`f.kind`,
  reportDate: sql`r.report_date`,
  status: sql`f.status`,
  rowCount: sql`f.row_count`,
  attempts: sql`f.attempts`,
  createdAt: sql`f.created_at`,
} as const;

/** Files sorted by a column (default newest first), narrowed by text in the name, agency or entry; a page when a limit is given. */
export async function searchFiles(
  db: Executor,
  filter: FileFilter & { text?: string; sort?: FileSort; limit?: number; offset?: number } = {},
): Promise<{ items: FileSummary[]; total: number }> {
  let q = await filteredFiles(db, filter);
  const text = filter.text?.trim().toLowerCase();
  if (text) {
    const like = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where(sql<boolean>`(lower(f.name) like ${like} or lower(a.name) like ${like} or lower(coalesce(e.name, '')) like ${like})`);
  }
  const total = await q.clearSelect().select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const sort = filter.sort ?? '-id';
  const column = FILE_SORT_COLUMNS[sort.replace(/^-/, '') as keyof typeof FILE_SORT_COLUMNS];
  let page = q.orderBy(sql`${column} ${sql.raw(sort.startsWith('-') ? 'desc nulls last' : 'asc nulls last')}`).orderBy('f.id', 'desc');
  if (filter.limit !== undefined) page = page.limit(filter.limit);
  if (filter.offset) page = page.offset(filter.offset);
  const rows = await page.execute();
  return { items: rows.map(toSummary), total: Number(total.n) };
}

async function filteredFiles(db: Executor, filter: FileFilter) {
  if (filter.status !== undefined && !FILE_STATUSES.includes(filter.status)) {
    throw ValidationError.of(`must be one of ${FILE_STATUSES.join(', ')}`, { field: 'status' });
  }
  if (filter.kind !== undefined && !REPORT_KINDS.includes(filter.kind)) throw ValidationError.of(`must be one of ${REPORT_KINDS.join(', ')}`, { field: 'kind' });
  let q = selectFiles(db);
  if (filter.agency !== undefined) {
    const agency = await db.selectFrom('agencies').select('id').where('name', '=', filter.agency).executeTakeFirst();
    if (!agency) throw new NotFoundError(`agency "${filter.agency}"`);
    q = q.where('f.agency_id', '=', agency.id);
  }
  if (filter.status !== undefined) q = q.where('f.status', '=', filter.status);
  if (filter.runId !== undefined) q = q.where('f.run_id', '=', filter.runId);
  if (filter.kind !== undefined) q = q.where('f.kind', '=', filter.kind);
  return q;
}

/**
 * A file by id (digits) or by name, with its delivery attempts. A name can belong to one
 * file per agency (a strategy entry's agencies share names); then the id is needed.
 */
export async function getFile(db: Executor, idOrName: number | string): Promise<FileDetails> {
  const key = String(idOrName).trim();
  const rows = /^\d+$/.test(key) ? await selectFiles(db).where('f.id', '=', Number(key)).execute() : await selectFiles(db).where('f.name', '=', key).orderBy('f.id').execute();
  if (rows.length === 0) throw new NotFoundError(`report file "${key}"`);
  if (rows.length > 1) {
    const which = rows.map((r) => `${r.id} (${r.agency})`).join(', ');
    throw ValidationError.of(`"${key}" is the name of ${rows.length} files: ${which}; give the id`, { field: 'file' });
  }
  const summary = toSummary(rows[0]!);
  const attempts = await db
    .selectFrom('transfer_attempts')
    .select(['id', 'method', 'started_at', 'finished_at', 'ok', 'error'])
    .where('file_id', '=', summary.id)
    .orderBy('id')
    .execute();
  return {
    ...summary,
    transferAttempts: attempts.map((a) => ({ id: a.id, method: a.method, startedAt: a.started_at, finishedAt: a.finished_at, ok: a.ok, error: a.error })),
  };
}

export interface Download {
  filename: string;
  contentType: string;
  body: Buffer;
}

const SHEET_NAMES: Record<ReportKind, string> = { new: 'New Submissions', update: 'Updated Patrons', sync: 'Sync' };
const CONTENT_TYPES: Record<DownloadFormat, string> = {
  txt: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
};

/**
 * A stored file for staff: txt is the stored bytes; csv and xlsx are the same rows read back
 * from them (header first; RFC 4180, CRLF for csv; every cell a string in xlsx, amounts as
 * "1234.50"), with text cells neutralised against formulas.
 */
export async function renderDownload(db: Executor, fileId: number, format: DownloadFormat): Promise<Download> {
  if (!DOWNLOAD_FORMATS.includes(format)) throw ValidationError.of(`must be one of ${DOWNLOAD_FORMATS.join(', ')}`, { field: 'format' });
  const f = await db
    .selectFrom('report_files as f')
    .innerJoin('agencies as a', 'a.id', 'f.agency_id')
    .leftJoin('runs as r', 'r.id', 'f.run_id')
    .select(['f.name', 'f.kind', 'f.content', 'f.layout', 'f.layout_config', 'f.created_at', 'a.name as agency', 'r.report_date'])
    .where('f.id', '=', fileId)
    .executeTakeFirst();
  if (!f) throw new NotFoundError(`report file ${fileId}`);
  // PGlite returns bytea as a Uint8Array, pg as a Buffer.
  const content = Buffer.from(f.content);
  const filename = format === 'txt' ? f.name : `${f.name.replace(/\.txt$/, '')}.${format}`;
  if (format === 'txt') return { filename, contentType: CONTENT_TYPES.txt, body: content };

  const layout = layoutOf({ name: f.agency, layout: f.layout, layoutConfig: f.layout_config });
  const reportDate = (f.report_date ?? localDateOf(f.created_at, 'UTC')) as LocalDate;
  const fmt = reportFormat(layout, f.kind, reportDate);
  const [header = [], ...rows] = parseReport(fmt, content.toString('utf8'));
  const types = fmt.columns.map((c) => c.type);
  const cells = rows.map((row) => row.map((cell, i) => (types[i] === 'text' ? neutralise(cell) : cell)));
  if (format === 'csv') {
    const csv = { delimiter: ',', quoting: 'csv', lineEnd: '\r\n' } as const;
    const text = [encodeLine(header, null, csv), ...cells.map((row) => encodeLine(row, null, csv))].join('');
    return { filename, contentType: CONTENT_TYPES.csv, body: Buffer.from(text, 'utf8') };
  }
  // exceljs is large (~0.4 s to load): only a download as .xlsx needs it.
  const { default: ExcelJS } = await import('exceljs');
  const workbook = new ExcelJS.Workbook();
  workbook.creator = 'Arrears';
  workbook.created = f.created_at;
  workbook.modified = f.created_at;
  const sheet = workbook.addWorksheet(SHEET_NAMES[f.kind]);
  sheet.addRow(header).font = { bold: true };
  for (const row of cells) sheet.addRow(row);
  return { filename, contentType: CONTENT_TYPES.xlsx, body: Buffer.from(await workbook.xlsx.writeBuffer()) };
}
