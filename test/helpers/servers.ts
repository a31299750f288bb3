// Real servers on loopback for the delivery tests, each on a spare port and stopped by the
// handle or pid we started: OpenSSH's sshd (Debian's openssh-server, installed by .ci/run),
// smtp-server read back with mailparser, and s3rver. No stubs of our own senders.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer } from 'smtp-server';

export async function sparePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Account changes under one lock: the two vitest projects set up their accounts at the same time. */
function accountCommand(args: string[], input?: string): void {
  execFileSync('flock', [join(tmpdir(), 'arrears-test-accounts.lock'), ...args], { input, stdio: ['pipe', 'ignore', 'pipe'] });
}

export interface Sshd {
  port: number;
  /** A local account that may log in only through this server (nologin shell). */
  user: string;
  password: string;
  /** An ed25519 private key (OpenSSH format, encrypted with `passphrase`) in authorized_keys. */
  privateKey: string;
  passphrase: string;
  /** An empty folder the user can write to; give it as the agency's remoteFolder. */
  uploadDir: string;
  /** The server key's fingerprint as `ssh-keygen -lf` prints it (SHA256:…). */
  hostKey: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  dispose(): Promise<void>;
}

/** Keys, config and the account for a private sshd; not started until start(). Needs root. */
export function prepareSshd(port: number, label = ''): Sshd {
  const dir = tempDir('arrears-sshd-');
  chmodSync(dir, 0o755);
  // One account per vitest project and test file (label): files run at the same time, and
  // each sets its account's password.
  const user = `arrears-sftp-${label ? `${label}-` : ''}${process.env.ARREARS_TEST_DB ?? 'test'}`;
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const passphrase = `pp-${randomBytes(8).toString('hex')}`;
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'hostkey')]);
  const hostKey = execFileSync('ssh-keygen', ['-l', '-f', join(dir, 'hostkey.pub')]).toString().split(' ')[1]!;
  // Few KDF rounds: the key is still encrypted, and decrypting it in JavaScript stays quick.
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-a', '2', '-N', passphrase, '-C', 'arrears-test', '-f', join(dir, 'client')]);
  writeFileSync(join(dir, 'authorized_keys'), readFileSync(join(dir, 'client.pub')), { mode: 0o644 });
  accountCommand(['sh', '-c', 'id -u "$1" >/dev/null 2>&1 || useradd -M -d /nonexistent -s /usr/sbin/nologin "$1"', 'sh', user]);
  accountCommand(['chpasswd'], `${user}:${password}\n`);
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  const uploadDir = join(dir, 'upload');
  mkdirSync(uploadDir, { mode: 0o755 });
  chownSync(uploadDir, uid, gid);
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'hostkey')}`,
      `PidFile ${join(dir, 'pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PasswordAuthentication yes',
      'KbdInteractiveAuthentication no',
      'PubkeyAuthentication yes',
      `AllowUsers ${user}`,
      'Subsystem sftp internal-sftp',
      'UsePAM no',
      '',
    ].join('\n'),
  );
  mkdirSync('/run/sshd', { recursive: true });

  let child: ChildProcess | null = null;
  const sshd: Sshd = {
    port,
    user,
    password,
    passphrase,
    privateKey: readFileSync(join(dir, 'client'), 'utf8'),
    uploadDir,
    hostKey,
    start() {
      // -D: stay in the foreground so we hold its pid; -e: log to stderr, where "listening" shows it is ready.
      const proc = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      return new Promise((resolve, reject) => {
        let log = '';
        proc.stderr!.on('data', (chunk: Buffer) => {
          log += chunk.toString();
          if (log.includes(`Server listening on 127.0.0.1 port ${port}`)) resolve();
        });
        proc.once('exit', (code) => reject(new Error(`sshd exited with ${code}: ${log}`)));
        proc.once('error', reject);
      });
    },
    async stop() {
      const proc = child;
      child = null;
      if (!proc || proc.exitCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGTERM');
      await exited;
    },
    async dispose() {
      await sshd.stop();
      // The account keeps no usable password once the tests are done.
      accountCommand(['usermod', '-L', user]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sshd;
}

export interface ReceivedMail {
  mail: ParsedMail;
  /** RCPT TO addresses, as the server saw them. */
  recipients: string[];
}

export interface Smtp {
  port: number;
  user: string;
  password: string;
  /** For ARREARS_SMTP_URL. */
  url: string;
  received: ReceivedMail[];
  stop(): Promise<void>;
}

/**
 * A real SMTP listener (plain, AUTH required) that parses what arrives. Its refusal of a
 * login quotes the password it was given, as careless servers do, so tests can check that
 * error texts are scrubbed.
 */
export async function startSmtp(): Promise<Smtp> {
  const user = 'relay';
  const password = `smtp-${randomBytes(10).toString('hex')}`;
  const received: ReceivedMail[] = [];
  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, callback) {
      if (auth.username === user && auth.password === password) callback(null, { user });
      else callback(new Error(`Invalid username or password (${auth.username}:${auth.password})`));
    },
    onData(stream, session, callback) {
      simpleParser(stream).then(
        (mail) => {
          received.push({ mail, recipients: session.envelope.rcptTo.map((r) => r.address) });
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.server.address();
      resolve(typeof address === 'object' && address ? address.port : 0);
    });
  });
  return {
    port,
    user,
    password,
    url: `smtp://${user}:${password}@127.0.0.1:${port}`,
    received,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

interface S3rverInstance {
  run(): Promise<{ port: number }>;
  close(): Promise<void>;
}

export interface S3 {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The stored object's bytes, read back through the S3 protocol. */
  read(key: string): Promise<Buffer>;
  stop(): Promise<void>;
}

/** s3rver on a temp directory with one bucket and a fresh key pair. */
export async function startS3(bucket: string): Promise<S3> {
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver') as new (options: Record<string, unknown>) => S3rverInstance;
  const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account') as { DUMMY_ACCOUNT: { createKeyPair(id: string, secret: string): void } };
  const accessKeyId = `AKIA${randomBytes(8).toString('hex').toUpperCase()}`;
  const secretAccessKey = randomBytes(30).toString('base64');
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secretAccessKey);
  const directory = tempDir('arrears-s3-');
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket }] });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
  return {
    endpoint,
    bucket,
    accessKeyId,
    secretAccessKey,
    async read(key) {
      const res = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return Buffer.from(await res.Body!.transformToByteArray());
    },
    async stop() {
      client.destroy();
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
