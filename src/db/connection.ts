// One query layer (Kysely) over two drivers: embedded PGlite (the default) and PostgreSQL.
// A PGlite folder held by a running `arrears start` is reached through the server's socket
// with the PostgreSQL driver (pglite-share.ts). Each driver is imported when it is first
// needed: a command on PostgreSQL never loads PGlite's WebAssembly, and the reverse.
import type { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError } from '../domain/errors.ts';
import type { DB } from './schema.ts';
import { migrate } from './migrate.ts';
import { folderHolder, lockFolder } from './folder-lock.ts';
import { lockedDialect, SessionLock } from './pglite-session.ts';
import { announceShare, clearShare, findShare, shareFolder, SOCKET_PORT, type Share } from './pglite-share.ts';

export type DatabaseKind = 'pglite' | 'postgres';

export interface Database {
  readonly kind: DatabaseKind;
  readonly db: Kysely<DB>;
  /** Where it lives, with any password removed: safe to print. */
  readonly location: string;
  /** PostgreSQL only: the pool, for COPY and advisory locks that need one session. */
  readonly pool?: pg.Pool;
  /** PGlite only: the embedded instance (backup, COPY from a blob). */
  readonly pglite?: PGlite;
  /** PostgreSQL only: the schema every connection uses (tests give each file its own). */
  readonly schema?: string;
  /**
   * PGlite reached through the socket of the `arrears start` that holds the folder. Then
   * neither `pglite` nor `pool` is set: everything goes through `db`, on one connection, as
   * on an embedded PGlite (one session, transactions one after another).
   */
  readonly server?: { pid: number; socket: string };
  /** PGlite folder opened with `share`: where the server serves it. */
  readonly share?: Share;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** `postgres://…`, a folder path, or `memory://`. */
  url: string;
  /** PostgreSQL: set search_path to this schema, creating it if missing. */
  schema?: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
  /** PGlite folder: serve it on a local socket to other Arrears commands while open (`arrears start`). */
  share?: boolean;
  /**
   * PGlite: a command that opens the database for a moment. PostgreSQL in WebAssembly spends
   * much of its start-up preparing its buffer cache, in proportion to its size: 16 MB instead
   * of the default 128 MB saves about half a second of CPU at every start. Loading and a dry
   * run at 10,000 patrons took no longer with it (sequential scans of tables larger than a
   * quarter of the cache bypass it either way).
   */
  shortLived?: boolean;
}

/** shared_buffers of a short-lived PGlite (see OpenOptions.shortLived). */
export const SHORT_LIVED_BUFFERS = '16MB';

const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;
/** How long to wait for a new PostgreSQL connection before the request fails. */
const CONNECT_TIMEOUT_MS = 10_000;

function toSafeNumber(v: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new RangeError(`integer out of range: ${v}`);
  return n;
}

export function describeUrl(url: string): string {
  try {
    if (/^postgres(ql)?:\/\//.test(url)) {
      const u = new URL(url);
      if (u.password) u.password = '***';
      return u.toString();
    }
  } catch {
    /* not a URL: fall through */
  }
  return url;
}

export function isPostgresUrl(url: string): boolean {
  return /^postgres(ql)?:\/\//.test(url);
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  const database = isPostgresUrl(options.url) ? await openPostgres(options) : await openPglite(options.url, options);
  try {
    if (options.migrate !== false) await migrate(database);
    if (options.share && database.pglite && database.location !== 'memory://') {
      const share = await shareFolder(database.location, database.pglite, sessions.get(database.pglite)!);
      return { ...database, share, close: () => share.stop().finally(() => database.close()) };
    }
  } catch (error) {
    await database.close();
    throw error;
  }
  return database;
}

/**
 * The data folder holds patrons' names, addresses and emails (in the catalogue statistics
 * too) and, with no configured key, the key to the agency credentials: only its owner may
 * read it. New folders are made 0700; at every open the folder is set to 0700, the folders in
 * it to 0700 and the files to 0600 (whatever an older version or a copy left there).
 */
export function tightenDataFolder(folder: string): void {
  const stack = [folder];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    chmodSync(dir, 0o700);
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const stat = lstatSync(path);
      if (stat.isSymbolicLink()) continue;
      if (stat.isDirectory()) stack.push(path);
      else if ((stat.mode & 0o077) !== 0) chmodSync(path, stat.mode & 0o700);
    }
  }
}

/** The session turn of each open PGlite, for the socket that shares it. */
const sessions = new WeakMap<PGlite, SessionLock>();

async function openPglite(url: string, options: Pick<OpenOptions, 'share' | 'shortLived'>): Promise<Database> {
  const share = options.share === true;
  const memory = url === 'memory://' || url === '';
  if (!memory) {
    mkdirSync(url, { recursive: true, mode: 0o700 });
    tightenDataFolder(url);
  }
  let unlock: () => void = () => undefined;
  if (!memory) {
    try {
      unlock = lockFolder(url);
    } catch (error) {
      const holder = error instanceof ConflictError ? folderHolder(url) : null;
      if (holder === null) throw error;
      const served = share ? null : await findShare(url, holder);
      if (served) return openThroughServer(url, served);
      if (share) throw error; // a second server on one folder: refused, as before
      throw new ConflictError(
        `the database folder ${url} is in use by process ${holder}, an arrears command that keeps it to itself ` +
          `(only a running \`arrears start\` shares its folder with other commands): wait for it to end, or use PostgreSQL to run several at once.`,
      );
    }
    // This process holds the folder now: a share file left there is stale, or ours to write.
    if (share) announceShare(url);
    else clearShare(url);
  }
  // Dates stay calendar strings and bigints become numbers (cents fit easily in 2^53).
  const parsers = { [INT8]: toSafeNumber, [DATE]: (v: string) => v };
  let pglite: PGlite;
  try {
    const { PGlite } = await import('@electric-sql/pglite');
    const startParams = options.shortLived ? [...PGlite.defaultStartParams, '-c', `shared_buffers=${SHORT_LIVED_BUFFERS}`] : undefined;
    pglite = memory ? new PGlite({ parsers, startParams }) : new PGlite(url, { parsers, startParams });
    await pglite.waitReady;
  } catch (error) {
    if (!memory && share) clearShare(url);
    unlock();
    throw error;
  }
  const lock = new SessionLock();
  sessions.set(pglite, lock);
  const db = new Kysely<DB>({ dialect: lockedDialect(pglite, lock) });
  return {
    kind: 'pglite',
    db,
    pglite,
    location: memory ? 'memory://' : url,
    async close() {
      try {
        await db.destroy();
        if (!pglite.closed) await pglite.close();
      } finally {
        if (!memory && share) clearShare(url);
        unlock();
      }
    },
  };
}

/** The folder's PGlite as the running server serves it: one connection on its socket. */
async function openThroughServer(folder: string, served: { pid: number; socketDir: string }): Promise<Database> {
  const socket = `${served.socketDir}/.s.PGSQL.${SOCKET_PORT}`;
  // One connection, as on an embedded PGlite: the session is shared, so a second connection
  // of this process would only wait behind the first (or, inside its transaction, forever).
  // No connection timeout: even the start-up message waits its turn, and the server may be in
  // the middle of a long transaction (an import); a server that is gone refuses at once.
  const pool = await newPool({ host: served.socketDir, port: SOCKET_PORT, user: 'postgres', database: 'postgres', ssl: false, max: 1, connectionTimeoutMillis: 0 });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await db.destroy();
    throw new ConflictError(
      `the database folder ${folder} is held by arrears start (process ${served.pid}), but its socket ${socket} does not answer: ${(error as Error).message}`,
    );
  }
  return {
    kind: 'pglite',
    db,
    location: folder,
    server: { pid: served.pid, socket },
    async close() {
      await db.destroy();
    },
  };
}

/** A pg pool with our type parsers, for a PostgreSQL server or a shared PGlite's socket. */
async function newPool(config: pg.PoolConfig): Promise<pg.Pool> {
  const { default: pg } = await import('pg');
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8) return toSafeNumber;
      if (oid === DATE) return (v: string) => v;
      if (oid === NUMERIC) return (v: string) => v;
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const pool = new pg.Pool({
    // A server that does not answer fails the request (503) instead of holding it forever.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
    ...config,
    types: types as pg.CustomTypesConfig,
  });
  // A dropped connection (database restart) must not crash the process; the pool reconnects.
  // Idle clients report to the pool; a client checked out between two queries (a transaction
  // in progress) reports to itself, and an 'error' event nobody listens to would end the process.
  // Its holder's next query fails instead, and the pool discards the broken client on release.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}

/**
 * The pool's connection string and server options, the schema's search_path last. The URL's
 * own options (say auto_explain's, to read plans) are kept beside it: pg lets a connection
 * string's options replace the pool's, which would silently put every table in public.
 */
function withSearchPath(url: string, schema: string | undefined): { connectionString: string; options?: string } {
  if (!schema) return { connectionString: url };
  const u = new URL(url);
  const own = u.searchParams.get('options');
  if (own === null) return { connectionString: url, options: `-c search_path=${schema}` };
  u.searchParams.delete('options');
  return { connectionString: u.toString(), options: `${own} -c search_path=${schema}` };
}

async function openPostgres(options: OpenOptions): Promise<Database> {
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name: ${schema}`);
  if (schema) {
    const { default: pg } = await import('pg');
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await admin.end();
  }
  const pool = await newPool({ max: 10, ...withSearchPath(options.url, schema) });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  await sql`select 1`.execute(db);
  return {
    kind: 'postgres',
    db,
    pool,
    schema,
    location: describeUrl(options.url) + (schema ? ` (schema ${schema})` : ''),
    async close() {
      await db.destroy();
    },
  };
}
