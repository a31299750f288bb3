// Allocation of imported payments, set-based so a file of any size costs a handful of
// statements. The rules are postPayment's, applied in file order:
// - a payment naming a charge goes to that charge; blank charge_id = oldest assessed
//   charge first (ties by id); named payments are applied before blank ones;
// - payments apply in paid_at order (then row order); one larger than what is still
//   outstanding at that point is a row error and uses up nothing.
// Blank-charge payments are spread with running totals: payment k covers the interval
// [paid before k, paid before k + amount) of the patron's outstanding balance laid out
// oldest charge first; each charge is an interval too, and an allocation is their overlap.
import { sql } from 'kysely';
import type { Executor } from '../context.ts';
import { CHANGED, clean, estimatedRows, moneySql, type Changes } from './kinds.ts';

/** Staged payments still to be allocated: changed or new, and without problems. */
const pending = sql`not s.unchanged and ${clean}`;

/**
 * Each pass refuses the first over-payment of every charge or patron and recomputes the
 * rest without it. A file with more refusals than this for one patron has every later
 * over-payment refused in one go instead.
 */
const MAX_PASSES = 50;

/**
 * Marks the staged payments whose allocations stay as they are: the same patron, charge, type,
 * amount and time as stored (a nightly full export, or a corrected method or note, which the
 * upsert still writes but which moves no money).
 */
async function keepAllocations(db: Executor, changes: Changes): Promise<void> {
  // New payments have nothing to keep; findChanges compared the others' money as it read them.
  if (changes.existing === 0) return;
  await sql`
    update import_stage s set unchanged = true
    from ${sql.table(CHANGED)} c
    where c.key = s.id and c.same_money`.execute(db);
}

/**
 * The staged payments that exist and move money differently now, whose old allocations go. Only
 * rows findChanges found changed can have any (new ones have none), so when none are, nothing
 * is looked up (a sync of new desk payments).
 */
const reallocated = sql`not s.unchanged and ${clean} and s.id in (select c.key from ${sql.table(CHANGED)} c where not c.new)`;

/**
 * `deferNamed`: payments naming a charge are not checked for over-payment here but once written
 * (overpaidByFile), for a file refused whole at its first problem: a check before writing sums
 * every named payment per charge (at medium, 2–3 s of a first load of payments) to find what is
 * almost never there. The caller checks again in full, from before this, when they over-pay.
 */
export async function allocatePayments(db: Executor, skipBadRows: boolean, changes: Changes, deferNamed = false): Promise<void> {
  // The same payment again: nothing to redo.
  await keepAllocations(db, changes);
  // Every changed payment moves its money as before (a corrected method or note): no allocation
  // to take back or make, and no balance to read (that would read every charge of the table).
  if (!(await anyPending(db))) return createAllocationTable(db);
  // A changed payment is re-allocated from scratch; its old allocations are kept aside
  // in case it turns out to be a bad row that --skip-bad-rows leaves as it was.
  await sql`
    create temp table import_old_alloc on commit drop as
    select a.payment_id, a.charge_id, a.patron_id, a.amount_cents
    from allocations a join import_stage s on s.id = a.payment_id where ${changes.existing ? reallocated : sql`false`}`.execute(db);
  if (changes.existing) await sql`delete from allocations a using import_old_alloc o where a.payment_id = o.payment_id and a.charge_id = o.charge_id`.execute(db);

  for (;;) {
    await openBalances(db);
    if (!deferNamed) await refuseOverpayments(db, 'named');
    await refuseOverpayments(db, 'blank');
    if (!skipBadRows) break;
    const restored = await sql`
      insert into allocations (payment_id, charge_id, patron_id, amount_cents)
      select o.payment_id, o.charge_id, o.patron_id, o.amount_cents from import_old_alloc o
      where o.payment_id in (select s.id from import_stage s where not (${clean}))
        and not exists (select 1 from allocations a where a.payment_id = o.payment_id and a.charge_id = o.charge_id)`.execute(db);
    // Restored allocations use up balance, so the rest is checked again around them.
    if (Number(restored.numAffectedRows ?? 0) === 0) break;
  }
  await planAllocations(db);
}

/**
 * Payments that each name their charge and were made to fit, as an ILS connector stages them
 * (the ILS itself applied them): each goes to its charge whole, so their allocations are the
 * staged rows themselves (namedAllocations), written from the stage with no plan in between.
 * That none pays a charge beyond its amount is checked once they are written
 * (refuseOverpaidCharges).
 */
export async function allocateNamedPayments(db: Executor, changes: Changes): Promise<void> {
  await keepAllocations(db, changes);
  if (changes.existing) await sql`delete from allocations a using import_stage s where a.payment_id = s.id and ${reallocated}`.execute(db);
}

/** The allocations of named payments (allocateNamedPayments): every pending staged payment, whole, on its charge. */
const namedAllocations = sql`select s.id as payment_id, s.charge_id, s.patron_id, s.amount_cents from import_stage s where ${pending} and s.charge_id is not null`;

/**
 * The allocations about to be written: every named payment whole on its charge (staged rows
 * already checked to fit), and for a file the blank ones planned too (import_alloc).
 */
const allocationsOf = (named: boolean) => (named ? namedAllocations : sql`${namedAllocations} union all select payment_id, charge_id, patron_id, amount_cents from import_alloc`);

/**
 * After named payments' allocations are written: every row of a charge they paid beyond its
 * amount is a problem (the caller takes the writes back). The allocations' triggers have
 * summed them into paid_cents already (or the charges were written with them), so this reads
 * charges once for any paid beyond their amount (usually none; a few changed rows' charges are
 * looked up by key) instead of summing every staged payment per charge first. Returns whether
 * there were any.
 */
export async function refuseOverpaidCharges(db: Executor, few: boolean): Promise<boolean> {
  const overpaid = await sql<{ id: string }>`
    select c.id from charges c
    where c.paid_cents > c.amount_cents ${few ? sql`and c.id in (select a.charge_id from (${namedAllocations}) a)` : sql``}`.execute(db);
  if (overpaid.rows.length === 0) return false;
  const ids = overpaid.rows.map((r) => r.id);
  const r = await sql`
    with over as (
      select c.id as charge_id, t.staged, greatest(c.amount_cents - (c.paid_cents - t.staged), 0) as left_cents
      from (select a.charge_id, sum(a.amount_cents) as staged from (${namedAllocations}) a where a.charge_id = any(${ids}::text[]) group by a.charge_id) t
      join charges c on c.id = t.charge_id
    )
    insert into import_problems (row_no, col, reason)
    select s.row_no, 'amount', format('payments of %s on charge "%s" exceed what is left of it (%s)', ${moneySql(sql.ref('o.staged'))}, o.charge_id, ${moneySql(sql.ref('o.left_cents'))})
    from over o join import_stage s on s.charge_id = o.charge_id
    where ${pending}`.execute(db);
  return Number(r.numAffectedRows ?? 0) > 0;
}

/**
 * After a file's allocations are written (allocatePayments with deferNamed): whether any charge
 * they pay is now paid beyond its amount. None is exactly when no named payment over-pays: the
 * blank ones were spread over what the named ones leave, and each fits. Charges paid beyond their
 * amount are read first (usually none; a few rows' charges are looked up by key), then matched
 * with the file's, so one over-paid before the file and not paid by it is not the file's.
 */
export async function overpaidByFile(db: Executor, few: boolean): Promise<boolean> {
  const paid = sql`select a.charge_id from (${allocationsOf(false)}) a`;
  const overpaid = await sql<{ id: string }>`
    select c.id from charges c where c.paid_cents > c.amount_cents ${few ? sql`and c.id in (${paid})` : sql``}`.execute(db);
  if (overpaid.rows.length === 0) return false;
  const r = await sql<{ any: boolean }>`select exists (${paid} where a.charge_id = any(${overpaid.rows.map((o) => o.id)}::text[])) as any`.execute(db);
  return r.rows[0]?.any ?? true;
}

/** The blank payments' allocations about to be written (writeAllocations): empty until planned. */
async function createAllocationTable(db: Executor): Promise<void> {
  await sql`create temp table import_alloc (payment_id text not null, charge_id text not null, patron_id text not null, amount_cents bigint not null) on commit drop`.execute(db);
}

/** Whether any staged payment is still to be allocated (new, or moving money differently, and without problems). */
async function anyPending(db: Executor): Promise<boolean> {
  const r = await sql<{ any: boolean }>`select exists (select 1 from import_stage s where ${pending}) as any`.execute(db);
  return r.rows[0]?.any ?? false;
}

/** Patrons with a pending payment that names no charge: only their balances are spread over. */
const blankPayers = sql`(select s.patron_id from import_stage s where ${pending} and s.charge_id is null)`;

/**
 * What the charges of patrons with a blank payment still owe, before this file's payments:
 * paid_cents is the sum of a charge's allocations (kept by triggers on allocations, so already
 * without the allocations of changed payments deleted above), read without summing them again.
 * A named payment's charge is read where it is (charges): a first load names nearly every
 * charge, and a copy of them all would cost as much as the checks.
 */
async function openBalances(db: Executor): Promise<void> {
  await sql`drop table if exists import_open`.execute(db);
  await sql`
    create temp table import_open on commit drop as
    select c.id, c.patron_id, c.assessed_at, c.amount_cents - c.paid_cents as left_cents
    from charges c
    where c.patron_id in ${blankPayers}`.execute(db);
}

/** What the pending named payments of patrons with a blank one pay of each charge: the blank ones are spread over the rest. */
const namedOfBlankPayers = sql`(
  select s.charge_id, sum(s.amount_cents) as amt from import_stage s
  where ${pending} and s.charge_id is not null and s.patron_id in ${blankPayers} group by s.charge_id)`;

/**
 * Running totals of the pending payments, per charge (named) or per patron (blank, against what
 * named ones leave). Keys are partitioned byte by byte ("C"): the same partitions as the
 * database's collation, sorted faster; the order within each is the payments' own. Only the
 * charges and patrons whose pending payments add up to more than they owe are summed row by
 * row: where the total fits, every running total fits too, and a window over every payment of
 * a first load (sorting them all) would find nothing.
 */
function runningTotals(which: 'named' | 'blank') {
  if (which === 'named') {
    // Each charge's payments summed first, then its balance read: one row per charge to join.
    return sql`
      with over as (
        select t.charge_id from (
          select s.charge_id, sum(s.amount_cents) as total from import_stage s where ${pending} and s.charge_id is not null group by s.charge_id
        ) t
        join charges c on c.id = t.charge_id
        where t.total > c.amount_cents - c.paid_cents
      )
      select s.row_no, s.amount_cents, c.amount_cents - c.paid_cents as owed,
             sum(s.amount_cents) over (partition by s.charge_id collate "C" order by s.paid_at, s.row_no) - s.amount_cents as before
      from import_stage s join charges c on c.id = s.charge_id
      where ${pending} and s.charge_id in (select charge_id from over)`;
  }
  return sql`
    with t as (
      select o.patron_id, sum(o.left_cents - coalesce(n.amt, 0)) as owed
      from import_open o
      left join ${namedOfBlankPayers} n on n.charge_id = o.id
      group by o.patron_id
    ),
    over as (
      select x.patron_id from (select s.patron_id, s.amount_cents from import_stage s where ${pending} and s.charge_id is null) x
      left join t on t.patron_id = x.patron_id
      group by x.patron_id, t.owed having sum(x.amount_cents) > coalesce(t.owed, 0)
    )
    select s.row_no, s.amount_cents, coalesce(t.owed, 0) as owed,
           sum(s.amount_cents) over (partition by s.patron_id collate "C" order by s.paid_at, s.row_no) - s.amount_cents as before
    from import_stage s
    left join t on t.patron_id = s.patron_id
    where ${pending} and s.charge_id is null and s.patron_id in (select patron_id from over)`;
}

async function refuseOverpayments(db: Executor, which: 'named' | 'blank'): Promise<void> {
  for (let pass = 1; ; pass++) {
    // The first over-payment in each sequence is the one that starts within what is owed.
    const firstOnly = pass < MAX_PASSES ? sql`and r.before <= r.owed` : sql``;
    const r = await sql`
      insert into import_problems (row_no, col, reason)
      select r.row_no, 'amount', format('%s exceeds the outstanding balance of %s', ${moneySql(sql.ref('r.amount_cents'))}, ${moneySql(sql`greatest(r.owed - r.before, 0)`)})
      from (${runningTotals(which)}) r
      where r.before + r.amount_cents > r.owed ${firstOnly}`.execute(db);
    if (Number(r.numAffectedRows ?? 0) === 0 || pass >= MAX_PASSES) return;
  }
}

/**
 * The allocations of the pending blank payments (the named ones are written as they are staged,
 * see allocationsOf); all of them fit once over-payments are refused.
 */
async function planAllocations(db: Executor): Promise<void> {
  await createAllocationTable(db);
  await sql`
    with ch as (
      select o.id, o.patron_id, o.left_cents - coalesce(n.amt, 0) as left_cents,
             sum(o.left_cents - coalesce(n.amt, 0)) over (partition by o.patron_id collate "C" order by o.assessed_at, o.id collate "C")
               - (o.left_cents - coalesce(n.amt, 0)) as c_start
      from import_open o
      left join ${namedOfBlankPayers} n on n.charge_id = o.id
      where o.left_cents - coalesce(n.amt, 0) > 0
    ),
    pay as (
      select s.id, s.patron_id, s.amount_cents,
             sum(s.amount_cents) over (partition by s.patron_id collate "C" order by s.paid_at, s.row_no) - s.amount_cents as p_start
      from import_stage s where ${pending} and s.charge_id is null
    )
    insert into import_alloc (payment_id, charge_id, patron_id, amount_cents)
    select pay.id, ch.id, pay.patron_id,
           least(pay.p_start + pay.amount_cents, ch.c_start + ch.left_cents) - greatest(pay.p_start, ch.c_start)
    from pay join ch on ch.patron_id = pay.patron_id
      and ch.c_start < pay.p_start + pay.amount_cents and pay.p_start < ch.c_start + ch.left_cents`.execute(db);
}

/**
 * After the payments themselves are written: their new allocations, planned (import_alloc) or,
 * for `named` payments, the staged rows themselves. Every one is of a clean staged row: rows
 * with problems were left out when they were planned, and none is found after. `counted`: their
 * charges were written with what these pay of them (a first sync, see MergeOptions.paidStaged),
 * so the triggers leave paid_cents alone for this one statement; that every staged payment
 * naming a charge is among them is checked (it always is: any other would have been a problem,
 * and the whole merge refused).
 */
export async function writeAllocations(db: Executor, named: boolean, counted = false): Promise<void> {
  if (counted) await sql`select set_config('arrears.paid_counted', 'on', true)`.execute(db);
  const r = await sql`
    insert into allocations (payment_id, charge_id, patron_id, amount_cents)
    select a.payment_id, a.charge_id, a.patron_id, a.amount_cents from (${allocationsOf(named)}) a`.execute(db);
  if (!counted) return;
  await sql`select set_config('arrears.paid_counted', 'off', true)`.execute(db);
  const staged = await sql<{ n: number }>`select count(*)::int as n from import_stage where charge_id is not null`.execute(db);
  const written = Number(r.numAffectedRows ?? 0);
  if (written !== staged.rows[0]?.n) throw new Error(`${written} allocations written for ${staged.rows[0]?.n} staged payments naming a charge: paid_cents would not match`);
}

/** Whether the allocations about to be written pay a quarter of all charges or more (the bulk-load rule, see isBulkLoad). */
export async function paysManyCharges(db: Executor, named: boolean): Promise<boolean> {
  const r = await sql<{ n: number }>`select count(*)::int as n from (${allocationsOf(named)}) a`.execute(db);
  return (r.rows[0]?.n ?? 0) * 4 >= (await estimatedRows(db, 'charges'));
}
