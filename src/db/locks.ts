// Advisory locks that serialise work across server processes on one PostgreSQL database.
// The second key is the schema's hash, so two Arrears installations (or two test files)
// sharing a server in different schemas never wait for each other. PGlite has a single
// session, so there is nothing to lock there.
import { sql } from 'kysely';
import type { DatabaseKind } from './connection.ts';
import type { Executor } from '../services/context.ts';

export const LOCKS = {
  migrate: 7411001,
  /** Held by a run for its whole transaction; readers that must not see half a run take it shared. */
  runs: 7411002,
} as const;

/** Waits for the transaction-scoped lock; released at commit or rollback. */
export async function lockForTransaction(db: Executor, kind: DatabaseKind, lock: keyof typeof LOCKS, mode: 'exclusive' | 'shared' = 'exclusive'): Promise<void> {
  if (kind !== 'postgres') return;
  if (mode === 'shared') await sql`select pg_advisory_xact_lock_shared(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db);
  else await sql`select pg_advisory_xact_lock(${LOCKS[lock]}, hashtext(current_schema()))`.execute(db);
}
