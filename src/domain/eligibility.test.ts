import { describe, expect, it } from 'vitest';
import { describeWindow, evaluatePatron, usd, type ConditionKey, type Evaluation, type PatronSnapshot, type SnapshotCharge } from './eligibility.ts';
import type { LocalDate } from './dates.ts';
import type { Cents } from './money.ts';
import type { SettingsEntry } from './settings.ts';

const d = (s: string) => s as LocalDate;
const D = d('2015-04-28');

function entry(o: Partial<SettingsEntry> = {}): SettingsEntry {
  return {
    id: 1,
    position: 1,
    name: 'All patrons',
    homeLibraries: [],
    ptypes: [],
    exemptPatronCodes: [],
    countedCharges: 'all',
    window: { mode: 'relative', startDays: null, endDays: null },
    feeAgeDays: null,
    minimumOwed: 2500 as Cents,
    requireBill: false,
    minDaysOverdue: null,
    removeIfLessThan: 1 as Cents,
    agencyFee: 1000 as Cents,
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
    ...o,
  };
}

let charges = 0;
function charge(o: Partial<SnapshotCharge> = {}): SnapshotCharge {
  const amount = o.amount ?? (1000 as Cents);
  return { id: `C${++charges}`, reason: 'replacement', library: 'MAIN', assessedOn: d('2015-04-20'), amount, outstanding: amount, ...o };
}

function patron(o: Partial<PatronSnapshot> = {}): PatronSnapshot {
  return {
    id: 'P1',
    homeLibrary: 'MAIN',
    ptype: '1',
    patronCode: 'ADULT',
    status: 'active',
    exclusions: [],
    referrals: [],
    charges: [charge({ amount: 3000 as Cents })],
    items: [],
    ...o,
  };
}

const failed = (e: Evaluation): ConditionKey[] => e.conditions.filter((c) => !c.pass).map((c) => c.key);
const condition = (e: Evaluation, key: ConditionKey) => e.conditions.find((c) => c.key === key);

describe('evaluatePatron: which entry applies', () => {
  const kids = entry({ id: 7, position: 1, name: 'Main kids', homeLibraries: ['MAIN'], ptypes: ['5', '6'], minimumOwed: 100 as Cents });
  const main = entry({ id: 3, position: 2, name: 'Main', homeLibraries: ['MAIN'], minimumOwed: 10_000 as Cents });
  const rest = entry({ id: 9, position: 3, name: 'Everyone', minimumOwed: 100 as Cents });

  it('takes the first entry by position, whatever the array order', () => {
    const e = evaluatePatron([rest, main, kids], patron({ ptype: '5' }), D);
    expect(e).toMatchObject({ entryId: 7, entryName: 'Main kids', eligible: true });
    expect(e.entries.map((c) => c.entryId)).toEqual([7]);
  });

  it('does not fall through when the applied entry fails, and says why earlier entries were passed over', () => {
    const e = evaluatePatron([kids, main, rest], patron({ ptype: '1' }), D);
    expect(e).toMatchObject({ entryId: 3, eligible: false });
    expect(failed(e)).toEqual(['minimum_owed']);
    expect(e.entries).toEqual([
      { entryId: 7, position: 1, name: 'Main kids', libraryMatch: true, ptypeMatch: false, applies: false },
      { entryId: 3, position: 2, name: 'Main', libraryMatch: true, ptypeMatch: true, applies: true },
    ]);
    expect(condition(e, 'entry')!.measured).toBe('home library MAIN, PTYPE 1: entry #3 “Main” applies (passed over #7 “Main kids”: PTYPE 1 not in 5, 6)');
  });

  it('names both mismatches of a passed-over entry', () => {
    const e = evaluatePatron([kids, rest], patron({ homeLibrary: 'EAST', ptype: '1' }), D);
    expect(condition(e, 'entry')!.measured).toContain('#7 “Main kids”: home library EAST not in MAIN; PTYPE 1 not in 5, 6');
    expect(e.entryId).toBe(9);
  });

  it('matches PTYPEs as text exactly: codes, and numbers by their digits only', () => {
    const koha = entry({ id: 4, position: 1, name: 'Koha', ptypes: ['PT', '2'], minimumOwed: 100 as Cents });
    const applies = (ptype: string) => evaluatePatron([koha, rest], patron({ ptype }), D).entryId === 4;
    expect(['PT', '2', 'ST', '20', 'pt', '02', ' PT'].map(applies)).toEqual([true, true, false, false, false, false, false]);
    expect(condition(evaluatePatron([koha, rest], patron({ ptype: 'ST' }), D), 'entry')!.measured).toContain('#4 “Koha”: PTYPE ST not in PT, 2');
  });

  it('with no entry that applies: not eligible, nothing counted, only the entry condition', () => {
    const e = evaluatePatron([kids], patron({ ptype: '1' }), D);
    expect(e).toMatchObject({ entryId: null, entryName: null, eligible: false, owedCents: 3000, countedCents: 0, window: null });
    expect(e.conditions.map((c) => c.key)).toEqual(['entry']);
    expect(e.charges[0]).toMatchObject({ counted: false, note: 'no settings entry applies' });
  });
});

describe('evaluatePatron: patron conditions', () => {
  it('an exempt patron code never qualifies', () => {
    const e = evaluatePatron([entry({ exemptPatronCodes: ['STAFF', 'VOL'] })], patron({ patronCode: 'STAFF' }), D);
    expect(failed(e)).toEqual(['exempt_code']);
    expect(condition(e, 'exempt_code')).toMatchObject({ measured: 'patron code “STAFF”', required: 'not one of STAFF, VOL' });
  });

  it('a secured record is not submitted', () => {
    expect(failed(evaluatePatron([entry()], patron({ status: 'secured' }), D))).toEqual(['not_secured']);
  });

  it('an exclusion holds through its end date and not after, and a lifted one never holds', () => {
    const exclusion = (untilDate: string | null, lifted = false) => ({ id: 1, reason: 'disputed', untilDate: untilDate as LocalDate | null, lifted });
    const verdict = (x: ReturnType<typeof exclusion>) => evaluatePatron([entry()], patron({ exclusions: [x] }), D);
    expect(failed(verdict(exclusion(null)))).toEqual(['not_excluded']);
    expect(condition(verdict(exclusion('2015-04-28')), 'not_excluded')).toMatchObject({ pass: false, measured: 'excluded until 2015-04-28 (disputed)' });
    expect(condition(verdict(exclusion('2015-04-27')), 'not_excluded')).toMatchObject({ pass: true, measured: 'no active exclusion (1 ended)' });
    expect(condition(verdict(exclusion(null, true)), 'not_excluded')).toMatchObject({ pass: true, measured: 'no active exclusion (1 lifted)' });
  });

  it('an open referral blocks even when the entry resubmits after a clear (once only)', () => {
    const open = { id: 4, status: 'open' as const, agency: 'UMS', referredOn: d('2015-03-02'), closedOn: null };
    const e = evaluatePatron([entry({ resubmitAfterClear: true })], patron({ referrals: [open] }), D);
    expect(failed(e)).toEqual(['no_open_referral']);
    expect(condition(e, 'no_open_referral')!.measured).toBe('open referral #4 to UMS since 2015-03-02');
  });

  it('a closed referral blocks unless the entry resubmits after a clear', () => {
    const cleared = { id: 2, status: 'cleared' as const, agency: 'UMS', referredOn: d('2014-01-05'), closedOn: d('2014-06-01') };
    const polaris = evaluatePatron([entry({ resubmitAfterClear: false })], patron({ referrals: [cleared] }), D);
    expect(failed(polaris)).toEqual(['no_earlier_referral']);
    expect(condition(polaris, 'no_earlier_referral')!.measured).toBe('cleared referral #2 to UMS (2014-01-05..2014-06-01)');
    expect(evaluatePatron([entry({ resubmitAfterClear: true })], patron({ referrals: [cleared] }), D).eligible).toBe(true);
  });
});

describe('evaluatePatron: money', () => {
  it('owed is every outstanding charge; counted only those in the window, net of payments', () => {
    const p = patron({
      charges: [
        charge({ assessedOn: d('2015-04-20'), amount: 3000 as Cents, outstanding: 1750 as Cents }),
        charge({ assessedOn: d('2014-01-10'), amount: 2000 as Cents, outstanding: 1500 as Cents, reason: 'overdue' }),
      ],
    });
    const window = { mode: 'absolute' as const, start: d('2015-01-01'), end: null, graceDays: null };
    expect(evaluatePatron([entry({ window, minimumOwed: 1750 as Cents })], p, D)).toMatchObject({ owedCents: 3250, countedCents: 1750, eligible: true });
    expect(failed(evaluatePatron([entry({ window, minimumOwed: 1751 as Cents })], p, D))).toEqual(['minimum_owed']);
  });

  it('a zero minimum still needs something owed', () => {
    const e = evaluatePatron([entry({ minimumOwed: 0 as Cents })], patron({ charges: [charge({ outstanding: 0 as Cents })] }), D);
    expect(failed(e)).toEqual(['owes']);
    expect(e.charges[0]!.note).toBe('counted (nothing outstanding)');
  });

  it('item fees only: overdue and manual bills do not count (Polaris)', () => {
    const p = patron({
      charges: [charge({ reason: 'overdue', amount: 2000 as Cents }), charge({ reason: 'manual', amount: 1000 as Cents }), charge({ reason: 'processing', amount: 1500 as Cents })],
    });
    const e = evaluatePatron([entry({ countedCharges: 'item_fees' })], p, D);
    expect(e).toMatchObject({ owedCents: 4500, countedCents: 1500, eligible: false });
    expect(e.charges.map((c) => c.note)).toEqual([
      'not an item fee (the entry counts replacement, processing only)',
      'not an item fee (the entry counts replacement, processing only)',
      'counted',
    ]);
    expect(condition(e, 'minimum_owed')!.measured).toBe('$15.00 in 1 item-fee charge assessed up to 2015-04-28');
    expect(evaluatePatron([entry({ countedCharges: 'all' })], p, D)).toMatchObject({ countedCents: 4500, eligible: true });
  });

  it('Start 16, End 4 on 2015-04-28 counts 2015-04-12 .. 2015-04-24 inclusive (seed 002)', () => {
    const on = (s: string, cents: number) => charge({ assessedOn: d(s), amount: cents as Cents });
    const p = patron({ charges: [on('2015-04-25', 9999), on('2015-04-11', 9999), on('2015-04-12', 1050), on('2015-04-18', 1000), on('2015-04-24', 1100)] });
    const e = evaluatePatron([entry({ window: { mode: 'relative', startDays: 16, endDays: 4 } })], p, D);
    expect(e.window).toEqual({ from: '2015-04-12', to: '2015-04-24' });
    expect(e.charges.map((c) => [c.assessedOn, c.counted, c.note])).toEqual([
      ['2015-04-11', false, 'assessed before the window opens (2015-04-12)'],
      ['2015-04-12', true, 'counted'],
      ['2015-04-18', true, 'counted'],
      ['2015-04-24', true, 'counted'],
      ['2015-04-25', false, 'assessed after the window closes (2015-04-24)'],
    ]);
    expect(condition(e, 'minimum_owed')).toEqual({
      key: 'minimum_owed',
      label: 'Minimum owed',
      measured: '$31.50 in 3 charges assessed 2015-04-12..2015-04-24',
      required: '≥ $25.00',
      pass: true,
    });
  });

  it('fee age 30: a bill of March 1 counts from March 31 (seed 001)', () => {
    const p = patron({ charges: [charge({ assessedOn: d('2015-03-01'), amount: 3000 as Cents })] });
    const e = entry({ feeAgeDays: 30 });
    const march30 = evaluatePatron([e], p, d('2015-03-30'));
    expect(march30).toMatchObject({ countedCents: 0, eligible: false });
    expect(march30.charges[0]!.note).toBe('younger than the fee age of 30 days: counts from 2015-03-31');
    expect(evaluatePatron([e], p, d('2015-03-31'))).toMatchObject({ countedCents: 3000, eligible: true });
  });

  it('a charge in the grace period is named as such', () => {
    const p = patron({ charges: [charge({ assessedOn: d('2017-12-02') }), charge({ assessedOn: d('2017-12-01'), amount: 2500 as Cents })] });
    const e = evaluatePatron([entry({ window: { mode: 'absolute', start: null, end: null, graceDays: 30 } })], p, d('2017-12-31'));
    expect(e.charges.map((c) => c.note)).toEqual(['counted', 'in the 30-day grace period']);
    expect(e.countedCents).toBe(2500);
  });

  it('a charge assessed after the report date is never counted', () => {
    const e = evaluatePatron([entry({ minimumOwed: 0 as Cents })], patron({ charges: [charge({ assessedOn: d('2015-04-29') })] }), D);
    expect(e).toMatchObject({ owedCents: 1000, countedCents: 0, eligible: true });
    expect(e.charges[0]!.note).toBe('assessed after the report date');
  });
});

describe('evaluatePatron: require bill and days overdue', () => {
  it('require bill wants an outstanding replacement charge in the window', () => {
    const processing = charge({ reason: 'processing', amount: 3000 as Cents });
    const withBill = evaluatePatron([entry({ requireBill: true })], patron({ charges: [processing, charge({ id: 'R1', amount: 100 as Cents })] }), D);
    expect(withBill.eligible).toBe(true);
    expect(condition(withBill, 'require_bill')!.measured).toBe('R1 $1.00 outstanding, assessed 2015-04-20');
    const paidBill = charge({ amount: 100 as Cents, outstanding: 0 as Cents });
    expect(failed(evaluatePatron([entry({ requireBill: true })], patron({ charges: [processing, paidBill] }), D))).toEqual(['require_bill']);
    const oldBill = charge({ amount: 100 as Cents, assessedOn: d('2015-01-01') });
    const window = { mode: 'relative' as const, startDays: 30, endDays: null };
    expect(failed(evaluatePatron([entry({ requireBill: true, window })], patron({ charges: [processing, oldBill] }), D))).toEqual(['require_bill']);
    expect(condition(evaluatePatron([entry()], patron(), D), 'require_bill')).toBeUndefined();
  });

  it('minimum days overdue counts checked-out and lost items with a due date', () => {
    const item = (status: string, due: string | null) => ({ id: 'I1', title: 'Dune', status, dueDate: due as LocalDate | null });
    const verdict = (...items: ReturnType<typeof item>[]) => evaluatePatron([entry({ minDaysOverdue: 30 })], patron({ items }), D);
    expect(condition(verdict(item('checked_out', '2015-03-29')), 'min_days_overdue')).toMatchObject({
      pass: true,
      measured: 'item I1 “Dune” (checked_out, due 2015-03-29) is 30 days past due',
      required: 'a checked-out or lost item at least 30 days past due',
    });
    expect(failed(verdict(item('checked_out', '2015-03-30')))).toEqual(['min_days_overdue']);
    expect(verdict(item('lost', '2015-01-15')).eligible).toBe(true);
    expect(failed(verdict(item('missing', '2015-01-15'), item('lost', null)))).toEqual(['min_days_overdue']);
    expect(condition(verdict(), 'min_days_overdue')!.measured).toBe('no checked-out or lost item with a due date');
    expect(condition(evaluatePatron([entry()], patron(), D), 'min_days_overdue')).toBeUndefined();
  });
});

describe('formatting', () => {
  it('money and windows read as a person would write them', () => {
    expect(usd(3150)).toBe('$31.50');
    expect(usd(-5)).toBe('-$0.05');
    expect(describeWindow({ from: null, to: d('2015-04-24') })).toBe('up to 2015-04-24');
    expect(describeWindow({ from: d('2015-04-28'), to: d('2015-04-28') })).toBe('on 2015-04-28');
    expect(describeWindow({ from: d('2015-04-28'), to: d('2015-04-24') })).toBe('2015-04-28..2015-04-24 (empty: no date qualifies)');
  });
});
