// Issue 15's ten defects, each driven in headless Chromium against a real server and the demo
// consortium (every entry holds its New Submissions a day for review), each asserting
// what the defect got wrong: skip link, what a viewer sees, dry-run progress and a run for a
// future date, confirmations before money moves, refers, cancels or deletes (cancel does
// nothing, confirm does it once), renaming an entry (same id, history and schedule), stale
// results, explain of a referred patron, report files, a payment outside a run shown at once,
// words at 800 px, and an administrator removing their own role. No console errors anywhere.
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { fixedClock, systemClock, type Context } from '../../src/services/context.ts';
import { DEMO_AS_OF, loadDemo } from '../../src/services/demo.ts';
import { patronBalance } from '../../src/services/ledger.ts';
import { Scheduler } from '../../src/services/scheduler.ts';
import { addUser, createToken } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { SCREENS, confirmDialog, dialog, ensureBuilt, go as goTo, launchBrowser, shot as shoot, signIn, watchConsole } from './harness.ts';

const PASSWORD = 'correct horse battery staple';
const UMS = 'Unique Management Services';
const DAY_BEFORE = '2025-06-29';

let t: TestDatabase;
let ctx: Context;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
let dir: string;
const consoleErrors: string[][] = [];
/** The patron whose agency payment test 3 records and test 9 looks for. */
const recovered = { patron: '', amount: 0 };

const shot = (name: string, p = page) => shoot(p, `d-${name}`);
const go = (screen: string, heading: string, p = page) => goTo(p, screen, heading);

async function newPage(username: string, viewport = { width: 1366, height: 900 }): Promise<Page> {
  const p = await (await browser.newContext({ viewport, acceptDownloads: true })).newPage();
  consoleErrors.push(watchConsole(p));
  await signIn(p, url, username, PASSWORD);
  return p;
}

async function count(table: 'runs' | 'exclusions' | 'report_files'): Promise<number> {
  return (await t.db.selectFrom(table).select('id').execute()).length;
}

function dollars(cents: number): string {
  return `$${Math.floor(cents / 100).toLocaleString('en-US')}.${String(cents % 100).padStart(2, '0')}`;
}

/** Words split over two lines (not ids, dates, file names or hyphenated words, which may break). */
async function brokenWords(p: Page): Promise<string[]> {
  return p.evaluate(() => {
    const out: string[] = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!el || el.closest('.sr-only, code, td.file-name, td.value, td.json, svg, script, style, option')) continue;
      const text = n.textContent ?? '';
      for (const m of text.matchAll(/\S+/g)) {
        const word = m[0];
        if (word.length > 20 || /[\d_@/.:\-–—]/.test(word)) continue;
        const range = document.createRange();
        range.setStart(n, m.index);
        range.setEnd(n, m.index + word.length);
        const lines = new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.top)));
        if (lines.size > 1) out.push(`${word} (${el.tagName.toLowerCase()})`);
      }
    }
    return out;
  });
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'arrears-e2e-defects-'));
  t = await freshDatabase();
  ctx = { database: t, clock: systemClock, actor: 'e2e' };
  await loadDemo(ctx, { patrons: 300, seed: 11, asOf: DEMO_AS_OF });
  await t.db.updateTable('settings_entries').set({ review_hours: 24 }).execute();
  await addUser(ctx, { username: 'ada', password: PASSWORD, displayName: 'Ada Admin', roles: ['admin'] });
  await addUser(ctx, { username: 'vera', password: PASSWORD, displayName: 'Vera Viewer', roles: ['viewer'] });
  await addUser(ctx, { username: 'bo', password: PASSWORD, displayName: 'Bo Office', roles: ['business_office'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  page = await newPage('ada');
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => {
  for (const errors of consoleErrors) expect(errors).toEqual([]);
});

describe('issue 15 defects in Chromium', () => {
  it('6. "Skip to content" moves focus to the screen and keeps it, not the Dashboard', async () => {
    await page.goto(`${url}/#/settings`);
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Collection Agency Settings' }).waitFor();
    await page.keyboard.press('Tab');
    await expect(page.evaluate(() => document.activeElement?.textContent)).resolves.toBe('Skip to content');
    await page.keyboard.press('Enter');
    await expect(page.evaluate(() => document.activeElement?.id)).resolves.toBe('main');
    expect(new URL(page.url()).hash).toBe('#/settings');
    await expect(page.getByRole('heading', { level: 1 }).textContent()).resolves.toBe('Collection Agency Settings');
  });

  it('10. a dry run’s phases say nothing is saved; a run for a future date warns first; 3. Run now asks, cancel does nothing, confirm runs once', async () => {
    await go('Run preview', 'Run preview');
    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('.summary').waitFor();
    const phases = page.getByRole('region', { name: 'Last dry run' }).locator('.phases li');
    const labels = await phases.allTextContents();
    expect(labels.join('\n')).not.toMatch(/Writing referrals|Writing the agencies/);
    expect(labels).toContain('✓ Working out referrals (nothing is saved) (done)');
    await shot('10-dry-run-phases');

    await page.getByLabel('Report date').fill('2099-01-01');
    await page.getByRole('button', { name: 'Run now' }).click();
    await dialog(page).getByRole('heading', { name: 'Run for 2099-01-01 now?' }).waitFor();
    await expect(dialog(page).textContent()).resolves.toMatch(/2099-01-01 is \d+ days in the future\. Once it has run, a run for any earlier date is refused/);
    await shot('10-future-date-warning');
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    await dialog(page).waitFor({ state: 'detached' });
    expect(await count('runs')).toBe(0);

    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Run now' }).click();
    await dialog(page).getByRole('heading', { name: `Run for ${DEMO_AS_OF} now?` }).waitFor();
    await expect(dialog(page).textContent()).resolves.not.toContain('in the future');
    await dialog(page).getByRole('button', { name: `Run for ${DEMO_AS_OF}` }).click();
    await page.getByText(/^Run \d+ for /).waitFor();
    expect(await count('runs')).toBe(1);
  });

  it('2. renaming an entry keeps its id, run history and schedule: the scheduler runs nothing again', async () => {
    const scheduler = new Scheduler({ database: t, clock: fixedClock('2025-06-30T18:00:00Z') }, { runTime: { hour: 2, minute: 0 } });
    expect((await scheduler.tick()).ran.filter((r) => !r.alreadyRun)).toEqual([]);
    const central = await t.db.selectFrom('settings_entries').select(['id', 'name']).where('name', '=', 'Central (Polaris rules)').executeTakeFirstOrThrow();
    const files = await count('report_files');

    await go('Settings', 'Collection Agency Settings');
    await page.getByRole('button', { name: 'Edit Central (Polaris rules)' }).click();
    await page.getByRole('heading', { name: `Entry id ${central.id}, position 1: run history` }).waitFor();
    await page.getByRole('cell', { name: DEMO_AS_OF, exact: true }).waitFor();
    await page.getByLabel('Name', { exact: true }).fill('Central library (Polaris)');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText(`Saved “Central library (Polaris)” (entry id ${central.id}, position 1); it keeps its id, run history and schedule.`).waitFor();
    await shot('02-renamed');

    const after = await t.db.selectFrom('settings_entries').select(['id', 'name']).orderBy('position').execute();
    expect(after[0]).toEqual({ id: central.id, name: 'Central library (Polaris)' });
    const audit = await t.db.selectFrom('audit_log').select('action').where('actor', '=', 'ada').where('action', 'like', 'settings.%').execute();
    expect(audit.map((a) => a.action)).toEqual(['settings.update']);
    expect((await scheduler.tick()).ran).toEqual([]);
    expect(await count('report_files')).toBe(files);

    await page.getByRole('button', { name: 'Edit Central library (Polaris)' }).click();
    await page.getByRole('heading', { name: `Entry id ${central.id}, position 1: run history` }).waitFor();
    await page.getByRole('cell', { name: DEMO_AS_OF, exact: true }).waitFor();
    await page.getByText(/New Submissions done through 2025-06-30/).waitFor();
    await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  });

  it('8. a refused run leaves no earlier result and no full progress bar; a success message goes when the next action starts', async () => {
    await go('Run preview', 'Run preview');
    await page.getByLabel('Report date').fill(DEMO_AS_OF);
    await page.getByRole('button', { name: 'Dry run' }).click();
    await page.locator('.summary').waitFor();
    await page.getByLabel('Report date').fill(DAY_BEFORE);
    await page.getByRole('button', { name: 'Run now' }).click();
    await confirmDialog(page, `Run for ${DAY_BEFORE} now?`, `Run for ${DAY_BEFORE}`);
    await page.getByRole('alert').filter({ hasText: `report date ${DAY_BEFORE} is before ${DEMO_AS_OF}, which has already run` }).waitFor();
    await expect(page.locator('.summary').count()).resolves.toBe(0);
    const progress = page.getByRole('region', { name: 'Last run' });
    await expect(progress.getByRole('status').textContent()).resolves.toBe('Last run: Failed');
    await expect(progress.getByRole('progressbar').count()).resolves.toBe(0);
    await expect(progress.locator('.phases li.done').count()).resolves.toBe(0);
    await shot('08-refused-run');

    await go('Review', 'Review and exclusions');
    const form = page.getByRole('form', { name: 'Exclude a patron' });
    const someone = await t.db.selectFrom('patrons').select('id').where('in_collections', '=', false).orderBy('id').executeTakeFirstOrThrow();
    await form.getByLabel('Patron id').fill(someone.id);
    await form.getByLabel('Reason').fill('disputes the charge');
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await confirmDialog(page, `Exclude patron ${someone.id} until lifted?`, `Exclude ${someone.id}`);
    const done = page.getByText(`Patron ${someone.id} excluded until lifted.`);
    await done.waitFor();
    await form.getByLabel('Patron id').fill('NO-SUCH-PATRON');
    await form.getByLabel('Reason').fill('typo');
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await confirmDialog(page, 'Exclude patron NO-SUCH-PATRON until lifted?', 'Exclude NO-SUCH-PATRON');
    await form.getByRole('alert').filter({ hasText: 'patron "NO-SUCH-PATRON" not found' }).waitFor();
    await expect(done.count()).resolves.toBe(0);
    await shot('08-success-cleared');
  });

  it('4. explain of a patron in a held file says the run referred them and the file is held', async () => {
    await go('Review', 'Review and exclusions');
    const first = page.getByRole('button', { name: /^Explain / }).first();
    const patron = (await first.textContent())!.replace(/^Explain /, '');
    await first.click();
    const view = page.locator('.explain');
    await view.getByRole('heading', { name: `Patron ${patron} was referred on ${DEMO_AS_OF}` }).waitFor();
    const note = (await view.locator('.note').textContent())!;
    expect(note).toMatch(
      new RegExp(`^The run \\d+ for ${DEMO_AS_OF} referred this patron to (${UMS}|Second Look Recovery) \\(referral #\\d+, open\\)\\. Its file [a-z-]+_new_\\d{14}\\.txt is held for review until .+: nothing has gone to the agency yet\\.`),
    );
    expect(note).toContain('“Not already in collections” fails because of that referral');
    await expect(view.getByText('would not be submitted').count()).resolves.toBe(0);
    await shot('04-explain-held');
    await view.getByRole('button', { name: 'Close' }).click();
  });

  it('7. report files: newest first, paged and sorted, the agency in the list, Release for a held file (no Retry), released shows "ready to download"', async () => {
    const stored = await t.db
      .selectFrom('report_files as f')
      .innerJoin('agencies as a', 'a.id', 'f.agency_id')
      .select(['f.id', 'f.name', 'f.status', 'a.name as agency'])
      .orderBy('f.id', 'desc')
      .execute();
    expect(stored.length).toBeGreaterThan(10);
    await go('Report files', 'Report files');
    const rows = page.locator('.datatable tbody tr');
    await rows.first().waitFor();
    await expect(rows.first().locator('td').nth(0).textContent()).resolves.toBe(stored[0]!.name);
    await expect(rows.first().locator('td').nth(1).textContent()).resolves.toBe(stored[0]!.agency);
    // Two agencies' files of one entry share a name; the list tells them apart.
    const shared = stored.filter((f) => f.name.startsWith('consortium_new_'));
    expect(new Set(shared.map((f) => f.agency)).size).toBe(2);
    for (const f of shared) await page.getByRole('row').filter({ hasText: f.name }).filter({ hasText: f.agency }).waitFor();

    await page.getByRole('navigation', { name: 'Pages of report files' }).getByLabel('Per page').selectOption('10');
    await page.getByText(`1–10 of ${stored.length}`).waitFor();
    await page.locator('.datatable table:not([aria-busy])').waitFor();
    await expect(rows.count()).resolves.toBe(10);
    await page.getByRole('navigation', { name: 'Pages of report files' }).getByRole('button', { name: 'Next' }).click();
    await page.getByText(`11–${Math.min(20, stored.length)} of ${stored.length}`).waitFor();
    await page.getByRole('columnheader', { name: 'File' }).getByRole('button').click();
    await page.getByText(`1–10 of ${stored.length}`).waitFor();
    // The sorted page replaces the rows in place: read them until they settle (or time out).
    await expect.poll(() => page.locator('.datatable tbody tr td:first-child').allTextContents(), { timeout: 10_000 }).toEqual([...stored.map((f) => f.name)].sort().slice(0, 10));

    const held = stored.find((f) => f.status === 'held')!;
    await page.locator('.table-tools input[type="search"]').fill(held.name);
    const row = page.getByRole('row').filter({ hasText: held.name }).filter({ hasText: held.agency });
    await row.getByText('held for review').waitFor();
    await expect(row.getByRole('button', { name: /^Retry/ }).count()).resolves.toBe(0);
    await shot('07-files-held');
    await row.getByRole('button', { name: `Release ${held.name} to ${held.agency}` }).click();
    await confirmDialog(page, `Release ${held.name} to ${held.agency} now?`, `Release to ${held.agency}`);
    await page.getByText(`Released ${held.name} to ${held.agency}: ready to download.`).waitFor();
    await row.getByText('ready to download', { exact: true }).waitFor();
    await expect(row.getByText(/^none$/).count()).resolves.toBe(0);
    await shot('07-files-released');
  });

  it('3. Exclude now, Waive, Record agency payment, Delete lost items, Revoke token and Deactivate user ask; cancel does nothing, confirm does it once', async () => {
    // Exclude now.
    await go('Review', 'Review and exclusions');
    const form = page.getByRole('form', { name: 'Exclude a patron' });
    const target = await t.db.selectFrom('patrons').select('id').where('in_collections', '=', false).orderBy('id', 'desc').executeTakeFirstOrThrow();
    await form.getByLabel('Patron id').fill(target.id);
    await form.getByLabel('Reason').fill('payment plan');
    const exclusions = await count('exclusions');
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await dialog(page).getByRole('heading', { name: `Exclude patron ${target.id} until lifted?` }).waitFor();
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect(await count('exclusions')).toBe(exclusions);
    await form.getByRole('button', { name: 'Exclude now' }).click();
    await confirmDialog(page, `Exclude patron ${target.id} until lifted?`, `Exclude ${target.id}`);
    await page.getByText(`Patron ${target.id} excluded until lifted.`).waitFor();
    expect(await count('exclusions')).toBe(exclusions + 1);

    // Waive the whole set of two referred patrons.
    const referred = await t.db.selectFrom('referrals').select('patron_id').where('status', '=', 'open').orderBy('patron_id').execute();
    const [p1, p2, p3] = [referred[0]!.patron_id, referred[1]!.patron_id, referred[2]!.patron_id];
    const owed = [(await patronBalance(t.db, p1)).outstandingCents, (await patronBalance(t.db, p2)).outstandingCents];
    await go('Second agency', 'Second agency: record sets');
    writeFileSync(join(dir, 'waive.csv'), `PatronID\n${p1}\n${p2}\n`);
    await page.getByLabel('Record set name').fill('To waive');
    await page.getByLabel('Returned accounts (.xlsx or .csv)').setInputFiles(join(dir, 'waive.csv'));
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Patron set “To waive”' }).waitFor();
    await page.getByRole('button', { name: 'Waive balance' }).click();
    const title = `Waive ${dollars(owed[0]! + owed[1]!)} on 2 patrons?`;
    await dialog(page).getByRole('heading', { name: title }).waitFor();
    await expect(dialog(page).textContent()).resolves.toContain('Nothing is ticked, so this is for the whole set “To waive” (2 patrons).');
    await shot('03-waive-whole-set');
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await patronBalance(t.db, p1)).outstandingCents).toBe(owed[0]);
    const earlier = (await t.db.selectFrom('payments').select('id').where('patron_id', 'in', [p1, p2]).execute()).map((x) => x.id);
    await page.getByRole('button', { name: 'Waive balance' }).click();
    await confirmDialog(page, title, `Waive ${dollars(owed[0]! + owed[1]!)}`);
    await page.getByText(/^Waived \d+\.\d\d\.$/).waitFor();
    const waivers = await t.db
      .selectFrom('payments')
      .select(['patron_id', 'amount_cents'])
      .where('type', '=', 'waive')
      .where('patron_id', 'in', [p1, p2])
      .where('id', 'not in', earlier)
      .orderBy('patron_id')
      .execute();
    expect(waivers).toEqual([
      { patron_id: p1, amount_cents: owed[0] },
      { patron_id: p2, amount_cents: owed[1] },
    ]);

    // Record an agency payment for the one ticked patron of a set of two.
    writeFileSync(join(dir, 'paid.csv'), `PatronID\n${p3}\n${target.id}\n`);
    await page.getByLabel('Record set name').fill('Agency paid');
    await page.getByLabel('Returned accounts (.xlsx or .csv)').setInputFiles(join(dir, 'paid.csv'));
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Patron set “Agency paid”' }).waitFor();
    await page.getByLabel(`Select patron ${p3}`).check();
    const p3owed = (await patronBalance(t.db, p3)).outstandingCents;
    await page.getByRole('button', { name: 'Record agency payment' }).click();
    await confirmDialog(page, `Record ${dollars(p3owed)} of collection-agency payments for 1 patron?`, `Record ${dollars(p3owed)}`);
    await page.getByText(/^Recorded agency payments of \d+\.\d\d\.$/).waitFor();
    const paid = await t.db.selectFrom('payments').select(['patron_id', 'method', 'amount_cents']).where('method', '=', 'collection agency').execute();
    expect(paid).toEqual([{ patron_id: p3, method: 'collection agency', amount_cents: p3owed }]);
    expect(recovered.amount).toBe(0);
    recovered.patron = p3;
    recovered.amount = p3owed;

    // Delete the lost items of an item set.
    const lost = await t.db.selectFrom('items').select(['patron_id']).where('status', '=', 'lost').where('patron_id', 'is not', null).orderBy('patron_id').executeTakeFirstOrThrow();
    writeFileSync(join(dir, 'lost.csv'), `PatronID\n${lost.patron_id}\n`);
    await page.getByLabel('Record set name').fill('With lost items');
    await page.getByLabel('Returned accounts (.xlsx or .csv)').setInputFiles(join(dir, 'lost.csv'));
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.getByRole('heading', { name: 'Patron set “With lost items”' }).waitFor();
    await page.getByRole('button', { name: 'Build item set' }).click();
    const built = page.getByText(/^Item set “(.+)” with (\d+) items created\.$/);
    await built.waitFor();
    const itemSet = /^Item set “(.+)” with/.exec((await built.textContent())!)![1]!;
    await page.getByRole('button', { name: itemSet, exact: true }).click();
    await page.getByRole('heading', { name: `Item set “${itemSet}”` }).waitFor();
    const lostBefore = (await t.db.selectFrom('items').select('id').where('patron_id', '=', lost.patron_id!).where('status', '=', 'lost').execute()).length;
    await page.getByRole('button', { name: 'Delete lost items' }).click();
    const question = `Delete the ${lostBefore} lost item${lostBefore === 1 ? '' : 's'} of “${itemSet}”?`;
    await dialog(page).getByRole('heading', { name: question }).waitFor();
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await t.db.selectFrom('items').select('id').where('patron_id', '=', lost.patron_id!).where('status', '=', 'lost').execute()).length).toBe(lostBefore);
    await page.getByRole('button', { name: 'Delete lost items' }).click();
    await confirmDialog(page, question, `Delete ${lostBefore} lost item${lostBefore === 1 ? '' : 's'}`);
    const result = page.getByText(/^Deleting lost items: (\d+) deleted, (\d+) kept or transitioned, 0 skipped\.$/);
    await result.waitFor();
    // Applied once: every lost item accounted for exactly once.
    const [, deleted, kept] = /(\d+) deleted, (\d+) kept/.exec((await result.textContent())!)!;
    expect(Number(deleted) + Number(kept)).toBe(lostBefore);
    expect((await t.db.selectFrom('items').select('id').where('patron_id', '=', lost.patron_id!).where('status', '=', 'lost').execute()).length).toBe(0);

    // Revoke a token.
    const token = await createToken(ctx, 'bo', 'nightly export');
    await go('Users', 'Users and API tokens');
    await page.getByRole('button', { name: 'Revoke token nightly export' }).click();
    await dialog(page).getByRole('heading', { name: 'Revoke the token “nightly export” of bo?' }).waitFor();
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await t.db.selectFrom('api_tokens').select('revoked_at').where('id', '=', token.id).executeTakeFirstOrThrow()).revoked_at).toBeNull();
    await page.getByRole('button', { name: 'Revoke token nightly export' }).click();
    await confirmDialog(page, 'Revoke the token “nightly export” of bo?', 'Revoke it');
    await page.getByText('Revoked the token “nightly export” of bo.').waitFor();
    const revokes = await t.db.selectFrom('audit_log').select('id').where('action', '=', 'token.revoke').execute();
    expect(revokes).toHaveLength(1);

    // Deactivate a user.
    await page.getByRole('button', { name: 'Edit user bo' }).click();
    const edit = page.getByRole('form', { name: 'Edit user bo' });
    await edit.getByLabel(/^Active/).uncheck();
    await edit.getByRole('button', { name: 'Save user' }).click();
    await dialog(page).getByRole('heading', { name: 'Deactivate bo?' }).waitFor();
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    expect((await t.db.selectFrom('users').select('active').where('username', '=', 'bo').executeTakeFirstOrThrow()).active).toBe(true);
    await edit.getByRole('button', { name: 'Save user' }).click();
    await confirmDialog(page, 'Deactivate bo?', 'Deactivate bo');
    await page.getByText('Saved bo: business_office, deactivated.').waitFor();
    expect((await t.db.selectFrom('users').select('active').where('username', '=', 'bo').executeTakeFirstOrThrow()).active).toBe(false);
  });

  it('9. after an agency payment the referral shows what is owed now and recovered, and the dashboard counts it at once', async () => {
    await go('Referrals', 'Referrals');
    await page.locator('.table-tools input[type="search"]').fill(recovered.patron);
    const row = page.locator('.datatable tbody tr').filter({ has: page.getByRole('link', { name: recovered.patron, exact: true }) });
    await row.getByText('(not yet reported)').waitFor();
    const cells = await row.getByRole('cell').allTextContents();
    expect(cells[4]).toBe('open');
    expect(cells[8]).toBe('$0.00 (not yet reported)');
    expect(cells[9]).toBe(dollars(recovered.amount));
    await shot('09-referral-now');
    await go('Dashboard', 'Dashboard');
    const figure = page.locator('.figure').filter({ hasText: 'Recovered this month' }).locator('.figure-value');
    await expect(figure.textContent()).resolves.toBe(dollars(recovered.amount));
    await shot('09-dashboard-recovered');
  });

  it('5. a viewer sees no control their role cannot use, and a screen they may not open says so', async () => {
    const viewer = await newPage('vera');
    const nav = await viewer.getByRole('navigation', { name: 'Screens' }).getByRole('link').allTextContents();
    expect(nav).toEqual(['Dashboard', 'Patrons', 'Settings', 'Review', 'Referrals', 'Second agency', 'Report files', 'Agencies', 'Connectors', 'Schedule']);
    const WRITE = /^(Edit|Add an entry|Add an agency|Duplicate|Delete|Exclude|Release|Lift|Upload|Retry|Run now|Secure|Waive|Record agency payment|Import cleared accounts|Revoke|Create token|Remove from set|Build item set|↑|↓)/;
    for (const [label, heading] of SCREENS.filter(([l]) => nav.includes(l))) {
      await go(label, heading, viewer);
      await viewer.locator('.busy').first().waitFor({ state: 'detached' });
      const buttons = await viewer.getByRole('main').getByRole('button').allTextContents();
      expect(buttons.filter((b) => WRITE.test(b.trim())), label).toEqual([]);
    }
    // A set opened: its members, no actions.
    await go('Second agency', 'Second agency: record sets', viewer);
    await viewer.getByRole('button', { name: 'To waive', exact: true }).click();
    await viewer.getByRole('heading', { name: 'Patron set “To waive”' }).waitFor();
    await expect(viewer.getByRole('checkbox').count()).resolves.toBe(0);
    expect((await viewer.getByRole('main').getByRole('button').allTextContents()).filter((b) => WRITE.test(b.trim()))).toEqual([]);
    await shot('05-viewer-recordset', viewer);
    // Settings: view, not edit.
    await go('Settings', 'Collection Agency Settings', viewer);
    await viewer.getByRole('button', { name: /^View / }).first().click();
    await expect(viewer.locator('.entry-form fieldset.plain').getAttribute('disabled')).resolves.toBe('');
    await shot('05-viewer-settings', viewer);
    for (const [hash, name] of [
      ['users', 'Users'],
      ['runs', 'Run preview'],
      ['audit', 'Audit log'],
    ]) {
      await viewer.goto(`${url}/#/${hash}`);
      await viewer.getByRole('heading', { level: 1, name: `You don’t have access to ${name}` }).waitFor();
    }
    await shot('05-viewer-no-access', viewer);
    await viewer.context().close();
  });

  it('10. at 800 px no word is split over two lines on any screen', async () => {
    const narrow = await newPage('ada', { width: 800, height: 1000 });
    for (const [label, heading] of SCREENS) {
      await go(label, heading, narrow);
      await narrow.locator('.busy').first().waitFor({ state: 'detached' });
      expect(await brokenWords(narrow), label).toEqual([]);
      expect(await narrow.evaluate(() => document.documentElement.scrollWidth), label).toBeLessThanOrEqual(800);
    }
    await narrow.context().close();
  });

  it('1. an administrator is warned before removing their own admin role, and the last one is refused', async () => {
    await go('Users', 'Users and API tokens');
    await page.getByRole('button', { name: 'Edit user ada' }).click();
    const edit = page.getByRole('form', { name: 'Edit user ada' });
    await edit.getByRole('checkbox', { name: 'admin', exact: true }).uncheck();
    await edit.getByRole('button', { name: 'Save user' }).click();
    await dialog(page).getByRole('heading', { name: 'Remove your own admin role?' }).waitFor();
    await dialog(page).getByRole('button', { name: 'Cancel' }).click();
    await edit.getByRole('button', { name: 'Save user' }).click();
    await confirmDialog(page, 'Remove your own admin role?', 'Remove my admin role');
    await edit.getByRole('alert').filter({ hasText: 'cannot remove the admin role from ada: they are the last active administrator' }).waitFor();
    await shot('01-last-admin-refused');
    const roles = async () => (await t.db.selectFrom('user_roles as ur').innerJoin('users as u', 'u.id', 'ur.user_id').select('ur.role').where('u.username', '=', 'ada').execute()).map((r) => r.role);
    expect(await roles()).toEqual(['admin']);

    // With a second administrator it is allowed, after the warning; the screens follow at once.
    await addUser(ctx, { username: 'ben', password: PASSWORD, roles: ['admin'] });
    await edit.getByRole('button', { name: 'Save user' }).click();
    await confirmDialog(page, 'Remove your own admin role?', 'Remove my admin role');
    // The app starts again with the new roles: none, so Users (still the address) says so.
    await page.getByRole('heading', { level: 1, name: 'You don’t have access to Users' }).waitFor();
    await expect(page.getByRole('navigation', { name: 'Screens' }).getByRole('link').count()).resolves.toBe(0);
    expect(await roles()).toEqual([]);
    await shot('01-own-admin-removed');
  });
});
