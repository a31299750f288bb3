// Run preview: a dry run for a report date shows what a run would send; any patron opens the
// explain view (the entry applied, its window, every condition measured against its
// requirement); "Run now" does it for real, after saying what it will do (and warning of a
// date in the future). Either shows the run's phases as the server reports them; a dry run's
// phases say that nothing is saved. A new run clears the last one's result first.
import { useState, type FormEvent } from 'react';
import { get, post } from '../api.ts';
import { ExplainView, type Explanation } from '../explain.tsx';
import { toCents } from '../money.ts';
import { ProgressView, useProgress } from '../progress.tsx';
import { money, PatronLink, useCan, useConfirm } from '../session.tsx';
import { DataTable, type Column } from '../table.tsx';
import { Busy, ErrorBanner, useTask } from '../ui.tsx';

export type { Explanation } from '../explain.tsx';

interface RunResult {
  reportDate: string;
  runId: number | null;
  dryRun: boolean;
  alreadyRun: boolean;
  skipped: { id: number; name: string; parts: string[] }[];
  newSubmissions: { patronId: string; entry: string; agency: string; owed: string; counted: string; fee: string }[];
  updates: { patronId: string; previous: string; owed: string; reason: string }[];
  removals: { patronId: string; owed: string; reason: string }[];
  cancellations: { patronId: string; owed: string; writtenOff: string }[];
  files: { name: string; kind: string; agency: string }[];
}

const RUN_PHASES: [string, string][] = [
  ['waiting', 'Waiting for any other run to finish'],
  ['updating', 'Updating open referrals'],
  ['evaluating', 'Evaluating eligibility'],
  ['referring', 'Writing referrals'],
  ['files', 'Writing the agencies’ files'],
  ['finishing', 'Recording the run'],
];

// A dry run goes through the same phases but rolls everything back.
const DRY_RUN_PHASES: [string, string][] = [
  ['waiting', 'Waiting for any other run to finish'],
  ['updating', 'Working out updates to open referrals'],
  ['evaluating', 'Evaluating eligibility'],
  ['referring', 'Working out referrals (nothing is saved)'],
  ['files', 'Building the agencies’ files (nothing is saved)'],
  ['finishing', 'Rolling back: nothing was written'],
];

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** Whole days from a to b (calendar dates). */
function daysBetween(a: string, b: string): number {
  return Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / 86_400_000);
}

type Row = Record<string, string> & { patronId: string };

// Amounts, aligned right like every other column of figures.
const AMOUNTS = new Set(['owed', 'counted', 'fee', 'previous', 'writtenOff']);

function ResultTable({ title, rows, columns, onPatron }: { title: string; rows: Row[]; columns: [string, string][]; onPatron?: (id: string) => void }) {
  return (
    <>
      <h2>
        {title} <span className="count">({rows.length})</span>
      </h2>
      {rows.length === 0 ? (
        <p>None.</p>
      ) : (
        <DataTable
          name={title.toLowerCase()}
          rows={rows}
          rowKey={(r) => r.patronId}
          columns={[
            { header: 'Patron', text: (r) => r.patronId, cell: (r) => <PatronLink id={r.patronId} /> },
            ...columns.map(
              ([key, label]): Column<Row> =>
                AMOUNTS.has(key)
                  ? { header: label, num: true, text: (r) => money(r[key]), sortValue: (r) => toCents(r[key] ?? '0'), cell: (r) => money(r[key]) }
                  : { header: label, cell: (r) => r[key] },
            ),
            ...(onPatron
              ? [
                  {
                    header: 'Explain',
                    hideHeader: true,
                    action: true,
                    cell: (r: Row) => (
                      <button type="button" className="link" onClick={() => onPatron(r.patronId)}>
                        Explain {r.patronId}
                      </button>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
    </>
  );
}

export function RunsScreen() {
  const [date, setDate] = useState(today);
  const [result, setResult] = useState<RunResult | null>(null);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const [dry, setDry] = useState(true);
  const task = useTask();
  const progress = useProgress();
  const confirm = useConfirm();
  const can = useCan();

  async function run(dryRun: boolean) {
    if (!dryRun) {
      const ahead = daysBetween(today(), date);
      const preview = result?.dryRun && result.reportDate === date ? result : null;
      const ok = await confirm({
        title: `Run for ${date} now?`,
        danger: true,
        confirm: `Run for ${date}`,
        body: (
          <>
            {ahead > 0 && (
              <p className="warning">
                {date} is {ahead} day{ahead === 1 ? '' : 's'} in the future. Once it has run, a run for any earlier date is refused, the scheduler’s included.
              </p>
            )}
            <p>
              This refers the patrons who qualify, charges agency fees, records updates and removals, and writes the agencies’ files for delivery. It cannot be undone.
              {preview &&
                ` The dry run found ${preview.newSubmissions.length} New Submissions, ${preview.updates.length} updates, ${preview.removals.length} removals and ${preview.cancellations.length} cancellations.`}
            </p>
          </>
        ),
      });
      if (!ok) return;
    }
    // The last run's result and explanation go before the next starts, so a refusal never sits under an old result.
    setExplanation(null);
    setResult(null);
    setDry(dryRun);
    const r = await task.run(dryRun ? 'Dry run' : 'Running', () => progress.track((id) => post<RunResult>(`/runs?progress=${encodeURIComponent(id)}`, { reportDate: date, dryRun })));
    if (r) setResult(r);
  }
  async function explain(patronId: string) {
    setExplanation(null);
    const x = await task.run(`Explaining patron ${patronId}`, () => get<Explanation>(`/explain/${encodeURIComponent(patronId)}`, { date: result?.reportDate ?? date }));
    if (x) setExplanation(x);
  }
  function preview(e: FormEvent) {
    e.preventDefault();
    void run(true);
  }
  const title = dry ? (progress.state?.finished === false ? 'Dry run under way' : 'Last dry run') : progress.state?.finished === false ? 'Run under way' : 'Last run';

  return (
    <section aria-labelledby="runs-title">
      <h1 id="runs-title">Run preview</h1>
      <form className="filters" onSubmit={preview}>
        <label>
          Report date
          <input type="date" name="reportDate" required value={date} onChange={(e) => setDate(e.target.value)} />
        </label>
        <button type="submit" disabled={task.busy !== null}>
          Dry run
        </button>
        {can('runs.run') && (
          <button type="button" className="danger" disabled={task.busy !== null} onClick={() => void run(false)}>
            Run now
          </button>
        )}
      </form>
      {task.busy && <Busy label={task.busy} />}
      <ProgressView title={title} state={progress.state} seen={progress.seen} phases={dry ? DRY_RUN_PHASES : RUN_PHASES} />
      <ErrorBanner error={task.error} />
      {explanation && <ExplainView explanation={explanation} onClose={() => setExplanation(null)} />}
      {result && (
        <div className="result" aria-live="polite">
          <p className="summary">
            {result.dryRun ? 'Dry run' : `Run ${result.runId ?? ''}`} for {result.reportDate}
            {result.alreadyRun ? ': already ran for this date, nothing changed.' : '.'}
            {result.skipped.length > 0 && ` Skipped (already ran): ${result.skipped.map((s) => s.name).join(', ')}.`}
            {!result.dryRun && result.files.length > 0 && ` Files written: ${result.files.map((f) => `${f.name} (${f.agency})`).join(', ')}.`}
          </p>
          <ResultTable
            title="New Submissions"
            rows={result.newSubmissions}
            columns={[
              ['entry', 'Entry'],
              ['agency', 'Agency'],
              ['owed', 'Owed'],
              ['counted', 'Counted'],
              ['fee', 'Fee'],
            ]}
            onPatron={explain}
          />
          <ResultTable
            title="Updates"
            rows={result.updates}
            columns={[
              ['previous', 'Previous'],
              ['owed', 'Owed'],
              ['reason', 'Reason'],
            ]}
            onPatron={explain}
          />
          <ResultTable
            title="Removals"
            rows={result.removals}
            columns={[
              ['owed', 'Owed'],
              ['reason', 'Reason'],
            ]}
            onPatron={explain}
          />
          <ResultTable
            title="Cancellations"
            rows={result.cancellations}
            columns={[
              ['owed', 'Owed'],
              ['writtenOff', 'Written off'],
            ]}
            onPatron={explain}
          />
        </div>
      )}
    </section>
  );
}
