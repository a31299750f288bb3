// How a Koha patron's account becomes Arrears charges and payments whose balance is Koha's own
// to the cent. Koha keeps each debit's amountoutstanding and records which credit paid which
// debit in account_offsets (APPLY negative, VOID positive when a payment is voided). Arrears
// keeps charges and payments applied to charges. So, per patron:
//   - each debit is a charge of its amount, and what Koha says is paid on it (amount −
//     amountoutstanding) is spread over the credits its offsets name, in credit order;
//   - what the offsets do not explain (data from before Koha kept offsets) is an adjustment;
//   - a credit's unapplied remainder (negative amountoutstanding) pays the oldest open debits,
//     as Koha itself does when it reconciles an account, up to what is still owed.
// Pure: amounts in cents, no I/O; unit-tested in ledger.test.ts.
import { mergeAdjacent } from '../common.ts';

export interface KohaDebit {
  id: number;
  /** Cents, positive. */
  amount: number;
  /** Cents still owed, as Koha keeps it. */
  outstanding: number;
  /** When it was posted: oldest open debits take unapplied credits first. */
  date: Date;
}

export interface KohaCredit {
  id: number;
  /** Cents still available: 0 or negative, as Koha keeps it. */
  outstanding: number;
}

/** An account_offsets row between a credit and a debit (cents, signed as Koha stores it). */
export interface KohaOffset {
  creditId: number;
  debitId: number;
  amount: number;
}

/** What a credit (or, with creditId null, an adjustment) paid on one debit, in cents. */
export interface Split {
  creditId: number | null;
  debitId: number;
  cents: number;
}

export interface LedgerSplit {
  splits: Split[];
  /** Unapplied credit beyond everything the patron owes: the patron is in credit by this much. */
  creditBalance: number;
}

const clamp = (n: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, n));

/**
 * Splits one patron's payments over their debits. Each debit ends with exactly Koha's
 * amountoutstanding left, less any unapplied credit the patron has; the patron's total is
 * Koha's balance (the sum of every line's amountoutstanding) unless they are in credit.
 */
export function splitLedger(debits: readonly KohaDebit[], credits: readonly KohaCredit[], offsets: readonly KohaOffset[]): LedgerSplit {
  // A full sync splits every patron's account: numbers and arrays here, no keys made of text.
  // What each debit is paid down by, per Koha.
  const toExplain = new Map<number, number>();
  for (const d of debits) toExplain.set(d.id, clamp(d.amount - d.outstanding, 0, d.amount));
  const creditIds = new Set<number>();
  for (const c of credits) creditIds.add(c.id);
  const splits: Split[] = [];
  const add = (creditId: number | null, debitId: number, cents: number) => {
    if (cents > 0) splits.push({ creditId, debitId, cents });
  };

  // Net applied per credit and debit (APPLY is negative, a VOID that undoes it positive), in
  // credit then debit order, each pair paying its debit down to what Koha says is left.
  const known = offsets.filter((o) => toExplain.has(o.debitId) && creditIds.has(o.creditId)).sort((a, b) => a.creditId - b.creditId || a.debitId - b.debitId);
  for (let i = 0; i < known.length; ) {
    const { creditId, debitId } = known[i]!;
    let net = 0;
    for (; i < known.length && known[i]!.creditId === creditId && known[i]!.debitId === debitId; i++) net -= known[i]!.amount;
    if (net <= 0) continue;
    const left = toExplain.get(debitId)!;
    const cents = Math.min(net, left);
    add(creditId, debitId, cents);
    toExplain.set(debitId, left - cents);
  }
  for (const [debitId, left] of toExplain) add(null, debitId, left);

  // Unapplied credit pays the oldest open debits, up to what they still owe.
  const open = debits
    .map((d) => ({ id: d.id, date: d.date.getTime(), left: clamp(d.outstanding, 0, d.amount) }))
    .filter((d) => d.left > 0)
    .sort((a, b) => a.date - b.date || a.id - b.id);
  let creditBalance = 0;
  for (const c of [...credits].sort((a, b) => a.id - b.id)) {
    let unapplied = Math.max(0, -c.outstanding);
    for (const d of open) {
      if (unapplied === 0) break;
      const cents = Math.min(unapplied, d.left);
      add(c.id, d.id, cents);
      d.left -= cents;
      unapplied -= cents;
    }
    creditBalance += unapplied;
  }

  // By debit, then credit (the adjustment first); a credit's offsets and its unapplied remainder on one debit are one split.
  splits.sort((a, b) => a.debitId - b.debitId || (a.creditId ?? -1) - (b.creditId ?? -1));
  return { splits: mergeAdjacent(splits, (a, b) => a.debitId === b.debitId && a.creditId === b.creditId), creditBalance };
}
