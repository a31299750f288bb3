// The staff web app in headless Chromium against a real server on a loopback port and a
// small demo consortium: sign in, edit a settings entry (and see the server's validation
// message beside the field), dry-run and run, open a referral's history, upload the agency's
// .xlsx as a record set (unknown ids listed), secure, release, remove a member and build an
// item set, download a report file, import a patrons file, filter the audit log, use the
// keyboard, and the layout at tablet width, with no console error. Each screen is saved under
// test-output/screenshots/<project>/.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { systemClock, type Context } from '../../src/services/context.ts';
import { DEMO_AS_OF, loadDemo } from '../../src/services/demo.ts';
import { addUser } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { LedgerFactory } from '../helpers/ledger-factory.ts';
import { ROOT, SCREENS, confirmDialog, ensureBuilt, go as goTo, launchBrowser, shot as shoot, watchConsole } from './harness.ts';

const RETURNED_XLSX = join(ROOT, 'test/fixtures/agency-files/ums-returned.libreoffice.xlsx');
const PATRONS_CSV = join(ROOT, 'test/fixtures/imports/patrons.csv');
const PASSWORD = 'correct horse battery staple';

let t: TestDatabase;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
let consoleErrors: string[] = [];

const shot = (name: string) => shoot(page, name);
const go = (screen: string, heading: string) => goTo(page, screen, heading);

beforeAll(async () => {
  ensureBuilt();
  t = await freshDatabase();
  // The real clock: the browser drops a session cookie whose expiry is already past.
  const ctx: Context = { database: t, clock: systemClock, actor: 'e2e' };
  await loadDemo(ctx, { patrons: 300, seed: 11, asOf: DEMO_AS_OF });
  // The patrons the agency's returned-accounts fixture names (two of its ids stay unknown).
  const factory = new LedgerFactory(t.db);
  for (const id of ['100001', '100002', '100003', '100004']) await factory.patron({ id, home_library: 'MAIN', first_name: 'Pat', last_name: `Ron ${id}` });
  await addUser(ctx, { username: 'staff', password: PASSWORD, displayName: 'Staff Admin', roles: ['admin'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  page = await context.newPage();
  consoleErrors = watchConsole(page);
});

afterEach(() => {
  expect(consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
});

describe('staff web app in Chromium', () => {
  it('refuses a wrong password with a message, then signs in to the dashboard', async () => {
    await page.goto(`${url}/`);
    await page.getByLabel('Username').fill('staff');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect(page.getByRole('alert').textContent()).resolves.toContain('Wrong username or password.');
    await shot('01-login-error');

    // By keyboard: the password field, then Enter submits.
    await page.getByLabel('Password').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await expect(page.getByText('Staff Admin').count()).resolves.toBe(1);
    await expect(page.getByLabel('Library').locator('option').count()).resolves.toBeGreaterThanOrEqual(1);
    await shot('02-dashboard-empty');
  });

  it('shows the server’s validation message beside the field, then saves a valid edit', async () => {
    await go('Settings', 'Collection Agency Settings');
    await page.getByRole('button', { name: 'Edit Central (Polaris rules)' }).click();
    const name = page.getByLabel('Name', { exact: true });
    await name.fill('N'.repeat(40));
    await page.getByRole('button', { name: 'Save' }).click();
    const problem = page.locator('#field-name-problem');
    await problem.waitFor();
    await expect(problem.textContent()).resolves.toMatch(/^Name .*35/);
    await expect(name.getAttribute('aria-invalid')).resolves.toBe('true');
    await shot('03-settings-validation');

    await name.fill('Central (Polaris rules)');
    await page.getByLabel('Minimum owed').fill('26.00');
    await page.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('heading', { name: /^Edit/ }).waitFor({ state: 'detached' });
    const row = page.getByRole('row', { name: /Central \(Polaris rules\)/ });
    await row.getByRole('cell', { name: '$26.00', exact: true }).waitFor();
    await expect(row.getByRole('cell').nth(6).textContent()).resolves.toBe('$26.00');
    await shot('04-settings-saved');
  });

  it('dry-runs a report date, explains a patron, then runs it for real', async () => {
    await go('Run preview', 'Run preview');
    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Dry run' }).click();
    const summary = page.locator('.summary');
    await summary.waitFor();
    await expect(summary.textContent()).resolves.toBe(`Dry run for ${DEMO_AS_OF}.`);
    const heading = await page.getByRole('heading', { name: /^New Submissions/ }).textContent();
    const submitted = Number(/\((\d+)\)/.exec(heading ?? '')?.[1]);
    expect(submitted).toBeGreaterThan(0);
    await shot('05-run-preview');

    const first = page.getByRole('button', { name: /^Explain / }).first();
    const patronId = (await first.textContent())!.replace(/^Explain /, '');
    await first.click();
    const explain = page.locator('.explain');
    await explain.getByRole('heading', { name: `Why patron ${patronId} would be submitted on ${DEMO_AS_OF}` }).waitFor();
    await expect(explain.locator('dd').first().textContent()).resolves.not.toBe('none applies');
    await expect(explain.locator('td.pass').count()).resolves.toBeGreaterThan(0);
    await expect(explain.locator('td.fail').count()).resolves.toBe(0);
    await shot('06-explain');

    await page.getByRole('button', { name: 'Run now' }).click();
    await confirmDialog(page, `Run for ${DEMO_AS_OF} now?`, `Run for ${DEMO_AS_OF}`);
    await page.getByText(/^Run \d+ for /).waitFor();
    await expect(page.getByRole('heading', { name: /^New Submissions/ }).textContent()).resolves.toBe(`New Submissions (${submitted})`);
    const referred = await t.db.selectFrom('referrals').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    expect(Number(referred.n)).toBe(submitted);
    await shot('07-run-done');
  });

  it('lists referrals and opens one with its history', async () => {
    await go('Referrals', 'Referrals');
    await page.getByLabel('Status').selectOption('open');
    await page.getByRole('button', { name: /^Referral \d+ of patron/ }).first().click();
    const history = page.getByRole('heading', { name: 'History' });
    await history.waitFor();
    const rows = page.locator('.panel table tbody tr');
    await expect(rows.count()).resolves.toBe(1);
    await expect(rows.first().getByRole('cell').nth(1).textContent()).resolves.toBe('refer');
    await shot('08-referral-history');
  });

  it('uploads the agency’s .xlsx as a record set listing unknown ids, then secures and releases', async () => {
    await go('Second agency', 'Second agency: record sets');
    await page.getByLabel('Record set name').fill('UMS returned');
    await page.getByLabel('Returned accounts (.xlsx or .csv)').setInputFiles(RETURNED_XLSX);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Patron set “UMS returned”' }).waitFor();
    await expect(page.locator('ul.unknown li').allTextContents()).resolves.toEqual(['999999 (row 6)', '888888 (row 7)']);
    await expect(page.getByText('4 members').count()).resolves.toBe(1);
    await shot('09-recordset-uploaded');

    await page.getByRole('button', { name: 'Secure' }).click();
    await expect(page.locator('p.ok').textContent()).resolves.toBe('Secured 4; already secured 0.');
    const secured = await t.db.selectFrom('patrons').select('status').where('id', 'in', ['100001', '100002', '100003', '100004']).execute();
    expect(secured.map((p) => p.status)).toEqual(['secured', 'secured', 'secured', 'secured']);
    await page.getByRole('row', { name: /100001/ }).getByRole('cell').nth(4).getByText('secured').waitFor();
    await shot('10-recordset-secured');

    await page.getByRole('button', { name: 'Release' }).click();
    await page.getByText('Released 4; not secured 0.').waitFor();
    const released = await t.db.selectFrom('patrons').select('status').where('id', 'in', ['100001', '100002', '100003', '100004']).execute();
    expect(released.map((p) => p.status)).toEqual(['active', 'active', 'active', 'active']);
    await shot('11-recordset-released');

    await page.getByLabel('Select patron 100004').check();
    await page.getByRole('button', { name: 'Remove from set' }).click();
    await confirmDialog(page, 'Remove 1 patron from “UMS returned”?', 'Remove from set');
    await page.getByText('1 removed from the set').waitFor();
    await page.getByText('3 members').waitFor();
    await page.getByRole('button', { name: 'Build item set' }).click();
    await page.getByText(/^Item set “.+” with 0 items created\.$/).waitFor();
    const sets = await t.db.selectFrom('record_sets').select(['name', 'kind']).orderBy('id').execute();
    expect(sets.map((x) => x.kind)).toEqual(['patron', 'item']);
  });

  it('lists report files with delivery status and downloads one', async () => {
    await go('Report files', 'Report files');
    const stored = await t.db.selectFrom('report_files').select(['id', 'name', 'content']).orderBy('id').executeTakeFirstOrThrow();
    const row = page.getByRole('row', { name: new RegExp(stored.name.replace(/\./g, '\\.')) });
    await row.waitFor();
    await shot('12-files');
    const [download] = await Promise.all([page.waitForEvent('download'), row.getByRole('link', { name: `Download ${stored.name} as txt` }).click()]);
    expect(download.suggestedFilename()).toBe(stored.name);
    expect(readFileSync((await download.path())!)).toEqual(Buffer.from(stored.content));
  });

  it('imports a patrons file and reports what it inserted', async () => {
    await go('Imports', 'Imports');
    await page.getByLabel('What the file holds').selectOption('patrons');
    await page.getByLabel('File (.csv or .xlsx)').setInputFiles(PATRONS_CSV);
    await page.getByRole('button', { name: 'Import' }).click();
    await expect(page.locator('.ok p').textContent()).resolves.toBe('patrons.csv: 2 inserted, 0 updated, 0 unchanged, 0 skipped.');
    const imported = await t.db.selectFrom('patrons').select('last_name').where('id', 'in', ['P1', 'P2']).orderBy('id').execute();
    expect(imported.map((p) => p.last_name)).toEqual(['Smith', 'Jones, Jr.']);
    await shot('13-imports');
  });

  it('filters the audit log by action family', async () => {
    await go('Audit log', 'Audit log');
    await page.getByLabel('Action (or family, e.g. settings.)').fill('settings.');
    await page.getByRole('button', { name: 'Filter' }).click();
    // The unfiltered page is on screen until the filtered one replaces it.
    await page.getByText(/^\d+ entries$/).waitFor();
    await page.waitForFunction(() => [...document.querySelectorAll('tbody tr td:nth-child(3)')].every((td) => td.textContent?.startsWith('settings.')));
    const actions = await page.locator('tbody tr td:nth-child(3)').allTextContents();
    expect(actions.length).toBeGreaterThan(0);
    expect(actions.every((a) => a.startsWith('settings.'))).toBe(true);
    await shot('14-audit');
  });

  it('is usable from the keyboard: skip link first, then the screens (Dashboard, Patrons, Settings), with a visible focus ring', async () => {
    await page.goto(`${url}/#/dashboard`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      return { text: el.textContent, outline: getComputedStyle(el).outlineStyle };
    });
    expect(focused).toEqual({ text: 'Settings', outline: 'solid' });
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Collection Agency Settings' }).waitFor();
  });

  it('keeps every screen usable at tablet width (768×1024)', async () => {
    await page.setViewportSize({ width: 768, height: 1024 });
    await go('Dashboard', 'Dashboard');
    await page.locator('.chart svg').waitFor();
    await expect(page.locator('.chart rect.referred').count()).resolves.toBeGreaterThan(0);
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(768);
    await shot('15-dashboard-tablet');
    // Every screen, the new ones too: nothing wider than the tablet, so nothing scrolls sideways.
    for (const [i, [label, heading]] of SCREENS.entries()) {
      await go(label, heading);
      await page.locator('.busy').first().waitFor({ state: 'detached' });
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(wide, `${label} at 768 px`).toBeLessThanOrEqual(768);
      await shot(`16-tablet-${String(i + 1).padStart(2, '0')}-${label.toLowerCase().replace(/\W+/g, '-')}`);
    }
  });
});
