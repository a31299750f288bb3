// A connection to Evergreen's PostgreSQL database: its own pg.Client, never Arrears's pool.
// Timestamps (every Evergreen date-time is TIMESTAMPTZ) are read as instants, DATE columns as
// their text, NUMERIC money and BIGINT ids as exact text. The session runs in UTC, so no
// server default leaks into a comparison; library-local dates come from lib.timezone.
import pg from 'pg';
import type { ConnectorConfig } from '../types.ts';
import { connectionOf } from '../common.ts';
import { asIlsError } from '../errors.ts';

const CONNECT_TIMEOUT_MS = 10_000;
const DATE = 1082;

const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === DATE) return (v: string) => v;
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
