// Transfer credentials encrypted at rest: AES-256-GCM with a fresh 12-byte IV per value,
// stored as "v1:<iv>:<tag>:<ciphertext>" (base64). The key never lives in the database:
// it comes from ARREARS_SECRET_KEY, ARREARS_SECRET_KEY_FILE or, for an embedded PGlite
// data folder only, a key file created inside that folder on first use.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Database } from '../db/connection.ts';
import { ArrearsError } from '../domain/errors.ts';

/** The key file an embedded data folder gets when no key is configured. */
export const KEY_FILE_NAME = 'arrears-secret.key';

const VERSION = 'v1';
const IV_BYTES = 12;
const KEY_BYTES = 32;
/** GCM's full tag: a shorter one given to the decipher would be accepted, and forged far more easily. */
const TAG_BYTES = 16;
const MASK = '••••••';
const HOW_TO_MAKE_A_KEY = '32 random bytes in base64 or hex, e.g. `openssl rand -base64 32`';

/** A missing, malformed or wrong key: a configuration problem the operator must fix. */
export class SecretKeyError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 500;
  constructor(message: string) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/** Reads a key written as base64 (standard or URL-safe) or hex; `source` names where it came from, never the value. */
export function parseSecretKey(text: string, source: string): Buffer {
  const t = text.trim();
  let key: Buffer | null = null;
  if (/^[0-9a-fA-F]{64}$/.test(t)) key = Buffer.from(t, 'hex');
  else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) key = Buffer.from(t.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  if (!key || key.length !== KEY_BYTES) throw new SecretKeyError(`${source} is not a valid key: it must be ${HOW_TO_MAKE_A_KEY}`);
  return key;
}

export function encryptSecret(key: Buffer, plaintext: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ciphertext.toString('base64')].join(':');
}

const WRONG_KEY = 'cannot decrypt agency secrets: wrong key (the configured key is not the one they were stored with)';

export function decryptSecret(key: Buffer, stored: string): string {
  const parts = stored.split(':');
  if (parts.length !== 4 || parts[0] !== VERSION) throw new SecretKeyError('cannot decrypt agency secrets: the stored value is not in a known format');
  const [iv, tag, ciphertext] = parts.slice(1).map((p) => Buffer.from(p, 'base64')) as [Buffer, Buffer, Buffer];
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretKeyError('cannot decrypt agency secrets: the stored value is not in a known format');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    // GCM cannot tell a wrong key from a damaged value; the key is by far the likelier cause.
    throw new SecretKeyError(WRONG_KEY);
  }
}

/** What is shown for a stored secret: that it is set, and nothing of it (not a character, not its length). */
export const MASKED = MASK;

/**
 * Several named secrets in one column: a JSON object of name → encrypted value. The names
 * (which secrets are set) are readable without the key; each value has its own IV.
 */
export function packSecrets(sealed: Record<string, string>): string | null {
  const names = Object.keys(sealed).sort();
  return names.length === 0 ? null : JSON.stringify(Object.fromEntries(names.map((n) => [n, sealed[n]])));
}

/** The encrypted values by name, still encrypted; `{}` for a null column. */
export function unpackSecrets(stored: string | null): Record<string, string> {
  if (!stored) return {};
  const parsed: unknown = JSON.parse(stored);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new SecretKeyError('cannot decrypt agency secrets: the stored value is not in a known format');
  return parsed as Record<string, string>;
}

export function decryptSecrets(key: Buffer, stored: string | null): Record<string, string> {
  return Object.fromEntries(Object.entries(unpackSecrets(stored)).map(([n, v]) => [n, decryptSecret(key, v)]));
}

/** Replaces every occurrence of each secret (and each long line of a multi-line one, such as a private key) in a message. */
export function scrubSecrets(text: string, secrets: Iterable<string>): string {
  const needles = new Set<string>();
  for (const s of secrets) {
    if (s.length >= 4) needles.add(s);
    for (const line of s.split(/\r?\n/)) if (line.trim().length >= 8) needles.add(line.trim());
  }
  let out = text;
  // Longest first, so a whole key is replaced before its lines are.
  for (const n of [...needles].sort((a, b) => b.length - a.length)) out = out.split(n).join(MASK);
  return out;
}

export interface KeyOptions {
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Where the one-time "created a key file" notice goes (default: stderr). */
  log?: (line: string) => void;
}

const memoryKeys = new WeakMap<Database, Buffer>();

/** One stored secret in the packed form (agency credentials, or a connector's URL), to check a key against. */
async function someStoredSecret(database: Database): Promise<string | null> {
  const row = await database.db.selectFrom('agencies').select('transfer_secret').where('transfer_secret', 'is not', null).limit(1).executeTakeFirst();
  if (row?.transfer_secret) return row.transfer_secret;
  const connector = await database.db.selectFrom('connectors').select('url_secret').limit(1).executeTakeFirst();
  return connector ? packSecrets({ url: connector.url_secret }) : null;
}

function readKeyFile(path: string, source: string): Buffer | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SecretKeyError(`${source}: cannot read ${path}: ${(err as Error).message}`);
  }
  return parseSecretKey(text, `${source} ${path}`);
}

function notSet(why: string): SecretKeyError {
  return new SecretKeyError(`ARREARS_SECRET_KEY is not set: ${why}. Set it to ${HOW_TO_MAKE_A_KEY}, or set ARREARS_SECRET_KEY_FILE to a file holding it`);
}

/**
 * The key that encrypts agency credentials, checked against a stored secret when there is
 * one (a wrong key fails here, clearly, not halfway through a delivery). Queries through
 * `database.db`: on PGlite, do not call it inside a transaction.
 */
export async function loadSecretKey(database: Database, options: KeyOptions = {}): Promise<Buffer> {
  const env = options.env ?? process.env;
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const stored = await someStoredSecret(database);
  let key: Buffer;
  if (env.ARREARS_SECRET_KEY) {
    key = parseSecretKey(env.ARREARS_SECRET_KEY, 'ARREARS_SECRET_KEY');
  } else if (env.ARREARS_SECRET_KEY_FILE) {
    const found = readKeyFile(env.ARREARS_SECRET_KEY_FILE, 'ARREARS_SECRET_KEY_FILE');
    if (!found) throw new SecretKeyError(`ARREARS_SECRET_KEY_FILE: ${env.ARREARS_SECRET_KEY_FILE} does not exist`);
    key = found;
  } else if (database.kind === 'pglite' && database.location !== 'memory://') {
    const path = join(database.location, KEY_FILE_NAME);
    const found = readKeyFile(path, 'key file');
    if (found) key = found;
    else if (stored) throw notSet(`agency secrets are stored in ${database.location} but its key file ${path} is missing`);
    else key = createKeyFile(path, log);
  } else if (database.kind === 'pglite') {
    const found = memoryKeys.get(database);
    if (found) key = found;
    else if (stored) throw notSet('agency secrets are stored but no key was given');
    else {
      // A throw-away database gets a throw-away key: nothing outlives the process.
      key = randomBytes(KEY_BYTES);
      memoryKeys.set(database, key);
    }
  } else {
    throw notSet('a PostgreSQL database needs the key that encrypts agency credentials, the same on every server');
  }
  if (stored) {
    const first = Object.values(unpackSecrets(stored))[0];
    if (first) decryptSecret(key, first);
  }
  return key;
}

function createKeyFile(path: string, log: (line: string) => void): Buffer {
  const text = randomBytes(KEY_BYTES).toString('base64');
  try {
    writeFileSync(path, text + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readKeyFile(path, 'key file')!;
    throw err;
  }
  log(`Created ${path} (mode 0600): the key that encrypts agency credentials. Keep it with the data folder; without it stored passwords cannot be read.`);
  return parseSecretKey(text, 'key file');
}
