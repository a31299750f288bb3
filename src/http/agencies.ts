// /api/agencies: collection agencies, how files reach them and their layout. Credentials are
// write-only: a reply says which are stored (secrets.hasPassword, …), never their values.
import type { FastifyInstance } from 'fastify';
import { CUSTOM_FIELDS, DATE_FORMATS, DELIMITERS, MONEY_FORMATS } from '../domain/report-layouts.ts';
import type { Context } from '../services/context.ts';
import { LAYOUTS, TRANSFER_METHODS, addAgency, editAgency, getAgency, listAgencies, type AgencyChanges, type AgencyInput } from '../services/agencies.ts';
import { actingContext } from './auth.ts';
import { all, refParams } from './schemas.ts';

const secrets = {
  type: 'object',
  additionalProperties: false,
  description: 'Stored encrypted and never shown back; an empty string removes one',
  properties: {
    password: { type: 'string', maxLength: 1000 },
    privateKey: { type: 'string', maxLength: 20_000 },
    passphrase: { type: 'string', maxLength: 1000 },
    secretAccessKey: { type: 'string', maxLength: 1000 },
  },
} as const;

const common = {
  active: { type: 'boolean' },
  transferMethod: { type: 'string', enum: TRANSFER_METHODS },
  transferConfig: { type: 'object', description: 'host, port, username, remoteFolder (sftp); bucket, prefix, region, endpoint, accessKeyId (s3); from, to, cc, subject (email); path (folder)' },
  layout: { type: 'string', enum: LAYOUTS },
  // Its shape, so nothing deeper than a list of names is ever parsed or stored; the service names a bad value.
  layoutConfig: {
    type: 'object',
    additionalProperties: false,
    description: 'The custom layout only (the others have no settings)',
    properties: {
      fields: { type: 'array', maxItems: 200, items: { type: 'string', maxLength: 100 }, description: `names from ${CUSTOM_FIELDS.join(', ')}` },
      delimiter: { type: ['string', 'null'], maxLength: 10, description: DELIMITERS.map((d) => JSON.stringify(d)).join(', ') },
      header: { type: ['boolean', 'null'] },
      dateFormat: { type: ['string', 'null'], maxLength: 20, description: DATE_FORMATS.join(', ') },
      moneyFormat: { type: ['string', 'null'], maxLength: 20, description: MONEY_FORMATS.join(', ') },
    },
  },
  secrets,
} as const;

export function registerAgencyRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['agencies'];

  app.get('/api/agencies', { config: { permission: 'parameters.view' }, schema: { tags, summary: 'Every agency, by name' } }, async () => all(await listAgencies(ctx.database.db)));

  app.get<{ Params: { id: string } }>(
    '/api/agencies/:id',
    { config: { permission: 'parameters.view' }, schema: { tags, summary: 'One agency, by id or name', params: refParams } },
    async (request) => getAgency(ctx.database.db, request.params.id),
  );

  app.post<{ Body: AgencyInput }>(
    '/api/agencies',
    {
      config: { permission: 'settings.edit' },
      schema: { tags, summary: 'Add an agency', body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', maxLength: 200 }, ...common } } },
    },
    async (request, reply) => reply.status(201).send(await addAgency(actingContext(ctx, request), request.body)),
  );

  app.patch<{ Params: { id: string }; Body: AgencyChanges }>(
    '/api/agencies/:id',
    {
      config: { permission: 'settings.edit' },
      schema: {
        tags,
        summary: 'Change an agency: transfer settings are merged while the method stays the same; secrets given replace the stored ones',
        params: refParams,
        body: { type: 'object', additionalProperties: false, properties: { rename: { type: 'string', maxLength: 200 }, ...common } },
      },
    },
    async (request) => editAgency(actingContext(ctx, request), request.params.id, request.body),
  );
}
