// Reads an import file row by row without holding it in memory: csv-parse as a stream
// for .csv, exceljs' streaming WorkbookReader for .xlsx (first worksheet only).
import { closeSync, createReadStream, openSync, readSync, statSync } from 'node:fs';
import { open as openFile } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32, createInflateRaw } from 'node:zlib';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';
import { cellText } from '../../domain/import-formats.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';
import { fastCsvLines, lineCells, type CsvLines, type FastCsvState } from './fast-csv.ts';

export interface SourceRow {
  /** The row number a spreadsheet program shows (the header is row 1). */
  row: number;
  cells: string[];
}

/** Rows of a CSV file as lines of its bytes (fast-csv.ts): lines.count - from of them, the first numbered firstRow. */
export interface CsvRows {
  firstRow: number;
  /** The first line of `lines` that belongs to these rows. */
  from: number;
  lines: CsvLines;
}

export type SourceBatch = SourceRow[] | CsvRows;

export interface RowSource {
  file: string;
  totalBytes: number;
  rows: AsyncGenerator<SourceRow>;
  /** The same rows a chunk of the file at a time, far cheaper per row for big files. Read rows, batches or lines, only one. */
  batches: AsyncGenerator<SourceRow[]>;
  /** The same again, a CSV's plain lines left as bytes (see fast-csv.ts), for a reader that can use them. */
  lines: AsyncGenerator<SourceBatch>;
}

/** The rows of a batch, each with its cells. */
export function batchRows(batch: SourceBatch): SourceRow[] {
  if (Array.isArray(batch)) return batch;
  const rows: SourceRow[] = [];
  for (let i = batch.from; i < batch.lines.count; i++) rows.push({ row: batch.firstRow + i - batch.from, cells: lineCells(batch.lines, i) });
  return rows;
}

export type Progress = (doneBytes: number, totalBytes: number) => void;

export function openSource(path: string, onProgress?: Progress): RowSource {
  const file = basename(path);
  const ext = extname(path).toLowerCase();
  if (ext !== '.csv' && ext !== '.xlsx') throw ValidationError.of('import files must be .csv or .xlsx', { file });
  let stat;
  try {
    stat = statSync(path);
  } catch {
    throw new NotFoundError(`file "${path}"`);
  }
  if (!stat.isFile()) throw ValidationError.of('not a file', { file });
  const totalBytes = stat.size;
  sniff(path, file, ext);
  const open = (): Readable => {
    const input = createReadStream(path, { highWaterMark: 256 * 1024 });
    let done = 0;
    if (onProgress) {
      input.on('data', (chunk) => {
        done += chunk.length;
        onProgress(done, totalBytes);
      });
    }
    return input;
  };
  const lines = ext === '.csv' ? csvLines(open, file) : inBatches(xlsxRows(open, file, path));
  const batches = ext === '.csv' ? asRows(csvLines(open, file)) : inBatches(xlsxRows(open, file, path));
  return { file, totalBytes, rows: eachRow(batches), batches, lines };
}

async function* asRows(batches: AsyncGenerator<SourceBatch>): AsyncGenerator<SourceRow[]> {
  for await (const batch of batches) yield batchRows(batch);
}

async function* eachRow(batches: AsyncGenerator<SourceRow[]>): AsyncGenerator<SourceRow> {
  for await (const batch of batches) yield* batch;
}

async function* inBatches(rows: AsyncGenerator<SourceRow>, size = 1000): AsyncGenerator<SourceRow[]> {
  let batch: SourceRow[] = [];
  try {
    for await (const r of rows) {
      batch.push(r);
      if (batch.length >= size) {
        yield batch;
        batch = [];
      }
    }
  } catch (err) {
    // The rows before a bad one are handed over first, as they would be one at a time.
    if (batch.length) yield batch;
    throw err;
  }
  if (batch.length) yield batch;
}

/**
 * CSV through the fast reader (fast-csv.ts) while the file has the usual shape; at the
 * first line it cannot vouch for, csv-parse reads the file again from the start and
 * takes over from the next record, so what comes out is always csv-parse's reading.
 */
async function* csvLines(open: () => Readable, file: string): AsyncGenerator<SourceBatch> {
  const state: FastCsvState = { records: 0, stopped: false };
  let row = 0;
  for await (const lines of fastCsvLines(open(), MAX_RECORD_CHARS, state)) {
    yield { firstRow: row + 1, from: 0, lines };
    row += lines.count;
  }
  if (!state.stopped) return;
  const given = row;
  yield* inBatches(skipRows(csvRows(open, file), given));
}

async function* skipRows(rows: AsyncGenerator<SourceRow>, count: number): AsyncGenerator<SourceRow> {
  for await (const r of rows) if (r.row > count) yield r;
}

/** Refuses, before any parser runs, what is plainly not a UTF-8 CSV or an .xlsx workbook, saying what it is instead. */
function sniff(path: string, file: string, ext: string): void {
  const head = Buffer.alloc(4096);
  const fd = openSync(path, 'r');
  let n: number;
  try {
    n = readSync(fd, head, 0, head.length, 0);
  } finally {
    closeSync(fd);
  }
  const isZip = n >= 4 && head.readUInt32LE(0) === 0x04034b50;
  if (ext === '.xlsx') {
    if (n > 0 && !isZip) throw ValidationError.of('not an Excel .xlsx workbook (an .xlsx file is a zip archive; this one is not)', { file });
    return;
  }
  if (isZip) throw ValidationError.of('not a CSV file: it is a zip archive (an .xlsx workbook named .csv?)', { file });
  if ((head[0] === 0xff && head[1] === 0xfe) || (head[0] === 0xfe && head[1] === 0xff)) {
    throw ValidationError.of('the file is UTF-16 text; save it as "CSV UTF-8"', { file, row: 1 });
  }
  const firstLine = head.subarray(0, n).indexOf(0x0a);
  if (head.subarray(0, firstLine < 0 ? n : firstLine).includes(0)) {
    throw ValidationError.of('the header row contains NUL bytes: this is not UTF-8 text (UTF-16, or a binary file?); save it as "CSV UTF-8"', { file, row: 1 });
  }
}

/** An archive member that unpacks to more than this many times its packed size (and is large) is a zip bomb. */
const MAX_ZIP_RATIO = 100;
const BOMB_MIN_BYTES = 64 * 1024 * 1024;

/**
 * Checks an .xlsx archive before exceljs reads it: every member listed in the central
 * directory (the list at the zip's end) is unpacked once, as a stream, and must match its
 * size and CRC. A damaged member would otherwise stall exceljs' reader for ever, and a
 * member that unpacks to far more than spreadsheets ever do (exceljs keeps shared strings
 * in memory) is refused as a zip bomb; unpacking stops at the size the directory declares.
 */
async function verifyZip(path: string, file: string): Promise<void> {
  const damaged = (why: string) => ValidationError.of(`not a readable .xlsx file: ${why}`, { file });
  const handle = await openFile(path, 'r');
  try {
    const { size } = await handle.stat();
    const tail = Buffer.alloc(Math.min(size, 65_557));
    await handle.read(tail, 0, tail.length, size - tail.length);
    const eocd = tail.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
    if (eocd < 0 || eocd + 22 > tail.length) throw damaged('the zip archive has no directory (truncated?)');
    const [count, cdSize, cdOffset] = [tail.readUInt16LE(eocd + 10), tail.readUInt32LE(eocd + 12), tail.readUInt32LE(eocd + 16)];
    if (cdOffset === 0xffffffff) return; // zip64, past 4 GB: beyond the upload limit; exceljs reports what it cannot read
    if (cdOffset + cdSize > size) throw damaged('the zip directory points past the end of the file');
    const cd = Buffer.alloc(cdSize);
    await handle.read(cd, 0, cdSize, cdOffset);
    for (let i = 0, at = 0; i < count; i++) {
      if (at + 46 > cd.length || cd.readUInt32LE(at) !== 0x02014b50) throw damaged('the zip directory is damaged');
      const nameLength = cd.readUInt16LE(at + 28);
      const member = {
        // Quoted back to staff, so a damaged length must not drag binary bytes into the message.
        name: shortLine(cd.toString('utf8', at + 46, at + 46 + nameLength), 80),
        method: cd.readUInt16LE(at + 10),
        crc: cd.readUInt32LE(at + 16),
        packed: cd.readUInt32LE(at + 20),
        unpacked: cd.readUInt32LE(at + 24),
        offset: cd.readUInt32LE(at + 42),
      };
      at += 46 + nameLength + cd.readUInt16LE(at + 30) + cd.readUInt16LE(at + 32);
      if (member.unpacked > BOMB_MIN_BYTES && member.unpacked > MAX_ZIP_RATIO * Math.max(member.packed, 1)) {
        throw ValidationError.of(`refused: "${member.name}" in this workbook unpacks to ${Math.round(member.unpacked / 1_048_576)} MB from ${Math.round(member.packed / 1024)} KB (a zip bomb?)`, { file });
      }
      const local = Buffer.alloc(30);
      await handle.read(local, 0, 30, member.offset);
      if (local.readUInt32LE(0) !== 0x04034b50) throw damaged(`"${member.name}" is not where the zip directory says`);
      // exceljs reads members by their local headers, so those must agree with the directory.
      const described = (local.readUInt16LE(6) & 8) !== 0 || (local.readUInt32LE(14) === member.crc && local.readUInt32LE(18) === member.packed && local.readUInt32LE(22) === member.unpacked);
      if (!described || local.readUInt16LE(8) !== member.method || local.readUInt16LE(26) !== nameLength) throw damaged(`"${member.name}" does not match the zip directory`);
      const start = member.offset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      if (start + member.packed > size) throw damaged(`"${member.name}" runs past the end of the file (truncated?)`);
      if (member.method !== 0 && member.method !== 8) throw damaged(`"${member.name}" uses an unknown compression method ${member.method}`);
      if (!(await memberIntact(path, start, member))) throw damaged(`"${member.name}" is damaged`);
    }
  } finally {
    await handle.close();
  }
}

/** Unpacks one member as a stream and compares its size and CRC with the directory's; never unpacks past the declared size. */
async function memberIntact(path: string, start: number, m: { method: number; crc: number; packed: number; unpacked: number }): Promise<boolean> {
  if (m.packed === 0) return m.unpacked === 0 && m.method === 0;
  let crc = 0;
  let bytes = 0;
  const tally = new Writable({
    write(chunk: Buffer, _encoding, done) {
      bytes += chunk.length;
      crc = crc32(chunk, crc);
      done(bytes > m.unpacked ? new Error('longer than declared') : null);
    },
  });
  const raw = createReadStream(path, { start, end: start + m.packed - 1 });
  try {
    await (m.method === 8 ? pipeline(raw, createInflateRaw(), tally) : pipeline(raw, tally));
  } catch {
    return false;
  }
  return bytes === m.unpacked && crc >>> 0 === m.crc;
}

/** A record (one row, all its cells) longer than this is refused, so an unclosed quote cannot pull a whole file into memory. */
export const MAX_RECORD_CHARS = 32 * 1024 * 1024;

// The file is opened when the first row is asked for, and the progress listener and the
// parser are attached in the same tick, so no chunk flows past the parser.
async function* csvRows(open: () => Readable, file: string): AsyncGenerator<SourceRow> {
  const input = open();
  // A spreadsheet shows every record as one row, blank lines included, so rows are counted by record.
  const parser = input.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: false, max_record_size: MAX_RECORD_CHARS }));
  input.on('error', (err) => parser.destroy(err));
  let row = 0;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) yield { row: ++row, cells };
  } catch (err) {
    throw ValidationError.of(`not a readable CSV file: ${parserMessage(err)}`, { file, row: row + 1 });
  } finally {
    input.destroy();
  }
}

async function* xlsxRows(open: () => Readable, file: string, path: string): AsyncGenerator<SourceRow> {
  await verifyZip(path, file);
  const input = open();
  // Styles are needed to tell date cells from numbers.
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, { sharedStrings: 'cache', styles: 'cache', hyperlinks: 'ignore', worksheets: 'emit', entries: 'ignore' });
  try {
    for await (const sheet of reader) {
      let header: string[] | undefined;
      for await (const r of sheet) {
        const values = r.values as unknown[];
        const cells: string[] = [];
        for (let i = 1; i < values.length; i++) {
          // Arrears never calculates a formula: it reads the value the spreadsheet saved, or refuses the cell.
          if (isUnsavedFormula(values[i])) {
            const column = header?.[i - 1]?.trim() || columnLetters(i);
            throw ValidationError.of('a formula with no saved value; Arrears does not calculate formulas: save the file from a spreadsheet program, or paste values', { file, row: r.number, column });
          }
          cells.push(cellText(values[i]));
        }
        header ??= cells;
        yield { row: r.number, cells };
      }
      return;
    }
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw ValidationError.of(`not a readable .xlsx file: ${parserMessage(err)}`, { file });
  } finally {
    input.destroy();
  }
}

/**
 * A parser's own message, cut to one short line: an XML parser quotes the damaged bytes
 * back, and a problem list is read by staff, not by a debugger.
 */
export function parserMessage(err: unknown): string {
  return shortLine(err instanceof Error ? err.message : String(err), 200);
}

function shortLine(text: string, max: number): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const line = text.replace(/[\u0000-\u001f\u007f-\u009f]+/g, ' ').replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

function isUnsavedFormula(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || v instanceof Date) return false;
  const o = v as { formula?: unknown; sharedFormula?: unknown; result?: unknown };
  return (o.formula !== undefined || o.sharedFormula !== undefined) && (o.result === undefined || o.result === null);
}

/** 1 → A, 27 → AA: how a spreadsheet names a column with no header. */
function columnLetters(n: number): string {
  let s = '';
  for (let k = n; k > 0; k = Math.floor((k - 1) / 26)) s = String.fromCharCode(65 + ((k - 1) % 26)) + s;
  return s;
}
