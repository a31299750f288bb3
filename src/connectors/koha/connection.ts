// A connection to Koha's MariaDB/MySQL database. TIMESTAMP columns are read in UTC (the
// session zone is +00:00, so MariaDB converts them from the UTC it stores), DATE and DATETIME
// columns as the wall-clock text Koha wrote in its own zone, DECIMAL money as exact text.
import { createConnection, type Connection } from 'mysql2/promise';
import type { ConnectorConfig } from '../types.ts';
import { asIlsError } from '../errors.ts';

const CONNECT_TIMEOUT_MS = 10_000;

export async function connectKoha(config: ConnectorConfig): Promise<Connection> {
  let url: URL;
  try {
    url = new URL(config.url);
  } catch {
    throw new Error(`connector "${config.name}": the connection URL is not a URL (mysql://user:password@host:3306/koha)`);
  }
  if (url.protocol !== 'mysql:' && url.protocol !== 'mariadb:') throw new Error(`connector "${config.name}": a Koha connection URL starts with mysql://, not ${url.protocol}//`);
  const tls = config.options.tls;
  try {
    const conn = await createConnection({
      host: url.hostname,
      port: url.port ? Number(url.port) : 3306,
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      database: decodeURIComponent(url.pathname.replace(/^\//, '')),
      charset: 'utf8mb4',
      timezone: 'Z',
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      connectTimeout: CONNECT_TIMEOUT_MS,
      ssl: tls ? { rejectUnauthorized: tls === 'require', ...(config.options.tlsCa ? { ca: config.options.tlsCa } : {}) } : undefined,
    });
    // Never leave a dead connection to crash the process; the next query fails instead.
    conn.on('error', () => undefined);
    await conn.query("SET time_zone = '+00:00'");
    return conn;
  } catch (err) {
    throw asIlsError(config.name, err);
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})/;

/** A TIMESTAMP read in UTC ("2026-12-04 21:45:10") as an instant; null for NULL or a zero date. */
export function utcInstant(text: string | null): Date | null {
  if (!text || text.startsWith('0000')) return null;
  // Read by its fields: millions of rows a full sync, and Date's own parser is the slow way.
  const m = TIMESTAMP.exec(text);
  if (!m) return null;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
  return Number.isNaN(t) ? null : new Date(t);
}

/** An instant as a TIMESTAMP literal in UTC, for comparisons in this session. */
export function utcText(d: Date): string {
  return d.toISOString().slice(0, 19).replace('T', ' ');
}

/** The date part of a DATE or DATETIME ("2026-12-04 23:59:00" → "2026-12-04"); null for NULL or a zero date. */
export function datePart(text: string | null): string | null {
  if (!text || text.startsWith('0000')) return null;
  return /^\d{4}-\d{2}-\d{2}/.test(text) ? text.slice(0, 10) : null;
}
