// The business office's figures: outstanding referred debt, recovered this month and year,
// the recovery rate, open referrals by age; referred vs recovered by month (an SVG bar chart
// drawn here, months without any shown as zero), narrowed by library and agency; and the open
// referrals per agency. Recovered money is read from the ledger, so it counts the day it is
// posted (services/dashboard.ts has the definitions).
import { useState } from 'react';
import { get } from '../api.ts';
import { Attention } from '../attention.tsx';
import { formatCents, toCents } from '../money.ts';
import { money } from '../session.tsx';
import { DataTable } from '../table.tsx';
import { Busy, ErrorBanner, useLoad } from '../ui.tsx';

interface DashboardReply {
  months: { month: string; library: string; agency: string; referred: string; recovered: string }[];
  openReferrals: { agency: string; count: number; amount: string; outstanding: string }[];
  byAge: { age: string; count: number; outstanding: string }[];
  headline: {
    outstanding: string;
    openReferrals: number;
    recoveredThisMonth: string;
    recoveredThisYear: string;
    referred: string;
    recovered: string;
    recoveryRate: number | null;
  };
  libraries: { code: string; name: string }[];
  agencies: string[];
}

interface Bar {
  month: string;
  referred: number;
  recovered: number;
}

function monthOf(d: Date): string {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

function nextMonth(month: string): string {
  const [y, m] = month.split('-').map(Number);
  return m === 12 ? `${y! + 1}-01` : `${y}-${String(m! + 1).padStart(2, '0')}`;
}

/** Every month from the first with data to this one, zero where nothing happened. */
export function fillMonths(bars: Bar[], through: string): Bar[] {
  if (bars.length === 0) return [];
  const byMonth = new Map(bars.map((b) => [b.month, b]));
  const last = bars[bars.length - 1]!.month > through ? bars[bars.length - 1]!.month : through;
  const out: Bar[] = [];
  for (let m = bars[0]!.month; m <= last; m = nextMonth(m)) out.push(byMonth.get(m) ?? { month: m, referred: 0, recovered: 0 });
  return out;
}

function Chart({ bars }: { bars: Bar[] }) {
  const width = 720;
  const height = 260;
  const pad = { left: 80, right: 24, bottom: 40, top: 10 };
  const max = Math.max(1, ...bars.flatMap((b) => [b.referred, b.recovered]));
  const slot = (width - pad.left - pad.right) / Math.max(1, bars.length);
  const barWidth = Math.max(2, Math.min(24, slot / 2 - 2));
  const y = (c: number) => height - pad.bottom - ((height - pad.bottom - pad.top) * c) / max;
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${width} ${height}`} role="img" aria-labelledby="chart-title">
        <title id="chart-title">Referred and recovered amounts by month</title>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={pad.left} x2={width} y1={y(max * f)} y2={y(max * f)} className="grid" />
            <text x={pad.left - 6} y={y(max * f) + 4} textAnchor="end">
              {formatCents(Math.round(max * f))}
            </text>
          </g>
        ))}
        {bars.map((b, i) => {
          const x = pad.left + i * slot + slot / 2;
          return (
            <g key={b.month}>
              <rect x={x - barWidth - 1} y={y(b.referred)} width={barWidth} height={y(0) - y(b.referred)} className="referred">
                <title>{`${b.month} referred ${formatCents(b.referred)}`}</title>
              </rect>
              <rect x={x + 1} y={y(b.recovered)} width={barWidth} height={y(0) - y(b.recovered)} className="recovered">
                <title>{`${b.month} recovered ${formatCents(b.recovered)}`}</title>
              </rect>
              {(bars.length <= 12 || i % Math.ceil(bars.length / 12) === 0) && (
                <text x={x} y={height - pad.bottom + 16} textAnchor="middle">
                  {b.month}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="key referred" /> Referred <span className="key recovered" /> Recovered
      </figcaption>
    </figure>
  );
}

function Figure({ label, value, note }: { label: string; value: string; note?: string }) {
  return (
    <div className="figure">
      <span className="figure-label">{label}</span>
      <span className="figure-value">{value}</span>
      {note && <span className="figure-note">{note}</span>}
    </div>
  );
}

export function DashboardScreen() {
  const [library, setLibrary] = useState('');
  const [agency, setAgency] = useState('');
  const { data, error } = useLoad(() => get<DashboardReply>('/dashboard', { library: library || undefined, agency: agency || undefined }), [library, agency]);
  if (error) return <ErrorBanner error={error} />;
  if (!data) return <Busy label="Loading the dashboard" />;
  const byMonth = new Map<string, Bar>();
  for (const m of data.months) {
    const bar = byMonth.get(m.month) ?? { month: m.month, referred: 0, recovered: 0 };
    bar.referred += toCents(m.referred);
    bar.recovered += toCents(m.recovered);
    byMonth.set(m.month, bar);
  }
  const bars = fillMonths(
    [...byMonth.values()].sort((a, b) => a.month.localeCompare(b.month)),
    monthOf(new Date()),
  );
  const h = data.headline;
  return (
    <section aria-labelledby="dash-title">
      <h1 id="dash-title">Dashboard</h1>
      <Attention />
      <div className="filters">
        <label>
          Library
          <select value={library} onChange={(e) => setLibrary(e.target.value)}>
            <option value="">All libraries</option>
            {data.libraries.map((l) => (
              <option key={l.code} value={l.code}>
                {l.name && l.name !== l.code ? `${l.name} (${l.code})` : l.code}
              </option>
            ))}
          </select>
        </label>
        <label>
          Agency
          <select value={agency} onChange={(e) => setAgency(e.target.value)}>
            <option value="">All agencies</option>
            {data.agencies.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
      </div>
      <div className="figures" role="group" aria-label="Headline figures">
        <Figure label="Outstanding referred" value={money(h.outstanding)} note={`${h.openReferrals} open referral${h.openReferrals === 1 ? '' : 's'}, owed now`} />
        <Figure label="Recovered this month" value={money(h.recoveredThisMonth)} />
        <Figure label="Recovered this year" value={money(h.recoveredThisYear)} />
        <Figure label="Recovery rate" value={h.recoveryRate === null ? '—' : `${h.recoveryRate.toFixed(1)}%`} note={`${money(h.recovered)} of ${money(h.referred)} referred`} />
      </div>
      <h2>Referred and recovered by month</h2>
      {bars.length ? <Chart bars={bars} /> : <p>No referrals or recoveries yet.</p>}
      {bars.length > 0 && (
        <DataTable
          name="months"
          rows={[...bars].reverse()}
          rowKey={(b) => b.month}
          pageSize={12}
          columns={[
            { header: 'Month', cell: (b) => b.month },
            { header: 'Referred', num: true, sortValue: (b) => b.referred, cell: (b) => formatCents(b.referred) },
            { header: 'Recovered', num: true, sortValue: (b) => b.recovered, cell: (b) => formatCents(b.recovered) },
          ]}
        />
      )}
      <h2>Open referrals by age</h2>
      <DataTable
        plain
        rows={data.byAge}
        rowKey={(b) => b.age}
        columns={[
          { header: 'Days since referred', cell: (b) => b.age },
          { header: 'Open referrals', num: true, cell: (b) => b.count },
          { header: 'Owed now', num: true, cell: (b) => money(b.outstanding) },
        ]}
      />
      <h2>Open referrals by agency</h2>
      <DataTable
        name="open referrals by agency"
        rows={data.openReferrals}
        rowKey={(o) => o.agency}
        columns={[
          { header: 'Agency', cell: (o) => o.agency },
          { header: 'Open referrals', num: true, cell: (o) => o.count },
          { header: 'Amount last reported', num: true, sortValue: (o) => toCents(o.amount), cell: (o) => money(o.amount) },
          { header: 'Owed now', num: true, sortValue: (o) => toCents(o.outstanding), cell: (o) => money(o.outstanding) },
        ]}
      />
    </section>
  );
}
