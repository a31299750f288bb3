// SFTP host key pinning against a real OpenSSH server on loopback: with the agency's key
// pinned, delivery goes through; with another key pinned nothing is sent and the attempt says
// which key the server offered; `arrears agencies host-key --pin` reads and stores the key.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { migrate } from '../src/db/migrate.ts';
import { addAgency, getAgency } from '../src/services/agencies.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { deliverDueFiles } from '../src/services/delivery.ts';
import { hostKeyOf } from '../src/services/transfer/host-key.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { prepareSshd, sparePort, type Sshd } from './helpers/servers.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

const run = promisify(execFile);
let t: TestDatabase;
let sshd: Sshd;
let ctx: Context;
// Another key's fingerprint, well formed: what a hijacked address would present.
const OTHER_KEY = `SHA256:${createHash('sha256').update('not the agency').digest('base64').replace(/=+$/, '')}`;

useTestSecretKey();

beforeAll(async () => {
  t = await freshDatabase();
  ctx = { database: t, clock: fixedClock('2025-06-03T12:00:00Z'), actor: 'test:host-key' };
  sshd = prepareSshd(await sparePort(), 'hk');
  await sshd.start();
});
afterAll(async () => {
  await sshd?.dispose();
  await t?.dispose();
});

let seq = 0;
async function queuedFileFor(hostKey: string | undefined): Promise<{ agencyId: number; fileId: number; name: string }> {
  seq += 1;
  const agency = await addAgency(ctx, {
    name: `Pinned ${seq}`,
    transferMethod: 'sftp',
    transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user, remoteFolder: sshd.uploadDir, ...(hostKey ? { hostKey } : {}) },
    secrets: { password: sshd.password },
  });
  const bytes = Buffer.from(`patron_id\towed\r\nP${seq}\t12.50\r\n`);
  const name = `pinned${seq}_new_20250603120000.txt`;
  const { id } = await t.db
    .insertInto('report_files')
    .values({ agency_id: agency.id, kind: 'new', name, content: bytes, sha256: createHash('sha256').update(bytes).digest('hex'), row_count: 1, status: 'queued', next_attempt_at: ctx.clock.now() })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { agencyId: agency.id, fileId: id, name };
}

describe('SFTP host key pinning', () => {
  it('reads the fingerprint the server presents, as ssh-keygen -lf prints it', async () => {
    expect(sshd.hostKey).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(await hostKeyOf('127.0.0.1', sshd.port)).toBe(sshd.hostKey);
  });

  it('delivers when the pinned key is the server’s', async () => {
    const f = await queuedFileFor(sshd.hostKey);
    const result = (await deliverDueFiles(ctx)).results.find((r) => r.fileId === f.fileId);
    expect(result).toMatchObject({ ok: true, status: 'delivered' });
    expect(readdirSync(sshd.uploadDir)).toContain(f.name);
  });

  it('refuses another key: nothing sent, the file stays queued, the attempt names both keys', async () => {
    const f = await queuedFileFor(OTHER_KEY);
    const result = (await deliverDueFiles(ctx)).results.find((r) => r.fileId === f.fileId);
    expect(result).toMatchObject({ ok: false, status: 'queued' });
    expect(result?.error).toContain(`the server's host key ${sshd.hostKey} is not the one pinned`);
    expect(result?.error).toContain(OTHER_KEY);
    expect(readdirSync(sshd.uploadDir).filter((n) => n.startsWith(f.name))).toEqual([]);
    const row = await t.db.selectFrom('report_files').select(['status', 'attempts']).where('id', '=', f.fileId).executeTakeFirstOrThrow();
    expect(row).toEqual({ status: 'queued', attempts: 1 });
  });

  it('refuses a malformed fingerprint by field', async () => {
    await expect(
      addAgency(ctx, { name: 'Bad pin', transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', username: 'x', hostKey: 'MD5:ab:cd' } }),
    ).rejects.toMatchObject({ problems: [{ field: 'transferConfig.hostKey', reason: expect.stringContaining('SHA256 fingerprint') }] });
  });

  it('`arrears agencies host-key --pin` shows and stores the key the server presents', async () => {
    // The CLI opens its own database: a PGlite folder, whichever project runs this file.
    const folder = mkdtempSync(join(tmpdir(), 'arrears-hostkey-cli-'));
    try {
      const own = await openDatabase({ url: folder });
      try {
        await migrate(own);
        await addAgency({ database: own, clock: ctx.clock, actor: 'test' }, { name: 'Remote', transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user } });
      } finally {
        await own.close();
      }
      const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', folder, 'agencies', 'host-key', 'Remote', '--pin']);
      expect(stdout).toContain(`127.0.0.1:${sshd.port} presents ${sshd.hostKey}`);
      expect(stdout).toContain(`pinned ${sshd.hostKey} for agency "Remote"`);
      const reopened = await openDatabase({ url: folder });
      try {
        expect((await getAgency(reopened.db, 'Remote')).transferConfig.hostKey).toBe(sshd.hostKey);
      } finally {
        await reopened.close();
      }
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('the pin is kept by the agency row', async () => {
    const f = await queuedFileFor(sshd.hostKey);
    expect((await getAgency(t.db, f.agencyId)).transferConfig.hostKey).toBe(sshd.hostKey);
  });
});
