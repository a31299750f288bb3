// /api/settings: the Collection Agency Settings table. Reading it needs parameters.view
// (Sierra 373), changing it settings.edit (Sierra 700). The table is imported and exported
// as a whole in its JSON form (DESIGN.md: merge by name, or replace); the staff app edits one
// entry by its id, which it keeps for life, adds, reorders, and previews a change first.
import type { FastifyInstance } from 'fastify';
import type { SettingsEntry } from '../domain/settings.ts';
import { toSettingsJson } from '../domain/settings-validation.ts';
import type { Context } from '../services/context.ts';
import { formatMoney } from '../domain/money.ts';
import { createEntry, exportSettings, getEntry, importSettings, listEntries, previewSettings, removeEntry, reorderEntries, updateEntry, type PreviewPatron } from '../services/settings.ts';
import { actingContext } from './auth.ts';
import { all, calendarDate, dateString, refParams } from './schemas.ts';

function entryJson(e: SettingsEntry) {
  return { id: e.id, position: e.position, ...toSettingsJson(e) };
}

function previewPatronJson({ owedCents, ...p }: PreviewPatron) {
  return { ...p, owed: formatMoney(owedCents) };
}

// The entry's own keys are checked by the settings validation, which names each problem.
const entryBody = { type: 'object', maxProperties: 40, description: 'keys of the JSON form of an entry (DESIGN.md), and position' } as const;

export function registerSettingsRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['settings'];

  app.get('/api/settings', { config: { permission: 'parameters.view' }, schema: { tags, summary: 'The settings table in order, each entry with its id and position' } }, async () =>
    all((await listEntries(ctx.database.db)).map(entryJson)),
  );

  app.get(
    '/api/settings/export',
    { config: { permission: 'parameters.view' }, schema: { tags, summary: 'The table as the JSON array that import reads back unchanged' } },
    async () => exportSettings(ctx.database.db),
  );

  app.get<{ Params: { id: string } }>(
    '/api/settings/:id',
    { config: { permission: 'parameters.view' }, schema: { tags, summary: 'One entry, by id or name', params: refParams } },
    async (request) => entryJson(await getEntry(ctx.database.db, request.params.id)),
  );

  app.post<{ Body: unknown[]; Querystring: { mode: 'merge' | 'replace' } }>(
    '/api/settings/import',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Add and update entries (matched by name) from the JSON array; its order becomes the table order',
        description:
          'Every entry is validated first and every problem is reported at once, each naming its field as `entries[i].field`; nothing is written unless all are valid. With mode=replace, entries not in the array are removed.',
        querystring: { type: 'object', additionalProperties: false, properties: { mode: { type: 'string', enum: ['merge', 'replace'], default: 'merge' } } },
        body: { type: 'array', maxItems: 1000, items: { type: 'object' } },
      },
    },
    async (request) => importSettings(actingContext(ctx, request), request.body, { replace: request.query.mode === 'replace' }),
  );

  app.post<{ Body: Record<string, unknown> }>(
    '/api/settings',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Add one entry in the JSON form: last, or at `position` (the entries from there move down)',
        description: 'Problems name the entry\'s own fields (`window.startDays`); a name or base filename another entry has is refused.',
        body: entryBody,
      },
    },
    async (request, reply) => reply.status(201).send(entryJson(await createEntry(actingContext(ctx, request), request.body))),
  );

  app.put<{ Body: { ids: number[] } }>(
    '/api/settings/order',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Put the entries in this order of ids (every entry once): the first that applies to a patron is used',
        body: {
          type: 'object',
          required: ['ids'],
          additionalProperties: false,
          properties: { ids: { type: 'array', maxItems: 1000, items: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } } },
        },
      },
    },
    async (request) => all((await reorderEntries(actingContext(ctx, request), request.body.ids)).map(entryJson)),
  );

  app.post<{ Body: { reportDate: string; entries: unknown[] } }>(
    '/api/settings/preview',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'What a proposed table would change for a report date, writing nothing: who would be added, dropped, or fall under another entry',
        description:
          'entries is the whole proposed table in order, in the JSON form; an item with `id` stands for that existing entry, one without is new. Evaluated against the data as it is now, with the same set-based query a run uses.',
        body: {
          type: 'object',
          required: ['reportDate', 'entries'],
          additionalProperties: false,
          properties: { reportDate: dateString, entries: { type: 'array', maxItems: 1000, items: { type: 'object' } } },
        },
      },
    },
    async (request) => {
      const p = await previewSettings(ctx.database.db, request.body.entries, calendarDate(request.body.reportDate, 'reportDate'));
      return {
        reportDate: p.reportDate,
        before: { count: p.before.count, owed: formatMoney(p.before.owedCents) },
        after: { count: p.after.count, owed: formatMoney(p.after.owedCents) },
        added: p.added.map(previewPatronJson),
        dropped: p.dropped.map(previewPatronJson),
        moved: p.moved.map(previewPatronJson),
        totals: p.totals,
      };
    },
  );

  app.patch<{ Params: { id: string }; Body: Record<string, unknown> }>(
    '/api/settings/:id',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Change one entry in place, by id or name; it keeps its id, run history and schedule',
        description:
          'The body holds the keys of the JSON form to change (a key replaces its whole value, e.g. all of `window`) and optionally `position`. Problems name the entry\'s own fields (`window.startDays`).',
        params: refParams,
        body: entryBody,
      },
    },
    async (request) => entryJson(await updateEntry(actingContext(ctx, request), request.params.id, request.body)),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/settings/:id',
    { config: { permission: 'settings.edit' }, schema: { tags, summary: 'Remove one entry; the entries after it move up', params: refParams } },
    async (request) => entryJson(await removeEntry(actingContext(ctx, request), request.params.id)),
  );
}
