// Who did what, when, to which record, with before/after values. Written in the same
// transaction as the change it describes, so one never exists without the other.
import { sql } from 'kysely';
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
  // One array per column, not six parameters per row: a run audits thousands of referrals,
  // and binding tens of thousands of parameters cost more than the insert.
  for (let i = 0; i < entries.length; i += 10_000) {
    const chunk = entries.slice(i, i + 10_000);
    const json = (v: unknown) => (v === undefined ? null : JSON.stringify(v));
    await sql`
      insert into audit_log (actor, action, entity, entity_id, before, after, at)
      select v.actor, v.action, v.entity, v.entity_id, v.before, v.after, coalesce(v.at, now())
      from unnest(${chunk.map((e) => e.actor)}::text[], ${chunk.map((e) => e.action)}::text[], ${chunk.map((e) => e.entity)}::text[],
                  ${chunk.map((e) => (e.entityId === undefined ? '' : String(e.entityId)))}::text[],
                  ${chunk.map((e) => json(e.before))}::jsonb[], ${chunk.map((e) => json(e.after))}::jsonb[],
                  ${chunk.map((e) => e.at ?? null)}::timestamptz[])
        as v(actor, action, entity, entity_id, before, after, at)`.execute(db);
  }
}
