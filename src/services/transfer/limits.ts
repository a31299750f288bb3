// Timeouts shared by the senders: a dead server must fail the attempt, not hang the delivery
// loop. Each can be set in milliseconds from the environment (a slow agency link may need a
// longer transfer time); the attempt fails and is retried with backoff when one runs out.
export const CONNECT_TIMEOUT_MS = 10_000;
export const TRANSFER_TIMEOUT_MS = 120_000;

export const CONNECT_TIMEOUT_VARIABLE = 'ARREARS_TRANSFER_CONNECT_TIMEOUT_MS';
export const TRANSFER_TIMEOUT_VARIABLE = 'ARREARS_TRANSFER_TIMEOUT_MS';

function fromEnv(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const text = env[name]?.trim();
  if (!text) return fallback;
  const n = Number(text);
  // A bad value must not turn into "no timeout": the default stands and the attempt says why.
  if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`${name} must be a whole number of milliseconds above 0, got "${text}"`);
  return n;
}

export interface TransferTimeouts {
  /** Reaching the server: TCP connect, TLS, SSH handshake, SMTP greeting. */
  connectMs: number;
  /** The whole transfer once connected (SFTP), or the longest silence on the line (S3, SMTP). */
  transferMs: number;
}

export function transferTimeouts(env: NodeJS.ProcessEnv = process.env): TransferTimeouts {
  return { connectMs: fromEnv(CONNECT_TIMEOUT_VARIABLE, CONNECT_TIMEOUT_MS, env), transferMs: fromEnv(TRANSFER_TIMEOUT_VARIABLE, TRANSFER_TIMEOUT_MS, env) };
}

/**
 * Fails after `ms` if the sender has not finished, whatever it is stuck on (a server that
 * accepts and never answers, a hung network mount). The attempt is recorded as failed and
 * retried; every sender is safe to repeat (the same file already there counts as delivered).
 */
export async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms; it will be tried again`)), ms);
  });
  // The abandoned sender may still fail later; that must not become an unhandled rejection.
  work.catch(() => undefined);
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
