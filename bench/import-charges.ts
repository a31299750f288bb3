// Import benchmark: a synthetic charges file of N rows (1,000,000 by default), with the
// libraries and patrons it refers to imported first, loaded through the same importFile
// a library's nightly script uses. PostgreSQL by default, in a fresh schema dropped after.
//   npx tsx bench/import-charges.ts [--rows 1000000] [--db postgres://…|memory://]
import { once } from 'node:events';
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, isPostgresUrl, type Database } from '../src/db/connection.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { importFile } from '../src/services/imports.ts';

export const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface BenchImportChargesOptions {
  url?: string;
  rows?: number;
  /** Patrons the charges are spread over (default rows / 10). */
  patrons?: number;
  log?: (line: string) => void;
}

export interface BenchImportChargesResult {
  database: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  fileBytes: number;
}

const ZONES = ['America/Chicago', 'America/New_York', 'America/Denver', 'America/Los_Angeles', 'America/Phoenix', 'America/Anchorage', 'Pacific/Honolulu', 'America/Detroit'];
const REASONS = ['overdue', 'replacement', 'processing', 'manual', 'damage'];

/** Writes lines through a stream, waiting when it is full, so any size stays in constant memory. */
async function writeCsv(path: string, header: string, count: number, line: (i: number) => string): Promise<number> {
  const out = createWriteStream(path);
  let chunk = header + '\n';
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    chunk += line(i) + '\n';
    if (chunk.length > 1 << 20) {
      bytes += Buffer.byteLength(chunk);
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  bytes += Buffer.byteLength(chunk);
  out.end(chunk);
  await once(out, 'finish');
  return bytes;
}

const pad2 = (n: number) => String(n).padStart(2, '0');

export async function writeBenchFiles(dir: string, rows: number, patrons: number): Promise<{ libraries: string; patrons: string; charges: string; chargesBytes: number }> {
  const files = { libraries: join(dir, 'libraries.csv'), patrons: join(dir, 'patrons.csv'), charges: join(dir, 'charges.csv') };
  await writeCsv(files.libraries, 'code,name,time_zone', ZONES.length, (i) => `L${i},Branch ${i},${ZONES[i]}`);
  await writeCsv(
    files.patrons,
    'id,barcode,first_name,last_name,address,city,state,postal_code,phone,email,birth_date,home_library,ptype,patron_code',
    patrons,
    (i) => `P${i},2100${i},Pat,Ron${i},${i} Main St,Springfield,IL,62701,217-555-0100,p${i}@example.org,1980-05-01,L${i % ZONES.length},${1 + (i % 5)},ADULT`,
  );
  // Wall-clock times without an offset, as ILS exports have them: each is read in its library's zone.
  const chargesBytes = await writeCsv(files.charges, 'id,patron_id,item_id,library,reason,amount,assessed_at', rows, (i) => {
    const day = i % 730;
    const month = 1 + Math.floor((day % 365) / 31);
    const dom = 1 + ((day * 7) % 28);
    const year = 2014 + Math.floor(day / 365);
    return `C${i},P${(i * 7919) % patrons},,L${i % ZONES.length},${REASONS[i % REASONS.length]},${1 + (i % 90)}.${pad2(i % 100)},${year}-${pad2(month)}-${pad2(dom)}T${pad2(i % 24)}:${pad2(i % 60)}:00`;
  });
  return { ...files, chargesBytes };
}

export async function benchImportCharges(options: BenchImportChargesOptions = {}): Promise<BenchImportChargesResult> {
  const url = options.url ?? DEFAULT_URL;
  const rows = options.rows ?? 1_000_000;
  const patrons = options.patrons ?? Math.max(1, Math.floor(rows / 10));
  const log = options.log ?? (() => undefined);
  const dir = mkdtempSync(join(tmpdir(), 'arrears-bench-'));
  const schema = isPostgresUrl(url) ? `bench_${randomBytes(4).toString('hex')}` : undefined;
  let database: Database | undefined;
  try {
    log(`writing ${rows} charges for ${patrons} patrons to ${dir}`);
    const files = await writeBenchFiles(dir, rows, patrons);
    database = await openDatabase({ url, schema });
    const ctx: Context = { database, clock: fixedClock('2016-01-01T12:00:00Z'), actor: 'bench' };
    await importFile(ctx, 'libraries', files.libraries);
    let t = performance.now();
    await importFile(ctx, 'patrons', files.patrons);
    log(`patrons: ${patrons} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    t = performance.now();
    const result = await importFile(ctx, 'charges', files.charges);
    const seconds = (performance.now() - t) / 1000;
    if (result.inserted !== rows) throw new Error(`expected ${rows} charges inserted, got ${result.inserted}`);
    return { database: database.location, rows, seconds, rowsPerSecond: Math.round(rows / seconds), fileBytes: files.chargesBytes };
  } finally {
    await database?.close();
    if (schema) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const rows = Number(argValue('--rows') ?? 1_000_000);
  if (!Number.isSafeInteger(rows) || rows < 1) throw new Error('--rows must be a positive whole number');
  const r = await benchImportCharges({ url: argValue('--db') ?? DEFAULT_URL, rows, log: (l) => console.error(l) });
  console.log(`charges import on ${r.database}: ${r.rows} rows (${(r.fileBytes / 1_048_576).toFixed(1)} MB) in ${r.seconds.toFixed(1)} s = ${r.rowsPerSecond} rows/s`);
}
