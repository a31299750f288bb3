// An ILS connection URL read the way each ILS's own clients read it, so what an administrator
// copies from their ILS's configuration means what it says: a Unix socket (Koha
// `?socket=/run/mysqld/mysqld.sock`; Evergreen `?host=/var/run/postgresql`, libpq's form) and
// the TLS mode (MySQL's `ssl-mode`, libpq's `sslmode`). A parameter Arrears does not know is
// refused, never ignored: an ignored `sslmode=verify-full` would send the password in clear.
// Only those Arrears sets itself (the character set, the time zone, timeouts) are passed over.
import type { ConnectorKind, ConnectorOptions } from './types.ts';

export type UrlTls = NonNullable<ConnectorOptions['tls']> | 'disable';

export interface ConnectionTarget {
  /** Host name or address; for a socket, the socket's path (Koha) or directory (Evergreen). */
  host: string;
  port: number;
  /** True when host is a Unix socket (Koha) or a socket directory (Evergreen). */
  socket: boolean;
  user: string;
  password: string;
  database: string;
  /** What the URL asks of TLS; null when it says nothing. */
  tls: UrlTls | null;
  /** Where it points, without user or password, for lists and the audit log. */
  shown: string;
}

export const URL_SCHEMES: Record<ConnectorKind, readonly string[]> = { koha: ['mysql:', 'mariadb:'], evergreen: ['postgres:', 'postgresql:'] };
export const URL_EXAMPLE: Record<ConnectorKind, string> = { koha: 'mysql://user:password@host:3306/koha', evergreen: 'postgres://user:password@host:5432/evergreen' };
const DEFAULT_PORT: Record<ConnectorKind, number> = { koha: 3306, evergreen: 5432 };

// MySQL's --ssl-mode and libpq's sslmode. "Preferred" falls back to plain text when the server
// has no TLS, which Arrears will not do silently: the URL says which it is.
const TLS_MODES: Record<ConnectorKind, Record<string, UrlTls | null>> = {
  koha: { disabled: 'disable', preferred: null, required: 'no-verify', verify_ca: 'require', verify_identity: 'require' },
  evergreen: { disable: 'disable', allow: null, prefer: null, require: 'no-verify', 'verify-ca': 'require', 'verify-full': 'require' },
};
const TLS_PARAMS: Record<ConnectorKind, readonly string[]> = { koha: ['ssl-mode', 'sslmode'], evergreen: ['sslmode'] };
const SOCKET_PARAM: Record<ConnectorKind, string> = { koha: 'socket', evergreen: 'host' };
const OTHER_PARAMS: Record<ConnectorKind, readonly string[]> = { koha: [], evergreen: ['port'] };
/** Taken and set aside: Arrears sets these itself (utf8mb4 and UTC, its own timeouts, application_name "arrears"). */
const SET_BY_ARREARS: Record<ConnectorKind, readonly string[]> = { koha: ['charset', 'timezone', 'connectTimeout', 'connect_timeout'], evergreen: ['application_name', 'connect_timeout', 'client_encoding'] };

export class ConnectionUrlError extends Error {}

function fail(reason: string): never {
  throw new ConnectionUrlError(reason);
}

/** Reads a connection URL; throws ConnectionUrlError saying what is wrong and what it should look like. */
export function connectionTarget(kind: ConnectorKind, raw: string): ConnectionTarget {
  // libpq writes a socket-only URL with no host (postgres://user@/evergreen?host=/var/run/postgresql),
  // which the URL standard refuses: read it as localhost, and require the socket below.
  const hostless = /^[a-z][a-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(?=[/?#]|$)/i.exec(raw);
  let url: URL;
  try {
    url = new URL(hostless ? `${hostless[0]}localhost${raw.slice(hostless[0].length)}` : raw);
  } catch {
    fail(`not a URL; a ${kind} connection URL looks like ${URL_EXAMPLE[kind]}`);
  }
  if (!URL_SCHEMES[kind].includes(url.protocol)) fail(`a ${kind} connection URL starts with ${URL_SCHEMES[kind][0]}//, e.g. ${URL_EXAMPLE[kind]}`);
  const database = decoded(url.pathname.replace(/^\//, ''), 'the database name');
  if (database === '') fail(`the URL must name a database, e.g. ${URL_EXAMPLE[kind]}`);

  // Read as libpq and MySQL read it: "+" is a plus, not a space as URLSearchParams has it.
  const params = new Map<string, string>();
  const known = [SOCKET_PARAM[kind], ...TLS_PARAMS[kind], ...OTHER_PARAMS[kind]];
  for (const pair of url.search.replace(/^\?/, '').split('&').filter(Boolean)) {
    const at = pair.indexOf('=');
    const key = decoded(at < 0 ? pair : pair.slice(0, at), 'a parameter name');
    if (SET_BY_ARREARS[kind].includes(key)) continue;
    if (!known.includes(key)) fail(`the URL's parameter "${key}" is not one Arrears reads (it reads ${known.join(', ')}; TLS can also be set with --tls)`);
    if (params.has(key)) fail(`the URL gives "${key}" twice`);
    const value = at < 0 ? '' : decoded(pair.slice(at + 1), `the value of ${key}`);
    if (value === '') fail(`the URL's parameter "${key}" has no value`);
    params.set(key, value);
  }

  let tls: UrlTls | null = null;
  const tlsParams = TLS_PARAMS[kind].filter((p) => params.has(p));
  if (tlsParams.length > 1) fail(`the URL gives both ${tlsParams.join(' and ')}`);
  if (tlsParams[0]) {
    const given = params.get(tlsParams[0])!;
    const modes = TLS_MODES[kind];
    const key = kind === 'koha' ? given.toLowerCase() : given;
    if (!Object.hasOwn(modes, key)) fail(`${tlsParams[0]}=${given} is not a TLS mode; use one of ${Object.keys(modes).map((m) => (kind === 'koha' ? m.toUpperCase() : m)).join(', ')}`);
    if (modes[key] === null) fail(`${tlsParams[0]}=${given} would fall back to an unencrypted connection without saying so; say which: ${kind === 'koha' ? 'REQUIRED (or VERIFY_IDENTITY) or DISABLED' : 'require (or verify-full) or disable'}`);
    tls = modes[key] as UrlTls;
  }

  // libpq also takes a socket directory percent-encoded as the host: postgres://u@%2Fvar%2Frun%2Fpostgresql/evergreen.
  const hostname = decoded(url.hostname, 'the host');
  const socketParam = params.get(SOCKET_PARAM[kind]) ?? (hostname.startsWith('/') ? hostname : null);
  const socket = socketParam !== null && socketParam.startsWith('/');
  if (socketParam !== null && kind === 'koha' && !socket) fail(`socket=${socketParam} must be the socket's absolute path, e.g. /run/mysqld/mysqld.sock`);
  if (hostless && socketParam === null) fail(`the URL must name a host (or, for a Unix socket, ${kind === 'koha' ? 'socket=/run/mysqld/mysqld.sock' : 'host=/var/run/postgresql'}), e.g. ${URL_EXAMPLE[kind]}`);

  const portText = params.get('port') ?? url.port;
  const port = portText ? Number(portText) : DEFAULT_PORT[kind];
  if (portText && (!/^\d{1,5}$/.test(portText) || port < 1 || port > 65535)) fail(`port ${portText} is not a port number`);
  // An IPv6 address comes bracketed from the URL; drivers want it bare.
  const host = socketParam ?? hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port,
    socket,
    user: decoded(url.username, 'the user name'),
    password: decoded(url.password, 'the password'),
    database,
    tls,
    shown: socket ? `${url.protocol}//localhost/${database} (socket ${host})` : `${url.protocol}//${host.includes(':') ? `[${host}]` : host}${portText ? `:${portText}` : ''}/${database}`,
  };
}

/** Percent-decoded text; a "%" not followed by two hex digits is the URL's fault, said so, never a crash. */
function decoded(text: string, what: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    fail(`${what} in the URL has a "%" not followed by two hex digits; write a "%" itself as %25`);
  }
}

/** Where a connection URL points, without user or password: mysql://db.example.org:3306/koha. */
export function describeTarget(kind: ConnectorKind, raw: string): string {
  try {
    return connectionTarget(kind, raw).shown;
  } catch {
    return '(not a valid URL)';
  }
}

/**
 * The TLS a connection uses: the option (--tls) or, without it, the URL's mode. Both given and
 * different is an error, not a guess; so is TLS asked for over a Unix socket, which has none.
 */
export function effectiveTls(target: Pick<ConnectionTarget, 'tls' | 'socket'>, option: ConnectorOptions['tls']): ConnectorOptions['tls'] | undefined {
  if (option && target.tls && option !== target.tls) {
    fail(`the URL's TLS mode (${target.tls === 'disable' ? 'no TLS' : target.tls === 'require' ? 'verify the server' : 'TLS without verifying the server'}) and --tls ${option} disagree; give one of them`);
  }
  const tls = option ?? target.tls;
  if (tls === 'disable' || tls === null) return undefined;
  if (target.socket) fail('TLS is not used over a Unix socket: leave out the TLS mode, or connect by host name');
  return tls;
}
