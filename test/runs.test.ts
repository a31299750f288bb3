// One named scenario per worked example in DESIGN.md and the seeds, run on PGlite and PostgreSQL.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { asDate } from '../src/domain/dates.ts';
import { explainPatron } from '../src/services/eligibility.ts';
import { returnAndRerefer } from '../src/services/second-agency.ts';
import { loadEntries } from '../src/services/settings.ts';

let t: TestDatabase;
let s: Scenario;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(() => t.dispose());
beforeEach(async () => {
  await s.reset();
  await s.libraries({ code: 'MAIN' });
  await s.agency('UMS');
});

async function count(table: 'referrals' | 'charges' | 'referral_history' | 'runs' | 'audit_log' | 'run_entries', where?: (q: never) => never) {
  let q = t.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n'));
  if (where) q = where(q as never);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

async function feeCharges(patronId: string) {
  return t.db.selectFrom('charges').select(['id', 'amount_cents']).where('patron_id', '=', patronId).where('reason', '=', 'agency_fee').execute();
}

describe('relative windows (seed 002)', () => {
  it('Start 16, End 4 on 2015-04-28 counts charges assessed 2015-04-12 .. 2015-04-24, both ends inclusive', async () => {
    await s.settings({ window: { mode: 'relative', startDays: 16, endDays: 4 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' }, { id: 'P4' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-11T23:59:59' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-12T00:00:00' },
      { id: 'C3', patron_id: 'P3', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-24T23:59:59' },
      { id: 'C4', patron_id: 'P4', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-25T00:00:00' },
    );
    const r = await s.run('2015-04-28');
    expect(r.newSubmissions.map((n) => n.patronId)).toEqual(['P2', 'P3']);
    expect(r.newSubmissions[0]).toMatchObject({ entry: 'Entry 1', agency: 'UMS', owed: '30.00', counted: '30.00', fee: '0.00' });
  });

  it('the 2015-05-17 example counts 2015-05-01 .. 2015-05-13 (the seed says May 2nd; the same rule gives May 1st)', async () => {
    await s.settings({ window: { mode: 'relative', startDays: 16, endDays: 4 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' }, { id: 'P4' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '30.00', assessed_at: '2015-04-30T12:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'overdue', amount: '30.00', assessed_at: '2015-05-01T12:00:00' },
      { id: 'C3', patron_id: 'P3', reason: 'overdue', amount: '30.00', assessed_at: '2015-05-13T12:00:00' },
      { id: 'C4', patron_id: 'P4', reason: 'overdue', amount: '30.00', assessed_at: '2015-05-14T12:00:00' },
    );
    expect((await s.run('2015-05-17')).newSubmissions.map((n) => n.patronId)).toEqual(['P2', 'P3']);
  });

  it('both blank evaluates every charge against the patron', async () => {
    await s.settings({ window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '15.00', assessed_at: '2010-01-04T10:00:00' },
      { id: 'C2', patron_id: 'P1', reason: 'overdue', amount: '15.00', assessed_at: '2015-04-28T10:00:00' },
      { id: 'C3', patron_id: 'P2', reason: 'overdue', amount: '24.99', assessed_at: '2012-06-01T10:00:00' },
    );
    const r = await s.run('2015-04-28', {}, '2015-04-28T20:00:00Z');
    expect(r.newSubmissions.map((n) => [n.patronId, n.counted])).toEqual([['P1', '30.00']]);
  });

  it('both 0 evaluates only charges assessed on the report date', async () => {
    await s.settings({ window: { mode: 'relative', startDays: 0, endDays: 0 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '30.00', assessed_at: '2015-04-28T00:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'overdue', amount: '30.00', assessed_at: '2015-04-27T23:59:59' },
    );
    expect((await s.run('2015-04-28', {}, '2015-04-29T06:00:00Z')).newSubmissions.map((n) => n.patronId)).toEqual(['P1']);
  });
});

describe('absolute windows (seed 002)', () => {
  it('blank absolute start means 1970-01-01 and blank end means the report date', async () => {
    await s.settings({ window: { mode: 'absolute', start: null, end: null, graceDays: null } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'manual', amount: '30.00', assessed_at: '1970-01-01T00:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'manual', amount: '30.00', assessed_at: '2017-12-31T09:00:00' },
    );
    expect((await s.run('2017-12-31', {}, '2018-01-01T06:00:00Z')).newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2']);
  });

  it('grace 30 on 2017-12-31 excludes charges assessed 2017-12-02 .. 2017-12-31', async () => {
    await s.settings({ window: { mode: 'absolute', start: '2017-01-01', end: null, graceDays: 30 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '30.00', assessed_at: '2017-12-01T23:59:59' },
      { id: 'C2', patron_id: 'P2', reason: 'overdue', amount: '30.00', assessed_at: '2017-12-02T00:00:00' },
      { id: 'C3', patron_id: 'P3', reason: 'overdue', amount: '30.00', assessed_at: '2017-12-31T08:00:00' },
    );
    expect((await s.run('2017-12-31')).newSubmissions.map((n) => n.patronId)).toEqual(['P1']);
  });

  it('with both an absolute end and a grace period the earlier end wins', async () => {
    await s.settings({ window: { mode: 'absolute', start: '2017-01-01', end: '2017-11-15', graceDays: 30 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '30.00', assessed_at: '2017-11-15T12:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'overdue', amount: '30.00', assessed_at: '2017-11-16T12:00:00' },
    );
    expect((await s.run('2017-12-31')).newSubmissions.map((n) => n.patronId)).toEqual(['P1']);
  });
});

describe('Polaris rules (seed 001)', () => {
  it('the sample timeline with fee age 30: billed March 1, eligible March 31, not March 30', async () => {
    await s.settings({ countedCharges: 'item_fees', window: { mode: 'relative', startDays: null, endDays: null }, feeAgeDays: 30, agencyFee: '10.00', removeIfLessThan: '0.01' });
    await s.patrons({ id: 'P1' });
    await s.load('items', [{ id: 'I1', barcode: '3100001', title: 'The Overdue Book', status: 'lost', patron_id: 'P1', due_date: '2015-01-15' }]);
    await s.charges(
      { id: 'C1', patron_id: 'P1', item_id: 'I1', reason: 'replacement', amount: '25.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P1', item_id: 'I1', reason: 'processing', amount: '5.00', assessed_at: '2015-03-01T09:00:00' },
    );
    expect((await s.run('2015-03-30')).newSubmissions).toEqual([]);
    const r = await s.run('2015-03-31');
    expect(r.newSubmissions).toEqual([{ patronId: 'P1', entry: 'Entry 1', agency: 'UMS', owed: '30.00', counted: '30.00', fee: '10.00' }]);
    const history = await t.db.selectFrom('referral_history').select(['type', 'amount_cents']).execute();
    expect(history).toEqual([{ type: 'refer', amount_cents: 4000 }]);
  });

  it('item fees only: overdue fines and manual bills do not count toward the minimum, but all charges are reported', async () => {
    await s.settings({ countedCharges: 'item_fees', window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '50.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P1', reason: 'manual', amount: '50.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C3', patron_id: 'P2', reason: 'replacement', amount: '20.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C4', patron_id: 'P2', reason: 'processing', amount: '5.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C5', patron_id: 'P2', reason: 'overdue', amount: '7.00', assessed_at: '2015-03-01T09:00:00', library: 'MAIN' },
    );
    const r = await s.run('2015-04-01');
    expect(r.newSubmissions.map((n) => [n.patronId, n.counted, n.owed])).toEqual([['P2', '25.00', '32.00']]);
  });

  it('an exempt patron code never qualifies', async () => {
    await s.settings({ exemptPatronCodes: ['STAFF'], window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1', patron_code: 'STAFF' }, { id: 'P2', patron_code: 'ADULT' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '100.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '100.00', assessed_at: '2015-03-01T09:00:00' },
    );
    expect((await s.run('2015-04-01')).newSubmissions.map((n) => n.patronId)).toEqual(['P2']);
  });
});

describe('Sierra rules (seed 002)', () => {
  it('require bill: fines over the minimum without a replacement charge in the window are not enough', async () => {
    await s.settings({ requireBill: true, window: { mode: 'relative', startDays: 30, endDays: 0 } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'overdue', amount: '30.00', assessed_at: '2015-03-20T09:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'overdue', amount: '10.00', assessed_at: '2015-03-20T09:00:00' },
      { id: 'C3', patron_id: 'P2', reason: 'replacement', amount: '20.00', assessed_at: '2015-03-21T09:00:00' },
    );
    expect((await s.run('2015-04-01')).newSubmissions.map((n) => n.patronId)).toEqual(['P2']);
  });

  it('remove if less than 0 removes only patrons owing zero or less; X > 0 removes patrons owing less than X', async () => {
    await s.patrons({ id: 'P1', ptype: 1 }, { id: 'P2', ptype: 2 });
    await s.settings(
      { name: 'Zero', ptypes: [1], removeIfLessThan: '0.00', window: { mode: 'relative', startDays: null, endDays: null } },
      { name: 'Five', ptypes: [2], removeIfLessThan: '5.00', window: { mode: 'relative', startDays: null, endDays: null } },
    );
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' },
    );
    expect((await s.run('2015-04-01')).newSubmissions.map((n) => n.patronId)).toEqual(['P1', 'P2']);
    await s.payments(
      { id: 'Y1', patron_id: 'P1', amount: '27.00', paid_at: '2015-04-02T10:00:00' },
      { id: 'Y2', patron_id: 'P2', amount: '27.00', paid_at: '2015-04-02T10:00:00' },
    );
    const r2 = await s.run('2015-04-03');
    expect(r2.updates).toEqual([{ patronId: 'P1', previous: '30.00', owed: '3.00', reason: 'paid' }]);
    expect(r2.removals).toEqual([{ patronId: 'P2', owed: '3.00', reason: 'removed' }]);
    await s.payments({ id: 'Y3', patron_id: 'P1', type: 'waive', method: 'staff', amount: '3.00', paid_at: '2015-04-04T10:00:00' });
    const r3 = await s.run('2015-04-05');
    expect(r3.removals).toEqual([{ patronId: 'P1', owed: '0.00', reason: 'waived' }]);
    expect(await s.referred()).toEqual([]);
    const flags = await t.db.selectFrom('patrons').select(['id', 'in_collections']).orderBy('id').execute();
    expect(flags).toEqual([{ id: 'P1', in_collections: false }, { id: 'P2', in_collections: false }]);
  });

  it('the agency fee is charged once, on first submission only, even when the patron is submitted again', async () => {
    await s.settings({ agencyFee: '10.00', resubmitAfterClear: true, window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' });
    expect((await s.run('2015-04-01')).newSubmissions[0]?.fee).toBe('10.00');
    await s.payments({ id: 'Y1', patron_id: 'P1', amount: '40.00', paid_at: '2015-04-02T10:00:00', method: 'collection agency' });
    expect((await s.run('2015-04-03')).removals).toEqual([{ patronId: 'P1', owed: '0.00', reason: 'paid' }]);
    await s.charges({ id: 'C2', patron_id: 'P1', reason: 'replacement', amount: '35.00', assessed_at: '2015-04-10T09:00:00' });
    const again = await s.run('2015-04-11');
    expect(again.newSubmissions).toEqual([{ patronId: 'P1', entry: 'Entry 1', agency: 'UMS', owed: '35.00', counted: '35.00', fee: '0.00' }]);
    expect(await feeCharges('P1')).toHaveLength(1);
  });

  it('a cleared patron is never submitted again when resubmission is off (Polaris)', async () => {
    await s.settings({ resubmitAfterClear: false, window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' });
    await s.run('2015-04-01');
    await s.payments({ id: 'Y1', patron_id: 'P1', amount: '30.00', paid_at: '2015-04-02T10:00:00' });
    await s.run('2015-04-03');
    await s.charges({ id: 'C2', patron_id: 'P1', reason: 'replacement', amount: '35.00', assessed_at: '2015-04-10T09:00:00' });
    expect((await s.run('2015-04-11')).newSubmissions).toEqual([]);
  });
});

describe('PTYPEs as text (ILS patron categories)', () => {
  it('an entry with ptypes ["PT", 2] applies to PTYPE "PT" and "2" but not "ST" or "20", in a run and in explain alike', async () => {
    await s.settings({ name: 'Koha patrons', ptypes: ['PT', 2], window: { mode: 'relative', startDays: null, endDays: null } });
    // Through the patrons import, as an export script writes them: codes and a number.
    await s.patrons({ id: 'P1', ptype: 'PT' }, { id: 'P2', ptype: 2 }, { id: 'P3', ptype: 'ST' }, { id: 'P4', ptype: 20 });
    const ids = ['P1', 'P2', 'P3', 'P4'];
    await s.charges(...ids.map((id) => ({ id: `C${id}`, patron_id: id, reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' })));

    // explain: the reference evaluator, checked against the set-based SQL for the same patron.
    const entries = await loadEntries(t.db);
    const explained = [];
    for (const id of ids) explained.push(await explainPatron(t.db, entries, id, asDate('2015-04-01')));
    expect(explained.map((x) => [x.evaluation.entryName, x.evaluation.eligible, x.agrees])).toEqual([
      ['Koha patrons', true, true],
      ['Koha patrons', true, true],
      [null, false, true],
      [null, false, true],
    ]);
    expect(explained[3]!.evaluation.conditions[0]!.measured).toContain('PTYPE 20 not in PT, 2');

    // run: the set-based SQL.
    const run = await s.run('2015-04-01');
    expect(run.newSubmissions.map((n) => [n.patronId, n.entry])).toEqual([
      ['P1', 'Koha patrons'],
      ['P2', 'Koha patrons'],
    ]);
    expect(await s.referred()).toEqual(['P1', 'P2']);
  });
});

describe('agencies and the referral lifecycle (seed 003)', () => {
  it('least referred debt: each referral goes to the agency with the least open referred debt', async () => {
    await s.agency('Alpha');
    await s.agency('Beta');
    await s.agency('Gamma');
    await s.settings({ agency: { strategy: 'least_referred_debt', among: ['Alpha', 'Beta', 'Gamma'] }, window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' }, { id: 'P2' }, { id: 'P3' }, { id: 'P4' }, { id: 'P5' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '100.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '50.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C3', patron_id: 'P3', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' },
    );
    const first = await s.run('2015-04-01');
    expect(first.newSubmissions.map((n) => [n.patronId, n.agency])).toEqual([['P1', 'Alpha'], ['P2', 'Beta'], ['P3', 'Gamma']]);
    await s.charges(
      { id: 'C4', patron_id: 'P4', reason: 'replacement', amount: '40.00', assessed_at: '2015-04-01T09:00:00' },
      { id: 'C5', patron_id: 'P5', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-01T09:00:00' },
    );
    // Open debt before: Alpha 100, Beta 50, Gamma 30. P4 (40) → Gamma (then 70); P5 (30) → Beta (50 < 70).
    const second = await s.run('2015-04-02');
    expect(second.newSubmissions.map((n) => [n.patronId, n.agency])).toEqual([['P4', 'Gamma'], ['P5', 'Beta']]);
  });

  it('auto-cancel after N days sends a cancel record and, when set, writes the balance off', async () => {
    await s.settings({ autoCancelDays: 90, writeOffOnCancel: true, window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2014-12-01T09:00:00' });
    await s.run('2015-01-01');
    expect((await s.run('2015-03-31')).cancellations).toEqual([]);
    const r = await s.run('2015-04-01');
    expect(r.cancellations).toEqual([{ patronId: 'P1', owed: '30.00', writtenOff: '30.00' }]);
    const ref = await t.db.selectFrom('referrals').select(['status', 'closed_on']).executeTakeFirstOrThrow();
    expect(ref).toEqual({ status: 'cancelled', closed_on: '2015-04-01' });
    const history = await t.db.selectFrom('referral_history').select(['type', 'amount_cents']).orderBy('id').execute();
    expect(history).toEqual([{ type: 'refer', amount_cents: 3000 }, { type: 'cancel', amount_cents: 3000 }]);
    const writeoff = await t.db.selectFrom('payments').select(['type', 'amount_cents']).execute();
    expect(writeoff).toEqual([{ type: 'writeoff', amount_cents: 3000 }]);
    expect((await t.db.selectFrom('patrons').select('in_collections').executeTakeFirstOrThrow()).in_collections).toBe(false);
  });

  it('every referral change is in the audit log', async () => {
    await s.settings({ window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' });
    await s.run('2015-04-01');
    await s.payments({ id: 'Y1', patron_id: 'P1', amount: '10.00', paid_at: '2015-04-02T10:00:00' });
    await s.run('2015-04-03');
    const actions = await t.db.selectFrom('audit_log').select('action').where('action', 'like', 'referral.%').orderBy('id').execute();
    expect(actions.map((a) => a.action)).toEqual(['referral.refer', 'referral.update']);
  });
});

describe('time zones', () => {
  it('a charge at 23:30 local time on a window edge counts by the library time zone, not UTC', async () => {
    await s.libraries({ code: 'NYC', time_zone: 'America/New_York' });
    await s.settings({ window: { mode: 'relative', startDays: 16, endDays: 4 } });
    await s.patrons({ id: 'P1', home_library: 'NYC' }, { id: 'P2', home_library: 'NYC' });
    await s.charges(
      // 23:30 in New York on 04-11 is 03:30 UTC on 04-12: inside the window by UTC, outside by local date.
      { id: 'C1', patron_id: 'P1', library: 'NYC', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-11T23:30:00' },
      // 23:30 on 04-24 is 03:30 UTC on 04-25: outside by UTC, inside by local date.
      { id: 'C2', patron_id: 'P2', library: 'NYC', reason: 'replacement', amount: '30.00', assessed_at: '2015-04-24T23:30:00' },
    );
    expect((await s.run('2015-04-28')).newSubmissions.map((n) => n.patronId)).toEqual(['P2']);
  });

  it('the edge holds across the daylight-saving change (2015-03-08 in New York)', async () => {
    await s.libraries({ code: 'NYC', time_zone: 'America/New_York' });
    await s.settings({ window: { mode: 'relative', startDays: 16, endDays: 4 } });
    await s.patrons({ id: 'P1', home_library: 'NYC' }, { id: 'P2', home_library: 'NYC' }, { id: 'P3', home_library: 'NYC' });
    // Report 2015-03-24: window 03-08 .. 03-20. EST (−5) before the change, EDT (−4) after.
    await s.charges(
      { id: 'C1', patron_id: 'P1', library: 'NYC', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-07T23:30:00' },
      { id: 'C2', patron_id: 'P2', library: 'NYC', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-08T03:30:00' },
      { id: 'C3', patron_id: 'P3', library: 'NYC', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-20T23:30:00-04:00' },
    );
    expect((await s.run('2015-03-24')).newSubmissions.map((n) => n.patronId)).toEqual(['P2', 'P3']);
  });
});

/** The tables a run writes: their foreign keys are deferrable, for a dry run (migration 330). */
const RUN_TABLES = ['referrals', 'referral_history', 'charges', 'payments', 'allocations', 'run_entries', 'report_files', 'connector_writes'];

describe('idempotency and dry runs', () => {
  async function setup() {
    await s.settings({ agencyFee: '10.00', window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '40.00', assessed_at: '2015-03-01T09:00:00' },
    );
  }

  it('the same date run twice gives identical referrals and one fee, and says nothing changed', async () => {
    await setup();
    const first = await s.run('2015-04-01');
    const referrals = await t.db.selectFrom('referrals').selectAll().orderBy('id').execute();
    const second = await s.run('2015-04-01');
    expect(second.alreadyRun).toBe(true);
    expect(second.newSubmissions).toEqual([]);
    expect(await t.db.selectFrom('referrals').selectAll().orderBy('id').execute()).toEqual(referrals);
    expect(first.newSubmissions.map((n) => n.fee)).toEqual(['10.00', '10.00']);
    expect(await feeCharges('P1')).toHaveLength(1);
    expect(await feeCharges('P2')).toHaveLength(1);
    expect(await count('runs')).toBe(1);
  });

  it('a dry run writes nothing and predicts exactly what the run then does', async () => {
    await setup();
    const before = await Promise.all((['referrals', 'charges', 'referral_history', 'runs', 'audit_log', 'run_entries'] as const).map((n) => count(n)));
    const dry = await s.run('2015-04-01', { dryRun: true });
    expect(dry.runId).toBeNull();
    expect(await Promise.all((['referrals', 'charges', 'referral_history', 'runs', 'audit_log', 'run_entries'] as const).map((n) => count(n)))).toEqual(before);
    const real = await s.run('2015-04-01');
    expect(real.newSubmissions).toEqual(dry.newSubmissions);
    expect(real.newSubmissions).toHaveLength(2);
    // The files it names are the run's, though it leaves out writes nothing in it reads.
    expect(dry.files.length).toBeGreaterThan(0);
    expect(real.files).toEqual(dry.files);
    // Both pay in full: the next date's dry run clears both, and names the run's files.
    await s.payments(
      { id: 'Y1', patron_id: 'P1', amount: '40.00', paid_at: '2015-04-10T10:00:00' },
      { id: 'Y2', patron_id: 'P2', amount: '50.00', paid_at: '2015-04-10T10:00:00' },
    );
    const later = await s.run('2015-05-01', { dryRun: true });
    expect(later.removals.map((u) => u.patronId)).toEqual(['P1', 'P2']);
    expect(later.files.map((f) => f.kind)).toContain('update');
    expect(await s.run('2015-05-01')).toMatchObject({ updates: later.updates, removals: later.removals, files: later.files });
  });

  it("checks every row a run writes against its keys at once; only a dry run, rolled back, defers them", async () => {
    // A dry run says `set constraints all deferred` (runs.ts) and rolls back, so these checks
    // never run for it; a run that commits must meet each one at the statement that breaks it.
    const keys = await sql<{ name: string; deferrable: boolean; deferred: boolean }>`
      select conname as name, condeferrable as deferrable, condeferred as deferred from pg_constraint
      where contype = 'f' and conrelid = any(${RUN_TABLES}::regclass[]) order by 1`.execute(t.db);
    expect(keys.rows.length).toBeGreaterThanOrEqual(20);
    expect(keys.rows.filter((k) => !k.deferrable || k.deferred)).toEqual([]);
    await setup();
    await expect(
      t.db.transaction().execute(async (trx) => {
        await sql`insert into referral_history (referral_id, patron_id, type, amount_cents, reason, at, actor) values (999999, 'P1', 'refer', 1, 'x', now(), 'test')`.execute(trx);
        throw new Error('the insert was not checked at once');
      }),
    ).rejects.toThrow(/referral_history_referral_id_fkey/);
    const dry = await s.run('2015-04-01', { dryRun: true });
    expect(dry.newSubmissions).toHaveLength(2);
  });

  it('a report date earlier than one already run is refused as a conflict', async () => {
    await setup();
    await s.run('2015-04-02');
    await expect(s.run('2015-04-01')).rejects.toMatchObject({ name: 'ConflictError', exitCode: 3 });
  });
});

describe('changes made between runs', () => {
  it('a return and re-referral to a second agency reach both agencies in the next run\'s files, once', async () => {
    await s.agency('Second Look');
    await s.settings({ baseFilename: 'main', window: { mode: 'relative', startDays: null, endDays: null } });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-01T09:00:00' });
    await s.run('2015-04-01');
    await returnAndRerefer(s.context('2015-04-05T15:00:00Z'), { patronIds: ['P1'] }, 'Second Look');

    const next = await s.run('2015-04-06');
    const files = await t.db
      .selectFrom('report_files as f')
      .innerJoin('agencies as a', 'a.id', 'f.agency_id')
      .select(['a.name as agency', 'f.kind', 'f.content'])
      .where('f.run_id', '=', next.runId!)
      .where('f.row_count', '>', 0)
      .orderBy('a.name')
      .orderBy('f.kind')
      .execute();
    expect(files.map((f) => [f.agency, f.kind])).toEqual([
      ['Second Look', 'new'],
      ['Second Look', 'sync'],
      ['UMS', 'update'],
    ]);
    expect(Buffer.from(files[2]!.content).toString('utf8')).toContain('returned by agency');

    const later = await s.run('2015-04-07');
    const again = await t.db.selectFrom('report_files').select(['kind', 'agency_id']).where('run_id', '=', later.runId!).where('row_count', '>', 0).where('kind', '<>', 'sync').execute();
    expect(again).toEqual([]);
  });
});

