// Reads an import file row by row without holding it in memory: csv-parse as a stream
// for .csv, exceljs' streaming WorkbookReader for .xlsx (first worksheet only).
import { createReadStream, statSync } from 'node:fs';
import { basename, extname } from 'node:path';
import type { Readable } from 'node:stream';
import { parse } from 'csv-parse';
import ExcelJS from 'exceljs';
import { cellText } from '../../domain/import-formats.ts';
import { NotFoundError, ValidationError } from '../../domain/errors.ts';

export interface SourceRow {
  /** The row number a spreadsheet program shows (the header is row 1). */
  row: number;
  cells: string[];
}

export interface RowSource {
  file: string;
  totalBytes: number;
  rows: AsyncGenerator<SourceRow>;
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
  const rows = ext === '.csv' ? csvRows(open, file) : xlsxRows(open, file);
  return { file, totalBytes, rows };
}

// The file is opened when the first row is asked for, and the progress listener and the
// parser are attached in the same tick, so no chunk flows past the parser.
async function* csvRows(open: () => Readable, file: string): AsyncGenerator<SourceRow> {
  const input = open();
  // A spreadsheet shows every record as one row, blank lines included, so rows are counted by record.
  const parser = input.pipe(parse({ bom: true, relax_column_count: true, skip_empty_lines: false }));
  input.on('error', (err) => parser.destroy(err));
  let row = 0;
  try {
    for await (const cells of parser as AsyncIterable<string[]>) yield { row: ++row, cells };
  } catch (err) {
    throw ValidationError.of(`not a readable CSV file: ${err instanceof Error ? err.message : String(err)}`, { file, row: row + 1 });
  } finally {
    input.destroy();
  }
}

async function* xlsxRows(open: () => Readable, file: string): AsyncGenerator<SourceRow> {
  const input = open();
  // Styles are needed to tell date cells from numbers.
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, { sharedStrings: 'cache', styles: 'cache', hyperlinks: 'ignore', worksheets: 'emit', entries: 'ignore' });
  try {
    for await (const sheet of reader) {
      for await (const r of sheet) {
        const values = r.values as unknown[];
        const cells: string[] = [];
        for (let i = 1; i < values.length; i++) cells.push(cellText(values[i]));
        yield { row: r.number, cells };
      }
      return;
    }
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw ValidationError.of(`not a readable .xlsx file: ${err instanceof Error ? err.message : String(err)}`, { file });
  } finally {
    input.destroy();
  }
}
