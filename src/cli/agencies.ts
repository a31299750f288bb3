// `arrears agencies list|add|edit`: collection agencies and their (non-secret) transfer settings.
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import { addAgency, editAgency, listAgencies, type AgencyRow, type Layout, type TransferMethod } from '../services/agencies.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

/** Command-line option (commander's camelCase key) → transfer_config key. */
const TRANSFER_OPTIONS: Record<string, { flag: string; key: string }> = {
  host: { flag: '--host', key: 'host' },
  port: { flag: '--port', key: 'port' },
  username: { flag: '--username', key: 'username' },
  remoteFolder: { flag: '--remote-folder', key: 'remoteFolder' },
  bucket: { flag: '--bucket', key: 'bucket' },
  prefix: { flag: '--prefix', key: 'prefix' },
  region: { flag: '--region', key: 'region' },
  endpoint: { flag: '--endpoint', key: 'endpoint' },
  accessKeyId: { flag: '--access-key-id', key: 'accessKeyId' },
  emailFrom: { flag: '--email-from', key: 'from' },
  emailTo: { flag: '--email-to', key: 'to' },
  emailCc: { flag: '--email-cc', key: 'cc' },
  emailSubject: { flag: '--email-subject', key: 'subject' },
  folder: { flag: '--folder', key: 'path' },
};

const FIELD_FLAGS: Record<string, string> = {
  transferMethod: '--transfer',
  layout: '--layout',
  rename: '--rename',
  ...Object.fromEntries(Object.values(TRANSFER_OPTIONS).map((o) => [`transferConfig.${o.key}`, o.flag])),
};

interface AgencyOptions {
  transfer?: TransferMethod;
  layout?: Layout;
  active?: boolean;
  inactive?: boolean;
  rename?: string;
  [option: string]: unknown;
}

function withTransferOptions(cmd: Command): Command {
  return cmd
    .option('--transfer <method>', 'sftp, s3, email, folder or none')
    .option('--host <host>', 'sftp: server name')
    .option('--port <port>', 'sftp: port (default 22)')
    .option('--username <name>', 'sftp: user name')
    .option('--remote-folder <path>', 'sftp: folder on the server')
    .option('--bucket <name>', 's3: bucket')
    .option('--prefix <prefix>', 's3: key prefix')
    .option('--region <region>', 's3: region')
    .option('--endpoint <url>', 's3: endpoint URL (for S3-compatible stores)')
    .option('--access-key-id <id>', 's3: access key id (the secret key is set separately)')
    .option('--email-from <address>', 'email: From address (under 49 characters)')
    .option('--email-to <addresses>', 'email: comma-separated To addresses (at most 200 characters)')
    .option('--email-cc <addresses>', 'email: comma-separated Cc addresses (at most 200 characters)')
    .option('--email-subject <text>', 'email: subject (at most 200 characters)')
    .option('--folder <path>', 'folder: local directory the files are written to')
    .option('--layout <layout>', 'file layout: arrears, ums or custom');
}

function transferConfig(opts: AgencyOptions): Record<string, unknown> | undefined {
  const config: Record<string, unknown> = {};
  for (const [option, { key }] of Object.entries(TRANSFER_OPTIONS)) if (opts[option] !== undefined) config[key] = opts[option];
  return Object.keys(config).length ? config : undefined;
}

/** Service problems name fields; on the command line, name the option instead. */
async function withFlags<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ValidationError) {
      throw new ValidationError(err.problems.map((p) => (p.field && FIELD_FLAGS[p.field] ? { ...p, field: FIELD_FLAGS[p.field] } : p)));
    }
    throw err;
  }
}

function destination(a: AgencyRow): string {
  const c = a.transferConfig;
  switch (a.transferMethod) {
    case 'sftp':
      return `${c.username}@${c.host}:${c.port}${c.remoteFolder ? `/${c.remoteFolder}` : ''}`;
    case 's3':
      return `s3://${c.bucket}/${c.prefix ?? ''}`;
    case 'email':
      return String(c.to);
    case 'folder':
      return String(c.path);
    case 'none':
      return '(download)';
  }
}

export function registerAgencies(program: Command): void {
  const agencies = program.command('agencies').description('collection agencies and how their files are delivered');

  agencies
    .command('list')
    .description('every agency, by name')
    .option('--json', 'as JSON')
    .action(
      action(async (opts: { json?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const list = await listAgencies(ctx.database.db);
          if (opts.json) return printJson(list);
          if (list.length === 0) return console.log('no agencies');
          const rows = [['id', 'name', 'active', 'transfer', 'destination', 'layout'], ...list.map((a) => [String(a.id), a.name, a.active ? 'yes' : 'no', a.transferMethod, destination(a), a.layout])];
          console.log(table(rows));
        });
      }),
    );

  withTransferOptions(agencies.command('add <name>').description('add an agency'))
    .option('--inactive', 'add it switched off')
    .action(
      action(async (name: string, opts: AgencyOptions, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const a = await withFlags(() =>
            addAgency(ctx, { name, active: !opts.inactive, transferMethod: opts.transfer, transferConfig: transferConfig(opts), layout: opts.layout }),
          );
          console.log(`added agency ${a.id} "${a.name}" (${a.transferMethod}${a.active ? '' : ', inactive'})`);
        });
      }),
    );

  withTransferOptions(agencies.command('edit <name>').description('change an agency; transfer options not given keep their values'))
    .option('--active', 'switch it on')
    .option('--inactive', 'switch it off (strategies skip it; entries naming it cannot refer)')
    .option('--rename <name>', 'new name (settings entries follow it)')
    .action(
      action(async (name: string, opts: AgencyOptions, cmd: Command) => {
        if (opts.active && opts.inactive) throw ValidationError.of('give --active or --inactive, not both', { field: '--active' });
        await withContext(cmd, async (ctx) => {
          const a = await withFlags(() =>
            editAgency(ctx, name, {
              rename: opts.rename,
              active: opts.active ? true : opts.inactive ? false : undefined,
              transferMethod: opts.transfer,
              transferConfig: transferConfig(opts),
              layout: opts.layout,
            }),
          );
          console.log(`agency ${a.id} "${a.name}": ${a.active ? 'active' : 'inactive'}, ${a.transferMethod} ${destination(a)}, layout ${a.layout}`);
        });
      }),
    );
}
