// What needs attention (services/attention.ts), built through the doors a library uses: a
// connector that never synced or whose sync failed, a report file whose delivery fails, a New
// Submissions file held for review, a scheduled run that is late; the API shows each user only
// what their role may open, and `arrears status` exits 4 while something fails or is late.
// (Write-backs waiting or refused are shown in koha.test.ts and evergreen.test.ts.)
import { mkdtempSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildServer } from '../src/http/server.ts';
import { addAgency } from '../src/services/agencies.ts';
import { needsAttention } from '../src/services/attention.ts';
import { recordHeartbeat } from '../src/services/scheduler.ts';
import { addConnector, updateConnector } from '../src/services/connectors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { deliverDueFiles } from '../src/services/delivery.ts';
import { syncConnector } from '../src/services/sync.ts';
import { addUser, createToken, saveRole } from '../src/services/users.ts';
import type { Permission } from '../src/domain/permissions.ts';
import { runCli } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { KohaFixture } from './helpers/koha.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

let t: TestDatabase;
let s: Scenario;
const ctx = (at: string): Context => ({ database: t, clock: fixedClock(at), actor: 'test' });

useTestSecretKey();
beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(async () => {
  await t.dispose();
});
beforeEach(async () => {
  await s.reset();
});

/** One patron owing 40.00 since September at MAIN (America/Chicago), over a 25.00 threshold. */
async function owingPatron(): Promise<void> {
  await s.libraries({ code: 'MAIN' });
  await s.patrons({ id: 'P1' });
  await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2026-09-01T15:00:00Z' });
}

describe('what needs attention', () => {
  it('is nothing in a database with nothing wrong', async () => {
    expect(await needsAttention(ctx('2026-12-04T15:00:00Z'))).toEqual([]);
    await owingPatron();
    await s.agency('UMS');
    await s.settings({ ptypes: [1] });
    await s.run('2026-12-04');
    expect(await needsAttention(ctx('2026-12-04T15:00:00Z'))).toEqual([]);
  });

  it('names a connector that never synced (runs of its libraries wait), then one whose last sync failed', async () => {
    const koha = await KohaFixture.create();
    try {
      await koha.branch('CPL');
      await koha.category('PT');
      await addConnector(ctx('2026-12-04T15:00:00Z'), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
      expect(await needsAttention(ctx('2026-12-04T15:00:00Z'))).toEqual([
        { key: expect.stringMatching(/^connector:\d+:sync$/), kind: 'never-synced', level: 'error', screen: 'connectors', subject: 'connector koha', message: 'it has never synced; runs of its libraries wait for a first sync', since: null },
      ]);
      await syncConnector(ctx('2026-12-04T15:00:00Z'), 'koha');
      expect(await needsAttention(ctx('2026-12-04T15:10:00Z'))).toEqual([]);
      const down = new URL(koha.url);
      down.port = '1';
      await updateConnector(ctx('2026-12-04T15:20:00Z'), 'koha', { url: down.toString() });
      await expect(syncConnector(ctx('2026-12-04T15:20:00Z'), 'koha')).rejects.toThrow(/cannot be reached/);
      // Data of 15:00 is still fresh enough to run on: the failure alone is told.
      expect(await needsAttention(ctx('2026-12-04T15:30:00Z'))).toEqual([
        {
          key: expect.stringMatching(/^connector:\d+:sync$/),
          kind: 'sync-failed',
          level: 'error',
          screen: 'connectors',
          subject: 'connector koha',
          message: expect.stringMatching(/^the last sync failed and changed nothing: connector "koha": the ILS database cannot be reached/),
          since: new Date('2026-12-04T15:20:00Z'),
        },
      ]);
      // A day later (the default limit) the data is too old as well: the same item (its key) says both.
      const [later] = await needsAttention(ctx('2026-12-05T15:30:00Z'));
      expect(later).toMatchObject({ kind: 'sync-failed', level: 'error', message: expect.stringMatching(/^its data is 1470 minutes old \(the limit is 1440\); the last sync failed: .*; the run waits for a fresh sync$/) });
      expect(later!.key).toBe((await needsAttention(ctx('2026-12-04T15:30:00Z')))[0]!.key);
      // Old data alone is no failure: runs sync first.
      await updateConnector(ctx('2026-12-05T15:40:00Z'), 'koha', { url: koha.url });
      await syncConnector(ctx('2026-12-05T15:40:00Z'), 'koha');
      expect(await needsAttention(ctx('2026-12-07T15:40:00Z'))).toEqual([]);
    } finally {
      await koha.dispose();
    }
  });

  it('names a report file whose delivery fails, with the error, and a New Submissions file held for review', async () => {
    await owingPatron();
    // A folder that is a file: every delivery fails at once, no network involved.
    const notAFolder = join(mkdtempSync(join(tmpdir(), 'arrears-attention-')), 'plain-file');
    writeFileSync(notAFolder, '');
    await addAgency(s.context(), { name: 'UMS', transferMethod: 'folder', transferConfig: { path: notAFolder } });
    await s.settings({ ptypes: [1] });
    await s.run('2026-12-04');
    await deliverDueFiles(ctx('2026-12-04T08:05:00Z'));
    const [failing] = await needsAttention(ctx('2026-12-04T09:00:00Z'));
    expect(failing).toEqual({
      key: expect.stringMatching(/^file:\d+:delivery$/),
      kind: 'delivery-failing',
      level: 'error',
      screen: 'files',
      subject: expect.stringMatching(/^file .+ for UMS$/),
      message: expect.stringMatching(/^delivery failed 1 time \(the last: .+\); the next try is at 2026-12-04T\d\d:\d\d:\d\d\.000Z$/),
      since: expect.any(Date),
    });

    await s.reset();
    await owingPatron();
    await s.agency('UMS');
    await s.settings({ ptypes: [1], reviewHours: 24 });
    await s.run('2026-12-04');
    expect(await needsAttention(ctx('2026-12-04T09:00:00Z'))).toEqual([
      { key: expect.stringMatching(/^file:\d+:held$/), kind: 'held', level: 'notice', screen: 'review', subject: expect.stringMatching(/^file .+ for UMS$/), message: 'held for review until 2026-12-05T08:00:00.000Z before it is sent', since: expect.any(Date) },
    ]);
  });

  it('names a scheduled run an hour late, not one just due', async () => {
    await owingPatron();
    await s.agency('UMS');
    await s.settings({ ptypes: [1], autoNewSubmission: true });
    // Due at 02:00 in Chicago (08:00 UTC): late from 09:00 UTC.
    expect(await needsAttention(ctx('2026-12-04T08:30:00Z'))).toEqual([]);
    expect(await needsAttention(ctx('2026-12-04T09:00:00Z'))).toEqual([
      {
        key: expect.stringMatching(/^entry:\d+:new:late$/),
        kind: 'late-run',
        level: 'warning',
        screen: 'schedule',
        subject: 'New Submissions of settings entry Entry 1',
        message: "the scheduled run for 2026-12-04 has not happened: the scheduler runs inside `arrears start`, and waits while a connector's data is too old or a run fails",
        since: new Date('2026-12-04T08:00:00Z'),
      },
    ]);
    // Run (by hand here): nothing is late any more.
    await s.run('2026-12-04');
    expect(await needsAttention(ctx('2026-12-04T09:00:00Z'))).toEqual([]);
  });
});

describe("the server's heartbeat", () => {
  it("judges lateness by the server's run time, and names a server that stopped passing while runs are scheduled", async () => {
    await owingPatron();
    await s.agency('UMS');
    await s.settings({ ptypes: [1], autoNewSubmission: true });
    // The server runs reports at 03:30 (Chicago), not this process's 02:00: 2026-12-04 is due at
    // 09:30 UTC (at 02:00 it would have been late from 09:00 UTC).
    await recordHeartbeat(t.db, { hour: 3, minute: 30 }, new Date('2026-12-04T10:25:00Z'));
    expect(await needsAttention(ctx('2026-12-04T09:00:00Z'))).toEqual([]);
    expect(await needsAttention(ctx('2026-12-04T10:30:00Z'))).toEqual([
      expect.objectContaining({ kind: 'late-run', message: expect.stringMatching(/^the scheduled run for 2026-12-04 has not happened/), since: new Date('2026-12-04T09:30:00Z') }),
    ]);
    // Half an hour without a pass: stopped.
    const stopped = await needsAttention(ctx('2026-12-04T10:55:00Z'));
    expect(stopped.map((i) => i.kind)).toEqual(['late-run', 'server-stopped']);
    expect(stopped[1]).toEqual({
      key: 'server:stopped',
      kind: 'server-stopped',
      level: 'warning',
      screen: 'schedule',
      subject: 'the server',
      message: `no \`arrears start\` has passed since 2026-12-04T10:25:00.000Z (the last was on ${hostname()}, process ${process.pid}, running reports at 03:30): scheduled runs, deliveries, ILS write-backs and alert mails wait until one runs`,
      since: new Date('2026-12-04T10:25:00Z'),
    });
    // Nothing scheduled: a server stopped for good is no one's concern here.
    await t.db.updateTable('settings_entries').set({ auto_new_submission: false }).execute();
    expect(await needsAttention(ctx('2026-12-04T10:55:00Z'))).toEqual([]);
  });
});

describe('the server that passed last', () => {
  it('is named by GET /api/schedule and `arrears schedule status`, with the run time it keeps', async () => {
    const at = ctx('2026-12-04T10:00:00Z');
    const app = await buildServer(at);
    try {
      await saveRole(at, { name: 'r_sched', description: 'test', permissions: ['parameters.view'] });
      await addUser(at, { username: 'sched', password: 'a long enough password 1', roles: ['r_sched'] });
      const { token } = await createToken(at, 'sched', 'schedule');
      const server = async () => ((await app.inject({ url: '/api/schedule', headers: { authorization: `Bearer ${token}` } })).json() as { server: unknown }).server;
      expect(await server()).toBeNull();
      await recordHeartbeat(t.db, { hour: 3, minute: 30 }, new Date('2026-12-04T09:59:00Z'));
      expect(await server()).toEqual({ host: hostname(), pid: process.pid, lastPass: '2026-12-04T09:59:00.000Z', runTime: '03:30' });
    } finally {
      await app.close();
    }
    // Another process reaches the PostgreSQL test schema (on PGlite the command would open a folder of its own).
    if (testDbKind() !== 'postgres') return;
    const out = await runCli(`${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`, ['schedule', 'status']);
    expect(out.stdout).toContain(`Reports run at 03:30 local time in each entry's zone.\nThe server's scheduler last passed at 2026-12-04T09:59:00.000Z (${hostname()}, process ${process.pid}).\n`);
  });
});

describe('GET /api/attention', () => {
  it('shows each user only the items of screens their role may open', async () => {
    await owingPatron();
    await s.agency('UMS');
    await s.settings({ ptypes: [1], autoNewSubmission: true, reviewHours: 24 });
    await s.run('2026-12-03');
    const at = ctx('2026-12-04T09:00:00Z');
    // A held file (the Review screen: ledger.view) and today's late run (Schedule: parameters.view).
    expect((await needsAttention(at)).map((i) => [i.level, i.screen])).toEqual([
      ['warning', 'schedule'],
      ['notice', 'review'],
    ]);
    const app = await buildServer(at);
    try {
      const screensOf = async (username: string, permissions: Permission[]) => {
        await saveRole(at, { name: `r_${username}`, description: 'test', permissions });
        await addUser(at, { username, password: 'a long enough password 1', roles: [`r_${username}`] });
        const { token } = await createToken(at, username, 'attention');
        const res = await app.inject({ url: '/api/attention', headers: { authorization: `Bearer ${token}` } });
        expect(res.statusCode).toBe(200);
        return (res.json() as { items: { screen: string; since: string | null }[] }).items.map((i) => [i.screen, i.since]);
      };
      expect(await screensOf('both', ['ledger.view', 'parameters.view'])).toEqual([
        ['schedule', '2026-12-04T08:00:00.000Z'],
        ['review', expect.any(String)],
      ]);
      expect(await screensOf('ledger', ['ledger.view'])).toEqual([['review', expect.any(String)]]);
      expect(await screensOf('params', ['parameters.view'])).toEqual([['schedule', '2026-12-04T08:00:00.000Z']]);
      expect(await screensOf('auditor', ['audit.view'])).toEqual([]);
      expect((await app.inject({ url: '/api/attention' })).statusCode).toBe(401);
    } finally {
      await app.close();
    }
  });
});

describe('arrears status', () => {
  it('says nothing needs attention and exits 0, or lists what does and exits 4, as text or JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrears-status-'));
    // Another process reaches the PostgreSQL test schema through search_path; on PGlite a data folder of its own.
    const url = testDbKind() === 'postgres' ? `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}` : join(dir, 'data');
    // Never connected to: adding a connector does not reach the ILS.
    const cli = (...args: string[]) => runCli(url, args, { KOHA_DB_URL: 'mysql://arrears:secret@127.0.0.1:1/koha' });
    const quiet = await cli('status');
    expect([quiet.code, quiet.stdout]).toEqual([0, 'Nothing needs attention.\n']);
    expect((await cli('connectors', 'add', 'koha', 'koha', '--url-env', 'KOHA_DB_URL', '--time-zone', 'America/Chicago')).code).toBe(0);
    const told = await cli('status');
    expect([told.code, told.stdout]).toEqual([4, 'error    connector koha: it has never synced; runs of its libraries wait for a first sync  [arrears connectors list / writes]\n']);
    const json = await cli('status', '--json');
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toEqual({ items: [{ key: expect.stringMatching(/^connector:\d+:sync$/), kind: 'never-synced', level: 'error', screen: 'connectors', subject: 'connector koha', message: 'it has never synced; runs of its libraries wait for a first sync', since: null }] });
  });
});
