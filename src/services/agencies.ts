// Collection agencies: name, active flag, how files reach them (the non-secret transfer
// settings) and the file layout. Secrets (passwords, keys) never go into transfer_config;
// they are kept encrypted in transfer_secret (see secrets.ts) and only ever shown masked.
import { createHash } from 'node:crypto';
import { ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { validateCustomLayout } from '../domain/report-layouts.ts';
import { emailFromProblem, emailListProblem, nameProblem, subjectProblem } from '../domain/settings-validation.ts';
import type { Agency, TransferMethod } from '../db/schema.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { destinationProblem } from './transfer/allow.ts';
import { decryptSecrets, encryptSecret, loadSecretKey, MASKED, packSecrets, scrubSecrets, unpackSecrets } from './secrets.ts';
import { loadSsh2 } from './transfer/host-key.ts';
import type { ParsedKey } from 'ssh2';

export type { TransferMethod };
export type Layout = 'arrears' | 'ums' | 'custom';
export type TransferConfig = Record<string, string | number>;

export const TRANSFER_METHODS: readonly TransferMethod[] = ['sftp', 's3', 'email', 'folder', 'none'];
export const LAYOUTS: readonly Layout[] = ['arrears', 'ums', 'custom'];
export const AGENCY_NAME_MAX = 100;

export interface AgencyRow {
  id: number;
  name: string;
  active: boolean;
  transferMethod: TransferMethod;
  transferConfig: TransferConfig;
  layout: Layout;
  /** The custom layout's settings (validateCustomLayout); {} for the others. */
  layoutConfig: Record<string, unknown>;
  /** Which credentials are stored (never their values); absent when none are. */
  secrets?: SecretFlags;
}

/** Transfer credentials: kept only encrypted, never printed back in full. */
export interface AgencySecrets {
  password?: string;
  /** An OpenSSH or PEM private key, as text. */
  privateKey?: string;
  passphrase?: string;
  secretAccessKey?: string;
}
export type SecretName = keyof AgencySecrets;

export interface SecretFlags {
  hasPassword: boolean;
  hasPrivateKey: boolean;
  hasPassphrase: boolean;
  hasSecretAccessKey: boolean;
}

const SECRET_NAMES: readonly SecretName[] = ['password', 'privateKey', 'passphrase', 'secretAccessKey'];
const SECRET_FIELDS: Record<TransferMethod, readonly SecretName[]> = { sftp: ['password', 'privateKey', 'passphrase'], s3: ['secretAccessKey'], email: [], folder: [], none: [] };
const SECRET_MAX: Record<SecretName, number> = { password: 1000, privateKey: 20_000, passphrase: 1000, secretAccessKey: 1000 };

export interface AgencyInput {
  name: string;
  active?: boolean;
  transferMethod?: TransferMethod;
  transferConfig?: Record<string, unknown>;
  layout?: Layout;
  layoutConfig?: Record<string, unknown>;
  secrets?: AgencySecrets;
}

/**
 * Edits; transferConfig keys are merged into the current settings while the method stays the
 * same (a blank value removes the key), and replace them when the method changes.
 */
export interface AgencyChanges {
  rename?: string;
  active?: boolean;
  transferMethod?: TransferMethod;
  transferConfig?: Record<string, unknown>;
  layout?: Layout;
  layoutConfig?: Record<string, unknown>;
  /** Replaces the named secrets; a blank value removes one. Secrets the method does not use are dropped when it changes. */
  secrets?: AgencySecrets;
}

type FieldCheck = (value: string) => { value: string | number } | { reason: string };

// eslint-disable-next-line no-control-regex
const text: FieldCheck = (v) => (/[\u0000-\u001f\u007f]/.test(v) ? { reason: 'must not contain control characters' } : { value: v });
const token: FieldCheck = (v) => (/^[^\s]+$/.test(v) ? { value: v } : { reason: 'must not contain spaces' });
// As `ssh-keygen -lf` and OpenSSH print it: SHA256 of the host key, unpadded base64.
const hostKey: FieldCheck = (v) =>
  /^SHA256:[A-Za-z0-9+/]{43}$/.test(v) ? { value: v } : { reason: 'must be the server key\'s SHA256 fingerprint as ssh-keygen -lf prints it, like SHA256:u0QvB…(43 characters)' };
const port: FieldCheck = (v) => {
  const n = /^\d{1,5}$/.test(v) ? Number(v) : NaN;
  return n >= 1 && n <= 65535 ? { value: n } : { reason: 'must be a whole number from 1 to 65535' };
};
const bucket: FieldCheck = (v) =>
  /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(v) ? { value: v } : { reason: 'must be an S3 bucket name: 3 to 63 lower-case letters, digits, "." or "-"' };
const url: FieldCheck = (v) => {
  try {
    const u = new URL(v);
    if (u.protocol === 'https:' || u.protocol === 'http:') return { value: v };
  } catch {
    /* reported below */
  }
  return { reason: 'must be an http:// or https:// URL' };
};
const fromAddress: FieldCheck = (v) => {
  const reason = emailFromProblem(v);
  return reason ? { reason } : { value: v };
};
const addressList: FieldCheck = (v) => {
  const reason = emailListProblem(v);
  return reason ? { reason } : { value: v };
};
const subject: FieldCheck = (v) => {
  const reason = subjectProblem(v);
  return reason ? { reason } : { value: v };
};

interface FieldSpec {
  check: FieldCheck;
  required?: boolean;
  default?: number;
}

const TRANSFER_FIELDS: Record<TransferMethod, Record<string, FieldSpec>> = {
  sftp: { host: { check: token, required: true }, port: { check: port, default: 22 }, username: { check: token, required: true }, remoteFolder: { check: text }, hostKey: { check: hostKey } },
  s3: { bucket: { check: bucket, required: true }, prefix: { check: text }, region: { check: token }, endpoint: { check: url }, accessKeyId: { check: token } },
  email: { from: { check: fromAddress }, to: { check: addressList, required: true }, cc: { check: addressList }, subject: { check: subject } },
  folder: { path: { check: text, required: true } },
  none: {},
};

const SECRET_KEYS = ['password', 'passphrase', 'privateKey', 'secret', 'secretAccessKey', 'accessKey', 'key', 'token'];

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The stored transfer settings for a method; every problem names `transferConfig.<key>`. */
export function validateTransferConfig(method: TransferMethod, config: Record<string, unknown>): { config: TransferConfig; problems: Problem[] } {
  const fields = TRANSFER_FIELDS[method];
  const problems: Problem[] = [];
  const out: TransferConfig = {};
  for (const [key, raw] of Object.entries(config)) {
    const field = `transferConfig.${key}`;
    if (SECRET_KEYS.includes(key)) {
      problems.push({ field, reason: 'secrets are not kept with the transfer settings; they are stored encrypted, separately' });
      continue;
    }
    const spec = fields[key];
    if (!spec) {
      problems.push({ field, reason: `is not a setting of the ${method} transfer method${Object.keys(fields).length ? ` (it has ${Object.keys(fields).join(', ')})` : ''}` });
      continue;
    }
    if (raw === undefined || raw === null || raw === '') continue;
    if (typeof raw !== 'string' && typeof raw !== 'number') {
      problems.push({ field, reason: 'must be a string' });
      continue;
    }
    const checked = spec.check(String(raw).trim());
    if ('reason' in checked) problems.push({ field, reason: checked.reason });
    else out[key] = checked.value;
  }
  for (const [key, spec] of Object.entries(fields)) {
    if (out[key] !== undefined || problems.some((p) => p.field === `transferConfig.${key}`)) continue;
    if (spec.required) problems.push({ field: `transferConfig.${key}`, reason: `is required for the ${method} transfer method` });
    else if (spec.default !== undefined) out[key] = spec.default;
  }
  if (problems.length === 0) {
    const refused = destinationProblem({ method, config: out });
    if (refused) problems.push({ field: `transferConfig.${refused.key}`, reason: refused.reason });
  }
  return { config: out, problems };
}

function parsedKey(privateKey: string, passphrase: string | undefined): ParsedKey | Error {
  const parsed = loadSsh2().utils.parseKey(privateKey, passphrase) as ParsedKey | ParsedKey[] | Error;
  return Array.isArray(parsed) ? (parsed[0] ?? new Error('no key found')) : parsed;
}

/** Checks the secrets given for a method; blank values (removals) are always accepted. */
function checkSecrets(method: TransferMethod, secrets: AgencySecrets, problems: Problem[]): Partial<Record<SecretName, string>> {
  const out: Partial<Record<SecretName, string>> = {};
  const allowed = SECRET_FIELDS[method];
  for (const [name, value] of Object.entries(secrets as Record<string, unknown>)) {
    const field = `secrets.${name}`;
    if (value === undefined) continue;
    if (!SECRET_NAMES.includes(name as SecretName)) {
      problems.push({ field, reason: `is not a transfer secret (they are ${SECRET_NAMES.join(', ')})` });
      continue;
    }
    const secretName = name as SecretName;
    if (typeof value !== 'string') {
      problems.push({ field, reason: 'must be a string' });
      continue;
    }
    if (value === '') {
      out[secretName] = '';
      continue;
    }
    if (!allowed.includes(secretName)) {
      problems.push({ field, reason: allowed.length ? `is not a secret of the ${method} transfer method (it has ${allowed.join(', ')})` : `the ${method} transfer method takes no secrets` });
      continue;
    }
    if (value.length > SECRET_MAX[secretName]) {
      problems.push({ field, reason: `must be at most ${SECRET_MAX[secretName]} characters` });
      continue;
    }
    out[secretName] = value;
  }
  if (out.privateKey) {
    const parsed = parsedKey(out.privateKey, out.passphrase || undefined);
    if (parsed instanceof Error) {
      const reason = /passphrase/i.test(parsed.message) && !out.passphrase ? 'is encrypted: give its passphrase too' : `is not a private key ssh can use (${scrubSecrets(parsed.message, [out.privateKey, out.passphrase ?? ''])})`;
      problems.push({ field: 'secrets.privateKey', reason });
    } else if (!parsed.isPrivateKey()) {
      problems.push({ field: 'secrets.privateKey', reason: 'is a public key; give the private key' });
    }
  }
  return out;
}

function secretFlags(stored: string | null): SecretFlags | undefined {
  const names = Object.keys(unpackSecrets(stored));
  if (names.length === 0) return undefined;
  return { hasPassword: names.includes('password'), hasPrivateKey: names.includes('privateKey'), hasPassphrase: names.includes('passphrase'), hasSecretAccessKey: names.includes('secretAccessKey') };
}

/** The stored column after applying `changes`: kept values stay encrypted as they were, given ones are encrypted anew. */
function mergeSecrets(stored: string | null, keep: readonly SecretName[], changes: Partial<Record<SecretName, string>>, key: Buffer | undefined): string | null {
  const sealed = Object.fromEntries(Object.entries(unpackSecrets(stored)).filter(([n]) => keep.includes(n as SecretName)));
  for (const [name, value] of Object.entries(changes)) {
    if (value === '') delete sealed[name];
    else sealed[name] = encryptSecret(key!, value);
  }
  return packSecrets(sealed);
}

function needsKey(changes: AgencySecrets | undefined): boolean {
  return Object.values(changes ?? {}).some((v) => typeof v === 'string' && v !== '');
}

function checkName(raw: string, field: string, problems: Problem[]): string {
  const name = raw.trim();
  const reason = nameProblem(name, AGENCY_NAME_MAX);
  if (reason) problems.push({ field, reason });
  return name;
}

function checkChoice<T extends string>(value: T | undefined, allowed: readonly T[], field: string, problems: Problem[]): void {
  if (value !== undefined && !allowed.includes(value)) problems.push({ field, reason: `must be one of ${allowed.join(', ')}` });
}

/** A custom layout's settings are checked field by field (domain/report-layouts.ts); the other layouts have none. */
function checkLayoutConfig(layout: Layout | undefined, value: unknown, problems: Problem[]): void {
  if (value !== undefined && !isPlainObject(value)) problems.push({ field: 'layoutConfig', reason: 'must be an object' });
  else if (layout === 'custom') problems.push(...validateCustomLayout(value ?? {}).problems);
  else if (value !== undefined && Object.keys(value).length > 0) problems.push({ field: 'layoutConfig', reason: `the ${layout ?? 'arrears'} layout has no settings: leave layoutConfig out (or {})` });
}

/** JSON with object keys sorted: jsonb does not keep key order, so compare this way. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function selectAgencies(db: Executor) {
  return db.selectFrom('agencies').select(['id', 'name', 'active', 'transfer_method', 'transfer_config', 'layout', 'layout_config', 'transfer_secret']);
}

function toRow(r: Omit<Agency, 'created_at' | 'updated_at'>): AgencyRow {
  const secrets = secretFlags(r.transfer_secret);
  return {
    id: r.id,
    name: r.name,
    active: r.active,
    transferMethod: r.transfer_method,
    transferConfig: r.transfer_config as TransferConfig,
    layout: r.layout,
    layoutConfig: r.layout_config,
    ...(secrets ? { secrets } : {}),
  };
}

/** Every agency, sorted by name (code-point order, the same on every machine). */
export async function listAgencies(db: Executor): Promise<AgencyRow[]> {
  return (await selectAgencies(db).execute()).map(toRow).sort(byName);
}

/** By id (a number or a string of digits) or by exact name; agency names are never only digits. */
export async function getAgency(db: Executor, idOrName: number | string): Promise<AgencyRow> {
  const query = selectAgencies(db);
  const key = String(idOrName).trim();
  const row = /^\d+$/.test(key) ? await query.where('id', '=', Number(key)).executeTakeFirst() : await query.where('name', '=', key).executeTakeFirst();
  if (!row) throw new NotFoundError(`agency "${key}"`);
  return toRow(row);
}

async function assertNameFree(db: Executor, name: string, exceptId?: number): Promise<void> {
  const clash = await db.selectFrom('agencies').select('id').where('name', '=', name).executeTakeFirst();
  if (clash && clash.id !== exceptId) throw new ConflictError(`an agency named "${name}" already exists`);
}

export async function addAgency(ctx: Context, input: AgencyInput): Promise<AgencyRow> {
  const problems: Problem[] = [];
  const name = checkName(input.name, 'name', problems);
  const method = input.transferMethod ?? 'none';
  checkChoice(method, TRANSFER_METHODS, 'transferMethod', problems);
  checkChoice(input.layout, LAYOUTS, 'layout', problems);
  checkLayoutConfig(input.layout, input.layoutConfig, problems);
  const transfer = TRANSFER_METHODS.includes(method) ? validateTransferConfig(method, input.transferConfig ?? {}) : { config: {}, problems: [] };
  problems.push(...transfer.problems);
  const secrets = TRANSFER_METHODS.includes(method) ? checkSecrets(method, input.secrets ?? {}, problems) : {};
  if (problems.length) throw new ValidationError(problems);
  // Before the transaction: on PGlite a query outside it would wait for it forever.
  const key = needsKey(secrets) ? await loadSecretKey(ctx.database) : undefined;

  return ctx.database.db.transaction().execute(async (trx) => {
    await assertNameFree(trx, name);
    const now = ctx.clock.now();
    const { id } = await trx
      .insertInto('agencies')
      .values({
        name,
        active: input.active ?? true,
        transfer_method: method,
        transfer_config: JSON.stringify(transfer.config),
        layout: input.layout ?? 'arrears',
        layout_config: JSON.stringify(input.layoutConfig ?? {}),
        transfer_secret: mergeSecrets(null, [], secrets, key),
        created_at: now,
        updated_at: now,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const agency = await getAgency(trx, id);
    await recordAudit(trx, { actor: ctx.actor, action: 'agency.create', entity: 'agency', entityId: id, after: agency, at: now });
    return agency;
  });
}

export async function editAgency(ctx: Context, idOrName: number | string, changes: AgencyChanges): Promise<AgencyRow> {
  // Before the transaction: on PGlite a query outside it would wait for it forever.
  const key = needsKey(changes.secrets) ? await loadSecretKey(ctx.database) : undefined;
  return ctx.database.db.transaction().execute(async (trx) => {
    const before = await getAgency(trx, idOrName);
    const problems: Problem[] = [];
    const name = changes.rename === undefined ? before.name : checkName(changes.rename, 'rename', problems);
    const method = changes.transferMethod ?? before.transferMethod;
    checkChoice(method, TRANSFER_METHODS, 'transferMethod', problems);
    checkChoice(changes.layout, LAYOUTS, 'layout', problems);
    const layout = changes.layout ?? before.layout;
    // Leaving the custom layout leaves its settings behind.
    const layoutConfig = changes.layoutConfig ?? (layout === 'custom' ? before.layoutConfig : {});
    checkLayoutConfig(layout, layoutConfig, problems);
    const base = method === before.transferMethod ? before.transferConfig : {};
    const transfer = TRANSFER_METHODS.includes(method) ? validateTransferConfig(method, { ...base, ...changes.transferConfig }) : { config: {}, problems: [] };
    problems.push(...transfer.problems);
    const secretChanges = TRANSFER_METHODS.includes(method) ? checkSecrets(method, changes.secrets ?? {}, problems) : {};
    if (problems.length) throw new ValidationError(problems);
    if (name !== before.name) await assertNameFree(trx, name, before.id);

    const { transfer_secret: storedSecret } = await trx.selectFrom('agencies').select('transfer_secret').where('id', '=', before.id).executeTakeFirstOrThrow();
    const secret = mergeSecrets(storedSecret, SECRET_FIELDS[method], secretChanges, key);
    const secrets = secretFlags(secret);
    const after: AgencyRow = {
      id: before.id,
      name,
      active: changes.active ?? before.active,
      transferMethod: method,
      transferConfig: transfer.config,
      layout,
      layoutConfig,
      ...(secrets ? { secrets } : {}),
    };
    // Names only: a replaced password leaves the flags as they were but is still a change.
    const secretsChanged = Object.keys(secretChanges).filter((n) => secretChanges[n as SecretName] !== '' || n in unpackSecrets(storedSecret));
    if (canonical(after) === canonical(before) && secretsChanged.length === 0) return before;
    const now = ctx.clock.now();
    await trx
      .updateTable('agencies')
      .set({
        name: after.name,
        active: after.active,
        transfer_method: after.transferMethod,
        transfer_config: JSON.stringify(after.transferConfig),
        layout: after.layout,
        layout_config: JSON.stringify(after.layoutConfig),
        transfer_secret: secret,
        updated_at: now,
      })
      .where('id', '=', before.id)
      .execute();
    const stored = await getAgency(trx, before.id);
    const audited = secretsChanged.length ? { ...stored, secretsChanged: secretsChanged.sort() } : stored;
    await recordAudit(trx, { actor: ctx.actor, action: 'agency.update', entity: 'agency', entityId: before.id, before, after: audited, at: now });
    return stored;
  });
}

/** The decrypted credentials of an agency, for a transfer; `key` from loadSecretKey. */
export async function readAgencySecrets(db: Executor, agencyId: number, key: Buffer): Promise<AgencySecrets> {
  const row = await db.selectFrom('agencies').select('transfer_secret').where('id', '=', agencyId).executeTakeFirst();
  if (!row) throw new NotFoundError(`agency ${agencyId}`);
  return decryptSecrets(key, row.transfer_secret) as AgencySecrets;
}

/** "SHA256:…" of the public half, the form `ssh-keygen -l` prints: identifies a key without showing it. */
function keyFingerprint(privateKey: string, passphrase: string | undefined): string {
  const parsed = parsedKey(privateKey, passphrase);
  if (parsed instanceof Error) return 'set (cannot be read: check its passphrase)';
  return `${parsed.type} SHA256:${createHash('sha256').update(parsed.getPublicSSH()).digest('base64').replace(/=+$/, '')}`;
}

/** Each stored secret as "••••••" (set, nothing more), the private key by its fingerprint. Needs the key. */
export async function describeAgencySecrets(ctx: Context, idOrName: number | string): Promise<Partial<Record<SecretName, string>>> {
  const agency = await getAgency(ctx.database.db, idOrName);
  if (!agency.secrets) return {};
  const plain = await readAgencySecrets(ctx.database.db, agency.id, await loadSecretKey(ctx.database));
  const out: Partial<Record<SecretName, string>> = {};
  for (const name of SECRET_NAMES) {
    const value = plain[name];
    if (value === undefined) continue;
    out[name] = name === 'privateKey' ? keyFingerprint(value, plain.passphrase) : MASKED;
  }
  return out;
}
