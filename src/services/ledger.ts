// The ledger: charges, and the payments, waivers and write-offs allocated to them.
// Balances are always computed from these rows. Callers own the transaction and the
// audit entry: these functions take an Executor so they compose inside a run or a workflow.
import { randomUUID } from 'node:crypto';
import { sql, type RawBuilder } from 'kysely';
import type { ChargeReason, ItemStatus, PaymentType, ReferralStatus } from '../db/schema.ts';
import { allocateOldestFirst, type Allocation, type OpenCharge } from '../domain/ledger.ts';
import { formatMoney, sum, type Cents } from '../domain/money.ts';
import { ConflictError, NotFoundError, ValidationError } from '../domain/errors.ts';
import type { PatronRecord } from '../domain/patron-record.ts';
import type { Executor } from './context.ts';
import { recoveredPayments } from './recovery.ts';
import { historyRecord, type HistoryRecord } from './referral-search.ts';

/** The calendar date of an instant in a library's zone: how charges.assessed_on is always derived. */
export function assessedOnSql(assessedAt: RawBuilder<unknown>, timeZone: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`(${assessedAt} at time zone ${timeZone})::date`;
}

export interface NewChargeInput {
  id: string;
  patronId: string;
  itemId?: string | null;
  /** The posting library; assessed_on is taken in its time zone. */
  library: string;
  reason: ChargeReason;
  amountCents: Cents;
  assessedAt: Date;
  /** Agency fees: the referral that charged it. */
  referralId?: number | null;
}

const BATCH = 1000;

export async function insertCharges(db: Executor, rows: readonly NewChargeInput[]): Promise<void> {
  if (rows.length === 0) return;
  const bad = rows.find((r) => !Number.isSafeInteger(r.amountCents) || r.amountCents <= 0);
  if (bad) throw ValidationError.of(`charge amount must be more than 0.00, got ${formatMoney(bad.amountCents)}`, { field: `charges.${bad.id}.amount` });
  const codes = [...new Set(rows.map((r) => r.library))];
  const known = new Set((await db.selectFrom('libraries').select('code').where('code', 'in', codes).execute()).map((l) => l.code));
  const unknown = codes.find((c) => !known.has(c));
  if (unknown !== undefined) throw ValidationError.of(`unknown library "${unknown}"`, { field: 'library' });
  for (let i = 0; i < rows.length; i += BATCH) {
    await db
      .insertInto('charges')
      .values(
        rows.slice(i, i + BATCH).map((r) => ({
          id: r.id,
          patron_id: r.patronId,
          item_id: r.itemId ?? null,
          library: r.library,
          reason: r.reason,
          amount_cents: r.amountCents,
          assessed_at: r.assessedAt,
          assessed_on: sql<string>`(select ${assessedOnSql(sql`${r.assessedAt.toISOString()}::timestamptz`, sql.ref('l.time_zone'))} from libraries l where l.code = ${r.library})`,
          referral_id: r.referralId ?? null,
        })),
      )
      .execute();
  }
}

/** After a library's time zone changed: its charges' local assessment dates follow. Returns the rows changed. */
export async function recomputeAssessedOn(db: Executor, libraryCodes: readonly string[]): Promise<number> {
  if (libraryCodes.length === 0) return 0;
  const local = assessedOnSql(sql.ref('c.assessed_at'), sql.ref('l.time_zone'));
  const r = await sql`
    update charges c set assessed_on = ${local}
    from libraries l
    where l.code = c.library and c.library = any(${[...libraryCodes]}::text[]) and c.assessed_on <> ${local}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

export interface OpenChargeRow extends OpenCharge {
  amountCents: Cents;
}

/** The patron's charges that still have something outstanding (optionally only the given ones), oldest first. */
export async function openCharges(db: Executor, patronId: string, chargeIds?: readonly string[]): Promise<OpenChargeRow[]> {
  let q = db
    .selectFrom('charges as c')
    .where('c.patron_id', '=', patronId)
    .select(['c.id', 'c.assessed_at', 'c.amount_cents', sql<number>`(c.amount_cents - c.paid_cents)::bigint`.as('outstanding')])
    .where(sql<boolean>`c.amount_cents > c.paid_cents`)
    .orderBy('c.assessed_at')
    .orderBy('c.id');
  if (chargeIds) {
    if (chargeIds.length === 0) return [];
    q = q.where('c.id', 'in', [...chargeIds]);
  }
  const rows = await q.execute();
  return rows.map((r) => ({ id: r.id, assessedAt: new Date(r.assessed_at), amountCents: r.amount_cents as Cents, outstanding: r.outstanding as Cents }));
}

/** Locks the patron row so two postings for one patron never allocate the same balance twice. */
async function lockPatron(db: Executor, patronId: string): Promise<void> {
  const p = await db.selectFrom('patrons').select('id').where('id', '=', patronId).forUpdate().executeTakeFirst();
  if (!p) throw new NotFoundError(`patron "${patronId}"`);
}

export interface PaymentInput {
  id?: string;
  patronId: string;
  /** Applied to this charge only; null or absent = oldest charge first. */
  chargeId?: string | null;
  type: PaymentType;
  method: string;
  amountCents: Cents;
  paidAt: Date;
}

export interface PostedPayment {
  id: string;
  amountCents: Cents;
  allocations: Allocation[];
}

async function writePayment(db: Executor, p: PaymentInput & { id: string }, allocations: readonly Allocation[]): Promise<void> {
  await db
    .insertInto('payments')
    .values({ id: p.id, patron_id: p.patronId, charge_id: p.chargeId ?? null, type: p.type, method: p.method, amount_cents: p.amountCents, paid_at: p.paidAt })
    .execute();
  await db
    .insertInto('allocations')
    .values(allocations.map((a) => ({ payment_id: p.id, charge_id: a.chargeId, patron_id: p.patronId, amount_cents: a.amountCents })))
    .execute();
}

/** Posts a payment, waiver or write-off and allocates it; refused when it exceeds what is outstanding. */
export async function postPayment(db: Executor, p: PaymentInput): Promise<PostedPayment> {
  const id = p.id ?? randomUUID();
  await lockPatron(db, p.patronId);
  if (p.id !== undefined && (await db.selectFrom('payments').select('id').where('id', '=', p.id).executeTakeFirst())) {
    throw new ConflictError(`payment "${p.id}" already exists`);
  }
  let allocations: Allocation[];
  if (p.chargeId) {
    const charge = await db.selectFrom('charges').select('patron_id').where('id', '=', p.chargeId).executeTakeFirst();
    if (!charge) throw ValidationError.of(`unknown charge "${p.chargeId}"`, { field: 'chargeId' });
    if (charge.patron_id !== p.patronId) throw ValidationError.of(`charge "${p.chargeId}" belongs to patron "${charge.patron_id}"`, { field: 'chargeId' });
    const open = await openCharges(db, p.patronId, [p.chargeId]);
    const result = allocateOldestFirst(open, p.amountCents);
    if (!result.ok) throw ValidationError.of(result.reason, { field: 'amount' });
    allocations = result.allocations;
  } else {
    const result = allocateOldestFirst(await openCharges(db, p.patronId), p.amountCents);
    if (!result.ok) throw ValidationError.of(result.reason, { field: 'amount' });
    allocations = result.allocations;
  }
  await writePayment(db, { ...p, id }, allocations);
  return { id, amountCents: p.amountCents, allocations };
}

/**
 * Clears the patron's whole outstanding balance (or that of the given charges) with one
 * payment, waiver or write-off. Returns the amount posted; 0 means nothing was owed.
 */
export async function settleBalance(
  db: Executor,
  patronId: string,
  type: PaymentType,
  method: string,
  paidAt: Date,
  options: { chargeIds?: string[] } = {},
): Promise<Cents> {
  await lockPatron(db, patronId);
  const ids = options.chargeIds;
  if (ids?.length === 0) return 0 as Cents;
  if (ids) {
    const own = await db.selectFrom('charges').select('id').where('patron_id', '=', patronId).where('id', 'in', ids).execute();
    const owned = new Set(own.map((c) => c.id));
    const foreign = ids.find((c) => !owned.has(c));
    if (foreign !== undefined) throw ValidationError.of(`charge "${foreign}" is not a charge of patron "${patronId}"`, { field: 'chargeIds' });
  }
  const open = await openCharges(db, patronId, ids);
  const total = sum(open.map((c) => c.outstanding));
  if (total === 0) return total;
  const chargeId = ids?.length === 1 ? ids[0] : null;
  await writePayment(
    db,
    { id: randomUUID(), patronId, chargeId, type, method, amountCents: total, paidAt },
    open.map((c) => ({ chargeId: c.id, amountCents: c.outstanding })),
  );
  return total;
}

export interface PatronInfo extends Omit<PatronRecord, 'birthDate'> {
  id: string;
}

export interface PatronFlags {
  status: 'active' | 'secured';
  inCollections: boolean;
  blocked: boolean;
}

export interface PatronBalance {
  patron: PatronInfo;
  flags: PatronFlags;
  outstandingCents: Cents;
}

export interface LedgerCharge {
  id: string;
  itemId: string | null;
  library: string;
  reason: ChargeReason;
  amountCents: Cents;
  outstandingCents: Cents;
  assessedAt: Date;
  assessedOn: string;
  referralId: number | null;
}

export interface LedgerPayment {
  id: string;
  chargeId: string | null;
  type: PaymentType;
  method: string;
  amountCents: Cents;
  paidAt: Date;
  allocations: Allocation[];
}


export interface LedgerReferral {
  id: number;
  agency: string;
  status: ReferralStatus;
  referredOn: string;
  closedOn: string | null;
  referredCents: Cents;
  feeCents: Cents;
  lastReportedCents: Cents;
  /** Payments credited to this referral (services/recovery.ts). */
  recoveredCents: Cents;
  history: HistoryRecord[];
}

export interface LedgerItem {
  id: string;
  barcode: string;
  title: string;
  status: ItemStatus;
  dueDate: string | null;
}

export interface PatronLedger extends PatronBalance {
  charges: LedgerCharge[];
  payments: LedgerPayment[];
  referrals: LedgerReferral[];
  /** Items still linked to the patron (securing is refused while there are any). */
  items: LedgerItem[];
}

async function patronHeader(db: Executor, patronId: string): Promise<{ patron: PatronInfo; flags: PatronFlags }> {
  const p = await db.selectFrom('patrons').selectAll().where('id', '=', patronId).executeTakeFirst();
  if (!p) throw new NotFoundError(`patron "${patronId}"`);
  return {
    patron: {
      id: p.id,
      barcode: p.barcode,
      firstName: p.first_name,
      lastName: p.last_name,
      homeLibrary: p.home_library,
      ptype: p.ptype,
      patronCode: p.patron_code,
      email: p.email,
      phone: p.phone,
      mobile: p.mobile,
      altPhone1: p.alt_phone_1,
      altPhone2: p.alt_phone_2,
      address: p.address,
      address2: p.address2,
      city: p.city,
      state: p.state,
      postalCode: p.postal_code,
      adultOrChild: p.adult_or_child,
    },
    flags: { status: p.status, inCollections: p.in_collections, blocked: p.blocked },
  };
}

export async function patronBalance(db: Executor, patronId: string): Promise<PatronBalance> {
  const head = await patronHeader(db, patronId);
  const open = await openCharges(db, patronId);
  return { ...head, outstandingCents: sum(open.map((c) => c.outstanding)) };
}

export async function patronLedger(db: Executor, patronId: string): Promise<PatronLedger> {
  const head = await patronHeader(db, patronId);
  const charges = await db
    .selectFrom('charges as c')
    .where('c.patron_id', '=', patronId)
    .select(['c.id', 'c.item_id', 'c.library', 'c.reason', 'c.amount_cents', 'c.assessed_at', 'c.assessed_on', 'c.referral_id'])
    .select(sql<number>`(c.amount_cents - c.paid_cents)::bigint`.as('outstanding'))
    .orderBy('c.assessed_at')
    .orderBy('c.id')
    .execute();
  const payments = await db.selectFrom('payments').selectAll().where('patron_id', '=', patronId).orderBy('paid_at').orderBy('id').execute();
  const allocations = await db.selectFrom('allocations').selectAll().where('patron_id', '=', patronId).orderBy('charge_id').execute();
  const referrals = await db
    .selectFrom('referrals as r')
    .innerJoin('agencies as g', 'g.id', 'r.agency_id')
    .where('r.patron_id', '=', patronId)
    .select(['r.id', 'g.name as agency', 'r.status', 'r.referred_on', 'r.closed_on', 'r.referred_cents', 'r.fee_cents', 'r.last_reported_cents'])
    .orderBy('r.id')
    .execute();
  const history = await db.selectFrom('referral_history').selectAll().where('patron_id', '=', patronId).orderBy('at').orderBy('id').execute();
  const recovered = await sql<{ referral_id: number; cents: number }>`
    select rp.referral_id, sum(rp.amount_cents)::bigint as cents from (${recoveredPayments([patronId])}) rp group by rp.referral_id`.execute(db);
  const items = await db.selectFrom('items').select(['id', 'barcode', 'title', 'status', 'due_date']).where('patron_id', '=', patronId).orderBy('id').execute();

  const ledgerCharges: LedgerCharge[] = charges.map((c) => ({
    id: c.id,
    itemId: c.item_id,
    library: c.library,
    reason: c.reason,
    amountCents: c.amount_cents as Cents,
    outstandingCents: c.outstanding as Cents,
    assessedAt: new Date(c.assessed_at),
    assessedOn: c.assessed_on,
    referralId: c.referral_id,
  }));
  return {
    ...head,
    outstandingCents: sum(ledgerCharges.map((c) => c.outstandingCents)),
    charges: ledgerCharges,
    payments: payments.map((p) => ({
      id: p.id,
      chargeId: p.charge_id,
      type: p.type,
      method: p.method,
      amountCents: p.amount_cents as Cents,
      paidAt: new Date(p.paid_at),
      allocations: allocations.filter((a) => a.payment_id === p.id).map((a) => ({ chargeId: a.charge_id, amountCents: a.amount_cents as Cents })),
    })),
    referrals: referrals.map((r) => ({
      id: r.id,
      agency: r.agency,
      status: r.status,
      referredOn: r.referred_on,
      closedOn: r.closed_on,
      referredCents: r.referred_cents as Cents,
      feeCents: r.fee_cents as Cents,
      lastReportedCents: r.last_reported_cents as Cents,
      recoveredCents: Number(recovered.rows.find((x) => Number(x.referral_id) === r.id)?.cents ?? 0) as Cents,
      history: history.filter((h) => h.referral_id === r.id).map(historyRecord),
    })),
    items: items.map((i) => ({ id: i.id, barcode: i.barcode, title: i.title, status: i.status, dueDate: i.due_date })),
  };
}

/** The ledger as scripts read it (`arrears patron --json`, the API): amounts as decimal strings. */
export function patronLedgerJson(l: PatronLedger) {
  return {
    patron: l.patron,
    flags: l.flags,
    balance: formatMoney(l.outstandingCents),
    charges: l.charges.map((c) => ({
      id: c.id,
      itemId: c.itemId,
      library: c.library,
      reason: c.reason,
      amount: formatMoney(c.amountCents),
      outstanding: formatMoney(c.outstandingCents),
      assessedAt: c.assessedAt.toISOString(),
      assessedOn: c.assessedOn,
      referralId: c.referralId,
    })),
    payments: l.payments.map((p) => ({
      id: p.id,
      chargeId: p.chargeId,
      type: p.type,
      method: p.method,
      amount: formatMoney(p.amountCents),
      paidAt: p.paidAt.toISOString(),
      allocations: p.allocations.map((a) => ({ chargeId: a.chargeId, amount: formatMoney(a.amountCents) })),
    })),
    referrals: l.referrals.map((r) => ({
      id: r.id,
      agency: r.agency,
      status: r.status,
      referredOn: r.referredOn,
      closedOn: r.closedOn,
      referred: formatMoney(r.referredCents),
      fee: formatMoney(r.feeCents),
      lastReported: formatMoney(r.lastReportedCents),
      recovered: formatMoney(r.recoveredCents),
      history: r.history.map((h) => ({
        type: h.type,
        amount: formatMoney(h.amountCents),
        reason: h.reason,
        reportDate: h.reportDate,
        at: h.at.toISOString(),
        actor: h.actor,
      })),
    })),
    items: l.items,
  };
}
