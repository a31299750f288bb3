// Referrals as staff search them: by status, agency, settings entry, patron or run, a page at
// a time, newest first; and one referral with its append-only history.
import { sql, type Selectable } from 'kysely';
import { NotFoundError } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import type { HistoryType, ReferralHistoryTable, ReferralStatus } from '../db/schema.ts';
import type { Executor } from './context.ts';

export interface ReferralFilter {
  status?: ReferralStatus;
  /** Agency name. */
  agency?: string;
  /** Settings entry id or name. */
  entry?: string;
  patronId?: string;
  runId?: number;
  limit?: number;
  offset?: number;
}

export interface ReferralRow {
  id: number;
  patronId: string;
  patronName: string;
  agency: string;
  /** Null when the settings entry has since been removed. */
  entry: string | null;
  status: ReferralStatus;
  referredOn: string;
  closedOn: string | null;
  referredCents: Cents;
  feeCents: Cents;
  lastReportedCents: Cents;
  runId: number | null;
  /** The first agency's referral this one continues (second agency). */
  previousReferralId: number | null;
}

export interface HistoryRecord {
  id: number;
  type: HistoryType;
  amountCents: Cents;
  reason: string;
  runId: number | null;
  reportDate: string | null;
  at: Date;
  actor: string;
}

export interface ReferralDetails extends ReferralRow {
  history: HistoryRecord[];
}

function referralsQuery(db: Executor) {
  return db
    .selectFrom('referrals as r')
    .innerJoin('agencies as a', 'a.id', 'r.agency_id')
    .innerJoin('patrons as p', 'p.id', 'r.patron_id')
    .leftJoin('settings_entries as e', 'e.id', 'r.entry_id');
}

function withColumns(q: ReturnType<typeof referralsQuery>) {
  return q.select([
    'r.id',
    'r.patron_id',
    'p.first_name',
    'p.last_name',
    'a.name as agency',
    'e.name as entry',
    'r.status',
    'r.referred_on',
    'r.closed_on',
    'r.referred_cents',
    'r.fee_cents',
    'r.last_reported_cents',
    'r.run_id',
    'r.previous_referral_id',
  ]);
}

function toRow(r: Awaited<ReturnType<ReturnType<typeof withColumns>['executeTakeFirstOrThrow']>>): ReferralRow {
  return {
    id: r.id,
    patronId: r.patron_id,
    patronName: [r.first_name, r.last_name].filter(Boolean).join(' '),
    agency: r.agency,
    entry: r.entry,
    status: r.status,
    referredOn: r.referred_on,
    closedOn: r.closed_on,
    referredCents: r.referred_cents as Cents,
    feeCents: r.fee_cents as Cents,
    lastReportedCents: r.last_reported_cents as Cents,
    runId: r.run_id,
    previousReferralId: r.previous_referral_id,
  };
}

export async function listReferrals(db: Executor, filter: ReferralFilter = {}): Promise<{ items: ReferralRow[]; total: number }> {
  let q = referralsQuery(db);
  if (filter.status !== undefined) q = q.where('r.status', '=', filter.status);
  if (filter.agency !== undefined) q = q.where('a.name', '=', filter.agency);
  if (filter.entry !== undefined) {
    const entry = filter.entry.trim();
    q = /^\d+$/.test(entry) ? q.where('r.entry_id', '=', Number(entry)) : q.where('e.name', '=', entry);
  }
  if (filter.patronId !== undefined) q = q.where('r.patron_id', '=', filter.patronId);
  if (filter.runId !== undefined) q = q.where('r.run_id', '=', filter.runId);
  const total = await q.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const rows = await withColumns(q)
    .orderBy('r.id', 'desc')
    .limit(filter.limit ?? 50)
    .offset(filter.offset ?? 0)
    .execute();
  return { items: rows.map(toRow), total: Number(total.n) };
}

export async function getReferral(db: Executor, id: number): Promise<ReferralDetails> {
  const row = await withColumns(referralsQuery(db)).where('r.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`referral ${id}`);
  const history = await db.selectFrom('referral_history').selectAll().where('referral_id', '=', id).orderBy('id').execute();
  return {
    ...toRow(row),
    history: history.map(historyRecord),
  };
}

/** One referral_history row as services return it (the referral screen, the patron's ledger). */
export function historyRecord(h: Selectable<ReferralHistoryTable>): HistoryRecord {
  return {
    id: h.id,
    type: h.type,
    amountCents: h.amount_cents as Cents,
    reason: h.reason,
    runId: h.run_id,
    reportDate: h.report_date,
    at: new Date(h.at),
    actor: h.actor,
  };
}
