// What a referral has recovered, read from the ledger itself (payments), so a payment or a
// "collection agency" payment counts the moment it is posted, not only after the next run
// reports it to the agency. The dashboard and the referral screens share this definition:
//
// A payment (type "payment", any method; never a waiver or write-off) is credited to the
// patron's referral that was open when it was paid: the latest referral opened (its refer
// record) at or before paid_at, while it was not yet closed (clear, cancel or return). A
// "collection agency" payment made after that referral closed, with no referral open (the
// second-agency workflow settles after the agency's cleared file), is credited to it too.
import { sql, type RawBuilder } from 'kysely';
import { AGENCY_PAYMENT_METHOD } from './second-agency.ts';

/** One credited payment. */
export interface RecoveredPayment {
  payment_id: string;
  patron_id: string;
  referral_id: number;
  agency_id: number;
  paid_at: Date;
  amount_cents: number;
}

/**
 * A subquery of every credited payment (columns of RecoveredPayment), optionally only of
 * some patrons. Use it as `(${recoveredPayments()}) as rp`.
 */
export function recoveredPayments(patronIds?: readonly string[]): RawBuilder<RecoveredPayment> {
  const only = patronIds ? sql`and h.patron_id = any(${[...patronIds]}::text[])` : sql``;
  const onlyPayments = patronIds ? sql`and pm.patron_id = any(${[...patronIds]}::text[])` : sql``;
  return sql<RecoveredPayment>`
    with spans as (              -- when each referral was open, from its history
      select h.referral_id, min(h.patron_id) as patron_id,
             min(h.at) filter (where h.type = 'refer') as opened,
             min(h.at) filter (where h.type in ('clear', 'cancel', 'return')) as closed
      from referral_history h
      where true ${only}
      group by h.referral_id
    )
    select pm.id as payment_id, pm.patron_id, s.referral_id, r.agency_id, pm.paid_at, pm.amount_cents
    from payments pm
    join lateral (
      select sp.referral_id, sp.closed from spans sp
      where sp.patron_id = pm.patron_id and sp.opened <= pm.paid_at
      order by sp.opened desc limit 1
    ) s on true
    join referrals r on r.id = s.referral_id
    where pm.type = 'payment' ${onlyPayments}
      and (s.closed is null or s.closed > pm.paid_at or lower(pm.method) = ${AGENCY_PAYMENT_METHOD})`;
}
