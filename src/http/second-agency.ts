// The second-agency workflow's actions on patrons (seed 000, steps 6–10): secure, release,
// settle, the agency's cleared-accounts file, and re-referral to a second agency. Each takes
// patron ids or a patron record set; amounts come back as decimal strings.
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { Context } from '../services/context.ts';
import { importClearedAccounts, moneyJson, releasePatrons, returnAndRerefer, securePatrons, settlePatrons, type SettleMode } from '../services/second-agency.ts';
import { actingContext } from './auth.ts';
import { patronTarget, patronTargetProperties } from './schemas.ts';
import { withUpload } from './uploads.ts';

type Target = { patronIds?: string[]; set?: string };

function targetBody(extra: Record<string, unknown> = {}, required: string[] = []) {
  return { type: 'object', additionalProperties: false, required, properties: { ...patronTargetProperties, ...extra } } as const;
}

export function registerSecondAgencyRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['second agency'];

  app.post<{ Body: Target & { skipRefused?: boolean } }>(
    '/api/secure',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: 'Secure patron records; refused (409, naming every linked item) while items are linked, unless skipRefused',
        body: targetBody({ skipRefused: { type: 'boolean', default: false } }),
      },
    },
    async (request) => securePatrons(actingContext(ctx, request), patronTarget(request.body), { skipRefused: request.body.skipRefused }),
  );

  app.post<{ Body: Target }>(
    '/api/release',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Release secured patron records', body: targetBody() } },
    async (request) => releasePatrons(actingContext(ctx, request), patronTarget(request.body)),
  );

  app.post<{ Body: Target & { mode: SettleMode } }>(
    '/api/settle',
    {
      config: { permission: 'balances.settle' },
      schema: {
        tags,
        summary: 'Waive each patron\'s remaining balance, or record it as a "collection agency" payment',
        body: targetBody({ mode: { type: 'string', enum: ['waive', 'agency_payment'] } }, ['mode']),
      },
    },
    async (request) => {
      const r = await settlePatrons(actingContext(ctx, request), patronTarget(request.body), request.body.mode);
      return { mode: r.mode, patrons: moneyJson(r.patrons), total: formatMoney(r.totalCents) };
    },
  );

  app.post(
    '/api/cleared',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: "Import the agency's cleared-accounts file (.xlsx or .csv, patron ids only; multipart/form-data: file, column?)",
        description: "Each listed patron's open referral is cleared and a secured record released; unknown ids and patrons without an open referral are listed back.",
        consumes: ['multipart/form-data'],
      },
    },
    async (request) => {
      const r = await withUpload(request, ['.csv', '.xlsx'], (upload) => importClearedAccounts(actingContext(ctx, request), upload.path, { column: upload.fields.column || undefined }));
      return { ...r, cleared: moneyJson(r.cleared) };
    },
  );

  app.post<{ Body: Target & { agency: string } }>(
    '/api/rerefer',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: "Return each patron's open referral and refer them to another agency, without a second fee",
        body: targetBody({ agency: { type: 'string', minLength: 1, maxLength: 200 } }, ['agency']),
      },
    },
    async (request) => {
      const r = await returnAndRerefer(actingContext(ctx, request), patronTarget(request.body), request.body.agency);
      return { agency: r.agency, referrals: moneyJson(r.referrals) };
    },
  );
}
