import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { migrate, migrationFiles } from '../src/db/migrate.ts';

describe('migrations', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase();
  });
  afterAll(() => t.dispose());

  it('applies every numbered file once and is a no-op the second time', async () => {
    const rows = await sql<{ version: string }>`select version from schema_migrations order by version`.execute(t.db);
    expect(rows.rows.map((r) => r.version)).toEqual(migrationFiles());
    expect(await migrate(t)).toEqual([]);
  });

  it('keeps dates as calendar strings and bigints as numbers', async () => {
    const r = await sql<{ d: string; n: number }>`select date '2015-04-28' as d, 9007199254740991::bigint as n`.execute(t.db);
    expect(r.rows[0]).toEqual({ d: '2015-04-28', n: 9007199254740991 });
  });
});
