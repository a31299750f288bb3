// One scenario per eligibility rule (DESIGN.md "Eligibility", seeds 001 and 002). Every
// scenario is judged twice — by the reference evaluator over loaded snapshots and by the
// set-based SQL — and the two must agree before the rule itself is checked.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { LedgerFactory, settingsEntry } from './helpers/ledger-factory.ts';
import { asDate } from '../src/domain/dates.ts';
import { evaluatePatron, type ConditionKey, type Evaluation } from '../src/domain/eligibility.ts';
import { NotFoundError } from '../src/domain/errors.ts';
import type { Cents } from '../src/domain/money.ts';
import type { SettingsEntry } from '../src/domain/settings.ts';
import { evaluateAllSql, findEligible } from '../src/db/eligibility.sql.ts';
import { explainPatron, loadSnapshots } from '../src/services/eligibility.ts';

const $ = (n: number) => n as Cents;

describe('eligibility', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase();
  });
  afterAll(() => t.dispose());

  /** Both engines' verdicts for these patrons, checked to agree; keyed by patron id. */
  async function judge(entries: SettingsEntry[], date: string, patronIds: string[]): Promise<Map<string, Evaluation>> {
    const reportDate = asDate(date);
    const evaluations = (await loadSnapshots(t.db, patronIds)).map((s) => evaluatePatron(entries, s, reportDate));
    expect(evaluations.map((e) => e.patronId)).toEqual([...patronIds].sort());
    const rows = await evaluateAllSql(t.db, entries, reportDate, { patronIds });
    expect(rows).toEqual(
      evaluations.map((e) => ({ patronId: e.patronId, entryId: e.entryId, owedCents: e.owedCents, countedCents: e.countedCents, eligible: e.eligible })),
    );
    expect(await findEligible(t.db, entries, reportDate, { patronIds })).toEqual(
      rows.filter((r) => r.eligible).map((r) => ({ patronId: r.patronId, entryId: r.entryId, owedCents: r.owedCents, countedCents: r.countedCents })),
    );
    return new Map(evaluations.map((e) => [e.patronId, e]));
  }

  function failed(e: Evaluation | undefined): ConditionKey[] {
    return e!.conditions.filter((c) => !c.pass).map((c) => c.key);
  }

  it('uses the first entry that applies and never falls through to a later one', async () => {
    const f = new LedgerFactory(t.db);
    const main = await f.library({ code: `${f.prefix}MAIN` });
    const east = await f.library({ code: `${f.prefix}EAST` });
    const strict = settingsEntry({ name: 'Main adults', homeLibraries: [main.code], ptypes: ['1', '2'], minimumOwed: $(10_000) });
    const lenient = settingsEntry({ name: 'Everyone else', minimumOwed: $(500) });
    const mainAdult = await f.patron({ home_library: main.code, ptype: '2' });
    const mainChild = await f.patron({ home_library: main.code, ptype: '7' });
    const eastAdult = await f.patron({ home_library: east.code, ptype: '1' });
    for (const p of [mainAdult, mainChild, eastAdult]) await f.charge({ patron_id: p.id, amount_cents: 3000 });

    const v = await judge([lenient, strict].map((e, i) => ({ ...e, position: 2 - i })), '2015-04-28', [mainAdult.id, mainChild.id, eastAdult.id]);
    expect(v.get(mainAdult.id)).toMatchObject({ entryId: strict.id, eligible: false, countedCents: 3000 });
    expect(failed(v.get(mainAdult.id))).toEqual(['minimum_owed']);
    expect(v.get(mainChild.id)).toMatchObject({ entryId: lenient.id, eligible: true });
    expect(v.get(mainChild.id)!.entries).toEqual([
      { entryId: strict.id, position: 1, name: 'Main adults', libraryMatch: true, ptypeMatch: false, applies: false },
      { entryId: lenient.id, position: 2, name: 'Everyone else', libraryMatch: true, ptypeMatch: true, applies: true },
    ]);
    expect(v.get(mainChild.id)!.conditions[0]!.measured).toContain('PTYPE 7 not in 1, 2');
    expect(v.get(eastAdult.id)).toMatchObject({ entryId: lenient.id, eligible: true });
    expect(v.get(eastAdult.id)!.conditions[0]!.measured).toContain(`home library ${east.code} not in ${main.code}`);
  });

  it('matches PTYPEs as text: an ILS category code, or a number by its digits only', async () => {
    const f = new LedgerFactory(t.db);
    const koha = settingsEntry({ name: 'Koha patrons', ptypes: ['PT', '2'], minimumOwed: $(500) });
    const ptypes = ['PT', '2', 'ST', '20', 'pt', '02'];
    const patrons = [];
    for (const ptype of ptypes) {
      const p = await f.patron({ ptype });
      await f.charge({ patron_id: p.id, amount_cents: 3000 });
      patrons.push(p);
    }
    const v = await judge([koha], '2015-04-28', patrons.map((p) => p.id));
    expect(patrons.map((p) => v.get(p.id)!.entryId)).toEqual([koha.id, koha.id, null, null, null, null]);
    expect(v.get(patrons[2]!.id)!.conditions[0]!.measured).toContain('PTYPE ST not in PT, 2');
  });

  it('is not eligible when no entry applies', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron({ ptype: '9' });
    await f.charge({ patron_id: p.id, amount_cents: 9000 });
    const v = await judge([settingsEntry({ ptypes: ['1'] })], '2015-04-28', [p.id]);
    expect(v.get(p.id)).toMatchObject({ entryId: null, eligible: false, owedCents: 9000, countedCents: 0, window: null });
    expect(failed(v.get(p.id))).toEqual(['entry']);
  });

  it('with an empty settings table every patron is evaluated and none is eligible', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, amount_cents: 9000 });
    const v = await judge([], '2015-04-28', [p.id]);
    expect(v.get(p.id)).toMatchObject({ entryId: null, eligible: false, owedCents: 9000, countedCents: 0 });
  });

  it('never submits an exempt patron code', async () => {
    const f = new LedgerFactory(t.db);
    const staff = await f.patron({ patron_code: 'STAFF' });
    const adult = await f.patron({ patron_code: 'ADULT' });
    for (const p of [staff, adult]) await f.charge({ patron_id: p.id, amount_cents: 4000 });
    const v = await judge([settingsEntry({ exemptPatronCodes: ['STAFF', 'VOL'] })], '2015-04-28', [staff.id, adult.id]);
    expect(failed(v.get(staff.id))).toEqual(['exempt_code']);
    expect(v.get(adult.id)!.eligible).toBe(true);
  });

  it('never submits a secured patron', async () => {
    const f = new LedgerFactory(t.db);
    const secured = await f.patron({ status: 'secured' });
    await f.charge({ patron_id: secured.id, amount_cents: 4000 });
    const v = await judge([settingsEntry()], '2015-04-28', [secured.id]);
    expect(failed(v.get(secured.id))).toEqual(['not_secured']);
  });

  it('honours an exclusion until its end date, and not once it has ended or been lifted', async () => {
    const f = new LedgerFactory(t.db);
    const forever = await f.patron();
    const throughToday = await f.patron();
    const ended = await f.patron();
    const lifted = await f.patron();
    for (const p of [forever, throughToday, ended, lifted]) await f.charge({ patron_id: p.id, amount_cents: 4000 });
    await f.exclusion({ patron_id: forever.id, reason: 'disputed' });
    await f.exclusion({ patron_id: throughToday.id, until_date: '2015-04-28' });
    await f.exclusion({ patron_id: ended.id, until_date: '2015-04-27' });
    await f.exclusion({ patron_id: lifted.id, lifted_at: new Date('2015-04-01T00:00:00Z'), lifted_by: 'staff' });

    const v = await judge([settingsEntry()], '2015-04-28', [forever.id, throughToday.id, ended.id, lifted.id]);
    expect(failed(v.get(forever.id))).toEqual(['not_excluded']);
    expect(v.get(forever.id)!.conditions.find((c) => c.key === 'not_excluded')!.measured).toBe('excluded indefinitely (disputed)');
    expect(failed(v.get(throughToday.id))).toEqual(['not_excluded']);
    expect(v.get(ended.id)!.eligible).toBe(true);
    expect(v.get(lifted.id)!.eligible).toBe(true);
    expect(v.get(lifted.id)!.conditions.find((c) => c.key === 'not_excluded')!.measured).toBe('no active exclusion (1 lifted)');
  });

  it('submits a patron once: an open referral blocks', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, amount_cents: 4000 });
    await f.referral({ patron_id: p.id, status: 'open', referred_on: '2015-03-02' });
    const v = await judge([settingsEntry({ resubmitAfterClear: true })], '2015-04-28', [p.id]);
    expect(failed(v.get(p.id))).toEqual(['no_open_referral']);
  });

  it('resubmits a cleared patron only when the entry says so (Polaris never, Sierra yes)', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, amount_cents: 4000 });
    await f.referral({ patron_id: p.id, status: 'cleared', referred_on: '2014-01-05', closed_on: '2014-06-01' });
    const polaris = await judge([settingsEntry({ resubmitAfterClear: false })], '2015-04-28', [p.id]);
    expect(failed(polaris.get(p.id))).toEqual(['no_earlier_referral']);
    const sierra = await judge([settingsEntry({ resubmitAfterClear: true })], '2015-04-28', [p.id]);
    expect(sierra.get(p.id)!.eligible).toBe(true);
  });

  it('item fees only: overdue and manual bills do not count toward the minimum (Polaris)', async () => {
    const f = new LedgerFactory(t.db);
    const finesOnly = await f.patron();
    await f.charge({ patron_id: finesOnly.id, reason: 'overdue', amount_cents: 2000 });
    await f.charge({ patron_id: finesOnly.id, reason: 'manual', amount_cents: 1000 });
    await f.charge({ patron_id: finesOnly.id, reason: 'replacement', amount_cents: 1500 });
    const itemFees = await f.patron();
    await f.charge({ patron_id: itemFees.id, reason: 'replacement', amount_cents: 2000 });
    await f.charge({ patron_id: itemFees.id, reason: 'processing', amount_cents: 500 });

    const entry = settingsEntry({ countedCharges: 'item_fees', minimumOwed: $(2500) });
    const v = await judge([entry], '2015-04-28', [finesOnly.id, itemFees.id]);
    expect(v.get(finesOnly.id)).toMatchObject({ owedCents: 4500, countedCents: 1500, eligible: false });
    expect(v.get(finesOnly.id)!.charges.filter((c) => !c.counted).map((c) => c.reason).sort()).toEqual(['manual', 'overdue']);
    expect(v.get(itemFees.id)).toMatchObject({ owedCents: 2500, countedCents: 2500, eligible: true });
    // The same ledger with every charge counted passes.
    const all = await judge([{ ...entry, countedCharges: 'all' }], '2015-04-28', [finesOnly.id]);
    expect(all.get(finesOnly.id)).toMatchObject({ countedCents: 4500, eligible: true });
  });

  it('require bill: an outstanding replacement charge in the window is needed', async () => {
    const f = new LedgerFactory(t.db);
    const processingOnly = await f.patron();
    await f.charge({ patron_id: processingOnly.id, reason: 'processing', amount_cents: 3000 });
    const billed = await f.patron();
    await f.charge({ patron_id: billed.id, reason: 'processing', amount_cents: 3000 });
    await f.charge({ patron_id: billed.id, reason: 'replacement', amount_cents: 100 });
    const billPaid = await f.patron();
    await f.charge({ patron_id: billPaid.id, reason: 'processing', amount_cents: 3000 });
    const bill = await f.charge({ patron_id: billPaid.id, reason: 'replacement', amount_cents: 100 });
    await f.payment({ patron_id: billPaid.id, charge_id: bill.id!, amount_cents: 100 });

    const v = await judge([settingsEntry({ requireBill: true })], '2015-04-28', [processingOnly.id, billed.id, billPaid.id]);
    expect(failed(v.get(processingOnly.id))).toEqual(['require_bill']);
    expect(v.get(billed.id)!.eligible).toBe(true);
    expect(failed(v.get(billPaid.id))).toEqual(['require_bill']);
  });

  it('minimum days overdue: a checked-out or lost item at least N days past due', async () => {
    const f = new LedgerFactory(t.db);
    const exactly = await f.patron();
    const oneShort = await f.patron();
    const lost = await f.patron();
    const missing = await f.patron();
    for (const p of [exactly, oneShort, lost, missing]) await f.charge({ patron_id: p.id, amount_cents: 4000 });
    await f.item({ patron_id: exactly.id, status: 'checked_out', due_date: '2015-03-29' });
    await f.item({ patron_id: oneShort.id, status: 'checked_out', due_date: '2015-03-30' });
    await f.item({ patron_id: lost.id, status: 'lost', due_date: '2015-01-15' });
    await f.item({ patron_id: missing.id, status: 'missing', due_date: '2015-01-15' });

    const v = await judge([settingsEntry({ minDaysOverdue: 30 })], '2015-04-28', [exactly.id, oneShort.id, lost.id, missing.id]);
    expect(v.get(exactly.id)!.eligible).toBe(true);
    expect(v.get(exactly.id)!.conditions.find((c) => c.key === 'min_days_overdue')!.measured).toMatch(/due 2015-03-29\) is 30 days past due$/);
    expect(failed(v.get(oneShort.id))).toEqual(['min_days_overdue']);
    expect(v.get(lost.id)!.eligible).toBe(true);
    expect(failed(v.get(missing.id))).toEqual(['min_days_overdue']);
  });

  it('fee age 30: an item billed March 1 counts from March 31 (seed 001 timeline)', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, reason: 'replacement', amount_cents: 3000, assessed_on: '2015-03-01' });
    const entry = settingsEntry({ countedCharges: 'item_fees', feeAgeDays: 30 });
    const march30 = await judge([entry], '2015-03-30', [p.id]);
    expect(march30.get(p.id)).toMatchObject({ countedCents: 0, eligible: false });
    expect(march30.get(p.id)!.charges[0]!.note).toBe('younger than the fee age of 30 days: counts from 2015-03-31');
    const march31 = await judge([entry], '2015-03-31', [p.id]);
    expect(march31.get(p.id)).toMatchObject({ countedCents: 3000, eligible: true, window: { from: null, to: '2015-03-01' } });
  });

  it('window Start 16, End 4 on 2015-04-28 counts 2015-04-12 .. 2015-04-24 inclusive (seed 002)', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    for (const [on, cents] of [
      ['2015-04-11', 10_000],
      ['2015-04-12', 1050],
      ['2015-04-18', 1000],
      ['2015-04-24', 1100],
      ['2015-04-25', 10_000],
    ] as const) {
      await f.charge({ patron_id: p.id, assessed_on: on, amount_cents: cents });
    }
    const v = await judge([settingsEntry({ window: { mode: 'relative', startDays: 16, endDays: 4 } })], '2015-04-28', [p.id]);
    const e = v.get(p.id)!;
    expect(e).toMatchObject({ owedCents: 23_150, countedCents: 3150, eligible: true, window: { from: '2015-04-12', to: '2015-04-24' } });
    expect(e.charges.map((c) => [c.assessedOn, c.counted])).toEqual([
      ['2015-04-11', false],
      ['2015-04-12', true],
      ['2015-04-18', true],
      ['2015-04-24', true],
      ['2015-04-25', false],
    ]);
    expect(e.conditions.find((c) => c.key === 'minimum_owed')).toEqual({
      key: 'minimum_owed',
      label: 'Minimum owed',
      measured: '$31.50 in 3 charges assessed 2015-04-12..2015-04-24',
      required: '≥ $25.00',
      pass: true,
    });
  });

  it('owed counts every charge, counted only the window, both net of partial payments and waivers', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    const inWindow = await f.charge({ patron_id: p.id, assessed_on: '2015-04-20', amount_cents: 3000 });
    const old = await f.charge({ patron_id: p.id, assessed_on: '2014-01-10', amount_cents: 2000, reason: 'overdue' });
    await f.payment({ patron_id: p.id, charge_id: inWindow.id!, amount_cents: 1250 });
    await f.payment({ patron_id: p.id, charge_id: old.id!, amount_cents: 500, type: 'waive' });
    const window = { mode: 'absolute', start: asDate('2015-01-01'), end: null, graceDays: null } as const;

    const atMinimum = await judge([settingsEntry({ window, minimumOwed: $(1750) })], '2015-04-28', [p.id]);
    expect(atMinimum.get(p.id)).toMatchObject({ owedCents: 3250, countedCents: 1750, eligible: true });
    const aboveMinimum = await judge([settingsEntry({ window, minimumOwed: $(1751) })], '2015-04-28', [p.id]);
    expect(failed(aboveMinimum.get(p.id))).toEqual(['minimum_owed']);
  });

  it('a zero minimum still needs money owed', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    const c = await f.charge({ patron_id: p.id, amount_cents: 1000 });
    await f.payment({ patron_id: p.id, charge_id: c.id!, amount_cents: 1000 });
    const v = await judge([settingsEntry({ minimumOwed: $(0) })], '2015-04-28', [p.id]);
    expect(v.get(p.id)).toMatchObject({ owedCents: 0, countedCents: 0 });
    expect(failed(v.get(p.id))).toEqual(['owes']);
  });

  it('explains a patron with the SQL verdict beside the reference one, and rejects an unknown patron', async () => {
    const f = new LedgerFactory(t.db);
    const p = await f.patron();
    await f.charge({ patron_id: p.id, amount_cents: 2600 });
    const entries = [settingsEntry({ name: 'All patrons' })];
    const x = await explainPatron(t.db, entries, p.id, asDate('2015-04-28'));
    expect(x.agrees).toBe(true);
    expect(x.sql).toEqual({ patronId: p.id, entryId: entries[0]!.id, owedCents: 2600, countedCents: 2600, eligible: true });
    expect(x.evaluation).toMatchObject({ entryName: 'All patrons', eligible: true });
    await expect(explainPatron(t.db, entries, `${f.prefix}nobody`, asDate('2015-04-28'))).rejects.toBeInstanceOf(NotFoundError);
  });
});
