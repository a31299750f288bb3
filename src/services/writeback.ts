// The outbox: the writes to an ILS that runs, exclusions and returns queued (migration 210's
// triggers queue them in the same transaction), applied after that transaction commits. Each
// is claimed, applied in one ILS transaction and recorded; an ILS that cannot be reached
// leaves it queued with a back-off, a refusal marks it failed for staff to see and retry.
// Every write applied is audited. Idempotency keys make a second run of a date write nothing.
import { sql } from 'kysely';
import type { IlsSession, WriteIntent } from '../connectors/types.ts';
import { WriteRefused } from '../connectors/types.ts';
import { ilsUnreachable } from '../connectors/errors.ts';
import { ConflictError, NotFoundError } from '../domain/errors.ts';
import type { WriteKind, WriteStatus } from '../db/schema.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { loadConnector, openIls } from './connectors.ts';

export interface QueuedWrite {
  id: number;
  connector: string;
  kind: WriteKind;
  patronId: string;
  referralId: number;
  status: WriteStatus;
  attempts: number;
  nextAttemptAt: Date | null;
  lastError: string | null;
  ilsRef: string | null;
  detail: Record<string, unknown>;
  createdAt: Date;
  appliedAt: Date | null;
}

export interface WritebackResult {
  connector: string;
  applied: number;
  /** Still queued: waiting for review to end, or for the ILS to answer again. */
  pending: number;
  failed: number;
  skipped: number;
  /** Why the ILS could not be reached, when it could not. */
  error?: string;
}

/** Claimed writes are the claimer's for this long; one still "applying" after it was abandoned mid-way. */
const LEASE_MS = 5 * 60_000;
const BATCH = 200;
/** Back-off after a failed attempt: 1, 2, 4, ... minutes, at most an hour. */
export function backoffMs(attempts: number): number {
  return Math.min(60, 2 ** Math.max(0, attempts - 1)) * 60_000;
}

function toQueued(r: {
  id: number;
  connector: string;
  kind: WriteKind;
  patron_id: string;
  referral_id: number;
  status: WriteStatus;
  attempts: number;
  next_attempt_at: Date | null;
  last_error: string | null;
  ils_ref: string | null;
  detail: unknown;
  created_at: Date;
  applied_at: Date | null;
}): QueuedWrite {
  return {
    id: r.id,
    connector: r.connector,
    kind: r.kind,
    patronId: r.patron_id,
    referralId: r.referral_id,
    status: r.status,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    ilsRef: r.ils_ref,
    detail: (r.detail ?? {}) as Record<string, unknown>,
    createdAt: r.created_at,
    appliedAt: r.applied_at,
  };
}

function writesQuery(db: Executor) {
  return db
    .selectFrom('connector_writes as w')
    .innerJoin('connectors as c', 'c.id', 'w.connector_id')
    .select(['w.id', 'c.name as connector', 'w.kind', 'w.patron_id', 'w.referral_id', 'w.status', 'w.attempts', 'w.next_attempt_at', 'w.last_error', 'w.ils_ref', 'w.detail', 'w.created_at', 'w.applied_at']);
}

/** The writes queued by the current transaction: what a dry run would write. */
export async function writesOfThisTransaction(db: Executor): Promise<QueuedWrite[]> {
  const rows = await writesQuery(db).where('w.queued_txid', '=', sql<number>`txid_current()`).orderBy('w.id').execute();
  return rows.map(toQueued);
}

export async function listWrites(db: Executor, filter: { connector?: string; status?: WriteStatus[]; patronId?: string; limit?: number } = {}): Promise<QueuedWrite[]> {
  let q = writesQuery(db);
  if (filter.connector) q = q.where('c.name', '=', filter.connector);
  if (filter.status?.length) q = q.where('w.status', 'in', filter.status);
  if (filter.patronId) q = q.where('w.patron_id', '=', filter.patronId);
  const rows = await q.orderBy('w.id', 'desc').limit(filter.limit ?? 500).execute();
  return rows.map(toQueued);
}

/** Staff's Retry: a failed write goes back to the queue, to be tried at once. */
export async function retryWrite(ctx: Context, id: number): Promise<QueuedWrite> {
  const now = ctx.clock.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    const w = await trx.selectFrom('connector_writes').select(['id', 'status']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!w) throw new NotFoundError(`write-back ${id}`);
    if (w.status !== 'failed' && w.status !== 'pending') throw new ConflictError(`write-back ${id} is ${w.status}; only a failed or pending one can be retried`);
    await trx.updateTable('connector_writes').set({ status: 'pending', next_attempt_at: null, last_error: null }).where('id', '=', id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'writeback.retry', entity: 'connector_write', entityId: id, before: { status: w.status }, after: { status: 'pending' }, at: now });
    return toQueued((await writesQuery(trx).where('w.id', '=', id).executeTakeFirstOrThrow()) as Parameters<typeof toQueued>[0]);
  });
}

/** Connectors with something due now. */
export async function connectorsWithDueWrites(db: Executor, now: Date): Promise<string[]> {
  const rows = await db
    .selectFrom('connector_writes as w')
    .innerJoin('connectors as c', 'c.id', 'w.connector_id')
    .select('c.name')
    .distinct()
    .where('w.status', 'in', ['pending', 'applying'])
    .where((eb) => eb.or([eb('w.next_attempt_at', 'is', null), eb('w.next_attempt_at', '<=', now)]))
    .where('c.read_only', '=', false)
    .execute();
  return rows.map((r) => r.name);
}

interface Claimed {
  id: number;
  /** Attempts before this one. */
  attempts: number;
  kind: WriteKind;
  patron_id: string;
  referral_id: number;
  charge_id: string | null;
  amount_cents: number | null;
  idempotency_key: string;
  /**
   * It was tried before: in flight when its claimer stopped, or left pending by an error that
   * may have come after the ILS committed it (a connection lost during COMMIT). The ILS may
   * already have it, so the driver looks before it writes.
   */
  recovering: boolean;
  referral_status: string;
  referred_on: string;
  agency: string;
  charge_exists: boolean;
  block_status: WriteStatus | null;
  block_ref: string | null;
}

/**
 * Claims due writes of one connector, oldest first: not those whose New Submissions file is
 * still held for review (the agency has not seen them yet, and staff may take them out).
 */
async function claim(ctx: Context, connectorId: number, now: Date): Promise<Claimed[]> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const rows = await sql<Claimed & { status: WriteStatus }>`
      select w.id, w.attempts, w.kind, w.patron_id, w.referral_id, w.charge_id, w.amount_cents, w.idempotency_key, w.status,
             (w.status = 'applying' or w.attempts > 0) as recovering,
             r.status as referral_status, r.referred_on, a.name as agency,
             exists (select 1 from charges c where c.id = w.charge_id) as charge_exists,
             b.status as block_status, b.ils_ref as block_ref
      from connector_writes w
      join referrals r on r.id = w.referral_id
      join agencies a on a.id = r.agency_id
      left join connector_writes b on b.connector_id = w.connector_id and b.referral_id = w.referral_id and b.kind = 'block'
      where w.connector_id = ${connectorId} and w.status in ('pending', 'applying') and (w.next_attempt_at is null or w.next_attempt_at <= ${now}::timestamptz)
        and (w.kind = 'lift' or not exists (
          select 1 from report_files f
          where f.run_id = r.run_id and f.entry_id = r.entry_id and f.agency_id = r.agency_id and f.kind = 'new' and f.status = 'held'))
      order by w.id
      limit ${BATCH}
      for update of w skip locked`.execute(trx);
    if (rows.rows.length) {
      await trx
        .updateTable('connector_writes')
        .set({ status: 'applying', attempts: sql`attempts + 1`, next_attempt_at: new Date(now.getTime() + LEASE_MS) })
        .where('id', 'in', rows.rows.map((r) => r.id))
        .execute();
    }
    return rows.rows;
  });
}

type Outcome = { status: 'applied'; ilsRef: string | null; detail: Record<string, unknown> } | { status: 'skipped' | 'failed'; why: string } | { status: 'pending'; why: string; retrySoon?: boolean };

/** Applies what is queued for one connector (or, without a name, for every connector with writes due). */
export async function applyWritebacks(ctx: Context, name: string): Promise<WritebackResult> {
  const config = await loadConnector(ctx, name);
  const result: WritebackResult = { connector: name, applied: 0, pending: 0, failed: 0, skipped: 0 };
  if (config.readOnly) return { ...result, ...(await countPending(ctx.database.db, config.id)) };
  const prefix = `${name}:`;
  let unreachable: string | undefined;
  const seen = new Set<number>();
  for (;;) {
    const now = ctx.clock.now();
    const batch = (await claim(ctx, config.id, now)).filter((w) => !seen.has(w.id));
    if (batch.length === 0) break;
    batch.forEach((w) => seen.add(w.id));
    // In queue order, so a lift sees the block placed earlier in the same batch.
    const outcomes = new Map<number, Outcome>();
    const blocks = new Map<number, Outcome>();
    const applyAll = async (ils: IlsSession | null) => {
      for (const w of batch) {
        const block = blocks.get(w.referral_id);
        if (w.kind === 'lift' && block) {
          w.block_status = block.status === 'applied' ? 'applied' : block.status === 'pending' ? 'pending' : 'skipped';
          w.block_ref = block.status === 'applied' ? block.ilsRef : null;
        }
        const outcome = settleLocally(w) ?? (await applyOne(ils!, w, prefix));
        outcomes.set(w.id, outcome);
        if (w.kind === 'block') blocks.set(w.referral_id, outcome);
      }
    };
    // Only a batch with something to write opens the ILS; its writes commit there together.
    const needsIls = batch.some((w) => w.kind === 'lift' || settleLocally(w) === null);
    let ils: IlsSession | null = null;
    let grouped = false;
    try {
      if (!needsIls) await applyAll(null);
      else {
        ils = await openIls(config);
        const session = ils;
        grouped = session.group !== undefined;
        await (session.group ? session.group(() => applyAll(session)) : applyAll(session));
      }
    } catch (err) {
      if (!ilsUnreachable(err)) throw err;
      unreachable = err instanceof Error ? err.message : String(err);
      for (const w of batch) {
        const o = outcomes.get(w.id);
        // In one transaction, nothing of the batch reached the ILS: what looked applied is still to do.
        if (!o || (grouped && o.status === 'applied')) outcomes.set(w.id, { status: 'pending', why: unreachable });
      }
    } finally {
      await ils?.close();
    }
    await record(ctx, config.id, name, batch, outcomes);
    for (const o of outcomes.values()) {
      if (o.status === 'applied') result.applied++;
      else if (o.status === 'failed') result.failed++;
      else if (o.status === 'skipped') result.skipped++;
    }
    if (unreachable) break;
  }
  const counts = await countPending(ctx.database.db, config.id);
  return { ...result, pending: counts.pending, failed: result.failed, ...(unreachable ? { error: unreachable } : {}) };
}

async function countPending(db: Executor, connectorId: number): Promise<{ pending: number; failed: number }> {
  const r = await db
    .selectFrom('connector_writes')
    .select([sql<number>`count(*) filter (where status in ('pending', 'applying'))::int`.as('pending'), sql<number>`count(*) filter (where status = 'failed')::int`.as('failed')])
    .where('connector_id', '=', connectorId)
    .executeTakeFirstOrThrow();
  return { pending: r.pending, failed: r.failed };
}

async function applyOne(ils: IlsSession, w: Claimed, prefix: string): Promise<Outcome> {
  const intent: WriteIntent = {
    kind: w.kind,
    idempotencyKey: w.idempotency_key,
    patronKey: w.patron_id.startsWith(prefix) ? w.patron_id.slice(prefix.length) : w.patron_id,
    agency: w.agency,
    date: w.referred_on,
    amountCents: w.amount_cents ?? undefined,
    chargeId: w.charge_id ?? undefined,
    blockRef: w.block_ref ?? undefined,
    recovering: w.recovering,
  };
  try {
    const applied = await ils.apply(intent);
    return { status: 'applied', ilsRef: applied.ilsRef, detail: applied.detail };
  } catch (err) {
    if (err instanceof WriteRefused) return { status: 'failed', why: err.message };
    // The ILS going away mid-batch stops the batch; anything else is this write's own problem, retried later.
    if (ilsUnreachable(err)) throw err;
    return { status: 'pending', why: err instanceof Error ? err.message : String(err) };
  }
}

/** Writes that need no ILS: a block or fee for a referral already closed, a lift of a block never placed. */
function settleLocally(w: Claimed): Outcome | null {
  if (w.kind === 'block' && w.referral_status !== 'open') return { status: 'skipped', why: `the referral was ${w.referral_status} before the block was placed` };
  if (w.kind === 'fee' && !w.charge_exists) return { status: 'skipped', why: 'the agency fee was taken off before it was posted' };
  if (w.kind === 'lift') {
    if (w.block_status === 'applied') return null;
    if (w.block_status === 'applying') return { status: 'pending', why: 'its block is being placed', retrySoon: true };
    return { status: 'skipped', why: 'no block was placed' };
  }
  return null;
}

/** The batch's outcomes in a few set-based statements: its writes, their audit entries, blocks a lift settles. */
async function record(ctx: Context, connectorId: number, name: string, batch: Claimed[], outcomes: Map<number, Outcome>): Promise<void> {
  const now = ctx.clock.now();
  const applied: { id: number; ilsRef: string | null; detail: string }[] = [];
  const others: { id: number; status: WriteStatus; error: string; next: Date | null }[] = [];
  const audit: AuditEntry[] = [];
  const settledBlocks: number[] = [];
  for (const w of batch) {
    const o = outcomes.get(w.id)!;
    if (o.status === 'applied') {
      applied.push({ id: w.id, ilsRef: o.ilsRef, detail: JSON.stringify(o.detail) });
      audit.push({ actor: ctx.actor, action: `writeback.${w.kind}`, entity: 'patron', entityId: w.patron_id, after: { connector: name, referralId: w.referral_id, ilsRef: o.ilsRef, ...o.detail }, at: now });
    } else if (o.status === 'pending') {
      // A write waiting on its block is not an attempt that failed: try it again soon, not later and later.
      const wait = o.retrySoon ? 60_000 : backoffMs(w.attempts + 1);
      others.push({ id: w.id, status: 'pending', error: o.why, next: new Date(now.getTime() + wait) });
    } else {
      others.push({ id: w.id, status: o.status, error: o.why, next: null });
      if (o.status === 'failed') audit.push({ actor: ctx.actor, action: 'writeback.failed', entity: 'patron', entityId: w.patron_id, after: { connector: name, kind: w.kind, referralId: w.referral_id, error: o.why }, at: now });
      // A lift with nothing to lift settles the block it would have lifted too.
      if (w.kind === 'lift' && o.status === 'skipped') settledBlocks.push(w.referral_id);
    }
  }
  await ctx.database.db.transaction().execute(async (trx) => {
    if (applied.length) {
      await sql`
        update connector_writes w set status = 'applied', ils_ref = v.ils_ref, detail = v.detail::jsonb, applied_at = ${now}::timestamptz, last_error = null
        from unnest(${applied.map((a) => a.id)}::bigint[], ${applied.map((a) => a.ilsRef)}::text[], ${applied.map((a) => a.detail)}::text[]) as v(id, ils_ref, detail)
        where w.id = v.id`.execute(trx);
    }
    if (others.length) {
      await sql`
        update connector_writes w set status = v.status, last_error = v.error, next_attempt_at = coalesce(v.next, w.next_attempt_at)
        from unnest(${others.map((o) => o.id)}::bigint[], ${others.map((o) => o.status)}::text[], ${others.map((o) => o.error)}::text[], ${others.map((o) => o.next)}::timestamptz[]) as v(id, status, error, next)
        where w.id = v.id`.execute(trx);
    }
    if (settledBlocks.length) {
      await trx
        .updateTable('connector_writes')
        .set({ status: 'skipped', last_error: 'the referral closed before its block was placed' })
        .where('connector_id', '=', connectorId)
        .where('referral_id', 'in', settledBlocks)
        .where('kind', '=', 'block')
        .where('status', 'in', ['pending', 'failed'])
        .execute();
    }
    await recordAudit(trx, audit);
  });
}

/** Every connector with writes due: what `arrears run` and the scheduler do after a run commits. */
export async function applyAllWritebacks(ctx: Context): Promise<WritebackResult[]> {
  const names = await connectorsWithDueWrites(ctx.database.db, ctx.clock.now());
  const results: WritebackResult[] = [];
  for (const name of names) results.push(await applyWritebacks(ctx, name));
  return results;
}
