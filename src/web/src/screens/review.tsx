// Review before sending: New Submissions files held for review with the patrons in each, the
// explain view for any of them, "Exclude now" (reason and until date) and early release; then
// every exclusion, with "Lift". An exclusion also keeps later runs from submitting the patron.
// Excluding and releasing ask first; each control shows only to a role that may use it.
import { useState, type FormEvent } from 'react';
import { del, get, post, type List } from '../api.ts';
import { ExplainView, type Explanation } from '../explain.tsx';
import { formatCents, toCents } from '../money.ts';
import { money, PatronLink, useCan, useConfirm } from '../session.tsx';
import { DataTable } from '../table.tsx';
import { Busy, Done, ErrorBanner, useLoad, useTask } from '../ui.tsx';

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

interface Events {
  /** An action is starting: the last outcome goes. */
  onStart: () => void;
  /** An action succeeded: say so and reload. */
  onChanged: (message: string) => void;
}

function ExcludeForm({ patronId, held, onStart, onChanged, onCancel }: Events & { patronId?: string; held?: HeldFile; onCancel?: () => void }) {
  const task = useTask();
  const confirm = useConfirm();
  const prefix = patronId ? `exclude-${patronId}` : 'exclude-any';
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const target = e.currentTarget;
    const form = new FormData(target);
    const until = String(form.get('until') ?? '');
    const body = { patronId: patronId ?? String(form.get('patronId') ?? '').trim(), reason: String(form.get('reason') ?? '').trim(), until: until || null };
    const ok = await confirm({
      title: `Exclude patron ${body.patronId} ${until ? `until ${until}` : 'until lifted'}?`,
      confirm: `Exclude ${body.patronId}`,
      danger: true,
      body: held ? (
        <p>
          Their referral to {held.agency} is cancelled and they are taken out of {held.name}, which has not been sent. No run submits them while the exclusion is in force.
        </p>
      ) : (
        <p>No run submits them while the exclusion is in force. A referral already held for review is cancelled.</p>
      ),
    });
    if (!ok) return;
    onStart();
    const r = await task.run('Excluding', () => post<ExclusionReply>('/exclusions', body));
    if (!r) return;
    const cancelled = r.cancelled.length ? ` Cancelled referral ${r.cancelled.map((c) => `${c.referralId} (${c.agency})`).join(', ')}.` : '';
    const rebuilt = r.rebuilt.map((f) => (f.removed ? ` Removed the now empty file ${f.name}.` : ` Rebuilt ${f.name} with ${f.rows} rows.`)).join('');
    onChanged(`Patron ${r.exclusion.patronId} excluded${r.exclusion.untilDate ? ` until ${r.exclusion.untilDate}` : ' until lifted'}.${cancelled}${rebuilt}`);
    target.reset();
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

function HeldFiles({ onStart, onChanged, version }: Events & { version: number }) {
  const { data, error, reload } = useLoad(() => get<List<HeldFile>>('/review'), [version]);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const [excluding, setExcluding] = useState<string | null>(null);
  const task = useTask();
  const confirm = useConfirm();
  const can = useCan();
  async function explain(f: HeldFile, patronId: string) {
    setExplanation(null);
    const x = await task.run(`Explaining patron ${patronId}`, () => get<Explanation>(`/explain/${encodeURIComponent(patronId)}`, { date: f.reportDate ?? undefined }));
    if (x) setExplanation(x);
  }
  async function release(f: HeldFile) {
    const total = f.patrons.reduce((sum, p) => sum + toCents(p.referred), 0);
    const ok = await confirm({
      title: `Release ${f.name} to ${f.agency} now?`,
      confirm: `Release to ${f.agency}`,
      body: (
        <p>
          {f.patrons.length} patron{f.patrons.length === 1 ? '' : 's'} ({formatCents(total)} referred) go to {f.agency} now instead of after the review hold. It cannot be called back.
        </p>
      ),
    });
    if (!ok) return;
    onStart();
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
            {can('runs.run') && (
              <button type="button" className="secondary" onClick={() => release(f)} disabled={task.busy !== null} aria-label={`Release ${f.name} to ${f.agency} now`}>
                Release now
              </button>
            )}
          </p>
          <DataTable
            name={`patrons in ${f.name}`}
            caption={<>Patrons in {f.name} to {f.agency}</>}
            rows={f.patrons}
            rowKey={(p) => p.patronId}
            columns={[
              { header: 'Patron', text: (p) => p.patronId, cell: (p) => <PatronLink id={p.patronId} /> },
              { header: 'Name', cell: (p) => p.name },
              { header: 'Referred', num: true, text: (p) => money(p.referred), sortValue: (p) => toCents(p.referred), cell: (p) => money(p.referred) },
              { header: 'Fee', num: true, text: (p) => money(p.fee), sortValue: (p) => toCents(p.fee), cell: (p) => money(p.fee) },
              ...(can('runs.run') || can('recordsets.manage')
                ? [
                    {
                      header: 'Actions',
                      hideHeader: true,
                      action: true,
                      cell: (p: HeldFile['patrons'][number]) => (
                        <>
                          {can('runs.run') && (
                            <button type="button" className="link" onClick={() => explain(f, p.patronId)}>
                              Explain {p.patronId}
                            </button>
                          )}{' '}
                          {can('recordsets.manage') && (
                            <button type="button" className="link" onClick={() => setExcluding(p.patronId)}>
                              Exclude {p.patronId}
                            </button>
                          )}
                        </>
                      ),
                    },
                  ]
                : []),
            ]}
          />
          {excluding && f.patrons.some((p) => p.patronId === excluding) && (
            <ExcludeForm
              key={excluding}
              patronId={excluding}
              held={f}
              onCancel={() => setExcluding(null)}
              onStart={onStart}
              onChanged={(m) => {
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

function Exclusions({ version, onStart, onChanged }: Events & { version: number }) {
  const [state, setState] = useState('active');
  const { data, error } = useLoad(() => get<List<Exclusion>>('/exclusions', { state, limit: '500' }), [state, version]);
  const task = useTask();
  const can = useCan();
  async function lift(x: Exclusion) {
    onStart();
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
          name="exclusions"
          rows={data.items}
          rowKey={(x) => x.id}
          columns={[
            {
              header: 'Patron',
              text: (x) => `${x.patronId} ${x.patronName}`,
              cell: (x) => (
                <>
                  <PatronLink id={x.patronId} /> {x.patronName && <small>({x.patronName})</small>}
                </>
              ),
            },
            { header: 'Reason', cell: (x) => x.reason },
            { header: 'Until', text: (x) => x.untilDate ?? 'until lifted', cell: (x) => x.untilDate ?? 'until lifted' },
            { header: 'By', text: (x) => `${x.createdBy}, ${new Date(x.createdAt).toLocaleDateString()}`, sortValue: (x) => x.createdAt, cell: (x) => `${x.createdBy}, ${new Date(x.createdAt).toLocaleDateString()}` },
            { header: 'State', cell: (x) => (x.active ? 'in force' : x.liftedAt ? `lifted by ${x.liftedBy ?? ''}` : 'ended') },
            ...(can('recordsets.manage')
              ? [
                  {
                    header: 'Actions',
                    hideHeader: true,
                    action: true,
                    cell: (x: Exclusion) => (
                      <>
                        {x.active && (
                          <button type="button" className="secondary" onClick={() => lift(x)} disabled={task.busy !== null}>
                            Lift {x.patronId}
                          </button>
                        )}
                      </>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
    </section>
  );
}

export function ReviewScreen() {
  const [message, setMessage] = useState('');
  const [version, setVersion] = useState(0);
  const can = useCan();
  const events: Events = {
    onStart: () => setMessage(''),
    onChanged: (m) => {
      setMessage(m);
      setVersion((v) => v + 1);
    },
  };
  return (
    <section aria-labelledby="review-title">
      <h1 id="review-title">Review and exclusions</h1>
      <Done message={message} />
      <HeldFiles version={version} {...events} />
      {can('recordsets.manage') && <ExcludeForm {...events} />}
      <Exclusions version={version} {...events} />
    </section>
  );
}
