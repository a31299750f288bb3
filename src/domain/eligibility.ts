// The reference eligibility evaluator: one patron, one report date, every rule of DESIGN.md
// "Eligibility" written plainly. It is the specification the set-based SQL
// (src/db/eligibility.sql.ts) is tested against, and what `arrears explain` prints, so each
// rule leaves a Condition that says what was measured, what was required and the verdict.
import { addDays, compareDates, daysBetween, type LocalDate } from './dates.ts';
import { formatMoney, sum, type Cents } from './money.ts';
import { entryApplies, ITEM_FEE_REASONS, type SettingsEntry } from './settings.ts';
import { countedWindow, inWindow, type DateWindow } from './window.ts';

export interface SnapshotCharge {
  id: string;
  reason: string;
  /** The library that posted the charge. */
  library: string;
  /** Assessment date in the posting library's time zone (charges.assessed_on). */
  assessedOn: LocalDate;
  amount: Cents;
  /** Amount minus every payment, waiver and write-off allocated to it. */
  outstanding: Cents;
}

export interface SnapshotItem {
  id: string;
  title: string;
  status: string;
  dueDate: LocalDate | null;
}

export interface SnapshotReferral {
  id: number;
  status: 'open' | 'cleared' | 'cancelled' | 'returned';
  agency: string;
  referredOn: LocalDate;
  closedOn: LocalDate | null;
  /** Cancelled by "Exclude now" before its file left: the agency never saw it. */
  withdrawn?: boolean;
}

export interface SnapshotExclusion {
  id: number;
  reason: string;
  untilDate: LocalDate | null;
  lifted: boolean;
}

/** Everything the rules read about one patron. Exclusions are kept whole because whether one is active depends on the report date. */
export interface PatronSnapshot {
  id: string;
  homeLibrary: string;
  /** As text, compared exactly (src/domain/ptype.ts). */
  ptype: string;
  patronCode: string;
  status: 'active' | 'secured';
  exclusions: SnapshotExclusion[];
  referrals: SnapshotReferral[];
  charges: SnapshotCharge[];
  /** Items linked to the patron (items.patron_id), whatever their status. */
  items: SnapshotItem[];
}

export type ConditionKey =
  | 'entry'
  | 'exempt_code'
  | 'not_secured'
  | 'not_excluded'
  | 'no_open_referral'
  | 'no_earlier_referral'
  | 'owes'
  | 'minimum_owed'
  | 'require_bill'
  | 'min_days_overdue';

export interface Condition {
  key: ConditionKey;
  label: string;
  measured: string;
  required: string;
  pass: boolean;
}

/** How one settings entry was matched against the patron, up to and including the one that applies. */
export interface EntryCheck {
  entryId: number;
  position: number;
  name: string;
  libraryMatch: boolean;
  ptypeMatch: boolean;
  applies: boolean;
}

export interface ChargeCheck {
  id: string;
  reason: string;
  library: string;
  assessedOn: LocalDate;
  amountCents: Cents;
  outstandingCents: Cents;
  /** Its outstanding balance is part of countedCents (reason counted and assessed in the window). */
  counted: boolean;
  note: string;
}

export interface Evaluation {
  patronId: string;
  reportDate: LocalDate;
  entryId: number | null;
  entryName: string | null;
  eligible: boolean;
  /** Outstanding balance of all the patron's charges. */
  owedCents: Cents;
  /** Outstanding balance of the counted charges assessed in the window. */
  countedCents: Cents;
  /** Null when no entry applies. */
  window: DateWindow | null;
  conditions: Condition[];
  entries: EntryCheck[];
  /** Every charge of the patron, oldest first. */
  charges: ChargeCheck[];
}

const OVERDUE_STATUSES = ['checked_out', 'lost'];

export function usd(c: number): string {
  return c < 0 ? `-$${formatMoney(-c)}` : `$${formatMoney(c)}`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function list(values: readonly (string | number)[]): string {
  return values.join(', ');
}

export function describeWindow(w: DateWindow): string {
  if (w.from === null) return `up to ${w.to}`;
  if (compareDates(w.from, w.to) > 0) return `${w.from}..${w.to} (empty: no date qualifies)`;
  if (w.from === w.to) return `on ${w.from}`;
  return `${w.from}..${w.to}`;
}

function byPosition(a: SettingsEntry, b: SettingsEntry): number {
  return a.position - b.position || a.id - b.id;
}

/** Which entries were tried and why each was passed over; the last one applies (if any does). */
function matchEntries(entries: readonly SettingsEntry[], patron: PatronSnapshot): { entry: SettingsEntry | null; checks: EntryCheck[] } {
  const checks: EntryCheck[] = [];
  for (const e of [...entries].sort(byPosition)) {
    const applies = entryApplies(e, patron);
    checks.push({
      entryId: e.id,
      position: e.position,
      name: e.name,
      libraryMatch: e.homeLibraries.length === 0 || e.homeLibraries.includes(patron.homeLibrary),
      ptypeMatch: e.ptypes.length === 0 || e.ptypes.includes(patron.ptype),
      applies,
    });
    if (applies) return { entry: e, checks };
  }
  return { entry: null, checks };
}

function entryTitle(c: Pick<EntryCheck, 'entryId' | 'name'>): string {
  return `#${c.entryId} “${c.name}”`;
}

function skipReason(c: EntryCheck, patron: PatronSnapshot, entries: readonly SettingsEntry[]): string {
  const e = entries.find((x) => x.id === c.entryId)!;
  const why: string[] = [];
  if (!c.libraryMatch) why.push(`home library ${patron.homeLibrary} not in ${list(e.homeLibraries)}`);
  if (!c.ptypeMatch) why.push(`PTYPE ${patron.ptype} not in ${list(e.ptypes)}`);
  return `${entryTitle(c)}: ${why.join('; ')}`;
}

function entryCondition(entry: SettingsEntry | null, checks: EntryCheck[], patron: PatronSnapshot, entries: readonly SettingsEntry[]): Condition {
  const skipped = checks.filter((c) => !c.applies).map((c) => skipReason(c, patron, entries));
  const who = `home library ${patron.homeLibrary}, PTYPE ${patron.ptype}`;
  const verdict = entry ? `entry ${entryTitle({ entryId: entry.id, name: entry.name })} applies` : 'no entry applies';
  return {
    key: 'entry',
    label: 'Settings entry',
    measured: `${who}: ${verdict}` + (skipped.length ? ` (passed over ${skipped.join('; ')})` : ''),
    required: 'the first entry by position whose home libraries and PTYPEs include the patron (blank = all); its conditions decide, with no fall-through',
    pass: entry !== null,
  };
}

function chargeNote(charge: SnapshotCharge, entry: SettingsEntry, window: DateWindow, reportDate: LocalDate): { counted: boolean; note: string } {
  if (entry.countedCharges === 'item_fees' && !(ITEM_FEE_REASONS as readonly string[]).includes(charge.reason)) {
    return { counted: false, note: `not an item fee (the entry counts ${list(ITEM_FEE_REASONS)} only)` };
  }
  if (inWindow(window, charge.assessedOn)) return { counted: true, note: 'counted' };
  if (window.from !== null && compareDates(charge.assessedOn, window.from) < 0) return { counted: false, note: `assessed before the window opens (${window.from})` };
  if (compareDates(charge.assessedOn, reportDate) > 0) return { counted: false, note: 'assessed after the report date' };
  const w = entry.window;
  if (entry.feeAgeDays !== null && entry.feeAgeDays > 0 && compareDates(charge.assessedOn, addDays(reportDate, -entry.feeAgeDays)) > 0) {
    return { counted: false, note: `younger than the fee age of ${plural(entry.feeAgeDays, 'day')}: counts from ${addDays(charge.assessedOn, entry.feeAgeDays)}` };
  }
  if (w.mode === 'absolute' && w.graceDays !== null && w.graceDays > 0 && compareDates(charge.assessedOn, addDays(reportDate, -w.graceDays)) > 0) {
    return { counted: false, note: `in the ${w.graceDays}-day grace period` };
  }
  return { counted: false, note: `assessed after the window closes (${window.to})` };
}

function exclusionCondition(patron: PatronSnapshot, reportDate: LocalDate): Condition {
  const active = patron.exclusions.filter((x) => !x.lifted && (x.untilDate === null || compareDates(x.untilDate, reportDate) >= 0));
  const lifted = patron.exclusions.filter((x) => x.lifted).length;
  const ended = patron.exclusions.filter((x) => !x.lifted && x.untilDate !== null && compareDates(x.untilDate, reportDate) < 0).length;
  const inactive = [lifted ? `${lifted} lifted` : '', ended ? `${ended} ended` : ''].filter(Boolean).join(', ');
  const measured = active.length
    ? active.map((x) => `excluded ${x.untilDate === null ? 'indefinitely' : `until ${x.untilDate}`} (${x.reason || 'no reason given'})`).join('; ')
    : `no active exclusion${inactive ? ` (${inactive})` : ''}`;
  return { key: 'not_excluded', label: 'Not excluded', measured, required: `no exclusion that is unlifted and runs through ${reportDate}`, pass: active.length === 0 };
}

function referralText(r: SnapshotReferral): string {
  return r.status === 'open'
    ? `open referral #${r.id} to ${r.agency} since ${r.referredOn}`
    : `${r.status} referral #${r.id} to ${r.agency} (${r.referredOn}..${r.closedOn ?? '?'})`;
}

function overdueCondition(patron: PatronSnapshot, minDays: number, reportDate: LocalDate): Condition {
  let best: { item: SnapshotItem; days: number } | null = null;
  for (const item of patron.items) {
    if (!OVERDUE_STATUSES.includes(item.status) || item.dueDate === null) continue;
    const days = daysBetween(item.dueDate, reportDate);
    if (best === null || days > best.days) best = { item, days };
  }
  const measured = best
    ? `item ${best.item.id}${best.item.title ? ` “${best.item.title}”` : ''} (${best.item.status}, due ${best.item.dueDate}) is ${plural(best.days, 'day')} past due`
    : 'no checked-out or lost item with a due date';
  return {
    key: 'min_days_overdue',
    label: 'Minimum days overdue',
    measured,
    required: `a checked-out or lost item at least ${plural(minDays, 'day')} past due`,
    pass: best !== null && best.days >= minDays,
  };
}

export function evaluatePatron(entries: readonly SettingsEntry[], patron: PatronSnapshot, reportDate: LocalDate): Evaluation {
  const { entry, checks } = matchEntries(entries, patron);
  const sorted = [...patron.charges].sort((a, b) => compareDates(a.assessedOn, b.assessedOn) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const owedCents = sum(sorted.map((c) => c.outstanding));
  const conditions: Condition[] = [entryCondition(entry, checks, patron, entries)];

  if (entry === null) {
    const charges = sorted.map((c) => chargeCheck(c, false, 'no settings entry applies'));
    return {
      patronId: patron.id,
      reportDate,
      entryId: null,
      entryName: null,
      eligible: false,
      owedCents,
      countedCents: 0 as Cents,
      window: null,
      conditions,
      entries: checks,
      charges,
    };
  }

  const window = countedWindow(entry, reportDate);
  const charges = sorted.map((c) => {
    const { counted, note } = chargeNote(c, entry, window, reportDate);
    return chargeCheck(c, counted, c.outstanding === 0 && counted ? 'counted (nothing outstanding)' : note);
  });
  const countedCharges = charges.filter((c) => c.counted);
  const countedCents = sum(countedCharges.map((c) => c.outstandingCents));
  const countedWithBalance = countedCharges.filter((c) => c.outstandingCents !== 0).length;
  const which = entry.countedCharges === 'item_fees' ? 'item-fee charge' : 'charge';
  const windowText = describeWindow(window);

  conditions.push({
    key: 'exempt_code',
    label: 'Patron code not exempt',
    measured: patron.patronCode ? `patron code “${patron.patronCode}”` : 'no patron code',
    required: entry.exemptPatronCodes.length ? `not one of ${list(entry.exemptPatronCodes)}` : 'the entry exempts no patron code',
    pass: !entry.exemptPatronCodes.includes(patron.patronCode),
  });
  conditions.push({ key: 'not_secured', label: 'Record not secured', measured: patron.status, required: 'active', pass: patron.status !== 'secured' });
  conditions.push(exclusionCondition(patron, reportDate));

  const open = patron.referrals.filter((r) => r.status === 'open');
  conditions.push({
    key: 'no_open_referral',
    label: 'Not already in collections',
    measured: open.length ? open.map(referralText).join('; ') : 'no open referral',
    required: 'no open referral (a patron is submitted once)',
    pass: open.length === 0,
  });
  // A referral withdrawn before its file left was never made, as far as the agency knows.
  const closed = patron.referrals.filter((r) => r.status !== 'open' && !r.withdrawn);
  conditions.push({
    key: 'no_earlier_referral',
    label: 'No earlier referral',
    measured: closed.length ? closed.map(referralText).join('; ') : 'never referred before',
    required: entry.resubmitAfterClear ? 'anything (the entry resubmits patrons after a clear)' : 'no closed referral (the entry does not resubmit after a clear)',
    pass: entry.resubmitAfterClear || closed.length === 0,
  });

  conditions.push({
    key: 'owes',
    label: 'Owes money',
    measured: `${usd(owedCents)} outstanding in ${plural(charges.filter((c) => c.outstandingCents !== 0).length, 'charge')}`,
    required: `more than ${usd(0)}`,
    pass: owedCents > 0,
  });
  conditions.push({
    key: 'minimum_owed',
    label: 'Minimum owed',
    measured: `${usd(countedCents)} in ${plural(countedWithBalance, which)} assessed ${windowText}`,
    required: `≥ ${usd(entry.minimumOwed)}`,
    pass: countedCents >= entry.minimumOwed,
  });

  if (entry.requireBill) {
    const bills = countedCharges.filter((c) => c.reason === 'replacement' && c.outstandingCents > 0);
    conditions.push({
      key: 'require_bill',
      label: 'Replacement bill',
      measured: bills.length
        ? bills.map((c) => `${c.id} ${usd(c.outstandingCents)} outstanding, assessed ${c.assessedOn}`).join('; ')
        : 'no outstanding replacement charge in the window',
      required: `an outstanding replacement charge assessed ${windowText}`,
      pass: bills.length > 0,
    });
  }
  if (entry.minDaysOverdue !== null) conditions.push(overdueCondition(patron, entry.minDaysOverdue, reportDate));

  return {
    patronId: patron.id,
    reportDate,
    entryId: entry.id,
    entryName: entry.name,
    eligible: conditions.every((c) => c.pass),
    owedCents,
    countedCents,
    window,
    conditions,
    entries: checks,
    charges,
  };
}

function chargeCheck(c: SnapshotCharge, counted: boolean, note: string): ChargeCheck {
  return {
    id: c.id,
    reason: c.reason,
    library: c.library,
    assessedOn: c.assessedOn,
    amountCents: c.amount,
    outstandingCents: c.outstanding,
    counted,
    note,
  };
}
