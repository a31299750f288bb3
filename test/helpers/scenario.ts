// Builds a scenario through the same doors a library uses: CSV imports, the settings
// table in its JSON form, agencies, and runs with an injected clock.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { asDate } from '../../src/domain/dates.ts';
import { fixedClock, type Context } from '../../src/services/context.ts';
import { importFile, type ImportKind } from '../../src/services/imports.ts';
import { importSettings } from '../../src/services/settings.ts';
import { addAgency } from '../../src/services/agencies.ts';
import { runReport, type RunOptions } from '../../src/services/runs.ts';
import type { TestDatabase } from './db.ts';

type Row = Record<string, string | number | null>;

function csvCell(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export class Scenario {
  private readonly dir = mkdtempSync(join(tmpdir(), 'arrears-scenario-'));
  private files = 0;
  constructor(readonly t: TestDatabase) {}

  context(at = '2015-01-01T12:00:00Z'): Context {
    return { database: this.t, clock: fixedClock(at), actor: 'test' };
  }

  /** Truncates every table but the migrations, so one database serves many scenarios. */
  async reset(): Promise<void> {
    const tables = await sql<{ tablename: string }>`
      select tablename from pg_tables where schemaname = current_schema() and tablename <> 'schema_migrations'`.execute(this.t.db);
    await sql.raw(`truncate ${tables.rows.map((r) => r.tablename).join(', ')} restart identity cascade`).execute(this.t.db);
  }

  async load(kind: ImportKind, rows: Row[]): Promise<void> {
    const header = Object.keys(rows[0]!);
    const text = [header.join(','), ...rows.map((r) => header.map((h) => csvCell(r[h] ?? null)).join(','))].join('\n') + '\n';
    const path = join(this.dir, `${kind}-${++this.files}.csv`);
    writeFileSync(path, text);
    await importFile(this.context(), kind, path);
  }

  /** One library (default zone America/Chicago) and the given patrons with sensible defaults. */
  async libraries(...libs: { code: string; time_zone?: string }[]): Promise<void> {
    await this.load('libraries', libs.map((l) => ({ code: l.code, name: `${l.code} Library`, time_zone: l.time_zone ?? 'America/Chicago' })));
  }

  /** `ptype` as the import file has it: a number or a patron category code. */
  async patrons(...ps: { id: string; home_library?: string; ptype?: number | string; patron_code?: string }[]): Promise<void> {
    await this.load(
      'patrons',
      ps.map((p) => ({
        id: p.id,
        barcode: `2100${p.id}`,
        first_name: 'Pat',
        last_name: `Ron ${p.id}`,
        address: '1 Main St',
        city: 'Springfield',
        state: 'IL',
        postal_code: '62701',
        phone: '217-555-0100',
        email: `${p.id}@example.org`,
        birth_date: '1980-05-01',
        home_library: p.home_library ?? 'MAIN',
        ptype: p.ptype ?? 1,
        patron_code: p.patron_code ?? 'ADULT',
      })),
    );
  }

  async charges(...cs: { id: string; patron_id: string; reason: string; amount: string; assessed_at: string; library?: string; item_id?: string }[]): Promise<void> {
    await this.load('charges', cs.map((c) => ({ id: c.id, patron_id: c.patron_id, item_id: c.item_id ?? '', library: c.library ?? 'MAIN', reason: c.reason, amount: c.amount, assessed_at: c.assessed_at })));
  }

  async payments(...ps: { id: string; patron_id: string; charge_id?: string; type?: string; method?: string; amount: string; paid_at: string }[]): Promise<void> {
    await this.load('payments', ps.map((p) => ({ id: p.id, patron_id: p.patron_id, charge_id: p.charge_id ?? '', type: p.type ?? 'payment', method: p.method ?? 'cash', amount: p.amount, paid_at: p.paid_at })));
  }

  async agency(name: string): Promise<void> {
    await addAgency(this.context(), { name, transferMethod: 'none' });
  }

  /** Settings entries in DESIGN.md's JSON form; minimumOwed and agency default for brevity. */
  async settings(...entries: Record<string, unknown>[]): Promise<void> {
    await importSettings(
      this.context(),
      entries.map((e, i) => ({ name: `Entry ${i + 1}`, minimumOwed: '25.00', agency: 'UMS', ...e })),
    );
  }

  run(date: string, options: Omit<RunOptions, 'reportDate'> = {}, at?: string) {
    return runReport(this.context(at ?? `${date}T08:00:00Z`), { reportDate: asDate(date), ...options });
  }

  async referred(): Promise<string[]> {
    const rows = await this.t.db.selectFrom('referrals').select('patron_id').where('status', '=', 'open').orderBy('patron_id').execute();
    return rows.map((r) => r.patron_id);
  }
}
