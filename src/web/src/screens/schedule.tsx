// The scheduler's plan, as `arrears schedule status` prints it: for each settings entry its
// New Submissions and Update jobs, the library zone, the last date done, dates due now, and
// the next date with the time it falls due.
import { get } from '../api.ts';
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
          <table>
            <caption>
              {data.total} job{data.total === 1 ? '' : 's'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Entry</th>
                <th scope="col">Job</th>
                <th scope="col">Days</th>
                <th scope="col">Zone</th>
                <th scope="col">Last done</th>
                <th scope="col">Due now</th>
                <th scope="col">Next</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((j) => (
                <tr key={`${j.entryId}-${j.job}`}>
                  <td>{j.entryName}</td>
                  <td>{j.job === 'new' ? 'New Submissions' : 'Updates'}</td>
                  <td>{j.enabled ? j.days : 'off'}</td>
                  <td>{j.timeZone ?? '—'}</td>
                  <td>{j.lastDone ?? 'not yet'}</td>
                  <td>{j.pending.length ? j.pending.join(', ') : 'nothing'}</td>
                  <td>{j.next ? `${j.next.date} at ${new Date(j.next.at).toLocaleString()}` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
