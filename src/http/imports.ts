// /api/imports/:kind: a ledger import (libraries, patrons, items, charges, payments) from an
// uploaded .csv or .xlsx file, in one transaction, as `arrears import` does. Problems name the
// uploaded file, its row and column.
import type { FastifyInstance } from 'fastify';
import { IMPORT_KINDS, type ImportKind } from '../domain/import-formats.ts';
import type { Context } from '../services/context.ts';
import { importFile } from '../services/imports.ts';
import { actingContext } from './auth.ts';
import { progressId, trackProgress } from './progress.ts';
import { withUpload, yes } from './uploads.ts';

export function registerImportRoutes(app: FastifyInstance, ctx: Context): void {
  app.post<{ Params: { kind: ImportKind }; Querystring: { skipBadRows?: boolean; progress?: string } }>(
    '/api/imports/:kind',
    {
      config: { permission: 'imports.run' },
      schema: {
        tags: ['imports'],
        summary: 'Import a .csv or .xlsx file (multipart/form-data, field "file"); all or nothing unless skipBadRows',
        description:
          'The reply is the ImportResult: inserted, updated (changed), unchanged (compared, not written), skipped and, with skipBadRows, the problems of the rows left out. A refused file answers 400 with every problem (file, row, column, reason). With ?progress={id}, GET /api/progress/{id} streams bytes and rows read and each phase.',
        consumes: ['multipart/form-data'],
        params: { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: IMPORT_KINDS } } },
        querystring: { type: 'object', additionalProperties: false, properties: { skipBadRows: { type: 'boolean', default: false }, progress: progressId } },
      },
    },
    async (request) =>
      // Tracked from before the file is received, so a stream opened now sees the whole wait.
      trackProgress(app, request, request.query.progress, 'import', (tracker) =>
        withUpload(request, ['.csv', '.xlsx'], (upload) =>
          importFile(actingContext(ctx, request), request.params.kind, upload.path, {
            skipBadRows: request.query.skipBadRows || yes(upload.fields.skipBadRows),
            onProgress: tracker && ((done, total) => tracker.update({ done, total, unit: 'bytes' })),
            onRows: tracker && ((rows) => tracker.update({ rows })),
            onPhase: tracker && ((phase) => tracker.update({ phase })),
          }),
        ),
      ),
  );
}
