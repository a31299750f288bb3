// Numbered SQL files in migrations/, applied in order, each in its own transaction.
// Forward-only: a landed migration is never edited; add the next number instead.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { Database } from './connection.ts';
import { lockForTransaction } from './locks.ts';
import { projectPath } from '../root.ts';

// The SQL files stay in src/ (the compiled build reads them there too).
const MIGRATIONS = projectPath('src', 'db', 'migrations');

export function migrationFiles(): string[] {
  return readdirSync(MIGRATIONS)
    .filter((f) => /^\d{3}_[a-z0-9_]+\.sql$/.test(f))
    .sort();
}

/** `before`: apply only the files that sort before it (a test of one migration's data conversion). */
export async function migrate(database: Database, options: { before?: string } = {}): Promise<string[]> {
  const { db } = database;
  const applied: string[] = [];
  await db.transaction().execute(async (trx) => {
    // Two servers starting at once must not both migrate.
    await lockForTransaction(trx, database.kind, 'migrate');
    await sql`create table if not exists schema_migrations (version text primary key, applied_at timestamptz not null default now())`.execute(trx);
    const done = new Set(
      (await sql<{ version: string }>`select version from schema_migrations`.execute(trx)).rows.map((r) => r.version),
    );
    for (const file of migrationFiles()) {
      if (done.has(file)) continue;
      if (options.before !== undefined && file >= options.before) break;
      const script = readFileSync(join(MIGRATIONS, file), 'utf8');
      // PGlite's query() takes one statement; exec() runs a script on the same single session,
      // which this transaction holds. PostgreSQL runs a parameterless script as one simple query.
      if (database.pglite) await database.pglite.exec(script);
      else await sql.raw(script).execute(trx);
      await sql`insert into schema_migrations (version) values (${file})`.execute(trx);
      applied.push(file);
    }
  });
  return applied;
}
