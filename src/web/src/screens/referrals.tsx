// Referrals narrowed by status and agency, and one referral with its append-only history.
import { useState } from 'react';
import { get, type List } from '../api.ts';
import { DataTable, Pager, counted } from '../table.tsx';
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
              {data.patronId} {data.patronName}
            </dd>
            <dt>Agency</dt>
            <dd>{data.agency}</dd>
            <dt>Status</dt>
            <dd>
              <Status value={data.status} />
            </dd>
            <dt>Referred</dt>
            <dd>
              {data.referred} on {data.referredOn} (fee {data.fee})
            </dd>
            <dt>Last reported</dt>
            <dd>{data.lastReported}</dd>
          </dl>
          <h3>History</h3>
          <DataTable
            rows={data.history}
            rowKey={(h) => h.id}
            columns={[
              { header: 'When', cell: (h) => new Date(h.at).toLocaleString() },
              { header: 'Record', cell: (h) => h.type },
              { header: 'Amount', num: true, cell: (h) => h.amount },
              { header: 'Reason', cell: (h) => h.reason },
              { header: 'Report date', cell: (h) => h.reportDate ?? '' },
              { header: 'By', cell: (h) => h.actor },
            ]}
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
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<number | null>(null);
  const { data, error } = useLoad(() => get<List<Referral>>('/referrals', { status, agency: agency.trim() || undefined, limit: '50', offset: String(offset) }), [status, agency, offset]);
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
              setOffset(0);
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
              setOffset(0);
            }}
          />
        </label>
      </div>
      {open !== null && <Detail id={open} onClose={() => setOpen(null)} />}
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading referrals" />}
      {data && (
        <>
          <DataTable
            caption={counted(data.total, 'referral')}
            rows={data.items}
            rowKey={(r) => r.id}
            columns={[
              {
                header: 'Id',
                cell: (r) => (
                  <>
                    <button type="button" className="link" onClick={() => setOpen(r.id)} aria-label={`Referral ${r.id} of patron ${r.patronId}`}>
                      {r.id}
                    </button>
                  </>
                ),
              },
              {
                header: 'Patron',
                cell: (r) => (
                  <>
                    {r.patronId} {r.patronName}
                  </>
                ),
              },
              { header: 'Agency', cell: (r) => r.agency },
              { header: 'Status', cell: (r) => <Status value={r.status} /> },
              { header: 'Referred on', cell: (r) => r.referredOn },
              { header: 'Referred', num: true, cell: (r) => r.referred },
              { header: 'Last reported', num: true, cell: (r) => r.lastReported },
            ]}
          />
          <Pager offset={offset} total={data.total} size={50} onOffset={setOffset} />
        </>
      )}
    </section>
  );
}
