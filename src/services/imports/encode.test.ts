// rowEncoder (a row's cells, and its line's bytes) against the general way (parseRow, then the staged tuple as COPY text): for any
// row it encodes, parseRow finds no problem and stages the same values; cells of every shape
// parseRow treats specially (edge spaces, controls, backslashes, odd amounts and dates, clock
// changes) are mixed in so that both answers are exercised.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { COLUMNS, dateTimeShape, isDateTimeValue, parseRow, readHeader, type ImportKind } from '../../domain/import-formats.ts';
import { dateTimeShapeOf, INSTANT, KeyOrder, LOCAL, OTHER_SHAPE, rowEncoder, type RowEncoder } from './encode.ts';
import { CopyText, copyLine, type StageValue } from './copy-text.ts';
import { fastWallClockResolver } from './wall-clock.ts';
import { DigestSet, digestBytes, digestInto, digestSalt, newDigest } from './digest.ts';
import { localDateOf } from '../../domain/dates.ts';

const ZONES: Record<string, string> = { MAIN: 'America/Chicago', HILO: 'Pacific/Honolulu', LHI: 'Australia/Lord_Howe', KOL: 'Asia/Kolkata' };

const odd = fc.constantFrom(' a', 'a ', '\ta', 'a\\b', 'a\tb', '\u00a0x', 'x\u3000', '\ufeffx', 'x\u007fy', 'x\ufffdy', 'é', '日本', '\u0000', '"q"', ' ', '', 'a'.repeat(101));
const common = <T,>(a: fc.Arbitrary<T>, b: fc.Arbitrary<T>) => fc.oneof({ arbitrary: a, weight: 6 }, { arbitrary: b, weight: 1 });
const keys = common(fc.stringMatching(/^[a-z][0-9]{1,8}$/), odd);
const texts = common(fc.string({ maxLength: 12 }), fc.oneof(fc.constantFrom('Jesús', 'O\'Brien', 'x'.repeat(1001)), odd));
const amounts = common(
  fc.integer({ min: 0, max: 99_999 }).map((c) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`),
  fc.constantFrom('12', '12.5', '012.50', '0', '0.00', '-1.00', '1.', '.5', '1.234', '1e3', '+1', ' 1.00', '99999999999999', '9999999999999.99', 'NaN', ''),
);
const dates = common(
  fc.date({ min: new Date('1900-01-01'), max: new Date('2040-12-31'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
  fc.constantFrom('2024-02-29', '2023-02-29', '2024-13-01', '0999-01-01', '0099-01-01', '2024-1-01', '2024-01-01T00:00:00', ''),
);
const pad = (n: number) => String(n).padStart(2, '0');
const localTimes = fc
  .record({ y: fc.integer({ min: 1880, max: 2035 }), mo: fc.constantFrom(1, 3, 4, 10, 11, 12), d: fc.integer({ min: 1, max: 31 }), h: fc.integer({ min: 0, max: 23 }), mi: fc.constantFrom(0, 30, 59), s: fc.constantFrom(0, 59) })
  .map((t) => `${t.y}-${pad(t.mo)}-${pad(t.d)}T${pad(t.h)}:${pad(t.mi)}:${pad(t.s)}`);
const dateTimes = common(
  fc.oneof(localTimes, localTimes.map((t) => t.replace('T', ' ')), localTimes.map((t) => `${t}Z`)),
  fc.oneof(fc.tuple(localTimes, fc.constantFrom('+05:30', '-06:00', '+14:00', '-00:00', '+15:00', '-06:60')).map(([t, o]) => t + o),
  fc.constantFrom('2024-03-10T02:30:00', '2024-11-03T01:30:00', '2024-02-30T00:00:00', '2024-01-01T24:00:00', '2024-01-01', '2024-01-01T10:00', '2024-01-01T10:00:00.5Z', '')),
);
const cellOf = (kind: ImportKind, name: string): fc.Arbitrary<string> => {
  const spec = COLUMNS[kind].find((c) => c.name === name)!;
  if (name === 'library' || name === 'home_library') return common(fc.constantFrom(...Object.keys(ZONES)), fc.oneof(fc.constant('NOPE'), odd));
  switch (spec.form) {
    case 'key':
    case 'ptype':
      return keys;
    case 'oneOf':
      return common(fc.constantFrom(...spec.allowed!), fc.constantFrom('Overdue', 'lost', ''));
    case 'amount':
      return amounts;
    case 'date':
      return dates;
    case 'dateTime':
      return dateTimes;
    default:
      return texts;
  }
};

/** What Import.stage writes for a parsed row, or undefined when parseRow finds problems. */
function generalLine(kind: ImportKind, header: ReturnType<typeof readHeader>['header'], cells: string[], row: number, zoneOf: (cells: string[]) => string | undefined): string | undefined {
  const parsed = parseRow(header, cells, row);
  if (!parsed || parsed.problems.length) return undefined;
  const resolve = fastWallClockResolver();
  const zone = zoneOf(cells);
  const tuple: StageValue[] = [row];
  for (const c of COLUMNS[kind]) {
    const v = parsed.values[c.name];
    if (v === undefined) tuple.push(null);
    else if (isDateTimeValue(v)) tuple.push('instant' in v ? v.instant : zone === undefined ? null : resolve(v.local, zone));
    else tuple.push(v);
  }
  return copyLine(tuple);
}

/** Instants written either way compare as instants. */
function sameLine(encoded: string, general: string, kind: ImportKind): void {
  const a = encoded.split('\t');
  const b = general.split('\t');
  expect(a.length).toBe(b.length);
  COLUMNS[kind].forEach((c, i) => {
    if (c.form === 'dateTime') expect(new Date(a[i + 1]!.replace(' ', 'T')).toISOString()).toBe(b[i + 1]);
    else expect(a[i + 1]).toBe(b[i + 1]);
  });
  expect(a[0]).toBe(b[0]);
}

/** What the encoder writes for a row, as text without its line break; undefined when it leaves the row to parseRow. */
function encodeLine(encode: RowEncoder, cells: readonly string[], row: number): string | undefined {
  const viaCells = written((out) => encode.cells(cells, row, out));
  const line = cells.join(',');
  // As the CSV reader hands a line over: valid UTF-8 without U+FFFD, no quotes or line breaks, inside a bigger chunk.
  if (cells.every((c) => !/[,"\r\n\uFFFD]/.test(c)) && Buffer.from(line).toString() === line) {
    const [before, bytes] = [Buffer.from('x,"y",1.00\n'), Buffer.from(line)];
    const chunk = Buffer.concat([before, bytes, Buffer.from('\n9,a.b,2024-01-01,,\n')]);
    const viaLine = written((out) => encode.line(chunk, before.length, before.length + bytes.length, row, out));
    expect(viaLine, `the line ${JSON.stringify(line)} encodes as its cells do`).toBe(viaCells);
  }
  if (viaCells !== undefined) {
    // The key given is the row's: the same key again is out of order, one after the empty key is not.
    const key = Buffer.from(cells[0]!);
    const [again, after] = [new KeyOrder(), new KeyOrder()];
    again.next(key, 0, key.length);
    after.next(key, 0, 0);
    encode.keyInto(again);
    encode.keyInto(after);
    expect([again.ascending, after.ascending]).toEqual([false, true]);
  }
  // As the reader hands over a line with quoted cells (QUOTED): each cell with a comma or quote in
  // quotes, and every other one too on even rows.
  if (cells.every((c) => !/[\r\n\uFFFD]/.test(c) && Buffer.from(c).toString() === c)) {
    const quoted = cells.map((c) => (/[,"]/.test(c) || row % 2 === 0 ? `"${c.replace(/"/g, '""')}"` : c)).join(',');
    const bytes = Buffer.from(`x\n${quoted}\n"a",b\n`);
    const viaLine = written((out) => encode.line(bytes, 2, 2 + Buffer.byteLength(quoted), row, out, true));
    // A cell holding a quote ("" in the line) is left to the general way; any other encodes as its cells do.
    if (viaLine !== undefined || !cells.some((c) => c.includes('"'))) expect(viaLine, `the quoted line ${JSON.stringify(quoted)} encodes as its cells do`).toBe(viaCells);
  }
  return viaCells;
}

function written(encode: (out: CopyText) => boolean): string | undefined {
  const out = new CopyText();
  if (!encode(out)) {
    expect(out.at, 'a row left to parseRow writes nothing').toBe(0);
    return undefined;
  }
  const text = Buffer.concat(out.take()).toString('utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text.slice(0, -1);
}

describe('dateTimeShapeOf', () => {
  it('reads the bytes of a cell as dateTimeShape reads its text', () => {
    const shapes = { local: LOCAL, instant: INSTANT, other: OTHER_SHAPE };
    // Date-times, some with one character changed (digits, separators, a letter, a byte past ASCII), among other bytes.
    const near = fc.tuple(dateTimes, fc.nat(), fc.constantFrom('0', '9', '-', ':', 'T', ' ', 'Z', '+', 'x', 'é', '\u00ff', '/')).map(([t, i, c]) => (t.length ? t.slice(0, i % t.length) + c + t.slice((i % t.length) + 1) : c));
    fc.assert(
      fc.property(fc.oneof(dateTimes, near, fc.string({ minLength: 18, maxLength: 26 })), fc.nat({ max: 5 }), (t, pad) => {
        const bytes = Buffer.concat([Buffer.alloc(pad, 0x31), Buffer.from(t, 'utf8'), Buffer.from('5,')]);
        const s = pad;
        const e = pad + Buffer.byteLength(t, 'utf8');
        expect(dateTimeShapeOf(bytes, s, e), t).toBe(shapes[dateTimeShape(bytes.toString('latin1', s, e))]);
      }),
      { numRuns: 20_000 },
    );
  });
});

describe('KeyOrder', () => {
  const ascending = (keys: string[]) => {
    const order = new KeyOrder();
    for (const k of keys) order.next(Buffer.from(`,${k},`), 1, 1 + Buffer.byteLength(k));
    return order.ascending;
  };
  it('holds while keys rise in byte order, or in length and then byte order (record numbers)', () => {
    expect(ascending(['a1', 'a2', 'b', 'é'])).toBe(true);
    expect(ascending(['8', '9', '10', '11', '100'])).toBe(true);
    // One order broken, the other held.
    expect(ascending(['b', 'aa', 'ab'])).toBe(true);
    expect(ascending(['a', 'b', 'ba', 'c'])).toBe(true);
  });
  it('breaks at a key repeated or out of both orders, and stays broken', () => {
    expect(ascending(['9', '10', '10'])).toBe(false);
    expect(ascending(['a', 'a'])).toBe(false);
    expect(ascending(['10', '9', '100'])).toBe(false);
    expect(ascending(['b', 'aa', 'c'])).toBe(false);
    expect(ascending(['2', '1', '3', '4'])).toBe(false);
  });
});

describe('rowEncoder', () => {
  for (const kind of ['patrons', 'items', 'charges', 'payments'] as const) {
    it(`${kind}: every row it encodes, parseRow stages the same, without problems`, () => {
      const names = COLUMNS[kind].map((c) => c.name);
      const { header } = readHeader(kind, [...names, '']);
      const library = names.indexOf('library');
      const zoneOf = (cells: readonly string[]) => (library < 0 ? undefined : ZONES[cells[library] ?? '']);
      const zones = new Map(Object.entries(ZONES));
      const encode = rowEncoder(header, { stageColumns: names, zoneColumn: library < 0 ? undefined : 'library', zones, zoneRequired: library >= 0, keyColumn: names[0]!, wallClock: fastWallClockResolver() });
      let encoded = 0;
      fc.assert(
        fc.property(fc.tuple(...names.map((n) => cellOf(kind, n))), fc.constantFrom([], [], [], [''], ['x'], [' '], ['', 'x'], ['', '']), fc.integer({ min: 2, max: 1_000_000 }), (cells, extra, row) => {
          const all = [...cells, ...extra];
          const line = encodeLine(encode, all, row);
          if (line === undefined) return;
          encoded++;
          const general = generalLine(kind, header, all, row, (c) => zoneOf(c));
          expect(general, `parseRow found problems in ${JSON.stringify(all)}`).toBeDefined();
          // The encoder leaves an unknown library to the general way, which names it.
          if (library >= 0) expect(ZONES[all[library]!]).toBeDefined();
          sameLine(line, general!, kind);
        }),
        { numRuns: 5000 },
      );
      // Not vacuous: a good share of the generated rows is of the common shapes.
      expect(encoded).toBeGreaterThan(100);
    });
  }

  it('reads a quoted cell between its quotes, and leaves one holding a quote, or text after its closing quote, to the general way', () => {
    const { header } = readHeader('patrons', ['id', 'first_name', 'last_name']);
    const encode = rowEncoder(header, { stageColumns: COLUMNS.patrons.map((c) => c.name), keyColumn: 'id', wallClock: fastWallClockResolver() });
    const line = (text: string) => written((out) => encode.line(Buffer.from(`${text}\n`), 0, Buffer.byteLength(text), 3, out, true));
    expect(line('"p1","Ann, Jr.",Lee')?.split('\t').slice(0, 5)).toEqual(['3', 'p1', '\\N', 'Ann, Jr.', 'Lee']);
    expect(line('p1,"",Lee')?.split('\t').slice(0, 5)).toEqual(['3', 'p1', '\\N', '', 'Lee']);
    expect(line('p1,"say ""hi""",Lee')).toBeUndefined();
    expect(line('p1,"Ann"x,Lee')).toBeUndefined();
    expect(line('p1,"Ann"x')).toBeUndefined();
    expect(line('p1,Ann"x,Lee')).toBeUndefined();
    expect(line('p1,"Ann')).toBeUndefined();
  });

  it('leaves a column missing from the file null, and a short row’s missing cells blank', () => {
    const { header } = readHeader('charges', ['id', 'patron_id', 'library', 'reason', 'amount', 'assessed_at']);
    const encode = rowEncoder(header, { stageColumns: COLUMNS.charges.map((c) => c.name), zoneColumn: 'library', zones: new Map([['MAIN', 'UTC']]), zoneRequired: true, keyColumn: 'id', wallClock: fastWallClockResolver() });
    expect(encodeLine(encode, ['c1', 'p1', 'MAIN', 'overdue', '1.5', '2024-01-01T00:00:00'], 9)).toBe('9\tc1\tp1\t\\N\tMAIN\toverdue\t150\t2024-01-01T00:00:00+00:00');
    expect(encodeLine(encode, ['c1', 'p1', 'MAIN', 'overdue', '1.5'], 9)).toBeUndefined();
  });

  it('writes a wall-clock time with its day’s offset, and leaves a day the clocks change to the general way', () => {
    const { header } = readHeader('charges', COLUMNS.charges.map((c) => c.name));
    const encode = rowEncoder(header, { stageColumns: COLUMNS.charges.map((c) => c.name), zoneColumn: 'library', zones: new Map([['MAIN', 'America/Chicago']]), zoneRequired: true, keyColumn: 'id', wallClock: fastWallClockResolver() });
    expect(encodeLine(encode, ['c1', 'p1', '', 'MAIN', 'overdue', '2.00', '2024-12-10T22:09:09'], 2)).toBe('2\tc1\tp1\t\\N\tMAIN\toverdue\t200\t2024-12-10T22:09:09-06:00');
    expect(encodeLine(encode, ['c1', 'p1', '', 'MAIN', 'overdue', '2.00', '2024-03-10T12:00:00'], 2)).toBeUndefined();
  });

  it('ends a charge copied into its table with assessed_at’s date in its library’s zone, as assessedOnSql derives it', () => {
    const names = COLUMNS.charges.map((c) => c.name);
    const { header } = readHeader('charges', names);
    const zones = new Map(Object.entries(ZONES));
    const encode = rowEncoder(header, { stageColumns: names, zoneColumn: 'library', zones, zoneRequired: true, keyColumn: 'id', wallClock: fastWallClockResolver(), rowNumbers: false, localDateOf: 'assessed_at' });
    const at = names.indexOf('assessed_at');
    let encoded = 0;
    fc.assert(
      fc.property(fc.tuple(...names.map((n) => cellOf('charges', n))), (cells) => {
        const line = written((out) => encode.cells(cells, 2, out));
        if (line === undefined) return;
        encoded++;
        const values = line.split('\t');
        expect(values).toHaveLength(names.length + 1);
        const instant = new Date(values[at]!.replace(' ', 'T'));
        expect(values[names.length], `${cells[at]} at ${cells[names.indexOf('library')]}`).toBe(localDateOf(instant, ZONES[cells[names.indexOf('library')]!]!));
      }),
      { numRuns: 5000 },
    );
    expect(encoded).toBeGreaterThan(100);
    const one = (assessedAt: string, library = 'MAIN') => written((out) => encode.cells(['c1', 'p1', '', library, 'overdue', '2.00', assessedAt], 2, out))?.split('\t').at(-1);
    // An instant late in the evening in Chicago is the next day in UTC; Kolkata is ahead.
    expect(one('2024-12-10T03:00:00Z')).toBe('2024-12-09');
    expect(one('2024-12-10T22:09:09')).toBe('2024-12-10');
    expect(one('2024-12-10T20:00:00+00:00', 'KOL')).toBe('2024-12-11');
    expect(one('2024-12-10T23:59:59-06:00')).toBe('2024-12-10');
    // Where the zone's clocks change that day, the general way works it out.
    expect(one('2024-03-10T12:00:00Z')).toBeUndefined();
  });

  it("ends a line with its digest, the row's text without its row number, however the line was read; a stored one is written nowhere", () => {
    const names = COLUMNS.patrons.map((c) => c.name);
    const { header } = readHeader('patrons', names);
    const options = { stageColumns: names, keyColumn: 'id', wallClock: fastWallClockResolver() };
    const cells: string[] = names.map((n) => (n === 'id' ? 'p1' : n === 'home_library' ? 'MAIN' : n === 'ptype' ? '3' : n === 'birth_date' ? '1990-01-01' : ''));
    cells[names.indexOf('first_name')] = 'Ann, Jo';
    const salt = digestSalt(names);
    const plain = written((out) => rowEncoder(header, options).cells(cells, 7, out))!;
    const text = plain.slice(plain.indexOf('\t') + 1);
    const d = newDigest();
    digestInto(Buffer.from(text), 0, Buffer.byteLength(text), salt, d);
    const expected = `${plain}\t\\\\x${digestBytes(d).toString('hex')}`;
    const quoted = Buffer.from(cells.map((c) => (c.includes(',') ? `"${c}"` : c)).join(','));
    expect(written((out) => rowEncoder(header, { ...options, digests: { salt } }).cells(cells, 7, out))).toBe(expected);
    expect(written((out) => rowEncoder(header, { ...options, digests: { salt } }).line(quoted, 0, quoted.length, 7, out, true))).toBe(expected);
    // Another row number, the same digest: found among the stored ones and written nowhere.
    const encode = rowEncoder(header, { ...options, digests: { salt, stored: new DigestSet(digestBytes(d)) } });
    const out = new CopyText();
    expect(encode.cells(cells, 9, out)).toBe(true);
    expect([out.at, out.lines, encode.skipped]).toEqual([0, 0, 1]);
    // Taken once: the same row again is written, with its digest.
    expect(encode.cells(cells, 10, out)).toBe(true);
    expect(encode.skipped).toBe(1);
    // Told to stop skipping, a stored line is written too.
    const stopped = rowEncoder(header, { ...options, digests: { salt, stored: new DigestSet(digestBytes(d)) } });
    stopped.stopSkipping();
    const all = new CopyText();
    expect([stopped.cells(cells, 9, all), all.lines, stopped.skipped]).toEqual([true, 1, 0]);
  });
});
