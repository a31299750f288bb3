// `arrears exclusions list|add|lift`: patrons the engine must not submit, until a date or
// until lifted. Adding one for a patron in a New Submissions file held for review also
// cancels that referral and rebuilds the file without them.
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money.ts';
import { addExclusion, liftExclusion, listExclusions, type ExclusionRow } from '../services/exclusions.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

function describe(x: ExclusionRow): string {
  const until = x.untilDate ? `until ${x.untilDate}` : 'until lifted';
  const state = x.liftedAt ? `lifted by ${x.liftedBy} at ${x.liftedAt.toISOString()}` : x.active ? 'in force' : 'ended';
  return `exclusion ${x.id}: patron ${x.patronId}, ${until}, ${state} (${x.reason})`;
}

export function registerExclusions(program: Command): void {
  const exclusions = program.command('exclusions').description('patrons excluded from New Submissions (review before sending)');

  exclusions
    .command('list')
    .description('exclusions, newest first')
    .option('--patron <id>', "only this patron's")
    .option('--active', 'only those in force today')
    .option('--limit <n>', 'at most this many', '200')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { patron?: string; active?: boolean; limit: string; json?: boolean }, cmd: Command) => {
        if (!/^\d{1,6}$/.test(opts.limit) || Number(opts.limit) === 0) throw ValidationError.of(`"${opts.limit}" is not a positive whole number`, { field: '--limit' });
        const page = await withContext(cmd, (ctx) => listExclusions(ctx, { patronId: opts.patron, state: opts.active ? 'active' : 'all', limit: Number(opts.limit) }));
        if (opts.json) return printJson(page);
        if (page.total === 0) return console.log('no exclusions');
        console.log(
          table([
            ['id', 'patron', 'name', 'until', 'state', 'by', 'reason'],
            ...page.items.map((x) => [String(x.id), x.patronId, x.patronName, x.untilDate ?? '-', x.liftedAt ? 'lifted' : x.active ? 'in force' : 'ended', x.createdBy, x.reason]),
          ]),
        );
        if (page.total > page.items.length) console.log(`(${page.total - page.items.length} more; raise --limit)`);
      }),
    );

  exclusions
    .command('add <patronId>')
    .description('exclude a patron from New Submissions')
    .requiredOption('--reason <text>', 'why the patron must not be sent')
    .option('--until <YYYY-MM-DD>', 'the last day it is in force (default: until lifted)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (patronId: string, opts: { reason: string; until?: string; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => addExclusion(ctx, { patronId, reason: opts.reason, until: opts.until ?? null }));
        if (opts.json) return printJson(r);
        console.log(`added ${describe(r.exclusion)}`);
        for (const c of r.cancelled) {
          console.log(`cancelled referral ${c.referralId} to ${c.agency} before it was sent (balance ${formatMoney(c.amountCents)}, fee taken back ${formatMoney(c.feeRemovedCents)})`);
        }
        for (const f of r.rebuilt) console.log(f.removed ? `removed held file ${f.name}: nobody left in it` : `rebuilt held file ${f.name}: ${f.rows} patron${f.rows === 1 ? '' : 's'}`);
      }),
    );

  exclusions
    .command('lift <id>')
    .description('lift an exclusion: the patron can be submitted again')
    .action(
      action(async (id: string, _opts: unknown, cmd: Command) => {
        if (!/^\d{1,15}$/.test(id)) throw ValidationError.of(`"${id}" is not an exclusion id`, { field: 'id' });
        const x = await withContext(cmd, (ctx) => liftExclusion(ctx, Number(id)));
        console.log(describe(x));
      }),
    );
}
