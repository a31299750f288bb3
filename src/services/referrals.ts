// Referrals and their append-only history. Everything here is set-based: one statement
// per kind of change, whatever the number of patrons in the run.
import { sql } from 'kysely';
import type { Cents } from '../domain/money.ts';
import type { LocalDate } from '../domain/dates.ts';
import type { HistoryType, ReferralStatus } from '../db/schema.ts';
import type { Executor } from './context.ts';
import { faultPoint } from './faults.ts';

export interface OpenReferralState {
  id: number;
  patronId: string;
  entryId: number | null;
  agencyId: number;
  referredOn: LocalDate;
  lastReportedCents: Cents;
  /** Outstanding balance of all the patron's charges now. */
  owedCents: Cents;
  /** Type of the patron's latest payment, waiver or write-off, if any. */
  lastPaymentType: 'payment' | 'waive' | 'writeoff' | null;
}

/** Every open referral with the patron's current balance, read in one pass over their charges. */
export async function openReferralStates(db: Executor, options: { patronIds?: string[] } = {}): Promise<OpenReferralState[]> {
  const only = options.patronIds ?? null;
  const rows = await sql<{
    id: number;
    patron_id: string;
    entry_id: number | null;
    agency_id: number;
    referred_on: string;
    last_reported_cents: number;
    owed: number;
    last_type: OpenReferralState['lastPaymentType'];
  }>`
    with open as (
      select * from referrals
      where status = 'open' and (${only}::text[] is null or patron_id = any(${only}::text[]))
    ),
    owed as (            -- outstanding balance per patron in collections
      select c.patron_id, sum(c.amount_cents - c.paid_cents)::bigint as cents
      from charges c join open o on o.patron_id = c.patron_id
      group by c.patron_id
    ),
    last_payment as (    -- the latest ledger credit decides "paid" or "waived"
      select distinct on (pm.patron_id) pm.patron_id, pm.type
      from payments pm join open o on o.patron_id = pm.patron_id
      order by pm.patron_id, pm.paid_at desc, pm.created_at desc, pm.id desc
    )
    select o.id, o.patron_id, o.entry_id, o.agency_id, o.referred_on, o.last_reported_cents,
           coalesce(w.cents, 0)::bigint as owed, lp.type as last_type
    from open o
    left join owed w on w.patron_id = o.patron_id
    left join last_payment lp on lp.patron_id = o.patron_id
    order by o.patron_id`.execute(db);
  return rows.rows.map((r) => ({
    id: r.id,
    patronId: r.patron_id,
    entryId: r.entry_id,
    agencyId: r.agency_id,
    referredOn: r.referred_on as LocalDate,
    lastReportedCents: r.last_reported_cents as Cents,
    owedCents: r.owed as Cents,
    lastPaymentType: r.last_type,
  }));
}

export interface HistoryRow {
  referralId: number;
  patronId: string;
  type: HistoryType;
  amountCents: Cents;
  reason: string;
}

export async function appendHistory(
  db: Executor,
  rows: HistoryRow[],
  context: { runId: number | null; reportDate: LocalDate | null; at: Date; actor: string },
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    insert into referral_history (referral_id, patron_id, type, amount_cents, reason, run_id, report_date, at, actor)
    select v.referral_id, v.patron_id, v.type, v.amount_cents, v.reason, ${context.runId}::bigint, ${context.reportDate}::date, ${context.at}::timestamptz, ${context.actor}
    from unnest(${rows.map((r) => r.referralId)}::bigint[], ${rows.map((r) => r.patronId)}::text[],
                ${rows.map((r) => r.type)}::text[], ${rows.map((r) => r.amountCents)}::bigint[],
                ${rows.map((r) => r.reason)}::text[])
      as v(referral_id, patron_id, type, amount_cents, reason)`.execute(db);
}

export interface NewReferral {
  patronId: string;
  agencyId: number;
  entryId: number;
  owedCents: Cents;
  feeCents: Cents;
  previousReferralId?: number | null;
}

/** Opens referrals and returns their ids by patron. The unique open-referral index enforces once-only. */
export async function insertReferrals(
  db: Executor,
  rows: NewReferral[],
  context: { runId: number | null; reportDate: LocalDate },
): Promise<Map<string, number>> {
  const ids = new Map<string, number>();
  if (rows.length === 0) return ids;
  const inserted = await sql<{ id: number; patron_id: string }>`
    insert into referrals (patron_id, agency_id, entry_id, referred_on, run_id, referred_cents, fee_cents, last_reported_cents, previous_referral_id)
    select v.patron_id, v.agency_id, v.entry_id, ${context.reportDate}::date, ${context.runId}::bigint,
           v.owed + v.fee, v.fee, v.owed + v.fee, v.previous
    from unnest(${rows.map((r) => r.patronId)}::text[], ${rows.map((r) => r.agencyId)}::int[],
                ${rows.map((r) => r.entryId)}::int[], ${rows.map((r) => r.owedCents)}::bigint[],
                ${rows.map((r) => r.feeCents)}::bigint[], ${rows.map((r) => r.previousReferralId ?? null)}::bigint[])
      as v(patron_id, agency_id, entry_id, owed, fee, previous)
    returning id, patron_id`.execute(db);
  faultPoint('referrals.inserted');
  for (const r of inserted.rows) ids.set(r.patron_id, r.id);
  return ids;
}

/**
 * Agency fees as charges posted by the patron's home library on the report date: at the
 * moment of the run, or at local noon of the report date when the run is for an earlier day
 * (a catch-up), so the fee always falls on the report date in that library's zone.
 */
export async function chargeAgencyFees(
  db: Executor,
  fees: { referralId: number; patronId: string; cents: Cents }[],
  reportDate: LocalDate,
  now: Date,
): Promise<void> {
  if (fees.length === 0) return;
  // A connector patron's fee is queued for their ILS in the same statement (the outbox of
  // migration 210; migration 280 moved it here from a row trigger).
  await sql`
    with fees as (
      insert into charges (id, patron_id, item_id, library, reason, amount_cents, assessed_at, assessed_on, referral_id)
      select 'fee-' || v.referral_id, v.patron_id, null, p.home_library, 'agency_fee', v.cents, f.at,
             (f.at at time zone l.time_zone)::date, v.referral_id
      from unnest(${fees.map((f) => f.referralId)}::bigint[], ${fees.map((f) => f.patronId)}::text[], ${fees.map((f) => f.cents)}::bigint[])
        as v(referral_id, patron_id, cents)
      -- Each patron looked up by key (offset 0 keeps it a lookup): a hash join read every patron.
      cross join lateral (select home_library from patrons where id = v.patron_id offset 0) p
      join libraries l on l.code = p.home_library
      cross join lateral (
        select case when (${now}::timestamptz at time zone l.time_zone)::date = ${reportDate}::date
                    then ${now}::timestamptz
                    else (${reportDate}::date + time '12:00') at time zone l.time_zone end as at
      ) f
      returning id, patron_id, referral_id, amount_cents
    )
    insert into connector_writes (connector_id, kind, patron_id, referral_id, charge_id, amount_cents, idempotency_key, detail)
    select pc.connector_id, 'fee', fees.patron_id, fees.referral_id, fees.id, fees.amount_cents, 'fee:' || fees.id,
           jsonb_build_object('agency', a.name)
    from fees
    join patron_connectors pc on pc.patron_id = fees.patron_id
    join referrals r on r.id = fees.referral_id
    join agencies a on a.id = r.agency_id
    -- Checked once: with no connector writing to an ILS, nothing is joined.
    where exists (select 1 from connectors c where not c.read_only)
    on conflict (connector_id, idempotency_key) do nothing`.execute(db);
  faultPoint('referrals.fees-charged');
}

/** Patrons (of the given) who were ever charged an agency fee: the fee is charged on first submission only. */
export async function patronsEverCharged(db: Executor, patronIds: string[]): Promise<Set<string>> {
  if (patronIds.length === 0) return new Set();
  const rows = await sql<{ patron_id: string }>`
    select distinct patron_id from charges where reason = 'agency_fee' and patron_id = any(${patronIds}::text[])`.execute(db);
  return new Set(rows.rows.map((r) => r.patron_id));
}

export async function setLastReported(db: Executor, rows: { id: number; cents: Cents }[]): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    update referrals r set last_reported_cents = v.cents
    from unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.cents)}::bigint[]) as v(id, cents)
    where r.id = v.id`.execute(db);
}

export async function closeReferrals(
  db: Executor,
  rows: { id: number; status: Exclude<ReferralStatus, 'open'>; cents: Cents }[],
  closedOn: LocalDate,
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    update referrals r set status = v.status, closed_on = ${closedOn}::date, last_reported_cents = v.cents
    from unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.status)}::text[], ${rows.map((r) => r.cents)}::bigint[])
      as v(id, status, cents)
    where r.id = v.id and r.status = 'open'`.execute(db);
}

/** Sets patrons' in-collections flag and records the change for the ILS (flags export). */
export async function setInCollections(db: Executor, patronIds: string[], inCollections: boolean, at: Date): Promise<void> {
  if (patronIds.length === 0) return;
  await sql`
    with changed as (
      update patrons set in_collections = ${inCollections}, updated_at = ${at}::timestamptz
      where id = any(${patronIds}::text[]) and in_collections <> ${inCollections}
      returning id, in_collections, status
    )
    insert into flag_changes (patron_id, in_collections, secured, at)
    select id, in_collections, status = 'secured', ${at}::timestamptz from changed`.execute(db);
}

export interface ReferralWithHistory {
  id: number;
  patronId: string;
  agency: string;
  entry: string | null;
  status: ReferralStatus;
  referredOn: string;
  closedOn: string | null;
  referredCents: number;
  feeCents: number;
  lastReportedCents: number;
  history: { type: HistoryType; amountCents: number; reason: string; reportDate: string | null; at: Date; actor: string }[];
}

export async function referralsOfPatron(db: Executor, patronId: string): Promise<ReferralWithHistory[]> {
  const refs = await db
    .selectFrom('referrals as r')
    .innerJoin('agencies as a', 'a.id', 'r.agency_id')
    .leftJoin('settings_entries as e', 'e.id', 'r.entry_id')
    .select(['r.id', 'r.patron_id', 'a.name as agency', 'e.name as entry', 'r.status', 'r.referred_on', 'r.closed_on', 'r.referred_cents', 'r.fee_cents', 'r.last_reported_cents'])
    .where('r.patron_id', '=', patronId)
    .orderBy('r.id')
    .execute();
  const history = refs.length
    ? await db
        .selectFrom('referral_history')
        .selectAll()
        .where('referral_id', 'in', refs.map((r) => r.id))
        .orderBy('id')
        .execute()
    : [];
  return refs.map((r) => ({
    id: r.id,
    patronId: r.patron_id,
    agency: r.agency,
    entry: r.entry,
    status: r.status,
    referredOn: r.referred_on,
    closedOn: r.closed_on,
    referredCents: r.referred_cents,
    feeCents: r.fee_cents,
    lastReportedCents: r.last_reported_cents,
    history: history
      .filter((h) => h.referral_id === r.id)
      .map((h) => ({ type: h.type, amountCents: h.amount_cents, reason: h.reason, reportDate: h.report_date, at: h.at, actor: h.actor })),
  }));
}

/**
 * Referrals and history written outside a run (a return and re-referral to a second agency,
 * an agency's cleared-accounts file) reach the agencies in the next run of their entry: that
 * run claims them, so its New Submissions and Updated Patrons files include them, once.
 */
export async function adoptOutOfRunChanges(db: Executor, runId: number, parts: { newEntryIds: number[]; updateEntryIds: number[] }): Promise<void> {
  if (parts.newEntryIds.length > 0) {
    await sql`
      with adopted as (
        update referrals set run_id = ${runId}
        where run_id is null and entry_id = any(${parts.newEntryIds}::int[])
        returning id
      )
      update referral_history h set run_id = ${runId}
      from adopted a where h.referral_id = a.id and h.run_id is null and h.type = 'refer'`.execute(db);
  }
  if (parts.updateEntryIds.length > 0) {
    await sql`
      update referral_history h set run_id = ${runId}
      from referrals r
      where r.id = h.referral_id and h.run_id is null and h.type <> 'refer' and r.entry_id = any(${parts.updateEntryIds}::int[])`.execute(db);
  }
}
