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
  const debitIds = new Set(debits.map((d) => d.id));
  const creditIds = new Set(credits.map((c) => c.id));
  // What each debit is paid down by, per Koha.
  const toExplain = new Map(debits.map((d) => [d.id, clamp(d.amount - d.outstanding, 0, d.amount)]));

  // Net applied per credit and debit: APPLY is negative, a VOID that undoes it positive.
  const applied = new Map<string, { creditId: number; debitId: number; cents: number }>();
  for (const o of offsets) {
    if (!debitIds.has(o.debitId) || !creditIds.has(o.creditId)) continue;
    const key = `${o.creditId}:${o.debitId}`;
    const a = applied.get(key) ?? { creditId: o.creditId, debitId: o.debitId, cents: 0 };
    a.cents -= o.amount;
    applied.set(key, a);
  }
  const pairs = [...applied.values()].filter((a) => a.cents > 0).sort((a, b) => a.creditId - b.creditId || a.debitId - b.debitId);

  const totals = new Map<string, Split>();
  const add = (creditId: number | null, debitId: number, cents: number) => {
    if (cents <= 0) return;
    const key = `${creditId ?? 'adjust'}:${debitId}`;
    const s = totals.get(key);
    if (s) s.cents += cents;
    else totals.set(key, { creditId, debitId, cents });
  };
  for (const p of pairs) {
    const left = toExplain.get(p.debitId)!;
    const cents = Math.min(p.cents, left);
    add(p.creditId, p.debitId, cents);
    toExplain.set(p.debitId, left - cents);
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
  const splits = [...totals.values()].sort((a, b) => a.debitId - b.debitId || (a.creditId ?? -1) - (b.creditId ?? -1));
  return { splits, creditBalance };
}
