// Who is calling, and may they? Staff sign in with a password and get a session cookie
// (HttpOnly, SameSite=Lax, Secure behind https); machines send `Authorization: Bearer <token>`.
// Every /api route declares the permission it needs in its config; a route without one
// cannot even be registered, so no route is left unchecked. Unauthenticated calls get 401,
// a missing permission 403 naming it. Sign-in attempts are limited per username and address.
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ArrearsError, ValidationError } from '../domain/errors.ts';
import { PERMISSION_DESCRIPTIONS, type Permission } from '../domain/permissions.ts';
import type { Clock, Context } from '../services/context.ts';
import { DEFAULT_SESSION_POLICY, changeOwnPassword, getUser, login, logout, sessionUser, SignInError, tokenUser, type AuthUser, type SessionPolicy } from '../services/users.ts';
import { sendError } from './errors.ts';
import type { ServerOptions } from './server.ts';

/** What a route requires: a permission, any signed-in user, or nothing (sign-in itself). */
export type RoutePermission = Permission | 'signed-in' | 'public';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: RoutePermission;
  }
  interface FastifyRequest {
    user: AuthUser | null;
  }
}

export const SESSION_COOKIE = 'arrears_session';

export interface LoginLimit {
  /** Failed sign-ins allowed per username and address within the window. */
  attempts: number;
  windowMinutes: number;
}

export const DEFAULT_LOGIN_LIMIT: LoginLimit = { attempts: 5, windowMinutes: 15 };
/**
 * One address trying many usernames, or one username tried from many addresses, gets this
 * many times the attempts of a single username at a single address.
 */
export const WIDE_LOGIN_FACTOR = 4;
const MAX_KEYS = 10_000;

export class TooManyAttemptsError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 429;
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed sign-ins; try again in ${Math.ceil(retryAfterSeconds / 60)} minute${retryAfterSeconds > 60 ? 's' : ''}`);
    this.name = 'TooManyAttemptsError';
  }
}

/** Failed sign-ins per key in a fixed window, in memory (a restart forgets them, which only helps a legitimate user). */
export class LoginThrottle {
  private readonly failures = new Map<string, { count: number; since: number }>();
  constructor(
    private readonly clock: Clock,
    private readonly limit: LoginLimit = DEFAULT_LOGIN_LIMIT,
  ) {}

  private current(key: string): { count: number; since: number } | undefined {
    const entry = this.failures.get(key);
    if (entry && this.clock.now().getTime() - entry.since >= this.limit.windowMinutes * 60_000) {
      this.failures.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Throws while the key has used up its attempts. */
  check(key: string): void {
    const entry = this.current(key);
    if (entry && entry.count >= this.limit.attempts) {
      const left = entry.since + this.limit.windowMinutes * 60_000 - this.clock.now().getTime();
      throw new TooManyAttemptsError(Math.max(1, Math.ceil(left / 1000)));
    }
  }

  fail(key: string): void {
    // An attacker cycling usernames must not grow the map without end: expired keys go first, then the oldest.
    if (this.failures.size >= MAX_KEYS) for (const k of [...this.failures.keys()]) this.current(k);
    for (const k of this.failures.keys()) {
      if (this.failures.size < MAX_KEYS) break;
      this.failures.delete(k);
    }
    const entry = this.current(key);
    if (entry) entry.count++;
    else this.failures.set(key, { count: 1, since: this.clock.now().getTime() });
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }
}

const routes = new WeakMap<FastifyInstance, { method: string; url: string; permission: RoutePermission }[]>();

/** Every /api route with the permission it requires (HEAD routes left out), in registration order. */
export function apiRoutes(app: FastifyInstance): readonly { method: string; url: string; permission: RoutePermission }[] {
  return routes.get(app) ?? [];
}

/** The services' context for this request: the signed-in user is the actor in the audit log. */
export function actingContext(ctx: Context, request: FastifyRequest): Context {
  if (!request.user) throw new Error('actingContext on a route without a signed-in user');
  return { ...ctx, actor: request.user.username };
}

function bearer(request: FastifyRequest): string | null | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : null;
}

function isApi(url: string): boolean {
  return url === '/api' || url.startsWith('/api/') || url.startsWith('/api?');
}

function minutesFromEnv(name: string): number | undefined {
  const text = process.env[name]?.trim();
  if (!text) return undefined;
  if (!/^\d{1,6}$/.test(text) || Number(text) === 0) throw ValidationError.of(`"${text}" is not a whole number of minutes above 0`, { field: name });
  return Number(text);
}

/** The server's options, else ARREARS_SESSION_IDLE_MINUTES and ARREARS_SESSION_MAX_MINUTES, else 12 h each. */
function sessionPolicy(options: ServerOptions): SessionPolicy {
  return {
    idleMinutes: options.session?.idleMinutes ?? minutesFromEnv('ARREARS_SESSION_IDLE_MINUTES') ?? DEFAULT_SESSION_POLICY.idleMinutes,
    maxMinutes: options.session?.maxMinutes ?? minutesFromEnv('ARREARS_SESSION_MAX_MINUTES') ?? DEFAULT_SESSION_POLICY.maxMinutes,
  };
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, expires: Date): void {
  reply.setCookie(SESSION_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', expires });
}

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    displayName: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    permissions: { type: 'array', items: { type: 'string' } },
  },
} as const;

export async function registerAuth(app: FastifyInstance, ctx: Context, options: ServerOptions): Promise<void> {
  await app.register(cookie);
  app.decorateRequest('user', null);
  const policy = sessionPolicy(options);
  const limit = options.loginLimit ?? DEFAULT_LOGIN_LIMIT;
  const throttle = new LoginThrottle(ctx.clock, limit);
  const wide = new LoginThrottle(ctx.clock, { ...limit, attempts: limit.attempts * WIDE_LOGIN_FACTOR });
  const list: { method: string; url: string; permission: RoutePermission }[] = [];
  routes.set(app, list);

  app.addHook('onRoute', (route) => {
    if (!isApi(route.url)) return;
    const permission = route.config?.permission;
    if (!permission) throw new Error(`${String(route.method)} ${route.url} declares no permission (config.permission)`);
    if (permission !== 'public' && permission !== 'signed-in') {
      route.schema = {
        ...route.schema,
        description: [route.schema?.description, `Requires the permission **${permission}**: ${PERMISSION_DESCRIPTIONS[permission]}.`].filter(Boolean).join('\n\n'),
      };
    }
    for (const method of [route.method].flat()) if (method !== 'HEAD') list.push({ method, url: route.url, permission });
  });

  app.addHook('onRequest', async (request, reply) => {
    // Decided by the route the router matched, never by the raw URL alone: "/%61pi/…" reaches
    // an /api route too. Unmatched /api paths still need a signed-in caller (then 404).
    const permission = request.routeOptions.config.permission;
    if (permission === undefined && (request.routeOptions.url !== undefined || !isApi(request.url))) return;
    if (permission === 'public') return;
    const token = bearer(request);
    if (token === null) return sendError(reply, 401, 'the Authorization header must be "Bearer <token>"');
    const cookieValue = request.cookies[SESSION_COOKIE];
    const user = token !== undefined ? await tokenUser(ctx, token) : cookieValue ? await sessionUser(ctx, cookieValue, policy) : null;
    if (!user) return sendError(reply, 401, token !== undefined ? 'the API token is unknown or revoked' : 'sign in first (POST /api/login) or send an API token');
    request.user = user;
    if (permission !== undefined && permission !== 'signed-in' && !user.permissions.includes(permission)) {
      return sendError(reply, 403, `permission "${permission}" is required`, { permission });
    }
  });

  app.post<{ Body: { username: string; password: string } }>(
    '/api/login',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['session'],
        summary: 'Sign in with a username and password; sets the session cookie',
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: { username: { type: 'string', minLength: 1, maxLength: 64 }, password: { type: 'string', minLength: 1, maxLength: 1024 } },
        },
      },
    },
    async (request, reply) => {
      const username = request.body.username.trim().toLowerCase();
      const key = `${username}|${request.ip}`;
      const wideKeys = [`address ${request.ip}`, `username ${username}`];
      try {
        throttle.check(key);
        for (const k of wideKeys) wide.check(k);
      } catch (err) {
        if (err instanceof TooManyAttemptsError) reply.header('retry-after', String(err.retryAfterSeconds));
        throw err;
      }
      try {
        const signedIn = await login(ctx, request.body.username, request.body.password, policy);
        // Only the pair is cleared: a sprayer who knows one password must not reset the wide counts.
        throttle.succeed(key);
        setSessionCookie(request, reply, signedIn.token, signedIn.expiresAt);
        return { user: signedIn.user, expiresAt: signedIn.expiresAt.toISOString() };
      } catch (err) {
        if (err instanceof SignInError) {
          throttle.fail(key);
          for (const k of wideKeys) wide.fail(k);
        }
        throw err;
      }
    },
  );

  app.post('/api/logout', { config: { permission: 'signed-in' }, schema: { tags: ['session'], summary: 'Sign out: ends this session' } }, async (request, reply) => {
    const value = request.cookies[SESSION_COOKIE];
    if (value) await logout({ ...ctx, actor: request.user!.username }, value);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { signedOut: true };
  });

  app.get('/api/me', { config: { permission: 'signed-in' }, schema: { tags: ['session'], summary: 'The signed-in user and their permissions', response: { 200: userSchema } } }, async (request) => {
    const me = await getUser(ctx.database.db, request.user!.id);
    return { id: me.id, username: me.username, displayName: me.displayName, roles: me.roles, permissions: me.permissions };
  });

  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/me/password',
    {
      config: { permission: 'signed-in' },
      schema: {
        tags: ['session'],
        summary: 'Change your own password (ends your other sessions and this one: sign in again)',
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: { currentPassword: { type: 'string', maxLength: 1024 }, newPassword: { type: 'string', maxLength: 1024 } },
        },
      },
    },
    async (request, reply) => {
      await changeOwnPassword({ ...ctx, actor: request.user!.username }, request.user!.username, request.body.currentPassword, request.body.newPassword);
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { changed: true };
    },
  );
}
