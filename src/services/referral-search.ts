// Referrals as staff search them: by status, agency, settings entry, patron or run, or any
// text, a page at a time, newest first or sorted by a column; and one referral with its
// append-only history. Each carries what the patron owes now and what it has recovered,
// from the ledger (services/recovery.ts), so a payment shows at once, before the next run
// reports it to the agency.
import { sql, type Selectable } from 'kysely';
import { NotFoundError } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import type { HistoryType, ReferralHistoryTable, ReferralStatus } from '../db/schema.ts';
import type { Executor } from './context.ts';
import { recoveredPayments } from './recovery.ts';

export interface ReferralFilter {
  status?: ReferralStatus;
  /** Agency name. */
  agency?: string;
  /** Settings entry id or name. */
  entry?: string;
  patronId?: string;
  runId?: number;
  /** Case-insensitive text found in the patron's id or name, the agency, the entry or the status. */
  text?: string;
  /** A column, descending with a leading "-"; default newest first. */
  sort?: ReferralSort;
  limit?: number;
  offset?: number;
}

export const REFERRAL_SORTS = ['id', 'patronId', 'patronName', 'agency', 'entry', 'status', 'referredOn', 'closedOn', 'referred', 'lastReported'] as const;
export type ReferralSort = (typeof REFERRAL_SORTS)[number] | `-${(typeof REFERRAL_SORTS)[number]}`;

const SORT_COLUMNS = {
  id: sql`r.id`,
  patronId: sql`r.patron_id collate "C"`,
  patronName: sql`lower(p.last_name || ' ' || p.first_name)`,
  agency: sql`lower(a.name)`,
  entry: sql`lower(e.name)`,
  status: sql`r.status`,
  referredOn: sql`r.referred_on`,
  closedOn: sql`r.closed_on`,
  referred: sql`r.referred_cents`,
  lastReported: sql`r.last_reported_cents`,
} as const;

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
  /** What the patron owes now, from the ledger (for an open referral, what the next run reports). */
  balanceCents: Cents;
  /** Payments credited to this referral so far. */
  recoveredCents: Cents;
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

type Selected = Awaited<ReturnType<ReturnType<typeof withColumns>['executeTakeFirstOrThrow']>>;

/** The rows with the patrons' balances now and each referral's recovered payments. */
async function withLedger(db: Executor, rows: Selected[]): Promise<ReferralRow[]> {
  const patrons = [...new Set(rows.map((r) => r.patron_id))];
  const balances = new Map<string, number>();
  const recovered = new Map<number, number>();
  if (patrons.length) {
    const owed = await db
      .selectFrom('charges')
      .select(['patron_id', sql<number>`sum(amount_cents - paid_cents)::bigint`.as('cents')])
      .where('patron_id', 'in', patrons)
      .groupBy('patron_id')
      .execute();
    for (const o of owed) balances.set(o.patron_id, Number(o.cents));
    const paid = await sql<{ referral_id: number; cents: number }>`
      select rp.referral_id, sum(rp.amount_cents)::bigint as cents from (${recoveredPayments(patrons)}) rp group by rp.referral_id`.execute(db);
    for (const p of paid.rows) recovered.set(Number(p.referral_id), Number(p.cents));
  }
  return rows.map((r) => ({ ...toRow(r), balanceCents: (balances.get(r.patron_id) ?? 0) as Cents, recoveredCents: (recovered.get(r.id) ?? 0) as Cents }));
}

function toRow(r: Selected): Omit<ReferralRow, 'balanceCents' | 'recoveredCents'> {
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
  const text = filter.text?.trim().toLowerCase();
  if (text) {
    // Matched literally: LIKE's wildcards in the text are escaped.
    const like = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where(
      sql<boolean>`(lower(r.patron_id) like ${like} or lower(p.first_name || ' ' || p.last_name) like ${like} or lower(p.last_name || ', ' || p.first_name) like ${like}
        or lower(a.name) like ${like} or lower(coalesce(e.name, '')) like ${like} or r.status like ${like})`,
    );
  }
  const total = await q.select(sql<number>`count(*)`.as('n')).executeTakeFirstOrThrow();
  const sort = filter.sort ?? '-id';
  const key = sort.replace(/^-/, '') as keyof typeof SORT_COLUMNS;
  const rows = await withColumns(q)
    .orderBy(sql`${SORT_COLUMNS[key]} ${sql.raw(sort.startsWith('-') ? 'desc nulls last' : 'asc nulls last')}`)
    .orderBy('r.id', 'desc')
    .limit(filter.limit ?? 50)
    .offset(filter.offset ?? 0)
    .execute();
  return { items: await withLedger(db, rows), total: Number(total.n) };
}

export async function getReferral(db: Executor, id: number): Promise<ReferralDetails> {
  const row = await withColumns(referralsQuery(db)).where('r.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`referral ${id}`);
  const history = await db.selectFrom('referral_history').selectAll().where('referral_id', '=', id).orderBy('id').execute();
  return {
    ...(await withLedger(db, [row]))[0]!,
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
