// Referrals narrowed by status and agency, sorted, searched and paged by the server, each with
// what the patron owes now and what it has recovered (from the ledger, so a waiver or an
// agency payment shows at once); and one referral with its append-only history.
import { useState } from 'react';
import { get, type List } from '../api.ts';
import { toCents } from '../money.ts';
import { money, PatronLink } from '../session.tsx';
import { DataTable, fetchAll, useListQuery, type Column } from '../table.tsx';
import { Busy, ErrorBanner, Status, useLoad } from '../ui.tsx';

interface Referral {
  id: number;
  patronId: string;
  patronName: string;
  agency: string;
  entry: string | null;
  status: string;
  referredOn: string;
  closedOn: string | null;
  referred: string;
  fee: string;
  lastReported: string;
  balance: string;
  recovered: string;
}

interface History {
  id: number;
  type: string;
  amount: string;
  reason: string;
  reportDate: string | null;
  at: string;
  actor: string;
}

/** A referral's history as a table: here and on the patron screen. */
export const HISTORY_COLUMNS: Column<Omit<History, 'id'>>[] = [
  { header: 'When', cell: (h) => new Date(h.at).toLocaleString() },
  { header: 'Record', cell: (h) => h.type },
  { header: 'Amount', num: true, cell: (h) => money(h.amount) },
  { header: 'Reason', cell: (h) => h.reason },
  { header: 'Report date', cell: (h) => h.reportDate ?? '' },
  { header: 'By', cell: (h) => h.actor },
];

/** An open referral whose patron owes something else now than the agency was last told. */
function pending(r: Referral): boolean {
  return r.status === 'open' && toCents(r.balance) !== toCents(r.lastReported);
}

function Detail({ id, onClose }: { id: number; onClose: () => void }) {
  const { data, error } = useLoad(() => get<Referral & { history: History[] }>(`/referrals/${id}`), [id]);
  return (
    <section className="panel" aria-labelledby="referral-title">
      <h2 id="referral-title">Referral {id}</h2>
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading the referral" />}
      {data && (
        <>
          <dl>
            <dt>Patron</dt>
            <dd>
              <PatronLink id={data.patronId} /> {data.patronName}
            </dd>
            <dt>Agency</dt>
            <dd>{data.agency}</dd>
            <dt>Entry</dt>
            <dd>{data.entry ?? '(removed)'}</dd>
            <dt>Status</dt>
            <dd>
              <Status value={data.status} />
            </dd>
            <dt>Referred</dt>
            <dd>
              {money(data.referred)} on {data.referredOn} (fee {money(data.fee)})
            </dd>
            <dt>Last reported</dt>
            <dd>{money(data.lastReported)}</dd>
            <dt>Owes now</dt>
            <dd>
              {money(data.balance)}
              {pending(data) && ' — the next run reports the change to the agency'}
            </dd>
            <dt>Recovered</dt>
            <dd>{money(data.recovered)}</dd>
          </dl>
          <h3>History</h3>
          <DataTable
            plain
            rows={data.history}
            rowKey={(h) => h.id}
            columns={HISTORY_COLUMNS}
          />
        </>
      )}
      <button type="button" className="secondary" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

export function ReferralsScreen() {
  const [status, setStatus] = useState('');
  const [agency, setAgency] = useState('');
  const { query, setQuery } = useListQuery({ sort: '-id' });
  const [open, setOpen] = useState<number | null>(null);
  const params = (offset: number, limit: number) => ({
    status,
    agency: agency.trim() || undefined,
    q: query.filter.trim() || undefined,
    sort: query.sort || undefined,
    limit: String(limit),
    offset: String(offset),
  });
  const { data, error, loading } = useLoad(() => get<List<Referral>>('/referrals', params(query.offset, query.limit)), [status, agency, query]);
  return (
    <section aria-labelledby="referrals-title">
      <h1 id="referrals-title">Referrals</h1>
      <div className="filters">
        <label>
          Status
          <select
            value={status}
            onChange={(e) => {
              setStatus(e.target.value);
              setQuery({ ...query, offset: 0 });
            }}
          >
            <option value="">Any status</option>
            {['open', 'cleared', 'cancelled', 'returned'].map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Agency
          <input
            value={agency}
            placeholder="agency name"
            onChange={(e) => {
              setAgency(e.target.value);
              setQuery({ ...query, offset: 0 });
            }}
          />
        </label>
      </div>
      {open !== null && <Detail id={open} onClose={() => setOpen(null)} />}
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading referrals" />}
      {data && (
        <DataTable
          name="referrals"
          rows={data.items}
          rowKey={(r) => r.id}
          server={{ ...query, total: data.total, loading, onChange: setQuery, exportAll: () => fetchAll((offset, limit) => get<List<Referral>>('/referrals', params(offset, limit))) }}
          columns={[
            {
              header: 'Id',
              sortKey: 'id',
              text: (r) => String(r.id),
              cell: (r) => (
                <button type="button" className="link" onClick={() => setOpen(r.id)} aria-label={`Referral ${r.id} of patron ${r.patronId}`}>
                  {r.id}
                </button>
              ),
            },
            { header: 'Patron', sortKey: 'patronId', text: (r) => r.patronId, cell: (r) => <PatronLink id={r.patronId} /> },
            { header: 'Name', sortKey: 'patronName', cell: (r) => r.patronName },
            { header: 'Agency', sortKey: 'agency', cell: (r) => r.agency },
            { header: 'Status', sortKey: 'status', text: (r) => r.status, cell: (r) => <Status value={r.status} /> },
            { header: 'Referred on', sortKey: 'referredOn', cell: (r) => r.referredOn },
            { header: 'Referred', num: true, sortKey: 'referred', text: (r) => money(r.referred), cell: (r) => money(r.referred) },
            { header: 'Last reported', num: true, sortKey: 'lastReported', text: (r) => money(r.lastReported), cell: (r) => money(r.lastReported) },
            {
              header: 'Owes now',
              num: true,
              text: (r) => money(r.balance),
              cell: (r) => (
                <>
                  {money(r.balance)}
                  {pending(r) && (
                    <small className="pending" title="the next run reports the change to the agency">
                      {' '}
                      (not yet reported)
                    </small>
                  )}
                </>
              ),
            },
            { header: 'Recovered', num: true, text: (r) => money(r.recovered), cell: (r) => money(r.recovered) },
          ]}
        />
      )}
    </section>
  );
}
