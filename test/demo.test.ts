import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isTimeZone, parseDateTime } from '../src/domain/dates.ts';
import { ValidationError } from '../src/domain/errors.ts';
import { COLUMNS, IMPORT_KINDS, type ImportKind } from '../src/domain/import-formats.ts';
import { parseMoney } from '../src/domain/money.ts';
import { validateSettingsTable } from '../src/domain/settings-validation.ts';
import { fixedClock } from '../src/services/context.ts';
import { DEMO_COLUMNS, demoAgencies, demoSettings, loadDemo, writeDemoCsv, type DemoFiles } from '../src/services/demo.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';

type Row = Record<string, string>;

const AS_OF = '2025-03-15';
const OPTIONS = { patrons: 400, seed: 7, asOf: AS_OF };

async function sha256(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function hashes(files: DemoFiles): Promise<Record<string, string>> {
  return Object.fromEntries(await Promise.all(files.files.map(async (f) => [f.kind, await sha256(f.path)] as const)));
}

const cents = (text: string | undefined): number => {
  const c = parseMoney(text ?? '');
  if (c === null) throw new Error(`not an amount: ${text}`);
  return c;
};

describe('the demo consortium files', () => {
  let dir: string;
  let written: DemoFiles;
  const rows = {} as Record<ImportKind, Row[]>;
  const headers = {} as Record<ImportKind, string[]>;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'arrears-demo-test-'));
    written = await writeDemoCsv(join(dir, 'a'), OPTIONS);
    for (const f of written.files) {
      const text = await readFile(f.path, 'utf8');
      headers[f.kind] = text.slice(0, text.indexOf('\n')).split(',');
      rows[f.kind] = parse(text, { columns: true }) as Row[];
    }
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('are byte-for-byte the same for the same seed and date, and differ for another seed', async () => {
    const first = await hashes(written);
    const again = await writeDemoCsv(join(dir, 'b'), OPTIONS);
    expect(await hashes(again)).toEqual(first);
    const other = await hashes(await writeDemoCsv(join(dir, 'c'), { ...OPTIONS, seed: 8 }));
    for (const kind of ['patrons', 'items', 'charges', 'payments'] as const) expect(other[kind]).not.toBe(first[kind]);
  });

  it('are written in the import formats, in import order, with the counts they report', () => {
    expect(written.files.map((f) => f.kind)).toEqual([...IMPORT_KINDS]);
    for (const kind of IMPORT_KINDS) {
      expect(headers[kind]).toEqual([...DEMO_COLUMNS[kind]]);
      expect(headers[kind]).toEqual(COLUMNS[kind].map((c) => c.name));
      expect(rows[kind].length).toBe(written.rows[kind]);
    }
    expect(written.rows.patrons).toBe(400);
    expect(written.rows.libraries).toBe(10);
  });

  it('has libraries in seven IANA time zones, including two without daylight saving time', () => {
    const zones = new Set(rows.libraries.map((l) => l.time_zone));
    expect(zones.size).toBe(7);
    for (const z of zones) expect(isTimeZone(z ?? '')).toBe(true);
    expect(zones).toContain('Pacific/Honolulu');
    expect(zones).toContain('America/Phoenix');
    expect(rows.libraries.map((l) => l.code)).toContain('MAIN');
  });

  it('has every item status and every charge reason except the agency fee, which the engine charges', () => {
    expect(new Set(rows.items.map((i) => i.status))).toEqual(new Set(['available', 'checked_out', 'lost', 'missing', 'withdrawn', 'claims_returned']));
    expect(new Set(rows.charges.map((c) => c.reason))).toEqual(new Set(['overdue', 'replacement', 'processing', 'manual', 'damage']));
    const checkedOut = rows.items.filter((i) => i.status === 'checked_out');
    expect(checkedOut.every((i) => i.patron_id !== '' && i.due_date !== '')).toBe(true);
    expect(rows.items.filter((i) => i.status === 'available').every((i) => i.patron_id === '')).toBe(true);
  });

  it('has realistic patrons: names beyond ASCII, apostrophes and hyphens, children and adults, several PTYPEs and codes', () => {
    const names = rows.patrons.flatMap((p) => [p.first_name ?? '', p.last_name ?? '']);
    expect(names.some((n) => /[^ -~]/.test(n))).toBe(true);
    expect(names.some((n) => n.includes("'"))).toBe(true);
    expect(names.some((n) => n.includes('-'))).toBe(true);
    expect(new Set(rows.patrons.map((p) => p.patron_code))).toEqual(new Set(['ADULT', 'JUV', 'STAFF', 'OUTREACH']));
    expect(new Set(rows.patrons.map((p) => p.ptype))).toEqual(new Set(['1', '2', '3', '4', '10', '20']));
    const ages = rows.patrons.map((p) => Number(AS_OF.slice(0, 4)) - Number((p.birth_date ?? '').slice(0, 4)));
    expect(ages.some((a) => a < 13)).toBe(true);
    expect(ages.some((a) => a > 65)).toBe(true);
    expect(rows.patrons.filter((p) => p.patron_code === 'JUV').every((p) => p.ptype === '2' || p.ptype === '3')).toBe(true);
    expect(rows.patrons.some((p) => (p.address ?? '').includes(', Apt '))).toBe(true);
    // What the UMS file has columns for: some patrons have a mobile, a few alternate phones or a PO box.
    for (const field of ['mobile', 'alt_phone_1', 'alt_phone_2', 'address2'] as const) expect(rows.patrons.some((p) => (p[field] ?? '') !== '')).toBe(true);
    expect(rows.patrons.every((p) => p.adult_or_child === '')).toBe(true);
    expect(new Set(rows.patrons.map((p) => p.home_library)).size).toBeGreaterThanOrEqual(8);
  });

  it('posts charges over the two years up to the as-of date, at every library, some late in the evening', () => {
    const days = rows.charges.map((c) => (c.assessed_at ?? '').slice(0, 10)).sort();
    expect(days[0]! >= '2023-03-17').toBe(true);
    expect(days.at(-1)! <= AS_OF).toBe(true);
    expect(days[0]! < '2023-05-01').toBe(true);
    expect(new Set(rows.charges.map((c) => c.library)).size).toBe(10);
    const lateHawaii = rows.charges.filter((c) => c.library === 'HILO' && Number((c.assessed_at ?? '').slice(11, 13)) >= 21);
    expect(lateHawaii.length).toBeGreaterThan(5);
    // No offset: the posting library's wall-clock time, as the import format defines.
    expect(rows.charges.every((c) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(c.assessed_at ?? ''))).toBe(true);
  });

  it('never pays more than is outstanding, never before the charge, never after the as-of date', () => {
    const zone = new Map(rows.libraries.map((l) => [l.code, l.time_zone!]));
    const charges = new Map(rows.charges.map((c) => [c.id!, c]));
    const open = new Map(rows.charges.map((c) => [c.id!, cents(c.amount)]));
    const owed = new Map<string, number>();
    const latestCharge = new Map<string, number>();
    for (const c of rows.charges) {
      owed.set(c.patron_id!, (owed.get(c.patron_id!) ?? 0) + cents(c.amount));
      const at = parseDateTime(c.assessed_at!, zone.get(c.library!)!)!.getTime();
      latestCharge.set(c.patron_id!, Math.max(latestCharge.get(c.patron_id!) ?? 0, at));
    }
    const endOfAsOf = parseDateTime(`${AS_OF}T23:59:59`, 'Pacific/Honolulu')!.getTime();
    const wrong: string[] = [];
    let [partial, onAccount] = [0, 0];
    for (const p of rows.payments) {
      const amount = cents(p.amount);
      const paidAt = parseDateTime(p.paid_at!, 'UTC')!.getTime();
      if (amount <= 0) wrong.push(`${p.id}: not positive`);
      if (paidAt > endOfAsOf) wrong.push(`${p.id}: after the as-of date`);
      if (p.charge_id) {
        const charge = charges.get(p.charge_id)!;
        if (charge.patron_id !== p.patron_id) wrong.push(`${p.id}: another patron's charge`);
        if (paidAt <= parseDateTime(charge.assessed_at!, zone.get(charge.library!)!)!.getTime()) wrong.push(`${p.id}: before its charge`);
        const left = open.get(p.charge_id)!;
        if (amount > left) wrong.push(`${p.id}: more than the charge's balance`);
        if (p.type === 'payment' && amount < left) partial++;
        open.set(p.charge_id, left - amount);
      } else {
        onAccount++;
        if (paidAt <= latestCharge.get(p.patron_id!)!) wrong.push(`${p.id}: on account before the last charge`);
        if (amount > owed.get(p.patron_id!)!) wrong.push(`${p.id}: more than the patron owes`);
      }
      owed.set(p.patron_id!, owed.get(p.patron_id!)! - amount);
    }
    expect(wrong).toEqual([]);
    expect(partial).toBeGreaterThan(20);
    expect(onAccount).toBeGreaterThan(0);
    expect(new Set(rows.payments.map((p) => p.type))).toEqual(new Set(['payment', 'waive', 'writeoff']));
    const fullyPaid = rows.charges.filter((c) => open.get(c.id!) === 0);
    expect(fullyPaid.length).toBeGreaterThan(rows.charges.length / 2);
    expect([...owed.values()].reduce((s, v) => s + v, 0)).toBe(written.totals.outstanding);
  });

  it('leaves most patrons owing nothing or little and a minority owing enough in item fees to be referred', () => {
    const charges = new Map(rows.charges.map((c) => [c.id!, c]));
    const balance = new Map<string, number>(rows.patrons.map((p) => [p.id!, 0]));
    const itemFees = new Map<string, number>();
    const isItemFee = (reason: string | undefined) => reason === 'replacement' || reason === 'processing';
    for (const c of rows.charges) {
      balance.set(c.patron_id!, balance.get(c.patron_id!)! + cents(c.amount));
      if (isItemFee(c.reason)) itemFees.set(c.patron_id!, (itemFees.get(c.patron_id!) ?? 0) + cents(c.amount));
    }
    for (const p of rows.payments) {
      balance.set(p.patron_id!, balance.get(p.patron_id!)! - cents(p.amount));
      if (p.charge_id && isItemFee(charges.get(p.charge_id)?.reason)) itemFees.set(p.patron_id!, itemFees.get(p.patron_id!)! - cents(p.amount));
    }
    const owing = [...balance.values()];
    expect(owing.filter((b) => b === 0).length).toBeGreaterThan(400 * 0.45);
    expect(owing.filter((b) => b < 2500).length).toBeGreaterThan(400 * 0.85);
    expect(owing.filter((b) => b > 0).length).toBe(written.totals.patronsOwing);
    const referable = [...itemFees.values()].filter((f) => f >= 2500).length;
    expect(referable).toBeGreaterThanOrEqual(8);
    expect(referable).toBeLessThanOrEqual(40);
  });

  it('refuses impossible options, naming the field', async () => {
    const bad = [
      { ...OPTIONS, patrons: 0 },
      { ...OPTIONS, patrons: 2.5 },
      { ...OPTIONS, seed: -1 },
      { ...OPTIONS, asOf: '2025-02-30' },
    ];
    const fields: string[] = [];
    for (const options of bad) {
      const err = await writeDemoCsv(join(dir, 'bad'), options).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      fields.push(...(err as ValidationError).problems.map((p) => p.field ?? ''));
    }
    expect(fields).toEqual(['patrons', 'patrons', 'seed', 'asOf']);
  });
});

describe('the demo settings and agencies', () => {
  it('are a valid settings table naming only the demo agencies and libraries', () => {
    const settings = demoSettings();
    const result = validateSettingsTable(settings);
    expect(result.problems).toEqual([]);
    expect(result.entries?.map((e) => e.name)).toEqual(['Central (Polaris rules)', 'East and West (Sierra window)', 'All other patrons']);
    const agencies = new Set(demoAgencies().map((a) => a.name));
    for (const s of settings) {
      const named = typeof s.agency === 'string' ? [s.agency] : s.agency.among;
      for (const a of named) expect(agencies).toContain(a);
      expect(s.exemptPatronCodes).toEqual(['STAFF']);
    }
    expect(settings[0]).toMatchObject({ countedCharges: 'item_fees', feeAgeDays: 30, minimumOwed: '25.00', agencyFee: '10.00' });
    expect(settings[2]?.agency).toEqual({ strategy: 'least_referred_debt', among: ['Unique Management Services', 'Second Look Recovery'] });
  });
});

describe('loading the demo', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase();
  });
  afterAll(() => t.dispose());

  it('imports every file cleanly; counts and money in the database match what was generated', async () => {
    const ctx = { database: t, clock: fixedClock('2025-03-15T18:00:00Z'), actor: 'test' };
    const progress = new Set<string>();
    const summary = await loadDemo(ctx, { patrons: 120, seed: 5, asOf: AS_OF, onProgress: (kind) => progress.add(kind) });
    expect(summary.rows.patrons).toBe(120);
    const r = await sql<{ libraries: number; patrons: number; items: number; charges: number; payments: number; charged: number; allocated: number }>`
      select (select count(*) from libraries) as libraries, (select count(*) from patrons) as patrons,
             (select count(*) from items) as items, (select count(*) from charges) as charges,
             (select count(*) from payments) as payments,
             (select sum(amount_cents)::bigint from charges) as charged,
             (select sum(amount_cents)::bigint from allocations) as allocated`.execute(t.db);
    expect(r.rows[0]).toEqual({ ...summary.rows, charged: summary.totals.charged, allocated: summary.totals.settled });
    expect([...progress].sort()).toEqual([...IMPORT_KINDS].sort());
  });

  it('keeps a late-evening charge in Hawaii on its local date, not the next day in UTC', async () => {
    const late = await t.db
      .selectFrom('charges')
      .select(['assessed_on', sql<string>`to_char(assessed_at at time zone 'Pacific/Honolulu', 'YYYY-MM-DD"T"HH24:MI')`.as('local')])
      .where('library', '=', 'HILO')
      .where(sql<boolean>`extract(hour from assessed_at at time zone 'Pacific/Honolulu') >= 23`)
      .orderBy('id')
      .limit(5)
      .execute();
    expect(late.length).toBeGreaterThan(0);
    for (const c of late) expect(c.assessed_on).toBe(c.local.slice(0, 10));
  });
});
