// Bulk loads drop the written tables' foreign keys and plain secondary indexes (payments:
// allocations' too, and charges' primary key when most charges are paid) and build them again: afterwards every index and constraint is exactly
// as before, the indexes are valid and used, a refused bulk load leaves them untouched, and
// what was written is what a row-by-row import writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { importFile } from '../src/services/imports.ts';
import { ValidationError } from '../src/domain/errors.ts';

let t: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'arrears-bulk-load-'));

beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(async () => {
  await t.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function ctx(): Context {
  return { database: t, clock: fixedClock('2015-06-01T12:00:00Z'), actor: 'test' };
}

function csv(name: string, lines: string[]): string {
  const path = join(dir, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

const TABLES = ['charges', 'payments', 'allocations'];

/** Every index and constraint of the tables a charges or payments import writes. */
async function schemaOf(db = t, tables = TABLES): Promise<{ indexes: string[]; constraints: string[] }> {
  const indexes = await sql<{ d: string }>`
    select i.relname || ': ' || pg_get_indexdef(x.indexrelid) || case when x.indisvalid then '' else ' INVALID' end as d
    from pg_index x join pg_class i on i.oid = x.indexrelid
    where x.indrelid = any(${tables}::regclass[]) order by 1`.execute(db.db);
  const constraints = await sql<{ d: string }>`
    select conname || ': ' || pg_get_constraintdef(oid) || case when convalidated then '' else ' NOT VALID' end as d
    from pg_constraint where conrelid = any(${tables}::regclass[]) order by 1`.execute(db.db);
  return { indexes: indexes.rows.map((r) => r.d), constraints: constraints.rows.map((r) => r.d) };
}

const chargeLines = (prefix: string, n: number) => {
  const lines = ['id,patron_id,library,reason,amount,assessed_at'];
  for (let i = 0; i < n; i++) lines.push(`${prefix}C${i},${prefix}P${i % 3},${prefix}LIB,overdue,2.${String(i % 100).padStart(2, '0')},2015-03-01T12:00:00`);
  return lines;
};

describe('bulk loads', () => {
  beforeAll(async () => {
    for (const prefix of ['B', 'R']) {
      await importFile(ctx(), 'libraries', csv(`${prefix}-libraries.csv`, ['code,name,time_zone', `${prefix}LIB,Branch,America/Chicago`]));
      await importFile(ctx(), 'patrons', csv(`${prefix}-patrons.csv`, ['id,home_library,ptype', `${prefix}P0,${prefix}LIB,1`, `${prefix}P1,${prefix}LIB,1`, `${prefix}P2,${prefix}LIB,1`]));
    }
  });

  it('leave every index and constraint of charges, payments and allocations as it was, and the indexes in use', async () => {
    const before = await schemaOf();
    expect(before.indexes.some((d) => d.startsWith('charges_patron:'))).toBe(true);
    expect(before.indexes.some((d) => d.startsWith('allocations_patron:'))).toBe(true);
    // Deferrable keys (migration 330) come back as they were.
    expect(before.constraints).toContain('charges_patron_id_fkey: FOREIGN KEY (patron_id) REFERENCES patrons(id) DEFERRABLE');
    // Bulk (every row counts as a bulk load) and row by row: the same files, the same result.
    const bulk = { bulkRows: 1, batchRows: 7 };
    const rows = { bulkRows: 1_000_000 };
    expect((await importFile(ctx(), 'charges', csv('b-charges.csv', chargeLines('B', 40)), bulk)).inserted).toBe(40);
    expect((await importFile(ctx(), 'charges', csv('r-charges.csv', chargeLines('R', 40)), rows)).inserted).toBe(40);
    const payments = (prefix: string) => [
      'id,patron_id,charge_id,type,amount,paid_at',
      `${prefix}Y1,${prefix}P0,${prefix}C0,payment,1.00,2015-04-01T10:00:00`,
      `${prefix}Y2,${prefix}P1,,payment,3.50,2015-04-02T10:00:00`,
      `${prefix}Y3,${prefix}P2,,waive,2.02,2015-04-03T10:00:00`,
    ];
    const allocationsKey = async () => (await sql<{ oid: number }>`select oid::int as oid from pg_constraint where conrelid = 'allocations'::regclass and contype = 'p'`.execute(t.db)).rows[0]?.oid;
    const key = await allocationsKey();
    expect((await importFile(ctx(), 'payments', csv('b-payments.csv', payments('B')), bulk)).inserted).toBe(3);
    // Allocations' primary key is built again after them (a new constraint), like their other indexes.
    expect(await allocationsKey()).not.toBe(key);
    expect((await importFile(ctx(), 'payments', csv('r-payments.csv', payments('R')), rows)).inserted).toBe(3);
    expect(await schemaOf()).toEqual(before);

    const allocations = async (prefix: string) =>
      (
        await sql<{ payment_id: string; charge_id: string; patron_id: string; amount_cents: string }>`
          select substr(payment_id, 2) as payment_id, substr(charge_id, 2) as charge_id, substr(patron_id, 2) as patron_id, amount_cents::text
          from allocations where patron_id like ${prefix + '%'} order by 1, 2`.execute(t.db)
      ).rows;
    expect((await allocations('B')).length).toBe(4);
    expect(await allocations('B')).toEqual(await allocations('R'));
    // The rebuilt index finds the rows (a bitmap or index scan over charges_patron).
    const found = await sql<{ n: number }>`select count(*)::int as n from charges where patron_id = 'BP1'`.execute(t.db);
    expect(found.rows[0]!.n).toBe(13);
    // And the foreign keys are back in force.
    await expect(sql`insert into allocations (payment_id, charge_id, patron_id, amount_cents) values ('BY1', 'NOPE', 'BP0', 1)`.execute(t.db)).rejects.toThrow(/allocations_charge_id_fkey/);
  });

  it('counts the rows it writes, not the rows it reads: a file re-imported unchanged keeps the keys and indexes where they are', async () => {
    // A foreign key dropped and added back, or an index built again, is a new object (the primary key stays in any case).
    const objects = async () =>
      (
        await sql<{ oid: number }>`
          select oid::int as oid from pg_constraint where conrelid = 'charges'::regclass and contype = 'f'
          union all select indexrelid::int from pg_index where indrelid = 'charges'::regclass and not indisprimary order by 1`.execute(t.db)
      ).rows.map((r) => r.oid);
    const before = await objects();
    const again = await importFile(ctx(), 'charges', csv('u-charges.csv', chargeLines('B', 40)), { bulkRows: 1 });
    expect(again).toMatchObject({ inserted: 0, updated: 0, unchanged: 40 });
    expect(await objects()).toEqual(before);
    const loaded = await importFile(ctx(), 'charges', csv('n-charges.csv', [...chargeLines('N', 80).slice(0, 1), ...chargeLines('B', 80).slice(1)]), { bulkRows: 1 });
    expect(loaded).toMatchObject({ inserted: 40, unchanged: 40 });
    expect((await objects()).some((oid) => before.includes(oid))).toBe(false);
  });

  it("a load of payments that pays most charges builds charges' primary key again too, exactly as it was and in force", async () => {
    const primaryKey = async () => (await sql<{ oid: number }>`select oid::int as oid from pg_constraint where conrelid = 'charges'::regclass and contype = 'p'`.execute(t.db)).rows[0]?.oid;
    const before = await schemaOf();
    const key = await primaryKey();
    const open = await sql<{ id: string; patron_id: string; left: number }>`
      select id, patron_id, (amount_cents - paid_cents)::int as left from charges where amount_cents > paid_cents order by id`.execute(t.db);
    const total = await sql<{ n: number }>`select count(*)::int as n from charges`.execute(t.db);
    // Most charges are paid: every charge gets a new row version.
    expect(open.rows.length * 4).toBeGreaterThanOrEqual(total.rows[0]!.n);
    const money = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
    const lines = ['id,patron_id,charge_id,type,amount,paid_at', ...open.rows.map((c, i) => `K${i},${c.patron_id},${c.id},payment,${money(c.left)},2015-05-01T10:00:00`)];
    expect((await importFile(ctx(), 'payments', csv('k-payments.csv', lines), { bulkRows: 1 })).inserted).toBe(open.rows.length);
    expect(await schemaOf()).toEqual(before);
    // Dropped and added back (a new constraint), which is what this test is about.
    expect(await primaryKey()).not.toBe(key);
    const unpaid = await sql<{ n: number }>`select count(*)::int as n from charges where paid_cents <> amount_cents`.execute(t.db);
    expect(unpaid.rows[0]!.n).toBe(0);
    await expect(
      sql`insert into charges (id, patron_id, library, reason, amount_cents, assessed_at, assessed_on) select id, patron_id, library, reason, amount_cents, assessed_at, assessed_on from charges limit 1`.execute(t.db),
    ).rejects.toThrow(/charges_pkey/);
  });

  it('a refused bulk load leaves every index and constraint as it was', async () => {
    const before = await schemaOf();
    const lines = chargeLines('X', 30);
    lines.push('XBAD,NOBODY,BLIB,overdue,1.00,2015-03-01T12:00:00');
    const refused = await importFile(ctx(), 'charges', csv('x-charges.csv', lines), { bulkRows: 1 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ValidationError);
    expect(await schemaOf()).toEqual(before);
    const written = await sql<{ n: number }>`select count(*)::int as n from charges where id like 'X%'`.execute(t.db);
    expect(written.rows[0]!.n).toBe(0);
  });
});

describe('a first load into an empty table', () => {
  let f: TestDatabase;
  const fctx = (): Context => ({ database: f, clock: fixedClock('2015-06-01T12:00:00Z'), actor: 'test' });
  const ALL = ['libraries', 'patrons', 'items', 'charges', 'payments', 'allocations', 'exclusions', 'referrals'];
  beforeAll(async () => {
    f = await freshDatabase();
    await importFile(fctx(), 'libraries', csv('f-libraries.csv', ['code,name,time_zone', 'FLIB,Branch,America/Chicago']));
  });
  afterAll(async () => {
    await f.dispose();
  });
  /** A constraint's identity: one dropped and added back is a new one. */
  const constraintOid = async (table: string, name: string) =>
    (await sql<{ oid: number }>`select oid::int as oid from pg_constraint where conrelid = ${table}::regclass and conname = ${name}`.execute(f.db)).rows[0]?.oid;

  it("builds its primary key once after the rows, with the keys that reference it from empty tables, exactly as they were and in force", async () => {
    const before = await schemaOf(f, ALL);
    const [key, fromItems] = [await constraintOid('patrons', 'patrons_pkey'), await constraintOid('items', 'items_patron_id_fkey')];
    const patrons = ['id,home_library,ptype', ...Array.from({ length: 30 }, (_, i) => `FP${i},FLIB,1`)];
    expect((await importFile(fctx(), 'patrons', csv('f-patrons.csv', patrons), { bulkRows: 1 })).inserted).toBe(30);
    expect(await schemaOf(f, ALL)).toEqual(before);
    expect(await constraintOid('patrons', 'patrons_pkey')).not.toBe(key);
    expect(await constraintOid('items', 'items_patron_id_fkey')).not.toBe(fromItems);
    await expect(sql`insert into patrons (id, home_library, ptype) values ('FP3', 'FLIB', '1')`.execute(f.db)).rejects.toThrow(/patrons_pkey/);
    await expect(sql`insert into items (id, status, patron_id) values ('FI0', 'available', 'NOBODY')`.execute(f.db)).rejects.toThrow(/items_patron_id_fkey/);
  });

  it('names repeated keys of a file loaded into an empty table, found as its primary key is built, and writes nothing', async () => {
    const before = await schemaOf(f, ALL);
    const items = ['id,status,patron_id', 'FI3,available,', 'FI1,available,', 'FI2,checked_out,FP2', 'FI1,lost,', 'FI3,missing,'];
    for (const bulkRows of [1, 1_000_000]) {
      const err = await importFile(fctx(), 'items', csv('f-items-twice.csv', items), { bulkRows }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).problems.map((p) => `${p.row} ${p.reason}`)).toEqual(['5 duplicate id "FI1" (also on row 3)', '6 duplicate id "FI3" (also on row 2)']);
      expect((await sql<{ n: number }>`select count(*)::int as n from items`.execute(f.db)).rows[0]!.n).toBe(0);
      expect(await schemaOf(f, ALL)).toEqual(before);
    }
    // With another problem in the file, every one is named together.
    const err = await importFile(fctx(), 'items', csv('f-items-bad.csv', [...items, 'FI4,borrowed,']), { bulkRows: 1 }).catch((e: unknown) => e);
    expect((err as ValidationError).problems.map((p) => `${p.row} ${p.column}`)).toEqual(['5 id', '6 id', '7 status']);
  });

  it('names rows of a file loaded into an empty table that name no patron or item, found as its foreign keys are added back, and writes nothing', async () => {
    const before = await schemaOf(f, ALL);
    const items = ['id,status,patron_id', 'FI1,checked_out,FP1', 'FI2,checked_out,NOBODY', 'FI3,available,'];
    const charges = ['id,patron_id,item_id,library,reason,amount,assessed_at', 'FC1,FP1,,FLIB,overdue,1.00,2015-03-01T12:00:00', 'FC2,GHOST,,FLIB,overdue,1.00,2015-03-01T12:00:00', 'FC3,FP2,NOTHING,FLIB,overdue,1.00,2015-03-01T12:00:00'];
    // Bulk (the keys dropped and added back) and row by row (the keys in place).
    for (const bulkRows of [1, 1_000_000]) {
      const err = await importFile(fctx(), 'items', csv('f-items-nobody.csv', items), { bulkRows }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).problems.map((p) => `${p.row} ${p.column} ${p.reason}`)).toEqual(['3 patron_id unknown patron "NOBODY"']);
      const refused = await importFile(fctx(), 'charges', csv('f-charges-ghost.csv', charges), { bulkRows }).catch((e: unknown) => e);
      expect((refused as ValidationError).problems.map((p) => `${p.row} ${p.column} ${p.reason}`)).toEqual(['3 patron_id unknown patron "GHOST"', '4 item_id unknown item "NOTHING"']);
      for (const table of ['items', 'charges']) expect((await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(f.db)).rows[0]!.n).toBe(0);
      expect(await schemaOf(f, ALL)).toEqual(before);
    }
    // With another problem in the file, every one is named together.
    const err = await importFile(fctx(), 'items', csv('f-items-nobody-bad.csv', [...items, 'FI4,borrowed,']), { bulkRows: 1 }).catch((e: unknown) => e);
    expect((err as ValidationError).problems.map((p) => `${p.row} ${p.column}`)).toEqual(['3 patron_id', '5 status']);
  });

  it('takes back rows already copied straight into the table when a later row is bad, and names every problem as the staged reading does', async () => {
    const before = await schemaOf(f, ALL);
    // Copied in batches of 7 (a first load goes straight into the empty table); row 41 repeats
    // row 2's id and row 46 has no such status: both come after rows already copied.
    const items = ['id,status,patron_id', ...Array.from({ length: 50 }, (_, i) => (i === 39 ? 'DI0,available,' : i === 44 ? `DI${i},borrowed,` : `DI${i},available,`))];
    for (const bulkRows of [1, 1_000_000]) {
      const err = await importFile(fctx(), 'items', csv('d-items.csv', items), { bulkRows, batchRows: 7 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).problems.map((p) => `${p.file} ${p.row} ${p.column}`)).toEqual(['d-items.csv 41 id', 'd-items.csv 46 status']);
      expect((await sql<{ n: number }>`select count(*)::int as n from items`.execute(f.db)).rows[0]!.n).toBe(0);
      expect(await schemaOf(f, ALL)).toEqual(before);
    }
    // The same file mended loads whole, in force under its keys.
    const mended = items.map((l, i) => (i === 40 ? 'DI39,available,' : i === 45 ? 'DI44,lost,' : l));
    expect(await importFile(fctx(), 'items', csv('d-items-ok.csv', mended), { bulkRows: 1, batchRows: 7 })).toMatchObject({ inserted: 50, updated: 0, unchanged: 0 });
    expect(await schemaOf(f, ALL)).toEqual(before);
    await expect(sql`insert into items (id, status) values ('DI7', 'available')`.execute(f.db)).rejects.toThrow(/items_pkey/);
    expect((await importFile(fctx(), 'items', csv('d-items-ok.csv', mended))).unchanged).toBe(50);
    await sql`delete from items`.execute(f.db);
  });

  it('keeps the primary key in place while a table that references it has rows', async () => {
    const charges = ['id,patron_id,library,reason,amount,assessed_at', ...Array.from({ length: 30 }, (_, i) => `FC${i},FP${i},FLIB,overdue,2.00,2015-03-01T12:00:00`)];
    expect((await importFile(fctx(), 'charges', csv('f-charges.csv', charges), { bulkRows: 1 })).inserted).toBe(30);
    const before = await schemaOf(f, ALL);
    // Items are empty, but charges (which reference them) are not: their key is not dropped.
    const key = await constraintOid('items', 'items_pkey');
    const items = ['id,status,patron_id', ...Array.from({ length: 30 }, (_, i) => `FI${i},checked_out,FP${i}`)];
    expect((await importFile(fctx(), 'items', csv('f-items.csv', items), { bulkRows: 1 })).inserted).toBe(30);
    expect(await constraintOid('items', 'items_pkey')).toBe(key);
    expect(await schemaOf(f, ALL)).toEqual(before);
  });

  it("copies charges straight into their empty table with each one's assessed_on as SQL derives it, and gives way to the staged reading for an unknown library", async () => {
    const g = await freshDatabase();
    const gctx = (): Context => ({ database: g, clock: fixedClock('2015-06-01T12:00:00Z'), actor: 'test' });
    try {
      await importFile(gctx(), 'libraries', csv('g-libraries.csv', ['code,name,time_zone', 'CHI,Chicago,America/Chicago', 'KOL,Kolkata,Asia/Kolkata']));
      await importFile(gctx(), 'patrons', csv('g-patrons.csv', ['id,home_library,ptype', 'GP1,CHI,1']));
      // Wall-clock times and instants, late evenings that are the next day in UTC, and a day
      // Chicago's clocks change (read the general way, still copied straight in).
      const times = ['2024-12-10T22:09:09', '2024-12-10T03:00:00Z', '2024-12-10T20:00:00+00:00', '2024-12-10T23:59:59-06:00', '2024-03-10T02:30:00', '2024-03-10T12:00:00Z', '2024-11-03 01:30:00'];
      const lines = (library: (i: number) => string) => ['id,patron_id,library,reason,amount,assessed_at', ...Array.from({ length: 28 }, (_, i) => `GC${i},GP1,${library(i)},overdue,1.00,${times[i % times.length]}`)];
      const phases: string[] = [];
      const bad = lines((i) => (i === 20 ? 'NOWHERE' : i % 2 ? 'KOL' : 'CHI'));
      for (const bulkRows of [1, 1_000_000]) {
        const err = await importFile(gctx(), 'charges', csv('g-charges-bad.csv', bad), { bulkRows, batchRows: 5 }).catch((e: unknown) => e);
        expect((err as ValidationError).problems.map((p) => `${p.file} ${p.row} ${p.column} ${p.reason}`)).toEqual(['g-charges-bad.csv 22 library unknown library "NOWHERE"']);
        expect((await sql<{ n: number }>`select count(*)::int as n from charges`.execute(g.db)).rows[0]!.n).toBe(0);
      }
      const result = await importFile(gctx(), 'charges', csv('g-charges.csv', lines((i) => (i % 2 ? 'KOL' : 'CHI'))), { bulkRows: 1, batchRows: 5, onPhase: (p) => phases.push(p) });
      expect(result).toMatchObject({ inserted: 28, updated: 0, unchanged: 0 });
      // On PostgreSQL the rows went straight in: nothing was staged to check.
      expect(phases).toEqual(g.kind === 'postgres' ? ['reading', 'writing'] : ['reading', 'checking', 'writing']);
      const stored = await sql<{ id: string; on: string; derived: string }>`
        select c.id, c.assessed_on::text as on, (c.assessed_at at time zone l.time_zone)::date::text as derived
        from charges c join libraries l on l.code = c.library order by c.id`.execute(g.db);
      expect(stored.rows).toHaveLength(28);
      for (const r of stored.rows) expect(r.on, r.id).toBe(r.derived);
      const on = Object.fromEntries(stored.rows.map((r) => [r.id, r.on]));
      expect([on.GC0, on.GC1, on.GC2, on.GC3, on.GC8]).toEqual(['2024-12-10', '2024-12-10', '2024-12-10', '2024-12-11', '2024-12-09']);
      expect((await importFile(gctx(), 'charges', csv('g-charges.csv', lines((i) => (i % 2 ? 'KOL' : 'CHI'))))).unchanged).toBe(28);
    } finally {
      await g.dispose();
    }
  });
});

// A table vacuumed while empty (a fresh install after `vacuumdb --analyze`, or a table emptied
// and vacuumed) is planned as holding one row. Looking each staged key up in it then becomes a
// nested loop over the table the same insert is filling: a scan per row, the square of the file.
// The scans are counted in pg_stat_user_tables, which a backend reports once its transaction ends.
describe('a first load into tables vacuumed while empty', () => {
  let e: TestDatabase;
  const ectx = (): Context => ({ database: e, clock: fixedClock('2015-06-01T12:00:00Z'), actor: 'test' });
  const N = 1500;
  beforeAll(async () => {
    e = await freshDatabase();
  });
  afterAll(async () => {
    await e.dispose();
  });

  async function counters(table: string): Promise<{ scans: number; inserted: number }> {
    await sql`select pg_stat_clear_snapshot()`.execute(e.db);
    const r = await sql<{ scans: number; inserted: number }>`
      select coalesce(seq_scan, 0)::int as scans, coalesce(n_tup_ins, 0)::int as inserted from pg_stat_user_tables where relid = ${table}::regclass`.execute(e.db);
    return r.rows[0] ?? { scans: 0, inserted: 0 };
  }

  /** Imports the file and returns how many times the import scanned `table` whole. */
  async function scansOf(kind: 'patrons' | 'charges' | 'payments', lines: string[]): Promise<number> {
    await sql.raw(`vacuum analyze ${kind}`).execute(e.db);
    const before = await counters(kind);
    expect((await importFile(ectx(), kind, csv(`e-${kind}.csv`, lines))).inserted).toBe(lines.length - 1);
    // The importing session reports its counters when it is next idle (within ten seconds).
    for (let waited = 0; (await counters(kind)).inserted < before.inserted + lines.length - 1 && waited < 30_000; waited += 200) {
      await new Promise((r) => setTimeout(r, 200));
    }
    const after = await counters(kind);
    expect(after.inserted).toBe(before.inserted + lines.length - 1);
    return after.scans - before.scans;
  }

  it('scans each table a few times, not once per row', async () => {
    await importFile(ectx(), 'libraries', csv('e-libraries.csv', ['code,name,time_zone', 'ELIB,Branch,America/Chicago']));
    const patrons = ['id,home_library,ptype', ...Array.from({ length: N }, (_, i) => `EP${i},ELIB,1`)];
    expect(await scansOf('patrons', patrons)).toBeLessThan(20);
    const charges = ['id,patron_id,library,reason,amount,assessed_at', ...Array.from({ length: N }, (_, i) => `EC${i},EP${i},ELIB,overdue,2.00,2015-03-01T12:00:00`)];
    expect(await scansOf('charges', charges)).toBeLessThan(20);
    const payments = ['id,patron_id,charge_id,type,amount,paid_at', ...Array.from({ length: N }, (_, i) => `EY${i},EP${i},${i % 2 ? `EC${i}` : ''},payment,1.00,2015-04-01T10:00:00`)];
    expect(await scansOf('payments', payments)).toBeLessThan(20);
  });
});

// A re-import or sync of a few rows against a table many times larger (a nightly sync's changed
// rows) looks each staged row up by key instead of hashing the whole table: the same rows must
// come out new, changed and unchanged as the whole-table comparison finds them.
describe('a few rows against an analyzed table twenty times their number', () => {
  let g: TestDatabase;
  const gctx = (): Context => ({ database: g, clock: fixedClock('2015-06-01T12:00:00Z'), actor: 'test' });
  beforeAll(async () => {
    g = await freshDatabase();
  });
  afterAll(async () => {
    await g.dispose();
  });

  it('tells new, changed and unchanged rows apart, each looked up by key', async () => {
    await importFile(gctx(), 'libraries', csv('g-libraries.csv', ['code,name,time_zone', 'GLIB,Branch,America/Chicago']));
    await importFile(gctx(), 'patrons', csv('g-patrons.csv', ['id,home_library,ptype', 'GP1,GLIB,1', 'GP2,GLIB,1']));
    const charge = (id: string, patron: string, amount: string) => `${id},${patron},GLIB,overdue,${amount},2015-03-01T12:00:00`;
    const head = 'id,patron_id,library,reason,amount,assessed_at';
    await importFile(gctx(), 'charges', csv('g-charges.csv', [head, ...Array.from({ length: 200 }, (_, i) => charge(`GC${i}`, 'GP1', '2.00'))]));
    await sql.raw('vacuum analyze charges').execute(g.db);
    const r = await importFile(gctx(), 'charges', csv('g-charges-few.csv', [head, charge('GC1', 'GP1', '2.00'), charge('GC2', 'GP1', '3.50'), charge('GC2NEW', 'GP2', '1.25')]));
    expect({ inserted: r.inserted, updated: r.updated, unchanged: r.unchanged }).toEqual({ inserted: 1, updated: 1, unchanged: 1 });
    const rows = await sql<{ id: string; amount_cents: number }>`select id, amount_cents::int from charges where id in ('GC1', 'GC2', 'GC2NEW') order by id`.execute(g.db);
    expect(rows.rows).toEqual([
      { id: 'GC1', amount_cents: 200 },
      { id: 'GC2', amount_cents: 350 },
      { id: 'GC2NEW', amount_cents: 125 },
    ]);
  });
});
