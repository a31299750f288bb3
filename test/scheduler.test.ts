// The scheduler with an injected, moving clock: Auto New daily, Auto Update on weekdays,
// time zones, catch-up after downtime, conflicts with manual runs, and two schedulers racing.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import pg from 'pg';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { ValidationError } from '../src/domain/errors.ts';
import { startBackgroundJobs, type BackgroundPass } from '../src/services/background.ts';
import { fixedClock, type Clock } from '../src/services/context.ts';
import { lastHeartbeat, runTimeFromEnv, Scheduler, serverRunTime, TICK_LOCK, type TickResult } from '../src/services/scheduler.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

describe('the run time setting', () => {
  it('ARREARS_SCHEDULE_TIME is HH:MM, 02:00 by default; anything else is refused by name', () => {
    expect(runTimeFromEnv({})).toEqual({ hour: 2, minute: 0 });
    expect(runTimeFromEnv({ ARREARS_SCHEDULE_TIME: '23:15' })).toEqual({ hour: 23, minute: 15 });
    expect(() => runTimeFromEnv({ ARREARS_SCHEDULE_TIME: '2am' })).toThrow(ValidationError);
    expect(() => runTimeFromEnv({ ARREARS_SCHEDULE_TIME: '24:00' })).toThrow('field ARREARS_SCHEDULE_TIME: "24:00" is not a time of day; write it as HH:MM, e.g. 02:00');
  });
});

let t: TestDatabase;
let s: Scenario;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(() => t.dispose());

/** A clock the test moves by hand. */
function movingClock(start: string): Clock & { set(iso: string): void } {
  let now = new Date(start);
  return { now: () => new Date(now.getTime()), set: (iso) => (now = new Date(iso)) };
}

function scheduler(clock: Clock, database: Database = t): Scheduler {
  return new Scheduler({ database, clock }, { runTime: { hour: 2, minute: 0 } });
}

/** What a tick did, as "date job" strings, runs that changed something first. */
function ran(r: TickResult): string[] {
  return r.ran.filter((x) => !x.alreadyRun).map((x) => `${x.reportDate} ${x.job}`);
}

async function runs() {
  return t.db.selectFrom('runs').select(['id', 'report_date', 'trigger', 'actor']).orderBy('id').execute();
}

async function runEntries() {
  const rows = await t.db.selectFrom('run_entries').select(['report_date', 'entry_id', 'kind']).orderBy('report_date').orderBy('entry_id').execute();
  return rows.map((r) => `${r.report_date} ${r.entry_id} ${r.kind}`);
}

async function state() {
  const rows = await t.db.selectFrom('schedule_state').selectAll().orderBy('entry_id').orderBy('job').execute();
  return rows.map((r) => `${r.entry_id} ${r.job} ${r.last_date}`);
}

describe('on the database', () => {
  beforeEach(async () => {
    await s.reset();
    await s.libraries({ code: 'MAIN' }); // America/Chicago: 02:00 local is 08:00Z until 2015-03-08, 07:00Z after
    await s.agency('UMS');
  });

  describe('Auto New Submission', () => {
    it('runs on 3 consecutive days: 3 report dates, one each day, as the scheduler', async () => {
      await s.settings({ autoNewSubmission: true });
      await s.patrons({ id: 'P1' }, { id: 'P2' });
      await s.charges(
        { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' },
        { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '40.00', assessed_at: '2015-03-03T10:00:00' },
      );
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);

      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      clock.set('2015-03-03T12:00:00Z');
      const second = await sch.tick();
      expect(ran(second)).toEqual(['2015-03-03 new']);
      clock.set('2015-03-04T12:00:00Z');
      expect(ran(await sch.tick())).toEqual(['2015-03-04 new']);

      const all = await runs();
      expect(all.map((r) => [r.report_date, r.trigger, r.actor])).toEqual([
        ['2015-03-02', 'schedule', 'scheduler'],
        ['2015-03-03', 'schedule', 'scheduler'],
        ['2015-03-04', 'schedule', 'scheduler'],
      ]);
      expect(second.ran[0]).toEqual({ entryId: 1, job: 'new', reportDate: '2015-03-03', runId: all[1]!.id, alreadyRun: false });
      expect(await runEntries()).toEqual(['2015-03-02 1 new', '2015-03-03 1 new', '2015-03-04 1 new']);
      const referred = await t.db.selectFrom('referrals').select(['patron_id', 'referred_on']).orderBy('patron_id').execute();
      expect(referred).toEqual([
        { patron_id: 'P1', referred_on: '2015-03-02' },
        { patron_id: 'P2', referred_on: '2015-03-03' },
      ]);
    });

    it('does not run before the local run time, and a second tick at the same time does nothing', async () => {
      await s.settings({ autoNewSubmission: true });
      const clock = movingClock('2015-03-02T07:59:59Z');
      const sch = scheduler(clock);
      expect(await sch.tick()).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      clock.set('2015-03-02T08:00:00Z');
      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      expect(await sch.tick()).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      expect((await runs()).length).toBe(1);
    });
  });

  describe('Auto Update Submission', () => {
    it('with days "1,4" runs updates only on Sundays and Wednesdays', async () => {
      await s.settings({ autoUpdateDays: '1,4' });
      await s.patrons({ id: 'P1' });
      await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' });
      await s.run('2015-02-27', { parts: ['new'] });

      const clock = movingClock('2015-03-01T12:00:00Z'); // a Sunday
      const sch = scheduler(clock);
      const byDay: string[] = [];
      for (let day = 1; day <= 8; day++) {
        clock.set(`2015-03-0${day}T12:00:00Z`);
        byDay.push(...ran(await sch.tick()));
        if (day === 2) await s.payments({ id: 'Y1', patron_id: 'P1', amount: '10.00', paid_at: '2015-03-02T15:00:00' });
      }
      expect(byDay).toEqual(['2015-03-01 update', '2015-03-04 update', '2015-03-08 update']);
      expect(await runEntries()).toEqual(['2015-02-27 1 new', '2015-03-01 1 update', '2015-03-04 1 update', '2015-03-08 1 update']);
      const history = await t.db.selectFrom('referral_history').select(['type', 'amount_cents', 'report_date', 'reason']).orderBy('id').execute();
      expect(history).toEqual([
        { type: 'refer', amount_cents: 3000, report_date: '2015-02-27', reason: 'new submission' },
        { type: 'update', amount_cents: 2000, report_date: '2015-03-04', reason: 'paid' },
      ]);
    });
  });

  describe('catch-up after downtime', () => {
    it('runs every missed date in order, oldest first, each date evaluated as itself', async () => {
      await s.settings({ autoNewSubmission: true, autoUpdateDays: '1,4' });
      await s.patrons({ id: 'P1' }, { id: 'P2' });
      await s.charges(
        { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' },
        { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-05T10:00:00' },
      );
      const clock = movingClock('2015-03-02T12:00:00Z'); // Monday
      const sch = scheduler(clock);
      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      await s.payments({ id: 'Y1', patron_id: 'P1', amount: '30.00', paid_at: '2015-03-03T15:00:00' });

      // Down from Monday afternoon to Sunday afternoon: Tuesday .. Saturday were missed.
      clock.set('2015-03-08T19:00:00Z');
      const catchUp = await sch.tick();
      expect(ran(catchUp)).toEqual([
        '2015-03-03 new',
        '2015-03-04 new',
        '2015-03-04 update',
        '2015-03-05 new',
        '2015-03-06 new',
        '2015-03-07 new',
        '2015-03-08 new',
        '2015-03-08 update',
      ]);
      expect(catchUp.skipped).toEqual([]);
      expect(catchUp.failed).toEqual([]);

      const all = await runs();
      expect(all.map((r) => r.report_date)).toEqual(['2015-03-02', '2015-03-03', '2015-03-04', '2015-03-05', '2015-03-06', '2015-03-07', '2015-03-08']);
      expect(all.every((r, i) => i === 0 || r.id > all[i - 1]!.id)).toBe(true);
      expect(await runEntries()).toEqual([
        '2015-03-02 1 new',
        '2015-03-03 1 new',
        '2015-03-04 1 full',
        '2015-03-05 1 new',
        '2015-03-06 1 new',
        '2015-03-07 1 new',
        '2015-03-08 1 full',
      ]);
      // P1 paid on Tuesday and left at Wednesday's update; P2's charge of Thursday was referred on Thursday.
      const referrals = await t.db.selectFrom('referrals').select(['patron_id', 'status', 'referred_on', 'closed_on']).orderBy('patron_id').execute();
      expect(referrals).toEqual([
        { patron_id: 'P1', status: 'cleared', referred_on: '2015-03-02', closed_on: '2015-03-04' },
        { patron_id: 'P2', status: 'open', referred_on: '2015-03-05', closed_on: null },
      ]);
      expect(await state()).toEqual(['1 new 2015-03-08', '1 update 2015-03-08']);

      expect(await sch.tick()).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      expect((await runs()).length).toBe(7);
    });

    it('skips and records dates before one already run by hand, and counts that date as done', async () => {
      await s.settings({ autoNewSubmission: true });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      const manual = await s.run('2015-03-05');

      clock.set('2015-03-07T12:00:00Z');
      const r = await sch.tick();
      expect(r.skipped.map((x) => `${x.reportDate} ${x.job}`)).toEqual(['2015-03-03 new', '2015-03-04 new']);
      expect(r.skipped[0]!.reason).toBe('report date 2015-03-03 is before 2015-03-05, which has already run for entry "Entry 1"');
      expect(r.ran).toEqual([
        { entryId: 1, job: 'new', reportDate: '2015-03-05', runId: null, alreadyRun: true },
        { entryId: 1, job: 'new', reportDate: '2015-03-06', runId: expect.any(Number), alreadyRun: false },
        { entryId: 1, job: 'new', reportDate: '2015-03-07', runId: expect.any(Number), alreadyRun: false },
      ]);
      expect((await runs()).map((x) => [x.report_date, x.trigger])).toEqual([
        ['2015-03-02', 'schedule'],
        ['2015-03-05', 'manual'],
        ['2015-03-06', 'schedule'],
        ['2015-03-07', 'schedule'],
      ]);
      expect(manual.runId).toBe((await runs())[1]!.id);
      const skips = await t.db.selectFrom('audit_log').select(['actor', 'entity_id', 'after']).where('action', '=', 'schedule.skip').orderBy('id').execute();
      expect(skips.map((a) => [a.actor, a.entity_id, (a.after as { reportDate: string }).reportDate])).toEqual([
        ['scheduler', '1', '2015-03-03'],
        ['scheduler', '1', '2015-03-04'],
      ]);
      expect(await state()).toEqual(['1 new 2015-03-07']);
      expect((await sch.tick()).skipped).toEqual([]);
    });

    it('a tick whose signal is aborted stops before the next run; the next tick carries on', async () => {
      await s.settings({ autoNewSubmission: true });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      clock.set('2015-03-05T12:00:00Z');
      const stop = new AbortController();
      stop.abort();
      expect(await sch.tick({ signal: stop.signal })).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      expect(await state()).toEqual(['1 new 2015-03-02']);
      expect(ran(await sch.tick())).toEqual(['2015-03-03 new', '2015-03-04 new', '2015-03-05 new']);
    });
  });

  describe('first sighting and switching off', () => {
    it('a new entry starts from today; switched off it is forgotten, switched on again it starts afresh', async () => {
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      await s.settings({ name: 'Adults', autoNewSubmission: true });
      expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
      expect(await state()).toEqual(['1 new 2015-03-02']);

      await s.settings({ name: 'Adults', autoNewSubmission: false });
      clock.set('2015-03-03T12:00:00Z');
      expect(ran(await sch.tick())).toEqual([]);
      expect(await state()).toEqual([]);

      await s.settings({ name: 'Adults', autoNewSubmission: true });
      clock.set('2015-03-06T12:00:00Z');
      expect(ran(await sch.tick())).toEqual(['2015-03-06 new']);
      const actions = await t.db.selectFrom('audit_log').select('action').where('action', 'like', 'schedule.%').orderBy('id').execute();
      expect(actions.map((a) => a.action)).toEqual(['schedule.start', 'schedule.stop', 'schedule.start']);
    });
  });

  describe('time zones', () => {
    it('each entry runs at the run time of its first home library’s zone', async () => {
      await s.libraries({ code: 'HILO', time_zone: 'Pacific/Honolulu' }, { code: 'NYC', time_zone: 'America/New_York' });
      await s.settings(
        { name: 'Hawaii', homeLibraries: ['HILO', 'NYC'], autoNewSubmission: true },
        { name: 'New York', homeLibraries: ['NYC'], autoNewSubmission: true },
      );
      // 10:00Z is 05:00 in New York (due) and midnight in Honolulu (not yet).
      const clock = movingClock('2015-03-02T10:00:00Z');
      const sch = scheduler(clock);
      const first = await sch.tick();
      expect(first.ran.map((x) => `${x.entryId} ${x.reportDate}`)).toEqual(['2 2015-03-02']);
      const status = await sch.nextDue();
      expect(status.filter((j) => j.job === 'new').map((j) => ({ entry: j.entryName, zone: j.timeZone, lastDone: j.lastDone, pending: j.pending, next: j.next }))).toEqual([
        { entry: 'Hawaii', zone: 'Pacific/Honolulu', lastDone: '2015-03-01', pending: [], next: { date: '2015-03-02', at: new Date('2015-03-02T12:00:00Z') } },
        { entry: 'New York', zone: 'America/New_York', lastDone: '2015-03-02', pending: [], next: { date: '2015-03-03', at: new Date('2015-03-03T07:00:00Z') } },
      ]);
      expect(status.filter((j) => j.job === 'update').map((j) => [j.enabled, j.days, j.next])).toEqual([
        [false, 'off', null],
        [false, 'off', null],
      ]);

      clock.set('2015-03-02T12:00:00Z');
      expect((await sch.tick()).ran.map((x) => `${x.entryId} ${x.reportDate}`)).toEqual(['1 2015-03-02']);
    });

    it('nextDue lists what a tick would catch up', async () => {
      await s.settings({ autoNewSubmission: true, autoUpdateDays: '1-4' });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      await sch.tick();
      clock.set('2015-03-05T12:00:00Z');
      const status = await sch.nextDue();
      expect(status.map((j) => [j.job, j.days, j.lastDone, j.pending, j.next?.date])).toEqual([
        ['new', 'daily', '2015-03-02', ['2015-03-03', '2015-03-04', '2015-03-05'], '2015-03-06'],
        ['update', '1-4', '2015-03-02', ['2015-03-03', '2015-03-04'], '2015-03-08'],
      ]);
    });

    it('nextDue counts a date run by hand as done, not pending, and names the latest run', async () => {
      await s.settings({ autoNewSubmission: true, autoUpdateDays: '1-4' });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      await sch.tick();
      const manual = await s.run('2015-03-03', {}, '2015-03-03T15:00:00Z');
      clock.set('2015-03-05T12:00:00Z');
      const status = await sch.nextDue();
      expect(status.map((j) => [j.job, j.pending, j.done, j.lastRun])).toEqual([
        ['new', ['2015-03-04', '2015-03-05'], [{ date: '2015-03-03', runId: manual.runId, trigger: 'manual' }], { date: '2015-03-03', runId: manual.runId, trigger: 'manual' }],
        ['update', ['2015-03-04'], [{ date: '2015-03-03', runId: manual.runId, trigger: 'manual' }], { date: '2015-03-03', runId: manual.runId, trigger: 'manual' }],
      ]);
    });
  });

  describe('never twice', () => {
    it('a tick already in progress in this process makes another one skip', async () => {
      await s.settings({ autoNewSubmission: true });
      const sch = scheduler(movingClock('2015-03-02T12:00:00Z'));
      const [a, b] = await Promise.all([sch.tick(), sch.tick()]);
      expect([a.busy, b.busy]).toEqual([false, true]);
      expect(ran(a)).toEqual(['2015-03-02 new']);
      expect(b.ran).toEqual([]);
    });

    it('two schedulers on separate connections tick at once: exactly one run per date', async () => {
      await s.settings({ autoNewSubmission: true }, { homeLibraries: ['MAIN'], autoUpdateDays: '1-7' });
      // On PostgreSQL a second pool, as a second server would have; PGlite is one process, so a second scheduler on it.
      const other = testDbKind() === 'postgres' ? await openDatabase({ url: t.url, schema: t.schema! }) : t;
      try {
        const clock = movingClock('2015-03-02T12:00:00Z');
        const a = scheduler(clock);
        const b = scheduler(clock, other);
        const done: string[] = [];
        for (const at of ['2015-03-02T12:00:00Z', '2015-03-06T12:00:00Z']) {
          clock.set(at);
          const results = await Promise.all([a.tick(), b.tick()]);
          for (const r of results) done.push(...r.ran.filter((x) => !x.alreadyRun).map((x) => `${x.reportDate} ${x.entryId} ${x.job}`));
          expect(results.flatMap((r) => r.failed)).toEqual([]);
        }
        const expected = ['2015-03-02', '2015-03-03', '2015-03-04', '2015-03-05', '2015-03-06'].flatMap((d) => [`${d} 1 new`, `${d} 2 update`]);
        expect(done.sort()).toEqual(expected);
        const perDate = await t.db
          .selectFrom('run_entries')
          .select(['report_date', 'entry_id', 'kind', (eb) => eb.fn.countAll<number>().as('n')])
          .groupBy(['report_date', 'entry_id', 'kind'])
          .orderBy('report_date')
          .orderBy('entry_id')
          .execute();
        expect(perDate.map((r) => `${r.report_date} ${r.entry_id} ${r.kind} x${Number(r.n)}`)).toEqual(expected.map((e) => `${e} x1`));
        // One run per date and entry here: the two entries owe different parts.
        expect((await runs()).length).toBe(10);
      } finally {
        if (other !== t) await other.close();
      }
    });

    it('on PostgreSQL a tick skips at once, without waiting, while another server on the same schema holds the schedule', async () => {
      await s.settings({ autoNewSubmission: true });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const sch = scheduler(clock);
      if (testDbKind() !== 'postgres') {
        // PGlite has a single process: there is no other server, and the tick simply runs.
        expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);
        return;
      }
      const holder = new pg.Client({ connectionString: t.url, options: `-c search_path=${t.schema}` });
      await holder.connect();
      try {
        // An installation in another schema of the same database does not hold this one up.
        await holder.query("select pg_advisory_lock($1, hashtext('another_arrears'))", [TICK_LOCK]);
        expect(ran(await sch.tick())).toEqual(['2015-03-02 new']);

        clock.set('2015-03-03T12:00:00Z');
        await holder.query('select pg_advisory_lock($1, hashtext(current_schema()))', [TICK_LOCK]);
        expect(await sch.tick()).toEqual({ busy: true, ran: [], skipped: [], failed: [], synced: [] });
        expect((await runs()).length).toBe(1);
        await holder.query('select pg_advisory_unlock($1, hashtext(current_schema()))', [TICK_LOCK]);
        expect(ran(await sch.tick())).toEqual(['2015-03-03 new']);
      } finally {
        await holder.end();
      }
    });
  });

  describe('background jobs', () => {
    /** Collects passes; `next(n)` resolves once n passes have been seen. */
    function passes() {
      const seen: BackgroundPass[] = [];
      const waiting: { n: number; resolve: () => void }[] = [];
      return {
        seen,
        onPass(p: BackgroundPass) {
          seen.push(p);
          for (const w of waiting.filter((x) => seen.length >= x.n)) w.resolve();
        },
        next(n: number) {
          return new Promise<void>((resolve) => (seen.length >= n ? resolve() : waiting.push({ n, resolve })));
        },
      };
    }

    it('ticks, then delivers; an error is logged and the next pass tries again', async () => {
      await s.settings({ autoNewSubmission: true });
      const clock = movingClock('2015-03-02T12:00:00Z');
      const real = scheduler(clock);
      let ticks = 0;
      const flaky = {
        tick: () => (++ticks === 1 ? Promise.reject(new Error('connection terminated unexpectedly')) : real.tick()),
      };
      const lines: string[] = [];
      const p = passes();
      const jobs = startBackgroundJobs(
        { database: t, clock, actor: 'test' },
        { intervalMs: 5, scheduler: flaky, log: (l) => lines.push(l), onPass: p.onPass, deliver: async () => ({ delivered: 0, failed: 0, results: [] }) },
      );
      await p.next(3);
      await jobs.stop();

      expect(p.seen[0]).toEqual({ tick: null, delivery: { delivered: 0, failed: 0, results: [] }, errors: ['scheduler tick: connection terminated unexpectedly'] });
      expect(ran(p.seen[1]!.tick!)).toEqual(['2015-03-02 new']);
      expect(p.seen[2]!.tick).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      const runId = (await runs())[0]!.id;
      expect(lines.slice(0, 2)).toEqual([
        '[background] scheduler tick: connection terminated unexpectedly; trying again in 5 ms',
        `[scheduler] entry 1 new 2015-03-02: run ${runId}`,
      ]);
    });

    it("says at the start of every pass that the server is alive, and its run time, for commands run without the server's environment", async () => {
      const p = passes();
      const at = '2015-03-02T12:00:00Z';
      const jobs = startBackgroundJobs({ database: t, clock: fixedClock(at), actor: 'test' }, { intervalMs: 5, scheduler: new Scheduler({ database: t, clock: fixedClock(at) }, { runTime: { hour: 23, minute: 15 } }), onPass: p.onPass, log: () => undefined });
      await p.next(1);
      await jobs.stop();
      expect(p.seen[0]!.errors).toEqual([]);
      expect(await lastHeartbeat(t.db)).toEqual({ runTime: { hour: 23, minute: 15 }, host: hostname(), pid: process.pid, beatAt: new Date(at) });
      // What `arrears schedule status` and `arrears status` go by, whatever their own environment says.
      expect(serverRunTime(await lastHeartbeat(t.db))).toEqual({ hour: 23, minute: 15 });
      await t.db.deleteFrom('scheduler_heartbeat').execute();
      expect(serverRunTime(await lastHeartbeat(t.db))).toEqual(runTimeFromEnv());
    });

    it('runs the real delivery pass by default and stops cleanly', async () => {
      const p = passes();
      const jobs = startBackgroundJobs({ database: t, clock: movingClock('2015-03-02T12:00:00Z'), actor: 'test' }, { intervalMs: 5, onPass: p.onPass, log: () => undefined });
      await p.next(2);
      await jobs.stop();
      expect(p.seen[0]).toEqual({ tick: { busy: false, ran: [], skipped: [], failed: [], synced: [] }, delivery: { delivered: 0, failed: 0, results: [] }, errors: [] });
    });

    it('stop() tells a tick in progress to stop, skips that pass’s delivery, and waits for it', async () => {
      const p = passes();
      let signal: AbortSignal | undefined;
      let finishTick: (r: TickResult) => void = () => undefined;
      let tickStarted: () => void = () => undefined;
      const started = new Promise<void>((resolve) => (tickStarted = resolve));
      const slow = {
        tick: (options: { signal?: AbortSignal } = {}) => {
          signal = options.signal;
          tickStarted();
          return new Promise<TickResult>((done) => (finishTick = done));
        },
      };
      const jobs = startBackgroundJobs(
        { database: t, clock: movingClock('2015-03-02T12:00:00Z'), actor: 'test' },
        {
          intervalMs: 5,
          scheduler: slow,
          deliver: () => Promise.reject(new Error('delivery must not run while stopping')),
          onPass: p.onPass,
          log: () => undefined,
        },
      );
      await started;
      let stopped = false;
      const stopping = jobs.stop().then(() => (stopped = true));
      expect(signal?.aborted).toBe(true);
      await Promise.resolve();
      expect(stopped).toBe(false);
      finishTick({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
      await stopping;
      expect(p.seen).toEqual([{ tick: { busy: false, ran: [], skipped: [], failed: [], synced: [] }, delivery: null, errors: [] }]);
    });
  });
});
