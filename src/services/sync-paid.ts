// What a sync's staged payments pay of each charge, counted as the reader hands rows over, so a
// first sync writes each charge with its paid_cents and no second row version (Merge.run), and
// so the merge knows when every payment's charge came in the same sync for the same patron.
import type { ChargeRow, PaymentRow } from '../connectors/types.ts';

export class StagedPaid {
  /** Per charge not staged yet: what the payments staged so far pay of it, and who paid. */
  private readonly unpaid = new Map<string, { cents: number; payer: string }>();
  private staged = 0;
  private given = 0;
  /** A payment named a charge staged for another patron, or two patrons paid one charge. */
  private payerDiffers = false;

  /** Payments staged: counted against the charges they name. */
  count(payments: readonly PaymentRow[]): void {
    for (const p of payments) {
      const entry = this.unpaid.get(p.chargeId);
      if (!entry) this.unpaid.set(p.chargeId, { cents: p.amountCents, payer: p.patronId });
      else {
        entry.cents += p.amountCents;
        if (entry.payer !== p.patronId) this.payerDiffers = true;
      }
      this.staged += p.amountCents;
    }
  }

  /** What the payments staged before it pay of a charge being staged (each payment given to one charge only). */
  of(charge: ChargeRow): number {
    const entry = this.unpaid.get(charge.id);
    if (entry === undefined) return 0;
    this.unpaid.delete(charge.id);
    if (entry.payer !== charge.patronId) this.payerDiffers = true;
    this.given += entry.cents;
    return entry.cents;
  }

  /**
   * Every payment's amount went into one entry and each entry into at most one charge, so the
   * totals are equal exactly when each payment was staged before the charge it names.
   */
  get complete(): boolean {
    return this.staged === this.given;
  }

  /** Complete, and each payment's charge was staged for the payment's own patron. */
  get vouched(): boolean {
    return this.complete && !this.payerDiffers;
  }
}
