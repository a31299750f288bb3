// Delivery: sends stored report files to their agencies, records every attempt, and retries
// a failed file with backoff until it is delivered. Nothing is dropped: a failure leaves the
// file queued. A sender claims a file in a short transaction (FOR UPDATE SKIP LOCKED, so two
// servers never take the same one) and holds it by pushing next_attempt_at a lease ahead;
// the network transfer itself runs outside any transaction.
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError } from '../domain/errors.ts';
import type { TransferMethod } from '../db/schema.ts';
import { getAgency, readAgencySecrets, type AgencySecrets } from './agencies.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { releaseHeldFiles } from './exclusions.ts';
import { faultPoint } from './faults.ts';
import { loadSecretKey, scrubSecrets } from './secrets.ts';
import { smtpPassword } from './transfer/email.ts';
import { transferFor } from './transfer/index.ts';
import { transferTimeouts, withDeadline } from './transfer/limits.ts';

/** How long a claimed file is left alone by other senders; a sender that died is replaced after it. */
export const LEASE_MINUTES = 15;
export const MAX_BACKOFF_MINUTES = 60;
const ERROR_MAX = 2000;

/** Minutes to wait after the n-th failed attempt: 1, 2, 4, 8 … capped at an hour. */
export function backoffMinutes(failures: number): number {
  return Math.min(2 ** Math.max(0, failures - 1), MAX_BACKOFF_MINUTES);
}

export interface AttemptResult {
  attemptId: number;
  fileId: number;
  name: string;
  agencyId: number;
  method: TransferMethod;
  ok: boolean;
  /** Where the file landed; empty when the attempt failed. */
  remote: string;
  /** Why it failed, with every secret scrubbed; empty on success. */
  error: string;
  /** Attempts so far, this one included. */
  attempts: number;
  status: 'queued' | 'delivered';
  /** When a failed file is tried again; null once delivered. */
  nextAttemptAt: Date | null;
}

export interface DeliveryReport {
  delivered: number;
  failed: number;
  /** One per attempt, in the order they were made. */
  results: AttemptResult[];
}

interface Claim {
  attemptId: number;
  fileId: number;
  name: string;
  agencyId: number;
  method: TransferMethod;
  status: string;
  attempts: number;
}

interface Outcome {
  ok: boolean;
  remote: string;
  error: string;
}

const minutesAfter = (at: Date, minutes: number) => new Date(at.getTime() + minutes * 60_000);

interface FileRow {
  id: number;
  name: string;
  agency_id: number;
  status: string;
  attempts: number;
}

/**
 * Takes a locked file row for this sender: closes attempts a dead sender left open, opens
 * this attempt and pushes next_attempt_at a lease ahead. Files of an agency whose method is
 * now 'none' become 'none' instead (staff download them) and null is returned.
 */
async function claimRow(trx: Executor, ctx: Context, file: FileRow): Promise<Claim | null> {
  const now = ctx.clock.now();
  const agency = await trx.selectFrom('agencies').select(['transfer_method']).where('id', '=', file.agency_id).executeTakeFirstOrThrow();
  const interrupted = await trx
    .updateTable('transfer_attempts')
    .set({ finished_at: now, ok: false, error: 'interrupted: the sender stopped before it finished; tried again' })
    .where('file_id', '=', file.id)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
  const attempts = file.attempts + Number(interrupted.numUpdatedRows);
  if (agency.transfer_method === 'none') {
    await trx.updateTable('report_files').set({ status: 'none', next_attempt_at: null, attempts }).where('id', '=', file.id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'file.deliver', entity: 'report_file', entityId: file.id, before: { status: file.status }, after: { status: 'none' }, at: now });
    return null;
  }
  const { id: attemptId } = await trx
    .insertInto('transfer_attempts')
    .values({ file_id: file.id, method: agency.transfer_method, started_at: now, ok: false })
    .returning('id')
    .executeTakeFirstOrThrow();
  await trx
    .updateTable('report_files')
    .set({ status: 'queued', attempts, next_attempt_at: minutesAfter(now, LEASE_MINUTES) })
    .where('id', '=', file.id)
    .execute();
  return { attemptId, fileId: file.id, name: file.name, agencyId: file.agency_id, method: agency.transfer_method, status: file.status, attempts };
}

/** The next due queued file nobody else holds, or null when there is none. */
async function claimNext(ctx: Context): Promise<Claim | null> {
  for (;;) {
    const outcome = await ctx.database.db.transaction().execute(async (trx) => {
      const now = ctx.clock.now();
      const file = await trx
        .selectFrom('report_files')
        .select(['id', 'name', 'agency_id', 'status', 'attempts'])
        .where('status', '=', 'queued')
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', now)]))
        .orderBy('next_attempt_at', (ob) => ob.asc().nullsFirst())
        .orderBy('id')
        .limit(1)
        .forUpdate()
        .skipLocked()
        .executeTakeFirst();
      if (!file) return 'done' as const;
      return (await claimRow(trx, ctx, file)) ?? ('skipped' as const);
    });
    if (outcome === 'done') return null;
    if (outcome !== 'skipped') return outcome;
  }
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  const name = err.name && err.name !== 'Error' ? `${err.name}: ` : '';
  const message = `${name}${err.message}${typeof code === 'string' && !err.message.includes(code) ? ` (${code})` : ''}`;
  return message.length > ERROR_MAX ? `${message.slice(0, ERROR_MAX)}…` : message;
}

/** A name a sender can use as-is on any server: no folders, nothing hidden. */
function unsafeName(name: string): boolean {
  // eslint-disable-next-line no-control-regex
  return name === '' || name.startsWith('.') || /[/\\\u0000-\u001f]/.test(name);
}

interface KeyCache {
  key?: Buffer;
}

/** Sends the claimed file's stored bytes, after checking them against their sha256. Never throws. */
async function send(ctx: Context, claim: Claim, keys: KeyCache): Promise<Outcome> {
  const known: string[] = [smtpPassword(process.env.ARREARS_SMTP_URL) ?? ''];
  faultPoint('delivery.claimed');
  try {
    const { db } = ctx.database;
    const file = await db.selectFrom('report_files').select(['content', 'sha256']).where('id', '=', claim.fileId).executeTakeFirstOrThrow();
    // PGlite returns bytea as a plain Uint8Array; senders (ssh2-sftp-client) need a Buffer.
    const content: Buffer = Buffer.isBuffer(file.content) ? file.content : Buffer.from((file.content as Uint8Array).buffer, (file.content as Uint8Array).byteOffset, (file.content as Uint8Array).byteLength);
    const digest = createHash('sha256').update(content).digest('hex');
    if (digest !== file.sha256.toLowerCase()) {
      throw new Error(`refused to send ${claim.name}: the stored content does not match its sha256 (recorded ${file.sha256}, content ${digest}); the stored file is damaged`);
    }
    if (unsafeName(claim.name)) throw new Error(`refused to send: "${claim.name}" is not a plain file name`);
    const agency = await getAgency(db, claim.agencyId);
    const transfer = transferFor(agency.transferMethod);
    if (!transfer) throw new Error(`agency "${agency.name}" has no transfer method`);
    let secrets: AgencySecrets = {};
    if (agency.secrets) {
      keys.key ??= await loadSecretKey(ctx.database);
      secrets = await readAgencySecrets(db, agency.id, keys.key);
      known.push(...Object.values(secrets));
    }
    // Each sender bounds its own connect and silences; this bounds the whole attempt.
    const { connectMs, transferMs } = transferTimeouts();
    const { remote } = await withDeadline(transfer.send({ name: claim.name, content }, agency, secrets), connectMs + transferMs, `sending ${claim.name} by ${claim.method}`);
    faultPoint('delivery.sent');
    return { ok: true, remote, error: '' };
  } catch (err) {
    return { ok: false, remote: '', error: scrubSecrets(describeError(err), known) };
  }
}

/** Records the outcome: the attempt row, the file's status and schedule, and the audit entry. */
async function finish(ctx: Context, claim: Claim, outcome: Outcome, action: 'file.deliver' | 'file.retry'): Promise<AttemptResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now();
    const current = await trx.selectFrom('report_files').select(['attempts']).where('id', '=', claim.fileId).forUpdate().executeTakeFirstOrThrow();
    const attempts = current.attempts + 1;
    const status = outcome.ok ? ('delivered' as const) : ('queued' as const);
    const nextAttemptAt = outcome.ok ? null : minutesAfter(now, backoffMinutes(attempts));
    await trx
      .updateTable('transfer_attempts')
      .set({ finished_at: now, ok: outcome.ok, error: outcome.error, remote: outcome.remote })
      .where('id', '=', claim.attemptId)
      .execute();
    await trx
      .updateTable('report_files')
      .set({ status, attempts, next_attempt_at: nextAttemptAt, ...(outcome.ok ? { delivered_at: now } : {}) })
      .where('id', '=', claim.fileId)
      .execute();
    await recordAudit(trx, {
      actor: ctx.actor,
      action,
      entity: 'report_file',
      entityId: claim.fileId,
      before: { status: claim.status, attempts: current.attempts },
      after: outcome.ok
        ? { status, attempts, method: claim.method, ok: true, remote: outcome.remote }
        : { status, attempts, method: claim.method, ok: false, error: outcome.error, nextAttemptAt: nextAttemptAt!.toISOString() },
      at: now,
    });
    return {
      attemptId: claim.attemptId,
      fileId: claim.fileId,
      name: claim.name,
      agencyId: claim.agencyId,
      method: claim.method,
      ok: outcome.ok,
      remote: outcome.remote,
      error: outcome.error,
      attempts,
      status,
      nextAttemptAt,
    };
  });
}

/**
 * Sends every queued file whose next attempt is due (at most `limit`, default 100), one at
 * a time, and reports each attempt. Safe to run on several servers at once.
 */
export async function deliverDueFiles(ctx: Context, options: { limit?: number } = {}): Promise<DeliveryReport> {
  const limit = options.limit ?? 100;
  // Held New Submissions whose review time is over join the queue first.
  await releaseHeldFiles(ctx);
  const keys: KeyCache = {};
  const results: AttemptResult[] = [];
  while (results.length < limit) {
    const claim = await claimNext(ctx);
    if (!claim) break;
    results.push(await finish(ctx, claim, await send(ctx, claim, keys), 'file.deliver'));
  }
  return { delivered: results.filter((r) => r.ok).length, failed: results.filter((r) => !r.ok).length, results };
}

/**
 * Attempts one file now, whatever its schedule: a queued (failing) file, or a 'none' file
 * once its agency has a transfer method. Refuses a delivered or held file, and one another
 * sender is sending at this moment.
 */
export async function retryFile(ctx: Context, fileId: number): Promise<AttemptResult> {
  const claim = await ctx.database.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now();
    const file = await trx
      .selectFrom('report_files')
      .select(['id', 'name', 'agency_id', 'status', 'attempts', 'delivered_at'])
      .where('id', '=', fileId)
      .forUpdate()
      .executeTakeFirst();
    if (!file) throw new NotFoundError(`file ${fileId}`);
    if (file.status === 'delivered') throw new ConflictError(`file ${file.name} was already delivered${file.delivered_at ? ` at ${file.delivered_at.toISOString()}` : ''}; it is not sent again`);
    if (file.status === 'held') throw new ConflictError(`file ${file.name} is held for review; release it before sending it`);
    const agency = await trx.selectFrom('agencies').select(['name', 'transfer_method']).where('id', '=', file.agency_id).executeTakeFirstOrThrow();
    if (agency.transfer_method === 'none') throw new ConflictError(`agency "${agency.name}" has transfer method none: download file ${file.name} instead`);
    const inFlight = await trx
      .selectFrom('transfer_attempts')
      .select(['id', 'started_at'])
      .where('file_id', '=', file.id)
      .where('finished_at', 'is', null)
      .where('started_at', '>', minutesAfter(now, -LEASE_MINUTES))
      .executeTakeFirst();
    if (inFlight) throw new ConflictError(`file ${file.name} is being sent right now (attempt ${inFlight.id} started at ${inFlight.started_at.toISOString()})`);
    return claimRow(trx, ctx, file);
  });
  if (!claim) throw new ConflictError(`file ${fileId} has no transfer method to send it with`);
  return finish(ctx, claim, await send(ctx, claim, {}), 'file.retry');
}
