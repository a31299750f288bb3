// /api/imports/:kind: a ledger import (libraries, patrons, items, charges, payments) from an
// uploaded .csv or .xlsx file, in one transaction, as `arrears import` does. Problems name the
// uploaded file, its row and column. The columns of each kind, and a template file of them,
// are served too, so staff can see what a file must hold before they upload one.
import type { FastifyInstance } from 'fastify';
import { CHARGE_REASONS, COLUMNS, IMPORT_KINDS, ITEM_STATUSES, PAYMENT_TYPES, type ImportKind } from '../domain/import-formats.ts';
import type { Context } from '../services/context.ts';
import { importFile } from '../services/imports.ts';
import { actingContext } from './auth.ts';
import { progressId, trackProgress } from './progress.ts';
import { withUpload, yes } from './uploads.ts';

/** What each column holds, as README's "Import file formats" says it. */
const NOTES: Record<ImportKind, Record<string, string>> = {
  libraries: { code: 'the library code, e.g. MAIN', name: 'the library’s name', time_zone: 'an IANA time zone, e.g. America/Chicago' },
  patrons: {
    id: 'the ILS’s patron id',
    birth_date: 'YYYY-MM-DD',
    home_library: 'a library code',
    ptype: 'the patron type (PTYPE)',
    patron_code: 'e.g. ADULT, STAFF (some codes are exempt)',
  },
  items: { id: 'the ILS’s item id', status: ITEM_STATUSES.join(', '), patron_id: 'the patron the item is linked to', due_date: 'YYYY-MM-DD' },
  charges: {
    id: 'the ILS’s charge id',
    patron_id: 'a patron id',
    item_id: 'an item id',
    library: 'the library that posted the charge',
    reason: CHARGE_REASONS.join(', '),
    amount: 'decimal money, e.g. 12.50',
    assessed_at: 'ISO 8601, e.g. 2025-03-01T21:45:00 (no offset = the library’s time zone)',
  },
  payments: {
    id: 'the ILS’s payment id',
    patron_id: 'a patron id',
    charge_id: 'blank = oldest charges first',
    type: PAYMENT_TYPES.join(', '),
    method: 'free text, e.g. cash, collection agency',
    amount: 'decimal money, e.g. 12.50',
    paid_at: 'ISO 8601 (no offset = the home library’s time zone)',
  },
};

const kindParams = { type: 'object', required: ['kind'], additionalProperties: false, properties: { kind: { type: 'string', enum: IMPORT_KINDS } } } as const;

export function registerImportRoutes(app: FastifyInstance, ctx: Context): void {
  app.get(
    '/api/imports/kinds',
    {
      config: { permission: 'imports.run' },
      schema: { tags: ['imports'], summary: 'Each kind of import file in the order to import them, with its columns: name, whether required, what it holds' },
    },
    async () => ({
      items: IMPORT_KINDS.map((kind) => ({ kind, columns: COLUMNS[kind].map((c) => ({ name: c.name, required: c.required, note: NOTES[kind][c.name] ?? '' })) })),
      total: IMPORT_KINDS.length,
    }),
  );

  app.get<{ Params: { kind: ImportKind } }>(
    '/api/imports/:kind/template',
    { config: { permission: 'imports.run' }, schema: { tags: ['imports'], summary: 'A .csv holding the header row of a kind: fill in the rows and import it', params: kindParams } },
    async (request, reply) => {
      const kind = request.params.kind;
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${kind}-template.csv"`)
        .send(`${COLUMNS[kind].map((c) => c.name).join(',')}\r\n`);
    },
  );

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
        params: kindParams,
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
