// Settings entries edited one at a time keep their id for life (issue 15, defect 2): a rename,
// a new window or agency, a move, through the service, PATCH /api/settings/:id and `arrears
// settings edit`; referrals, run history and the scheduler's "already done" dates stay with
// the entry, so a scheduler tick after the edit runs nothing again. Adding at a place,
// reordering, and the preview of a proposed table (who would be added, dropped or move entry).
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asDate } from '../src/domain/dates.ts';
import { toSettingsJson } from '../src/domain/settings-validation.ts';
import { CSRF_HEADER, SESSION_COOKIE } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { listRuns } from '../src/services/run-history.ts';
import { Scheduler } from '../src/services/scheduler.ts';
import { createEntry, exportSettings, loadEntries, previewSettings, reorderEntries, updateEntry } from '../src/services/settings.ts';
import { addUser } from '../src/services/users.ts';
import { runCli } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

const PASSWORD = 'correct horse battery staple';
let t: TestDatabase;
let s: Scenario;
let app: FastifyInstance;
let cookie = '';
let csrf = '';
let now = new Date('2015-03-02T12:00:00Z');
const clock: Clock = { now: () => new Date(now) };
let ctx: Context;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
  ctx = { database: t, clock, actor: 'test:edit' };
  await s.libraries({ code: 'MAIN' }, { code: 'EAST', time_zone: 'America/New_York' });
  await s.agency('UMS');
  await s.agency('Second');
  await s.patrons({ id: 'P1' }, { id: 'P2', home_library: 'EAST' }, { id: 'P3', ptype: 2 });
  await s.charges(
    { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' },
    { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '40.00', assessed_at: '2015-02-25T10:00:00', library: 'EAST' },
    { id: 'C3', patron_id: 'P3', reason: 'overdue', amount: '20.00', assessed_at: '2015-02-26T10:00:00' },
  );
  await s.settings(
    { name: 'Main', homeLibraries: ['MAIN'], autoNewSubmission: true, baseFilename: 'main' },
    { name: 'East', homeLibraries: ['EAST'], autoNewSubmission: true, minimumOwed: '50.00' },
  );
  await addUser(ctx, { username: 'admin', password: PASSWORD, roles: ['admin'] });
  app = await buildServer(ctx);
});
afterAll(async () => {
  await app?.close();
  await t?.dispose();
});

function api(method: 'GET' | 'POST' | 'PATCH' | 'PUT', url: string, payload?: unknown) {
  return app.inject({ method, url, payload: payload as object, headers: { cookie, [CSRF_HEADER]: csrf } });
}

async function fileCount(): Promise<number> {
  return (await t.db.selectFrom('report_files').select('id').execute()).length;
}

async function ids(): Promise<[number, string][]> {
  return (await loadEntries(t.db)).map((e) => [e.id, e.name]);
}

describe('an entry keeps its id for life', () => {
  it('renamed and given a new window and agency after the scheduler ran today: same id, history and schedule; the next tick runs nothing', async () => {
    const scheduler = new Scheduler({ database: t, clock }, { runTime: { hour: 2, minute: 0 } });
    expect((await scheduler.tick()).ran.map((r) => `${r.entryId} ${r.reportDate} ${r.job} ${r.alreadyRun}`)).toEqual(['1 2015-03-02 new false', '2 2015-03-02 new false']);
    const files = await fileCount();
    const [main] = await loadEntries(t.db);
    const state = await t.db.selectFrom('schedule_state').selectAll().orderBy('entry_id').orderBy('job').execute();
    const referral = await t.db.selectFrom('referrals').select(['patron_id', 'entry_id']).execute();
    expect(referral).toEqual([{ patron_id: 'P1', entry_id: main!.id }]);

    const edited = await updateEntry(ctx, 'Main', { name: 'Main library adults', window: { mode: 'relative', startDays: 60, endDays: 0 }, agency: 'Second' });
    expect(edited).toMatchObject({ id: main!.id, position: 1, name: 'Main library adults', window: { mode: 'relative', startDays: 60, endDays: 0 }, agency: { kind: 'fixed', agency: 'Second' } });
    expect(await ids()).toEqual([
      [main!.id, 'Main library adults'],
      [2, 'East'],
    ]);
    expect(await t.db.selectFrom('schedule_state').selectAll().orderBy('entry_id').orderBy('job').execute()).toEqual(state);
    expect(await t.db.selectFrom('referrals').select(['patron_id', 'entry_id']).execute()).toEqual(referral);
    expect((await listRuns(t.db, { entryId: main!.id })).items.map((r) => r.reportDate)).toEqual(['2015-03-02']);

    // Later the same day: nothing is owed again, and no file is written twice.
    now = new Date('2015-03-02T20:00:00Z');
    expect(await scheduler.tick()).toEqual({ busy: false, ran: [], skipped: [], failed: [], synced: [] });
    expect(await fileCount()).toBe(files);

    const audit = await t.db.selectFrom('audit_log').select(['action', 'entity_id', 'before', 'after']).where('action', 'like', 'settings.%').where('actor', '=', 'test:edit').execute();
    expect(audit).toEqual([
      {
        action: 'settings.update',
        entity_id: String(main!.id),
        before: expect.objectContaining({ id: main!.id, name: 'Main', agency: 'UMS', window: { mode: 'relative', startDays: null, endDays: null } }),
        after: expect.objectContaining({ id: main!.id, name: 'Main library adults', agency: 'Second', window: { mode: 'relative', startDays: 60, endDays: 0 } }),
      },
    ]);
  });

  it('refuses a clashing name or base filename and bad values, naming the entry’s own fields; nothing changes', async () => {
    const before = await exportSettings(t.db);
    await expect(updateEntry(ctx, 'East', { name: 'Main library adults', baseFilename: 'main', window: { mode: 'relative', startDays: 1, endDays: 5 } })).rejects.toMatchObject({
      name: 'ValidationError',
      problems: [
        { field: 'window.startDays', reason: expect.stringContaining('must not be later than the end') },
        { field: 'name', reason: '"Main library adults" is already the name of entries[0]' },
        { field: 'baseFilename', reason: '"main" is already the base filename of entries[0]' },
      ],
    });
    await expect(updateEntry(ctx, 'East', { agency: 'Nobody', colour: 'red' })).rejects.toMatchObject({
      problems: [
        { field: 'colour', reason: 'unknown key "colour"' },
        { field: 'agency', reason: 'no agency is named "Nobody"' },
      ],
    });
    await expect(updateEntry(ctx, 'East', { position: 3 })).rejects.toMatchObject({ problems: [{ field: 'position', reason: 'must be a whole number from 1 to 2' }] });
    await expect(updateEntry(ctx, 99, { name: 'X' })).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(await exportSettings(t.db)).toEqual(before);
  });

  it('moves, adds at a place and reorders, ids unchanged, each move audited', async () => {
    const added = await createEntry(ctx, { name: 'Juveniles', ptypes: [2], minimumOwed: '10.00', agency: 'UMS', position: 1 });
    expect(await ids()).toEqual([
      [added.id, 'Juveniles'],
      [1, 'Main library adults'],
      [2, 'East'],
    ]);
    await updateEntry(ctx, added.id, { position: 3 });
    expect((await loadEntries(t.db)).map((e) => [e.id, e.position])).toEqual([
      [1, 1],
      [2, 2],
      [added.id, 3],
    ]);
    await reorderEntries(ctx, [2, added.id, 1]);
    expect(await ids()).toEqual([
      [2, 'East'],
      [added.id, 'Juveniles'],
      [1, 'Main library adults'],
    ]);
    await expect(reorderEntries(ctx, [2, 2, 99])).rejects.toMatchObject({
      problems: [
        { field: 'ids[1]', reason: 'entry 2 is listed twice' },
        { field: 'ids[2]', reason: 'no settings entry has id 99' },
        { field: 'ids', reason: `every entry must be listed once; missing ${added.id} (Juveniles), 1 (Main library adults)` },
      ],
    });
    const moves = await t.db.selectFrom('audit_log').select(['entity_id', 'before', 'after']).where('action', '=', 'settings.move').orderBy('id').execute();
    expect(moves.at(-1)).toEqual({ entity_id: '1', before: { name: 'Main library adults', position: 1 }, after: { name: 'Main library adults', position: 3 } });
    await reorderEntries(ctx, [1, 2, added.id]);
  });
});

describe('the preview of a proposed table', () => {
  it('lists who a change would add, drop or move to another entry, writing nothing', async () => {
    const table = (await loadEntries(t.db)).map((e) => ({ id: e.id, ...toSettingsJson(e) }));
    const before = await exportSettings(t.db);
    // East's minimum down to 30.00 brings in P2 (owes 40.00).
    const proposed = table.map((e) => (e.name === 'East' ? { ...e, minimumOwed: '30.00' } : e));
    const preview = await previewSettings(t.db, proposed, asDate('2015-03-03'));
    expect(preview).toMatchObject({ reportDate: '2015-03-03', totals: { added: 1, dropped: 0, moved: 0 } });
    expect(preview.added).toEqual([{ patronId: 'P2', name: 'Pat Ron P2', entry: 'East', owedCents: 4000 }]);
    expect(preview.after.count).toBe(preview.before.count + 1);

    // Juveniles first and open to every PTYPE: P2 falls under it instead of East.
    const juv = proposed.find((e) => e.name === 'Juveniles')!;
    const reordered = [{ ...juv, ptypes: [] }, ...proposed.filter((e) => e !== juv)];
    const moved = await previewSettings(t.db, reordered, asDate('2015-03-03'));
    expect(moved.added.map((p) => [p.patronId, p.entry])).toEqual([
      ['P2', 'Juveniles'],
      ['P3', 'Juveniles'],
    ]);
    expect(await exportSettings(t.db)).toEqual(before);
    await expect(previewSettings(t.db, [{ id: 999, name: 'X', minimumOwed: '1.00', agency: 'UMS' }], asDate('2015-03-03'))).rejects.toMatchObject({
      problems: [{ field: 'entries[0].id', reason: 'no settings entry has id 999' }],
    });
  });
});

describe('the HTTP API', () => {
  // Signed in at this point of the test clock: a session ends after 30 idle minutes.
  beforeAll(async () => {
    const res = await app.inject({ method: 'POST', url: '/api/login', payload: { username: 'admin', password: PASSWORD } });
    cookie = `${SESSION_COOKIE}=${res.cookies.find((c) => c.name === SESSION_COOKIE)!.value}`;
    csrf = res.json().csrfToken as string;
  });
  it('PATCH /api/settings/:id renames in place; POST adds; PUT order reorders; preview answers with amounts as money', async () => {
    const [first] = await loadEntries(t.db);
    const renamed = await api('PATCH', `/api/settings/${first!.id}`, { name: 'Main adults', minimumOwed: '26.00' });
    expect(renamed.statusCode).toBe(200);
    expect(renamed.json()).toMatchObject({ id: first!.id, position: 1, name: 'Main adults', minimumOwed: '26.00' });
    const bad = await api('PATCH', `/api/settings/${first!.id}`, { name: 'N'.repeat(36) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.problems).toEqual([{ field: 'name', reason: 'must be at most 35 characters; this has 36' }]);

    const entries = (await api('GET', '/api/settings')).json().items.map(({ position: _p, ...e }: Record<string, unknown>) => e);
    const preview = await api('POST', '/api/settings/preview', { reportDate: '2015-03-03', entries: entries.map((e: Record<string, unknown>) => (e.name === 'East' ? { ...e, minimumOwed: '30.00' } : e)) });
    expect(preview.statusCode).toBe(200);
    expect(preview.json()).toMatchObject({ reportDate: '2015-03-03', added: [{ patronId: 'P2', entry: 'East', owed: '40.00' }], totals: { added: 1 } });

    const created = await api('POST', '/api/settings', { name: 'Catch-all', minimumOwed: '100.00', agency: { strategy: 'round_robin', among: [] } });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'Catch-all', position: 4, agency: { strategy: 'round_robin', among: [] } });
    const order = (await loadEntries(t.db)).map((e) => e.id).reverse();
    const reordered = await api('PUT', '/api/settings/order', { ids: order });
    expect(reordered.statusCode).toBe(200);
    expect(reordered.json().items.map((e: { id: number }) => e.id)).toEqual(order);
    const runs = await api('GET', `/api/runs?entry=${first!.id}`);
    expect(runs.json()).toMatchObject({ total: 1, items: [{ reportDate: '2015-03-02', trigger: 'schedule' }] });
  });
});

describe('arrears settings edit (CLI)', () => {
  it('renames by name keeping the id, and a bad value exits 2 naming the field', async () => {
    // Another process reaches the PostgreSQL schema through search_path; PGlite's memory cannot be shared.
    if (testDbKind() === 'pglite') {
      const r = await runCli('memory://', ['settings', 'edit', 'Nothing', '--name', 'X']);
      expect(r.code).toBe(2);
      expect(r.stderr).toBe('error: settings entry "Nothing" not found\n');
      return;
    }
    const url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
    const east = (await loadEntries(t.db)).find((e) => e.name === 'East')!;
    const ok = await runCli(url, ['settings', 'edit', 'East', '--name', 'East coast', '--minimum-owed', '45.00']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe(`updated entry ${east.id} "East coast" (position ${east.position})\n`);
    expect((await loadEntries(t.db)).find((e) => e.id === east.id)).toMatchObject({ name: 'East coast', minimumOwed: 4500 });
    const bad = await runCli(url, ['settings', 'edit', String(east.id), '--review-hours', 'soon']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: field reviewHours: must be a whole number from 0 to 9999, or null\n');
  });
});
