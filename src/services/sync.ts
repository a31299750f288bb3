// `arrears sync <connector>`: the ILS's libraries, patrons, items, charges and payments into
// Arrears, through the same staging → set-based merge as a file import (imports/merge.ts).
// One transaction on our side: all of it or none of it. The first sync reads everything;
// later ones read what changed since a stored cursor, and a full reconciliation (on demand,
// and every fullSyncEveryDays) catches what an ILS changes without leaving a trace.
import { sql } from 'kysely';
import type { ChargeRow, ConnectorConfig, IlsSession, ItemRow, LibraryRow, PatronRow, PaymentRow, SyncRequest, SyncSink } from '../connectors/types.ts';
import { loadDriver } from '../connectors/index.ts';
import type { ImportKind } from '../domain/import-formats.ts';
import { COLUMNS } from '../domain/import-formats.ts';
import { ValidationError, type Problem } from '../domain/errors.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { loadConnector, withIlsSession } from './connectors.ts';
import { STAGE, createProblemsTable, createStageTable, hasRows } from './imports/kinds.ts';
import { dropStaging, mergeStaged, restoreKept, type Kept, type MergeOptions } from './imports/merge.ts';
import { withImportSession, type ImportSession, type StageValue } from './imports/session.ts';
import { CopyText } from './imports/copy-text.ts';
import { columnsOf, stageTuple, stageWriter, type SyncRow } from './sync-stage.ts';
import { StagedPaid } from './sync-paid.ts';

export const SYNC_PHASES = ['reading', 'libraries', 'patrons', 'items', 'charges', 'payments', 'finishing'] as const;
export type SyncPhase = (typeof SYNC_PHASES)[number];

export interface SyncOptions {
  /** Read everything, not only what changed: catches deletes and voids an ILS leaves no trace of. */
  full?: boolean;
  onPhase?: (phase: SyncPhase) => void;
  /** Rows read from the ILS so far. */
  onRows?: (rows: number) => void;
  /** From this many rows of a kind, its keys and indexes are rebuilt once instead of maintained per row (default 50,000). */
  bulkRows?: number;
}

export interface SyncResult {
  connector: string;
  mode: 'full' | 'incremental';
  /** Rows inserted or changed (unchanged rows are compared, not written). */
  libraries: number;
  patrons: number;
  items: number;
  charges: number;
  payments: number;
  /** Rows the ILS no longer has: payments (a voided credit), charges (nothing left paid on them), item links (returned). */
  removed: { payments: number; charges: number; itemLinks: number };
  /** Patrons the ILS deleted (never submitted again; still followed if referred). */
  deletedPatrons: number;
  /** ILS codes the mapping does not name: they took the default (charges → manual, payments → payment). */
  unmapped: { charges: string[]; payments: string[]; methods: string[] };
  /** Patrons with an open referral whose block Arrears placed is no longer in force in the ILS (lifted by staff or by the ILS). */
  blocksGone: string[];
  rowsRead: number;
  startedAt: Date;
  finishedAt: Date;
}

const DEFAULT_FULL_EVERY_DAYS = 7;
/** A first sync of a large ILS loads like a large import: keys and indexes rebuilt once (see isBulkLoad). */
const BULK_ROWS = 50_000;
/** COPY text gathered per kind before it is sent (Sink.append). */
const FLUSH_BYTES = 4 << 20;

type Kind = Exclude<ImportKind, 'libraries'>;

/** The staging table a sink fills for each kind, in the import's own stage columns. */
const SYNC_TABLE: Record<ImportKind, string> = { libraries: 'sync_libraries', patrons: 'sync_patrons', items: 'sync_items', charges: 'sync_charges', payments: 'sync_payments' };

/** Fills the sync_* tables of one transaction as the driver reads. */
class Sink implements SyncSink {
  readonly unmappedCodes = { charges: new Set<string>(), payments: new Set<string>(), methods: new Set<string>() };
  rowsRead = 0;
  private libraryRow = 0;
  /** Rows staged of each kind: the merge need not count them again. */
  readonly staged: Record<ImportKind, number> = { libraries: 0, patrons: 0, items: 0, charges: 0, payments: 0 };

  constructor(
    private readonly session: ImportSession,
    private readonly onRows?: (rows: number) => void,
    /** Merges the libraries and patrons once all are staged (Merge.patronsSent), given the patrons staged. */
    private readonly onPatronsSent?: (patrons: number) => Promise<void>,
  ) {}

  /** Staging writes in flight: the driver reads its next chunk from the ILS while the last one is copied in. */
  private tail: Promise<void> = Promise.resolve();
  private inFlight = 0;

  /**
   * Queues a write to the staging tables, one at a time on the session; waits only when two are
   * already queued (or, `wait` false, never: the next write waits for it).
   */
  private async enqueue(write: () => Promise<void>, wait = true): Promise<void> {
    this.inFlight++;
    this.tail = this.tail.then(write).finally(() => this.inFlight--);
    // A failure surfaces at the next call or at drain(); nothing is written after it.
    this.tail.catch(() => undefined);
    if (wait && this.inFlight > 2) await this.tail;
  }

  /** Sends what is left of each kind's text and waits for every queued staging write; throws the first one that failed. */
  async drain(): Promise<void> {
    for (const kind of new Set([...this.pending.keys(), ...this.pendingTuples.keys()])) await this.flush(kind);
    await this.tail;
  }

  /** Each kind's stage columns and, for a full sync's millions of rows, their order worked out once. */
  private readonly layouts = new Map<ImportKind, string[]>();

  /** What the staged payments pay of each charge (the readers stage a patron's payments before their charges). */
  readonly paid = new StagedPaid();

  /**
   * COPY text of each kind not sent yet. A reader may hand rows over a few at a time (a
   * patron's): they are written into the kind's text at once, and the text goes to its staging
   * table when it holds FLUSH_BYTES, so nothing a reader makes outlives the young generation.
   */
  private readonly pending = new Map<ImportKind, CopyText>();
  private readonly pendingTuples = new Map<ImportKind, StageValue[][]>();

  private append(kind: ImportKind, rows: readonly SyncRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    if (this.patronsClosed && (kind === 'patrons' || kind === 'libraries')) throw new Error(`the ILS's reader sent ${kind} after saying every patron was sent`);
    this.staged[kind] += rows.length;
    let columns = this.layouts.get(kind);
    if (!columns) this.layouts.set(kind, (columns = columnsOf(kind)));
    const charges = kind === 'charges';
    const rowNo = (r: SyncRow) => (kind === 'libraries' ? ++this.libraryRow : (r as PatronRow).key);
    if (this.session.appendText && kind !== 'libraries') {
      let text = this.pending.get(kind);
      if (!text) this.pending.set(kind, (text = new CopyText()));
      if (kind === 'charges') for (const r of rows as readonly ChargeRow[]) stageWriter.charges(text, r, this.paid.of(r));
      else {
        const write = stageWriter[kind] as (t: CopyText, r: SyncRow) => void;
        for (const r of rows) write(text, r);
      }
      return text.bytes >= FLUSH_BYTES ? this.flush(kind) : Promise.resolve();
    }
    // Without COPY (PGlite), rows wait as values until a batch is full.
    let tuples = this.pendingTuples.get(kind);
    if (!tuples) this.pendingTuples.set(kind, (tuples = []));
    for (const r of rows) tuples.push(stageTuple(kind, columns, r, rowNo(r), charges ? this.paid.of(r as ChargeRow) : undefined));
    return tuples.length >= this.session.batchSize ? this.flush(kind) : Promise.resolve();
  }

  private names(kind: ImportKind): string[] {
    return ['row_no', ...(this.layouts.get(kind) ?? columnsOf(kind)), ...(kind === 'charges' ? ['paid_cents'] : [])];
  }

  /** Sends a kind's rows so far to its staging table. */
  private flush(kind: ImportKind): Promise<void> {
    const names = this.names(kind);
    const tuples = this.pendingTuples.get(kind);
    if (tuples?.length) {
      this.pendingTuples.set(kind, []);
      return this.enqueue(async () => {
        for (let i = 0; i < tuples.length; i += this.session.batchSize) await this.session.append(SYNC_TABLE[kind], names, tuples.length <= this.session.batchSize ? tuples : tuples.slice(i, i + this.session.batchSize));
      });
    }
    const text = this.pending.get(kind);
    if (!text || text.bytes === 0) return Promise.resolve();
    const chunks = text.take();
    return this.enqueue(() => this.session.appendText!(SYNC_TABLE[kind], names, chunks));
  }

  libraries = (rows: readonly LibraryRow[]) => this.append('libraries', rows);
  patrons = (rows: readonly PatronRow[]) => this.append('patrons', rows);
  items = (rows: readonly ItemRow[]) => this.append('items', rows);
  charges = (rows: readonly ChargeRow[]) => this.append('charges', rows);
  payments = (rows: readonly PaymentRow[]) => {
    this.paid.count(rows);
    return this.append('payments', rows);
  };

  async patronsSent(): Promise<void> {
    if (!this.onPatronsSent || this.patronsClosed) return;
    this.patronsClosed = true;
    await this.flush('libraries');
    await this.flush('patrons');
    const patrons = this.staged.patrons;
    // The reader goes on meanwhile: the merge is what the database does while it reads.
    await this.enqueue(() => this.onPatronsSent!(patrons), false);
  }

  /** No library or patron may be staged any more: they are merged, or being merged. */
  private patronsClosed = false;

  scope(patronIds: readonly string[]): Promise<void> {
    return this.ids('sync_scope', patronIds);
  }

  itemScope(patronIds: readonly string[]): Promise<void> {
    return this.ids('sync_item_scope', patronIds);
  }

  lineScope(lines: { patrons: readonly string[]; charges: readonly string[]; credits: readonly string[] }): Promise<void> {
    const rows = [...lines.patrons.map((id) => ['patron', id]), ...lines.charges.map((id) => ['charge', id]), ...lines.credits.map((key) => ['credit', key])];
    if (rows.length === 0) return Promise.resolve();
    return this.enqueue(async () => {
      for (let i = 0; i < rows.length; i += this.session.batchSize) await this.session.append('sync_lines', ['kind', 'ref'], rows.slice(i, i + this.session.batchSize));
    });
  }

  deleted(patronIds: readonly string[]): Promise<void> {
    return this.ids('sync_deleted', patronIds);
  }

  private ids(table: string, patronIds: readonly string[]): Promise<void> {
    if (patronIds.length === 0) return Promise.resolve();
    const rows: StageValue[][] = patronIds.map((id) => [id]);
    return this.enqueue(async () => {
      for (let i = 0; i < rows.length; i += this.session.batchSize) await this.session.append(table, ['patron_id'], rows.slice(i, i + this.session.batchSize));
    });
  }

  /** Arrears's agency fees in the ILS: charge id → the patron whose account holds it there now. */
  readonly feeHolders = new Map<string, string>();

  ownFee(chargeId: string, patronId: string): void {
    this.feeHolders.set(chargeId, patronId);
  }

  unmapped(kind: 'charges' | 'payments' | 'methods', codes: readonly string[]): void {
    for (const c of codes) this.unmappedCodes[kind].add(c);
  }

  progress(rowsRead: number): void {
    this.rowsRead = rowsRead;
    this.onRows?.(rowsRead);
  }
}

async function createSyncTables(db: Executor): Promise<void> {
  // Shaped as import_stage, so each is merged where it is (Merge.merge).
  for (const kind of ['libraries', 'patrons', 'items', 'charges', 'payments'] as const) await createStageTable(db, kind, SYNC_TABLE[kind]);
  // What the staged payments pay of each charge (StagedPaid.of).
  await sql`alter table sync_charges add column paid_cents bigint not null default 0`.execute(db);
  // A patron appears in one chunk only; the keys keep a repeat from doubling a delete's work.
  await sql`create temp table sync_scope (patron_id text not null) on commit drop`.execute(db);
  await sql`create temp table sync_item_scope (patron_id text not null) on commit drop`.execute(db);
  // Lines carried in full for patrons read in part: those patrons, charge ids, and credit keys (koha:77) whose payments all came.
  await sql`create temp table sync_lines (kind text not null, ref text not null) on commit drop`.execute(db);
  await sql`create temp table sync_deleted (patron_id text not null) on commit drop`.execute(db);
}

/** Whether this sync must be a full one: asked for, never synced, or the last full one is too old. */
function chooseMode(row: { sync_cursor: unknown; last_full_sync_at: Date | null }, config: ConnectorConfig, now: Date, full: boolean | undefined): 'full' | 'incremental' {
  if (full) return 'full';
  const cursor = row.sync_cursor as Record<string, unknown> | null;
  if (!cursor || Object.keys(cursor).length === 0 || !row.last_full_sync_at) return 'full';
  const days = config.options.fullSyncEveryDays ?? DEFAULT_FULL_EVERY_DAYS;
  return now.getTime() - new Date(row.last_full_sync_at).getTime() >= days * 86_400_000 ? 'full' : 'incremental';
}

export async function syncConnector(ctx: Context, name: string, options: SyncOptions = {}): Promise<SyncResult> {
  const config = await loadConnector(ctx, name);
  const driver = await loadDriver(config.kind);
  const startedAt = ctx.clock.now();
  const row = await ctx.database.db.selectFrom('connectors').select(['sync_cursor', 'last_full_sync_at']).where('id', '=', config.id).executeTakeFirstOrThrow();
  const mode = chooseMode(row, config, startedAt, options.full);
  try {
    const result = await withIlsSession(config, (ils) =>
      withImportSession(ctx.database, async (session) => {
        const db = session.db;
        // One sync per connector at a time; the schema in the key, as every Arrears lock (db/locks.ts).
        if (ctx.database.kind === 'postgres') await sql`select pg_advisory_xact_lock(7411080, hashtext(current_schema() || ':' || ${config.id}::text))`.execute(db);
        await createSyncTables(db);
        const merge = new Merge(db, config, driver.keyLabels, ctx.clock.now(), options.bulkRows ?? BULK_ROWS, options.onPhase);
        const sink = new Sink(session, options.onRows, mode === 'full' ? (patrons) => merge.patronsSent(patrons) : undefined);
        options.onPhase?.('reading');
        const request: SyncRequest = {
          mode,
          cursor: mode === 'full' ? {} : ((row.sync_cursor as Record<string, unknown>) ?? {}),
          ownDebits: await ownDebits(db, config.id),
          knownLedger: (ids) => knownLedger(db, name, ids),
          known: (kind, ids) => known(db, kind, ids),
          itemHolders: (ids) => itemHolders(db, ids),
          heldItems: (ids) => heldItems(db, ids),
        };
        const cursor = await ils.extract(request, sink).finally(() => sink.drain().catch(() => undefined));
        await sink.drain();
        await followOwnFees(db, sink.feeHolders);
        const merged = await merge.run({ paidStaged: sink.paid.complete, chargesVouched: sink.paid.vouched, staged: sink.staged });
        const blocksGone = await blocksGoneFromIls(db, config.id, ils);
        const finishedAt = ctx.clock.now();
        const result: SyncResult = {
          connector: name,
          mode,
          ...merged,
          unmapped: { charges: [...sink.unmappedCodes.charges], payments: [...sink.unmappedCodes.payments], methods: [...sink.unmappedCodes.methods] },
          blocksGone,
          rowsRead: sink.rowsRead,
          startedAt,
          finishedAt,
        };
        options.onPhase?.('finishing');
        await db
          .updateTable('connectors')
          .set({
            sync_cursor: JSON.stringify(cursor),
            last_sync_at: finishedAt,
            ...(mode === 'full' ? { last_full_sync_at: finishedAt } : {}),
            last_sync: JSON.stringify({ ok: true, ...summaryOf(result) }),
          })
          .where('id', '=', config.id)
          .execute();
        await recordAudit(db, { actor: ctx.actor, action: 'connector.sync', entity: 'connector', entityId: name, after: summaryOf(result), at: finishedAt });
        return result;
      }),
    );
    return result;
  } catch (err) {
    // Nothing of the sync was kept; say so where staff look.
    const at = ctx.clock.now();
    await ctx.database.db
      .updateTable('connectors')
      .set({ last_sync: JSON.stringify({ ok: false, mode, error: err instanceof Error ? err.message : String(err), at: at.toISOString() }) })
      .where('id', '=', config.id)
      .execute()
      .catch(() => undefined);
    throw err;
  }
}

/** Refs asked of the ILS at a time. */
const BLOCK_BATCH = 1000;

/**
 * Patrons whose referral is open and whose block Arrears placed (and has not been asked to
 * lift) is no longer in force in the ILS, sorted. Staff are told (services/attention.ts); the
 * block is not placed again behind their back.
 */
async function blocksGoneFromIls(db: Executor, connectorId: number, ils: IlsSession): Promise<string[]> {
  if (!ils.blocksInForce) return [];
  const placed = await sql<{ patron_id: string; ils_ref: string }>`
    select w.patron_id, w.ils_ref
    from connector_writes w join referrals r on r.id = w.referral_id
    where w.connector_id = ${connectorId} and w.kind = 'block' and w.status = 'applied' and w.ils_ref is not null and r.status = 'open'
      and not exists (select 1 from connector_writes l where l.connector_id = w.connector_id and l.kind = 'lift' and l.referral_id = w.referral_id and l.status <> 'skipped')
    order by w.patron_id`.execute(db);
  const gone: string[] = [];
  for (let i = 0; i < placed.rows.length; i += BLOCK_BATCH) {
    const batch = placed.rows.slice(i, i + BLOCK_BATCH);
    const inForce = await ils.blocksInForce(batch.map((b) => b.ils_ref));
    for (const b of batch) if (!inForce.has(b.ils_ref)) gone.push(b.patron_id);
  }
  return [...new Set(gone)];
}

/** Syncs every connector in turn (each in its own mode); one that fails does not stop the others. */
export async function syncAllConnectors(ctx: Context): Promise<{ connector: string; ok: boolean; mode?: 'full' | 'incremental'; error?: string }[]> {
  const names = (await ctx.database.db.selectFrom('connectors').select('name').orderBy('name').execute()).map((c) => c.name);
  const out = [];
  for (const name of names) {
    try {
      const r = await syncConnector(ctx, name);
      out.push({ connector: name, ok: true, mode: r.mode });
    } catch (err) {
      out.push({ connector: name, ok: false, error: err instanceof Error ? err.message : String(err) });
    }
  }
  return out;
}

const DEFAULT_MAX_SYNC_AGE_MINUTES = 24 * 60;

export interface StaleConnector {
  connector: string;
  libraries: string[];
  reason: string;
}

/** Connectors whose last committed sync is older than their maxSyncAgeMinutes (default a day), or that never synced. */
export async function staleConnectors(db: Executor, now: Date): Promise<StaleConnector[]> {
  const rows = await db.selectFrom('connectors').select(['id', 'name', 'options', 'last_sync_at', 'last_sync']).execute();
  const out: StaleConnector[] = [];
  for (const c of rows) {
    const maxMinutes = (c.options as { maxSyncAgeMinutes?: number }).maxSyncAgeMinutes ?? DEFAULT_MAX_SYNC_AGE_MINUTES;
    const age = c.last_sync_at ? (now.getTime() - new Date(c.last_sync_at).getTime()) / 60_000 : Infinity;
    if (age <= maxMinutes) continue;
    const libraries = (await db.selectFrom('libraries').select('code').where('connector_id', '=', c.id).execute()).map((l) => l.code);
    const last = c.last_sync as { ok?: boolean; error?: string } | null;
    const why = c.last_sync_at ? `its data is ${Math.floor(age)} minutes old (the limit is ${maxMinutes})` : 'it has never synced';
    out.push({ connector: c.name, libraries, reason: `connector "${c.name}": ${why}${last && last.ok === false && last.error ? `; the last sync failed: ${last.error}` : ''}; the run waits for a fresh sync` });
  }
  return out;
}

/** Why an entry may not run on stale data: it covers a library of a stale connector (a blank list covers all). */
export function blockedBy(entry: { homeLibraries: string[] }, stale: readonly StaleConnector[]): string | null {
  for (const c of stale) {
    if (entry.homeLibraries.length === 0 ? c.libraries.length > 0 : entry.homeLibraries.some((l) => c.libraries.includes(l))) return c.reason;
  }
  return null;
}

function summaryOf(r: SyncResult) {
  return {
    mode: r.mode,
    libraries: r.libraries,
    patrons: r.patrons,
    items: r.items,
    charges: r.charges,
    payments: r.payments,
    removed: r.removed,
    deletedPatrons: r.deletedPatrons,
    unmapped: r.unmapped,
    blocksGone: r.blocksGone,
    rowsRead: r.rowsRead,
    startedAt: r.startedAt.toISOString(),
    finishedAt: r.finishedAt.toISOString(),
  };
}

/**
 * An agency fee whose ILS line another patron now holds (the ILS merged the patron it was
 * posted to into that one) moves to that patron in Arrears too, so each balance stays the
 * ILS's; the payments on it the ILS moved come with this sync's rows.
 */
async function followOwnFees(db: Executor, holders: ReadonlyMap<string, string>): Promise<void> {
  if (holders.size === 0) return;
  await sql`
    update charges c set patron_id = h.patron_id
    from unnest(${[...holders.keys()]}::text[], ${[...holders.values()]}::text[]) as h(charge_id, patron_id)
    where c.id = h.charge_id and c.patron_id <> h.patron_id and exists (select 1 from patrons p where p.id = h.patron_id)`.execute(db);
}

/** The agency fees Arrears posted to this ILS: ILS debit key → the Arrears charge. */
async function ownDebits(db: Executor, connectorId: number): Promise<Map<string, string>> {
  const rows = await db.selectFrom('connector_writes').select(['ils_ref', 'charge_id']).where('connector_id', '=', connectorId).where('kind', '=', 'fee').where('status', '=', 'applied').execute();
  return new Map(rows.filter((r) => r.ils_ref && r.charge_id).map((r) => [r.ils_ref!, r.charge_id!]));
}

/**
 * `= any` of a list of ids, hidden from the planner behind a sub-select. Shown 2,000 patron ids,
 * PostgreSQL guessed from patron_id's statistics that most of the items table would match (most
 * items are on no patron) and read it whole, 85 ms a chunk; not shown them, it uses the index
 * (5 ms). The lists are a chunk of a sync, so the index is the right way in.
 */
const anyOf = (ids: readonly string[]) => sql`any((select ${[...ids]}::text[])::text[])`;

async function knownLedger(db: Executor, connector: string, patronIds: readonly string[]): Promise<Map<string, { charges: string[]; payments: string[] }>> {
  const out = new Map<string, { charges: string[]; payments: string[] }>();
  if (patronIds.length === 0) return out;
  const ids = [...patronIds];
  const prefix = `${connector}:`;
  const known = await sql<{ id: string }>`select id from patrons where id = any(${ids}::text[])`.execute(db);
  for (const p of known.rows) out.set(p.id, { charges: [], payments: [] });
  const charges = await sql<{ id: string; patron_id: string }>`select id, patron_id from charges where patron_id = ${anyOf(ids)} and starts_with(id, ${prefix})`.execute(db);
  for (const c of charges.rows) out.get(c.patron_id)?.charges.push(c.id);
  const payments = await sql<{ id: string; patron_id: string }>`select id, patron_id from payments where patron_id = ${anyOf(ids)} and starts_with(id, ${prefix})`.execute(db);
  for (const p of payments.rows) out.get(p.patron_id)?.payments.push(p.id);
  return out;
}

async function known(db: Executor, kind: 'patrons' | 'items', ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await sql<{ id: string }>`select id from ${sql.table(kind)} where id = any(${[...ids]}::text[])`.execute(db);
  return new Set(rows.rows.map((r) => r.id));
}

async function itemHolders(db: Executor, itemIds: readonly string[]): Promise<Map<string, string>> {
  if (itemIds.length === 0) return new Map();
  const rows = await sql<{ id: string; patron_id: string }>`select id, patron_id from items where id = any(${[...itemIds]}::text[]) and patron_id is not null`.execute(db);
  return new Map(rows.rows.map((r) => [r.id, r.patron_id]));
}

async function heldItems(db: Executor, patronIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (patronIds.length === 0) return out;
  const rows = await sql<{ id: string; patron_id: string }>`select id, patron_id from items where patron_id = ${anyOf(patronIds)}`.execute(db);
  for (const r of rows.rows) out.set(r.patron_id, [...(out.get(r.patron_id) ?? []), r.id]);
  return out;
}

type Merged = Pick<SyncResult, 'libraries' | 'patrons' | 'items' | 'charges' | 'payments' | 'removed' | 'deletedPatrons'>;

/** What the driver staged, merged kind by kind in the order rows refer to each other. */
class Merge {
  private readonly prefix: string;

  constructor(
    private readonly db: Executor,
    private readonly config: ConnectorConfig,
    private readonly keyLabels: Record<Kind, string>,
    private readonly now: Date,
    private readonly bulkRows: number,
    private readonly onPhase?: (phase: SyncPhase) => void,
  ) {
    this.prefix = `${config.name}:`;
  }

  /** The libraries and patrons, merged while the reader goes on (patronsSent), with how many rows each changed. */
  private early?: { libraries: number; patrons: number };

  /**
   * Every library and patron of a first sync is staged (SyncSink.patronsSent): they are merged
   * now, on the session's queue, while the driver reads the ledgers (the database has little
   * else to do then), not after everything is read. A sync that finds patrons of this
   * connector held already merges them in run(), where its stages are indexed first.
   */
  async patronsSent(patronsStaged: number): Promise<void> {
    if (await this.holdsAnyPatron()) return;
    await sql`analyze sync_libraries`.execute(this.db);
    const libraries = await this.mergeLibraries();
    const patrons = await this.merge('patrons', patronsStaged);
    this.early = { libraries, patrons };
  }

  private async mergeLibraries(): Promise<number> {
    await this.checkLibrarySources();
    const libraries = await this.merge('libraries');
    await sql`update libraries set connector_id = ${this.config.id} where code in (select code from sync_libraries) and connector_id is distinct from ${this.config.id}`.execute(this.db);
    return libraries;
  }

  /** `sink`: what the sink saw staged (StagedPaid.complete and .vouched, the rows of each kind). */
  async run(sink: { paidStaged: boolean; chargesVouched: boolean; staged: Readonly<Record<ImportKind, number>> }): Promise<Merged> {
    const db = this.db;
    // The first sync of a connector (no patron of it held yet) finds nothing gone: the rows
    // Arrears held of it are what could have left the ILS, and there are none, so the searches
    // for them are skipped with the indexes they read (a fifth of a first sync's merge).
    const first = this.early !== undefined || !(await this.holdsAnyPatron());
    if (!first) {
      // Looked up by key while merging (what is gone, what changed): indexed once, after the copy.
      for (const kind of ['patrons', 'items', 'charges', 'payments'] as const) await sql`create index on ${sql.table(SYNC_TABLE[kind])} (id)`.execute(db);
      await sql`create index on sync_scope (patron_id)`.execute(db);
      await sql`create index on sync_lines (kind, ref)`.execute(db);
    }
    // A first sync's four big stages are analyzed where each is merged (mergeStaged, on the
    // columns it joins): analyzed whole here as well, they took half a second of a medium sync.
    const staged = first ? (this.early ? [] : ['sync_libraries']) : Object.values(SYNC_TABLE);
    for (const t of [...staged, 'sync_scope', 'sync_item_scope', 'sync_lines', 'sync_deleted']) await sql`analyze ${sql.table(t)}`.execute(db);
    this.onPhase?.('libraries');
    const libraries = this.early?.libraries ?? (await this.mergeLibraries());
    this.onPhase?.('patrons');
    const patrons = this.early?.patrons ?? (await this.merge('patrons', sink.staged.patrons));

    this.onPhase?.('items');
    // A checkout by a patron the sync leaves out (a branch the mapping ignores) links to no one.
    await sql`update sync_items s set patron_id = null where s.patron_id is not null and not exists (select 1 from patrons p where p.id = s.patron_id)`.execute(db);
    const items = await this.merge('items', sink.staged.items);
    const itemLinks = first ? 0 : await this.unlinkItems();

    this.onPhase?.('charges');
    const stalePayments = first ? 0 : await this.removeStalePayments();
    // Into empty tables (a first sync, no CSV member's ledger either), each charge is written
    // with what the ILS's payments pay of it, staged with it, and not given a second row version
    // when they arrive: its keys are built at once, as in any load (a repeated key found by
    // that build, see mergeStaged).
    const counted = sink.paidStaged && !(await hasRows(db, 'charges')) && !(await hasRows(db, 'payments'));
    // Otherwise the payments update the paid_cents of the charges a bulk load has just
    // inserted: their keys and indexes wait for them.
    const kept: Kept[] = [];
    const charges = await this.merge('charges', sink.staged.charges, counted ? undefined : kept, { paidStaged: counted });
    this.onPhase?.('payments');
    const payments = await this.merge('payments', sink.staged.payments, undefined, { paidCounted: counted, chargesVouched: sink.chargesVouched });
    await restoreKept(db, kept);
    const removedCharges = first ? 0 : await this.removeVanishedCharges();
    const deletedPatrons = await this.excludeDeleted();
    return {
      libraries,
      patrons,
      items,
      charges,
      payments,
      removed: { payments: stalePayments, charges: removedCharges, itemLinks },
      deletedPatrons,
    };
  }

  /**
   * Whether Arrears holds any patron of this connector (ids `<connector>:…`), kept from any
   * earlier sync, even of a connector since removed and added again under the same name. Found
   * through the patrons' lower-case id index; starts_with keeps the match exact.
   */
  private async holdsAnyPatron(): Promise<boolean> {
    const pattern = `${this.prefix.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    const r = await sql<{ any: boolean }>`
      select exists (select 1 from patrons p where lower(p.id) like ${pattern} and starts_with(p.id, ${this.prefix})) as any`.execute(this.db);
    return r.rows[0]?.any ?? true;
  }

  /** A library code comes from one source: this connector, or nothing else holding data under it. */
  private async checkLibrarySources(): Promise<void> {
    const clashes = await sql<{ code: string; other: string | null }>`
      select s.code, c.name as other
      from sync_libraries s
      join libraries l on l.code = s.code
      left join connectors c on c.id = l.connector_id
      where l.connector_id is distinct from ${this.config.id}
        and (l.connector_id is not null
             or exists (select 1 from patrons p where p.home_library = l.code)
             or exists (select 1 from charges ch where ch.library = l.code))
      order by s.code`.execute(this.db);
    if (clashes.rows.length === 0) return;
    throw new ValidationError(
      clashes.rows.map((c) => ({
        field: `libraries.${c.code}`,
        reason: `library code "${c.code}" comes from two sources: ${c.other ? `connector "${c.other}"` : 'CSV imports'} and connector "${this.config.name}"; map one of them away (connectors map ${this.config.name}: libraries.${c.code}.ignore) or rename the branch`,
      })),
    );
  }

  /** `staged`: the rows the sink staged of the kind (counted again when not given). */
  private async merge(kind: ImportKind, staged?: number, keep?: Kept[], paid: Pick<MergeOptions, 'paidStaged' | 'paidCounted' | 'chargesVouched'> = {}): Promise<number> {
    const db = this.db;
    // The sync table is the staging table, lent under import_stage's name: its rows are not
    // copied again, and what the merge marks on them (unchanged payments) is all it changes.
    await sql`alter table ${sql.table(SYNC_TABLE[kind])} rename to ${sql.table(STAGE)}`.execute(db);
    await createProblemsTable(db);
    const result = await mergeStaged(db, kind, {
      staged,
      present: new Set(COLUMNS[kind].map((c) => c.name)),
      now: this.now,
      bulkRows: this.bulkRows,
      duplicatesFrom: 0,
      connectorId: this.config.id,
      namedPayments: true,
      columnOrder: COLUMNS[kind].map((c) => c.name),
      keep,
      ...paid,
    });
    await sql`alter table ${sql.table(STAGE)} rename to ${sql.table(SYNC_TABLE[kind])}`.execute(db);
    await dropStaging(db);
    if (result.problemCount > 0) throw new ValidationError(this.named(kind, result.problems, result.problemCount));
    return result.inserted + result.updated;
  }

  private named(kind: ImportKind, problems: { row: number; column: string; reason: string }[], count: number): Problem[] {
    const label = kind === 'libraries' ? 'branch' : this.keyLabels[kind];
    const named: Problem[] = problems.map((p) => ({ file: `${this.config.name} (${kind}, ${label} ${p.row})`, column: p.column, reason: p.reason }));
    if (count > named.length) named.push({ file: this.config.name, reason: `${count - named.length} more problems not listed` });
    return named;
  }

  /** Items linked to a patron whose checkouts this sync carries, and not among them: the ILS no longer links them. */
  private async unlinkItems(): Promise<number> {
    const r = await sql`
      update items i set patron_id = null, due_date = null,
             status = case when i.status = 'checked_out' then 'available' else i.status end,
             updated_at = ${this.now.toISOString()}::timestamptz
      where starts_with(i.id, ${this.prefix})
        and i.patron_id = any(array(select patron_id from sync_scope union all select patron_id from sync_item_scope))
        and not exists (select 1 from sync_items s where s.id = i.id)`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }

  /**
   * This connector's payments that the ILS no longer has as they are (a voided credit, a
   * payment moved to another debit), among those the sync carries in full: every payment of a
   * patron in scope, and of the patrons read in part, those on a charge or of a credit in
   * sync_lines. Removed before the charges are merged, so their allocations never stand in the
   * way of a debit's new amount; a changed payment is written again by the payments merge.
   * Returns those gone for good.
   */
  private async removeStalePayments(): Promise<number> {
    const identical = sql`exists (
      select 1 from sync_payments s
      where s.id = p.id and s.patron_id = p.patron_id and s.charge_id is not distinct from p.charge_id
        and s.amount_cents = p.amount_cents and s.type = p.type and s.method = p.method and s.paid_at = p.paid_at)`;
    const whole = await sql<{ id: string }>`
      delete from payments p using sync_scope sc
      where p.patron_id = sc.patron_id and starts_with(p.id, ${this.prefix}) and not ${identical}
      returning p.id`.execute(this.db);
    // The payment's credit key: koha:77 of koha:77:5512.
    const creditKey = sql`split_part(p.id, ':', 1) || ':' || split_part(p.id, ':', 2)`;
    // The patrons read in part are few (an incremental sync): their payments are found by
    // index, not by reading every payment (an array the planner looks up key by key).
    const part = await sql<{ id: string }>`
      delete from payments p
      where p.patron_id = any(array(select distinct ref from sync_lines where kind = 'patron')) and starts_with(p.id, ${this.prefix})
        and (p.charge_id in (select ref from sync_lines where kind = 'charge') or ${creditKey} in (select ref from sync_lines where kind = 'credit'))
        and not ${identical}
      returning p.id`.execute(this.db);
    const gone = [...whole.rows, ...part.rows].map((x) => x.id);
    if (gone.length === 0) return 0;
    const again = await sql<{ n: number }>`select count(*)::int as n from sync_payments where id = any(${gone}::text[])`.execute(this.db);
    return gone.length - (again.rows[0]?.n ?? 0);
  }

  /** Charges the sync carries in full that the ILS no longer has, when nothing is paid on them any more. */
  private async removeVanishedCharges(): Promise<number> {
    // The few gone first (usually none); the payments table is then looked at for them alone.
    const gone = await sql<{ id: string }>`
      select c.id from charges c join sync_scope sc on sc.patron_id = c.patron_id
      where starts_with(c.id, ${this.prefix}) and not exists (select 1 from sync_charges s where s.id = c.id)
      union
      -- From the lines (an incremental sync's few), each charge looked up by its key: joined,
      -- PostgreSQL read every charge to hash them (0.35 s at 950,000 charges for 7,000 lines).
      select l.ref from sync_lines l cross join lateral (select 1 from charges c where c.id = l.ref offset 0) c
      where l.kind = 'charge' and starts_with(l.ref, ${this.prefix}) and not exists (select 1 from sync_charges s where s.id = l.ref)`.execute(this.db);
    if (gone.rows.length === 0) return 0;
    const r = await sql`
      delete from charges c
      where c.id = any(${gone.rows.map((g) => g.id)}::text[]) and c.paid_cents = 0
        and not exists (select 1 from payments p where p.charge_id = c.id)`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }

  /** Patrons the ILS deleted are never submitted again: an exclusion says so (staff can see and lift it). */
  private async excludeDeleted(): Promise<number> {
    const reason = `deleted in the ILS (connector ${this.config.name})`;
    const r = await sql`
      insert into exclusions (patron_id, reason, created_by, created_at)
      select distinct d.patron_id, ${reason}, ${`sync:${this.config.name}`}, ${this.now.toISOString()}::timestamptz
      from sync_deleted d
      where exists (select 1 from patrons p where p.id = d.patron_id)
        and not exists (select 1 from exclusions x where x.patron_id = d.patron_id and x.lifted_at is null and x.reason = ${reason})`.execute(this.db);
    return Number(r.numAffectedRows ?? 0);
  }
}
