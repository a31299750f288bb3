// What goes wrong between Arrears and an ILS database, told apart from Arrears's own bugs.
import { ArrearsError } from '../domain/errors.ts';

/**
 * The ILS's database cannot be reached, or refuses the connector's user (a wrong password, a
 * missing GRANT). A sync that meets it changes nothing; a write-back stays queued and is
 * retried. The message names the connector and never carries the password.
 */
export class IlsUnavailable extends ArrearsError {
  readonly exitCode = 1;
  readonly httpStatus = 503;
  constructor(message: string) {
    super(message);
    this.name = 'IlsUnavailable';
  }
}

const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'PROTOCOL_CONNECTION_LOST', 'PROTOCOL_SEQUENCE_TIMEOUT']);
/** TLS asked for and not to be had: no TLS on the server, or a certificate that does not verify. */
const TLS = new Set(['HANDSHAKE_SSL_ERROR', 'HANDSHAKE_NO_SSL_SUPPORT', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']);
/** MariaDB/MySQL: access denied (1044, 1045), table/column/command denied (1142, 1143, 1227), and the server going away. */
const REFUSED = new Set(['ER_ACCESS_DENIED_ERROR', 'ER_DBACCESS_DENIED_ERROR', 'ER_TABLEACCESS_DENIED_ERROR', 'ER_COLUMNACCESS_DENIED_ERROR', 'ER_SPECIFIC_ACCESS_DENIED_ERROR', 'ER_SERVER_SHUTDOWN', 'ER_CON_COUNT_ERROR']);

/**
 * PostgreSQL (SQLSTATE): permission denied (42501), login refused (28P01, 28000), no such
 * database (3D000), too many connections (53300); class 08 and 57P01-3 are the server going away.
 */
const PG_REFUSED = new Set(['42501', '28P01', '28000', '3D000', '53300']);

/** TLS asked for and refused; pg says a server has none in words, with no code. */
function tlsRefused(err: Error & { code?: unknown }): boolean {
  return (typeof err.code === 'string' && TLS.has(err.code)) || err.message.startsWith('The server does not support SSL connections');
}

/** Whether an error from the ILS's driver means "cannot reach it / not allowed" rather than a bug. */
export function ilsUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  if (err instanceof IlsUnavailable) return true;
  const code = (err as { code?: unknown }).code;
  if (tlsRefused(err)) return true;
  if (typeof code === 'string' && (NETWORK.has(code) || REFUSED.has(code) || PG_REFUSED.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(ilsUnreachable);
  return /^(Connection terminated|connect ETIMEDOUT|Client has encountered a connection error)/.test(err.message);
}

/** The error as an IlsUnavailable naming the connector, when it is one; otherwise as it was. */
export function asIlsError(connector: string, err: unknown): unknown {
  if (err instanceof IlsUnavailable || !ilsUnreachable(err)) return err;
  const e = err as Error & { code?: string };
  const why = e.message || e.code || e.name;
  if (tlsRefused(e)) return new IlsUnavailable(`connector "${connector}": no trusted TLS connection to the ILS database: ${why}`);
  return new IlsUnavailable(`connector "${connector}": the ILS database cannot be reached or refused the connector's user: ${why}`);
}
