// Run preview: a dry run for a report date shows what a run would send; any patron opens the
// explain view (the entry applied, its window, every condition measured against its
// requirement); "Run now" does it for real. Either shows the run's phases as the server
// reports them.
import { useState, type FormEvent } from 'react';
import { get, post } from '../api.ts';
import { formatCents } from '../money.ts';
import { ProgressView, useProgress } from '../progress.tsx';
import { DataTable, type Column } from '../table.tsx';
import { Busy, ErrorBanner, useTask } from '../ui.tsx';

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

export interface Explanation {
  patronId: string;
  reportDate: string;
  entryName: string | null;
  eligible: boolean;
  owedCents: number;
  countedCents: number;
  window: { from: string | null; to: string } | null;
  conditions: { key: string; label: string; measured: string; required: string; pass: boolean }[];
}

const RUN_PHASES: [string, string][] = [
  ['waiting', 'Waiting for any other run to finish'],
  ['updating', 'Updating open referrals'],
  ['evaluating', 'Evaluating eligibility'],
  ['referring', 'Writing referrals'],
  ['files', 'Writing the agencies’ files'],
  ['finishing', 'Recording the run'],
];

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

type Row = Record<string, string> & { patronId: string };

// Amounts, aligned right like every other column of figures.
const AMOUNTS = new Set(['owed', 'counted', 'fee', 'previous', 'writtenOff']);

function ResultTable({ title, rows, columns, onPatron }: { title: string; rows: Row[]; columns: [string, string][]; onPatron: (id: string) => void }) {
  return (
    <>
      <h2>
        {title} <span className="count">({rows.length})</span>
      </h2>
      {rows.length === 0 ? (
        <p>None.</p>
      ) : (
        <DataTable
          rows={rows.slice(0, 200)}
          rowKey={(r) => r.patronId}
          columns={[
            {
              header: 'Patron',
              cell: (r) => (
                <button type="button" className="link" onClick={() => onPatron(r.patronId)}>
                  {r.patronId}
                </button>
              ),
            },
            ...columns.map(([key, label]): Column<Row> => ({ header: label, num: AMOUNTS.has(key), cell: (r) => r[key] })),
          ]}
        />
      )}
      {rows.length > 200 && <p>Showing the first 200 of {rows.length}.</p>}
    </>
  );
}

export function ExplainView({ explanation, onClose }: { explanation: Explanation; onClose: () => void }) {
  const x = explanation;
  return (
    <section className="panel explain" aria-labelledby="explain-title">
      <h2 id="explain-title">
        Why patron {x.patronId} {x.eligible ? 'would be submitted' : 'would not be submitted'} on {x.reportDate}
      </h2>
      <dl>
        <dt>Entry applied</dt>
        <dd>{x.entryName ?? 'none applies'}</dd>
        <dt>Window</dt>
        <dd>{x.window ? `${x.window.from ?? 'any date'} … ${x.window.to}` : '—'}</dd>
        <dt>Owed / counted</dt>
        <dd>
          {formatCents(x.owedCents)} / {formatCents(x.countedCents)}
        </dd>
      </dl>
      <DataTable
        rows={x.conditions}
        rowKey={(c) => c.key}
        columns={[
          { header: 'Condition', cell: (c) => c.label },
          { header: 'Measured', cell: (c) => c.measured },
          { header: 'Required', cell: (c) => c.required },
          {
            header: 'Holds',
            cellClass: (c) => (c.pass ? 'pass' : 'fail'),
            cell: (c) => (
              <>
                <span aria-hidden="true">{c.pass ? '✓' : '✗'}</span>
                <span className="sr-only">{c.pass ? 'yes' : 'no'}</span>
              </>
            ),
          },
        ]}
      />
      <button type="button" className="secondary" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

export function RunsScreen() {
  const [date, setDate] = useState(today);
  const [result, setResult] = useState<RunResult | null>(null);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const task = useTask();
  const progress = useProgress();

  async function run(dryRun: boolean) {
    setExplanation(null);
    const r = await task.run(dryRun ? 'Dry run' : 'Running', () => progress.track((id) => post<RunResult>(`/runs?progress=${encodeURIComponent(id)}`, { reportDate: date, dryRun })));
    if (r) setResult(r);
  }
  async function explain(patronId: string) {
    const x = await task.run(`Explaining patron ${patronId}`, () => get<Explanation>(`/explain/${encodeURIComponent(patronId)}`, { date: result?.reportDate ?? date }));
    if (x) setExplanation(x);
  }
  function preview(e: FormEvent) {
    e.preventDefault();
    void run(true);
  }

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
        <button type="button" className="danger" disabled={task.busy !== null} onClick={() => void run(false)}>
          Run now
        </button>
      </form>
      {task.busy && <Busy label={task.busy} />}
      <ProgressView title={progress.state?.finished === false ? 'Run under way' : 'Last run'} state={progress.state} seen={progress.seen} phases={RUN_PHASES} />
      <ErrorBanner error={task.error} />
      {explanation && <ExplainView explanation={explanation} onClose={() => setExplanation(null)} />}
      {result && (
        <div className="result" aria-live="polite">
          <p className="summary">
            {result.dryRun ? 'Dry run' : `Run ${result.runId ?? ''}`} for {result.reportDate}
            {result.alreadyRun ? ': already ran for this date, nothing changed.' : '.'}
            {result.skipped.length > 0 && ` Skipped (already ran): ${result.skipped.map((s) => s.name).join(', ')}.`}
            {!result.dryRun && result.files.length > 0 && ` Files written: ${result.files.map((f) => f.name).join(', ')}.`}
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
