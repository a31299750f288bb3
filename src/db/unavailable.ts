// Telling "the database cannot be reached right now" apart from a bug: the HTTP layer answers
// the first with 503 + Retry-After (the pool reconnects by itself), the second with 500.
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const UNREACHABLE_MESSAGES = /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable|Client was closed and is not queryable)/;

/**
 * Whether an error means the database cannot be reached right now (stopped, restarting,
 * refusing connections, not answering) rather than a bug: SQLSTATE class 08 (connection
 * exception), 57P01-57P03 (shutting down, starting up), or the driver's own connection errors.
 */
export function databaseUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || code.startsWith('08') || /^57P0[123]$/.test(code))) return true;
  if (err instanceof AggregateError) return err.errors.some(databaseUnavailable);
  return UNREACHABLE_MESSAGES.test(err.message);
}

/** Seconds a client is told to wait before trying again while the database is down. */
export const RETRY_AFTER_SECONDS = 5;

/** Connection failures can come as an AggregateError with an empty message; say something useful. */
export function describeConnectionError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return err.message || (typeof code === 'string' ? code : '') || err.name;
}
