// Reading the audit log (written by recordAudit in audit.ts): who did what, when, to which
// record, narrowed by actor, action, entity and time, newest first.
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
  const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
  const rows = await q
    .selectAll()
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
