// The sync's COPY line of each kind is exactly copyLine of the generic tuple, in the stage's
// column order, whatever the text (separators and backslashes included) and nulls.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChargeRow, ItemRow, PatronRow, PaymentRow } from '../connectors/types.ts';
import type { ChargeReason, ItemStatus, PaymentType } from '../db/schema.ts';
import { copyLine } from './imports/copy-text.ts';
import { columnsOf, stageLine, stageTuple } from './sync-stage.ts';

const words = fc.string({ unit: fc.constantFrom('a', 'Z', '7', ' ', ':', '\t', '\n', '\r', '\\', 'é', '€', '\\N'), maxLength: 12 });
const orNull = fc.option(words, { nil: null });
const key = fc.integer({ min: 1, max: 2 ** 31 - 1 });
const instant = fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2040-01-01T00:00:00Z'), noInvalidDate: true });
const cents = fc.integer({ min: 1, max: 10 ** 9 });

const patron = fc.record({
  id: words, key, barcode: words, firstName: words, lastName: words, address: words, address2: words, city: words, state: words, postalCode: words,
  phone: words, mobile: words, altPhone1: words, altPhone2: words, email: words, birthDate: orNull, homeLibrary: words, ptype: words, patronCode: words, adultOrChild: words,
}) as fc.Arbitrary<PatronRow>;
const item = fc.record({ id: words, key, barcode: words, title: words, status: fc.constantFrom<ItemStatus>('available', 'lost', 'checked_out'), patronId: orNull, dueDate: orNull }) as fc.Arbitrary<ItemRow>;
const charge = fc.record({ id: words, key, patronId: words, itemId: orNull, library: words, reason: fc.constantFrom<ChargeReason>('overdue', 'replacement', 'manual'), amountCents: cents, assessedAt: instant }) as fc.Arbitrary<ChargeRow>;
const payment = fc.record({ id: words, key, patronId: words, chargeId: words, type: fc.constantFrom<PaymentType>('payment', 'waive', 'writeoff'), method: words, amountCents: cents, paidAt: instant }) as fc.Arbitrary<PaymentRow>;

describe('stageLine', () => {
  it('writes each kind as copyLine writes its staged values', () => {
    fc.assert(fc.property(patron, (r) => {
      expect(stageLine.patrons(r)).toBe(copyLine(stageTuple('patrons', columnsOf('patrons'), r, r.key)));
    }), { numRuns: 2000 });
    fc.assert(fc.property(item, (r) => {
      expect(stageLine.items(r)).toBe(copyLine(stageTuple('items', columnsOf('items'), r, r.key)));
    }), { numRuns: 2000 });
    fc.assert(fc.property(charge, cents, (r, paid) => {
      expect(stageLine.charges(r, paid)).toBe(copyLine(stageTuple('charges', columnsOf('charges'), r, r.key, paid)));
    }), { numRuns: 2000 });
    fc.assert(fc.property(payment, (r) => {
      expect(stageLine.payments(r)).toBe(copyLine(stageTuple('payments', columnsOf('payments'), r, r.key)));
    }), { numRuns: 2000 });
  });
});
