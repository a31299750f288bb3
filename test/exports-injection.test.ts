// CSV injection: patron names, addresses, ids, barcodes and item titles that a spreadsheet
// would run as formulas (=, +, -, @, tab, CR) go through real runs to three agencies (the
// arrears, UMS and custom layouts), updates, a return to a second agency, and every exported
// file: the stored report files, their csv and xlsx downloads (service and API), and the flags
// export. No cell of any of them may start with a formula trigger unless it is a plain number.
import ExcelJS from 'exceljs';
import { parse } from 'csv-parse/sync';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CUSTOM_FIELDS } from '../src/domain/report-layouts.ts';
import { buildServer } from '../src/http/server.ts';
import { addAgency } from '../src/services/agencies.ts';
import type { Context } from '../src/services/context.ts';
import { exportFlags, flagsCsv } from '../src/services/flags.ts';
import { renderDownload } from '../src/services/reports.ts';
import { returnAndRerefer } from '../src/services/second-agency.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

const TRIGGERS = /^[=+\-@\t\r]/;
const PLAIN_NUMBER = /^-?\d+(\.\d+)?$/;
const HOSTILE = ['=HYPERLINK("http://x","y")', '+cmd|\' /C calc\'!A0', '-1+1', '@SUM(A1:A9)', '=1+1'];
/** Only the ILS writing straight to the tables could plant these: an import trims cells. */
const HOSTILE_RAW = ['\t=tab()', '\r=cr()'];

let t: TestDatabase;
let s: Scenario;
let ctx: Context;
/** Every cell checked, and the neutralised hostile values seen, so the test cannot pass on empty files. */
let checked = 0;
const seen = new Set<string>();

function expectSafe(where: string, cells: readonly unknown[]): void {
  for (const cell of cells) {
    if (typeof cell !== 'string') continue;
    checked++;
    if (TRIGGERS.test(cell) && !PLAIN_NUMBER.test(cell)) throw new Error(`${where}: cell ${JSON.stringify(cell)} starts with a formula trigger`);
    for (const h of [...HOSTILE, ...HOSTILE_RAW]) if (cell.includes(h.replace(/^[\t\r]/, ''))) seen.add(h);
  }
}

/** An independent reading of a delimited file (not the app's own parser). */
function cellsOf(text: string, delimiter: string): string[] {
  if (delimiter === '\t') return text.split(/\r?\n/).flatMap((l) => l.split('\t'));
  return (parse(text, { delimiter, relax_column_count: true }) as string[][]).flat();
}

async function xlsxCells(where: string, body: Buffer): Promise<string[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(body as unknown as ArrayBuffer);
  const out: string[] = [];
  wb.eachSheet((ws) =>
    ws.eachRow((row) =>
      row.eachCell((cell) => {
        if (cell.formula || cell.type === ExcelJS.ValueType.Formula) throw new Error(`${where}: cell ${cell.address} is a formula`);
        out.push(String(cell.value));
      }),
    ),
  );
  return out;
}

useTestSecretKey();
beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
  ctx = s.context('2025-06-02T12:00:00Z');
  await s.libraries({ code: 'MAIN' });
  await addAgency(ctx, { name: 'Tabbed', transferMethod: 'none', layout: 'arrears' });
  await addAgency(ctx, { name: 'UMS', transferMethod: 'none', layout: 'ums' });
  await addAgency(ctx, { name: 'Own', transferMethod: 'none', layout: 'custom', layoutConfig: { fields: [...CUSTOM_FIELDS], delimiter: ';' } });
  await addAgency(ctx, { name: 'Second', transferMethod: 'none', layout: 'custom', layoutConfig: { fields: [...CUSTOM_FIELDS], delimiter: '|', header: false } });

  // Three patrons per agency (by patron type), each field carrying a hostile value.
  const patrons = [1, 2, 3].flatMap((ptype) =>
    HOSTILE.slice(0, 3).map((h, i) => ({
      id: `${h}#${ptype}${i}`,
      barcode: HOSTILE[(i + 1) % HOSTILE.length]!,
      first_name: HOSTILE[(i + 2) % HOSTILE.length]!,
      last_name: HOSTILE[(i + 3) % HOSTILE.length]!,
      address: HOSTILE[(i + 4) % HOSTILE.length]!,
      city: h,
      state: '@IL',
      postal_code: '-62701',
      phone: '+1 217 555 0100',
      email: `=${i}@example.org`,
      birth_date: '1980-05-01',
      home_library: 'MAIN',
      ptype,
      patron_code: h,
    })),
  );
  await s.load('patrons', patrons);
  await s.load(
    'items',
    patrons.map((p, i) => ({ id: `@ITEM${i}`, barcode: `-31${i}`, title: HOSTILE[i % HOSTILE.length]!, status: 'lost', patron_id: p.id, due_date: '2025-03-01' })),
  );
  await s.load(
    'charges',
    patrons.map((p, i) => ({ id: `=C${i}`, patron_id: p.id, item_id: `@ITEM${i}`, library: 'MAIN', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' })),
  );
  // Tab and CR prefixes cannot come through an import (cells are trimmed): plant them directly.
  await sql`update patrons set last_name = ${HOSTILE_RAW[0]}, address = ${HOSTILE_RAW[1]} where id like '-1+1%'`.execute(t.db);
  await sql`update patrons set first_name = ${HOSTILE_RAW[1]}, city = ${HOSTILE_RAW[0]} where id like '+cmd%'`.execute(t.db);

  await s.settings(
    { name: 'Tabbed', ptypes: [1], agency: 'Tabbed', agencyFee: '10.00' },
    { name: 'UMS', ptypes: [2], agency: 'UMS', agencyFee: '10.00' },
    { name: 'Own', ptypes: [3], agency: 'Own', agencyFee: '10.00' },
  );
  await s.run('2025-06-02');
  // Updates: a part payment for everyone, a payment in full for one patron per agency.
  await s.payments(...patrons.map((p, i) => ({ id: `=Y${i}`, patron_id: p.id, charge_id: `=C${i}`, amount: i % 3 === 0 ? '40.00' : '5.00', paid_at: '2025-06-03T10:00:00', method: '@cash' })));
  await s.run('2025-06-04');
  // A return to the second agency, reported on the next run.
  const returning = patrons.filter((p, i) => p.ptype === 3 && i % 3 !== 0).map((p) => p.id);
  await returnAndRerefer(s.context('2025-06-05T12:00:00Z'), { patronIds: returning }, 'Second');
  await s.run('2025-06-06');
});

afterAll(async () => {
  await t?.dispose();
});

describe('every exported file neutralises formula triggers', () => {
  it('stored report files of every layout and kind, and their csv and xlsx downloads', async () => {
    const files = await t.db
      .selectFrom('report_files as f')
      .innerJoin('agencies as a', 'a.id', 'f.agency_id')
      .select(['f.id', 'f.name', 'f.kind', 'f.content', 'a.layout', 'a.layout_config'])
      .orderBy('f.id')
      .execute();
    const kinds = new Set(files.map((f) => `${f.layout}/${f.kind}`));
    expect([...kinds].sort()).toEqual(expect.arrayContaining(['arrears/new', 'arrears/update', 'custom/new', 'custom/update', 'ums/new', 'ums/update']));
    for (const f of files) {
      const config = (typeof f.layout_config === 'string' ? JSON.parse(f.layout_config) : f.layout_config) as { delimiter?: string };
      const delimiter = f.layout === 'arrears' ? '\t' : f.layout === 'ums' ? ',' : (config.delimiter ?? ',');
      expectSafe(f.name, cellsOf(Buffer.from(f.content).toString('utf8'), delimiter));
      const csv = await renderDownload(t.db, f.id, 'csv');
      expectSafe(csv.filename, cellsOf(csv.body.toString('utf8'), ','));
      const xlsx = await renderDownload(t.db, f.id, 'xlsx');
      expectSafe(xlsx.filename, await xlsxCells(xlsx.filename, xlsx.body));
    }
    expect(files.length).toBeGreaterThanOrEqual(7);
    expect([...seen].sort()).toEqual([...HOSTILE, ...HOSTILE_RAW].sort());
  });

  it('the flags export (service and the CLI’s text)', async () => {
    const before = checked;
    const exported = await exportFlags(t.db);
    expect(exported.patrons.length).toBeGreaterThan(5);
    expectSafe('flags.csv', cellsOf(flagsCsv(exported.patrons), ','));
    expect(checked - before).toBeGreaterThan(exported.patrons.length * 2);
  });

  it('the same files through the API: downloads and the flags csv', async () => {
    await addUser(ctx, { username: 'reader', password: null, roles: ['viewer'] });
    const { token } = await createToken(ctx, 'reader', 'export check');
    const app = await buildServer(ctx);
    try {
      const headers = { authorization: `Bearer ${token}` };
      const flags = await app.inject({ url: '/api/flags?format=csv', headers });
      expect(flags.statusCode).toBe(200);
      expectSafe('GET /api/flags?format=csv', cellsOf(flags.body, ','));
      const ids = await t.db.selectFrom('report_files').select('id').execute();
      for (const { id } of ids) {
        const csv = await app.inject({ url: `/api/files/${id}/download?format=csv`, headers });
        expect(csv.statusCode).toBe(200);
        expectSafe(`GET /api/files/${id}/download?format=csv`, cellsOf(csv.body, ','));
        const xlsx = await app.inject({ url: `/api/files/${id}/download?format=xlsx`, headers });
        expectSafe(`GET /api/files/${id}/download?format=xlsx`, await xlsxCells('api xlsx', xlsx.rawPayload));
      }
    } finally {
      await app.close();
    }
    console.log(`exports-injection: ${checked} exported cells checked`);
  });
});
