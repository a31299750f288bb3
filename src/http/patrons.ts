// /api/patrons/:id: one patron's ledger, as `arrears patron --json` prints it.
import type { FastifyInstance } from 'fastify';
import type { Context } from '../services/context.ts';
import { patronLedger, patronLedgerJson } from '../services/ledger.ts';

export function registerPatronRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Params: { id: string } }>(
    '/api/patrons/:id',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['patrons'],
        summary: "A patron's balance, flags, charges, payments, linked items, and referrals with their history",
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (request) => patronLedgerJson(await patronLedger(ctx.database.db, request.params.id)),
  );
}
