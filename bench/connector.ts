// What the Koha and Evergreen benchmarks share: once the ILS's tables hold the demo consortium
// and Arrears has a connector to them, the same three figures are measured the same way:
//   (f) a full sync, in ledger rows per second;
//   (g) an incremental sync after 10,000 changed rows (5,000 desk payments);
//   (h) write-backs of a full run's referrals, per 1,000.
// The ILS's balances are checked against Arrears's after each sync, before the figures count.
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Database } from '../src/db/connection.ts';
import { formatMoney } from '../src/domain/money.ts';
import { addAgency } from '../src/services/agencies.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { DEMO_AS_OF, demoAgencies, demoSettings } from '../src/services/demo.ts';
import { runReport } from '../src/services/runs.ts';
import { importSettings } from '../src/services/settings.ts';
import { syncConnector } from '../src/services/sync.ts';
import { applyWritebacks } from '../src/services/writeback.ts';
import { vacuumSchema } from './vacuum.ts';

export const SIZES = { small: 10_000, medium: 100_000 } as const;
export type Size = keyof typeof SIZES;
const TARGETS = { fullSyncRowsPerSecond: 100_000, incrementalSeconds: 2, writebacksPer1000Seconds: 5 };

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
}

export function sizeArg(): Size {
  const size = arg('--size', 'medium');
  if (!(size in SIZES)) throw new Error(`unknown size ${size}; small or medium`);
  return size as Size;
}

export async function timed<T>(label: string, work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const t = performance.now();
  const value = await work();
  const seconds = Math.round(performance.now() - t) / 1000;
  console.log(`${label.padEnd(52)} ${seconds.toFixed(2).padStart(9)} s`);
  return { value, seconds };
}

/** Seconds per sync phase, from its onPhase calls. */
function phaseClock() {
  const seconds: Record<string, number> = {};
  let current: { phase: string; at: number } | undefined;
  const close = () => {
    if (current) seconds[current.phase] = Math.round(performance.now() - current.at) / 1000;
  };
  return {
    onPhase: (phase: string) => {
      close();
      current = { phase, at: performance.now() };
    },
    report: () => {
      close();
      current = undefined;
      return Object.entries(seconds).map(([p, t]) => `${p} ${t.toFixed(2)} s`).join(', ');
    },
    seconds,
  };
}

/** Arrears's total owed by patrons who owe, its own agency fees left out: what the ILS's balances are compared with. */
export async function arrearsOwed(db: Database): Promise<number> {
  const a = await sql<{ total: number }>`select coalesce(sum(owed), 0)::bigint as total from (select sum(amount_cents - paid_cents) as owed from charges where reason <> 'agency_fee' group by patron_id) t`.execute(db.db);
  return Number(a.rows[0]?.total ?? 0);
}

export interface ConnectorBench {
  /** The ILS's name as printed ("Koha"). */
  ils: string;
  /** The connector's name in Arrears. */
  connector: string;
  database: Database;
  ctx: Context;
  /** Debits and credits (billings and payments) in the ILS. */
  ledgerRows: number;
  /** The ILS's total owed by patrons who owe. */
  ilsOwed: () => Promise<number>;
  /** What (g) syncs: the rows the desk payments change, and how they are described. */
  deskPayments: { label: string; change: () => Promise<number> };
  /** A floor measured just before (f): reading the ledger alone. */
  floor?: () => Promise<{ rows: number; seconds: number }>;
}

/** The ILS's balances against Arrears's, printed; a difference stops the benchmark. */
async function checkBalances(b: ConnectorBench, after: string): Promise<void> {
  const [ils, arrears] = [await b.ilsOwed(), await arrearsOwed(b.database)];
  console.log(`  balances ${after}: ${b.ils} ${formatMoney(ils)}, Arrears ${formatMoney(arrears)} ${ils === arrears ? '(equal)' : 'DIFFER'}`);
  if (ils !== arrears) throw new Error(`the ledger does not agree with ${b.ils} ${after}: ${ils} / ${arrears}`);
}

/** (f), (g) and (h) against a connector whose ILS holds the demo consortium; the figures as the result file keeps them. */
export async function measureConnector(b: ConnectorBench): Promise<Record<string, unknown>> {
  const { ctx, connector, ledgerRows } = b;
  const floor = b.floor ? await b.floor() : undefined;
  const phases = phaseClock();
  const full = await timed(`(f) full sync (${ledgerRows} ledger rows)`, () => syncConnector(ctx, connector, { onPhase: phases.onPhase }));
  console.log(`    by phase: ${phases.report()}`);
  const fullRate = Math.round(ledgerRows / full.seconds);
  await checkBalances(b, 'after the full sync');
  // The nightly incremental sync comes hours after the weekly full one, on tables autovacuum has seen.
  await timed('vacuum analyze (not counted in (f) or (g))', () => vacuumSchema(b.database));

  const changed = await timed(b.deskPayments.label, b.deskPayments.change);
  const incPhases = phaseClock();
  const incremental = await timed(`(g) incremental sync (${changed.value} changed rows)`, () => syncConnector({ ...ctx, clock: fixedClock(`${DEMO_AS_OF}T13:00:00Z`) }, connector, { onPhase: incPhases.onPhase }));
  console.log(`    by phase: ${incPhases.report()}`);
  if (incremental.value.mode !== 'incremental') throw new Error(`expected an incremental sync, got ${incremental.value.mode}`);
  await checkBalances(b, 'after the incremental sync');

  for (const a of demoAgencies()) await addAgency(ctx, { name: a.name, transferMethod: 'none' });
  await importSettings(ctx, demoSettings());
  const run = await timed('full run (write-back left queued)', () => runReport(ctx, { reportDate: DEMO_AS_OF as never, writeBack: false }));
  const queued = run.value.writebacks.length;
  const wb = await timed(`(h) write-back of ${queued} writes (${run.value.newSubmissions.length} referrals)`, () => applyWritebacks(ctx, connector));
  if (wb.value.applied !== queued) throw new Error(`expected ${queued} writes applied, got ${JSON.stringify(wb.value)}`);
  const per1000 = queued ? (wb.seconds / queued) * 1000 : 0;

  const checks = [
    { target: `(f) full sync ≥ ${TARGETS.fullSyncRowsPerSecond} ledger rows/s`, measured: `${fullRate} rows/s`, pass: fullRate >= TARGETS.fullSyncRowsPerSecond },
    { target: `(g) incremental sync of 10 k changed rows ≤ ${TARGETS.incrementalSeconds} s`, measured: `${incremental.seconds.toFixed(2)} s`, pass: incremental.seconds <= TARGETS.incrementalSeconds },
    { target: `(h) 1,000 write-backs ≤ ${TARGETS.writebacksPer1000Seconds} s`, measured: `${per1000.toFixed(2)} s per 1,000`, pass: per1000 <= TARGETS.writebacksPer1000Seconds },
  ];
  const floorRate = floor ? Math.round(ledgerRows / floor.seconds) : 0;
  console.log('');
  if (floor) console.log(`(f0) reading them alone (${floor.rows} rows) takes ${floor.seconds.toFixed(2)} s = ${floorRate} ledger rows/s: (f) is ${(full.seconds / floor.seconds).toFixed(1)} × that floor`);
  console.log(`(f) ${ledgerRows} ledger rows in ${full.seconds.toFixed(2)} s = ${fullRate} rows/s (${full.value.patrons} patrons, ${full.value.items} items, ${full.value.charges} charges, ${full.value.payments} payments written)`);
  console.log(`(g) ${incremental.value.rowsRead} rows read, ${incremental.value.payments} payments written, in ${incremental.seconds.toFixed(2)} s`);
  console.log(`(h) ${queued} writes in ${wb.seconds.toFixed(2)} s = ${per1000.toFixed(2)} s per 1,000`);
  for (const k of checks) console.log(`target ${k.pass ? 'PASS' : 'MISS'}: ${k.target} — measured ${k.measured}`);

  return {
    ...(floor ? { readFloor: { seconds: floor.seconds, rows: floor.rows, ledgerRowsPerSecond: floorRate } } : {}),
    fullSync: {
      seconds: full.seconds,
      ledgerRows,
      rowsPerSecond: fullRate,
      ...(floor ? { overFloor: Number((full.seconds / floor.seconds).toFixed(2)) } : {}),
      phases: phases.seconds,
      written: { patrons: full.value.patrons, items: full.value.items, charges: full.value.charges, payments: full.value.payments },
    },
    incrementalSync: { phases: incPhases.seconds, seconds: incremental.seconds, changedRows: changed.value, rowsRead: incremental.value.rowsRead, payments: incremental.value.payments },
    writeback: { writes: queued, referrals: run.value.newSubmissions.length, seconds: wb.seconds, secondsPer1000: Number(per1000.toFixed(2)) },
    balancesEqual: true,
    targets: checks,
  };
}

/** The machine the figures were taken on, with the ILS's server version. */
export function machine(server: Record<string, string>): Record<string, unknown> {
  return { cores: cpus().length, cpu: cpus()[0]?.model ?? '', memoryGb: Math.round(totalmem() / 1_073_741_824), node: process.version, ...server };
}

export const loadAverage = () => loadavg().map((l) => Number(l.toFixed(2)));

/** Writes bench/results/<name>.json and says where. */
export async function writeResult(name: string, result: Record<string, unknown>): Promise<void> {
  const out = join(import.meta.dirname, 'results');
  await mkdir(out, { recursive: true });
  const path = join(out, `${name}.json`);
  await writeFile(path, JSON.stringify(result, null, 2) + '\n');
  console.log(`\nwrote ${path}`);
}
