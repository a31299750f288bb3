// /api/recordsets: patron record sets made from an agency's uploaded .xlsx / .csv file (by
// patron id only), their review and bulk change, item sets of the linked items, and the
// lost-item actions (seed 000, steps 2–5). Reading needs ledger.view; changes recordsets.manage.
import type { FastifyInstance } from 'fastify';
import { ITEM_STATUSES } from '../domain/import-formats.ts';
import type { Context } from '../services/context.ts';
import {
  addMembers,
  bulkChange,
  createItemSet,
  createPatronSet,
  deleteLostItems,
  deleteRecordSet,
  listRecordSets,
  recordSetJson,
  removeMembers,
  showRecordSet,
  transitionLostItems,
  type BulkChange,
} from '../services/recordsets.ts';
import { actingContext } from './auth.ts';
import { all, refParams } from './schemas.ts';
import { withUpload, yes } from './uploads.ts';

const idsBody = {
  type: 'object',
  required: ['ids'],
  additionalProperties: false,
  properties: { ids: { type: 'array', minItems: 1, maxItems: 100_000, items: { type: 'string', minLength: 1, maxLength: 100 } } },
} as const;

export function registerRecordSetRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['recordsets'];

  app.get<{ Querystring: { member?: string } }>(
    '/api/recordsets',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Every record set with its member count; member= only the sets holding that patron or item id',
        querystring: { type: 'object', additionalProperties: false, properties: { member: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (request) => all(await listRecordSets(ctx.database.db, { member: request.query.member })),
  );

  app.post(
    '/api/recordsets',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: "A patron record set from an agency's .xlsx or .csv file (multipart/form-data: file, name, column?, allowUnknown?)",
        description:
          'Only the patron id column is read. Unknown ids refuse the file (400 listing each with its row) unless allowUnknown is "true"; then they are listed back in the reply.',
        consumes: ['multipart/form-data'],
      },
    },
    async (request, reply) => {
      const created = await withUpload(request, ['.csv', '.xlsx'], (upload) =>
        createPatronSet(actingContext(ctx, request), {
          name: upload.fields.name ?? '',
          file: upload.path,
          column: upload.fields.column || undefined,
          allowUnknown: yes(upload.fields.allowUnknown),
        }),
      );
      return reply.status(201).send(created);
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/recordsets/:id',
    { config: { permission: 'ledger.view' }, schema: { tags, summary: 'A set (by id or name) with its members: patrons with balance and linked items, or items', params: refParams } },
    async (request) => recordSetJson(await showRecordSet(ctx.database.db, request.params.id)),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/recordsets/:id',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Delete a set; its patrons and items are untouched', params: refParams } },
    async (request) => deleteRecordSet(actingContext(ctx, request), request.params.id),
  );

  app.post<{ Params: { id: string }; Body: { ids: string[] } }>(
    '/api/recordsets/:id/members',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Add patrons (or items, to an item set); an unknown id refuses the change', params: refParams, body: idsBody } },
    async (request) => addMembers(actingContext(ctx, request), request.params.id, request.body.ids),
  );

  app.post<{ Params: { id: string }; Body: { ids: string[] } }>(
    '/api/recordsets/:id/members/remove',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Remove members from the set', params: refParams, body: idsBody } },
    async (request) => removeMembers(actingContext(ctx, request), request.params.id, request.body.ids),
  );

  app.post<{ Params: { id: string }; Body: BulkChange }>(
    '/api/recordsets/:id/bulk-change',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: "Change every member patron at once: patron code, patron type, a note (appended or replacing), the block",
        params: refParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            patronCode: { type: 'string', maxLength: 50 },
            // A number (an older client's 3) is taken as its digits: the same PTYPE as "3".
            ptype: { type: 'string', minLength: 1, maxLength: 100, description: 'the ILS patron category (e.g. "PT") or a Sierra-style number' },
            note: {
              type: 'object',
              required: ['text'],
              additionalProperties: false,
              properties: { text: { type: 'string', maxLength: 4000 }, mode: { type: 'string', enum: ['append', 'replace'], default: 'append' } },
            },
            blocked: { type: 'boolean' },
          },
        },
      },
    },
    async (request) => bulkChange(actingContext(ctx, request), request.params.id, request.body),
  );

  app.post<{ Params: { id: string }; Body: { statuses: string[]; name?: string } }>(
    '/api/recordsets/:id/item-sets',
    {
      config: { permission: 'recordsets.manage' },
      schema: {
        tags,
        summary: "An item set of the items linked to this patron set's members, of the given statuses",
        params: refParams,
        body: {
          type: 'object',
          required: ['statuses'],
          additionalProperties: false,
          properties: { statuses: { type: 'array', minItems: 1, items: { type: 'string', enum: ITEM_STATUSES } }, name: { type: 'string', minLength: 1, maxLength: 100 } },
        },
      },
    },
    async (request, reply) => reply.status(201).send(await createItemSet(actingContext(ctx, request), { from: request.params.id, statuses: request.body.statuses, name: request.body.name })),
  );

  app.post<{ Params: { id: string } }>(
    '/api/recordsets/:id/delete-lost',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: 'Delete the lost items of an item set (kept as withdrawn and unlinked when a charge names them)', params: refParams } },
    async (request) => deleteLostItems(actingContext(ctx, request), request.params.id),
  );

  app.post<{ Params: { id: string } }>(
    '/api/recordsets/:id/transition-lost',
    { config: { permission: 'recordsets.manage' }, schema: { tags, summary: "Apply each library's Lost Item Transition (missing or withdrawn) to the lost items of an item set", params: refParams } },
    async (request) => transitionLostItems(actingContext(ctx, request), request.params.id),
  );
}
