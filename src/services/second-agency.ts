// The second-agency workflow of seed 000 beyond the record sets: secure and release patron
// records, return the first agency's referrals and re-refer the patrons to a second agency,
// import the agency's cleared-accounts file, and settle what is left. Each call is one
// transaction with an audit entry per patron or referral, by the acting user.
import { sql } from 'kysely';
import { localDateOf, type LocalDate } from '../domain/dates.ts';
import { ConflictError, ValidationError } from '../domain/errors.ts';
import { formatMoney, sum, type Cents } from '../domain/money.ts';
import type { ItemStatus } from '../db/schema.ts';
import { getAgency } from './agencies.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { recordFlagChanges } from './flags.ts';
import { settleBalance } from './ledger.ts';
import { readIdFile, resolvePatronTarget, type IdInFile, type PatronTarget } from './recordsets.ts';
import { appendHistory, closeReferrals, openReferralStates, setInCollections, type OpenReferralState } from './referrals.ts';

export type { PatronTarget };

/** Today's calendar date in each patron's home library's zone: referrals open and close on local dates. */
async function localDates(db: Executor, patronIds: readonly string[], now: Date): Promise<Map<string, LocalDate>> {
  if (patronIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('patrons as p')
    .innerJoin('libraries as l', 'l.code', 'p.home_library')
    .select(['p.id', 'l.time_zone'])
    .where('p.id', 'in', [...patronIds])
    .execute();
  return new Map(rows.map((r) => [r.id, localDateOf(now, r.time_zone)]));
}

/** closeReferrals takes one closing date; a consortium spanning zones may need more than one. */
async function closeOnLocalDates(db: Executor, rows: { id: number; patronId: string; status: 'cleared' | 'returned'; cents: Cents }[], dates: Map<string, LocalDate>): Promise<void> {
  const byDate = new Map<LocalDate, typeof rows>();
  for (const r of rows) {
    const d = dates.get(r.patronId)!;
    byDate.set(d, [...(byDate.get(d) ?? []), r]);
  }
  for (const [date, group] of byDate) await closeReferrals(db, group, date);
}

/** Locks the patrons' rows (in id order, so two bulk actions never deadlock) and reads their flags. */
async function lockPatrons(db: Executor, ids: readonly string[]) {
  if (ids.length === 0) return [];
  return db.selectFrom('patrons').select(['id', 'status', 'in_collections']).where('id', 'in', [...ids]).orderBy('id').forUpdate().execute();
}

// ---------------------------------------------------------------------------------------
// Secure and release.

export interface LinkedItem {
  id: string;
  barcode: string;
  title: string;
  status: ItemStatus;
}

export interface SecureRefusal {
  patronId: string;
  items: LinkedItem[];
}

export interface SecureResult {
  secured: string[];
  alreadySecured: string[];
  /** Patrons with linked items, not secured (only with skipRefused; otherwise the call fails). */
  refused: SecureRefusal[];
}

export function describeRefusals(refused: readonly SecureRefusal[]): string[] {
  return refused.flatMap((r) => [
    `patron ${r.patronId} has ${r.items.length} linked item${r.items.length === 1 ? '' : 's'}:`,
    ...r.items.map((i) => `  item ${i.id}, barcode ${i.barcode || '-'}, "${i.title}", ${i.status}`),
  ]);
}

/** Securing refused: the message names every linked item of every refused patron. */
export class SecureRefusedError extends ConflictError {
  constructor(readonly refused: SecureRefusal[]) {
    super(
      [
        `securing refused: ${refused.length} patron${refused.length === 1 ? ' has' : 's have'} items still linked, and nothing was secured; remove or transition the items first`,
        ...describeRefusals(refused),
      ].join('\n'),
    );
    this.name = 'SecureRefusedError';
  }
}

/**
 * Secures patron records (Polaris: a secured record keeps its charges). Refused while any item
 * is linked to the patron; in bulk nothing is secured if any patron is refused, unless
 * skipRefused, which secures the rest and lists the refused.
 */
export async function securePatrons(ctx: Context, target: PatronTarget, options: { skipRefused?: boolean } = {}): Promise<SecureResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const ids = await resolvePatronTarget(trx, target);
    const patrons = await lockPatrons(trx, ids);
    const items = ids.length
      ? await trx.selectFrom('items').select(['id', 'barcode', 'title', 'status', 'patron_id']).where('patron_id', 'in', ids).orderBy('patron_id').orderBy('id').execute()
      : [];
    const linked = new Map<string, LinkedItem[]>();
    for (const i of items) linked.set(i.patron_id!, [...(linked.get(i.patron_id!) ?? []), { id: i.id, barcode: i.barcode, title: i.title, status: i.status }]);
    const refused = [...linked].map(([patronId, list]) => ({ patronId, items: list }));
    if (refused.length && !options.skipRefused) throw new SecureRefusedError(refused);
    const alreadySecured = patrons.filter((p) => p.status === 'secured').map((p) => p.id);
    const secured = patrons.filter((p) => p.status !== 'secured' && !linked.has(p.id)).map((p) => p.id);
    const now = ctx.clock.now();
    if (secured.length) {
      await trx.updateTable('patrons').set({ status: 'secured', updated_at: now }).where('id', 'in', secured).execute();
      await recordFlagChanges(trx, secured, now);
      await recordAudit(
        trx,
        secured.map((id): AuditEntry => ({ actor: ctx.actor, action: 'patron.secure', entity: 'patron', entityId: id, before: { status: 'active' }, after: { status: 'secured' }, at: now })),
      );
    }
    return { secured, alreadySecured, refused };
  });
}

export interface ReleaseResult {
  released: string[];
  notSecured: string[];
}

async function releaseLocked(trx: Executor, ctx: Context, ids: string[], now: Date, reason: string): Promise<void> {
  if (ids.length === 0) return;
  await trx.updateTable('patrons').set({ status: 'active', updated_at: now }).where('id', 'in', ids).execute();
  await recordAudit(
    trx,
    ids.map((id): AuditEntry => ({ actor: ctx.actor, action: 'patron.release', entity: 'patron', entityId: id, before: { status: 'secured' }, after: { status: 'active', reason }, at: now })),
  );
}

/** Releases secured patron records, one or in bulk; patrons that are not secured are listed back. */
export async function releasePatrons(ctx: Context, target: PatronTarget): Promise<ReleaseResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const patrons = await lockPatrons(trx, await resolvePatronTarget(trx, target));
    const released = patrons.filter((p) => p.status === 'secured').map((p) => p.id);
    const now = ctx.clock.now();
    await releaseLocked(trx, ctx, released, now, 'released by staff');
    await recordFlagChanges(trx, released, now);
    return { released, notSecured: patrons.filter((p) => p.status !== 'secured').map((p) => p.id) };
  });
}

// ---------------------------------------------------------------------------------------
// The agency's cleared-accounts file.

export interface ClearedAccount {
  patronId: string;
  referralId: number;
  agency: string;
  /** The patron's balance when the referral was cleared. */
  amountCents: Cents;
  released: boolean;
}

export interface ClearedResult {
  file: string;
  column: string;
  cleared: ClearedAccount[];
  /** Ids in the file that are not patrons here, with their rows. */
  unknown: IdInFile[];
  /** Patrons in the file without an open referral: nothing to clear. */
  notReferred: IdInFile[];
}

const CLEARED_REASON = 'cleared by agency';

/**
 * Imports an agency's list of cleared accounts (.xlsx or .csv, patron ids only): each listed
 * patron's open referral is closed with a clear record for the balance now, the patron leaves
 * collections, and a secured record is released. Unknown ids and patrons without an open
 * referral are listed back; they do not stop the others.
 */
export async function importClearedAccounts(ctx: Context, path: string, options: { column?: string } = {}): Promise<ClearedResult> {
  const read = await readIdFile(path, options.column);
  return ctx.database.db.transaction().execute(async (trx) => {
    const ids = read.ids.map((x) => x.id);
    const patrons = await lockPatrons(trx, ids);
    const known = new Map(patrons.map((p) => [p.id, p]));
    const states = await openReferralsOf(trx, [...known.keys()]);
    const open = new Map(states.map((s) => [s.patronId, s]));
    const agencies = new Map((await trx.selectFrom('agencies').select(['id', 'name']).execute()).map((a) => [a.id, a.name]));
    const now = ctx.clock.now();
    const dates = await localDates(trx, [...open.keys()], now);

    await appendHistory(
      trx,
      states.map((s) => ({ referralId: s.id, patronId: s.patronId, type: 'clear' as const, amountCents: s.owedCents, reason: CLEARED_REASON })),
      { runId: null, reportDate: null, at: now, actor: ctx.actor },
    );
    await closeOnLocalDates(
      trx,
      states.map((s) => ({ id: s.id, patronId: s.patronId, status: 'cleared' as const, cents: s.owedCents })),
      dates,
    );
    await recordAudit(
      trx,
      states.map(
        (s): AuditEntry => ({
          actor: ctx.actor,
          action: 'referral.clear',
          entity: 'referral',
          entityId: s.id,
          before: { status: 'open', agency: agencies.get(s.agencyId) },
          after: { status: 'cleared', owed: s.owedCents, reason: CLEARED_REASON, file: read.file },
          at: now,
        }),
      ),
    );
    const released = states.filter((s) => known.get(s.patronId)!.status === 'secured').map((s) => s.patronId);
    await releaseLocked(trx, ctx, released, now, CLEARED_REASON);
    // Released first, so the flag change setInCollections records carries both flags;
    // recordFlagChanges then adds only what is not recorded yet.
    await setInCollections(trx, states.map((s) => s.patronId), false, now);
    await recordFlagChanges(trx, released, now);
    return {
      file: read.file,
      column: read.column,
      cleared: states.map((s) => ({
        patronId: s.patronId,
        referralId: s.id,
        agency: agencies.get(s.agencyId) ?? String(s.agencyId),
        amountCents: s.owedCents,
        released: released.includes(s.patronId),
      })),
      unknown: read.ids.filter((x) => !known.has(x.id)),
      notReferred: read.ids.filter((x) => known.has(x.id) && !open.has(x.id)),
    };
  });
}

/**
 * Open referrals with the patrons' balances now, their rows locked: a run that reads them in
 * its snapshot and then tries to change them fails instead of closing them a second time.
 */
async function openReferralsOf(trx: Executor, patronIds: string[]): Promise<OpenReferralState[]> {
  if (patronIds.length === 0) return [];
  await sql`select id from referrals where status = 'open' and patron_id = any(${patronIds}::text[]) order by id for update`.execute(trx);
  return openReferralStates(trx, { patronIds });
}

// ---------------------------------------------------------------------------------------
// Settle what is left.

export type SettleMode = 'waive' | 'agency_payment';

export interface SettleResult {
  mode: SettleMode;
  /** Per patron, what was waived or paid (0 when nothing was owed). */
  patrons: { patronId: string; amountCents: Cents }[];
  totalCents: Cents;
}

export const AGENCY_PAYMENT_METHOD = 'collection agency';

/**
 * Clears each patron's whole remaining balance with a waiver, or with a payment by method
 * "collection agency" (money the agency recovered). The next run's update part closes any
 * referral still open and reports the change to the agency.
 */
export async function settlePatrons(ctx: Context, target: PatronTarget, mode: SettleMode): Promise<SettleResult> {
  if (mode !== 'waive' && mode !== 'agency_payment') throw ValidationError.of(`unknown settle mode "${String(mode)}"; expected waive or agency_payment`, { field: 'mode' });
  return ctx.database.db.transaction().execute(async (trx) => {
    const ids = await resolvePatronTarget(trx, target);
    await lockPatrons(trx, ids);
    const now = ctx.clock.now();
    const [type, method] = mode === 'waive' ? (['waive', ''] as const) : (['payment', AGENCY_PAYMENT_METHOD] as const);
    const patrons: SettleResult['patrons'] = [];
    for (const patronId of ids) patrons.push({ patronId, amountCents: await settleBalance(trx, patronId, type, method, now) });
    await recordAudit(
      trx,
      patrons
        .filter((p) => p.amountCents > 0)
        .map(
          (p): AuditEntry => ({
            actor: ctx.actor,
            action: 'ledger.settle',
            entity: 'patron',
            entityId: p.patronId,
            before: { balance: p.amountCents },
            after: { balance: 0, type, method, amount: p.amountCents },
            at: now,
          }),
        ),
    );
    return { mode, patrons, totalCents: sum(patrons.map((p) => p.amountCents)) };
  });
}

// ---------------------------------------------------------------------------------------
// Return to the first agency and re-refer to the second.

export interface Rereferral {
  patronId: string;
  returnedReferralId: number;
  fromAgency: string;
  referralId: number;
  agency: string;
  /** The balance returned by the first agency and referred to the second. */
  amountCents: Cents;
}

export interface RereferResult {
  agency: string;
  referrals: Rereferral[];
}

const RETURNED_REASON = 'returned by agency';

/**
 * Closes each patron's open referral with a return record (the balance now) and refers the
 * patron to the named agency in the same transaction, linked by previous_referral_id and under
 * the same settings entry, so the run engine goes on updating it. No agency fee: it is charged
 * on first submission only. A patron without an open referral, or already with that agency,
 * refuses the whole call by name: a fresh referral belongs to the run engine, which decides
 * eligibility and the fee.
 */
export async function returnAndRerefer(ctx: Context, target: PatronTarget, agencyName: string): Promise<RereferResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const agency = await getAgency(trx, agencyName);
    if (!agency.active) throw ValidationError.of(`agency "${agency.name}" is inactive`, { field: 'agency' });
    const ids = await resolvePatronTarget(trx, target);
    await lockPatrons(trx, ids);
    const states = await openReferralsOf(trx, ids);
    const open = new Map(states.map((s) => [s.patronId, s]));
    const agencies = new Map((await trx.selectFrom('agencies').select(['id', 'name']).execute()).map((a) => [a.id, a.name]));
    const problems = [
      ...ids.filter((id) => !open.has(id)).map((id) => ({ field: 'patronIds', reason: `patron "${id}" has no open referral to return` })),
      ...states.filter((s) => s.agencyId === agency.id).map((s) => ({ field: 'patronIds', reason: `patron "${s.patronId}" is already referred to ${agency.name}` })),
    ];
    if (problems.length) throw new ValidationError([{ reason: 'nothing was returned or re-referred' }, ...problems]);

    const now = ctx.clock.now();
    const dates = await localDates(trx, ids, now);
    await appendHistory(
      trx,
      states.map((s) => ({ referralId: s.id, patronId: s.patronId, type: 'return' as const, amountCents: s.owedCents, reason: RETURNED_REASON })),
      { runId: null, reportDate: null, at: now, actor: ctx.actor },
    );
    await closeOnLocalDates(
      trx,
      states.map((s) => ({ id: s.id, patronId: s.patronId, status: 'returned' as const, cents: s.owedCents })),
      dates,
    );
    const inserted = states.length
      ? await trx
          .insertInto('referrals')
          .values(
            states.map((s) => ({
              patron_id: s.patronId,
              agency_id: agency.id,
              entry_id: s.entryId,
              referred_on: dates.get(s.patronId)!,
              run_id: null,
              referred_cents: s.owedCents,
              fee_cents: 0,
              last_reported_cents: s.owedCents,
              previous_referral_id: s.id,
              created_at: now,
            })),
          )
          .returning(['id', 'patron_id'])
          .execute()
      : [];
    const newIds = new Map(inserted.map((r) => [r.patron_id, r.id]));
    await appendHistory(
      trx,
      states.map((s) => ({
        referralId: newIds.get(s.patronId)!,
        patronId: s.patronId,
        type: 'refer' as const,
        amountCents: s.owedCents,
        reason: `second agency (returned by ${agencies.get(s.agencyId)})`,
      })),
      { runId: null, reportDate: null, at: now, actor: ctx.actor },
    );
    await recordAudit(
      trx,
      states.flatMap((s): AuditEntry[] => [
        {
          actor: ctx.actor,
          action: 'referral.return',
          entity: 'referral',
          entityId: s.id,
          before: { status: 'open', agency: agencies.get(s.agencyId) },
          after: { status: 'returned', owed: s.owedCents, reason: RETURNED_REASON },
          at: now,
        },
        {
          actor: ctx.actor,
          action: 'referral.refer',
          entity: 'referral',
          entityId: newIds.get(s.patronId)!,
          after: { patronId: s.patronId, agency: agency.name, owed: s.owedCents, fee: 0, previousReferralId: s.id },
          at: now,
        },
      ]),
    );
    return {
      agency: agency.name,
      referrals: states.map((s) => ({
        patronId: s.patronId,
        returnedReferralId: s.id,
        fromAgency: agencies.get(s.agencyId) ?? String(s.agencyId),
        referralId: newIds.get(s.patronId)!,
        agency: agency.name,
        amountCents: s.owedCents,
      })),
    };
  });
}

/** Amounts as decimal strings, for --json and the API. */
export function moneyJson<T extends { amountCents: Cents }>(rows: readonly T[]): (Omit<T, 'amountCents'> & { amount: string })[] {
  return rows.map(({ amountCents, ...rest }) => ({ ...rest, amount: formatMoney(amountCents) }));
}
