// /api/exclusions: "Exclude now" at review, the list of exclusions, and lifting one. An
// exclusion keeps the engine from submitting the patron until its date or until lifted; for
// a patron in a held New Submissions file it also cancels that referral and rebuilds the file.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { Context } from '../services/context.ts';
import { addExclusion, liftExclusion, listExclusions, type ExclusionFilter } from '../services/exclusions.ts';
import { actingContext } from './auth.ts';
import { DATE_PATTERN, idParams, pageProperties, type PageQuery } from './schemas.ts';

export function registerExclusionRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['review'];

  app.get<{ Querystring: PageQuery & { patron?: string; state?: ExclusionFilter['state'] } }>(
    '/api/exclusions',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Exclusions, newest first; state=active for those in force today',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { patron: { type: 'string', minLength: 1, maxLength: 100 }, state: { type: 'string', enum: ['active', 'ended', 'all'], default: 'all' }, ...pageProperties },
        },
      },
    },
    async (request) => {
      const q = request.query;
      return listExclusions(ctx, { patronId: q.patron, state: q.state, limit: q.limit, offset: q.offset });
    },
  );

  app.post<{ Body: { patronId: string; reason: string; until?: string | null } }>(
    '/api/exclusions',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: 'Exclude a patron from New Submissions until a date (inclusive) or until lifted',
        description: 'When the patron is in a New Submissions file held for review, that referral is cancelled ("excluded at review"), its agency fee taken back, and the file rebuilt without them.',
        body: {
          type: 'object',
          required: ['patronId', 'reason'],
          additionalProperties: false,
          properties: {
            patronId: { type: 'string', minLength: 1, maxLength: 100 },
            reason: { type: 'string', minLength: 1, maxLength: 500 },
            until: { anyOf: [{ type: 'string', pattern: DATE_PATTERN }, { type: 'null' }], description: 'YYYY-MM-DD, the last day it is in force; null = until lifted' },
          },
        },
      },
    },
    async (request, reply) => {
      const r = await addExclusion(actingContext(ctx, request), request.body);
      return reply.status(201).send({
        exclusion: r.exclusion,
        cancelled: r.cancelled.map(({ amountCents, feeRemovedCents, ...c }) => ({ ...c, amount: formatMoney(amountCents), feeRemoved: formatMoney(feeRemovedCents) })),
        rebuilt: r.rebuilt,
      });
    },
  );

  app.delete<{ Params: { id: number } }>(
    '/api/exclusions/:id',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Lift an exclusion (records who and when)', params: idParams } },
    async (request) => liftExclusion(actingContext(ctx, request), request.params.id),
  );
}
