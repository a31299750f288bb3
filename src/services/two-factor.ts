// Two-factor sign-in: a time-based one-time code (TOTP, RFC 6238: SHA-1, 6 digits, 30-second
// steps, what every authenticator app reads) after the password, or one of ten recovery codes
// shown once at enrolment. The secret is kept encrypted with the key of the agency
// credentials; a code is accepted once (the step of the last one is kept) and one step
// either side of now, for clocks a little apart. The operator can require it for roles
// (ARREARS_TOTP_REQUIRED_ROLES=admin): such a user who has not enrolled yet may do nothing
// but enrol after signing in.
import { randomBytes } from 'node:crypto';
import * as OTPAuth from 'otpauth';
import { ArrearsError, ConflictError, ValidationError } from '../domain/errors.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { decryptSecret, encryptSecret, loadSecretKey } from './secrets.ts';
import { getUser, sha256 } from './users.ts';

export const TOTP_ISSUER = 'Arrears';
const PERIOD_SECONDS = 30;
const DIGITS = 6;
/** Steps accepted either side of the current one. */
const WINDOW = 1;
const SECRET_BYTES = 20;
export const RECOVERY_CODE_COUNT = 10;
/** Crockford's base32 without I, L, O, U: nothing to misread when typed from paper. */
const RECOVERY_ALPHABET = '0123456789abcdefghjkmnpqrstvwxyz';

/** The password was right and a second factor is needed, or the one given was wrong. */
export class SecondFactorError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 401;
  constructor(
    message: string,
    /** True when no code was given at all (the client should ask for one). */
    readonly missing: boolean,
  ) {
    super(message);
    this.name = 'SecondFactorError';
  }
}

export interface SecondFactor {
  /** The 6-digit code from the authenticator app. */
  code?: string;
  /** One of the recovery codes, instead of a code. */
  recoveryCode?: string;
}

export interface TwoFactorStatus {
  enabled: boolean;
  /** One of the user's roles requires it. */
  required: boolean;
  /** An enrolment was started and not yet confirmed with a code. */
  enrolling: boolean;
  recoveryCodesLeft: number;
}

/** Roles that must sign in with a second factor, from ARREARS_TOTP_REQUIRED_ROLES ("admin" or "admin,business_office"). */
export function requiredRolesFromEnv(env: NodeJS.ProcessEnv = process.env): string[] {
  return (env.ARREARS_TOTP_REQUIRED_ROLES ?? '')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
}

function totpFor(secretBase32: string, username: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: TOTP_ISSUER, label: username, algorithm: 'SHA1', digits: DIGITS, period: PERIOD_SECONDS, secret: OTPAuth.Secret.fromBase32(secretBase32) });
}

/** The 30-second step a moment falls in. */
function stepAt(at: Date): number {
  return Math.floor(at.getTime() / 1000 / PERIOD_SECONDS);
}

/** The code an authenticator shows for the secret at a moment (for tests and the CLI's checks). */
export function totpCode(secretBase32: string, at: Date): string {
  return totpFor(secretBase32, 'x').generate({ timestamp: at.getTime() });
}

function normaliseRecoveryCode(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, '');
}

function newRecoveryCode(): string {
  const bytes = randomBytes(10);
  let text = '';
  for (const b of bytes) text += RECOVERY_ALPHABET[b & 31];
  return `${text.slice(0, 5)}-${text.slice(5)}`;
}

async function userRow(db: Executor, username: string) {
  const user = await getUser(db, username);
  const row = await db.selectFrom('users').select(['id', 'password_hash', 'totp_secret', 'totp_enabled_at', 'totp_last_step']).where('id', '=', user.id).executeTakeFirstOrThrow();
  return { user, row };
}

export async function twoFactorStatus(db: Executor, userId: number, requiredRoles: readonly string[]): Promise<TwoFactorStatus> {
  const user = await getUser(db, userId);
  const row = await db.selectFrom('users').select(['totp_secret', 'totp_enabled_at']).where('id', '=', userId).executeTakeFirstOrThrow();
  const left = await db
    .selectFrom('user_recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return {
    enabled: row.totp_enabled_at !== null,
    required: user.roles.some((r) => requiredRoles.includes(r)),
    enrolling: row.totp_enabled_at === null && row.totp_secret !== null,
    recoveryCodesLeft: row.totp_enabled_at === null ? 0 : Number(left.n),
  };
}

/** A signed-in user whose role requires a second factor and who has none yet. */
export async function mustEnrol(db: Executor, userId: number, roles: readonly string[], requiredRoles: readonly string[]): Promise<boolean> {
  if (!roles.some((r) => requiredRoles.includes(r))) return false;
  const row = await db.selectFrom('users').select('totp_enabled_at').where('id', '=', userId).executeTakeFirst();
  return row?.totp_enabled_at === null;
}

export interface Enrolment {
  /** The secret in base32, for typing into an authenticator app. */
  secret: string;
  /** The otpauth:// address an app reads (from a QR code or a link on a phone). */
  uri: string;
}

/** Starts (or restarts) an enrolment: a new secret, not in force until confirmed with a code from it. */
export async function beginTotp(ctx: Context, username: string): Promise<Enrolment> {
  const key = await loadSecretKey(ctx.database);
  const secret = new OTPAuth.Secret({ size: SECRET_BYTES }).base32;
  return ctx.database.db.transaction().execute(async (trx) => {
    const { user, row } = await userRow(trx, username);
    if (!row.password_hash) throw new ConflictError(`user "${user.username}" has no password (API tokens only), so there is no sign-in to protect`);
    if (row.totp_enabled_at) throw new ConflictError('two-factor sign-in is already on: turn it off first to enrol a new authenticator');
    await trx.updateTable('users').set({ totp_secret: encryptSecret(key, secret), totp_last_step: null }).where('id', '=', user.id).execute();
    return { secret, uri: totpFor(secret, user.username).toString() };
  });
}

async function replaceRecoveryCodes(trx: Executor, userId: number, now: Date): Promise<string[]> {
  const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
  await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
  await trx
    .insertInto('user_recovery_codes')
    .values(codes.map((c) => ({ user_id: userId, code_hash: sha256(normaliseRecoveryCode(c)), created_at: now })))
    .execute();
  return codes;
}

/**
 * Checks a code against the secret and the last step used, in the caller's transaction (the
 * row is locked, so two requests cannot both spend one code); returns the step to store.
 */
function acceptedStep(secret: string, code: string, lastStep: number | null, now: Date): number | null {
  const token = code.replace(/\s/g, '');
  if (!/^\d{6}$/.test(token)) return null;
  const delta = totpFor(secret, 'x').validate({ token, timestamp: now.getTime(), window: WINDOW });
  if (delta === null) return null;
  const step = stepAt(now) + delta;
  return lastStep !== null && step <= lastStep ? null : step;
}

/**
 * Confirms the enrolment with a code from the new secret; returns the recovery codes, shown
 * this once. The user's other sessions, opened with the password alone, end; `keepSession`
 * (the cookie value of the session confirming) stays.
 */
export async function confirmTotp(ctx: Context, username: string, code: string, keepSession?: string): Promise<{ recoveryCodes: string[] }> {
  const key = await loadSecretKey(ctx.database);
  return ctx.database.db.transaction().execute(async (trx) => {
    const { user, row } = await userRow(trx, username);
    if (row.totp_enabled_at) throw new ConflictError('two-factor sign-in is already on');
    if (!row.totp_secret) throw new ConflictError('no enrolment was started: POST /api/me/totp first');
    const now = ctx.clock.now();
    const step = acceptedStep(decryptSecret(key, row.totp_secret), code, null, now);
    if (step === null) throw ValidationError.of('is not the code the authenticator shows now: check that its clock is right and try the next code', { field: 'code' });
    await trx.updateTable('users').set({ totp_enabled_at: now, totp_last_step: step }).where('id', '=', user.id).execute();
    const recoveryCodes = await replaceRecoveryCodes(trx, user.id, now);
    await trx.deleteFrom('sessions').where('user_id', '=', user.id).where('id', '!=', keepSession ? sha256(keepSession) : '').execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'user.totp_enable', entity: 'user', entityId: user.username, after: { recoveryCodes: RECOVERY_CODE_COUNT }, at: now });
    return { recoveryCodes };
  });
}

/**
 * The second step of signing in, for a user with two-factor sign-in on: throws
 * SecondFactorError when neither a valid code nor an unused recovery code is given.
 * Returns how the user got in, for the audit log.
 */
export async function checkSecondFactor(ctx: Context, userId: number, factor: SecondFactor): Promise<'totp' | 'recovery code' | null> {
  const row = await ctx.database.db.selectFrom('users').select(['totp_enabled_at']).where('id', '=', userId).executeTakeFirstOrThrow();
  if (!row.totp_enabled_at) return null;
  if (!factor.code && !factor.recoveryCode) throw new SecondFactorError('enter the 6-digit code from your authenticator app, or a recovery code', true);
  const key = factor.code ? await loadSecretKey(ctx.database) : undefined;
  return ctx.database.db.transaction().execute(async (trx) => {
    const now = ctx.clock.now();
    const locked = await trx.selectFrom('users').select(['totp_secret', 'totp_last_step']).where('id', '=', userId).forUpdate().executeTakeFirstOrThrow();
    if (factor.code) {
      const step = acceptedStep(decryptSecret(key!, locked.totp_secret!), factor.code, locked.totp_last_step, now);
      if (step === null) throw new SecondFactorError('wrong or already used code', false);
      await trx.updateTable('users').set({ totp_last_step: step }).where('id', '=', userId).execute();
      return 'totp';
    }
    const used = await trx
      .updateTable('user_recovery_codes')
      .set({ used_at: now })
      .where('user_id', '=', userId)
      .where('code_hash', '=', sha256(normaliseRecoveryCode(factor.recoveryCode!)))
      .where('used_at', 'is', null)
      .returning('code_hash')
      .executeTakeFirst();
    if (!used) throw new SecondFactorError('wrong or already used recovery code', false);
    return 'recovery code';
  });
}

/** Verifies a current code for a change to the user's own second factor. */
async function requireCode(ctx: Context, trx: Executor, userId: number, code: string, key: Buffer): Promise<void> {
  const row = await trx.selectFrom('users').select(['totp_secret', 'totp_last_step', 'totp_enabled_at']).where('id', '=', userId).forUpdate().executeTakeFirstOrThrow();
  if (!row.totp_enabled_at || !row.totp_secret) throw new ConflictError('two-factor sign-in is not on');
  const step = acceptedStep(decryptSecret(key, row.totp_secret), code, row.totp_last_step, ctx.clock.now());
  if (step === null) throw ValidationError.of('is not a current code from your authenticator', { field: 'code' });
  await trx.updateTable('users').set({ totp_last_step: step }).where('id', '=', userId).execute();
}

/** A new set of recovery codes (the old ones stop working), shown this once; needs a current code. */
export async function renewRecoveryCodes(ctx: Context, username: string, code: string): Promise<{ recoveryCodes: string[] }> {
  const key = await loadSecretKey(ctx.database);
  return ctx.database.db.transaction().execute(async (trx) => {
    const { user } = await userRow(trx, username);
    await requireCode(ctx, trx, user.id, code, key);
    const now = ctx.clock.now();
    const recoveryCodes = await replaceRecoveryCodes(trx, user.id, now);
    await recordAudit(trx, { actor: ctx.actor, action: 'user.recovery_codes', entity: 'user', entityId: user.username, after: { recoveryCodes: RECOVERY_CODE_COUNT }, at: now });
    return { recoveryCodes };
  });
}

/** Turns one's own second factor off with a current code; refused while a role requires it. */
export async function disableTotp(ctx: Context, username: string, code: string, requiredRoles: readonly string[]): Promise<void> {
  const key = await loadSecretKey(ctx.database);
  await ctx.database.db.transaction().execute(async (trx) => {
    const { user } = await userRow(trx, username);
    if (user.roles.some((r) => requiredRoles.includes(r))) throw new ConflictError(`your role (${user.roles.join(', ')}) requires two-factor sign-in; an administrator can reset it if the authenticator is lost`);
    await requireCode(ctx, trx, user.id, code, key);
    await clearTotp(trx, user.id);
    await recordAudit(trx, { actor: ctx.actor, action: 'user.totp_disable', entity: 'user', entityId: user.username, at: ctx.clock.now() });
  });
}

async function clearTotp(trx: Executor, userId: number): Promise<void> {
  await trx.updateTable('users').set({ totp_secret: null, totp_enabled_at: null, totp_last_step: null }).where('id', '=', userId).execute();
  await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute();
}

/** An administrator's reset for a user who lost the authenticator and the codes: off, and signed out everywhere. */
export async function resetTotp(ctx: Context, idOrUsername: number | string): Promise<void> {
  await ctx.database.db.transaction().execute(async (trx) => {
    const user = await getUser(trx, idOrUsername);
    const row = await trx.selectFrom('users').select(['totp_secret']).where('id', '=', user.id).executeTakeFirstOrThrow();
    if (!row.totp_secret) throw new ConflictError(`user "${user.username}" has no two-factor sign-in to reset`);
    await clearTotp(trx, user.id);
    await trx.deleteFrom('sessions').where('user_id', '=', user.id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'user.totp_reset', entity: 'user', entityId: user.username, at: ctx.clock.now() });
  });
}
