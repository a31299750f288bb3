// Ledger imports from the ILS (libraries, patrons, items, charges, payments): the columns each
// kind of file holds, with a template to fill in; the upload shows its bytes sent, then the
// server's import its phases, rows and bytes read as it streams through the file; every
// problem (file, row, column, reason) comes back together. Rows left out with "import the
// good rows" are a warning, not part of the success.
import { useState, type FormEvent } from 'react';
import { get, upload, type List } from '../api.ts';
import { ProgressView, useProgress } from '../progress.tsx';
import { DataTable } from '../table.tsx';
import { Busy, ErrorBanner, useLoad, useTask } from '../ui.tsx';

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

interface Kind {
  kind: string;
  columns: { name: string; required: boolean; note: string }[];
}

function Columns({ kind }: { kind: Kind }) {
  return (
    <section className="panel" aria-labelledby="columns-title">
      <h2 id="columns-title">Columns of a {kind.kind} file</h2>
      <p>
        The first row names the columns, in any order. Columns marked required must be in the file with a value in every row; the others may be left out or blank.{' '}
        <a href={`/api/imports/${kind.kind}/template`} download>
          Download the {kind.kind} template (.csv)
        </a>
      </p>
      <DataTable
        plain
        rows={kind.columns}
        rowKey={(c) => c.name}
        columns={[
          { header: 'Column', cell: (c) => <code>{c.name}</code> },
          { header: 'Required', cell: (c) => (c.required ? 'required' : 'optional') },
          { header: 'Holds', cell: (c) => c.note },
        ]}
      />
    </section>
  );
}

export function ImportsScreen() {
  const task = useTask();
  const server = useProgress();
  const kinds = useLoad(() => get<List<Kind>>('/imports/kinds'), []);
  const [kind, setKind] = useState('patrons');
  const [progress, setProgress] = useState<{ sent: number; total: number } | null>(null);
  const [result, setResult] = useState<ImportResult | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
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
  const chosen = kinds.data?.items.find((k) => k.kind === kind);
  return (
    <section aria-labelledby="imports-title">
      <h1 id="imports-title">Imports</h1>
      <p>Import in this order, since rows refer to earlier kinds: libraries, patrons, items, charges, payments. An import is all or nothing unless you choose to import the good rows.</p>
      <form className="panel" onSubmit={submit}>
        <div className="field">
          <label htmlFor="import-kind">What the file holds</label>
          <select id="import-kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            {(kinds.data?.items.map((k) => k.kind) ?? ['libraries', 'patrons', 'items', 'charges', 'payments']).map((k) => (
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
      <ErrorBanner error={task.error ?? kinds.error} />
      {result && (
        <>
          <div className="ok" role="status">
            <p>
              {result.file}: {result.inserted} inserted, {result.updated} updated, {result.unchanged} unchanged, {result.skipped} skipped.
            </p>
          </div>
          {result.problems.length > 0 && (
            <div className="warning" role="alert">
              <p>
                {result.skipped} row{result.skipped === 1 ? ' was' : 's were'} left out of {result.file}:
              </p>
              <ul>
                {result.problems.map((p, i) => (
                  <li key={i}>
                    {[p.row !== undefined ? `row ${p.row}` : '', p.column ?? ''].filter(Boolean).join(', ')}: {p.reason}
                  </li>
                ))}
              </ul>
            </div>
          )}
        </>
      )}
      {chosen && <Columns kind={chosen} />}
    </section>
  );
}
