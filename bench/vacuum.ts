import { sql } from 'kysely';
import type { Database } from '../src/db/connection.ts';

/**
 * VACUUM ANALYZE of the bench schema's tables: fresh statistics and visibility maps, as
 * autovacuum leaves them after a bulk load by the time the next nightly job starts (index-only
 * scans skip the heap only for pages marked all-visible, and the first reader of a freshly
 * loaded table otherwise sets every row's hint bits). Only this schema's tables: a bare VACUUM
 * would work through every schema in the database.
 */
export async function vacuumSchema(db: Database): Promise<void> {
  const tables = await sql<{ name: string }>`select quote_ident(tablename) as name from pg_tables where schemaname = current_schema()`.execute(db.db);
  await sql.raw(`vacuum analyze ${tables.rows.map((t) => t.name).join(', ')}`).execute(db.db);
}
