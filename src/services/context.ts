// What every service needs: the database, a clock (never read from a global in rules)
// and who is acting (for the audit log).
import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../db/connection.ts';
import type { DB } from '../db/schema.ts';

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(at: Date | string): Clock {
  const t = typeof at === 'string' ? new Date(at) : at;
  return { now: () => new Date(t.getTime()) };
}

export interface Context {
  database: Database;
  clock: Clock;
  /** A username, 'cli:<os user>' or 'scheduler'. */
  actor: string;
}

export type Executor = Kysely<DB> | Transaction<DB>;
