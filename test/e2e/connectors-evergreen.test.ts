// The Connectors screen in headless Chromium with an Evergreen database (its own, on the
// PostgreSQL server): add the connector, test it, see Evergreen's own codes listed live for
// the mapping (billing types by id, payment kinds, org units, profiles), map one, sync now.
// Screenshots 45-*.png.
import type { FastifyInstance } from 'fastify';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { systemClock, type Context } from '../../src/services/context.ts';
import { addUser } from '../../src/services/users.ts';
import { freshDatabase, type TestDatabase } from '../helpers/db.ts';
import { EvergreenFixture } from '../helpers/evergreen.ts';
import { ensureBuilt, go as goTo, launchBrowser, shot as shoot, signIn } from './harness.ts';
import { useTestSecretKey } from '../helpers/secret-key.ts';

const PASSWORD = 'correct horse battery staple';

let t: TestDatabase;
let eg: EvergreenFixture;
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
  eg = await EvergreenFixture.create();
  await eg.timeZone('CONS', 'America/Chicago');
  const ann = await eg.patron({ barcode: '29000001', familyName: 'Archer' });
  await eg.grocery(ann, { btype: 3, cents: 3000, at: '2026-10-15T15:00:00Z' });
  await eg.grocery(ann, { btype: 101, cents: 200, at: '2026-10-16T15:00:00Z' });
  const ctx: Context = { database: t, clock: systemClock, actor: 'e2e' };
  await addUser(ctx, { username: 'admin', password: PASSWORD, roles: ['admin'] });
  app = await buildServer(ctx);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  browser = await launchBrowser();
  page = await (await browser.newContext({ viewport: { width: 1366, height: 900 } })).newPage();
  await signIn(page, url, 'admin', PASSWORD);
  page.on('console', (m) => m.type() === 'error' && consoleErrors.push(m.text()));
  page.on('response', (r) => r.status() >= 400 && consoleErrors.push(`${r.status()} ${r.url()}`));
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await t?.dispose();
  await eg?.dispose();
});

describe('the Connectors screen with Evergreen', () => {
  it('adds and tests an Evergreen connector, lists Evergreen\'s own codes for the mapping, and syncs', async () => {
    await goTo(page, 'Connectors', 'ILS connectors');
    await page.getByRole('button', { name: 'Add a connector' }).click();
    const form = page.getByRole('form', { name: 'Add a connector' });
    await form.getByLabel('Name').fill('eg');
    await form.getByLabel('ILS', { exact: true }).selectOption('evergreen');
    await form.getByText('postgres://user:password@host:5432/evergreen', { exact: false }).waitFor();
    await form.getByLabel('Connection URL').fill(eg.url);
    await form.getByLabel('ILS time zone').fill('America/Chicago');
    await form.getByRole('button', { name: 'Add connector' }).click();
    await page.getByText('Added eg. Test the connection, check the mapping, then sync.').waitFor();
    expect(await page.content()).not.toContain(eg.password);
    await page.getByRole('row', { name: new RegExp(`postgres://127\\.0\\.0\\.1:5432/${eg.database}`) }).waitFor();

    await page.getByRole('button', { name: 'Test connection' }).click();
    const privileges = page.getByRole('list', { name: 'Privileges' });
    await privileges.waitFor();
    await expect(page.getByText(/^Evergreen 3\.17\.1 on PostgreSQL .*every privilege the connector needs is there\.$/).count()).resolves.toBe(1);
    await expect(privileges.getByText('✗').count()).resolves.toBe(0);
    await expect(privileges.getByText('INSERT on money.grocery').count()).resolves.toBe(1);
    await shot('45-evergreen-tested');

    // Billing types by id with Evergreen's names, payment kinds by table, org units, profiles.
    const charges = page.getByRole('table', { name: 'Charges (debit or billing types)' });
    await charges.getByRole('row', { name: /Long Overdue Collection Fee/ }).waitFor();
    await expect(page.getByLabel('Charge reason for 3', { exact: true }).inputValue()).resolves.toBe('replacement');
    await expect(page.getByLabel('Charge reason for 1', { exact: true }).inputValue()).resolves.toBe('overdue');
    await expect(page.getByLabel('Payment kind for forgive_payment', { exact: true }).inputValue()).resolves.toBe('waive');
    await expect(page.getByLabel('Payment kind for cash_payment', { exact: true }).inputValue()).resolves.toBe('payment');
    await page.getByLabel('Time zone of BR1', { exact: true }).waitFor();
    await page.getByText(/Patrons \(Patrons\)/).waitFor();
    // Misc (101) is left out by staff.
    await page.getByLabel('Charge reason for 101', { exact: true }).selectOption('ignore');
    await page.getByRole('button', { name: 'Save mapping' }).click();
    await page.getByText('Mapping saved; the next sync reads with it.').waitFor();
    expect((await t.db.selectFrom('connectors').select('mapping').executeTakeFirstOrThrow()).mapping).toEqual({ charges: { '101': 'ignore' }, payments: {}, methods: {}, libraries: {} });
    await shot('46-evergreen-mapping');

    await page.getByRole('button', { name: 'Sync now' }).click();
    await page.getByText(/^Full sync done: \d+ rows read; 2 patrons, 0 items, 1 charges and 0 payments added or changed/).waitFor();
    expect(await t.db.selectFrom('charges').select(['reason', 'amount_cents']).execute()).toEqual([{ reason: 'replacement', amount_cents: 3000 }]);
    await shot('47-evergreen-synced');
    expect(consoleErrors).toEqual([]);
  });
});
