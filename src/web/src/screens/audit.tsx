// The audit log: who did what, when, to which record, narrowed by actor, action, entity and
// a date range (whole days in the browser's time zone) or any text, sorted and paged by the
// server; an entry opens as a field-by-field difference of its before and after values,
// amounts as money.
import { useState, type FormEvent } from 'react';
import { get, type List } from '../api.ts';
import { AuditDiff, diffRows } from '../diff.tsx';
import { PatronLink } from '../session.tsx';
import { DataTable, fetchAll, useListQuery } from '../table.tsx';
import { Busy, ErrorBanner, useLoad } from '../ui.tsx';

export interface AuditRow {
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

/** "3 of 24 fields changed", "created: 24 fields", "removed". */
function summary(a: AuditRow): string {
  const hasBefore = a.before !== null && a.before !== undefined;
  const hasAfter = a.after !== null && a.after !== undefined;
  if (!hasBefore && !hasAfter) return '—';
  const rows = diffRows(a.before, a.after);
  if (hasBefore && hasAfter) {
    const changed = rows.filter((r) => r.changed).length;
    return `${changed} of ${rows.length} field${rows.length === 1 ? '' : 's'} changed`;
  }
  return `${hasAfter ? 'after' : 'before'}: ${rows.length} field${rows.length === 1 ? '' : 's'}`;
}

export function AuditScreen() {
  const [draft, setDraft] = useState<Filter>(EMPTY);
  const [filter, setFilter] = useState<Filter>(EMPTY);
  const { query, setQuery } = useListQuery({ sort: '-at', limit: 50 });
  const [open, setOpen] = useState<AuditRow | null>(null);
  const params = (offset: number, limit: number) => ({
    actor: filter.actor.trim(),
    action: filter.action.trim(),
    entity: filter.entity.trim(),
    from: dayStart(filter.from),
    to: dayStart(filter.to, 1),
    q: query.filter.trim() || undefined,
    sort: query.sort || undefined,
    limit: String(limit),
    offset: String(offset),
  });
  const { data, error, loading } = useLoad(() => get<List<AuditRow>>('/audit', params(query.offset, query.limit)), [filter, query]);
  function apply(e: FormEvent) {
    e.preventDefault();
    setQuery({ ...query, offset: 0 });
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
      {open && (
        <section className="panel" aria-labelledby="audit-entry-title">
          <h2 id="audit-entry-title">
            {open.action} of {open.entity} {open.entityId} by {open.actor}, {new Date(open.at).toLocaleString()}
          </h2>
          <AuditDiff before={open.before} after={open.after} />
          <button type="button" className="secondary" onClick={() => setOpen(null)}>
            Close
          </button>
        </section>
      )}
      {!data && !error && <Busy label="Loading the audit log" />}
      {data && (
        <DataTable
          name="audit entries"
          caption={`${data.total} ${data.total === 1 ? 'entry' : 'entries'}`}
          rows={data.items}
          rowKey={(a) => a.id}
          server={{ ...query, total: data.total, loading, onChange: setQuery, exportAll: () => fetchAll((offset, limit) => get<List<AuditRow>>('/audit', params(offset, limit))) }}
          columns={[
            { header: 'When', sortKey: 'at', text: (a) => new Date(a.at).toLocaleString(), cell: (a) => new Date(a.at).toLocaleString() },
            { header: 'Actor', sortKey: 'actor', cell: (a) => a.actor },
            { header: 'Action', sortKey: 'action', cell: (a) => a.action },
            {
              header: 'Record',
              sortKey: 'entity',
              text: (a) => `${a.entity} ${a.entityId}`,
              cell: (a) => (a.entity === 'patron' ? <>patron <PatronLink id={a.entityId} /></> : `${a.entity} ${a.entityId}`),
            },
            {
              header: 'Changes',
              text: (a) => JSON.stringify({ before: a.before, after: a.after }),
              cell: (a) =>
                a.before === null && a.after === null ? (
                  '—'
                ) : (
                  <button type="button" className="link" aria-expanded={open?.id === a.id} onClick={() => setOpen(open?.id === a.id ? null : a)}>
                    {summary(a)}
                  </button>
                ),
            },
          ]}
        />
      )}
    </section>
  );
}
