// ILS connectors: adding one (its connection URL encrypted at rest like agency credentials),
// the mapping of the ILS's codes, testing the connection, listing what it holds and removing it.
// Reading (sync.ts) and writing back (writeback.ts) are their own services.
import { sql } from 'kysely';
import { CONNECTOR_KINDS, type ConnectorConfig, type ConnectorKind, type ConnectorOptions, type ConnectionReport, type IlsCodes, type IlsSession, type Mapping } from '../connectors/types.ts';
import { loadDriver, mergeMapping } from '../connectors/index.ts';
import { asIlsError } from '../connectors/errors.ts';
import { ConnectionUrlError, connectionTarget, describeTarget, effectiveTls } from '../connectors/url.ts';
import { CHARGE_REASONS, PAYMENT_TYPES } from '../domain/import-formats.ts';
import { isTimeZone } from '../domain/dates.ts';
import { ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { recordAudit } from './audit.ts';
import type { Context, Executor } from './context.ts';
import { decryptSecret, encryptSecret, loadSecretKey, scrubSecrets } from './secrets.ts';

export const CONNECTOR_NAME = /^[a-z][a-z0-9_-]{0,30}$/;

export interface ConnectorInput {
  name: string;
  kind: ConnectorKind;
  url: string;
  timeZone: string;
  readOnly?: boolean;
  options?: ConnectorOptions;
}

export interface ConnectorSummary {
  id: number;
  name: string;
  kind: ConnectorKind;
  /** Host and database only: never the user's password. */
  location: string;
  timeZone: string;
  readOnly: boolean;
  options: ConnectorOptions;
  /** The library's own overrides; the stock mapping is the driver's. */
  mapping: Partial<Mapping>;
  libraries: string[];
  patrons: number;
  lastSyncAt: Date | null;
  lastFullSyncAt: Date | null;
  lastSync: unknown;
  writes: { pending: number; failed: number; applied: number };
}

/** What is wrong with a connection URL, alone or with the --tls option beside it; null when nothing. */
function urlProblem(kind: ConnectorKind, url: string, tls: ConnectorOptions['tls']): string | null {
  try {
    effectiveTls(connectionTarget(kind, url), tls);
    return null;
  } catch (err) {
    if (err instanceof ConnectionUrlError) return err.message;
    throw err;
  }
}

const OPTION_TEXT = ['restrictionType', 'comment', 'feeType', 'feeDescription', 'interface', 'tlsCa'] as const;
/** Where the ILS's own column is narrower than 255: Koha's accountlines.interface (16), borrower_debarments.type (50), debit_type_code (80). */
const TEXT_LIMITS: Partial<Record<string, number>> = { tlsCa: 20_000, interface: 16, restrictionType: 50, feeType: 80 };
const OPTION_NUMBERS = ['penaltyId', 'penaltyOrgUnit', 'staffId', 'maxSyncAgeMinutes', 'fullSyncEveryDays'] as const;

export function validateOptions(options: unknown, field = 'options'): { options: ConnectorOptions; problems: Problem[] } {
  const problems: Problem[] = [];
  if (options === undefined || options === null) return { options: {}, problems };
  if (typeof options !== 'object' || Array.isArray(options)) return { options: {}, problems: [{ field, reason: 'must be an object' }] };
  const o = options as Record<string, unknown>;
  const out: ConnectorOptions = {};
  for (const [key, value] of Object.entries(o)) {
    if ((OPTION_TEXT as readonly string[]).includes(key)) {
      const max = TEXT_LIMITS[key] ?? 255;
      if (typeof value !== 'string' || value.length === 0 || value.length > max) problems.push({ field: `${field}.${key}`, reason: `must be a text of 1 to ${max} characters` });
      else (out as Record<string, unknown>)[key] = value;
    } else if ((OPTION_NUMBERS as readonly string[]).includes(key)) {
      if (!Number.isSafeInteger(value) || (value as number) < 1) problems.push({ field: `${field}.${key}`, reason: 'must be a whole number of 1 or more' });
      else (out as Record<string, unknown>)[key] = value;
    } else if (key === 'tls') {
      if (value !== 'require' && value !== 'no-verify') problems.push({ field: `${field}.tls`, reason: 'must be "require" or "no-verify"' });
      else out.tls = value;
    } else if (key === 'patronCode') {
      if (value !== 'sort1' && value !== 'sort2') problems.push({ field: `${field}.patronCode`, reason: 'must be "sort1" or "sort2"' });
      else out.patronCode = value;
    } else problems.push({ field: `${field}.${key}`, reason: `unknown option; options are ${[...OPTION_TEXT, ...OPTION_NUMBERS, 'tls', 'patronCode'].join(', ')}` });
  }
  return { options: out, problems };
}

/** A mapping file: every section optional, every code a known reason, payment kind or zone. */
export function validateMapping(input: unknown): { mapping: Partial<Mapping>; problems: Problem[] } {
  const problems: Problem[] = [];
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return { mapping: {}, problems: [{ field: 'mapping', reason: 'must be an object with charges, payments, methods and libraries' }] };
  const m = input as Record<string, unknown>;
  const out: Partial<Mapping> = {};
  const section = (name: string): Record<string, unknown> | null => {
    const v = m[name];
    if (v === undefined) return null;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      problems.push({ field: `mapping.${name}`, reason: 'must be an object of code → value' });
      return null;
    }
    return v as Record<string, unknown>;
  };
  for (const key of Object.keys(m)) if (!['charges', 'payments', 'methods', 'libraries'].includes(key)) problems.push({ field: `mapping.${key}`, reason: 'unknown section; sections are charges, payments, methods, libraries' });
  const charges = section('charges');
  if (charges) {
    out.charges = {};
    for (const [code, v] of Object.entries(charges)) {
      if (v === 'ignore' || (CHARGE_REASONS as readonly unknown[]).includes(v)) out.charges[code] = v as Mapping['charges'][string];
      else problems.push({ field: `mapping.charges.${code}`, reason: `must be one of ${[...CHARGE_REASONS, 'ignore'].join(', ')}` });
    }
  }
  const payments = section('payments');
  if (payments) {
    out.payments = {};
    for (const [code, v] of Object.entries(payments)) {
      if ((PAYMENT_TYPES as readonly unknown[]).includes(v)) out.payments[code] = v as Mapping['payments'][string];
      else problems.push({ field: `mapping.payments.${code}`, reason: `must be one of ${PAYMENT_TYPES.join(', ')}` });
    }
  }
  const methods = section('methods');
  if (methods) {
    out.methods = {};
    for (const [code, v] of Object.entries(methods)) {
      if (typeof v === 'string' && v.length <= 100) out.methods[code] = v;
      else problems.push({ field: `mapping.methods.${code}`, reason: 'must be a text of at most 100 characters, e.g. "collection agency"' });
    }
  }
  const libraries = section('libraries');
  if (libraries) {
    out.libraries = {};
    for (const [code, v] of Object.entries(libraries)) {
      const lib = v as { timeZone?: unknown; ignore?: unknown };
      const ok = typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).every((k) => k === 'timeZone' || k === 'ignore');
      if (!ok) problems.push({ field: `mapping.libraries.${code}`, reason: 'must be { "timeZone": "America/Chicago" } or { "ignore": true }' });
      else if (lib.timeZone !== undefined && (typeof lib.timeZone !== 'string' || !isTimeZone(lib.timeZone))) problems.push({ field: `mapping.libraries.${code}.timeZone`, reason: `unknown time zone ${JSON.stringify(lib.timeZone)}` });
      else if (lib.ignore !== undefined && typeof lib.ignore !== 'boolean') problems.push({ field: `mapping.libraries.${code}.ignore`, reason: 'must be true or false' });
      else out.libraries[code] = { ...(lib.timeZone !== undefined ? { timeZone: lib.timeZone as string } : {}), ...(lib.ignore !== undefined ? { ignore: lib.ignore as boolean } : {}) };
    }
  }
  return { mapping: out, problems };
}

export async function addConnector(ctx: Context, input: ConnectorInput): Promise<ConnectorSummary> {
  const problems: Problem[] = [];
  if (typeof input.name !== 'string' || !CONNECTOR_NAME.test(input.name)) problems.push({ field: 'name', reason: 'must start with a lower-case letter and hold only a-z, 0-9, _ and - (at most 31): it prefixes the ids of the records it reads, e.g. koha:1042' });
  if (!(CONNECTOR_KINDS as readonly string[]).includes(input.kind)) problems.push({ field: 'kind', reason: `must be one of ${CONNECTOR_KINDS.join(', ')}` });
  else {
    const tls = (input.options as ConnectorOptions | undefined)?.tls;
    const bad = typeof input.url === 'string' ? urlProblem(input.kind, input.url, tls) : 'a connection URL is required';
    if (bad) problems.push({ field: 'url', reason: bad });
  }
  if (typeof input.timeZone !== 'string' || !isTimeZone(input.timeZone)) problems.push({ field: 'timeZone', reason: `unknown time zone ${JSON.stringify(input.timeZone)}; the ILS's local zone, e.g. America/Chicago` });
  const { options, problems: optionProblems } = validateOptions(input.options);
  problems.push(...optionProblems);
  if (problems.length) throw new ValidationError(problems);
  const key = await loadSecretKey(ctx.database);
  const now = ctx.clock.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    const clash = await trx.selectFrom('connectors').select('id').where('name', '=', input.name).executeTakeFirst();
    if (clash) throw new ConflictError(`a connector named "${input.name}" already exists`);
    const row = await trx
      .insertInto('connectors')
      .values({ name: input.name, kind: input.kind, url_secret: encryptSecret(key, input.url), location: describeTarget(input.kind, input.url), time_zone: input.timeZone, read_only: input.readOnly ?? false, options: JSON.stringify(options), created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    await recordAudit(trx, { actor: ctx.actor, action: 'connector.add', entity: 'connector', entityId: input.name, after: { kind: input.kind, location: describeTarget(input.kind, input.url), timeZone: input.timeZone, readOnly: input.readOnly ?? false, options }, at: now });
    return (await summaries(trx, row.id))[0]!;
  });
}

export interface ConnectorChanges {
  url?: string;
  timeZone?: string;
  readOnly?: boolean;
  options?: ConnectorOptions;
}

export async function updateConnector(ctx: Context, name: string, changes: ConnectorChanges): Promise<ConnectorSummary> {
  const current = await connectorRow(ctx.database.db, name);
  const problems: Problem[] = [];
  if (changes.timeZone !== undefined && !isTimeZone(changes.timeZone)) problems.push({ field: 'timeZone', reason: `unknown time zone ${JSON.stringify(changes.timeZone)}` });
  const validated = changes.options === undefined ? null : validateOptions(changes.options);
  if (validated) problems.push(...validated.problems);
  const key = changes.url !== undefined || validated ? await loadSecretKey(ctx.database) : null;
  if (key) {
    // The URL's TLS mode and the --tls option must agree, whichever of the two changes.
    const url = changes.url ?? decryptSecret(key, current.url_secret);
    const bad = urlProblem(current.kind, url, validated && !validated.problems.length ? validated.options.tls : (current.options as ConnectorOptions | null)?.tls);
    if (bad) problems.push({ field: changes.url !== undefined ? 'url' : 'options.tls', reason: bad });
  }
  if (problems.length) throw new ValidationError(problems);
  const now = ctx.clock.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    await trx
      .updateTable('connectors')
      .set({
        ...(key && changes.url !== undefined ? { url_secret: encryptSecret(key, changes.url), location: describeTarget(current.kind, changes.url) } : {}),
        ...(changes.timeZone !== undefined ? { time_zone: changes.timeZone } : {}),
        ...(changes.readOnly !== undefined ? { read_only: changes.readOnly } : {}),
        ...(validated ? { options: JSON.stringify(validated.options) } : {}),
        updated_at: now,
      })
      .where('id', '=', current.id)
      .execute();
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'connector.update',
      entity: 'connector',
      entityId: name,
      before: { timeZone: current.time_zone, readOnly: current.read_only, options: current.options },
      after: { ...(changes.url !== undefined ? { location: describeTarget(current.kind, changes.url) } : {}), timeZone: changes.timeZone, readOnly: changes.readOnly, options: validated?.options },
      at: now,
    });
    return (await summaries(trx, current.id))[0]!;
  });
}

/** Replaces the library's mapping overrides (the stock mapping stays underneath). */
export async function setMapping(ctx: Context, name: string, input: unknown): Promise<ConnectorSummary> {
  const current = await connectorRow(ctx.database.db, name);
  const { mapping, problems } = validateMapping(input);
  if (problems.length) throw new ValidationError(problems);
  const now = ctx.clock.now();
  return ctx.database.db.transaction().execute(async (trx) => {
    await trx.updateTable('connectors').set({ mapping: JSON.stringify(mapping), updated_at: now }).where('id', '=', current.id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'connector.map', entity: 'connector', entityId: name, before: current.mapping, after: mapping, at: now });
    return (await summaries(trx, current.id))[0]!;
  });
}

/** Removes a connector. Its libraries become CSV libraries; its patrons and their history stay. */
export async function removeConnector(ctx: Context, name: string): Promise<void> {
  const current = await connectorRow(ctx.database.db, name);
  const now = ctx.clock.now();
  await ctx.database.db.transaction().execute(async (trx) => {
    const busy = await trx.selectFrom('connector_writes').select((eb) => eb.fn.countAll<number>().as('n')).where('connector_id', '=', current.id).where('status', 'in', ['pending', 'applying']).executeTakeFirstOrThrow();
    if (Number(busy.n) > 0) throw new ConflictError(`connector "${name}" still has ${busy.n} write-backs to apply; run \`arrears writeback ${name}\` (or let them fail) before removing it`);
    await trx.updateTable('libraries').set({ connector_id: null }).where('connector_id', '=', current.id).execute();
    await trx.deleteFrom('connectors').where('id', '=', current.id).execute();
    await recordAudit(trx, { actor: ctx.actor, action: 'connector.remove', entity: 'connector', entityId: name, before: { kind: current.kind, timeZone: current.time_zone }, at: now });
  });
}

async function connectorRow(db: Executor, name: string) {
  const row = await db.selectFrom('connectors').selectAll().where('name', '=', name).executeTakeFirst();
  if (!row) throw new NotFoundError(`connector "${name}"`);
  return row;
}

export async function listConnectors(db: Executor): Promise<ConnectorSummary[]> {
  return summaries(db);
}

export async function getConnectorSummary(db: Executor, name: string): Promise<ConnectorSummary> {
  const row = await connectorRow(db, name);
  return (await summaries(db, row.id))[0]!;
}

async function summaries(db: Executor, id?: number): Promise<ConnectorSummary[]> {
  const rows = await sql<{
    id: number;
    name: string;
    kind: ConnectorKind;
    url_secret: string;
    time_zone: string;
    read_only: boolean;
    options: ConnectorOptions;
    mapping: Partial<Mapping>;
    last_sync_at: Date | null;
    last_full_sync_at: Date | null;
    last_sync: unknown;
    libraries: string[] | null;
    patrons: number;
    pending: number;
    failed: number;
    applied: number;
    location: string;
  }>`
    select c.*,
      (select array_agg(l.code order by l.code) from libraries l where l.connector_id = c.id) as libraries,
      (select count(*)::int from patrons p join libraries l on l.code = p.home_library where l.connector_id = c.id) as patrons,
      (select count(*)::int from connector_writes w where w.connector_id = c.id and w.status in ('pending', 'applying')) as pending,
      (select count(*)::int from connector_writes w where w.connector_id = c.id and w.status = 'failed') as failed,
      (select count(*)::int from connector_writes w where w.connector_id = c.id and w.status = 'applied') as applied
    from connectors c
    where ${id ?? null}::int is null or c.id = ${id ?? null}::int
    order by c.name`.execute(db);
  return rows.rows.map((r) => ({
    id: r.id,
    name: r.name,
    kind: r.kind,
    location: r.location,
    timeZone: r.time_zone,
    readOnly: r.read_only,
    options: r.options,
    mapping: r.mapping,
    libraries: r.libraries ?? [],
    patrons: r.patrons,
    lastSyncAt: r.last_sync_at,
    lastFullSyncAt: r.last_full_sync_at,
    lastSync: r.last_sync,
    writes: { pending: r.pending, failed: r.failed, applied: r.applied },
  }));
}

/** The connector as a driver needs it: URL decrypted, stock mapping with the library's overrides. */
export async function loadConnector(ctx: Context, name: string): Promise<ConnectorConfig> {
  const row = await connectorRow(ctx.database.db, name);
  const key = await loadSecretKey(ctx.database);
  const driver = await loadDriver(row.kind);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    url: decryptSecret(key, row.url_secret),
    timeZone: row.time_zone,
    readOnly: row.read_only,
    options: row.options as ConnectorOptions,
    mapping: mergeMapping(driver.stockMapping, row.mapping as Partial<Mapping>),
  };
}

/** Opens a session on the connector's ILS; an error names the connector and never carries the URL's password. */
export async function openIls(config: ConnectorConfig): Promise<IlsSession> {
  const driver = await loadDriver(config.kind);
  try {
    return await driver.open(config);
  } catch (err) {
    throw scrubbed(config, asIlsError(config.name, err));
  }
}

/** Runs fn on an open ILS session, closed after. */
export async function withIlsSession<T>(config: ConnectorConfig, fn: (s: IlsSession) => Promise<T>): Promise<T> {
  const session = await openIls(config);
  try {
    return await fn(session);
  } catch (err) {
    throw scrubbed(config, asIlsError(config.name, err));
  } finally {
    await session.close();
  }
}

function scrubbed(config: ConnectorConfig, err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const secrets: string[] = [config.url];
  try {
    // Read as the driver reads it: a socket URL without a host is no WHATWG URL.
    const { password } = connectionTarget(config.kind, config.url);
    if (password) secrets.push(password);
  } catch {
    /* not a URL */
  }
  err.message = scrubSecrets(err.message, secrets);
  return err;
}

export async function testConnector(ctx: Context, name: string): Promise<ConnectionReport & { connector: string; ok: boolean }> {
  const config = await loadConnector(ctx, name);
  const report = await withIlsSession(config, (s) => s.test());
  return { connector: name, ok: report.privileges.every((p) => p.ok), ...report };
}

/** The ILS's codes read live, the mapping in force, and the driver's stock mapping under it. */
export async function connectorCodes(ctx: Context, name: string): Promise<IlsCodes & { mapping: Mapping; stock: Mapping }> {
  const config = await loadConnector(ctx, name);
  const codes = await withIlsSession(config, (s) => s.codes());
  return { ...codes, mapping: config.mapping, stock: (await loadDriver(config.kind)).stockMapping };
}
