// Flags back to the ILS: referral and clearing flip in_collections, securing flips secured,
// and `flags export` gives the latest state of each patron changed since a high-water mark.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import pg from 'pg';
import { registerFlags } from '../src/cli/flags.ts';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { exportFlags, flagsCsv, flagsJson, parseSince, recordFlagChanges } from '../src/services/flags.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

let t: TestDatabase;
let s: Scenario;

beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
});
afterAll(() => t.dispose());

const at = (iso: string) => new Date(iso);

describe('exportFlags', () => {
  beforeEach(async () => {
    await s.reset();
    await s.libraries({ code: 'MAIN' });
    await s.agency('UMS');
  });

  it('a referral shows the patron in collections; clearing shows them out again', async () => {
    await s.settings({});
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' });
    expect(await exportFlags(t.db)).toEqual({ since: null, highWaterMark: null, patrons: [] });

    await s.run('2015-03-02', {}, '2015-03-02T08:00:00Z');
    const referred = await exportFlags(t.db);
    expect(referred).toEqual({
      since: null,
      highWaterMark: at('2015-03-02T08:00:00Z'),
      patrons: [{ patronId: 'P1', barcode: '2100P1', inCollections: true, secured: false, changedAt: at('2015-03-02T08:00:00Z') }],
    });

    await s.payments({ id: 'Y1', patron_id: 'P1', amount: '30.00', paid_at: '2015-03-02T15:00:00' });
    await s.run('2015-03-03', {}, '2015-03-03T08:00:00Z');
    const cleared = await exportFlags(t.db, { since: referred.highWaterMark! });
    expect(cleared).toEqual({
      since: at('2015-03-02T08:00:00Z'),
      highWaterMark: at('2015-03-03T08:00:00Z'),
      patrons: [{ patronId: 'P1', barcode: '2100P1', inCollections: false, secured: false, changedAt: at('2015-03-03T08:00:00Z') }],
    });
    // Without --since: every patron ever changed, once, in their latest state.
    expect((await exportFlags(t.db)).patrons).toEqual(cleared.patrons);
  });

  it('--since keeps changes strictly after it; with none, the mark stays where it was', async () => {
    await s.settings({});
    await s.patrons({ id: 'P1' }, { id: 'P2' });
    await s.charges(
      { id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '30.00', assessed_at: '2015-02-20T10:00:00' },
      { id: 'C2', patron_id: 'P2', reason: 'replacement', amount: '30.00', assessed_at: '2015-03-04T10:00:00' },
    );
    await s.run('2015-03-02', {}, '2015-03-02T08:00:00Z');
    await s.run('2015-03-05', {}, '2015-03-05T08:00:00Z');

    const ids = async (since?: string) => (await exportFlags(t.db, { since: since ? at(since) : undefined })).patrons.map((p) => p.patronId);
    expect(await ids()).toEqual(['P1', 'P2']);
    expect(await ids('2015-03-01T00:00:00Z')).toEqual(['P1', 'P2']);
    expect(await ids('2015-03-02T07:59:59.999Z')).toEqual(['P1', 'P2']);
    expect(await ids('2015-03-02T08:00:00Z')).toEqual(['P2']);
    expect(await ids('2015-03-05T08:00:00Z')).toEqual([]);
    expect(await exportFlags(t.db, { since: at('2015-03-09T00:00:00Z') })).toEqual({ since: at('2015-03-09T00:00:00Z'), highWaterMark: at('2015-03-09T00:00:00Z'), patrons: [] });
  });

  it('recordFlagChanges records securing and releasing once, and only real changes', async () => {
    await s.patrons({ id: 'P3' }, { id: 'P4' });
    const secure = (ids: string[], status: 'active' | 'secured', when: string) =>
      t.db.transaction().execute(async (trx) => {
        await trx.updateTable('patrons').set({ status }).where('id', 'in', ids).execute();
        return recordFlagChanges(trx, [...ids, 'P4', 'P4'], at(when));
      });

    expect(await secure(['P3'], 'secured', '2015-03-02T15:00:00Z')).toBe(1);
    expect(await secure(['P3'], 'secured', '2015-03-02T16:00:00Z')).toBe(0);
    expect((await exportFlags(t.db)).patrons).toEqual([{ patronId: 'P3', barcode: '2100P3', inCollections: false, secured: true, changedAt: at('2015-03-02T15:00:00Z') }]);

    expect(await secure(['P3'], 'active', '2015-03-04T09:00:00Z')).toBe(1);
    const released = await exportFlags(t.db, { since: at('2015-03-02T15:00:00Z') });
    expect(released.patrons).toEqual([{ patronId: 'P3', barcode: '2100P3', inCollections: false, secured: false, changedAt: at('2015-03-04T09:00:00Z') }]);
    expect(await recordFlagChanges(t.db, [], at('2015-03-05T00:00:00Z'))).toBe(0);
  });

  it('waits for a run in progress, so its changes are not passed over by the high-water mark', async () => {
    await s.patrons({ id: 'P5' }, { id: 'P6' });
    await t.db.updateTable('patrons').set({ status: 'secured' }).where('id', '=', 'P6').execute();
    if (testDbKind() !== 'postgres') {
      // PGlite serves one session at a time: a run in progress cannot overlap an export at all.
      await recordFlagChanges(t.db, ['P6'], at('2015-03-02T09:00:00Z'));
      expect((await exportFlags(t.db)).patrons.map((p) => p.patronId)).toEqual(['P6']);
      return;
    }
    // A "run" on another connection: it holds the run lock and records P5 at its start time, uncommitted.
    const run = new pg.Client({ connectionString: t.url, options: `-c search_path=${t.schema}` });
    await run.connect();
    try {
      await run.query('begin');
      await run.query('select pg_advisory_xact_lock(7411002, hashtext(current_schema()))');
      await run.query("update patrons set in_collections = true where id = 'P5'");
      await run.query("insert into flag_changes (patron_id, in_collections, secured, at) values ('P5', true, false, '2015-03-02T08:00:00Z')");
      // Meanwhile staff secure P6, later in time, and that commits first.
      await recordFlagChanges(t.db, ['P6'], at('2015-03-02T09:00:00Z'));

      let finished = false;
      const exporting = exportFlags(t.db).finally(() => (finished = true));
      // Commit once the export is queued behind this run (only exportFlags takes the run lock shared), or has ended
      // without waiting. pg_locks, unlike pg_stat_activity, is read afresh inside a transaction.
      const waiting = async () =>
        Number(
          (
            await run.query(
              "select count(*) as n from pg_locks where locktype = 'advisory' and mode = 'ShareLock' and not granted and pg_backend_pid() = any(pg_blocking_pids(pid))",
            )
          ).rows[0].n,
        );
      // The deadline only bounds how long this test can hold the lock every run on the server waits for.
      const deadline = Date.now() + 30_000;
      while (!finished && Date.now() < deadline && (await waiting()) === 0) await run.query('select 1');
      await run.query('commit');

      const exported = await exporting;
      expect(exported.patrons.map((p) => [p.patronId, p.changedAt.toISOString()])).toEqual([
        ['P5', '2015-03-02T08:00:00.000Z'],
        ['P6', '2015-03-02T09:00:00.000Z'],
      ]);
      expect(exported.highWaterMark).toEqual(at('2015-03-02T09:00:00Z'));
    } finally {
      await run.end();
    }
  });
});

describe('formats', () => {
  const exported = {
    since: at('2015-03-01T00:00:00Z'),
    highWaterMark: at('2015-03-03T08:00:00Z'),
    patrons: [
      { patronId: 'P1', barcode: '2100P1', inCollections: true, secured: false, changedAt: at('2015-03-02T08:00:00Z') },
      { patronId: 'P,2', barcode: '21"00', inCollections: false, secured: true, changedAt: at('2015-03-03T08:00:00Z') },
    ],
  };

  it('CSV has the documented header, true/false and ISO 8601 UTC times, quoted where needed', () => {
    expect(flagsCsv(exported.patrons)).toBe(
      'patron_id,barcode,in_collections,secured,changed_at\n' +
        'P1,2100P1,true,false,2015-03-02T08:00:00.000Z\n' +
        '"P,2","21""00",false,true,2015-03-03T08:00:00.000Z\n',
    );
    expect(flagsCsv([])).toBe('patron_id,barcode,in_collections,secured,changed_at\n');
  });

  it('JSON carries the high-water mark for the next --since', () => {
    expect(flagsJson(exported)).toEqual({
      since: '2015-03-01T00:00:00.000Z',
      highWaterMark: '2015-03-03T08:00:00.000Z',
      patrons: [
        { patronId: 'P1', barcode: '2100P1', inCollections: true, secured: false, changedAt: '2015-03-02T08:00:00.000Z' },
        { patronId: 'P,2', barcode: '21"00', inCollections: false, secured: true, changedAt: '2015-03-03T08:00:00.000Z' },
      ],
    });
  });

  it('--since is an ISO 8601 date-time with a zone', () => {
    expect(parseSince('2015-03-02T08:00:00Z')).toEqual(at('2015-03-02T08:00:00Z'));
    expect(parseSince('2015-03-02T03:00:00.5-05:00')).toEqual(at('2015-03-02T08:00:00.500Z'));
    expect(parseSince('2015-03-02T08:00+0000')).toEqual(at('2015-03-02T08:00:00Z'));
    for (const bad of ['2015-03-02', '2015-03-02T08:00:00', '2015-02-30T08:00:00Z', '2015-03-02T24:00:00Z', 'yesterday']) expect(parseSince(bad)).toBeNull();
  });
});

describe('arrears flags export', () => {
  let url: string;
  let folder: string | undefined;
  let out: string[];
  let err: string[];

  /** Two patrons whose flags changed, written through recordFlagChanges. */
  async function seed(database: Database): Promise<void> {
    const db = database.db;
    await db.insertInto('libraries').values({ code: 'CLI', name: 'CLI Library', time_zone: 'America/Chicago' }).execute();
    await db
      .insertInto('patrons')
      .values([
        { id: 'X1', barcode: '300X1', home_library: 'CLI', ptype: '1', in_collections: true },
        { id: 'X,2', barcode: '300"X2', home_library: 'CLI', ptype: '1', status: 'secured' },
      ])
      .execute();
    await recordFlagChanges(db, ['X1'], at('2016-01-05T10:00:00Z'));
    await recordFlagChanges(db, ['X,2'], at('2016-01-06T10:00:00Z'));
  }

  beforeAll(async () => {
    if (testDbKind() === 'postgres') {
      await s.reset();
      await seed(t);
      url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
      return;
    }
    // The command opens the database itself: give it a PGlite folder.
    folder = mkdtempSync(join(tmpdir(), 'arrears-flags-'));
    const database = await openDatabase({ url: folder });
    await seed(database);
    await database.close();
    url = folder;
  });
  afterAll(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });
  beforeEach(() => {
    out = [];
    err = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => (out.push(String(chunk)), true));
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => (err.push(String(chunk)), true));
    vi.spyOn(console, 'log').mockImplementation((line: string) => void out.push(`${line}\n`));
  });
  afterEach(() => {
    vi.restoreAllMocks();
    process.exitCode = undefined;
  });

  async function arrears(...args: string[]): Promise<number> {
    const program = new Command('arrears').option('--db <url>');
    registerFlags(program);
    await program.parseAsync(['--db', url, ...args], { from: 'user' });
    return Number(process.exitCode ?? 0);
  }

  it('prints CSV by default, and the high-water mark on standard error', async () => {
    expect(await arrears('flags', 'export')).toBe(0);
    expect(out.join('')).toBe(
      'patron_id,barcode,in_collections,secured,changed_at\n' +
        'X1,300X1,true,false,2016-01-05T10:00:00.000Z\n' +
        '"X,2","300""X2",false,true,2016-01-06T10:00:00.000Z\n',
    );
    expect(err.join('')).toBe('high-water mark: 2016-01-06T10:00:00.000Z\n');
  });

  it('--since and --format json', async () => {
    expect(await arrears('flags', 'export', '--since', '2016-01-05T10:00:00Z', '--format', 'json')).toBe(0);
    expect(JSON.parse(out.join(''))).toEqual({
      since: '2016-01-05T10:00:00.000Z',
      highWaterMark: '2016-01-06T10:00:00.000Z',
      patrons: [{ patronId: 'X,2', barcode: '300"X2', inCollections: false, secured: true, changedAt: '2016-01-06T10:00:00.000Z' }],
    });
  });

  it('--out writes the file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'arrears-flags-out-'));
    const file = join(dir, 'flags.csv');
    try {
      expect(await arrears('flags', 'export', '--since', '2016-01-06T10:00:00Z', '--out', file)).toBe(0);
      expect(readFileSync(file, 'utf8')).toBe('patron_id,barcode,in_collections,secured,changed_at\n');
      expect(out.join('')).toBe(`wrote 0 patrons to ${file}\n`);
      expect(err.join('')).toBe('high-water mark: 2016-01-06T10:00:00.000Z\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a --since without a zone and an unknown format (exit 2)', async () => {
    expect(await arrears('flags', 'export', '--since', '2016-01-05')).toBe(2);
    expect(err.join('')).toBe('error: field --since: "2016-01-05" is not an ISO 8601 date-time with a zone, like 2024-03-05T02:00:00Z\n');
    process.exitCode = undefined;
    err.length = 0;
    expect(await arrears('flags', 'export', '--format', 'xml')).toBe(2);
    expect(err.join('')).toBe('error: field --format: must be csv or json, got "xml"\n');
    expect(out).toEqual([]);
  });
});
