// `arrears explain <patronId> --date YYYY-MM-DD [--json]`: why a patron would or would not be
// submitted on a report date — the entry that applied, the window, each condition measured
// against what it requires, and the charges considered — checked against the set-based SQL.
import type { Command } from 'commander';
import { parseDate } from '../domain/dates.ts';
import { describeWindow, usd, type Evaluation } from '../domain/eligibility.ts';
import { ValidationError } from '../domain/errors.ts';
import { explainPatron, type Explanation } from '../services/eligibility.ts';
import { loadEntries } from '../services/settings.ts';
import { action, printJson, withContext } from './context.ts';

function table(headers: string[], rows: string[][], rightAligned: number[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned.includes(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

function verdictLine(e: Pick<Evaluation, 'eligible' | 'entryId' | 'owedCents' | 'countedCents'>): string {
  return `${e.eligible ? 'eligible' : 'not eligible'}, entry ${e.entryId === null ? 'none' : `#${e.entryId}`}, owed ${usd(e.owedCents)}, counted ${usd(e.countedCents)}`;
}

export function renderExplanation(x: Explanation): string {
  const e = x.evaluation;
  const entry = e.entryId === null ? 'no settings entry applies' : `entry #${e.entryId} “${e.entryName}”`;
  const out = [
    `Patron ${e.patronId} on ${e.reportDate}: ${e.eligible ? 'ELIGIBLE' : 'NOT ELIGIBLE'} (${entry})`,
    `  owed ${usd(e.owedCents)}, counted ${usd(e.countedCents)}` + (e.window ? `, charges counted if assessed ${describeWindow(e.window)}` : ''),
    '',
    'Conditions',
  ];
  for (const c of e.conditions) {
    out.push(`  ${c.pass ? '✓' : '✗'} ${c.label}`, `      measured: ${c.measured}`, `      required: ${c.required}`);
  }

  const open = e.charges.filter((c) => c.outstandingCents !== 0);
  const settled = e.charges.length - open.length;
  out.push('', `Outstanding charges (${open.length})`);
  if (open.length) {
    const rows = open.map((c) => [c.id, c.assessedOn, c.library, c.reason, usd(c.amountCents), usd(c.outstandingCents), c.counted ? 'yes' : `no: ${c.note}`]);
    out.push(...table(['id', 'assessed on', 'library', 'reason', 'amount', 'outstanding', 'counted'], rows, [4, 5]).map((s) => `  ${s}`));
  }
  if (settled) out.push(`  (${settled} fully paid or waived charge${settled === 1 ? '' : 's'} not shown)`);

  out.push(
    '',
    x.agrees
      ? `Set-based SQL agrees: ${verdictLine(x.sql)}`
      : `Set-based SQL DISAGREES: it says ${verdictLine(x.sql)}; the rules above say ${verdictLine(e)}. Please report this.`,
  );
  return out.join('\n');
}

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description('show which settings entry applies to a patron and every eligibility condition, measured and judged')
    .argument('<patronId>', 'patron id')
    .requiredOption('--date <YYYY-MM-DD>', 'report date')
    .option('--json', 'print the evaluation as JSON (amounts in cents), with the SQL verdict under "sql"')
    .action(
      action(async (patronId: string, opts: { date: string; json?: boolean }, cmd: Command) => {
        const reportDate = parseDate(opts.date);
        if (!reportDate) throw ValidationError.of(`"${opts.date}" is not a date (YYYY-MM-DD)`, { field: '--date' });
        const x = await withContext(cmd, async (ctx) => explainPatron(ctx.database.db, await loadEntries(ctx.database.db), patronId, reportDate));
        if (opts.json) printJson({ ...x.evaluation, sql: { ...x.sql, agrees: x.agrees } });
        else console.log(renderExplanation(x));
        // The two engines disagreeing is a defect, not a verdict: fail loudly so it is noticed.
        if (!x.agrees) process.exitCode = 1;
      }),
    );
}
