// /api/patrons: patrons looked up by the start of an id, barcode, name or email; and one
// patron's ledger, as `arrears patron --json` prints it.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { Context } from '../services/context.ts';
import { patronLedger, patronLedgerJson } from '../services/ledger.ts';
import { PATRON_SORTS, searchPatrons, type PatronSort } from '../services/patron-search.ts';
import { pageProperties, type PageQuery } from './schemas.ts';

export function registerPatronRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Querystring: PageQuery & { q?: string; sort?: PatronSort } }>(
    '/api/patrons',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['patrons'],
        summary: 'Patrons whose id, barcode, first or last name or email starts with q (any case), or whose name is "first last" or "last, first"; with what each owes now',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { q: { type: 'string', maxLength: 200 }, sort: { type: 'string', enum: PATRON_SORTS.flatMap((k) => [k, `-${k}`]) }, ...pageProperties },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await searchPatrons(ctx.database.db, { text: q.q, sort: q.sort, limit: q.limit, offset: q.offset });
      return { items: page.items.map(({ balanceCents, ...p }) => ({ ...p, balance: formatMoney(balanceCents) })), total: page.total };
    },
  );

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
