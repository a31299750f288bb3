// A connection to Evergreen's PostgreSQL database: its own pg.Client, never Arrears's pool.
// Timestamps (every Evergreen date-time is TIMESTAMPTZ) are read as instants, DATE columns as
// their text, NUMERIC money and BIGINT ids as exact text. The session runs in UTC, so no
// server default leaks into a comparison; library-local dates come from lib.timezone.
import pg from 'pg';
import type { ConnectorConfig } from '../types.ts';
import { connectionOf, digitsAt } from '../common.ts';
import { asIlsError } from '../errors.ts';

const CONNECT_TIMEOUT_MS = 10_000;
const DATE = 1082;
const TIMESTAMPTZ = 1184;

const driverInstant = pg.types.getTypeParser(TIMESTAMPTZ, 'text') as (text: string) => Date;

/**
 * A TIMESTAMPTZ as this session sends it (UTC: "2026-12-04 21:45:10.123456+00") read field by
 * field: a full sync reads millions, and the driver's parser matches a regular expression per
 * value. Milliseconds are cut, not rounded, as the driver's are. Any other shape (another
 * offset, a year before 1000 or after 9999, BC, infinity) goes to the driver's parser.
 */
export function instantOf(text: string): Date {
  const n = text.length;
  if (n >= 22 && n <= 29 && text.charCodeAt(n - 3) === 43 && text.charCodeAt(n - 2) === 48 && text.charCodeAt(n - 1) === 48) {
    const y = text.charCodeAt(0) === 48 ? -1 : digitsAt(text, 0, 4);
    const shaped = text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45 && text.charCodeAt(10) === 32 && text.charCodeAt(13) === 58 && text.charCodeAt(16) === 58;
    const fraction = n - 3 - 19;
    if (y >= 0 && shaped && (fraction === 0 || (fraction >= 2 && text.charCodeAt(19) === 46))) {
      const mo = digitsAt(text, 5, 2);
      const d = digitsAt(text, 8, 2);
      const h = digitsAt(text, 11, 2);
      const mi = digitsAt(text, 14, 2);
      const s = digitsAt(text, 17, 2);
      let ms = 0;
      for (let i = 0; i < 3; i++) {
        const c = 20 + i < n - 3 ? text.charCodeAt(20 + i) - 48 : 0;
        ms = ms * 10 + c;
        if (c < 0 || c > 9) ms = -1e9;
      }
      const rest = fraction > 4 ? digitsAt(text, 23, fraction - 4) : 0;
      if (mo >= 1 && d >= 1 && h >= 0 && mi >= 0 && s >= 0 && ms >= 0 && rest >= 0) return new Date(Date.UTC(y, mo - 1, d, h, mi, s, ms));
    }
  }
  return driverInstant(text);
}

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === DATE) return (v: string) => v;
    if (oid === TIMESTAMPTZ && format !== 'binary') return instantOf;
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export async function connectEvergreen(config: ConnectorConfig): Promise<pg.Client> {
  const to = connectionOf(config);
  const tls = to.useTls;
  const client = new pg.Client({
    // pg takes a socket's directory as the host, as libpq does.
    host: to.host,
    port: to.port,
    user: to.user,
    password: to.password,
    database: to.database,
    application_name: 'arrears',
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ssl: tls ? { rejectUnauthorized: tls === 'require', ...(config.options.tlsCa ? { ca: config.options.tlsCa } : {}) } : false,
    types,
  });
  // Never leave a dead connection to crash the process; the next query fails instead.
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query("SET TIME ZONE 'UTC'");
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw asIlsError(config.name, err);
  }
}

/** An id column (BIGINT comes back as text) as a number. */
export function num(v: unknown): number {
  return typeof v === 'number' ? v : Number(v);
}
