// Users, roles, staff sessions and machine API tokens. Passwords are kept only as argon2id
// hashes; session cookies and API tokens are random 32-byte values kept only as sha256, so
// a copy of the database signs nobody in. Every change is audited with the acting user.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { projectPath } from '../root.ts';
import type Argon2 from 'argon2';
import { sql } from 'kysely';
import { ArrearsError, ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { BUILT_IN_ROLE_NAMES, PERMISSIONS, isPermission, permissionsOf, type Permission } from '../domain/permissions.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';

/** Sign-in refused: the same message whether the user is unknown, the password wrong or the account deactivated. */
export class SignInError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 401;
  constructor(message = 'unknown username or wrong password') {
    super(message);
    this.name = 'SignInError';
  }
}

/** Who is signed in, with what they may do. */
export interface AuthUser {
  id: number;
  username: string;
  displayName: string;
  roles: string[];
  permissions: Permission[];
}

export interface UserRow extends AuthUser {
  active: boolean;
  /** False for a user that can only use API tokens. */
  hasPassword: boolean;
  createdAt: Date;
}

export interface RoleRow {
  name: string;
  description: string;
  permissions: Permission[];
  builtIn: boolean;
  /** Users holding the role. */
  users: number;
}

export interface TokenRow {
  id: number;
  name: string;
  userId: number;
  username: string;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface SessionPolicy {
  /** A session not used for this long ends. */
  idleMinutes: number;
  /** A session ends this long after sign-in, used or not. */
  maxMinutes: number;
}

/** A staff session ends after 30 minutes unused, and 12 hours after sign-in however busy. */
export const DEFAULT_SESSION_POLICY: SessionPolicy = { idleMinutes: 30, maxMinutes: 12 * 60 };

export const PASSWORD_MIN = 12;
const PASSWORD_MAX = 1024;
const DISPLAY_NAME_MAX = 200;
const TOKEN_NAME_MAX = 100;
const ROLE_DESCRIPTION_MAX = 500;
/** Last-seen and last-used times are written at most this often, not on every request. */
const TOUCH_EVERY_MS = 60_000;
export const TOKEN_PREFIX = 'arr_';

// argon2, a native module, is loaded by the first hash or check, not by every command that reads users.
let argon2Loaded: Promise<typeof Argon2> | undefined;
const loadArgon2 = () => (argon2Loaded ??= import('argon2').then((m) => m.default));

// argon2id with the OWASP minimum (19 MiB, 2 passes): strong, and quick enough for a login form.
async function hashPassword(password: string): Promise<string> {
  const argon2 = await loadArgon2();
  return argon2.hash(password, { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
}

let decoy: Promise<string> | undefined;
/** Verifying against a throw-away hash for unknown users keeps their sign-in as slow as a real one. */
function decoyHash(): Promise<string> {
  decoy ??= hashPassword(randomBytes(16).toString('hex'));
  return decoy;
}

export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function randomSecret(): string {
  return randomBytes(32).toString('base64url');
}

// --- checks -------------------------------------------------------------------------------

function usernameProblem(username: string): string | null {
  if (!/^[a-z0-9][a-z0-9._@-]{0,63}$/.test(username)) return 'must be 1 to 64 letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
  return null;
}

let common: Set<string> | undefined;
/** The 10,000 most common passwords (src/domain/common-passwords.txt), read once. */
function commonPasswords(): Set<string> {
  common ??= new Set(
    // From the project folder, so the compiled build (dist/) finds it as the sources do.
    readFileSync(projectPath('src', 'domain', 'common-passwords.txt'), 'utf8')
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#')),
  );
  return common;
}

/** Why a new password is refused, or null. `username`: the account it is for, which it must not be. */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < PASSWORD_MIN) return `must be at least ${PASSWORD_MIN} characters`;
  if (password.length > PASSWORD_MAX) return `must be at most ${PASSWORD_MAX} characters`;
  if (commonPasswords().has(password.toLowerCase())) return 'is one of the 10,000 most common passwords; choose another';
  if (username !== undefined && password.trim().toLowerCase() === normalise(username)) return 'must not be the username';
  return null;
}

function normalise(username: string): string {
  return username.trim().toLowerCase();
}

async function checkRoles(db: Executor, roles: readonly string[], field: string, problems: Problem[]): Promise<string[]> {
  const wanted = [...new Set(roles.map((r) => r.trim()))];
  const known = new Set((await db.selectFrom('roles').select('name').execute()).map((r) => r.name));
  for (const r of wanted) if (!known.has(r)) problems.push({ field, reason: `no role is named "${r}" (there are ${[...known].sort().join(', ')})` });
  return wanted.sort();
}

// --- reading users ------------------------------------------------------------------------

async function rolesByUser(db: Executor, userIds: number[]): Promise<Map<number, { name: string; permissions: string[] }[]>> {
  const byUser = new Map<number, { name: string; permissions: string[] }[]>();
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('user_roles as ur')
    .innerJoin('roles as r', 'r.name', 'ur.role')
    .select(['ur.user_id', 'r.name', 'r.permissions'])
    .where('ur.user_id', 'in', userIds)
    .orderBy('r.name')
    .execute();
  for (const r of rows) byUser.set(r.user_id, [...(byUser.get(r.user_id) ?? []), { name: r.name, permissions: r.permissions }]);
  return byUser;
}

function selectUsers(db: Executor) {
  return db.selectFrom('users').select(['id', 'username', 'display_name', 'active', 'created_at', sql<boolean>`password_hash is not null`.as('has_password')]);
}

type UserSelect = Awaited<ReturnType<ReturnType<typeof selectUsers>['executeTakeFirstOrThrow']>>;

async function toUserRows(db: Executor, rows: UserSelect[]): Promise<UserRow[]> {
  const roles = await rolesByUser(
    db,
    rows.map((r) => r.id),
  );
  return rows.map((r) => {
    const held = roles.get(r.id) ?? [];
    return {
      id: r.id,
      username: r.username,
      displayName: r.display_name,
      roles: held.map((x) => x.name),
      permissions: permissionsOf(held),
      active: r.active,
      hasPassword: r.has_password,
      createdAt: new Date(r.created_at),
    };
  });
}

export async function listUsers(db: Executor): Promise<UserRow[]> {
  return toUserRows(db, await selectUsers(db).orderBy('username').execute());
}

/** By id (digits) or username. */
export async function getUser(db: Executor, idOrUsername: number | string): Promise<UserRow> {
  const key = normalise(String(idOrUsername));
  const row = /^\d+$/.test(key) ? await selectUsers(db).where('id', '=', Number(key)).executeTakeFirst() : await selectUsers(db).where('username', '=', key).executeTakeFirst();
  if (!row) throw new NotFoundError(`user "${key}"`);
  return (await toUserRows(db, [row]))[0]!;
}

export async function countUsers(db: Executor): Promise<number> {
  const row = await db
    .selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** What the audit log keeps of a user: never a hash. */
function snapshot(u: UserRow) {
  return { username: u.username, displayName: u.displayName, roles: u.roles, active: u.active, hasPassword: u.hasPassword };
}

// --- changing users -----------------------------------------------------------------------

export interface NewUser {
  username: string;
  /** Null or absent: the user signs in only with API tokens. */
  password?: string | null;
  displayName?: string;
  roles: string[];
}

export async function addUser(ctx: Context, input: NewUser): Promise<UserRow> {
  const problems: Problem[] = [];
  const username = normalise(input.username);
  const nameReason = usernameProblem(username);
  if (nameReason) problems.push({ field: 'username', reason: nameReason });
  const passwordReason = input.password == null ? null : passwordProblem(input.password, username);
  if (passwordReason) problems.push({ field: 'password', reason: passwordReason });
  const displayName = (input.displayName ?? '').trim();
  if (displayName.length > DISPLAY_NAME_MAX) problems.push({ field: 'displayName', reason: `must be at most ${DISPLAY_NAME_MAX} characters` });
  const roles = await checkRoles(ctx.database.db, input.roles, 'roles', problems);
  if (problems.length) throw new ValidationError(problems);
  const hash = input.password == null ? null : await hashPassword(input.password);

  return ctx.database.db.transaction().execute(async (trx) => {
    const clash = await trx.selectFrom('users').select('id').where('username', '=', username).executeTakeFirst();
    if (clash) throw new ConflictError(`a user named "${username}" already exists`);
    const now = ctx.clock.now();
    const { id } = await trx
      .insertInto('users')
      .values({ username, display_name: displayName, password_hash: hash, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (roles.length) await trx.insertInto('user_roles').values(roles.map((role) => ({ user_id: id, role }))).execute();
    const user = await getUser(trx, id);
    await recordAudit(trx, { actor: ctx.actor, action: 'user.create', entity: 'user', entityId: username, after: snapshot(user), at: now });
    return user;
  });
}

export interface UserChanges {
  roles?: string[];
  active?: boolean;
  /** A new password; null removes it (API tokens only). */
  password?: string | null;
  displayName?: string;
}

/**
 * Deactivating a user ends their sessions and revokes their API tokens (reactivating brings
 * none back); so does setting a new password for them (an administrator's reset: whoever
 * held the account loses every way in).
 */
export async function updateUser(ctx: Context, idOrUsername: number | string, changes: UserChanges): Promise<UserRow> {
  return changeUser(ctx, idOrUsername, changes, { keepTokens: false });
}

async function changeUser(ctx: Context, idOrUsername: number | string, changes: UserChanges, options: { keepTokens: boolean }): Promise<UserRow> {
  const problems: Problem[] = [];
  if (changes.password != null) {
    const reason = passwordProblem(changes.password, (await getUser(ctx.database.db, idOrUsername)).username);
    if (reason) problems.push({ field: 'password', reason });
  }
  if (changes.displayName !== undefined && changes.displayName.trim().length > DISPLAY_NAME_MAX) {
    problems.push({ field: 'displayName', reason: `must be at most ${DISPLAY_NAME_MAX} characters` });
  }
  const roles = changes.roles === undefined ? undefined : await checkRoles(ctx.database.db, changes.roles, 'roles', problems);
  if (problems.length) throw new ValidationError(problems);
  const hash = changes.password == null ? changes.password : await hashPassword(changes.password);

  return ctx.database.db.transaction().execute(async (trx) => {
    const guarded = roles !== undefined || changes.active === false;
    // Two administrators demoting each other at once must not both see the other still there:
    // role and activity changes take turns, and each counts the administrators left after waiting.
    if (guarded) await sql`lock table user_roles in share row exclusive mode`.execute(trx);
    const before = await getUser(trx, idOrUsername);
    if (guarded) await refuseLastAdmin(trx, before, { roles, active: changes.active });
    const now = ctx.clock.now();
    const set: { active?: boolean; display_name?: string; password_hash?: string | null } = {};
    if (changes.active !== undefined) set.active = changes.active;
    if (changes.displayName !== undefined) set.display_name = changes.displayName.trim();
    if (hash !== undefined) set.password_hash = hash;
    if (Object.keys(set).length) await trx.updateTable('users').set(set).where('id', '=', before.id).execute();
    if (roles) {
      await trx.deleteFrom('user_roles').where('user_id', '=', before.id).execute();
      if (roles.length) await trx.insertInto('user_roles').values(roles.map((role) => ({ user_id: before.id, role }))).execute();
    }
    if (changes.active === false || hash !== undefined) await trx.deleteFrom('sessions').where('user_id', '=', before.id).execute();
    const revoke = changes.active === false || (typeof hash === 'string' && !options.keepTokens);
    const revoked = revoke
      ? await trx.updateTable('api_tokens').set({ revoked_at: now }).where('user_id', '=', before.id).where('revoked_at', 'is', null).returning(['id', 'name']).execute()
      : [];
    for (const token of revoked) {
      await recordAudit(trx, { actor: ctx.actor, action: 'token.revoke', entity: 'api_token', entityId: token.id, before: { name: token.name, username: before.username }, after: { reason: changes.active === false ? 'user deactivated' : 'password reset' }, at: now });
    }
    const after = await getUser(trx, before.id);
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'user.update',
      entity: 'user',
      entityId: after.username,
      before: snapshot(before),
      after: { ...snapshot(after), ...(hash !== undefined ? { passwordChanged: true } : {}) },
      at: now,
    });
    return after;
  });
}

export const ADMIN_ROLE = 'admin';

/**
 * Refuses a change that would leave no active user with the admin role: nobody could then
 * manage users or the settings table, and the way back would be the CLI on the server.
 */
async function refuseLastAdmin(db: Executor, user: UserRow, change: { roles?: string[]; active?: boolean }): Promise<void> {
  const adminNow = user.active && user.roles.includes(ADMIN_ROLE);
  const adminAfter = (change.active ?? user.active) && (change.roles ?? user.roles).includes(ADMIN_ROLE);
  if (!adminNow || adminAfter) return;
  const others = await db
    .selectFrom('user_roles as ur')
    .innerJoin('users as u', 'u.id', 'ur.user_id')
    .where('ur.role', '=', ADMIN_ROLE)
    .where('u.active', '=', true)
    .where('u.id', '<>', user.id)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  if (Number(others.n) > 0) return;
  const what = change.active === false ? `deactivate ${user.username}` : `remove the admin role from ${user.username}`;
  throw new ConflictError(`cannot ${what}: they are the last active administrator; give another user the admin role first`);
}

/** The current password given for one's own change was wrong (the HTTP layer counts it like a failed sign-in). */
export class WrongCurrentPasswordError extends ValidationError {
  constructor() {
    super([{ field: 'currentPassword', reason: 'is not your current password' }]);
    this.name = 'WrongCurrentPasswordError';
  }
}

/**
 * A signed-in user changing their own password must give the current one, and a new one
 * that differs from it. Their sessions end; their API tokens (made for scripts by an
 * administrator) stay.
 */
export async function changeOwnPassword(ctx: Context, username: string, current: string, next: string): Promise<void> {
  const row = await ctx.database.db.selectFrom('users').select(['password_hash']).where('username', '=', normalise(username)).executeTakeFirst();
  if (!row?.password_hash || !(await (await loadArgon2()).verify(row.password_hash, current))) throw new WrongCurrentPasswordError();
  if (next === current) throw ValidationError.of('must differ from your current password', { field: 'newPassword' });
  const reason = passwordProblem(next, username);
  if (reason) throw ValidationError.of(reason, { field: 'newPassword' });
  await changeUser(ctx, username, { password: next }, { keepTokens: true });
}

// --- roles --------------------------------------------------------------------------------

export async function listRoles(db: Executor): Promise<RoleRow[]> {
  const rows = await db
    .selectFrom('roles as r')
    .select(['r.name', 'r.description', 'r.permissions', 'r.built_in'])
    .select((eb) => eb.selectFrom('user_roles as ur').whereRef('ur.role', '=', 'r.name').select(eb.fn.countAll<number>().as('n')).as('users'))
    .orderBy('r.built_in', 'desc')
    .orderBy('r.name')
    .execute();
  return rows.map((r) => ({ name: r.name, description: r.description, permissions: permissionsOf([r]), builtIn: r.built_in, users: Number(r.users ?? 0) }));
}

export interface RoleInput {
  name: string;
  description?: string;
  permissions: string[];
}

/** Creates or replaces a custom role; the built-in roles change only with the code and a migration. */
export async function saveRole(ctx: Context, input: RoleInput): Promise<RoleRow> {
  const name = input.name.trim();
  const problems: Problem[] = [];
  if (!/^[a-z][a-z0-9_]{0,49}$/.test(name)) problems.push({ field: 'name', reason: 'must be 1 to 50 lower-case letters, digits or "_", starting with a letter' });
  const description = (input.description ?? '').trim();
  if (description.length > ROLE_DESCRIPTION_MAX) problems.push({ field: 'description', reason: `must be at most ${ROLE_DESCRIPTION_MAX} characters` });
  input.permissions.forEach((p, i) => {
    if (!isPermission(p)) problems.push({ field: `permissions[${i}]`, reason: `"${p}" is not a permission (they are ${PERMISSIONS.join(', ')})` });
  });
  if (problems.length) throw new ValidationError(problems);
  if (BUILT_IN_ROLE_NAMES.includes(name)) throw new ConflictError(`"${name}" is a built-in role; create a custom role instead`);
  const permissions = PERMISSIONS.filter((p) => input.permissions.includes(p));

  return ctx.database.db.transaction().execute(async (trx) => {
    const before = await trx.selectFrom('roles').select(['name', 'description', 'permissions', 'built_in']).where('name', '=', name).executeTakeFirst();
    if (before?.built_in) throw new ConflictError(`"${name}" is a built-in role; create a custom role instead`);
    await trx
      .insertInto('roles')
      .values({ name, description, permissions })
      .onConflict((oc) => oc.column('name').doUpdateSet({ description, permissions }))
      .execute();
    await recordAudit(trx, {
      actor: ctx.actor,
      action: before ? 'role.update' : 'role.create',
      entity: 'role',
      entityId: name,
      ...(before ? { before: { description: before.description, permissions: before.permissions } } : {}),
      after: { description, permissions },
      at: ctx.clock.now(),
    });
    return (await listRoles(trx)).find((r) => r.name === name)!;
  });
}

/** Removes a custom role that nobody holds any more. */
export async function removeRole(ctx: Context, name: string): Promise<RoleRow> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const role = (await listRoles(trx)).find((r) => r.name === name.trim());
    if (!role) throw new NotFoundError(`role "${name.trim()}"`);
    if (role.builtIn) throw new ConflictError(`"${role.name}" is a built-in role and cannot be removed`);
    if (role.users > 0) throw new ConflictError(`role "${role.name}" is held by ${role.users} user${role.users === 1 ? '' : 's'}; take it from them first`);
    await trx.deleteFrom('roles').where('name', '=', role.name).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'role.remove', entity: 'role', entityId: role.name, before: { description: role.description, permissions: role.permissions }, at: ctx.clock.now() });
    return role;
  });
}

// --- sessions -----------------------------------------------------------------------------

export interface SignedIn {
  /** The cookie value: shown to this client once, stored only as its sha256. */
  token: string;
  expiresAt: Date;
  user: AuthUser;
}

function authUser(u: UserRow): AuthUser {
  return { id: u.id, username: u.username, displayName: u.displayName, roles: u.roles, permissions: u.permissions };
}

/** Checks a username and password: the user, or SignInError (the same for every reason). */
export async function checkPassword(ctx: Context, username: string, password: string): Promise<{ id: number; username: string }> {
  const name = normalise(username);
  const row = await ctx.database.db.selectFrom('users').select(['id', 'password_hash', 'active']).where('username', '=', name).executeTakeFirst();
  const argon2 = await loadArgon2();
  const ok = row?.password_hash ? await argon2.verify(row.password_hash, password) : await argon2.verify(await decoyHash(), password).then(() => false);
  if (!row || !ok || !row.active) throw new SignInError();
  return { id: row.id, username: name };
}

export interface SignInDetails {
  /** The client's address, for the audit log. */
  address?: string;
  /** The second factor the user gave, when their account has one. */
  secondFactor?: 'totp' | 'recovery code' | null;
}

/** Opens a session for a user whose credentials were checked. */
export async function openSession(ctx: Context, userId: number, policy: SessionPolicy = DEFAULT_SESSION_POLICY, details: SignInDetails = {}): Promise<SignedIn> {
  const token = randomSecret();
  const now = ctx.clock.now();
  const expiresAt = new Date(now.getTime() + policy.maxMinutes * 60_000);
  const user = await ctx.database.db.transaction().execute(async (trx) => {
    const u = await getUser(trx, userId);
    await trx.deleteFrom('sessions').where('expires_at', '<=', now).execute();
    await trx.insertInto('sessions').values({ id: sha256(token), user_id: userId, created_at: now, last_seen_at: now, expires_at: expiresAt }).execute();
    const after = { ...(details.address ? { address: details.address } : {}), ...(details.secondFactor ? { secondFactor: details.secondFactor } : {}) };
    await recordAudit(trx, { actor: u.username, action: 'user.login', entity: 'user', entityId: u.username, ...(Object.keys(after).length ? { after } : {}), at: now });
    return u;
  });
  return { token, expiresAt, user: authUser(user) };
}

/** Checks a username and password and opens a session (no second factor: for accounts without one). */
export async function login(ctx: Context, username: string, password: string, policy: SessionPolicy = DEFAULT_SESSION_POLICY, details: SignInDetails = {}): Promise<SignedIn> {
  const user = await checkPassword(ctx, username, password);
  return openSession(ctx, user.id, policy, details);
}

export interface SignInEvent {
  /** As typed (normalised): it may name nobody. */
  username: string;
  address: string;
  /** failed: a wrong password or code; locked: the username at the address, or the address, is refused until `until`; slowed: the username's attempts wait from now on. */
  kind: 'failed' | 'locked' | 'slowed';
  /** What was wrong (failed), or what is locked (locked). */
  detail: string;
  until?: Date;
}

/** Failed sign-ins and the limits they set off, in the audit log (the attempted username is the actor: nobody is signed in). */
export async function recordSignInEvents(ctx: Context, events: SignInEvent[]): Promise<void> {
  const now = ctx.clock.now();
  await recordAudit(
    ctx.database.db,
    events.map((e) => ({
      actor: e.username,
      action: { failed: 'user.login_failed', locked: 'user.login_locked', slowed: 'user.login_slowed' }[e.kind],
      entity: 'user',
      entityId: e.username,
      after: { address: e.address, [e.kind === 'failed' ? 'reason' : 'scope']: e.detail, ...(e.until ? { until: e.until.toISOString() } : {}) },
      at: now,
    })),
  );
}

/** The user of a live session, or null (unknown, expired, idle too long, or the user deactivated). */
export async function sessionUser(ctx: Context, token: string, policy: SessionPolicy = DEFAULT_SESSION_POLICY): Promise<AuthUser | null> {
  const { db } = ctx.database;
  const now = ctx.clock.now();
  const row = await db
    .selectFrom('sessions as s')
    .innerJoin('users as u', 'u.id', 's.user_id')
    .select(['s.id', 's.user_id', 's.last_seen_at', 's.expires_at', 'u.active'])
    .where('s.id', '=', sha256(token))
    .executeTakeFirst();
  if (!row || !row.active) return null;
  const lastSeen = new Date(row.last_seen_at).getTime();
  if (new Date(row.expires_at).getTime() <= now.getTime() || now.getTime() - lastSeen >= policy.idleMinutes * 60_000) return null;
  if (now.getTime() - lastSeen >= TOUCH_EVERY_MS) await db.updateTable('sessions').set({ last_seen_at: now }).where('id', '=', row.id).execute();
  return authUser(await getUser(db, row.user_id));
}

export async function logout(ctx: Context, token: string): Promise<void> {
  await ctx.database.db.transaction().execute(async (trx) => {
    const gone = await trx
      .deleteFrom('sessions as s')
      .where('s.id', '=', sha256(token))
      .returning((eb) => eb.selectFrom('users as u').whereRef('u.id', '=', 's.user_id').select('u.username').as('username'))
      .executeTakeFirst();
    if (gone?.username) await recordAudit(trx, { actor: ctx.actor, action: 'user.logout', entity: 'user', entityId: gone.username, at: ctx.clock.now() });
  });
}

// --- API tokens ---------------------------------------------------------------------------

export interface CreatedToken extends TokenRow {
  /** The token itself: shown once, never stored. */
  token: string;
}

function selectTokens(db: Executor) {
  return db
    .selectFrom('api_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select(['t.id', 't.name', 't.user_id', 'u.username', 't.created_at', 't.last_used_at', 't.revoked_at']);
}

function toTokenRow(r: Awaited<ReturnType<ReturnType<typeof selectTokens>['executeTakeFirstOrThrow']>>): TokenRow {
  return { id: r.id, name: r.name, userId: r.user_id, username: r.username, createdAt: new Date(r.created_at), lastUsedAt: r.last_used_at, revokedAt: r.revoked_at };
}

/** Tokens, newest first: every user's, or one user's. */
export async function listTokens(db: Executor, idOrUsername?: number | string): Promise<TokenRow[]> {
  let q = selectTokens(db).orderBy('t.id', 'desc');
  if (idOrUsername !== undefined) q = q.where('t.user_id', '=', (await getUser(db, idOrUsername)).id);
  return (await q.execute()).map(toTokenRow);
}

export async function createToken(ctx: Context, idOrUsername: number | string, name: string): Promise<CreatedToken> {
  const label = name.trim();
  if (label === '' || label.length > TOKEN_NAME_MAX) throw ValidationError.of(`a token needs a name of 1 to ${TOKEN_NAME_MAX} characters`, { field: 'name' });
  const token = TOKEN_PREFIX + randomSecret();
  return ctx.database.db.transaction().execute(async (trx) => {
    const user = await getUser(trx, idOrUsername);
    const now = ctx.clock.now();
    const { id } = await trx
      .insertInto('api_tokens')
      .values({ user_id: user.id, name: label, token_hash: sha256(token), created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actor: ctx.actor, action: 'token.create', entity: 'api_token', entityId: id, after: { name: label, username: user.username }, at: now });
    return { ...toTokenRow(await selectTokens(trx).where('t.id', '=', id).executeTakeFirstOrThrow()), token };
  });
}

export async function revokeToken(ctx: Context, id: number): Promise<TokenRow> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const row = await selectTokens(trx).where('t.id', '=', id).executeTakeFirst();
    if (!row) throw new NotFoundError(`API token ${id}`);
    if (row.revoked_at) throw new ConflictError(`API token ${id} was already revoked at ${row.revoked_at.toISOString()}`);
    const now = ctx.clock.now();
    await trx.updateTable('api_tokens').set({ revoked_at: now }).where('id', '=', id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'token.revoke', entity: 'api_token', entityId: id, before: { name: row.name, username: row.username }, at: now });
    return toTokenRow({ ...row, revoked_at: now });
  });
}

/** The user of a live (unrevoked) token whose user is active, or null. */
export async function tokenUser(ctx: Context, token: string): Promise<AuthUser | null> {
  if (!token.startsWith(TOKEN_PREFIX)) return null;
  const { db } = ctx.database;
  const row = await db
    .selectFrom('api_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select(['t.id', 't.user_id', 't.last_used_at', 'u.active'])
    .where('t.token_hash', '=', sha256(token))
    .where('t.revoked_at', 'is', null)
    .executeTakeFirst();
  if (!row || !row.active) return null;
  const now = ctx.clock.now();
  if (!row.last_used_at || now.getTime() - row.last_used_at.getTime() >= TOUCH_EVERY_MS) {
    await db.updateTable('api_tokens').set({ last_used_at: now }).where('id', '=', row.id).execute();
  }
  return authUser(await getUser(db, row.user_id));
}
