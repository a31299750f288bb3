// /api/settings: the Collection Agency Settings table. Reading it needs parameters.view
// (Sierra 373), changing it settings.edit (Sierra 700). The table is edited as a whole in its
// JSON form (DESIGN.md): export it, change it, import it back (merge by name, or replace).
import type { FastifyInstance } from 'fastify';
import type { SettingsEntry } from '../domain/settings.ts';
import { toSettingsJson } from '../domain/settings-validation.ts';
import type { Context } from '../services/context.ts';
import { exportSettings, getEntry, importSettings, listEntries, removeEntry } from '../services/settings.ts';
import { actingContext } from './auth.ts';
import { all, refParams } from './schemas.ts';

function entryJson(e: SettingsEntry) {
  return { id: e.id, position: e.position, ...toSettingsJson(e) };
}

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

  app.delete<{ Params: { id: string } }>(
    '/api/settings/:id',
    { config: { permission: 'settings.edit' }, schema: { tags, summary: 'Remove one entry; the entries after it move up', params: refParams } },
    async (request) => entryJson(await removeEntry(actingContext(ctx, request), request.params.id)),
  );
}
