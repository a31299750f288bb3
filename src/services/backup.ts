// Backup and restore of the embedded (PGlite) database: the whole data folder as one gzip
// tarball, taken by PGlite's own dumpDataDir after a checkpoint, so it opens as it was. A
// restore checks the file completely (gzip CRC, every tar header, then opens it in memory and
// counts the ledger) before it touches the target folder. PostgreSQL has pg_dump for this.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { PGlite } from '@electric-sql/pglite';
import { Kysely, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import { describeUrl, isPostgresUrl, type Database } from '../db/connection.ts';
import { LOCK_FILE, lockFolder } from '../db/folder-lock.ts';
import { ArrearsError, ConflictError, ValidationError } from '../domain/errors.ts';
import { KEY_FILE_NAME } from './secrets.ts';

/** What a backup holds and what a restore brought back, to compare the two. */
export interface LedgerCounts {
  patrons: number;
  charges: number;
  payments: number;
  referrals: number;
  referralHistory: number;
  reportFiles: number;
  recordSets: number;
  migrations: number;
}

export interface BackupResult {
  file: string;
  bytes: number;
  /** The data folder's key file went into the backup (see README: keep the file like the data folder). */
  includesKey: boolean;
  /** Agency credentials are stored encrypted: restoring them needs the key. */
  hasSecrets: boolean;
  counts: LedgerCounts;
}

export interface RestoreResult {
  folder: string;
  /** Where a folder replaced with --force was moved; null when the target was empty. */
  previous: string | null;
  includesKey: boolean;
  counts: LedgerCounts;
}

/** The command is not for this kind of database; the message says what to run instead. */
export class UseOtherToolError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 400;
  constructor(message: string) {
    super(message);
    this.name = 'UseOtherToolError';
  }
}

const shellQuote = (s: string) => (/^[A-Za-z0-9_./:@=-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The URL without its password: the password goes in PGPASSWORD or ~/.pgpass, never on a command line. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.toString();
}

export function pgDumpCommand(url: string, file: string): string {
  return `pg_dump --format=custom --no-owner --file=${shellQuote(file)} ${shellQuote(withoutPassword(url))}`;
}

export function pgRestoreCommand(url: string, file: string): string {
  return `pg_restore --clean --if-exists --no-owner --single-transaction --dbname=${shellQuote(withoutPassword(url))} ${shellQuote(file)}`;
}

/** Exported for the CLI, which refuses before it connects. */
export function usePgTool(what: 'backup' | 'restore', url: string, file: string): UseOtherToolError {
  const command = what === 'backup' ? pgDumpCommand(url, file) : pgRestoreCommand(url, file);
  return new UseOtherToolError(
    `arrears ${what} is for the embedded database; ${describeUrl(url)} is PostgreSQL, which has its own tool. Run:\n  ${command}\n` +
      '(give the password with PGPASSWORD or ~/.pgpass; see "Backup and restore" in the README)',
  );
}

export async function ledgerCounts(db: Database['db']): Promise<LedgerCounts> {
  const r = await sql<LedgerCounts>`
    select (select count(*)::int from patrons) as "patrons",
           (select count(*)::int from charges) as "charges",
           (select count(*)::int from payments) as "payments",
           (select count(*)::int from referrals) as "referrals",
           (select count(*)::int from referral_history) as "referralHistory",
           (select count(*)::int from report_files) as "reportFiles",
           (select count(*)::int from record_sets) as "recordSets",
           (select count(*)::int from schema_migrations) as "migrations"`.execute(db);
  return r.rows[0]!;
}

interface TarEntry {
  name: string;
  /** Offset of the header and the whole entry's length (header, data, padding). */
  start: number;
  length: number;
}

/** Walks a ustar archive, checking every header's checksum; throws on anything malformed or cut short. */
export function tarEntries(tar: Buffer): TarEntry[] {
  const entries: TarEntry[] = [];
  let at = 0;
  while (at + 512 <= tar.length) {
    const header = tar.subarray(at, at + 512);
    if (header.every((b) => b === 0)) return entries;
    const recorded = parseInt(header.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
    if (recorded !== sum) throw new Error(`damaged tar header at byte ${at}`);
    const field = (from: number, to: number) => header.subarray(from, to).toString('utf8').replace(/\0.*$/s, '');
    const prefix = header.subarray(257, 262).toString('latin1') === 'ustar' ? field(345, 500) : '';
    const name = (prefix ? `${prefix}/` : '') + field(0, 100);
    const size = parseInt(field(124, 136).trim() || '0', 8);
    const length = 512 + Math.ceil(size / 512) * 512;
    if (!Number.isFinite(size) || at + length > tar.length) throw new Error(`the archive ends inside ${name}`);
    entries.push({ name, start: at, length });
    at += length;
  }
  throw new Error('the archive has no end marker: it was cut short');
}

const isTopLevel = (name: string, file: string) => basename(name) === file && !name.replace(/^\/+/, '').includes('/');
const isKeyFile = (name: string) => isTopLevel(name, KEY_FILE_NAME);

/**
 * Writes the embedded database to `file` (gzip tar, mode 0600). The data folder's key file
 * goes in too unless `withoutKey`: without it, stored agency credentials cannot be decrypted.
 */
export async function backupDatabase(database: Database, file: string, options: { url?: string; withoutKey?: boolean } = {}): Promise<BackupResult> {
  if (database.server) {
    throw new ConflictError(
      `${database.location} is served by arrears start (process ${database.server.pid}): a backup copies the data folder, which needs the server stopped. Stop it, back up, and start it again.`,
    );
  }
  if (database.kind === 'postgres' || !database.pglite) throw usePgTool('backup', options.url ?? database.location, file);
  const counts = await ledgerCounts(database.db);
  const hasSecrets = (await database.db.selectFrom('agencies').select('id').where('transfer_secret', 'is not', null).limit(1).executeTakeFirst()) !== undefined;
  // Everything written so far goes into the data files, so the copy needs no WAL replay.
  await database.pglite.exec('checkpoint');
  const tar = Buffer.from(await (await database.pglite.dumpDataDir('none')).arrayBuffer());
  const entries = tarEntries(tar);
  // The folder lock names this process; a restored copy must not inherit it.
  const keep = entries.filter((e) => !(options.withoutKey && isKeyFile(e.name)) && !isTopLevel(e.name, LOCK_FILE));
  const includesKey = keep.some((e) => isKeyFile(e.name));
  const body = Buffer.concat([...keep.map((e) => tar.subarray(e.start, e.start + e.length)), Buffer.alloc(1024)]);
  const gz = gzipSync(body);
  // Written beside the target and renamed: a failed backup never leaves half a file under its name.
  const temp = join(dirname(resolve(file)), `.${basename(file)}.${randomBytes(4).toString('hex')}.part`);
  try {
    writeFileSync(temp, gz, { mode: 0o600, flag: 'wx' });
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  return { file, bytes: gz.length, includesKey, hasSecrets, counts };
}

/** Reads and checks a backup completely; the tar bytes, or a ValidationError naming the file. */
function readBackup(file: string): { tar: Buffer; includesKey: boolean } {
  const bad = (reason: string) => ValidationError.of(reason, { file });
  let gz: Buffer;
  try {
    gz = readFileSync(file);
  } catch (err) {
    throw bad(`cannot read the backup: ${(err as Error).message}`);
  }
  if (gz.length < 2 || gz[0] !== 0x1f || gz[1] !== 0x8b) throw bad('is not an Arrears backup (not a gzip file)');
  let tar: Buffer;
  try {
    tar = gunzipSync(gz);
  } catch (err) {
    throw bad(`the backup is damaged or incomplete (${(err as Error).message}); nothing was restored`);
  }
  let entries: TarEntry[];
  try {
    entries = tarEntries(tar);
  } catch (err) {
    throw bad(`the backup is damaged or incomplete (${(err as Error).message}); nothing was restored`);
  }
  if (!entries.some((e) => e.name.replace(/^\/+/, '') === 'PG_VERSION')) throw bad('is not an Arrears backup (no database folder in it)');
  return { tar, includesKey: entries.some((e) => isKeyFile(e.name)) };
}

async function countsOf(pglite: PGlite, file: string): Promise<LedgerCounts> {
  const db: Database['db'] = new Kysely({ dialect: new PGliteDialect(pglite) });
  try {
    return await ledgerCounts(db);
  } catch (err) {
    throw ValidationError.of(`is not an Arrears backup (${(err as Error).message})`, { file });
  }
}

/** Missing, or holding nothing but the given files (our own lock). */
function isEmptyFolder(folder: string, ignoring: string[] = []): boolean {
  return !existsSync(folder) || readdirSync(folder).every((name) => ignoring.includes(name));
}

const stamp = (at: Date) => at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');

/**
 * Restores a backup into the data folder `url`. Refuses a folder that holds anything unless
 * `force`; then the old folder is kept beside it as `<folder>.before-restore-<time>`. The
 * backup is opened and counted in memory first, so a damaged file leaves the target untouched.
 */
export async function restoreDatabase(file: string, url: string, options: { force?: boolean; now?: Date } = {}): Promise<RestoreResult> {
  if (isPostgresUrl(url)) throw usePgTool('restore', url, file);
  if (url === 'memory://' || url === '') throw ValidationError.of('restore needs a data folder, not memory://', { field: '--db' });
  const folder = resolve(url);
  // Never pull a folder from under a running server: refused while another process has it open.
  const unlock = existsSync(folder) ? lockFolder(folder) : () => undefined;
  try {
    return await restoreInto(folder, file, options, unlock);
  } finally {
    unlock();
  }
}

async function restoreInto(folder: string, file: string, options: { force?: boolean; now?: Date }, unlock: () => void): Promise<RestoreResult> {
  if (!options.force && !isEmptyFolder(folder, [LOCK_FILE])) {
    throw new ConflictError(`${folder} already holds a database (or other files); restore refuses to replace it without --force`);
  }
  const { tar, includesKey } = readBackup(file);
  const blob = () => new Blob([new Uint8Array(tar)], { type: 'application/x-tar' });

  const probe = new PGlite({ loadDataDir: blob() });
  let counts: LedgerCounts;
  try {
    counts = await countsOf(probe, file);
  } catch (err) {
    if (err instanceof ValidationError) throw err;
    throw ValidationError.of(`the backup does not open as a database (${(err as Error).message}); nothing was restored`, { file });
  } finally {
    if (!probe.closed) await probe.close().catch(() => undefined);
  }

  // Built beside the target and renamed into place, so the target is never half restored.
  const staging = `${folder}.restoring-${randomBytes(4).toString('hex')}`;
  try {
    const restored = new PGlite(staging, { loadDataDir: blob() });
    try {
      await countsOf(restored, file);
      await restored.exec('checkpoint');
    } finally {
      await restored.close();
    }
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    throw err;
  }
  let previous: string | null = null;
  // Our own lock file goes before the old folder is set aside, which stays as it was.
  unlock();
  if (existsSync(folder)) {
    if (isEmptyFolder(folder, [LOCK_FILE])) rmSync(folder, { recursive: true });
    else {
      previous = `${folder}.before-restore-${stamp(options.now ?? new Date())}`;
      renameSync(folder, previous);
    }
  }
  renameSync(staging, folder);
  return { folder, previous, includesKey, counts };
}
