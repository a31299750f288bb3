// /api/connectors: ILS connectors (Koha, Evergreen), their mapping of the ILS's own codes,
// syncs and the write-back queue. The connection URL is write-only: it goes in encrypted at
// rest and comes back only as `location` (scheme, host and database, no credentials).
import type { FastifyInstance } from 'fastify';
import { CONNECTOR_KINDS, type ConnectorKind, type ConnectorOptions } from '../connectors/types.ts';
import type { Context } from '../services/context.ts';
import {
  addConnector,
  connectorCodes,
  getConnectorSummary,
  listConnectors,
  removeConnector,
  setMapping,
  testConnector,
  updateConnector,
} from '../services/connectors.ts';
import { SYNC_PHASES, syncConnector } from '../services/sync.ts';
import { applyWritebacks, listWrites, retryWrite } from '../services/writeback.ts';
import type { WriteStatus } from '../db/schema.ts';
import { actingContext } from './auth.ts';
import { progressId, trackProgress } from './progress.ts';
import { all, idParams } from './schemas.ts';

const nameParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 31, pattern: '^[a-z][a-z0-9_-]*$' } },
} as const;

const options = {
  type: 'object',
  additionalProperties: false,
  description: 'Write-back and connection settings; see `arrears connectors add --help`',
  properties: {
    restrictionType: { type: 'string', minLength: 1, maxLength: 50 },
    comment: { type: 'string', minLength: 1, maxLength: 255 },
    feeType: { type: 'string', minLength: 1, maxLength: 80 },
    feeDescription: { type: 'string', minLength: 1, maxLength: 255 },
    interface: { type: 'string', minLength: 1, maxLength: 16 },
    patronCode: { type: 'string', enum: ['sort1', 'sort2'] },
    penaltyId: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    penaltyOrgUnit: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    staffId: { type: 'integer', minimum: 1, maximum: 2_147_483_647 },
    maxSyncAgeMinutes: { type: 'integer', minimum: 1, maximum: 525_600 },
    fullSyncEveryDays: { type: 'integer', minimum: 1, maximum: 366 },
    tls: { type: 'string', enum: ['require', 'no-verify'] },
    tlsCa: { type: 'string', minLength: 1, maxLength: 20_000 },
  },
} as const;

const url = { type: 'string', minLength: 1, maxLength: 2000, description: 'mysql://user:password@host:3306/koha or postgres://user:password@host:5432/evergreen; stored encrypted, never shown back' } as const;

const WRITE_STATUSES = ['pending', 'applying', 'applied', 'failed', 'skipped'] as const;

export function registerConnectorRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['connectors'];

  app.get('/api/connectors', { config: { permission: 'parameters.view' }, schema: { tags, summary: 'Every connector: its libraries, last sync and write-back counts' } }, async () =>
    all(await listConnectors(ctx.database.db)),
  );

  app.get<{ Params: { name: string } }>('/api/connectors/:name', { config: { permission: 'parameters.view' }, schema: { tags, summary: 'One connector', params: nameParams } }, async (request) =>
    getConnectorSummary(ctx.database.db, request.params.name),
  );

  app.post<{ Body: { name: string; kind: ConnectorKind; url: string; timeZone: string; readOnly?: boolean; options?: ConnectorOptions } }>(
    '/api/connectors',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Add a connector',
        body: {
          type: 'object',
          required: ['name', 'kind', 'url', 'timeZone'],
          additionalProperties: false,
          properties: { name: { type: 'string', maxLength: 100 }, kind: { type: 'string', enum: CONNECTOR_KINDS }, url, timeZone: { type: 'string', maxLength: 100 }, readOnly: { type: 'boolean' }, options },
        },
      },
    },
    async (request, reply) => reply.status(201).send(await addConnector(actingContext(ctx, request), request.body)),
  );

  app.patch<{ Params: { name: string }; Body: { url?: string; timeZone?: string; readOnly?: boolean; options?: ConnectorOptions } }>(
    '/api/connectors/:name',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Change a connector: URL, time zone, read-only switch, options (options replace the stored ones)',
        params: nameParams,
        body: { type: 'object', additionalProperties: false, properties: { url, timeZone: { type: 'string', maxLength: 100 }, readOnly: { type: 'boolean' }, options } },
      },
    },
    async (request) => updateConnector(actingContext(ctx, request), request.params.name, request.body),
  );

  app.delete<{ Params: { name: string } }>(
    '/api/connectors/:name',
    { config: { permission: 'settings.edit' }, schema: { tags, summary: 'Remove a connector: its libraries become CSV libraries, its patrons and history stay', params: nameParams } },
    async (request) => {
      await removeConnector(actingContext(ctx, request), request.params.name);
      return { removed: request.params.name };
    },
  );

  app.post<{ Params: { name: string } }>(
    '/api/connectors/:name/test',
    { config: { permission: 'settings.edit' }, schema: { tags, summary: 'Connect: what the ILS is, every privilege the connector needs and whether it has it', params: nameParams } },
    async (request) => testConnector(actingContext(ctx, request), request.params.name),
  );

  app.get<{ Params: { name: string } }>(
    '/api/connectors/:name/codes',
    { config: { permission: 'parameters.view' }, schema: { tags, summary: "The ILS's own codes, read live, and the mapping in force (stock defaults with the library's overrides)", params: nameParams } },
    async (request) => {
      const [codes, summary] = await Promise.all([connectorCodes(actingContext(ctx, request), request.params.name), getConnectorSummary(ctx.database.db, request.params.name)]);
      return { ...codes, overrides: summary.mapping };
    },
  );

  app.put<{ Params: { name: string }; Body: Record<string, unknown> }>(
    '/api/connectors/:name/mapping',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: "Replace the library's mapping overrides: charges, payments, methods, libraries",
        params: nameParams,
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { charges: { type: 'object' }, payments: { type: 'object' }, methods: { type: 'object' }, libraries: { type: 'object' } },
        },
      },
    },
    async (request) => setMapping(actingContext(ctx, request), request.params.name, request.body),
  );

  app.post<{ Params: { name: string }; Body: { full?: boolean }; Querystring: { progress?: string } }>(
    '/api/connectors/:name/sync',
    {
      config: { permission: 'imports.run' },
      schema: {
        tags,
        summary: 'Sync now: what changed in the ILS (or everything, with full) into Arrears, all or nothing',
        params: nameParams,
        querystring: { type: 'object', additionalProperties: false, properties: { progress: progressId } },
        body: { type: 'object', additionalProperties: false, properties: { full: { type: 'boolean', default: false } } },
      },
    },
    async (request) =>
      trackProgress(app, request, request.query.progress, 'sync', (tracker) =>
        syncConnector(actingContext(ctx, request), request.params.name, {
          full: request.body?.full,
          onPhase: tracker && ((phase) => tracker.update({ phase, unit: 'steps', done: SYNC_PHASES.indexOf(phase), total: SYNC_PHASES.length })),
        }),
      ),
  );

  app.get<{ Params: { name: string }; Querystring: { status?: WriteStatus[]; limit: number } }>(
    '/api/connectors/:name/writes',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'The write-backs of a connector, newest first',
        params: nameParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { status: { type: 'array', items: { type: 'string', enum: WRITE_STATUSES } }, limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 } },
        },
      },
    },
    async (request) => {
      await getConnectorSummary(ctx.database.db, request.params.name);
      return all(await listWrites(ctx.database.db, { connector: request.params.name, status: request.query.status, limit: request.query.limit }));
    },
  );

  app.post<{ Params: { name: string } }>(
    '/api/connectors/:name/writeback',
    { config: { permission: 'runs.run' }, schema: { tags, summary: 'Apply the write-backs queued for a connector now', params: nameParams } },
    async (request) => applyWritebacks(actingContext(ctx, request), request.params.name),
  );

  app.post<{ Params: { id: number } }>(
    '/api/writes/:id/retry',
    { config: { permission: 'runs.run' }, schema: { tags, summary: 'Put a failed write-back back in the queue', params: idParams } },
    async (request) => retryWrite(actingContext(ctx, request), request.params.id),
  );
}
