// Review before sending: New Submissions files held for review with the patrons in each, the
// explain view for any of them, "Exclude now" (reason and until date) and early release; then
// every exclusion, with "Lift". An exclusion also keeps later runs from submitting the patron.
import { useState, type FormEvent } from 'react';
import { del, get, post, type List } from '../api.ts';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, useLoad, useTask } from '../ui.tsx';
import { ExplainView, type Explanation } from './runs.tsx';

interface HeldFile {
  id: number;
  name: string;
  agency: string;
  reportDate: string | null;
  holdUntil: string | null;
  patrons: { patronId: string; name: string; referralId: number; referred: string; fee: string }[];
}

interface Exclusion {
  id: number;
  patronId: string;
  patronName: string;
  reason: string;
  untilDate: string | null;
  createdBy: string;
  createdAt: string;
  liftedAt: string | null;
  liftedBy: string | null;
  active: boolean;
}

interface ExclusionReply {
  exclusion: Exclusion;
  cancelled: { referralId: number; agency: string }[];
  rebuilt: { name: string; rows: number; removed: boolean }[];
}

function ExcludeForm({ patronId, onDone, onCancel }: { patronId?: string; onDone: (message: string) => void; onCancel?: () => void }) {
  const task = useTask();
  const prefix = patronId ? `exclude-${patronId}` : 'exclude-any';
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const until = String(form.get('until') ?? '');
    const body = { patronId: patronId ?? String(form.get('patronId') ?? '').trim(), reason: String(form.get('reason') ?? '').trim(), until: until || null };
    const r = await task.run('Excluding', () => post<ExclusionReply>('/exclusions', body));
    if (!r) return;
    const cancelled = r.cancelled.length ? ` Cancelled referral ${r.cancelled.map((c) => `${c.referralId} (${c.agency})`).join(', ')}.` : '';
    const rebuilt = r.rebuilt.map((f) => (f.removed ? ` Removed the now empty file ${f.name}.` : ` Rebuilt ${f.name} with ${f.rows} rows.`)).join('');
    onDone(`Patron ${r.exclusion.patronId} excluded${r.exclusion.untilDate ? ` until ${r.exclusion.untilDate}` : ' until lifted'}.${cancelled}${rebuilt}`);
    e.currentTarget?.reset();
  }
  return (
    <form className="panel" onSubmit={submit} aria-labelledby={`${prefix}-title`}>
      <h3 id={`${prefix}-title`}>{patronId ? `Exclude patron ${patronId}` : 'Exclude a patron'}</h3>
      {!patronId && (
        <div className="field">
          <label htmlFor={`${prefix}-patron`}>Patron id</label>
          <input id={`${prefix}-patron`} name="patronId" required maxLength={100} />
        </div>
      )}
      <div className="field">
        <label htmlFor={`${prefix}-reason`}>Reason</label>
        <input id={`${prefix}-reason`} name="reason" required maxLength={500} />
      </div>
      <div className="field">
        <label htmlFor={`${prefix}-until`}>Until (last day; blank = until lifted)</label>
        <input id={`${prefix}-until`} name="until" type="date" />
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      <div className="actions">
        <button type="submit" className="danger" disabled={task.busy !== null}>
          Exclude now
        </button>
        {onCancel && (
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        )}
      </div>
    </form>
  );
}

function HeldFiles({ onChanged, version }: { onChanged: (message: string) => void; version: number }) {
  const { data, error, reload } = useLoad(() => get<List<HeldFile>>('/review'), [version]);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const [excluding, setExcluding] = useState<string | null>(null);
  const task = useTask();
  async function explain(f: HeldFile, patronId: string) {
    const x = await task.run(`Explaining patron ${patronId}`, () => get<Explanation>(`/explain/${encodeURIComponent(patronId)}`, { date: f.reportDate ?? undefined }));
    if (x) setExplanation(x);
  }
  async function release(f: HeldFile) {
    const r = await task.run(`Releasing ${f.name}`, () => post<{ name: string; status: string }>(`/files/${f.id}/release`));
    if (r) {
      onChanged(`Released ${r.name}: ${r.status === 'queued' ? 'queued for delivery' : 'ready to download'}.`);
      reload();
    }
  }
  return (
    <section aria-labelledby="held-title">
      <h2 id="held-title">Held for review</h2>
      <ErrorBanner error={error ?? task.error} />
      {task.busy && <Busy label={task.busy} />}
      {explanation && <ExplainView explanation={explanation} onClose={() => setExplanation(null)} />}
      {data && data.items.length === 0 && <p>No New Submissions file is held for review.</p>}
      {data?.items.map((f) => (
        <div className="panel" key={f.id}>
          <h3>
            {f.name} to {f.agency}{' '}
            <span className="count">
              ({f.patrons.length} patron{f.patrons.length === 1 ? '' : 's'})
            </span>
          </h3>
          <p>
            Report date {f.reportDate}; sent {f.holdUntil ? `after ${new Date(f.holdUntil).toLocaleString()}` : 'when released'}.{' '}
            <button type="button" className="secondary" onClick={() => release(f)} disabled={task.busy !== null} aria-label={`Release ${f.name} to ${f.agency} now`}>
              Release now
            </button>
          </p>
          <DataTable
            caption={<>Patrons in {f.name} to {f.agency}</>}
            rows={f.patrons}
            rowKey={(p) => p.patronId}
            columns={[
              { header: 'Patron', cell: (p) => p.patronId },
              { header: 'Name', cell: (p) => p.name },
              { header: 'Referred', num: true, cell: (p) => p.referred },
              { header: 'Fee', num: true, cell: (p) => p.fee },
              {
                header: 'Actions',
                hideHeader: true,
                cell: (p) => (
                  <>
                    <button type="button" className="link" onClick={() => explain(f, p.patronId)}>
                      Explain {p.patronId}
                    </button>{' '}
                    <button type="button" className="link" onClick={() => setExcluding(p.patronId)}>
                      Exclude {p.patronId}
                    </button>
                  </>
                ),
              },
            ]}
          />
          {excluding && f.patrons.some((p) => p.patronId === excluding) && (
            <ExcludeForm
              key={excluding}
              patronId={excluding}
              onCancel={() => setExcluding(null)}
              onDone={(m) => {
                setExcluding(null);
                onChanged(m);
              }}
            />
          )}
        </div>
      ))}
    </section>
  );
}

function Exclusions({ version, onChanged }: { version: number; onChanged: (message: string) => void }) {
  const [state, setState] = useState('active');
  const { data, error } = useLoad(() => get<List<Exclusion>>('/exclusions', { state, limit: '200' }), [state, version]);
  const task = useTask();
  async function lift(x: Exclusion) {
    const r = await task.run(`Lifting the exclusion of ${x.patronId}`, () => del<Exclusion>(`/exclusions/${x.id}`));
    if (r) onChanged(`Lifted the exclusion of patron ${r.patronId}.`);
  }
  return (
    <section aria-labelledby="exclusions-title">
      <h2 id="exclusions-title">Exclusions</h2>
      <div className="filters">
        <label>
          Show
          <select value={state} onChange={(e) => setState(e.target.value)}>
            <option value="active">in force</option>
            <option value="ended">lifted or ended</option>
            <option value="all">all</option>
          </select>
        </label>
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={error ?? task.error} />
      {data && (
        <DataTable
          caption={counted(data.total, 'exclusion')}
          rows={data.items}
          rowKey={(x) => x.id}
          columns={[
            {
              header: 'Patron',
              cell: (x) => (
                <>
                  {x.patronId} {x.patronName && <small>({x.patronName})</small>}
                </>
              ),
            },
            { header: 'Reason', cell: (x) => x.reason },
            { header: 'Until', cell: (x) => x.untilDate ?? 'until lifted' },
            {
              header: 'By',
              cell: (x) => (
                <>
                  {x.createdBy}, {new Date(x.createdAt).toLocaleDateString()}
                </>
              ),
            },
            { header: 'State', cell: (x) => (x.active ? 'in force' : x.liftedAt ? `lifted by ${x.liftedBy ?? ''}` : 'ended') },
            {
              header: 'Actions',
              hideHeader: true,
              cell: (x) => (
                <>
                  {x.active && (
                    <button type="button" className="secondary" onClick={() => lift(x)} disabled={task.busy !== null}>
                      Lift {x.patronId}
                    </button>
                  )}
                </>
              ),
            },
          ]}
        />
      )}
    </section>
  );
}

export function ReviewScreen() {
  const [message, setMessage] = useState('');
  const [version, setVersion] = useState(0);
  const changed = (m: string) => {
    setMessage(m);
    setVersion((v) => v + 1);
  };
  return (
    <section aria-labelledby="review-title">
      <h1 id="review-title">Review and exclusions</h1>
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      <HeldFiles version={version} onChanged={changed} />
      <ExcludeForm onDone={changed} />
      <Exclusions version={version} onChanged={changed} />
    </section>
  );
}
