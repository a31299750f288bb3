// `arrears settings list|show|import|edit|move|remove`: the Collection Agency Settings table.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { formatMoney } from '../domain/money.ts';
import type { SettingsEntry } from '../domain/settings.ts';
import { toSettingsJson } from '../domain/settings-validation.ts';
import { exportSettings, getEntry, importSettings, listEntries, removeEntry, updateEntry } from '../services/settings.ts';
import { action, printJson, withContext } from './context.ts';

function describeWindow(e: SettingsEntry): string {
  const w = e.window;
  if (w.mode === 'relative') {
    if (w.startDays === null && w.endDays === null) return 'all charges';
    return `${w.startDays ?? 'any'}..${w.endDays ?? 0} days back`;
  }
  return `${w.start ?? '1970-01-01'}..${w.end ?? 'report date'}${w.graceDays ? ` grace ${w.graceDays}d` : ''}`;
}

function describeAgency(e: SettingsEntry): string {
  const a = e.agency;
  return a.kind === 'fixed' ? a.agency : `${a.strategy}(${a.among.length ? a.among.join(', ') : 'all active'})`;
}

const orAll = (list: readonly (string | number)[]) => (list.length ? list.join(',') : 'all');

/** Rows of cells as aligned columns; the first row is the header. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd()).join('\n');
}

function showEntry(e: SettingsEntry): string {
  const j = toSettingsJson(e);
  const lines: [string, string][] = [
    ['id', String(e.id)],
    ['position', String(e.position)],
    ['name', e.name],
    ['home libraries', orAll(e.homeLibraries)],
    ['ptypes', orAll(e.ptypes)],
    ['exempt patron codes', e.exemptPatronCodes.join(',') || 'none'],
    ['counted charges', e.countedCharges],
    ['window', `${e.window.mode}: ${describeWindow(e)}`],
    ['fee age days', String(e.feeAgeDays ?? '')],
    ['minimum owed', j.minimumOwed],
    ['require bill', String(e.requireBill)],
    ['min days overdue', String(e.minDaysOverdue ?? '')],
    ['remove if less than', j.removeIfLessThan],
    ['agency fee', j.agencyFee],
    ['agency', describeAgency(e)],
    ['resubmit after clear', String(e.resubmitAfterClear)],
    ['auto cancel days', String(e.autoCancelDays ?? '')],
    ['write off on cancel', String(e.writeOffOnCancel)],
    ['base filename', e.baseFilename ?? `(entry id ${e.id})`],
    ['auto new submission', String(e.autoNewSubmission)],
    ['auto update days', e.autoUpdateDays],
    ['send empty reports', String(e.sendEmptyReports)],
    ['review hours', String(e.reviewHours ?? '')],
    ['email from', e.email.from],
    ['email to', e.email.to],
    ['email cc', e.email.cc],
    ['email subject', e.email.subject],
  ];
  const width = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(width)}  ${v}`.trimEnd()).join('\n');
}

async function readJsonFile(path: string): Promise<unknown> {
  const file = basename(path);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw ValidationError.of(`cannot read the file: ${(err as Error).message}`, { file });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw ValidationError.of(`not valid JSON: ${(err as Error).message}`, { file });
  }
}

interface EditOptions {
  from?: string;
  name?: string;
  position?: string;
  minimumOwed?: string;
  agencyFee?: string;
  removeIfLessThan?: string;
  agency?: string;
  baseFilename?: string;
  reviewHours?: string;
  autoUpdateDays?: string;
}

async function readEditFile(path: string): Promise<Record<string, unknown>> {
  const json = await readJsonFile(path);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw ValidationError.of('must hold one JSON object of the keys to change', { file: basename(path) });
  return json as Record<string, unknown>;
}

export function registerSettings(program: Command): void {
  const settings = program.command('settings').description('the Collection Agency Settings table (first matching entry applies)');

  settings
    .command('list')
    .description('the entries in table order')
    .option('--json', 'the JSON form that `settings import` reads')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          if (opts.json) return printJson(await exportSettings(ctx.database.db));
          const entries = await listEntries(ctx.database.db);
          if (entries.length === 0) return console.log('the settings table is empty');
          const rows = [['position', 'id', 'name', 'libraries', 'ptypes', 'window', 'minimum', 'agency']];
          for (const e of entries) {
            rows.push([String(e.position), String(e.id), e.name, orAll(e.homeLibraries), orAll(e.ptypes), describeWindow(e), formatMoney(e.minimumOwed), describeAgency(e)]);
          }
          console.log(table(rows));
        });
      }),
    );

  settings
    .command('show <id|name>')
    .description('one entry, every field')
    .option('--json', 'the JSON form of the entry')
    .action(
      action(async (idOrName: string, opts: { json?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const entry = await getEntry(ctx.database.db, idOrName);
          if (opts.json) printJson(toSettingsJson(entry));
          else console.log(showEntry(entry));
        });
      }),
    );

  settings
    .command('import <file>')
    .description('add and update entries (matched by name) from a JSON array; its order becomes the table order')
    .option('--replace', 'remove the entries that are not in the file')
    .action(
      action(async (path: string, opts: { replace?: boolean }, cmd: Command) => {
        const json = await readJsonFile(path);
        await withContext(cmd, async (ctx) => {
          try {
            const s = await importSettings(ctx, json, { replace: opts.replace });
            console.log(`created ${s.created.length}, updated ${s.updated.length}, unchanged ${s.unchanged.length}, removed ${s.removed.length}`);
            for (const [label, names] of [['created', s.created], ['updated', s.updated], ['removed', s.removed]] as const) {
              if (names.length) console.log(`${label}: ${names.join(', ')}`);
            }
          } catch (err) {
            if (err instanceof ValidationError) throw new ValidationError(err.problems.map((p) => ({ file: basename(path), ...p })));
            throw err;
          }
        });
      }),
    );

  settings
    .command('edit <id|name>')
    .description('change one entry in place: it keeps its id, run history and schedule (a rename included)')
    .option('--from <file.json>', 'an object with the keys of the JSON form to change, e.g. {"window": {"mode": "relative", "startDays": 30, "endDays": 0}}')
    .option('--name <name>', 'a new name')
    .option('--position <n>', 'move it to this place in the table (1 = tried first)')
    .option('--minimum-owed <amount>', 'e.g. 25.00')
    .option('--agency-fee <amount>', 'e.g. 10.00')
    .option('--remove-if-less-than <amount>', 'e.g. 0.01')
    .option('--agency <name>', 'the agency its referrals go to')
    .option('--base-filename <base>', 'the report files\' base name ("" = the entry id)')
    .option('--review-hours <hours>', 'hold New Submissions this long for review ("" = no hold)')
    .option('--auto-update-days <days>', 'weekdays for Updated Patrons, e.g. 1,4 or 1-4 ("" = none)')
    .action(
      action(async (idOrName: string, opts: EditOptions, cmd: Command) => {
        const changes: Record<string, unknown> = opts.from ? await readEditFile(opts.from) : {};
        const flags: [keyof EditOptions, string, (v: string) => unknown][] = [
          ['name', 'name', (v) => v],
          ['position', 'position', (v) => (/^\d+$/.test(v) ? Number(v) : v)],
          ['minimumOwed', 'minimumOwed', (v) => v],
          ['agencyFee', 'agencyFee', (v) => v],
          ['removeIfLessThan', 'removeIfLessThan', (v) => v],
          ['agency', 'agency', (v) => v],
          ['baseFilename', 'baseFilename', (v) => v || null],
          ['reviewHours', 'reviewHours', (v) => (v === '' ? null : /^\d+$/.test(v) ? Number(v) : v)],
          ['autoUpdateDays', 'autoUpdateDays', (v) => v],
        ];
        for (const [option, key, convert] of flags) if (opts[option] !== undefined) changes[key] = convert(opts[option]);
        if (Object.keys(changes).length === 0) throw ValidationError.of('nothing to change: give --from or an option such as --name', { field: 'options' });
        await withContext(cmd, async (ctx) => {
          const e = await updateEntry(ctx, idOrName, changes);
          console.log(`updated entry ${e.id} "${e.name}" (position ${e.position})`);
        });
      }),
    );

  settings
    .command('move <id|name> <position>')
    .description('move one entry to another place in the table (the first entry that applies to a patron is used)')
    .action(
      action(async (idOrName: string, position: string, _opts: unknown, cmd: Command) => {
        if (!/^\d+$/.test(position)) throw ValidationError.of(`"${position}" is not a position`, { field: 'position' });
        await withContext(cmd, async (ctx) => {
          const e = await updateEntry(ctx, idOrName, { position: Number(position) });
          console.log(`entry ${e.id} "${e.name}" is now at position ${e.position}`);
        });
      }),
    );

  settings
    .command('remove <id|name>')
    .description('remove one entry; the entries after it move up')
    .action(
      action(async (idOrName: string, _opts: unknown, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const e = await removeEntry(ctx, idOrName);
          console.log(`removed entry ${e.id} "${e.name}" (was position ${e.position})`);
        });
      }),
    );
}
