// Why a patron would or would not be submitted on a report date: the entry applied, its
// window, every condition measured against its requirement. When a run for that date has
// already referred the patron, it says so first (and whether their file is held for review):
// the conditions, measured now, then fail "not already in collections" only because of it.
import { formatCents } from './money.ts';
import { PatronLink } from './session.tsx';
import { DataTable } from './table.tsx';

export interface Explanation {
  patronId: string;
  reportDate: string;
  entryName: string | null;
  eligible: boolean;
  owedCents: number;
  countedCents: number;
  window: { from: string | null; to: string } | null;
  conditions: { key: string; label: string; measured: string; required: string; pass: boolean }[];
  referral: {
    referralId: number;
    agency: string;
    status: string;
    referredOn: string;
    runId: number | null;
    referredOnDate: boolean;
    file: { id: number; name: string; status: string; holdUntil: string | null } | null;
  } | null;
}

function verdict(x: Explanation): string {
  if (x.referral?.referredOnDate) return `Patron ${x.patronId} was referred on ${x.reportDate}`;
  return `Why patron ${x.patronId} ${x.eligible ? 'would be submitted' : 'would not be submitted'} on ${x.reportDate}`;
}

function ReferralNote({ x }: { x: Explanation }) {
  const r = x.referral;
  if (!r) return null;
  const file = r.file;
  const where = file
    ? file.status === 'held'
      ? ` Its file ${file.name} is held for review${file.holdUntil ? ` until ${new Date(file.holdUntil).toLocaleString()}` : ''}: nothing has gone to the agency yet.`
      : ` Its file ${file.name} is ${file.status === 'delivered' ? 'delivered' : file.status === 'none' ? 'ready to download' : 'queued for delivery'}.`
    : '';
  if (r.referredOnDate) {
    return (
      <p className="note" role="note">
        The run {r.runId !== null ? `${r.runId} ` : ''}for {x.reportDate} referred this patron to {r.agency} (referral #{r.referralId}, {r.status}).{where} The conditions
        below are measured now, after that run, so “Not already in collections” fails because of that referral.
      </p>
    );
  }
  return (
    <p className="note" role="note">
      This patron has referral #{r.referralId} to {r.agency}, {r.status} since {r.referredOn}.{where}
    </p>
  );
}

export function ExplainView({ explanation, onClose }: { explanation: Explanation; onClose?: () => void }) {
  const x = explanation;
  return (
    <section className="panel explain" aria-labelledby="explain-title">
      <h2 id="explain-title">{verdict(x)}</h2>
      <ReferralNote x={x} />
      <dl>
        <dt>Patron</dt>
        <dd>
          <PatronLink id={x.patronId} />
        </dd>
        <dt>Entry applied</dt>
        <dd>{x.entryName ?? 'none applies'}</dd>
        <dt>Window</dt>
        <dd>{x.window ? `${x.window.from ?? 'any date'} … ${x.window.to}` : '—'}</dd>
        <dt>Owed / counted</dt>
        <dd>
          {formatCents(x.owedCents)} / {formatCents(x.countedCents)}
        </dd>
      </dl>
      <DataTable
        plain
        rows={x.conditions}
        rowKey={(c) => c.key}
        columns={[
          { header: 'Condition', cell: (c) => c.label },
          { header: 'Measured', cell: (c) => c.measured },
          { header: 'Required', cell: (c) => c.required },
          {
            header: 'Holds',
            cellClass: (c) => (c.pass ? 'pass' : 'fail'),
            cell: (c) => (
              <>
                <span aria-hidden="true">{c.pass ? '✓' : '✗'}</span>
                <span className="sr-only">{c.pass ? 'yes' : 'no'}</span>
              </>
            ),
          },
        ]}
      />
      {onClose && (
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
      )}
    </section>
  );
}
