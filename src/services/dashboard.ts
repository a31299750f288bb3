// The staff dashboard: debt referred and recovered by month, split by the patron's home
// library and the agency, and the open referrals per agency.
//
// Definitions (each amount is counted once):
// - referred: the amount of every refer record (first submissions, fee included, and
//   second-agency re-referrals), in the month of its report date (or, for a re-referral, the
//   local date it was made).
// - recovered: money paid while the patron was with the agency, as the agency was told it:
//   the drop in balance of each update or clear record whose reason is "paid" (a payment,
//   whoever took it, not a waiver or write-off), in the month of its report date; plus
//   "collection agency" payments made while the patron had no open referral (the second-agency
//   workflow settles after the referral is cleared), credited to the agency of the patron's
//   latest referral, in the month paid. A collection-agency payment made while a referral is
//   open shows up in the next update or clear record, so it is not counted again.
// Months are calendar months in the patron's home library's time zone.
import { sql } from 'kysely';
import type { Cents } from '../domain/money.ts';
import type { Executor } from './context.ts';
import { AGENCY_PAYMENT_METHOD } from './second-agency.ts';

export interface MonthlyAmounts {
  /** YYYY-MM. */
  month: string;
  library: string;
  agency: string;
  referredCents: Cents;
  recoveredCents: Cents;
}

export interface OpenByAgency {
  agency: string;
  count: number;
  /** The balances last reported to the agency. */
  amountCents: Cents;
}

export interface Dashboard {
  months: MonthlyAmounts[];
  openReferrals: OpenByAgency[];
}

export interface DashboardFilter {
  /** YYYY-MM, inclusive. */
  fromMonth?: string;
  toMonth?: string;
}

export async function dashboard(db: Executor, filter: DashboardFilter = {}): Promise<Dashboard> {
  const from = filter.fromMonth ?? null;
  const to = filter.toMonth ?? null;
  const rows = await sql<{ month: string; library: string; agency: string; referred: number; recovered: number }>`
    with history as (
      select h.referral_id, h.type, h.reason, h.amount_cents,
             lag(h.amount_cents) over (partition by h.referral_id order by h.id) as previous_cents,
             to_char(coalesce(h.report_date, (h.at at time zone l.time_zone)::date), 'YYYY-MM') as month,
             p.home_library as library, a.name as agency
      from referral_history h
      join referrals r on r.id = h.referral_id
      join agencies a on a.id = r.agency_id
      join patrons p on p.id = h.patron_id
      join libraries l on l.code = p.home_library
    ),
    spans as (             -- when each referral was open, from its history
      select h.referral_id, r.patron_id, r.agency_id,
             min(h.at) filter (where h.type = 'refer') as opened,
             min(h.at) filter (where h.type in ('clear', 'cancel', 'return')) as closed
      from referral_history h join referrals r on r.id = h.referral_id
      group by h.referral_id, r.patron_id, r.agency_id
    ),
    later_payments as (    -- collection-agency payments made with no referral open
      select to_char((pm.paid_at at time zone l.time_zone)::date, 'YYYY-MM') as month,
             p.home_library as library, a.name as agency, pm.amount_cents
      from payments pm
      join patrons p on p.id = pm.patron_id
      join libraries l on l.code = p.home_library
      join lateral (
        select s.agency_id from spans s
        where s.patron_id = pm.patron_id and s.opened <= pm.paid_at
        order by s.opened desc limit 1
      ) last on true
      join agencies a on a.id = last.agency_id
      where pm.type = 'payment' and lower(pm.method) = ${AGENCY_PAYMENT_METHOD}
        and not exists (
          select 1 from spans s
          where s.patron_id = pm.patron_id and s.opened <= pm.paid_at and (s.closed is null or s.closed > pm.paid_at))
    ),
    amounts as (
      select month, library, agency, amount_cents as referred, 0::bigint as recovered from history where type = 'refer'
      union all
      select month, library, agency, 0, previous_cents - amount_cents from history
      where type in ('update', 'clear') and reason = 'paid' and previous_cents > amount_cents
      union all
      select month, library, agency, 0, amount_cents from later_payments
    )
    select month, library, agency, sum(referred)::bigint as referred, sum(recovered)::bigint as recovered
    from amounts
    where (${from}::text is null or month >= ${from}::text) and (${to}::text is null or month <= ${to}::text)
    group by month, library, agency
    order by month, library collate "C", agency collate "C"`.execute(db);

  const open = await db
    .selectFrom('referrals as r')
    .innerJoin('agencies as a', 'a.id', 'r.agency_id')
    .where('r.status', '=', 'open')
    .groupBy('a.name')
    .select(['a.name as agency', sql<number>`count(*)`.as('count'), sql<number>`coalesce(sum(r.last_reported_cents), 0)::bigint`.as('cents')])
    .orderBy('a.name')
    .execute();

  return {
    months: rows.rows.map((r) => ({ month: r.month, library: r.library, agency: r.agency, referredCents: Number(r.referred) as Cents, recoveredCents: Number(r.recovered) as Cents })),
    openReferrals: open.map((o) => ({ agency: o.agency, count: Number(o.count), amountCents: Number(o.cents) as Cents })),
  };
}
