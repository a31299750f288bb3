// /api/dashboard: referred vs recovered by month, split by library and agency, and the open
// referrals per agency. What "referred" and "recovered" count is defined in services/dashboard.ts.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { Context } from '../services/context.ts';
import { dashboard } from '../services/dashboard.ts';

const MONTH = { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM' } as const;

export function registerDashboardRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/api/dashboard',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['dashboard'],
        summary: 'Referred and recovered amounts by month, library and agency; open referrals by agency',
        description:
          'referred: every refer record (first submissions with their fee, and second-agency re-referrals). recovered: the drop in balance of each update or clear record whose reason is "paid", plus "collection agency" payments made while the patron had no open referral (credited to their latest agency). Months are in the home library\'s time zone.',
        querystring: { type: 'object', additionalProperties: false, properties: { from: MONTH, to: MONTH } },
      },
    },
    async (request) => {
      const d = await dashboard(ctx.database.db, { fromMonth: request.query.from, toMonth: request.query.to });
      return {
        months: d.months.map(({ referredCents, recoveredCents, ...m }) => ({ ...m, referred: formatMoney(referredCents), recovered: formatMoney(recoveredCents) })),
        openReferrals: d.openReferrals.map(({ amountCents, ...o }) => ({ ...o, amount: formatMoney(amountCents) })),
      };
    },
  );
}
