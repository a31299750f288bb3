// The audit log: who did what, when, to which record, narrowed by actor, action, entity and
// a date range (whole days in the browser's time zone).
import { useState, type FormEvent } from 'react';
import { get, type List } from '../api.ts';
import { DataTable, Pager, counted } from '../table.tsx';
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
          <DataTable
            caption={counted(data.total, 'entry', 'entries')}
            rows={data.items}
            rowKey={(a) => a.id}
            columns={[
              { header: 'When', cell: (a) => new Date(a.at).toLocaleString() },
              { header: 'Actor', cell: (a) => a.actor },
              { header: 'Action', cell: (a) => a.action },
              {
                header: 'Record',
                cell: (a) => (
                  <>
                    {a.entity} {a.entityId}
                  </>
                ),
              },
              { header: 'Before', cellClass: () => 'json', cell: (a) => brief(a.before) },
              { header: 'After', cellClass: () => 'json', cell: (a) => brief(a.after) },
            ]}
          />
          <Pager offset={offset} total={data.total} size={50} onOffset={setOffset} />
        </>
      )}
    </section>
  );
}
