// Delivery to agencies against real servers on loopback (OpenSSH sshd, an SMTP listener,
// s3rver, a folder), on PGlite and PostgreSQL: what arrives is the stored file byte for byte,
// failures are kept and retried with backoff, and nothing is sent twice.
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, NotFoundError } from '../src/domain/errors.ts';
import { addAgency, editAgency, type AgencyInput } from '../src/services/agencies.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { backoffMinutes, deliverDueFiles, retryFile, LEASE_MINUTES, type AttemptResult } from '../src/services/delivery.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { prepareSshd, sparePort, startS3, startSmtp, type S3, type Smtp, type Sshd } from './helpers/servers.ts';

let t: TestDatabase;
let ctx: Context;
let now = new Date('2024-06-03T12:00:00.000Z');
const clock: Clock = { now: () => new Date(now.getTime()) };
const advance = (minutes: number) => {
  now = new Date(now.getTime() + minutes * 60_000);
};

let sshd: Sshd;
let s3: S3;
let smtp: Smtp;
let outbox: string;
const savedEnv = { key: process.env.ARREARS_SECRET_KEY, smtp: process.env.ARREARS_SMTP_URL };

beforeAll(async () => {
  process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
  t = await freshDatabase();
  ctx = { database: t, clock, actor: 'test:delivery' };
  sshd = prepareSshd(await sparePort());
  await sshd.start();
  [s3, smtp] = await Promise.all([startS3('agency-drop'), startSmtp()]);
  process.env.ARREARS_SMTP_URL = smtp.url;
  outbox = mkdtempSync(join(tmpdir(), 'arrears-outbox-'));
});

afterAll(async () => {
  await Promise.all([sshd?.dispose(), s3?.stop(), smtp?.stop()]);
  await t?.dispose();
  rmSync(outbox, { recursive: true, force: true });
  for (const [name, value] of [
    ['ARREARS_SECRET_KEY', savedEnv.key],
    ['ARREARS_SMTP_URL', savedEnv.smtp],
  ] as const) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

/** Report-file content with what trips naive senders: tabs, CRLF, non-ASCII, a NUL byte. */
function content(label: string): Buffer {
  return Buffer.concat([Buffer.from(`patron_id\tname\towed\r\nP-${label}\tZoë "Q", Ñuñez\t=1+2\r\n`, 'utf8'), Buffer.from([0, 255, 10])]);
}

let seq = 0;
async function agency(input: Omit<AgencyInput, 'name'>): Promise<number> {
  seq += 1;
  return (await addAgency(ctx, { name: `Agency ${seq}`, ...input })).id;
}

async function queueFile(agencyId: number, bytes: Buffer, overrides: { sha256?: string } = {}): Promise<{ id: number; name: string }> {
  seq += 1;
  const name = `main${seq}_new_20240603120000.txt`;
  const { id } = await t.db
    .insertInto('report_files')
    .values({
      agency_id: agencyId,
      kind: 'new',
      name,
      content: bytes,
      sha256: overrides.sha256 ?? createHash('sha256').update(bytes).digest('hex'),
      row_count: 1,
      status: 'queued',
      next_attempt_at: clock.now(),
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id, name };
}

async function fileRow(id: number) {
  return t.db.selectFrom('report_files').select(['status', 'attempts', 'next_attempt_at', 'delivered_at']).where('id', '=', id).executeTakeFirstOrThrow();
}

async function attemptRows(fileId: number) {
  return t.db.selectFrom('transfer_attempts').select(['method', 'ok', 'error', 'remote', 'started_at', 'finished_at']).where('file_id', '=', fileId).orderBy('id').execute();
}

/** The one attempt this run made at `fileId` (other tests' files may be due too). */
async function deliverOne(fileId: number): Promise<AttemptResult> {
  const report = await deliverDueFiles(ctx);
  const mine = report.results.filter((r) => r.fileId === fileId);
  expect(mine).toHaveLength(1);
  return mine[0]!;
}

async function expectDelivered(fileId: number, remote: string, method: string) {
  expect(await fileRow(fileId)).toEqual({ status: 'delivered', attempts: 1, next_attempt_at: null, delivered_at: clock.now() });
  expect(await attemptRows(fileId)).toEqual([{ method, ok: true, error: '', remote, started_at: clock.now(), finished_at: clock.now() }]);
}

describe('transfer methods deliver the stored bytes', () => {
  it('sftp with a password: uploaded as .part, renamed, byte for byte', async () => {
    const id = await agency({ transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user, remoteFolder: sshd.uploadDir }, secrets: { password: sshd.password } });
    const bytes = content('sftp-password');
    const file = await queueFile(id, bytes);
    const result = await deliverOne(file.id);
    const remote = `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.uploadDir}/${file.name}`;
    expect(result).toMatchObject({ ok: true, method: 'sftp', remote, error: '', status: 'delivered', attempts: 1, nextAttemptAt: null });
    expect(readFileSync(join(sshd.uploadDir, file.name)).equals(bytes)).toBe(true);
    expect(existsSync(join(sshd.uploadDir, `${file.name}.part`))).toBe(false);
    await expectDelivered(file.id, remote, 'sftp');
    const audit = await t.db.selectFrom('audit_log').select(['action', 'actor', 'before', 'after']).where('entity', '=', 'report_file').where('entity_id', '=', String(file.id)).execute();
    expect(audit).toEqual([{ action: 'file.deliver', actor: 'test:delivery', before: { status: 'queued', attempts: 0 }, after: { status: 'delivered', attempts: 1, method: 'sftp', ok: true, remote } }]);
  });

  it('sftp with an encrypted private key and its passphrase', async () => {
    const id = await agency({
      transferMethod: 'sftp',
      transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user, remoteFolder: sshd.uploadDir },
      secrets: { privateKey: sshd.privateKey, passphrase: sshd.passphrase },
    });
    const bytes = content('sftp-key');
    const file = await queueFile(id, bytes);
    expect((await deliverOne(file.id)).ok).toBe(true);
    expect(readFileSync(join(sshd.uploadDir, file.name)).equals(bytes)).toBe(true);
    await expectDelivered(file.id, `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.uploadDir}/${file.name}`, 'sftp');
  });

  it('s3: PutObject under the prefix, read back through the S3 protocol', async () => {
    const id = await agency({
      transferMethod: 's3',
      transferConfig: { bucket: s3.bucket, prefix: 'library', region: 'us-east-1', endpoint: s3.endpoint, accessKeyId: s3.accessKeyId },
      secrets: { secretAccessKey: s3.secretAccessKey },
    });
    const bytes = content('s3');
    const file = await queueFile(id, bytes);
    expect((await deliverOne(file.id)).ok).toBe(true);
    expect((await s3.read(`library/${file.name}`)).equals(bytes)).toBe(true);
    await expectDelivered(file.id, `s3://${s3.bucket}/library/${file.name}`, 's3');
  });

  it('email: the file attached under its name, from/to/cc as set, the default subject', async () => {
    const id = await agency({ transferMethod: 'email', transferConfig: { from: 'collections@library.example', to: 'intake@agency.example', cc: 'office@library.example' } });
    const bytes = content('email');
    const file = await queueFile(id, bytes);
    const before = smtp.received.length;
    const result = await deliverOne(file.id);
    expect(result.ok).toBe(true);
    expect(result.remote).toMatch(/^mailto:intake@agency\.example \(<.+>\)$/);
    expect(smtp.received).toHaveLength(before + 1);
    const { mail, recipients } = smtp.received[before]!;
    expect(recipients).toEqual(['intake@agency.example', 'office@library.example']);
    expect(mail.from?.text).toBe('collections@library.example');
    expect(mail.subject).toBe(`${file.name} from Arrears`);
    expect(mail.attachments.map((a) => a.filename)).toEqual([file.name]);
    expect(mail.attachments[0]!.content.equals(bytes)).toBe(true);
    await expectDelivered(file.id, result.remote, 'email');
  });

  it('folder: written through a temporary file and renamed; nothing else is left behind', async () => {
    const folder = join(outbox, 'folder-ok');
    mkdirSync(folder);
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const bytes = content('folder');
    const file = await queueFile(id, bytes);
    expect((await deliverOne(file.id)).ok).toBe(true);
    expect(readdirSync(folder)).toEqual([file.name]);
    expect(readFileSync(join(folder, file.name)).equals(bytes)).toBe(true);
    await expectDelivered(file.id, join(folder, file.name), 'folder');
  });
});

describe('failures are kept and retried', () => {
  it('sshd down for the first delivery: kept queued with the error; delivered exactly once when it is back', async () => {
    const id = await agency({ transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user, remoteFolder: sshd.uploadDir }, secrets: { password: sshd.password } });
    const bytes = content('fault');
    const file = await queueFile(id, bytes);
    await sshd.stop();
    const first = await deliverOne(file.id);
    expect(first).toMatchObject({ ok: false, status: 'queued', attempts: 1, remote: '', nextAttemptAt: new Date(now.getTime() + 60_000) });
    expect(first.error).toMatch(/ECONNREFUSED/);
    expect(await fileRow(file.id)).toEqual({ status: 'queued', attempts: 1, next_attempt_at: new Date(now.getTime() + 60_000), delivered_at: null });
    const failed = await attemptRows(file.id);
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ method: 'sftp', ok: false, remote: '', finished_at: clock.now() });
    expect(failed[0]!.error).toBe(first.error);
    expect(existsSync(join(sshd.uploadDir, file.name))).toBe(false);

    // Not due yet: nothing is tried before the backoff has passed.
    expect((await deliverDueFiles(ctx)).results.filter((r) => r.fileId === file.id)).toEqual([]);

    await sshd.start();
    advance(1);
    const second = await deliverOne(file.id);
    expect(second).toMatchObject({ ok: true, status: 'delivered', attempts: 2, nextAttemptAt: null });
    expect(readdirSync(sshd.uploadDir).filter((n) => n.startsWith(file.name))).toEqual([file.name]);
    expect(readFileSync(join(sshd.uploadDir, file.name)).equals(bytes)).toBe(true);
    expect(await fileRow(file.id)).toEqual({ status: 'delivered', attempts: 2, next_attempt_at: null, delivered_at: clock.now() });
    expect((await attemptRows(file.id)).map((a) => a.ok)).toEqual([false, true]);

    advance(120);
    expect((await deliverDueFiles(ctx)).results.filter((r) => r.fileId === file.id)).toEqual([]);
  });

  it('backs off 1, 2, 4, 8 … minutes, capped at an hour; a delivered file is never sent again', async () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffMinutes)).toEqual([1, 2, 4, 8, 16, 32, 60, 60, 60]);
    const folder = join(outbox, 'folder-later');
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const bytes = content('backoff');
    const file = await queueFile(id, bytes);
    const waits: number[] = [];
    for (let i = 1; i <= 8; i++) {
      const r = await deliverOne(file.id);
      expect(r).toMatchObject({ ok: false, attempts: i, status: 'queued', error: `folder ${folder} does not exist or is not a directory` });
      const wait = (r.nextAttemptAt!.getTime() - now.getTime()) / 60_000;
      waits.push(wait);
      advance(wait - 0.5);
      expect((await deliverDueFiles(ctx)).results.filter((x) => x.fileId === file.id)).toEqual([]);
      advance(0.5);
    }
    expect(waits).toEqual([1, 2, 4, 8, 16, 32, 60, 60]);
    mkdirSync(folder);
    expect(await deliverOne(file.id)).toMatchObject({ ok: true, attempts: 9, status: 'delivered' });
    expect(readFileSync(join(folder, file.name)).equals(bytes)).toBe(true);
    advance(24 * 60);
    expect((await deliverDueFiles(ctx)).results.filter((x) => x.fileId === file.id)).toEqual([]);
    expect(await fileRow(file.id)).toMatchObject({ status: 'delivered', attempts: 9 });
    expect(await attemptRows(file.id)).toHaveLength(9);
  });

  it('retryFile attempts a waiting file at once, and refuses a delivered, held or unknown one', async () => {
    const folder = join(outbox, 'folder-retry');
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const file = await queueFile(id, content('retry'));
    const failed = await retryFile(ctx, file.id);
    expect(failed).toMatchObject({ ok: false, attempts: 1, status: 'queued', nextAttemptAt: new Date(now.getTime() + 60_000) });
    mkdirSync(folder);
    const ok = await retryFile(ctx, file.id);
    expect(ok).toMatchObject({ ok: true, attempts: 2, status: 'delivered', remote: join(folder, file.name) });
    await expect(retryFile(ctx, file.id)).rejects.toThrow(ConflictError);
    await expect(retryFile(ctx, file.id)).rejects.toThrow(`file ${file.name} was already delivered at ${now.toISOString()}; it is not sent again`);
    const held = await queueFile(id, content('held'));
    await t.db.updateTable('report_files').set({ status: 'held' }).where('id', '=', held.id).execute();
    await expect(retryFile(ctx, held.id)).rejects.toThrow(`file ${held.name} is held for review; release it before sending it`);
    await expect(retryFile(ctx, 987654)).rejects.toThrow(NotFoundError);
    const actions = await t.db.selectFrom('audit_log').select('action').where('entity', '=', 'report_file').where('entity_id', '=', String(file.id)).orderBy('id').execute();
    expect(actions.map((a) => a.action)).toEqual(['file.retry', 'file.retry']);
    await t.db.updateTable('report_files').set({ status: 'delivered' }).where('id', '=', held.id).execute();
  });

  it('refuses to send a file whose stored bytes do not match their sha256', async () => {
    const folder = join(outbox, 'folder-corrupt');
    mkdirSync(folder);
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const file = await queueFile(id, content('corrupt'), { sha256: createHash('sha256').update('something else').digest('hex') });
    const r = await deliverOne(file.id);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(new RegExp(`^refused to send ${file.name}: the stored content does not match its sha256`));
    expect(readdirSync(folder)).toEqual([]);
    expect(await fileRow(file.id)).toMatchObject({ status: 'queued', attempts: 1 });
    // Out of the way of the other tests: staff would hold it.
    await t.db.updateTable('report_files').set({ status: 'held' }).where('id', '=', file.id).execute();
  });

  it('scrubs secrets from recorded errors, even when the server quotes them', async () => {
    const id = await agency({ transferMethod: 'email', transferConfig: { to: 'intake@agency.example' } });
    const file = await queueFile(id, content('scrub'));
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    process.env.ARREARS_SMTP_URL = smtp.url.replace(smtp.password, wrong);
    try {
      const r = await deliverOne(file.id);
      expect(r.ok).toBe(false);
      expect(r.error).toContain('Invalid login: 535');
      expect(r.error).toContain(`${smtp.user}:••••••`);
      expect(r.error).not.toContain(wrong);
      const stored = await t.db.selectFrom('audit_log').select(['after']).where('entity', '=', 'report_file').where('entity_id', '=', String(file.id)).execute();
      expect(JSON.stringify(stored)).not.toContain(wrong);
      expect(JSON.stringify(await attemptRows(file.id))).not.toContain(wrong);
    } finally {
      process.env.ARREARS_SMTP_URL = smtp.url;
    }
    advance(1);
    expect((await deliverOne(file.id)).ok).toBe(true);
  });
});

describe('one sender per file', () => {
  it('two deliveries running at once send each file exactly once', async () => {
    const folder = join(outbox, 'folder-race');
    mkdirSync(folder);
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const files = [await queueFile(id, content('race-1')), await queueFile(id, content('race-2')), await queueFile(id, content('race-3'))];
    const reports = await Promise.all([deliverDueFiles(ctx), deliverDueFiles(ctx)]);
    const sent = reports.flatMap((r) => r.results).map((r) => r.fileId);
    expect(sent.sort((a, b) => a - b)).toEqual(files.map((f) => f.id));
    expect(readdirSync(folder).sort()).toEqual(files.map((f) => f.name).sort());
    for (const f of files) expect(await attemptRows(f.id)).toHaveLength(1);
  });

  it('a file being sent is left alone until its lease runs out; an abandoned attempt is closed as interrupted', async () => {
    const folder = join(outbox, 'folder-lease');
    mkdirSync(folder);
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: folder } });
    const file = await queueFile(id, content('lease'));
    // A sender that claimed the file and died: its attempt is open and the lease is running.
    await t.db.insertInto('transfer_attempts').values({ file_id: file.id, method: 'folder', started_at: clock.now(), ok: false }).execute();
    await t.db.updateTable('report_files').set({ next_attempt_at: new Date(now.getTime() + LEASE_MINUTES * 60_000) }).where('id', '=', file.id).execute();
    await expect(retryFile(ctx, file.id)).rejects.toThrow(new RegExp(`^file ${file.name} is being sent right now`));
    expect((await deliverDueFiles(ctx)).results.filter((r) => r.fileId === file.id)).toEqual([]);
    advance(LEASE_MINUTES);
    expect(await deliverOne(file.id)).toMatchObject({ ok: true, attempts: 2 });
    const attempts = await attemptRows(file.id);
    expect(attempts.map((a) => [a.ok, a.error])).toEqual([
      [false, 'interrupted: the sender stopped before it finished; tried again'],
      [true, ''],
    ]);
  });

  it('a queued file whose agency now has no transfer method becomes a download', async () => {
    const id = await agency({ transferMethod: 'folder', transferConfig: { path: outbox } });
    const file = await queueFile(id, content('none'));
    await editAgency(ctx, id, { transferMethod: 'none' });
    expect((await deliverDueFiles(ctx)).results.filter((r) => r.fileId === file.id)).toEqual([]);
    expect(await fileRow(file.id)).toMatchObject({ status: 'none', next_attempt_at: null });
    const { name } = await t.db.selectFrom('agencies').select('name').where('id', '=', id).executeTakeFirstOrThrow();
    await expect(retryFile(ctx, file.id)).rejects.toThrow(`agency "${name}" has transfer method none: download file ${file.name} instead`);
    expect(await attemptRows(file.id)).toEqual([]);
  });
});
