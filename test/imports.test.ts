import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { sql } from 'kysely';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { paidMismatches } from './helpers/ledger-invariants.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { importFile, MAX_PROBLEMS, type ImportKind } from '../src/services/imports.ts';
import { createStaging } from '../src/services/imports/kinds.ts';
import { dropStaging, mergeStaged } from '../src/services/imports/merge.ts';
import { withImportSession } from '../src/services/imports/session.ts';
import { COLUMNS } from '../src/domain/import-formats.ts';
import { describeProblem, ValidationError, type Problem } from '../src/domain/errors.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures', 'imports');
const ROOT = join(import.meta.dirname, '..');

let t: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'arrears-imports-'));

beforeAll(async () => {
  t = await freshDatabase();
});
afterAll(async () => {
  // Whatever the tests above wrote, paid_cents still equals each charge's allocations.
  expect(await paidMismatches(t)).toEqual([]);
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

async function xlsx(name: string, rows: unknown[][], formats: Record<string, string> = {}): Promise<string> {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('Sheet1');
  for (const r of rows) ws.addRow(r);
  for (const [cell, fmt] of Object.entries(formats)) ws.getCell(cell).numFmt = fmt;
  const path = join(dir, name);
  await wb.xlsx.writeFile(path);
  return path;
}

/** The import must fail with exactly these problems. */
async function refused(kind: ImportKind, path: string): Promise<Problem[]> {
  try {
    await importFile(ctx(), kind, path);
  } catch (err) {
    if (err instanceof ValidationError) return err.problems;
    throw err;
  }
  throw new Error('the import was accepted');
}

async function ids(table: 'libraries' | 'patrons' | 'items' | 'charges' | 'payments', prefix: string): Promise<string[]> {
  const key = sql.ref(table === 'libraries' ? 'code' : 'id');
  const r = await sql<{ k: string }>`select ${key} as k from ${sql.table(table)} where ${key} like ${prefix + '%'} order by ${key}`.execute(t.db);
  return r.rows.map((x) => x.k);
}

const D = (iso: string) => new Date(iso);

describe('good imports', () => {
  it('imports every kind from CSV: local times in the posting library zone, payments allocated, one audit row per file', async () => {
    const counts = [];
    for (const kind of ['libraries', 'patrons', 'items', 'charges', 'payments'] as const) {
      const r = await importFile(ctx(), kind, join(FIXTURES, `${kind}.csv`));
      counts.push([r.kind, r.file, r.inserted, r.updated, r.skipped, r.problems.length]);
    }
    expect(counts).toEqual([
      ['libraries', 'libraries.csv', 2, 0, 0, 0],
      ['patrons', 'patrons.csv', 2, 0, 0, 0],
      ['items', 'items.csv', 2, 0, 0, 0],
      ['charges', 'charges.csv', 4, 0, 0, 0],
      ['payments', 'payments.csv', 3, 0, 0, 0],
    ]);

    const p2 = await t.db.selectFrom('patrons').selectAll().where('id', '=', 'P2').executeTakeFirstOrThrow();
    expect([p2.last_name, p2.email, p2.birth_date, p2.home_library, p2.ptype, p2.patron_code, p2.status]).toEqual(['Jones, Jr.', '', null, 'EAST', '2', '', 'active']);
    const items = await t.db.selectFrom('items').select(['id', 'status', 'patron_id', 'due_date']).where('id', 'in', ['I1', 'I2']).orderBy('id').execute();
    expect(items).toEqual([
      { id: 'I1', status: 'lost', patron_id: 'P1', due_date: '2015-01-15' },
      { id: 'I2', status: 'available', patron_id: null, due_date: null },
    ]);

    const charges = await t.db
      .selectFrom('charges')
      .select(['id', 'item_id', 'library', 'reason', 'amount_cents', 'assessed_at', 'assessed_on'])
      .where('id', 'in', ['C1', 'C2', 'C3', 'C4'])
      .orderBy('id')
      .execute();
    expect(charges).toEqual([
      { id: 'C1', item_id: 'I1', library: 'MAIN', reason: 'replacement', amount_cents: 2500, assessed_at: D('2015-03-01T16:00:00Z'), assessed_on: '2015-03-01' },
      { id: 'C2', item_id: null, library: 'EAST', reason: 'overdue', amount_cents: 150, assessed_at: D('2015-03-02T04:30:00Z'), assessed_on: '2015-03-01' },
      { id: 'C3', item_id: null, library: 'MAIN', reason: 'processing', amount_cents: 500, assessed_at: D('2015-03-02T03:30:00Z'), assessed_on: '2015-03-01' },
      { id: 'C4', item_id: null, library: 'EAST', reason: 'manual', amount_cents: 1234, assessed_at: D('2015-03-05T05:00:00Z'), assessed_on: '2015-03-05' },
    ]);

    const payments = await t.db.selectFrom('payments').select(['id', 'charge_id', 'type', 'method', 'amount_cents', 'paid_at']).where('id', 'in', ['Y1', 'Y2', 'Y3']).orderBy('id').execute();
    expect(payments).toEqual([
      { id: 'Y1', charge_id: null, type: 'payment', method: 'cash', amount_cents: 2600, paid_at: D('2015-04-01T17:00:00Z') },
      { id: 'Y2', charge_id: 'C3', type: 'waive', method: '', amount_cents: 200, paid_at: D('2015-04-02T05:00:00Z') },
      { id: 'Y3', charge_id: null, type: 'writeoff', method: 'collection agency', amount_cents: 1234, paid_at: D('2015-04-03T13:15:00Z') },
    ]);
    // The waiver to C3 goes first; Y1 then pays C1 (oldest) and the rest of... C3 (assessed before C2 as an instant).
    const allocations = await t.db.selectFrom('allocations').select(['payment_id', 'charge_id', 'patron_id', 'amount_cents']).orderBy('payment_id').orderBy('charge_id').execute();
    expect(allocations).toEqual([
      { payment_id: 'Y1', charge_id: 'C1', patron_id: 'P1', amount_cents: 2500 },
      { payment_id: 'Y1', charge_id: 'C3', patron_id: 'P1', amount_cents: 100 },
      { payment_id: 'Y2', charge_id: 'C3', patron_id: 'P1', amount_cents: 200 },
      { payment_id: 'Y3', charge_id: 'C4', patron_id: 'P2', amount_cents: 1234 },
    ]);

    const audit = await t.db.selectFrom('audit_log').select(['actor', 'action', 'entity', 'entity_id', 'after', 'at']).where('entity_id', '=', 'charges.csv').execute();
    expect(audit).toEqual([
      {
        actor: 'test',
        action: 'import.charges',
        entity: 'import',
        entity_id: 'charges.csv',
        after: { kind: 'charges', file: 'charges.csv', inserted: 4, updated: 0, unchanged: 0, skipped: 0 },
        at: D('2015-06-01T12:00:00Z'),
      },
    ]);
  });

  it('imports every kind from XLSX, with real date cells and numbers as a spreadsheet stores them', async () => {
    const results = [];
    results.push(await importFile(ctx(), 'libraries', await xlsx('libraries.xlsx', [['code', 'time_zone', 'name'], ['XWEST', 'America/Los_Angeles', 'West Branch']])));
    results.push(
      await importFile(
        ctx(),
        'patrons',
        await xlsx(
          'patrons.xlsx',
          [
            ['id', 'home_library', 'ptype', 'first_name', 'last_name', 'birth_date', 'barcode'],
            ['XP1', 'XWEST', 3, { richText: [{ text: 'Car' }, { text: 'la' }] }, 'Diaz', new Date(Date.UTC(1990, 6, 4)), 21000099],
          ],
          { F2: 'yyyy-mm-dd' },
        ),
      ),
    );
    results.push(
      await importFile(
        ctx(),
        'items',
        await xlsx('items.xlsx', [['id', 'status', 'patron_id', 'due_date', 'title'], ['XI1', 'checked_out', 'XP1', new Date(Date.UTC(2015, 1, 1)), 'Emma']], { D2: 'yyyy-mm-dd' }),
      ),
    );
    results.push(
      await importFile(
        ctx(),
        'charges',
        await xlsx(
          'charges.xlsx',
          [
            ['id', 'patron_id', 'item_id', 'library', 'reason', 'amount', 'assessed_at'],
            ['XC1', 'XP1', 'XI1', 'XWEST', 'damage', 7.5, new Date(Date.UTC(2015, 2, 10, 23, 15))],
            ['XC2', 'XP1', null, 'XWEST', 'overdue', '0.30', '2015-03-11T08:00:00Z'],
          ],
          { G2: 'yyyy-mm-dd hh:mm' },
        ),
      ),
    );
    results.push(
      await importFile(
        ctx(),
        'payments',
        await xlsx('payments.xlsx', [
          ['id', 'patron_id', 'charge_id', 'type', 'method', 'amount', 'paid_at'],
          ['XY1', 'XP1', 'XC2', 'payment', 'card', 0.3, '2015-03-12'],
        ]),
      ),
    );
    expect(results.map((r) => [r.kind, r.file, r.inserted, r.updated])).toEqual([
      ['libraries', 'libraries.xlsx', 1, 0],
      ['patrons', 'patrons.xlsx', 1, 0],
      ['items', 'items.xlsx', 1, 0],
      ['charges', 'charges.xlsx', 2, 0],
      ['payments', 'payments.xlsx', 1, 0],
    ]);
    const p = await t.db.selectFrom('patrons').select(['first_name', 'ptype', 'birth_date', 'barcode']).where('id', '=', 'XP1').executeTakeFirstOrThrow();
    // A number cell is a PTYPE all the same: its digits.
    expect(p).toEqual({ first_name: 'Carla', ptype: '3', birth_date: '1990-07-04', barcode: '21000099' });
    expect(await t.db.selectFrom('items').select(['due_date', 'title']).where('id', '=', 'XI1').executeTakeFirstOrThrow()).toEqual({ due_date: '2015-02-01', title: 'Emma' });
    // A date cell is wall-clock time: 23:15 in Los Angeles (PDT) is 06:15 UTC the next day.
    const charges = await t.db.selectFrom('charges').select(['id', 'amount_cents', 'assessed_at', 'assessed_on']).where('id', 'in', ['XC1', 'XC2']).orderBy('id').execute();
    expect(charges).toEqual([
      { id: 'XC1', amount_cents: 750, assessed_at: D('2015-03-11T06:15:00Z'), assessed_on: '2015-03-10' },
      { id: 'XC2', amount_cents: 30, assessed_at: D('2015-03-11T08:00:00Z'), assessed_on: '2015-03-11' },
    ]);
    expect(await t.db.selectFrom('allocations').select(['charge_id', 'amount_cents']).where('payment_id', '=', 'XY1').execute()).toEqual([{ charge_id: 'XC2', amount_cents: 30 }]);
  });

  it('reads an .xlsx written by LibreOffice from a CSV: numbers, date cells and date-time text', async () => {
    await importFile(ctx(), 'libraries', join(FIXTURES, 'libraries.csv'));
    await importFile(ctx(), 'patrons', join(FIXTURES, 'patrons.csv'));
    const r = await importFile(ctx(), 'charges', join(FIXTURES, 'charges-libreoffice.xlsx'));
    expect([r.file, r.inserted, r.updated]).toEqual(['charges-libreoffice.xlsx', 3, 0]);
    const rows = await t.db.selectFrom('charges').select(['id', 'amount_cents', 'assessed_at', 'assessed_on']).where('id', 'like', 'LC%').orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'LC1', amount_cents: 2500, assessed_at: D('2015-03-10T15:00:00Z'), assessed_on: '2015-03-10' },
      { id: 'LC2', amount_cents: 150, assessed_at: D('2015-03-10T04:00:00Z'), assessed_on: '2015-03-10' },
      { id: 'LC3', amount_cents: 30, assessed_at: D('2015-03-11T08:00:00Z'), assessed_on: '2015-03-11' },
    ]);
  });

  it('reads a file’s lines in every shape they come in: a byte-order mark, CRLF, accents, quoted cells, edge spaces', async () => {
    await importFile(ctx(), 'libraries', csv('shapes-libraries.csv', ['code,name,time_zone', 'SHP,Shapes,America/Chicago']));
    const path = join(dir, 'shapes-patrons.csv');
    const lines = [
      'id,barcode,first_name,last_name,home_library,ptype',
      'shp1,2001,Jesús,Lefèvre,SHP,1',
      'shp2,2002,"Ann, Jr.","O""Hara",SHP,PT',
      'shp3,2003, Bo ,Smith ,SHP,2',
      'shp4,2004,日本,😀,SHP,1',
      'shp5,2005,,Plain,SHP,1',
    ];
    writeFileSync(path, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines.join('\r\n') + '\r\n')]));
    const r = await importFile(ctx(), 'patrons', path);
    expect(r.inserted).toBe(5);
    const rows = await sql<{ id: string; first_name: string; last_name: string; ptype: string }>`
      select id, first_name, last_name, ptype from patrons where id like 'shp%' order by id`.execute(t.db);
    expect(rows.rows).toEqual([
      { id: 'shp1', first_name: 'Jesús', last_name: 'Lefèvre', ptype: '1' },
      { id: 'shp2', first_name: 'Ann, Jr.', last_name: 'O"Hara', ptype: 'PT' },
      { id: 'shp3', first_name: 'Bo', last_name: 'Smith', ptype: '2' },
      { id: 'shp4', first_name: '日本', last_name: '😀', ptype: '1' },
      { id: 'shp5', first_name: '', last_name: 'Plain', ptype: '1' },
    ]);
    // A key repeated by a quoted line (read by cells) and a plain one (read as bytes) is named either way round.
    const twice = csv('shapes-twice.csv', ['id,barcode,last_name,home_library,ptype', 'shq1,1,A,SHP,1', '"shq1",2,B,SHP,1', '"shq2",3,C,SHP,1', 'shq2,4,D,SHP,1']);
    expect((await refused('patrons', twice)).map((p) => [p.row, p.column, p.reason])).toEqual([
      [3, 'id', 'duplicate id "shq1" (also on row 2)'],
      [5, 'id', 'duplicate id "shq2" (also on row 4)'],
    ]);
  });

  it('re-importing an unchanged file compares every row and writes none; a changed row is updated and counted', async () => {
    await importFile(ctx(), 'libraries', csv('u-libraries.csv', ['code,name,time_zone', 'ULIB,Unchanged Branch,America/Chicago']));
    const patrons = ['id,home_library,ptype,last_name', 'UP1,ULIB,1,One', 'UP2,ULIB,1,Two', 'UP3,ULIB,1,Three'];
    await importFile(ctx(), 'patrons', csv('u-patrons-1.csv', patrons));
    const stamp = D('2015-01-01T00:00:00Z');
    await t.db.updateTable('patrons').set({ updated_at: stamp }).where('id', 'like', 'UP%').execute();
    const auditBefore = await t.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();

    const same = await importFile(ctx(), 'patrons', csv('u-patrons-2.csv', patrons));
    expect([same.inserted, same.updated, same.unchanged]).toEqual([0, 0, 3]);
    const touched = await t.db.selectFrom('patrons').select('id').where('id', 'like', 'UP%').where('updated_at', '<>', stamp).execute();
    expect(touched).toEqual([]);
    // One audit entry for the import itself, saying nothing changed; no entry per row.
    const auditAfter = await t.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    expect(Number(auditAfter.n) - Number(auditBefore.n)).toBe(1);

    const changed = await importFile(ctx(), 'patrons', csv('u-patrons-3.csv', ['id,home_library,ptype,last_name', 'UP2,ULIB,1,Two', 'UP3,ULIB,1,Renamed']));
    expect([changed.inserted, changed.updated, changed.unchanged]).toEqual([0, 1, 1]);
    const renamed = await t.db.selectFrom('patrons').select(['id', 'last_name']).where('id', 'like', 'UP%').where('updated_at', '<>', stamp).execute();
    expect(renamed).toEqual([{ id: 'UP3', last_name: 'Renamed' }]);
  });

  it('a payment re-imported with only its method corrected is updated and keeps its allocations as they were', async () => {
    await importFile(ctx(), 'libraries', csv('m-libraries.csv', ['code,name,time_zone', 'METLIB,Method Branch,America/Chicago']));
    await importFile(ctx(), 'patrons', csv('m-patrons.csv', ['id,home_library,ptype', 'MTP1,METLIB,1']));
    await importFile(ctx(), 'charges', csv('m-charges.csv', ['id,patron_id,library,reason,amount,assessed_at', 'MTC1,MTP1,METLIB,overdue,3.00,2015-03-01', 'MTC2,MTP1,METLIB,overdue,5.00,2015-03-02']));
    const header = 'id,patron_id,type,method,amount,paid_at';
    await importFile(ctx(), 'payments', csv('m-pay-1.csv', [header, 'MTY1,MTP1,payment,cash,4.00,2015-04-01']));
    const read = () =>
      sql<{ charge_id: string; amount_cents: number; version: string }>`select charge_id, amount_cents, xmin::text as version from allocations where payment_id = 'MTY1' order by charge_id`.execute(t.db);
    const before = (await read()).rows;
    expect(before.map((a) => [a.charge_id, a.amount_cents])).toEqual([['MTC1', 300], ['MTC2', 100]]);

    const r = await importFile(ctx(), 'payments', csv('m-pay-2.csv', [header, 'MTY1,MTP1,payment,check,4.00,2015-04-01']));
    expect([r.inserted, r.updated, r.unchanged]).toEqual([0, 1, 0]);
    expect((await t.db.selectFrom('payments').select('method').where('id', '=', 'MTY1').executeTakeFirstOrThrow()).method).toBe('check');
    // The same row versions: not deleted and allocated again.
    expect((await read()).rows).toEqual(before);

    // A changed amount is allocated again.
    await importFile(ctx(), 'payments', csv('m-pay-3.csv', [header, 'MTY1,MTP1,payment,check,2.00,2015-04-01']));
    expect((await read()).rows.map((a) => [a.charge_id, a.amount_cents])).toEqual([['MTC1', 200]]);
  });

  it('patrons carry text PTYPEs and the contact fields an ILS knows; a file without those columns leaves them as they were', async () => {
    await importFile(ctx(), 'libraries', csv('ils-libraries.csv', ['code,name,time_zone', 'ILIB,ILS Branch,America/Chicago']));
    const full = await importFile(
      ctx(),
      'patrons',
      csv('ils-contact-1.csv', [
        'id,home_library,ptype,address,address2,phone,mobile,alt_phone_1,alt_phone_2,adult_or_child',
        'IC1,ILIB,PT,1 Main St,Apt 2,217-555-0101,217-555-0199,217-555-0111,217-555-0122,A',
        'IC2,ILIB,Patrons,,,,,,,',
        'IC3,ILIB,3,,,,,,,',
      ]),
    );
    expect([full.inserted, full.problems]).toEqual([3, []]);
    const columns = ['id', 'ptype', 'address', 'address2', 'phone', 'mobile', 'alt_phone_1', 'alt_phone_2', 'adult_or_child'] as const;
    const read = () => t.db.selectFrom('patrons').select(columns).where('id', 'like', 'IC%').orderBy('id').execute();
    expect(await read()).toEqual([
      { id: 'IC1', ptype: 'PT', address: '1 Main St', address2: 'Apt 2', phone: '217-555-0101', mobile: '217-555-0199', alt_phone_1: '217-555-0111', alt_phone_2: '217-555-0122', adult_or_child: 'A' },
      { id: 'IC2', ptype: 'Patrons', address: '', address2: '', phone: '', mobile: '', alt_phone_1: '', alt_phone_2: '', adult_or_child: '' },
      { id: 'IC3', ptype: '3', address: '', address2: '', phone: '', mobile: '', alt_phone_1: '', alt_phone_2: '', adult_or_child: '' },
    ]);
    // An export script of before: no contact columns, a PTYPE as a number.
    await importFile(ctx(), 'patrons', csv('ils-contact-2.csv', ['id,home_library,ptype,phone', 'IC1,ILIB,2,217-555-0000']));
    expect((await read())[0]).toEqual({ id: 'IC1', ptype: '2', address: '1 Main St', address2: 'Apt 2', phone: '217-555-0000', mobile: '217-555-0199', alt_phone_1: '217-555-0111', alt_phone_2: '217-555-0122', adult_or_child: 'A' });
  });

  it('re-importing the same ids updates those rows, only in the columns the file has', async () => {
    await importFile(ctx(), 'libraries', csv('r-libraries.csv', ['code,name,time_zone', 'RLIB,Reading Room,America/Chicago']));
    await importFile(ctx(), 'patrons', csv('r-patrons-1.csv', ['id,home_library,ptype,patron_code,last_name', 'RP1,RLIB,1,STAFF,Old', 'RP2,RLIB,1,ADULT,Two']));
    const r = await importFile(ctx(), 'patrons', csv('r-patrons-2.csv', ['last_name,id,home_library,ptype', 'New,RP1,RLIB,4', 'Three,RP3,RLIB,1']));
    expect([r.inserted, r.updated]).toEqual([1, 1]);
    const rows = await t.db.selectFrom('patrons').select(['id', 'last_name', 'ptype', 'patron_code']).where('id', 'like', 'RP%').orderBy('id').execute();
    expect(rows).toEqual([
      { id: 'RP1', last_name: 'New', ptype: '4', patron_code: 'STAFF' },
      { id: 'RP2', last_name: 'Two', ptype: '1', patron_code: 'ADULT' },
      { id: 'RP3', last_name: 'Three', ptype: '1', patron_code: '' },
    ]);

    await importFile(ctx(), 'charges', csv('r-charges-1.csv', ['id,patron_id,library,reason,amount,assessed_at', 'RC1,RP1,RLIB,overdue,2.00,2015-03-01T23:30:00']));
    const again = await importFile(ctx(), 'charges', csv('r-charges-2.csv', ['id,patron_id,library,reason,amount,assessed_at', 'RC1,RP1,RLIB,replacement,20.00,2015-03-01T23:30:00']));
    expect([again.inserted, again.updated]).toEqual([0, 1]);
    expect(await t.db.selectFrom('charges').select(['reason', 'amount_cents', 'assessed_on']).where('id', '=', 'RC1').executeTakeFirstOrThrow()).toEqual({
      reason: 'replacement',
      amount_cents: 2000,
      assessed_on: '2015-03-01',
    });

    // The library moves east: the charge's instant stays, its local date follows the zone.
    await importFile(ctx(), 'libraries', csv('r-libraries-2.csv', ['code,name,time_zone', 'RLIB,Reading Room,America/New_York']));
    expect(await t.db.selectFrom('charges').select(['assessed_at', 'assessed_on']).where('id', '=', 'RC1').executeTakeFirstOrThrow()).toEqual({
      assessed_at: D('2015-03-02T05:30:00Z'),
      assessed_on: '2015-03-02',
    });

    // A payment re-imported unchanged keeps its allocation; a changed one is re-allocated.
    await importFile(ctx(), 'payments', csv('r-pay-1.csv', ['id,patron_id,type,amount,paid_at', 'RY1,RP1,payment,5.00,2015-04-01']));
    await importFile(ctx(), 'payments', csv('r-pay-2.csv', ['id,patron_id,type,amount,paid_at', 'RY1,RP1,payment,5.00,2015-04-01']));
    const changed = await importFile(ctx(), 'payments', csv('r-pay-3.csv', ['id,patron_id,type,amount,paid_at', 'RY1,RP1,waive,7.00,2015-04-01']));
    expect([changed.inserted, changed.updated]).toEqual([0, 1]);
    expect(await t.db.selectFrom('allocations').select(['charge_id', 'amount_cents']).where('payment_id', '=', 'RY1').execute()).toEqual([{ charge_id: 'RC1', amount_cents: 700 }]);
    expect(await t.db.selectFrom('payments').select(['type', 'amount_cents']).where('id', '=', 'RY1').executeTakeFirstOrThrow()).toEqual({ type: 'waive', amount_cents: 700 });
  });
});

describe('bulk loads', () => {
  it('check foreign keys once for the table and leave every constraint as it was', async () => {
    const constraints = async () =>
      (
        await sql<{ name: string; definition: string }>`
          select conname as name, pg_get_constraintdef(oid) as definition from pg_constraint
          where conrelid = 'charges'::regclass and contype = 'f' order by conname`.execute(t.db)
      ).rows;
    const before = await constraints();
    expect(before.map((c) => c.name)).toEqual(['charges_item_id_fkey', 'charges_library_fkey', 'charges_patron_id_fkey']);
    await importFile(ctx(), 'libraries', csv('k-libraries.csv', ['code,name,time_zone', 'KLIB,Bulk Branch,America/Chicago']));
    await importFile(ctx(), 'patrons', csv('k-patrons.csv', ['id,home_library,ptype', 'KP1,KLIB,1']));
    const lines = ['id,patron_id,library,reason,amount,assessed_at'];
    for (let i = 0; i < 50; i++) lines.push(`KC${i},KP1,KLIB,overdue,1.${String(i).padStart(2, '0')},2015-03-01T12:00:00`);
    const r = await importFile(ctx(), 'charges', csv('k-charges.csv', lines), { bulkRows: 10, batchRows: 20 });
    expect([r.inserted, r.updated]).toEqual([50, 0]);
    expect(await constraints()).toEqual(before);
    const orphan = sql`insert into charges (id, patron_id, library, reason, amount_cents, assessed_at, assessed_on) values ('KX', 'NOBODY', 'KLIB', 'overdue', 1, now(), current_date)`;
    await expect(orphan.execute(t.db)).rejects.toThrow(/charges_patron_id_fkey/);
  });
});

describe('payments staged by a connector, each naming the charge the ILS applied it to', () => {
  /** Stages payments as a sync does and merges them; returns the problems, or [] when written. */
  async function mergeNamed(rows: [row: number, id: string, charge: string, cents: number][], bulkRows = 1_000_000): Promise<string[]> {
    const columns = ['row_no', 'id', 'patron_id', 'charge_id', 'type', 'method', 'amount_cents', 'paid_at'];
    return withImportSession(t, async (session) => {
      await createStaging(session.db, 'payments');
      await session.append('import_stage', columns, rows.map(([row, id, charge, cents]) => [row, id, 'NP1', charge, 'payment', 'cash', cents, '2015-04-01T15:00:00Z']));
      const r = await mergeStaged(session.db, 'payments', {
        present: new Set(COLUMNS.payments.map((c) => c.name)),
        now: new Date('2015-06-01T12:00:00Z'),
        bulkRows,
        duplicatesFrom: 0,
        namedPayments: true,
        columnOrder: COLUMNS.payments.map((c) => c.name),
      });
      await dropStaging(session.db);
      return r.problems.map((p) => `${p.row} ${p.column}: ${p.reason}`);
    });
  }

  it('are allocated whole; payments that together pay a charge beyond its amount are refused on every row of that charge', async () => {
    await importFile(ctx(), 'libraries', csv('n-libraries.csv', ['code,name,time_zone', 'NLIB,Named Branch,America/Chicago']));
    await importFile(ctx(), 'patrons', csv('n-patrons.csv', ['id,home_library,ptype', 'NP1,NLIB,1']));
    await importFile(ctx(), 'charges', csv('n-charges.csv', ['id,patron_id,library,reason,amount,assessed_at', 'NC1,NP1,NLIB,overdue,5.00,2015-03-01T12:00:00', 'NC2,NP1,NLIB,overdue,3.00,2015-03-02T12:00:00']));
    expect(await mergeNamed([[1, 'NY1', 'NC1', 100]])).toEqual([]);
    // NC1 has 4.00 left: 3.00 and 1.50 exceed it together, each row says so; NC2's own payment fits.
    expect(await mergeNamed([[2, 'NY2', 'NC1', 300], [3, 'NY3', 'NC2', 300], [4, 'NY4', 'NC1', 150]])).toEqual([
      '2 amount: payments of 4.50 on charge "NC1" exceed what is left of it (4.00)',
      '4 amount: payments of 4.50 on charge "NC1" exceed what is left of it (4.00)',
    ]);
    // Nothing of the refused merge stays (its payments are checked once written, then taken back).
    const kept = await sql<{ nc1: number; nc2: number; n: number }>`
      select (select paid_cents from charges where id = 'NC1')::int as nc1, (select paid_cents from charges where id = 'NC2')::int as nc2,
             (select count(*) from payments where id in ('NY2', 'NY3', 'NY4'))::int as n`.execute(t.db);
    expect(kept.rows[0]).toEqual({ nc1: 100, nc2: 0, n: 0 });
    // The same as a bulk load, which drops keys and indexes before writing: taken back too.
    const keys = async () => (await sql<{ n: number }>`select count(*)::int as n from pg_constraint where conrelid = any(array['charges', 'payments', 'allocations']::regclass[])`.execute(t.db)).rows[0]!.n;
    const before = await keys();
    expect(await mergeNamed([[2, 'NY2', 'NC1', 300], [3, 'NY3', 'NC2', 300], [4, 'NY4', 'NC1', 150]], 1)).toHaveLength(2);
    expect(await keys()).toBe(before);
    expect((await sql<{ n: number }>`select count(*)::int as n from payments where id in ('NY2', 'NY3', 'NY4')`.execute(t.db)).rows[0]!.n).toBe(0);
    expect(await mergeNamed([[2, 'NY2', 'NC1', 300], [3, 'NY3', 'NC2', 300], [4, 'NY4', 'NC1', 100]])).toEqual([]);
    const paid = await sql<{ id: string; paid_cents: number }>`select id, paid_cents from charges where id like 'NC%' order by id`.execute(t.db);
    expect(paid.rows).toEqual([
      { id: 'NC1', paid_cents: 500 },
      { id: 'NC2', paid_cents: 300 },
    ]);
  });

  it('a few changed among many: the charges of the changed ones are looked up, one paid beyond its amount refused', async () => {
    await importFile(ctx(), 'charges', csv('n3-charges.csv', ['id,patron_id,library,reason,amount,assessed_at', 'NC3,NP1,NLIB,overdue,1.00,2015-03-03T12:00:00']));
    const cents: [number, string, string, number][] = Array.from({ length: 40 }, (_, i) => [10 + i, `NZ${10 + i}`, 'NC3', 1]);
    expect(await mergeNamed(cents)).toEqual([]);
    await sql`analyze payments`.execute(t.db);
    expect(await mergeNamed([...cents, [60, 'NZ60', 'NC3', 100]])).toEqual(['60 amount: payments of 1.00 on charge "NC3" exceed what is left of it (0.60)']);
    const paid = await sql<{ paid_cents: number }>`select paid_cents from charges where id = 'NC3'`.execute(t.db);
    expect(paid.rows[0]!.paid_cents).toBe(40);
  });
});

describe('files larger than a batch', () => {
  const lines = (bad: string) => ['id,home_library,ptype', 'MP1,MLIB,1', 'MP2,MLIB,1', 'MP3,MLIB,1', 'MP4,MLIB,1', 'MP5,MLIB,1', bad, 'MP7,MLIB,1'];
  beforeAll(async () => {
    await importFile(ctx(), 'libraries', csv('m-libraries.csv', ['code,name,time_zone', 'MLIB,Multi Branch,America/Chicago']));
  });

  it('a bad row in a later batch refuses the rows of earlier batches too', async () => {
    const problems = await importFile(ctx(), 'patrons', csv('multi-bad.csv', lines('MP2,NOWHERE,1')), { batchRows: 2 }).then(
      () => [],
      (e: ValidationError) => e.problems,
    );
    expect(problems).toEqual([
      { file: 'multi-bad.csv', row: 7, column: 'id', reason: 'duplicate id "MP2" (also on row 3)' },
      { file: 'multi-bad.csv', row: 7, column: 'home_library', reason: 'unknown library "NOWHERE"' },
    ]);
    expect(await ids('patrons', 'MP')).toEqual([]);
  });

  it('with --skip-bad-rows every batch keeps its good rows', async () => {
    const r = await importFile(ctx(), 'patrons', csv('multi-skip.csv', lines('MP6,NOWHERE,1')), { batchRows: 2, skipBadRows: true });
    expect([r.inserted, r.updated, r.skipped]).toEqual([6, 0, 1]);
    expect(await ids('patrons', 'MP')).toEqual(['MP1', 'MP2', 'MP3', 'MP4', 'MP5', 'MP7']);
  });
});

describe('bad input: the whole file is refused, each problem named by file, row and column', () => {
  beforeAll(async () => {
    await importFile(ctx(), 'libraries', csv('b-libraries.csv', ['code,name,time_zone', 'BLIB,Bad Input Branch,America/Denver']));
    await importFile(ctx(), 'patrons', csv('b-patrons.csv', ['id,home_library,ptype', 'BP1,BLIB,1', 'BP2,BLIB,1']));
    await importFile(ctx(), 'charges', csv('b-charges.csv', ['id,patron_id,library,reason,amount,assessed_at', 'BC1,BP1,BLIB,overdue,3.00,2015-03-01', 'BC2,BP2,BLIB,overdue,4.00,2015-03-01']));
  });

  it('a bad date', async () => {
    const path = csv('bad-date.csv', ['id,home_library,ptype,birth_date', 'BD1,BLIB,1,1980-01-31', 'BD2,BLIB,1,1980-02-30']);
    expect(await refused('patrons', path)).toEqual([{ file: 'bad-date.csv', row: 3, column: 'birth_date', reason: 'not a date (YYYY-MM-DD): "1980-02-30"' }]);
    expect(await ids('patrons', 'BD')).toEqual([]);
  });

  it('a bad date-time', async () => {
    const path = csv('bad-datetime.csv', ['id,patron_id,library,reason,amount,assessed_at', 'BT1,BP1,BLIB,overdue,1.00,2015-03-01T10:00', 'BT2,BP1,BLIB,overdue,1.00,03/01/2015 10:00']);
    expect(await refused('charges', path)).toEqual([{ file: 'bad-datetime.csv', row: 3, column: 'assessed_at', reason: 'not an ISO 8601 date-time: "03/01/2015 10:00"' }]);
    expect(await ids('charges', 'BT')).toEqual([]);
  });

  it('a negative amount', async () => {
    const path = csv('charges.csv', [
      'id,patron_id,item_id,library,reason,amount,assessed_at',
      'BN1,BP1,,BLIB,overdue,3.00,2015-03-01',
      'BN2,BP1,,BLIB,overdue,1.00,2015-03-01',
      'BN3,BP1,,BLIB,overdue,1.00,2015-03-01',
      'BN4,BP1,,BLIB,overdue,1.00,2015-03-01',
      'BN5,BP1,,BLIB,overdue,1.00,2015-03-01',
      'BN6,BP1,,BLIB,overdue,-3.00,2015-03-01',
    ]);
    const problems = await refused('charges', path);
    expect(problems.map(describeProblem)).toEqual(['charges.csv, row 7, column amount: negative amount "-3.00"']);
    expect(await ids('charges', 'BN')).toEqual([]);
  });

  it('an unknown patron', async () => {
    const path = csv('unknown-patron.csv', ['id,patron_id,library,reason,amount,assessed_at', 'BU1,BP1,BLIB,overdue,1.00,2015-03-01', 'BU2,NOBODY,BLIB,overdue,1.00,2015-03-01']);
    expect(await refused('charges', path)).toEqual([{ file: 'unknown-patron.csv', row: 3, column: 'patron_id', reason: 'unknown patron "NOBODY"' }]);
    expect(await ids('charges', 'BU')).toEqual([]);
  });

  it('a payment of an unknown patron, with a local time or one with its offset, and with --skip-bad-rows the others kept', async () => {
    const path = csv('unknown-payer.csv', [
      'id,patron_id,charge_id,type,amount,paid_at',
      'BY1,BP1,BC1,payment,1.00,2015-04-01T10:00:00',
      'BY2,NOBODY,,payment,1.00,2015-04-01T10:00:00',
      'BY3,NOBODY2,,payment,1.00,2015-04-01T10:00:00-06:00',
      'BY4,BP2,,payment,1.00,2015-04-01T10:00:00',
    ]);
    expect(await refused('payments', path)).toEqual([
      { file: 'unknown-payer.csv', row: 3, column: 'patron_id', reason: 'unknown patron "NOBODY"' },
      { file: 'unknown-payer.csv', row: 4, column: 'patron_id', reason: 'unknown patron "NOBODY2"' },
    ]);
    expect(await ids('payments', 'BY')).toEqual([]);
    const kept = await importFile(ctx(), 'payments', path, { skipBadRows: true });
    expect(kept).toMatchObject({ inserted: 2, skipped: 2 });
    // BLIB is in America/Denver (MDT on April 1st): the local times are its, not UTC.
    const paid = await sql<{ id: string; paid_at: Date }>`select id, paid_at from payments where id like 'BY%' order by id`.execute(t.db);
    expect(paid.rows.map((r) => [r.id, r.paid_at.toISOString()])).toEqual([
      ['BY1', '2015-04-01T16:00:00.000Z'],
      ['BY4', '2015-04-01T16:00:00.000Z'],
    ]);
    await sql`delete from allocations where payment_id like 'BY%'`.execute(t.db);
    await sql`delete from payments where id like 'BY%'`.execute(t.db);
  });

  it('a re-import whose few changed payments name an unknown charge or another patron\'s: named, as on a first import', async () => {
    // Sixty payments, analyzed: the two changed rows are a small share of the table, so their
    // charges are looked up by key (the other form, a join over every charge, is the first import's).
    const rows = Array.from({ length: 60 }, (_, i) => `BR${i + 1},BP1,BC1,waive,0.01,2015-04-01T10:00:00-06:00`);
    const header = 'id,patron_id,charge_id,type,amount,paid_at';
    expect(await importFile(ctx(), 'payments', csv('re-first.csv', [header, ...rows]))).toMatchObject({ inserted: 60 });
    await sql`analyze payments`.execute(t.db);
    const changed = [...rows];
    changed[4] = 'BR5,BP1,NOPE,waive,0.01,2015-04-01T10:00:00-06:00';
    changed[6] = 'BR7,BP1,BC2,waive,0.01,2015-04-01T10:00:00-06:00';
    expect(await refused('payments', csv('re-changed.csv', [header, ...changed]))).toEqual([
      { file: 're-changed.csv', row: 6, column: 'charge_id', reason: 'unknown charge "NOPE"' },
      { file: 're-changed.csv', row: 8, column: 'charge_id', reason: 'charge "BC2" belongs to patron "BP2", not "BP1"' },
    ]);
    // Two good changes: the payments read and written through their keys, then re-allocated.
    const paidBefore = await sql<{ paid: number }>`select paid_cents::int as paid from charges where id = 'BC1'`.execute(t.db);
    const moved = [...rows];
    moved[2] = 'BR3,BP1,BC1,waive,0.01,2015-04-02T10:00:00-06:00';
    moved[8] = 'BR9,BP1,BC1,waive,0.01,2015-04-03T10:00:00-06:00';
    expect(await importFile(ctx(), 'payments', csv('re-moved.csv', [header, ...moved]))).toMatchObject({ inserted: 0, updated: 2, unchanged: 58 });
    const paidAt = await sql<{ id: string; paid_at: Date }>`select id, paid_at from payments where id in ('BR3', 'BR9', 'BR10') order by id`.execute(t.db);
    expect(paidAt.rows.map((r) => `${r.id} ${r.paid_at.toISOString()}`)).toEqual(['BR10 2015-04-01T16:00:00.000Z', 'BR3 2015-04-02T16:00:00.000Z', 'BR9 2015-04-03T16:00:00.000Z']);
    const allocated = await sql<{ n: number; cents: number }>`select count(*)::int as n, sum(amount_cents)::int as cents from allocations where payment_id like 'BR%'`.execute(t.db);
    expect(allocated.rows[0]).toEqual({ n: 60, cents: 60 });
    expect((await sql<{ paid: number }>`select paid_cents::int as paid from charges where id = 'BC1'`.execute(t.db)).rows).toEqual(paidBefore.rows);
    await sql`delete from allocations where payment_id like 'BR%'`.execute(t.db);
    await sql`delete from payments where id like 'BR%'`.execute(t.db);
  });

  it('a re-import whose few changed charges drop below what is paid or move a paid charge: named, as on a first import', async () => {
    // Sixty charges, analyzed: the two changed rows are a small share, so what is paid on them is looked up by key.
    const header = 'id,patron_id,library,reason,amount,assessed_at';
    const rows = Array.from({ length: 60 }, (_, i) => `BK${i + 1},BP1,BLIB,overdue,1.00,2015-03-01T10:00:00-06:00`);
    expect(await importFile(ctx(), 'charges', csv('rk-first.csv', [header, ...rows]))).toMatchObject({ inserted: 60 });
    const waives = ['id,patron_id,charge_id,type,amount,paid_at', 'BKY1,BP1,BK5,waive,0.50,2015-04-01T10:00:00-06:00', 'BKY2,BP1,BK7,waive,0.50,2015-04-01T10:00:00-06:00'];
    expect(await importFile(ctx(), 'payments', csv('rk-waives.csv', waives))).toMatchObject({ inserted: 2 });
    await sql`analyze charges`.execute(t.db);
    const changed = [...rows];
    changed[4] = 'BK5,BP1,BLIB,overdue,0.25,2015-03-01T10:00:00-06:00';
    changed[6] = 'BK7,BP2,BLIB,overdue,1.00,2015-03-01T10:00:00-06:00';
    expect(await refused('charges', csv('rk-changed.csv', [header, ...changed]))).toEqual([
      { file: 'rk-changed.csv', row: 6, column: 'amount', reason: '0.25 is less than the 0.50 already paid, waived or written off' },
      { file: 'rk-changed.csv', row: 8, column: 'patron_id', reason: 'charge "BK7" has payments from patron "BP1" and cannot move to another patron' },
    ]);
    await sql`delete from allocations where payment_id like 'BKY%'`.execute(t.db);
    await sql`delete from payments where id like 'BKY%'`.execute(t.db);
    await sql`delete from charges where id like 'BK%'`.execute(t.db);
  });

  it('payments in local time keep their zone across batches when the remembered zones are emptied', async () => {
    const path = csv('zones-batches.csv', [
      'id,patron_id,type,amount,paid_at',
      'BZ1,BP1,waive,0.01,2015-04-01T10:00:00',
      'BZ2,BP1,waive,0.01,2015-04-01T10:00:00',
      'BZ3,BP1,waive,0.01,2015-04-01T10:00:00',
      'BZ4,BP2,waive,0.01,2015-04-01T10:00:00',
    ]);
    // Two rows a batch, one zone remembered: the second batch has a patron the first looked up and one it did not.
    expect(await importFile(ctx(), 'payments', path, { batchRows: 2, zonesInMemory: 1 })).toMatchObject({ inserted: 4 });
    const paid = await sql<{ paid_at: Date }>`select paid_at from payments where id like 'BZ%' order by id`.execute(t.db);
    expect(paid.rows.map((r) => r.paid_at.toISOString())).toEqual(Array(4).fill('2015-04-01T16:00:00.000Z'));
    await sql`delete from allocations where payment_id like 'BZ%'`.execute(t.db);
    await sql`delete from payments where id like 'BZ%'`.execute(t.db);
  });

  it('an unknown library', async () => {
    const path = csv('unknown-library.csv', ['id,home_library,ptype', 'BL1,BLIB,1', 'BL2,NOWHERE,1']);
    expect(await refused('patrons', path)).toEqual([{ file: 'unknown-library.csv', row: 3, column: 'home_library', reason: 'unknown library "NOWHERE"' }]);
    expect(await ids('patrons', 'BL')).toEqual([]);
  });

  it('an unknown posting library of a charge', async () => {
    const path = csv('unknown-charge-library.csv', ['id,patron_id,library,reason,amount,assessed_at', 'BK1,BP1,BLIB,overdue,1.00,2015-03-01', 'BK2,BP1,NOWHERE,overdue,1.00,2015-03-01']);
    expect(await refused('charges', path)).toEqual([{ file: 'unknown-charge-library.csv', row: 3, column: 'library', reason: 'unknown library "NOWHERE"' }]);
    expect(await ids('charges', 'BK')).toEqual([]);
  });

  it('a duplicate id in the file', async () => {
    const path = csv('duplicate.csv', ['id,status,title', 'BI1,available,One', 'BI2,lost,Two', 'BI1,missing,One again']);
    expect(await refused('items', path)).toEqual([{ file: 'duplicate.csv', row: 4, column: 'id', reason: 'duplicate id "BI1" (also on row 2)' }]);
    expect(await ids('items', 'BI')).toEqual([]);
  });

  it('a missing required header', async () => {
    const path = csv('missing-header.csv', ['id,patron_id,library,reason,assessed_at', 'BM1,BP1,BLIB,overdue,2015-03-01']);
    expect(await refused('charges', path)).toEqual([{ file: 'missing-header.csv', row: 1, column: 'amount', reason: 'required column is missing' }]);
    expect(await ids('charges', 'BM')).toEqual([]);
  });

  it('an unknown header', async () => {
    const path = csv('unknown-header.csv', ['code,name,time_zone,colour', 'BH1,Header Branch,America/Denver,blue']);
    expect(await refused('libraries', path)).toEqual([
      { file: 'unknown-header.csv', row: 1, column: 'colour', reason: 'unknown column; libraries files have code, name, time_zone' },
    ]);
    expect(await ids('libraries', 'BH')).toEqual([]);
  });

  it('a wrong reason code', async () => {
    const path = csv('bad-reason.csv', ['id,patron_id,library,reason,amount,assessed_at', 'BR1,BP1,BLIB,overdue,1.00,2015-03-01', 'BR2,BP1,BLIB,fine,1.00,2015-03-01']);
    expect(await refused('charges', path)).toEqual([
      { file: 'bad-reason.csv', row: 3, column: 'reason', reason: 'unknown reason "fine"; expected one of overdue, replacement, processing, manual, damage, agency_fee' },
    ]);
    expect(await ids('charges', 'BR')).toEqual([]);
  });

  it('a bad item status', async () => {
    const path = csv('bad-status.csv', ['id,status', 'BS1,available', 'BS2,stolen']);
    expect(await refused('items', path)).toEqual([
      { file: 'bad-status.csv', row: 3, column: 'status', reason: 'unknown status "stolen"; expected one of available, checked_out, lost, missing, withdrawn, claims_returned' },
    ]);
    expect(await ids('items', 'BS')).toEqual([]);
  });

  it('a bad payment type', async () => {
    const path = csv('bad-type.csv', ['id,patron_id,type,amount,paid_at', 'BY1,BP1,payment,1.00,2015-04-01', 'BY2,BP1,refund,1.00,2015-04-01']);
    expect(await refused('payments', path)).toEqual([
      { file: 'bad-type.csv', row: 3, column: 'type', reason: 'unknown type "refund"; expected one of payment, waive, writeoff' },
    ]);
    expect(await ids('payments', 'BY')).toEqual([]);
  });

  it('a bad time zone', async () => {
    const path = csv('bad-zone.csv', ['code,name,time_zone', 'BZ1,Zone One,America/Denver', 'BZ2,Zone Two,Mars/Olympus_Mons']);
    expect(await refused('libraries', path)).toEqual([{ file: 'bad-zone.csv', row: 3, column: 'time_zone', reason: 'unknown time zone "Mars/Olympus_Mons"' }]);
    expect(await ids('libraries', 'BZ')).toEqual([]);
  });

  it('a payment above the outstanding balance, and one to another patron’s charge', async () => {
    const path = csv('over.csv', [
      'id,patron_id,charge_id,type,amount,paid_at',
      'BO1,BP1,,payment,2.00,2015-04-01',
      'BO2,BP1,,payment,1.50,2015-04-02',
      'BO3,BP2,BC1,payment,1.00,2015-04-02',
    ]);
    expect(await refused('payments', path)).toEqual([
      { file: 'over.csv', row: 3, column: 'amount', reason: '1.50 exceeds the outstanding balance of 1.00' },
      { file: 'over.csv', row: 4, column: 'charge_id', reason: 'charge "BC1" belongs to patron "BP1", not "BP2"' },
    ]);
    expect(await ids('payments', 'BO')).toEqual([]);
    expect(await t.db.selectFrom('allocations').select('payment_id').where('payment_id', 'like', 'BO%').execute()).toEqual([]);
  });

  it('every problem of every row at once, capped with a count of the rest', async () => {
    const lines = ['id,patron_id,library,reason,amount,assessed_at'];
    for (let i = 0; i < MAX_PROBLEMS + 4; i++) lines.push(`BX${i},BP1,BLIB,overdue,-1.00,2015-03-01`);
    lines.push('BX-last,NOBODY,BLIB,fine,1.00,2015-03-01');
    const problems = await refused('charges', csv('many.csv', lines));
    expect(problems.length).toBe(MAX_PROBLEMS + 1);
    expect(problems[0]).toEqual({ file: 'many.csv', row: 2, column: 'amount', reason: 'negative amount "-1.00"' });
    expect(problems[MAX_PROBLEMS - 1]).toEqual({ file: 'many.csv', row: MAX_PROBLEMS + 1, column: 'amount', reason: 'negative amount "-1.00"' });
    expect(problems[MAX_PROBLEMS]).toEqual({ file: 'many.csv', reason: '6 more problems not listed' });
    expect(await ids('charges', 'BX')).toEqual([]);
  });

  it('an empty file and an unsupported extension', async () => {
    const empty = join(dir, 'empty.csv');
    writeFileSync(empty, '');
    expect(await refused('libraries', empty)).toEqual([{ file: 'empty.csv', row: 1, reason: 'the file is empty; its first row must be the header' }]);
    const txt = join(dir, 'libraries.txt');
    writeFileSync(txt, 'code,name,time_zone\n');
    expect(await refused('libraries', txt)).toEqual([{ file: 'libraries.txt', reason: 'import files must be .csv or .xlsx' }]);
  });
});

describe('--skip-bad-rows', () => {
  it('imports the good rows, reports the bad ones and audits the count skipped', async () => {
    await importFile(ctx(), 'libraries', csv('s-libraries.csv', ['code,name,time_zone', 'SLIB,Skip Branch,Europe/London']));
    const path = csv('skip.csv', ['id,home_library,ptype', 'SP1,SLIB,1', 'SP2,NOWHERE,1', `SP3,SLIB,${'x'.repeat(101)}`, 'SP4,SLIB,2']);
    const r = await importFile(ctx(), 'patrons', path, { skipBadRows: true });
    expect(r).toEqual({
      kind: 'patrons',
      file: 'skip.csv',
      inserted: 2,
      updated: 0,
      unchanged: 0,
      skipped: 2,
      problems: [
        { file: 'skip.csv', row: 3, column: 'home_library', reason: 'unknown library "NOWHERE"' },
        { file: 'skip.csv', row: 4, column: 'ptype', reason: 'a patron type must be at most 100 characters; this has 101' },
      ],
    });
    expect(await ids('patrons', 'SP')).toEqual(['SP1', 'SP4']);
    const audit = await t.db.selectFrom('audit_log').select('after').where('action', '=', 'import.patrons').where('entity_id', '=', 'skip.csv').executeTakeFirstOrThrow();
    expect(audit.after).toEqual({ kind: 'patrons', file: 'skip.csv', inserted: 2, updated: 0, unchanged: 0, skipped: 2 });
  });

  it('skips a payment that would overpay, and a changed re-import that would overpay keeps its old allocations', async () => {
    await importFile(ctx(), 'patrons', csv('s2-patrons.csv', ['id,home_library,ptype', 'SQ1,SLIB,1']));
    await importFile(ctx(), 'charges', csv('s2-charges.csv', ['id,patron_id,library,reason,amount,assessed_at', 'SQC1,SQ1,SLIB,overdue,10.00,2015-03-01']));
    await importFile(ctx(), 'payments', csv('s2-pay-1.csv', ['id,patron_id,type,amount,paid_at', 'SQY1,SQ1,payment,4.00,2015-04-01']));
    const r = await importFile(
      ctx(),
      'payments',
      csv('s2-pay-2.csv', ['id,patron_id,type,amount,paid_at', 'SQY1,SQ1,payment,40.00,2015-04-01', 'SQY2,SQ1,payment,5.00,2015-04-02']),
      { skipBadRows: true },
    );
    expect([r.inserted, r.updated, r.skipped, r.problems]).toEqual([1, 0, 1, [{ file: 's2-pay-2.csv', row: 2, column: 'amount', reason: '40.00 exceeds the outstanding balance of 10.00' }]]);
    const allocations = await t.db.selectFrom('allocations').select(['payment_id', 'amount_cents']).where('patron_id', '=', 'SQ1').orderBy('payment_id').execute();
    expect(allocations).toEqual([
      { payment_id: 'SQY1', amount_cents: 400 },
      { payment_id: 'SQY2', amount_cents: 500 },
    ]);
  });
});

describe('the arrears import command', () => {
  it('exits 2 and lists every problem on stderr', async () => {
    // Another process reaches the PostgreSQL test schema through search_path; on PGlite it gets a throw-away database.
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : 'memory://';
    const bad = csv('cli-bad.csv', ['code,name,time_zone', 'CL1,Cli Branch,America/Chicago', 'CL2,Cli Two,Nowhere/Land', 'CL1,Again,UTC']);
    const result = await promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', '--db', url, 'import', 'libraries', bad], { cwd: ROOT }).then(
      () => ({ code: 0, stderr: '' }),
      (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr.replace(/^npm warn .*\n/gm, '') }),
    );
    expect(result).toEqual({
      code: 2,
      stderr: 'error: cli-bad.csv, row 3, column time_zone: unknown time zone "Nowhere/Land"\nerror: cli-bad.csv, row 4, column code: duplicate code "CL1" (also on row 2)\n',
    });
    expect(await ids('libraries', 'CL')).toEqual([]);
  });

  it('with --json prints the refusal on stdout as the API sends it, every problem with its file, row and column', async () => {
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : 'memory://';
    const bad = csv('cli-bad-json.csv', ['code,name,time_zone', 'CJ1,Cli Branch,Nowhere/Land']);
    const result = await promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', '--db', url, 'import', 'libraries', bad, '--json'], { cwd: ROOT }).then(
      (r) => ({ code: 0, stdout: r.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    );
    expect(result.code).toBe(2);
    expect(JSON.parse(result.stdout)).toEqual({
      error: {
        code: 'validation',
        message: 'cli-bad-json.csv, row 2, column time_zone: unknown time zone "Nowhere/Land"',
        problems: [{ file: 'cli-bad-json.csv', row: 2, column: 'time_zone', reason: 'unknown time zone "Nowhere/Land"' }],
      },
    });
    expect(await ids('libraries', 'CJ')).toEqual([]);
  });
});
