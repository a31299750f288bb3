// Who is calling, and may they? Staff sign in with a password (and a code, when their account
// has two-factor sign-in) and get a session cookie (HttpOnly, SameSite=Lax, Secure behind
// https); machines send `Authorization: Bearer <token>`. Every /api route declares the
// permission it needs in its config; a route without one cannot even be registered, so no
// route is left unchecked. Unauthenticated calls get 401, a missing permission 403 naming it.
// A browser cannot be made to act for a signed-in user by another page: every unsafe request
// (not GET or HEAD) that a browser sends must come from our own origin (Origin, or
// Sec-Fetch-Site), and every unsafe request signed in by the cookie must carry the session's
// CSRF token, which only our own pages can read. Both checks are made here, for every route,
// so a new route is covered without doing anything. Sign-in attempts are limited
// (sign-in-limits.ts) and every failure is audited.
import { createHmac, timingSafeEqual } from 'node:crypto';
import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ValidationError } from '../domain/errors.ts';
import { PERMISSION_DESCRIPTIONS, type Permission } from '../domain/permissions.ts';
import type { Context } from '../services/context.ts';
import { checkSecondFactor, mustEnrol, requiredRolesFromEnv, SecondFactorError, twoFactorStatus } from '../services/two-factor.ts';
import {
  changeOwnPassword,
  checkPassword,
  DEFAULT_SESSION_POLICY,
  getUser,
  logout,
  openSession,
  recordSignInEvents,
  sessionUser,
  SignInError,
  tokenUser,
  WrongCurrentPasswordError,
  type AuthUser,
  type SessionPolicy,
  type SignInEvent,
} from '../services/users.ts';
import { sendError } from './errors.ts';
import type { ServerOptions } from './server.ts';
import { DEFAULT_LOGIN_LIMIT, SignInGuard, TooManyAttemptsError, type Attempt } from './sign-in-limits.ts';

export { DEFAULT_LOGIN_LIMIT, LoginThrottle, TooManyAttemptsError, WIDE_LOGIN_FACTOR, type LoginLimit } from './sign-in-limits.ts';

/** What a route requires: a permission, any signed-in user, nothing (sign-in itself), or nothing but it says more to a signed-in caller. */
export type RoutePermission = Permission | 'signed-in' | 'public' | 'optional';

declare module 'fastify' {
  interface FastifyContextConfig {
    permission?: RoutePermission;
    /** Open to a user who must still set up two-factor sign-in (their own account and signing out). */
    duringEnrolment?: boolean;
  }
  interface FastifyRequest {
    user: AuthUser | null;
    /** The session cookie's value when the caller signed in with it (not with a token). */
    session: string | null;
  }
}

export const SESSION_COOKIE = 'arrears_session';
/** The header that carries the session's CSRF token: in every reply to a cookie-signed-in request, and required on its unsafe requests. */
export const CSRF_HEADER = 'x-csrf-token';
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** How long a route that only says more to a signed-in caller waits to learn who it is. */
const OPTIONAL_LOOKUP_MS = 1000;

/** The session's CSRF token: derived from the cookie value, which the page itself cannot read (HttpOnly). */
export function csrfToken(sessionValue: string): string {
  return createHmac('sha256', sessionValue).update('arrears csrf token').digest('base64url');
}

function sameSecret(given: string | string[] | undefined, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The origins browsers reach Arrears at: the server's options, else ARREARS_ORIGIN (comma-separated), else each request's own. */
export function allowedOrigins(options: ServerOptions): string[] | null {
  const list = options.origins ?? (process.env.ARREARS_ORIGIN ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  if (list.length === 0) return null;
  for (const origin of list) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(origin);
    } catch {
      /* reported below */
    }
    if (!parsed || parsed.origin !== origin) throw ValidationError.of(`"${origin}" is not an origin like https://arrears.example.org (scheme, host and port, no path)`, { field: 'ARREARS_ORIGIN' });
  }
  return list;
}

/** An origin as URL writes it (lower case, no default port); "null" and junk stay as they are, and match nothing. */
function originOf(text: string): string {
  try {
    const origin = new URL(text).origin;
    return origin === 'null' ? text : origin;
  } catch {
    return text;
  }
}

/** Why a browser's unsafe request comes from another origin, or null. Requests without Origin or Sec-Fetch-Site (scripts) pass. */
function crossOriginRefusal(request: FastifyRequest, configured: string[] | null): string | null {
  const origin = request.headers.origin;
  if (origin !== undefined) {
    const own = configured ?? [originOf(`${request.protocol}://${request.host}`)];
    if (own.includes(originOf(origin))) return null;
    return `a request from another origin (${origin}) is refused; this server is ${own.join(', ')} (behind a reverse proxy, set ARREARS_ORIGIN)`;
  }
  const site = request.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return `a ${site} request is refused`;
  return null;
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

/** The server's options, else ARREARS_SESSION_IDLE_MINUTES and ARREARS_SESSION_MAX_MINUTES, else 30 minutes idle and 12 hours in all. */
function sessionPolicy(options: ServerOptions): SessionPolicy {
  return {
    idleMinutes: options.session?.idleMinutes ?? minutesFromEnv('ARREARS_SESSION_IDLE_MINUTES') ?? DEFAULT_SESSION_POLICY.idleMinutes,
    maxMinutes: options.session?.maxMinutes ?? minutesFromEnv('ARREARS_SESSION_MAX_MINUTES') ?? DEFAULT_SESSION_POLICY.maxMinutes,
  };
}

function setSessionCookie(request: FastifyRequest, reply: FastifyReply, value: string, expires: Date): void {
  reply.setCookie(SESSION_COOKIE, value, { path: '/', httpOnly: true, sameSite: 'lax', secure: request.protocol === 'https', expires });
}

const twoFactorSchema = {
  type: 'object',
  properties: { enabled: { type: 'boolean' }, required: { type: 'boolean' }, enrolling: { type: 'boolean' }, recoveryCodesLeft: { type: 'integer' } },
} as const;

const userSchema = {
  type: 'object',
  properties: {
    id: { type: 'integer' },
    username: { type: 'string' },
    displayName: { type: 'string' },
    roles: { type: 'array', items: { type: 'string' } },
    permissions: { type: 'array', items: { type: 'string' } },
    twoFactor: twoFactorSchema,
  },
} as const;

/** Runs one guarded attempt: counted before `fn` checks a secret; `failure` says which errors are a wrong secret (and why, for the audit log). */
export type Guarded = <T>(request: FastifyRequest, reply: FastifyReply, username: string, failure: (err: unknown) => string | null, fn: (attempt: Attempt) => Promise<T>) => Promise<T>;

const guards = new WeakMap<FastifyInstance, Guarded>();

/** The sign-in limits of this server, for other routes that check a password or a code (two-factor.ts). */
export function guardedAttempt(app: FastifyInstance): Guarded {
  const guarded = guards.get(app);
  if (!guarded) throw new Error('registerAuth has not run on this server');
  return guarded;
}

export async function registerAuth(app: FastifyInstance, ctx: Context, options: ServerOptions): Promise<void> {
  await app.register(cookie);
  app.decorateRequest('user', null);
  app.decorateRequest('session', null);
  const policy = sessionPolicy(options);
  const origins = allowedOrigins(options);
  const requiredRoles = options.totpRequiredRoles ?? requiredRolesFromEnv();
  const guard = new SignInGuard(ctx.clock, options.loginLimit ?? DEFAULT_LOGIN_LIMIT);
  const list: { method: string; url: string; permission: RoutePermission }[] = [];
  routes.set(app, list);

  const guarded: Guarded = async (request, reply, username, failure, fn) => {
    let attempt: Attempt;
    try {
      attempt = await guard.enter(username, request.ip);
    } catch (err) {
      if (err instanceof TooManyAttemptsError) reply.header('retry-after', String(err.retryAfterSeconds));
      throw err;
    }
    try {
      const result = await fn(attempt);
      attempt.succeeded();
      return result;
    } catch (err) {
      const reason = failure(err);
      if (reason === null) {
        attempt.refund();
        throw err;
      }
      const effects = attempt.failed();
      const events: SignInEvent[] = [{ username, address: request.ip, kind: 'failed', detail: reason }];
      if (effects.pairLocked) events.push({ username, address: request.ip, kind: 'locked', detail: 'this username from this address', until: effects.until });
      if (effects.addressLocked) events.push({ username, address: request.ip, kind: 'locked', detail: 'this address, every username', until: effects.until });
      if (effects.usernameSlowed) events.push({ username, address: request.ip, kind: 'slowed', detail: 'this username, from every address' });
      await recordSignInEvents(ctx, events);
      throw err;
    }
  };
  guards.set(app, guarded);

  app.addHook('onRoute', (route) => {
    if (!isApi(route.url)) return;
    const permission = route.config?.permission;
    if (!permission) throw new Error(`${String(route.method)} ${route.url} declares no permission (config.permission)`);
    if (permission !== 'public' && permission !== 'signed-in' && permission !== 'optional') {
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
    const config = request.routeOptions.config;
    const permission = config.permission;
    if (permission === undefined && (request.routeOptions.url !== undefined || !isApi(request.url))) return;
    const token = bearer(request);
    const unsafe = !SAFE_METHODS.has(request.method);
    // A page elsewhere (even another port of this host, which SameSite counts as the same site)
    // is refused before anything else, signed in or not: sign-in itself included.
    if (unsafe && token === undefined) {
      const refusal = crossOriginRefusal(request, origins);
      if (refusal) return sendError(reply, 403, refusal);
    }
    if (permission === 'public') return;
    const optional = permission === 'optional';
    if (token === null) return optional ? undefined : sendError(reply, 401, 'the Authorization header must be "Bearer <token>"');
    const cookieValue = request.cookies[SESSION_COOKIE];
    const lookup = token !== undefined ? tokenUser(ctx, token) : cookieValue ? sessionUser(ctx, cookieValue, policy) : Promise.resolve(null);
    let user: AuthUser | null;
    if (optional) {
      // An optional sign-in (GET /health) must answer, and soon, even when the database cannot.
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), OPTIONAL_LOOKUP_MS)));
      user = await Promise.race([lookup.catch(() => null), late]);
      clearTimeout(timer);
    } else user = await lookup;
    if (!user) return optional ? undefined : sendError(reply, 401, token !== undefined ? 'the API token is unknown or revoked' : 'sign in first (POST /api/login) or send an API token');
    if (token === undefined) {
      // The browser attaches the cookie by itself; the token proves the request came from a page that read it from us.
      const expected = csrfToken(cookieValue!);
      if (unsafe && !sameSecret(request.headers[CSRF_HEADER], expected)) {
        return sendError(reply, 403, `the ${CSRF_HEADER} header is missing or wrong: send the token from the sign-in reply (it comes with every reply to a signed-in request)`);
      }
      reply.header(CSRF_HEADER, expected);
      request.session = cookieValue!;
      if (!config.duringEnrolment && !optional && (await mustEnrol(ctx.database.db, user.id, user.roles, requiredRoles))) {
        return sendError(reply, 403, 'your role requires two-factor sign-in: set it up first (your account page in the staff app, or POST /api/me/totp)');
      }
    }
    request.user = user;
    if (permission !== undefined && permission !== 'signed-in' && permission !== 'optional' && !user.permissions.includes(permission)) {
      return sendError(reply, 403, `permission "${permission}" is required`, { permission });
    }
  });

  app.post<{ Body: { username: string; password: string; code?: string; recoveryCode?: string } }>(
    '/api/login',
    {
      config: { permission: 'public' },
      schema: {
        tags: ['session'],
        summary: 'Sign in with a username and password (and a code, when the account has two-factor sign-in); sets the session cookie',
        description:
          'The reply carries the CSRF token (body `csrfToken` and header `X-CSRF-Token`): send it as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE made with the session cookie. ' +
          'An account with two-factor sign-in answers a right password without a code with 401 and `error.code` `totp_required`: send the same body again with `code` (or `recoveryCode`).',
        body: {
          type: 'object',
          required: ['username', 'password'],
          additionalProperties: false,
          properties: {
            username: { type: 'string', minLength: 1, maxLength: 64 },
            password: { type: 'string', minLength: 1, maxLength: 1024 },
            code: { type: 'string', maxLength: 20, description: 'the 6-digit code from the authenticator app' },
            recoveryCode: { type: 'string', maxLength: 40, description: 'one of the recovery codes, instead of a code' },
          },
        },
      },
    },
    async (request, reply) => {
      const username = request.body.username.trim().toLowerCase();
      const { code, recoveryCode } = request.body;
      const signedIn = await guarded(
        request,
        reply,
        username,
        (err) => (err instanceof SignInError ? 'wrong password, or no such active user' : err instanceof SecondFactorError && !err.missing ? err.message : null),
        async (attempt) => {
          const user = await checkPassword(ctx, username, request.body.password);
          let secondFactor: Awaited<ReturnType<typeof checkSecondFactor>>;
          try {
            secondFactor = await checkSecondFactor(ctx, user.id, { code: code || undefined, recoveryCode: recoveryCode || undefined });
          } catch (err) {
            if (err instanceof SecondFactorError && err.missing) {
              attempt.refund();
              return err;
            }
            throw err;
          }
          return openSession(ctx, user.id, policy, { address: request.ip, secondFactor });
        },
      );
      if (signedIn instanceof SecondFactorError) return reply.status(401).send({ error: { code: 'totp_required', message: signedIn.message } });
      setSessionCookie(request, reply, signedIn.token, signedIn.expiresAt);
      const csrf = csrfToken(signedIn.token);
      reply.header(CSRF_HEADER, csrf);
      return { user: signedIn.user, expiresAt: signedIn.expiresAt.toISOString(), csrfToken: csrf };
    },
  );

  app.post('/api/logout', { config: { permission: 'signed-in', duringEnrolment: true }, schema: { tags: ['session'], summary: 'Sign out: ends this session' } }, async (request, reply) => {
    const value = request.cookies[SESSION_COOKIE];
    if (value) await logout({ ...ctx, actor: request.user!.username }, value);
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    return { signedOut: true };
  });

  app.get(
    '/api/me',
    { config: { permission: 'signed-in', duringEnrolment: true }, schema: { tags: ['session'], summary: 'The signed-in user, their permissions and their two-factor sign-in', response: { 200: userSchema } } },
    async (request) => {
      const me = await getUser(ctx.database.db, request.user!.id);
      const twoFactor = await twoFactorStatus(ctx.database.db, me.id, requiredRoles);
      return { id: me.id, username: me.username, displayName: me.displayName, roles: me.roles, permissions: me.permissions, twoFactor };
    },
  );

  app.post<{ Body: { currentPassword: string; newPassword: string } }>(
    '/api/me/password',
    {
      config: { permission: 'signed-in', duringEnrolment: true },
      schema: {
        tags: ['session'],
        summary: 'Change your own password (ends your other sessions and this one: sign in again); a wrong current password counts as a failed sign-in',
        body: {
          type: 'object',
          required: ['currentPassword', 'newPassword'],
          additionalProperties: false,
          properties: { currentPassword: { type: 'string', maxLength: 1024 }, newPassword: { type: 'string', maxLength: 1024 } },
        },
      },
    },
    async (request, reply) => {
      const username = request.user!.username;
      await guarded(
        request,
        reply,
        username,
        (err) => (err instanceof WrongCurrentPasswordError ? 'wrong current password (password change)' : null),
        () => changeOwnPassword({ ...ctx, actor: username }, username, request.body.currentPassword, request.body.newPassword),
      );
      reply.clearCookie(SESSION_COOKIE, { path: '/' });
      return { changed: true };
    },
  );
}
