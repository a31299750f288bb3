// An audit entry's before and after, field by field: nested values by their path
// ("window.startDays"), lists as lists, amounts as money (the audit log keeps a referral's
// and a settlement's amounts in cents, the settings table's as decimal strings).
import { formatCents, toCents } from './money.ts';
import { DataTable } from './table.tsx';

const MONEY = /(owed|fee|feeRemoved|balance|amount|referred|lastReported|recovered|total|cents|removeIfLessThan)$/i;

/** Every leaf of a JSON value by its dotted path; lists of plain values stay one leaf. */
export function flatten(value: unknown, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 0 && path) out.set(path, {});
    for (const [k, v] of entries) flatten(v, path ? `${path}.${k}` : k, out);
  } else if (Array.isArray(value) && value.some((v) => v !== null && typeof v === 'object')) {
    value.forEach((v, i) => flatten(v, `${path}[${i}]`, out));
    if (value.length === 0) out.set(path, []);
  } else if (path) {
    out.set(path, value);
  }
  return out;
}

/** One leaf as staff read it. */
export function show(path: string, value: unknown): string {
  if (value === undefined) return '';
  if (value === null) return '—';
  const key = path.split('.').pop()!.replace(/\[\d+\]$/, '');
  if (MONEY.test(key)) {
    if (typeof value === 'number' && Number.isInteger(value)) return formatCents(value);
    if (typeof value === 'string' && /^-?\d+(\.\d{1,2})?$/.test(value)) return formatCents(toCents(value));
  }
  if (Array.isArray(value)) return value.length ? value.map(String).join(', ') : '(none)';
  if (typeof value === 'object') return '(none)';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  return String(value);
}

interface Row {
  field: string;
  before: string;
  after: string;
  changed: boolean;
}

export function diffRows(before: unknown, after: unknown): Row[] {
  const b = flatten(before);
  const a = flatten(after);
  const fields = [...new Set([...b.keys(), ...a.keys()])];
  return fields.map((field) => {
    const was = show(field, b.get(field));
    const now = show(field, a.get(field));
    return { field, before: b.has(field) ? was : '', after: a.has(field) ? now : '', changed: JSON.stringify(b.get(field)) !== JSON.stringify(a.get(field)) };
  });
}

/** The whole entry, changed fields first and marked. */
export function AuditDiff({ before, after, caption }: { before: unknown; after: unknown; caption?: string }) {
  const rows = diffRows(before, after);
  if (rows.length === 0) return <p>No values were recorded.</p>;
  const changed = rows.filter((r) => r.changed);
  const ordered = before !== null && before !== undefined && after !== null && after !== undefined ? [...changed, ...rows.filter((r) => !r.changed)] : rows;
  return (
    <DataTable
      plain
      caption={caption ?? (before && after ? `${changed.length} of ${rows.length} fields changed` : undefined)}
      rows={ordered}
      rowKey={(r) => r.field}
      rowClass={(r) => (r.changed && before && after ? 'changed' : undefined)}
      columns={[
        {
          header: 'Field',
          cell: (r) => (
            <>
              {r.field}
              {r.changed && before && after ? <span className="sr-only"> (changed)</span> : null}
            </>
          ),
        },
        { header: 'Before', cellClass: () => 'value', cell: (r) => r.before },
        { header: 'After', cellClass: () => 'value', cell: (r) => r.after },
      ]}
    />
  );
}
