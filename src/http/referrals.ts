// /api/referrals: referrals by status, agency, entry, patron or run, and one with its history.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { ReferralStatus } from '../db/schema.ts';
import type { Context } from '../services/context.ts';
import { getReferral, listReferrals, type HistoryRecord, type ReferralRow } from '../services/referral-search.ts';
import { idParams, pageProperties, type PageQuery } from './schemas.ts';

function referralJson(r: ReferralRow) {
  const { referredCents, feeCents, lastReportedCents, ...rest } = r;
  return { ...rest, referred: formatMoney(referredCents), fee: formatMoney(feeCents), lastReported: formatMoney(lastReportedCents) };
}

function historyJson(h: HistoryRecord) {
  const { amountCents, at, ...rest } = h;
  return { ...rest, amount: formatMoney(amountCents), at: at.toISOString() };
}

export function registerReferralRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['referrals'];

  app.get<{ Querystring: PageQuery & { status?: ReferralStatus; agency?: string; entry?: string; patron?: string; run?: number } }>(
    '/api/referrals',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Referrals, newest first (amounts as decimal strings)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'cleared', 'cancelled', 'returned'] },
            agency: { type: 'string', minLength: 1, maxLength: 200, description: 'agency name' },
            entry: { type: 'string', minLength: 1, maxLength: 200, description: 'settings entry id or name' },
            patron: { type: 'string', minLength: 1, maxLength: 100, description: 'patron id' },
            run: { type: 'integer', minimum: 1, description: 'run id' },
            ...pageProperties,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await listReferrals(ctx.database.db, { status: q.status, agency: q.agency, entry: q.entry, patronId: q.patron, runId: q.run, limit: q.limit, offset: q.offset });
      return { items: page.items.map(referralJson), total: page.total };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/api/referrals/:id',
    { config: { permission: 'ledger.view' }, schema: { tags, summary: 'One referral with its append-only history', params: idParams } },
    async (request) => {
      const r = await getReferral(ctx.database.db, request.params.id);
      return { ...referralJson(r), history: r.history.map(historyJson) };
    },
  );
}
