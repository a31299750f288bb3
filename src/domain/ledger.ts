// Pure ledger rules. A charge's outstanding balance is its amount minus what has been
// allocated to it (payments, waivers, write-offs). Allocations are the record; the database
// keeps their sum per charge in charges.paid_cents (migration 170) for the set-based reads.
import { formatMoney, sum, type Cents } from './money.ts';

export function outstanding(amount: Cents, allocated: Cents): Cents {
  return (amount - allocated) as Cents;
}

export interface OpenCharge {
  id: string;
  assessedAt: Date;
  outstanding: Cents;
}

export interface Allocation {
  chargeId: string;
  amountCents: Cents;
}

export type AllocationResult = { ok: true; allocations: Allocation[] } | { ok: false; reason: string };

/** The order money is applied in: oldest assessed first, ties by id so the result never depends on row order. */
export function compareOldestFirst(a: Pick<OpenCharge, 'id' | 'assessedAt'>, b: Pick<OpenCharge, 'id' | 'assessedAt'>): number {
  const t = a.assessedAt.getTime() - b.assessedAt.getTime();
  if (t !== 0) return t;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * Spreads an amount over charges, oldest assessed first. Refuses (with a reason) a
 * non-positive amount or one larger than everything outstanding, so no charge ever goes
 * below zero and no money is left unapplied.
 */
export function allocateOldestFirst(charges: readonly OpenCharge[], amount: Cents): AllocationResult {
  if (!Number.isSafeInteger(amount) || amount <= 0) return { ok: false, reason: `amount must be more than 0.00, got ${formatMoney(amount)}` };
  const open = charges.filter((c) => c.outstanding > 0).sort(compareOldestFirst);
  const total = sum(open.map((c) => c.outstanding));
  if (amount > total) return { ok: false, reason: exceedsReason(amount, total) };
  const allocations: Allocation[] = [];
  let left = amount as number;
  for (const c of open) {
    if (left === 0) break;
    const take = Math.min(left, c.outstanding);
    allocations.push({ chargeId: c.id, amountCents: take as Cents });
    left -= take;
  }
  return { ok: true, allocations };
}

export function exceedsReason(amount: number, outstandingCents: number): string {
  return `${formatMoney(amount)} exceeds the outstanding balance of ${formatMoney(Math.max(0, outstandingCents))}`;
}
