// /api/me/totp: a user's own two-factor sign-in (enrol with the password, confirm with a code,
// recovery codes shown once, renew, turn off), and /api/users/:id/totp for an administrator's
// reset. A wrong password or code here counts against the sign-in limits like a failed sign-in.
import type { FastifyInstance } from 'fastify';
import { ValidationError } from '../domain/errors.ts';
import type { Context } from '../services/context.ts';
import { beginTotp, confirmTotp, disableTotp, renewRecoveryCodes, requiredRolesFromEnv, resetTotp, twoFactorStatus } from '../services/two-factor.ts';
import { checkPassword, SignInError } from '../services/users.ts';
import { actingContext, guardedAttempt } from './auth.ts';
import { userParams } from './schemas.ts';
import type { ServerOptions } from './server.ts';

const codeBody = {
  type: 'object',
  required: ['code'],
  additionalProperties: false,
  properties: { code: { type: 'string', minLength: 1, maxLength: 20, description: 'the 6-digit code the authenticator shows now' } },
} as const;

/** A wrong code given to change one's own second factor. */
const wrongCode = (err: unknown) => (err instanceof ValidationError && err.problems.some((p) => p.field === 'code') ? 'wrong two-factor code' : null);

export function registerTwoFactorRoutes(app: FastifyInstance, ctx: Context, options: ServerOptions): void {
  const tags = ['session'];
  const requiredRoles = options.totpRequiredRoles ?? requiredRolesFromEnv();
  const guarded = guardedAttempt(app);
  const config = { permission: 'signed-in', duringEnrolment: true } as const;

  app.get('/api/me/totp', { config, schema: { tags, summary: 'Your two-factor sign-in: on, required by your role, being set up, recovery codes left' } }, async (request) =>
    twoFactorStatus(ctx.database.db, request.user!.id, requiredRoles),
  );

  app.post<{ Body: { password: string } }>(
    '/api/me/totp',
    {
      config,
      schema: {
        tags,
        summary: 'Start setting up two-factor sign-in: give your password; the reply has the secret for your authenticator app (and its otpauth:// address)',
        body: { type: 'object', required: ['password'], additionalProperties: false, properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } } },
      },
    },
    async (request, reply) => {
      const me = request.user!;
      // A wrong password here is a 400 on the field, not a 401: the caller is still signed in.
      const wrongPassword = (err: unknown) => (err instanceof ValidationError && err.problems.some((p) => p.field === 'password') ? 'wrong password (two-factor set-up)' : null);
      await guarded(request, reply, me.username, wrongPassword, () =>
        checkPassword(ctx, me.username, request.body.password).catch((err: unknown) => {
          throw err instanceof SignInError ? ValidationError.of('is not your password', { field: 'password' }) : err;
        }),
      );
      return beginTotp(actingContext(ctx, request), me.username);
    },
  );

  app.post<{ Body: { code: string } }>(
    '/api/me/totp/confirm',
    { config, schema: { tags, summary: 'Turn two-factor sign-in on with a code from the new secret; the reply has your recovery codes, shown this once', body: codeBody } },
    async (request, reply) =>
      guarded(request, reply, request.user!.username, wrongCode, () => confirmTotp(actingContext(ctx, request), request.user!.username, request.body.code, request.session ?? undefined)),
  );

  app.post<{ Body: { code: string } }>(
    '/api/me/totp/recovery-codes',
    { config: { permission: 'signed-in' }, schema: { tags, summary: 'New recovery codes (the old ones stop working), shown this once; needs a current code', body: codeBody } },
    async (request, reply) => guarded(request, reply, request.user!.username, wrongCode, () => renewRecoveryCodes(actingContext(ctx, request), request.user!.username, request.body.code)),
  );

  app.post<{ Body: { code: string } }>(
    '/api/me/totp/disable',
    { config: { permission: 'signed-in' }, schema: { tags, summary: 'Turn your two-factor sign-in off with a current code (refused while your role requires it)', body: codeBody } },
    async (request, reply) => {
      await guarded(request, reply, request.user!.username, wrongCode, () => disableTotp(actingContext(ctx, request), request.user!.username, request.body.code, requiredRoles));
      return { enabled: false };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/users/:id/totp',
    {
      config: { permission: 'users.manage' },
      schema: { tags: ['users'], summary: "Reset a user's two-factor sign-in (a lost authenticator and lost recovery codes): it is off and their sessions end", params: userParams },
    },
    async (request) => {
      await resetTotp(actingContext(ctx, request), request.params.id);
      return { reset: true };
    },
  );
}
