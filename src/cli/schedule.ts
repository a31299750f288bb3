// `arrears schedule status|tick`: what the server's scheduler owes each settings entry, and
// one scheduler pass on demand (for a library that drives Arrears from cron, not a server).
import type { Command } from 'commander';
import { formatRunTime } from '../domain/schedule.ts';
import { lastHeartbeat, Scheduler, serverRunTime, SCHEDULE_TIME_VARIABLE, type JobStatus, type TickResult } from '../services/scheduler.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

function statusRows(jobs: JobStatus[]): string[][] {
  return [
    ['entry', 'job', 'days', 'zone', 'last done', 'last run', 'pending', 'next due'],
    ...jobs.map((j) => [
      `${j.entryId} ${j.entryName}`,
      j.job,
      j.days,
      j.timeZone ?? '(no library)',
      j.lastDone ?? '-',
      j.lastRun ? `${j.lastRun.date} (${j.lastRun.trigger})` : '-',
      j.pending.length ? `${j.pending.length} (from ${j.pending[0]})` : '-',
      j.next ? `${j.next.date} at ${j.next.at.toISOString()}` : '-',
    ]),
  ];
}

function printTick(r: TickResult): void {
  if (r.busy) {
    console.log('Another scheduler pass is running against this database; nothing was done.');
    return;
  }
  for (const x of r.synced) console.log(x.ok ? `synced ${x.connector} (${x.mode})` : `sync of ${x.connector} failed: ${x.error}`);
  if (!r.ran.length && !r.skipped.length && !r.failed.length) console.log('Nothing is due.');
  for (const x of r.ran) console.log(`${x.reportDate}  entry ${x.entryId}  ${x.job}  ${x.alreadyRun ? 'already run' : `run ${x.runId}`}`);
  for (const x of r.skipped) console.log(`${x.reportDate}  entry ${x.entryId}  ${x.job}  skipped: ${x.reason}`);
  for (const x of r.failed) console.log(`${x.reportDate}  entry ${x.entryId}  ${x.jobs.join('+')}  failed: ${x.error}`);
}

export function registerSchedule(program: Command): void {
  const schedule = program.command('schedule').description('the automatic New Submission and Update schedule of each settings entry');
  schedule
    .command('status')
    .description(`last date done, dates due now and the next due date of each entry's jobs (local run time: the running server's ${SCHEDULE_TIME_VARIABLE}, as it last said it; else this one's, default 02:00)`)
    .option('--json', 'print as JSON')
    .action(
      action(async ({ json }: { json?: boolean }, cmd: Command) => {
        const { runTime, jobs, beat } = await withContext(cmd, async (ctx) => {
          // The server's run time (it says it each pass), not this shell's environment.
          const beat = await lastHeartbeat(ctx.database.db);
          const scheduler = new Scheduler(ctx, { runTime: serverRunTime(beat) });
          return { runTime: scheduler.runTime, jobs: await scheduler.nextDue(), beat };
        });
        const server = beat && { host: beat.host, pid: beat.pid, lastPass: beat.beatAt.toISOString() };
        if (json) {
          printJson({ runTime: formatRunTime(runTime), server, jobs: jobs.map((j) => ({ ...j, next: j.next && { date: j.next.date, at: j.next.at.toISOString() } })) });
          return;
        }
        console.log(`Reports run at ${formatRunTime(runTime)} local time in each entry's zone.`);
        console.log(server ? `The server's scheduler last passed at ${server.lastPass} (${server.host}, process ${server.pid}).` : 'No server has run the scheduler yet (`arrears start` runs it).');
        console.log(jobs.length ? table(statusRows(jobs)) : 'The settings table has no entries.');
      }),
    );
  schedule
    .command('tick')
    .description('run every report date due now, oldest first, as the server does each minute')
    .option('--json', 'print as JSON')
    .action(
      action(async ({ json }: { json?: boolean }, cmd: Command) => {
        const result = await withContext(cmd, async (ctx) => new Scheduler(ctx, { runTime: serverRunTime(await lastHeartbeat(ctx.database.db)) }).tick());
        if (json) printJson(result);
        else printTick(result);
        if (result.failed.length) process.exitCode = 1;
      }),
    );
}
