// The set-based half every source of rows shares: a file import and an ILS connector's sync
// both stage rows of one kind in import_stage, then call mergeStaged, which checks the rows
// against the database, writes them (only the changed ones) and allocates payments. It runs
// inside the caller's transaction (an ImportSession) and leaves nothing staged behind.
import { sql } from 'kysely';
import type { ImportKind } from '../../domain/import-formats.ts';
import type { Executor } from '../context.ts';
import { allocateNamedPayments, allocatePayments, overpaidByFile, paysManyCharges, refuseOverpaidCharges, writeAllocations } from './allocate.ts';
import {
  CHANGED,
  DIGEST_COLUMN,
  checkReferences,
  clean,
  checkSource,
  dropBadRows,
  dropForeignKeys,
  dropIndexes,
  dropPrimaryKey,
  isFew,
  findChanges,
  firstProblems,
  flagDuplicateKeys,
  hasRows,
  isBulkLoad,
  keyColumn,
  problemCounts,
  restoreForeignKeys,
  restoreIndexes,
  STAGE,
  stagedRows,
  upsert,
  type BulkTable,
  type Changes,
  type ForeignKey,
} from './kinds.ts';

export interface StagedProblem {
  /** The staged row's row_no: a file's spreadsheet row, or the ILS key of a synced row. */
  row: number;
  column: string;
  reason: string;
}

export interface MergeOptions {
  /** How many rows are staged, when the caller counted them (else they are counted here). */
  staged?: number;
  /** The source's columns: only these are written, so a file without a column leaves it as it was. */
  present: ReadonlySet<string>;
  now: Date;
  /** Write the good rows and return the bad ones instead of writing nothing. */
  skipBadRows?: boolean;
  /** From this many rows, foreign keys and indexes are rebuilt once instead of maintained per row. */
  bulkRows: number;
  /** Duplicate keys whose first row is this one or later are found here (earlier ones the caller found). */
  duplicatesFrom?: number;
  /** Problems listed in full (default 1,000); problemCount says how many there were. */
  maxProblems?: number;
  /** The order of columns in which a row's problems are listed. */
  columnOrder: readonly string[];
  /** Told when checking is over and writing begins. */
  onWriting?: () => void;
  /** The source of the rows: an ILS connector's id, or null for CSV imports. Rows of another source's library are refused. */
  connectorId?: number | null;
  /**
   * Payments each name their charge and were applied by the source itself (an ILS): allocated
   * whole, and checked not to overpay once written (any charge paid beyond its amount takes the
   * whole merge back; no bad row is skipped).
   */
  namedPayments?: boolean;
  /**
   * Charges into an empty table, with the payments into an empty table after them in the same
   * transaction (a connector's first sync): the stage carries each charge's paid_cents, what
   * those payments pay of it, so the payments merge (given paidCounted) gives no charge a
   * second row version.
   */
  paidStaged?: boolean;
  /** Payments whose charges were written with what they pay (paidStaged): their allocations leave paid_cents as it is. */
  paidCounted?: boolean;
  /**
   * Every staged payment names a charge staged in the same transaction for the same patron (a
   * connector's sink saw both, see StagedPaid.vouched): a charge unknown or another patron's, or
   * a patron unknown, is not looked for. Those charges were merged before the payments, their
   * patrons checked; one refused has refused the whole sync already.
   */
  chargesVouched?: boolean;
  /**
   * A bulk load leaves its kind's foreign keys and indexes dropped and adds them here, for the
   * caller to put back once (restoreKept) after its next merges in the same transaction. A row
   * updated by the transaction that inserted it has its foreign keys checked again, one row at
   * a time, and a new entry in each index: a sync's payments update the paid_cents of the
   * charges it has just loaded.
   */
  keep?: Kept[];
  /**
   * The staged rows carry their line's digest (a file import on PostgreSQL; see digest.ts): rows
   * found unchanged whose stored digest is another (or none) are given the staged one.
   */
  digests?: boolean;
}

/** What a bulk load dropped from one table and left for the caller to put back. */
export interface Kept {
  table: BulkTable;
  foreignKeys: ForeignKey[];
  indexes: string[];
}

/** Rebuilds the indexes and restores (so validates, once) the foreign keys that merges kept dropped. */
export async function restoreKept(db: Executor, kept: Kept[]): Promise<void> {
  for (const k of kept.splice(0)) {
    await restoreIndexes(db, k.indexes);
    await restoreForeignKeys(db, k.table, k.foreignKeys);
  }
}

export interface MergeResult {
  /** New rows. */
  inserted: number;
  /** Rows that existed and differed in some column. */
  updated: number;
  /** Rows that existed exactly as staged: compared, not written. */
  unchanged: number;
  /** Bad rows left out (skipBadRows only). */
  skipped: number;
  problems: StagedProblem[];
  problemCount: number;
}

/**
 * Checks and writes the rows staged for `kind`. Without skipBadRows, any problem means nothing
 * is written and the problems are returned (the caller refuses the whole source).
 */
export async function mergeStaged(db: Executor, kind: ImportKind, options: MergeOptions): Promise<MergeResult> {
  // Temporary tables are never analyzed automatically; the checks below join them with big
  // tables. A re-import of a CSV file into a table that has rows has its stage analyzed once
  // the unchanged rows are set aside (the comparison is a hash join whatever the statistics).
  const connectorId = options.connectorId ?? null;
  const skipBadRows = options.skipBadRows ?? false;
  const empty = !(await hasRows(db, kind));
  const early = connectorId !== null || options.duplicatesFrom !== undefined || empty || (await hasRows(db, 'connectors'));
  if (early) await analyzeStage(db, kind);
  // Into an empty table, repeated keys are found by building its primary key after the rows (the
  // sort a bulk load makes anyway) instead of hashing every staged key first, and references to
  // no patron, item or library by adding its foreign keys back (or by the keys themselves, in a
  // load too small to drop them) instead of joining every staged row first: only when one fails
  // are the writes taken back and the rows named. Not while bad rows are to be skipped (left out
  // before writing), nor when the caller builds the keys later (keep).
  const deferring = empty && !skipBadRows && !options.keep;
  const deferred = options.duplicatesFrom !== undefined && deferring ? options.duplicatesFrom : undefined;
  if (options.duplicatesFrom !== undefined && deferred === undefined) await flagDuplicateKeys(db, keyColumn(kind), options.duplicatesFrom);
  /** The checks left to the keys, made after all (the writes failed on one, or the source is refused anyway). */
  const checkDeferred = async () => {
    if (deferred !== undefined) await flagDuplicateKeys(db, keyColumn(kind), deferred);
    if (deferring) await checkReferences(db, kind, false, 'keyed');
  };
  // Another source's rows are refused even when they would change nothing.
  await checkSource(db, kind, connectorId);
  const staged = options.staged ?? (await stagedRows(db));
  // Compared before anything is checked: a row exactly as stored passed every check when it
  // was written, so the checks, the allocation and the upsert see only new and changed rows.
  const changes = await findChanges(db, kind, options.present, staged);
  const aside = changes.listed && changes.rows < staged;
  if (aside) await setAsideUnchanged(db, kind, changes.rows * 20 < staged);
  else if (!early) await analyzeStage(db, kind);
  // The changed rows of a re-import, when they are a small share of the table: looked up by key
  // (whether the unchanged ones were set aside here or never staged: a patrons file's lines
  // whose digest is stored).
  const few = changes.listed && changes.rows > 0 && (await isFew(db, kind, changes.rows));
  changes.few = few;
  await checkReferences(db, kind, few, deferring ? 'unkeyed' : 'all', options.chargesVouched === true);
  // A file's payments naming a charge, when the file is refused at its first problem, are checked
  // for over-payment once written (allocatePayments' deferNamed); should any over-pay, or the file
  // be refused for anything else, its payments are checked again in full from this savepoint, so
  // the problems named are the ones a check before writing names.
  let paymentsDeferred = kind === 'payments' && !options.namedPayments && !skipBadRows;
  if (paymentsDeferred) await sql`savepoint payments_checked`.execute(db);
  if (kind === 'payments') await (options.namedPayments ? allocateNamedPayments(db, changes) : allocatePayments(db, skipBadRows, changes, paymentsDeferred));
  const checkPaymentsInFull = async () => {
    await sql`rollback to savepoint payments_checked`.execute(db);
    await allocatePayments(db, false, changes);
    paymentsDeferred = false;
  };
  if (paymentsDeferred && (await problemCounts(db)).problems) await checkPaymentsInFull();
  // A file refused for other problems names its repeated keys and unknown references with them.
  if (deferring && (await problemCounts(db)).problems) await checkDeferred();
  const counts = await problemCounts(db);
  if (counts.problems && !skipBadRows) return refusedWith(db, options, aside);
  // Unchanged rows are counted among the good ones: bad rows left out, whichever stage holds them.
  const good = counts.rows ? await cleanRows(db, aside ? 'import_stage_all' : STAGE) : staged;
  if (counts.rows) await dropBadRows(db);
  const problems = await listedProblems(db, options);

  options.onWriting?.();
  if (deferring) await sql`savepoint keys_deferred`.execute(db);
  let written: Awaited<ReturnType<typeof write>>;
  try {
    written = await write(db, kind, options, changes, few, paymentsDeferred);
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (!deferring || (code !== UNIQUE_VIOLATION && code !== FOREIGN_KEY_VIOLATION)) throw err;
    if (paymentsDeferred) await checkPaymentsInFull();
    else await sql`rollback to savepoint keys_deferred`.execute(db);
    await checkDeferred();
    if ((await problemCounts(db)).problems === 0) throw err;
    return refusedWith(db, options, aside);
  }
  if (written === 'overpaid') {
    // Taken back to before the payments were checked; the full check names the rows.
    await checkPaymentsInFull();
    if (deferring) await checkDeferred();
    if ((await problemCounts(db)).problems === 0) throw new Error('a charge was paid beyond its amount, and the payments check found no payment that over-pays it');
    return refusedWith(db, options, aside);
  }
  if (!written) return refusedWith(db, options, aside, 'named_payments');
  if (paymentsDeferred) await sql`release savepoint payments_checked`.execute(db);
  if (aside && options.digests) await storeDigests(db, kind);
  if (aside) await putBackUnchanged(db);
  const { inserted, updated } = written;
  return { inserted, updated, unchanged: good - inserted - updated, skipped: counts.rows, problems, problemCount: counts.problems };
}

const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

/**
 * Writes the checked rows: in bulk, with foreign keys and indexes dropped and built again once.
 * Returns nothing when named payments turned out to overpay a charge once written (their
 * problems are listed; the caller takes the writes back to the savepoint named_payments), and
 * 'overpaid' when a file's payments whose check was deferred (`paymentsDeferred`) did.
 */
async function write(
  db: Executor,
  kind: ImportKind,
  options: MergeOptions,
  changes: Changes,
  few: boolean,
  paymentsDeferred: boolean,
): Promise<{ inserted: number; updated: number } | 'overpaid' | undefined> {
  // Payments a source applied itself are checked for over-payment once written (see
  // refuseOverpaidCharges); if any charge was paid beyond its amount, the writes are taken back.
  const named = kind === 'payments' && options.namedPayments === true;
  if (named) await sql`savepoint named_payments`.execute(db);
  const bulk = await isBulkLoad(db, kind, changes.rows, options.bulkRows);
  // A bulk load of payments is one of their allocations too, which have keys and indexes of their own.
  const allocating = kind === 'payments';
  const keys = bulk ? await dropForeignKeys(db, kind) : [];
  const allocationKeys = bulk && allocating ? await dropForeignKeys(db, 'allocations') : [];
  // Into an empty table (nothing listed as changed: every row is new), the primary key too.
  const indexes = bulk ? [...(await dropIndexes(db, kind)), ...(changes.listed ? [] : await dropPrimaryKey(db, kind))] : [];
  const written = await upsert(db, kind, options.present, options.now, changes, kind === 'charges' && options.paidStaged === true);
  const kept = options.keep && (keys.length || indexes.length) ? { table: kind, foreignKeys: keys, indexes } : undefined;
  if (!kept) await restoreIndexes(db, indexes);
  if (allocating) {
    // Its primary key too: nothing references allocations, and a bulk load writes most of them.
    const allocationIndexes = bulk ? [...(await dropIndexes(db, 'allocations')), ...(await dropPrimaryKey(db, 'allocations'))] : [];
    // Paying a charge gives it a new row version (paid_cents), so a new entry in each of its
    // indexes, its primary key's too: when many charges are paid, one rebuild costs less.
    const counted = options.paidCounted === true;
    const chargeIndexes = bulk && !counted && (await paysManyCharges(db, named)) ? [...(await dropIndexes(db, 'charges')), ...(await dropPrimaryKey(db, 'charges'))] : [];
    await writeAllocations(db, named, counted);
    if (named && (await refuseOverpaidCharges(db, few))) return undefined;
    // A re-import that changes no payment wrote no allocation: nothing to read.
    if (paymentsDeferred && changes.rows > 0 && (await overpaidByFile(db, few))) return 'overpaid';
    await restoreIndexes(db, [...allocationIndexes, ...chargeIndexes]);
  }
  if (kept) options.keep?.push(kept);
  else await restoreForeignKeys(db, kind, keys);
  await restoreForeignKeys(db, 'allocations', allocationKeys);
  return written;
}

async function listedProblems(db: Executor, options: MergeOptions): Promise<StagedProblem[]> {
  return (await firstProblems(db, options.columnOrder, options.maxProblems ?? 1000)).map((p) => ({ row: p.row_no, column: p.col, reason: p.reason }));
}

/** A merge refused for its problems (found before writing, or once written and then taken back to `savepoint`): nothing written. */
async function refusedWith(db: Executor, options: MergeOptions, aside: boolean, savepoint?: string): Promise<MergeResult> {
  const counts = await problemCounts(db);
  const problems = await listedProblems(db, options);
  if (savepoint) await sql`rollback to savepoint ${sql.raw(savepoint)}`.execute(db);
  if (aside) await putBackUnchanged(db);
  return { inserted: 0, updated: 0, unchanged: 0, skipped: 0, problems, problemCount: counts.problems };
}

/**
 * Moves the staged rows findChanges found unchanged out of the way: import_stage keeps the new
 * and changed ones (and any without a key, which a check names), the whole stage waits under
 * another name for putBackUnchanged, since a sync reads its staged rows again after the merge.
 */
async function setAsideUnchanged(db: Executor, kind: ImportKind, few: boolean): Promise<void> {
  const key = sql.ref(`s.${keyColumn(kind)}`);
  await sql`alter table import_stage rename to import_stage_all`.execute(db);
  // A few rows are fetched where findChanges saw them (the stage is not written in between),
  // not found by reading the whole stage again. Rows without a key are among them (new).
  const where = few
    ? sql`s.ctid = any(array(select c.tid from ${sql.table(CHANGED)} c))`
    : sql`${key} is null or ${key} in (select c.key from ${sql.table(CHANGED)} c)`;
  await sql`create temp table import_stage on commit drop as select s.* from import_stage_all s where ${where}`.execute(db);
  await analyzeStage(db, kind);
}


/** The columns the merge joins and filters staged rows on: statistics of the others (names, addresses) would only cost time. */
const JOINED: Record<ImportKind, readonly string[]> = {
  libraries: ['code'],
  patrons: ['id', 'home_library'],
  items: ['id', 'patron_id'],
  charges: ['id', 'patron_id', 'item_id', 'library'],
  payments: ['id', 'patron_id', 'charge_id'],
};

async function analyzeStage(db: Executor, kind: ImportKind): Promise<void> {
  await sql`analyze import_stage (${sql.join(JOINED[kind].map((c) => sql.ref(c)))})`.execute(db);
}

async function cleanRows(db: Executor, table: string): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)} s where ${clean}`.execute(db);
  return r.rows[0]?.n ?? 0;
}

/**
 * The digest of each staged line whose row was found unchanged and holds none (written before
 * digests were kept, by a sync, by a first load of a file without every column, or by another
 * writer, which cleared it): the next re-import of the same line leaves it unstaged. Only the
 * digest is written (no updated_at, no count: the row did not change). A row holding another
 * line's digest keeps it: two files of other columns imported by turns write nothing. Rows with
 * a problem are left out: never a digest of a line that was not imported. Changed rows were
 * written with theirs.
 */
async function storeDigests(db: Executor, kind: ImportKind): Promise<void> {
  const key = sql.ref(keyColumn(kind));
  const digest = sql.ref(DIGEST_COLUMN);
  await sql`
    update ${sql.table(kind)} t set ${digest} = s.${digest}
    from import_stage_all s
    where t.${key} = s.${key} and s.${digest} is not null and t.${digest} is null and ${clean}`.execute(db);
}

async function putBackUnchanged(db: Executor): Promise<void> {
  await sql`drop table import_stage`.execute(db);
  await sql`alter table import_stage_all rename to import_stage`.execute(db);
}

/** Drops the staging tables of one kind, so the same transaction can stage the next kind. */
export async function dropStaging(db: Executor): Promise<void> {
  await sql`drop table if exists import_stage, import_stage_all, import_problems, import_changed, import_old_alloc, import_open, import_alloc`.execute(db);
}
