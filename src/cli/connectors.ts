// `arrears connectors add|list|test|map|edit|remove|writes|retry`, `arrears sync <name>` and
// `arrears writeback <name>`: an ILS's own database as Arrears's source, and the collections
// block written back into it. A connection URL carries a password, so it is read from an
// environment variable or a file, never from the command line (argv is readable by every
// local user in /proc).
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { CONNECTOR_KINDS, type ConnectorKind, type ConnectorOptions } from '../connectors/types.ts';
import { ValidationError } from '../domain/errors.ts';
import {
  addConnector,
  connectorCodes,
  getConnectorSummary,
  listConnectors,
  removeConnector,
  setMapping,
  testConnector,
  updateConnector,
  type ConnectorSummary,
} from '../services/connectors.ts';
import { syncConnector, type SyncResult } from '../services/sync.ts';
import { applyWritebacks, listWrites, retryWrite, type QueuedWrite } from '../services/writeback.ts';
import type { WriteStatus } from '../db/schema.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

interface UrlOptions {
  urlEnv?: string;
  urlFile?: string;
}

/** The connection URL from --url-env VAR or --url-file FILE; undefined when neither is given. */
async function readUrl(opts: UrlOptions): Promise<string | undefined> {
  if (opts.urlEnv && opts.urlFile) throw ValidationError.of('give --url-env or --url-file, not both', { field: '--url-env' });
  if (opts.urlEnv) {
    const v = process.env[opts.urlEnv];
    if (!v) throw ValidationError.of(`the environment variable ${opts.urlEnv} is not set or empty`, { field: '--url-env' });
    return v.trim();
  }
  if (opts.urlFile) {
    try {
      return (await readFile(opts.urlFile, 'utf8')).trim();
    } catch (err) {
      throw ValidationError.of(`cannot read ${opts.urlFile}: ${(err as Error).message}`, { field: '--url-file' });
    }
  }
  return undefined;
}

interface OptionFlags {
  restrictionType?: string;
  comment?: string;
  feeType?: string;
  feeDescription?: string;
  interface?: string;
  patronCode?: string;
  penaltyId?: string;
  penaltyOrgUnit?: string;
  staffId?: string;
  tls?: string;
  tlsCaFile?: string;
  maxSyncAge?: string;
  fullSyncEvery?: string;
}

function withOptionFlags(cmd: Command): Command {
  return cmd
    .option('--restriction-type <code>', 'Koha: restriction type placed (default MANUAL)')
    .option('--comment <text>', 'the block\'s comment; {agency} and {date} are filled in (default "Sent to collections ({agency}) on {date}")')
    .option('--fee-type <code>', 'Koha: debit type of the agency fee (default MANUAL); Evergreen: billing type id (default 2)')
    .option('--fee-description <text>', 'the fee as the patron sees it; {agency} is filled in')
    .option('--interface <name>', 'Koha: accountlines.interface of what Arrears writes (default cron)')
    .option('--patron-code <column>', 'Koha: the borrowers column read as the patron code (sort1 or sort2)')
    .option('--penalty-id <id>', 'Evergreen: standing penalty placed (default 30, PATRON_IN_COLLECTIONS)')
    .option('--penalty-org-unit <id>', 'Evergreen: org unit of the penalty and fee (default: the patron\'s home library)')
    .option('--staff-id <id>', 'Evergreen: staff account (actor.usr id) placing the penalty, the tracker\'s collector (default 1)')
    .option('--tls <mode>', 'TLS to the ILS database: require (verify the server) or no-verify')
    .option('--tls-ca-file <path>', 'a CA certificate (PEM) to verify the ILS database server with')
    .option('--max-sync-age <minutes>', 'the scheduler refuses to run on data older than this (default 1440)')
    .option('--full-sync-every <days>', 'full reconciliation every this many days (default 7)');
}

async function optionsFrom(flags: OptionFlags): Promise<ConnectorOptions | undefined> {
  const o: Record<string, unknown> = {};
  const text = ['restrictionType', 'comment', 'feeType', 'feeDescription', 'interface', 'patronCode', 'tls'] as const;
  for (const k of text) if (flags[k] !== undefined) o[k] = flags[k];
  const whole = (v: string, field: string) => {
    if (!/^\d+$/.test(v)) throw ValidationError.of(`"${v}" is not a whole number`, { field });
    return Number(v);
  };
  if (flags.penaltyId !== undefined) o.penaltyId = whole(flags.penaltyId, '--penalty-id');
  if (flags.penaltyOrgUnit !== undefined) o.penaltyOrgUnit = whole(flags.penaltyOrgUnit, '--penalty-org-unit');
  if (flags.staffId !== undefined) o.staffId = whole(flags.staffId, '--staff-id');
  if (flags.maxSyncAge !== undefined) o.maxSyncAgeMinutes = whole(flags.maxSyncAge, '--max-sync-age');
  if (flags.fullSyncEvery !== undefined) o.fullSyncEveryDays = whole(flags.fullSyncEvery, '--full-sync-every');
  if (flags.tlsCaFile !== undefined) {
    try {
      o.tlsCa = await readFile(flags.tlsCaFile, 'utf8');
    } catch (err) {
      throw ValidationError.of(`cannot read ${flags.tlsCaFile}: ${(err as Error).message}`, { field: '--tls-ca-file' });
    }
  }
  return Object.keys(o).length ? (o as ConnectorOptions) : undefined;
}

function when(d: Date | null): string {
  return d ? new Date(d).toISOString().replace('T', ' ').slice(0, 19) + ' UTC' : 'never';
}

function printSummary(c: ConnectorSummary): void {
  console.log(`${c.name} (${c.kind}${c.readOnly ? ', read-only' : ''}) ${c.location}, time zone ${c.timeZone}`);
  console.log(`  libraries ${c.libraries.join(', ') || '-'}; ${c.patrons} patrons`);
  console.log(`  last sync ${when(c.lastSyncAt)}, last full sync ${when(c.lastFullSyncAt)}`);
  const last = c.lastSync as { ok?: boolean; error?: string } | null;
  if (last && last.ok === false) console.log(`  last attempt failed: ${last.error ?? ''}`);
  console.log(`  write-backs: ${c.writes.pending} pending, ${c.writes.failed} failed, ${c.writes.applied} applied`);
}

export function syncSummary(r: SyncResult): string {
  const removed = r.removed.payments + r.removed.charges + r.removed.itemLinks;
  const lines = [
    `${r.connector}: ${r.mode} sync, ${r.rowsRead} rows read; inserted or changed: ${r.libraries} libraries, ${r.patrons} patrons, ${r.items} items, ${r.charges} charges, ${r.payments} payments`,
  ];
  if (removed) lines.push(`  no longer in the ILS: ${r.removed.payments} payments, ${r.removed.charges} charges, ${r.removed.itemLinks} item links`);
  if (r.deletedPatrons) lines.push(`  ${r.deletedPatrons} patrons deleted in the ILS (excluded from New Submissions)`);
  if (r.blocksGone.length) lines.push(`  block no longer in force in the ILS, referral open: ${r.blocksGone.join(', ')} (lifted by staff or by the ILS; see \`arrears status\`)`);
  for (const kind of ['charges', 'payments', 'methods'] as const) {
    if (r.unmapped[kind].length) lines.push(`  unmapped ${kind} codes (took the default): ${r.unmapped[kind].join(', ')}; see \`arrears connectors map ${r.connector}\``);
  }
  return lines.join('\n');
}

function printWrites(writes: QueuedWrite[]): void {
  const rows = [['id', 'kind', 'patron', 'referral', 'status', 'attempts', 'ILS id', 'last error']];
  for (const w of writes) rows.push([String(w.id), w.kind, w.patronId, String(w.referralId), w.status, String(w.attempts), w.ilsRef ?? '', w.lastError ?? '']);
  console.log(table(rows));
}

export function registerConnectors(program: Command): void {
  const connectors = program.command('connectors').description('ILS connectors: read Koha or Evergreen directly and write the collections block back');

  withOptionFlags(
    connectors
      .command('add')
      .description('add a connector; the URL comes from --url-env VAR or --url-file FILE, never the command line')
      .argument('<kind>', CONNECTOR_KINDS.join(' | '))
      .argument('<name>', 'a short name; it prefixes the ids of what it reads (koha:1042)')
      .option('--url-env <var>', 'environment variable holding mysql://user:password@host:3306/koha or postgres://…/evergreen')
      .option('--url-file <path>', 'file holding the URL')
      .option('--time-zone <zone>', "the ILS's local time zone (default: this machine's)")
      .option('--read-only', 'flags only: never write to the ILS'),
  ).action(
    action(async function (this: Command, kind: string, name: string) {
      const opts = this.opts<UrlOptions & OptionFlags & { timeZone?: string; readOnly?: boolean }>();
      if (!(CONNECTOR_KINDS as readonly string[]).includes(kind)) throw ValidationError.of(`unknown kind "${kind}"; expected one of ${CONNECTOR_KINDS.join(', ')}`, { field: 'kind' });
      const url = await readUrl(opts);
      if (!url) throw ValidationError.of('the connection URL is required: --url-env VAR or --url-file FILE', { field: '--url-env' });
      const timeZone = opts.timeZone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
      const c = await withContext(this, async (ctx) => addConnector(ctx, { name, kind: kind as ConnectorKind, url, timeZone, readOnly: opts.readOnly, options: await optionsFrom(opts) }));
      console.log(`added connector ${c.name}: ${c.location}, time zone ${c.timeZone}${c.readOnly ? ', read-only' : ''}. Next: arrears connectors test ${c.name}`);
    }),
  );

  withOptionFlags(
    connectors
      .command('edit')
      .description('change a connector: its URL, time zone, read-only switch or write-back settings')
      .argument('<name>')
      .option('--url-env <var>', 'environment variable holding the new URL')
      .option('--url-file <path>', 'file holding the new URL')
      .option('--time-zone <zone>', "the ILS's local time zone")
      .option('--read-only', 'flags only: never write to the ILS')
      .option('--writable', 'write the block back to the ILS again'),
  ).action(
    action(async function (this: Command, name: string) {
      const opts = this.opts<UrlOptions & OptionFlags & { timeZone?: string; readOnly?: boolean; writable?: boolean }>();
      if (opts.readOnly && opts.writable) throw ValidationError.of('give --read-only or --writable, not both', { field: '--read-only' });
      const url = await readUrl(opts);
      const options = await optionsFrom(opts);
      const c = await withContext(this, async (ctx) => {
        const current = await getConnectorSummary(ctx.database.db, name);
        return updateConnector(ctx, name, {
          url,
          timeZone: opts.timeZone,
          readOnly: opts.readOnly ? true : opts.writable ? false : undefined,
          options: options ? { ...current.options, ...options } : undefined,
        });
      });
      printSummary(c);
    }),
  );

  connectors
    .command('list')
    .description('connectors, their libraries, last sync and write-backs')
    .option('--json', 'print as JSON')
    .action(
      action(async function (this: Command) {
        const list = await withContext(this, (ctx) => listConnectors(ctx.database.db));
        if (this.opts<{ json?: boolean }>().json) printJson(list);
        else if (list.length === 0) console.log('no connectors; add one with `arrears connectors add koha <name> --url-env VAR`');
        else list.forEach(printSummary);
      }),
    );

  connectors
    .command('test')
    .description("connect, say what the ILS is, and check every privilege the connector needs")
    .argument('<name>')
    .option('--json', 'print as JSON')
    .action(
      action(async function (this: Command, name: string) {
        const report = await withContext(this, (ctx) => testConnector(ctx, name));
        if (this.opts<{ json?: boolean }>().json) printJson(report);
        else {
          console.log(`${name}: ${report.version}`);
          for (const p of report.privileges) console.log(`  ${p.ok ? 'ok     ' : 'MISSING'} ${p.what}`);
          // Least privilege: a warning, not a failure.
          for (const e of report.excess) console.log(`  EXCESS  ${e} (the connector never uses it; README's GRANTs are all it needs)`);
          for (const w of report.warnings) console.log(`  WARNING ${w}`);
          console.log(`  ${Object.entries(report.counts).map(([k, v]) => `${v} ${k}`).join(', ')}`);
        }
        if (!report.ok) process.exitCode = 2;
      }),
    );

  connectors
    .command('map')
    .description("show the mapping of the ILS's codes (stock defaults and yours), or replace yours from a JSON file")
    .argument('<name>')
    .option('--file <mapping.json>', '{ "charges": {code: reason|"ignore"}, "payments": {code: payment|waive|writeoff}, "methods": {code: text}, "libraries": {code: {"timeZone"|"ignore"}} }')
    .option('--json', 'print as JSON')
    .action(
      action(async function (this: Command, name: string) {
        const opts = this.opts<{ file?: string; json?: boolean }>();
        if (opts.file) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(await readFile(opts.file, 'utf8'));
          } catch (err) {
            throw ValidationError.of(`cannot read ${opts.file} as JSON: ${(err as Error).message}`, { file: opts.file });
          }
          const c = await withContext(this, (ctx) => setMapping(ctx, name, parsed));
          console.log(`mapping of ${c.name} saved; the next sync reads with it`);
          return;
        }
        const codes = await withContext(this, (ctx) => connectorCodes(ctx, name));
        if (opts.json) {
          printJson(codes);
          return;
        }
        const section = (title: string, list: { code: string; name: string }[], mapped: (code: string) => string) => {
          console.log(title);
          console.log(table([['code', 'name', 'maps to'], ...list.map((x) => [x.code, x.name, mapped(x.code)])]));
        };
        section('Charges (debit / billing types)', codes.chargeTypes, (c) => codes.mapping.charges[c] ?? 'manual (default)');
        section('Payments (credit types / payment kinds)', codes.paymentTypes, (c) => codes.mapping.payments[c] ?? 'payment (default)');
        section('Payment methods', codes.methods, (c) => codes.mapping.methods[c] ?? `${c} (as is)`);
        const ilsZones = new Map(codes.libraries.map((l) => [l.code, l.timeZone]));
        section('Libraries', codes.libraries, (c) => {
          const m = codes.mapping.libraries[c];
          const ils = ilsZones.get(c);
          return m?.ignore ? 'ignored' : (m?.timeZone ?? (ils ? `${ils} (the ILS's)` : 'the connector\'s time zone'));
        });
        section('Patron categories (PTYPEs in the settings table)', codes.categories, (c) => c);
      }),
    );

  connectors
    .command('remove')
    .description('remove a connector; its libraries become CSV libraries, its patrons and history stay')
    .argument('<name>')
    .action(
      action(async function (this: Command, name: string) {
        await withContext(this, (ctx) => removeConnector(ctx, name));
        console.log(`removed connector ${name}`);
      }),
    );

  connectors
    .command('writes')
    .description('the write-backs of a connector: pending, applied, failed')
    .argument('<name>')
    .option('--status <status...>', 'pending, applying, applied, failed, skipped')
    .option('--json', 'print as JSON')
    .action(
      action(async function (this: Command, name: string) {
        const opts = this.opts<{ status?: string[]; json?: boolean }>();
        const writes = await withContext(this, (ctx) => listWrites(ctx.database.db, { connector: name, status: opts.status as WriteStatus[] | undefined }));
        if (opts.json) printJson(writes);
        else printWrites(writes);
      }),
    );

  connectors
    .command('retry')
    .description('put a failed write-back back in the queue')
    .argument('<id>')
    .action(
      action(async function (this: Command, id: string) {
        if (!/^\d+$/.test(id)) throw ValidationError.of(`"${id}" is not a write-back id`, { field: 'id' });
        const w = await withContext(this, (ctx) => retryWrite(ctx, Number(id)));
        console.log(`write-back ${w.id} (${w.kind} ${w.patronId}) is queued again; it is applied by the next \`arrears writeback ${w.connector}\` or run`);
      }),
    );

  program
    .command('sync')
    .description('read the ILS into Arrears: the first time everything, then what changed (all or nothing)')
    .argument('<name>', 'the connector')
    .option('--full', 'read everything: catches deletes and voids an ILS leaves no trace of')
    .option('--json', 'print the result as JSON')
    .action(
      action(async function (this: Command, name: string) {
        const opts = this.opts<{ full?: boolean; json?: boolean }>();
        const tty = process.stderr.isTTY && !opts.json;
        let last = 0;
        const result = await withContext(this, (ctx) =>
          syncConnector(ctx, name, {
            full: opts.full,
            onPhase: (phase) => tty && process.stderr.write(`\r\x1b[K${name}: ${phase}…`),
            onRows: (n) => {
              if (tty && n - last >= 10_000) {
                last = n;
                process.stderr.write(`\r\x1b[K${name}: reading, ${n} rows`);
              }
            },
          }),
        );
        if (tty) process.stderr.write('\r\x1b[K');
        if (opts.json) {
          const { connector, mode, libraries, patrons, items, charges, payments, removed, deletedPatrons, unmapped, blocksGone, rowsRead } = result;
          printJson({ connector, mode, patrons, charges, payments, libraries, items, removed, deletedPatrons, unmapped, blocksGone, rowsRead });
        } else console.log(syncSummary(result));
      }),
    );

  program
    .command('writeback')
    .description('apply the write-backs queued for a connector (a run does this after it commits)')
    .argument('<name>', 'the connector')
    .option('--dry-run', 'list what would be written, write nothing')
    .option('--json', 'print the result as JSON')
    .action(
      action(async function (this: Command, name: string) {
        const opts = this.opts<{ dryRun?: boolean; json?: boolean }>();
        if (opts.dryRun) {
          const { writes, failed } = await withContext(this, async (ctx) => {
            const summary = await getConnectorSummary(ctx.database.db, name);
            return { writes: await listWrites(ctx.database.db, { connector: name, status: ['pending', 'applying'] }), failed: summary.writes.failed };
          });
          if (opts.json) printJson({ connector: name, dryRun: true, applied: 0, pending: writes.length, failed, writes });
          else {
            console.log(`${writes.length} write-backs would be applied to ${name}:`);
            printWrites(writes);
          }
          return;
        }
        const r = await withContext(this, (ctx) => applyWritebacks(ctx, name));
        if (opts.json) printJson(r);
        else console.log(`${name}: ${r.applied} applied, ${r.pending} pending, ${r.failed} failed${r.skipped ? `, ${r.skipped} no longer needed` : ''}${r.error ? `\n  the ILS could not be reached: ${r.error}` : ''}`);
        if (r.error) process.exitCode = 1;
      }),
    );
}
