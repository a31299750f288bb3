// Referrals narrowed by status and agency, and one referral with its append-only history.
import { useState } from 'react';
import { get, type List } from '../api.ts';
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
          <table>
            <thead>
              <tr>
                <th scope="col">When</th>
                <th scope="col">Record</th>
                <th scope="col" className="num">Amount</th>
                <th scope="col">Reason</th>
                <th scope="col">Report date</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {data.history.map((h) => (
                <tr key={h.id}>
                  <td>{new Date(h.at).toLocaleString()}</td>
                  <td>{h.type}</td>
                  <td className="num">{h.amount}</td>
                  <td>{h.reason}</td>
                  <td>{h.reportDate ?? ''}</td>
                  <td>{h.actor}</td>
                </tr>
              ))}
            </tbody>
          </table>
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
          <table>
            <caption>
              {data.total} referral{data.total === 1 ? '' : 's'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Id</th>
                <th scope="col">Patron</th>
                <th scope="col">Agency</th>
                <th scope="col">Status</th>
                <th scope="col">Referred on</th>
                <th scope="col" className="num">Referred</th>
                <th scope="col" className="num">Last reported</th>
              </tr>
            </thead>
            <tbody>
              {data.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <button type="button" className="link" onClick={() => setOpen(r.id)} aria-label={`Referral ${r.id} of patron ${r.patronId}`}>
                      {r.id}
                    </button>
                  </td>
                  <td>
                    {r.patronId} {r.patronName}
                  </td>
                  <td>{r.agency}</td>
                  <td>
                    <Status value={r.status} />
                  </td>
                  <td>{r.referredOn}</td>
                  <td className="num">{r.referred}</td>
                  <td className="num">{r.lastReported}</td>
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
