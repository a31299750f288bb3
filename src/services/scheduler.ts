// The scheduler inside the server: Auto New Submission daily and Auto Update Submission on
// the entry's weekdays, at the configured local time in the entry's zone, catching up missed
// report dates in order after downtime. The database keeps it exactly-once: a tick runs under
// an advisory lock (a second server skips instead of waiting), and runReport is idempotent
// per report date, entry and part.
import { hostname } from 'node:os';
import { sql } from 'kysely';
import { compareDates, type LocalDate } from '../domain/dates.ts';
import { ConflictError, ValidationError } from '../domain/errors.ts';
import {
  DEFAULT_RUN_TIME,
  JOBS,
  dueDates,
  entryTimeZone,
  jobDays,
  latestDueDate,
  nextDueDate,
  formatRunTime,
  parseRunTime,
  startingPoint,
  type Job,
  type RunTime,
} from '../domain/schedule.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { runReport, type RunPart } from './runs.ts';
import { blockedBy, staleConnectors, syncAllConnectors } from './sync.ts';
import { loadEntries } from './settings.ts';

export const SCHEDULE_TIME_VARIABLE = 'ARREARS_SCHEDULE_TIME';
export const SCHEDULER_ACTOR = 'scheduler';

/**
 * The advisory lock a tick holds on PostgreSQL, with the schema's hash as the second key so
 * Arrears installations in separate schemas of one database do not hold up each other's ticks.
 * Distinct from the migration (7411001) and run (7411002) locks.
 */
export const TICK_LOCK = 7411070;

/** The local run time from ARREARS_SCHEDULE_TIME (HH:MM), 02:00 when unset; a malformed value is a start-up error. */
export function runTimeFromEnv(env: NodeJS.ProcessEnv = process.env): RunTime {
  const text = env[SCHEDULE_TIME_VARIABLE];
  if (text === undefined || text.trim() === '') return DEFAULT_RUN_TIME;
  const parsed = parseRunTime(text);
  if (!parsed) throw ValidationError.of(`"${text}" is not a time of day; write it as HH:MM, e.g. 02:00`, { field: SCHEDULE_TIME_VARIABLE });
  return parsed;
}

/** What the server's background loop last said of itself: alive at beatAt, running reports at runTime. */
export interface Heartbeat {
  runTime: RunTime;
  host: string;
  pid: number;
  beatAt: Date;
}

/** Said by the server's background loop at the start of every pass (one row, the last server's). */
export async function recordHeartbeat(db: Executor, runTime: RunTime, at: Date): Promise<void> {
  const row = { id: 1, run_time: formatRunTime(runTime), host: hostname(), pid: process.pid, beat_at: at };
  await db
    .insertInto('scheduler_heartbeat')
    .values(row)
    .onConflict((oc) => oc.column('id').doUpdateSet({ run_time: row.run_time, host: row.host, pid: row.pid, beat_at: row.beat_at }))
    .execute();
}

/** The last heartbeat, or null when no server has passed since the migration. */
export async function lastHeartbeat(db: Executor): Promise<Heartbeat | null> {
  const r = await db.selectFrom('scheduler_heartbeat').selectAll().where('id', '=', 1).executeTakeFirst();
  const runTime = r ? parseRunTime(r.run_time) : null;
  return r && runTime ? { runTime, host: r.host, pid: r.pid, beatAt: new Date(r.beat_at) } : null;
}

/**
 * The local time reports run at: the one the server said last (a command run from cron or a
 * shell need not carry the server's environment), else this process's ARREARS_SCHEDULE_TIME.
 */
export function serverRunTime(beat: Heartbeat | null): RunTime {
  return beat?.runTime ?? runTimeFromEnv();
}

export interface ScheduledRun {
  entryId: number;
  job: Job;
  reportDate: LocalDate;
  /** Null when the date had already run (by hand or by another server): nothing changed. */
  runId: number | null;
  alreadyRun: boolean;
}

/** A date passed over because a later report date had already run for the entry. */
export interface SkippedDate {
  entryId: number;
  job: Job;
  reportDate: LocalDate;
  reason: string;
}

/** A date that failed unexpectedly; the entry's later dates wait for the next tick. */
export interface FailedDate {
  entryId: number;
  jobs: Job[];
  reportDate: LocalDate;
  error: string;
}

/** An ILS connector synced before the tick's runs. */
export interface SyncedConnector {
  connector: string;
  ok: boolean;
  mode?: 'full' | 'incremental';
  error?: string;
}

export interface TickResult {
  /** Another tick (this process or another server) held the schedule: this one did nothing. */
  busy: boolean;
  ran: ScheduledRun[];
  skipped: SkippedDate[];
  failed: FailedDate[];
  /** Connectors synced first (only when something was due). */
  synced: SyncedConnector[];
}

export interface JobStatus {
  entryId: number;
  entryName: string;
  job: Job;
  enabled: boolean;
  /** Null when there is no library to take a zone from. */
  timeZone: string | null;
  /** The weekday spec ("1,4") for updates, "daily" for New Submissions, or "off". */
  days: string;
  /** The last report date settled; null before the scheduler first sees the job. */
  lastDone: LocalDate | null;
  /** Dates due now and not yet run, oldest first (the next tick runs them). */
  pending: LocalDate[];
  /** Dates due now that a run already did (by hand, or a run the scheduler has yet to settle): the next tick only records them. */
  done: { date: LocalDate; runId: number; trigger: string }[];
  /** The latest report date run for this job, whoever ran it. */
  lastRun: { date: LocalDate; runId: number; trigger: string } | null;
  /** The first date not yet due, and when it falls due. */
  next: { date: LocalDate; at: Date } | null;
}

interface Plan {
  entry: SettingsEntry;
  job: Job;
  timeZone: string;
  lastDone: LocalDate | null;
  latest: LocalDate;
  due: LocalDate[];
}

interface Snapshot {
  entries: SettingsEntry[];
  zones: Map<number, string | null>;
  states: Map<string, LocalDate>;
}

const stateKey = (job: Job, entryId: number) => `${job}:${entryId}`;

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class Scheduler {
  readonly runTime: RunTime;
  private readonly ctx: Context;
  private running = false;

  /** The clock comes from the context; the actor is always 'scheduler'. */
  constructor(ctx: Pick<Context, 'database' | 'clock'>, options: { runTime?: RunTime } = {}) {
    this.ctx = { database: ctx.database, clock: ctx.clock, actor: SCHEDULER_ACTOR };
    this.runTime = options.runTime ?? runTimeFromEnv();
  }

  /**
   * Runs every report date due now, oldest first. Never runs two at once in one process or
   * across servers. An aborted signal stops it after the run in progress (a long catch-up
   * must not hold up a shutdown); the next tick carries on from there.
   */
  async tick(options: { signal?: AbortSignal } = {}): Promise<TickResult> {
    const idle: TickResult = { busy: true, ran: [], skipped: [], failed: [], synced: [] };
    if (this.running) return idle;
    this.running = true;
    try {
      const { database } = this.ctx;
      // PGlite is one process with one session: holding a transaction open would block the runs.
      if (database.kind !== 'postgres') return await this.work(options.signal);
      return await database.db.transaction().execute(async (trx) => {
        const got = await sql<{ ok: boolean }>`select pg_try_advisory_xact_lock(${TICK_LOCK}, hashtext(current_schema())) as ok`.execute(trx);
        return got.rows[0]?.ok ? this.work(options.signal) : idle;
      });
    } finally {
      this.running = false;
    }
  }

  /** Each entry's two jobs: the zone, the last date done, what is due now and what comes next. */
  async nextDue(): Promise<JobStatus[]> {
    const now = this.ctx.clock.now();
    const snap = await this.snapshot();
    const jobs = snap.entries.flatMap((entry) =>
      JOBS.map((job) => {
        const timeZone = snap.zones.get(entry.id) ?? null;
        const days = jobDays(entry, job);
        const lastDone = snap.states.get(stateKey(job, entry.id)) ?? null;
        const q = timeZone === null ? null : { lastDone, now, timeZone, runTime: this.runTime, days };
        return {
          entryId: entry.id,
          entryName: entry.name,
          job,
          enabled: days.length > 0,
          timeZone,
          days: job === 'update' ? entry.autoUpdateDays || 'off' : entry.autoNewSubmission ? 'daily' : 'off',
          lastDone,
          due: q ? dueDates(q) : [],
          next: q ? nextDueDate(q) : null,
        };
      }),
    );
    const runs = await this.runsOf(
      snap.entries.map((e) => e.id),
      [...new Set(jobs.flatMap((j) => j.due))],
    );
    return jobs.map(({ due, ...j }): JobStatus => {
      // A full run does both jobs.
      const mine = runs.filter((r) => r.entryId === j.entryId && (r.kind === j.job || r.kind === 'full'));
      const done = due.flatMap((date) => mine.filter((r) => r.date === date).slice(0, 1)).map(({ date, runId, trigger }) => ({ date, runId, trigger }));
      const last = mine.reduce<(typeof mine)[number] | null>((best, r) => (best === null || compareDates(r.date, best.date) > 0 ? r : best), null);
      return {
        ...j,
        pending: due.filter((date) => !done.some((d) => d.date === date)),
        done,
        lastRun: last && { date: last.date, runId: last.runId, trigger: last.trigger },
      };
    });
  }

  /** Each entry's latest run per kind, and its runs on the given dates. */
  private async runsOf(entryIds: number[], dates: LocalDate[]): Promise<{ entryId: number; kind: string; date: LocalDate; runId: number; trigger: string }[]> {
    if (entryIds.length === 0) return [];
    const { db } = this.ctx.database;
    const base = () =>
      db
        .selectFrom('run_entries as x')
        .innerJoin('runs as r', 'r.id', 'x.run_id')
        .select(['x.entry_id', 'x.kind', 'x.report_date', 'x.run_id', 'r.trigger'])
        .where('x.entry_id', 'in', entryIds);
    const latest = await base()
      .where((eb) =>
        eb(
          'x.report_date',
          '=',
          eb.selectFrom('run_entries as y').select((e) => e.fn.max('y.report_date').as('d')).whereRef('y.entry_id', '=', 'x.entry_id').whereRef('y.kind', '=', 'x.kind'),
        ),
      )
      .execute();
    const onDates = dates.length ? await base().where('x.report_date', 'in', dates).execute() : [];
    return [...latest, ...onDates].map((r) => ({ entryId: r.entry_id, kind: r.kind, date: r.report_date as LocalDate, runId: r.run_id, trigger: r.trigger }));
  }

  private async snapshot(): Promise<Snapshot> {
    const { db } = this.ctx.database;
    const entries = await loadEntries(db);
    const libraries = (await db.selectFrom('libraries').select(['code', 'time_zone']).execute()).map((l) => ({ code: l.code, timeZone: l.time_zone }));
    const rows = await db.selectFrom('schedule_state').select(['job', 'entry_id', 'last_date']).execute();
    return {
      entries,
      zones: new Map(entries.map((e) => [e.id, entryTimeZone(e, libraries)])),
      states: new Map(rows.map((r) => [stateKey(r.job as Job, r.entry_id), r.last_date as LocalDate])),
    };
  }

  private async work(signal?: AbortSignal): Promise<TickResult> {
    const now = this.ctx.clock.now();
    const snap = await this.snapshot();
    const result: TickResult = { busy: false, ran: [], skipped: [], failed: [], synced: [] };
    const plans = await this.settleJobs(snap, now);

    // Oldest date first across all entries; on one date, one run per combination of parts.
    const dates = [...new Set(plans.flatMap((p) => p.due))].sort(compareDates);
    const failedEntries = new Set<number>();
    if (dates.length > 0) {
      // Runs read the ILSs' data as of now: sync every connector first, and hold back the
      // entries whose libraries come from a connector whose data is too old.
      result.synced = await syncAllConnectors(this.ctx);
      const stale = await staleConnectors(this.ctx.database.db, this.ctx.clock.now());
      for (const p of plans) {
        const reason = blockedBy(p.entry, stale);
        if (!reason) continue;
        failedEntries.add(p.entry.id);
        for (const date of p.due) result.failed.push({ entryId: p.entry.id, jobs: [p.job], reportDate: date, error: reason });
      }
    }
    for (const date of dates) {
      const jobsOf = new Map<number, Job[]>();
      for (const p of plans) {
        if (failedEntries.has(p.entry.id) || !p.due.includes(date)) continue;
        jobsOf.set(p.entry.id, [...(jobsOf.get(p.entry.id) ?? []), p.job]);
      }
      const groups = new Map<string, number[]>();
      for (const [entryId, jobs] of jobsOf) {
        const key = jobs.join('+');
        groups.set(key, [...(groups.get(key) ?? []), entryId]);
      }
      for (const [key, entryIds] of groups) {
        if (signal?.aborted) return result;
        const jobs = key.split('+') as Job[];
        const failures = await this.runGroup(date, jobs, entryIds, result);
        for (const id of failures) failedEntries.add(id);
        await this.advance(date, jobs, entryIds.filter((id) => !failures.includes(id)));
      }
    }
    // Dates not on a job's days are settled too, so a later change of days never reaches back.
    const settled = new Map<string, { date: LocalDate; job: Job; entryIds: number[] }>();
    for (const p of plans) {
      if (failedEntries.has(p.entry.id)) continue;
      const key = `${p.latest} ${p.job}`;
      settled.set(key, { date: p.latest, job: p.job, entryIds: [...(settled.get(key)?.entryIds ?? []), p.entry.id] });
    }
    for (const x of settled.values()) await this.advance(x.date, [x.job], x.entryIds);
    return result;
  }

  /**
   * Starts jobs seen for the first time (from today), forgets jobs switched off (switched
   * back on, they start from that day), and returns what each running job owes.
   */
  private async settleJobs(snap: Snapshot, now: Date): Promise<Plan[]> {
    const { db } = this.ctx.database;
    const plans: Plan[] = [];
    const started: { job: Job; entry_id: number; last_date: LocalDate }[] = [];
    const stopped: { job: Job; entryId: number }[] = [];
    const audit: AuditEntry[] = [];
    for (const entry of snap.entries) {
      const timeZone = snap.zones.get(entry.id) ?? null;
      if (timeZone === null) continue;
      for (const job of JOBS) {
        const days = jobDays(entry, job);
        const lastDone = snap.states.get(stateKey(job, entry.id)) ?? null;
        if (days.length === 0) {
          if (lastDone !== null) {
            stopped.push({ job, entryId: entry.id });
            audit.push({ actor: this.ctx.actor, action: 'schedule.stop', entity: 'settings_entry', entityId: entry.id, before: { job, lastDone }, at: now });
          }
          continue;
        }
        if (lastDone === null) {
          const from = startingPoint(now, timeZone);
          started.push({ job, entry_id: entry.id, last_date: from });
          audit.push({ actor: this.ctx.actor, action: 'schedule.start', entity: 'settings_entry', entityId: entry.id, after: { job, timeZone, lastDone: from }, at: now });
        }
        const q = { lastDone, now, timeZone, runTime: this.runTime, days };
        plans.push({ entry, job, timeZone, lastDone, latest: latestDueDate(now, timeZone, this.runTime), due: dueDates(q) });
      }
    }
    if (started.length || stopped.length) {
      await db.transaction().execute(async (trx) => {
        for (const s of stopped) await trx.deleteFrom('schedule_state').where('job', '=', s.job).where('entry_id', '=', s.entryId).execute();
        if (started.length) await trx.insertInto('schedule_state').values(started).onConflict((oc) => oc.doNothing()).execute();
        await recordAudit(trx, audit);
      });
    }
    return plans;
  }

  /** One runReport for entries owing the same parts on a date; on an error, one per entry to isolate it. Returns the entries that failed. */
  private async runGroup(date: LocalDate, jobs: Job[], entryIds: number[], result: TickResult): Promise<number[]> {
    try {
      const run = await runReport(this.ctx, { reportDate: date, parts: jobs as RunPart[], entryIds, trigger: 'schedule' });
      for (const entryId of entryIds) {
        for (const job of jobs) {
          const alreadyRun = run.skipped.some((s) => s.id === entryId && s.parts.includes(job));
          result.ran.push({ entryId, job, reportDate: date, runId: alreadyRun ? null : run.runId, alreadyRun });
        }
      }
      return [];
    } catch (err) {
      if (entryIds.length > 1) {
        const failed: number[] = [];
        for (const id of entryIds) failed.push(...(await this.runGroup(date, jobs, [id], result)));
        return failed;
      }
      const entryId = entryIds[0]!;
      if (err instanceof ConflictError) {
        for (const job of jobs) result.skipped.push({ entryId, job, reportDate: date, reason: err.message });
        await recordAudit(this.ctx.database.db, {
          actor: this.ctx.actor,
          action: 'schedule.skip',
          entity: 'settings_entry',
          entityId: entryId,
          after: { jobs, reportDate: date, reason: err.message },
          at: this.ctx.clock.now(),
        });
        return [];
      }
      result.failed.push({ entryId, jobs, reportDate: date, error: message(err) });
      return [entryId];
    }
  }

  /** Moves the jobs' last date forward (never back) once their date is settled. */
  private async advance(date: LocalDate, jobs: Job[], entryIds: number[]): Promise<void> {
    if (entryIds.length === 0) return;
    await this.ctx.database.db
      .updateTable('schedule_state')
      .set({ last_date: date })
      .where('job', 'in', jobs)
      .where('entry_id', 'in', entryIds)
      .where('last_date', '<', date)
      .execute();
  }
}
