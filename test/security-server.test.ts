// Issue 16's findings against a real `arrears start` (its own process, on a loopback port),
// where the probe saw them: security headers on /, /api and /docs; a bare /health for the
// world; 150 concurrent wrong guesses from one address are counted before any is checked
// (exactly 5 answered 401); a username guessed from 20 addresses is slowed, never locked, and
// the right password from another address still gets in; clients that trickle their headers
// or body are cut off, and connections beyond the cap are closed.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import type { Context } from '../src/services/context.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

const ROOT = join(import.meta.dirname, '..');
const PASSWORD = 'correct horse battery staple';
useTestSecretKey();
const dir = mkdtempSync(join(tmpdir(), 'arrears-security-server-'));

let t: TestDatabase;
let url: string;
let token: string;
let server: ChildProcess | undefined;
let base: string;
let log = '';

/** `arrears start` as its own process, with the limits short enough to watch. */
async function start(env: Record<string, string>): Promise<string> {
  log = '';
  server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, 'start', '--port', '0', '--host', '127.0.0.1'], { cwd: ROOT, env: { ...process.env, ...env } });
  server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  return new Promise<string>((resolve, reject) => {
    const timer = setInterval(() => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(log);
      if (m) {
        clearInterval(timer);
        resolve(m[1]!);
      }
    }, 50);
    server!.once('exit', (code) => {
      clearInterval(timer);
      reject(new Error(`arrears start exited ${code}: ${log}`));
    });
  });
}

async function stop(): Promise<void> {
  const s = server;
  server = undefined;
  if (!s || s.exitCode !== null) return;
  const closed = new Promise((resolve) => s.once('close', resolve));
  s.kill('SIGTERM');
  await closed;
}

beforeAll(async () => {
  t = await freshDatabase();
  // PGlite: a folder the server opens once setup has closed it; PostgreSQL: this file's schema.
  const folder = join(dir, 'db');
  url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : folder;
  const setup = testDbKind() === 'postgres' ? t : Object.assign(await openDatabase({ url: folder }), { url: folder, dispose: async () => undefined });
  const s = new Scenario(setup as TestDatabase);
  // A patron, so the server does not load the demo.
  await s.libraries({ code: 'MAIN' });
  await s.patrons({ id: 'P1' });
  const ctx: Context = { database: setup, clock: { now: () => new Date() }, actor: 'setup' };
  for (const username of ['keeper', 'racer', 'target']) await addUser(ctx, { username, password: PASSWORD, roles: ['admin'] });
  await addUser(ctx, { username: 'monitor', password: null, roles: ['viewer'] });
  token = (await createToken(ctx, 'monitor', 'monitoring')).token;
  if (testDbKind() === 'pglite') await setup.close();
  // The defaults, behind a proxy whose X-Forwarded-For gives each request its address.
  base = await start({ ARREARS_TRUST_PROXY: 'true' });
});

afterAll(async () => {
  await stop();
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

const login = (username: string, password: string, address: string) =>
  fetch(`${base}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-forwarded-for': address }, body: JSON.stringify({ username, password }) });

describe('security headers on every response of a real server', () => {
  it('/, /api, /docs and /health: a strict CSP, nosniff, no referrer, no framing; no-store on /api; HSTS only over https', async () => {
    const pages: Record<string, Response> = {
      '/': await fetch(`${base}/`, { headers: { accept: 'text/html' } }),
      '/#/users (a bookmarked screen)': await fetch(`${base}/users`, { headers: { accept: 'text/html' } }),
      '/api': await fetch(`${base}/api`),
      '/api/me': await fetch(`${base}/api/me`),
      '/api/referrals (signed in)': await fetch(`${base}/api/referrals`, { headers: { authorization: `Bearer ${token}` } }),
      '/docs': await fetch(`${base}/docs`, { redirect: 'follow' }),
      '/docs/json': await fetch(`${base}/docs/json`),
      '/health': await fetch(`${base}/health`),
    };
    for (const [path, res] of Object.entries(pages)) {
      const h = (name: string) => res.headers.get(name);
      const csp = h('content-security-policy') ?? '';
      expect(csp, path).toMatch(/frame-ancestors 'none'/);
      expect(csp, path).toMatch(/script-src 'self';|default-src 'none'/);
      expect(csp, path).not.toMatch(/script-src[^;]*unsafe/);
      expect([h('x-content-type-options'), h('referrer-policy'), h('x-frame-options')], path).toEqual(['nosniff', 'no-referrer', 'DENY']);
      expect(h('strict-transport-security'), path).toBeNull();
      if (path.startsWith('/api')) expect(h('cache-control'), path).toBe('no-store');
    }
    expect(pages['/']!.status).toBe(200);
    expect(await pages['/']!.text()).toContain('<div id="root">');
    expect(pages['/']!.headers.get('content-security-policy')).toBe(
      "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    expect(pages['/api/me']!.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'; sandbox");
    expect(pages['/docs']!.status).toBe(200);
    // Behind a TLS-terminating proxy (trusted here), the browser is told to stay on https.
    const https = await fetch(`${base}/`, { headers: { accept: 'text/html', 'x-forwarded-proto': 'https' } });
    expect(https.headers.get('strict-transport-security')).toBe('max-age=31536000');
  });

  it('/health tells the world only its status; the version and counts need a sign-in', async () => {
    expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${base}/health`, { headers: { authorization: `Bearer ${token}` } })).json()).toMatchObject({
      status: 'ok',
      database: testDbKind(),
      version: expect.any(String),
      counts: { libraries: 1, patrons: 1 },
    });
  });
});

describe('sign-in limits under concurrent requests', () => {
  it('150 concurrent wrong guesses from one address: exactly 5 are checked (401), the rest refused at once (429)', async () => {
    const replies = await Promise.all(Array.from({ length: 150 }, () => login('racer', 'wrong guess, surely', '10.20.0.1')));
    const counts: Record<number, number> = {};
    for (const r of replies) counts[r.status] = (counts[r.status] ?? 0) + 1;
    const odd = await Promise.all(replies.filter((r) => r.status !== 401 && r.status !== 429).map((r) => r.text()));
    expect({ counts, odd }).toEqual({ counts: { 401: 5, 429: 145 }, odd: [] });
    expect(replies.find((r) => r.status === 429)!.headers.get('retry-after')).toMatch(/^\d+$/);
    // The right password from that address waits out the window like the rest.
    expect((await login('racer', PASSWORD, '10.20.0.1')).status).toBe(429);
    expect((await login('racer', PASSWORD, '10.20.0.2')).status).toBe(200);
  });

  it('nobody can lock another out: 20 addresses guessing an admin slow it down, and the right password from another address gets in', async () => {
    const guesses = await Promise.all(Array.from({ length: 20 }, (_, i) => login('target', 'a wrong guess', `10.30.0.${i + 1}`)));
    expect(guesses.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 401));
    const started = Date.now();
    const right = await login('target', PASSWORD, '10.40.0.1');
    expect(right.status).toBe(200);
    // Slowed (1 s, doubling up to 10 s), not refused.
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    // An address that sprays usernames is refused for all of them.
    const spray = await Promise.all(Array.from({ length: 20 }, (_, i) => login(`nobody${i}`, 'a wrong guess', '10.50.0.1')));
    expect(spray.map((r) => r.status)).toEqual(Array.from({ length: 20 }, () => 401));
    expect((await login('keeper', PASSWORD, '10.50.0.1')).status).toBe(429);
    expect((await login('keeper', PASSWORD, '10.50.0.2')).status).toBe(200);
  });
});

/** A raw connection to the server; resolves when the server closes it, with how long that took. */
function rawClient(onOpen: (socket: Socket) => void): { socket: Socket; closed: Promise<{ ms: number; received: string }> } {
  const { port } = new URL(base);
  const socket = connect(Number(port), '127.0.0.1');
  const started = Date.now();
  let received = '';
  socket.on('data', (d: Buffer) => (received += d.toString()));
  socket.on('error', () => undefined);
  socket.once('connect', () => onOpen(socket));
  return { socket, closed: new Promise((resolve) => socket.once('close', () => resolve({ ms: Date.now() - started, received }))) };
}

/** Writes one byte every `everyMs` until the socket closes (or `maxMs` passes: the test then fails on the time). */
function trickle(socket: Socket, everyMs: number, maxMs = 30_000): void {
  const started = Date.now();
  const timer = setInterval(() => {
    if (socket.destroyed || Date.now() - started > maxMs) {
      clearInterval(timer);
      if (!socket.destroyed) socket.destroy();
      return;
    }
    socket.write('x');
  }, everyMs);
  socket.once('close', () => clearInterval(timer));
}

describe('slow clients are cut off (headers 3 s, body idle 2 s, whole request 5 s, 40 connections, here)', () => {
  beforeAll(async () => {
    await stop();
    base = await start({ ARREARS_HEADERS_TIMEOUT_SECONDS: '3', ARREARS_BODY_TIMEOUT_SECONDS: '2', ARREARS_REQUEST_TIMEOUT_SECONDS: '5', ARREARS_MAX_CONNECTIONS: '40' });
  });

  const head = `POST /api/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n`;

  it('20 connections trickling a body one byte every 3 s are all closed within the body timeout', async () => {
    const clients = Array.from({ length: 20 }, () =>
      rawClient((s) => {
        s.write(head);
        trickle(s, 3000);
      }),
    );
    const ends = await Promise.all(clients.map((c) => c.closed));
    for (const end of ends) expect(end.ms).toBeLessThan(6000);
    // The server still answers everyone else.
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });

  it('a body trickled fast enough to dodge the idle timeout is cut off by the request timeout', async () => {
    const clients = Array.from({ length: 5 }, () =>
      rawClient((s) => {
        s.write(head);
        trickle(s, 500);
      }),
    );
    const ends = await Promise.all(clients.map((c) => c.closed));
    for (const end of ends) {
      expect(end.ms).toBeGreaterThanOrEqual(4000);
      expect(end.ms).toBeLessThan(9000);
    }
  });

  it('headers trickled one byte a second are cut off by the headers timeout', async () => {
    const client = rawClient((s) => {
      s.write('GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      trickle(s, 1000);
    });
    const end = await client.closed;
    expect(end.ms).toBeLessThan(6000);
    expect(end.received).toMatch(/^HTTP\/1\.1 408/);
  });

  it('connections beyond the cap are closed as they arrive', async () => {
    const clients = Array.from({ length: 60 }, () => rawClient(() => undefined));
    const early = await Promise.all(clients.map((c) => Promise.race([c.closed.then(() => 'closed'), new Promise((resolve) => setTimeout(() => resolve('open'), 1500))])));
    // At least the 20 past the cap (a connection this test's fetch keeps open may hold a place too).
    expect(early.filter((e) => e === 'closed').length).toBeGreaterThanOrEqual(20);
    expect(early.filter((e) => e === 'open').length).toBeGreaterThanOrEqual(30);
    for (const c of clients) c.socket.destroy();
    await Promise.all(clients.map((c) => c.closed));
    // Once they are gone the server takes connections again.
    expect((await fetch(`${base}/health`)).status).toBe(200);
  });
});
