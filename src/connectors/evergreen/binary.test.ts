// Read against the real PostgreSQL server: what its binary COPY sends for each type, beside what
// the driver reads of the same values as text.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BinaryRows, copyBinary } from './binary.ts';
import { instantOf } from './connection.ts';

const URL = process.env.ARREARS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
let client: pg.Client;

beforeAll(async () => {
  client = new pg.Client({ connectionString: URL });
  await client.connect();
  await client.query("SET TIME ZONE 'UTC'");
});
afterAll(() => client.end());

const ROWS = `SELECT * FROM (VALUES
  (1::bigint, 7::int, 3::smallint, true, '2026-12-04 21:45:10.123456+00'::timestamptz, 'Évergreen ✓'::text),
  (-9007199254740991::bigint, (-2147483648)::int, (-32768)::smallint, false, '1999-12-31 23:59:59.9995+00'::timestamptz, ''::text),
  (9007199254740991::bigint, NULL::int, NULL::smallint, NULL::boolean, NULL::timestamptz, NULL::text),
  (0::bigint, 0::int, 0::smallint, true, '2000-01-01 00:00:00+00'::timestamptz, 'tab	and
newline'::text)) v(a, b, c, d, e, f)`;

describe('BinaryRows', () => {
  it('reads each type of a binary COPY as the driver reads it as text', async () => {
    const text = (await client.query<{ a: string; b: number | null; c: number | null; d: boolean | null; e: string | null; f: string | null }>({ text: `SELECT a, b, c, d, e::text, f FROM (${ROWS}) t`, types: { getTypeParser: (oid: number) => (oid === 23 || oid === 21 ? Number : oid === 16 ? (v: string) => v === 't' : (v: string) => v) } })).rows;
    const r = await copyBinary(client, ROWS);
    const read = [];
    while (r.row(6)) read.push({ a: r.int(), b: r.int(), c: r.int(), d: r.bool(), e: r.instant(), f: r.text() });
    expect(read).toEqual(text.map((t) => ({ a: Number(t.a), b: t.b, c: t.c, d: t.d, e: t.e === null ? null : instantOf(t.e), f: t.f })));
    expect(read[1]!.e!.toISOString()).toBe('1999-12-31T23:59:59.999Z');
  });

  it('refuses a BIGINT past 2^53, a field read as the wrong type, and a row of another width', async () => {
    let r = await copyBinary(client, 'SELECT 9007199254740993::bigint');
    r.row(1);
    expect(() => r.int()).toThrow(/9007199254740993 is past 2\^53/);
    r = await copyBinary(client, "SELECT 'x'::text, 1::int");
    r.row(2);
    expect(() => r.bool()).not.toThrow(); // one byte: a boolean's width, so text of one byte passes…
    expect(() => r.instant()).toThrow(/not a timestamp/); // …but an integer is no timestamp
    r = await copyBinary(client, 'SELECT 1::int, 2::int');
    expect(() => r.row(3)).toThrow(/a row of 2 fields, expected 3/);
    r = await copyBinary(client, "SELECT 'infinity'::timestamptz");
    r.row(1);
    expect(() => r.instant()).toThrow(/infinity/);
    expect(() => new BinaryRows(Buffer.from('1\t2\n'))).toThrow(/not a binary COPY/);
  });

  it('refuses to move on with fields of the row left unread', async () => {
    const r = await copyBinary(client, 'SELECT g, g FROM generate_series(1, 2) g');
    r.row(2);
    r.int();
    expect(() => r.row(2)).toThrow(/1 fields of the row before were not read/);
  });
});
