// The staff app's review, administration and progress screens in headless Chromium, against a
// real server and a demo consortium whose entries hold New Submissions for review: agencies
// (credentials never shown back, a field's problem beside it), users and an API token shown
// once then revoked, the schedule, "Exclude now" before a run (the patron is not referred)
// and at review (the held referral is cancelled), lifting, releasing a held file, a failed
// delivery retried after the fault is fixed, settling and lost items in the second-agency
// screens, the agency's cleared-accounts file, and progress of a run and a large import.
// Screens are saved under test-output/screenshots/<project>/ as 2x-*.png and 3x-*.png, the
// new screens also at tablet width.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { systemClock, type Context } from '../../src/services/context.ts';
import { DEMO_AS_OF, loadDemo } from '../../src/services/demo.ts';
import { patronBalance } from '../../src/services/ledger.ts';
import { addUser } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { confirmDialog, ensureBuilt, go as goTo, launchBrowser, shot as shoot, signIn, watchConsole } from './harness.ts';
import { useTestSecretKey } from '../helpers/secret-key.ts';

const PASSWORD = 'correct horse battery staple';
const SFTP_SECRET = 'Sftp-pa55word-never-shown';
const UMS = 'Unique Management Services';

let t: TestDatabase;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
let consoleErrors: string[] = [];
let dir: string;
/** The folder UMS delivers to: missing at first, so the first delivery fails. */
let drop: string;
/** Excluded before the run, then lifted. */
let excludedBefore = '';
useTestSecretKey();

const shot = (name: string) => shoot(page, name);
const go = (screen: string, heading: string) => goTo(page, screen, heading);

async function referralStatus(patronId: string): Promise<string[]> {
  const rows = await t.db.selectFrom('referrals').select('status').where('patron_id', '=', patronId).orderBy('id').execute();
  return rows.map((r) => r.status);
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'arrears-e2e-review-'));
  drop = join(dir, 'ums-drop');
  t = await freshDatabase();
  const ctx: Context = { database: t, clock: systemClock, actor: 'e2e' };
  await loadDemo(ctx, { patrons: 300, seed: 11, asOf: DEMO_AS_OF });
  // Every entry holds its New Submissions a day for review.
  await t.db.updateTable('settings_entries').set({ review_hours: 24 }).execute();
  await addUser(ctx, { username: 'admin', password: PASSWORD, displayName: 'Ada Admin', roles: ['admin'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
  consoleErrors = watchConsole(page);
  await signIn(page, url, 'admin', PASSWORD);
});

afterEach(() => {
  expect(consoleErrors).toEqual([]);
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('review, administration and progress in Chromium', () => {
  it('adds an agency whose credentials are stored but never shown back, with a problem beside its field', async () => {
    await go('Agencies', 'Agencies');
    await page.getByRole('row', { name: new RegExp(UMS) }).waitFor();
    await page.getByRole('button', { name: 'Add an agency' }).click();
    const form = page.getByRole('form', { name: 'Add an agency' });
    await form.getByLabel('Agency name').fill('North Recovery');
    await form.getByLabel('Delivery method').selectOption('sftp');
    await form.getByLabel('SFTP username').fill('library');
    await form.getByLabel('SFTP password').fill(SFTP_SECRET);
    await form.getByRole('button', { name: 'Add agency' }).click();
    // No host: the server's problem is shown beside the Host field.
    const host = form.getByLabel('Host', { exact: true });
    await form.locator('.problem').waitFor();
    await expect(host.getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(form.locator('.problem').textContent()).resolves.toBe('Host is required for the sftp transfer method');
    await shot('20-agency-problem');

    await host.fill('sftp.north.example');
    await form.getByRole('button', { name: 'Add agency' }).click();
    await page.getByText('Added North Recovery.').waitFor();
    const row = page.getByRole('row', { name: /North Recovery/ });
    await expect(row.getByRole('cell').nth(4).textContent()).resolves.toBe('password stored');

    await page.getByRole('button', { name: 'Edit North Recovery' }).click();
    const edit = page.getByRole('form', { name: 'Edit agency “North Recovery”' });
    await expect(edit.getByLabel('SFTP password', { exact: true }).inputValue()).resolves.toBe('');
    await expect(edit.getByText('stored — leave blank to keep it').count()).resolves.toBe(1);
    await expect(edit.getByLabel('Host', { exact: true }).inputValue()).resolves.toBe('sftp.north.example');
    expect(await page.content()).not.toContain(SFTP_SECRET);
    const api = await page.context().request.get(`${url}/api/agencies/North%20Recovery`);
    expect(await api.json()).toMatchObject({ transferMethod: 'sftp', secrets: { hasPassword: true } });
    expect(await api.text()).not.toContain(SFTP_SECRET);
    await shot('21-agency-edit-credentials');
    await edit.getByRole('button', { name: 'Cancel' }).click();

    // UMS delivers to a folder that does not exist yet: its first delivery will fail.
    await page.getByRole('button', { name: `Edit ${UMS}` }).click();
    const ums = page.getByRole('form', { name: `Edit agency “${UMS}”` });
    await ums.getByLabel('Delivery method').selectOption('folder');
    await ums.getByLabel('Folder path').fill(drop);
    await ums.getByRole('button', { name: 'Save agency' }).click();
    await page.getByText(`Saved ${UMS}.`).waitFor();
    await page.getByRole('row', { name: new RegExp(UMS) }).getByRole('cell', { name: drop, exact: true }).waitFor();
    await shot('22-agencies');
  });

  it('adds a user, shows a new API token once, and revokes it', async () => {
    await go('Users', 'Users and API tokens');
    const add = page.getByRole('form', { name: 'Add a user' });
    await add.getByLabel('New username').fill('clerk');
    await add.getByLabel('Display name').fill('Carla Clerk');
    await add.getByLabel('Initial password').fill(PASSWORD);
    await add.getByRole('checkbox', { name: 'circulation' }).check();
    await add.getByRole('button', { name: 'Add user' }).click();
    await page.getByText('Added clerk.').waitFor();
    await expect(page.getByRole('row', { name: /Carla Clerk/ }).getByRole('cell').nth(2).textContent()).resolves.toBe('circulation');

    await page.getByLabel('Token for user').selectOption({ label: 'clerk' });
    await page.getByLabel('Token name').fill('ILS nightly');
    await page.getByRole('button', { name: 'Create token' }).click();
    const shown = page.locator('code.token');
    await shown.waitFor();
    const token = (await shown.textContent())!;
    expect(token.length).toBeGreaterThan(20);
    await shot('23-users-token-once');
    const me = await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } });
    expect(me.status).toBe(200);
    expect((await me.json()).username).toBe('clerk');

    // Once the screen is left, the token is gone for good.
    await go('Schedule', 'Schedule');
    await go('Users', 'Users and API tokens');
    await page.getByRole('row', { name: /ILS nightly/ }).waitFor();
    expect(await page.content()).not.toContain(token);
    await page.getByRole('button', { name: 'Revoke token ILS nightly' }).click();
    await confirmDialog(page, 'Revoke the token “ILS nightly” of clerk?', 'Revoke it');
    await page.getByRole('row', { name: /ILS nightly/ }).getByText(/^revoked/).waitFor();
    expect((await fetch(`${url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    await shot('24-users');

    // The clerk's navigation holds only the screens their role can use.
    const clerk = await (await browser.newContext({ viewport: { width: 1280, height: 800 } })).newPage();
    await signIn(clerk, url, 'clerk', PASSWORD);
    await expect(clerk.getByRole('navigation', { name: 'Screens' }).getByRole('link').allTextContents()).resolves.toEqual([
      'Dashboard',
      'Patrons',
      'Settings',
      'Run preview',
      'Review',
      'Referrals',
      'Second agency',
      'Report files',
      'Agencies',
      'Connectors',
      'Schedule',
    ]);
    await clerk.context().close();
  });

  it('shows the schedule: each entry’s two jobs with their next due dates', async () => {
    await go('Schedule', 'Schedule');
    const rows = page.locator('tbody tr');
    await rows.first().waitFor();
    const entries = await t.db.selectFrom('settings_entries').select('name').orderBy('position').execute();
    await expect(rows.count()).resolves.toBe(entries.length * 2);
    const jobs = await page.locator('tbody tr td:nth-child(2)').allTextContents();
    expect([...new Set(jobs)].sort()).toEqual(['New Submissions', 'Updates']);
    await expect(page.getByText(/^Runs are due each day at \d\d:\d\d/).count()).resolves.toBe(1);
    await shot('25-schedule');
  });

  it('excludes a patron before the run: the run shows its phases and does not refer them', async () => {
    await go('Run preview', 'Run preview');
    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('.summary').waitFor();
    excludedBefore = (await page.getByRole('button', { name: /^Explain / }).first().textContent())!.replace(/^Explain /, '');
    const submitted = Number(/\((\d+)\)/.exec((await page.getByRole('heading', { name: /^New Submissions/ }).textContent()) ?? '')?.[1]);

    await go('Review', 'Review and exclusions');
    await page.getByText('No New Submissions file is held for review.').waitFor();
    const form = page.getByRole('form', { name: 'Exclude a patron' });
    await form.getByLabel('Patron id').fill(excludedBefore);
    await form.getByLabel('Reason').fill('payment plan agreed at the desk');
    await form.getByLabel('Until (last day; blank = until lifted)').fill('2099-12-31');
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await confirmDialog(page, `Exclude patron ${excludedBefore} until 2099-12-31?`, `Exclude ${excludedBefore}`);
    await page.getByText(`Patron ${excludedBefore} excluded until 2099-12-31.`).waitFor();
    await page.getByRole('row', { name: new RegExp(`^${excludedBefore} `) }).getByText('in force').waitFor();

    await go('Run preview', 'Run preview');
    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Run now' }).click();
    await confirmDialog(page, `Run for ${DEMO_AS_OF} now?`, `Run for ${DEMO_AS_OF}`);
    await page.getByText(/^Run \d+ for /).waitFor();
    // Each phase the server reported is ticked; the bar is full.
    const progress = page.getByRole('region', { name: 'Last run' });
    await expect(progress.getByRole('status').textContent()).resolves.toBe('Last run: Done');
    await expect(progress.locator('.phases li.done').allTextContents()).resolves.toEqual([
      '✓ Waiting for any other run to finish (done)',
      '✓ Updating open referrals (done)',
      '✓ Evaluating eligibility (done)',
      '✓ Writing referrals (done)',
      '✓ Writing the agencies’ files (done)',
      '✓ Recording the run (done)',
    ]);
    await expect(progress.getByRole('progressbar').getAttribute('value')).resolves.toBe('1');
    await expect(page.getByRole('heading', { name: /^New Submissions/ }).textContent()).resolves.toBe(`New Submissions (${submitted - 1})`);
    expect(await referralStatus(excludedBefore)).toEqual([]);
    await shot('26-run-progress-excluded');
  });

  it('lists held files for review, explains a patron, excludes them at review and lifts the first exclusion', async () => {
    await go('Review', 'Review and exclusions');
    const first = page.getByRole('button', { name: /^Explain / }).first();
    const patron = (await first.textContent())!.replace(/^Explain /, '');
    await first.click();
    // Referred by the run for this date, with the file held: the view says so, then shows every condition.
    await page.getByRole('heading', { name: `Patron ${patron} was referred on ${DEMO_AS_OF}` }).waitFor();
    await expect(page.locator('.explain tbody tr').count()).resolves.toBeGreaterThan(0);
    await shot('27-review-explain');
    await page.locator('.explain').getByRole('button', { name: 'Close' }).click();

    await page.getByRole('button', { name: `Exclude ${patron}` }).click();
    const form = page.getByRole('form', { name: `Exclude patron ${patron}` });
    await form.getByLabel('Reason').fill('disputes the charge');
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await confirmDialog(page, `Exclude patron ${patron} until lifted?`, `Exclude ${patron}`);
    await page.getByText(new RegExp(`^Patron ${patron} excluded until lifted\\. Cancelled referral \\d+ \\(.+\\)\\. (Rebuilt .+ with \\d+ rows|Removed the now empty file .+)\\.$`)).waitFor();
    expect(await referralStatus(patron)).toEqual(['cancelled']);
    await page.getByRole('button', { name: `Exclude ${patron}` }).waitFor({ state: 'detached' });
    await shot('28-review-excluded');

    await page.getByRole('button', { name: `Lift ${excludedBefore}` }).click();
    await page.getByText(`Lifted the exclusion of patron ${excludedBefore}.`).waitFor();
    await page.getByRole('button', { name: `Lift ${excludedBefore}` }).waitFor({ state: 'detached' });
    const lifted = await t.db.selectFrom('exclusions').select(['lifted_by']).where('patron_id', '=', excludedBefore).executeTakeFirstOrThrow();
    expect(lifted.lifted_by).toBe('admin');
    await page.getByLabel('Show').selectOption('all');
    await page.getByRole('row', { name: new RegExp(`^${excludedBefore} `) }).getByText('lifted by admin').waitFor();
    await shot('29-exclusions');
  });

  it('releases a held file, retries its failed delivery, then delivers it once the folder exists', async () => {
    await go('Review', 'Review and exclusions');
    const file = await t.db
      .selectFrom('report_files as f')
      .innerJoin('agencies as a', 'a.id', 'f.agency_id')
      .select(['f.id', 'f.name'])
      .where('a.name', '=', UMS)
      .where('f.status', '=', 'held')
      .orderBy('f.id')
      .executeTakeFirstOrThrow();
    await page.getByRole('button', { name: `Release ${file.name} to ${UMS} now` }).click();
    await confirmDialog(page, `Release ${file.name} to ${UMS} now?`, `Release to ${UMS}`);
    await page.getByText(`Released ${file.name}: queued for delivery.`).waitFor();

    await go('Report files', 'Report files');
    const row = page.getByRole('row').filter({ hasText: file.name }).filter({ hasText: UMS });
    await row.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(`Delivery of ${file.name} failed: folder ${drop} does not exist or is not a directory`).waitFor();
    await row.locator('td:nth-child(7)', { hasText: /^1$/ }).waitFor();
    await shot('30-files-retry-failed');

    mkdirSync(drop);
    await row.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(`Tried ${file.name}: delivered.`).waitFor();
    await row.getByText('delivered', { exact: true }).waitFor();
    const stored = await t.db.selectFrom('report_files').select(['status', 'attempts']).where('id', '=', file.id).executeTakeFirstOrThrow();
    expect(stored).toEqual({ status: 'delivered', attempts: 2 });
    await row.getByRole('button', { name: file.name }).click();
    await row.getByText(/via folder: failed — folder .* does not exist/).waitFor();
    await row.getByText(/via folder: delivered/).waitFor();
    await shot('31-files-retry-delivered');
  });

  it('settles a balance and transitions lost items in the second-agency screens, then imports a cleared-accounts file', async () => {
    // Two referred patrons: one with a lost item linked, one the agency has cleared.
    const withLost = await t.db
      .selectFrom('referrals as r')
      .innerJoin('items as i', 'i.patron_id', 'r.patron_id')
      .select('r.patron_id')
      .where('r.status', '=', 'open')
      .where('i.status', '=', 'lost')
      .orderBy('r.patron_id')
      .executeTakeFirstOrThrow();
    const lostPatron = withLost.patron_id;
    const cleared = await t.db.selectFrom('referrals').select('patron_id').where('status', '=', 'open').where('patron_id', '<>', lostPatron).orderBy('patron_id').executeTakeFirstOrThrow();
    const setFile = join(dir, 'returned.csv');
    writeFileSync(setFile, `PatronID\n${lostPatron}\n`);

    await go('Second agency', 'Second agency: record sets');
    await page.getByLabel('Record set name').fill('Lost items returned');
    await page.getByLabel('Returned accounts (.xlsx or .csv)').setInputFiles(setFile);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Patron set “Lost items returned”' }).waitFor();
    await page.getByText('1 member', { exact: true }).waitFor();

    await page.getByRole('button', { name: 'Build item set' }).click();
    const built = page.getByText(/^Item set “(.+)” with (\d+) items created\.$/);
    await built.waitFor();
    const [, itemSet, count] = /^Item set “(.+)” with (\d+) items created\.$/.exec((await built.textContent())!)!;
    expect(Number(count)).toBeGreaterThan(0);

    const owed = (await patronBalance(t.db, lostPatron)).outstandingCents;
    await page.getByRole('button', { name: 'Waive balance' }).click();
    const amount = `$${Math.floor(owed / 100).toLocaleString('en-US')}.${String(owed % 100).padStart(2, '0')}`;
    await confirmDialog(page, `Waive ${amount} on 1 patron?`, `Waive ${amount}`);
    await page.getByText(/^Waived \d+\.\d\d\.$/).waitFor();
    expect((await patronBalance(t.db, lostPatron)).outstandingCents).toBe(0);
    await page.getByRole('row', { name: new RegExp(lostPatron) }).getByRole('cell', { name: '$0.00', exact: true }).waitFor();
    await shot('32-recordset-settled');

    await page.getByRole('button', { name: itemSet!, exact: true }).click();
    await page.getByRole('heading', { name: `Item set “${itemSet}”` }).waitFor();
    await page.getByRole('button', { name: 'Apply lost-item transition' }).click();
    await page.getByText(new RegExp(`^Applying the lost-item transition: 0 deleted, ${count} kept or transitioned, 0 skipped\\.$`)).waitFor();
    const items = await t.db.selectFrom('items').select('status').where('patron_id', '=', lostPatron).where('status', '=', 'lost').execute();
    expect(items).toEqual([]);
    await shot('33-lost-items-transitioned');

    const clearedFile = join(dir, 'ums-cleared.csv');
    writeFileSync(clearedFile, `Patron ID\n${cleared.patron_id}\n999999\n`);
    const form = page.getByRole('form', { name: 'Import the agency’s cleared accounts' });
    await form.getByLabel('Cleared accounts (.xlsx or .csv)').setInputFiles(clearedFile);
    await form.getByRole('button', { name: 'Import cleared accounts' }).click();
    await confirmDialog(page, 'Clear the referrals of the patrons listed in ums-cleared.csv?', 'Clear their referrals');
    await form.getByText('ums-cleared.csv: cleared 1 (0 released); unknown ids: 999999 (row 3).').waitFor();
    expect(await referralStatus(cleared.patron_id)).toEqual(['cleared']);
    await shot('34-cleared-accounts');
  });

  it('shows a large import’s rows and phases as the server reads the file', async () => {
    const rows = 40_000;
    const path = join(dir, 'patrons-40k.csv');
    const header = 'id,barcode,first_name,last_name,address,city,state,postal_code,phone,email,birth_date,home_library,ptype,patron_code';
    const library = (await t.db.selectFrom('libraries').select('code').orderBy('code').executeTakeFirstOrThrow()).code;
    writeFileSync(path, `${header}\n${Array.from({ length: rows }, (_, i) => `BULK${i},99${i},Bulk,Patron ${i},1 Main St,Springfield,IL,62701,,,,${library},1,ADULT`).join('\n')}\n`);

    await go('Imports', 'Imports');
    await page.getByLabel('What the file holds').selectOption('patrons');
    await page.getByLabel('File (.csv or .xlsx)').setInputFiles(path);
    await page.getByRole('button', { name: 'Import' }).click();
    // While it runs: rows read so far, and the bytes of the file read.
    const now = page.getByRole('region', { name: 'Import under way' }).getByRole('status');
    await now.filter({ hasText: /rows read/ }).waitFor();
    expect(await now.textContent()).toMatch(/^Import under way: .+ — [\d,]+ rows read, [\d.]+ (kB|MB) of \d\.\d MB$/);
    await shot('35-import-progress');

    await expect(page.locator('.ok p').textContent()).resolves.toBe(`patrons-40k.csv: ${rows} inserted, 0 updated, 0 unchanged, 0 skipped.`);
    const last = page.getByRole('region', { name: 'Last import' });
    await expect(last.getByRole('status').textContent()).resolves.toMatch(/^Last import: Done — 40,000 rows read/);
    await expect(last.locator('.phases li.done').count()).resolves.toBe(3);
    await shot('36-import-done');
  });

  it('keeps the new screens, full of data, within a tablet’s width (768×1024)', async () => {
    await page.setViewportSize({ width: 768, height: 1024 });
    for (const [label, heading] of [
      ['Review', 'Review and exclusions'],
      ['Agencies', 'Agencies'],
      ['Users', 'Users and API tokens'],
      ['Schedule', 'Schedule'],
      ['Report files', 'Report files'],
    ] as const) {
      await go(label, heading);
      await page.locator('tbody tr').first().waitFor();
      const wide = await page.evaluate(() => document.documentElement.scrollWidth);
      expect(wide, `${label} at 768 px`).toBeLessThanOrEqual(768);
      await shot(`37-tablet-${label.toLowerCase().replace(/\W+/g, '-')}`);
    }
  });
});
