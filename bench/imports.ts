// How close each import comes to COPY, and what a re-import of the same file costs (issue 17),
// on the consortium run.ts loaded:
//   - the floor: COPY of the same CSV into a plain table with a primary key (PostgreSQL only);
//   - an unchanged re-import of every file, then one with 1 % of the rows changed, three times
//     each (alternating), judged by their medians.
// The re-imports run after everything else the benchmark measures: the 1 % changed rows stay.
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parse } from 'csv-parse';
import { stringify } from 'csv-stringify';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../src/db/connection.ts';
import type { ImportKind } from '../src/domain/import-formats.ts';
import { formatMoney, parseMoney } from '../src/domain/money.ts';
import type { Context } from '../src/services/context.ts';
import { importFile, type ImportPhase, type ImportResult } from '../src/services/imports.ts';

export const IMPORT_TARGETS = { overFloor: 0.5, unchangedRowsPerSecond: 300_000, changedOverUnchanged: 1.2 };
/** Times each re-import runs (unchanged, then 1 % changed): one run of a few seconds is at the mercy of the machine. */
const ROUNDS = 3;
/** Files this short are timed mostly by the import's fixed costs: listed, not judged. */
const MIN_ROWS = 1000;

export interface KindFigures {
  rows: number;
  importSeconds: number;
  rowsPerSecond: number;
  floorSeconds?: number;
  floorRowsPerSecond?: number;
  unchangedSeconds: number;
  unchangedRowsPerSecond: number;
  unchangedPhases?: ImportPhases;
  /** Seconds of each unchanged re-import; unchangedSeconds is their median. */
  unchangedRuns?: number[];
  changedRows: number;
  changedSeconds: number;
  changedPhases?: ImportPhases;
  /** Seconds of each 1 %-changed re-import; changedSeconds is their median. */
  changedRuns?: number[];
}

export interface ImportFigures {
  kinds: Partial<Record<ImportKind, KindFigures>>;
  targets: { target: string; measured: string; pass: boolean }[];
}

export interface ImportedFile {
  kind: ImportKind;
  path: string;
  rows: number;
  /** Seconds the first import of the file took. */
  seconds: number;
}

/** The names on a benchmark file's first line (never quoted). */
async function headerOf(path: string): Promise<string[]> {
  const handle = await open(path);
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    return buffer.subarray(0, bytesRead).toString('utf8').split('\n')[0]!.split(',');
  } finally {
    await handle.close();
  }
}

/** COPY of the file into a plain table of text columns keyed as the kind is: the least a load of it costs. */
export async function copyFloor(database: Database, file: ImportedFile): Promise<number> {
  if (!database.pool) throw new Error('the COPY floor needs PostgreSQL');
  const header = await headerOf(file.path);
  const key = file.kind === 'libraries' ? 'code' : 'id';
  const table = `bench_floor_${file.kind}`;
  const client = await database.pool.connect();
  try {
    await client.query(`create table ${table} (${header.map((c) => `"${c}" text`).join(', ')}, primary key ("${key}"))`);
    const t = performance.now();
    await pipeline(createReadStream(file.path), client.query(copyFrom(`copy ${table} from stdin with (format csv, header true)`)));
    return Math.round(performance.now() - t) / 1000;
  } finally {
    await client.query(`drop table if exists ${table}`);
    client.release();
  }
}

/** One row in a hundred changed in a column that is no key and breaks no rule (amounts only go up). */
const CHANGE: Record<ImportKind, (row: Record<string, string>) => void> = {
  libraries: (r) => (r.name += ' (renamed)'),
  patrons: (r) => (r.last_name += '-Smith'),
  items: (r) => (r.title += ' (2nd ed.)'),
  charges: (r) => (r.amount = formatMoney(parseMoney(r.amount!)! + 1)),
  payments: (r) => (r.method += ' (corrected)'),
};

/**
 * The file again `rounds` times, the k-th with every hundredth row changed k times (so each
 * copy, imported after the one before it, changes 1 % of the rows again, and amounts only go
 * up); read once. Returns their paths and how many rows each changes.
 */
async function changedCopies(file: ImportedFile, dir: string, rounds: number): Promise<{ paths: string[]; changed: number }> {
  const paths = Array.from({ length: rounds }, (_, k) => join(dir, `${file.kind}-1pc-${k + 1}.csv`));
  const columns = await headerOf(file.path);
  const outs = paths.map((path) => {
    const out = stringify({ header: true, columns });
    return { out, done: pipeline(out, createWriteStream(path)) };
  });
  let i = 0;
  let changed = 0;
  for await (const row of createReadStream(file.path).pipe(parse({ columns: true })) as AsyncIterable<Record<string, string>>) {
    const change = i++ % 100 === 0;
    if (change) changed++;
    for (const { out } of outs) {
      if (change) CHANGE[file.kind](row);
      // Backpressure: wait for the writer when its buffer is full.
      if (!out.write({ ...row })) await new Promise((resolve) => out.once('drain', resolve));
    }
  }
  for (const { out } of outs) out.end();
  await Promise.all(outs.map((o) => o.done));
  return { paths, changed };
}

/** Seconds in each phase of an import (reading the file, checking, writing), in their order. */
export type ImportPhases = Partial<Record<ImportPhase, number>>;

async function timedImport(ctx: Context, kind: ImportKind, path: string): Promise<{ result: ImportResult; seconds: number; phases: ImportPhases }> {
  const t = performance.now();
  const phases: ImportPhases = {};
  let current: { phase: ImportPhase; at: number } | undefined;
  const close = (now: number) => {
    if (current) phases[current.phase] = Math.round(now - current.at) / 1000;
  };
  const result = await importFile(ctx, kind, path, {
    onPhase: (phase) => {
      const now = performance.now();
      close(now);
      current = { phase, at: now };
    },
  });
  close(performance.now());
  return { result, seconds: Math.round(performance.now() - t) / 1000, phases };
}

/** Checkpoints the server has begun so far (PostgreSQL): one during a timed import writes beside it. */
async function checkpoints(ctx: Context): Promise<number | undefined> {
  if (!ctx.database.pool) return undefined;
  const r = await ctx.database.pool.query<{ n: string }>('select (checkpoints_timed + checkpoints_req)::text as n from pg_stat_bgwriter');
  return Number(r.rows[0]?.n ?? 0);
}

/** The import, and how many checkpoints the server began while it ran. */
async function importBeside(ctx: Context, kind: ImportKind, path: string) {
  const before = await checkpoints(ctx);
  const timed = await timedImport(ctx, kind, path);
  const after = await checkpoints(ctx);
  return { ...timed, checkpoints: before === undefined || after === undefined ? undefined : after - before };
}

const phaseText = (p: ImportPhases) => (Object.entries(p) as [ImportPhase, number][]).map(([name, s]) => `${name} ${s.toFixed(2)}`).join(', ');

type Timed = Awaited<ReturnType<typeof importBeside>>;

/** The run of median time (of an odd number of runs). */
function median(runs: readonly Timed[]): Timed {
  return [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)]!;
}

const seconds = (runs: readonly Timed[]) => runs.map((r) => r.seconds.toFixed(2)).join(', ');

const rate = (rows: number, seconds: number) => Math.round(rows / Math.max(seconds, 0.001));

export async function measureImports(ctx: Context, files: readonly ImportedFile[], dir: string, log: (line: string) => void): Promise<ImportFigures> {
  const kinds: ImportFigures['kinds'] = {};
  const postgres = Boolean(ctx.database.pool);
  for (const f of files) {
    const floorSeconds = postgres ? await copyFloor(ctx.database, f) : undefined;
    // Each re-import a few times, alternating: the file as imported (unchanged), then a copy with
    // 1 % of its rows changed, then that copy again (unchanged)... The median of each is judged.
    const copies = await changedCopies(f, dir, ROUNDS);
    const unchangedRuns: Timed[] = [];
    const changedRuns: Timed[] = [];
    let current = f.path;
    for (const path of copies.paths) {
      const u = await importBeside(ctx, f.kind, current);
      if (u.result.unchanged !== f.rows) throw new Error(`${f.kind}: the re-import found ${u.result.unchanged} of ${f.rows} rows unchanged`);
      const c = await importBeside(ctx, f.kind, path);
      if (c.result.updated !== copies.changed) throw new Error(`${f.kind}: ${copies.changed} rows changed, the re-import updated ${c.result.updated}`);
      unchangedRuns.push(u);
      changedRuns.push(c);
      current = path;
    }
    const unchanged = median(unchangedRuns);
    const changed = median(changedRuns);
    const copy = { changed: copies.changed };
    kinds[f.kind] = {
      rows: f.rows,
      importSeconds: f.seconds,
      rowsPerSecond: rate(f.rows, f.seconds),
      ...(floorSeconds === undefined ? {} : { floorSeconds, floorRowsPerSecond: rate(f.rows, floorSeconds) }),
      unchangedSeconds: unchanged.seconds,
      unchangedRowsPerSecond: rate(f.rows, unchanged.seconds),
      unchangedPhases: unchanged.phases,
      unchangedRuns: unchangedRuns.map((r) => r.seconds),
      changedRows: copy.changed,
      changedSeconds: changed.seconds,
      changedPhases: changed.phases,
      changedRuns: changedRuns.map((r) => r.seconds),
    };
    const k = kinds[f.kind]!;
    log(
      `import ${f.kind.padEnd(9)} ${String(f.rows).padStart(8)} rows: ${String(k.rowsPerSecond).padStart(7)} rows/s` +
        (k.floorRowsPerSecond === undefined ? '' : ` (COPY floor ${k.floorRowsPerSecond} rows/s, ${(k.rowsPerSecond / k.floorRowsPerSecond).toFixed(2)} ×)`) +
        `; unchanged again ${k.unchangedRowsPerSecond} rows/s (median ${k.unchangedSeconds.toFixed(2)} s of ${seconds(unchangedRuns)}); 1 % changed median ${k.changedSeconds.toFixed(2)} s (of ${seconds(changedRuns)})`,
    );
    const during = (c: number | undefined) => (c ? ` (${c} checkpoint${c > 1 ? 's' : ''} began meanwhile)` : '');
    log(`  by phase: unchanged ${phaseText(unchanged.phases)}${during(unchanged.checkpoints)}; 1 % changed ${phaseText(changed.phases)}${during(changed.checkpoints)}`);
  }
  const targets: ImportFigures['targets'] = [];
  for (const [kind, k] of Object.entries(kinds) as [ImportKind, KindFigures][]) {
    if (k.rows < MIN_ROWS) continue;
    if (k.floorRowsPerSecond !== undefined) {
      const ratio = k.rowsPerSecond / k.floorRowsPerSecond;
      targets.push({ target: `import ${kind} ≥ ${IMPORT_TARGETS.overFloor} × its COPY floor`, measured: `${k.rowsPerSecond} rows/s, ${ratio.toFixed(2)} × ${k.floorRowsPerSecond}`, pass: ratio >= IMPORT_TARGETS.overFloor });
    }
    targets.push({ target: `unchanged re-import of ${kind} ≥ ${IMPORT_TARGETS.unchangedRowsPerSecond} rows/s`, measured: `${k.unchangedRowsPerSecond} rows/s`, pass: k.unchangedRowsPerSecond >= IMPORT_TARGETS.unchangedRowsPerSecond });
    const over = k.changedSeconds / k.unchangedSeconds;
    targets.push({ target: `1 %-changed re-import of ${kind} ≤ ${IMPORT_TARGETS.changedOverUnchanged} × unchanged`, measured: `${k.changedSeconds.toFixed(2)} s, ${over.toFixed(2)} ×`, pass: over <= IMPORT_TARGETS.changedOverUnchanged });
  }
  return { kinds, targets };
}
