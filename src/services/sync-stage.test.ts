// The sync's COPY text of each kind is exactly copyLine of the generic tuple, in the stage's
// column order, byte for byte, whatever the text (separators, backslashes, UTF-8), nulls,
// numbers and instants.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChargeRow, ItemRow, PatronRow, PaymentRow } from '../connectors/types.ts';
import type { ChargeReason, ItemStatus, PaymentType } from '../db/schema.ts';
import { CopyText, copyLine } from './imports/copy-text.ts';
import { columnsOf, stageTuple, stageWriter } from './sync-stage.ts';

const words = fc.string({ unit: fc.constantFrom('a', 'Z', '7', ' ', ':', '\t', '\n', '\r', '\\', 'é', '€', '\\N', '😀', '\u0000', '\u007f'), maxLength: 12 });
const orNull = fc.option(words, { nil: null });
const key = fc.integer({ min: 1, max: 2 ** 31 - 1 });
// Years of three digits and past 9999 too (toISOString pads the one and signs the other).
const instant = fc.date({ min: new Date('-000100-01-01T00:00:00Z'), max: new Date('+012000-01-01T00:00:00Z'), noInvalidDate: true });
const cents = fc.oneof(fc.integer({ min: 1, max: 10 ** 9 }), fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }));

const patron = fc.record({
  id: words, key, barcode: words, firstName: words, lastName: words, address: words, address2: words, city: words, state: words, postalCode: words,
  phone: words, mobile: words, altPhone1: words, altPhone2: words, email: words, birthDate: orNull, homeLibrary: words, ptype: words, patronCode: words, adultOrChild: words,
}) as fc.Arbitrary<PatronRow>;
const item = fc.record({ id: words, key, barcode: words, title: words, status: fc.constantFrom<ItemStatus>('available', 'lost', 'checked_out'), patronId: orNull, dueDate: orNull }) as fc.Arbitrary<ItemRow>;
const charge = fc.record({ id: words, key, patronId: words, itemId: orNull, library: words, reason: fc.constantFrom<ChargeReason>('overdue', 'replacement', 'manual'), amountCents: cents, assessedAt: instant }) as fc.Arbitrary<ChargeRow>;
const payment = fc.record({ id: words, key, patronId: words, chargeId: words, type: fc.constantFrom<PaymentType>('payment', 'waive', 'writeoff'), method: words, amountCents: cents, paidAt: instant }) as fc.Arbitrary<PaymentRow>;

/** What stageWriter writes of one row, as text. */
function written<R>(write: (t: CopyText, r: R) => void, r: R): string {
  const t = new CopyText();
  write(t, r);
  return Buffer.concat(t.take()).toString('utf8');
}

describe('stageWriter', () => {
  it('writes each kind as copyLine writes its staged values', () => {
    fc.assert(fc.property(patron, (r) => {
      expect(written(stageWriter.patrons, r)).toBe(`${copyLine(stageTuple('patrons', columnsOf('patrons'), r, r.key))}\n`);
    }), { numRuns: 2000 });
    fc.assert(fc.property(item, (r) => {
      expect(written(stageWriter.items, r)).toBe(`${copyLine(stageTuple('items', columnsOf('items'), r, r.key))}\n`);
    }), { numRuns: 2000 });
    fc.assert(fc.property(charge, cents, (r, paid) => {
      expect(written((t, x: ChargeRow) => stageWriter.charges(t, x, paid), r)).toBe(`${copyLine(stageTuple('charges', columnsOf('charges'), r, r.key, paid))}\n`);
    }), { numRuns: 2000 });
    fc.assert(fc.property(payment, (r) => {
      expect(written(stageWriter.payments, r)).toBe(`${copyLine(stageTuple('payments', columnsOf('payments'), r, r.key))}\n`);
    }), { numRuns: 2000 });
  });

  it('starts a new chunk when a row does not fit, and writes many rows back to back', () => {
    const t = new CopyText();
    const long = 'é'.repeat(200_000);
    const rows: PaymentRow[] = [0, 1, 2, 3, 4, 5].map((i) => ({ id: `koha:${i}:9`, key: i, patronId: 'koha:1', chargeId: 'koha:9', type: 'payment', method: i === 3 ? long : 'CASH', amountCents: 100 * i, paidAt: new Date(Date.UTC(2026, 11, 4, 21, 45, 10, 7)) }));
    for (const r of rows) stageWriter.payments(t, r);
    expect(t.lines).toBe(6);
    const text = Buffer.concat(t.take()).toString('utf8');
    expect(text).toBe(rows.map((r) => `${copyLine(stageTuple('payments', columnsOf('payments'), r, r.key))}\n`).join(''));
    expect(text.split('\n')[1]).toBe('1\tkoha:1:9\tkoha:1\tkoha:9\tpayment\tCASH\t100\t2026-12-04T21:45:10.007Z');
  });
});
