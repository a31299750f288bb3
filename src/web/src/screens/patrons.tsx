// Patrons: look one up by the start of an id, barcode, name or email (any case), then see
// everything about them on one page: who they are, their flags and balance, the ledger
// (charges, payments and where each payment went), referrals with their history, linked
// items, record sets, exclusions, the audit trail of their records, and "explain for date"
// inline. Every patron id elsewhere in the app links here (#/patrons/<id>).
import { useState, type FormEvent } from 'react';
import { get, type List } from '../api.ts';
import { AuditDiff } from '../diff.tsx';
import type { AuditRow } from './audit.tsx';
import { HISTORY_COLUMNS } from './referrals.tsx';
import { ExplainView, type Explanation } from '../explain.tsx';
import { toCents } from '../money.ts';
import { LibraryName, money, PatronLink, useCan, useLibraries, libraryLabel } from '../session.tsx';
import { DataTable, fetchAll, useListQuery } from '../table.tsx';
import { Busy, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

interface PatronRow {
  id: string;
  barcode: string;
  firstName: string;
  lastName: string;
  email: string;
  homeLibrary: string;
  ptype: number | string;
  patronCode: string;
  status: string;
  inCollections: boolean;
  balance: string;
}

interface Ledger {
  patron: { id: string; barcode: string; firstName: string; lastName: string; homeLibrary: string; ptype: number | string; patronCode: string; email: string; phone: string };
  flags: { status: string; inCollections: boolean; blocked: boolean };
  balance: string;
  charges: { id: string; itemId: string | null; library: string; reason: string; amount: string; outstanding: string; assessedAt: string; assessedOn: string; referralId: number | null }[];
  payments: { id: string; chargeId: string | null; type: string; method: string; amount: string; paidAt: string; allocations: { chargeId: string; amount: string }[] }[];
  referrals: {
    id: number;
    agency: string;
    status: string;
    referredOn: string;
    closedOn: string | null;
    referred: string;
    fee: string;
    lastReported: string;
    recovered: string;
    history: { type: string; amount: string; reason: string; reportDate: string | null; at: string; actor: string }[];
  }[];
  items: { id: string; barcode: string; title: string; status: string; dueDate: string | null }[];
}

interface SetSummary {
  id: number;
  name: string;
  kind: string;
  members: number;
  createdAt: string;
}

interface Exclusion {
  id: number;
  reason: string;
  untilDate: string | null;
  createdBy: string;
  createdAt: string;
  liftedBy: string | null;
  active: boolean;
}


const fullName = (p: { firstName: string; lastName: string }) => [p.firstName, p.lastName].filter(Boolean).join(' ');

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function Search() {
  const { query, setQuery } = useListQuery({ sort: 'name' });
  const libraries = useLibraries();
  const { data, error, loading } = useLoad(
    () => get<List<PatronRow>>('/patrons', { q: query.filter.trim() || undefined, sort: query.sort || undefined, limit: String(query.limit), offset: String(query.offset) }),
    [query],
  );
  return (
    <section aria-labelledby="patrons-title">
      <h1 id="patrons-title">Patrons</h1>
      <p>Type the start of a patron’s id, barcode, first or last name, or email — or a name as “first last” or “last, first”. Case does not matter.</p>
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Looking patrons up" />}
      {data && (
        <DataTable
          name="patrons"
          filterLabel="Find a patron"
          rows={data.items}
          rowKey={(p) => p.id}
          server={{
            ...query,
            total: data.total,
            loading,
            onChange: setQuery,
            exportAll: () => fetchAll((offset, limit) => get<List<PatronRow>>('/patrons', { q: query.filter.trim() || undefined, sort: query.sort || undefined, limit: String(limit), offset: String(offset) })),
          }}
          columns={[
            { header: 'Patron', sortKey: 'id', text: (p) => p.id, cell: (p) => <PatronLink id={p.id} /> },
            { header: 'Name', sortKey: 'name', text: (p) => `${p.lastName}, ${p.firstName}`, cell: (p) => <a href={`#/patrons/${encodeURIComponent(p.id)}`}>{`${p.lastName}, ${p.firstName}`}</a> },
            { header: 'Barcode', sortKey: 'barcode', cell: (p) => p.barcode },
            { header: 'Email', sortKey: 'email', cell: (p) => p.email },
            { header: 'Home library', sortKey: 'homeLibrary', text: (p) => libraryLabel(libraries, p.homeLibrary), cell: (p) => <LibraryName code={p.homeLibrary} /> },
            { header: 'Flags', text: (p) => flagText(p), cell: (p) => <Flags status={p.status} inCollections={p.inCollections} /> },
            { header: 'Balance', num: true, sortKey: 'balance', text: (p) => money(p.balance), sortValue: (p) => toCents(p.balance), cell: (p) => money(p.balance) },
          ]}
        />
      )}
    </section>
  );
}

function flagText(p: { status: string; inCollections: boolean; blocked?: boolean }): string {
  return [p.inCollections && 'in collections', p.status === 'secured' && 'secured', p.blocked && 'blocked'].filter(Boolean).join(', ');
}

function Flags({ status, inCollections, blocked }: { status: string; inCollections: boolean; blocked?: boolean }) {
  return (
    <>
      {inCollections && <Status value="open" label="in collections" />} {status === 'secured' && <Status value="secured" label="secured" />}{' '}
      {blocked && <Status value="cancelled" label="blocked" />}
    </>
  );
}

function Explain({ patronId }: { patronId: string }) {
  const [date, setDate] = useState(today);
  const [explanation, setExplanation] = useState<Explanation | null>(null);
  const task = useTask();
  async function submit(e: FormEvent) {
    e.preventDefault();
    setExplanation(null);
    const x = await task.run(`Explaining for ${date}`, () => get<Explanation>(`/explain/${encodeURIComponent(patronId)}`, { date }));
    if (x) setExplanation(x);
  }
  return (
    <section aria-labelledby="patron-explain-title">
      <h2 id="patron-explain-title">Explain for a report date</h2>
      <form className="filters" onSubmit={submit}>
        <label>
          Report date
          <input type="date" required value={date} onChange={(e) => setDate(e.target.value)} />
        </label>
        <button type="submit" disabled={task.busy !== null}>
          Explain
        </button>
      </form>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      {explanation && <ExplainView explanation={explanation} onClose={() => setExplanation(null)} />}
    </section>
  );
}

function Detail({ id }: { id: string }) {
  const can = useCan();
  const libraries = useLibraries();
  const ledger = useLoad(() => get<Ledger>(`/patrons/${encodeURIComponent(id)}`), [id]);
  const sets = useLoad(() => get<List<SetSummary>>('/recordsets', { member: id }), [id]);
  const exclusions = useLoad(() => get<List<Exclusion>>('/exclusions', { patron: id, state: 'all', limit: '500' }), [id]);
  const audit = useLoad(() => (can('audit.view') ? get<List<AuditRow>>('/audit', { patron: id, limit: '500' }) : Promise.resolve(null)), [id]);
  const [openAudit, setOpenAudit] = useState<number | null>(null);
  const l = ledger.data;
  if (ledger.error) {
    return (
      <section aria-labelledby="patron-title">
        <h1 id="patron-title">Patron {id}</h1>
        <ErrorBanner error={ledger.error} />
        <p>
          <a href="#/patrons">Find another patron</a>
        </p>
      </section>
    );
  }
  if (!l) return <Busy label={`Loading patron ${id}`} />;
  const p = l.patron;
  return (
    <section aria-labelledby="patron-title" className="patron">
      <p className="crumbs">
        <a href="#/patrons">Patrons</a> › {p.id}
      </p>
      <h1 id="patron-title">
        Patron {p.id} — {fullName(p) || '(no name)'}
      </h1>
      <div className="summary-grid">
        <dl>
          <dt>Barcode</dt>
          <dd>{p.barcode || '—'}</dd>
          <dt>Home library</dt>
          <dd>
            <LibraryName code={p.homeLibrary} />
          </dd>
          <dt>PTYPE / code</dt>
          <dd>
            {String(p.ptype)} / {p.patronCode || '—'}
          </dd>
          <dt>Email</dt>
          <dd>{p.email || '—'}</dd>
          <dt>Phone</dt>
          <dd>{p.phone || '—'}</dd>
        </dl>
        <div className="figure">
          <span className="figure-label">Balance</span>
          <span className="figure-value">{money(l.balance)}</span>
          <span>
            <Status value={l.flags.status === 'secured' ? 'secured' : 'active'} label={l.flags.status} /> <Flags status="active" inCollections={l.flags.inCollections} blocked={l.flags.blocked} />
          </span>
        </div>
      </div>

      {can('runs.run') && <Explain patronId={p.id} />}

      <h2>Charges</h2>
      <DataTable
        name={`charges of ${p.id}`}
        caption={`Balance ${money(l.balance)}: the outstanding amounts of these charges.`}
        rows={l.charges}
        rowKey={(c) => c.id}
        columns={[
          { header: 'Charge', cell: (c) => c.id },
          { header: 'Assessed on', cell: (c) => c.assessedOn },
          { header: 'Library', text: (c) => libraryLabel(libraries, c.library), cell: (c) => <LibraryName code={c.library} /> },
          { header: 'Reason', cell: (c) => c.reason },
          { header: 'Item', cell: (c) => c.itemId ?? '' },
          { header: 'Amount', num: true, text: (c) => money(c.amount), sortValue: (c) => toCents(c.amount), cell: (c) => money(c.amount) },
          { header: 'Outstanding', num: true, text: (c) => money(c.outstanding), sortValue: (c) => toCents(c.outstanding), cell: (c) => money(c.outstanding) },
          { header: 'Agency fee of referral', text: (c) => (c.referralId === null ? '' : `#${c.referralId}`), cell: (c) => (c.referralId === null ? '' : `#${c.referralId}`) },
        ]}
      />

      <h2>Payments, waivers and write-offs</h2>
      <DataTable
        name={`payments of ${p.id}`}
        rows={l.payments}
        rowKey={(x) => x.id}
        columns={[
          { header: 'Payment', cell: (x) => x.id },
          { header: 'Paid', text: (x) => new Date(x.paidAt).toLocaleString(), sortValue: (x) => x.paidAt, cell: (x) => new Date(x.paidAt).toLocaleString() },
          { header: 'Type', cell: (x) => x.type },
          { header: 'Method', cell: (x) => x.method },
          { header: 'Amount', num: true, text: (x) => money(x.amount), sortValue: (x) => toCents(x.amount), cell: (x) => money(x.amount) },
          { header: 'Applied to', cell: (x) => x.allocations.map((a) => `${a.chargeId} ${money(a.amount)}`).join('; ') },
        ]}
      />

      <h2>Referrals</h2>
      {l.referrals.length === 0 ? (
        <p>Never referred.</p>
      ) : (
        l.referrals.map((r) => (
          <div className="panel" key={r.id}>
            <h3>
              Referral #{r.id} to {r.agency} <Status value={r.status} />
            </h3>
            <p>
              Referred {money(r.referred)} on {r.referredOn} (fee {money(r.fee)}); last reported {money(r.lastReported)}; recovered {money(r.recovered)}
              {r.closedOn ? `; closed ${r.closedOn}` : ''}.
              {r.status === 'open' && toCents(r.lastReported) !== toCents(l.balance) && ` Owes ${money(l.balance)} now: the next run reports the change to ${r.agency}.`}
            </p>
            <DataTable
              plain
              caption={`History of referral #${r.id}`}
              rows={r.history.map((h, i) => ({ ...h, i }))}
              rowKey={(h) => h.i}
              columns={HISTORY_COLUMNS}
            />
          </div>
        ))
      )}

      <h2>Linked items</h2>
      {l.items.length === 0 ? (
        <p>No items are linked to this patron.</p>
      ) : (
        <DataTable
          name={`items of ${p.id}`}
          rows={l.items}
          rowKey={(i) => i.id}
          pageSize={10}
          columns={[
            { header: 'Item', cell: (i) => i.id },
            { header: 'Barcode', cell: (i) => i.barcode },
            { header: 'Title', cell: (i) => i.title },
            { header: 'Status', cell: (i) => i.status },
            { header: 'Due', cell: (i) => i.dueDate ?? '' },
          ]}
        />
      )}

      <h2>Record sets</h2>
      <ErrorBanner error={sets.error} />
      {sets.data && sets.data.items.length === 0 && <p>In no record set.</p>}
      {sets.data && sets.data.items.length > 0 && (
        <ul>
          {sets.data.items.map((s) => (
            <li key={s.id}>
              <a href={`#/recordsets/${s.id}`}>{s.name}</a> ({s.kind} set, {s.members} member{s.members === 1 ? '' : 's'})
            </li>
          ))}
        </ul>
      )}

      <h2>Exclusions</h2>
      <ErrorBanner error={exclusions.error} />
      {exclusions.data && exclusions.data.items.length === 0 && <p>Never excluded.</p>}
      {exclusions.data && exclusions.data.items.length > 0 && (
        <DataTable
          name={`exclusions of ${p.id}`}
          rows={exclusions.data.items}
          rowKey={(x) => x.id}
          pageSize={10}
          columns={[
            { header: 'Reason', cell: (x) => x.reason },
            { header: 'Until', cell: (x) => x.untilDate ?? 'until lifted' },
            { header: 'By', cell: (x) => `${x.createdBy}, ${new Date(x.createdAt).toLocaleDateString()}` },
            { header: 'State', cell: (x) => (x.active ? 'in force' : x.liftedBy ? `lifted by ${x.liftedBy}` : 'ended') },
          ]}
        />
      )}

      {can('audit.view') && (
        <>
          <h2>Audit trail</h2>
          <ErrorBanner error={audit.error} />
          {audit.data && audit.data.items.length === 0 && <p>Nothing recorded.</p>}
          {audit.data && audit.data.items.length > 0 && (
            <>
              <DataTable
                name={`audit of ${p.id}`}
                rows={audit.data.items}
                rowKey={(a) => a.id}
                pageSize={10}
                columns={[
                  { header: 'When', text: (a) => new Date(a.at).toLocaleString(), sortValue: (a) => a.at, cell: (a) => new Date(a.at).toLocaleString() },
                  { header: 'Who', cell: (a) => a.actor },
                  { header: 'Action', cell: (a) => a.action },
                  { header: 'Record', text: (a) => `${a.entity} ${a.entityId}`, cell: (a) => `${a.entity} ${a.entityId}` },
                  {
                    header: 'Changes',
                    action: true,
                    cell: (a) => (
                      <button type="button" className="link" aria-expanded={openAudit === a.id} onClick={() => setOpenAudit(openAudit === a.id ? null : a.id)}>
                        {openAudit === a.id ? 'Hide' : 'Show'} changes
                      </button>
                    ),
                  },
                ]}
              />
              {openAudit !== null && (
                <div className="panel">
                  <AuditDiff before={audit.data.items.find((a) => a.id === openAudit)?.before} after={audit.data.items.find((a) => a.id === openAudit)?.after} />
                </div>
              )}
            </>
          )}
        </>
      )}
    </section>
  );
}

export function PatronsScreen({ rest }: { rest: string }) {
  return rest ? <Detail key={rest} id={rest} /> : <Search />;
}
