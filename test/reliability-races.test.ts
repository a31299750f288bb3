// Races: two runs for the same report date at once, and payments committed while a run
// is evaluating.
//
// Isolation: a run is ONE transaction at REPEATABLE READ, taken after the advisory 'runs'
// lock (src/services/runs.ts, src/db/locks.ts). REPEATABLE READ because every query of the run
// (eligibility, open balances, the files' pages of patrons and charges) must read the same
// snapshot: at READ COMMITTED a payment committed between two of those queries would make a
// New Submission's file disagree with its referral. SERIALIZABLE would add nothing but aborts:
// the lock already makes runs one at a time, and an import or payment committed meanwhile is
// simply after the run (the next run reports it). The lock is taken BEFORE the transaction
// starts: the snapshot is fixed by the first statement, so a run that waited for the lock
// inside its transaction could not see the run it waited for, did the work again and failed
// on a unique index (these races caught that).
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { addDays, asDate, type LocalDate } from '../src/domain/dates.ts';
import { formatMoney } from '../src/domain/money.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { loadDemo } from '../src/services/demo.ts';
import { importFile, type ImportKind } from '../src/services/imports.ts';
import { runReport, type RunResult } from '../src/services/runs.ts';
import { runCli, startCli, waitUntilStopped } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';

const KIND = testDbKind();
const IN_PROCESS_RACES = 20;
const CHILD_RACES = 10;

let t: TestDatabase;
/** PostgreSQL: a second pool on the same schema, as another server would have. */
let other: Database;
let childUrl: string;
const work = mkdtempSync(join(tmpdir(), 'arrears-races-'));
let files = 0;

const ctxOf = (database: Database): Context => ({ database, clock: fixedClock('2025-08-15T12:00:00Z'), actor: 'test' });

async function load(kind: ImportKind, header: string, lines: string[]): Promise<void> {
  const path = join(work, `${kind}-${++files}.csv`);
  writeFileSync(path, [header, ...lines].join('\n') + '\n');
  await importFile(ctxOf(t), kind, path);
}

/** The outstanding balance of a patron's charges, from the ledger. */
async function balance(patronId: string): Promise<number> {
  const r = await sql<{ cents: number }>`
    select (coalesce((select sum(amount_cents) from charges where patron_id = ${patronId}), 0)
          - coalesce((select sum(amount_cents) from allocations where patron_id = ${patronId}), 0))::bigint as cents`.execute(t.db);
  return r.rows[0]!.cents;
}

/** Nothing done twice: one run per date, one open referral and at most one agency fee per patron. */
async function expectNothingTwice(): Promise<void> {
  const q = async (query: ReturnType<typeof sql>) => (await query.execute(t.db)).rows;
  expect(await q(sql`select report_date from runs group by report_date having count(*) > 1`)).toEqual([]);
  expect(await q(sql`select patron_id from referrals where status = 'open' group by patron_id having count(*) > 1`)).toEqual([]);
  expect(await q(sql`select patron_id from charges where reason = 'agency_fee' group by patron_id having count(*) > 1`)).toEqual([]);
  expect(await q(sql`select r.report_date from runs r left join run_entries e on e.run_id = r.id group by r.report_date having count(e.*) <> (select count(*) from settings_entries)`)).toEqual([]);
}

/** Exactly one of two simultaneous runs did the work; the other reported the date done. */
function expectOneDidTheWork(date: LocalDate, results: RunResult[]): void {
  expect(results.map((r) => r.reportDate)).toEqual([date, date]);
  expect(results.map((r) => r.alreadyRun).sort()).toEqual([false, true]);
  const loser = results.find((r) => r.alreadyRun)!;
  expect(loser.newSubmissions).toEqual([]);
  expect(loser.files).toEqual([]);
}

beforeAll(async () => {
  t = await freshDatabase();
  await loadDemo(ctxOf(t), { patrons: 300, seed: 3, asOf: '2025-06-30' });
  if (KIND === 'postgres') {
    other = await openDatabase({ url: t.url, schema: t.schema });
    childUrl = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
  }
}, 300_000);

afterAll(async () => {
  await other?.close();
  await t?.dispose();
});

describe(`two runs of the same date at once (${KIND})`, () => {
  it(`${IN_PROCESS_RACES} races of two in-process runs${KIND === 'postgres' ? ' on separate pools' : ' on one embedded database'}: one works, the other finds it done`, async () => {
    // On PGlite both calls share the one session; the dialect queues the second transaction.
    const second = KIND === 'postgres' ? other : t;
    let submitted = 0;
    for (let i = 0; i < IN_PROCESS_RACES; i++) {
      const date = addDays(asDate('2025-07-01'), i);
      const results = await Promise.all([runReport(ctxOf(t), { reportDate: date }), runReport(ctxOf(second), { reportDate: date })]);
      expectOneDidTheWork(date, results);
      submitted += results.reduce((n, r) => n + r.newSubmissions.length, 0);
    }
    // The first date refers the demo's debtors: the races were over real work.
    expect(submitted).toBeGreaterThan(0);
    await expectNothingTwice();
    console.log(`race figures (${KIND}): ${IN_PROCESS_RACES} in-process races, ${submitted} referrals, none twice`);
  });

  it.skipIf(KIND !== 'postgres')(`${CHILD_RACES} races of two \`arrears run\` processes: exit 0 both, one works, the other finds it done`, async () => {
    for (let i = 0; i < CHILD_RACES; i++) {
      const date = addDays(asDate('2025-08-01'), i);
      const args = ['run', '--date', date, '--json'];
      const both = await Promise.all([runCli(childUrl, args), runCli(childUrl, args)]);
      for (const r of both) expect(r.code, r.stderr).toBe(0);
      expectOneDidTheWork(
        date,
        both.map((r) => JSON.parse(r.stdout) as RunResult),
      );
    }
    await expectNothingTwice();
    console.log(`race figures (${KIND}): ${CHILD_RACES} races of two processes`);
  });
});

describe.skipIf(KIND !== 'postgres')('payments committed while a run evaluates (postgres)', () => {
  it('the files carry the balances of the run’s snapshot; the next run reports the payments', async () => {
    const date = asDate('2025-09-01');
    const next = asDate('2025-09-02');
    // One patron who will be referred on `date` (a new lost-item bill), one already in collections.
    const [fresh] = (
      await sql<{ id: string }>`
        select id from patrons p where home_library = 'MAIN' and patron_code = 'ADULT'
          and not exists (select 1 from referrals r where r.patron_id = p.id) order by id limit 1`.execute(t.db)
    ).rows;
    const [referred] = await t.db.selectFrom('referrals').select(['patron_id', 'last_reported_cents']).where('status', '=', 'open').orderBy('patron_id').limit(1).execute();
    await load('charges', 'id,patron_id,item_id,library,reason,amount,assessed_at', [`race-bill,${fresh!.id},,MAIN,replacement,200.00,2025-07-15T10:00:00`]);
    const freshOwed = await balance(fresh!.id);
    const referredOwed = await balance(referred!.patron_id);
    expect(referredOwed).toBe(referred!.last_reported_cents);

    // The run stops itself once its snapshot is taken; the payments commit; the run goes on.
    const proc = startCli(childUrl, ['run', '--date', date, '--json'], { ARREARS_FAULT_POINT: 'run.snapshot', ARREARS_FAULT_SIGNAL: 'SIGSTOP' });
    await waitUntilStopped(proc);
    await load('payments', 'id,patron_id,charge_id,type,method,amount,paid_at', [
      `race-pay-1,${fresh!.id},,payment,cash,50.00,2025-08-31T15:00:00`,
      `race-pay-2,${referred!.patron_id},,payment,cash,5.00,2025-08-31T15:00:00`,
    ]);
    proc.child.kill('SIGCONT');
    const done = await proc.done;
    expect(done.code, done.stderr).toBe(0);
    const result = JSON.parse(done.stdout) as RunResult;

    // What the run saw and wrote: the balances before the payments.
    const submission = result.newSubmissions.find((n) => n.patronId === fresh!.id);
    expect(submission?.owed).toBe(formatMoney(freshOwed));
    expect(result.updates.map((u) => u.patronId)).not.toContain(referred!.patron_id);
    const stored = await t.db.selectFrom('report_files').select(['content']).where('run_id', '=', result.runId).where('kind', '=', 'new').execute();
    const line = stored
      .map((f) => Buffer.from(f.content).toString('utf8'))
      .flatMap((text) => text.split('\n'))
      .find((l) => l.startsWith(`P\t${fresh!.id}\t`));
    expect(line?.split('\t')[13]).toBe(formatMoney(freshOwed));

    // The next run picks the payments up as updates, with the balances after them.
    const after = await runReport(ctxOf(t), { reportDate: next });
    const fee = Number(submission!.fee.replace('.', ''));
    expect(after.updates.find((u) => u.patronId === fresh!.id)).toMatchObject({ previous: formatMoney(freshOwed + fee), owed: formatMoney(freshOwed + fee - 5000), reason: 'paid' });
    expect(after.updates.find((u) => u.patronId === referred!.patron_id)).toMatchObject({ previous: formatMoney(referredOwed), owed: formatMoney(referredOwed - 500), reason: 'paid' });
    await expectNothingTwice();
  });
});
