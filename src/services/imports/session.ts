// One import = one transaction on one database session, so temporary staging tables are
// visible to every statement and nothing is written unless everything is. On PostgreSQL
// that session is a pooled client held for the whole import (COPY needs the raw client);
// on PGlite it is a Kysely transaction (the only session there is).
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Database } from '../../db/connection.ts';
import type { DB } from '../../db/schema.ts';
import type { Executor } from '../context.ts';
import { CopyText, copyLine, type StageValue } from './copy-text.ts';

export { type StageValue } from './copy-text.ts';

export interface ImportSession {
  db: Executor;
  /** Rows a batch of staging rows is best written in. */
  batchSize: number;
  /** Appends rows to a temporary table (COPY on PostgreSQL, multi-row inserts on PGlite). */
  append(table: string, columns: readonly string[], rows: readonly StageValue[][]): Promise<void>;
  /** Appends rows already written as COPY text (a CopyText's chunks); only where COPY is (PostgreSQL). */
  appendText?(table: string, columns: readonly string[], chunks: readonly Buffer[]): Promise<void>;
}

export async function withImportSession<T>(database: Database, fn: (s: ImportSession) => Promise<T>): Promise<T> {
  if (database.pool) return withPostgresSession(database.pool, fn);
  return database.db.transaction().execute((trx) =>
    fn({
      db: trx,
      // Inserts are split further by their bind parameters (insertRows).
      batchSize: 2000,
      append: (table, columns, rows) => insertRows(trx, table, columns, rows),
    }),
  );
}

// PGlite reads a statement's parameter count as a signed 16-bit number, so more than 32,767
// bind parameters fail in its protocol parser (PostgreSQL itself takes 65,535).
const MAX_PARAMETERS = 32_767;

async function insertRows(db: Executor, table: string, columns: readonly string[], rows: readonly StageValue[][]): Promise<void> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMETERS / columns.length));
  for (let i = 0; i < rows.length; i += perStatement) {
    const values = rows.slice(i, i + perStatement).map((r) => sql`(${sql.join(r.map((v) => (v instanceof Date ? v.toISOString() : v)))})`);
    await sql`insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) values ${sql.join(values)}`.execute(db);
  }
}

async function withPostgresSession<T>(pool: pg.Pool, fn: (s: ImportSession) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  // Kysely over this one client: every query of the import runs in the same transaction as the COPYs.
  const db = new Kysely<DB>({
    dialect: new PostgresDialect({
      pool: {
        connect: async () => ({ query: client.query.bind(client) as pg.PoolClient['query'], release: () => undefined }),
        end: async () => undefined,
      },
    }),
  });
  // A client whose rollback failed is broken: the pool must discard it, not hand it out again.
  let broken: Error | undefined;
  try {
    await client.query('begin');
    // A bulk load rebuilds indexes and re-validates foreign keys over whole tables: at 10 M rows
    // the default 64 MB sorts them on disk. One import runs at a time per table (it locks it).
    // The reference checks and that validation hash-join the file against patrons and items;
    // at 4 MB of work_mem those hashes are cut into batches written to disk.
    await client.query("set local maintenance_work_mem = '512MB'");
    await client.query("set local work_mem = '256MB'");
    // Each statement runs once over rows it joins by key; compiling it (JIT, on by default past
    // a cost the bulk statements all exceed) took longer than running it, as for runs.
    await client.query('set local jit = off');
    const result = await fn({
      db,
      batchSize: 20_000,
      append: (table, columns, rows) => copyRows(client, table, columns, rows),
      appendText: (table, columns, chunks) => (chunks.length ? copyText(client, table, columns, chunks) : Promise.resolve()),
    });
    await client.query('commit');
    return result;
  } catch (err) {
    await client.query('rollback').catch((e: Error) => {
      broken = e;
    });
    throw err;
  } finally {
    client.release(broken);
    await db.destroy();
  }
}

async function copyRows(client: pg.PoolClient, table: string, columns: readonly string[], rows: readonly StageValue[][]): Promise<void> {
  if (rows.length === 0) return;
  const text = new CopyText();
  for (const r of rows) text.add(copyLine(r));
  await copyText(client, table, columns, text.take());
}

async function copyText(client: pg.PoolClient, table: string, columns: readonly string[], chunks: Iterable<Buffer>): Promise<void> {
  const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
  const stream = client.query(copyFrom(`copy ${ident(table)} (${columns.map(ident).join(', ')}) from stdin`));
  await pipeline(Readable.from(chunks), stream);
}
