// A run: one evaluation of the Collection Agency Settings table for one report date.
// It is one transaction, serialised across processes, and idempotent per report date and
// entry: the run_entries rows written in the same transaction say what is already done.
import { sql } from 'kysely';
import { daysBetween, type LocalDate } from '../domain/dates.ts';
import { ConflictError } from '../domain/errors.ts';
import { formatMoney, ZERO, type Cents } from '../domain/money.ts';
import { shouldRemove } from '../domain/settings.ts';
import { findEligible } from '../db/eligibility.sql.ts';
import { withSessionLock } from '../db/locks.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import { assignAgencies } from './agency-strategies.ts';
import { faultPoint } from './faults.ts';
import { buildRunFiles } from './reports.ts';
import type { Context, Executor } from './context.ts';
import { settleBalance } from './ledger.ts';
import {
  adoptOutOfRunChanges,
  appendHistory,
  chargeAgencyFees,
  closeReferrals,
  insertReferrals,
  openReferralStates,
  patronsEverCharged,
  setInCollections,
  setLastReported,
  type HistoryRow,
  type OpenReferralState,
} from './referrals.ts';
import { loadEntries } from './settings.ts';
import { applyAllWritebacks, writesOfThisTransaction, type WritebackResult } from './writeback.ts';

export type RunPart = 'new' | 'update';

export interface RunOptions {
  reportDate: LocalDate;
  dryRun?: boolean;
  /** Which parts to run; both by default (the scheduler runs them on separate schedules). */
  parts?: RunPart[];
  /** Limit to these settings entries (ids); all by default. */
  entryIds?: number[];
  trigger?: 'manual' | 'schedule' | 'api';
  /** Told as the run moves from one phase to the next, for a progress display. */
  onPhase?: (phase: RunPhase) => void;
  /** Apply the ILS write-backs the run queued once it has committed (default true); false leaves them queued. */
  writeBack?: boolean;
}

/** A run's phases in order: waiting for another run, then its steps 1–4. */
export const RUN_PHASES = ['waiting', 'updating', 'evaluating', 'referring', 'files', 'finishing'] as const;
export type RunPhase = (typeof RUN_PHASES)[number];

export interface RunResult {
  reportDate: LocalDate;
  runId: number | null;
  dryRun: boolean;
  /** True when every requested entry and part had already run for this date: nothing changed. */
  alreadyRun: boolean;
  entries: { id: number; name: string; parts: RunPart[] }[];
  skipped: { id: number; name: string; parts: RunPart[] }[];
  newSubmissions: { patronId: string; entry: string; agency: string; owed: string; counted: string; fee: string }[];
  updates: { patronId: string; previous: string; owed: string; reason: string }[];
  removals: { patronId: string; owed: string; reason: string }[];
  cancellations: { patronId: string; owed: string; writtenOff: string }[];
  files: { name: string; kind: string; agency: string }[];
  /** What the run queued for the ILSs the patrons come from (a dry run: what it would queue). */
  writebacks: { connector: string; kind: string; patronId: string; referralId: number; detail: Record<string, unknown> }[];
  /** After the run committed: what was applied to each ILS, or left queued. */
  writeback?: WritebackResult[];
}

/** Thrown inside the transaction to undo a dry run after it has computed everything. */
class DryRunRollback extends Error {
  constructor(readonly result: RunResult) {
    super('dry run');
  }
}

export async function runReport(ctx: Context, options: RunOptions): Promise<RunResult> {
  const dryRun = options.dryRun ?? false;
  try {
    // Two processes never evaluate at once; the second waits, then finds the date done. The
    // lock is taken before the transaction begins: REPEATABLE READ fixes the snapshot at the
    // first statement, so a waiter that locked inside would not see the run it waited for.
    options.onPhase?.('waiting');
    const result = await withSessionLock(ctx.database, 'runs', (db) =>
      db
        .transaction()
        .setIsolationLevel('repeatable read')
        .execute(async (trx) => {
          if (ctx.database.kind === 'postgres') await tuneRunSession(trx);
          // What a dry run writes is rolled back unread: its deferrable foreign keys (migration
          // 330) would check every row for nothing.
          if (dryRun) await sql`set constraints all deferred`.execute(trx);
          const result = await runInTransaction(trx, ctx, options, dryRun);
          result.writebacks = (await writesOfThisTransaction(trx)).map((w) => ({ connector: w.connector, kind: w.kind, patronId: w.patronId, referralId: w.referralId, detail: w.detail }));
          if (dryRun) throw new DryRunRollback(result);
          faultPoint('run.before-commit');
          return result;
        }),
    );
    faultPoint('run.committed');
    if (options.writeBack !== false) {
      // This run's writes and any still queued from before. The run stands whatever the ILS
      // does: writes it cannot take now stay queued and are retried.
      const applied = await applyAllWritebacks(ctx).catch((err: unknown) => [{ connector: '', applied: 0, pending: result.writebacks.length, failed: 0, skipped: 0, error: err instanceof Error ? err.message : String(err) }]);
      if (applied.length) result.writeback = applied;
    }
    return result;
  } catch (err) {
    if (err instanceof DryRunRollback) return err.result;
    throw err;
  }
}

/**
 * Settings for this transaction only. The eligibility statement's row estimates run high, so
 * its plan's cost passes jit_above_cost and PostgreSQL would spend seconds compiling it with
 * LLVM for a statement that takes a few; and its sorts and hashes over every charge spill to
 * disk at the default 4 MB of work_mem.
 */
export async function tuneRunSession(trx: Executor): Promise<void> {
  await sql`set local jit = off`.execute(trx);
  await sql`set local work_mem = '64MB'`.execute(trx);
}

function describeReason(state: OpenReferralState, removed: boolean): string {
  // Excluded owing nothing with nothing ever paid (an ILS merged the patron into another, and
  // the debt went with them): removed, never "paid" to the agency.
  if (removed && (state.owedCents > 0 || state.lastPaymentType === null)) return 'removed';
  if (state.owedCents > state.lastReportedCents) return 'new charge';
  if (state.lastPaymentType === 'waive') return 'waived';
  if (state.lastPaymentType === 'writeoff') return 'written off';
  return 'paid';
}

async function runInTransaction(trx: Executor, ctx: Context, options: RunOptions, dryRun: boolean): Promise<RunResult> {
  const reportDate = options.reportDate;
  const now = ctx.clock.now();
  const wanted: RunPart[] = options.parts ?? ['new', 'update'];
  const allEntries = await loadEntries(trx);
  const scope = options.entryIds ? allEntries.filter((e) => options.entryIds!.includes(e.id)) : allEntries;

  // What is already done for this date, and whether a later date has run (history must stay in order).
  const done = await trx.selectFrom('run_entries').select(['entry_id', 'kind', 'report_date']).where('report_date', '>=', reportDate).execute();
  faultPoint('run.snapshot');
  const later = done.find((d) => d.report_date > reportDate && scope.some((e) => e.id === d.entry_id));
  if (later && !dryRun) {
    const entry = scope.find((e) => e.id === later.entry_id)!;
    throw new ConflictError(`report date ${reportDate} is before ${later.report_date}, which has already run for entry "${entry.name}"`);
  }
  const partDone = (entryId: number, part: RunPart) =>
    done.some((d) => d.entry_id === entryId && d.report_date === reportDate && (d.kind === 'full' || d.kind === part));
  const plan = scope.map((e) => ({ entry: e, parts: wanted.filter((p) => !partDone(e.id, p)) }));
  const pending = plan.filter((p) => p.parts.length > 0);
  const skipped = plan.filter((p) => p.parts.length < wanted.length).map((p) => ({ id: p.entry.id, name: p.entry.name, parts: wanted.filter((w) => !p.parts.includes(w)) }));

  const result: RunResult = {
    reportDate,
    runId: null,
    dryRun,
    alreadyRun: pending.length === 0,
    entries: pending.map((p) => ({ id: p.entry.id, name: p.entry.name, parts: p.parts })),
    skipped,
    newSubmissions: [],
    updates: [],
    removals: [],
    cancellations: [],
    files: [],
    writebacks: [],
  };
  if (pending.length === 0) return result;

  const run = await trx
    .insertInto('runs')
    .values({ report_date: reportDate, dry_run: dryRun, trigger: options.trigger ?? 'manual', actor: ctx.actor, started_at: now })
    .returning('id')
    .executeTakeFirstOrThrow();
  const runId = run.id;
  result.runId = dryRun ? null : runId;
  const history = { runId, reportDate, at: now, actor: ctx.actor };
  const audit: AuditEntry[] = [];
  const agencies = new Map((await trx.selectFrom('agencies').select(['id', 'name']).execute()).map((a) => [a.id, a.name]));
  const byId = new Map(allEntries.map((e) => [e.id, e]));

  // 1. Referrals already open: auto-cancel, removal, or an update of the balance.
  const updating = new Set(pending.filter((p) => p.parts.includes('update')).map((p) => p.entry.id));
  const touched = new Set<string>();
  options.onPhase?.('updating');
  if (updating.size > 0) {
    const states = (await openReferralStates(trx)).filter((s) => (s.entryId === null ? options.entryIds === undefined : updating.has(s.entryId)));
    const historyRows: HistoryRow[] = [];
    const closed: { id: number; status: 'cleared' | 'cancelled'; cents: Cents }[] = [];
    const reported: { id: number; cents: Cents }[] = [];
    const leaving: string[] = [];
    for (const s of states) {
      const entry = s.entryId === null ? undefined : byId.get(s.entryId);
      const removeBelow = entry?.removeIfLessThan ?? ZERO;
      if (entry?.autoCancelDays != null && daysBetween(s.referredOn, reportDate) >= entry.autoCancelDays) {
        let writtenOff = ZERO;
        if (entry.writeOffOnCancel && s.owedCents > 0) {
          writtenOff = (await settleBalance(trx, s.patronId, 'writeoff', 'collection agency cancellation', now)) as Cents;
        }
        historyRows.push({ referralId: s.id, patronId: s.patronId, type: 'cancel', amountCents: s.owedCents, reason: `cancelled after ${entry.autoCancelDays} days` });
        closed.push({ id: s.id, status: 'cancelled', cents: s.owedCents });
        result.cancellations.push({ patronId: s.patronId, owed: formatMoney(s.owedCents), writtenOff: formatMoney(writtenOff) });
        audit.push({ actor: ctx.actor, action: 'referral.cancel', entity: 'referral', entityId: s.id, before: { status: 'open' }, after: { status: 'cancelled', owed: s.owedCents, writtenOff } });
      } else if (shouldRemove(s.owedCents, removeBelow)) {
        const reason = describeReason(s, true);
        historyRows.push({ referralId: s.id, patronId: s.patronId, type: 'clear', amountCents: s.owedCents, reason });
        closed.push({ id: s.id, status: 'cleared', cents: s.owedCents });
        result.removals.push({ patronId: s.patronId, owed: formatMoney(s.owedCents), reason });
        audit.push({ actor: ctx.actor, action: 'referral.clear', entity: 'referral', entityId: s.id, before: { status: 'open' }, after: { status: 'cleared', owed: s.owedCents, reason } });
      } else if (s.owedCents !== s.lastReportedCents) {
        const reason = describeReason(s, false);
        historyRows.push({ referralId: s.id, patronId: s.patronId, type: 'update', amountCents: s.owedCents, reason });
        reported.push({ id: s.id, cents: s.owedCents });
        result.updates.push({ patronId: s.patronId, previous: formatMoney(s.lastReportedCents), owed: formatMoney(s.owedCents), reason });
        audit.push({ actor: ctx.actor, action: 'referral.update', entity: 'referral', entityId: s.id, before: { owed: s.lastReportedCents }, after: { owed: s.owedCents, reason } });
        continue;
      } else {
        continue;
      }
      leaving.push(s.patronId);
      touched.add(s.patronId);
    }
    await appendHistory(trx, historyRows, history);
    await closeReferrals(trx, closed, reportDate);
    await setLastReported(trx, reported);
    if (!dryRun) await setInCollections(trx, leaving, false, now);
    faultPoint('run.updates-written');
  }

  // 2. New Submissions: one set-based evaluation of the whole consortium.
  const submitting = pending.filter((p) => p.parts.includes('new')).map((p) => p.entry);
  const counted = new Map<string, Cents>();
  options.onPhase?.('evaluating');
  if (submitting.length > 0) {
    const submittingIds = new Set(submitting.map((e) => e.id));
    const eligible = (await findEligible(trx, allEntries, reportDate)).filter((r) => submittingIds.has(r.entryId) && !touched.has(r.patronId));
    options.onPhase?.('referring');
    const charged = await patronsEverCharged(trx, eligible.map((r) => r.patronId));
    const referrals = [];
    for (const entry of submitting) {
      const rows = eligible.filter((r) => r.entryId === entry.id);
      if (rows.length === 0) continue;
      const assigned = await assignAgencies(trx, entry, rows.map((r) => ({ patronId: r.patronId, cents: r.owedCents as Cents })));
      for (const r of rows) {
        const fee = entry.agencyFee > 0 && !charged.has(r.patronId) ? entry.agencyFee : ZERO;
        referrals.push({ row: r, entry, agencyId: assigned.get(r.patronId)!, fee });
      }
    }
    referrals.sort((a, b) => (a.row.patronId < b.row.patronId ? -1 : a.row.patronId > b.row.patronId ? 1 : 0));
    const ids = await insertReferrals(
      trx,
      referrals.map((r) => ({ patronId: r.row.patronId, agencyId: r.agencyId, entryId: r.entry.id, owedCents: r.row.owedCents as Cents, feeCents: r.fee })),
      { runId, reportDate },
    );
    await chargeAgencyFees(
      trx,
      referrals.filter((r) => r.fee > 0).map((r) => ({ referralId: ids.get(r.row.patronId)!, patronId: r.row.patronId, cents: r.fee })),
      reportDate,
      now,
    );
    // A dry run writes what its result is read from (referrals and fees, which also queue the
    // ILS write-backs; the change history the files are named from) and leaves out what nothing
    // in it reads: a new referral's history row and the patrons' flags, 15 % of a dry run at medium.
    if (!dryRun) {
      await appendHistory(
        trx,
        referrals.map((r) => ({ referralId: ids.get(r.row.patronId)!, patronId: r.row.patronId, type: 'refer' as const, amountCents: (r.row.owedCents + r.fee) as Cents, reason: 'new submission' })),
        history,
      );
      await setInCollections(trx, referrals.map((r) => r.row.patronId), true, now);
    }
    faultPoint('run.referrals-written');
    for (const r of referrals) {
      counted.set(r.row.patronId, r.row.countedCents);
      result.newSubmissions.push({
        patronId: r.row.patronId,
        entry: r.entry.name,
        agency: agencies.get(r.agencyId) ?? String(r.agencyId),
        owed: formatMoney(r.row.owedCents),
        counted: formatMoney(r.row.countedCents),
        fee: formatMoney(r.fee),
      });
      audit.push({
        actor: ctx.actor,
        action: 'referral.refer',
        entity: 'referral',
        entityId: ids.get(r.row.patronId)!,
        after: { patronId: r.row.patronId, entry: r.entry.name, agency: agencies.get(r.agencyId), owed: r.row.owedCents, fee: r.fee, reportDate },
      });
    }
  }

  // 3. The agencies' files, stored in this transaction before anything is delivered; they
  // also carry what staff changed between runs (returns, re-referrals, cleared accounts).
  options.onPhase?.('files');
  await adoptOutOfRunChanges(trx, runId, {
    newEntryIds: pending.filter((p) => p.parts.includes('new')).map((p) => p.entry.id),
    updateEntryIds: pending.filter((p) => p.parts.includes('update')).map((p) => p.entry.id),
  });
  result.files = await buildRunFiles(trx, { runId, reportDate, at: now, actor: ctx.actor, entries: pending, counted }, { namesOnly: dryRun });
  faultPoint('run.files-stored');

  // 4. Remember what ran, so the same date never runs twice.
  options.onPhase?.('finishing');
  await trx
    .insertInto('run_entries')
    .values(
      pending.flatMap((p) =>
        (p.parts.length === 2 ? (['full'] as const) : p.parts).map((kind) => ({ run_id: runId, entry_id: p.entry.id, report_date: reportDate, kind })),
      ),
    )
    .execute();
  const summary = {
    newSubmissions: result.newSubmissions.length,
    updates: result.updates.length,
    removals: result.removals.length,
    cancellations: result.cancellations.length,
    entries: result.entries,
  };
  await trx.updateTable('runs').set({ finished_at: ctx.clock.now(), summary: JSON.stringify(summary) }).where('id', '=', runId).execute();
  audit.push({ actor: ctx.actor, action: 'run.complete', entity: 'run', entityId: runId, after: { reportDate, ...summary } });
  // A dry run is rolled back: its audit rows would be thrown away unread.
  if (!dryRun) await recordAudit(trx, audit);
  return result;
}

