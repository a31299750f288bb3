// The HTTP server: Fastify with one route module per feature (src/http/<feature>.ts), each
// a thin layer that checks, calls the same service the CLI calls, and shapes the reply.
// Errors are mapped to statuses once, here, from the one error hierarchy.
import Fastify, { type FastifyInstance } from 'fastify';
import { ArrearsError, ValidationError } from '../domain/errors.ts';
import type { Context } from '../services/context.ts';
import { registerHealthRoutes } from './health.ts';

export interface ServerOptions {
  /** Fastify's request log (pino, to stdout): on in `arrears start`, off in tests. */
  logger?: boolean;
  /** How long GET /health waits for the database before answering 503 (default 5 s). */
  healthTimeoutMs?: number;
}

/**
 * A feature's routes. `ctx` is the server's context (database, clock); routes that act
 * for a signed-in user derive their own context with that user as the actor.
 */
export type RouteRegistrar = (app: FastifyInstance, ctx: Context, options: ServerOptions) => void | Promise<void>;

// Each feature adds its registrar here, one line each.
const features: RouteRegistrar[] = [registerHealthRoutes];

export async function buildServer(ctx: Context, options: ServerOptions = {}): Promise<FastifyInstance> {
  const app = Fastify({ logger: options.logger ?? false });

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof ValidationError) return reply.status(err.httpStatus).send({ error: err.message, problems: err.problems });
    if (err instanceof ArrearsError) return reply.status(err.httpStatus).send({ error: err.message });
    // Fastify's own client errors (bad JSON, body too large, schema validation) keep their 4xx status.
    const status = (err as { statusCode?: unknown }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return reply.status(status).send({ error: err instanceof Error ? err.message : String(err) });
    }
    request.log.error({ err }, 'unexpected error');
    return reply.status(500).send({ error: 'unexpected error; see the server log' });
  });

  for (const register of features) await register(app, ctx, options);
  return app;
}
