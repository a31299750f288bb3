import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { migrate, migrationFiles } from '../src/db/migrate.ts';
import { exportSettings, loadEntries } from '../src/services/settings.ts';

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

describe('migration 200: PTYPEs become text, patrons gain contact fields', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase({ migrate: false });
  });
  afterAll(() => t.dispose());

  it('converts existing numeric PTYPEs to their digits, in patrons and settings entries, and blanks the new fields', async () => {
    expect(await migrate(t, { before: '200_' })).not.toContain('200_ptype_text_patron_contact.sql');
    await sql`insert into libraries (code, name, time_zone) values ('MAIN', 'Main', 'America/Chicago')`.execute(t.db);
    await sql`insert into patrons (id, home_library, ptype, phone) values ('P1', 'MAIN', 3, '217-555-0101'), ('P2', 'MAIN', 0, ''), ('P3', 'MAIN', 40000, '')`.execute(t.db);
    await sql`insert into agencies (name) values ('UMS')`.execute(t.db);
    await sql`insert into settings_entries (position, name, ptypes, minimum_owed_cents, agency_id) values (1, 'Old', '{1,20}', 2500, 1), (2, 'All', '{}', 100, 1)`.execute(t.db);

    expect(await migrate(t)).toContain('200_ptype_text_patron_contact.sql');
    const patrons = await t.db.selectFrom('patrons').select(['id', 'ptype', 'phone', 'address2', 'mobile', 'alt_phone_1', 'alt_phone_2', 'adult_or_child']).orderBy('id').execute();
    const blank = { address2: '', mobile: '', alt_phone_1: '', alt_phone_2: '', adult_or_child: '' };
    expect(patrons).toEqual([
      { id: 'P1', ptype: '3', phone: '217-555-0101', ...blank },
      { id: 'P2', ptype: '0', phone: '', ...blank },
      { id: 'P3', ptype: '40000', phone: '', ...blank },
    ]);
    expect((await loadEntries(t.db)).map((e) => e.ptypes)).toEqual([['1', '20'], []]);
    // The settings file a library exported before reads the same after.
    expect((await exportSettings(t.db)).map((e) => e.ptypes)).toEqual([[1, 20], []]);
    // New rows: text PTYPEs, never blank; the new fields default to blank.
    await t.db.insertInto('patrons').values({ id: 'P4', home_library: 'MAIN', ptype: 'PT' }).execute();
    await expect(t.db.insertInto('patrons').values({ id: 'P5', home_library: 'MAIN', ptype: '' }).execute()).rejects.toThrow(/patrons_ptype_not_blank/);
    await t.db.insertInto('settings_entries').values({ position: 3, name: 'New', minimum_owed_cents: 0, agency_id: 1 }).execute();
    expect((await loadEntries(t.db)).map((e) => e.ptypes)).toEqual([['1', '20'], [], []]);
  });
});
