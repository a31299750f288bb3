// ILS connectors: add one and test its connection, map the ILS's own codes (listed live from
// the ILS) to Arrears's, see the last sync and sync now, and follow the write-backs queued for
// the ILS with Retry for those that failed. The connection URL is write-only: the server
// stores it encrypted and sends back only where it points.
import { useState, type FormEvent } from 'react';
import { ApiError, get, patch, post, put, type List } from '../api.ts';
import { Attention } from '../attention.tsx';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

const KINDS = ['koha', 'evergreen'] as const;
const REASONS = ['overdue', 'replacement', 'processing', 'manual', 'damage', 'ignore'];
const PAYMENT_TYPES = ['payment', 'waive', 'writeoff'];

interface Connector {
  id: number;
  name: string;
  kind: string;
  location: string;
  timeZone: string;
  readOnly: boolean;
  libraries: string[];
  patrons: number;
  lastSyncAt: string | null;
  lastFullSyncAt: string | null;
  lastSync: { ok: boolean; mode?: string; error?: string; patrons?: number; charges?: number; payments?: number; items?: number; unmapped?: Record<string, string[]> } | null;
  writes: { pending: number; failed: number; applied: number };
}

interface Mapping {
  charges: Record<string, string>;
  payments: Record<string, string>;
  methods: Record<string, string>;
  libraries: Record<string, { timeZone?: string; ignore?: boolean }>;
}

interface Codes {
  libraries: { code: string; name: string; timeZone?: string }[];
  categories: { code: string; name: string }[];
  chargeTypes: { code: string; name: string }[];
  paymentTypes: { code: string; name: string }[];
  methods: { code: string; name: string }[];
  mapping: Mapping;
  stock: Mapping;
}

interface TestReport {
  ok: boolean;
  version: string;
  privileges: { what: string; ok: boolean }[];
  excess: string[];
  warnings: string[];
  counts: Record<string, number>;
}

interface SyncResult {
  mode: string;
  patrons: number;
  charges: number;
  payments: number;
  items: number;
  rowsRead: number;
  removed: { payments: number; charges: number; itemLinks: number };
  unmapped: Record<string, string[]>;
}

interface Write {
  id: number;
  kind: string;
  patronId: string;
  referralId: number;
  status: string;
  attempts: number;
  lastError: string | null;
  ilsRef: string | null;
  createdAt: string;
}

const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : 'never');

function AddForm({ onDone, onCancel }: { onDone: (c: Connector) => void; onCancel: () => void }) {
  const task = useTask();
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [kind, setKind] = useState<string>('koha');
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setProblems({});
    const form = new FormData(e.currentTarget);
    const text = (k: string) => String(form.get(k) ?? '').trim();
    const r = await task.run('Adding the connector', async () => {
      try {
        return await post<Connector>('/connectors', { name: text('name'), kind: text('kind'), url: text('url'), timeZone: text('timeZone'), readOnly: form.get('readOnly') === 'on' });
      } catch (err) {
        if (err instanceof ApiError) setProblems(Object.fromEntries(err.problems.filter((p) => p.field).map((p) => [p.field!, p.reason])));
        throw err;
      }
    });
    if (r) onDone(r);
  }
  const problem = (field: string, label: string) =>
    problems[field] ? (
      <span className="problem" id={`connector-${field}-problem`}>
        {label} {problems[field]}
      </span>
    ) : null;
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="connector-add-title" noValidate>
      <h2 id="connector-add-title">Add a connector</h2>
      <div className="field">
        <label htmlFor="connector-name">Name</label>
        <input id="connector-name" name="name" required maxLength={31} placeholder="koha" aria-describedby="connector-name-hint" />
        <small id="connector-name-hint">Lower case; it prefixes the ids of what it reads, e.g. koha:1042.</small>
        {problem('name', 'Name')}
      </div>
      <div className="field">
        <label htmlFor="connector-kind">ILS</label>
        <select id="connector-kind" name="kind" value={kind} onChange={(e) => setKind(e.target.value)}>
          {KINDS.map((k) => (
            <option key={k} value={k}>
              {k === 'koha' ? 'Koha (MariaDB/MySQL)' : 'Evergreen (PostgreSQL)'}
            </option>
          ))}
        </select>
      </div>
      <div className="field">
        <label htmlFor="connector-url">Connection URL</label>
        <input id="connector-url" name="url" type="password" autoComplete="off" required aria-describedby="connector-url-hint" />
        <small id="connector-url-hint">{kind === 'evergreen' ? 'postgres://user:password@host:5432/evergreen (?sslmode=verify-full, ?host=/var/run/postgresql)' : 'mysql://user:password@host:3306/koha (?ssl-mode=VERIFY_IDENTITY, ?socket=/run/mysqld/mysqld.sock)'} — stored encrypted, never shown again. Use the least-privilege user of the README.</small>
        {problem('url', 'Connection URL')}
      </div>
      <div className="field">
        <label htmlFor="connector-zone">ILS time zone</label>
        <input id="connector-zone" name="timeZone" required defaultValue={Intl.DateTimeFormat().resolvedOptions().timeZone} />
        {problem('timeZone', 'ILS time zone')}
      </div>
      <div className="field check">
        <input id="connector-readonly" name="readOnly" type="checkbox" />
        <label htmlFor="connector-readonly">Read only: never write the block back (flags only)</label>
      </div>
      <ErrorBanner error={task.error} />
      {task.busy && <Busy label={task.busy} />}
      <div className="actions">
        <button type="submit" disabled={!!task.busy}>
          Add connector
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function TestResult({ report }: { report: TestReport }) {
  return (
    <div className={report.ok ? 'success' : 'error'} role="status">
      <p>
        {report.version}: {report.ok ? 'every privilege the connector needs is there.' : 'privileges are missing; see the GRANT statements in the README.'}
      </p>
      <ul aria-label="Privileges">
        {report.privileges.map((p) => (
          <li key={p.what}>
            {p.ok ? '✓' : '✗ missing:'} {p.what}
          </li>
        ))}
      </ul>
      <p>{Object.entries(report.counts).map(([k, v]) => `${v} ${k}`).join(', ')}</p>
      {report.warnings.length > 0 && (
        <div className="warning">
          <p>The ILS’s own settings weaken the block Arrears writes:</p>
          <ul aria-label="ILS settings">
            {report.warnings.map((w) => (
              <li key={w}>{w}</li>
            ))}
          </ul>
        </div>
      )}
      {report.excess.length > 0 && (
        <div className="warning">
          <p>This user may do more than the connector ever does. Give it only the README’s GRANTs (least privilege):</p>
          <ul aria-label="More than needed">
            {report.excess.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}

/** The mapping editor: every code the ILS has, what it maps to now, changes kept only where they differ from the stock mapping. */
function MappingEditor({ name, canEdit }: { name: string; canEdit: boolean }) {
  const codes = useLoad(() => get<Codes>(`/connectors/${name}/codes`), [name]);
  const task = useTask();
  const [draft, setDraft] = useState<Mapping | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  if (codes.error) return <ErrorBanner error={codes.error} />;
  if (!codes.data) return <Busy label="Reading the ILS's codes" />;
  const c = codes.data;
  const m = draft ?? c.mapping;
  const set = (section: keyof Mapping, code: string, value: unknown) => {
    setSaved(null);
    setDraft({ ...m, [section]: { ...m[section], [code]: value } });
  };
  async function save() {
    const overrides: Record<string, Record<string, unknown>> = { charges: {}, payments: {}, methods: {}, libraries: {} };
    for (const section of ['charges', 'payments', 'methods'] as const) {
      for (const [code, value] of Object.entries(m[section])) if (value !== c.stock[section][code] && value !== '') overrides[section]![code] = value;
    }
    for (const [code, value] of Object.entries(m.libraries)) if (value.timeZone || value.ignore) overrides.libraries![code] = value;
    const r = await task.run('Saving the mapping', () => put(`/connectors/${name}/mapping`, overrides));
    if (r) {
      setSaved('Mapping saved; the next sync reads with it.');
      setDraft(null);
      codes.reload();
    }
  }
  return (
    <section aria-labelledby={`mapping-${name}`}>
      <h3 id={`mapping-${name}`}>Mapping of {name}'s codes</h3>
      <DataTable
        caption="Charges (debit or billing types)"
        rows={c.chargeTypes}
        rowKey={(r) => r.code}
        columns={[
          { header: 'Code', cell: (r) => r.code },
          { header: 'In the ILS', cell: (r) => r.name },
          {
            header: 'Charge reason',
            cell: (r) => (
              <select aria-label={`Charge reason for ${r.code}`} disabled={!canEdit} value={m.charges[r.code] ?? 'manual'} onChange={(e) => set('charges', r.code, e.target.value)}>
                {REASONS.map((x) => (
                  <option key={x}>{x}</option>
                ))}
              </select>
            ),
          },
        ]}
      />
      <DataTable
        caption="Payments (credit types or payment kinds)"
        rows={c.paymentTypes}
        rowKey={(r) => r.code}
        columns={[
          { header: 'Code', cell: (r) => r.code },
          { header: 'In the ILS', cell: (r) => r.name },
          {
            header: 'Counts as',
            cell: (r) => (
              <select aria-label={`Payment kind for ${r.code}`} disabled={!canEdit} value={m.payments[r.code] ?? 'payment'} onChange={(e) => set('payments', r.code, e.target.value)}>
                {PAYMENT_TYPES.map((x) => (
                  <option key={x}>{x}</option>
                ))}
              </select>
            ),
          },
        ]}
      />
      <DataTable
        caption="Payment methods (recorded as, e.g. collection agency)"
        rows={c.methods}
        rowKey={(r) => r.code}
        columns={[
          { header: 'Code', cell: (r) => r.code },
          { header: 'In the ILS', cell: (r) => r.name },
          { header: 'Recorded as', cell: (r) => <input aria-label={`Method for ${r.code}`} disabled={!canEdit} value={m.methods[r.code] ?? r.code} onChange={(e) => set('methods', r.code, e.target.value)} /> },
        ]}
      />
      <DataTable
        caption="Libraries (branches or org units)"
        rows={c.libraries}
        rowKey={(r) => r.code}
        columns={[
          { header: 'Code', cell: (r) => r.code },
          { header: 'In the ILS', cell: (r) => r.name },
          {
            header: 'Time zone',
            cell: (r) => (
              <input aria-label={`Time zone of ${r.code}`} disabled={!canEdit} placeholder={r.timeZone ? `${r.timeZone} (the ILS's)` : "the connector's"} value={m.libraries[r.code]?.timeZone ?? ''} onChange={(e) => set('libraries', r.code, { ...m.libraries[r.code], timeZone: e.target.value || undefined })} />
            ),
          },
          {
            header: 'Leave out',
            cell: (r) => <input type="checkbox" aria-label={`Leave ${r.code} out`} disabled={!canEdit} checked={!!m.libraries[r.code]?.ignore} onChange={(e) => set('libraries', r.code, { ...m.libraries[r.code], ignore: e.target.checked || undefined })} />,
          },
        ]}
      />
      <p>Patron categories (use these codes as PTYPEs in the settings table): {c.categories.map((x) => `${x.code} (${x.name})`).join(', ') || 'none'}</p>
      <ErrorBanner error={task.error} />
      {task.busy && <Busy label={task.busy} />}
      {saved && (
        <p className="success" role="status">
          {saved}
        </p>
      )}
      {canEdit && (
        <button type="button" onClick={save} disabled={!!task.busy || draft === null}>
          Save mapping
        </button>
      )}
    </section>
  );
}

function Writes({ name, canRun }: { name: string; canRun: boolean }) {
  const writes = useLoad(() => get<List<Write>>(`/connectors/${name}/writes`, { limit: '100' }), [name]);
  const task = useTask();
  const [message, setMessage] = useState<string | null>(null);
  async function retry(id: number) {
    setMessage(null);
    const r = await task.run('Queueing it again', () => post<Write>(`/writes/${id}/retry`));
    if (r) {
      setMessage(`Write-back ${id} is queued again.`);
      writes.reload();
    }
  }
  async function applyNow() {
    setMessage(null);
    const r = await task.run('Writing to the ILS', () => post<{ applied: number; pending: number; failed: number; error?: string }>(`/connectors/${name}/writeback`));
    if (r) {
      setMessage(`${r.applied} applied, ${r.pending} still queued, ${r.failed} failed${r.error ? ` — the ILS could not be reached: ${r.error}` : ''}.`);
      writes.reload();
    }
  }
  const rows = writes.data?.items ?? [];
  return (
    <section aria-labelledby={`writes-${name}`}>
      <h3 id={`writes-${name}`}>Write-backs to {name}</h3>
      <ErrorBanner error={writes.error ?? task.error} />
      {task.busy && <Busy label={task.busy} />}
      {message && (
        <p className="success" role="status">
          {message}
        </p>
      )}
      {canRun && (
        <button type="button" onClick={applyNow} disabled={!!task.busy}>
          Apply queued write-backs now
        </button>
      )}
      <DataTable
        caption={counted(rows.length, 'write-back')}
        rows={rows}
        rowKey={(w) => w.id}
        columns={[
          { header: 'Id', num: true, cell: (w) => w.id },
          { header: 'Kind', cell: (w) => w.kind },
          { header: 'Patron', cell: (w) => w.patronId },
          { header: 'Status', cell: (w) => <Status value={w.status} /> },
          { header: 'Attempts', num: true, cell: (w) => w.attempts },
          { header: 'ILS id', cell: (w) => w.ilsRef ?? '' },
          { header: 'Last error', cell: (w) => w.lastError ?? '' },
          {
            header: 'Actions',
            hideHeader: true,
            cell: (w) =>
              canRun && w.status === 'failed' ? (
                <button type="button" className="secondary" onClick={() => retry(w.id)} disabled={!!task.busy}>
                  Retry
                </button>
              ) : null,
          },
        ]}
      />
    </section>
  );
}

function Detail({ connector, me, onChanged }: { connector: Connector; me: string[]; onChanged: () => void }) {
  const task = useTask();
  const [report, setReport] = useState<TestReport | null>(null);
  const [synced, setSynced] = useState<SyncResult | null>(null);
  const [full, setFull] = useState(false);
  const canEdit = me.includes('settings.edit');
  async function test() {
    setReport(null);
    const r = await task.run('Connecting to the ILS', () => post<TestReport>(`/connectors/${connector.name}/test`));
    if (r) setReport(r);
  }
  async function sync() {
    setSynced(null);
    const r = await task.run(full ? 'Reading everything from the ILS' : 'Reading what changed in the ILS', () => post<SyncResult>(`/connectors/${connector.name}/sync`, { full }));
    if (r) {
      setSynced(r);
      onChanged();
    }
  }
  async function toggleReadOnly() {
    const r = await task.run('Saving', () => patch<Connector>(`/connectors/${connector.name}`, { readOnly: !connector.readOnly }));
    if (r) onChanged();
  }
  const last = connector.lastSync;
  return (
    <section className="panel" aria-labelledby={`connector-${connector.name}`}>
      <h2 id={`connector-${connector.name}`}>
        {connector.name} <small>({connector.kind})</small>
      </h2>
      <p>
        {connector.location}, ILS time zone {connector.timeZone}
        {connector.readOnly ? ', read only (writes nothing to the ILS)' : ''}. Libraries: {connector.libraries.join(', ') || 'none yet'}; {connector.patrons} patrons.
      </p>
      <p>
        Last sync: {when(connector.lastSyncAt)}
        {last?.ok && last.mode ? ` (${last.mode}: ${last.patrons ?? 0} patrons, ${last.charges ?? 0} charges, ${last.payments ?? 0} payments changed)` : ''}. Last full sync: {when(connector.lastFullSyncAt)}.
      </p>
      {last && !last.ok && (
        <p className="error" role="alert">
          The last sync failed and changed nothing: {last.error}
        </p>
      )}
      <div className="actions">
        {canEdit && (
          <button type="button" onClick={test} disabled={!!task.busy}>
            Test connection
          </button>
        )}
        {me.includes('imports.run') && (
          <>
            <button type="button" onClick={sync} disabled={!!task.busy}>
              Sync now
            </button>
            <label className="check">
              <input type="checkbox" checked={full} onChange={(e) => setFull(e.target.checked)} /> Full sync (reads everything: catches deletes and voids)
            </label>
          </>
        )}
        {canEdit && (
          <button type="button" className="secondary" onClick={toggleReadOnly} disabled={!!task.busy}>
            {connector.readOnly ? 'Write the block back again' : 'Make read only'}
          </button>
        )}
      </div>
      <ErrorBanner error={task.error} />
      {task.busy && <Busy label={task.busy} />}
      {report && <TestResult report={report} />}
      {synced && (
        <p className="success" role="status">
          {synced.mode === 'full' ? 'Full' : 'Incremental'} sync done: {synced.rowsRead} rows read; {synced.patrons} patrons, {synced.items} items, {synced.charges} charges and {synced.payments} payments added or changed
          {synced.removed.payments + synced.removed.charges + synced.removed.itemLinks ? `; no longer in the ILS: ${synced.removed.payments} payments, ${synced.removed.charges} charges, ${synced.removed.itemLinks} item links` : ''}.
          {Object.entries(synced.unmapped)
            .filter(([, v]) => v.length)
            .map(([k, v]) => ` Unmapped ${k} codes took the default: ${v.join(', ')}.`)
            .join('')}
        </p>
      )}
      <MappingEditor name={connector.name} canEdit={canEdit} />
      <Writes name={connector.name} canRun={me.includes('runs.run')} />
    </section>
  );
}

export function ConnectorsScreen() {
  const [version, setVersion] = useState(0);
  const me = useLoad(() => get<{ permissions: string[] }>('/me'), []);
  const list = useLoad(() => get<List<Connector>>('/connectors'), [version]);
  const [adding, setAdding] = useState(false);
  const [selected, setSelected] = useState<string | null>(null);
  const [message, setMessage] = useState<string | null>(null);
  const permissions = me.data?.permissions ?? [];
  const rows = list.data?.items ?? [];
  const current = rows.find((c) => c.name === selected) ?? null;
  return (
    <>
      <h1>ILS connectors</h1>
      <p>Read Koha or Evergreen directly, and write the collections block back into it.</p>
      <Attention screen="connectors" version={version} />
      <ErrorBanner error={list.error} />
      {message && (
        <p className="success" role="status">
          {message}
        </p>
      )}
      {permissions.includes('settings.edit') && !adding && (
        <button type="button" onClick={() => (setAdding(true), setMessage(null))}>
          Add a connector
        </button>
      )}
      {adding && (
        <AddForm
          onCancel={() => setAdding(false)}
          onDone={(c) => {
            setAdding(false);
            setSelected(c.name);
            setMessage(`Added ${c.name}. Test the connection, check the mapping, then sync.`);
            setVersion((v) => v + 1);
          }}
        />
      )}
      <DataTable
        caption={counted(rows.length, 'connector')}
        rows={rows}
        rowKey={(c) => c.name}
        columns={[
          {
            header: 'Name',
            cell: (c) => (
              <button type="button" className="link" aria-pressed={c.name === selected} onClick={() => setSelected(c.name)}>
                {c.name}
              </button>
            ),
          },
          { header: 'ILS', cell: (c) => c.kind },
          { header: 'Where', cell: (c) => c.location },
          { header: 'Libraries', cell: (c) => c.libraries.join(', ') },
          { header: 'Patrons', num: true, cell: (c) => c.patrons },
          { header: 'Last sync', cell: (c) => (c.lastSync && !c.lastSync.ok ? `failed: ${c.lastSync.error ?? ''}` : when(c.lastSyncAt)) },
          { header: 'Pending writes', num: true, cell: (c) => c.writes.pending },
          { header: 'Failed writes', num: true, cell: (c) => c.writes.failed },
        ]}
      />
      {current && <Detail key={current.name} connector={current} me={permissions} onChanged={() => setVersion((v) => v + 1)} />}
    </>
  );
}
