// `arrears agencies list|show|add|edit`: collection agencies, their transfer settings and
// credentials. Credentials go in from standard input, a file or an environment variable (a
// value on the command line is readable by every local user in /proc/<pid>/cmdline, so it
// is accepted with a warning) and come back out only as "set".
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ValidationError } from '../domain/errors.ts';
import {
  addAgency,
  describeAgencySecrets,
  editAgency,
  getAgency,
  listAgencies,
  type AgencyRow,
  type AgencySecrets,
  type Layout,
  type SecretName,
  type TransferMethod,
} from '../services/agencies.ts';
import { SecretKeyError } from '../services/secrets.ts';
import { hostKeyOf } from '../services/transfer/host-key.ts';
import { action, printJson, withContext } from './context.ts';
import { table } from './settings.ts';

/** Command-line option (commander's camelCase key) → transfer_config key. */
const TRANSFER_OPTIONS: Record<string, { flag: string; key: string }> = {
  host: { flag: '--host', key: 'host' },
  port: { flag: '--port', key: 'port' },
  username: { flag: '--username', key: 'username' },
  remoteFolder: { flag: '--remote-folder', key: 'remoteFolder' },
  hostKey: { flag: '--host-key', key: 'hostKey' },
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
  'secrets.password': '--password-stdin|-file|-env',
  'secrets.privateKey': '--private-key-file',
  'secrets.passphrase': '--passphrase-stdin|-file|-env',
  'secrets.secretAccessKey': '--secret-access-key-stdin|-file|-env',
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
    .option('--host-key <fingerprint>', 'sftp: pin the server key (SHA256:… as ssh-keygen -lf prints it; "" unpins)')
    .option('--bucket <name>', 's3: bucket')
    .option('--prefix <prefix>', 's3: key prefix')
    .option('--region <region>', 's3: region')
    .option('--endpoint <url>', 's3: endpoint URL (for S3-compatible stores)')
    .option('--access-key-id <id>', 's3: access key id')
    .option('--secret-access-key-stdin', 's3: read the secret access key from standard input (stored encrypted)')
    .option('--secret-access-key-file <path>', 's3: read the secret access key from a file')
    .option('--secret-access-key-env <variable>', 's3: take the secret access key from an environment variable')
    .option('--secret-access-key <key>', 's3: secret access key on the command line (visible to other local users: prefer -stdin, -file or -env; "" removes it)')
    .option('--password-stdin', 'sftp: read the password from standard input (stored encrypted)')
    .option('--password-file <path>', 'sftp: read the password from a file')
    .option('--password-env <variable>', 'sftp: take the password from an environment variable')
    .option('--password <password>', 'sftp: password on the command line (visible to other local users: prefer -stdin, -file or -env; "" removes it)')
    .option('--private-key-file <path>', 'sftp: private key file; its text is stored encrypted ("" removes it)')
    .option('--passphrase-stdin', 'sftp: read the private key\'s passphrase from standard input (stored encrypted)')
    .option('--passphrase-file <path>', 'sftp: read the passphrase from a file')
    .option('--passphrase-env <variable>', 'sftp: take the passphrase from an environment variable')
    .option('--passphrase <passphrase>', 'sftp: passphrase on the command line (visible to other local users: prefer -stdin, -file or -env)')
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

/** Standard input, whole, less one final line break. */
async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A file's text; a one-line secret (not a key) loses its final line break. */
async function readSecretFile(path: string, flag: string, whole = false): Promise<string> {
  try {
    const text = await readFile(path, 'utf8');
    return whole ? text : text.replace(/\r?\n$/, '');
  } catch (err) {
    throw ValidationError.of(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { field: flag });
  }
}

/** The secrets that come in through `--<flag>`, `--<flag>-stdin`, `--<flag>-file` or `--<flag>-env`. */
const SECRET_SOURCES: { name: Exclude<SecretName, 'privateKey'>; flag: string; option: string }[] = [
  { name: 'password', flag: '--password', option: 'password' },
  { name: 'passphrase', flag: '--passphrase', option: 'passphrase' },
  { name: 'secretAccessKey', flag: '--secret-access-key', option: 'secretAccessKey' },
];

/** The credential options, read from where they were given; undefined when none was given. */
async function secretOptions(opts: AgencyOptions): Promise<AgencySecrets | undefined> {
  const secrets: AgencySecrets = {};
  const fromStdin = SECRET_SOURCES.filter((s) => opts[`${s.option}Stdin`] === true);
  if (fromStdin.length > 1) throw ValidationError.of(`standard input holds one secret: give ${fromStdin.slice(1).map((s) => `${s.flag}-file or ${s.flag}-env`).join(', ')} instead`, { field: `${fromStdin[1]!.flag}-stdin` });
  for (const { name, flag, option } of SECRET_SOURCES) {
    const given = [opts[option] !== undefined, opts[`${option}Stdin`] === true, opts[`${option}File`] !== undefined, opts[`${option}Env`] !== undefined].filter(Boolean).length;
    if (given > 1) throw ValidationError.of(`give one of ${flag}, ${flag}-stdin, ${flag}-file and ${flag}-env`, { field: flag });
    if (typeof opts[option] === 'string') {
      if (opts[option] !== '') process.stderr.write(`warning: ${flag} on the command line can be read by other local users (ps, /proc); use ${flag}-stdin, ${flag}-file or ${flag}-env\n`);
      secrets[name] = opts[option];
    } else if (opts[`${option}Stdin`] === true) {
      secrets[name] = await readStdin();
    } else if (typeof opts[`${option}File`] === 'string') {
      secrets[name] = await readSecretFile(opts[`${option}File`] as string, `${flag}-file`);
    } else if (typeof opts[`${option}Env`] === 'string') {
      const variable = opts[`${option}Env`] as string;
      const value = process.env[variable];
      if (value === undefined) throw ValidationError.of(`the environment variable ${variable} is not set`, { field: `${flag}-env` });
      secrets[name] = value;
    }
  }
  if (typeof opts.privateKeyFile === 'string') {
    const path = opts.privateKeyFile;
    secrets.privateKey = path === '' ? '' : await readSecretFile(path, '--private-key-file', true);
  }
  return Object.keys(secrets).length ? secrets : undefined;
}

const SECRET_LABELS: Record<SecretName, string> = { password: 'password', privateKey: 'private key', passphrase: 'passphrase', secretAccessKey: 'secret access key' };

/** Which credentials are stored: never their values. */
function storedSecrets(a: AgencyRow): SecretName[] {
  const s = a.secrets;
  if (!s) return [];
  const flags: [SecretName, boolean][] = [
    ['password', s.hasPassword],
    ['privateKey', s.hasPrivateKey],
    ['passphrase', s.hasPassphrase],
    ['secretAccessKey', s.hasSecretAccessKey],
  ];
  return flags.filter(([, set]) => set).map(([name]) => name);
}

function credentials(a: AgencyRow): string {
  return storedSecrets(a).map((n) => SECRET_LABELS[n]).join(', ') || '-';
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
          const rows = [
            ['id', 'name', 'active', 'transfer', 'destination', 'credentials', 'layout'],
            ...list.map((a) => [String(a.id), a.name, a.active ? 'yes' : 'no', a.transferMethod, destination(a), credentials(a), a.layout]),
          ];
          console.log(table(rows));
        });
      }),
    );

  agencies
    .command('show <name>')
    .description('one agency, its transfer settings and its credentials, masked')
    .option('--json', 'as JSON')
    .action(
      action(async (name: string, opts: { json?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const a = await getAgency(ctx.database.db, name);
          let masked: Partial<Record<SecretName, string>>;
          try {
            masked = await describeAgencySecrets(ctx, a.id);
          } catch (err) {
            if (!(err instanceof SecretKeyError)) throw err;
            // Without the key the names of the stored credentials are still worth showing.
            process.stderr.write(`warning: ${err.message}\n`);
            masked = Object.fromEntries(storedSecrets(a).map((n) => [n, 'set']));
          }
          if (opts.json) return printJson({ ...a, credentials: masked });
          const lines: [string, string][] = [
            ['id', String(a.id)],
            ['name', a.name],
            ['active', a.active ? 'yes' : 'no'],
            ['transfer', `${a.transferMethod} ${destination(a)}`],
            ...Object.entries(a.transferConfig).map(([k, v]): [string, string] => [k, String(v)]),
            ...Object.entries(masked).map(([k, v]): [string, string] => [SECRET_LABELS[k as SecretName], v]),
            ['layout', a.layout],
          ];
          console.log(table(lines));
        });
      }),
    );

  withTransferOptions(agencies.command('add <name>').description('add an agency'))
    .option('--inactive', 'add it switched off')
    .action(
      action(async (name: string, opts: AgencyOptions, cmd: Command) => {
        const secrets = await secretOptions(opts);
        await withContext(cmd, async (ctx) => {
          const a = await withFlags(() =>
            addAgency(ctx, { name, active: !opts.inactive, transferMethod: opts.transfer, transferConfig: transferConfig(opts), layout: opts.layout, secrets }),
          );
          console.log(`added agency ${a.id} "${a.name}" (${a.transferMethod}${a.active ? '' : ', inactive'}${a.secrets ? `; credentials: ${credentials(a)}` : ''})`);
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
        const secrets = await secretOptions(opts);
        await withContext(cmd, async (ctx) => {
          const a = await withFlags(() =>
            editAgency(ctx, name, {
              rename: opts.rename,
              active: opts.active ? true : opts.inactive ? false : undefined,
              transferMethod: opts.transfer,
              transferConfig: transferConfig(opts),
              layout: opts.layout,
              secrets,
            }),
          );
          console.log(`agency ${a.id} "${a.name}": ${a.active ? 'active' : 'inactive'}, ${a.transferMethod} ${destination(a)}, credentials ${credentials(a)}, layout ${a.layout}`);
        });
      }),
    );

  agencies
    .command('host-key <name>')
    .description("show the SFTP server's host key fingerprint, to compare with the one the agency gives you")
    .option('--pin', 'store it: from then on delivery refuses any other key')
    .action(
      action(async (name: string, opts: { pin?: boolean }, cmd: Command) => {
        await withContext(cmd, async (ctx) => {
          const a = await getAgency(ctx.database.db, name);
          if (a.transferMethod !== 'sftp') throw ValidationError.of(`agency "${a.name}" delivers by ${a.transferMethod}, not sftp`, { field: 'name' });
          const host = String(a.transferConfig.host);
          const port = Number(a.transferConfig.port ?? 22);
          const seen = await hostKeyOf(host, port);
          const pinned = a.transferConfig.hostKey ? String(a.transferConfig.hostKey) : null;
          console.log(`${host}:${port} presents ${seen}`);
          if (pinned) console.log(pinned === seen ? 'matches the pinned key' : `DIFFERS from the pinned key ${pinned}: delivery to this agency is refused until it is resolved`);
          if (opts.pin && pinned !== seen) {
            await editAgency(ctx, a.id, { transferConfig: { hostKey: seen } });
            console.log(`pinned ${seen} for agency "${a.name}"`);
          } else if (!pinned) console.log('not pinned: check it with the agency, then run again with --pin');
        });
      }),
    );
}
