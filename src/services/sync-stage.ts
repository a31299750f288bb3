// A connector's typed rows as rows of the sync's staging tables (import_stage's shape): as
// values (stageTuple, for a session without COPY) or as a line of COPY text (stageWriter),
// written straight from the row into bytes, with no object of stage columns, no tuple and no
// string per row: a full sync stages millions. The two agree (sync-stage.test.ts).
import type { ChargeRow, ItemRow, LibraryRow, PatronRow, PaymentRow } from '../connectors/types.ts';
import type { ImportKind } from '../domain/import-formats.ts';
import { copyString, type CopyText, type StageValue } from './imports/copy-text.ts';
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

/**
 * The same row written straight into COPY text (CopyText's current chunk), keyed by the ILS's
 * key (row_no), for every kind but libraries (numbered by the sink, and a few). No line is made
 * as a string: a full sync stages millions of rows, and each line's pieces and the line itself
 * were most of what its reading allocated. Equal to copyLine of stageTuple, byte for byte
 * (sync-stage.test.ts).
 */
export const stageWriter: {
  patrons(t: CopyText, r: PatronRow): void;
  items(t: CopyText, r: ItemRow): void;
  charges(t: CopyText, r: ChargeRow, paid: number): void;
  payments(t: CopyText, r: PaymentRow): void;
} = {
  patrons(t, r) {
    const { key, id, barcode, firstName, lastName, address, address2, city, state, postalCode, phone, mobile, altPhone1, altPhone2, email, birthDate, homeLibrary, ptype, patronCode, adultOrChild } = r;
    putTexts(t, key, [id, barcode, firstName, lastName, address, address2, city, state, postalCode, phone, mobile, altPhone1, altPhone2, email, birthDate, homeLibrary, ptype, patronCode, adultOrChild], 1);
    endLine(t);
  },
  items(t, r) {
    putTexts(t, r.key, [r.id, r.barcode, r.title, r.status, r.patronId, r.dueDate], 1);
    endLine(t);
  },
  charges(t, r, paid) {
    putLedger(t, r.key, [r.id, r.patronId, r.itemId, r.library, r.reason], r.amountCents, r.assessedAt);
    t.chunk[t.at++] = 9;
    putInt(t, paid);
    endLine(t);
  },
  payments(t, r) {
    putLedger(t, r.key, [r.id, r.patronId, r.chargeId, r.type, r.method], r.amountCents, r.paidAt);
    endLine(t);
  },
};

/** The key, then each text (null as \N), in a chunk with room for them and `extra` bytes more. */
function putTexts(t: CopyText, key: number, texts: readonly (string | null)[], extra: number): void {
  // A tab and at most three bytes a UTF-16 unit each (an escape takes two); a key's digits fit in 24.
  let bytes = 24 + extra;
  for (const v of texts) bytes += (v?.length ?? 1) * 3 + 1;
  t.reserve(bytes);
  putInt(t, key);
  for (const v of texts) putNullable(t, v);
}

/** A charge's or a payment's line up to its last column: key, five texts, cents and an instant, with room for one more number. */
function putLedger(t: CopyText, key: number, texts: readonly (string | null)[], cents: number, at: Date): void {
  // Tabs, two numbers of up to 17 characters, an instant of up to 27 and the line break.
  putTexts(t, key, texts, 80);
  t.chunk[t.at++] = 9;
  putInt(t, cents);
  t.chunk[t.at++] = 9;
  putInstant(t, at);
}

function endLine(t: CopyText): void {
  t.chunk[t.at++] = 10;
  t.lines++;
}

/** A tab, then the string as COPY text: ASCII byte by byte, backslash escapes for the separators, anything else as UTF-8. */
function putField(t: CopyText, s: string): void {
  const b = t.chunk;
  let at = t.at;
  b[at++] = 9;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) {
      // Rare in an ILS's codes and ids: the rest of the string the general way.
      t.at = at + b.write(copyString(s.slice(i)), at);
      return;
    }
    if (c === 92 || c === 9 || c === 10 || c === 13) {
      b[at++] = 92;
      b[at++] = c === 92 ? 92 : c === 9 ? 116 : c === 10 ? 110 : 114;
    } else b[at++] = c;
  }
  t.at = at;
}

function putNullable(t: CopyText, s: string | null): void {
  if (s !== null) return putField(t, s);
  const b = t.chunk;
  b[t.at++] = 9;
  b[t.at++] = 92;
  b[t.at++] = 78;
}

/** An integer's decimal digits (anything else as String writes it). */
function putInt(t: CopyText, n: number): void {
  const b = t.chunk;
  if (!Number.isSafeInteger(n)) {
    t.at += b.write(String(n), t.at, 'latin1');
    return;
  }
  if (n < 0) {
    b[t.at++] = 45;
    n = -n;
  }
  let digits = 1;
  for (let x = n; x >= 10; x = Math.floor(x / 10)) digits++;
  for (let i = t.at + digits - 1; i >= t.at; i--) {
    b[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  t.at += digits;
}

/** An instant as toISOString writes it (YYYY-MM-DDTHH:MM:SS.mmmZ), a year past 9999 or before 0 as toISOString itself. */
function putInstant(t: CopyText, d: Date): void {
  const y = d.getUTCFullYear();
  if (!(y >= 0 && y <= 9999)) {
    t.at += t.chunk.write(d.toISOString(), t.at, 'latin1');
    return;
  }
  putDigits(t, y, 4);
  t.chunk[t.at++] = 45;
  putDigits(t, d.getUTCMonth() + 1, 2);
  t.chunk[t.at++] = 45;
  putDigits(t, d.getUTCDate(), 2);
  t.chunk[t.at++] = 84;
  putDigits(t, d.getUTCHours(), 2);
  t.chunk[t.at++] = 58;
  putDigits(t, d.getUTCMinutes(), 2);
  t.chunk[t.at++] = 58;
  putDigits(t, d.getUTCSeconds(), 2);
  t.chunk[t.at++] = 46;
  putDigits(t, d.getUTCMilliseconds(), 3);
  t.chunk[t.at++] = 90;
}

function putDigits(t: CopyText, n: number, width: number): void {
  for (let i = t.at + width - 1; i >= t.at; i--) {
    t.chunk[i] = 48 + (n % 10);
    n = Math.floor(n / 10);
  }
  t.at += width;
}
