// The set-based SQL and the reference evaluator must agree on every patron — entry, verdict,
// owed and counted — for random consortia, random settings tables and random report dates.
// fast-check prints the seed and the shrunk counterexample when they do not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sql } from 'kysely';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { insertRows, settingsEntry } from './helpers/ledger-factory.ts';
import { addDays, asDate, instantAt, type LocalDate } from '../src/domain/dates.ts';
import { evaluatePatron } from '../src/domain/eligibility.ts';
import type { Cents } from '../src/domain/money.ts';
import { readPtype } from '../src/domain/ptype.ts';
import type { SettingsEntry, WindowSpec } from '../src/domain/settings.ts';
import type { ChargeReason, ItemStatus, ReferralStatus } from '../src/db/schema.ts';
import { evaluateAllSql, findEligible } from '../src/db/eligibility.sql.ts';
import { loadSnapshots } from '../src/services/eligibility.ts';

const LIBRARIES = ['MAIN', 'EAST', 'WEST', 'NORTH'];
const ZONES = ['America/Chicago', 'America/Los_Angeles', 'America/St_Johns', 'Pacific/Kiritimati', 'Pacific/Pago_Pago', 'Europe/London', 'Asia/Kolkata', 'Australia/Lord_Howe'];
const CODES = ['', 'ADULT', 'STAFF', 'VOL'];
// PTYPEs as an ILS gives them: Sierra-style numbers and category codes, with near misses
// (20 beside 2, "02" beside "2", "pt" beside "PT") so exact text matching is what is tested.
const PATRON_PTYPES = ['0', '1', '2', '20', '02', 'PT', 'pt', 'J', 'ST', 'Patrons', 'Été'];
// Entries write numbers as JSON numbers or as their digits; both must match the same patrons.
const ENTRY_PTYPES: (number | string)[] = [0, 1, 2, '2', 20, '02', 'PT', 'pt', 'J', 'Patrons', 'Été'];
const REASONS: ChargeReason[] = ['overdue', 'replacement', 'processing', 'manual', 'damage', 'agency_fee'];
const ITEM_STATUSES: ItemStatus[] = ['available', 'checked_out', 'lost', 'missing', 'withdrawn', 'claims_returned'];
// 'withdrawn': cancelled by "Exclude now" before its file left, which never counts for once-only.
const REFERRAL_STATUSES: (ReferralStatus | 'withdrawn')[] = ['open', 'cleared', 'cancelled', 'returned', 'withdrawn'];
const EPOCH = asDate('2010-01-01');
// Due dates on, just before and just after each minimum-days-overdue threshold, so the edges are hit often.
const MIN_DAYS_OVERDUE = [0, 7, 30];
const DUE_OFFSETS = [-31, -30, -29, -8, -7, -6, -1, 0, 1];

/** null (blank) with the given weight against 1 for a value. */
const opt = <T>(arb: fc.Arbitrary<T>, nullWeight = 1) => fc.oneof({ arbitrary: fc.constant(null), weight: nullWeight }, { arbitrary: arb, weight: 1 });
/** An empty list (blank) with the given weight against 1 for a non-empty one. */
const blankOr = <T>(arb: fc.Arbitrary<T[]>, blankWeight = 2) => fc.oneof({ arbitrary: fc.constant([] as T[]), weight: blankWeight }, { arbitrary: arb, weight: 1 });
/** Days relative to the report date; small ranges so window edges are hit often. */
const offset = (min: number, max: number) => fc.integer({ min, max });

const chargeArb = fc.record({
  // Replacement bills matter to most rules (item fees, require bill), so they are drawn more often.
  reason: fc.oneof({ arbitrary: fc.constant<ChargeReason>('replacement'), weight: 3 }, { arbitrary: fc.constantFrom(...REASONS), weight: 5 }),
  amount: fc.integer({ min: 1, max: 4000 }),
  on: offset(-45, 3),
  library: fc.nat(3),
  hour: fc.integer({ min: 0, max: 23 }),
  // Each payment takes a share (in percent) of what is still outstanding, so allocations never exceed the charge;
  // paying a charge off entirely is common, so 100 % is drawn half the time.
  payments: fc.array(fc.record({ share: fc.oneof(fc.constant(100), fc.integer({ min: 1, max: 99 })), type: fc.constantFrom('payment' as const, 'waive' as const, 'writeoff' as const) }), { maxLength: 2 }),
});

const patronArb = fc.record({
  library: fc.nat(3),
  ptype: fc.constantFrom(...PATRON_PTYPES),
  code: fc.constantFrom(...CODES),
  secured: fc.integer({ min: 0, max: 5 }).map((n) => n === 0),
  charges: fc.array(chargeArb, { maxLength: 8 }),
  // Checked-out and lost items are the ones minimum days overdue looks at, so they are drawn more often.
  items: fc.array(fc.record({ status: fc.oneof(fc.constantFrom<ItemStatus>('checked_out', 'lost'), fc.constantFrom(...ITEM_STATUSES)), due: opt(fc.constantFrom(...DUE_OFFSETS)) }), { maxLength: 3 }),
  // Most patrons were never referred nor excluded, so most verdicts turn on the ledger.
  referrals: blankOr(fc.array(fc.constantFrom(...REFERRAL_STATUSES), { minLength: 1, maxLength: 2 }), 3),
  exclusions: blankOr(fc.array(fc.record({ until: opt(offset(-1, 1)), lifted: fc.boolean() }), { minLength: 1, maxLength: 2 }), 3),
});

const windowArb = fc.oneof(
  fc.record({ mode: fc.constant('relative' as const), startDays: opt(fc.integer({ min: 0, max: 40 })), endDays: opt(fc.integer({ min: 0, max: 20 })) }),
  fc.record({ mode: fc.constant('absolute' as const), start: opt(offset(-60, 0)), end: opt(offset(-30, 5)), graceDays: opt(fc.integer({ min: 0, max: 30 })) }),
);

const entryArb = fc.record({
  // Blank lists (all libraries, all PTYPEs) are the common case; lists still leave some patrons with no entry.
  libraries: blankOr(fc.subarray([0, 1, 2, 3], { minLength: 1, maxLength: 2 })),
  ptypes: blankOr(fc.subarray(ENTRY_PTYPES, { minLength: 1, maxLength: 3 })),
  exempt: blankOr(fc.subarray(['ADULT', 'STAFF', 'VOL'], { minLength: 1, maxLength: 2 })),
  itemFees: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
  window: windowArb,
  feeAge: opt(fc.integer({ min: 0, max: 40 }), 2),
  minimum: fc.oneof({ arbitrary: fc.constant(0), weight: 1 }, { arbitrary: fc.integer({ min: 1, max: 2500 }), weight: 3 }),
  requireBill: fc.integer({ min: 0, max: 2 }).map((n) => n === 0),
  minDaysOverdue: opt(fc.constantFrom(...MIN_DAYS_OVERDUE), 3),
  resubmit: fc.boolean(),
});

const scenarioArb = fc.record({
  zones: fc.array(fc.constantFrom(...ZONES), { minLength: 4, maxLength: 4 }),
  libraryCount: fc.integer({ min: 1, max: 4 }),
  patrons: fc.array(patronArb, { minLength: 1, maxLength: 15 }),
  entries: fc.array(entryArb, { minLength: 1, maxLength: 4 }),
  positions: fc.uniqueArray(fc.integer({ min: 1, max: 99 }), { minLength: 4, maxLength: 4 }),
  reportDay: fc.integer({ min: 0, max: 2500 }),
  laterDays: fc.array(fc.integer({ min: -10, max: 10 }), { maxLength: 2 }),
});

type Scenario = typeof scenarioArb extends fc.Arbitrary<infer T> ? T : never;

/** A PTYPE as the settings JSON reader takes it (a number becomes its digits). */
function ptypeOf(v: number | string): string {
  const r = readPtype(v);
  if (!r.ok) throw new Error(`not a PTYPE: ${JSON.stringify(v)}`);
  return r.value;
}

function settingsOf(s: Scenario, reportDate: LocalDate): SettingsEntry[] {
  const libs = LIBRARIES.slice(0, s.libraryCount);
  const day = (n: number | null) => (n === null ? null : addDays(reportDate, n));
  return s.entries.map((e, i) => {
    const window: WindowSpec =
      e.window.mode === 'relative' ? e.window : { mode: 'absolute', start: day(e.window.start), end: day(e.window.end), graceDays: e.window.graceDays };
    // Ids deliberately out of position order, so position (not id) must decide which entry comes first.
    return settingsEntry({
      id: 40 - i,
      position: s.positions[i]!,
      homeLibraries: e.libraries.filter((l) => l < s.libraryCount).map((l) => libs[l]!),
      ptypes: e.ptypes.map(ptypeOf),
      exemptPatronCodes: e.exempt,
      countedCharges: e.itemFees ? 'item_fees' : 'all',
      window,
      feeAgeDays: e.feeAge,
      minimumOwed: e.minimum as Cents,
      requireBill: e.requireBill,
      minDaysOverdue: e.minDaysOverdue,
      resubmitAfterClear: e.resubmit,
    });
  });
}

describe('eligibility: SQL versus the reference evaluator', () => {
  let t: TestDatabase;
  beforeAll(async () => {
    t = await freshDatabase();
  });
  afterAll(() => t.dispose());

  async function load(s: Scenario, reportDate: LocalDate): Promise<void> {
    const db = t.db;
    await sql`truncate libraries, patrons, items, charges, payments, allocations, agencies, referrals, exclusions restart identity cascade`.execute(db);
    const libs = LIBRARIES.slice(0, s.libraryCount).map((code, i) => ({ code, name: code, time_zone: s.zones[i]! }));
    const zoneOf = new Map(libs.map((l) => [l.code, l.time_zone]));
    const { id: agencyId } = await db.insertInto('agencies').values({ name: 'UMS' }).returning('id').executeTakeFirstOrThrow();
    const patrons = [], charges = [], payments = [], allocations = [], items = [], referrals = [], exclusions = [];
    for (const [pi, p] of s.patrons.entries()) {
      const patronId = `P${pi}`;
      patrons.push({ id: patronId, home_library: libs[p.library % libs.length]!.code, ptype: p.ptype, patron_code: p.code, status: p.secured ? ('secured' as const) : ('active' as const) });
      for (const [ci, c] of p.charges.entries()) {
        const chargeId = `${patronId}C${ci}`;
        const library = libs[c.library % libs.length]!.code;
        const assessedOn = addDays(reportDate, c.on);
        charges.push({ id: chargeId, patron_id: patronId, library, reason: c.reason, amount_cents: c.amount, assessed_at: instantAt(assessedOn, zoneOf.get(library)!, c.hour), assessed_on: assessedOn });
        let left = c.amount;
        for (const [yi, y] of c.payments.entries()) {
          const amount = Math.max(1, Math.floor((left * y.share) / 100));
          if (left === 0) break;
          left -= amount;
          const paymentId = `${chargeId}Y${yi}`;
          payments.push({ id: paymentId, patron_id: patronId, charge_id: chargeId, type: y.type, amount_cents: amount, paid_at: new Date('2015-01-01T00:00:00Z') });
          allocations.push({ payment_id: paymentId, charge_id: chargeId, patron_id: patronId, amount_cents: amount });
        }
      }
      for (const [ii, item] of p.items.entries()) {
        items.push({ id: `${patronId}I${ii}`, patron_id: patronId, status: item.status, due_date: item.due === null ? null : addDays(reportDate, item.due) });
      }
      // At most one open referral per patron (referrals_one_open).
      for (const [ri, status] of p.referrals.entries()) {
        const withdrawn = status === 'withdrawn';
        const st = withdrawn ? 'cancelled' : status === 'open' && p.referrals.indexOf('open') !== ri ? 'cleared' : status;
        referrals.push({ patron_id: patronId, agency_id: agencyId, status: st, withdrawn, referred_on: addDays(reportDate, -100), closed_on: st === 'open' ? null : addDays(reportDate, -50), referred_cents: 100, last_reported_cents: 100 });
      }
      for (const x of p.exclusions) {
        exclusions.push({ patron_id: patronId, reason: 'review', until_date: x.until === null ? null : addDays(reportDate, x.until), lifted_at: x.lifted ? new Date('2015-01-01T00:00:00Z') : null });
      }
    }
    await insertRows(db, 'libraries', libs);
    await insertRows(db, 'patrons', patrons);
    await insertRows(db, 'items', items);
    await insertRows(db, 'charges', charges);
    await insertRows(db, 'payments', payments);
    await insertRows(db, 'allocations', allocations);
    await insertRows(db, 'referrals', referrals);
    await insertRows(db, 'exclusions', exclusions);
  }

  it('agree on entry, verdict, owed and counted for every patron', async () => {
    let eligibleSeen = 0;
    let judged = 0;
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        const reportDate = addDays(EPOCH, s.reportDay);
        await load(s, reportDate);
        const snapshots = await loadSnapshots(t.db);
        for (const date of [reportDate, ...s.laterDays.map((d) => addDays(reportDate, d))]) {
          const entries = settingsOf(s, reportDate);
          const expected = snapshots.map((p) => {
            const e = evaluatePatron(entries, p, date);
            return { patronId: e.patronId, entryId: e.entryId, owedCents: e.owedCents, countedCents: e.countedCents, eligible: e.eligible };
          });
          expect(await evaluateAllSql(t.db, entries, date)).toEqual(expected);
          expect(await findEligible(t.db, entries, date)).toEqual(
            expected.filter((r) => r.eligible).map((r) => ({ patronId: r.patronId, entryId: r.entryId, owedCents: r.owedCents, countedCents: r.countedCents })),
          );
          judged += expected.length;
          eligibleSeen += expected.filter((r) => r.eligible).length;
        }
      }),
      { numRuns: 100 },
    );
    // Random data must exercise both verdicts, or the agreement proves little.
    expect(eligibleSeen).toBeGreaterThan(0);
    expect(judged - eligibleSeen).toBeGreaterThan(0);
  });
});
