// /api/files and /api/review: the agencies' report files with their delivery attempts, staff
// downloads (txt, csv, xlsx), an immediate retry of a delivery, and the New Submissions files
// held for review with the patrons in them (released early, or when their hold ends).
import type { FastifyInstance } from 'fastify';
import { formatMoney } from '../domain/money.ts';
import type { ReportKind } from '../domain/report-layouts.ts';
import type { Context } from '../services/context.ts';
import { retryFile } from '../services/delivery.ts';
import { listHeldFiles, releaseHeldFiles } from '../services/exclusions.ts';
import { DOWNLOAD_FORMATS, FILE_SORTS, FILE_STATUSES, getFile, renderDownload, searchFiles, type DownloadFormat, type FileSort, type FileStatus } from '../services/reports.ts';
import { actingContext } from './auth.ts';
import { all, idParams } from './schemas.ts';

export function registerFileRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['files'];

  app.get<{ Querystring: { status?: FileStatus; agency?: string; run?: number; kind?: ReportKind; q?: string; sort?: FileSort; limit?: number; offset?: number } }>(
    '/api/files',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Report files with their delivery status: all, oldest first, unless sort or limit say otherwise',
        description:
          'status none means the agency takes no delivery: staff download the file. q finds text in the file name, agency or entry; sort is a column, descending with a leading "-"; limit and offset give a page.',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            status: { type: 'string', enum: FILE_STATUSES },
            agency: { type: 'string', minLength: 1, maxLength: 200, description: 'agency name' },
            run: { type: 'integer', minimum: 1 },
            kind: { type: 'string', enum: ['new', 'update', 'sync'] },
            q: { type: 'string', minLength: 1, maxLength: 200 },
            sort: { type: 'string', enum: FILE_SORTS.flatMap((k) => [k, `-${k}`]) },
            limit: { type: 'integer', minimum: 1, maximum: 500 },
            offset: { type: 'integer', minimum: 0 },
          },
        },
      },
    },
    async (request) => {
      const q = request.query;
      return searchFiles(ctx.database.db, { status: q.status, agency: q.agency, runId: q.run, kind: q.kind, text: q.q, sort: q.sort ?? 'id', limit: q.limit, offset: q.offset });
    },
  );

  app.get<{ Params: { id: number } }>(
    '/api/files/:id',
    { config: { permission: 'ledger.view' }, schema: { tags, summary: 'One file with every delivery attempt', params: idParams } },
    async (request) => getFile(ctx.database.db, request.params.id),
  );

  app.get<{ Params: { id: number }; Querystring: { format: DownloadFormat } }>(
    '/api/files/:id/download',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'The file as stored (txt), or its rows as csv or xlsx',
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: DOWNLOAD_FORMATS, default: 'txt' } } },
      },
    },
    async (request, reply) => {
      const d = await renderDownload(ctx.database.db, request.params.id, request.query.format);
      return reply.header('content-type', d.contentType).header('content-disposition', `attachment; filename="${d.filename.replace(/["\\\r\n]/g, '_')}"`).send(d.body);
    },
  );

  app.post<{ Params: { id: number } }>(
    '/api/files/:id/retry',
    {
      config: { permission: 'runs.run' },
      schema: { tags, summary: 'Try to deliver the file now, whatever its schedule; the reply says how the attempt went (ok, error, nextAttemptAt)', params: idParams },
    },
    async (request) => retryFile(actingContext(ctx, request), request.params.id),
  );

  app.post<{ Params: { id: number } }>(
    '/api/files/:id/release',
    { config: { permission: 'runs.run' }, schema: { tags, summary: 'End the review hold of a held file now: it is queued for delivery', params: idParams } },
    async (request) => {
      const [released] = await releaseHeldFiles(actingContext(ctx, request), { fileId: request.params.id });
      return released;
    },
  );

  app.get(
    '/api/review',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags: ['review'],
        summary: 'New Submissions files held for review, with the patrons in each; see /api/explain for any of them, POST /api/exclusions to exclude one',
      },
    },
    async () =>
      all(
        (await listHeldFiles(ctx.database.db)).map((f) => ({
          ...f,
          patrons: f.patrons.map(({ referredCents, feeCents, ...p }) => ({ ...p, referred: formatMoney(referredCents), fee: formatMoney(feeCents) })),
        })),
      ),
  );
}
