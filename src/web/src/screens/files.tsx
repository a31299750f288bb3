// The agencies' report files with delivery status and attempts; retry a delivery now, or
// download a file as stored (txt) or as csv / xlsx rows.
import { useState } from 'react';
import { get, post, type List } from '../api.ts';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

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
  const { data, error, reload } = useLoad(() => get<List<FileRow>>('/files', { status }), [status]);
  const [open, setOpen] = useState<number | null>(null);
  const [message, setMessage] = useState('');
  const task = useTask();
  async function retry(f: FileRow) {
    const r = await task.run(`Delivering ${f.name}`, () => post<{ ok?: boolean; error?: string }>(`/files/${f.id}/retry`));
    if (r) {
      setMessage(r.ok === false ? `Delivery of ${f.name} failed: ${r.error ?? ''}` : `Tried ${f.name}: ${r.ok ? 'delivered' : 'see its attempts'}.`);
      reload();
    }
  }
  return (
    <section aria-labelledby="files-title">
      <h1 id="files-title">Report files</h1>
      <div className="filters">
        <label>
          Delivery status
          <select value={status} onChange={(e) => setStatus(e.target.value)}>
            <option value="">Any</option>
            {['queued', 'delivered', 'held', 'none'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error ?? error} />
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      {data && (
        <DataTable
          caption={counted(data.total, 'file')}
          rows={data.items}
          rowKey={(f) => f.id}
          columns={[
            {
              header: 'File',
              cell: (f) => (
                <>
                  <button type="button" className="link" aria-expanded={open === f.id} onClick={() => setOpen(open === f.id ? null : f.id)}>
                    {f.name}
                  </button>
                  {open === f.id && <Attempts id={f.id} />}
                </>
              ),
            },
            { header: 'Agency', cell: (f) => f.agency },
            { header: 'Report date', cell: (f) => f.reportDate },
            { header: 'Rows', num: true, cell: (f) => f.rowCount },
            {
              header: 'Status',
              cell: (f) => (
                <>
                  <Status value={f.status} />
                  {f.nextAttemptAt && f.status === 'queued' && <small> next {new Date(f.nextAttemptAt).toLocaleString()}</small>}
                </>
              ),
            },
            { header: 'Attempts', num: true, cell: (f) => f.attempts },
            {
              header: 'Download',
              cellClass: () => 'downloads',
              cell: (f) =>
                (['txt', 'csv', 'xlsx'] as const).map((fmt) => (
                  <a key={fmt} href={`/api/files/${f.id}/download?format=${fmt}`} download aria-label={`Download ${f.name} as ${fmt}`}>
                    {fmt}
                  </a>
                )),
            },
            {
              header: 'Actions',
              hideHeader: true,
              cell: (f) =>
                f.status !== 'delivered' &&
                f.status !== 'none' && (
                  <button type="button" className="secondary" disabled={task.busy !== null} onClick={() => retry(f)}>
                    Retry
                  </button>
                ),
            },
          ]}
        />
      )}
    </section>
  );
}
