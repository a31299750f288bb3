// Referred vs recovered by month (an SVG bar chart drawn here), narrowed by library and
// agency, and the open referrals per agency.
import { useState } from 'react';
import { get } from '../api.ts';
import { formatCents, toCents } from '../money.ts';
import { DataTable } from '../table.tsx';
import { Busy, ErrorBanner, useLoad } from '../ui.tsx';

interface DashboardReply {
  months: { month: string; library: string; agency: string; referred: string; recovered: string }[];
  openReferrals: { agency: string; count: number; amount: string }[];
}

interface Bar {
  month: string;
  referred: number;
  recovered: number;
}

function Chart({ bars }: { bars: Bar[] }) {
  const width = 720;
  const height = 260;
  const pad = { left: 80, bottom: 40, top: 10 };
  const max = Math.max(1, ...bars.flatMap((b) => [b.referred, b.recovered]));
  const slot = (width - pad.left) / Math.max(1, bars.length);
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

export function DashboardScreen() {
  const { data, error } = useLoad(() => get<DashboardReply>('/dashboard'), []);
  const [library, setLibrary] = useState('');
  const [agency, setAgency] = useState('');
  if (error) return <ErrorBanner error={error} />;
  if (!data) return <Busy label="Loading the dashboard" />;
  const libraries = [...new Set(data.months.map((m) => m.library))].sort();
  const agencies = [...new Set(data.months.map((m) => m.agency))].sort();
  const byMonth = new Map<string, Bar>();
  for (const m of data.months) {
    if ((library && m.library !== library) || (agency && m.agency !== agency)) continue;
    const bar = byMonth.get(m.month) ?? { month: m.month, referred: 0, recovered: 0 };
    bar.referred += toCents(m.referred);
    bar.recovered += toCents(m.recovered);
    byMonth.set(m.month, bar);
  }
  const bars = [...byMonth.values()].sort((a, b) => a.month.localeCompare(b.month));
  return (
    <section aria-labelledby="dash-title">
      <h1 id="dash-title">Dashboard</h1>
      <div className="filters">
        <label>
          Library
          <select value={library} onChange={(e) => setLibrary(e.target.value)}>
            <option value="">All libraries</option>
            {libraries.map((l) => (
              <option key={l}>{l}</option>
            ))}
          </select>
        </label>
        <label>
          Agency
          <select value={agency} onChange={(e) => setAgency(e.target.value)}>
            <option value="">All agencies</option>
            {agencies.map((a) => (
              <option key={a}>{a}</option>
            ))}
          </select>
        </label>
      </div>
      {bars.length ? <Chart bars={bars} /> : <p>No referrals or recoveries yet.</p>}
      <h2>Open referrals</h2>
      <DataTable
        rows={data.openReferrals}
        rowKey={(o) => o.agency}
        columns={[
          { header: 'Agency', cell: (o) => o.agency },
          { header: 'Open referrals', num: true, cell: (o) => o.count },
          { header: 'Amount last reported', num: true, cell: (o) => formatCents(toCents(o.amount)) },
        ]}
      />
    </section>
  );
}
