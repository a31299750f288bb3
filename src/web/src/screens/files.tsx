// The agencies' report files, newest first, sorted, searched and paged by the server, each with
// its agency (two agencies' files may share a name), delivery status and attempts: release a
// file held for review (asks first), retry a queued delivery now, or download a file as
// stored (txt) or as csv / xlsx rows.
import { useState } from 'react';
import { get, post, type List } from '../api.ts';
import { useCan, useConfirm } from '../session.tsx';
import { DataTable, fetchAll, useListQuery } from '../table.tsx';
import { Busy, Done, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

interface FileRow {
  id: number;
  name: string;
  kind: string;
  agency: string;
  entry: string | null;
  reportDate: string | null;
  status: string;
  rowCount: number;
  attempts: number;
  nextAttemptAt: string | null;
  deliveredAt: string | null;
  createdAt: string;
}

interface Attempt {
  id: number;
  method: string;
  startedAt: string;
  ok: boolean;
  error: string;
}

/** Statuses as staff say them; "none" is an agency that takes no delivery. */
export const FILE_STATUS_LABELS: Record<string, string> = {
  queued: 'queued for delivery',
  delivered: 'delivered',
  held: 'held for review',
  none: 'ready to download',
};

const KINDS: Record<string, string> = { new: 'New Submissions', update: 'Updated Patrons', sync: 'Sync' };

function Attempts({ id }: { id: number }) {
  const { data, error } = useLoad(() => get<FileRow & { transferAttempts: Attempt[] }>(`/files/${id}`), [id]);
  if (error) return <ErrorBanner error={error} />;
  if (!data) return <Busy label="Loading attempts" />;
  if (data.transferAttempts.length === 0) return <p>No delivery attempts yet.</p>;
  return (
    <ul className="attempts">
      {data.transferAttempts.map((a) => (
        <li key={a.id}>
          {new Date(a.startedAt).toLocaleString()} via {a.method}: {a.ok ? 'delivered' : `failed — ${a.error}`}
        </li>
      ))}
    </ul>
  );
}

export function FilesScreen() {
  const [status, setStatus] = useState('');
  const { query, setQuery } = useListQuery({ sort: '-id' });
  const params = (offset: number, limit: number) => ({ status, q: query.filter.trim() || undefined, sort: query.sort || undefined, limit: String(limit), offset: String(offset) });
  const { data, error, reload, loading } = useLoad(() => get<List<FileRow>>('/files', params(query.offset, query.limit)), [status, query]);
  const [open, setOpen] = useState<number | null>(null);
  const task = useTask();
  const confirm = useConfirm();
  const can = useCan();
  async function retry(f: FileRow) {
    const r = await task.run(`Delivering ${f.name}`, () => post<{ ok?: boolean; error?: string }>(`/files/${f.id}/retry`));
    if (r) {
      if (r.ok === false) task.setError(new Error(`Delivery of ${f.name} failed: ${r.error ?? ''}`));
      else task.setMessage(`Tried ${f.name}: ${r.ok ? 'delivered' : 'see its attempts'}.`);
      reload();
    }
  }
  async function release(f: FileRow) {
    const ok = await confirm({
      title: `Release ${f.name} to ${f.agency} now?`,
      confirm: `Release to ${f.agency}`,
      body: <p>Its {f.rowCount} rows go to {f.agency} now instead of after the review hold. It cannot be called back.</p>,
    });
    if (!ok) return;
    const r = await task.run(`Releasing ${f.name}`, () => post<{ name: string; status: string }>(`/files/${f.id}/release`));
    if (r) {
      task.setMessage(`Released ${r.name} to ${f.agency}: ${FILE_STATUS_LABELS[r.status] ?? r.status}.`);
      reload();
    }
  }
  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Report files</h1>
      <div className="filters">
        <label>
          Delivery status
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setQuery({ ...query, offset: 0 });
            }}
          >
            <option value="">Any</option>
            {Object.entries(FILE_STATUS_LABELS).map(([s, label]) => (
              <option key={s} value={s}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error ?? error} />
      <Done message={task.message} />
      {data && (
        <DataTable
          name="report files"
          rows={data.items}
          rowKey={(f) => f.id}
          server={{ ...query, total: data.total, loading, onChange: setQuery, exportAll: () => fetchAll((offset, limit) => get<List<FileRow>>('/files', params(offset, limit))) }}
          columns={[
            {
              header: 'File',
              sortKey: 'name',
              text: (f) => f.name,
              cellClass: () => 'file-name',
              cell: (f) => (
                <>
                  <button type="button" className="link" aria-expanded={open === f.id} onClick={() => setOpen(open === f.id ? null : f.id)}>
                    {f.name}
                  </button>
                  {open === f.id && <Attempts id={f.id} />}
                </>
              ),
            },
            { header: 'Agency', sortKey: 'agency', cell: (f) => f.agency },
            { header: 'Kind', sortKey: 'kind', text: (f) => KINDS[f.kind] ?? f.kind, cell: (f) => KINDS[f.kind] ?? f.kind },
            { header: 'Report date', sortKey: 'reportDate', cell: (f) => f.reportDate ?? '' },
            { header: 'Rows', num: true, sortKey: 'rowCount', cell: (f) => f.rowCount },
            {
              header: 'Status',
              sortKey: 'status',
              text: (f) => FILE_STATUS_LABELS[f.status] ?? f.status,
              cell: (f) => (
                <>
                  <Status value={f.status} label={FILE_STATUS_LABELS[f.status] ?? f.status} />
                  {f.nextAttemptAt && f.status === 'queued' && <small> next {new Date(f.nextAttemptAt).toLocaleString()}</small>}
                  {f.nextAttemptAt && f.status === 'held' && <small> until {new Date(f.nextAttemptAt).toLocaleString()}</small>}
                </>
              ),
            },
            { header: 'Attempts', num: true, sortKey: 'attempts', cell: (f) => f.attempts },
            {
              header: 'Download',
              action: true,
              cellClass: () => 'downloads',
              cell: (f) =>
                (['txt', 'csv', 'xlsx'] as const).map((fmt) => (
                  <a key={fmt} href={`/api/files/${f.id}/download?format=${fmt}`} download aria-label={`Download ${f.name} as ${fmt} (${f.agency})`}>
                    {fmt}
                  </a>
                )),
            },
            ...(can('runs.run')
              ? [
                  {
                    header: 'Actions',
                    hideHeader: true,
                    action: true,
                    cell: (f: FileRow) =>
                      f.status === 'held' ? (
                        <button type="button" className="secondary" disabled={task.busy !== null} onClick={() => release(f)} aria-label={`Release ${f.name} to ${f.agency}`}>
                          Release
                        </button>
                      ) : f.status === 'queued' ? (
                        <button type="button" className="secondary" disabled={task.busy !== null} onClick={() => retry(f)} aria-label={`Retry delivery of ${f.name} to ${f.agency}`}>
                          Retry
                        </button>
                      ) : null,
                  },
                ]
              : []),
          ]}
        />
      )}
    </section>
  );
}
