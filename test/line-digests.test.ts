// A patron row keeps the digest of the line that wrote it (migration 310, imports/digest.ts): a
// re-import leaves the lines whose digest is stored unstaged, on PostgreSQL (PGlite stages every
// line, and every behaviour below holds there too). These tests hold that a digest vouches for
// a row only while the row is as its line wrote it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { importFile } from '../src/services/imports.ts';
import { COLUMNS } from '../src/domain/import-formats.ts';
import { ValidationError } from '../src/domain/errors.ts';

let t: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'arrears-digests-'));
const postgres = testDbKind() === 'postgres';
const HEADER = 'id,first_name,last_name,birth_date,home_library,ptype';

beforeAll(async () => {
  t = await freshDatabase();
  await importFile(ctx(), 'libraries', csv('libraries.csv', ['code,name,time_zone', 'MAIN,Main,America/Chicago', 'EAST,East,America/New_York']));
});
afterAll(async () => {
  await t.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function ctx(): Context {
  return { database: t, clock: fixedClock('2026-12-01T12:00:00Z'), actor: 'test' };
}

let files = 0;
function csv(name: string, lines: string[]): string {
  const path = join(dir, `${++files}-${name}`);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/** Patrons d1…dN of this test: one prefix a test, so each starts from rows of its own. */
function patrons(prefix: string, n: number, change: (i: number) => string = () => ''): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i + 1},Ann${change(i + 1)},Lee,1990-01-0${(i % 9) + 1},MAIN,3`);
}

async function row(id: string) {
  return t.db.selectFrom('patrons').select(['first_name', 'birth_date', 'home_library', 'line_digest', 'updated_at']).where('id', '=', id).executeTakeFirstOrThrow();
}

async function withoutDigest(prefix: string): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from patrons where id like ${prefix + '%'} and line_digest is null`.execute(t.db);
  return r.rows[0]!.n;
}

describe('patron line digests', () => {
  it('are kept by the import that wrote the row (PostgreSQL), and a re-import finds every row unchanged', async () => {
    // A first load of a file with every column, straight into the empty table: its lines are the staged ones.
    const names = COLUMNS.patrons.map((c) => c.name);
    const full = (i: number) => names.map((n) => ({ id: `a${i}`, first_name: 'Ann', last_name: 'Lee', birth_date: '1990-01-01', home_library: 'MAIN', ptype: '3', email: `a${i}@example.org` })[n] ?? '').join(',');
    const path = csv('a.csv', [names.join(','), ...[1, 2, 3, 4, 5].map(full)]);
    expect((await importFile(ctx(), 'patrons', path)).inserted).toBe(5);
    expect(await withoutDigest('a')).toBe(postgres ? 0 : 5);
    const before = await row('a1');
    const again = await importFile(ctx(), 'patrons', path);
    expect([again.inserted, again.updated, again.unchanged]).toEqual([0, 0, 5]);
    expect((await row('a1')).updated_at).toEqual(before.updated_at);
    expect((await row('a1')).line_digest).toEqual(before.line_digest);
  });

  it("are given by the first re-import when the first load's file lacked columns (its lines are not the staged ones)", async () => {
    await t.db.deleteFrom('patrons').execute();
    const path = csv('a2.csv', [HEADER, ...patrons('a', 3)]);
    expect((await importFile(ctx(), 'patrons', path)).inserted).toBe(3);
    expect(await withoutDigest('a')).toBe(3);
    const again = await importFile(ctx(), 'patrons', path);
    expect([again.updated, again.unchanged]).toEqual([0, 3]);
    expect(await withoutDigest('a')).toBe(postgres ? 0 : 3);
  });

  it.runIf(postgres)('leave a line whose digest is stored unstaged: a change made behind the digest is not seen', async () => {
    // Only a writer that bypasses the trigger can do this; it shows the line was never compared.
    const path = csv('b.csv', [HEADER, ...patrons('b', 3)]);
    await importFile(ctx(), 'patrons', path);
    await sql`alter table patrons disable trigger patrons_line_digest`.execute(t.db);
    try {
      await sql`update patrons set first_name = 'Changed' where id = 'b2'`.execute(t.db);
    } finally {
      await sql`alter table patrons enable trigger patrons_line_digest`.execute(t.db);
    }
    const again = await importFile(ctx(), 'patrons', path);
    expect([again.updated, again.unchanged]).toEqual([0, 3]);
    expect((await row('b2')).first_name).toBe('Changed');
  });

  it('are cleared by any other writer of a file column, so the next import puts the line back', async () => {
    const path = csv('c.csv', [HEADER, ...patrons('c', 3)]);
    await importFile(ctx(), 'patrons', path);
    await sql`update patrons set first_name = 'Edited' where id = 'c2'`.execute(t.db);
    // A run's flag is no file column: the digest stays.
    await sql`update patrons set in_collections = true where id = 'c3'`.execute(t.db);
    expect((await row('c2')).line_digest).toBeNull();
    if (postgres) expect((await row('c3')).line_digest).not.toBeNull();
    const again = await importFile(ctx(), 'patrons', path);
    expect([again.updated, again.unchanged]).toEqual([1, 2]);
    expect((await row('c2')).first_name).toBe('Ann');
    if (postgres) expect(await withoutDigest('c')).toBe(0);
  });

  it('are given to rows found unchanged that had none, as no update', async () => {
    const path = csv('d.csv', [HEADER, ...patrons('d', 4)]);
    await importFile(ctx(), 'patrons', path);
    // As rows written before digests were kept, or by a sync.
    await sql`update patrons set line_digest = null where id like 'd%'`.execute(t.db);
    const before = await row('d1');
    const again = await importFile(ctx(), 'patrons', path);
    expect([again.updated, again.unchanged]).toEqual([0, 4]);
    expect(await withoutDigest('d')).toBe(postgres ? 0 : 4);
    expect((await row('d1')).updated_at).toEqual(before.updated_at);
  });

  it("depend on the file's columns: a column left out and a column left blank are not the same line", async () => {
    await importFile(ctx(), 'patrons', csv('e1.csv', [HEADER, ...patrons('e', 2)]));
    const digest = (await row('e1')).line_digest;
    if (postgres) expect(digest).not.toBeNull();
    // Without birth_date: the birth dates stay as they were.
    const without = await importFile(ctx(), 'patrons', csv('e2.csv', ['id,first_name,last_name,home_library,ptype', 'e1,Ann,Lee,MAIN,3', 'e2,Ann,Lee,MAIN,3']));
    expect([without.updated, without.unchanged]).toEqual([0, 2]);
    expect((await row('e1')).birth_date).not.toBeNull();
    // The row keeps the digest of the line with every column: files of other columns by turns write nothing.
    expect((await row('e1')).line_digest).toEqual(digest);
    // With birth_date blank, staged as null like a missing column: it empties them.
    const blank = await importFile(ctx(), 'patrons', csv('e3.csv', [HEADER, 'e1,Ann,Lee,,MAIN,3', 'e2,Ann,Lee,,MAIN,3']));
    expect([blank.updated, blank.unchanged]).toEqual([2, 0]);
    expect((await row('e1')).birth_date).toBeNull();
  });

  it('never let a repeated row through: a file out of order is read again with every line staged', async () => {
    const lines = patrons('f', 3);
    await importFile(ctx(), 'patrons', csv('f1.csv', [HEADER, ...lines]));
    // f2 twice (the same line), after f3: out of order.
    const err = await importFile(ctx(), 'patrons', csv('f2.csv', [HEADER, lines[0]!, lines[2]!, lines[1]!, lines[1]!])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.some((p) => p.row === 5 && p.column === 'id' && /f2/.test(p.reason))).toBe(true);
    // Out of order without repeats: imported, every row unchanged.
    const shuffled = await importFile(ctx(), 'patrons', csv('f3.csv', [HEADER, lines[2]!, lines[0]!, lines[1]!]));
    expect([shuffled.updated, shuffled.unchanged]).toEqual([0, 3]);
  });

  it("never keep a bad row's digest: the same bad line is refused again", async () => {
    await importFile(ctx(), 'patrons', csv('g1.csv', [HEADER, ...patrons('g', 2)]));
    // g2 compared in full (its digest cleared by an edit that changes nothing), g1 moved to a library that does not exist.
    await sql`update patrons set first_name = first_name where id = 'g2'`.execute(t.db);
    const bad = [HEADER, 'g1,Ann,Lee,1990-01-01,NOPE,3', patrons('g', 2)[1]!];
    const skipped = await importFile(ctx(), 'patrons', csv('g2.csv', bad), { skipBadRows: true });
    expect([skipped.skipped, skipped.unchanged]).toEqual([1, 1]);
    expect((await row('g1')).home_library).toBe('MAIN');
    const err = await importFile(ctx(), 'patrons', csv('g3.csv', bad)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems).toEqual([expect.objectContaining({ row: 2, column: 'home_library' })]);
  });

  it("vouch for no patron of a library an ILS connector now feeds: CSV's line is refused", async () => {
    const path = csv('h.csv', [HEADER, 'h1,Ann,Lee,1990-01-01,EAST,3']);
    await importFile(ctx(), 'patrons', path);
    const now = new Date();
    const c = await t.db
      .insertInto('connectors')
      .values({ name: 'koha', kind: 'koha', url_secret: 'x', location: 'mysql://db/koha', time_zone: 'UTC', options: '{}', created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    await t.db.updateTable('libraries').set({ connector_id: c.id }).where('code', '=', 'EAST').execute();
    try {
      const err = await importFile(ctx(), 'patrons', path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).problems.map((p) => p.reason).join('\n')).toMatch(/connector "koha"/);
    } finally {
      await t.db.updateTable('libraries').set({ connector_id: null }).where('code', '=', 'EAST').execute();
      await t.db.deleteFrom('connectors').execute();
    }
  });

  it("are cleared on an update of any of the patrons file's columns, and only of those", async () => {
    const r = await sql<{ name: string }>`
      select a.attname as name from pg_trigger g
      join pg_attribute a on a.attrelid = g.tgrelid and a.attnum = any(g.tgattr::int2[])
      where g.tgrelid = 'patrons'::regclass and g.tgname = 'patrons_line_digest' order by a.attname`.execute(t.db);
    expect(r.rows.map((x) => x.name)).toEqual(COLUMNS.patrons.map((c) => c.name).sort());
  });
});
