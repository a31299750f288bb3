// Ledger imports from the ILS (libraries, patrons, items, charges, payments): the upload shows
// its bytes sent, then the server's import its phases, rows and bytes read as it streams
// through the file; every problem (file, row, column, reason) comes back together.
import { useState, type FormEvent } from 'react';
import { upload } from '../api.ts';
import { ProgressView, useProgress } from '../progress.tsx';
import { Busy, ErrorBanner, useTask } from '../ui.tsx';

const KINDS = ['libraries', 'patrons', 'items', 'charges', 'payments'];

const IMPORT_PHASES: [string, string][] = [
  ['reading', 'Reading and checking each row'],
  ['checking', 'Checking references'],
  ['writing', 'Writing the table'],
];

interface ImportResult {
  kind: string;
  file: string;
  inserted: number;
  updated: number;
  unchanged: number;
  skipped: number;
  problems: { row?: number; column?: string; reason: string }[];
}

export function ImportsScreen() {
  const task = useTask();
  const server = useProgress();
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    const kind = String(data.get('kind'));
    const skip = data.get('skipBadRows') ? '&skipBadRows=true' : '';
    data.delete('kind');
    data.delete('skipBadRows');
    setResult(null);
    const r = await task.run('Importing', () =>
      server.track((id) =>
        upload<ImportResult>(`/imports/${kind}?progress=${encodeURIComponent(id)}${skip}`, data, (sent, total) => setProgress({ sent, total })).finally(() => setProgress(null)),
      ),
    );
    if (r) setResult(r);
  }
  const uploading = progress !== null && progress.total > 0 && progress.sent < progress.total;
  return (
    <section aria-labelledby="imports-title">
      <h1 id="imports-title">Imports</h1>
      <form className="panel" onSubmit={submit}>
        <div className="field">
          <label htmlFor="import-kind">What the file holds</label>
          <select id="import-kind" name="kind" defaultValue="patrons">
            {KINDS.map((k) => (
              <option key={k}>{k}</option>
            ))}
          </select>
        </div>
        <div className="field">
          <label htmlFor="import-file">File (.csv or .xlsx)</label>
          <input id="import-file" name="file" type="file" accept=".csv,.xlsx" required />
        </div>
        <div className="field check">
          <input id="import-skip" name="skipBadRows" type="checkbox" value="true" />
          <label htmlFor="import-skip">Import the good rows and list the bad ones</label>
        </div>
        <button type="submit" disabled={task.busy !== null}>
          Import
        </button>
      </form>
      {uploading && (
        <p>
          <label>
            Uploading <progress max={progress.total} value={progress.sent} /> {Math.round((100 * progress.sent) / progress.total)}%
          </label>
        </p>
      )}
      {task.busy && <Busy label={uploading ? 'Uploading' : 'Importing'} />}
      {!uploading && <ProgressView title={server.state?.finished === false ? 'Import under way' : 'Last import'} state={server.state} seen={server.seen} phases={IMPORT_PHASES} />}
      <ErrorBanner error={task.error} />
      {result && (
        <div className="ok" role="status">
          <p>
            {result.file}: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged, {result.skipped} skipped.
          </p>
          {result.problems.length > 0 && (
            <ul>
              {result.problems.map((p, i) => (
                <li key={i}>
                  {p.row !== undefined ? `row ${p.row}` : ''} {p.column ?? ''}: {p.reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
