// Reading the audit log (written by recordAudit in audit.ts): who did what, when, to which
// record, narrowed by actor, action, entity, time, a patron or any text, newest first or
// sorted by a column.
import { sql } from 'kysely';
import type { Executor } from './context.ts';

export interface AuditFilter {
  actor?: string;
  /** An exact action ("settings.update"), or a family ending in a dot ("settings."). */
  action?: string;
  entity?: string;
  entityId?: string;
  /** Inclusive lower bound. */
  from?: Date;
  /** Exclusive upper bound. */
  to?: Date;
  /** What was done to one patron: their own record, their referrals and their exclusions. */
  patronId?: string;
  /** Case-insensitive text in the actor, action, entity or record id. */
  text?: string;
  sort?: AuditSort;
  limit?: number;
  offset?: number;
}

export interface AuditRow {
  id: number;
  at: Date;
  actor: string;
  action: string;
  entity: string;
  entityId: string;
  before: unknown;
  after: unknown;
}

export const AUDIT_SORTS = ['at', 'actor', 'action', 'entity'] as const;
export type AuditSort = (typeof AUDIT_SORTS)[number] | `-${(typeof AUDIT_SORTS)[number]}`;

export async function listAudit(db: Executor, filter: AuditFilter = {}): Promise<{ items: AuditRow[]; total: number }> {
  let q = db.selectFrom('audit_log');
  if (filter.actor !== undefined) q = q.where('actor', '=', filter.actor);
  if (filter.action !== undefined) {
    // A family prefix is matched literally: escape LIKE's wildcards.
    q = filter.action.endsWith('.') ? q.where('action', 'like', `${filter.action.replace(/[\\%_]/g, (c) => `\\${c}`)}%`) : q.where('action', '=', filter.action);
  }
  if (filter.entity !== undefined) q = q.where('entity', '=', filter.entity);
  if (filter.entityId !== undefined) q = q.where('entity_id', '=', filter.entityId);
  if (filter.from !== undefined) q = q.where('at', '>=', filter.from);
  if (filter.to !== undefined) q = q.where('at', '<', filter.to);
  if (filter.patronId !== undefined) {
    const id = filter.patronId;
    q = q.where(
      sql<boolean>`((entity = 'patron' and entity_id = ${id})
        or (entity = 'referral' and entity_id in (select r.id::text from referrals r where r.patron_id = ${id}))
        or (entity = 'exclusion' and entity_id in (select x.id::text from exclusions x where x.patron_id = ${id})))`,
    );
  }
  const text = filter.text?.trim().toLowerCase();
  if (text) {
    const like = `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
    q = q.where(sql<boolean>`(lower(actor) like ${like} or lower(action) like ${like} or lower(entity) like ${like} or lower(entity_id) like ${like})`);
  }
  const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const sort = filter.sort ?? '-at';
  const rows = await q
    .selectAll()
    .orderBy(sql.ref(sort.replace(/^-/, '')), sort.startsWith('-') ? 'desc' : 'asc')
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(filter.limit ?? 50)
    .offset(filter.offset ?? 0)
    .execute();
  return {
    items: rows.map((r) => ({ id: r.id, at: new Date(r.at), actor: r.actor, action: r.action, entity: r.entity, entityId: r.entity_id, before: r.before, after: r.after })),
    total: Number(total.n),
  };
}
