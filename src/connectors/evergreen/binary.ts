// PostgreSQL's binary COPY format, read field by field. A full sync reads millions of
// transactions, billings and payments: as COPY's binary rows, an id, an amount in cents or a
// time is read straight from its bytes, with no text made per value and no object per row
// made by the driver (which, with the collections of what it made, was most of the sync's CPU).
import type pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';

/** PGCOPY\n\377\r\n\0: the first 11 bytes of every binary COPY. */
const SIGNATURE = Buffer.from([0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00]);
/** Microseconds from 1970 to PostgreSQL's epoch, 2000-01-01. */
const EPOCH_MS = 946_684_800_000;
const TWO_32 = 4_294_967_296;

/** The rows of `query` in binary COPY, whole. */
export async function copyBinary(client: pg.Client, query: string): Promise<BinaryRows> {
  const chunks: Buffer[] = [];
  for await (const chunk of client.query(copyTo(`COPY (${query}) TO STDOUT (FORMAT binary)`))) chunks.push(chunk as Buffer);
  return new BinaryRows(Buffer.concat(chunks));
}

/**
 * A cursor over binary COPY rows: `row()` moves to the next row, then each field is read in
 * its column's order by the reader of its type. A field read as the wrong type (its length
 * says so) or a row with another number of fields is refused, not misread.
 */
export class BinaryRows {
  private pos: number;
  private left = 0;

  constructor(private readonly buf: Buffer) {
    if (buf.length < 19 || !buf.subarray(0, 11).equals(SIGNATURE)) throw new Error('not a binary COPY from PostgreSQL');
    this.pos = 19 + buf.readUInt32BE(15);
  }

  /** Moves to the next row, which must have `fields` fields; false after the last. */
  row(fields: number): boolean {
    if (this.left !== 0) throw new Error(`binary COPY: ${this.left} fields of the row before were not read`);
    const n = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    if (n === -1) return false;
    if (n !== fields) throw new Error(`binary COPY: a row of ${n} fields, expected ${fields}`);
    this.left = n;
    return true;
  }

  /** The next field's length (-1: NULL), moving past it. */
  private field(): number {
    if (this.left-- <= 0) throw new Error('binary COPY: read past the last field of a row');
    const length = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return length;
  }

  /** A SMALLINT, INTEGER or BIGINT; a BIGINT past 2^53 is refused (a number could not hold it). */
  int(): number | null {
    const length = this.field();
    const at = this.pos;
    if (length === -1) return null;
    this.pos += length;
    if (length === 4) return this.buf.readInt32BE(at);
    if (length === 8) {
      const v = this.buf.readInt32BE(at) * TWO_32 + this.buf.readUInt32BE(at + 4);
      if (!Number.isSafeInteger(v)) throw new RangeError(`binary COPY: the integer ${this.buf.readBigInt64BE(at)} is past 2^53`);
      return v;
    }
    if (length === 2) return this.buf.readInt16BE(at);
    throw new Error(`binary COPY: a field of ${length} bytes is not an integer`);
  }

  bool(): boolean | null {
    const length = this.field();
    if (length === -1) return null;
    if (length !== 1) throw new Error(`binary COPY: a field of ${length} bytes is not a boolean`);
    return this.buf[this.pos++] !== 0;
  }

  /** A TIMESTAMPTZ as an instant, to the millisecond (the rest cut, as the driver's text parser cuts it). */
  instant(): Date | null {
    const length = this.field();
    if (length === -1) return null;
    if (length !== 8) throw new Error(`binary COPY: a field of ${length} bytes is not a timestamp`);
    const at = this.pos;
    this.pos += 8;
    const micros = this.buf.readInt32BE(at) * TWO_32 + this.buf.readUInt32BE(at + 4);
    // ±285 years of 2000 in microseconds; infinity and anything beyond are no instant Arrears keeps.
    if (!Number.isSafeInteger(micros)) throw new RangeError('binary COPY: a timestamp Arrears cannot hold (infinity, or beyond 1715–2285)');
    return new Date(EPOCH_MS + Math.floor(micros / 1000));
  }

  text(): string | null {
    const length = this.field();
    if (length === -1) return null;
    const at = this.pos;
    this.pos += length;
    return this.buf.toString('utf8', at, at + length);
  }
}
