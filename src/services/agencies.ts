// Collection agencies: name, active flag, how files reach them (the non-secret transfer
// settings) and the file layout. Secrets (passwords, keys) never go into transfer_config;
// they are kept encrypted in transfer_secret by the transfer work.
import { ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { emailFromProblem, emailListProblem, nameProblem, subjectProblem } from '../domain/settings-validation.ts';
import type { Agency, TransferMethod } from '../db/schema.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';

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
  /** Free-form until the reports work defines the custom layout. */
  layoutConfig: Record<string, unknown>;
}

export interface AgencyInput {
  name: string;
  active?: boolean;
  transferMethod?: TransferMethod;
  transferConfig?: Record<string, unknown>;
  layout?: Layout;
  layoutConfig?: Record<string, unknown>;
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
}

type FieldCheck = (value: string) => { value: string | number } | { reason: string };

// eslint-disable-next-line no-control-regex
const text: FieldCheck = (v) => (/[\u0000-\u001f\u007f]/.test(v) ? { reason: 'must not contain control characters' } : { value: v });
const token: FieldCheck = (v) => (/^[^\s]+$/.test(v) ? { value: v } : { reason: 'must not contain spaces' });
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
  sftp: { host: { check: token, required: true }, port: { check: port, default: 22 }, username: { check: token, required: true }, remoteFolder: { check: text } },
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
  return { config: out, problems };
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

function checkLayoutConfig(value: unknown, problems: Problem[]): void {
  if (value !== undefined && !isPlainObject(value)) problems.push({ field: 'layoutConfig', reason: 'must be an object' });
}

/** JSON with object keys sorted: jsonb does not keep key order, so compare this way. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isPlainObject(v) ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, v[k]])) : v,
  );
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

function selectAgencies(db: Executor) {
  return db.selectFrom('agencies').select(['id', 'name', 'active', 'transfer_method', 'transfer_config', 'layout', 'layout_config']);
}

function toRow(r: Omit<Agency, 'transfer_secret' | 'created_at' | 'updated_at'>): AgencyRow {
  return {
    id: r.id,
    name: r.name,
    active: r.active,
    transferMethod: r.transfer_method,
    transferConfig: r.transfer_config as TransferConfig,
    layout: r.layout,
    layoutConfig: r.layout_config,
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
  checkLayoutConfig(input.layoutConfig, problems);
  const transfer = TRANSFER_METHODS.includes(method) ? validateTransferConfig(method, input.transferConfig ?? {}) : { config: {}, problems: [] };
  problems.push(...transfer.problems);
  if (problems.length) throw new ValidationError(problems);

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
  return ctx.database.db.transaction().execute(async (trx) => {
    const before = await getAgency(trx, idOrName);
    const problems: Problem[] = [];
    const name = changes.rename === undefined ? before.name : checkName(changes.rename, 'rename', problems);
    const method = changes.transferMethod ?? before.transferMethod;
    checkChoice(method, TRANSFER_METHODS, 'transferMethod', problems);
    checkChoice(changes.layout, LAYOUTS, 'layout', problems);
    checkLayoutConfig(changes.layoutConfig, problems);
    const base = method === before.transferMethod ? before.transferConfig : {};
    const transfer = TRANSFER_METHODS.includes(method) ? validateTransferConfig(method, { ...base, ...changes.transferConfig }) : { config: {}, problems: [] };
    problems.push(...transfer.problems);
    if (problems.length) throw new ValidationError(problems);
    if (name !== before.name) await assertNameFree(trx, name, before.id);

    const after: AgencyRow = {
      id: before.id,
      name,
      active: changes.active ?? before.active,
      transferMethod: method,
      transferConfig: transfer.config,
      layout: changes.layout ?? before.layout,
      layoutConfig: changes.layoutConfig ?? before.layoutConfig,
    };
    if (canonical(after) === canonical(before)) return before;
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
        updated_at: now,
      })
      .where('id', '=', before.id)
      .execute();
    const stored = await getAgency(trx, before.id);
    await recordAudit(trx, { actor: ctx.actor, action: 'agency.update', entity: 'agency', entityId: before.id, before, after: stored, at: now });
    return stored;
  });
}
