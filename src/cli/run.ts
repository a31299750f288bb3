// `arrears run --date D [--dry-run] [--json]`: New Submissions, updates, removals and
// cancellations for one report date.
import type { Command } from 'commander';
import { parseDate } from '../domain/dates.ts';
import { ValidationError } from '../domain/errors.ts';
import { runReport, type RunPart, type RunResult } from '../services/runs.ts';
import { action, printJson, withContext } from './context.ts';

function printHuman(r: RunResult): void {
  const head = r.dryRun ? `Dry run for ${r.reportDate} (nothing was written)` : `Run ${r.runId ?? ''} for ${r.reportDate}`;
  if (r.alreadyRun) {
    console.log(`${r.reportDate} has already run for every settings entry; nothing changed.`);
    return;
  }
  console.log(head);
  for (const s of r.skipped) console.log(`  already run, skipped: ${s.name} (${s.parts.join(', ')})`);
  console.log(`  New Submissions: ${r.newSubmissions.length}`);
  for (const n of r.newSubmissions) console.log(`    ${n.patronId}\t${n.entry}\t${n.agency}\towed ${n.owed}\tcounted ${n.counted}\tfee ${n.fee}`);
  console.log(`  Updates: ${r.updates.length}`);
  for (const u of r.updates) console.log(`    ${u.patronId}\t${u.previous} -> ${u.owed}\t${u.reason}`);
  console.log(`  Removals: ${r.removals.length}`);
  for (const m of r.removals) console.log(`    ${m.patronId}\towed ${m.owed}\t${m.reason}`);
  console.log(`  Cancellations: ${r.cancellations.length}`);
  for (const c of r.cancellations) console.log(`    ${c.patronId}\towed ${c.owed}\twritten off ${c.writtenOff}`);
  if (r.files.length) {
    console.log(`  Files: ${r.files.length}`);
    for (const f of r.files) console.log(`    ${f.name}\t${f.kind}\t${f.agency}`);
  }
  if (r.writebacks.length) {
    console.log(`  ILS write-backs ${r.dryRun ? 'it would queue' : 'queued'}: ${r.writebacks.length}`);
    for (const w of r.writebacks) console.log(`    ${w.connector}\t${w.kind}\t${w.patronId}`);
  }
  for (const w of r.writeback ?? []) {
    console.log(`  Written to ${w.connector}: ${w.applied} applied, ${w.pending} still queued, ${w.failed} failed${w.error ? ` (the ILS could not be reached: ${w.error})` : ''}`);
  }
}

export function registerRun(program: Command): void {
  program
    .command('run')
    .description('evaluate the settings table for a report date: New Submissions, updates, removals, cancellations')
    .requiredOption('--date <YYYY-MM-DD>', 'report date')
    .option('--dry-run', 'compute everything, write nothing')
    .option('--only <part>', 'run only New Submissions ("new") or only updates ("update")')
    .option('--entry <id...>', 'limit to these settings entry ids')
    .option('--no-writeback', 'leave the ILS write-backs queued (apply them later with `arrears writeback <connector>`)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async function (this: Command) {
        const opts = this.opts<{ date: string; dryRun?: boolean; only?: string; entry?: string[]; json?: boolean; writeback: boolean }>();
        const reportDate = parseDate(opts.date);
        if (!reportDate) throw ValidationError.of(`"${opts.date}" is not a date (YYYY-MM-DD)`, { field: '--date' });
        if (opts.only && opts.only !== 'new' && opts.only !== 'update') throw ValidationError.of('must be "new" or "update"', { field: '--only' });
        const entryIds = opts.entry?.map((e) => {
          const n = Number(e);
          if (!Number.isInteger(n)) throw ValidationError.of(`"${e}" is not an entry id`, { field: '--entry' });
          return n;
        });
        const result = await withContext(this, (ctx) =>
          runReport(ctx, { reportDate, dryRun: opts.dryRun, parts: opts.only ? [opts.only as RunPart] : undefined, entryIds, trigger: 'manual', writeBack: opts.writeback }),
        );
        if (opts.json) {
          const { reportDate: rd, runId, dryRun, alreadyRun, newSubmissions, updates, removals, cancellations, files, entries, skipped, writebacks, writeback } = result;
          printJson({ reportDate: rd, runId, dryRun, alreadyRun, newSubmissions, updates, removals, cancellations, files, entries, skipped, writebacks, ...(writeback ? { writeback } : {}) });
        } else printHuman(result);
      }),
    );
}
