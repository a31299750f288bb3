// The scheduler's plan, as `arrears schedule status` prints it: for each settings entry its
// New Submissions and Update jobs, the library zone, the last date done, dates due now, and
// the next date with the time it falls due — shown in the entry's own zone, named, not the
// browser's. A date someone already ran by hand counts as done, with its run.
import { Attention } from '../attention.tsx';
import { get } from '../api.ts';
import { DataTable } from '../table.tsx';
import { Busy, ErrorBanner, useLoad } from '../ui.tsx';

interface JobStatus {
  entryId: number;
  entryName: string;
  job: string;
  enabled: boolean;
  timeZone: string | null;
  days: string;
  lastDone: string | null;
  pending: string[];
  done: { date: string; runId: number; trigger: string }[];
  lastRun: { date: string; runId: number; trigger: string } | null;
  next: { date: string; at: string } | null;
}

const TRIGGERS: Record<string, string> = { manual: 'by hand', api: 'from the staff app or API', schedule: 'by the scheduler' };

/** "Tue, Jun 3, 2025, 02:00 CDT": the instant as the zone's clocks show it, zone abbreviation included. */
export function inZone(at: string, timeZone: string): string {
  return new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' }).format(
    new Date(at),
  );
}

function lastRun(j: JobStatus): string {
  return j.lastRun ? `${j.lastRun.date}, run ${j.lastRun.runId} ${TRIGGERS[j.lastRun.trigger] ?? j.lastRun.trigger}` : 'never';
}

function dueNow(j: JobStatus): string {
  const done = j.done.map((d) => `${d.date} done ${TRIGGERS[d.trigger] ?? d.trigger} (run ${d.runId})`);
  return [j.pending.length ? j.pending.join(', ') : 'nothing', ...done].join('; ');
}

function next(j: JobStatus): string {
  if (!j.next) return '—';
  return `${j.next.date} at ${j.timeZone ? inZone(j.next.at, j.timeZone) : new Date(j.next.at).toISOString()}`;
}

export function ScheduleScreen() {
  const { data, error, reload } = useLoad(() => get<{ runTime: string; server: { host: string; pid: number; lastPass: string } | null; items: JobStatus[]; total: number }>('/schedule'), []);
  const manual = data?.items.reduce((n, j) => n + j.done.filter((d) => d.trigger !== 'schedule').length, 0) ?? 0;
  return (
    <section aria-labelledby="schedule-title">
      <h1 id="schedule-title">Schedule</h1>
      <Attention screen="schedule" />
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading the schedule" />}
      {data && (
        <>
          <p>
            Runs are due each day at {data.runTime} in each entry’s library time zone (its first home library; all libraries: the first by code).
            {manual > 0 && ` ${manual} due date${manual === 1 ? ' was' : 's were'} already run by hand; the scheduler only records ${manual === 1 ? 'it' : 'them'}.`}{' '}
            {data.server ? `The scheduler last passed at ${new Date(data.server.lastPass).toLocaleString()} (${data.server.host}).` : 'The scheduler has not passed yet.'}{' '}
            <button type="button" className="secondary" onClick={reload}>
              Refresh
            </button>
          </p>
          <DataTable
            name="scheduled jobs"
            rows={data.items}
            rowKey={(j) => `${j.entryId}-${j.job}`}
            columns={[
              { header: 'Entry', cell: (j) => j.entryName },
              { header: 'Job', cell: (j) => (j.job === 'new' ? 'New Submissions' : 'Updates') },
              { header: 'Days', cell: (j) => (j.enabled ? j.days : 'off') },
              { header: 'Zone', cell: (j) => j.timeZone ?? 'no library' },
              { header: 'Last done', cell: (j) => j.lastDone ?? 'not yet' },
              { header: 'Last run', cell: (j) => lastRun(j) },
              { header: 'Due now', cell: (j) => dueNow(j) },
              { header: 'Next', sortValue: (j) => j.next?.at ?? '', cell: (j) => next(j) },
            ]}
          />
        </>
      )}
    </section>
  );
}
