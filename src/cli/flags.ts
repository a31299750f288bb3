// `arrears flags export [--since T] [--format csv|json] [--out file]`: the latest in-collections
// and secured state of every patron whose flags changed after T, for an ILS script. The
// high-water mark (pass it as the next --since) goes to stderr, and into the JSON.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { exportFlags, flagsCsv, flagsJson, parseSince } from '../services/flags.ts';
import { action, withContext } from './context.ts';

interface ExportOptions {
  since?: string;
  format: string;
  out?: string;
}

export function registerFlags(program: Command): void {
  const flags = program.command('flags').description('flags back to the ILS: who is in collections, whose record is secured');
  flags
    .command('export')
    .description('the latest state of each patron whose in-collections or secured flag changed, oldest change first')
    .option('--since <ISO-8601>', 'only changes after this instant, e.g. the high-water mark of the previous export')
    .option('--format <format>', 'csv or json', 'csv')
    .option('--out <file>', 'write to this file instead of standard output')
    .action(
      action(async (opts: ExportOptions, cmd: Command) => {
        if (opts.format !== 'csv' && opts.format !== 'json') throw ValidationError.of(`must be csv or json, got "${opts.format}"`, { field: '--format' });
        const since = opts.since === undefined ? undefined : parseSince(opts.since);
        if (since === null) throw ValidationError.of(`"${opts.since}" is not an ISO 8601 date-time with a zone, like 2024-03-05T02:00:00Z`, { field: '--since' });
        const exported = await withContext(cmd, (ctx) => exportFlags(ctx.database.db, { since }));
        const text = opts.format === 'csv' ? flagsCsv(exported.patrons) : JSON.stringify(flagsJson(exported), null, 2) + '\n';
        if (opts.out) {
          writeFileSync(opts.out, text);
          console.log(`wrote ${exported.patrons.length} patron${exported.patrons.length === 1 ? '' : 's'} to ${opts.out}`);
        } else process.stdout.write(text);
        process.stderr.write(`high-water mark: ${exported.highWaterMark?.toISOString() ?? 'none (no flag has changed yet)'}\n`);
      }),
    );
}
