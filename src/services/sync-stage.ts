// A connector's typed rows as rows of the sync's staging tables (import_stage's shape): as
// values (stageTuple, for a session without COPY) or as a line of COPY text (stageLine),
// written straight from the row, with no object of stage columns and no tuple per row: a full
// sync stages millions. The two agree (sync-stage.test.ts).
import type { ChargeRow, ItemRow, LibraryRow, PatronRow, PaymentRow } from '../connectors/types.ts';
import type { ImportKind } from '../domain/import-formats.ts';
import { copyString, type StageValue } from './imports/copy-text.ts';
import { stageColumns } from './imports/kinds.ts';

export type SyncRow = LibraryRow | PatronRow | ItemRow | ChargeRow | PaymentRow;

/** The staging columns of a kind, after row_no (and before a charge's paid_cents). */
export function columnsOf(kind: ImportKind): string[] {
  return stageColumns(kind).map((c) => c.name);
}

/** One typed row as the stage columns of its kind; a column the import format lacks is left out. */
export function stageValues(kind: ImportKind, row: LibraryRow | PatronRow | ItemRow | ChargeRow | PaymentRow): Record<string, StageValue> {
  switch (kind) {
    case 'libraries': {
      const r = row as LibraryRow;
      return { code: r.code, name: r.name, time_zone: r.timeZone };
    }
    case 'patrons': {
      const r = row as PatronRow;
      return {
        id: r.id,
        barcode: r.barcode,
        first_name: r.firstName,
        last_name: r.lastName,
        address: r.address,
        address2: r.address2,
        city: r.city,
        state: r.state,
        postal_code: r.postalCode,
        phone: r.phone,
        mobile: r.mobile,
        alt_phone_1: r.altPhone1,
        alt_phone_2: r.altPhone2,
        email: r.email,
        birth_date: r.birthDate,
        home_library: r.homeLibrary,
        ptype: r.ptype,
        patron_code: r.patronCode,
        adult_or_child: r.adultOrChild,
      };
    }
    case 'items': {
      const r = row as ItemRow;
      return { id: r.id, barcode: r.barcode, title: r.title, status: r.status, patron_id: r.patronId, due_date: r.dueDate };
    }
    case 'charges': {
      const r = row as ChargeRow;
      return { id: r.id, patron_id: r.patronId, item_id: r.itemId, library: r.library, reason: r.reason, amount_cents: r.amountCents, assessed_at: r.assessedAt };
    }
    case 'payments': {
      const r = row as PaymentRow;
      return { id: r.id, patron_id: r.patronId, charge_id: r.chargeId, type: r.type, method: r.method, amount_cents: r.amountCents, paid_at: r.paidAt };
    }
  }
}

/** A staged row as values: row_no, the stage columns, and a charge's paid_cents. */
export function stageTuple(kind: ImportKind, columns: readonly string[], row: SyncRow, rowNo: number, paid?: number): StageValue[] {
  const v = stageValues(kind, row);
  const tuple: StageValue[] = [rowNo];
  for (const c of columns) tuple.push(v[c] ?? null);
  if (paid !== undefined) tuple.push(paid);
  return tuple;
}

const text = copyString;
const orNull = (v: string | null) => (v === null ? '\\N' : copyString(v));

/**
 * The same row as one line of COPY text (no line break), keyed by the ILS's key (row_no), for
 * every kind but libraries (numbered by the sink, and a few).
 */
export const stageLine: {
  patrons(r: PatronRow): string;
  items(r: ItemRow): string;
  charges(r: ChargeRow, paid: number): string;
  payments(r: PaymentRow): string;
} = {
  patrons: (r) =>
    `${r.key}\t${text(r.id)}\t${text(r.barcode)}\t${text(r.firstName)}\t${text(r.lastName)}\t${text(r.address)}\t${text(r.address2)}\t${text(r.city)}\t${text(r.state)}\t${text(r.postalCode)}` +
    `\t${text(r.phone)}\t${text(r.mobile)}\t${text(r.altPhone1)}\t${text(r.altPhone2)}\t${text(r.email)}\t${orNull(r.birthDate)}\t${text(r.homeLibrary)}\t${text(r.ptype)}\t${text(r.patronCode)}\t${text(r.adultOrChild)}`,
  items: (r) => `${r.key}\t${text(r.id)}\t${text(r.barcode)}\t${text(r.title)}\t${text(r.status)}\t${orNull(r.patronId)}\t${orNull(r.dueDate)}`,
  charges: (r, paid) =>
    `${r.key}\t${text(r.id)}\t${text(r.patronId)}\t${orNull(r.itemId)}\t${text(r.library)}\t${text(r.reason)}\t${r.amountCents}\t${r.assessedAt.toISOString()}\t${paid}`,
  payments: (r) => `${r.key}\t${text(r.id)}\t${text(r.patronId)}\t${text(r.chargeId)}\t${text(r.type)}\t${text(r.method)}\t${r.amountCents}\t${r.paidAt.toISOString()}`,
};
