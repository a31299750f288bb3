// The fast CSV reader against csv-parse itself, on random files built from the characters
// that matter (commas, quotes, every line break, multi-byte and invalid UTF-8, a BOM), cut
// into chunks at random byte positions: what it yields must be csv-parse's records, and
// where it stops, openSource's csv-parse hand-over must give csv-parse's rest or its error.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { fastCsvBatches, type FastCsvState } from './fast-csv.ts';
import { MAX_RECORD_CHARS, openSource, parserMessage } from './source.ts';

const TOKENS = ['a', 'id', 'P1', ' x ', '12.50', 'é', '€', '😀', ',', ',', '"', '""', '"q"', '\n', '\n', '\r\n', '\r', '\uFFFD'];

/** A file as bytes: tokens, sometimes a BOM first, sometimes a byte that is not UTF-8. */
const files = fc
  .tuple(fc.boolean(), fc.array(fc.constantFrom(...TOKENS), { maxLength: 60 }), fc.option(fc.nat(60)), fc.boolean())
  .map(([bom, tokens, badAt, crlf]) => {
    const text = tokens.join('');
    // Most real files use one line break throughout; half the cases stick to one.
    const body = crlf ? text.replace(/\r?\n/g, '\r\n') : text;
    let bytes = Buffer.from((bom ? '\uFEFF' : '') + body, 'utf8');
    if (badAt !== null && bytes.length > 0) {
      const at = badAt % bytes.length;
      bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([0xe9]), bytes.subarray(at)]);
    }
    return bytes;
  });

/** A line-per-record file of the usual shape, so the fast path reads it to the end. */
const plainFiles = fc
  .array(fc.array(fc.constantFrom('a', 'P7', '', ' ', '12.50', 'é', '😀', '"q,1"', '"say ""hi"""', '""'), { minLength: 1, maxLength: 6 }), { maxLength: 30 })
  .chain((lines) => fc.tuple(fc.constant(lines), fc.constantFrom('\n', '\r\n'), fc.boolean()))
  .map(([lines, eol, last]) => Buffer.from(lines.map((l) => l.join(',')).join(eol) + (last ? eol : ''), 'utf8'));

interface Reading {
  records: string[][];
  error?: string;
}

/** csv-parse's records as it pushes them (an async iterator may drop the last ones when an error follows), and its error. */
function csvParse(bytes: Buffer): Promise<Reading> {
  const records: string[][] = [];
  return new Promise((resolve) => {
    const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: MAX_RECORD_CHARS });
    parser.on('data', (r: string[]) => records.push(r));
    parser.on('end', () => resolve({ records }));
    parser.on('error', (err) => resolve({ records, error: err.message }));
    parser.end(bytes);
  });
}

/** The bytes cut at the given positions, as a file stream would deliver them. */
function chunked(bytes: Buffer, cuts: number[]): Readable {
  const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const c of [...at, bytes.length]) {
    if (c > from) chunks.push(bytes.subarray(from, c));
    from = c;
  }
  return Readable.from(chunks);
}

async function fastRead(input: Readable): Promise<{ records: string[][]; state: FastCsvState }> {
  const state: FastCsvState = { records: 0, stopped: false };
  const records: string[][] = [];
  for await (const batch of fastCsvBatches(input, MAX_RECORD_CHARS, state)) records.push(...batch);
  return { records, state };
}

const dir = mkdtempSync(join(tmpdir(), 'arrears-fast-csv-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fast CSV reader', () => {
  it('yields a prefix of csv-parse records, all of them when it reads to the end', async () => {
    await fc.assert(
      fc.asyncProperty(files, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
        const expected = await csvParse(bytes);
        const got = await fastRead(chunked(bytes, cuts));
        expect(got.state.records).toBe(got.records.length);
        if (got.state.stopped) {
          expect(got.records).toEqual(expected.records.slice(0, got.records.length));
        } else {
          expect(expected.error).toBeUndefined();
          expect(got.records).toEqual(expected.records);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads files of the usual shape to the end itself', async () => {
    await fc.assert(
      fc.asyncProperty(plainFiles, fc.array(fc.nat(), { maxLength: 6 }), async (bytes, cuts) => {
        const got = await fastRead(chunked(bytes, cuts));
        expect(got.state.stopped).toBe(false);
        expect(got.records).toEqual((await csvParse(bytes)).records);
      }),
      { numRuns: 1000 },
    );
  });

  it('openSource gives exactly csv-parse reading, its error included, whichever reader finishes', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(files, async (bytes) => {
        // The header row is sniffed for NUL bytes and UTF-16 first; these files have neither.
        const path = join(dir, `f${n++}.csv`);
        writeFileSync(path, bytes);
        const expected = await csvParse(bytes);
        const records: string[][] = [];
        const rows: number[] = [];
        let error: unknown;
        try {
          for await (const batch of openSource(path).batches) {
            for (const r of batch) {
              records.push(r.cells);
              rows.push(r.row);
            }
          }
        } catch (err) {
          error = err;
        }
        expect(rows).toEqual(records.map((_, i) => i + 1));
        if (expected.error === undefined) {
          expect(error).toBeUndefined();
          expect(records).toEqual(expected.records);
        } else {
          // Records just before a csv-parse error may or may not reach a reader: the import fails either way.
          expect(records).toEqual(expected.records.slice(0, records.length));
          const problem = (error as { problems?: { row?: number; reason: string }[] }).problems?.[0];
          // The message as staff see it: one line, control characters removed.
          expect(problem?.reason).toBe(`not a readable CSV file: ${parserMessage(new Error(expected.error))}`);
        }
      }),
      { numRuns: 800 },
    );
  });

  it('reads a million-row shaped file in one pass without csv-parse', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => `C${i},P${i % 97},,L${i % 8},overdue,${1 + (i % 90)}.50,2015-03-0${1 + (i % 9)}T10:00:00`);
    const bytes = Buffer.from(['id,patron_id,item_id,library,reason,amount,assessed_at', ...lines].join('\r\n') + '\r\n');
    const got = await fastRead(chunked(bytes, [1000, 5000, 77_777, 300_001]));
    expect(got.state.stopped).toBe(false);
    expect(got.records.length).toBe(20_001);
    expect(got.records[20_000]).toEqual(lines[19_999]!.split(','));
  });
});
