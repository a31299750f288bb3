// /api/flags: the latest in-collections and secured state of each patron whose flags changed
// after `since`, for the ILS, as `arrears flags export` gives it.
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../domain/errors.ts';
import type { Context } from '../services/context.ts';
import { exportFlags, flagsCsv, flagsJson, parseSince } from '../services/flags.ts';

export function registerFlagRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Querystring: { since?: string; format: 'json' | 'csv' } }>(
    '/api/flags',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['flags'],
        summary: 'Flags changed after `since` (ISO 8601 with a zone), oldest change first; pass highWaterMark (also the X-High-Water-Mark header) as the next since',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { since: { type: 'string', minLength: 1, maxLength: 40 }, format: { type: 'string', enum: ['json', 'csv'], default: 'json' } },
        },
      },
    },
    async (request, reply) => {
      const { since: text, format } = request.query;
      const since = text === undefined ? undefined : parseSince(text);
      if (since === null) throw ValidationError.of(`"${text}" is not an ISO 8601 date-time with a zone, like 2024-03-05T02:00:00Z`, { field: 'since' });
      const exported = await exportFlags(ctx.database.db, { since });
      if (exported.highWaterMark) reply.header('x-high-water-mark', exported.highWaterMark.toISOString());
      if (format === 'csv') return reply.header('content-type', 'text/csv; charset=utf-8').send(flagsCsv(exported.patrons));
      return flagsJson(exported);
    },
  );
}
