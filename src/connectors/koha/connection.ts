// A connection to Koha's MariaDB/MySQL database. TIMESTAMP columns are read in UTC (the
// session zone is +00:00, so MariaDB converts them from the UTC it stores), DATE and DATETIME
// columns as the wall-clock text Koha wrote in its own zone, DECIMAL money as exact text.
import { createConnection, type Connection } from 'mysql2/promise';
import type { ConnectorConfig } from '../types.ts';
import { connectionOf, digitsAt } from '../common.ts';
import { asIlsError } from '../errors.ts';

const CONNECT_TIMEOUT_MS = 10_000;
export const KOHA_SQL_MODE = 'STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_ENGINE_SUBSTITUTION';

export async function connectKoha(config: ConnectorConfig): Promise<Connection> {
  const to = connectionOf(config);
  const tls = to.useTls;
  try {
    const conn = await createConnection({
      ...(to.socket ? { socketPath: to.host } : { host: to.host, port: to.port }),
      user: to.user,
      password: to.password,
      database: to.database,
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
    // Our own SQL mode, whatever the server's default (Koha sets its own per session too): strict,
    // so a value Koha's columns cannot hold is refused (a final write error), never silently cut
    // or clamped; and no ANSI_QUOTES or other mode that changes what our SQL means.
    await conn.query(`SET SESSION sql_mode = '${KOHA_SQL_MODE}'`);
    return conn;
  } catch (err) {
    throw asIlsError(config.name, err);
  }
}

/** A TIMESTAMP read in UTC ("2026-12-04 21:45:10") as an instant; null for NULL or a zero date. */
export function utcInstant(text: string | null): Date | null {
  if (!text || text.startsWith('0000') || text.length < 19) return null;
  // Read by its fields, character by character: millions of rows a full sync, and Date's own
  // parser (or a regular expression's groups) is the slow way. YYYY-MM-DD[ T]HH:MM:SS, then anything.
  const sep = text.charCodeAt(10);
  if (text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45 || (sep !== 32 && sep !== 84) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) return null;
  const y = digitsAt(text, 0, 4);
  const mo = digitsAt(text, 5, 2);
  const d = digitsAt(text, 8, 2);
  const h = digitsAt(text, 11, 2);
  const mi = digitsAt(text, 14, 2);
  const s = digitsAt(text, 17, 2);
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || s < 0) return null;
  const t = Date.UTC(y, mo - 1, d, h, mi, s);
  return Number.isNaN(t) ? null : new Date(t);
}

/** A TIMESTAMP read as seconds since 1970 (UNIX_TIMESTAMP) as an instant, to the second as utcInstant reads it; null for NULL or a zero date (0). */
export function instantOfSeconds(seconds: number | null): Date | null {
  return seconds !== null && seconds > 0 ? new Date(Math.floor(seconds) * 1000) : null;
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
