// A fresh database for one test file: an in-memory PGlite, or a new schema on the
// PostgreSQL server at 127.0.0.1:5432, chosen by ARREARS_TEST_DB (set per vitest project).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDatabase, type Database } from '../../src/db/connection.ts';

export const POSTGRES_URL = process.env.ARREARS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export function testDbKind(): 'pglite' | 'postgres' {
  return process.env.ARREARS_TEST_DB === 'postgres' ? 'postgres' : 'pglite';
}

export interface TestDatabase extends Database {
  /** Drops the schema (PostgreSQL) and closes. */
  dispose(): Promise<void>;
  /** The URL another process would use to reach the same data (PostgreSQL only). */
  url: string;
}

/** `migrate: false` leaves the schema empty, for a test that migrates step by step. */
export async function freshDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  if (testDbKind() === 'pglite') {
    const database = await openDatabase({ url: 'memory://', migrate: options.migrate });
    return Object.assign(database, { url: 'memory://', dispose: () => database.close() });
  }
  const schema = `t_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
  const database = await openDatabase({ url: POSTGRES_URL, schema, migrate: options.migrate });
  return Object.assign(database, {
    url: POSTGRES_URL,
    async dispose() {
      await database.close();
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await client.end();
    },
  });
}
