// `arrears recordset ...`: patron record sets built from an agency's file, their review and
// bulk change, and item record sets with the lost-item actions (seed 000, steps 2–5).
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money.ts';
import {
  addMembers,
  bulkChange,
  createItemSet,
  createPatronSet,
  deleteLostItems,
  deleteRecordSet,
  listRecordSets,
  recordSetJson,
  removeMembers,
  showRecordSet,
  transitionLostItems,
  type BulkChange,
  type LostItemsResult,
  type MembershipChange,
  type RecordSetSummary,
} from '../services/recordsets.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

function describeSet(s: RecordSetSummary): string {
  return `${s.kind} record set #${s.id} "${s.name}" (${s.members} member${s.members === 1 ? '' : 's'})`;
}

function printMembership(r: MembershipChange, verb: 'added' | 'removed'): void {
  const done = verb === 'added' ? r.added : r.removed;
  console.log(`${verb} ${done.length}${done.length ? `: ${done.join(', ')}` : ''}; ${describeSet(r.set)}`);
  if (r.unchanged.length) console.log(`${verb === 'added' ? 'already in the set' : 'not in the set'}: ${r.unchanged.join(', ')}`);
}

function printLost(r: LostItemsResult, mode: 'delete' | 'transition'): void {
  for (const i of r.deleted) console.log(`deleted   ${i.id}  ${i.barcode}  "${i.title}" (was linked to ${i.patronId})`);
  for (const i of r.kept) console.log(`${i.status.padEnd(9)} ${i.id}  ${i.barcode}  "${i.title}" unlinked from ${i.patronId}${i.library ? ` (library ${i.library})` : ' (kept: a charge names it)'}`);
  for (const s of r.skipped) console.log(`skipped   ${s.id}: ${s.reason}`);
  const done = mode === 'delete' ? `${r.deleted.length} deleted, ${r.kept.length} kept as withdrawn` : `${r.kept.length} transitioned`;
  console.log(`${done}, ${r.skipped.length} skipped`);
}

export function registerRecordsets(program: Command): void {
  const rs = program.command('recordset').description('record sets: named lists of patrons or items to work on in bulk (the second-agency workflow)');

  rs.command('create <name>')
    .description("a patron record set from an agency's .xlsx or .csv file, matched by patron id only")
    .requiredOption('--from <file>', 'the .xlsx or .csv file')
    .option('--column <header>', 'the header of the patron id column (default: the one like PatronID / Patron ID / patron_id)')
    .option('--allow-unknown', 'create the set from the known ids when some are not patrons here (they are listed)')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (name: string, opts: { from: string; column?: string; allowUnknown?: boolean; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => createPatronSet(ctx, { name, file: opts.from, column: opts.column, allowUnknown: opts.allowUnknown }));
        if (opts.json) return printJson(r);
        console.log(`created ${describeSet(r.set)} from ${r.file}, column "${r.column}"`);
        if (r.duplicates) console.log(`${r.duplicates} repeated id${r.duplicates === 1 ? '' : 's'} counted once`);
        if (r.unknown.length) {
          console.log(`not found (${r.unknown.length}), left out:`);
          for (const u of r.unknown) console.log(`  ${u.id} (row ${u.row})`);
        }
      }),
    );

  rs.command('list')
    .description('every record set')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        const list = await withContext(cmd, (ctx) => listRecordSets(ctx.database.db));
        if (opts.json) return printJson(list);
        if (list.length === 0) return console.log('no record sets');
        console.log(
          table([
            ['id', 'name', 'kind', 'members', 'created', 'by', 'source'],
            ...list.map((s) => [String(s.id), s.name, s.kind, String(s.members), s.createdAt.toISOString().slice(0, 16).replace('T', ' '), s.createdBy, s.source]),
          ]),
        );
      }),
    );

  rs.command('show <set>')
    .description('the members of a set (by id or name): patrons with balance and flags, or items with status')
    .option('--json', 'as JSON (amounts as decimal strings)')
    .action(
      action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
        const view = await withContext(cmd, (ctx) => showRecordSet(ctx.database.db, ref));
        if (opts.json) return printJson(recordSetJson(view));
        console.log(`${describeSet(view.set)}, from ${view.set.source || '-'}`);
        if (view.members.length === 0) return;
        if (view.kind === 'patron') {
          console.log(
            table([
              ['id', 'name', 'balance', 'status', 'in collections', 'blocked', 'code', 'ptype', 'items'],
              ...view.members.map((m) =>
                m.exists
                  ? [m.id, `${m.firstName} ${m.lastName}`.trim(), formatMoney(m.balanceCents), m.status ?? '', m.inCollections ? 'yes' : 'no', m.blocked ? 'yes' : 'no', m.patronCode, String(m.ptype ?? ''), String(m.linkedItems)]
                  : [m.id, '(no longer in the database)', '', '', '', '', '', '', ''],
              ),
            ]),
          );
        } else {
          console.log(
            table([
              ['id', 'barcode', 'status', 'patron', 'due', 'title'],
              ...view.members.map((m) => (m.exists ? [m.id, m.barcode, m.status ?? '', m.patronId ?? '', m.dueDate ?? '', m.title] : [m.id, '(deleted)', '', '', '', ''])),
            ]),
          );
        }
      }),
    );

  rs.command('add <set> <ids...>')
    .description('add patrons (or items, to an item set) by id')
    .action(
      action(async (ref: string, ids: string[], _opts: unknown, cmd: Command) => {
        printMembership(await withContext(cmd, (ctx) => addMembers(ctx, ref, ids)), 'added');
      }),
    );

  rs.command('remove <set> <ids...>')
    .description('remove members by id')
    .action(
      action(async (ref: string, ids: string[], _opts: unknown, cmd: Command) => {
        printMembership(await withContext(cmd, (ctx) => removeMembers(ctx, ref, ids)), 'removed');
      }),
    );

  rs.command('change <set>')
    .description("bulk change the set's patrons, all or none")
    .option('--patron-code <code>', 'set the patron code')
    .option('--ptype <ptype>', 'set the patron type (PTYPE): the ILS patron category, e.g. PT, or a number')
    .option('--note <text>', 'set the note (replacing it; with --append, add it on a new line)')
    .option('--append', 'append --note instead of replacing')
    .option('--block', 'block the patrons')
    .option('--unblock', 'unblock the patrons')
    .option('--json', 'print each change as JSON')
    .action(
      action(async (ref: string, opts: { patronCode?: string; ptype?: string; note?: string; append?: boolean; block?: boolean; unblock?: boolean; json?: boolean }, cmd: Command) => {
        if (opts.block && opts.unblock) throw ValidationError.of('give --block or --unblock, not both', { field: '--block' });
        if (opts.append && opts.note === undefined) throw ValidationError.of('--append needs --note', { field: '--append' });
        const change: BulkChange = {
          patronCode: opts.patronCode,
          ptype: opts.ptype,
          note: opts.note === undefined ? undefined : { text: opts.note, mode: opts.append ? 'append' : 'replace' },
          blocked: opts.block ? true : opts.unblock ? false : undefined,
        };
        const r = await withContext(cmd, (ctx) => bulkChange(ctx, ref, change));
        if (opts.json) return printJson(r);
        for (const c of r.changed) console.log(`${c.patronId}: ${Object.keys(c.after).map((k) => `${k} ${JSON.stringify(c.before[k as keyof typeof c.before])} → ${JSON.stringify(c.after[k as keyof typeof c.after])}`).join(', ')}`);
        console.log(`changed ${r.changed.length} patron${r.changed.length === 1 ? '' : 's'} of "${r.set.name}"${r.unchanged.length ? `; ${r.unchanged.length} already had these values` : ''}`);
      }),
    );

  rs.command('items <set>')
    .description("an item record set of the items linked to a patron set's members, by item status")
    .requiredOption('--status <statuses>', 'one or more of available, checked_out, lost, missing, withdrawn, claims_returned, comma-separated')
    .option('--name <name>', 'name of the new set (default: "<set> items (<statuses>)")')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ref: string, opts: { status: string; name?: string; json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => createItemSet(ctx, { from: ref, statuses: [opts.status], name: opts.name }));
        if (opts.json) return printJson(r);
        console.log(`created ${describeSet(r.set)}`);
        if (r.items.length) console.log(table([['id', 'barcode', 'status', 'patron', 'title'], ...r.items.map((i) => [i.id, i.barcode, i.status ?? '', i.patronId ?? '', i.title])]));
      }),
    );

  rs.command('delete-lost <itemset>')
    .description('delete the lost items of an item set (unlinking them from their patrons); items a charge names are kept as withdrawn')
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => deleteLostItems(ctx, ref));
        if (opts.json) return printJson(r);
        printLost(r, 'delete');
      }),
    );

  rs.command('transition-lost <itemset>')
    .description("apply each library's lost-item transition (missing or withdrawn) to the lost items of an item set, unlinking them")
    .option('--json', 'print the result as JSON')
    .action(
      action(async (ref: string, opts: { json?: boolean }, cmd: Command) => {
        const r = await withContext(cmd, (ctx) => transitionLostItems(ctx, ref));
        if (opts.json) return printJson(r);
        printLost(r, 'transition');
      }),
    );

  rs.command('delete <set>')
    .description('delete a record set (its patrons and items stay as they are)')
    .action(
      action(async (ref: string, _opts: unknown, cmd: Command) => {
        const s = await withContext(cmd, (ctx) => deleteRecordSet(ctx, ref));
        console.log(`deleted ${describeSet(s)}`);
      }),
    );
}
