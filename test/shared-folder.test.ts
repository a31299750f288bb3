// Commands beside a running server. A real `arrears start` holds the database (a PGlite folder,
// or this file's PostgreSQL schema) while CLI commands run beside it: they succeed, and each
// side sees what the other wrote. Then, on PGlite, the socket the server shares its folder on:
// private to its user; one session shared so that the server's transactions and each
// client's (and one client's multi-message queries) never mix; a client that leaves in the
// middle commits nothing and holds nothing; a killed server's folder opens again directly.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { LOCK_FILE } from '../src/db/folder-lock.ts';
import { readShareInfo, SHARE_FILE, SOCKET_DIR } from '../src/db/pglite-share.ts';
import { ROOT } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

const PASSWORD = 'a passphrase for the shared folder';
const cleanup: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

function tempFolder(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Cli {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `arrears <args>` in its own process, as cron or a person at a terminal runs it. */
function cli(url: string, args: string[], stdin = ''): Promise<Cli> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, ...args], { cwd: ROOT, env: process.env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin);
  });
}

/** Starts `arrears start` on url and resolves with its address once it listens. */
async function startServer(url: string): Promise<{ server: ChildProcess; base: string; log: () => string }> {
  const server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, 'start', '--port', '0'], { cwd: ROOT, env: process.env });
  let log = '';
  server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  cleanup.push(() => {
    server.kill('SIGKILL');
  });
  const base = await new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    }, 50);
    server.on('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`arrears start exited ${code}: ${log}`));
    });
  });
  return { server, base, log: () => log };
}

function stopped(server: ChildProcess): Promise<void> {
  return new Promise((resolve) => (server.exitCode !== null || server.signalCode !== null ? resolve() : server.once('exit', () => resolve())));
}

describe('CLI commands beside a running arrears start', () => {
  let url: string;
  let t: TestDatabase | undefined;

  beforeAll(async () => {
    if (testDbKind() === 'postgres') {
      // A PostgreSQL server needs the key to agency credentials from the environment (PGlite keeps one in its folder).
      const saved = process.env.ARREARS_SECRET_KEY;
      process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
      cleanup.push(() => {
        if (saved === undefined) delete process.env.ARREARS_SECRET_KEY;
        else process.env.ARREARS_SECRET_KEY = saved;
      });
      t = await freshDatabase();
      cleanup.push(() => t!.dispose());
      url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
      await seed(t);
    } else {
      url = join(tempFolder('arrears-shared-'), 'data');
      // Patrons already there, so the server starts without loading its demo; closed before it starts.
      const setup = await openDatabase({ url });
      await seed(Object.assign(setup, { url, dispose: () => setup.close() }));
      await setup.close();
    }
  });

  async function seed(database: TestDatabase): Promise<void> {
    const s = new Scenario(database);
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
  }

  // Ten commands, each its own Node process through tsx, on two shared cores: minutes, not seconds.
  it('succeed, and the server and the commands see each other’s writes', { timeout: 600_000 }, async () => {
    const { server, base } = await startServer(url);

    // The command the server itself tells a newcomer to run.
    const added = await cli(url, ['users', 'add', 'casey', '--role', 'admin', '--password-stdin'], `${PASSWORD}\n`);
    expect(added.code, added.stderr).toBe(0);
    // The server sees the command's write: the new user signs in.
    const login = await fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'casey', password: PASSWORD }) });
    expect(login.status).toBe(200);
    const cookie = /arrears_session=([^;]+)/.exec(login.headers.get('set-cookie') ?? '')![0];
    // A cookie session's unsafe requests carry the CSRF token its replies hand out (README, Access).
    const csrf = login.headers.get('x-csrf-token') ?? '';

    // The command sees the server's write: a token made over HTTP.
    const token = await fetch(`${base}/api/users/casey/tokens`, { method: 'POST', headers: { 'content-type': 'application/json', cookie, origin: base, 'x-csrf-token': csrf }, body: JSON.stringify({ name: 'nightly' }) });
    expect(token.status).toBe(201);
    const tokens = await cli(url, ['users', 'token', 'list', 'casey', '--json']);
    expect(tokens.code, tokens.stderr).toBe(0);
    expect((JSON.parse(tokens.stdout) as { name: string }[]).map((x) => x.name)).toEqual(['nightly']);

    // Several commands at once, while the server answers requests.
    const requests = Array.from({ length: 6 }, () => fetch(`${base}/api/patrons/P1`, { headers: { cookie } }).then((r) => r.status));
    const [ledger, users, other, exclusion] = await Promise.all([
      cli(url, ['patron', 'P1', '--json']),
      cli(url, ['users', 'list', '--json']),
      cli(url, ['patron', 'P2', '--json']),
      cli(url, ['exclusions', 'add', 'P2', '--reason', 'disputed at the desk', '--json']),
    ]);
    for (const r of [ledger, users, other, exclusion]) expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(ledger.stdout) as { patron: { id: string }; charges: { id: string }[] }).charges.map((c) => c.id)).toEqual(['C1']);
    expect((await Promise.all(requests)).every((s) => s === 200)).toBe(true);
    const listed = (await (await fetch(`${base}/api/exclusions?patron=P2`, { headers: { cookie } })).json()) as { items: { reason: string }[] };
    expect(listed.items.map((e) => e.reason)).toEqual(['disputed at the desk']);

    if (testDbKind() === 'pglite') {
      // The socket is its user's alone.
      const info = readShareInfo(url)!;
      expect(info.pid).toBe(server.pid);
      expect(statSync(info.socketDir!).mode & 0o777).toBe(0o700);
      expect(statSync(join(info.socketDir!, '.s.PGSQL.5432')).mode & 0o777).toBe(0o600);
      // A second server on the same folder is refused, not connected through the first.
      const second = await cli(url, ['start', '--port', '0']);
      expect(second.code).toBe(3);
      expect(second.stderr).toContain(`in use by process ${server.pid}`);
      // A backup needs the folder to itself, and says so.
      const backup = await cli(url, ['backup', join(dirname(url), 'copy.tar.gz')]);
      expect(backup.code).toBe(3);
      expect(backup.stderr).toContain(`served by arrears start (process ${server.pid})`);
    }

    // A server that dies leaves its pid and socket files behind; the next command opens the folder itself.
    server.kill('SIGKILL');
    await stopped(server);
    const after = await cli(url, ['users', 'list', '--json']);
    expect(after.code, after.stderr).toBe(0);
    expect((JSON.parse(after.stdout) as { username: string }[]).map((u) => u.username)).toEqual(['casey']);
    if (testDbKind() === 'pglite') {
      expect(existsSync(join(url, LOCK_FILE))).toBe(false);
      expect(existsSync(join(url, SHARE_FILE))).toBe(false);
    }
  });
});

describe('a PGlite folder shared on a socket', () => {
  let database: Database;
  let folder: string;
  const clients: pg.Client[] = [];

  beforeAll(async () => {
    folder = tempFolder('arrears-share-');
    database = await openDatabase({ url: folder, share: true, migrate: false });
    cleanup.push(async () => {
      for (const c of clients) await c.end().catch(() => undefined);
      await database.close();
    });
    await sql`create table shared_rows (n int primary key)`.execute(database.db);
  });

  async function client(): Promise<pg.Client> {
    const c = new pg.Client({ host: dirname(database.share!.socket), user: 'postgres', database: 'postgres' });
    c.on('error', () => undefined);
    await c.connect();
    clients.push(c);
    return c;
  }
  const count = async () => Number((await sql<{ n: number }>`select count(*)::int as n from shared_rows`.execute(database.db)).rows[0]!.n);
  const clear = () => sql`delete from shared_rows`.execute(database.db);

  it('says where, in a folder only its user can enter', () => {
    const info = readShareInfo(folder)!;
    expect(info).toEqual({ pid: process.pid, socketDir: dirname(database.share!.socket) });
    expect(statSync(info.socketDir!).mode & 0o777).toBe(0o700);
    expect(statSync(database.share!.socket).mode & 0o777).toBe(0o600);
  });

  it('keeps the socket in the data folder, where a command outside the server’s private /tmp finds it too', () => {
    expect(readShareInfo(folder)!.socketDir).toBe(join(folder, SOCKET_DIR));
  });

  it('puts it in the temporary directory when the data folder’s path is too long for a socket', async () => {
    const deep = join(tempFolder('arrears-share-'), 'a-data-folder-with-a-name-long-enough-that-a-unix-socket-path-inside-would-not-fit');
    const other = await openDatabase({ url: deep, share: true, migrate: false });
    try {
      const dir = dirname(other.share!.socket);
      expect(dir.startsWith(join(tmpdir(), 'arrears-socket-'))).toBe(true);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      const c = new pg.Client({ host: dir, user: 'postgres', database: 'postgres' });
      await c.connect();
      expect((await c.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await c.end();
    } finally {
      await other.close();
    }
    expect(existsSync(join(deep, SHARE_FILE))).toBe(false);
  });

  it('clears what a killed server left: its share file and its socket folder in the temporary directory', async () => {
    const deep = join(tempFolder('arrears-share-'), 'another-data-folder-with-a-name-long-enough-that-a-unix-socket-inside-would-not-fit');
    await (await openDatabase({ url: deep, migrate: false })).close();
    // What a server killed with SIGKILL leaves behind: its pid, its share file, its socket folder.
    const left = mkdtempSync(join(tmpdir(), 'arrears-socket-'));
    cleanup.push(() => rmSync(left, { recursive: true, force: true }));
    writeFileSync(join(left, '.s.PGSQL.5432'), '');
    const gone = spawn('true');
    await new Promise((r) => gone.once('exit', r));
    writeFileSync(join(deep, LOCK_FILE), `${gone.pid}\n`);
    writeFileSync(join(deep, SHARE_FILE), JSON.stringify({ pid: gone.pid, socketDir: left }));
    const reopened = await openDatabase({ url: deep, migrate: false });
    try {
      expect(existsSync(join(deep, SHARE_FILE))).toBe(false);
      expect(existsSync(left)).toBe(false);
    } finally {
      await reopened.close();
    }
  });

  it("a client's statement waits for the server's transaction, and neither sees nor joins it", async () => {
    await clear();
    const c = await client();
    let answered = false;
    let reply: Promise<number> | undefined;
    await expect(
      database.db.transaction().execute(async (trx) => {
        await sql`insert into shared_rows values (1)`.execute(trx);
        reply = c.query('select count(*)::int as n from shared_rows').then((r) => {
          answered = true;
          return Number(r.rows[0].n);
        });
        await sleep(300);
        expect(answered).toBe(false);
        throw new Error('rolled back on purpose');
      }),
    ).rejects.toThrow('rolled back on purpose');
    expect(await reply).toBe(0);
    expect(await count()).toBe(0);
  });

  it("the server waits for a client's transaction, and sees it once committed", async () => {
    await clear();
    const c = await client();
    await c.query('begin');
    await c.query('insert into shared_rows values ($1)', [2]);
    let answered = false;
    const reply = count().then((n) => {
      answered = true;
      return n;
    });
    await sleep(300);
    expect(answered).toBe(false);
    await c.query('commit');
    expect(await reply).toBe(1);
  });

  it('a client that leaves inside a transaction commits nothing and holds nothing', async () => {
    await clear();
    const c = await client();
    await c.query('begin');
    await c.query('insert into shared_rows values ($1)', [3]);
    (c as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    expect(await count()).toBe(0);
    await sql`insert into shared_rows values (4)`.execute(database.db);
    expect(await count()).toBe(1);
  });

  it('a client that leaves halfway through an extended-protocol query commits nothing and holds nothing', async () => {
    await clear();
    const socket = connect(database.share!.socket);
    let received = Buffer.alloc(0);
    socket.on('data', (b: Buffer) => (received = Buffer.concat([received, b])));
    socket.on('error', () => undefined);
    await new Promise((r) => socket.once('connect', r));
    const until = async (done: () => boolean) => {
      for (let i = 0; i < 200 && !done(); i++) await sleep(25);
      expect(done()).toBe(true);
    };
    const cstr = (s: string) => Buffer.from(`${s}\0`);
    const msg = (type: string, body: Buffer) => {
      const head = Buffer.alloc(5);
      head.write(type, 0);
      head.writeInt32BE(4 + body.length, 1);
      return Buffer.concat([head, body]);
    };
    const startup = Buffer.concat([Buffer.alloc(8), cstr('user'), cstr('postgres'), cstr('database'), cstr('postgres'), Buffer.from([0])]);
    startup.writeInt32BE(startup.length, 0);
    startup.writeInt32BE(196608, 4);
    socket.write(startup);
    await until(() => received.includes(Buffer.from('Z\0\0\0\x05I')));
    received = Buffer.alloc(0);
    // Parse, Bind, Execute of an insert, Flush, and no Sync: the row is written but not yet committed.
    const parse = msg('P', Buffer.concat([cstr(''), cstr('insert into shared_rows values (5)'), Buffer.from([0, 0])]));
    const bind = msg('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 0, 0, 0])]));
    const execute = msg('E', Buffer.concat([cstr(''), Buffer.from([0, 0, 0, 0])]));
    socket.write(Buffer.concat([parse, bind, execute, msg('H', Buffer.alloc(0))]));
    await until(() => received.includes(Buffer.from('INSERT 0 1')));
    socket.destroy();
    expect(await count()).toBe(0);
    await sql`insert into shared_rows values (6)`.execute(database.db);
    expect(await count()).toBe(1);
  });

  it("clients' queries with parameters do not cut into each other's, nor into the server's", async () => {
    const [a, b, c] = [await client(), await client(), await client()];
    const ask = async (who: pg.Client, base: number) => {
      for (let i = 0; i < 60; i++) {
        const r = await who.query('select $1::int + $2::int as n', [base, i]);
        expect(Number(r.rows[0].n)).toBe(base + i);
      }
    };
    const server = async () => {
      for (let i = 0; i < 30; i++) expect(Number((await sql<{ n: number }>`select ${i}::int * 2 as n`.execute(database.db)).rows[0]!.n)).toBe(i * 2);
    };
    await Promise.all([ask(a, 1000), ask(b, 2000), ask(c, 3000), server()]);
  });

  it('stops with the database: the socket, its folder and the share file go', async () => {
    const socketDir = dirname(database.share!.socket);
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    await database.close();
    expect(existsSync(socketDir)).toBe(false);
    expect(existsSync(join(folder, SHARE_FILE))).toBe(false);
    expect(existsSync(join(folder, LOCK_FILE))).toBe(false);
    // Closing twice (the cleanup) is harmless.
    database = { ...database, close: async () => undefined };
  });
});
