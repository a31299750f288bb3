// The set-based eligibility query: every patron of the consortium evaluated in one statement,
// by the rules the reference evaluator (src/domain/eligibility.ts) spells out patron by patron.
// test/eligibility-differential.test.ts holds the two to the same answers.
//
// Shape: charges are read once and grouped by patron_id, with every figure taken in that pass
// by FILTER clauses; everything else joined is either reference data (the settings entries,
// passed in) or the patron's own rows grouped by patron_id. On Citus, where patrons, charges,
// allocations and referrals are distributed by patron_id, each clause runs shard by shard.
import { sql, type RawBuilder } from 'kysely';
import { addDays, type LocalDate } from '../domain/dates.ts';
import type { Cents } from '../domain/money.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { countedWindow } from '../domain/window.ts';
import type { Executor } from '../services/context.ts';

export interface EligibleRow {
  patronId: string;
  entryId: number;
  owedCents: Cents;
  countedCents: Cents;
}

/** The verdict for one patron in scope, eligible or not (entryId null: no entry applies). */
export interface VerdictRow {
  patronId: string;
  entryId: number | null;
  owedCents: Cents;
  countedCents: Cents;
  eligible: boolean;
}

export interface EligibilityOptions {
  /** Evaluate only these patrons (default: all). */
  patronIds?: readonly string[];
}

/** One settings entry as the query needs it; dates are computed here, in TypeScript, once per run. */
interface EntryParam {
  id: number;
  position: number;
  home_libraries: string[];
  ptypes: number[];
  exempt_codes: string[];
  item_fees_only: boolean;
  window_from: string | null;
  window_to: string;
  minimum_cents: number;
  require_bill: boolean;
  /** An item due on or before this date is minDaysOverdue days past due on the report date. */
  overdue_cutoff: string | null;
  resubmit_after_clear: boolean;
}

function entryParams(entries: readonly SettingsEntry[], reportDate: LocalDate): EntryParam[] {
  return entries.map((e) => {
    const w = countedWindow(e, reportDate);
    return {
      id: e.id,
      position: e.position,
      home_libraries: e.homeLibraries,
      ptypes: e.ptypes,
      exempt_codes: e.exemptPatronCodes,
      item_fees_only: e.countedCharges === 'item_fees',
      window_from: w.from,
      window_to: w.to,
      minimum_cents: e.minimumOwed,
      require_bill: e.requireBill,
      overdue_cutoff: e.minDaysOverdue === null ? null : addDays(reportDate, -e.minDaysOverdue),
      resubmit_after_clear: e.resubmitAfterClear,
    };
  });
}

function statement(entries: readonly SettingsEntry[], reportDate: LocalDate, options: EligibilityOptions, eligibleOnly: boolean): RawBuilder<VerdictRow> {
  const ids = options.patronIds;
  // Scoping repeats the patron filter on every table so an explain or a small batch reads by index.
  const scope = (column: string) => (ids ? sql`and ${sql.ref(column)} = any(${[...ids]}::text[])` : sql``);
  // The items pass is left out entirely when no entry has a minimum days overdue.
  const usesOverdue = entries.some((e) => e.minDaysOverdue !== null);

  return sql<VerdictRow>`
with
  -- The settings table as rows, from one JSON parameter. Window bounds and the overdue cut-off
  -- are dates computed by countedWindow(); an open lower bound becomes -infinity so the
  -- window test below is a plain BETWEEN.
  entries as (
    select e.id, e.position, e.home_libraries, e.ptypes, e.exempt_codes, e.item_fees_only,
           coalesce(e.window_from, '-infinity'::date) as window_from, e.window_to,
           e.minimum_cents, e.require_bill, e.overdue_cutoff, e.resubmit_after_clear
    from jsonb_to_recordset(${JSON.stringify(entryParams(entries, reportDate))}::jsonb) as e(
      id integer, position integer, home_libraries text[], ptypes integer[], exempt_codes text[],
      item_fees_only boolean, window_from date, window_to date, minimum_cents bigint,
      require_bill boolean, overdue_cutoff date, resubmit_after_clear boolean)
  ),

  -- Each patron in scope with the FIRST entry by position whose home libraries and PTYPEs
  -- include them (empty list = all). Later entries are never consulted: no fall-through.
  -- The lateral lookup depends only on (home_library, ptype), which the planner memoizes.
  patron_entry as (
    select p.id as patron_id, p.patron_code, p.status,
           e.id as entry_id, e.item_fees_only, e.window_from, e.window_to
    from patrons p
    ${eligibleOnly ? sql`join` : sql`left join`} lateral (
      select e.id, e.item_fees_only, e.window_from, e.window_to
      from entries e
      where (cardinality(e.home_libraries) = 0 or p.home_library = any(e.home_libraries))
        and (cardinality(e.ptypes) = 0 or p.ptype = any(e.ptypes))
      order by e.position, e.id
      limit 1
    ) e on true
    where true ${scope('p.id')}
  ),

  -- Payments, waivers and write-offs summed per charge. Grouped by patron_id too, so the
  -- join to charges below is on the distribution column.
  paid as (
    select a.patron_id, a.charge_id, sum(a.amount_cents) as cents
    from allocations a
    where true ${scope('a.patron_id')}
    group by a.patron_id, a.charge_id
  ),

  -- The one pass over charges. Outstanding = amount − allocations.
  --   owed:     every charge of the patron, whatever its reason, date or posting library;
  --   counted:  charges of a counted reason (item fees = replacement + processing) assessed
  --             in the entry's window (assessed_on is already the posting library's local date);
  --   has_bill: an outstanding replacement charge assessed in the window (require bill).
  ledger as (
    select c.patron_id,
           sum(c.amount_cents - coalesce(a.cents, 0)) as owed,
           sum(c.amount_cents - coalesce(a.cents, 0)) filter (
             where (not pe.item_fees_only or c.reason in ('replacement', 'processing'))
               and c.assessed_on between pe.window_from and pe.window_to) as counted,
           bool_or(c.reason = 'replacement'
               and c.assessed_on between pe.window_from and pe.window_to
               and c.amount_cents > coalesce(a.cents, 0)) as has_bill
    from charges c
    join patron_entry pe on pe.patron_id = c.patron_id
    left join paid a on a.patron_id = c.patron_id and a.charge_id = c.id
    where true ${scope('c.patron_id')}
    group by c.patron_id
  ),

  -- Once only: an open referral blocks; a closed one (cleared, cancelled, returned) blocks
  -- unless the entry resubmits after a clear.
  referral_flags as (
    select r.patron_id, bool_or(r.status = 'open') as has_open, bool_or(r.status <> 'open') as has_closed
    from referrals r
    where true ${scope('r.patron_id')}
    group by r.patron_id
  ),

  -- Exclusions still in force on the report date: not lifted, and open-ended or running through it.
  excluded as (
    select x.patron_id
    from exclusions x
    where x.lifted_at is null and (x.until_date is null or x.until_date >= ${reportDate}::date) ${scope('x.patron_id')}
    group by x.patron_id
  ),

  -- Minimum days overdue: the oldest due date among the patron's checked-out or lost items.
  overdue as (
    select i.patron_id, min(i.due_date) as oldest_due
    from items i
    where ${usesOverdue ? sql`i.patron_id is not null` : sql`false`}
      and i.status in ('checked_out', 'lost') and i.due_date is not null ${scope('i.patron_id')}
    group by i.patron_id
  ),

  -- Every condition of the applied entry; a patron without an entry is never eligible.
  verdicts as (
    select pe.patron_id, pe.entry_id,
           coalesce(l.owed, 0)::bigint as owed_cents,
           coalesce(l.counted, 0)::bigint as counted_cents,
           coalesce(
                 e.id is not null
             and not (pe.patron_code = any(e.exempt_codes))
             and pe.status <> 'secured'
             and x.patron_id is null
             and not coalesce(r.has_open, false)
             and (e.resubmit_after_clear or not coalesce(r.has_closed, false))
             and coalesce(l.owed, 0) > 0
             and coalesce(l.counted, 0) >= e.minimum_cents
             and (not e.require_bill or coalesce(l.has_bill, false))
             and (e.overdue_cutoff is null or coalesce(o.oldest_due <= e.overdue_cutoff, false)),
           false) as eligible
    from patron_entry pe
    left join entries e on e.id = pe.entry_id
    left join ledger l on l.patron_id = pe.patron_id
    left join referral_flags r on r.patron_id = pe.patron_id
    left join excluded x on x.patron_id = pe.patron_id
    left join overdue o on o.patron_id = pe.patron_id
  )

select patron_id as "patronId", entry_id as "entryId", owed_cents as "owedCents",
       counted_cents as "countedCents", eligible
from verdicts
${eligibleOnly ? sql`where eligible` : sql``}
-- Byte order, so both databases (and JavaScript's default sort) agree on it.
order by patron_id collate "C"`;
}

/** Eligible patrons for a report date, sorted by patron id: what a New Submissions run submits. */
export async function findEligible(db: Executor, entries: readonly SettingsEntry[], reportDate: LocalDate, options: EligibilityOptions = {}): Promise<EligibleRow[]> {
  if (entries.length === 0) return [];
  const rows = (await statement(entries, reportDate, options, true).execute(db)).rows;
  return rows.map((r) => ({ patronId: r.patronId, entryId: r.entryId!, owedCents: r.owedCents, countedCents: r.countedCents }));
}

/** The verdict for every patron in scope, eligible or not; sorted by patron id. */
export async function evaluateAllSql(db: Executor, entries: readonly SettingsEntry[], reportDate: LocalDate, options: EligibilityOptions = {}): Promise<VerdictRow[]> {
  return (await statement(entries, reportDate, options, false).execute(db)).rows;
}
