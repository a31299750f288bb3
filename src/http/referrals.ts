// /api/referrals: referrals by status, agency, entry, patron or run, and one with its history.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { ReferralStatus } from '../db/schema.ts';
import type { Context } from '../services/context.ts';
import { REFERRAL_SORTS, getReferral, listReferrals, type HistoryRecord, type ReferralRow, type ReferralSort } from '../services/referral-search.ts';
import { idParams, pageProperties, type PageQuery } from './schemas.ts';

function referralJson(r: ReferralRow) {
  const { referredCents, feeCents, lastReportedCents, balanceCents, recoveredCents, ...rest } = r;
  return {
    ...rest,
    referred: formatMoney(referredCents),
    fee: formatMoney(feeCents),
    lastReported: formatMoney(lastReportedCents),
    balance: formatMoney(balanceCents),
    recovered: formatMoney(recoveredCents),
  };
}

function historyJson(h: HistoryRecord) {
  const { amountCents, at, ...rest } = h;
  return { ...rest, amount: formatMoney(amountCents), at: at.toISOString() };
}

export function registerReferralRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['referrals'];

  app.get<{ Querystring: PageQuery & { status?: ReferralStatus; agency?: string; entry?: string; patron?: string; run?: number; q?: string; sort?: ReferralSort } }>(
    '/api/referrals',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Referrals, newest first or sorted by a column (amounts as decimal strings)',
        description:
          'balance is what the patron owes now and recovered the payments credited to the referral, both from the ledger (a payment shows at once; the next run reports it to the agency); lastReported is the balance the agency was last sent. q finds text in the patron id or name, agency, entry or status; sort is a column, descending with a leading "-".',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: ['open', 'cleared', 'cancelled', 'returned'] },
            agency: { type: 'string', minLength: 1, maxLength: 200, description: 'agency name' },
            entry: { type: 'string', minLength: 1, maxLength: 200, description: 'settings entry id or name' },
            patron: { type: 'string', minLength: 1, maxLength: 100, description: 'patron id' },
            run: { type: 'integer', minimum: 1, description: 'run id' },
            q: { type: 'string', minLength: 1, maxLength: 200 },
            sort: { type: 'string', enum: REFERRAL_SORTS.flatMap((k) => [k, `-${k}`]) },
            ...pageProperties,
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await listReferrals(ctx.database.db, {
        status: q.status,
        agency: q.agency,
        entry: q.entry,
        patronId: q.patron,
        runId: q.run,
        text: q.q,
        sort: q.sort,
        limit: q.limit,
        offset: q.offset,
      });
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
