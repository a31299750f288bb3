// A fast reader for the CSV files nearly every export writes: one record per line, lines
// ending in \n or \r\n, quoted cells (with "" for a quote) that close on their own line.
// For such lines it yields exactly the records csv-parse yields with the options
// source.ts uses (bom, relax_column_count, no skipped lines), about five times faster and
// without a JavaScript object per byte. At the first line it cannot vouch for (a quote
// spanning lines, a bare \r, bytes that are not UTF-8, an over-long record, a malformed
// quote) it stops and says how many records it has given, and source.ts lets csv-parse
// carry on from there, so every unusual file reads, or fails, exactly as csv-parse has it.
//
// It works on the file's bytes: a line without a stray \r, in a stretch of the file that is
// valid UTF-8, is handed over as its bytes (the importer writes most of them straight into
// COPY text, never making a string of them), its quotes checked here and marked (QUOTED); any
// other line is decoded and split into its cells here.
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';

const QUOTE = 34;
const COMMA = 44;
const CR = 13;
const LF = 10;
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
/** U+FFFD as UTF-8: a line holding it is csv-parse's call (see cellsOf). */
const REPLACEMENT = Buffer.from([0xef, 0xbf, 0xbd]);

export interface FastCsvState {
  /** Records yielded so far. */
  records: number;
  /** Set when the reader stopped before the end: csv-parse must read the rest. */
  stopped: boolean;
}

/** Lines of a chunk of the file, each one record. */
export interface CsvLines {
  /** The bytes the lines are in. */
  buf: Buffer;
  /** Line i is buf[spans[2i], spans[2i + 1]), without its line break. */
  spans: Int32Array;
  /**
   * Line i's cells when the reader decoded it (a stretch that is not plain UTF-8, a long line);
   * undefined: its bytes are valid UTF-8 cells separated by commas, no quotes; QUOTED: valid
   * UTF-8 cells, some in quotes, each closing on the line before a comma or the line's end.
   */
  cells: (string[] | typeof QUOTED | undefined)[];
  count: number;
}

/** Marks a line of plain bytes with quoted cells (see CsvLines.cells). */
export const QUOTED = null;

/** The cells of line i, decoded when the reader left it as bytes. */
export function lineCells(lines: CsvLines, i: number): string[] {
  const cells = lines.cells[i];
  if (cells) return cells;
  const line = lines.buf.toString('utf8', lines.spans[2 * i], lines.spans[2 * i + 1]);
  return cells === QUOTED ? quotedCells(line)! : line.split(',');
}

/**
 * Batches of records (each record its cells), one batch per chunk of the file. When it
 * meets something outside its shape it returns with state.stopped set; the records
 * already yielded are exactly csv-parse's first state.records records.
 */
export async function* fastCsvBatches(input: Readable, maxRecordChars: number, state: FastCsvState): AsyncGenerator<string[][]> {
  for await (const lines of fastCsvLines(input, maxRecordChars, state)) {
    const out: string[][] = new Array(lines.count);
    for (let i = 0; i < lines.count; i++) out[i] = lineCells(lines, i);
    yield out;
  }
}

/** fastCsvBatches' records as lines of bytes, one batch per chunk of the file. */
export async function* fastCsvLines(input: Readable, maxRecordChars: number, state: FastCsvState): AsyncGenerator<CsvLines> {
  let carry: Buffer | undefined;
  let started = false;
  /** The record delimiter, fixed by the first line break as csv-parse's auto-discovery does. */
  let eol: '\n' | '\r\n' | undefined;
  /** The lines of `text` up to its last line break (all of it when final), or undefined: stop here. */
  const emit = (text: Buffer, final: boolean): CsvLines | undefined => {
    if (eol === undefined) {
      const at = firstBreak(text);
      if (at < 0) {
        if (!final) return none(text);
        // One line and no line break: a single record, whatever the delimiter would be.
        eol = '\n';
      } else if (text[at] === LF) eol = '\n';
      else if (at + 1 < text.length) {
        if (text[at + 1] !== LF) return undefined; // a bare \r ends lines (old Mac files)
        eol = '\r\n';
      } else if (!final) return none(text);
      else return undefined;
    }
    const last = text.lastIndexOf(LF);
    // Past the last line break: kept for the next chunk, or at the end a last line without one.
    const end = final ? text.length : last + 1;
    carry = final || end === text.length ? undefined : text.subarray(end);
    const whole = text.subarray(0, end);
    // Plain when every line of it is: valid UTF-8 (what the decoder would otherwise replace) without U+FFFD.
    const plain = isUtf8(whole) && whole.indexOf(REPLACEMENT) < 0;
    const out: CsvLines = { buf: text, spans: new Int32Array(2048), cells: [], count: 0 };
    let from = 0;
    let quote = text.indexOf(QUOTE);
    let cr = text.indexOf(CR);
    while (from < end) {
      let lf = text.indexOf(LF, from);
      if (lf < 0 || lf >= end) lf = end;
      let to = lf;
      if (eol === '\r\n' && lf < end) {
        // A \n without its \r is inside a line: csv-parse's call.
        if (to === from || text[to - 1] !== CR) return stopAt(out);
        to--;
      }
      while (quote >= 0 && quote < from) quote = text.indexOf(QUOTE, from);
      while (cr >= 0 && cr < from) cr = text.indexOf(CR, from);
      const bytes = to - from;
      let cells: string[] | typeof QUOTED | undefined;
      if (plain && quote >= 0 && quote < to && !(cr >= 0 && cr < to) && bytes * 3 <= maxRecordChars) {
        // Quoted cells are read where they are, their line left as bytes (quotedLine is quotedCells).
        if (!quotedLine(text, from, to)) return stopAt(out);
        cells = QUOTED;
      } else if (!plain || (quote >= 0 && quote < to) || (cr >= 0 && cr < to) || bytes * 3 > maxRecordChars) {
        const line = text.toString('utf8', from, to);
        const c = line.length * 3 > maxRecordChars ? null : cellsOf(line, eol);
        if (c === null) return stopAt(out);
        cells = c;
      }
      add(out, from, to, cells);
      from = lf + 1;
    }
    return out;
  };
  const stopAt = (out: CsvLines): CsvLines => {
    state.stopped = true;
    return out;
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      let text = carry ? Buffer.concat([carry, chunk]) : chunk;
      carry = undefined;
      // Like csv-parse's bom option, a UTF-8 byte order mark at the start is dropped.
      if (!started) {
        if (text.length < BOM.length && BOM.subarray(0, text.length).equals(text)) {
          carry = text;
          continue;
        }
        started = true;
        if (text.subarray(0, BOM.length).equals(BOM)) text = text.subarray(BOM.length);
      }
      // A line this long is near csv-parse's record limit (counted in bytes): its call.
      if (text.length > maxRecordChars / 3 && text.indexOf(LF) < 0) {
        state.stopped = true;
        return;
      }
      const out = emit(text, false);
      if (out === undefined) {
        state.stopped = true;
        return;
      }
      // Lines held back for the next chunk do not count until they are yielded.
      if (out.count) {
        state.records += out.count;
        yield out;
      }
      if (state.stopped) return;
    }
    const text = carry ?? Buffer.alloc(0);
    carry = undefined;
    const out = emit(started || !text.subarray(0, BOM.length).equals(BOM) ? text : text.subarray(BOM.length), true);
    if (out === undefined) {
      state.stopped = true;
      return;
    }
    if (out.count) {
      state.records += out.count;
      yield out;
    }
  } finally {
    input.destroy();
  }

  /** No line yet (waiting for the first line break): all of the text is kept. */
  function none(text: Buffer): CsvLines {
    carry = text;
    return { buf: text, spans: new Int32Array(0), cells: [], count: 0 };
  }
}

function add(out: CsvLines, from: number, to: number, cells: string[] | typeof QUOTED | undefined): void {
  if (2 * out.count + 2 > out.spans.length) {
    const spans = new Int32Array(out.spans.length * 2);
    spans.set(out.spans);
    out.spans = spans;
  }
  out.spans[2 * out.count] = from;
  out.spans[2 * out.count + 1] = to;
  if (cells !== undefined) out.cells[out.count] = cells;
  out.count++;
}

function firstBreak(text: Buffer): number {
  const n = text.indexOf(LF);
  const r = text.indexOf(CR);
  if (r < 0) return n;
  return n < 0 ? r : Math.min(n, r);
}

/** The cells of one line, or null when csv-parse might read it differently. */
function cellsOf(line: string, eol: '\n' | '\r\n'): string[] | null {
  // A break character inside a line belongs to a cell (or a quote across lines): csv-parse's call.
  if (line.indexOf('\r') >= 0 || (eol === '\r\n' && line.indexOf('\n') >= 0)) return null;
  // What the decoder makes of bytes that are not UTF-8 may differ from csv-parse's per-cell decoding.
  if (line.indexOf('\uFFFD') >= 0) return null;
  if (line.indexOf('"') < 0) return line.split(',');
  return quotedCells(line);
}

/**
 * Whether the line buf[from, to) (valid UTF-8, where a quote or comma byte is always that
 * character) is one quotedCells reads, without decoding it.
 */
export function quotedLine(buf: Buffer, from: number, to: number): boolean {
  let i = from;
  for (;;) {
    if (i < to && buf[i] === QUOTE) {
      let q = i + 1;
      for (;;) {
        while (q < to && buf[q] !== QUOTE) q++;
        if (q === to) return false; // the quote closes on a later line
        if (q + 1 < to && buf[q + 1] === QUOTE) {
          q += 2;
          continue;
        }
        break;
      }
      i = q + 1;
      if (i === to) return true;
      if (buf[i] !== COMMA) return false; // text after a closing quote: csv-parse's error
      i++;
    } else {
      let end = i;
      while (end < to && buf[end] !== COMMA) {
        if (buf[end] === QUOTE) return false; // a quote inside an unquoted cell: csv-parse's error
        end++;
      }
      if (end === to) return true;
      i = end + 1;
    }
  }
}

/** A line with quotes: each quoted cell opens at the cell's start and closes before a comma or the line's end. */
function quotedCells(line: string): string[] | null {
  const cells: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === QUOTE) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = line.indexOf('"', from);
        if (q < 0) return null; // the quote closes on a later line
        if (line.charCodeAt(q + 1) === QUOTE) {
          value += line.slice(from, q + 1);
          from = q + 2;
          continue;
        }
        value += line.slice(from, q);
        i = q + 1;
        break;
      }
      cells.push(value);
      if (i === n) return cells;
      if (line.charCodeAt(i) !== COMMA) return null; // text after a closing quote: csv-parse's error
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      const cell = line.slice(i, end);
      if (cell.indexOf('"') >= 0) return null; // a quote inside an unquoted cell: csv-parse's error
      cells.push(cell);
      if (comma < 0) return cells;
      i = comma + 1;
    }
  }
}
