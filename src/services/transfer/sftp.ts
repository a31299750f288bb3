// SFTP, what agencies use: upload to "<name>.part", then rename, so the agency never picks up
// half a file. A file already there with the same size counts as delivered, which makes a
// retry after a crash between rename and bookkeeping safe.
import type SftpClient from 'ssh2-sftp-client';
import type { Transfer } from './index.ts';
import { transferTimeouts } from './limits.ts';
import { pinnedVerifier } from './host-key.ts';

const quiet = { error: () => undefined, end: () => undefined, close: () => undefined };

export const sftpTransfer: Transfer = {
  async send(file, agency, secrets) {
    const config = agency.transferConfig;
    const host = String(config.host);
    const port = Number(config.port ?? 22);
    const username = String(config.username);
    if (!secrets.password && !secrets.privateKey) throw new Error(`no password or private key is stored for agency "${agency.name}"`);
    const folder = config.remoteFolder ? String(config.remoteFolder).replace(/\/+$/, '') : '';
    const target = folder ? `${folder}/${file.name}` : file.name;
    const remote = `sftp://${username}@${host}:${port}/${target.startsWith('/') ? target.slice(1) : `~/${target}`}`;
    // The library's own listeners log to the console; a failed attempt is recorded instead.
    // ssh2-sftp-client (and ssh2 under it) only for an SFTP delivery.
    const { default: Sftp } = await import('ssh2-sftp-client');
    const client: SftpClient = new Sftp('arrears', quiet);
    const timeouts = transferTimeouts();
    const pinned = config.hostKey ? pinnedVerifier(String(config.hostKey)) : null;
    try {
      await client.connect({
        ...(pinned ? { hostVerifier: pinned.verify } : {}),
        host,
        port,
        username,
        ...(secrets.password ? { password: secrets.password } : {}),
        ...(secrets.privateKey ? { privateKey: secrets.privateKey, passphrase: secrets.passphrase } : {}),
        readyTimeout: timeouts.connectMs,
        // A server that vanishes mid-upload (no FIN, no RST) is noticed within three missed keepalives.
        keepaliveInterval: Math.max(1000, Math.floor(timeouts.connectMs / 3)),
        keepaliveCountMax: 3,
      }).catch((error: unknown) => {
        const seen = pinned?.seen();
        if (seen && seen !== config.hostKey) {
          throw new Error(`the server's host key ${seen} is not the one pinned for agency "${agency.name}" (${String(config.hostKey)}); nothing was sent`);
        }
        throw error;
      });
      const existing = await client.exists(target);
      if (existing === '-') {
        const { size } = await client.stat(target);
        if (size === file.content.length) return { remote };
        throw new Error(`${target} already exists on the server with ${size} bytes (this file has ${file.content.length}); it was not overwritten`);
      }
      if (existing) throw new Error(`${target} exists on the server and is not a file`);
      await client.put(file.content, `${target}.part`);
      await client.rename(`${target}.part`, target);
      return { remote };
    } finally {
      await client.end().catch(() => undefined);
    }
  },
};
