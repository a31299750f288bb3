// The OpenAPI document, built from the routes' JSON schemas, served at /docs (Swagger UI) and
// /docs/json. Registered before any route so every route is in it.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { SESSION_COOKIE } from './auth.ts';
import { VERSION } from './health.ts';

export async function registerDocs(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'Arrears API',
        version: VERSION,
        description:
          'Sign in with POST /api/login (a session cookie) or send `Authorization: Bearer <token>` (an API token). With the session cookie, every POST, PUT, PATCH and DELETE must come from this server\'s origin and carry `X-CSRF-Token` (from the sign-in reply); API tokens need neither. Errors are `{ "error": { "code", "message", "problems": [{ "field", "reason" }] } }`; lists are `{ "items", "total" }`; amounts are decimal strings unless a field says cents.',
      },
      components: {
        securitySchemes: {
          session: { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE },
          token: { type: 'http', scheme: 'bearer' },
        },
      },
      security: [{ session: [] }, { token: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
}
