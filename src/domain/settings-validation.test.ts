import { describe, expect, it } from 'vitest';
import { parseSettingsEntry, toSettingsJson, validateSettingsTable, type SettingsEntryInput } from './settings-validation.ts';
import type { Problem } from './errors.ts';

const minimal = { name: 'Main adults', minimumOwed: '25.00', agency: 'UMS' };

function entryOf(json: unknown): SettingsEntryInput {
  const r = parseSettingsEntry(json, 0);
  if (!r.entry) throw new Error(`expected a valid entry: ${JSON.stringify(r.problems)}`);
  return r.entry;
}

function problemsOf(json: unknown, index = 0): Problem[] {
  return parseSettingsEntry(json, index).problems;
}

describe('parseSettingsEntry defaults', () => {
  it('fills every omitted key as documented (blank = all, nothing automatic)', () => {
    expect(entryOf(minimal)).toEqual({
      name: 'Main adults',
      homeLibraries: [],
      ptypes: [],
      exemptPatronCodes: [],
      countedCharges: 'all',
      window: { mode: 'relative', startDays: null, endDays: null },
      feeAgeDays: null,
      minimumOwed: 2500,
      requireBill: false,
      minDaysOverdue: null,
      removeIfLessThan: 0,
      agencyFee: 0,
      agency: { kind: 'fixed', agency: 'UMS' },
      resubmitAfterClear: false,
      autoCancelDays: null,
      writeOffOnCancel: false,
      baseFilename: null,
      autoNewSubmission: false,
      autoUpdateDays: '',
      sendEmptyReports: true,
      reviewHours: null,
      email: { from: '', to: '', cc: '', subject: '' },
    });
  });

  it('reads the full DESIGN.md example', () => {
    const e = entryOf({
      name: 'Main adults',
      homeLibraries: ['MAIN'],
      ptypes: [1, 2],
      exemptPatronCodes: ['STAFF'],
      countedCharges: 'item_fees',
      window: { mode: 'relative', startDays: 16, endDays: 4 },
      feeAgeDays: 30,
      minimumOwed: '25.00',
      requireBill: false,
      minDaysOverdue: null,
      removeIfLessThan: '0.01',
      agencyFee: '10.00',
      agency: { strategy: 'least_referred_debt', among: ['UMS', 'Second'] },
      resubmitAfterClear: false,
      autoCancelDays: 180,
      writeOffOnCancel: true,
      baseFilename: 'main',
      autoNewSubmission: true,
      autoUpdateDays: '1,4',
      sendEmptyReports: false,
      reviewHours: 24,
      email: { from: 'circ@library.org', to: 'a@ums.com, b@ums.com', cc: '', subject: 'New submissions' },
    });
    expect(e.window).toEqual({ mode: 'relative', startDays: 16, endDays: 4 });
    expect(e.agency).toEqual({ kind: 'strategy', strategy: 'least_referred_debt', among: ['UMS', 'Second'] });
    expect([e.minimumOwed, e.removeIfLessThan, e.agencyFee]).toEqual([2500, 1, 1000]);
    expect(e.email.to).toBe('a@ums.com, b@ums.com');
    expect([e.autoCancelDays, e.reviewHours, e.sendEmptyReports]).toEqual([180, 24, false]);
  });

  it('reads an absolute window with a grace period', () => {
    expect(entryOf({ ...minimal, window: { mode: 'absolute', start: '2017-01-01', end: null, graceDays: 30 } }).window).toEqual({
      mode: 'absolute',
      start: '2017-01-01',
      end: null,
      graceDays: 30,
    });
  });

  it('treats null and "" as blank, and normalises the weekday spec', () => {
    const e = entryOf({ ...minimal, baseFilename: '', homeLibraries: null, autoUpdateDays: '4,1-2,3', requireBill: null });
    expect([e.baseFilename, e.homeLibraries, e.autoUpdateDays, e.requireBill]).toEqual([null, [], '1-4', false]);
  });
});

describe('parseSettingsEntry limits (each problem names its field)', () => {
  it('name is required and at most 35 characters', () => {
    expect(problemsOf({ minimumOwed: '1.00', agency: 'UMS' }, 2)).toEqual([{ field: 'entries[2].name', reason: 'is required' }]);
    expect(problemsOf({ ...minimal, name: 'x'.repeat(36) })).toEqual([{ field: 'entries[0].name', reason: 'must be at most 35 characters; this has 36' }]);
    expect(problemsOf({ ...minimal, name: 'x'.repeat(35) })).toEqual([]);
    expect(problemsOf({ ...minimal, name: '42' })).toEqual([{ field: 'entries[0].name', reason: 'must not be only digits (it would read as an id)' }]);
    expect(problemsOf({ ...minimal, name: 7 })).toEqual([{ field: 'entries[0].name', reason: 'must be a string' }]);
  });

  it('at most 100 home libraries, each a code, none twice', () => {
    const codes = Array.from({ length: 101 }, (_, i) => `L${i}`);
    expect(problemsOf({ ...minimal, homeLibraries: codes })).toEqual([{ field: 'entries[0].homeLibraries', reason: 'at most 100 values are allowed; this has 101' }]);
    expect(problemsOf({ ...minimal, homeLibraries: codes.slice(0, 100) })).toEqual([]);
    expect(problemsOf({ ...minimal, homeLibraries: ['MAIN', '', 'MAIN'] })).toEqual([
      { field: 'entries[0].homeLibraries[1]', reason: 'must be a non-blank string' },
      { field: 'entries[0].homeLibraries[2]', reason: '"MAIN" is listed twice' },
    ]);
    expect(problemsOf({ ...minimal, homeLibraries: 'MAIN' })).toEqual([{ field: 'entries[0].homeLibraries', reason: 'must be an array' }]);
  });

  it('PTYPEs are whole numbers 0..32767 or patron categories as text', () => {
    expect(entryOf({ ...minimal, ptypes: [1, 2, 'PT', 'Patrons', '03', 0, 32767] }).ptypes).toEqual(['1', '2', 'PT', 'Patrons', '03', '0', '32767']);
    expect(problemsOf({ ...minimal, ptypes: [1, 2.5, -1, 32768, true, null] })).toEqual([
      { field: 'entries[0].ptypes[1]', reason: 'must be a whole number from 0 to 32767, or a patron category as text such as "PT"' },
      { field: 'entries[0].ptypes[2]', reason: 'must be a whole number from 0 to 32767, or a patron category as text such as "PT"' },
      { field: 'entries[0].ptypes[3]', reason: 'must be a whole number from 0 to 32767, or a patron category as text such as "PT"' },
      { field: 'entries[0].ptypes[4]', reason: 'must be a whole number from 0 to 32767 or a text of at most 100 characters' },
      { field: 'entries[0].ptypes[5]', reason: 'must be a whole number from 0 to 32767 or a text of at most 100 characters' },
    ]);
  });

  it('a PTYPE text is not blank, at most 100 characters, one clean line', () => {
    expect(entryOf({ ...minimal, ptypes: ['x'.repeat(100)] }).ptypes).toEqual(['x'.repeat(100)]);
    expect(problemsOf({ ...minimal, ptypes: ['PT', '', '  ', 'x'.repeat(101), 'P\tT', ' PT', 'ST '] })).toEqual([
      { field: 'entries[0].ptypes[1]', reason: 'must not be blank' },
      { field: 'entries[0].ptypes[2]', reason: 'must not be blank' },
      { field: 'entries[0].ptypes[3]', reason: 'must be at most 100 characters; this has 101' },
      { field: 'entries[0].ptypes[4]', reason: 'must not contain control characters' },
      { field: 'entries[0].ptypes[5]', reason: 'must not begin or end with a space' },
      { field: 'entries[0].ptypes[6]', reason: 'must not begin or end with a space' },
    ]);
  });

  it('a number and its digits are the same PTYPE, so listing both is listing it twice', () => {
    expect(problemsOf({ ...minimal, ptypes: [1, '1', 'PT', 'PT'] })).toEqual([
      { field: 'entries[0].ptypes[1]', reason: '"1" is listed twice' },
      { field: 'entries[0].ptypes[3]', reason: '"PT" is listed twice' },
    ]);
    // Leading zeros make another text: an ILS may have both categories "03" and "3".
    expect(entryOf({ ...minimal, ptypes: [3, '03'] }).ptypes).toEqual(['3', '03']);
  });

  it('minimumOwed is required decimal money, not negative and not a float', () => {
    expect(problemsOf({ name: 'A', agency: 'UMS' })).toEqual([{ field: 'entries[0].minimumOwed', reason: 'is required (an amount like "25.00")' }]);
    expect(problemsOf({ ...minimal, minimumOwed: 25.5 })).toEqual([
      { field: 'entries[0].minimumOwed', reason: 'must be an amount written as a string like "25.00", not 25.5' },
    ]);
    expect(problemsOf({ ...minimal, minimumOwed: '25.005' })[0]?.field).toBe('entries[0].minimumOwed');
    expect(problemsOf({ ...minimal, minimumOwed: '-1.00' })).toEqual([{ field: 'entries[0].minimumOwed', reason: 'must not be negative' }]);
    expect(problemsOf({ ...minimal, agencyFee: 'ten', removeIfLessThan: '-0.01' })).toEqual([
      { field: 'entries[0].removeIfLessThan', reason: 'must not be negative' },
      { field: 'entries[0].agencyFee', reason: 'must be an amount written as a string like "25.00", not "ten"' },
    ]);
  });

  it('relative days are 0..9999 or null, and the start is not later than the end', () => {
    expect(problemsOf({ ...minimal, window: { mode: 'relative', startDays: 10000, endDays: 4 } })).toEqual([
      { field: 'entries[0].window.startDays', reason: 'must be a whole number from 0 to 9999, or null' },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'relative', startDays: 9999, endDays: 0 } })).toEqual([]);
    expect(problemsOf({ ...minimal, window: { mode: 'relative', startDays: 4, endDays: 16 } })).toEqual([
      {
        field: 'entries[0].window.startDays',
        reason: 'the start (4 days before the report date) must not be later than the end (16 days before); use startDays >= endDays',
      },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'relative', startDays: 0, endDays: 0 } })).toEqual([]);
  });

  it('grace days only with the absolute mode; absolute dates valid and in order', () => {
    expect(problemsOf({ ...minimal, window: { mode: 'relative', startDays: 16, endDays: 4, graceDays: 30 } })).toEqual([
      { field: 'entries[0].window.graceDays', reason: 'graceDays is only allowed with the absolute mode' },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'absolute', start: '2017-02-30', end: null } })).toEqual([
      { field: 'entries[0].window.start', reason: 'must be a calendar date YYYY-MM-DD, not "2017-02-30"' },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'absolute', start: '2017-03-01', end: '2017-02-01' } })).toEqual([
      { field: 'entries[0].window.start', reason: '2017-03-01 is after the end 2017-02-01' },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'absolute', startDays: 3, graceDays: 10000 } })).toEqual([
      { field: 'entries[0].window.startDays', reason: 'startDays is only allowed with the relative mode (absolute windows use start)' },
      { field: 'entries[0].window.graceDays', reason: 'must be a whole number from 0 to 9999, or null' },
    ]);
    expect(problemsOf({ ...minimal, window: { mode: 'sliding' } })).toEqual([{ field: 'entries[0].window.mode', reason: 'must be "relative" or "absolute"' }]);
  });

  it('day and hour counts are whole non-negative numbers', () => {
    expect(problemsOf({ ...minimal, feeAgeDays: -1, minDaysOverdue: 1.5, autoCancelDays: '30', reviewHours: 24 }).map((p) => p.field)).toEqual([
      'entries[0].feeAgeDays',
      'entries[0].minDaysOverdue',
      'entries[0].autoCancelDays',
    ]);
  });

  it('countedCharges, booleans and the agency', () => {
    expect(problemsOf({ ...minimal, countedCharges: 'items' })).toEqual([{ field: 'entries[0].countedCharges', reason: 'must be "all" or "item_fees"' }]);
    expect(problemsOf({ ...minimal, requireBill: 'yes' })).toEqual([{ field: 'entries[0].requireBill', reason: 'must be true or false' }]);
    expect(problemsOf({ ...minimal, agency: '' })[0]?.field).toBe('entries[0].agency');
    expect(problemsOf({ ...minimal, agency: { strategy: 'cheapest' } })).toEqual([
      { field: 'entries[0].agency.strategy', reason: 'must be one of "least_referred_debt", "round_robin"' },
    ]);
    expect(problemsOf({ ...minimal, agency: { strategy: 'round_robin', among: ['A', 'A'], weights: [1] } })).toEqual([
      { field: 'entries[0].agency.weights', reason: 'unknown key "weights"' },
      { field: 'entries[0].agency.among[1]', reason: '"A" is listed twice' },
    ]);
    expect(entryOf({ ...minimal, agency: { strategy: 'round_robin' } }).agency).toEqual({ kind: 'strategy', strategy: 'round_robin', among: [] });
  });

  it('base filename: letters, digits, . _ - only, at most 100, not only digits', () => {
    expect(problemsOf({ ...minimal, baseFilename: 'main branch' })).toEqual([
      { field: 'entries[0].baseFilename', reason: '"main branch" may contain only letters, digits, ".", "_" and "-"' },
    ]);
    expect(problemsOf({ ...minimal, baseFilename: '../etc' })[0]?.field).toBe('entries[0].baseFilename');
    expect(problemsOf({ ...minimal, baseFilename: 'a'.repeat(101) })).toEqual([{ field: 'entries[0].baseFilename', reason: 'must be at most 100 characters; this has 101' }]);
    expect(problemsOf({ ...minimal, baseFilename: '17' })[0]?.field).toBe('entries[0].baseFilename');
    expect(entryOf({ ...minimal, baseFilename: 'main-branch_2.x' }).baseFilename).toBe('main-branch_2.x');
  });

  it('weekday spec', () => {
    expect(problemsOf({ ...minimal, autoUpdateDays: '8' })).toEqual([
      { field: 'entries[0].autoUpdateDays', reason: 'day 8 is not between 1 and 7 (1 = Sunday .. 7 = Saturday)' },
    ]);
  });

  it('email: from under 49 characters, lists at most 200, subject at most 200, plausible addresses', () => {
    const from48 = `${'a'.repeat(36)}@library.org`;
    expect(from48).toHaveLength(48);
    expect(problemsOf({ ...minimal, email: { from: from48 } })).toEqual([]);
    expect(problemsOf({ ...minimal, email: { from: `a${from48}` } })).toEqual([
      { field: 'entries[0].email.from', reason: 'must be shorter than 49 characters; this has 49' },
    ]);
    expect(problemsOf({ ...minimal, email: { to: `${'x'.repeat(189)}@library.org` } })).toEqual([
      { field: 'entries[0].email.to', reason: 'must be at most 200 characters; this has 201' },
    ]);
    expect(problemsOf({ ...minimal, email: { to: `${'x'.repeat(188)}@library.org` } })).toEqual([]);
    expect(problemsOf({ ...minimal, email: { cc: 'a@b.org, not-an-address', subject: 's'.repeat(201) } })).toEqual([
      { field: 'entries[0].email.cc', reason: '"not-an-address" is not an email address' },
      { field: 'entries[0].email.subject', reason: 'must be at most 200 characters; this has 201' },
    ]);
    expect(problemsOf({ ...minimal, email: { to: 'a@b.org', bcc: 'c@d.org' } })).toEqual([{ field: 'entries[0].email.bcc', reason: 'unknown key "bcc"' }]);
    expect(problemsOf({ ...minimal, email: { subject: 'one\ntwo' } })[0]?.field).toBe('entries[0].email.subject');
  });

  it('rejects unknown keys by name and non-objects', () => {
    expect(problemsOf({ ...minimal, colour: 'red', minimumowed: '1.00' })).toEqual([
      { field: 'entries[0].colour', reason: 'unknown key "colour"' },
      { field: 'entries[0].minimumowed', reason: 'unknown key "minimumowed"' },
    ]);
    expect(problemsOf('Main', 3)).toEqual([{ field: 'entries[3]', reason: 'must be an object' }]);
  });
});

describe('validateSettingsTable', () => {
  const entry = (i: number) => ({ name: `Entry ${i}`, minimumOwed: '10.00', agency: 'UMS' });

  it('accepts 500 entries and rejects 501', () => {
    expect(validateSettingsTable(Array.from({ length: 500 }, (_, i) => entry(i))).entries).toHaveLength(500);
    const r = validateSettingsTable(Array.from({ length: 501 }, (_, i) => entry(i)));
    expect(r.entries).toBeUndefined();
    expect(r.problems).toEqual([{ field: 'entries', reason: 'the table can hold at most 500 entries; this has 501' }]);
  });

  it('names and base filenames are unique in the table', () => {
    const r = validateSettingsTable([
      { ...entry(1), baseFilename: 'main' },
      { ...entry(2), baseFilename: 'east' },
      { ...entry(1), baseFilename: 'main' },
    ]);
    expect(r.problems).toEqual([
      { field: 'entries[2].name', reason: '"Entry 1" is already the name of entries[0]' },
      { field: 'entries[2].baseFilename', reason: '"main" is already the base filename of entries[0]' },
    ]);
  });

  it('collects the problems of every entry at once', () => {
    const r = validateSettingsTable([entry(1), { name: 'x'.repeat(36), agency: 'UMS' }, { ...entry(3), autoUpdateDays: '0' }]);
    expect(r.problems.map((p) => p.field)).toEqual(['entries[1].name', 'entries[1].minimumOwed', 'entries[2].autoUpdateDays']);
  });

  it('rejects anything but an array', () => {
    expect(validateSettingsTable({ entries: [] }).problems).toEqual([{ field: 'entries', reason: 'must be a JSON array of settings entries' }]);
  });
});

describe('toSettingsJson', () => {
  it('round-trips through parseSettingsEntry', () => {
    const jsons = [
      minimal,
      {
        ...minimal,
        homeLibraries: ['MAIN', 'EAST'],
        ptypes: [3, 'PT', 'Patrons'],
        window: { mode: 'absolute', start: '2017-01-01', end: '2017-12-31', graceDays: 30 },
        agency: { strategy: 'round_robin', among: ['B', 'A'] },
        agencyFee: '10.5',
        baseFilename: 'main',
        autoUpdateDays: '2-6',
        email: { from: 'circ@library.org', to: 'a@ums.com', subject: 'Collections' },
      },
    ];
    for (const json of jsons) {
      const e = entryOf(json);
      const back = toSettingsJson(e);
      expect(entryOf(back)).toEqual(e);
      expect(toSettingsJson(entryOf(back))).toEqual(back);
    }
    expect(toSettingsJson(entryOf(jsons[1])).agencyFee).toBe('10.50');
  });

  it('writes a PTYPE as a number only when it is a canonical whole number 0..32767', () => {
    const back = toSettingsJson(entryOf({ ...minimal, ptypes: [1, 2, 'PT', '3', '03', '32767', '32768', '-1', '1.0', '1e3', 0] }));
    expect(back.ptypes).toEqual([1, 2, 'PT', 3, '03', 32767, '32768', '-1', '1.0', '1e3', 0]);
    // An existing all-numbers file comes back unchanged.
    expect(toSettingsJson(entryOf({ ...minimal, ptypes: [4, 1, 10] })).ptypes).toEqual([4, 1, 10]);
    expect(toSettingsJson(entryOf(back))).toEqual(back);
  });
});
