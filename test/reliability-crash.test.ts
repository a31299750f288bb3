// Crash safety: `arrears run` and `arrears files retry`, as real child processes, killed with
// SIGKILL at every named fault point (src/services/faults.ts) and at seeded random delays.
// Each trial starts from a copy of the same database (a PGlite data folder copied on disk, or
// a PostgreSQL database made from a template), kills the command, reopens the database (on
// PGlite this is the embedded server's crash recovery), and checks that
//   - the state is all-or-nothing: exactly as before the run, or exactly as an uninterrupted run left it;
//   - the next run for the date completes, and afterwards the state is exactly the uninterrupted
//     run's: same referrals and history, same fees (none twice), same files byte for byte.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { withSessionLock } from '../src/db/locks.ts';
import { asDate } from '../src/domain/dates.ts';
import { formatMoney } from '../src/domain/money.ts';
import { createRandom } from '../src/domain/random.ts';
import { editAgency } from '../src/services/agencies.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { deliverDueFiles } from '../src/services/delivery.ts';
import { loadDemo } from '../src/services/demo.ts';
import { FAULT_POINTS } from '../src/services/faults.ts';
import { importFile, type ImportKind } from '../src/services/imports.ts';
import { openReferralStates } from '../src/services/referrals.ts';
import { runReport } from '../src/services/runs.ts';
import { killAfter, killAfterPoint, runCli, startCli, type CliResult } from './helpers/child.ts';
import { POSTGRES_URL, testDbKind } from './helpers/db.ts';

const KIND = testDbKind();
const FIRST = '2025-07-01';
const DATE = '2025-07-02';
const AGENCY = 'Unique Management Services';
/** Random kills per database; CRASH_RANDOM_KILLS raises it for a longer soak. */
const RANDOM_KILLS = Number(process.env.CRASH_RANDOM_KILLS ?? 20);
const RUN_POINTS = [...FAULT_POINTS.filter((p) => !p.startsWith('delivery.')), 'reports.file-stored#2', 'reports.file-stored#4'];

const work = mkdtempSync(join(tmpdir(), 'arrears-crash-'));
const outbox = join(work, 'outbox');
const prefix = `h1crash_${Date.now().toString(36)}_${process.pid}`;
let copies = 0;
/** Every kill tried, for the figures printed at the end. */
const tally: { test: string; target: string; killedAt: string; outcome: 'rolled back' | 'committed' | 'finished first' }[] = [];

function pgUrl(database: string): string {
  const u = new URL(POSTGRES_URL);
  u.pathname = `/${database}`;
  return u.toString();
}

async function admin(query: string): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    await client.query(query);
  } finally {
    await client.end();
  }
}

const template = KIND === 'pglite' ? join(work, 'template') : `${prefix}_tmpl`;
const templateUrl = KIND === 'pglite' ? template : pgUrl(template);

/** A fresh copy of the template database; returns the url a process opens it by. */
async function copy(): Promise<string> {
  const n = ++copies;
  if (KIND === 'pglite') {
    const dir = join(work, `copy-${n}`);
    cpSync(template, dir, { recursive: true });
    return dir;
  }
  await admin(`CREATE DATABASE ${prefix}_${n} TEMPLATE ${template}`);
  return pgUrl(`${prefix}_${n}`);
}

async function discard(url: string): Promise<void> {
  if (KIND === 'pglite') rmSync(url, { recursive: true, force: true });
  else await admin(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`);
}

const ctxOf = (database: Database, at = new Date().toISOString()): Context => ({ database, clock: fixedClock(at), actor: 'test' });

async function load(ctx: Context, kind: ImportKind, header: string, lines: string[]): Promise<void> {
  const path = join(work, `${kind}-${Math.random().toString(36).slice(2)}.csv`);
  writeFileSync(path, [header, ...lines].join('\n') + '\n');
  await importFile(ctx, kind, path);
}

/**
 * The starting point of every trial: the demo consortium, one agency delivering to a folder,
 * a first run on FIRST, then a full and a partial payment by referred patrons (an update and
 * a removal for DATE) and large lost-item bills for three patrons (New Submissions on DATE).
 */
async function seed(database: Database): Promise<void> {
  const ctx = ctxOf(database, `${FIRST}T13:00:00Z`);
  await loadDemo(ctx, { patrons: 300, seed: 1, asOf: '2025-06-30' });
  await editAgency(ctx, AGENCY, { transferMethod: 'folder', transferConfig: { path: outbox } });
  await runReport(ctx, { reportDate: asDate(FIRST) });
  const open = await openReferralStates(database.db);
  expect(open.length).toBeGreaterThanOrEqual(2);
  const [paid, partly] = open;
  await load(ctx, 'payments', 'id,patron_id,charge_id,type,method,amount,paid_at', [
    `crash-pay-1,${paid!.patronId},,payment,cash,${formatMoney(paid!.owedCents)},${FIRST}T15:00:00`,
    `crash-pay-2,${partly!.patronId},,payment,cash,${formatMoney(Math.floor(partly!.owedCents / 2))},${FIRST}T15:00:00`,
  ]);
  const fresh = await database.db
    .selectFrom('patrons')
    .select('id')
    .where('home_library', '=', 'MAIN')
    .where('patron_code', '=', 'ADULT')
    .where('in_collections', '=', false)
    .orderBy('id')
    .limit(3)
    .execute();
  await load(
    ctx,
    'charges',
    'id,patron_id,item_id,library,reason,amount,assessed_at',
    fresh.map((p, i) => `crash-bill-${i},${p.id},,MAIN,replacement,${150 + i}.00,2025-05-20T10:00:00`),
  );
}

/**
 * Everything a run writes, without ids or clock times (a killed run's transaction used up
 * sequence values, and each run stamps its own time): equal fingerprints = equal outcomes.
 */
async function fingerprint(database: Database): Promise<Record<string, unknown[]>> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(database.db)).rows;
  return {
    runs: await q(sql`select report_date, dry_run, finished_at is not null as finished from runs order by report_date, id`),
    runEntries: await q(sql`select e.name, r.report_date, r.kind from run_entries r join settings_entries e on e.id = r.entry_id order by 1, 2, 3`),
    referrals: await q(sql`
      select r.patron_id, a.name as agency, e.name as entry, r.status, r.referred_on, r.closed_on, r.referred_cents, r.fee_cents, r.last_reported_cents
      from referrals r join agencies a on a.id = r.agency_id left join settings_entries e on e.id = r.entry_id
      order by r.patron_id, r.referred_on`),
    history: await q(sql`select patron_id, type, amount_cents, reason, report_date from referral_history order by patron_id, report_date, type, amount_cents`),
    fees: await q(sql`select patron_id, amount_cents, assessed_on, assessed_at from charges where reason = 'agency_fee' order by patron_id, assessed_on`),
    ledger: await q(sql`select type, count(*)::int as n, sum(amount_cents)::bigint as cents from payments group by type order by type`),
    allocations: await q(sql`select count(*)::int as n, coalesce(sum(amount_cents), 0)::bigint as cents from allocations`),
    inCollections: await q(sql`select id from patrons where in_collections order by id`),
    flags: await q(sql`select patron_id, in_collections, secured from flag_changes order by patron_id, id`),
    files: await storedFiles(database),
    attempts: await q(sql`select count(*)::int as n from transfer_attempts`),
    audit: await q(sql`select action, count(*)::int as n from audit_log group by action order by action`),
  };
}

/**
 * The stored files, each intact (content matches its sha256) and given as a hash of its text
 * with agency-fee charge ids ("fee-<referral id>") masked: a killed run used up ids on PostgreSQL.
 */
async function storedFiles(database: Database): Promise<unknown[]> {
  const rows = await sql<{ report_date: string; stem: string; kind: string; agency: string; sha256: string; content: Uint8Array; row_count: number; status: string }>`
    select r.report_date, regexp_replace(f.name, '_[0-9]{14}(-[0-9]+)?[.]txt$', '') as stem, f.kind, a.name as agency, f.sha256, f.content, f.row_count, f.status
    from report_files f join agencies a on a.id = f.agency_id join runs r on r.id = f.run_id order by 1, 2, 3, 4`.execute(database.db);
  return rows.rows.map(({ content, sha256, ...file }) => {
    const bytes = Buffer.from(content);
    expect(createHash('sha256').update(bytes).digest('hex'), `${file.stem} is damaged`).toBe(sha256);
    return { ...file, text: createHash('sha256').update(bytes.toString('utf8').replace(/\bfee-\d+\b/g, 'fee-#')).digest('hex') };
  });
}

let before: Record<string, unknown[]>;
let reference: Record<string, unknown[]>;
/** When the uninterrupted run took its snapshot, committed, and exited (ms after spawn). */
let timing: { snapshot: number; committed: number; end: number };

beforeAll(async () => {
  mkdirSync(outbox, { recursive: true });
  if (KIND === 'postgres') await admin(`CREATE DATABASE ${template}`);
  const database = await openDatabase({ url: templateUrl });
  try {
    await seed(database);
    before = await fingerprint(database);
  } finally {
    await database.close();
  }
  // The uninterrupted run, through the CLI like every trial.
  const url = await copy();
  const result = await runCli(url, ['run', '--date', DATE, '--json']);
  expect(result.code, result.stderr).toBe(0);
  const printed = JSON.parse(result.stdout) as { newSubmissions: unknown[]; updates: unknown[]; removals: unknown[]; files: unknown[] };
  // The scenario reaches every part of a run, so every fault point is on the path.
  expect(printed.newSubmissions.length).toBeGreaterThanOrEqual(3);
  expect(printed.updates.length + printed.removals.length).toBeGreaterThanOrEqual(2);
  expect(printed.files.length).toBeGreaterThanOrEqual(4);
  const reached = new Set(result.points.map((p) => p.name));
  for (const p of RUN_POINTS) expect(reached, p).toContain(p.split('#')[0]);
  const at = (name: string) => result.points.find((p) => p.name === name)!.ms;
  timing = { snapshot: at('run.snapshot'), committed: at('run.committed'), end: result.ms };
  const database2 = await openDatabase({ url });
  try {
    reference = await fingerprint(database2);
  } finally {
    await database2.close();
  }
  await discard(url);
  expect(reference).not.toEqual(before);
}, 600_000);

afterAll(async () => {
  const byOutcome = tally.reduce<Record<string, number>>((m, t) => ((m[t.outcome] = (m[t.outcome] ?? 0) + 1), m), {});
  const byPoint = tally.reduce<Record<string, number>>((m, t) => ((m[t.killedAt] = (m[t.killedAt] ?? 0) + 1), m), {});
  console.log(`crash figures (${KIND}): ${tally.length} kills tried; ${JSON.stringify(byOutcome)}; last fault point passed: ${JSON.stringify(byPoint)}`);
  if (KIND === 'postgres') {
    for (let n = 1; n <= copies; n++) await admin(`DROP DATABASE IF EXISTS ${prefix}_${n} WITH (FORCE)`);
    await admin(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  }
  rmSync(work, { recursive: true, force: true });
}, 120_000);

/** How a killed run left the database: all or nothing, never part; records the kill. */
async function checkKilled(database: Database, test: string, target: string, killed: CliResult): Promise<boolean> {
  const finished = killed.code === 0;
  if (!finished) expect(killed.signal, killed.stderr).toBe('SIGKILL');
  // Under the run lock: on PostgreSQL the dead client's session holds it until the server has
  // finished that transaction (a COMMIT already sent still commits).
  const afterKill = await withSessionLock(database, 'runs', () => fingerprint(database));
  const committed = JSON.stringify(afterKill) === JSON.stringify(reference);
  if (!committed) expect(afterKill, `${target}: partial state after the kill`).toEqual(before);
  tally.push({ test, target, killedAt: killed.points.at(-1)?.name ?? '(before the run began)', outcome: finished ? 'finished first' : committed ? 'committed' : 'rolled back' });
  return committed;
}

/** The next run for the date completes, and leaves exactly what an uninterrupted run leaves. */
async function checkNextRun(database: Database, target: string, committed: boolean): Promise<void> {
  const again = await runReport(ctxOf(database), { reportDate: asDate(DATE) });
  expect(again.alreadyRun, target).toBe(committed);
  expect(await fingerprint(database), `${target}: the next run differs from an uninterrupted one`).toEqual(reference);
}

/**
 * Kills runs on one copy of the database until one commits or the kills run out, checking
 * all-or-nothing after each (reopening is the recovery: PGlite replays its WAL in the folder,
 * PostgreSQL has rolled the dead session back), then runs the date again and checks the outcome.
 */
async function trials(test: string, kills: { target: string; kill: (url: string) => Promise<CliResult> }[]): Promise<void> {
  let i = 0;
  while (i < kills.length) {
    const url = await copy();
    try {
      let committed = false;
      let target = '';
      while (!committed && i < kills.length) {
        const k = kills[i++]!;
        target = k.target;
        const killed = await k.kill(url);
        const database = await openDatabase({ url });
        try {
          committed = await checkKilled(database, test, target, killed);
          if (committed || i === kills.length) await checkNextRun(database, target, committed);
        } finally {
          await database.close();
        }
      }
    } finally {
      await discard(url);
    }
  }
}

describe(`arrears run killed at every fault point (${KIND})`, () => {
  it.each(RUN_POINTS)('at %s: nothing partial, and the next run completes as an uninterrupted one', async (point) => {
    await trials('point', [
      {
        target: point,
        kill: async (url) => {
          const r = await runCli(url, ['run', '--date', DATE, '--json'], { ARREARS_FAULT_POINT: point });
          // A named point always kills: the point was reached.
          expect(r.signal, r.stderr).toBe('SIGKILL');
          expect(r.points.at(-1)?.name).toBe(point.split('#')[0]);
          return r;
        },
      },
    ]);
  });
});

describe(`arrears run killed at seeded random moments (${KIND})`, () => {
  it(`${RANDOM_KILLS} kills spread over the run: nothing partial, nothing twice`, async () => {
    const random = createRandom(8, KIND === 'pglite' ? 1 : 2);
    const args = ['run', '--date', DATE, '--json'];
    // Half spread from spawn to a little after the uninterrupted run ended (start-up, the run,
    // the exit); half timed from the moment the run holds its snapshot, over the run's own
    // length to its commit and a little after, since start-up time varies more on a loaded
    // machine than the run itself lasts.
    const spread = (i: number, n: number, length: number) => Math.round((length * (i + random.int(0, 999) / 1000)) / n);
    const half = Math.ceil(RANDOM_KILLS / 2);
    const runLength = Math.round((timing.committed - timing.snapshot) * 1.2) + 50;
    const kills = [
      ...Array.from({ length: half }, (_, i) => spread(i, half, timing.end + 500)).map((ms) => ({
        target: `${ms} ms after spawn`,
        kill: (url: string) => killAfter(startCli(url, args), ms),
      })),
      ...Array.from({ length: RANDOM_KILLS - half }, (_, i) => spread(i, RANDOM_KILLS - half, runLength)).map((ms) => ({
        target: `${ms} ms after run.snapshot`,
        kill: (url: string) => killAfterPoint(startCli(url, args), 'run.snapshot', ms),
      })),
    ];
    await trials('random', kills);
    const random_ = tally.filter((t) => t.test === 'random');
    expect(random_).toHaveLength(RANDOM_KILLS);
    // The delays must hit the run itself, not only the start-up before it or the exit after it.
    expect(random_.filter((t) => t.killedAt !== '(before the run began)' && t.outcome === 'rolled back').length).toBeGreaterThan(0);
  }, 900_000);
});

describe(`arrears files retry killed while delivering (${KIND})`, () => {
  it.each(['delivery.claimed', 'delivery.sent'])('at %s: the file is delivered once, later, whole', async (point) => {
    const url = await copy();
    const folder = join(work, `deliver-${point}`);
    mkdirSync(folder, { recursive: true });
    try {
      let name: string;
      let sha256: string;
      {
        const database = await openDatabase({ url });
        try {
          const ctx = ctxOf(database);
          await runReport(ctx, { reportDate: asDate(DATE) });
          await editAgency(ctx, AGENCY, { transferConfig: { path: folder } });
          const file = await database.db
            .selectFrom('report_files as f')
            .innerJoin('agencies as a', 'a.id', 'f.agency_id')
            .select(['f.name', 'f.sha256'])
            .where('a.name', '=', AGENCY)
            .where('f.status', '=', 'queued')
            .where('f.kind', '=', 'new')
            .executeTakeFirstOrThrow();
          ({ name, sha256 } = file);
        } finally {
          await database.close();
        }
      }
      const killed = await runCli(url, ['files', 'retry', name], { ARREARS_FAULT_POINT: point });
      expect(killed.signal, killed.stderr).toBe('SIGKILL');
      tally.push({ test: 'delivery', target: point, killedAt: point, outcome: 'rolled back' });
      const target = join(folder, name);
      // Killed before sending: nothing at the agency; killed after: the whole file, never half.
      if (point === 'delivery.claimed') expect(existsSync(target)).toBe(false);
      else expect(createHash('sha256').update(readFileSync(target)).digest('hex')).toBe(sha256);

      const database = await openDatabase({ url });
      try {
        const row = () => database.db.selectFrom('report_files').select(['id', 'status', 'attempts']).where('name', '=', name).executeTakeFirstOrThrow();
        expect((await row()).status).toBe('queued');
        // The dead sender's claim holds the file for the lease; a sender after it takes it over.
        const later = ctxOf(database, new Date(Date.now() + 16 * 60_000).toISOString());
        const report = await deliverDueFiles(later);
        expect(report.results.filter((r) => r.name === name).map((r) => r.ok)).toEqual([true]);
        const file = await row();
        expect(file.status).toBe('delivered');
        const attempts = await database.db.selectFrom('transfer_attempts').select(['ok', 'error', 'finished_at']).where('file_id', '=', file.id).orderBy('id').execute();
        expect(attempts.map((a) => [a.ok, a.finished_at !== null, a.error.startsWith('interrupted')])).toEqual([
          [false, true, true],
          [true, true, false],
        ]);
        expect(readdirSync(folder).filter((f) => f.includes(name.replace(/\.txt$/, '')))).toEqual([name]);
        expect(createHash('sha256').update(readFileSync(target)).digest('hex')).toBe(sha256);
      } finally {
        await database.close();
      }
    } finally {
      await discard(url);
    }
  });
});
