// The server's background loop: every interval, a heartbeat (scheduler_heartbeat: alive, and
// the run time, for commands run without the server's environment), one scheduler tick (report
// dates due, after syncing the ILS connectors), one delivery pass (files due to be sent), the ILS write-backs
// due again, and the administrator's mail of what needs attention (ARREARS_ALERT_TO). Nothing
// escapes the loop: an error, such as the database restarting, is logged and the next pass
// tries again.
import { ALERT_TO_VARIABLE, sendAttentionAlerts, type AlertReport } from './alerts.ts';
import type { Context } from './context.ts';
import { deliverDueFiles, type DeliveryReport } from './delivery.ts';
import { recordHeartbeat, runTimeFromEnv, Scheduler, SCHEDULER_ACTOR, type TickResult } from './scheduler.ts';
import { applyAllWritebacks, type WritebackResult } from './writeback.ts';

export const DEFAULT_INTERVAL_MS = 60_000;

/** What one pass did; a step that threw has null and its error in `errors`. */
export interface BackgroundPass {
  tick: TickResult | null;
  delivery: DeliveryReport | null;
  /** ILS write-backs retried this pass (those whose back-off has passed). */
  writeback?: WritebackResult[] | null;
  /** What was mailed to ARREARS_ALERT_TO this pass, when anything was. */
  alerts?: AlertReport | null;
  errors: string[];
}

export interface BackgroundOptions {
  /** Pause between the end of one pass and the start of the next (default 60 s). */
  intervalMs?: number;
  /** Default: a Scheduler on the context (run time from ARREARS_SCHEDULE_TIME). */
  scheduler?: Pick<Scheduler, 'tick'> & Partial<Pick<Scheduler, 'runTime'>>;
  /** Default: deliverDueFiles. */
  deliver?: (ctx: Context) => Promise<DeliveryReport>;
  /** Default: applyAllWritebacks (write-backs due again after their back-off). */
  writeBack?: (ctx: Context) => Promise<WritebackResult[]>;
  /** Default: sendAttentionAlerts (mails ARREARS_ALERT_TO what newly needs attention). */
  alert?: (ctx: Context) => Promise<AlertReport>;
  /** One line per event worth an operator's attention (default: standard error). */
  log?: (line: string) => void;
  /** Called after every pass, e.g. by tests that wait for one. */
  onPass?: (pass: BackgroundPass) => void;
}

export interface BackgroundJobs {
  /** Stops the loop: a pass in progress finishes the run it is in (a catch-up stops there), and is waited for. */
  stop(): Promise<void>;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function logTick(log: (line: string) => void, r: TickResult): void {
  for (const x of r.synced) log(x.ok ? `[scheduler] synced ${x.connector} (${x.mode})` : `[scheduler] sync of ${x.connector} failed: ${x.error}`);
  for (const x of r.ran) if (!x.alreadyRun) log(`[scheduler] entry ${x.entryId} ${x.job} ${x.reportDate}: run ${x.runId}`);
  for (const x of r.skipped) log(`[scheduler] entry ${x.entryId} ${x.job} ${x.reportDate} skipped: ${x.reason}`);
  for (const x of r.failed) log(`[scheduler] entry ${x.entryId} ${x.jobs.join('+')} ${x.reportDate} failed, will retry: ${x.error}`);
}

function logDelivery(log: (line: string) => void, r: DeliveryReport): void {
  for (const a of r.results) {
    if (a.ok) log(`[delivery] ${a.name} delivered by ${a.method}${a.remote ? ` to ${a.remote}` : ''}`);
    else log(`[delivery] ${a.name} failed (attempt ${a.attempts}${a.nextAttemptAt ? `, next at ${a.nextAttemptAt.toISOString()}` : ''}): ${a.error}`);
  }
}

/** The attention mail, or, when it is asked for without a relay to send it, a word in the log once and nothing more. */
function defaultAlert(log: (line: string) => void): (ctx: Context) => Promise<AlertReport> {
  if (process.env[ALERT_TO_VARIABLE]?.trim() && !process.env.ARREARS_SMTP_URL) {
    log(`[alerts] ${ALERT_TO_VARIABLE} is set but ARREARS_SMTP_URL is not: no attention mail will be sent`);
    return async () => ({ mailed: [], to: null });
  }
  return (c: Context) => sendAttentionAlerts(c);
}

/**
 * Starts the loop at once (a restarted server catches up without waiting a minute).
 * A malformed ARREARS_SCHEDULE_TIME throws here, before anything runs.
 */
export function startBackgroundJobs(ctx: Context, options: BackgroundOptions = {}): BackgroundJobs {
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!(intervalMs > 0)) throw new RangeError(`interval must be a positive number of milliseconds, got ${intervalMs}`);
  const jobCtx: Context = { ...ctx, actor: SCHEDULER_ACTOR };
  const scheduler = options.scheduler ?? new Scheduler(jobCtx);
  const runTime = scheduler.runTime ?? runTimeFromEnv();
  const deliver = options.deliver ?? ((c: Context) => deliverDueFiles(c));
  const writeBack = options.writeBack ?? ((c: Context) => applyAllWritebacks(c));
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const alert = options.alert ?? defaultAlert(log);
  const every = intervalMs >= 1000 ? `${Math.round(intervalMs / 1000)} s` : `${intervalMs} ms`;
  const stopping = new AbortController();

  const guarded = <T>(what: string, errors: string[], fn: () => Promise<T>): Promise<T | null> =>
    Promise.resolve()
      .then(fn)
      .catch((err: unknown) => {
        errors.push(`${what}: ${message(err)}`);
        return null;
      });

  const pass = async (): Promise<void> => {
    const errors: string[] = [];
    // The heartbeat first, so a tick that fails (a run that keeps failing) still says the server lives.
    const tick = await guarded('scheduler tick', errors, async () => {
      await recordHeartbeat(jobCtx.database.db, runTime, jobCtx.clock.now());
      return scheduler.tick({ signal: stopping.signal });
    });
    // Stopping: files wait for the next start rather than hold up the shutdown.
    const delivery = stopping.signal.aborted ? null : await guarded('delivery', errors, () => deliver(jobCtx));
    const writeback = stopping.signal.aborted ? null : await guarded('write-back', errors, () => writeBack(jobCtx));
    // Last: it tells of what this pass could not do.
    const alerts = stopping.signal.aborted ? null : await guarded('attention mail', errors, () => alert(jobCtx));
    try {
      if (tick) logTick(log, tick);
      if (delivery) logDelivery(log, delivery);
      for (const w of writeback ?? []) if (w.applied || w.failed || w.error) log(`[write-back] ${w.connector}: ${w.applied} applied, ${w.pending} pending, ${w.failed} failed${w.error ? ` (${w.error})` : ''}`);
      if (alerts?.mailed.length) log(`[alerts] mailed ${alerts.to}: ${alerts.mailed.map((i) => i.subject).join('; ')}`);
      for (const e of errors) log(`[background] ${e}; trying again in ${every}`);
      options.onPass?.({ tick, delivery, errors, ...(writeback?.length ? { writeback } : {}), ...(alerts?.mailed.length ? { alerts } : {}) });
    } catch (err) {
      process.stderr.write(`[background] reporting a pass failed: ${message(err)}\n`);
    }
  };

  let timer: NodeJS.Timeout | undefined;
  let current: Promise<void>;
  const loop = (): void => {
    current = pass().then(() => {
      if (stopping.signal.aborted) return;
      timer = setTimeout(loop, intervalMs);
      // The server's listener keeps the process alive; a forgotten loop must not.
      timer.unref();
    });
  };
  loop();

  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await current;
    },
  };
}
