// The staff app's pure helpers: what the CSV export writes (formulas neutralised), how an
// audit entry's values are flattened and shown (amounts as money), PTYPEs as typed, and the
// dashboard's months without a gap.
import { describe, expect, it } from 'vitest';
import { diffRows, flatten, show } from './diff.tsx';
import { fillMonths } from './screens/dashboard.tsx';
import { ptypeValues } from './screens/settings.tsx';
import { csvCell, toCsv, type Column } from './table.tsx';

describe('CSV export', () => {
  it('quotes what needs quoting and neutralises text a spreadsheet would run, not negative numbers', () => {
    expect(csvCell('plain')).toBe('plain');
    expect(csvCell('O’Brien, Zoë')).toBe('"O’Brien, Zoë"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('+1 555')).toBe("'+1 555");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tx')).toBe("'\tx");
    expect(csvCell('-12.50')).toBe('-12.50');
  });

  it('writes the header and each row’s text, leaving out button columns', () => {
    const columns: Column<{ id: string; cents: number }>[] = [
      { header: 'Patron', cell: (r) => r.id },
      { header: 'Owed', num: true, text: (r) => `$${(r.cents / 100).toFixed(2)}`, cell: () => null },
      { header: 'Actions', action: true, cell: () => 'Edit' },
    ];
    expect(
      toCsv(columns, [
        { id: 'P1', cents: 1250 },
        { id: '=cmd', cents: 0 },
      ]),
    ).toBe("Patron,Owed\r\nP1,$12.50\r\n'=cmd,$0.00\r\n");
  });
});

describe('audit differences', () => {
  it('flattens nested values by path and keeps lists of plain values whole', () => {
    expect([...flatten({ name: 'A', window: { mode: 'relative', startDays: 16 }, ptypes: [1, 'PT'], agency: { strategy: 'round_robin', among: [] } })]).toEqual([
      ['name', 'A'],
      ['window.mode', 'relative'],
      ['window.startDays', 16],
      ['ptypes', [1, 'PT']],
      ['agency.strategy', 'round_robin'],
      ['agency.among', []],
    ]);
  });

  it('shows cents and decimal amounts as money, and blanks as a dash', () => {
    expect(show('owed', 4800)).toBe('$48.00');
    expect(show('after.fee', 1000)).toBe('$10.00');
    expect(show('minimumOwed', '25.00')).toBe('$25.00');
    expect(show('removeIfLessThan', '0.01')).toBe('$0.01');
    expect(show('window.startDays', 16)).toBe('16');
    expect(show('reviewHours', null)).toBe('—');
    expect(show('requireBill', false)).toBe('no');
    expect(show('homeLibraries', [])).toBe('(none)');
  });

  it('marks what changed between before and after', () => {
    expect(diffRows({ name: 'A', minimumOwed: '25.00' }, { name: 'B', minimumOwed: '25.00' })).toEqual([
      { field: 'name', before: 'A', after: 'B', changed: true },
      { field: 'minimumOwed', before: '$25.00', after: '$25.00', changed: false },
    ]);
    expect(diffRows(null, { owed: 500 })).toEqual([{ field: 'owed', before: '', after: '$5.00', changed: true }]);
  });
});

describe('the settings editor and the dashboard', () => {
  it('PTYPEs: whole numbers stay numbers, the ILS’s codes stay text, blanks go', () => {
    expect(ptypeValues('1, 2 ,PT,, Patrons ')).toEqual([1, 2, 'PT', 'Patrons']);
    expect(ptypeValues('')).toEqual([]);
  });

  it('months from the first with data to this one, empty ones as zero', () => {
    expect(fillMonths([{ month: '2025-11', referred: 100, recovered: 0 }, { month: '2026-02', referred: 0, recovered: 50 }], '2026-03')).toEqual([
      { month: '2025-11', referred: 100, recovered: 0 },
      { month: '2025-12', referred: 0, recovered: 0 },
      { month: '2026-01', referred: 0, recovered: 0 },
      { month: '2026-02', referred: 0, recovered: 50 },
      { month: '2026-03', referred: 0, recovered: 0 },
    ]);
    expect(fillMonths([], '2026-03')).toEqual([]);
  });
});
