// Issue 16 in headless Chromium against a real `arrears start` (its own process) that requires
// two-factor sign-in for admins, with a second web server on another loopback port playing the
// attacker's page: same site (the cookie goes along, SameSite=Lax lets it), another origin.
// The admin signs in, is held on the account screen until two-factor sign-in is set up (a real
// code computed here from the secret the page shows), sees the recovery codes once; then the
// other page submits a multipart form, sends no-cors fetches (an import and a sign-out) and
// frames the Users screen: nothing is created, the session survives, the frame stays empty.
// The app itself still uploads (its XHR carries the CSRF token), and signs in with a recovery code.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connection.ts';
import type { Context } from '../../src/services/context.ts';
import { addUser, createToken } from '../../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from '../helpers/db.ts';
import { Scenario } from '../helpers/scenario.ts';
import { ROOT, ensureBuilt, launchBrowser, shot } from './harness.ts';
import { useTestSecretKey } from '../helpers/secret-key.ts';

const PASSWORD = 'correct horse battery staple';
useTestSecretKey();
const dir = mkdtempSync(join(tmpdir(), 'arrears-security-browser-'));

let t: TestDatabase;
let server: ChildProcess | undefined;
let attacker: Server;
let app: string;
let evil: string;
let auth: Record<string, string>;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let recoveryCodes: string[] = [];

/** RFC 6238 (SHA-1, 6 digits, 30 s), written out here, from the base32 secret the page shows. */
function totp(secretBase32: string, at: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of secretBase32.replace(/\s/g, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 30_000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const o = mac[mac.length - 1]! & 0xf;
  return String((((mac[o]! & 0x7f) << 24) | (mac[o + 1]! << 16) | (mac[o + 2]! << 8) | mac[o + 3]!) % 1_000_000).padStart(6, '0');
}

/** The attacker's pages, each aimed at the app's origin. */
function attackerPage(path: string): string {
  if (path === '/form') {
    return `<!doctype html><title>form</title>
<form id="f" method="POST" enctype="multipart/form-data" action="${app}/api/recordsets">
<input name="name" value="Planted by another page"><input type="file" name="file" id="file"></form>
<script>
const dt = new DataTransfer();
dt.items.add(new File(['PatronID\\nP1\\n'], 'ums.csv', { type: 'text/csv' }));
document.getElementById('file').files = dt.files;
document.getElementById('f').submit();
</script>`;
  }
  if (path === '/fetch') {
    return `<!doctype html><title>fetching</title><script>
(async () => {
  const form = new FormData();
  form.append('file', new Blob(['code,name,time_zone\\nEVIL,Planted,America/Chicago\\n']), 'libraries.csv');
  await fetch('${app}/api/imports/libraries', { method: 'POST', mode: 'no-cors', credentials: 'include', body: form }).catch(() => undefined);
  await fetch('${app}/api/logout', { method: 'POST', mode: 'no-cors', credentials: 'include' }).catch(() => undefined);
  document.title = 'done';
})();
</script>`;
  }
  return `<!doctype html><title>framing</title><iframe id="victim" src="${app}/#/users" width="900" height="600" onload="document.title = 'framed'"></iframe>`;
}

async function health(): Promise<{ counts: { libraries: number } }> {
  return (await fetch(`${app}/health`, { headers: auth })).json() as Promise<{ counts: { libraries: number } }>;
}

async function recordSetNames(): Promise<string[]> {
  const body = (await (await fetch(`${app}/api/recordsets`, { headers: auth })).json()) as { items: { name: string }[] };
  return body.items.map((s) => s.name);
}

beforeAll(async () => {
  ensureBuilt();
  t = await freshDatabase();
  const folder = join(dir, 'db');
  const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : folder;
  const setup = testDbKind() === 'postgres' ? t : Object.assign(await openDatabase({ url: folder }), { url: folder, dispose: async () => undefined });
  const s = new Scenario(setup as TestDatabase);
  await s.libraries({ code: 'MAIN' });
  await s.patrons({ id: 'P1' });
  const ctx: Context = { database: setup, clock: { now: () => new Date() }, actor: 'setup' };
  await addUser(ctx, { username: 'staff', password: PASSWORD, displayName: 'Staff Admin', roles: ['admin'] });
  await addUser(ctx, { username: 'checker', password: null, roles: ['admin'] });
  auth = { authorization: `Bearer ${(await createToken(ctx, 'checker', 'test checks')).token}` };
  if (testDbKind() === 'pglite') await setup.close();

  let log = '';
  server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, 'start', '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    env: { ...process.env, ARREARS_TOTP_REQUIRED_ROLES: 'admin' },
  });
  server.stdout!.on('data', (b: Buffer) => (log += b.toString()));
  server.stderr!.on('data', (b: Buffer) => (log += b.toString()));
  app = await new Promise<string>((resolve, reject) => {
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

  attacker = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(attackerPage(req.url ?? '/'));
  });
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
  const address = attacker.address();
  evil = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

  browser = await launchBrowser();
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await context.newPage();
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => (attacker ? attacker.close(resolve) : resolve(undefined)));
  if (server && server.exitCode === null) {
    const closed = new Promise((resolve) => server!.once('close', resolve));
    server.kill('SIGTERM');
    await closed;
  }
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('the staff app in Chromium, and another page on this host', () => {
  it('an admin is held on the account screen until two-factor sign-in is set up with a real code', async () => {
    const violations: string[] = [];
    page.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await page.goto(`${app}/`);
    await page.getByLabel('Username').fill('staff');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor();
    await expect(page.getByRole('status').first().textContent()).resolves.toBe('Your role requires two-factor sign-in: set it up to go on.');
    await expect(page.getByRole('navigation', { name: 'Screens' }).getByRole('link').count()).resolves.toBe(0);
    await shot(page, 'security-01-enrol-required');

    await page.getByLabel('Your password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const secret = (await page.getByLabel('Secret key').textContent())!;
    expect(secret.replace(/\s/g, '')).toMatch(/^[A-Z2-7]{32}$/);
    await shot(page, 'security-02-enrol-secret');
    await page.getByLabel('Code from the app').fill(totp(secret, Date.now()));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
    await codes.first().waitFor();
    recoveryCodes = (await codes.allTextContents()).map((c) => c.trim());
    expect(recoveryCodes).toHaveLength(10);
    // The rest of the app opens up.
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users', exact: true }).waitFor();
    await shot(page, 'security-03-recovery-codes');
    expect(violations).toEqual([]);
  });

  it('the API documentation (Swagger UI at /docs) works under its policy', async () => {
    const docs = await context.newPage();
    const violations: string[] = [];
    docs.on('console', (m) => {
      if (/Content Security Policy/i.test(m.text())) violations.push(m.text());
    });
    await docs.goto(`${app}/docs`);
    await docs.getByRole('heading', { name: /Arrears API/ }).waitFor();
    await docs.getByText('/api/login').first().waitFor();
    await shot(docs, 'security-00-docs');
    expect(violations).toEqual([]);
    await docs.close();
  });

  it('a multipart form submitted from another origin is refused, and nothing is created', async () => {
    const before = await recordSetNames();
    const other = await context.newPage();
    const reply = other.waitForResponse((r) => r.url() === `${app}/api/recordsets`);
    await other.goto(`${evil}/form`);
    const res = await reply;
    expect(res.status()).toBe(403);
    expect(await res.json()).toEqual({ error: { code: 'forbidden', message: `a request from another origin (${evil}) is refused; this server is ${app} (behind a reverse proxy, set ARREARS_ORIGIN)` } });
    expect(await recordSetNames()).toEqual(before);
    await other.close();
  });

  it('no-cors fetches from another origin (an import, a sign-out) change nothing, and the session survives', async () => {
    const libraries = (await health()).counts.libraries;
    const other = await context.newPage();
    const sent: string[] = [];
    other.on('request', (r) => {
      if (r.url().startsWith(`${app}/api/`)) sent.push(`${r.method()} ${r.url().slice(app.length)}`);
    });
    await other.goto(`${evil}/fetch`);
    await other.waitForFunction(() => document.title === 'done');
    // The browser sent both, with the cookie; the server refused both (the opaque replies are hidden from the page).
    expect(sent).toEqual(['POST /api/imports/libraries', 'POST /api/logout']);
    expect((await health()).counts.libraries).toBe(libraries);
    await other.close();
    await page.reload();
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Users', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Users and API tokens' }).waitFor();
  });

  it('another page cannot frame the app (clickjacking): the frame stays empty', async () => {
    const other = await context.newPage();
    await other.goto(`${evil}/frame`);
    await other.waitForFunction(() => document.title === 'framed');
    const frame = other.frames().find((f) => f !== other.mainFrame())!;
    expect(frame.url()).not.toBe(`${app}/#/users`);
    await expect(frame.getByRole('heading', { name: 'Users and API tokens' }).count()).resolves.toBe(0);
    await shot(other, 'security-04-frame-refused');
    await other.close();
  });

  it('the app itself still uploads (its requests carry the token), then signs out and back in with a recovery code', async () => {
    const libraries = (await health()).counts.libraries;
    await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: 'Imports', exact: true }).click();
    await page.getByRole('heading', { level: 1, name: 'Imports' }).waitFor();
    await page.getByLabel('What the file holds').selectOption('libraries');
    await page.getByLabel('File (.csv or .xlsx)').setInputFiles({ name: 'libraries.csv', mimeType: 'text/csv', buffer: Buffer.from('code,name,time_zone\nEAST,East branch,America/New_York\n') });
    await page.getByRole('button', { name: 'Import' }).click();
    await page.locator('.ok').getByText('libraries.csv: 1 inserted').waitFor();
    expect((await health()).counts.libraries).toBe(libraries + 1);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Username').fill('staff');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const code = page.getByLabel('Code from your authenticator app (or a recovery code)');
    await code.waitFor();
    await shot(page, 'security-05-code-step');
    await code.fill(recoveryCodes[0]!);
    await page.getByRole('button', { name: 'Sign in' }).click();
    // Back on the screen the address names.
    await page.getByRole('heading', { level: 1, name: 'Imports' }).waitFor();
  });
});
