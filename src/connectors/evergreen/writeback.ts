// Writing the collections block into Evergreen, as its own open-ils.collections service and
// penalty API would: the PATRON_IN_COLLECTIONS standing penalty with its note in
// actor.usr_message (linked as 3.7+ does), a money.collections_tracker row, and the agency fee
// as a billing of type 2 ("Long Overdue Collection Fee") on a new grocery transaction. Lifting
// archives our penalty (stop_date) and deletes our tracker row: Evergreen's own
// remove_from_collections leaves the penalty in place, and nothing here ever touches a
// penalty, note or tracker row Arrears did not write. Each write is one Evergreen transaction,
// or one savepoint of a batch's; a retry after an interruption finds what an earlier attempt
// committed before writing again.
import type pg from 'pg';
import { formatMoney } from '../../domain/money.ts';
import { feeMarker, fill } from '../common.ts';
import { IlsUnavailable } from '../errors.ts';
import { WriteRefused, type AppliedWrite, type ConnectorConfig, type WriteIntent } from '../types.ts';

export const DEFAULT_COMMENT = 'Sent to collections ({agency}) on {date}';
export const DEFAULT_FEE_DESCRIPTION = 'Collection agency fee ({agency})';
/** config.standing_penalty PATRON_IN_COLLECTIONS. */
export const DEFAULT_PENALTY = 30;
/** config.billing_type "Long Overdue Collection Fee", what open-ils.collections bills. */
export const DEFAULT_FEE_BTYPE = 2;
/** actor.usr 1, the administrator account Evergreen's installer creates. */
export const DEFAULT_STAFF = 1;
const MESSAGE_TITLE = 'Sent to collections';
/** money.billing.amount is NUMERIC(6,2). */
const MAX_CENTS = 999_999;

/** The ILS ids of a block: its penalty, the note linked to it, and our tracker row (null when one was there already). */
export interface BlockRef {
  penalty: number;
  message: number;
  tracker: number | null;
}

export function parseBlockRef(ref: string | undefined): BlockRef | null {
  if (!ref) return null;
  try {
    const v = JSON.parse(ref) as Partial<BlockRef>;
    if (!Number.isSafeInteger(v.penalty)) return null;
    return { penalty: v.penalty!, message: Number.isSafeInteger(v.message) ? v.message! : 0, tracker: Number.isSafeInteger(v.tracker) ? v.tracker! : null };
  } catch {
    return null;
  }
}

const FOREIGN_KEY = '23503';

/**
 * The staff account recorded as placing the penalty and as the tracker's collector: the
 * connector's staffId, else actor.usr 1 (the administrator Evergreen's installer creates),
 * else the first super user.
 */
/** What stays the same through a batch of writes: looked up once per session, not per write. */
export interface WriteCache {
  staff?: number;
  penalties: Set<number>;
  orgUnits: Set<number>;
  billingTypes: Map<number, string>;
}

export function newWriteCache(): WriteCache {
  return { penalties: new Set(), orgUnits: new Set(), billingTypes: new Map() };
}

async function staffAccount(client: pg.Client, config: ConnectorConfig, cache: WriteCache): Promise<number> {
  cache.staff ??= await findStaffAccount(client, config);
  return cache.staff;
}

async function findStaffAccount(client: pg.Client, config: ConnectorConfig): Promise<number> {
  const configured = config.options.staffId;
  if (configured !== undefined) {
    if ((await client.query('SELECT 1 FROM actor.usr WHERE id = $1', [configured])).rowCount === 0) throw new WriteRefused(`Evergreen has no staff account ${configured} (actor.usr.id; the connector's staffId)`);
    return configured;
  }
  const r = await client.query<{ id: number }>('SELECT id FROM actor.usr WHERE id = $1 OR (super_user AND NOT deleted) ORDER BY id <> $1, id LIMIT 1', [DEFAULT_STAFF]);
  if (!r.rows[0]) throw new WriteRefused(`Evergreen has no actor.usr ${DEFAULT_STAFF} and no super user to record as the collector; set the connector's staffId (--staff-id)`);
  return r.rows[0].id;
}

/** One write: its own transaction, or inside a batch's (`grouped`) a savepoint that a refusal rolls back alone. */
export async function applyEvergreenWrite(client: pg.Client, config: ConnectorConfig, w: WriteIntent, grouped = false, cache: WriteCache = newWriteCache()): Promise<AppliedWrite> {
  const usr = Number(w.patronKey);
  if (!Number.isSafeInteger(usr)) throw new WriteRefused(`"${w.patronKey}" is not an Evergreen actor.usr id`);
  if (grouped) {
    await client.query('SAVEPOINT arrears_write');
    try {
      const result = await write(client, config, w, usr, cache);
      await client.query('RELEASE SAVEPOINT arrears_write');
      return result;
    } catch (err) {
      // Whatever failed, back to the savepoint: PostgreSQL refuses every later statement of an
      // aborted transaction and turns its COMMIT into a rollback of the writes before this one.
      try {
        await client.query('ROLLBACK TO SAVEPOINT arrears_write');
      } catch (lost) {
        throw new IlsUnavailable(`Evergreen's write-back batch was lost (${(err as Error).message}; ${(lost as Error).message}): it is retried`);
      }
      throw refusal(w, err);
    }
  }
  await client.query('BEGIN');
  try {
    const result = await write(client, config, w, usr, cache);
    // Evergreen's foreign keys are deferred: a refusal may only come now.
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw refusal(w, err);
  }
}

/**
 * Evergreen's refusals of the rows themselves (a foreign key, NOT NULL or CHECK, a value too
 * long or out of range, a trigger's RAISE): the same write would fail again, so it is not retried.
 */
const REFUSED = new Set([FOREIGN_KEY, '23502', '23514', '22001', '22003', '22P02', 'P0001']);

function refusal(w: WriteIntent, err: unknown): unknown {
  if (err instanceof WriteRefused || !REFUSED.has((err as { code?: string }).code ?? '')) return err;
  return new WriteRefused(`Evergreen refused the ${w.kind}: ${(err as Error).message}`);
}

async function write(client: pg.Client, config: ConnectorConfig, w: WriteIntent, usr: number, cache: WriteCache): Promise<AppliedWrite> {
  if (w.kind === 'lift') {
    const ref = parseBlockRef(w.blockRef);
    if (!ref) return { ilsRef: null, detail: { lifted: false, why: 'no penalty was placed' } };
    // Only what Arrears placed, found by its ids: never a penalty, note or tracker row of staff.
    // By id alone: Evergreen's patron merge moves penalties to the account kept.
    const archived = await client.query('UPDATE actor.usr_standing_penalty SET stop_date = now() WHERE id = $1 AND (stop_date IS NULL OR stop_date > now()) RETURNING id', [ref.penalty]);
    const removed = ref.tracker === null ? { rowCount: 0 } : await client.query('DELETE FROM money.collections_tracker WHERE id = $1', [ref.tracker]);
    return {
      ilsRef: w.blockRef!,
      detail: { penalty: ref.penalty, penaltyArchived: (archived.rowCount ?? 0) > 0, tracker: ref.tracker, trackerDeleted: (removed.rowCount ?? 0) > 0 },
    };
  }

  const patron = (await client.query<{ home_ou: number; deleted: boolean }>('SELECT home_ou, deleted FROM actor.usr WHERE id = $1', [usr])).rows[0];
  if (!patron || patron.deleted) throw new WriteRefused(`Evergreen has no patron ${usr} (deleted?)`);
  const org = config.options.penaltyOrgUnit ?? patron.home_ou;
  if (config.options.penaltyOrgUnit !== undefined && !cache.orgUnits.has(org)) {
    if ((await client.query('SELECT 1 FROM actor.org_unit WHERE id = $1', [org])).rowCount === 0) throw new WriteRefused(`Evergreen has no org unit ${org} (actor.org_unit.id; the connector's penaltyOrgUnit)`);
    cache.orgUnits.add(org);
  }

  if (w.kind === 'block') {
    const penalty = config.options.penaltyId ?? DEFAULT_PENALTY;
    if (!cache.penalties.has(penalty)) {
      if ((await client.query('SELECT 1 FROM config.standing_penalty WHERE id = $1', [penalty])).rowCount === 0) throw new WriteRefused(`Evergreen has no standing penalty ${penalty} (config.standing_penalty.id)`);
      cache.penalties.add(penalty);
    }
    const staff = await staffAccount(client, config, cache);
    const message = fill(config.options.comment ?? DEFAULT_COMMENT, w);
    if (w.recovering) {
      // An earlier attempt may have committed in Evergreen before Arrears recorded it. Its
      // note, penalty and tracker row were written in one transaction, so they share now().
      const found = (
        await client.query<{ penalty: number; message: number; tracker: string | null }>(
          `SELECT p.id AS penalty, m.id AS message,
                  (SELECT t.id FROM money.collections_tracker t WHERE t.usr = p.usr AND t.collector = $4 AND t.location = p.org_unit AND t.enter_time = m.create_date) AS tracker
           FROM actor.usr_standing_penalty p JOIN actor.usr_message m ON m.id = p.usr_message
           WHERE p.usr = $1 AND p.standing_penalty = $2 AND p.org_unit = $3 AND p.staff = $4 AND m.message = $5
             AND (p.stop_date IS NULL OR p.stop_date > now()) AND m.create_date = p.set_date
           ORDER BY p.id DESC LIMIT 1`,
          [usr, penalty, org, staff, message],
        )
      ).rows[0];
      if (found) {
        const ref: BlockRef = { penalty: found.penalty, message: found.message, tracker: found.tracker === null ? null : Number(found.tracker) };
        return { ilsRef: JSON.stringify(ref), detail: { ...ref, standing_penalty: penalty, org_unit: org, message, alreadyPlaced: true } };
      }
    }
    const m = await client.query<{ id: number }>('INSERT INTO actor.usr_message (usr, title, message, sending_lib, pub, create_date) VALUES ($1, $2, $3, $4, FALSE, now()) RETURNING id', [usr, MESSAGE_TITLE, message, org]);
    const p = await client.query<{ id: number }>(
      'INSERT INTO actor.usr_standing_penalty (org_unit, usr, standing_penalty, staff, set_date, usr_message) VALUES ($1, $2, $3, $4, now(), $5) RETURNING id',
      [org, usr, penalty, staff, m.rows[0]!.id],
    );
    // One tracker row per patron, collector and location (Evergreen's unique index): one that is there already is not ours.
    const there = await client.query('SELECT 1 FROM money.collections_tracker WHERE usr = $1 AND collector = $2 AND location = $3', [usr, staff, org]);
    const t = there.rowCount
      ? null
      : (await client.query<{ id: string }>('INSERT INTO money.collections_tracker (usr, collector, location, enter_time) VALUES ($1, $2, $3, now()) RETURNING id', [usr, staff, org])).rows[0]!;
    const ref: BlockRef = { penalty: p.rows[0]!.id, message: m.rows[0]!.id, tracker: t ? Number(t.id) : null };
    return { ilsRef: JSON.stringify(ref), detail: { ...ref, standing_penalty: penalty, org_unit: org, message, ...(ref.tracker === null ? { trackerExisted: true } : {}) } };
  }

  // fee
  const cents = w.amountCents ?? 0;
  if (cents <= 0) throw new WriteRefused('the agency fee is not more than 0.00');
  if (cents > MAX_CENTS) throw new WriteRefused(`the agency fee ${formatMoney(cents)} is more than a money.billing amount can hold (9999.99)`);
  const btype = Number(config.options.feeType ?? DEFAULT_FEE_BTYPE);
  let type = cache.billingTypes.has(btype) ? { name: cache.billingTypes.get(btype)! } : undefined;
  if (!type && Number.isSafeInteger(btype)) {
    type = (await client.query<{ name: string }>('SELECT name FROM config.billing_type WHERE id = $1', [btype])).rows[0];
    if (type) cache.billingTypes.set(btype, type.name);
  }
  if (!type) throw new WriteRefused(`Evergreen has no billing type "${config.options.feeType ?? DEFAULT_FEE_BTYPE}" (config.billing_type.id)`);
  const marker = feeMarker(w, config.name);
  const existing = (
    await client.query<{ xact: string; billing: string | null }>(
      'SELECT g.id AS xact, (SELECT b.id FROM money.billing b WHERE b.xact = g.id AND NOT b.voided ORDER BY b.id LIMIT 1) AS billing FROM money.grocery g WHERE g.usr = $1 AND g.note = $2 ORDER BY g.id LIMIT 1',
      [usr, marker],
    )
  ).rows[0];
  if (existing?.billing) return { ilsRef: existing.billing, detail: { grocery: Number(existing.xact), billing: Number(existing.billing), alreadyPosted: true } };
  const xact = existing
    ? Number(existing.xact)
    : Number((await client.query<{ id: string }>('INSERT INTO money.grocery (usr, billing_location, note) VALUES ($1, $2, $3) RETURNING id', [usr, org, marker])).rows[0]!.id);
  const note = fill(config.options.feeDescription ?? DEFAULT_FEE_DESCRIPTION, w);
  const amount = formatMoney(cents);
  const b = await client.query<{ id: string }>(
    'INSERT INTO money.billing (xact, amount, btype, billing_type, note, billing_ts) VALUES ($1, $2, $3, $4, $5, now()) RETURNING id',
    [xact, amount, btype, type.name, note],
  );
  const billing = b.rows[0]!.id;
  return { ilsRef: billing, detail: { grocery: xact, billing: Number(billing), btype, billing_type: type.name, amount, note, billing_location: org } };
}
