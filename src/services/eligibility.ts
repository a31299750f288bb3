// Eligibility as a use case: read patrons as snapshots for the reference evaluator, and
// explain one patron's verdict next to what the set-based SQL says about the same patron.
import { sql } from 'kysely';
import type { LocalDate } from '../domain/dates.ts';
import { evaluatePatron, type Evaluation, type PatronSnapshot } from '../domain/eligibility.ts';
import { NotFoundError } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { evaluateAllSql, type VerdictRow } from '../db/eligibility.sql.ts';
import type { Executor } from './context.ts';

/**
 * Snapshots of the given patrons (default: every patron), sorted by id. One query per table,
 * whatever the number of patrons; unknown ids are simply absent.
 */
export async function loadSnapshots(db: Executor, patronIds?: readonly string[]): Promise<PatronSnapshot[]> {
  if (patronIds && patronIds.length === 0) return [];
  const ids = patronIds ? [...patronIds] : null;

  let patronsQuery = db.selectFrom('patrons').select(['id', 'home_library', 'ptype', 'patron_code', 'status']);
  // Summed from the allocations themselves, not charges.paid_cents: this is the reference
  // evaluator the set-based SQL (which reads paid_cents) is checked against.
  let paidQuery = db
    .selectFrom('allocations')
    .select(['patron_id', 'charge_id', sql<number>`sum(amount_cents)::bigint`.as('cents')])
    .groupBy(['patron_id', 'charge_id']);
  if (ids) paidQuery = paidQuery.where('patron_id', 'in', ids);
  let chargesQuery = db
    .selectFrom('charges as c')
    .leftJoin(paidQuery.as('a'), (j) => j.onRef('a.patron_id', '=', 'c.patron_id').onRef('a.charge_id', '=', 'c.id'))
    .select([
      'c.id',
      'c.patron_id',
      'c.reason',
      'c.library',
      'c.assessed_on',
      'c.amount_cents',
      sql<number>`c.amount_cents - coalesce(a.cents, 0)`.as('outstanding'),
    ]);
  let itemsQuery = db.selectFrom('items').select(['id', 'patron_id', 'title', 'status', 'due_date']).where('patron_id', 'is not', null);
  let referralsQuery = db
    .selectFrom('referrals as r')
    .innerJoin('agencies as g', 'g.id', 'r.agency_id')
    .select(['r.id', 'r.patron_id', 'r.status', 'g.name as agency', 'r.referred_on', 'r.closed_on', 'r.withdrawn']);
  let exclusionsQuery = db.selectFrom('exclusions').select(['id', 'patron_id', 'reason', 'until_date', 'lifted_at']);
  if (ids) {
    patronsQuery = patronsQuery.where('id', 'in', ids);
    chargesQuery = chargesQuery.where('c.patron_id', 'in', ids);
    itemsQuery = itemsQuery.where('patron_id', 'in', ids);
    referralsQuery = referralsQuery.where('r.patron_id', 'in', ids);
    exclusionsQuery = exclusionsQuery.where('patron_id', 'in', ids);
  }

  const [patrons, charges, items, referrals, exclusions] = [
    await patronsQuery.execute(),
    await chargesQuery.orderBy('c.assessed_on').orderBy('c.id').execute(),
    await itemsQuery.orderBy('id').execute(),
    await referralsQuery.orderBy('r.id').execute(),
    await exclusionsQuery.orderBy('id').execute(),
  ];

  const byId = new Map<string, PatronSnapshot>();
  for (const p of patrons) {
    byId.set(p.id, {
      id: p.id,
      homeLibrary: p.home_library,
      ptype: p.ptype,
      patronCode: p.patron_code,
      status: p.status,
      exclusions: [],
      referrals: [],
      charges: [],
      items: [],
    });
  }
  for (const c of charges) {
    byId.get(c.patron_id)?.charges.push({
      id: c.id,
      reason: c.reason,
      library: c.library,
      assessedOn: c.assessed_on as LocalDate,
      amount: c.amount_cents as Cents,
      outstanding: c.outstanding as Cents,
    });
  }
  for (const i of items) {
    byId.get(i.patron_id!)?.items.push({ id: i.id, title: i.title, status: i.status, dueDate: i.due_date as LocalDate | null });
  }
  for (const r of referrals) {
    byId.get(r.patron_id)?.referrals.push({
      id: r.id,
      status: r.status,
      agency: r.agency,
      referredOn: r.referred_on as LocalDate,
      closedOn: r.closed_on as LocalDate | null,
      withdrawn: r.withdrawn,
    });
  }
  for (const x of exclusions) {
    byId.get(x.patron_id)?.exclusions.push({ id: x.id, reason: x.reason, untilDate: x.until_date as LocalDate | null, lifted: x.lifted_at !== null });
  }
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface Explanation {
  evaluation: Evaluation;
  /** What the set-based query decided for the same patron and date. */
  sql: VerdictRow;
  /** The two agree on entry, verdict, owed and counted. */
  agrees: boolean;
}

export function sameVerdict(evaluation: Evaluation, row: VerdictRow): boolean {
  return (
    evaluation.entryId === row.entryId &&
    evaluation.eligible === row.eligible &&
    evaluation.owedCents === row.owedCents &&
    evaluation.countedCents === row.countedCents
  );
}

/** Why a patron is or is not eligible on a report date, rule by rule. */
export async function explainPatron(db: Executor, entries: readonly SettingsEntry[], patronId: string, reportDate: LocalDate): Promise<Explanation> {
  const [snapshot] = await loadSnapshots(db, [patronId]);
  if (!snapshot) throw new NotFoundError(`patron ${patronId}`);
  const evaluation = evaluatePatron(entries, snapshot, reportDate);
  const [row] = await evaluateAllSql(db, entries, reportDate, { patronIds: [patronId] });
  if (!row) throw new NotFoundError(`patron ${patronId}`);
  return { evaluation, sql: row, agrees: sameVerdict(evaluation, row) };
}

/** The referral a run made on the report date (or the one open now), with its New Submissions file. */
export interface ReferralContext {
  referralId: number;
  agency: string;
  status: string;
  referredOn: string;
  runId: number | null;
  /** True when a run for this very report date referred the patron. */
  referredOnDate: boolean;
  file: { id: number; name: string; status: string; holdUntil: Date | null } | null;
}

/**
 * What explain needs to tell staff beyond the rules: a patron referred by the run for this
 * date fails "not already in collections" only because of that referral, and their file may
 * be held for review.
 */
export async function referralContext(db: Executor, patronId: string, reportDate: LocalDate): Promise<ReferralContext | null> {
  const rows = await db
    .selectFrom('referrals as r')
    .innerJoin('agencies as a', 'a.id', 'r.agency_id')
    .select(['r.id', 'a.name as agency', 'r.agency_id', 'r.status', 'r.referred_on', 'r.run_id'])
    .where('r.patron_id', '=', patronId)
    .where((eb) => eb.or([eb('r.referred_on', '=', reportDate), eb('r.status', '=', 'open')]))
    .orderBy('r.id', 'desc')
    .execute();
  const r = rows.find((x) => x.referred_on === reportDate) ?? rows[0];
  if (!r) return null;
  const file =
    r.run_id === null
      ? undefined
      : await db
          .selectFrom('report_files')
          .select(['id', 'name', 'status', 'next_attempt_at'])
          .where('run_id', '=', r.run_id)
          .where('agency_id', '=', r.agency_id)
          .where('kind', '=', 'new')
          .orderBy('id')
          .executeTakeFirst();
  return {
    referralId: r.id,
    agency: r.agency,
    status: r.status,
    referredOn: r.referred_on,
    runId: r.run_id,
    referredOnDate: r.referred_on === reportDate,
    file: file ? { id: file.id, name: file.name, status: file.status, holdUntil: file.status === 'held' ? file.next_attempt_at : null } : null,
  };
}
