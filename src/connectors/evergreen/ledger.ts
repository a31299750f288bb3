// How an Evergreen patron's money becomes Arrears charges and payments whose balance is
// Evergreen's own to the cent. Evergreen bills and pays transactions (a circulation, a
// grocery bill), not single billings, and keeps each transaction's balance_owed in
// money.materialized_billable_xact_summary; a patron owes the sum of balance_owed over their
// open transactions. Arrears keeps charges (one per billing still standing) and payments
// applied to charges. So, per transaction:
//   - what Evergreen says is paid (the billings less balance_owed; everything when the
//     transaction is closed) is spread over its billings oldest first, by its payments in
//     the order they were made, a refund (a negative payment) taking back the latest ones;
//   - what the payments do not explain (a negative billing, a closed transaction Evergreen
//     settled otherwise) is an adjustment;
//   - an open transaction's credit (a negative balance_owed, as Evergreen's triggers left it,
//     whole or cut back for kinds a site does not refund) pays the patron's other open
//     billings oldest first, from the payments it was overpaid by, up to what is still owed.
// Pure: amounts in cents, no I/O; unit-tested in ledger.test.ts.
import { mergeAdjacent } from '../common.ts';

export interface EgXact {
  id: number;
  /** xact_finish IS NULL. */
  open: boolean;
  /** balance_owed from the summary, in cents (negative: the patron is in credit on it). */
  balanceOwed: number;
}

/** A billing that is an Arrears charge: standing (not voided), positive, not mapped away. */
export interface EgBilling {
  id: number;
  xact: number;
  /** Cents, positive. */
  amount: number;
  date: Date;
}

/** A standing (not voided) payment: negative for a refund. */
export interface EgPayment {
  id: number;
  xact: number;
  /** Cents, signed. */
  amount: number;
  date: Date;
}

/** What a payment (or, with paymentId null, an adjustment) paid on one billing, in cents. */
export interface Split {
  paymentId: number | null;
  billingId: number;
  cents: number;
}

export interface LedgerSplit {
  splits: Split[];
  /** Credit beyond everything the patron owes: the patron is in credit by this much. */
  creditBalance: number;
}

const byTime = <T extends { date: Date; id: number }>(a: T, b: T) => a.date.getTime() - b.date.getTime() || a.id - b.id;

/**
 * Splits one patron's payments over their billings. Each open transaction ends with exactly
 * its balance_owed left (0 when in credit, that credit paying their other billings), each
 * closed one with nothing; the patron's total is Evergreen's unless they are in credit.
 */
export function splitLedger(xacts: readonly EgXact[], billings: readonly EgBilling[], payments: readonly EgPayment[]): LedgerSplit {
  // Merged by payment and billing at the end (no keys made of text: a full sync splits every patron).
  const splits: Split[] = [];
  const add = (paymentId: number | null, billingId: number, cents: number) => {
    if (cents > 0) splits.push({ paymentId, billingId, cents });
  };
  const billingsOf = new Map<number, { id: number; left: number; date: Date }[]>();
  for (const b of [...billings].sort(byTime)) {
    const list = billingsOf.get(b.xact) ?? [];
    list.push({ id: b.id, left: b.amount, date: b.date });
    billingsOf.set(b.xact, list);
  }
  const paymentsOf = new Map<number, EgPayment[]>();
  for (const p of [...payments].sort(byTime)) {
    const list = paymentsOf.get(p.xact) ?? [];
    list.push(p);
    paymentsOf.set(p.xact, list);
  }

  /** Overpayments of open transactions in credit: what may pay the patron's other billings. */
  const credits: { paymentId: number | null; cents: number }[] = [];
  for (const x of xacts) {
    const charges = billingsOf.get(x.id) ?? [];
    const sum = charges.reduce((s, c) => s + c.left, 0);
    const target = x.open ? Math.min(Math.max(x.balanceOwed, 0), sum) : 0;
    let toExplain = sum - target;

    // Payments net of refunds: a refund takes back the latest payment still standing.
    const standing: { id: number; left: number }[] = [];
    let refundDue = 0;
    for (const p of paymentsOf.get(x.id) ?? []) {
      if (p.amount >= 0) {
        const taken = Math.min(p.amount, refundDue);
        refundDue -= taken;
        if (p.amount - taken > 0) standing.push({ id: p.id, left: p.amount - taken });
        continue;
      }
      let refund = -p.amount;
      while (refund > 0 && standing.length > 0) {
        const last = standing[standing.length - 1]!;
        const t = Math.min(last.left, refund);
        last.left -= t;
        refund -= t;
        if (last.left === 0) standing.pop();
      }
      refundDue += refund;
    }

    let next = 0;
    const pay = (paymentId: number | null, available: number): number => {
      while (available > 0 && toExplain > 0 && next < charges.length) {
        const c = charges[next]!;
        const cents = Math.min(c.left, available, toExplain);
        add(paymentId, c.id, cents);
        c.left -= cents;
        available -= cents;
        toExplain -= cents;
        if (c.left === 0) next++;
      }
      return available;
    };
    for (const s of standing) s.left = pay(s.id, s.left);
    pay(null, toExplain);

    if (x.open && x.balanceOwed < 0) {
      let credit = -x.balanceOwed;
      for (const s of standing) {
        const cents = Math.min(s.left, credit);
        if (cents > 0) credits.push({ paymentId: s.id, cents });
        credit -= cents;
      }
      if (credit > 0) credits.push({ paymentId: null, cents: credit });
    }
  }

  // The patron's credit pays their oldest open billings, up to what they still owe.
  const open = [...billingsOf.values()].flat().filter((c) => c.left > 0).sort(byTime);
  let creditBalance = 0;
  let next = 0;
  for (const c of credits) {
    let available = c.cents;
    while (available > 0 && next < open.length) {
      const b = open[next]!;
      const cents = Math.min(available, b.left);
      add(c.paymentId, b.id, cents);
      b.left -= cents;
      available -= cents;
      if (b.left === 0) next++;
    }
    creditBalance += available;
  }
  splits.sort((a, b) => a.billingId - b.billingId || (a.paymentId ?? -1) - (b.paymentId ?? -1));
  return { splits: mergeAdjacent(splits, (a, b) => a.billingId === b.billingId && a.paymentId === b.paymentId), creditBalance };
}

