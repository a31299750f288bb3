// /api/dashboard: referred vs recovered by month, split by library and agency, the headline
// figures, and the open referrals per agency and by age. What "referred", "recovered" and
// "outstanding" count is defined in services/dashboard.ts. /api/attention: what needs someone now.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { Context } from '../services/context.ts';
import { needsAttention, SCREEN_PERMISSION } from '../services/attention.ts';
import { dashboard } from '../services/dashboard.ts';

const MONTH = { type: 'string', pattern: '^\\d{4}-(0[1-9]|1[0-2])$', description: 'YYYY-MM' } as const;

export function registerDashboardRoutes(app: FastifyInstance, ctx: Context): void {
  app.get<{ Querystring: { from?: string; to?: string; library?: string; agency?: string } }>(
    '/api/dashboard',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['dashboard'],
        summary: 'Referred and recovered amounts by month, library and agency; headline figures; open referrals by agency and by age',
        description:
          'referred: every refer record (first submissions with their fee, and second-agency re-referrals). recovered: payments credited to a referral, from the ledger as soon as they are posted: those made while it was open, and "collection agency" payments made after it closed with no referral open. outstanding: what patrons with an open referral owe now. Months are in the home library\'s time zone. library (a home library code) and agency (a name) narrow every figure.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { from: MONTH, to: MONTH, library: { type: 'string', minLength: 1, maxLength: 100 }, agency: { type: 'string', minLength: 1, maxLength: 200 } },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const d = await dashboard(ctx.database.db, ctx.clock.now(), { fromMonth: q.from, toMonth: q.to, library: q.library, agency: q.agency });
      const h = d.headline;
      return {
        months: d.months.map(({ referredCents, recoveredCents, ...m }) => ({ ...m, referred: formatMoney(referredCents), recovered: formatMoney(recoveredCents) })),
        openReferrals: d.openReferrals.map(({ amountCents, outstandingCents, ...o }) => ({ ...o, amount: formatMoney(amountCents), outstanding: formatMoney(outstandingCents) })),
        byAge: d.byAge.map(({ outstandingCents, ...b }) => ({ ...b, outstanding: formatMoney(outstandingCents) })),
        headline: {
          outstanding: formatMoney(h.outstandingCents),
          openReferrals: h.openReferrals,
          recoveredThisMonth: formatMoney(h.recoveredThisMonthCents),
          recoveredThisYear: formatMoney(h.recoveredThisYearCents),
          referred: formatMoney(h.referredCents),
          recovered: formatMoney(h.recoveredCents),
          recoveryRate: h.recoveryRate,
        },
        libraries: d.libraries,
        agencies: d.agencies,
      };
    },
  );

  app.get(
    '/api/attention',
    {
      config: { permission: 'signed-in' },
      schema: {
        tags: ['dashboard'],
        summary: 'What needs attention now: failed syncs and write-backs, stale ILS data, failing deliveries, files held for review, late scheduled runs',
        description: 'Errors first, then warnings, then notices (staff work waiting); each names the staff-app screen that shows it. A caller sees only the items of screens their permissions open. `arrears status` prints the same list.',
      },
    },
    async (request) => {
      const granted = new Set(request.user!.permissions);
      const items = (await needsAttention(ctx)).filter((i) => granted.has(SCREEN_PERMISSION[i.screen]));
      return { items: items.map((i) => ({ ...i, since: i.since?.toISOString() ?? null })) };
    },
  );
}
