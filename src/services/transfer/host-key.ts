// SFTP host key pinning. An agency's transfer settings may carry `hostKey`, the server key's
// SHA256 fingerprint (what `ssh-keygen -lf` prints); every connection then refuses any other
// key, so a hijacked address or DNS name cannot collect patrons' debts. `hostKeyOf` reads the
// fingerprint a server presents, for staff to compare with the agency's and pin it.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { CONNECT_TIMEOUT_MS } from './limits.ts';

/** ssh2 (~0.1 s to load) only when a connection is made: most commands never need it. */
export const loadSsh2 = (): typeof import('ssh2') => createRequire(import.meta.url)('ssh2') as typeof import('ssh2');

/** The OpenSSH-style fingerprint of a raw host key blob. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/**
 * A hostVerifier for ssh2 that accepts only the pinned key, remembering what it saw so a
 * refusal can say which key the server offered (ssh2's own error only says "verification failed").
 */
export function pinnedVerifier(pinned: string): { verify: (key: Buffer) => boolean; seen: () => string | null } {
  let seen: string | null = null;
  return {
    verify(key) {
      seen = fingerprint(key);
      return seen === pinned;
    },
    seen: () => seen,
  };
}

/** Connects only as far as the key exchange and returns the host key's fingerprint. */
export function hostKeyOf(host: string, port: number, timeoutMs = CONNECT_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const client = new (loadSsh2().Client)();
    let found: string | null = null;
    const finish = (error: Error | null) => {
      client.removeAllListeners();
      client.on('error', () => undefined);
      client.end();
      if (found) resolve(found);
      else reject(error ?? new Error(`${host}:${port} closed the connection before showing a host key`));
    };
    client.on('error', (error) => finish(found ? null : new Error(`could not read the host key of ${host}:${port}: ${error.message}`)));
    client.on('close', () => finish(null));
    client.connect({
      host,
      port,
      username: 'arrears-host-key-check',
      readyTimeout: timeoutMs,
      // Refusing the key ends the connection before any authentication is tried.
      hostVerifier: (key: Buffer) => {
        found = fingerprint(key);
        return false;
      },
    });
  });
}
