// Hostile import files: random bytes, garbled and truncated CSV, wrong encodings, huge cells,
// floods of bad rows, .xlsx files that are not zips, zip bombs and formula cells, and a 1 GB
// file. Every case ends in a ValidationError naming the file (and the row, and the column when
// the problem is a cell), never another error, and a refused file writes nothing.
import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { crc32, createDeflateRaw, deflateRawSync } from 'node:zlib';
import ExcelJS from 'exceljs';
import fc from 'fast-check';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { buildServer } from '../src/http/server.ts';
import { ValidationError, type Problem } from '../src/domain/errors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { importFile, MAX_PROBLEMS, STOP_AFTER_BAD_ROWS, type ImportKind, type ImportResult } from '../src/services/imports.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { paidMismatches } from './helpers/ledger-invariants.ts';
import { Scenario } from './helpers/scenario.ts';

const ROOT = join(import.meta.dirname, '..');
const TABLES = ['libraries', 'patrons', 'items', 'charges', 'payments', 'allocations', 'audit_log'] as const;

let t: TestDatabase;
const dir = mkdtempSync(join(tmpdir(), 'arrears-fuzz-imports-'));
let cases = 0;
let files = 0;

beforeAll(async () => {
  t = await freshDatabase();
  const s = new Scenario(t);
  await s.libraries({ code: 'MAIN' });
  await s.patrons({ id: 'P1' }, { id: 'P2' });
  await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
});
afterAll(async () => {
  // Whatever the tests above wrote, paid_cents still equals each charge's allocations.
  expect(await paidMismatches(t)).toEqual([]);
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
  console.log(`fuzz-imports (${testDbKind()}): ${cases} hostile files imported`);
});

function ctx(): Context {
  return { database: t, clock: fixedClock('2025-06-01T12:00:00Z'), actor: 'fuzz' };
}

function file(ext: string, content: string | Uint8Array): string {
  const path = join(dir, `f${++files}${ext}`);
  writeFileSync(path, content);
  return path;
}

async function counts(): Promise<Record<(typeof TABLES)[number], number>> {
  const out = {} as Record<(typeof TABLES)[number], number>;
  for (const table of TABLES) out[table] = (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(t.db)).rows[0]!.n;
  return out;
}

/** Every problem names the file; a problem about a row names it, and a problem about a cell names its column. */
function expectNamed(problems: Problem[], name: string): void {
  expect(problems.length).toBeGreaterThan(0);
  for (const p of problems) {
    expect(p.file, JSON.stringify(p)).toBe(name);
    expect(p.reason.length, 'a problem stays short').toBeLessThan(400);
    if (/^\d+ more problems not listed$/.test(p.reason)) continue;
    if (p.column !== undefined) expect(p.row, JSON.stringify(p)).toBeGreaterThanOrEqual(1);
  }
}

/**
 * Imports a hostile file. Accepted: the tables grew by exactly what the result says. Refused:
 * a ValidationError naming the file, and not one row written anywhere.
 */
async function attempt(kind: ImportKind, path: string): Promise<{ result?: ImportResult; problems?: Problem[] }> {
  cases++;
  const before = await counts();
  try {
    const result = await importFile(ctx(), kind, path);
    const after = await counts();
    expect(after[kind] - before[kind]).toBe(result.inserted);
    expect(after.audit_log).toBe(before.audit_log + 1);
    return { result };
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    expectNamed(err.problems, path.slice(dir.length + 1));
    expect(await counts()).toEqual(before);
    return { problems: err.problems };
  }
}

async function refused(kind: ImportKind, path: string): Promise<Problem[]> {
  const { problems } = await attempt(kind, path);
  if (!problems) throw new Error(`${path} was accepted`);
  return problems;
}

const KINDS: ImportKind[] = ['libraries', 'patrons', 'items', 'charges', 'payments'];

const GOOD: Record<ImportKind, string> = {
  libraries: 'code,name,time_zone\nZL1,Fuzz Branch,America/Chicago\nZL2,"Other, Branch",UTC\n',
  patrons: 'id,barcode,first_name,last_name,address,home_library,ptype,birth_date\nZP1,2101,Ann,"Lee, Jr",1 Main St,MAIN,1,1980-01-31\nZP2,2102,Bo,Li,"2 ""Elm"" St",MAIN,2,\n',
  items: 'id,barcode,title,status,patron_id,due_date\nZI1,3101,A Book,lost,P1,2025-03-01\nZI2,3102,Another,available,,\n',
  charges: 'id,patron_id,item_id,library,reason,amount,assessed_at\nZC1,P1,,MAIN,overdue,1.25,2025-05-02T10:00:00\nZC2,P2,,MAIN,replacement,30,2025-05-03T10:00:00-05:00\n',
  payments: 'id,patron_id,charge_id,type,method,amount,paid_at\nZY1,P1,C1,payment,cash,0.01,2025-05-04T10:00:00\n',
};

/** Cells chosen to break parsers: quotes, separators, line ends, NUL, formulas, huge and odd numbers. */
const nastyCell = fc.oneof(
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'binary', maxLength: 30 }),
  fc.constantFrom('"', '""', ',', '\n', '\r', '\r\n', '\u0000', '\uFEFF', '\uFFFD', '=HYPERLINK("http://x","y")', '+cmd|\' /C calc\'!A0', '-1+1', '@SUM(A1:A9)', '\t=1', '1e309', '-0', '9'.repeat(40), '2025-02-30', 'NaN', ' '),
);

describe('property: arbitrary bytes and garbled text never crash an import and never write part of a file', () => {
  it('random bytes as .csv and as .xlsx, for every kind', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KINDS), fc.uint8Array({ maxLength: 3000 }), fc.constantFrom('.csv', '.xlsx'), fc.boolean(), async (kind, bytes, ext, zipMagic) => {
        // Half of the .xlsx cases start like a zip, so the zip reader itself is fuzzed too.
        const content = ext === '.xlsx' && zipMagic ? Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), bytes]) : bytes;
        await attempt(kind, file(ext, content));
      }),
      { numRuns: 150 },
    );
  });

  it('a good header, then rows of hostile cells', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KINDS), fc.array(fc.array(nastyCell, { maxLength: 9 }), { minLength: 1, maxLength: 6 }), async (kind, rows) => {
        const header = GOOD[kind].split('\n')[0]!;
        const text = [header, ...rows.map((r) => r.join(','))].join('\n');
        await attempt(kind, file('.csv', text));
      }),
      { numRuns: 150 },
    );
  });

  it('good files truncated, spliced and mutated byte by byte', async () => {
    const mutation = fc.oneof(
      fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: nastyCell }),
      fc.record({ op: fc.constant('delete' as const), at: fc.nat(), n: fc.integer({ min: 1, max: 8 }) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...KINDS), fc.array(mutation, { minLength: 1, maxLength: 4 }), async (kind, mutations) => {
        let text = GOOD[kind];
        for (const m of mutations) {
          const at = m.at % (text.length + 1);
          if (m.op === 'cut') text = text.slice(0, at);
          else if (m.op === 'insert') text = text.slice(0, at) + m.text + text.slice(at);
          else text = text.slice(0, at) + text.slice(at + m.n);
        }
        const { result } = await attempt(kind, file('.csv', text));
        // Accepted imports are undone so each case starts from the same ledger.
        if (result) await undo(kind);
      }),
      { numRuns: 150 },
    );
  });

  it('a real .xlsx truncated at every kind of place', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Sheet1');
    for (const line of GOOD.libraries.trim().split('\n')) ws.addRow(line.split(','));
    const whole = Buffer.from(await wb.xlsx.writeBuffer());
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: whole.length - 1 }), fc.nat({ max: 255 }), fc.nat(), async (cut, byte, at) => {
        const damaged = Buffer.from(whole);
        damaged[at % whole.length] = byte;
        await attempt('libraries', file('.xlsx', cut % 2 ? damaged : whole.subarray(0, cut)));
        await undo('libraries');
      }),
      { numRuns: 80 },
    );
  });
});

async function undo(kind: ImportKind): Promise<void> {
  const key = kind === 'libraries' ? 'code' : 'id';
  if (kind === 'payments') await sql`delete from allocations where payment_id like 'Z%'`.execute(t.db);
  await sql`delete from ${sql.table(kind)} where ${sql.ref(key)} like 'Z%'`.execute(t.db);
}

describe('wrong encodings', () => {
  it('UTF-16 with a byte-order mark, either byte order, is refused as UTF-16', async () => {
    const text = GOOD.libraries;
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    const be = Buffer.from(le.subarray(2)).swap16();
    for (const content of [le, Buffer.concat([Buffer.from([0xfe, 0xff]), be])]) {
      const path = file('.csv', content);
      expect((await refused('libraries', path))[0]).toMatchObject({ row: 1, reason: 'the file is UTF-16 text; save it as "CSV UTF-8"' });
    }
  });

  it('UTF-16 without a byte-order mark: NUL bytes in the header row', async () => {
    const problems = await refused('libraries', file('.csv', Buffer.from(GOOD.libraries, 'utf16le')));
    expect(problems[0]!.reason).toMatch(/^the header row contains NUL bytes/);
  });

  it('Latin-1 bytes are named by row and column, not stored as replacement characters', async () => {
    const latin1 = Buffer.from('code,name,time_zone\nZL7,Biblioth\u00e8que Caf\u00e9,UTC\n', 'latin1');
    expect(await refused('libraries', file('.csv', latin1))).toEqual([
      { file: expect.any(String), row: 2, column: 'name', reason: 'contains bytes that are not UTF-8 text; save the file as "CSV UTF-8"' },
    ]);
  });

  it('a NUL byte in a data cell is named by row and column', async () => {
    const problems = await refused('patrons', file('.csv', 'id,home_library,ptype,last_name\nZP9,MAIN,1,Smi\u0000th\n'));
    expect(problems).toEqual([{ file: expect.any(String), row: 2, column: 'last_name', reason: 'contains a NUL character' }]);
  });

  it('a UTF-8 byte-order mark is fine', async () => {
    const { result } = await attempt('libraries', file('.csv', `\uFEFF${GOOD.libraries}`));
    expect(result).toMatchObject({ inserted: 2 });
    await undo('libraries');
  });
});

describe('sizes', () => {
  it('a 10 MB cell is named by row and column, and the problem does not carry it', async () => {
    const huge = 'x'.repeat(10 * 1024 * 1024);
    const address = await refused('patrons', file('.csv', `id,home_library,ptype,address\nZP3,MAIN,1,${huge}\n`));
    expect(address).toEqual([{ file: expect.any(String), row: 2, column: 'address', reason: 'longer than 1000 characters' }]);
    const date = await refused('patrons', file('.csv', `id,home_library,ptype,birth_date\nZP3,MAIN,1,${huge}\n`));
    expect(date).toEqual([{ file: expect.any(String), row: 2, column: 'birth_date', reason: `not a date (YYYY-MM-DD): "${'x'.repeat(60)}…"` }]);
    const header = await refused('patrons', file('.csv', `id,home_library,ptype,${huge}\nZP3,MAIN,1,a\n`));
    expect(header[0]).toMatchObject({ row: 1, column: `${'x'.repeat(60)}…` });
  });

  it('200,000 bad rows: the problems are capped, and reading stops after the first 10,000 bad rows', async () => {
    const path = join(dir, 'flood.csv');
    const fd = openSync(path, 'w');
    writeSync(fd, 'id,home_library,ptype\n');
    for (let chunk = 0; chunk < 20; chunk++) {
      let lines = '';
      for (let i = 0; i < 10_000; i++) lines += `ZF${chunk * 10_000 + i},MAIN,\n`;
      writeSync(fd, lines);
    }
    closeSync(fd);
    const problems = await refused('patrons', path);
    expect(problems.length).toBeLessThanOrEqual(MAX_PROBLEMS + 2);
    expect(JSON.stringify(problems).length).toBeLessThan(200_000);
    expect(problems[0]).toEqual({ file: 'flood.csv', row: 2, column: 'ptype', reason: 'a value is required' });
    expect(problems.slice(-2)).toEqual([
      { file: 'flood.csv', reason: `${STOP_AFTER_BAD_ROWS - MAX_PROBLEMS} more problems not listed` },
      { file: 'flood.csv', row: STOP_AFTER_BAD_ROWS + 1, reason: `reading stopped at row ${STOP_AFTER_BAD_ROWS + 1} after ${STOP_AFTER_BAD_ROWS} bad rows; nothing was imported` },
    ]);
  });

  it('duplicate keys of a file out of order are found by the database, each named on its later rows', async () => {
    const ids = ['ZD1', 'ZD2', 'ZD3', 'ZD4', 'ZD1', 'ZD3', 'ZD5', 'ZD4', 'ZD5', 'ZD5'];
    const path = file('.csv', ['id,home_library,ptype', ...ids.map((id) => `${id},MAIN,1`)].join('\n'));
    cases++;
    const before = await counts();
    const err = await importFile(ctx(), 'patrons', path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect(await counts()).toEqual(before);
    expect((err as ValidationError).problems.map((p) => `${p.row} ${p.reason}`)).toEqual([
      '6 duplicate id "ZD1" (also on row 2)',
      '7 duplicate id "ZD3" (also on row 4)',
      '9 duplicate id "ZD4" (also on row 5)',
      '10 duplicate id "ZD5" (also on row 8)',
      '11 duplicate id "ZD5" (also on row 8)',
    ]);
  });

  it('a sorted file is read without remembering its keys, and still finds a key repeated after the sorted run', async () => {
    // Keys in ascending order cannot repeat; the first key out of order leaves every key to the database.
    const ids = [...Array.from({ length: 12 }, (_, i) => `ZS${String(i + 10)}`), 'ZS13', 'ZS30', 'ZS11', 'ZS30'];
    const path = file('.csv', ['id,home_library,ptype', ...ids.map((id) => `${id},MAIN,1`)].join('\n'));
    const expected = ['14 duplicate id "ZS13" (also on row 5)', '16 duplicate id "ZS11" (also on row 3)', '17 duplicate id "ZS30" (also on row 15)'];
    cases++;
    const err = await importFile(ctx(), 'patrons', path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.map((p) => `${p.row} ${p.reason}`)).toEqual(expected);
  });

  it('record numbers in numeric order count as sorted too, and a number repeated after them is still found', async () => {
    const ids = [...Array.from({ length: 12 }, (_, i) => String(i + 1)), '3', '30', '11'];
    const path = file('.csv', ['id,home_library,ptype', ...ids.map((id) => `${id},MAIN,1`)].join('\n'));
    cases++;
    const err = await importFile(ctx(), 'patrons', path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).problems.map((p) => `${p.row} ${p.reason}`)).toEqual(['14 duplicate id "3" (also on row 4)', '16 duplicate id "11" (also on row 12)']);
  });

  describe('a 1 GB file, written to disk in pieces, never held in memory', () => {
    const big = join(dir, 'gigabyte.csv');
    const GB = 1024 ** 3;

    /** Writes the header, then 8 MB of `line`s written over and over up to 1 GB, without blocking the event loop for long. */
    async function writeGigabyte(header: string, line: (i: number) => string): Promise<void> {
      let text = '';
      for (let i = 0; text.length < 8 * 1024 * 1024; i++) text += line(i);
      const chunk = Buffer.from(text);
      const handle = await open(big, 'w');
      try {
        let written = (await handle.write(header)).bytesWritten;
        while (written < GB) written += (await handle.write(chunk)).bytesWritten;
      } finally {
        await handle.close();
      }
    }

    /** Peak growth of this process' resident memory while `fn` runs, sampled every 10 ms. */
    async function peakGrowth(fn: () => Promise<unknown>): Promise<number> {
      const start = process.memoryUsage().rss;
      let peak = start;
      const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
      try {
        await fn();
      } finally {
        clearInterval(timer);
      }
      return Math.max(peak, process.memoryUsage().rss) - start;
    }

    afterAll(() => rmSync(big, { force: true }));

    it('of bad rows: refused after the first 10,000 bad rows with bounded memory', async () => {
      await writeGigabyte('id,home_library,ptype,last_name\n', (i) => `ZG${i},MAIN,${i % 7 === 0 ? '' : '1'},${'n'.repeat(60)}\n`);
      let problems: Problem[] = [];
      const growth = await peakGrowth(async () => (problems = await refused('patrons', big)));
      expect(problems.at(-1)!.reason).toMatch(/^reading stopped at row \d+ after 10000 bad rows/);
      expect(growth).toBeLessThan(300 * 1024 * 1024);
    });

    it('one unclosed quote: refused once the record passes 32 MB, with bounded memory', async () => {
      await writeGigabyte('id,home_library,ptype,last_name\nZQ1,MAIN,1,"never closed\n', (i) => `ZQ${i},MAIN,1,${'q'.repeat(100)}\n`);
      let problems: Problem[] = [];
      const growth = await peakGrowth(async () => (problems = await refused('patrons', big)));
      expect(problems).toEqual([{ file: 'gigabyte.csv', row: 2, reason: expect.stringMatching(/^not a readable CSV file: .*Max Record Size/i) }]);
      expect(growth).toBeLessThan(300 * 1024 * 1024);
    });
  });
});

// --- .xlsx written by hand: a zip of the few parts a workbook needs ---------------------------

interface Member {
  name: string;
  /** Content, or a repeated piece making a large, highly compressible member. */
  data: Buffer | { prefix: string; repeat: string; times: number; suffix: string };
}

/** A zip archive (deflate), built without holding a large member's unpacked bytes in memory. */
async function zip(members: Member[]): Promise<Buffer> {
  const locals: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const m of members) {
    let packed: Buffer;
    let crc: number;
    let size: number;
    if (Buffer.isBuffer(m.data)) {
      packed = deflateRawSync(m.data);
      crc = crc32(m.data);
      size = m.data.length;
    } else {
      // A repeated piece compresses to almost nothing; the CRC is computed piece by piece.
      const { prefix, repeat, times, suffix } = m.data;
      const block = Buffer.from(repeat.repeat(1024 * 1024));
      const blocks = Math.floor(times / (1024 * 1024));
      crc = crc32(prefix);
      for (let i = 0; i < blocks; i++) crc = crc32(block, crc);
      crc = crc32(suffix, crc);
      size = Buffer.byteLength(prefix) + blocks * block.length + Buffer.byteLength(suffix);
      packed = await deflateRepeated(prefix, block, blocks, suffix);
    }
    const name = Buffer.from(m.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(8, 8);
    local.writeUInt32LE(crc >>> 0, 14);
    local.writeUInt32LE(packed.length, 18);
    local.writeUInt32LE(size, 22);
    local.writeUInt16LE(name.length, 26);
    const entry = Buffer.alloc(46);
    entry.writeUInt32LE(0x02014b50, 0);
    entry.writeUInt16LE(20, 4);
    entry.writeUInt16LE(20, 6);
    entry.writeUInt16LE(8, 10);
    entry.writeUInt32LE(crc >>> 0, 16);
    entry.writeUInt32LE(packed.length, 20);
    entry.writeUInt32LE(size, 24);
    entry.writeUInt16LE(name.length, 28);
    entry.writeUInt32LE(offset, 42);
    locals.push(local, name, packed);
    central.push(entry, name);
    offset += local.length + name.length + packed.length;
  }
  const dirBytes = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(members.length, 8);
  end.writeUInt16LE(members.length, 10);
  end.writeUInt32LE(dirBytes.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, dirBytes, end]);
}

/** Deflates prefix + block × n + suffix as a stream, so the unpacked bytes never exist in memory at once. */
async function deflateRepeated(prefix: string, block: Buffer, n: number, suffix: string): Promise<Buffer> {
  const out: Buffer[] = [];
  const deflate = createDeflateRaw({ level: 1 });
  deflate.on('data', (b: Buffer) => out.push(b));
  await pipeline(
    (function* () {
      yield Buffer.from(prefix);
      for (let i = 0; i < n; i++) yield block;
      yield Buffer.from(suffix);
    })(),
    deflate,
  );
  return Buffer.concat(out);
}

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>';
const NS = 'http://schemas.openxmlformats.org/spreadsheetml/2006/main';

function workbookParts(sheetXml: Member['data'], sharedStrings?: Member['data']): Member[] {
  const types = `${XML}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>${sharedStrings ? '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>' : ''}</Types>`;
  const rels = `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`;
  const workbook = `${XML}<workbook xmlns="${NS}" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`;
  const wbRels = `${XML}<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>${sharedStrings ? '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>' : ''}</Relationships>`;
  return [
    { name: '[Content_Types].xml', data: Buffer.from(types) },
    { name: '_rels/.rels', data: Buffer.from(rels) },
    { name: 'xl/workbook.xml', data: Buffer.from(workbook) },
    { name: 'xl/_rels/workbook.xml.rels', data: Buffer.from(wbRels) },
    ...(sharedStrings ? [{ name: 'xl/sharedStrings.xml', data: sharedStrings }] : []),
    { name: 'xl/worksheets/sheet1.xml', data: sheetXml },
  ];
}

/** A worksheet of inline-string rows; a cell given as { f, v } is a formula with (or without) a saved value. */
function sheet(rows: (string | { f: string; v?: string })[][]): Buffer {
  const col = (i: number) => String.fromCharCode(65 + i);
  const body = rows
    .map((cells, r) => {
      const xml = cells.map((c, i) => {
        const ref = `${col(i)}${r + 1}`;
        if (typeof c === 'string') return `<c r="${ref}" t="inlineStr"><is><t>${c}</t></is></c>`;
        return `<c r="${ref}" t="str"><f>${c.f}</f>${c.v === undefined ? '' : `<v>${c.v}</v>`}</c>`;
      });
      return `<row r="${r + 1}">${xml.join('')}</row>`;
    })
    .join('');
  return Buffer.from(`${XML}<worksheet xmlns="${NS}"><sheetData>${body}</sheetData></worksheet>`);
}

describe('.xlsx files', () => {
  it('a hand-made workbook imports (the zip writer below is sound)', async () => {
    const path = file('.xlsx', await zip(workbookParts(sheet([['code', 'name', 'time_zone'], ['ZX1', 'Zip Branch', 'UTC']]))));
    expect((await attempt('libraries', path)).result).toMatchObject({ inserted: 1 });
    await undo('libraries');
  });

  it('a text file, an image or an old .xls named .xlsx is refused before the zip reader sees it', async () => {
    for (const content of [GOOD.libraries, Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]), Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1])]) {
      expect(await refused('libraries', file('.xlsx', content))).toEqual([
        { file: expect.any(String), reason: 'not an Excel .xlsx workbook (an .xlsx file is a zip archive; this one is not)' },
      ]);
    }
    expect(await refused('libraries', file('.csv', await zip(workbookParts(sheet([['code']])))))).toEqual([
      { file: expect.any(String), reason: 'not a CSV file: it is a zip archive (an .xlsx workbook named .csv?)' },
    ]);
  });

  it('a formula cell is read as the value the spreadsheet saved, never calculated; one with no saved value is refused by row and column', async () => {
    const saved = sheet([
      ['code', 'name', 'time_zone'],
      ['ZX2', { f: 'HYPERLINK("http://x","y")', v: 'Saved Name' }, 'UTC'],
    ]);
    expect((await attempt('libraries', file('.xlsx', await zip(workbookParts(saved))))).result).toMatchObject({ inserted: 1 });
    expect((await t.db.selectFrom('libraries').select('name').where('code', '=', 'ZX2').executeTakeFirstOrThrow()).name).toBe('Saved Name');
    await undo('libraries');

    const unsaved = sheet([
      ['code', 'name', 'time_zone'],
      ['ZX3', { f: '1+1' }, 'UTC'],
    ]);
    expect(await refused('libraries', file('.xlsx', await zip(workbookParts(unsaved))))).toEqual([
      { file: expect.any(String), row: 2, column: 'name', reason: 'a formula with no saved value; Arrears does not calculate formulas: save the file from a spreadsheet program, or paste values' },
    ]);
  });

  it('a zip bomb (600 MB of shared strings packed into a few hundred KB) is refused before it is unpacked', async () => {
    const times = 600 * 1024 * 1024;
    const strings = { prefix: `${XML}<sst xmlns="${NS}" count="1" uniqueCount="1"><si><t>`, repeat: 'A', times, suffix: '</t></si></sst>' };
    const path = file('.xlsx', await zip(workbookParts(sheet([['code', 'name', 'time_zone']]), strings)));
    const problems = await refused('libraries', path);
    expect(problems).toEqual([{ file: expect.any(String), reason: expect.stringMatching(/^refused: "xl\/sharedStrings.xml" in this workbook unpacks to 600 MB from \d+ KB \(a zip bomb\?\)$/) }]);
  });
});

describe('the arrears import command', () => {
  it('exits 2 naming file, row and column for hostile files, and writes nothing', async () => {
    // PGlite: a database folder shared by the child processes; PostgreSQL: this file's schema.
    const folder = join(dir, 'cli-db');
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : folder;
    const cli = (...args: string[]) =>
      promisify(execFile)('npx', ['tsx', 'src/cli/main.ts', '--db', url, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 }).then(
        (r) => ({ code: 0, stderr: r.stderr.replace(/^npm warn .*\n/gm, '') }),
        (e: { code: number; stderr: string }) => ({ code: e.code, stderr: e.stderr.replace(/^npm warn .*\n/gm, '') }),
      );
    expect((await cli('import', 'libraries', file('.csv', 'code,name,time_zone\nCLI1,Cli Branch,UTC\n'))).code).toBe(0);
    const tableCounts = async () => {
      if (testDbKind() === 'postgres') return counts();
      const db = await openDatabase({ url: folder });
      try {
        return (await sql<{ n: number }>`select (select count(*) from libraries)::int + (select count(*) from patrons)::int * 1000 as n`.execute(db.db)).rows[0]!.n;
      } finally {
        await db.close();
      }
    };
    const before = await tableCounts();
    cases += 4;
    const latin1 = await cli('import', 'libraries', file('.csv', Buffer.from('code,name,time_zone\nCLI2,Caf\u00e9,UTC\n', 'latin1')));
    expect(latin1).toEqual({ code: 2, stderr: expect.stringMatching(/^error: f\d+\.csv, row 2, column name: contains bytes that are not UTF-8 text/) });
    const huge = await cli('import', 'patrons', file('.csv', `id,home_library,ptype,address\nCLI3,CLI1,1,${'h'.repeat(10 * 1024 * 1024)}\n`));
    expect(huge).toEqual({ code: 2, stderr: expect.stringMatching(/^error: f\d+\.csv, row 2, column address: longer than 1000 characters\n$/) });
    const notZip = await cli('import', 'libraries', file('.xlsx', 'just text'));
    expect(notZip).toEqual({ code: 2, stderr: expect.stringMatching(/^error: f\d+\.xlsx: not an Excel \.xlsx workbook/) });
    const bytes = await cli('import', 'charges', file('.csv', Buffer.from([0x22, 0x0a, 0x22, 0x22, 0x2c, 0xc3, 0x28, 0x00, 0x0d])));
    expect(bytes.code, bytes.stderr).toBe(2);
    expect(bytes.stderr).toMatch(/^error: f\d+\.csv/);
    expect(await tableCounts()).toEqual(before);
  });
});

describe('POST /api/imports/:kind', () => {
  it('hostile uploads are a 400 naming the uploaded file, never a 500, and write nothing', async () => {
    await addUser(ctx(), { username: 'uploader', password: null, roles: ['admin'] });
    const headers = { authorization: `Bearer ${(await createToken(ctx(), 'uploader', 'fuzz')).token}` };
    const app = await buildServer(ctx());
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...KINDS),
          fc.oneof(
            fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
            fc.array(fc.array(nastyCell, { maxLength: 8 }), { minLength: 1, maxLength: 5 }).map((rows) => Buffer.from(rows.map((r) => r.join(',')).join('\n'))),
          ),
          fc.constantFrom('upload.csv', 'upload.xlsx'),
          async (kind, content, name) => {
            cases++;
            const boundary = 'fuzzboundary7c1';
            const payload = Buffer.concat([
              Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\nContent-Type: application/octet-stream\r\n\r\n`),
              content,
              Buffer.from(`\r\n--${boundary}--\r\n`),
            ]);
            const before = await counts();
            const res = await app.inject({ method: 'POST', url: `/api/imports/${kind}`, headers: { ...headers, 'content-type': `multipart/form-data; boundary=${boundary}` }, payload });
            expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
            if (res.statusCode === 200) return void (await undo(kind));
            expect(res.statusCode, res.body.slice(0, 300)).toBe(400);
            const { error } = res.json() as { error: { code: string; problems: Problem[] } };
            expect(error.code).toBe('validation');
            expectNamed(error.problems, name);
            expect(await counts()).toEqual(before);
          },
        ),
        { numRuns: 60 },
      );
    } finally {
      await app.close();
    }
  });
});
