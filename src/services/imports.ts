// `arrears import <kind> <file>`: libraries, patrons, items, charges and payments from
// .csv or .xlsx, as DESIGN.md documents them. The file streams through: each row is
// validated as it is read and written to a staging table in batches; references are then
// checked set-based against the staging table, and the real table is upserted, all in one
// transaction. Every problem is collected; by default any problem means nothing is written.
// A first load of patrons, items or charges into an empty table skips the stage (loadsDirectly).
import { sql } from 'kysely';
import {
  COLUMNS,
  IMPORT_KINDS,
  isDateTimeValue,
  isImportKind,
  parseRow,
  readHeader,
  type Header,
  type ImportKind,
  type ParsedRow,
} from '../domain/import-formats.ts';
import { ValidationError, type Problem } from '../domain/errors.ts';
import { localDateOf } from '../domain/dates.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { openSource, type Progress, type RowSource, type SourceBatch, type SourceRow } from './imports/source.ts';
import { lineCells, QUOTED, type CsvLines } from './imports/fast-csv.ts';
import { withImportSession, type ImportSession } from './imports/session.ts';
import { CopyText, copyLine, type StageValue } from './imports/copy-text.ts';
import { KeyOrder, rowEncoder, type RowEncoder } from './imports/encode.ts';
import { DigestSet, digestSalt } from './imports/digest.ts';
import {
  DIGEST_COLUMN,
  DIGESTED,
  PROBLEMS,
  STAGE,
  createStaging,
  dropForeignKeys,
  dropIndexes,
  dropPrimaryKey,
  firstProblems,
  hasRows,
  estimatedRows,
  isFew,
  keyColumn,
  problemCounts,
  restoreForeignKeys,
  restoreIndexes,
  stageColumns,
  type ForeignKey,
  type StageColumn,
} from './imports/kinds.ts';
import { mergeStaged, type MergeResult } from './imports/merge.ts';
import { fastWallClockResolver } from './imports/wall-clock.ts';

export { IMPORT_KINDS, type ImportKind };

export interface ImportResult {
  kind: ImportKind;
  /** The file's base name, as problems name it. */
  file: string;
  inserted: number;
  /** Rows that existed and changed. */
  updated: number;
  /** Rows that existed exactly as in the file: compared, not written. */
  unchanged: number;
  /** Bad rows left out (only with skipBadRows; otherwise a bad row fails the import). */
  skipped: number;
  problems: Problem[];
}

export interface ImportOptions {
  /** Import the good rows and report the bad ones instead of failing. */
  skipBadRows?: boolean;
  onProgress?: Progress;
  /** Data rows read so far, every thousand rows and at the end of the file. */
  onRows?: (rowsRead: number) => void;
  /** Reading the file, then checking references, then writing the tables. */
  onPhase?: (phase: ImportPhase) => void;
  /** From this many rows an import checks foreign keys once for the whole table instead of per row (default 50,000). */
  bulkRows?: number;
  /** Rows written to the database at a time (default 20,000 on PostgreSQL, 2,000 on PGlite). */
  batchRows?: number;
  /** Payments: patrons whose time zone is remembered between batches (default 200,000). */
  zonesInMemory?: number;
}

const BULK_ROWS = 50_000;
/** Patrons whose zone a payments import remembers (some 20 MB); past them it starts again. */
const ZONES_IN_MEMORY = 200_000;

export type ImportPhase = 'reading' | 'checking' | 'writing';

/** Patrons whose digests a re-import holds at most (some 700 MB at 68 bytes each); past them, lines are compared in the database. */
const MAX_DIGESTS = 10_000_000;

/** Problems listed in full; beyond this a count says how many more there were. */
export const MAX_PROBLEMS = 1000;
/** A file refused with this many bad rows is read no further (memory and time stay bounded). */
export const STOP_AFTER_BAD_ROWS = 10 * MAX_PROBLEMS;

export async function importFile(ctx: Context, kind: ImportKind, path: string, options: ImportOptions = {}): Promise<ImportResult> {
  if (!isImportKind(kind)) throw ValidationError.of(`unknown import kind "${String(kind)}"; expected one of ${IMPORT_KINDS.join(', ')}`, { field: 'kind' });
  return withImportSession(ctx.database, async (session) => {
    if (await loadsDirectly(session, kind, options)) {
      // Straight into the empty table, its keys checking what a stage's checks would; at the
      // first bad row or failing key the file is read again the staged way, which names them all.
      await sql`savepoint direct_load`.execute(session.db);
      try {
        return await readFile(ctx, kind, path, session, options, true);
      } catch (err) {
        if (!(err instanceof NotDirect) && !isDataError(err)) throw err;
        await sql`rollback to savepoint direct_load`.execute(session.db);
      }
    }
    if (DIGESTED.has(kind) && session.appendText) {
      // Lines whose digest is stored are left unstaged while the keys ascend (so none repeats);
      // a file out of order is read again with every line staged, where its repeats are found.
      await sql`savepoint digests`.execute(session.db);
      try {
        return await readFile(ctx, kind, path, session, options, false, true);
      } catch (err) {
        if (!(err instanceof Unordered)) throw err;
        await sql`rollback to savepoint digests`.execute(session.db);
      }
    }
    return readFile(ctx, kind, path, session, options, false);
  });
}

async function readFile(ctx: Context, kind: ImportKind, path: string, session: ImportSession, options: ImportOptions, direct: boolean, skipStored = false): Promise<ImportResult> {
  const source = openSource(path, options.onProgress);
  const { file, lines } = source;
  try {
    let first = await lines.next();
    while (!first.done && batchSize(first.value) === 0) first = await lines.next();
    if (first.done) throw ValidationError.of('the file is empty; its first row must be the header', { file, row: 1 });
    const batch = first.value;
    const [head, rest]: [SourceRow, SourceBatch] = Array.isArray(batch)
      ? [batch[0]!, batch.slice(1)]
      : [{ row: batch.firstRow, cells: lineCells(batch.lines, batch.from) }, { ...batch, from: batch.from + 1, firstRow: batch.firstRow + 1 }];
    const { header, problems } = readHeader(kind, head.cells);
    if (problems.length) throw new ValidationError(problems.map((p) => ({ file, ...p, row: head.row })));
    return await new Import(ctx, kind, header, session, source, options, rest, direct, skipStored).run();
  } finally {
    await lines.return(undefined);
  }
}

/**
 * Patrons, items and charges into an empty table (no rows, no connector to tell sources apart)
 * are copied straight into it on PostgreSQL: a stage would only be copied into it again, and
 * every check of theirs is the table's own keys (a charge's library is checked as it is read,
 * and its assessed_on worked out then too). Not when bad rows are to be skipped. Payments are
 * always staged: they are allocated.
 */
async function loadsDirectly(session: ImportSession, kind: ImportKind, options: ImportOptions): Promise<boolean> {
  if (!session.appendText || options.skipBadRows || (kind !== 'patrons' && kind !== 'items' && kind !== 'charges')) return false;
  return !(await hasRows(session.db, kind)) && !(await hasRows(session.db, 'connectors'));
}

/** A charge copied straight into its table carries assessed_on, assessed_at's date in its library's zone (assessedOnSql's value). */
const LOCAL_DATE = { column: 'assessed_on', of: 'assessed_at' } as const;

/** A direct load gives way to the staged one: a row has a problem the staged reading names. */
class NotDirect extends Error {}

/** Lines were left unstaged for their stored digests, and then a key came out of order: read again, staging every line. */
class Unordered extends Error {}

/** A value the table refused (class 22) or a key, check or not-null constraint it broke (class 23). */
function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('22') || code.startsWith('23'));
}

/** What a direct load writes, and the keys and indexes it put off until the rows are in. */
interface DirectLoad {
  /** The file's columns; charges are followed by assessed_on, the local date of assessed_at (see LOCAL_DATE). */
  columns: StageColumn[];
  foreignKeys: ForeignKey[];
  indexes: string[];
}

/** Rows in a batch. */
function batchSize(batch: SourceBatch): number {
  return Array.isArray(batch) ? batch.length : batch.lines.count - batch.from;
}

interface PendingRow {
  row: number;
  values: ParsedRow;
  problems: Omit<Problem, 'file'>[];
}

/** Rows read and not yet staged: those rowEncoder wrote as COPY text, and the others, parsed. */
interface Pending {
  lines: CopyText;
  rows: PendingRow[];
}

/** One import in its transaction: stage every row, check them all, then write (or, direct, copy every row in and build the keys). */
class Import {
  private readonly file: string;
  private readonly columns: StageColumn[];
  private readonly key: string;
  private readonly skipBadRows: boolean;
  private readonly bulkRows: number;
  private readonly batchRows: number;
  /**
   * Keys in strictly ascending order cannot repeat, so while they are (most exports are sorted
   * by id) none is remembered; the first key out of order leaves every duplicate to the
   * database (a hash of the staged keys), so memory stays flat whatever the file's size.
   */
  private readonly order = new KeyOrder();
  private readonly zonesInMemory: number;
  private readonly resolve = fastWallClockResolver();
  private pending: Pending = { lines: new CopyText(), rows: [] };
  /** Common rows straight to COPY text (PostgreSQL), set once the libraries' zones are known. */
  private encode: RowEncoder | undefined;
  private rowsRead = 0;
  /** Charges: every library's zone (a short list), for date-times without an offset. */
  private libraryZones = new Map<string, string>();
  /** Payments: the zones of patrons looked up so far. */
  private readonly patronZone = new Map<string, string>();

  constructor(
    private readonly ctx: Context,
    private readonly kind: ImportKind,
    private readonly header: Header,
    private readonly session: ImportSession,
    private readonly source: RowSource,
    private readonly options: ImportOptions,
    /** The rows read with the header, before the source's next batch. */
    private readonly firstRows: SourceBatch = [],
    /** Straight into the kind's empty table (see loadsDirectly); any bad row throws NotDirect. */
    private readonly direct = false,
    /** Leave lines whose digest the table holds unstaged (see DIGESTED); a key out of order throws Unordered. */
    private readonly skipStored = false,
  ) {
    this.file = source.file;
    this.columns = stageColumns(kind);
    this.key = keyColumn(kind);
    this.skipBadRows = options.skipBadRows ?? false;
    this.bulkRows = options.bulkRows ?? BULK_ROWS;
    this.batchRows = Math.min(options.batchRows ?? session.batchSize, session.batchSize);
    this.zonesInMemory = options.zonesInMemory ?? ZONES_IN_MEMORY;
  }

  private get db(): Executor {
    return this.session.db;
  }

  /** Set by run when the rows go straight into the table. */
  private load: DirectLoad | undefined;
  /** Each staged line ends with its digest (DIGESTED kinds, on PostgreSQL). */
  private digests = false;

  async run(): Promise<ImportResult> {
    if (this.direct) this.load = await this.prepareDirect();
    else await createStaging(this.db, this.kind);
    const written = this.load?.columns ?? this.columns;
    if (this.kind === 'charges') {
      const libs = await this.db.selectFrom('libraries').select(['code', 'time_zone']).execute();
      this.libraryZones = new Map(libs.map((l) => [l.code, l.time_zone]));
    }
    // A direct load writes only the file's columns: its lines are the staged ones (so its digests
    // match a re-import's) only when the file has every column. Else the first re-import gives
    // the rows their digests (storeDigests).
    this.digests = DIGESTED.has(this.kind) && this.session.appendText !== undefined && (!this.load || this.load.columns.length === this.columns.length);
    const stored = this.skipStored && !this.load ? await this.storedDigests() : undefined;
    if (this.session.appendText) {
      const charges = this.kind === 'charges';
      this.encode = rowEncoder(this.header, {
        stageColumns: written.map((c) => c.source),
        rowNumbers: !this.load,
        // Charges: an unknown library is a problem (checkLibrary) and a wall-clock time is in the library's zone.
        zoneColumn: charges ? 'library' : undefined,
        zones: this.libraryZones,
        zoneRequired: charges,
        keyColumn: this.key,
        wallClock: this.resolve,
        localDateOf: charges && this.load ? LOCAL_DATE.of : undefined,
        digests: this.digests ? { salt: digestSalt(written.filter((c) => this.header.present.has(c.source)).map((c) => c.name)), stored } : undefined,
      });
    }
    this.options.onPhase?.('reading');
    // One batch is staged while the next is parsed; writes themselves never overlap.
    let staging: Promise<unknown> = Promise.resolve();
    let badRows = 0;
    let stoppedAt: number | undefined;
    // Rows come a chunk of the file at a time: one await per chunk, not per row.
    try {
      reading: for await (const batch of this.batches()) {
        const rows = Array.isArray(batch) ? undefined : batch;
        const [from, to] = rows ? [rows.from, rows.lines.count] : [0, (batch as SourceRow[]).length];
        for (let i = from; i < to; i++) {
          const row = rows ? rows.firstRow + i - rows.from : (batch as SourceRow[])[i]!.row;
          const bad = rows ? this.readLine(rows.lines, i, row) : this.readCells((batch as SourceRow[])[i]!.cells, row);
          if (bad === undefined) continue;
          if (stored && !this.order.ascending) {
            // A key out of order: a skipped line may hide a repeat of it (read again, every line
            // staged), or, none skipped yet, no more are.
            if (this.encode!.skipped > 0) throw new Unordered();
            this.encode!.stopSkipping();
          }
          // A refused file need not be read to its end: past a full list of bad rows, stop.
          if (bad && ++badRows >= STOP_AFTER_BAD_ROWS && !this.skipBadRows) {
            stoppedAt = row;
            break reading;
          }
          if (++this.rowsRead % 1000 === 0) this.options.onRows?.(this.rowsRead);
          if (this.pending.lines.lines + this.pending.rows.length >= this.batchRows) {
            await staging;
            staging = this.stage(this.takePending());
            staging.catch(() => undefined);
          }
        }
      }
      await staging;
      await this.stage(this.takePending());
    } catch (err) {
      // The session takes its next statement (a rollback, for a direct load) once the COPY in flight is over.
      await staging.catch(() => undefined);
      throw err;
    }
    if (this.load) return this.finishDirect(this.load);
    if (stoppedAt !== undefined) {
      const counts = await problemCounts(this.db);
      const listed = await firstProblems(this.db, COLUMNS[this.kind].map((c) => c.name), MAX_PROBLEMS);
      const problems = this.named({ problems: listed.map((p) => ({ row: p.row_no, column: p.col, reason: p.reason })), problemCount: counts.problems });
      throw new ValidationError([...problems, { file: this.file, row: stoppedAt, reason: `reading stopped at row ${stoppedAt} after ${STOP_AFTER_BAD_ROWS} bad rows; nothing was imported` }]);
    }
    this.options.onRows?.(this.rowsRead);
    this.options.onPhase?.('checking');
    const unstaged = this.encode?.skipped ?? 0;
    const merged = await mergeStaged(this.db, this.kind, {
      // Every row read was staged, bad ones too, but for lines whose digest is stored.
      staged: this.rowsRead - unstaged,
      present: this.header.present,
      now: this.ctx.clock.now(),
      skipBadRows: this.skipBadRows,
      bulkRows: this.bulkRows,
      duplicatesFrom: this.order.ascending ? undefined : 0,
      maxProblems: MAX_PROBLEMS,
      columnOrder: COLUMNS[this.kind].map((c) => c.name),
      onWriting: () => this.options.onPhase?.('writing'),
      digests: this.digests,
    });
    const problems = this.named(merged);
    if (problems.length && !this.skipBadRows) throw new ValidationError(problems);
    return this.finish({ ...merged, unchanged: merged.unchanged + unstaged }, problems);
  }

  /** The import's audit record, and its result. */
  private async finish(counts: Pick<ImportResult, 'inserted' | 'updated' | 'unchanged' | 'skipped'>, problems: Problem[]): Promise<ImportResult> {
    const { inserted, updated, unchanged, skipped } = counts;
    const { file, kind } = this;
    await recordAudit(this.db, {
      actor: this.ctx.actor,
      action: `import.${kind}`,
      entity: 'import',
      entityId: file,
      after: { kind, file, inserted, updated, unchanged, skipped },
      at: this.ctx.clock.now(),
    });
    return { kind, file, inserted, updated, unchanged, skipped, problems };
  }

  /**
   * The digests of the table's rows that a line may match. Patrons of a library an ILS connector
   * now feeds are left out: their lines are staged, so checkSource refuses them. Not for a file
   * of a few rows beside a big table: its rows are looked up by key for less than the digests'
   * reading (16 bytes a patron).
   */
  private async storedDigests(): Promise<DigestSet | undefined> {
    if (!(await hasRows(this.db, this.kind)) || (await isFew(this.db, this.kind, this.estimatedRows()))) return undefined;
    // In pieces of some 1 M digests (32 MB of hex text each: one bytea for every patron would
    // pass V8's longest string past 16 M patrons); past MAX_DIGESTS, every line is staged.
    const rows = await estimatedRows(this.db, this.kind);
    if (rows > MAX_DIGESTS) return undefined;
    const pieces = Math.max(1, Math.ceil(rows / 1_000_000));
    const fed = await this.db.selectFrom('libraries').select('code').where('connector_id', 'is not', null).execute();
    // Plain when nothing is fed by a connector (a join and a hash a row were half the reading).
    const notFed = fed.length ? sql`and p.home_library <> all(${fed.map((l) => l.code)}::text[])` : sql``;
    const split = pieces > 1 ? sql`group by abs(hashtext(p.id) % ${pieces})` : sql``;
    const r = await sql<{ part: Buffer | null }>`
      select string_agg(p.${sql.ref(DIGEST_COLUMN)}, ''::bytea) as part
      from patrons p where p.${sql.ref(DIGEST_COLUMN)} is not null ${notFed} ${split}`.execute(this.db);
    const parts = r.rows.flatMap((x) => (x.part ? [x.part] : []));
    return parts.length ? new DigestSet(...parts) : undefined;
  }

  /**
   * The columns a direct load copies (those the file has: the others take the table's
   * defaults, as the staged insert leaves them) and, for a big file, the table's foreign keys,
   * indexes and primary key dropped, to be built once after the rows (as a bulk merge does).
   */
  private async prepareDirect(): Promise<DirectLoad> {
    const columns = this.columns.filter((c) => this.header.present.has(c.source));
    if (this.estimatedRows() < this.bulkRows) return { columns, foreignKeys: [], indexes: [] };
    const foreignKeys = await dropForeignKeys(this.db, this.kind);
    const indexes = [...(await dropIndexes(this.db, this.kind)), ...(await dropPrimaryKey(this.db, this.kind))];
    return { columns, foreignKeys, indexes };
  }

  /** The table's columns a direct load's lines hold: the file's, and a charge's assessed_on. */
  private directColumns(load: DirectLoad): string[] {
    const names = load.columns.map((c) => c.name);
    if (this.kind === 'charges') names.push(LOCAL_DATE.column);
    if (this.digests) names.push(DIGEST_COLUMN);
    return names;
  }

  /** The file's rows, guessed from its size and the lines read with the header. */
  private estimatedRows(): number {
    const first = this.firstRows;
    if (Array.isArray(first)) return first.length;
    const lines = first.lines.count - first.from;
    if (lines <= 0) return 0;
    const bytes = first.lines.spans[2 * first.lines.count - 1]! - first.lines.spans[2 * first.from]! + lines;
    return Math.round((this.source.totalBytes * lines) / Math.max(bytes, 1));
  }

  /** Keys and indexes put back over the rows copied in: a repeated id or unknown reference fails here (and the file is read the staged way). */
  private async finishDirect(load: DirectLoad): Promise<ImportResult> {
    this.options.onRows?.(this.rowsRead);
    this.options.onPhase?.('writing');
    await restoreIndexes(this.db, load.indexes);
    await restoreForeignKeys(this.db, this.kind, load.foreignKeys);
    return this.finish({ inserted: this.rowsRead, updated: 0, unchanged: 0, skipped: 0 }, []);
  }

  private async *batches(): AsyncGenerator<SourceBatch> {
    if (batchSize(this.firstRows)) yield this.firstRows;
    yield* this.source.lines;
  }

  /** Checks that need the file so far or a small lookup: the order of keys, the charge's library. */
  private check(row: number, values: ParsedRow, problems: Omit<Problem, 'file'>[]): void {
    const id = values[this.key];
    if (typeof id === 'string' && this.order.ascending) this.order.next(Buffer.from(id, 'utf8'), 0, Buffer.byteLength(id, 'utf8'));
    this.checkLibrary(row, values, problems);
  }

  /** Reads line i of a CSV (see readCells). */
  private readLine(lines: CsvLines, i: number, row: number): boolean | undefined {
    const cells = lines.cells[i];
    if (!cells && this.encode?.line(lines.buf, lines.spans[2 * i]!, lines.spans[2 * i + 1]!, row, this.pending.lines, cells === QUOTED)) return this.encoded();
    return this.readCells(lineCells(lines, i), row);
  }

  /** Reads a row into the pending batch: whether it is bad, or undefined for no row (a blank line). */
  private readCells(cells: string[], row: number): boolean | undefined {
    if (this.encode?.cells(cells, row, this.pending.lines)) return this.encoded();
    const parsed = parseRow(this.header, cells, row);
    if (!parsed) return undefined;
    this.check(row, parsed.values, parsed.problems);
    if (this.load && parsed.problems.length) throw new NotDirect();
    this.pending.rows.push({ row, ...parsed });
    return parsed.problems.length > 0;
  }

  /** The row just encoded (never bad): its key taken in order. */
  private encoded(): false {
    if (this.order.ascending) this.encode!.keyInto(this.order);
    return false;
  }

  private checkLibrary(row: number, values: ParsedRow, problems: Omit<Problem, 'file'>[]): void {
    if (this.kind === 'charges' && typeof values.library === 'string' && !this.libraryZones.has(values.library)) {
      problems.push({ row, column: 'library', reason: `unknown library "${values.library}"` });
    }
  }

  private takePending(): Pending {
    const batch = this.pending;
    this.pending = { lines: new CopyText(), rows: [] };
    return batch;
  }

  /**
   * Writes rows to the staging table, date-times resolved in their library's zone. Rows
   * with problems are staged too (their bad cells blank) so the reference checks report
   * everything wrong with a row at once; their problems go to import_problems.
   */
  private async stage(batch: Pending): Promise<void> {
    const tuples: StageValue[][] = [];
    const problems: StageValue[][] = [];
    if (batch.rows.length) {
      const zones = this.kind === 'payments' ? await this.patronZones(batch.rows) : this.libraryZones;
      const zoneKey = this.kind === 'payments' ? 'patron_id' : 'library';
      for (const { row, values, problems: found } of batch.rows) {
        // A payment of an unknown patron is named by the reference checks; its local time stays blank.
        const zone = zones.get(values[zoneKey] as string);
        const tuple: StageValue[] = this.load ? [] : [row];
        let localOf: Date | null = null;
        for (const c of this.load?.columns ?? this.columns) {
          const v = values[c.source];
          if (v === undefined) tuple.push(null);
          else if (isDateTimeValue(v)) {
            const at = 'instant' in v ? v.instant : zone === undefined ? null : this.resolve(v.local, zone);
            if (c.source === LOCAL_DATE.of) localOf = at;
            tuple.push(at);
          } else tuple.push(v);
        }
        // A charge copied into its table: the read found its library, so its zone (check).
        if (this.load && this.kind === 'charges') tuple.push(localOf && zone !== undefined ? localDateOf(localOf, zone) : null);
        // A row read the general way has no digest: a re-import compares it in full.
        if (this.digests) tuple.push(null);
        tuples.push(tuple);
        for (const p of found) problems.push([row, p.column ?? '', p.reason]);
      }
    }
    const staged = ['row_no', ...this.columns.map((c) => c.name), ...(this.digests ? [DIGEST_COLUMN] : [])];
    const [table, columns] = this.load ? [this.kind, this.directColumns(this.load)] : [STAGE, staged];
    if (this.session.appendText) {
      for (const t of tuples) batch.lines.add(copyLine(t));
      await this.session.appendText(table, columns, batch.lines.take());
    } else await this.session.append(table, columns, tuples);
    if (!this.load) await this.session.append(PROBLEMS, ['row_no', 'col', 'reason'], problems);
  }

  /**
   * Payments: date-times without an offset are in the patron's home library's zone. Only those
   * patrons are looked up, each once while the cache holds (files list a patron's payments
   * together); a file whose times all carry their offset needs no lookup at all.
   */
  private async patronZones(batch: PendingRow[]): Promise<Map<string, string>> {
    // Emptied before this batch's patrons are chosen, never after: each is then looked up or kept.
    if (this.patronZone.size >= this.zonesInMemory) this.patronZone.clear();
    const wanted = new Set<string>();
    for (const { values } of batch) {
      const id = values.patron_id;
      const paid = values.paid_at;
      if (typeof id === 'string' && paid && isDateTimeValue(paid) && 'local' in paid && !this.patronZone.has(id)) wanted.add(id);
    }
    if (wanted.size === 0) return this.patronZone;
    const r = await sql<{ id: string; time_zone: string }>`
      select p.id, l.time_zone from patrons p join libraries l on l.code = p.home_library where p.id = any(${[...wanted]}::text[])`.execute(this.db);
    for (const x of r.rows) this.patronZone.set(x.id, x.time_zone);
    return this.patronZone;
  }

  /** The merge's problems as the file's: file, row and column, with a count of those not listed. */
  private named(merged: Pick<MergeResult, 'problems' | 'problemCount'>): Problem[] {
    const problems: Problem[] = merged.problems.map((p) => ({ file: this.file, row: p.row, column: p.column, reason: p.reason }));
    if (merged.problemCount > problems.length) problems.push({ file: this.file, reason: `${merged.problemCount - problems.length} more problems not listed` });
    return problems;
  }
}
