// `arrears demo [--patrons N] [--seed S] [--as-of YYYY-MM-DD] [--out <dir>] [--force]`:
// the deterministic demo consortium, written as import files or loaded into the database.
import type { Command } from 'commander';
import { ConflictError, ValidationError } from '../domain/errors.ts';
import { parseDate } from '../domain/dates.ts';
import { formatMoney } from '../domain/money.ts';
import { systemClock } from '../services/context.ts';
import { databaseHasPatrons, demoToday, loadDemo, writeDemoCsv, type DemoSummary } from '../services/demo.ts';
import { action, withContext } from './context.ts';

/** A whole number from the command line; ValidationError (exit 2) names the flag otherwise. */
export function wholeNumber(flag: string, text: string): number {
  const n = /^\d{1,15}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!Number.isSafeInteger(n)) throw ValidationError.of(`must be a whole number, got "${text}"`, { field: flag });
  return n;
}

function asOfDate(text: string | undefined): string {
  if (text === undefined) return demoToday(systemClock);
  const d = parseDate(text);
  if (!d) throw ValidationError.of(`must be a date as YYYY-MM-DD, got "${text}"`, { field: '--as-of' });
  return d;
}

const dollars = (cents: number) => `$${formatMoney(cents)}`;

function describeSummary(s: DemoSummary): string[] {
  return [
    `  ${s.rows.libraries} libraries, ${s.rows.patrons} patrons, ${s.rows.items} items, ${s.rows.charges} charges, ${s.rows.payments} payments`,
    `  ${dollars(s.totals.charged)} charged, ${dollars(s.totals.outstanding)} outstanding; ${s.totals.patronsOwing} patrons owe something`,
  ];
}

/** Progress on stderr, only for a person at a terminal: cron logs stay clean. */
function progress(): ((what: string, done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined;
  return (what, done, total) => {
    process.stderr.write(`\r\x1b[K${what} ${total ? Math.floor((done / total) * 100) : 100}%`);
    if (done >= total) process.stderr.write('\r\x1b[K');
  };
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('generate the demo consortium (same seed and date, same files): write its import files with --out, or load it')
    .option('--patrons <n>', 'how many patrons', '300')
    .option('--seed <n>', 'random seed', '1')
    .option('--as-of <date>', 'charges fall in the two years up to this date (default: today)')
    .option('--out <dir>', 'write libraries.csv, patrons.csv, items.csv, charges.csv, payments.csv here instead of loading them')
    .option('--force', 'load even though the database already has patrons (demo ids may overwrite theirs)')
    .action(
      action(async (opts: { patrons: string; seed: string; asOf?: string; out?: string; force?: boolean }, cmd: Command) => {
        const options = { patrons: wholeNumber('--patrons', opts.patrons), seed: wholeNumber('--seed', opts.seed), asOf: asOfDate(opts.asOf) };
        if (opts.out !== undefined) {
          const show = progress();
          const written = await writeDemoCsv(opts.out, { ...options, onProgress: show && ((done, total) => show('generating', done, total)) });
          console.log(`Demo consortium (seed ${written.seed}, as of ${written.asOf}) written to ${opts.out}:`);
          for (const f of written.files) console.log(`  ${f.path}  ${f.rows} rows`);
          console.log(describeSummary(written)[1]);
          return;
        }
        await withContext(cmd, async (ctx) => {
          if (!opts.force && (await databaseHasPatrons(ctx))) {
            throw new ConflictError(
              `${ctx.database.location} already has patrons; load the demo into an empty database (e.g. --db memory:// or a new folder), or pass --force`,
            );
          }
          const show = progress();
          const loaded = await loadDemo(ctx, { ...options, onProgress: show && ((kind, done, total) => show(`importing ${kind}`, done, total)) });
          console.log(`Demo consortium (seed ${loaded.seed}, as of ${loaded.asOf}) loaded into ${ctx.database.location}:`);
          for (const line of describeSummary(loaded)) console.log(line);
        });
      }),
    );
}
