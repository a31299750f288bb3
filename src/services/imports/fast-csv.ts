// A fast reader for the CSV files nearly every export writes: one record per line, lines
// ending in \n or \r\n, quoted cells (with "" for a quote) that close on their own line.
// For such lines it yields exactly the records csv-parse yields with the options
// source.ts uses (bom, relax_column_count, no skipped lines), about five times faster and
// without a JavaScript object per byte. At the first line it cannot vouch for (a quote
// spanning lines, a bare \r, bytes that are not UTF-8, an over-long record, a malformed
// quote) it stops and says how many records it has given, and source.ts lets csv-parse
// carry on from there, so every unusual file reads, or fails, exactly as csv-parse has it.
import type { Readable } from 'node:stream';

const QUOTE = 34;
const COMMA = 44;

export interface FastCsvState {
  /** Records yielded so far. */
  records: number;
  /** Set when the reader stopped before the end: csv-parse must read the rest. */
  stopped: boolean;
}

/**
 * Batches of records (each record its cells), one batch per chunk of the file. When it
 * meets something outside its shape it returns with state.stopped set; the records
 * already yielded are exactly csv-parse's first state.records records.
 */
export async function* fastCsvBatches(input: Readable, maxRecordChars: number, state: FastCsvState): AsyncGenerator<string[][]> {
  // Like csv-parse's bom option, the decoder drops a UTF-8 byte order mark at the start.
  const decoder = new TextDecoder('utf-8');
  let carry = '';
  /** The record delimiter, fixed by the first line break as csv-parse's auto-discovery does. */
  let eol: '\n' | '\r\n' | undefined;
  const emit = (text: string, final: boolean): string[][] | undefined => {
    if (eol === undefined) {
      const at = firstBreak(text);
      if (at < 0) {
        if (!final) return [];
        // One line and no line break: a single record, whatever the delimiter would be.
        eol = '\n';
      } else if (text.charCodeAt(at) === 10) eol = '\n';
      else if (at + 1 < text.length) {
        if (text.charCodeAt(at + 1) !== 10) return undefined; // a bare \r ends lines (old Mac files)
        eol = '\r\n';
      } else if (!final) return [];
      else return undefined;
    }
    const lines = text.split(eol);
    // Past the last line break: kept for the next chunk, or at the end a last line without one.
    const rest = lines.pop()!;
    if (final && rest !== '') lines.push(rest);
    carry = final ? '' : rest;
    const out: string[][] = [];
    for (const line of lines) {
      const cells = line.length * 3 > maxRecordChars ? null : cellsOf(line, eol);
      if (cells === null) {
        state.stopped = true;
        return out;
      }
      out.push(cells);
    }
    return out;
  };
  try {
    for await (const chunk of input as AsyncIterable<Buffer>) {
      const text = carry + decoder.decode(chunk, { stream: true });
      carry = '';
      // A line this long is near csv-parse's record limit (counted in bytes): its call.
      if (text.length * 3 > maxRecordChars && text.indexOf('\n') < 0) {
        state.stopped = true;
        return;
      }
      const out = emit(text, false);
      if (out === undefined) {
        state.stopped = true;
        return;
      }
      // Lines held back for the next chunk do not count until they are yielded.
      if (out.length) {
        state.records += out.length;
        yield out;
      }
      if (state.stopped) return;
      // The unfinished line so far; when the reader waits for the first line break, all of the text.
      if (eol === undefined) carry = text;
    }
    const out = emit(carry + decoder.decode(), true);
    if (out === undefined) {
      state.stopped = true;
      return;
    }
    if (out.length) {
      state.records += out.length;
      yield out;
    }
  } finally {
    input.destroy();
  }
}

function firstBreak(text: string): number {
  const n = text.indexOf('\n');
  const r = text.indexOf('\r');
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
