// The Connectors screen in headless Chromium, against a real server and a real Koha database in
// MariaDB: add a connector (its URL never shown back), test it, map a code with the ILS's codes
// listed live, sync now, and retry a write-back that failed. Screenshots 40-*.png.
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { systemClock, type Context } from '../../src/services/context.ts';
import { addUser } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { KohaFixture } from '../helpers/koha.ts';
import { Scenario } from '../helpers/scenario.ts';
import { ensureBuilt, go as goTo, launchBrowser, shot as shoot, signIn } from './harness.ts';
import { useTestSecretKey } from '../helpers/secret-key.ts';

const PASSWORD = 'correct horse battery staple';

let t: TestDatabase;
let koha: KohaFixture;
let app: FastifyInstance;
let url: string;
let browser: Browser;
let page: Page;
useTestSecretKey();
const consoleErrors: string[] = [];

const shot = (name: string) => shoot(page, name);

beforeAll(async () => {
  ensureBuilt();
  t = await freshDatabase();
  koha = await KohaFixture.create();
  await koha.branch('CPL', 'Centerville');
  await koha.category('PT', 'A', 'Patron');
  const ann = await koha.patron({ cardnumber: '21000001', surname: 'Archer' });
  await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
  await koha.debit(ann, { type: 'RENT', cents: 200, date: '2026-10-16T15:00:00Z' });
  const ctx: Context = { database: t, clock: systemClock, actor: 'e2e' };
  await new Scenario(t).agency('UMS');
  await addUser(ctx, { username: 'admin', password: PASSWORD, roles: ['admin'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  await signIn(page, url, 'admin', PASSWORD);
  // Errors from here on are this screen's (before signing in, the app's "who am I?" is a 401 by design).
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
  await koha?.dispose();
});

describe('the Connectors screen', () => {
  it('adds and tests a connector, maps a code, syncs and retries a failed write-back', async () => {
    await goTo(page, 'Connectors', 'ILS connectors');
    await page.getByRole('button', { name: 'Add a connector' }).click();
    const form = page.getByRole('form', { name: 'Add a connector' });
    await form.getByLabel('Name').fill('koha');
    await form.getByLabel('ILS', { exact: true }).selectOption('koha');
    await form.getByLabel('Connection URL').fill(koha.url);
    await form.getByLabel('ILS time zone').fill('America/Chicago');
    await shot('40-connector-add');
    await form.getByRole('button', { name: 'Add connector' }).click();
    await page.getByText('Added koha. Test the connection, check the mapping, then sync.').waitFor();
    // Where it points, never who with what password.
    expect(await page.content()).not.toContain(koha.password);
    await page.getByRole('row', { name: new RegExp(`mysql://127\\.0\\.0\\.1:3306/${koha.database}`) }).waitFor();

    await page.getByRole('button', { name: 'Test connection' }).click();
    const privileges = page.getByRole('list', { name: 'Privileges' });
    await privileges.waitFor();
    await expect(page.getByText(/^Koha 23\.1103000 on .*every privilege the connector needs is there\.$/).count()).resolves.toBe(1);
    await expect(privileges.getByText('✗').count()).resolves.toBe(0);
    await shot('41-connector-tested');

    // The ILS's own debit types, listed live; RENT is mapped to manual by default. Staff leave it out.
    const rent = page.getByLabel('Charge reason for RENT', { exact: true });
    await expect(rent.inputValue()).resolves.toBe('manual');
    await expect(page.getByLabel('Charge reason for LOST', { exact: true }).inputValue()).resolves.toBe('replacement');
    await rent.selectOption('ignore');
    await page.getByRole('button', { name: 'Save mapping' }).click();
    await page.getByText('Mapping saved; the next sync reads with it.').waitFor();
    const stored = await t.db.selectFrom('connectors').select('mapping').executeTakeFirstOrThrow();
    expect(stored.mapping).toEqual({ charges: { RENT: 'ignore' }, payments: {}, methods: {}, libraries: {} });
    await shot('42-connector-mapping');

    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByText(/^Full sync done: \d+ rows read; 1 patrons, 0 items, 1 charges and 0 payments added or changed/).waitFor();
    // The left-out RENT debit is not a charge; the lost item is.
    expect(await t.db.selectFrom('charges').select(['reason', 'amount_cents']).execute()).toEqual([{ reason: 'replacement', amount_cents: 3000 }]);
    await page.getByRole('row', { name: /koha.*CPL/ }).getByRole('cell').nth(5).filter({ hasNotText: 'never' }).waitFor();
    await shot('43-connector-synced');

    // A write-back Koha refused: Retry puts it back in the queue.
    const connector = await t.db.selectFrom('connectors').select('id').executeTakeFirstOrThrow();
    const patron = await t.db.selectFrom('patrons').select('id').executeTakeFirstOrThrow();
    const agency = await t.db.selectFrom('agencies').select('id').executeTakeFirstOrThrow();
    const referral = await t.db
      .insertInto('referrals')
      .values({ patron_id: patron.id, agency_id: agency.id, referred_on: '2026-12-04', referred_cents: 3000, last_reported_cents: 3000, status: 'cancelled' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const failed = await t.db
      .insertInto('connector_writes')
      .values({ connector_id: connector.id, kind: 'block', patron_id: patron.id, referral_id: referral.id, idempotency_key: `block:${referral.id}`, status: 'failed', attempts: 1, last_error: 'Koha has no restriction type "COLLECT"' })
      .returning('id')
      .executeTakeFirstOrThrow();
    await page.reload();
    // The dashboard says so first, and leads to the screen where it is fixed.
    await goTo(page, 'Dashboard', 'Dashboard');
    const attention = page.getByRole('region', { name: 'Needs attention' });
    await attention.getByText('1 write-back refused by the ILS (the last: Koha has no restriction type "COLLECT"); fix the cause and retry them').waitFor();
    await shot('45-dashboard-attention');
    await attention.getByRole('link', { name: 'connector koha' }).click();
    await page.getByRole('heading', { name: 'ILS connectors' }).waitFor();
    // The Connectors screen shows its own part, for a role without the Dashboard.
    await page.getByRole('region', { name: 'Needs attention' }).getByText(/^Failing: connector koha — 1 write-back refused by the ILS/).waitFor();
    await page.getByRole('button', { name: 'koha', exact: true }).click();
    const row = page.getByRole('row', { name: /Koha has no restriction type "COLLECT"/ });
    await row.getByRole('button', { name: 'Retry' }).click();
    await page.getByText(`Write-back ${failed.id} is queued again.`).waitFor();
    expect(await t.db.selectFrom('connector_writes').select(['status', 'last_error']).where('id', '=', failed.id).executeTakeFirstOrThrow()).toEqual({ status: 'pending', last_error: null });
    await shot('44-connector-writes');
    expect(consoleErrors).toEqual([]);
  });
});
