// Every account_offsets row between a credit and a debit, held by debit for a full sync. Read
// by one pass over the table, they cost Koha a sequential scan; read a range of patrons at a
// time, each came through a join from the patron's lines (an index probe per line and a row
// fetched per offset): three quarters of what a full sync asked of Koha's server. Held as
// numbers in typed arrays, 16 bytes an offset, sorted by debit once all are read.
import type { KohaOffset } from './ledger.ts';

export class OffsetsByDebit {
  private debits = new Int32Array(1024);
  private credits = new Int32Array(1024);
  private cents = new Float64Array(1024);
  private size = 0;
  private sorted = true;

  get length(): number {
    return this.size;
  }

  add(debitId: number, creditId: number, cents: number): void {
    // Koha's keys are INT: a value a 32-bit array would wrap is refused, never stored wrong.
    if ((debitId | 0) !== debitId || (creditId | 0) !== creditId) throw new Error(`Koha account_offsets: debit ${debitId} or credit ${creditId} is not a 32-bit key`);
    if (this.size === this.debits.length) this.grow();
    const i = this.size++;
    if (i > 0 && debitId < this.debits[i - 1]!) this.sorted = false;
    this.debits[i] = debitId;
    this.credits[i] = creditId;
    this.cents[i] = cents;
  }

  /** Call once every offset is added, before offsetsOf. */
  seal(): void {
    if (this.sorted) return;
    const n = this.size;
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    const d = this.debits;
    // A typed array's sort is stable: offsets of one debit keep the order they were read in.
    order.sort((a, b) => d[a]! - d[b]!);
    const debits = new Int32Array(n);
    const credits = new Int32Array(n);
    const cents = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const from = order[i]!;
      debits[i] = d[from]!;
      credits[i] = this.credits[from]!;
      cents[i] = this.cents[from]!;
    }
    this.debits = debits;
    this.credits = credits;
    this.cents = cents;
    this.sorted = true;
  }

  /** The offsets on one debit, appended to `out`. */
  offsetsOf(debitId: number, out: KohaOffset[]): void {
    if (!this.sorted) throw new Error('OffsetsByDebit: seal() before reading');
    const d = this.debits;
    let lo = 0;
    let hi = this.size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (d[mid]! < debitId) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.size && d[i] === debitId; i++) out.push({ creditId: this.credits[i]!, debitId, amount: this.cents[i]! });
  }

  private grow(): void {
    const n = this.debits.length * 2;
    const debits = new Int32Array(n);
    const credits = new Int32Array(n);
    const cents = new Float64Array(n);
    debits.set(this.debits);
    credits.set(this.credits);
    cents.set(this.cents);
    this.debits = debits;
    this.credits = credits;
    this.cents = cents;
  }
}
