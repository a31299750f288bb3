// The set-based eligibility query: every patron of the consortium evaluated in one statement,
// by the rules the reference evaluator (src/domain/eligibility.ts) spells out patron by patron.
// test/eligibility-differential.test.ts holds the two to the same answers.
//
// Shape: charges are read once and grouped by patron_id, with every figure taken in that pass
// by FILTER clauses; everything else joined is either reference data (the settings entries,
// passed in) or the patron's own rows grouped by patron_id. Only equality joins and no
// correlated subqueries, so PostgreSQL can hash-join and run the charges pass in parallel
// workers, and on Citus (patrons, charges, allocations and referrals distributed by
// patron_id) every clause runs shard by shard.
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
  /** 1-based place in the order entries are tried. */
  rank: number;
  id: number;
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

/** For each key, a bit string with one bit per entry (in rank order): 1 where the entry's list accepts the key. */
interface Masks<K> {
  keys: K[];
  masks: string[];
  /** The mask of every key no entry names: only blank lists accept it. */
  other: string;
}

function masks<K>(ordered: readonly SettingsEntry[], list: (e: SettingsEntry) => readonly K[]): Masks<K> {
  const bits = (accepts: (e: SettingsEntry) => boolean) => ordered.map((e) => (accepts(e) ? '1' : '0')).join('');
  const keys = [...new Set(ordered.flatMap(list))];
  return {
    keys,
    masks: keys.map((k) => bits((e) => list(e).length === 0 || list(e).includes(k))),
    other: bits((e) => list(e).length === 0),
  };
}

function parameters(entries: readonly SettingsEntry[], reportDate: LocalDate) {
  // The reference evaluator's order: by position, ids breaking ties.
  const ordered = [...entries].sort((a, b) => a.position - b.position || a.id - b.id);
  const rows: EntryParam[] = ordered.map((e, i) => {
    const w = countedWindow(e, reportDate);
    return {
      rank: i + 1,
      id: e.id,
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
  return { json: JSON.stringify(rows), libraries: masks(ordered, (e) => e.homeLibraries), ptypes: masks(ordered, (e) => e.ptypes) };
}

function statement(entries: readonly SettingsEntry[], reportDate: LocalDate, options: EligibilityOptions, eligibleOnly: boolean): RawBuilder<VerdictRow> {
  const ids = options.patronIds;
  // Scoping repeats the patron filter on every table so an explain or a small batch reads by index.
  const scope = (column: string) => (ids ? sql`and ${sql.ref(column)} = any(${[...ids]}::text[])` : sql``);
  // The items pass is left out entirely when no entry has a minimum days overdue.
  const usesOverdue = entries.some((e) => e.minDaysOverdue !== null);
  const p = parameters(entries, reportDate);

  return sql<VerdictRow>`
with
  -- The settings table as rows, from one JSON parameter, ranked in the order entries are tried.
  -- Window bounds and the overdue cut-off are dates computed by countedWindow(); an open lower
  -- bound becomes -infinity so the window test below is a plain BETWEEN.
  entries as not materialized (
    select e.rank, e.id, e.exempt_codes, e.item_fees_only,
           coalesce(e.window_from, '-infinity'::date) as window_from, e.window_to,
           e.minimum_cents, e.require_bill, e.overdue_cutoff, e.resubmit_after_clear
    from jsonb_to_recordset(${p.json}::jsonb) as e(
      rank integer, id integer, exempt_codes text[], item_fees_only boolean,
      window_from date, window_to date, minimum_cents bigint, require_bill boolean,
      overdue_cutoff date, resubmit_after_clear boolean)
  ),

  -- Which entries accept a home library, and which a PTYPE: one bit per entry in rank order
  -- (an empty list accepts everything). Codes no entry names share the "other" mask.
  library_masks as not materialized (
    select m.code, m.mask from unnest(${p.libraries.keys}::text[], ${p.libraries.masks}::text[]::varbit[]) as m(code, mask)
  ),
  -- PTYPEs are text compared exactly, as the evaluator's includes() does ("3" is not "03").
  ptype_masks as not materialized (
    select m.ptype, m.mask from unnest(${p.ptypes.keys}::text[], ${p.ptypes.masks}::text[]::varbit[]) as m(ptype, mask)
  ),

  -- Each patron in scope with the FIRST entry that accepts both their home library and their
  -- PTYPE: the first 1 bit of the two masks ANDed (0 when none does). Later entries are never
  -- consulted: no fall-through. Two hash joins against tiny tables, no per-patron subquery.
  patron_entry as not materialized (
    select p.id as patron_id, p.patron_code, p.status,
           position(B'1' in (coalesce(lm.mask, ${p.libraries.other}::varbit) & coalesce(pm.mask, ${p.ptypes.other}::varbit))) as entry_rank
    from patrons p
    left join library_masks lm on lm.code = p.home_library
    left join ptype_masks pm on pm.ptype = p.ptype
    where true ${scope('p.id')}
  ),
${eligibleOnly ? eligibleTail(scope, reportDate, usesOverdue) : allVerdictsTail(scope, reportDate, usesOverdue)}`;
}

type Scope = (column: string) => RawBuilder<unknown>;

/** The sums of the one pass over charges, per patron and the entry that applies to them. */
function ledgerSums() {
  // Outstanding = amount − paid, where paid_cents is what the allocations (payments, waivers,
  // write-offs) take off the charge, kept on the charge by the triggers of migration 170 so
  // this pass reads no other table.
  //   owed:     every charge of the patron, whatever its reason, date or posting library;
  //   counted:  charges of a counted reason (item fees = replacement + processing) assessed
  //             in the entry's window (assessed_on is already the posting library's local date);
  //   has_bill: an outstanding replacement charge assessed in the window (require bill).
  return sql`
           sum(c.amount_cents - c.paid_cents) as owed,
           sum(c.amount_cents - c.paid_cents) filter (
             where (not e.item_fees_only or c.reason in ('replacement', 'processing'))
               and c.assessed_on between e.window_from and e.window_to) as counted,
           bool_or(c.reason = 'replacement'
               and c.assessed_on between e.window_from and e.window_to
               and c.amount_cents > c.paid_cents) as has_bill`;
}

/** What else decides a verdict, each the patron's own rows grouped by patron_id. */
function patronFlags(scope: Scope, reportDate: LocalDate, usesOverdue: boolean) {
  return sql`
  -- Once only: an open referral blocks; a closed one (cleared, cancelled, returned) blocks
  -- unless the entry resubmits after a clear. One withdrawn at review never reached the agency.
  referral_flags as not materialized (
    select r.patron_id, bool_or(r.status = 'open') as has_open, bool_or(r.status <> 'open' and not r.withdrawn) as has_closed
    from referrals r
    where true ${scope('r.patron_id')}
    group by r.patron_id
  ),

  -- Exclusions still in force on the report date: not lifted, and open-ended or running through it.
  excluded as not materialized (
    select x.patron_id
    from exclusions x
    where x.lifted_at is null and (x.until_date is null or x.until_date >= ${reportDate}::date) ${scope('x.patron_id')}
    group by x.patron_id
  ),

  -- Minimum days overdue: the oldest due date among the patron's checked-out or lost items.
  overdue as not materialized (
    select i.patron_id, min(i.due_date) as oldest_due
    from items i
    where ${usesOverdue ? sql`i.patron_id is not null` : sql`false`}
      and i.status in ('checked_out', 'lost') and i.due_date is not null ${scope('i.patron_id')}
    group by i.patron_id
  ),`;
}

/** The conditions of the applied entry e beyond who the patron is (pe.*, checked by the caller). */
const ENTRY_CONDITIONS = sql`
             and x.patron_id is null
             and not coalesce(r.has_open, false)
             and (e.resubmit_after_clear or not coalesce(r.has_closed, false))
             and coalesce(l.owed, 0) > 0
             and coalesce(l.counted, 0) >= e.minimum_cents
             and (not e.require_bill or coalesce(l.has_bill, false))
             and (e.overdue_cutoff is null or coalesce(o.oldest_due <= e.overdue_cutoff, false))`;

/** Every patron in scope with their verdict: the ledger grouped by patron, joined back to each patron. */
function allVerdictsTail(scope: Scope, reportDate: LocalDate, usesOverdue: boolean) {
  return sql`
  -- The one pass over charges, each charge seen with the entry that applies to its patron.
  ledger as not materialized (
    select c.patron_id, ${ledgerSums()}
    from charges c
    join patron_entry pe on pe.patron_id = c.patron_id
    left join entries e on e.rank = pe.entry_rank
    where true ${scope('c.patron_id')}
    group by c.patron_id
  ),
${patronFlags(scope, reportDate, usesOverdue)}

  -- Every condition of the applied entry; a patron without an entry is never eligible.
  verdicts as not materialized (
    select pe.patron_id, e.id as entry_id,
           coalesce(l.owed, 0)::bigint as owed_cents,
           coalesce(l.counted, 0)::bigint as counted_cents,
           coalesce(
                 e.id is not null
             and not (pe.patron_code = any(e.exempt_codes))
             and pe.status <> 'secured'
             ${ENTRY_CONDITIONS},
           false) as eligible
    from patron_entry pe
    left join entries e on e.rank = pe.entry_rank
    left join ledger l on l.patron_id = pe.patron_id
    left join referral_flags r on r.patron_id = pe.patron_id
    left join excluded x on x.patron_id = pe.patron_id
    left join overdue o on o.patron_id = pe.patron_id
  )

select patron_id as "patronId", entry_id as "entryId", owed_cents as "owedCents",
       counted_cents as "countedCents", eligible
from verdicts
-- Byte order, so both databases (and JavaScript's default sort) agree on it.
order by patron_id collate "C"`;
}

/**
 * Only the eligible: the same conditions, but patrons no entry could submit (none applies,
 * exempt, secured) are left out before the charges pass, and the verdict starts from the
 * ledger, not from every patron: one who owes nothing has no ledger row and is never eligible,
 * so the patrons table is read once, in the parallel pass, not again for the verdicts.
 */
function eligibleTail(scope: Scope, reportDate: LocalDate, usesOverdue: boolean) {
  return sql`
  candidates as not materialized (
    select pe.patron_id, e.rank as entry_rank
    from patron_entry pe
    join entries e on e.rank = pe.entry_rank
    where pe.status <> 'secured' and not (pe.patron_code = any(e.exempt_codes))
  ),

  -- Each patron has one entry; min() carries it through a grouping by patron_id alone, which
  -- PostgreSQL runs in parallel workers (grouped by both it chose one process: 1.4 × slower).
  ledger as not materialized (
    select c.patron_id, min(ce.entry_rank) as entry_rank, ${ledgerSums()}
    from charges c
    join candidates ce on ce.patron_id = c.patron_id
    join entries e on e.rank = ce.entry_rank
    -- A charge paid in full adds nothing to any sum and is no outstanding bill, so only open
    -- charges are read: a fifth of them at medium.
    where c.amount_cents <> c.paid_cents ${scope('c.patron_id')}
    group by c.patron_id
  ),
${patronFlags(scope, reportDate, usesOverdue)}

  verdicts as not materialized (
    select l.patron_id, e.id as entry_id, l.owed::bigint as owed_cents, coalesce(l.counted, 0)::bigint as counted_cents
    from ledger l
    join entries e on e.rank = l.entry_rank
    left join referral_flags r on r.patron_id = l.patron_id
    left join excluded x on x.patron_id = l.patron_id
    left join overdue o on o.patron_id = l.patron_id
    where true ${ENTRY_CONDITIONS}
  )

select patron_id as "patronId", entry_id as "entryId", owed_cents as "owedCents",
       counted_cents as "countedCents", true as eligible
from verdicts
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
