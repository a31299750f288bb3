// /api/users, /api/roles, /api/tokens, /api/permissions: staff accounts, their roles, and
// API tokens for machines (the token is in the reply that creates it, and never again).
import type { FastifyInstance } from 'fastify';
import { PERMISSIONS, PERMISSION_DESCRIPTIONS } from '../domain/permissions.ts';
import type { Context } from '../services/context.ts';
import { addUser, createToken, getUser, listRoles, listTokens, listUsers, removeRole, revokeToken, saveRole, updateUser, type NewUser, type UserChanges } from '../services/users.ts';
import { actingContext } from './auth.ts';
import { all, serialIdParams, userParams } from './schemas.ts';

const roleParams = {
  type: 'object',
  required: ['name'],
  additionalProperties: false,
  properties: { name: { type: 'string', minLength: 1, maxLength: 50 } },
} as const;

const roles = { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 50 } } as const;
const password = { anyOf: [{ type: 'string', maxLength: 1024 }, { type: 'null' }], description: 'null: the user signs in only with API tokens' } as const;

export function registerUserRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['users'];

  app.get('/api/users', { config: { permission: 'users.manage' }, schema: { tags, summary: 'Every user with their roles and permissions' } }, async () => all(await listUsers(ctx.database.db)));

  app.post<{ Body: NewUser }>(
    '/api/users',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags,
        summary: 'Add a user',
        body: {
          type: 'object',
          required: ['username', 'roles'],
          additionalProperties: false,
          properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password, displayName: { type: 'string', maxLength: 200 }, roles },
        },
      },
    },
    async (request, reply) => reply.status(201).send(await addUser(actingContext(ctx, request), request.body)),
  );

  app.get<{ Params: { id: string } }>(
    '/api/users/:id',
    { config: { permission: 'users.manage' }, schema: { tags, summary: 'One user, by id or username', params: userParams } },
    async (request) => getUser(ctx.database.db, request.params.id),
  );

  app.patch<{ Params: { id: string }; Body: UserChanges }>(
    '/api/users/:id',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags,
        summary: "Set a user's roles, display name or password, or deactivate them (which ends their sessions and stops their tokens)",
        params: userParams,
        body: { type: 'object', additionalProperties: false, properties: { roles, active: { type: 'boolean' }, password, displayName: { type: 'string', maxLength: 200 } } },
      },
    },
    async (request) => updateUser(actingContext(ctx, request), request.params.id, request.body),
  );

  app.get<{ Params: { id: string } }>(
    '/api/users/:id/tokens',
    { config: { permission: 'users.manage' }, schema: { tags, summary: "A user's API tokens (never the tokens themselves)", params: userParams } },
    async (request) => all(await listTokens(ctx.database.db, request.params.id)),
  );

  app.post<{ Params: { id: string }; Body: { name: string } }>(
    '/api/users/:id/tokens',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags,
        summary: 'Create an API token for the user; the reply holds the token, shown this once',
        params: userParams,
        body: { type: 'object', required: ['name'], additionalProperties: false, properties: { name: { type: 'string', minLength: 1, maxLength: 100 } } },
      },
    },
    async (request, reply) => reply.status(201).send(await createToken(actingContext(ctx, request), request.params.id, request.body.name)),
  );

  app.get('/api/tokens', { config: { permission: 'users.manage' }, schema: { tags, summary: "Every user's API tokens, newest first" } }, async () => all(await listTokens(ctx.database.db)));

  app.delete<{ Params: { id: number } }>(
    '/api/tokens/:id',
    { config: { permission: 'users.manage' }, schema: { tags, summary: 'Revoke an API token: it stops working at once', params: serialIdParams } },
    async (request) => revokeToken(actingContext(ctx, request), request.params.id),
  );

  app.get('/api/roles', { config: { permission: 'users.manage' }, schema: { tags, summary: 'Built-in and custom roles with their permissions' } }, async () => all(await listRoles(ctx.database.db)));

  app.put<{ Params: { name: string }; Body: { description?: string; permissions: string[] } }>(
    '/api/roles/:name',
    {
      config: { permission: 'users.manage' },
      schema: {
        tags,
        summary: 'Create or replace a custom role (the built-in ones are fixed)',
        params: roleParams,
        body: {
          type: 'object',
          required: ['permissions'],
          additionalProperties: false,
          properties: { description: { type: 'string', maxLength: 500 }, permissions: { type: 'array', uniqueItems: true, items: { type: 'string', enum: PERMISSIONS } } },
        },
      },
    },
    async (request) => saveRole(actingContext(ctx, request), { name: request.params.name, ...request.body }),
  );

  app.delete<{ Params: { name: string } }>(
    '/api/roles/:name',
    { config: { permission: 'users.manage' }, schema: { tags, summary: 'Remove a custom role nobody holds', params: roleParams } },
    async (request) => removeRole(actingContext(ctx, request), request.params.name),
  );

  app.get('/api/permissions', { config: { permission: 'signed-in' }, schema: { tags, summary: 'Every permission and what it allows' } }, async () =>
    all(PERMISSIONS.map((name) => ({ name, description: PERMISSION_DESCRIPTIONS[name] }))),
  );
}
