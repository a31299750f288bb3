// What every response says to the browser, and how long the server waits for a client.
// Headers: a strict Content-Security-Policy (scripts only from this server, never inline, and
// no page may frame ours: clickjacking), nosniff, no Referer, and for /api `no-store`, so a
// patron's record is never kept in a shared cache; HSTS when served over https. They are set
// on the raw response before routing, so every reply has them: errors, static files and the
// progress stream too.
// Timeouts: a client that sends its headers or its body too slowly, or takes too long for the
// whole request, is cut off, and the server holds a bounded number of connections.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ValidationError } from '../domain/errors.ts';

/** The staff app: its own scripts, styles and images (data: for small icons), and calls to its own /api. */
export const APP_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Swagger UI at /docs sets style attributes as it renders; still no inline or foreign script. */
export const DOCS_CSP = APP_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");

/** JSON and files: nothing in them is ever run or shown as a page. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox";

/** A year, as browsers expect for HSTS. */
const HSTS = 'max-age=31536000';

function isApi(url: string): boolean {
  return url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

function cspFor(url: string): string {
  if (isApi(url)) return API_CSP;
  if (url === '/docs' || url.startsWith('/docs/') || url.startsWith('/docs?')) return DOCS_CSP;
  return APP_CSP;
}

/** The headers for one request (exported for the tests' list). */
export function securityHeaders(request: Pick<FastifyRequest, 'url' | 'protocol'>): Record<string, string> {
  const headers: Record<string, string> = {
    'content-security-policy': cspFor(request.url),
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    'cross-origin-resource-policy': 'same-origin',
  };
  if (isApi(request.url)) headers['cache-control'] = 'no-store';
  if (request.protocol === 'https') headers['strict-transport-security'] = HSTS;
  return headers;
}

export function registerSecurityHeaders(app: FastifyInstance): void {
  app.addHook('onRequest', async (request, reply) => {
    // On the raw response: merged into whatever writes the head, Fastify's reply or a stream's writeHead.
    for (const [name, value] of Object.entries(securityHeaders(request))) reply.raw.setHeader(name, value);
  });
}

export interface ConnectionLimits {
  /** The request line and headers must arrive within this (ms). */
  headersTimeoutMs: number;
  /** While a body is being sent, this long without a byte ends the connection (ms). */
  bodyIdleTimeoutMs: number;
  /** The whole request, a large upload included, must arrive within this (ms). */
  requestTimeoutMs: number;
  /** Connections open at once; more are closed as they arrive. */
  maxConnections: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 20_000,
  bodyIdleTimeoutMs: 30_000,
  // A 1 GiB import at about 2 MB/s.
  requestTimeoutMs: 10 * 60_000,
  maxConnections: 256,
};

const LIMIT_VARIABLES: Record<keyof ConnectionLimits, { variable: string; scale: number }> = {
  headersTimeoutMs: { variable: 'ARREARS_HEADERS_TIMEOUT_SECONDS', scale: 1000 },
  bodyIdleTimeoutMs: { variable: 'ARREARS_BODY_TIMEOUT_SECONDS', scale: 1000 },
  requestTimeoutMs: { variable: 'ARREARS_REQUEST_TIMEOUT_SECONDS', scale: 1000 },
  maxConnections: { variable: 'ARREARS_MAX_CONNECTIONS', scale: 1 },
};

/** The limits given, else from the environment, else the defaults. */
export function connectionLimits(given: Partial<ConnectionLimits> = {}, env: NodeJS.ProcessEnv = process.env): ConnectionLimits {
  const out = { ...DEFAULT_CONNECTION_LIMITS };
  for (const key of Object.keys(LIMIT_VARIABLES) as (keyof ConnectionLimits)[]) {
    const { variable, scale } = LIMIT_VARIABLES[key];
    const text = env[variable]?.trim();
    if (given[key] !== undefined) out[key] = given[key];
    else if (text) {
      if (!/^\d{1,7}$/.test(text) || Number(text) === 0) throw ValidationError.of(`"${text}" is not a whole number above 0`, { field: variable });
      out[key] = Number(text) * scale;
    }
  }
  return out;
}

/** Applies the limits to the server's socket handling; call before listen. */
export function applyConnectionLimits(app: FastifyInstance, limits: ConnectionLimits): void {
  const server = app.server;
  server.headersTimeout = limits.headersTimeoutMs;
  server.requestTimeout = limits.requestTimeoutMs;
  server.maxConnections = limits.maxConnections;
  // A body that stops arriving: the socket's idle timer runs only while the body is being read.
  app.addHook('onRequest', async (request) => {
    const raw = request.raw;
    const length = raw.headers['content-length'];
    const hasBody = (length !== undefined && length !== '0') || raw.headers['transfer-encoding'] !== undefined;
    if (!hasBody || raw.complete) return;
    const socket = raw.socket;
    // Fastify's inject has no real socket.
    if (typeof socket?.setTimeout !== 'function') return;
    // Heard on the request, Node leaves the decision to us: bytes still waiting to be read mean
    // the server is the slow one (a busy import), not the client, so the wait goes on.
    const onIdle = () => {
      if (raw.readableLength > 0) socket.setTimeout(limits.bodyIdleTimeoutMs);
      else socket.destroy();
    };
    raw.on('timeout', onIdle);
    socket.setTimeout(limits.bodyIdleTimeoutMs);
    const done = () => {
      socket.setTimeout(0);
      raw.off('timeout', onIdle);
    };
    raw.once('end', done);
    raw.once('close', done);
  });
}
