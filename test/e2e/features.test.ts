// The staff app as a business office's daily tool, in headless Chromium against a real server
// and the demo consortium after a run: look a patron up by part of a name, open their page
// (ledger, referrals with history, record sets, exclusions, audit trail) and explain inline;
// sort, filter, page and export lists; edit an entry's window and agency with the "what
// changes" preview, reorder, add, duplicate and delete entries; the audit log's field-by-field
// difference; the dashboard's headline figures; the schedule in each library's zone with a
// hand-run date counted; import columns, template and skipped rows; copying a new token; the
// confirmation dialog by keyboard. Then every screen is saved at 1366×900 and 800×1000.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { addDays, asDate, localDateOf } from '../../src/domain/dates.ts';
import { buildServer } from '../../src/http/server.ts';
import { systemClock, type Context } from '../../src/services/context.ts';
import { DEMO_AS_OF, loadDemo } from '../../src/services/demo.ts';
import { addExclusion } from '../../src/services/exclusions.ts';
import { createPatronSet } from '../../src/services/recordsets.ts';
import { runReport } from '../../src/services/runs.ts';
import { addUser } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { SCREENS, dialog, ensureBuilt, go as goTo, launchBrowser, shot as shoot, signIn, watchConsole } from './harness.ts';

const PASSWORD = 'correct horse battery staple';
const SLR = 'Second Look Recovery';

let t: TestDatabase;
let ctx: Context;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
let dir: string;
let consoleErrors: string[] = [];
/** A referred patron with an exclusion, a record set and an audit trail. */
let patron: { id: string; first_name: string; last_name: string };

const shot = (name: string) => shoot(page, `f-${name}`);
const go = (screen: string, heading: string) => goTo(page, screen, heading);

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'arrears-e2e-features-'));
  t = await freshDatabase();
  ctx = { database: t, clock: systemClock, actor: 'e2e' };
  await loadDemo(ctx, { patrons: 300, seed: 11, asOf: DEMO_AS_OF });
  await runReport(ctx, { reportDate: asDate(DEMO_AS_OF) });
  const referred = await t.db
    .selectFrom('referrals as r')
    .innerJoin('patrons as p', 'p.id', 'r.patron_id')
    .select(['p.id', 'p.first_name', 'p.last_name'])
    .where('p.last_name', '<>', '')
    .orderBy('p.id')
    .executeTakeFirstOrThrow();
  patron = referred;
  writeFileSync(join(dir, 'set.csv'), `PatronID\n${patron.id}\n`);
  await createPatronSet(ctx, { name: 'Returned by UMS', file: join(dir, 'set.csv') });
  await addExclusion(ctx, { patronId: patron.id, reason: 'disputes the bill', until: '2099-01-31' });
  await addUser(ctx, { username: 'ada', password: PASSWORD, displayName: 'Ada Admin', roles: ['admin'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  const context = await browser.newContext({ viewport: { width: 1366, height: 900 }, acceptDownloads: true });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
  page = await context.newPage();
  consoleErrors = watchConsole(page);
  await signIn(page, url, 'ada', PASSWORD);
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  expect(consoleErrors).toEqual([]);
});

async function downloaded(click: () => Promise<void>): Promise<{ name: string; text: string }> {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  return { name: download.suggestedFilename(), text: readFileSync((await download.path())!, 'utf8') };
}

describe('the patron screen', () => {
  it('looks a patron up by part of their name and opens everything about them on one page', async () => {
    await go('Patrons', 'Patrons');
    const prefix = patron.last_name.slice(0, 3).toLowerCase();
    await page.getByLabel('Find a patron').fill(prefix);
    const link = page.getByRole('link', { name: patron.id, exact: true });
    await link.waitFor();
    const names = await page.locator('.datatable tbody tr td:nth-child(2)').allTextContents();
    expect(names.length).toBeGreaterThan(0);
    for (const n of names) expect(n.toLowerCase().split(', ').some((part) => part.split(/[\s'-]/).some((w) => w.startsWith(prefix)) || part.startsWith(prefix))).toBe(true);
    await shot('patron-search');
    await link.click();

    await page.getByRole('heading', { level: 1, name: `Patron ${patron.id} — ${patron.first_name} ${patron.last_name}` }).waitFor();
    expect(new URL(page.url()).hash).toBe(`#/patrons/${patron.id}`);
    const ledger = await t.db.selectFrom('charges').select(['id', 'amount_cents', 'paid_cents']).where('patron_id', '=', patron.id).execute();
    const owed = ledger.reduce((s, c) => s + c.amount_cents - c.paid_cents, 0);
    await expect(page.locator('.figure-value').textContent()).resolves.toBe(`$${Math.floor(owed / 100).toLocaleString('en-US')}.${String(owed % 100).padStart(2, '0')}`);
    await page.getByText('in collections', { exact: true }).first().waitFor();
    await page.getByRole('heading', { level: 2, name: 'Charges' }).waitFor();
    const charges = page.locator('.datatable').filter({ has: page.getByPlaceholder(`Filter charges of ${patron.id}…`) });
    await expect(charges.locator('.table-tools .count').textContent()).resolves.toBe(`${ledger.length} ${ledger.length === 1 ? 'row' : 'rows'}`);
    await expect(charges.locator('tbody tr').count()).resolves.toBe(Math.min(25, ledger.length));
    await page.getByRole('heading', { level: 3, name: /^Referral #\d+ to / }).waitFor();
    await page.getByRole('table', { name: /^History of referral #\d+$/ }).getByRole('cell', { name: 'refer', exact: true }).waitFor();
    await page.getByRole('link', { name: 'Returned by UMS' }).waitFor();
    await page.getByRole('cell', { name: 'disputes the bill', exact: true }).waitFor();
    // The audit trail holds their referral and their exclusion, each opening as a difference.
    const trail = page.getByRole('heading', { level: 2, name: 'Audit trail' });
    await trail.waitFor();
    await page.getByRole('cell', { name: 'referral.refer', exact: true }).waitFor();
    await page.getByRole('cell', { name: 'exclusion.create', exact: true }).waitFor();
    await shot('patron-page');

    await page.getByLabel('Report date', { exact: true }).fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Explain', exact: true }).click();
    await page.getByRole('heading', { name: `Patron ${patron.id} was referred on ${DEMO_AS_OF}` }).waitFor();
    await shot('patron-explain');
  });

  it('every patron id elsewhere opens their page', async () => {
    await go('Referrals', 'Referrals');
    const link = page.locator('.datatable tbody tr').first().getByRole('link').first();
    const id = (await link.textContent())!;
    await link.click();
    await page.getByRole('heading', { level: 1, name: new RegExp(`^Patron ${id} — `) }).waitFor();
    await go('Review', 'Review and exclusions');
    await page.getByRole('link', { name: patron.id, exact: true }).first().click();
    await page.getByRole('heading', { level: 1, name: new RegExp(`^Patron ${patron.id} — `) }).waitFor();
  });
});

describe('lists', () => {
  it('sort by a column, page, filter without regard to case and export to CSV', async () => {
    await go('Patrons', 'Patrons');
    const total = (await t.db.selectFrom('patrons').select('id').execute()).length;
    await page.getByText(`1–25 of ${total}`).waitFor();
    await page.getByRole('columnheader', { name: 'Balance' }).getByRole('button').click();
    await page.getByRole('columnheader', { name: 'Balance' }).getByRole('button').click();
    await expect(page.getByRole('columnheader', { name: 'Balance' }).getAttribute('aria-sort')).resolves.toBe('descending');
    await page.locator('.datatable table:not([aria-busy])').waitFor();
    const balances = await page.locator('.datatable tbody tr td:nth-child(7)').allTextContents();
    const cents = balances.map((b) => Number(b.replace(/[$,.]/g, '')));
    expect(cents).toEqual([...cents].sort((a, b) => b - a));
    await page.getByRole('navigation', { name: 'Pages of patrons' }).getByRole('button', { name: 'Next' }).click();
    await page.getByText(`26–50 of ${total}`).waitFor();
    await shot('list-sorted-paged');

    // A list the browser holds: the settings table, filtered in any case.
    await go('Settings', 'Collection Agency Settings');
    await page.getByPlaceholder('Filter settings entries…').fill('SIERRA');
    await page.getByText('1 match').waitFor();
    await expect(page.locator('.datatable tbody tr').count()).resolves.toBe(1);

    await go('Referrals', 'Referrals');
    const referrals = (await t.db.selectFrom('referrals').select('id').execute()).length;
    const csv = await downloaded(() => page.getByRole('button', { name: 'Export CSV' }).click());
    expect(csv.name).toMatch(/^referrals-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = csv.text.trimEnd().split('\r\n');
    expect(lines[0]).toBe('Id,Patron,Name,Agency,Status,Referred on,Referred,Last reported,Owes now,Recovered');
    expect(lines).toHaveLength(referrals + 1);
  });
});

describe('the settings editor', () => {
  it('edits an entry’s window and agency, previews who would be added or dropped, then saves in place', async () => {
    await go('Settings', 'Collection Agency Settings');
    const entry = await t.db.selectFrom('settings_entries').select(['id', 'name']).where('name', '=', 'East and West (Sierra window)').executeTakeFirstOrThrow();
    await page.getByRole('button', { name: `Edit ${entry.name}` }).click();
    const form = page.getByRole('form', { name: `Edit “${entry.name}”` });
    await expect(form.getByLabel('PTYPEs').inputValue()).resolves.toBe('1, 2, 3, 4');
    await form.getByLabel('Start days').fill('730');
    await form.getByLabel('End days').fill('0');
    await form.getByRole('radio', { name: 'one agency' }).check();
    await form.getByLabel('Agency name').selectOption(SLR);
    await form.getByLabel('Report date of the preview').fill(DEMO_AS_OF);
    await form.getByRole('button', { name: 'Preview changes' }).click();
    const preview = form.locator('.preview');
    await preview.getByRole('heading', { name: `What this change would do on ${DEMO_AS_OF}` }).waitFor();
    await expect(preview.locator('p[role="status"]').textContent()).resolves.toMatch(/^New Submissions for 2025-06-30 with today’s data: \d+ \(\$[\d,.]+\) instead of \d+ \(\$[\d,.]+\), .+\. \d+ added, \d+ dropped, \d+ under another entry\.$/);
    await shot('settings-preview');
    // Nothing saved by the preview.
    expect((await t.db.selectFrom('settings_entries').select('start_days').where('id', '=', entry.id).executeTakeFirstOrThrow()).start_days).toBe(365);

    await form.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(`Saved “${entry.name}” (entry id ${entry.id}, position 2); it keeps its id, run history and schedule.`).waitFor();
    const saved = await t.db.selectFrom('settings_entries as e').innerJoin('agencies as a', 'a.id', 'e.agency_id').select(['e.id', 'e.start_days', 'e.end_days', 'a.name']).where('e.id', '=', entry.id).executeTakeFirstOrThrow();
    expect(saved).toEqual({ id: entry.id, start_days: 730, end_days: 0, name: SLR });
  });

  it('reorders entries with a preview, then saves the order', async () => {
    await go('Settings', 'Collection Agency Settings');
    const before = await t.db.selectFrom('settings_entries').select(['id', 'name']).orderBy('position').execute();
    await page.getByRole('button', { name: 'Move All other patrons up' }).click();
    await page.getByRole('button', { name: 'Move All other patrons up' }).click();
    await page.getByText(/^The order has changed and is not saved yet: 1\. All other patrons, 2\. Central/).waitFor();
    await page.locator('.warning').getByRole('button', { name: 'Preview changes' }).click();
    await page.getByRole('heading', { name: /^What the new order would do on / }).waitFor();
    await shot('settings-reorder-preview');
    await page.getByRole('button', { name: 'Save order' }).click();
    await page.getByText(/^Saved the order: 1\. All other patrons, 2\. /).waitFor();
    const after = await t.db.selectFrom('settings_entries').select(['id', 'name']).orderBy('position').execute();
    expect(after.map((e) => e.id)).toEqual([before[2]!.id, before[0]!.id, before[1]!.id]);
  });

  it('adds, duplicates and deletes an entry (asking first), a field’s problem beside it', async () => {
    await go('Settings', 'Collection Agency Settings');
    await page.getByRole('button', { name: 'Add an entry' }).click();
    const form = page.getByRole('form', { name: 'Add an entry' });
    await form.getByLabel('Name', { exact: true }).fill('Juveniles');
    await form.getByLabel('PTYPEs').fill('2, 3');
    await form.getByLabel('Minimum owed').fill('ten dollars');
    await form.getByRole('button', { name: 'Add entry' }).click();
    await form.locator('#field-minimumOwed-problem').waitFor();
    await expect(form.getByLabel('Minimum owed').getAttribute('aria-invalid')).resolves.toBe('true');
    await expect(form.locator('#field-agency-problem').textContent()).resolves.toBe('Agency name is required: an agency name, or {"strategy": "least_referred_debt" | "round_robin", "among": [names]}');
    await form.getByLabel('Minimum owed').fill('10.00');
    await form.getByLabel('Agency name').selectOption('Unique Management Services');
    await form.getByRole('button', { name: 'Add entry' }).click();
    await page.getByText(/^Added “Juveniles” as entry id \d+ at position 4\.$/).waitFor();
    const juveniles = await t.db.selectFrom('settings_entries').select(['id', 'ptypes']).where('name', '=', 'Juveniles').executeTakeFirstOrThrow();
    expect(juveniles.ptypes).toEqual(['2', '3']);

    await page.getByRole('button', { name: 'Duplicate Juveniles' }).click();
    const copy = page.getByRole('form', { name: 'Add an entry' });
    await expect(copy.getByLabel('Name', { exact: true }).inputValue()).resolves.toBe('Copy of Juveniles');
    await expect(copy.getByLabel('PTYPEs').inputValue()).resolves.toBe('2, 3');
    await copy.getByRole('button', { name: 'Add entry' }).click();
    await page.getByText(/^Added “Copy of Juveniles” as entry id \d+ at position 5\.$/).waitFor();

    await page.getByRole('button', { name: 'Delete Copy of Juveniles' }).click();
    await dialog(page).getByRole('heading', { name: /^Delete the entry “Copy of Juveniles” \(id \d+\)\?$/ }).waitFor();
    await page.keyboard.press('Escape');
    await dialog(page).waitFor({ state: 'detached' });
    expect(await t.db.selectFrom('settings_entries').select('id').where('name', '=', 'Copy of Juveniles').executeTakeFirst()).toBeDefined();
    // Focus is back on the button that asked.
    await expect(page.evaluate(() => document.activeElement?.getAttribute('aria-label'))).resolves.toBe('Delete Copy of Juveniles');
    await page.keyboard.press('Enter');
    await dialog(page).getByRole('button', { name: 'Cancel' }).waitFor();
    // Cancel has the focus: Tab reaches the confirming button.
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Cancel');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.getByText(/^Deleted “Copy of Juveniles”/).waitFor();
    expect(await t.db.selectFrom('settings_entries').select('id').where('name', '=', 'Copy of Juveniles').executeTakeFirst()).toBeUndefined();
  });
});

describe('audit, dashboard, schedule, imports and tokens', () => {
  it('the audit log shows an entry field by field, amounts as money', async () => {
    await go('Audit log', 'Audit log');
    await page.getByLabel('Action (or family, e.g. settings.)').fill('settings.update');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.getByText('1 entry', { exact: true }).waitFor();
    await page.getByRole('button', { name: /^\d+ of \d+ fields changed$/ }).click();
    const diff = page.getByRole('region', { name: /^settings\.update of settings_entry \d+ by ada/ });
    await diff.waitFor();
    const changed = diff.locator('tr.changed');
    expect((await changed.locator('td:first-child').allTextContents()).sort()).toEqual(['agency (changed)', 'window.endDays (changed)', 'window.startDays (changed)']);
    await diff.getByRole('row', { name: /^window\.startDays/ }).getByRole('cell', { name: '365', exact: true }).waitFor();
    await diff.getByRole('row', { name: /^minimumOwed/ }).getByRole('cell', { name: '$50.00', exact: true }).first().waitFor();
    await shot('audit-diff');
  });

  it('the dashboard shows the headline figures and every month, empty ones as zero', async () => {
    await go('Dashboard', 'Dashboard');
    const figures = page.getByRole('group', { name: 'Headline figures' });
    const open = await t.db.selectFrom('referrals').select('patron_id').where('status', '=', 'open').execute();
    const owed = await t.db.selectFrom('charges').select(['amount_cents', 'paid_cents']).where('patron_id', 'in', open.map((o) => o.patron_id)).execute();
    const cents = owed.reduce((s, c) => s + c.amount_cents - c.paid_cents, 0);
    await expect(figures.locator('.figure').first().locator('.figure-value').textContent()).resolves.toBe(`$${Math.floor(cents / 100).toLocaleString('en-US')}.${String(cents % 100).padStart(2, '0')}`);
    await figures.getByText(`${open.length} open referrals, owed now`).waitFor();
    await figures.getByText('Recovery rate').waitFor();
    // Months from the first referral to this one, every one listed, none skipped.
    await page.getByRole('navigation', { name: 'Pages of months' }).getByLabel('Per page').selectOption('100');
    const months = await page.locator('.datatable').first().locator('tbody tr td:first-child').allTextContents();
    const now = new Date();
    expect(months[0]).toBe(`${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`);
    for (let i = 1; i < months.length; i++) {
      const [y, m] = months[i - 1]!.split('-').map(Number);
      expect(months[i]).toBe(m === 1 ? `${y! - 1}-12` : `${y}-${String(m! - 1).padStart(2, '0')}`);
    }
    await page.getByRole('row', { name: /^\d{4}-\d{2} \$0\.00 \$0\.00$/ }).first().waitFor();
    await page.getByRole('heading', { name: 'Open referrals by age', exact: true }).waitFor();
    await shot('dashboard');
  });

  it('the schedule shows times in each entry’s zone, named, and a date run by hand as done', async () => {
    const central = await t.db.selectFrom('settings_entries').select('id').where('name', '=', 'Central (Polaris rules)').executeTakeFirstOrThrow();
    const today = localDateOf(new Date(), 'America/Chicago');
    await t.db.insertInto('schedule_state').values({ job: 'new', entry_id: central.id, last_date: addDays(today, -2) }).execute();
    const run = await runReport(ctx, { reportDate: addDays(today, -1), entryIds: [central.id], parts: ['new'] });
    await go('Schedule', 'Schedule');
    const row = page.getByRole('row', { name: /^Central \(Polaris rules\) New Submissions/ });
    await expect(row.getByRole('cell').nth(3).textContent()).resolves.toBe('America/Chicago');
    await row.getByText(`${addDays(today, -1)} done by hand (run ${run.runId})`, { exact: false }).waitFor();
    await expect(row.getByRole('cell').nth(7).textContent()).resolves.toMatch(/^\d{4}-\d{2}-\d{2} at \w{3}, \w{3} \d{1,2}, \d{4}, 02:00 C[SD]T$/);
    await page.getByText(/due dates? (was|were) already run by hand/).waitFor();
    await shot('schedule');
  });

  it('imports show each kind’s columns with a template, and rows left out as a warning', async () => {
    await go('Imports', 'Imports');
    await page.getByLabel('What the file holds').selectOption('payments');
    const columns = page.getByRole('region', { name: 'Columns of a payments file' });
    await columns.getByRole('row', { name: /^type required payment, waive, writeoff$/ }).waitFor();
    const template = await downloaded(() => columns.getByRole('link', { name: 'Download the payments template (.csv)' }).click());
    expect(template).toEqual({ name: 'payments-template.csv', text: 'id,patron_id,charge_id,type,method,amount,paid_at\r\n' });

    await page.getByLabel('What the file holds').selectOption('patrons');
    const file = join(dir, 'patrons-some-bad.csv');
    writeFileSync(file, 'id,home_library,ptype,last_name\nNEW1,MAIN,1,Good\nNEW2,NOWHERE,1,Bad\n');
    await page.getByLabel('File (.csv or .xlsx)').setInputFiles(file);
    await page.getByLabel('Import the good rows and list the bad ones').check();
    await page.getByRole('button', { name: 'Import', exact: true }).click();
    await expect(page.locator('.ok p').textContent()).resolves.toBe('patrons-some-bad.csv: 1 inserted, 0 updated, 0 unchanged, 1 skipped.');
    const warning = page.locator('.warning');
    await expect(warning.locator('p').textContent()).resolves.toBe('1 row was left out of patrons-some-bad.csv:');
    await expect(warning.locator('li').allTextContents()).resolves.toEqual([expect.stringMatching(/^row 3, home_library: .*NOWHERE/)]);
    await expect(page.locator('.ok li').count()).resolves.toBe(0);
    await shot('imports');
  });

  it('a new API token has a button that copies it', async () => {
    await go('Users', 'Users and API tokens');
    await page.getByLabel('Token for user').selectOption({ label: 'ada' });
    await page.getByLabel('Token name').fill('ILS nightly');
    await page.getByRole('button', { name: 'Create token' }).click();
    const token = (await page.locator('code.token').textContent())!;
    await page.getByRole('button', { name: 'Copy token' }).click();
    await page.getByRole('button', { name: 'Copied', exact: true }).waitFor();
    await expect(page.evaluate(() => navigator.clipboard.readText())).resolves.toBe(token);
    await shot('token-copy');
  });
});

describe('screenshots', () => {
  it('every screen at 1366×900 and at 800×1000, nothing wider than the window', async () => {
    for (const [width, height] of [
      [1366, 900],
      [800, 1000],
    ] as const) {
      await page.setViewportSize({ width, height });
      for (const [i, [label, heading]] of SCREENS.entries()) {
        await go(label, heading);
        await page.locator('.busy').first().waitFor({ state: 'detached' });
        expect(await page.evaluate(() => document.documentElement.scrollWidth), `${label} at ${width}`).toBeLessThanOrEqual(width);
        await shoot(page, `screen-${width}-${String(i + 1).padStart(2, '0')}-${label.toLowerCase().replace(/\W+/g, '-')}`);
      }
      await page.goto(`${url}/#/patrons/${encodeURIComponent(patron.id)}`);
      await page.getByRole('heading', { level: 1, name: new RegExp(`^Patron ${patron.id}`) }).waitFor();
      await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
      await shoot(page, `screen-${width}-patron-page`);
      await go('Settings', 'Collection Agency Settings');
      await page.getByRole('button', { name: 'Edit Central (Polaris rules)' }).click();
      await page.getByRole('heading', { name: /: run history$/ }).waitFor();
      await shoot(page, `screen-${width}-settings-editor`);
      await page.getByRole('button', { name: 'Cancel', exact: true }).click();
      await go('Second agency', 'Second agency: record sets');
      await page.getByRole('button', { name: 'Returned by UMS', exact: true }).click();
      await page.getByRole('heading', { name: 'Patron set “Returned by UMS”' }).waitFor();
      await shoot(page, `screen-${width}-record-set`);
      await page.getByRole('button', { name: 'Waive balance' }).click();
      await dialog(page).waitFor();
      await shoot(page, `screen-${width}-confirmation`);
      await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    }
  });
});
