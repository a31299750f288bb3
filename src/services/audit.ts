// Who did what, when, to which record, with before/after values. Written in the same
// transaction as the change it describes, so one never exists without the other.
import type { Executor } from './context.ts';

export interface AuditEntry {
  actor: string;
  action: string;
  entity: string;
  entityId?: string | number;
  before?: unknown;
  after?: unknown;
  at?: Date;
}

export async function recordAudit(db: Executor, entry: AuditEntry | AuditEntry[]): Promise<void> {
  const entries = Array.isArray(entry) ? entry : [entry];
  if (entries.length === 0) return;
  for (let i = 0; i < entries.length; i += 1000) {
    await db
      .insertInto('audit_log')
      .values(
        entries.slice(i, i + 1000).map((e) => ({
          actor: e.actor,
          action: e.action,
          entity: e.entity,
          entity_id: e.entityId === undefined ? '' : String(e.entityId),
          before: e.before === undefined ? null : JSON.stringify(e.before),
          after: e.after === undefined ? null : JSON.stringify(e.after),
          ...(e.at ? { at: e.at } : {}),
        })),
      )
      .execute();
  }
}
