// Review before sending (what OCLC's debt-collection screen offers): an entry with reviewHours
// stores its New Submissions file as 'held' until created_at + reviewHours (kept in the file's
// next_attempt_at), then releaseHeldFiles queues it for delivery. Meanwhile staff can
// "Exclude now": an exclusion (patron, reason, until date, user) that the eligibility rules
// honour in this and later runs. Excluding a patron whose referral sits in a held file also
// cancels that referral (a cancel record, 'excluded at review'), takes back its agency fee,
// and rebuilds the held file without them.
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { lockForTransaction } from '../db/locks.ts';
import { localDateOf, parseDate, type LocalDate } from '../domain/dates.ts';
import { ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { sum, type Cents } from '../domain/money.ts';
import { reportFormat } from '../domain/report-layouts.ts';
import { ITEM_FEE_REASONS, type SettingsEntry } from '../domain/settings.ts';
import { countedWindow, inWindow } from '../domain/window.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { loadSnapshots } from './eligibility.ts';
import { appendHistory, closeReferrals, openReferralStates, setInCollections } from './referrals.ts';
import { layoutOf, listFiles, renderReport, type FileSummary } from './reports.ts';
import { loadEntries } from './settings.ts';

export const EXCLUDED_AT_REVIEW = 'excluded at review';
const REASON_MAX = 500;


export interface ExclusionRow {
  id: number;
  patronId: string;
  patronName: string;
  reason: string;
  /** Last date the exclusion is in force; null = until lifted. */
  untilDate: string | null;
  createdBy: string;
  createdAt: Date;
  liftedAt: Date | null;
  liftedBy: string | null;
  /** In force today in the patron's home library's zone: not lifted and not past its until date. */
  active: boolean;
}

export interface ExclusionFilter {
  patronId?: string;
  /** active: in force today; ended: lifted or past their date; all (default). */
  state?: 'active' | 'ended' | 'all';
  limit?: number;
  offset?: number;
}

function exclusionsQuery(db: Executor, now: Date) {
  const today = sql<string>`(${now}::timestamptz at time zone l.time_zone)::date`;
  return db
    .selectFrom('exclusions as x')
    .innerJoin('patrons as p', 'p.id', 'x.patron_id')
    .innerJoin('libraries as l', 'l.code', 'p.home_library')
    .select([
      'x.id',
      'x.patron_id',
      'p.first_name',
      'p.last_name',
      'x.reason',
      'x.until_date',
      'x.created_by',
      'x.created_at',
      'x.lifted_at',
      'x.lifted_by',
      sql<boolean>`x.lifted_at is null and (x.until_date is null or x.until_date >= ${today})`.as('active'),
    ]);
}

type ExclusionSelect = Awaited<ReturnType<ReturnType<typeof exclusionsQuery>['executeTakeFirstOrThrow']>>;

function toRow(r: ExclusionSelect): ExclusionRow {
  return {
    id: r.id,
    patronId: r.patron_id,
    patronName: [r.first_name, r.last_name].filter(Boolean).join(' '),
    reason: r.reason,
    untilDate: r.until_date,
    createdBy: r.created_by,
    createdAt: new Date(r.created_at),
    liftedAt: r.lifted_at,
    liftedBy: r.lifted_by,
    active: r.active,
  };
}

/** Exclusions, newest first, with the total that match the filter. */
export async function listExclusions(ctx: Context, filter: ExclusionFilter = {}): Promise<{ items: ExclusionRow[]; total: number }> {
  const now = ctx.clock.now();
  let q = exclusionsQuery(ctx.database.db, now);
  if (filter.patronId !== undefined) q = q.where('x.patron_id', '=', filter.patronId);
  if (filter.state === 'active' || filter.state === 'ended') {
    const active = sql<boolean>`x.lifted_at is null and (x.until_date is null or x.until_date >= (${now}::timestamptz at time zone l.time_zone)::date)`;
    q = q.where(filter.state === 'active' ? active : sql<boolean>`not (${active})`);
  }
  const total = await q
    .clearSelect()
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  const rows = await q
    .orderBy('x.id', 'desc')
    .limit(filter.limit ?? 50)
    .offset(filter.offset ?? 0)
    .execute();
  return { items: rows.map(toRow), total: Number(total.n) };
}

export interface NewExclusion {
  patronId: string;
  reason: string;
  /** 'YYYY-MM-DD', the last day it is in force; null = until lifted. */
  until?: string | null;
}

export interface CancelledAtReview {
  referralId: number;
  agency: string;
  /** The patron's balance when the referral was cancelled (after the fee was taken back). */
  amountCents: Cents;
  /** The agency fee charged by the referral and taken back; 0 when there was none (or it was already paid). */
  feeRemovedCents: Cents;
}

export interface RebuiltFile {
  id: number;
  name: string;
  rows: number;
  /** An empty file of an entry that does not send empty reports is removed instead. */
  removed: boolean;
}

export interface ExclusionResult {
  exclusion: ExclusionRow;
  cancelled: CancelledAtReview[];
  rebuilt: RebuiltFile[];
}

export async function addExclusion(ctx: Context, input: NewExclusion): Promise<ExclusionResult> {
  const problems: Problem[] = [];
  const patronId = input.patronId.trim();
  if (patronId === '') problems.push({ field: 'patronId', reason: 'is required' });
  const reason = input.reason.trim();
  if (reason === '') problems.push({ field: 'reason', reason: 'is required: say why the patron must not be sent' });
  else if (reason.length > REASON_MAX) problems.push({ field: 'reason', reason: `must be at most ${REASON_MAX} characters` });
  let until: LocalDate | null = null;
  if (input.until != null && input.until !== '') {
    until = parseDate(input.until);
    if (!until) problems.push({ field: 'until', reason: `"${input.until}" is not a date (YYYY-MM-DD)` });
  }
  if (problems.length) throw new ValidationError(problems);

  return ctx.database.db.transaction().execute(async (trx) => {
    // A run must not submit or rebuild what this cancels while it works.
    await lockForTransaction(trx, ctx.database.kind, 'runs');
    const patron = await trx
      .selectFrom('patrons as p')
      .innerJoin('libraries as l', 'l.code', 'p.home_library')
      .select(['p.id', 'l.time_zone'])
      .where('p.id', '=', patronId)
      .forUpdate(['p'])
      .executeTakeFirst();
    if (!patron) throw new NotFoundError(`patron "${patronId}"`);
    const now = ctx.clock.now();
    const today = localDateOf(now, patron.time_zone);
    if (until && until < today) throw ValidationError.of(`${until} is already past (today is ${today} at the patron's library); an exclusion runs until a date still to come`, { field: 'until' });

    const { id } = await trx
      .insertInto('exclusions')
      .values({ patron_id: patronId, reason, until_date: until, created_by: ctx.actor, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    const audit: AuditEntry[] = [{ actor: ctx.actor, action: 'exclusion.create', entity: 'exclusion', entityId: id, after: { patronId, reason, until }, at: now }];

    const held = await heldReferralsOf(trx, patronId);
    const cancelled = await cancelAtReview(trx, ctx, held, today, now, audit);
    const rebuilt: RebuiltFile[] = [];
    for (const fileId of [...new Set(held.map((h) => h.fileId))]) rebuilt.push(await rebuildHeldFile(trx, ctx, fileId, now, audit));
    await recordAudit(trx, audit);
    const exclusion = toRow(await exclusionsQuery(trx, now).where('x.id', '=', id).executeTakeFirstOrThrow());
    return { exclusion, cancelled, rebuilt };
  });
}

export async function liftExclusion(ctx: Context, id: number): Promise<ExclusionRow> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const row = await trx.selectFrom('exclusions').select(['id', 'patron_id', 'reason', 'until_date', 'lifted_at', 'lifted_by']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!row) throw new NotFoundError(`exclusion ${id}`);
    if (row.lifted_at) throw new ConflictError(`exclusion ${id} was already lifted by ${row.lifted_by ?? 'someone'} at ${row.lifted_at.toISOString()}`);
    const now = ctx.clock.now();
    await trx.updateTable('exclusions').set({ lifted_at: now, lifted_by: ctx.actor }).where('id', '=', id).execute();
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'exclusion.lift',
      entity: 'exclusion',
      entityId: id,
      before: { patronId: row.patron_id, reason: row.reason, until: row.until_date },
      after: { liftedBy: ctx.actor },
      at: now,
    });
    return toRow(await exclusionsQuery(trx, now).where('x.id', '=', id).executeTakeFirstOrThrow());
  });
}

// --- held files ---------------------------------------------------------------------------

interface HeldReferral {
  referralId: number;
  agencyId: number;
  agency: string;
  fileId: number;
}

/** The patron's open referrals whose New Submissions file has not left yet (held), its file locked. */
async function heldReferralsOf(trx: Executor, patronId: string): Promise<HeldReferral[]> {
  const rows = await sql<{ referral_id: number; agency_id: number; agency: string; file_id: number }>`
    select r.id as referral_id, r.agency_id, a.name as agency, f.id as file_id
    from referrals r
    join agencies a on a.id = r.agency_id
    join report_files f on f.run_id = r.run_id and f.entry_id = r.entry_id and f.agency_id = r.agency_id
    where r.patron_id = ${patronId} and r.status = 'open' and f.kind = 'new' and f.status = 'held'
    order by r.id, f.id
    for update of f`.execute(trx);
  return rows.rows.map((r) => ({ referralId: r.referral_id, agencyId: r.agency_id, agency: r.agency, fileId: r.file_id }));
}

/**
 * Cancels referrals that were never sent: their unpaid agency fee is deleted (the patron was
 * never reported, and a fee still on the ledger would count as "charged once" later), then a
 * cancel record carries the balance left.
 */
async function cancelAtReview(trx: Executor, ctx: Context, held: HeldReferral[], today: LocalDate, now: Date, audit: AuditEntry[]): Promise<CancelledAtReview[]> {
  const referralIds = [...new Set(held.map((h) => h.referralId))];
  if (referralIds.length === 0) return [];
  const fees = await trx
    .selectFrom('charges as c')
    .selectAll('c')
    .where('c.referral_id', 'in', referralIds)
    .where('c.reason', '=', 'agency_fee')
    .where((eb) => eb.not(eb.exists(eb.selectFrom('allocations as a').select('a.charge_id').whereRef('a.charge_id', '=', 'c.id'))))
    .execute();
  if (fees.length) {
    await trx.deleteFrom('charges').where('id', 'in', fees.map((f) => f.id)).execute();
    for (const f of fees) {
      audit.push({ actor: ctx.actor, action: 'charge.delete', entity: 'charge', entityId: f.id, before: { ...f, assessed_at: new Date(f.assessed_at).toISOString() }, after: { reason: EXCLUDED_AT_REVIEW }, at: now });
    }
  }
  const patronIds = [...new Set((await trx.selectFrom('referrals').select('patron_id').where('id', 'in', referralIds).execute()).map((r) => r.patron_id))];
  const states = (await openReferralStates(trx, { patronIds })).filter((s) => referralIds.includes(s.id));
  await appendHistory(
    trx,
    states.map((s) => ({ referralId: s.id, patronId: s.patronId, type: 'cancel' as const, amountCents: s.owedCents, reason: EXCLUDED_AT_REVIEW })),
    { runId: null, reportDate: null, at: now, actor: ctx.actor },
  );
  await closeReferrals(
    trx,
    states.map((s) => ({ id: s.id, status: 'cancelled' as const, cents: s.owedCents })),
    today,
  );
  // The agency never saw these: they must not count as earlier referrals once the exclusion ends.
  if (states.length) await trx.updateTable('referrals').set({ withdrawn: true }).where('id', 'in', states.map((s) => s.id)).execute();
  await setInCollections(
    trx,
    states.map((s) => s.patronId),
    false,
    now,
  );
  return states.map((s) => {
    const h = held.find((x) => x.referralId === s.id)!;
    const feeRemovedCents = sum(fees.filter((f) => f.referral_id === s.id).map((f) => f.amount_cents));
    audit.push({
      actor: ctx.actor,
      action: 'referral.cancel',
      entity: 'referral',
      entityId: s.id,
      before: { status: 'open', agency: h.agency },
      after: { status: 'cancelled', owed: s.owedCents, reason: EXCLUDED_AT_REVIEW, feeRemoved: feeRemovedCents },
      at: now,
    });
    return { referralId: s.id, agency: h.agency, amountCents: s.owedCents, feeRemovedCents };
  });
}

/**
 * The counted (in-window) amount of each patron still in a New Submissions file, as the run
 * measured it: the entry's counted reasons assessed in its window, leaving out the agency
 * fees the run itself charged.
 */
async function countedAmounts(trx: Executor, entry: SettingsEntry, reportDate: LocalDate, runId: number, patronIds: string[]): Promise<Map<string, Cents>> {
  const fees = new Set(
    (
      await trx
        .selectFrom('charges as c')
        .innerJoin('referrals as r', 'r.id', 'c.referral_id')
        .select('c.id')
        .where('r.run_id', '=', runId)
        .where('c.reason', '=', 'agency_fee')
        .execute()
    ).map((c) => c.id),
  );
  const window = countedWindow(entry, reportDate);
  const counted = new Map<string, Cents>();
  for (const p of await loadSnapshots(trx, patronIds)) {
    const charges = p.charges.filter(
      (c) => !fees.has(c.id) && (entry.countedCharges === 'all' || (ITEM_FEE_REASONS as readonly string[]).includes(c.reason)) && inWindow(window, c.assessedOn),
    );
    counted.set(p.id, sum(charges.map((c) => c.outstanding)));
  }
  return counted;
}

async function rebuildHeldFile(trx: Executor, ctx: Context, fileId: number, now: Date, audit: AuditEntry[]): Promise<RebuiltFile> {
  const f = await trx
    .selectFrom('report_files as f')
    .innerJoin('agencies as a', 'a.id', 'f.agency_id')
    .innerJoin('runs as r', 'r.id', 'f.run_id')
    .select(['f.id', 'f.name', 'f.run_id', 'f.entry_id', 'f.agency_id', 'f.layout', 'f.layout_config', 'f.sha256', 'f.row_count', 'a.name as agency', 'r.report_date'])
    .where('f.id', '=', fileId)
    .executeTakeFirstOrThrow();
  const entry = (await loadEntries(trx)).find((e) => e.id === f.entry_id)!;
  const reportDate = f.report_date as LocalDate;
  const runId = f.run_id!;
  const remaining = await trx
    .selectFrom('referrals')
    .select('patron_id')
    .where('run_id', '=', runId)
    .where('entry_id', '=', entry.id)
    .where('agency_id', '=', f.agency_id)
    .where('status', '<>', 'cancelled')
    .execute();
  const counted = await countedAmounts(
    trx,
    entry,
    reportDate,
    runId,
    remaining.map((r) => r.patron_id),
  );
  const format = reportFormat(layoutOf({ name: f.agency, layout: f.layout, layoutConfig: f.layout_config }), 'new', reportDate);
  const { content, rowCount } = await renderReport(trx, { runId, entryId: entry.id, agencyId: f.agency_id, kind: 'new' }, format, counted);
  const before = { name: f.name, rows: f.row_count, sha256: f.sha256 };
  if (rowCount === 0 && !entry.sendEmptyReports) {
    await trx.deleteFrom('report_files').where('id', '=', f.id).execute();
    audit.push({ actor: ctx.actor, action: 'report_file.delete', entity: 'report_file', entityId: f.id, before, after: { reason: `${EXCLUDED_AT_REVIEW}: no patrons left` }, at: now });
    return { id: f.id, name: f.name, rows: 0, removed: true };
  }
  const sha256 = createHash('sha256').update(content).digest('hex');
  await trx.updateTable('report_files').set({ content, sha256, row_count: rowCount }).where('id', '=', f.id).execute();
  audit.push({ actor: ctx.actor, action: 'report_file.rebuild', entity: 'report_file', entityId: f.id, before, after: { name: f.name, rows: rowCount, sha256, bytes: content.length, reason: EXCLUDED_AT_REVIEW }, at: now });
  return { id: f.id, name: f.name, rows: rowCount, removed: false };
}

export interface HeldPatron {
  patronId: string;
  name: string;
  referralId: number;
  referredCents: Cents;
  feeCents: Cents;
}

export interface HeldFile extends FileSummary {
  /** When the file is released for delivery (its hold ends). */
  holdUntil: Date | null;
  patrons: HeldPatron[];
}

/** What staff review: every held New Submissions file with the patrons in it. */
export async function listHeldFiles(db: Executor): Promise<HeldFile[]> {
  const files = await listFiles(db, { status: 'held' });
  const out: HeldFile[] = [];
  for (const f of files) {
    const file = await db.selectFrom('report_files').select(['run_id', 'entry_id', 'agency_id']).where('id', '=', f.id).executeTakeFirstOrThrow();
    const patrons =
      file.run_id === null || file.entry_id === null
        ? []
        : await db
            .selectFrom('referrals as r')
            .innerJoin('patrons as p', 'p.id', 'r.patron_id')
            .select(['r.id', 'r.patron_id', 'p.first_name', 'p.last_name', 'r.referred_cents', 'r.fee_cents'])
            .where('r.run_id', '=', file.run_id)
            .where('r.entry_id', '=', file.entry_id)
            .where('r.agency_id', '=', file.agency_id)
            .where('r.status', '=', 'open')
            .orderBy(sql`r.patron_id collate "C"`)
            .execute();
    out.push({
      ...f,
      holdUntil: f.nextAttemptAt,
      patrons: patrons.map((p) => ({
        patronId: p.patron_id,
        name: [p.first_name, p.last_name].filter(Boolean).join(' '),
        referralId: p.id,
        referredCents: p.referred_cents as Cents,
        feeCents: p.fee_cents as Cents,
      })),
    });
  }
  return out;
}

export interface ReleasedFile {
  id: number;
  name: string;
  status: 'queued' | 'none';
}

/**
 * Ends the hold of held files: those whose review time is over, or the one file given (staff
 * release it early). They become queued for delivery ('none' when their agency's transfer
 * method is none: staff download them).
 */
export async function releaseHeldFiles(ctx: Context, options: { fileId?: number } = {}): Promise<ReleasedFile[]> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now();
    if (options.fileId !== undefined) {
      const f = await trx.selectFrom('report_files').select(['name', 'status']).where('id', '=', options.fileId).forUpdate().executeTakeFirst();
      if (!f) throw new NotFoundError(`file ${options.fileId}`);
      if (f.status !== 'held') throw new ConflictError(`file ${f.name} is ${f.status}, not held for review`);
    }
    const which = options.fileId === undefined ? sql`f.next_attempt_at <= ${now}::timestamptz` : sql`f.id = ${options.fileId}`;
    const released = await sql<ReleasedFile>`
      update report_files f
      set status = case when a.transfer_method = 'none' then 'none' else 'queued' end,
          next_attempt_at = case when a.transfer_method = 'none' then null else ${now}::timestamptz end
      from agencies a
      where a.id = f.agency_id and f.status = 'held' and ${which}
      returning f.id, f.name, f.status`.execute(trx);
    const rows = released.rows.sort((a, b) => a.id - b.id);
    await recordAudit(
      trx,
      rows.map(
        (r): AuditEntry => ({
          actor: ctx.actor,
          action: 'report_file.release',
          entity: 'report_file',
          entityId: r.id,
          before: { status: 'held' },
          after: { status: r.status, early: options.fileId !== undefined },
          at: now,
        }),
      ),
    );
    return rows;
  });
}
