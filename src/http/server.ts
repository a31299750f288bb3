// The HTTP server: Fastify with one route module per feature (src/http/<feature>.ts), each
// a thin layer that checks, calls the same service the CLI calls, and shapes the reply.
// Errors are mapped to statuses once (errors.ts), from the one error hierarchy; who may call
// which /api route is decided once (auth.ts), from the permission each route declares, and so
// are the checks against other origins (auth.ts), the security headers and the connection
// limits (security.ts): a new route gets all of them without asking.
import { existsSync, readFileSync } from 'node:fs';
import { sep } from 'node:path';
import multipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Context } from '../services/context.ts';
import { projectPath } from '../root.ts';
import type { SessionPolicy } from '../services/users.ts';
import { registerAgencyRoutes } from './agencies.ts';
import { registerAuditRoutes } from './audit.ts';
import { registerConnectorRoutes } from './connectors.ts';
import { registerAuth, type LoginLimit } from './auth.ts';
import { applyConnectionLimits, connectionLimits, registerSecurityHeaders, type ConnectionLimits } from './security.ts';
import { registerTwoFactorRoutes } from './two-factor.ts';
import { registerDashboardRoutes } from './dashboard.ts';
import { registerDocs } from './docs.ts';
import { registerErrorHandler } from './errors.ts';
import { registerExclusionRoutes } from './exclusions.ts';
import { registerFileRoutes } from './files.ts';
import { registerFlagRoutes } from './flags.ts';
import { registerHealthRoutes } from './health.ts';
import { registerImportRoutes } from './imports.ts';
import { registerLibraryRoutes } from './libraries.ts';
import { registerPatronRoutes } from './patrons.ts';
import { registerProgressRoutes } from './progress.ts';
import { registerRecordSetRoutes } from './recordsets.ts';
import { registerReferralRoutes } from './referrals.ts';
import { registerRunRoutes } from './runs.ts';
import { registerScheduleRoutes } from './schedule.ts';
import { registerSecondAgencyRoutes } from './second-agency.ts';
import { registerSettingsRoutes } from './settings.ts';
import { registerUserRoutes } from './users.ts';

export interface ServerOptions {
  /** Fastify's request log (pino, to stdout): on in `arrears start`, off in tests. */
  logger?: boolean;
  /** How long GET /health waits for the database before answering 503 (default 5 s). */
  healthTimeoutMs?: number;
  /** Staff session expiry (default 12 h idle, 12 h after sign-in). */
  session?: Partial<SessionPolicy>;
  /** Failed sign-ins allowed per username and address (default 5 in 15 minutes). */
  loginLimit?: LoginLimit;
  /** Behind a reverse proxy: trust its X-Forwarded-* headers (client address, https for the Secure cookie); default ARREARS_TRUST_PROXY=true. */
  trustProxy?: boolean;
  /** Largest upload accepted (default 1 GiB). */
  uploadLimitBytes?: number;
  /** The origins browsers reach Arrears at, for the cross-origin check (default ARREARS_ORIGIN, else each request's own). */
  origins?: string[];
  /** Roles whose users must sign in with a second factor (default ARREARS_TOTP_REQUIRED_ROLES, else none). */
  totpRequiredRoles?: string[];
  /** Client timeouts and the connection cap (default from ARREARS_*_TIMEOUT_SECONDS and ARREARS_MAX_CONNECTIONS). */
  connections?: Partial<ConnectionLimits>;
}

/**
 * A feature's routes. `ctx` is the server's context (database, clock); routes that act
 * for a signed-in user derive their own context with that user as the actor.
 */
export type RouteRegistrar = (app: FastifyInstance, ctx: Context, options: ServerOptions) => void | Promise<void>;

// Each feature adds its registrar here, one line each.
const features: RouteRegistrar[] = [
  registerHealthRoutes,
  registerUserRoutes,
  registerTwoFactorRoutes,
  registerSettingsRoutes,
  registerAgencyRoutes,
  registerRunRoutes,
  registerReferralRoutes,
  registerPatronRoutes,
  registerLibraryRoutes,
  registerImportRoutes,
  registerFileRoutes,
  registerRecordSetRoutes,
  registerSecondAgencyRoutes,
  registerExclusionRoutes,
  registerFlagRoutes,
  registerAuditRoutes,
  registerScheduleRoutes,
  registerDashboardRoutes,
  registerProgressRoutes,
  registerConnectorRoutes,
];

export async function buildServer(ctx: Context, options: ServerOptions = {}): Promise<FastifyInstance> {
  const limits = connectionLimits(options.connections);
  const app = Fastify({
    logger: options.logger ?? false,
    trustProxy: options.trustProxy ?? process.env.ARREARS_TRUST_PROXY === 'true',
    // Unknown fields are refused by name, not silently dropped; every problem is reported at once.
    ajv: { customOptions: { removeAdditional: false, allErrors: true } },
    requestTimeout: limits.requestTimeoutMs,
    // Node checks the header and request timeouts this often (its default, 30 s, would let them overrun by that much).
    http: { connectionsCheckingInterval: 1000 },
  });
  registerSecurityHeaders(app);
  applyConnectionLimits(app, limits);
  registerErrorHandler(app);
  await registerDocs(app);
  await app.register(multipart, { limits: { files: 1, fields: 20, fileSize: options.uploadLimitBytes ?? 1024 ** 3 } });
  await registerAuth(app, ctx, options);

  for (const register of features) await register(app, ctx, options);
  await serveWebApp(app);
  return app;
}

/** The staff app as `npm run build:web` leaves it; absent in a checkout that has not built it. */
const WEB_DIST = projectPath('src', 'web', 'dist') + sep;

/**
 * Serves the built staff app at /. A page address the router does not know (a bookmarked
 * screen) gets index.html, so the app can show it; /api paths keep their JSON 404 and their
 * 401 for signed-out callers, which is why this is a hook on unmatched requests and not a
 * catch-all route.
 */
async function serveWebApp(app: FastifyInstance): Promise<void> {
  if (!existsSync(`${WEB_DIST}index.html`)) return;
  await app.register(fastifyStatic, { root: WEB_DIST, wildcard: false });
  const index = readFileSync(`${WEB_DIST}index.html`);
  app.addHook('onSend', async (request, reply, payload) => {
    const page = request.method === 'GET' && reply.statusCode === 404 && request.routeOptions.url === undefined && !/^\/api([/?]|$)/.test(request.url);
    if (!page || !request.headers.accept?.includes('text/html')) return payload;
    reply.code(200).type('text/html; charset=utf-8');
    return index;
  });
}
