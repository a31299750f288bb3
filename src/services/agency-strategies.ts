// Which agency each new referral goes to. A settings entry names one agency, or a strategy
// that picks among several. Strategies are a small interface so a library can add its own
// (CC&B: "If you prefer different logic, you must develop your own algorithm").
import { sql } from 'kysely';
import { NotFoundError, ValidationError } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { listAgencies, type AgencyRow } from './agencies.ts';
import type { Executor } from './context.ts';

export interface ReferralToAssign {
  patronId: string;
  /** The amount being referred. */
  cents: Cents;
}

export interface AssignInput {
  db: Executor;
  entryId: number;
  /** Active agencies the entry allows, sorted by name; never empty. */
  candidates: AgencyRow[];
  referrals: ReferralToAssign[];
}

export interface AgencyStrategy {
  readonly name: string;
  /** patron id → agency id, one for every referral, each one of the candidates. */
  assign(input: AssignInput): Promise<Map<string, number>>;
}

// Code-point order: the same answer on every machine and locale.
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

function byPatron(referrals: ReferralToAssign[]): ReferralToAssign[] {
  return [...referrals].sort((a, b) => compare(a.patronId, b.patronId));
}

/**
 * The CC&B sample: each referral goes to the agency with the least open referred debt,
 * counting the referrals already assigned in this batch; ties go to the lowest name.
 */
export const leastReferredDebt: AgencyStrategy = {
  name: 'least_referred_debt',
  async assign({ db, candidates, referrals }) {
    const open = await db
      .selectFrom('referrals')
      .select(['agency_id', sql<number>`sum(referred_cents)::bigint`.as('cents')])
      .where('status', '=', 'open')
      .where(
        'agency_id',
        'in',
        candidates.map((c) => c.id),
      )
      .groupBy('agency_id')
      .execute();
    const load = new Map(candidates.map((c) => [c.id, 0]));
    for (const r of open) load.set(r.agency_id, r.cents);
    const out = new Map<string, number>();
    for (const r of byPatron(referrals)) {
      let best = candidates[0]!;
      for (const c of candidates) if (load.get(c.id)! < load.get(best.id)!) best = c;
      load.set(best.id, load.get(best.id)! + r.cents);
      out.set(r.patronId, best.id);
    }
    return out;
  },
};

/** Cycles through the candidates by name, starting after the agency of this entry's latest referral. */
export const roundRobin: AgencyStrategy = {
  name: 'round_robin',
  async assign({ db, entryId, candidates, referrals }) {
    const last = await db
      .selectFrom('referrals as r')
      .innerJoin('agencies as a', 'a.id', 'r.agency_id')
      .select('a.name')
      .where('r.entry_id', '=', entryId)
      .orderBy('r.id', 'desc')
      .limit(1)
      .executeTakeFirst();
    // The first name after the last one used, so a since-deactivated agency still marks the place.
    let next = last ? candidates.findIndex((c) => compare(c.name, last.name) > 0) : 0;
    if (next < 0) next = 0;
    const out = new Map<string, number>();
    for (const r of byPatron(referrals)) {
      out.set(r.patronId, candidates[next]!.id);
      next = (next + 1) % candidates.length;
    }
    return out;
  },
};

const registry = new Map<string, AgencyStrategy>();

export function registerStrategy(strategy: AgencyStrategy): void {
  if (registry.has(strategy.name)) throw new Error(`an agency strategy named "${strategy.name}" is already registered`);
  registry.set(strategy.name, strategy);
}

export function getStrategy(name: string): AgencyStrategy {
  const strategy = registry.get(name);
  if (!strategy) throw new NotFoundError(`agency strategy "${name}"`);
  return strategy;
}

registerStrategy(leastReferredDebt);
registerStrategy(roundRobin);

/**
 * patron id → agency id for an entry's new referrals: its fixed agency, or its strategy over
 * the active agencies it lists (none listed = every active agency).
 */
export async function assignAgencies(db: Executor, entry: SettingsEntry, referrals: ReferralToAssign[]): Promise<Map<string, number>> {
  if (referrals.length === 0) return new Map();
  const agencies = await listAgencies(db);
  const choice = entry.agency;
  const where = { field: 'agency' };
  if (choice.kind === 'fixed') {
    const agency = agencies.find((a) => a.name === choice.agency);
    if (!agency) throw ValidationError.of(`settings entry "${entry.name}" names agency "${choice.agency}", which does not exist`, where);
    if (!agency.active) throw ValidationError.of(`settings entry "${entry.name}" refers to agency "${agency.name}", which is inactive`, where);
    return new Map(referrals.map((r) => [r.patronId, agency.id]));
  }
  const allowed = choice.among.length === 0 ? agencies : agencies.filter((a) => choice.among.includes(a.name));
  const candidates = allowed.filter((a) => a.active);
  if (candidates.length === 0) {
    const listed = choice.among.length === 0 ? 'no agency is active' : `none of ${choice.among.map((n) => `"${n}"`).join(', ')} is active`;
    throw ValidationError.of(`settings entry "${entry.name}" has no agency to refer to: ${listed}`, where);
  }
  const assigned = await getStrategy(choice.strategy).assign({ db, entryId: entry.id, candidates, referrals });
  const ids = new Set(candidates.map((c) => c.id));
  for (const r of referrals) {
    if (!ids.has(assigned.get(r.patronId) ?? -1)) throw new Error(`agency strategy "${choice.strategy}" gave patron ${r.patronId} no candidate agency`);
  }
  return assigned;
}
