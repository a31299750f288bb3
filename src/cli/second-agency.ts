// `arrears secure|release|settle|cleared|rerefer`: the second-agency workflow's actions on
// patrons, one by one or a whole record set (seed 000, steps 6–10).
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money.ts';
import {
  describeRefusals,
  importClearedAccounts,
  moneyJson,
  releasePatrons,
  returnAndRerefer,
  securePatrons,
  settlePatrons,
  type PatronTarget,
} from '../services/second-agency.ts';
import { action, printJson, withContext } from './context.ts';

/** Patron ids on the command line, or --set: one or the other. */
function target(ids: string[], set: string | undefined): PatronTarget {
  if (set !== undefined && ids.length) throw ValidationError.of('give patron ids or --set, not both', { field: '--set' });
  if (set !== undefined) return { set };
  if (ids.length === 0) throw ValidationError.of('give one or more patron ids, or --set <record set>', { field: 'patronIds' });
  return { patronIds: ids };
}

function list(label: string, ids: readonly string[]): void {
  if (ids.length) console.log(`${label} (${ids.length}): ${ids.join(', ')}`);
}

export function registerSecondAgency(program: Command): void {
  program
    .command('secure [patronIds...]')
    .description('secure patron records (refused while items are linked to them; charges stay)')
    .option('--set <set>', 'every patron of this record set')
    .option('--skip-refused', 'secure the others when some have linked items, and list those')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ids: string[], opts: { set?: string; skipRefused?: boolean; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => securePatrons(ctx, target(ids, opts.set), { skipRefused: opts.skipRefused }));
        if (opts.json) return printJson(r);
        list('secured', r.secured);
        list('already secured', r.alreadySecured);
        if (r.refused.length) {
          console.log(`not secured, items still linked (${r.refused.length}):`);
          for (const line of describeRefusals(r.refused)) console.log(`  ${line}`);
        }
        if (!r.secured.length && !r.alreadySecured.length && !r.refused.length) console.log('no patrons to secure');
      }),
    );

  program
    .command('release [patronIds...]')
    .description('release secured patron records')
    .option('--set <set>', 'every patron of this record set')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ids: string[], opts: { set?: string; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => releasePatrons(ctx, target(ids, opts.set)));
        if (opts.json) return printJson(r);
        list('released', r.released);
        list('not secured', r.notSecured);
      }),
    );

  program
    .command('settle [patronIds...]')
    .description('waive each patron\'s remaining balance, or record it as a "collection agency" payment')
    .option('--set <set>', 'every patron of this record set')
    .option('--waive', 'waive the remaining balance')
    .option('--agency-payment', 'record the remaining balance as paid, method "collection agency"')
    .option('--json', 'print the result as JSON (amounts as decimal strings)')
    .action(
      action(async (ids: string[], opts: { set?: string; waive?: boolean; agencyPayment?: boolean; json?: boolean }, cmd: Command) => {
        if (Boolean(opts.waive) === Boolean(opts.agencyPayment)) throw ValidationError.of('give --waive or --agency-payment (one of them)', { field: '--waive' });
        const who = target(ids, opts.set);
        const r = await withContext(cmd, (ctx) => settlePatrons(ctx, who, opts.waive ? 'waive' : 'agency_payment'));
        if (opts.json) return printJson({ mode: r.mode, patrons: moneyJson(r.patrons), total: formatMoney(r.totalCents) });
        const verb = r.mode === 'waive' ? 'waived' : 'paid (collection agency)';
        for (const p of r.patrons) console.log(`${p.patronId}: ${p.amountCents > 0 ? `${verb} ${formatMoney(p.amountCents)}` : 'nothing owed'}`);
        console.log(`total ${verb} ${formatMoney(r.totalCents)} for ${r.patrons.length} patron${r.patrons.length === 1 ? '' : 's'}`);
      }),
    );

  program
    .command('cleared <file>')
    .description("import an agency's cleared-accounts file (.xlsx or .csv, patron ids only): clear their referrals and release them")
    .option('--column <header>', 'the header of the patron id column (default: the one like PatronID / Patron ID / patron_id)')
    .option('--json', 'print the result as JSON (amounts as decimal strings)')
    .action(
      action(async (file: string, opts: { column?: string; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => importClearedAccounts(ctx, file, { column: opts.column }));
        if (opts.json) return printJson({ ...r, cleared: moneyJson(r.cleared) });
        console.log(`${r.file}, column "${r.column}": ${r.cleared.length} referral${r.cleared.length === 1 ? '' : 's'} cleared`);
        for (const c of r.cleared) console.log(`  ${c.patronId}: ${c.agency} referral #${c.referralId} cleared at ${formatMoney(c.amountCents)}${c.released ? ', released' : ''}`);
        if (r.unknown.length) console.log(`not found (${r.unknown.length}): ${r.unknown.map((u) => `${u.id} (row ${u.row})`).join(', ')}`);
        if (r.notReferred.length) console.log(`no open referral (${r.notReferred.length}): ${r.notReferred.map((u) => `${u.id} (row ${u.row})`).join(', ')}`);
      }),
    );

  program
    .command('rerefer [patronIds...]')
    .description("return each patron's open referral (a return record) and refer them to another agency, without a second fee")
    .option('--set <set>', 'every patron of this record set')
    .requiredOption('--agency <name>', 'the agency to refer them to')
    .option('--json', 'print the result as JSON (amounts as decimal strings)')
    .action(
      action(async (ids: string[], opts: { set?: string; agency: string; json?: boolean }, cmd: Command) => {
        const who = target(ids, opts.set);
        const r = await withContext(cmd, (ctx) => returnAndRerefer(ctx, who, opts.agency));
        if (opts.json) return printJson({ agency: r.agency, referrals: moneyJson(r.referrals) });
        for (const x of r.referrals) console.log(`${x.patronId}: returned by ${x.fromAgency} (#${x.returnedReferralId}), referred to ${x.agency} (#${x.referralId}) at ${formatMoney(x.amountCents)}`);
        console.log(`${r.referrals.length} patron${r.referrals.length === 1 ? '' : 's'} re-referred to ${r.agency}`);
      }),
    );
}
