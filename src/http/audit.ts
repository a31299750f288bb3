// /api/audit: the audit log, newest first, narrowed by actor, action, entity and time.
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../domain/errors.ts';
import type { Context } from '../services/context.ts';
import { AUDIT_SORTS, listAudit, type AuditSort } from '../services/audit-log.ts';
import { parseSince } from '../services/flags.ts';
import { pageProperties, type PageQuery } from './schemas.ts';

function instant(text: string | undefined, field: string): Date | undefined {
  if (text === undefined) return undefined;
  const d = parseSince(text);
  if (!d) throw ValidationError.of(`"${text}" is not an ISO 8601 date-time with a zone, like 2024-03-05T00:00:00Z`, { field });
  return d;
}

export function registerAuditRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Querystring: PageQuery & { actor?: string; action?: string; entity?: string; entityId?: string; from?: string; to?: string; patron?: string; q?: string; sort?: AuditSort } }>(
    '/api/audit',
    {
      config: { permission: 'audit.view' },
      schema: {
        tags: ['audit'],
        summary: 'Who did what, when, to which record, with before and after values',
        description:
          'action is exact ("settings.update") or a family ending in a dot ("settings."); from is inclusive, to exclusive; patron: what was done to one patron (their record, referrals and exclusions); q: text in the actor, action, entity or record id; sort: a column, descending with a leading "-" (default -at).',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            actor: { type: 'string', minLength: 1, maxLength: 200 },
            action: { type: 'string', minLength: 1, maxLength: 100 },
            entity: { type: 'string', minLength: 1, maxLength: 100 },
            entityId: { type: 'string', minLength: 1, maxLength: 200 },
            from: { type: 'string', maxLength: 40, description: 'ISO 8601 date-time with a zone' },
            to: { type: 'string', maxLength: 40, description: 'ISO 8601 date-time with a zone' },
            patron: { type: 'string', minLength: 1, maxLength: 100 },
            q: { type: 'string', minLength: 1, maxLength: 200 },
            sort: { type: 'string', enum: AUDIT_SORTS.flatMap((k) => [k, `-${k}`]) },
            ...pageProperties,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      return listAudit(ctx.database.db, {
        actor: q.actor,
        action: q.action,
        entity: q.entity,
        entityId: q.entityId,
        from: instant(q.from, 'from'),
        to: instant(q.to, 'to'),
        patronId: q.patron,
        text: q.q,
        sort: q.sort,
        limit: q.limit,
        offset: q.offset,
      });
    },
  );
}
