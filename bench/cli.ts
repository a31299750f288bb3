// How fast the `arrears` command answers, as a person or a cron job sees it: wall time from
// spawning `node bin/arrears.js …` (the compiled build, made first) to its exit, median of 5.
//   - `arrears --help`, beside `node -e 0` (Node's own start);
//   - `arrears patron <id> --json` on PostgreSQL, or on PGlite both ways a command meets a
//     data folder: opening it itself (PostgreSQL in WebAssembly starts in the process), and
//     beside a running `arrears start` that holds it (through the server's socket).
// run.ts calls measureCli on the consortium it loaded; on its own this file loads the demo
// consortium (300 patrons) into a fresh schema, or a fresh PGlite folder in the temporary
// directory (--db pglite), and writes bench/results/cli-<database>.json:
//   npm run bench:cli -- [--db postgres://…|pglite] [--patrons 300]
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { isPostgresUrl, openDatabase, type Database } from '../src/db/connection.ts';
import { backupDatabase, restoreDatabase } from '../src/services/backup.ts';
import { fixedClock } from '../src/services/context.ts';
import { DEMO_AS_OF, loadDemo } from '../src/services/demo.ts';
import { DEFAULT_URL } from './import-charges.ts';

const ROOT = join(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'arrears.js');
const RUNS = 5;

/** The issue's targets, in seconds. */
export const CLI_TARGETS = { help: 0.3, patronPostgres: 0.5, patronPglite: 1.0 };

export interface Series {
  /** Median of the runs' wall times, seconds. */
  median: number;
  runs: number[];
  /**
   * Median CPU time (user + system) of the runs, seconds, when /usr/bin/time is there: what
   * the command costs, far less swayed than wall time by other work on the machine.
   */
  cpuMedian?: number;
}

export interface CliFigures {
  /** `node -e 0`: what any Node command costs on this machine. */
  node: Series;
  help: Series;
  patronId: string;
  /** PostgreSQL: the command connects to the server. */
  patronPostgres?: Series;
  /** PGlite: the command opens the data folder itself. */
  patronPgliteOpened?: Series;
  /** PGlite: `arrears start` holds the folder; the command goes through its socket. */
  patronPgliteBesideServer?: Series;
  targets: { target: string; measured: string; pass: boolean }[];
  loadAverage: { start: number[]; end: number[] };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const seconds = (ms: number) => Math.round(ms) / 1000;

const TIME = '/usr/bin/time';

/** Runs the command RUNS times; fails loudly if it fails, or if it is not the compiled build. */
async function series(command: string, args: string[]): Promise<Series> {
  const runs: number[] = [];
  const cpu: number[] = [];
  const timing = existsSync(TIME) ? join(tmpdir(), `arrears-bench-cpu-${process.pid}.txt`) : null;
  for (let i = 0; i < RUNS; i++) {
    const [file, argv] = timing ? [TIME, ['-o', timing, '-f', '%U %S', command, ...args]] : [command, args];
    const started = performance.now();
    const { stderr } = await promisify(execFile)(file, argv, { cwd: ROOT, maxBuffer: 64 * 1024 * 1024, env: { ...process.env, ARREARS_FROM_SOURCE: '' } });
    runs.push(seconds(performance.now() - started));
    if (stderr.includes('running the TypeScript sources')) throw new Error(`not the compiled build: ${stderr.trim()}`);
    if (timing) {
      const [user = NaN, system = NaN] = readFileSync(timing, 'utf8').trim().split(/\s+/).map(Number);
      cpu.push(Math.round((user + system) * 100) / 100);
    }
  }
  if (timing) rmSync(timing, { force: true });
  return { median: median(runs), runs, ...(timing ? { cpuMedian: median(cpu) } : {}) };
}

const show = (s: Series) => `${s.median.toFixed(3)} s (runs ${s.runs.map((r) => r.toFixed(2)).join(', ')}${s.cpuMedian === undefined ? '' : `; CPU ${s.cpuMedian.toFixed(2)} s`})`;

/** `arrears start` on the folder, until stop() (SIGTERM, by pid). */
async function serve(folder: string): Promise<{ stop(): Promise<void> }> {
  const server = spawn(process.execPath, [BIN, '--db', folder, 'start', '--port', '0'], { cwd: ROOT, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr.on('data', (b: Buffer) => (log += b.toString()));
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setInterval(() => {
      if (log.includes('run through this server')) {
        clearInterval(timer);
        resolve();
      }
    }, 50);
    void exited.then(() => {
      clearInterval(timer);
      reject(new Error(`arrears start exited: ${log}`));
    });
  });
  return {
    async stop() {
      server.kill('SIGTERM');
      await exited;
    },
  };
}

/** The patron with the most charges: the longest ledger to read and print. */
export async function busiestPatron(db: Database['db']): Promise<string> {
  const { rows } = await sql<{ id: string }>`select patron_id as id from charges group by patron_id order by count(*) desc, patron_id limit 1`.execute(db);
  if (!rows[0]) throw new Error('the database has no charges');
  return rows[0].id;
}

/** The URL a command uses for this schema of a PostgreSQL database. */
export function schemaUrl(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.toString();
}

/**
 * Times the command against `target`: a PostgreSQL URL (schema in its options) or a PGlite
 * data folder no process holds. Builds dist/ first, so the figures are of this code.
 */
export async function measureCli(target: string, patronId: string, log: (line: string) => void = console.log): Promise<CliFigures> {
  const loadStart = loadavg().map((l) => Number(l.toFixed(2)));
  await promisify(execFile)(process.execPath, [join(ROOT, 'scripts', 'build.js')], { cwd: ROOT });
  const figures: CliFigures = {
    node: await series(process.execPath, ['-e', '0']),
    help: await series(process.execPath, [BIN, '--help']),
    patronId,
    targets: [],
    loadAverage: { start: loadStart, end: [] },
  };
  log(`CLI, median of ${RUNS} (wall time of the whole process, compiled build):`);
  log(`  node -e 0                                      ${show(figures.node)}`);
  log(`  arrears --help                                 ${show(figures.help)}`);
  const patron = [BIN, '--db', target, 'patron', patronId, '--json'];
  const checks = figures.targets;
  checks.push({ target: `arrears --help ≤ ${CLI_TARGETS.help} s`, measured: `${figures.help.median.toFixed(3)} s`, pass: figures.help.median <= CLI_TARGETS.help });
  if (isPostgresUrl(target)) {
    figures.patronPostgres = await series(process.execPath, patron);
    log(`  arrears patron ${patronId} --json, PostgreSQL     ${show(figures.patronPostgres)}`);
    const m = figures.patronPostgres.median;
    checks.push({ target: `arrears patron <id> --json ≤ ${CLI_TARGETS.patronPostgres} s on PostgreSQL`, measured: `${m.toFixed(3)} s`, pass: m <= CLI_TARGETS.patronPostgres });
  } else {
    figures.patronPgliteOpened = await series(process.execPath, patron);
    log(`  arrears patron ${patronId} --json, PGlite folder opened by the command   ${show(figures.patronPgliteOpened)}`);
    const server = await serve(target);
    try {
      figures.patronPgliteBesideServer = await series(process.execPath, patron);
    } finally {
      await server.stop();
    }
    log(`  arrears patron ${patronId} --json, PGlite folder held by arrears start  ${show(figures.patronPgliteBesideServer)}`);
    for (const [how, s] of [
      ['opening the folder', figures.patronPgliteOpened],
      ['beside arrears start', figures.patronPgliteBesideServer],
    ] as const) {
      checks.push({ target: `arrears patron <id> --json ≤ ${CLI_TARGETS.patronPglite} s on PGlite, ${how}`, measured: `${s.median.toFixed(3)} s`, pass: s.median <= CLI_TARGETS.patronPglite });
    }
  }
  figures.loadAverage.end = loadavg().map((l) => Number(l.toFixed(2)));
  for (const k of checks) log(`target ${k.pass ? 'PASS' : 'MISS'}: ${k.target} — measured ${k.measured}`);
  return figures;
}

/**
 * The bench's open database as a target for the command: PostgreSQL as it is (its schema in
 * the URL), PGlite copied into a fresh folder (backup and restore), since the bench holds
 * its own folder, or has none (memory://). `done` removes the copy.
 */
export async function cliTarget(database: Database, url: string, schema: string | undefined, dir: string): Promise<{ target: string; done(): Promise<void> }> {
  if (database.kind === 'postgres') return { target: schema ? schemaUrl(url, schema) : url, done: async () => undefined };
  const file = join(dir, 'cli-copy.tar.gz');
  const folder = join(dir, 'cli-copy');
  await backupDatabase(database, file);
  await restoreDatabase(file, folder);
  await rm(file, { force: true });
  return { target: folder, done: () => rm(folder, { recursive: true, force: true }) };
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const url = argValue('--db') ?? DEFAULT_URL;
  const patrons = Number(argValue('--patrons') ?? 300);
  const postgres = isPostgresUrl(url);
  if (!postgres && url !== 'pglite') throw new Error('--db takes a postgres:// URL, or pglite for a fresh PGlite folder');
  if (!Number.isSafeInteger(patrons) || patrons < 1) throw new Error('--patrons must be a positive whole number');
  const schema = postgres ? `bench_cli_${randomBytes(4).toString('hex')}` : undefined;
  const dir = await mkdtemp(join(tmpdir(), 'arrears-bench-cli-'));
  const folder = postgres ? url : join(dir, 'data');
  try {
    const database = await openDatabase({ url: folder, schema });
    let patronId: string;
    try {
      await loadDemo({ database, clock: fixedClock(`${DEMO_AS_OF}T12:00:00Z`), actor: 'bench' }, { patrons, seed: 1, asOf: DEMO_AS_OF });
      patronId = await busiestPatron(database.db);
    } finally {
      await database.close();
    }
    console.log(`Arrears CLI benchmark: demo consortium of ${patrons} patrons on ${postgres ? 'PostgreSQL' : 'PGlite'}, ${cpus().length} cores`);
    const figures = await measureCli(schema ? schemaUrl(url, schema) : folder, patronId);
    const out = join(import.meta.dirname, 'results');
    await mkdir(out, { recursive: true });
    const path = join(out, `cli-${postgres ? 'postgres' : 'pglite-folder'}.json`);
    await writeFile(path, JSON.stringify({ database: postgres ? 'postgres' : 'pglite-folder', patrons, nodeVersion: process.version, cores: cpus().length, ...figures }, null, 2) + '\n');
    console.log(`\nwrote ${path}`);
  } finally {
    if (schema) {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.end();
    }
    await rm(dir, { recursive: true, force: true });
  }
}
