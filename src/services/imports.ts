// `arrears import <kind> <file>`: libraries, patrons, items, charges and payments from
// .csv or .xlsx, as DESIGN.md documents them. The file streams through: each row is
// validated as it is read and written to a staging table in batches; references are then
// checked set-based against the staging table, and the real table is upserted, all in one
// transaction. Every problem is collected; by default any problem means nothing is written.
import { sql } from 'kysely';
import {
  COLUMNS,
  IMPORT_KINDS,
  isDateTimeValue,
  isImportKind,
  parseRow,
  readHeader,
  wallClockResolver,
  type Header,
  type ImportKind,
  type ParsedRow,
} from '../domain/import-formats.ts';
import { ValidationError, type Problem } from '../domain/errors.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { openSource, type Progress, type RowSource } from './imports/source.ts';
import { withImportSession, type ImportSession, type StageValue } from './imports/session.ts';
import {
  PROBLEMS,
  STAGE,
  checkReferences,
  createStaging,
  dropBadRows,
  dropForeignKeys,
  firstProblems,
  isBulkLoad,
  keyColumn,
  problemCounts,
  restoreForeignKeys,
  stageColumns,
  stagedRows,
  upsert,
  type StageColumn,
} from './imports/kinds.ts';
import { allocatePayments, writeAllocations } from './imports/allocate.ts';

export { IMPORT_KINDS, type ImportKind };

export interface ImportResult {
  kind: ImportKind;
  /** The file's base name, as problems name it. */
  file: string;
  inserted: number;
  updated: number;
  /** Bad rows left out (only with skipBadRows; otherwise a bad row fails the import). */
  skipped: number;
  problems: Problem[];
}

export interface ImportOptions {
  /** Import the good rows and report the bad ones instead of failing. */
  skipBadRows?: boolean;
  onProgress?: Progress;
  /** From this many rows an import checks foreign keys once for the whole table instead of per row (default 50,000). */
  bulkRows?: number;
  /** Rows written to the database at a time (default 20,000 on PostgreSQL, 2,000 on PGlite). */
  batchRows?: number;
}

const BULK_ROWS = 50_000;

/** Problems listed in full; beyond this a count says how many more there were. */
export const MAX_PROBLEMS = 1000;

export async function importFile(ctx: Context, kind: ImportKind, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  if (!isImportKind(kind)) throw ValidationError.of(`unknown import kind "${String(kind)}"; expected one of ${IMPORT_KINDS.join(', ')}`, { field: 'kind' });
  const source = openSource(path, options.onProgress);
  const { file, rows } = source;
  try {
    const first = await rows.next();
    if (first.done) throw ValidationError.of('the file is empty; its first row must be the header', { file, row: 1 });
    const { header, problems } = readHeader(kind, first.value.cells);
    if (problems.length) throw new ValidationError(problems.map((p) => ({ file, ...p, row: first.value.row })));
    return await withImportSession(ctx.database, (session) => new Import(ctx, kind, header, session, source, options).run());
  } finally {
    await rows.return(undefined);
  }
}

interface PendingRow {
  row: number;
  values: ParsedRow;
  problems: Omit<Problem, 'file'>[];
}

/** One import in its transaction: stage every row, check them all, then write. */
class Import {
  private readonly file: string;
  private readonly columns: StageColumn[];
  private readonly key: string;
  private readonly skipBadRows: boolean;
  private readonly bulkRows: number;
  private readonly batchRows: number;
  private readonly seen = new Map<string, number>();
  private readonly resolve = wallClockResolver();
  private pending: PendingRow[] = [];
  /** Charges: every library's zone (a short list), for date-times without an offset. */
  private libraryZones = new Map<string, string>();

  constructor(
    private readonly ctx: Context,
    private readonly kind: ImportKind,
    private readonly header: Header,
    private readonly session: ImportSession,
    private readonly source: RowSource,
    options: ImportOptions,
  ) {
    this.file = source.file;
    this.columns = stageColumns(kind);
    this.key = keyColumn(kind);
    this.skipBadRows = options.skipBadRows ?? false;
    this.bulkRows = options.bulkRows ?? BULK_ROWS;
    this.batchRows = Math.min(options.batchRows ?? session.batchSize, session.batchSize);
  }

  private get db(): Executor {
    return this.session.db;
  }

  async run(): Promise<ImportResult> {
    await createStaging(this.db, this.kind);
    if (this.kind === 'charges') {
      const libs = await this.db.selectFrom('libraries').select(['code', 'time_zone']).execute();
      this.libraryZones = new Map(libs.map((l) => [l.code, l.time_zone]));
    }
    // One batch is staged while the next is parsed; writes themselves never overlap.
    let staging: Promise<unknown> = Promise.resolve();
    for await (const { row, cells } of this.source.rows) {
      const parsed = parseRow(this.header, cells, row);
      if (!parsed) continue;
      this.check(row, parsed.values, parsed.problems);
      this.pending.push({ row, ...parsed });
      if (this.pending.length >= this.batchRows) {
        await staging;
        staging = this.stage(this.takePending());
        staging.catch(() => undefined);
      }
    }
    await staging;
    await this.stage(this.takePending());
    // Temporary tables are never analyzed automatically; the checks below join them with big tables.
    await sql`analyze import_stage`.execute(this.db);

    await checkReferences(this.db, this.kind);
    if (this.kind === 'payments') await allocatePayments(this.db, this.skipBadRows);
    const { problems, skipped } = await this.collectProblems();
    if (problems.length && !this.skipBadRows) throw new ValidationError(problems);
    if (skipped) await dropBadRows(this.db);

    const now = this.ctx.clock.now();
    const staged = await stagedRows(this.db);
    const keys = (await isBulkLoad(this.db, this.kind, staged, this.bulkRows)) ? await dropForeignKeys(this.db, this.kind) : [];
    const { inserted } = await upsert(this.db, this.kind, this.header.present, now);
    const updated = staged - inserted;
    if (this.kind === 'payments') await writeAllocations(this.db);
    await restoreForeignKeys(this.db, this.kind, keys);

    const { file, kind } = this;
    await recordAudit(this.db, {
      actor: this.ctx.actor,
      action: `import.${kind}`,
      entity: 'import',
      entityId: file,
      after: { kind, file, inserted, updated, skipped },
      at: now,
    });
    return { kind, file, inserted, updated, skipped, problems };
  }

  /** Checks that need the whole file so far or a small lookup: duplicate keys, the charge's library. */
  private check(row: number, values: ParsedRow, problems: Omit<Problem, 'file'>[]): void {
    const id = values[this.key];
    if (typeof id === 'string') {
      const firstRow = this.seen.get(id);
      if (firstRow === undefined) this.seen.set(id, row);
      else problems.push({ row, column: this.key, reason: `duplicate ${this.key} "${id}" (also on row ${firstRow})` });
    }
    if (this.kind === 'charges' && typeof values.library === 'string' && !this.libraryZones.has(values.library)) {
      problems.push({ row, column: 'library', reason: `unknown library "${values.library}"` });
    }
  }

  private takePending(): PendingRow[] {
    const batch = this.pending;
    this.pending = [];
    return batch;
  }

  /**
   * Writes rows to the staging table, date-times resolved in their library's zone. Rows
   * with problems are staged too (their bad cells blank) so the reference checks report
   * everything wrong with a row at once; their problems go to import_problems.
   */
  private async stage(batch: PendingRow[]): Promise<void> {
    if (batch.length === 0) return;
    const zones = this.kind === 'payments' ? await this.patronZones(batch) : this.libraryZones;
    const zoneKey = this.kind === 'payments' ? 'patron_id' : 'library';
    const tuples: StageValue[][] = [];
    const problems: StageValue[][] = [];
    for (const { row, values, problems: found } of batch) {
      const zone = zones.get(values[zoneKey] as string);
      if (this.kind === 'payments' && typeof values.patron_id === 'string' && zone === undefined) {
        found.push({ row, column: 'patron_id', reason: `unknown patron "${values.patron_id}"` });
      }
      const tuple: StageValue[] = [row];
      for (const c of this.columns) {
        const v = values[c.source];
        if (v === undefined) tuple.push(null);
        else if (isDateTimeValue(v)) tuple.push('instant' in v ? v.instant : zone === undefined ? null : this.resolve(v.local, zone));
        else tuple.push(v);
      }
      tuples.push(tuple);
      for (const p of found) problems.push([row, p.column ?? '', p.reason]);
    }
    await this.session.append(STAGE, ['row_no', ...this.columns.map((c) => c.name)], tuples);
    await this.session.append(PROBLEMS, ['row_no', 'col', 'reason'], problems);
  }

  /** Payments: date-times without an offset are in the patron's home library's zone. */
  private async patronZones(batch: PendingRow[]): Promise<Map<string, string>> {
    const ids = [...new Set(batch.map((r) => r.values.patron_id).filter((id): id is string => typeof id === 'string'))];
    const r = await sql<{ id: string; time_zone: string }>`
      select p.id, l.time_zone from patrons p join libraries l on l.code = p.home_library where p.id = any(${ids}::text[])`.execute(this.db);
    return new Map(r.rows.map((x) => [x.id, x.time_zone]));
  }

  /** Every problem found, by row and column, capped at MAX_PROBLEMS; and how many rows are bad. */
  private async collectProblems(): Promise<{ problems: Problem[]; skipped: number }> {
    const counts = await problemCounts(this.db);
    const order = COLUMNS[this.kind].map((c) => c.name);
    const problems: Problem[] = (await firstProblems(this.db, order, MAX_PROBLEMS)).map((p) => ({
      file: this.file,
      row: p.row_no,
      column: p.col,
      reason: p.reason,
    }));
    if (counts.problems > problems.length) problems.push({ file: this.file, reason: `${counts.problems - problems.length} more problems not listed` });
    return { problems, skipped: counts.rows };
  }
}
