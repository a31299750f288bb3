import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { cellText, parseImportDateTime, parseRow, readHeader, wallClockResolver } from './import-formats.ts';
import { instantAt, parseDateTime, type LocalDate } from './dates.ts';

describe('readHeader', () => {
  it('accepts the columns in any order and remembers which are present', () => {
    const { header, problems } = readHeader('charges', ['amount', 'id', 'assessed_at', 'reason', 'library', 'patron_id']);
    expect(problems).toEqual([]);
    expect([...header.present].sort()).toEqual(['amount', 'assessed_at', 'id', 'library', 'patron_id', 'reason']);
  });
  it('names a missing required column', () => {
    expect(readHeader('charges', ['id', 'patron_id', 'library', 'reason', 'assessed_at']).problems).toEqual([
      { row: 1, column: 'amount', reason: 'required column is missing' },
    ]);
  });
  it('names an unknown column and a repeated one', () => {
    expect(readHeader('libraries', ['code', 'name', 'time_zone', 'colour', 'name']).problems).toEqual([
      { row: 1, column: 'colour', reason: 'unknown column; libraries files have code, name, time_zone' },
      { row: 1, column: 'name', reason: 'column appears twice' },
    ]);
  });
});

describe('parseRow', () => {
  const { header } = readHeader('payments', ['id', 'patron_id', 'charge_id', 'type', 'method', 'amount', 'paid_at']);

  it('types every cell and keeps blank optional cells as their blank value', () => {
    expect(parseRow(header, ['Y1', 'P1', '', 'waive', '', ' 12.5 ', '2015-04-01T12:00:00Z'], 2)).toEqual({
      values: { id: 'Y1', patron_id: 'P1', charge_id: null, type: 'waive', method: '', amount: 1250, paid_at: { instant: new Date('2015-04-01T12:00:00Z') } },
      problems: [],
    });
  });
  it('collects every problem of the row, with its row and column', () => {
    expect(parseRow(header, ['', 'P1', '', 'refund', 'cash', '-3.00', '2015-02-30'], 7)?.problems).toEqual([
      { row: 7, column: 'id', reason: 'a value is required' },
      { row: 7, column: 'type', reason: 'unknown type "refund"; expected one of payment, waive, writeoff' },
      { row: 7, column: 'amount', reason: 'negative amount "-3.00"' },
      { row: 7, column: 'paid_at', reason: 'not an ISO 8601 date-time: "2015-02-30"' },
    ]);
  });
  it('rejects a zero amount and an amount with three decimals', () => {
    expect(parseRow(header, ['Y1', 'P1', '', 'payment', '', '0.00', '2015-04-01'], 3)?.problems).toEqual([
      { row: 3, column: 'amount', reason: 'amount must be more than 0.00: "0.00"' },
    ]);
    expect(parseRow(header, ['Y1', 'P1', '', 'payment', '', '1.005', '2015-04-01'], 3)?.problems).toEqual([
      { row: 3, column: 'amount', reason: 'not an amount (like 12.50): "1.005"' },
    ]);
  });
  it('skips an empty row and flags a value under a blank header cell', () => {
    expect(parseRow(header, ['', ' ', ''], 4)).toBeNull();
    const wide = readHeader('libraries', ['code', 'name', 'time_zone', '']).header;
    expect(parseRow(wide, ['MAIN', 'Main', 'Mars/Olympus', 'x'], 2)?.problems).toEqual([
      { row: 2, column: 'time_zone', reason: 'unknown time zone "Mars/Olympus"' },
      { row: 2, column: '#4', reason: 'value "x" is in a column with no header' },
    ]);
  });
  it('refuses ids too long to index and text PostgreSQL cannot store', () => {
    const items = readHeader('items', ['id', 'status', 'title']).header;
    expect(parseRow(items, ['I'.repeat(101), 'lost', 'A\u0000B'], 2)?.problems).toEqual([
      { row: 2, column: 'id', reason: 'longer than 100 characters' },
      { row: 2, column: 'title', reason: 'contains a NUL character' },
    ]);
  });
  it('checks item status and patron ptype', () => {
    const items = readHeader('items', ['id', 'status']).header;
    expect(parseRow(items, ['I1', 'gone'], 2)?.problems).toEqual([
      { row: 2, column: 'status', reason: 'unknown status "gone"; expected one of available, checked_out, lost, missing, withdrawn, claims_returned' },
    ]);
    const patrons = readHeader('patrons', ['id', 'home_library', 'ptype', 'birth_date']).header;
    expect(parseRow(patrons, ['P1', 'MAIN', 'P'.repeat(101), '1980-5-1'], 2)?.problems).toEqual([
      { row: 2, column: 'ptype', reason: 'a patron type must be at most 100 characters; this has 101' },
      { row: 2, column: 'birth_date', reason: 'not a date (YYYY-MM-DD): "1980-5-1"' },
    ]);
    expect(parseRow(patrons, ['P1', 'MAIN', 'P\tT', ''], 2)?.problems).toEqual([{ row: 2, column: 'ptype', reason: 'a patron type must not contain control characters' }]);
  });
  it('reads a PTYPE as text: a number as its digits, a code as it is (trimmed like every cell)', () => {
    const patrons = readHeader('patrons', ['id', 'home_library', 'ptype']).header;
    expect(['3', ' PT ', 'Patrons', '03', '1.5'].map((t) => parseRow(patrons, ['P1', 'MAIN', t], 2)?.values.ptype)).toEqual(['3', 'PT', 'Patrons', '03', '1.5']);
    expect(parseRow(patrons, ['P1', 'MAIN', ''], 2)?.problems).toEqual([{ row: 2, column: 'ptype', reason: 'a value is required' }]);
  });
  it('takes the contact columns an ILS knows, each optional', () => {
    const cols = ['id', 'home_library', 'ptype', 'address2', 'mobile', 'alt_phone_1', 'alt_phone_2', 'adult_or_child'];
    const r = readHeader('patrons', cols);
    expect(r.problems).toEqual([]);
    expect(parseRow(r.header, ['P1', 'MAIN', 'PT', 'Apt 2', '555-0101', '555-0102', '', 'C'], 2)).toEqual({
      values: { id: 'P1', home_library: 'MAIN', ptype: 'PT', address2: 'Apt 2', mobile: '555-0101', alt_phone_1: '555-0102', alt_phone_2: '', adult_or_child: 'C' },
      problems: [],
    });
    expect(readHeader('patrons', ['id', 'home_library', 'ptype']).problems).toEqual([]);
  });
});

describe('import date-times', () => {
  it('keeps a value without an offset as wall-clock time and one with an offset as an instant', () => {
    expect(parseImportDateTime('2015-03-02 23:30')).toEqual({ local: { date: '2015-03-02', hour: 23, minute: 30, second: 0 } });
    expect(parseImportDateTime('2015-03-02')).toEqual({ local: { date: '2015-03-02', hour: 0, minute: 0, second: 0 } });
    expect(parseImportDateTime('2015-03-02T23:30:00-05:00')).toEqual({ instant: new Date('2015-03-03T04:30:00Z') });
    expect(parseImportDateTime('2015-03-02T24:00:00')).toBeNull();
    expect(parseImportDateTime('03/02/2015')).toBeNull();
  });

  it('reads the common shapes (plain, Z, ±HH:MM) exactly as parseDateTime does, impossible dates and times included', () => {
    const two = (lo: number, hi: number) => fc.integer({ min: lo, max: hi }).map((v) => String(v).padStart(2, '0'));
    const text = fc
      .tuple(
        fc.constantFrom('0099', '1900', '1999', '2000', '2023', '2024', '2100', '9999'),
        two(0, 13),
        two(0, 32),
        fc.constantFrom('T', ' ', 'x'),
        two(0, 25),
        two(0, 61),
        two(0, 61),
        fc.constantFrom('', 'Z', 'z', '-05:00', '+05:30', '+14:00', '-15:00', '+01:60', '-0500', '+05:3'),
      )
      .map(([y, mo, d, sep, h, mi, s, zone]) => `${y}-${mo}-${d}${sep}${h}:${mi}:${s}${zone}`);
    fc.assert(
      fc.property(text, (t) => {
        const v = parseImportDateTime(t);
        const reference = parseDateTime(t, 'UTC');
        if (v === null || reference === null) return v === null && reference === null;
        if ('instant' in v) return v.instant.getTime() === reference.getTime();
        return instantAt(v.local.date, 'UTC', v.local.hour, v.local.minute, v.local.second).getTime() === reference.getTime();
      }),
      { numRuns: 5000 },
    );
    expect(parseImportDateTime('2024-02-29T10:00:00')).toEqual({ local: { date: '2024-02-29', hour: 10, minute: 0, second: 0 } });
    expect(parseImportDateTime('2023-02-29T10:00:00')).toBeNull();
    expect(parseImportDateTime('2023-08-22T10:59:53-05:00')).toEqual({ instant: new Date('2023-08-22T15:59:53Z') });
  });

  it('resolves wall-clock time exactly as parseDateTime does, DST gaps and overlaps included', () => {
    const zones = ['America/Chicago', 'America/New_York', 'Europe/London', 'Australia/Sydney', 'Pacific/Auckland', 'Asia/Kolkata', 'UTC'];
    const resolve = wallClockResolver();
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2030-12-31T23:59:59Z'), noInvalidDate: true }),
        (zone, d) => {
          const text = d.toISOString().slice(0, 19);
          const local = parseImportDateTime(text);
          if (!local || !('local' in local)) return false;
          return resolve(local.local, zone).getTime() === parseDateTime(text, zone)!.getTime();
        },
      ),
      { numRuns: 2000 },
    );
    for (const text of ['2018-03-11T02:30:00', '2018-11-04T01:30:00', '2018-11-04T01:59:59', '2018-03-11T03:00:00']) {
      const v = parseImportDateTime(text) as { local: { date: LocalDate; hour: number; minute: number; second: number } };
      expect(resolve(v.local, 'America/New_York')).toEqual(parseDateTime(text, 'America/New_York'));
    }
  });
});

describe('cellText', () => {
  it('turns spreadsheet cells back into the text a CSV would hold', () => {
    expect(cellText(null)).toBe('');
    expect(cellText(12.5)).toBe('12.5');
    expect(cellText(0.1 + 0.2)).toBe('0.3');
    expect(cellText(1001)).toBe('1001');
    expect(cellText(new Date(Date.UTC(2015, 2, 1)))).toBe('2015-03-01');
    expect(cellText(new Date(Date.UTC(2015, 2, 1, 14, 30, 5)))).toBe('2015-03-01T14:30:05');
    expect(cellText({ richText: [{ text: 'Main ' }, { text: 'Library' }] })).toBe('Main Library');
    expect(cellText({ formula: 'A1*2', result: 25 })).toBe('25');
    expect(cellText({ text: 'mail me', hyperlink: 'mailto:a@b.org' })).toBe('mail me');
  });
});
