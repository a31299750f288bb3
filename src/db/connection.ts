// One query layer (Kysely) over two drivers: embedded PGlite (the default) and PostgreSQL.
import { PGlite } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { DB } from './schema.ts';
import { migrate } from './migrate.ts';
import { lockFolder } from './folder-lock.ts';

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
  close(): Promise<void>;
}

export interface OpenOptions {
  /** `postgres://…`, a folder path, or `memory://`. */
  url: string;
  /** PostgreSQL: set search_path to this schema, creating it if missing. */
  schema?: string;
  /** Apply pending migrations (default true). */
  migrate?: boolean;
}

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
  const database = isPostgresUrl(options.url) ? await openPostgres(options) : await openPglite(options.url);
  if (options.migrate !== false) await migrate(database);
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

async function openPglite(url: string): Promise<Database> {
  const memory = url === 'memory://' || url === '';
  if (!memory) {
    mkdirSync(url, { recursive: true, mode: 0o700 });
    tightenDataFolder(url);
  }
  const unlock = memory ? () => undefined : lockFolder(url);
  // Dates stay calendar strings and bigints become numbers (cents fit easily in 2^53).
  const parsers = { [INT8]: toSafeNumber, [DATE]: (v: string) => v };
  let pglite: PGlite;
  try {
    pglite = memory ? new PGlite({ parsers }) : new PGlite(url, { parsers });
    await pglite.waitReady;
  } catch (error) {
    unlock();
    throw error;
  }
  const db = new Kysely<DB>({ dialect: new PGliteDialect(pglite) });
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
        unlock();
      }
    },
  };
}

async function openPostgres(options: OpenOptions): Promise<Database> {
  const types = {
    getTypeParser(oid: number, format?: 'text' | 'binary') {
      if (oid === INT8) return toSafeNumber;
      if (oid === DATE) return (v: string) => v;
      if (oid === NUMERIC) return (v: string) => v;
      return pg.types.getTypeParser(oid, format as 'text');
    },
  };
  const schema = options.schema;
  if (schema && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error(`bad schema name: ${schema}`);
  if (schema) {
    const admin = new pg.Client({ connectionString: options.url });
    await admin.connect();
    await admin.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    await admin.end();
  }
  const pool = new pg.Pool({
    connectionString: options.url,
    max: 10,
    types: types as pg.CustomTypesConfig,
    options: schema ? `-c search_path=${schema}` : undefined,
    // A server that does not answer fails the request (503) instead of holding it forever.
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    keepAlive: true,
  });
  // A dropped connection (database restart) must not crash the process; the pool reconnects.
  // Idle clients report to the pool; a client checked out between two queries (a transaction
  // in progress) reports to itself, and an 'error' event nobody listens to would end the process.
  // Its holder's next query fails instead, and the pool discards the broken client on release.
  pool.on('error', () => undefined);
  pool.on('connect', (client) => client.on('error', () => undefined));
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
