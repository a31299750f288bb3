// The audit log: who did what, when, to which record, narrowed by actor, action, entity and
// a date range (whole days in the browser's time zone).
import { useState, type FormEvent } from 'react';
import { get, type List } from '../api.ts';
import { Busy, ErrorBanner, useLoad } from '../ui.tsx';

interface AuditRow {
  id: number;
  at: string;
  actor: string;
  action: string;
  entity: string;
  entityId: string;
  before: unknown;
  after: unknown;
}

type Filter = { actor: string; action: string; entity: string; from: string; to: string };
const EMPTY: Filter = { actor: '', action: '', entity: '', from: '', to: '' };

/** Start of a calendar day in the browser's zone, as the ISO instant the API takes. */
function dayStart(date: string, plusDays = 0): string | undefined {
  if (!date) return undefined;
  const [y, m, d] = date.split('-').map(Number);
  return new Date(y!, m! - 1, d! + plusDays).toISOString();
}

function brief(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 117)}…` : text;
}

export function AuditScreen() {
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const [offset, setOffset] = useState(0);
  const { data, error } = useLoad(
    () =>
      get<List<AuditRow>>('/audit', {
        actor: filter.actor.trim(),
        action: filter.action.trim(),
        entity: filter.entity.trim(),
        from: dayStart(filter.from),
        to: dayStart(filter.to, 1),
        limit: '50',
        offset: String(offset),
      }),
    [filter, offset],
  );
  function apply(e: FormEvent) {
    e.preventDefault();
    setOffset(0);
    setFilter(draft);
  }
  const field = (key: keyof Filter, label: string, type = 'text') => (
    <label>
      {label}
      <input type={type} name={key} value={draft[key]} onChange={(e) => setDraft({ ...draft, [key]: e.target.value })} />
    </label>
  );
  return (
    <section aria-labelledby="audit-title">
      <h1 id="audit-title">Audit log</h1>
      <form className="filters" onSubmit={apply}>
        {field('actor', 'Actor')}
        {field('action', 'Action (or family, e.g. settings.)')}
        {field('entity', 'Entity')}
        {field('from', 'From', 'date')}
        {field('to', 'To', 'date')}
        <button type="submit">Filter</button>
      </form>
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading the audit log" />}
      {data && (
        <>
          <table>
            <caption>{data.total} entries</caption>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Actor</th>
                <th scope="col">Action</th>
                <th scope="col">Record</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((a) => (
                <tr key={a.id}>
                  <td>{new Date(a.at).toLocaleString()}</td>
                  <td>{a.actor}</td>
                  <td>{a.action}</td>
                  <td>
                    {a.entity} {a.entityId}
                  </td>
                  <td className="json">{brief(a.before)}</td>
                  <td className="json">{brief(a.after)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <div className="actions">
            <button type="button" className="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - 50))}>
              Previous
            </button>
            <button type="button" className="secondary" disabled={offset + 50 >= data.total} onClick={() => setOffset(offset + 50)}>
              Next
            </button>
          </div>
        </>
      )}
    </section>
  );
}
