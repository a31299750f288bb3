// What the browser tests share: the built staff app (built here when a checkout has not), a
// headless Chromium as CI installs it, screenshots under test-output/screenshots/<project>/,
// signing in, the confirmation dialog, and the page's console errors (every test asserts
// there are none).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testDbKind } from '../helpers/db.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIST = join(ROOT, 'src/web/dist');
export const SHOTS = join(ROOT, 'test-output/screenshots', testDbKind());

/**
 * CI builds the app before the tests; a checkout that has not is built here, into a
 * private folder renamed into place, because both vitest projects may get here at once.
 */
export function ensureBuilt(): void {
  if (existsSync(join(DIST, 'index.html'))) return;
  const out = mkdtempSync(join(ROOT, 'src/web/.dist-'));
  const built = spawnSync('npx', ['vite', 'build', '--config', 'src/web/vite.config.ts', '--outDir', out, '--logLevel', 'error'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) {
    rmSync(out, { recursive: true, force: true });
    throw new Error(`vite build failed: ${built.stderr}`);
  }
  try {
    renameSync(out, DIST);
  } catch (err) {
    rmSync(out, { recursive: true, force: true });
    if (!existsSync(join(DIST, 'index.html'))) throw err;
  }
}

export async function launchBrowser(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export async function shot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/** Opens a screen from the navigation and waits for its heading. */
export async function go(page: Page, screen: string, heading: string | RegExp): Promise<void> {
  await page.getByRole('navigation', { name: 'Screens' }).getByRole('link', { name: screen, exact: true }).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

export async function signIn(page: Page, url: string, username: string, password: string): Promise<void> {
  await page.goto(`${url}/`);
  await page.getByLabel('Username').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
}

/**
 * Collects the page's console errors and uncaught exceptions. The browser also logs every
 * refused request ("Failed to load resource: … status of 409"); those are the server's
 * deliberate answers, shown by the app, so only they are left out.
 */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(`uncaught: ${e.message}`));
  return errors;
}

/** The open confirmation dialog. */
export function dialog(page: Page) {
  return page.getByRole('dialog');
}

/** Answers the confirmation dialog with its confirming button, after checking its question. */
export async function confirmDialog(page: Page, title: string | RegExp, button: string): Promise<void> {
  const d = dialog(page);
  await d.getByRole('heading', { name: title }).waitFor();
  await d.getByRole('button', { name: button, exact: true }).click();
  await d.waitFor({ state: 'detached' });
}

/** Every screen of the app: navigation label and page heading. */
export const SCREENS: [string, string][] = [
  ['Dashboard', 'Dashboard'],
  ['Patrons', 'Patrons'],
  ['Settings', 'Collection Agency Settings'],
  ['Run preview', 'Run preview'],
  ['Review', 'Review and exclusions'],
  ['Referrals', 'Referrals'],
  ['Second agency', 'Second agency: record sets'],
  ['Report files', 'Report files'],
  ['Imports', 'Imports'],
  ['Agencies', 'Agencies'],
  ['Connectors', 'ILS connectors'],
  ['Schedule', 'Schedule'],
  ['Users', 'Users and API tokens'],
  ['Audit log', 'Audit log'],
];
