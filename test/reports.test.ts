// Report files: golden bytes of every layout, names, storage before delivery, empty reports,
// strategies, dry runs and re-runs, downloads and the `arrears files` command.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { asDate } from '../src/domain/dates.ts';
import { parseCsv, reportFormat } from '../src/domain/report-layouts.ts';
import { addAgency, editAgency, type AgencyInput } from '../src/services/agencies.ts';
import { getFile, layoutOf, listFiles, renderDownload, renderReport } from '../src/services/reports.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

const ROOT = join(import.meta.dirname, '..');
const FIXTURES = join(import.meta.dirname, 'fixtures', 'reports');
// Regenerate the golden files after a deliberate layout change: ARREARS_WRITE_GOLDEN=1 npx vitest run test/reports.test.ts
const WRITE_GOLDEN = process.env.ARREARS_WRITE_GOLDEN === '1';

let t: TestDatabase;
let s: Scenario;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(() => t.dispose());

const PATRONS = [
  { id: 'P1', barcode: '21001', first_name: 'Mallory', last_name: '=HYPERLINK("http://x","y")', address: '1 Main St, Apt 2', city: 'Springfield', state: 'IL', postal_code: '62701', phone: '217-555-0101', email: 'mallory@example.org', birth_date: '1980-05-01', home_library: 'MAIN', ptype: 1, patron_code: 'ADULT' },
  { id: 'P2', barcode: '21002', first_name: 'Zoë', last_name: 'Ångström-Núñez', address: '12 "Old" Mill Rd', city: 'Champaign', state: 'IL', postal_code: '61820', phone: '+1 217 555 0102', email: 'zoe@example.org', birth_date: '2001-06-15', home_library: 'MAIN', ptype: 2, patron_code: 'JUV' },
  { id: 'P3', barcode: '21003', first_name: 'Seán', last_name: "O'Brien, Jr.", address: '@ the library', city: 'Urbana', state: 'IL', postal_code: '61801', phone: '', email: '', birth_date: '', home_library: 'MAIN', ptype: 1, patron_code: 'ADULT' },
  { id: 'P4', barcode: '21004', first_name: 'Lou', last_name: 'Balance', address: '4 Elm St', city: 'Springfield', state: 'IL', postal_code: '62702', phone: '', email: '', birth_date: '1970-01-01', home_library: 'MAIN', ptype: 1, patron_code: 'ADULT' },
];
const ITEMS = [
  { id: 'I1', barcode: '31001', title: 'The "Quoted" Title, Vol. 2', status: 'lost', patron_id: 'P1', due_date: '2015-01-15' },
  { id: 'I2', barcode: '31002', title: '-Minus, a novel', status: 'lost', patron_id: 'P2', due_date: '2015-02-15' },
];
const CHARGES = [
  { id: 'C0', patron_id: 'P1', reason: 'overdue', amount: '1.25', assessed_at: '2015-01-02T10:00:00' },
  { id: 'C1', patron_id: 'P1', item_id: 'I1', reason: 'replacement', amount: '40.00', assessed_at: '2015-02-10T10:00:00' },
  { id: 'C2', patron_id: 'P1', reason: 'overdue', amount: '2.50', assessed_at: '2015-02-12T23:30:00', library: 'EAST' },
  { id: 'C3', patron_id: 'P2', item_id: 'I2', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' },
  { id: 'C4', patron_id: 'P3', reason: 'manual', amount: '1234.50', assessed_at: '2015-03-15T12:00:00' },
  { id: 'C5', patron_id: 'P4', reason: 'overdue', amount: '5.00', assessed_at: '2015-03-01T09:00:00' },
];

// 08:04:05 in Chicago (the entry's first home library), 09:04:05 in New York.
const DAY_ONE = '2015-04-01T13:04:05Z';
const DAY_TWO = '2015-04-03T14:00:00Z';

/**
 * P1 (a formula for a last name), P2 (non-ASCII, a quote in the address, a child) and P3
 * (a comma and an apostrophe, no birth date) are referred on day one; P4 owes too little.
 */
async function scenario(agency: Partial<AgencyInput> = {}, entry: Record<string, unknown> = {}, others: AgencyInput[] = [], on: Scenario = s): Promise<void> {
  await on.reset();
  await on.libraries({ code: 'MAIN' }, { code: 'EAST', time_zone: 'America/New_York' });
  for (const a of [{ name: 'Agency', transferMethod: 'none' as const, ...agency }, ...others]) await addAgency(on.context(), a);
  await on.settings({
    agency: agency.name ?? 'Agency',
    baseFilename: 'main',
    homeLibraries: ['MAIN'],
    agencyFee: '10.00',
    window: { mode: 'relative', startDays: 55, endDays: 0 },
    ...entry,
  });
  await on.load('patrons', PATRONS);
  await on.load('items', ITEMS);
  await on.charges(...CHARGES);
}

const dayOne = () => s.run('2015-04-01', {}, DAY_ONE);

/** P1 pays part, P2 pays all through the agency (cleared), P3 has a new charge. */
async function dayTwo() {
  await s.payments(
    { id: 'Y1', patron_id: 'P1', amount: '20.00', paid_at: '2015-04-02T10:00:00' },
    { id: 'Y2', patron_id: 'P2', amount: '40.00', method: 'collection agency', paid_at: '2015-04-02T11:00:00' },
  );
  await s.charges({ id: 'C6', patron_id: 'P3', reason: 'overdue', amount: '0.75', assessed_at: '2015-04-02T09:30:00' });
  return s.run('2015-04-03', {}, DAY_TWO);
}

async function storedFiles() {
  const rows = await t.db
    .selectFrom('report_files as f')
    .innerJoin('agencies as a', 'a.id', 'f.agency_id')
    .select(['f.id', 'f.name', 'f.kind', 'a.name as agency', 'f.content', 'f.sha256', 'f.row_count', 'f.status', 'f.attempts', 'f.next_attempt_at', 'f.created_at', 'f.run_id'])
    .orderBy('f.id')
    .execute();
  return rows.map((r) => ({ ...r, content: Buffer.from(r.content) }));
}

async function content(name: string): Promise<Buffer> {
  const f = (await storedFiles()).find((x) => x.name === name);
  if (!f) throw new Error(`no file ${name}`);
  return f.content;
}

function golden(fixture: string, actual: Buffer): void {
  const path = join(FIXTURES, fixture);
  if (WRITE_GOLDEN) writeFileSync(path, actual);
  const expected = readFileSync(path);
  expect(actual.toString('utf8')).toBe(expected.toString('utf8'));
  expect(actual.equals(expected)).toBe(true);
}

async function goldenFiles(prefix: string, agency: Partial<AgencyInput>): Promise<void> {
  await scenario(agency);
  await dayOne();
  await dayTwo();
  golden(`${prefix}_new.txt`, await content('main_new_20150401080405.txt'));
  golden(`${prefix}_update.txt`, await content('main_update_20150403090000.txt'));
  golden(`${prefix}_sync.txt`, await content('main_sync_20150403090000.txt'));
}

describe('golden files of each layout (a comma, a quote, a leading =, non-ASCII letters)', () => {
  it('arrears: tab-delimited patron and charge lines', async () => {
    await goldenFiles('arrears', { layout: 'arrears' });
  });

  it('ums: the CSV Unique Management Services receives from Koha libraries', async () => {
    await goldenFiles('ums', { layout: 'ums' });
  });

  it('custom: semicolons, a header, US dates and decimal amounts', async () => {
    await goldenFiles('custom_semicolon', {
      layout: 'custom',
      layoutConfig: {
        fields: ['patron_id', 'last_name', 'first_name', 'amount_owed', 'amount_referred', 'oldest_charge', 'birth_date', 'phone', 'change', 'reason'],
        delimiter: ';',
        header: true,
        dateFormat: 'MM/DD/YYYY',
        moneyFormat: 'decimal',
      },
    });
  });

  it('custom: tabs, no header, compact dates and amounts in cents', async () => {
    await goldenFiles('custom_tab', {
      layout: 'custom',
      layoutConfig: { fields: ['barcode', 'name', 'address', 'amount_owed', 'previous_amount', 'report_date'], delimiter: '\t', header: false, dateFormat: 'YYYYMMDD', moneyFormat: 'cents' },
    });
  });
});

describe('what an ILS knows about a patron reaches the agency', () => {
  it('ums New Submissions carry address2, mobile, the alternate phones and the stored Adult or Child; blank ones keep the birth-date rule', async () => {
    await scenario({ layout: 'ums' });
    await s.load('patrons', [
      { id: 'P1', home_library: 'MAIN', ptype: 'PT', address2: 'Unit 7', mobile: '217-555-0199', alt_phone_1: '217-555-0111', alt_phone_2: '+1 217 555 0122', adult_or_child: 'C' },
    ]);
    await dayOne();
    const rows = parseCsv((await content('main_new_20150401080405.txt')).toString('utf8'), ',');
    const header = rows[0]!;
    const row = (id: string) => Object.fromEntries(header.map((h, i) => [h, rows.find((r) => r[0] === id)![i]]));
    const p1 = row('P1');
    // Koha sends category_type as it is ("C" for a child category), whatever the birth date says.
    expect([p1.address, p1.address2, p1.phone, p1.mobile, p1['Alt Ph 1'], p1['Alt Ph 2'], p1['Adult or Child'], p1.dateofbirth]).toEqual([
      '1 Main St, Apt 2',
      'Unit 7',
      '217-555-0101',
      '217-555-0199',
      '217-555-0111',
      "'+1 217 555 0122",
      'C',
      '1980-05-01',
    ]);
    const p2 = row('P2');
    expect([p2.address2, p2.mobile, p2['Alt Ph 1'], p2['Alt Ph 2'], p2['Adult or Child']]).toEqual(['', '', '', '', 'Child']);
  });
});

describe('files of a run', () => {
  it('are named <base>_<kind>_<local time>.txt and stored with content and sha256 before any delivery', async () => {
    await scenario({ transferMethod: 'folder', transferConfig: { path: '/srv/outbox' } });
    const r = await dayOne();
    const names = ['main_new_20150401080405.txt', 'main_update_20150401080405.txt', 'main_sync_20150401080405.txt'];
    expect(r.files).toEqual(names.map((name, i) => ({ name, kind: ['new', 'update', 'sync'][i], agency: 'Agency' })));
    const stored = await storedFiles();
    expect(stored.map((f) => [f.name, f.kind, f.row_count, f.status, f.attempts, f.next_attempt_at?.toISOString(), f.created_at.toISOString(), f.run_id])).toEqual([
      [names[0], 'new', 3, 'queued', 0, DAY_ONE.replace('Z', '.000Z'), DAY_ONE.replace('Z', '.000Z'), r.runId],
      [names[1], 'update', 0, 'queued', 0, DAY_ONE.replace('Z', '.000Z'), DAY_ONE.replace('Z', '.000Z'), r.runId],
      [names[2], 'sync', 3, 'queued', 0, DAY_ONE.replace('Z', '.000Z'), DAY_ONE.replace('Z', '.000Z'), r.runId],
    ]);
    for (const f of stored) expect(f.sha256).toBe(createHash('sha256').update(f.content).digest('hex'));
    expect(stored[1]!.content.toString('utf8')).toMatch(/^record_type\tpatron_id\t.*\tcharge_amount\n$/);
    expect(await t.db.selectFrom('transfer_attempts').selectAll().execute()).toEqual([]);
    const audit = await t.db.selectFrom('audit_log').select(['entity_id', 'after']).where('action', '=', 'report_file.create').orderBy('id').execute();
    expect(audit.map((a) => [a.entity_id, (a.after as { name: string }).name])).toEqual(stored.map((f) => [String(f.id), f.name]));
  });

  it('use the time zone of the first home library, or of the first library by code when the entry lists none', async () => {
    await scenario({}, { homeLibraries: [] });
    expect((await dayOne()).files.map((f) => f.name)).toEqual(['main_new_20150401090405.txt', 'main_update_20150401090405.txt', 'main_sync_20150401090405.txt']);
  });

  it('for an agency without a transfer method are stored with status none and no delivery time', async () => {
    await scenario();
    await dayOne();
    expect((await storedFiles()).map((f) => [f.status, f.next_attempt_at])).toEqual([
      ['none', null],
      ['none', null],
      ['none', null],
    ]);
  });

  it('take the entry id as base when the base filename is blank, and a -2 suffix for a second file in the same second', async () => {
    await scenario({}, { baseFilename: null });
    const entryId = (await t.db.selectFrom('settings_entries').select('id').executeTakeFirstOrThrow()).id;
    await s.run('2015-04-01', { parts: ['update'] }, DAY_ONE);
    const second = await s.run('2015-04-02', { parts: ['update'] }, DAY_ONE);
    const third = await s.run('2015-04-03', { parts: ['update'] }, DAY_ONE);
    expect(second.files.map((f) => f.name)).toEqual([`${entryId}_update_20150401080405-2.txt`, `${entryId}_sync_20150401080405-2.txt`]);
    expect(third.files.map((f) => f.name)).toEqual([`${entryId}_update_20150401080405-3.txt`, `${entryId}_sync_20150401080405-3.txt`]);
  });

  it('are made empty (header only) unless the entry turns sendEmptyReports off', async () => {
    await scenario();
    await dayOne();
    const on = await dayTwo();
    expect(on.files.map((f) => f.kind)).toEqual(['new', 'update', 'sync']);
    expect((await content('main_new_20150403090000.txt')).toString('utf8')).toBe(
      'record_type\tpatron_id\tbarcode\tname\taddress\tcity\tstate\tpostal_code\tphone\temail\tbirth_date\thome_library\tpatron_type\tamount_owed\t' +
        'amount_in_window\tamount_referred\toldest_charge\tnewest_charge\tcharge_id\tassessed_date\tcharge_reason\tposting_library\titem_barcode\titem_title\tcharge_amount\n',
    );

    await scenario({}, { sendEmptyReports: false });
    expect((await dayOne()).files.map((f) => f.kind)).toEqual(['new', 'sync']);
    expect((await dayTwo()).files.map((f) => f.kind)).toEqual(['update', 'sync']);
    const after = await s.run('2015-04-04', {}, '2015-04-04T14:00:00Z');
    expect(after.files.map((f) => [f.kind, f.name])).toEqual([['sync', 'main_sync_20150404090000.txt']]);
  });

  it('of a strategy entry go to each active candidate agency under the same name, with its own patrons', async () => {
    await scenario({ name: 'Alpha' }, { agency: { strategy: 'round_robin', among: ['Alpha', 'Beta', 'Gamma'] } }, [
      { name: 'Beta', layout: 'ums' },
      { name: 'Gamma', active: false },
    ]);
    const r = await dayOne();
    expect(r.newSubmissions.map((n) => [n.patronId, n.agency])).toEqual([['P1', 'Alpha'], ['P2', 'Beta'], ['P3', 'Alpha']]);
    expect(r.files.map((f) => [f.kind, f.agency, f.name])).toEqual([
      ['new', 'Alpha', 'main_new_20150401080405.txt'],
      ['new', 'Beta', 'main_new_20150401080405.txt'],
      ['update', 'Alpha', 'main_update_20150401080405.txt'],
      ['update', 'Beta', 'main_update_20150401080405.txt'],
      ['sync', 'Alpha', 'main_sync_20150401080405.txt'],
      ['sync', 'Beta', 'main_sync_20150401080405.txt'],
    ]);
    const beta = (await storedFiles()).find((f) => f.agency === 'Beta' && f.kind === 'new')!;
    expect(beta.content.toString('utf8').split('\r\n')[1]).toMatch(/^P2,Ångström-Núñez,Zoë,21002,/);
    expect(beta.row_count).toBe(1);
    await expect(getFile(t.db, 'main_new_20150401080405.txt')).rejects.toMatchObject({ name: 'ValidationError', problems: [{ field: 'file' }] });
  });

  it('of a dry run are listed but not stored', async () => {
    await scenario();
    const dry = await s.run('2015-04-01', { dryRun: true }, DAY_ONE);
    expect(dry.files.map((f) => f.name)).toEqual(['main_new_20150401080405.txt', 'main_update_20150401080405.txt', 'main_sync_20150401080405.txt']);
    expect(await storedFiles()).toEqual([]);
  });

  it('are not made again when the same date runs again', async () => {
    await scenario();
    await dayOne();
    const again = await s.run('2015-04-01', {}, '2015-04-01T15:00:00Z');
    expect(again.files).toEqual([]);
    expect((await storedFiles()).map((f) => f.name)).toEqual(['main_new_20150401080405.txt', 'main_update_20150401080405.txt', 'main_sync_20150401080405.txt']);
  });

  it('are read a page of patrons at a time, with the same bytes whatever the page size', async () => {
    await scenario({ layout: 'arrears' });
    await dayOne();
    const sync = (await storedFiles()).find((f) => f.kind === 'sync')!;
    const file = await getFile(t.db, sync.id);
    const format = reportFormat(layoutOf({ name: 'Agency', layout: 'arrears', layoutConfig: {} }), 'sync', asDate('2015-04-01'));
    const scope = { runId: sync.run_id!, entryId: (await t.db.selectFrom('settings_entries').select('id').executeTakeFirstOrThrow()).id, agencyId: file.agencyId, kind: 'sync' as const };
    for (const pageSize of [1, 2, 1000]) {
      const built = await renderReport(t.db, scope, format, new Map(), { pageSize });
      expect([built.rowCount, built.content.equals(sync.content)]).toEqual([3, true]);
    }
  });
});

describe('custom layout settings on an agency', () => {
  it('are validated when saved, naming an unknown field by its place', async () => {
    await s.reset();
    await expect(
      addAgency(s.context(), { name: 'Odd', layout: 'custom', layoutConfig: { fields: ['patron_id', 'name', 'shoe_size'] } }),
    ).rejects.toMatchObject({ name: 'ValidationError', problems: [{ field: 'layoutConfig.fields[2]', reason: expect.stringMatching(/^unknown field "shoe_size"/) }] });
    await addAgency(s.context(), { name: 'Fine', layout: 'arrears' });
    await expect(editAgency(s.context(), 'Fine', { layout: 'custom' })).rejects.toMatchObject({ problems: [{ field: 'layoutConfig.fields' }] });
    const ok = await editAgency(s.context(), 'Fine', { layout: 'custom', layoutConfig: { fields: ['patron_id', 'amount_owed'], delimiter: '|' } });
    expect([ok.layout, ok.layoutConfig]).toEqual(['custom', { fields: ['patron_id', 'amount_owed'], delimiter: '|' }]);
  });
});

describe('staff downloads and the file list', () => {
  it('txt is the stored bytes; csv holds the same rows; a UMS file downloads as CSV unchanged', async () => {
    await scenario({ layout: 'ums' });
    await dayOne();
    const f = (await listFiles(t.db, { kind: 'new' }))[0]!;
    const txt = await renderDownload(t.db, f.id, 'txt');
    expect([txt.filename, txt.contentType, txt.body.equals(await content(f.name))]).toEqual(['main_new_20150401080405.txt', 'text/plain; charset=utf-8', true]);
    const csv = await renderDownload(t.db, f.id, 'csv');
    expect([csv.filename, csv.contentType, csv.body.equals(txt.body)]).toEqual(['main_new_20150401080405.csv', 'text/csv; charset=utf-8', true]);
  });

  it('csv of an arrears file: a header and the P and C lines as rows, text neutralised, amounts plain', async () => {
    await scenario();
    await dayOne();
    const f = (await listFiles(t.db, { kind: 'new' }))[0]!;
    const csv = (await renderDownload(t.db, f.id, 'csv')).body.toString('utf8').split('\r\n');
    expect(csv[0]).toMatch(/^record_type,patron_id,barcode,name,address,/);
    expect(csv[1]).toBe(`P,P1,21001,"'=HYPERLINK(""http://x"",""y""), Mallory","1 Main St, Apt 2",Springfield,IL,62701,217-555-0101,mallory@example.org,1980-05-01,MAIN,1,43.75,42.50,53.75,2015-01-02,2015-02-12,,,,,,,`);
    expect(csv[3]).toBe(`C,P1,,,,,,,,,,,,,,,,,C1,2015-02-10,replacement,MAIN,31001,"The ""Quoted"" Title, Vol. 2",40.00`);
  });

  it('xlsx: every cell a string, text neutralised, amounts as 1234.50', async () => {
    await scenario();
    await dayOne();
    const f = (await listFiles(t.db, { kind: 'new' }))[0]!;
    const xlsx = await renderDownload(t.db, f.id, 'xlsx');
    expect([xlsx.filename, xlsx.contentType]).toEqual(['main_new_20150401080405.xlsx', 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet']);
    const workbook = new ExcelJS.Workbook();
    await workbook.xlsx.load(xlsx.body as unknown as ArrayBuffer);
    const sheet = workbook.worksheets[0]!;
    expect(sheet.name).toBe('New Submissions');
    const rows: string[][] = [];
    sheet.eachRow((row) => {
      const cells: string[] = [];
      row.eachCell({ includeEmpty: true }, (cell) => {
        if (cell.value !== null) expect(cell.type).toBe(ExcelJS.ValueType.String);
        cells.push(cell.value === null ? '' : String(cell.value));
      });
      rows.push(cells);
    });
    const header = rows[0]!;
    const byName = (row: string[]) => Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']));
    const p1 = byName(rows[1]!);
    expect([p1.name, p1.amount_owed, p1.amount_in_window, p1.amount_referred]).toEqual(['\'=HYPERLINK("http://x","y"), Mallory', '43.75', '42.50', '53.75']);
    const p2 = rows.map(byName).find((r) => r.patron_id === 'P2' && r.record_type === 'P')!;
    expect([p2.name, p2.address, p2.phone]).toEqual(['Ångström-Núñez, Zoë', '12 "Old" Mill Rd', "'+1 217 555 0102"]);
    const p3 = rows.map(byName).find((r) => r.patron_id === 'P3' && r.record_type === 'P')!;
    expect([p3.address, p3.amount_owed]).toEqual(["'@ the library", '1234.50']);
    expect(rows.map(byName).find((r) => r.charge_id === 'C3')!.item_title).toBe("'-Minus, a novel");
  });

  it('list filters by status and agency; show gives metadata, sha256 and delivery attempts', async () => {
    await scenario({ name: 'Queue Co', transferMethod: 'folder', transferConfig: { path: '/srv/outbox' } }, {}, [{ name: 'Other' }]);
    await dayOne();
    expect((await listFiles(t.db, { status: 'queued' })).map((f) => f.kind)).toEqual(['new', 'update', 'sync']);
    expect(await listFiles(t.db, { status: 'delivered' })).toEqual([]);
    expect(await listFiles(t.db, { agency: 'Other' })).toEqual([]);
    await expect(listFiles(t.db, { agency: 'Nobody' })).rejects.toMatchObject({ name: 'NotFoundError' });
    const sync = (await listFiles(t.db, { agency: 'Queue Co', kind: 'sync' }))[0]!;
    await t.db
      .insertInto('transfer_attempts')
      .values({ file_id: sync.id, method: 'folder', started_at: '2015-04-01T13:05:00Z', finished_at: '2015-04-01T13:05:01Z', ok: false, error: 'EACCES' })
      .execute();
    const shown = await getFile(t.db, sync.name);
    expect(shown).toMatchObject({ id: sync.id, kind: 'sync', agency: 'Queue Co', entry: 'Entry 1', reportDate: '2015-04-01', status: 'queued', layout: 'arrears', rowCount: 3 });
    expect(shown.sha256).toBe(createHash('sha256').update(await content(sync.name)).digest('hex'));
    expect(shown.bytes).toBe((await content(sync.name)).length);
    expect(shown.transferAttempts.map((a) => [a.method, a.ok, a.error])).toEqual([['folder', false, 'EACCES']]);
    await expect(getFile(t.db, 999999)).rejects.toMatchObject({ name: 'NotFoundError' });
  });
});

describe('the arrears files command', () => {
  it('shows a file as JSON and downloads it as CSV into a folder', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrears-files-'));
    try {
      // Another process reaches the PostgreSQL test schema through search_path; on PGlite it gets its own folder database.
      let url: string;
      if (testDbKind() === 'postgres') {
        await scenario();
        await dayOne();
        url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
      } else {
        url = join(dir, 'db');
        const folder = await openDatabase({ url });
        const own = new Scenario(Object.assign(folder, { url, dispose: () => folder.close() }));
        await scenario({}, {}, [], own);
        await own.run('2015-04-01', {}, DAY_ONE);
        await folder.close();
      }
      const cli = (...args: string[]) => promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', '--db', url, 'files', ...args], { cwd: ROOT });
      const shown = JSON.parse((await cli('show', 'main_new_20150401080405.txt', '--json')).stdout) as Record<string, unknown>;
      expect(shown).toMatchObject({ name: 'main_new_20150401080405.txt', kind: 'new', agency: 'Agency', rowCount: 3, status: 'none', transferAttempts: [] });
      expect(shown.sha256).toMatch(/^[0-9a-f]{64}$/);
      const out = await cli('download', String(shown.id), '--format', 'csv', '--out', dir);
      const path = join(dir, 'main_new_20150401080405.csv');
      expect(out.stdout).toMatch(/^wrote .*main_new_20150401080405\.csv \(\d+ bytes\)\n$/);
      expect(readFileSync(path, 'utf8').split('\r\n')[1]).toMatch(/^P,P1,21001,"'=HYPERLINK\(""http:\/\/x"",""y""\), Mallory",/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
