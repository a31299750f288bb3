// The staff dashboard: debt referred and recovered by month, split by the patron's home
// library and the agency; the headline figures a business office reports (outstanding
// referred debt, recovered this month and year, recovery rate); and the open referrals per
// agency and by age.
//
// Definitions (each amount is counted once):
// - referred: the amount of every refer record (first submissions, fee included, and
//   second-agency re-referrals), in the month of its report date (or, for a re-referral, the
//   local date it was made).
// - recovered: the payments credited to a referral (services/recovery.ts), read from the
//   ledger as soon as they are posted, in the month paid. Waivers and write-offs are never
//   recovered money.
// - outstanding: what patrons with an open referral owe now, from the ledger (the agency
//   hears of a change at the next run).
// Months and "today" are taken in the patron's home library's time zone.
import { sql } from 'kysely';
import type { Cents } from '../domain/money.ts';
import type { Executor } from './context.ts';
import { recoveredPayments } from './recovery.ts';

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
  /** What those patrons owe now. */
  outstandingCents: Cents;
}

export interface OpenByAge {
  /** "0-30", "31-60", "61-90", "91-180", "181+" days since the report date that referred them. */
  age: string;
  count: number;
  outstandingCents: Cents;
}

export interface Headline {
  /** Owed now by patrons with an open referral. */
  outstandingCents: Cents;
  openReferrals: number;
  recoveredThisMonthCents: Cents;
  recoveredThisYearCents: Cents;
  referredCents: Cents;
  recoveredCents: Cents;
  /** Recovered ÷ referred, all time, in percent with one decimal; null before anything was referred. */
  recoveryRate: number | null;
}

export interface Dashboard {
  months: MonthlyAmounts[];
  openReferrals: OpenByAgency[];
  byAge: OpenByAge[];
  headline: Headline;
  /** What the filters can pick: every library and agency with referrals. */
  libraries: { code: string; name: string }[];
  agencies: string[];
}

export interface DashboardFilter {
  /** YYYY-MM, inclusive. */
  fromMonth?: string;
  toMonth?: string;
  /** A home library code. */
  library?: string;
  /** An agency name. */
  agency?: string;
}

export const AGE_BUCKETS: readonly { age: string; upTo: number | null }[] = [
  { age: '0-30', upTo: 30 },
  { age: '31-60', upTo: 60 },
  { age: '61-90', upTo: 90 },
  { age: '91-180', upTo: 180 },
  { age: '181+', upTo: null },
];

export async function dashboard(db: Executor, now: Date, filter: DashboardFilter = {}): Promise<Dashboard> {
  const from = filter.fromMonth ?? null;
  const to = filter.toMonth ?? null;
  const library = filter.library ?? null;
  const agency = filter.agency ?? null;
  const rows = await sql<{ month: string; library: string; agency: string; referred: number; recovered: number }>`
    with amounts as (
      select to_char(coalesce(h.report_date, (h.at at time zone l.time_zone)::date), 'YYYY-MM') as month,
             p.home_library as library, a.name as agency, h.amount_cents as referred, 0::bigint as recovered
      from referral_history h
      join referrals r on r.id = h.referral_id
      join agencies a on a.id = r.agency_id
      join patrons p on p.id = h.patron_id
      join libraries l on l.code = p.home_library
      where h.type = 'refer'
      union all
      select to_char((rp.paid_at at time zone l.time_zone)::date, 'YYYY-MM'), p.home_library, a.name, 0, rp.amount_cents
      from (${recoveredPayments()}) rp
      join agencies a on a.id = rp.agency_id
      join patrons p on p.id = rp.patron_id
      join libraries l on l.code = p.home_library
    )
    select month, library, agency, sum(referred)::bigint as referred, sum(recovered)::bigint as recovered
    from amounts
    where (${from}::text is null or month >= ${from}::text) and (${to}::text is null or month <= ${to}::text)
      and (${library}::text is null or library = ${library}::text) and (${agency}::text is null or agency = ${agency}::text)
    group by month, library, agency
    order by month, library collate "C", agency collate "C"`.execute(db);

  // Every open referral with what its patron owes now and how long ago it was made.
  const open = await sql<{ agency: string; reported: number; outstanding: number; days: number }>`
    select a.name as agency, r.last_reported_cents as reported,
           coalesce((select sum(c.amount_cents - c.paid_cents) from charges c where c.patron_id = r.patron_id), 0)::bigint as outstanding,
           ((${now.toISOString()}::timestamptz at time zone l.time_zone)::date - r.referred_on) as days
    from referrals r
    join agencies a on a.id = r.agency_id
    join patrons p on p.id = r.patron_id
    join libraries l on l.code = p.home_library
    where r.status = 'open'
      and (${library}::text is null or p.home_library = ${library}::text) and (${agency}::text is null or a.name = ${agency}::text)`.execute(db);

  const totals = await sql<{ this_month: number; this_year: number; recovered: number; referred: number }>`
    with recovered as (
      select rp.amount_cents, (rp.paid_at at time zone l.time_zone)::date as paid_on,
             (${now.toISOString()}::timestamptz at time zone l.time_zone)::date as today
      from (${recoveredPayments()}) rp
      join agencies a on a.id = rp.agency_id
      join patrons p on p.id = rp.patron_id
      join libraries l on l.code = p.home_library
      where (${library}::text is null or p.home_library = ${library}::text) and (${agency}::text is null or a.name = ${agency}::text)
    )
    select
      coalesce(sum(amount_cents) filter (where date_trunc('month', paid_on) = date_trunc('month', today)), 0)::bigint as this_month,
      coalesce(sum(amount_cents) filter (where date_trunc('year', paid_on) = date_trunc('year', today)), 0)::bigint as this_year,
      coalesce(sum(amount_cents), 0)::bigint as recovered,
      (select coalesce(sum(h.amount_cents), 0)::bigint from referral_history h
         join referrals r on r.id = h.referral_id join agencies a on a.id = r.agency_id join patrons p on p.id = h.patron_id
         where h.type = 'refer'
           and (${library}::text is null or p.home_library = ${library}::text) and (${agency}::text is null or a.name = ${agency}::text)) as referred
    from recovered`.execute(db);

  const libraries = await db.selectFrom('libraries').select(['code', 'name']).orderBy('code').execute();
  const agencies = await db.selectFrom('agencies').select('name').orderBy('name').execute();

  const byAgency = new Map<string, OpenByAgency>();
  const byAge = AGE_BUCKETS.map((b): OpenByAge => ({ age: b.age, count: 0, outstandingCents: 0 as Cents }));
  for (const o of open.rows) {
    const a = byAgency.get(o.agency) ?? { agency: o.agency, count: 0, amountCents: 0 as Cents, outstandingCents: 0 as Cents };
    a.count++;
    a.amountCents = (a.amountCents + Number(o.reported)) as Cents;
    a.outstandingCents = (a.outstandingCents + Number(o.outstanding)) as Cents;
    byAgency.set(o.agency, a);
    const bucket = byAge[AGE_BUCKETS.findIndex((b) => b.upTo === null || Number(o.days) <= b.upTo)]!;
    bucket.count++;
    bucket.outstandingCents = (bucket.outstandingCents + Number(o.outstanding)) as Cents;
  }
  const t = totals.rows[0]!;
  const referredCents = Number(t.referred) as Cents;
  const recoveredCents = Number(t.recovered) as Cents;
  return {
    months: rows.rows.map((r) => ({ month: r.month, library: r.library, agency: r.agency, referredCents: Number(r.referred) as Cents, recoveredCents: Number(r.recovered) as Cents })),
    openReferrals: [...byAgency.values()].sort((a, b) => (a.agency < b.agency ? -1 : a.agency > b.agency ? 1 : 0)),
    byAge,
    headline: {
      outstandingCents: byAge.reduce((s, b) => s + b.outstandingCents, 0) as Cents,
      openReferrals: open.rows.length,
      recoveredThisMonthCents: Number(t.this_month) as Cents,
      recoveredThisYearCents: Number(t.this_year) as Cents,
      referredCents,
      recoveredCents,
      // Integer arithmetic on cents, then one decimal of a percent.
      recoveryRate: referredCents > 0 ? Math.round((recoveredCents * 1000) / referredCents) / 10 : null,
    },
    libraries,
    agencies: agencies.map((a) => a.name),
  };
}
