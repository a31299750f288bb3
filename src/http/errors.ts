// Every error reply, once: `{ error: { code, message, problems? } }` with the status of the
// error hierarchy (src/domain/errors.ts). Fastify's own request validation (JSON schemas)
// becomes a ValidationError-shaped 400 naming each field; anything unexpected is a 500
// whose details stay in the server log.
import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import { ArrearsError, PermissionError, ValidationError, codeFor, type ErrorCode, type Problem } from '../domain/errors.ts';
import { databaseUnavailable, describeConnectionError, RETRY_AFTER_SECONDS } from '../db/unavailable.ts';

export interface ErrorBody {
  error: {
    code: ErrorCode;
    message: string;
    problems?: Problem[];
    /** 403 only: the permission that was missing. */
    permission?: string;
  };
}

/**
 * The problems of a Fastify schema validation error: the field is the JSON path of the value
 * (or of the missing or unknown property). The branches of an anyOf ("must be string", "must
 * be null") become one problem: "must be string or null".
 */
function schemaProblems(err: FastifyError): Problem[] {
  const byField = new Map<string, { keyword: string; reason: string; type?: string }[]>();
  for (const v of err.validation ?? []) {
    const params = v.params as { missingProperty?: string; additionalProperty?: string; type?: string };
    const path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    const leaf = params.missingProperty ?? params.additionalProperty;
    const field = [path, leaf].filter(Boolean).join('.') || (err.validationContext ?? 'body');
    const reason = params.additionalProperty ? 'is not a known field' : params.missingProperty ? 'is required' : (v.message ?? 'is not valid');
    byField.set(field, [...(byField.get(field) ?? []), { keyword: v.keyword, reason, type: v.keyword === 'type' ? params.type : undefined }]);
  }
  return [...byField].flatMap(([field, found]) => {
    const types = found.filter((f) => f.type !== undefined).map((f) => f.type!);
    if (found.some((f) => f.keyword === 'anyOf') && types.length === found.length - 1) return [{ field, reason: `must be ${types.join(' or ')}` }];
    return found.map((f) => ({ field, reason: f.reason }));
  });
}

export function sendError(reply: FastifyReply, status: number, message: string, extra: Omit<ErrorBody['error'], 'code' | 'message'> = {}): FastifyReply {
  const body: ErrorBody = { error: { code: codeFor(status), message, ...extra } };
  return reply.status(status).send(body);
}

/**
 * PostgreSQL's codes for a value it cannot hold (a number out of range, text with NUL or bad
 * UTF-8, a malformed number or date): bad input that got past the schemas, so a 400, not a 500.
 */
const UNSTORABLE_VALUE = new Set(['22003', '22P02', '22021', '22P05', '22007', '22008']);

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof ValidationError) return sendError(reply, 400, err.message, { problems: err.problems });
    if (err instanceof PermissionError) return sendError(reply, 403, err.message, { permission: /"([^"]+)"/.exec(err.message)?.[1] });
    if (err instanceof ArrearsError) {
      if (err.httpStatus >= 500) request.log.error({ err }, 'server configuration error');
      return sendError(reply, err.httpStatus, err.message);
    }
    if (err.validation) {
      const problems = schemaProblems(err);
      return sendError(reply, 400, problems.map((p) => `field ${p.field}: ${p.reason}`).join('\n'), { problems });
    }
    if (databaseUnavailable(err)) {
      // The service is fine and recovers by itself when the database is back.
      request.log.warn({ err }, 'database unavailable');
      reply.header('retry-after', String(RETRY_AFTER_SECONDS));
      return sendError(reply, 503, `the database is not available right now (${describeConnectionError(err)}); try again shortly`);
    }
    const pgCode = (err as { code?: unknown }).code;
    if (typeof pgCode === 'string' && UNSTORABLE_VALUE.has(pgCode)) return sendError(reply, 400, `a value in the request cannot be stored: ${err.message}`);
    // Fastify's own client errors (bad JSON, body too large, wrong content type) keep their 4xx status.
    const status = err.statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) return sendError(reply, status, err.message);
    request.log.error({ err }, 'unexpected error');
    return sendError(reply, 500, 'unexpected error; see the server log');
  });

  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`));
}
