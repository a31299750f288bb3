// The naive evaluator the benchmark compares against: what a typical ILS script does, one
// patron at a time, with a separate query for each of the patron's tables, then the rules
// in code (the reference evaluator). It gives the same verdicts as the set-based query; it
// is here only to measure what evaluating patron by patron costs.
import { sql } from 'kysely';
import type { LocalDate } from '../src/domain/dates.ts';
import { evaluatePatron, type Evaluation, type PatronSnapshot } from '../src/domain/eligibility.ts';
import type { Cents } from '../src/domain/money.ts';
import type { SettingsEntry } from '../src/domain/settings.ts';
import type { Executor } from '../src/services/context.ts';

/** One patron read the way a per-patron script reads it: six round trips. */
export async function loadPatronNaively(db: Executor, patronId: string): Promise<PatronSnapshot | undefined> {
  const patron = await db.selectFrom('patrons').select(['id', 'home_library', 'ptype', 'patron_code', 'status']).where('id', '=', patronId).executeTakeFirst();
  if (!patron) return undefined;
  const charges = await db
    .selectFrom('charges')
    .select(['id', 'reason', 'library', 'assessed_on', 'amount_cents'])
    .where('patron_id', '=', patronId)
    .orderBy('assessed_on')
    .orderBy('id')
    .execute();
  const paid = await db
    .selectFrom('allocations')
    .select(['charge_id', sql<number>`sum(amount_cents)::bigint`.as('cents')])
    .where('patron_id', '=', patronId)
    .groupBy('charge_id')
    .execute();
  const items = await db.selectFrom('items').select(['id', 'title', 'status', 'due_date']).where('patron_id', '=', patronId).orderBy('id').execute();
  const referrals = await db
    .selectFrom('referrals as r')
    .innerJoin('agencies as g', 'g.id', 'r.agency_id')
    .select(['r.id', 'r.status', 'g.name as agency', 'r.referred_on', 'r.closed_on'])
    .where('r.patron_id', '=', patronId)
    .orderBy('r.id')
    .execute();
  const exclusions = await db.selectFrom('exclusions').select(['id', 'reason', 'until_date', 'lifted_at']).where('patron_id', '=', patronId).orderBy('id').execute();

  const paidByCharge = new Map(paid.map((p) => [p.charge_id, p.cents]));
  return {
    id: patron.id,
    homeLibrary: patron.home_library,
    ptype: patron.ptype,
    patronCode: patron.patron_code,
    status: patron.status,
    charges: charges.map((c) => ({
      id: c.id,
      reason: c.reason,
      library: c.library,
      assessedOn: c.assessed_on as LocalDate,
      amount: c.amount_cents as Cents,
      outstanding: (c.amount_cents - (paidByCharge.get(c.id) ?? 0)) as Cents,
    })),
    items: items.map((i) => ({ id: i.id, title: i.title, status: i.status, dueDate: i.due_date as LocalDate | null })),
    referrals: referrals.map((r) => ({ id: r.id, status: r.status, agency: r.agency, referredOn: r.referred_on as LocalDate, closedOn: r.closed_on as LocalDate | null })),
    exclusions: exclusions.map((x) => ({ id: x.id, reason: x.reason, untilDate: x.until_date as LocalDate | null, lifted: x.lifted_at !== null })),
  };
}

/** Evaluates the given patrons one by one; unknown ids are skipped. */
export async function evaluateNaively(db: Executor, entries: readonly SettingsEntry[], patronIds: readonly string[], reportDate: LocalDate): Promise<Evaluation[]> {
  const out: Evaluation[] = [];
  for (const id of patronIds) {
    const snapshot = await loadPatronNaively(db, id);
    if (snapshot) out.push(evaluatePatron(entries, snapshot, reportDate));
  }
  return out;
}
