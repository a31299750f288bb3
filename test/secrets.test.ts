// Transfer credentials at rest and in every output: encrypted in agencies.transfer_secret,
// masked or reduced to flags everywhere else (CLI text and JSON, audit log, attempt errors,
// logs), and a missing or wrong key fails with a clear message. On PGlite and PostgreSQL.
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { ValidationError } from '../src/domain/errors.ts';
import { addAgency, describeAgencySecrets, editAgency, getAgency, listAgencies, readAgencySecrets } from '../src/services/agencies.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { deliverDueFiles } from '../src/services/delivery.ts';
import { KEY_FILE_NAME, SecretKeyError, decryptSecret, loadSecretKey, parseSecretKey, unpackSecrets } from '../src/services/secrets.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { sparePort } from './helpers/servers.ts';

const ROOT = join(import.meta.dirname, '..');
let t: TestDatabase;
let ctx: Context;
let work: string;
const keyText = randomBytes(32).toString('base64');
const savedKey = process.env.ARREARS_SECRET_KEY;

/** An ed25519 key pair from ssh-keygen, the private half encrypted with `passphrase`. */
function sshKey(name: string, passphrase: string): { privateKey: string; fingerprint: string; lines: string[] } {
  const path = join(work, name);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '2', '-N', passphrase, '-C', name, '-f', path]);
  const privateKey = readFileSync(path, 'utf8');
  // "256 SHA256:… comment (ED25519)"
  const fingerprint = execFileSync('ssh-keygen', ['-l', '-f', `${path}.pub`]).toString().split(' ')[1]!;
  return { privateKey, fingerprint, lines: privateKey.split('\n').filter((l) => l && !l.startsWith('-----')) };
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'arrears-secrets-'));
  process.env.ARREARS_SECRET_KEY = keyText;
  t = await freshDatabase();
  ctx = { database: t, clock: fixedClock('2024-06-03T12:00:00Z'), actor: 'test:secrets' };
});

afterAll(async () => {
  await t?.dispose();
  rmSync(work, { recursive: true, force: true });
  if (savedKey === undefined) delete process.env.ARREARS_SECRET_KEY;
  else process.env.ARREARS_SECRET_KEY = savedKey;
});

describe('no key configured', () => {
  it('a throw-away PGlite gets a throw-away key; PostgreSQL refuses outright', async () => {
    if (testDbKind() === 'pglite') {
      // Another handle on the same memory database: `t` itself keeps no key, so later tests see it missing.
      const handle = { ...t };
      const key = await loadSecretKey(handle, { env: {} });
      expect(key).toHaveLength(32);
      expect((await loadSecretKey(handle, { env: {} })).equals(key)).toBe(true);
    } else {
      await expect(loadSecretKey(t, { env: {} })).rejects.toThrow(
        'ARREARS_SECRET_KEY is not set: a PostgreSQL database needs the key that encrypts agency credentials, the same on every server. Set it to 32 random bytes in base64 or hex, e.g. `openssl rand -base64 32`, or set ARREARS_SECRET_KEY_FILE to a file holding it',
      );
    }
  });
});

describe('agency secrets through the service', () => {
  it('are stored only encrypted, reported as flags, masked on request, and never audited', async () => {
    const key = sshKey('svc', 'pp-service-4711');
    const password = `pw-${randomBytes(9).toString('hex')}`;
    const sftp = await addAgency(ctx, {
      name: 'Service Sftp',
      transferMethod: 'sftp',
      transferConfig: { host: 'sftp.agency.example', username: 'lib' },
      secrets: { password, privateKey: key.privateKey, passphrase: 'pp-service-4711' },
    });
    expect(sftp.secrets).toEqual({ hasPassword: true, hasPrivateKey: true, hasPassphrase: true, hasSecretAccessKey: false });
    expect((await getAgency(t.db, sftp.id)).secrets).toEqual(sftp.secrets);

    const { transfer_secret: stored } = await t.db.selectFrom('agencies').select('transfer_secret').where('id', '=', sftp.id).executeTakeFirstOrThrow();
    expect(Object.keys(unpackSecrets(stored))).toEqual(['passphrase', 'password', 'privateKey']);
    for (const plain of [password, 'pp-service-4711', ...key.lines]) expect(stored).not.toContain(plain);
    expect(decryptSecret(parseSecretKey(keyText, 'test'), unpackSecrets(stored).password!)).toBe(password);
    expect(await readAgencySecrets(t.db, sftp.id, parseSecretKey(keyText, 'test'))).toEqual({ password, privateKey: key.privateKey, passphrase: 'pp-service-4711' });

    // Set, and nothing of the value: no character, not its length.
    expect(await describeAgencySecrets(ctx, sftp.id)).toEqual({
      password: '••••••',
      privateKey: `ssh-ed25519 ${key.fingerprint}`,
      passphrase: '••••••',
    });

    const next = `pw-${randomBytes(9).toString('hex')}`;
    const edited = await editAgency(ctx, sftp.id, { secrets: { password: next } });
    expect(edited.secrets).toEqual(sftp.secrets);
    expect((await describeAgencySecrets(ctx, sftp.id)).password).toBe('••••••');

    const audits = await t.db.selectFrom('audit_log').select(['action', 'before', 'after']).where('entity', '=', 'agency').where('entity_id', '=', String(sftp.id)).orderBy('id').execute();
    expect(audits.map((a) => a.action)).toEqual(['agency.create', 'agency.update']);
    expect((audits[1]!.after as { secretsChanged: string[] }).secretsChanged).toEqual(['password']);
    const text = JSON.stringify(audits);
    for (const plain of [password, next, 'pp-service-4711', ...key.lines]) expect(text).not.toContain(plain);
  });

  it('drops secrets the new transfer method does not use, and a blank value removes one', async () => {
    const a = await addAgency(ctx, { name: 'Switcher', transferMethod: 's3', transferConfig: { bucket: 'agency-drop', accessKeyId: 'AKIAEXAMPLE' }, secrets: { secretAccessKey: 'sk-to-remove-123' } });
    expect(a.secrets).toEqual({ hasPassword: false, hasPrivateKey: false, hasPassphrase: false, hasSecretAccessKey: true });
    const cleared = await editAgency(ctx, a.id, { secrets: { secretAccessKey: '' } });
    expect(cleared.secrets).toBeUndefined();
    await editAgency(ctx, a.id, { secrets: { secretAccessKey: 'sk-again-456' } });
    const moved = await editAgency(ctx, a.id, { transferMethod: 'folder', transferConfig: { path: '/srv/outbox' } });
    expect(moved.secrets).toBeUndefined();
    const row = await t.db.selectFrom('agencies').select('transfer_secret').where('id', '=', a.id).executeTakeFirstOrThrow();
    expect(row.transfer_secret).toBeNull();
  });

  it('rejects secrets a method does not take and keys ssh cannot use, naming the field and not the value', async () => {
    const key = sshKey('locked', 'pp-locked-99');
    const problems = async (p: Promise<unknown>) => {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(ValidationError);
      return (err as ValidationError).problems;
    };
    expect(await problems(addAgency(ctx, { name: 'Bad S3', transferMethod: 's3', transferConfig: { bucket: 'agency-drop' }, secrets: { password: 'pw-not-here-1' } }))).toEqual([
      { field: 'secrets.password', reason: 'is not a secret of the s3 transfer method (it has secretAccessKey)' },
    ]);
    expect(await problems(addAgency(ctx, { name: 'Bad Mail', transferMethod: 'email', transferConfig: { to: 'a@agency.example' }, secrets: { secretAccessKey: 'sk-not-here-2' } }))).toEqual([
      { field: 'secrets.secretAccessKey', reason: 'the email transfer method takes no secrets' },
    ]);
    const sftp = { name: 'Bad Key', transferMethod: 'sftp' as const, transferConfig: { host: 'h.example', username: 'lib' } };
    expect(await problems(addAgency(ctx, { ...sftp, secrets: { privateKey: key.privateKey } }))).toEqual([{ field: 'secrets.privateKey', reason: 'is encrypted: give its passphrase too' }]);
    const garbage = await problems(addAgency(ctx, { ...sftp, secrets: { privateKey: 'not-a-key-at-all-0815' } }));
    expect(garbage).toHaveLength(1);
    expect(garbage[0]!.reason).toMatch(/^is not a private key ssh can use \(/);
    expect(garbage[0]!.reason).not.toContain('not-a-key-at-all-0815');
    expect((await listAgencies(t.db)).map((a) => a.name)).not.toContain('Bad Key');
  });
});

describe('the key', () => {
  it('missing while secrets are stored: fails with "ARREARS_SECRET_KEY is not set"', async () => {
    const err = await loadSecretKey(t, { env: {} }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SecretKeyError);
    expect((err as Error).message).toMatch(/^ARREARS_SECRET_KEY is not set: /);
    expect((err as Error).message).toContain('ARREARS_SECRET_KEY_FILE');
  });

  it('wrong: fails with "cannot decrypt agency secrets: wrong key", also as a recorded delivery error', async () => {
    const other = randomBytes(32).toString('hex');
    await expect(loadSecretKey(t, { env: { ARREARS_SECRET_KEY: other } })).rejects.toThrow(/^cannot decrypt agency secrets: wrong key/);
    const a = await addAgency(ctx, { name: 'Wrong Key Sftp', transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: await sparePort(), username: 'lib' }, secrets: { password: 'pw-wrong-key-77' } });
    const { id } = await t.db
      .insertInto('report_files')
      .values({ agency_id: a.id, kind: 'new', name: 'wrongkey_new_20240603120000.txt', content: Buffer.from('x'), sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881', row_count: 0, next_attempt_at: new Date('2024-06-03T12:00:00Z') })
      .returning('id')
      .executeTakeFirstOrThrow();
    process.env.ARREARS_SECRET_KEY = other;
    try {
      const report = await deliverDueFiles(ctx);
      expect(report.results.map((r) => [r.fileId, r.ok, r.error])).toEqual([[id, false, 'SecretKeyError: cannot decrypt agency secrets: wrong key (the configured key is not the one they were stored with)']]);
    } finally {
      process.env.ARREARS_SECRET_KEY = keyText;
    }
    await t.db.updateTable('report_files').set({ status: 'held' }).where('id', '=', id).execute();
  });

  it('malformed, or from ARREARS_SECRET_KEY_FILE', async () => {
    await expect(loadSecretKey(t, { env: { ARREARS_SECRET_KEY: 'too-short' } })).rejects.toThrow('ARREARS_SECRET_KEY is not a valid key: it must be 32 random bytes in base64 or hex');
    const file = join(work, 'key.txt');
    writeFileSync(file, `${keyText}\n`);
    expect((await loadSecretKey(t, { env: { ARREARS_SECRET_KEY_FILE: file } })).equals(parseSecretKey(keyText, 'test'))).toBe(true);
    await expect(loadSecretKey(t, { env: { ARREARS_SECRET_KEY_FILE: join(work, 'absent') } })).rejects.toThrow(`ARREARS_SECRET_KEY_FILE: ${join(work, 'absent')} does not exist`);
  });
});

/** Each child process loads the whole CLI; on a busy 2-core machine that takes a while. */
const CLI_TEST_TIMEOUT_MS = 300_000;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `tsx src/cli/main.ts …` in a child process, as a cron job would run it; `stdin` is what it reads. */
function cli(args: string[], env: Record<string, string | undefined>, stdin = ''): Promise<Run> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined && !k.startsWith('VITEST') && k !== 'ARREARS_TEST_DB') childEnv[k] = v;
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'node_modules/.bin/tsx'), [join(ROOT, 'src/cli/main.ts'), ...args], { cwd: work, env: childEnv });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

describe('the command line never prints a secret', () => {
  it('add, list, show and edit with a password, a key file and an S3 secret; search every output and stored row', async () => {
    const pglite = testDbKind() === 'pglite';
    // PGlite: a fresh data folder and no key at all (the zero-setup path). PostgreSQL: this file's schema, with the key.
    const folder = join(work, 'cli-data');
    const db = pglite ? folder : t.url;
    const env = pglite ? { ARREARS_SECRET_KEY: undefined } : { ARREARS_SECRET_KEY: keyText, PGOPTIONS: `-c search_path=${t.schema}` };
    const password = `pw-${randomBytes(10).toString('hex')}`;
    const password2 = `pw-${randomBytes(10).toString('hex')}`;
    const secretAccessKey = randomBytes(30).toString('base64');
    const passphrase = `pp-${randomBytes(6).toString('hex')}`;
    const key = sshKey('cli', passphrase);
    writeFileSync(join(work, 'agency_key'), key.privateKey, { mode: 0o600 });
    const port = await sparePort();

    const runs: Run[] = [];
    // Every argument list given: none may hold a secret (it would be readable in /proc/<pid>/cmdline).
    const argv: string[][] = [];
    const run = async (args: string[], extra: { env?: Record<string, string>; stdin?: string } = {}) => {
      argv.push(args);
      const r = await cli(['--db', db, ...args], { ...env, ...extra.env }, extra.stdin);
      runs.push(r);
      return r;
    };
    // The password on standard input, the passphrase from an environment variable, the key from a file.
    const added = await run(['agencies', 'add', 'Cli Sftp', '--transfer', 'sftp', '--host', '127.0.0.1', '--port', String(port), '--username', 'lib', '--password-stdin', '--private-key-file', join(work, 'agency_key'), '--passphrase-env', 'AGENCY_PASSPHRASE'], {
      stdin: `${password}\n`,
      env: { AGENCY_PASSPHRASE: passphrase },
    });
    expect(added).toMatchObject({ code: 0, stdout: expect.stringMatching(/^added agency \d+ "Cli Sftp" \(sftp; credentials: password, private key, passphrase\)\n$/) });
    if (pglite) {
      // Zero setup: the data folder got its own key, said so once, readable by its owner only.
      const keyFile = join(folder, KEY_FILE_NAME);
      expect(added.stderr).toBe(`Created ${keyFile} (mode 0600): the key that encrypts agency credentials. Keep it with the data folder; without it stored passwords cannot be read.\n`);
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      expect(parseSecretKey(readFileSync(keyFile, 'utf8'), 'key file')).toHaveLength(32);
    } else {
      expect(added.stderr).toBe('');
    }
    writeFileSync(join(work, 's3_secret'), `${secretAccessKey}\n`, { mode: 0o600 });
    const s3 = await run(['agencies', 'add', 'Cli S3', '--transfer', 's3', '--bucket', 'agency-drop', '--access-key-id', 'AKIACLIEXAMPLE', '--secret-access-key-file', join(work, 's3_secret')]);
    expect(s3).toMatchObject({ code: 0, stderr: '' });

    const list = await run(['agencies', 'list']);
    expect(list.stdout).toMatch(/Cli S3\s+yes\s+s3\s+s3:\/\/agency-drop\/\s+secret access key\s+arrears\n/);
    expect(list.stdout).toMatch(/Cli Sftp\s+yes\s+sftp\s+lib@127\.0\.0\.1:\d+\s+password, private key, passphrase\s+arrears\n/);
    const shown = JSON.parse((await run(['agencies', 'show', 'Cli Sftp', '--json'])).stdout) as { secrets: unknown; credentials: unknown };
    expect(shown.secrets).toEqual({ hasPassword: true, hasPrivateKey: true, hasPassphrase: true, hasSecretAccessKey: false });
    expect(shown.credentials).toEqual({ password: '••••••', privateKey: `ssh-ed25519 ${key.fingerprint}`, passphrase: '••••••' });
    expect(await run(['agencies', 'edit', 'Cli Sftp', '--password-env', 'NEW_AGENCY_PASSWORD'], { env: { NEW_AGENCY_PASSWORD: password2 } })).toMatchObject({ code: 0, stderr: '' });
    for (const args of argv) for (const secret of [password, password2, secretAccessKey, passphrase]) expect(args.join(' ')).not.toContain(secret);

    // A value on the command line still works, with a warning naming the safer options.
    const argvPassword = `pw-${randomBytes(10).toString('hex')}`;
    const onArgv = await run(['agencies', 'edit', 'Cli Sftp', '--password', argvPassword]);
    expect(onArgv).toMatchObject({ code: 0, stderr: 'warning: --password on the command line can be read by other local users (ps, /proc); use --password-stdin, --password-file or --password-env\n' });
    expect(await run(['agencies', 'edit', 'Cli Sftp', '--password-stdin', '--passphrase-stdin'])).toMatchObject({ code: 2, stderr: expect.stringContaining('standard input holds one secret') });
    expect(await run(['agencies', 'edit', 'Cli Sftp', '--password-env', 'NOT_SET_ANYWHERE'])).toMatchObject({ code: 2, stderr: expect.stringContaining('the environment variable NOT_SET_ANYWHERE is not set') });
    expect(await run(['agencies', 'edit', 'Cli Sftp', '--password-env', 'NEW_AGENCY_PASSWORD'], { env: { NEW_AGENCY_PASSWORD: password2 } })).toMatchObject({ code: 0, stderr: '' });
    expect(runs.slice(1).filter((r) => r !== onArgv && r.code !== 2).map((r) => [r.code, r.stderr])).toEqual(runs.slice(1).filter((r) => r !== onArgv && r.code !== 2).map(() => [0, '']));

    // A delivery attempt in this process against the same data: it fails (nothing listens) and records an error.
    const database = pglite ? await openDatabase({ url: folder }) : t;
    let stored: string;
    try {
      const sftp = await getAgency(database.db, 'Cli Sftp');
      // Each secret arrived whole from where it was given (stdin, environment, file).
      const storedKey = parseSecretKey(pglite ? readFileSync(join(folder, KEY_FILE_NAME), 'utf8') : keyText, 'test');
      expect(await readAgencySecrets(database.db, sftp.id, storedKey)).toEqual({ password: password2, privateKey: key.privateKey, passphrase });
      expect(await readAgencySecrets(database.db, (await getAgency(database.db, 'Cli S3')).id, storedKey)).toEqual({ secretAccessKey });
      await database.db
        .insertInto('report_files')
        .values({ agency_id: sftp.id, kind: 'new', name: 'cli_new_20240603120000.txt', content: Buffer.from('x'), sha256: '2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881', row_count: 0, next_attempt_at: new Date('2024-06-03T12:00:00Z') })
        .execute();
      const keyEnv = process.env.ARREARS_SECRET_KEY;
      if (pglite) delete process.env.ARREARS_SECRET_KEY;
      try {
        const report = await deliverDueFiles({ database, clock: fixedClock('2024-06-03T12:00:00Z'), actor: 'test:secrets' });
        expect(report.results.filter((r) => r.name === 'cli_new_20240603120000.txt').map((r) => r.error)).toEqual([expect.stringMatching(/ECONNREFUSED/)]);
      } finally {
        process.env.ARREARS_SECRET_KEY = keyEnv;
      }
      const agencies = await database.db.selectFrom('agencies').select(['name', 'transfer_config', 'transfer_secret']).where('name', 'like', 'Cli %').execute();
      const audit = await database.db.selectFrom('audit_log').selectAll().execute();
      const attempts = await database.db.selectFrom('transfer_attempts').selectAll().execute();
      stored = JSON.stringify({ audit, attempts, config: agencies.map((a) => a.transfer_config) });
      for (const a of agencies) for (const plain of [password, password2, secretAccessKey, passphrase, ...key.lines]) expect(a.transfer_secret).not.toContain(plain);
    } finally {
      if (database !== t) await database.close();
    }

    const keyMaterial = pglite ? readFileSync(join(folder, KEY_FILE_NAME), 'utf8').trim() : keyText;
    const printed = runs.map((r) => r.stdout + r.stderr).join('\n');
    for (const needle of [password, password2, argvPassword, secretAccessKey, passphrase, keyMaterial, ...key.lines]) {
      expect(printed).not.toContain(needle);
      expect(stored).not.toContain(needle);
    }
  }, CLI_TEST_TIMEOUT_MS);

  it('fails clearly when a database with stored secrets is used without its key', async () => {
    // PGlite: the folder's key file is gone. PostgreSQL: no key in the environment.
    const pglite = testDbKind() === 'pglite';
    const folder = join(work, 'cli-data');
    if (pglite) rmSync(join(folder, KEY_FILE_NAME));
    const env = pglite ? { ARREARS_SECRET_KEY: undefined } : { ARREARS_SECRET_KEY: undefined, PGOPTIONS: `-c search_path=${t.schema}` };
    const r = await cli(['--db', pglite ? folder : t.url, 'agencies', 'edit', 'Cli Sftp', '--password-env', 'SOME_PASSWORD'], { ...env, SOME_PASSWORD: 'pw-whatever-1' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: ARREARS_SECRET_KEY is not set: /);
    const wrong = await cli(['--db', pglite ? folder : t.url, 'agencies', 'show', 'Cli Sftp'], { ...env, ARREARS_SECRET_KEY: randomBytes(32).toString('base64') });
    expect(wrong.code).toBe(0);
    expect(wrong.stderr).toMatch(/^warning: cannot decrypt agency secrets: wrong key/);
    expect(wrong.stdout).toMatch(/\npassword +set\nprivate key +set\npassphrase +set\n/);
  }, CLI_TEST_TIMEOUT_MS);
});
