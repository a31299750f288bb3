// The scheduler's plan, as `arrears schedule status` prints it: for each settings entry its
// New Submissions and Update jobs, the library zone, the last date done, dates due now, and
// the next date with the time it falls due.
import { get } from '../api.ts';
import { DataTable, counted } from '../table.tsx';
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
  next: { date: string; at: string } | null;
}

export function ScheduleScreen() {
  const { data, error, reload } = useLoad(() => get<{ runTime: string; items: JobStatus[]; total: number }>('/schedule'), []);
  return (
    <section aria-labelledby="schedule-title">
      <h1 id="schedule-title">Schedule</h1>
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading the schedule" />}
      {data && (
        <>
          <p>
            Runs are due each day at {data.runTime} in each entry’s library time zone.{' '}
            <button type="button" className="secondary" onClick={reload}>
              Refresh
            </button>
          </p>
          <DataTable
            caption={counted(data.total, 'job')}
            rows={data.items}
            rowKey={(j) => `${j.entryId}-${j.job}`}
            columns={[
              { header: 'Entry', cell: (j) => j.entryName },
              { header: 'Job', cell: (j) => (j.job === 'new' ? 'New Submissions' : 'Updates') },
              { header: 'Days', cell: (j) => (j.enabled ? j.days : 'off') },
              { header: 'Zone', cell: (j) => j.timeZone ?? '—' },
              { header: 'Last done', cell: (j) => j.lastDone ?? 'not yet' },
              { header: 'Due now', cell: (j) => (j.pending.length ? j.pending.join(', ') : 'nothing') },
              { header: 'Next', cell: (j) => (j.next ? `${j.next.date} at ${new Date(j.next.at).toLocaleString()}` : '—') },
            ]}
          />
        </>
      )}
    </section>
  );
}
