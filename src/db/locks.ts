// Advisory locks that serialise work across server processes on one PostgreSQL database.
// The second key is the schema's hash, so two Arrears installations (or two test files)
// sharing a server in different schemas never wait for each other. PGlite has a single
// session, so there is nothing to lock there.
import { sql, type Kysely } from 'kysely';
import type { Database, DatabaseKind } from './connection.ts';
import type { DB } from './schema.ts';
import type { Executor } from '../services/context.ts';

export const LOCKS = {
  migrate: 7411001,
  /** Held by a run for its whole transaction; readers that must not see half a run take it shared. */
  runs: 7411002,
  /** The attention mail: one server at a time reads what was told, mails and records it. */
  alerts: 7411003,
} as const;

/**
 * Runs fn on one connection that holds the lock for its whole length, released after fn ends
 * (or when the process dies and its session closes). Unlike lockForTransaction, the wait comes
 * before fn opens its transaction, so a REPEATABLE READ snapshot taken in fn sees everything
 * the previous holder committed.
 */
export async function withSessionLock<T>(database: Database, lock: keyof typeof LOCKS, fn: (db: Kysely<DB>) => Promise<T>): Promise<T> {
  if (database.kind !== 'postgres') return fn(database.db);
  return database.db.connection().execute(async (db) => {
    await sql`select pg_advisory_lock(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db);
    try {
      return await fn(db);
    } finally {
      // If the connection died (say the database restarted), its session took the lock with
      // it; an unlock error then must not hide fn's own outcome, a committed run included.
      await sql`select pg_advisory_unlock(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db).catch(() => undefined);
    }
  });
}

/** Waits for the transaction-scoped lock; released at commit or rollback. */
export async function lockForTransaction(db: Executor, kind: DatabaseKind, lock: keyof typeof LOCKS, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  if (kind !== 'postgres') return;
  if (mode === 'shared') await sql`select pg_advisory_xact_lock_shared(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db);
  else await sql`select pg_advisory_xact_lock(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db);
}
