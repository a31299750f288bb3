// Backup and restore. Embedded database (pglite project): a ledger with referrals, report
// files, record sets and encrypted agency credentials goes through `backupDatabase` and
// `restoreDatabase` into a fresh folder and comes back the same, query for query; damaged
// backups are refused with the target untouched. PostgreSQL (postgres project): the pg_dump /
// pg_restore commands Arrears prints are run for real and give back the same ledger.
import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { asDate } from '../src/domain/dates.ts';
import { ConflictError, ValidationError } from '../src/domain/errors.ts';
import { addAgency, readAgencySecrets } from '../src/services/agencies.ts';
import { backupDatabase, pgDumpCommand, pgRestoreCommand, restoreDatabase, UseOtherToolError } from '../src/services/backup.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { demoSettings, loadDemo } from '../src/services/demo.ts';
import { createPatronSet } from '../src/services/recordsets.ts';
import { runReport } from '../src/services/runs.ts';
import { KEY_FILE_NAME, loadSecretKey, SecretKeyError } from '../src/services/secrets.ts';
import { importSettings } from '../src/services/settings.ts';
import { POSTGRES_URL, testDbKind } from './helpers/db.ts';

const run = promisify(execFile);
const AS_OF = '2025-06-30';
const SFTP_PASSWORD = `sftp-${randomBytes(8).toString('hex')}`;

/** Everything a business office would check after a restore, as plain query results. */
async function snapshot(db: Database['db']) {
  const q = async <T,>(query: ReturnType<typeof sql<T>>) => (await query.execute(db)).rows;
  return {
    balances: await q(sql`
      select p.id, p.in_collections, p.status,
             (select coalesce(sum(c.amount_cents), 0)::bigint from charges c where c.patron_id = p.id)
             - (select coalesce(sum(a.amount_cents), 0)::bigint from allocations a where a.patron_id = p.id) as owed
      from patrons p order by p.id`),
    referrals: await q(sql`select id, patron_id, agency_id, status, referred_on, closed_on, referred_cents, fee_cents, last_reported_cents from referrals order by id`),
    history: await q(sql`select referral_id, patron_id, type, amount_cents, report_date, at from referral_history order by id`),
    files: await q(sql`select name, kind, status, sha256, md5(content) as md5, row_count from report_files order by id`),
    recordSets: await q(sql`select s.name, m.member_id from record_sets s join record_set_members m on m.record_set_id = s.id order by s.name, m.member_id`),
    runs: await q(sql`select id, report_date from runs order by id`),
    audit: await q(sql`select count(*)::int as n, max(id) as last from audit_log`),
    migrations: await q(sql`select version from schema_migrations order by version`),
  };
}

/** The demo consortium, the demo settings, one run (referrals and files), a record set and an SFTP agency's password. */
async function buildLedger(database: Database, dir: string): Promise<Context> {
  const ctx: Context = { database, clock: fixedClock(`${AS_OF}T13:00:00Z`), actor: 'test:backup' };
  await loadDemo(ctx, { patrons: 150, seed: 3, asOf: AS_OF });
  await addAgency(ctx, { name: 'Secure Drop', transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port: 22, username: 'lib', remoteFolder: 'in' }, secrets: { password: SFTP_PASSWORD } });
  await importSettings(ctx, demoSettings());
  const result = await runReport(ctx, { reportDate: asDate(AS_OF) });
  expect(result.newSubmissions.length).toBeGreaterThan(0);
  const ids = join(dir, 'returned.csv');
  writeFileSync(ids, `PatronID\n${result.newSubmissions.slice(0, 3).map((s) => s.patronId).join('\n')}\n`);
  await createPatronSet(ctx, { name: 'Returned by UMS', file: ids });
  return ctx;
}

/** A folder's files and their digests, to prove a refused restore left it untouched. */
function folderDigest(folder: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out[p.slice(folder.length)] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
  };
  walk(folder);
  return out;
}

describe.runIf(testDbKind() === 'pglite')('the embedded database: arrears backup and restore', () => {
  let dir: string;
  let source: Database;
  let before: Awaited<ReturnType<typeof snapshot>>;
  let backupFile: string;
  const savedKey = { key: process.env.ARREARS_SECRET_KEY, file: process.env.ARREARS_SECRET_KEY_FILE };

  beforeAll(async () => {
    // The key must come from the data folder's key file, as on a library's server.
    delete process.env.ARREARS_SECRET_KEY;
    delete process.env.ARREARS_SECRET_KEY_FILE;
    dir = mkdtempSync(join(tmpdir(), 'arrears-backup-'));
    source = await openDatabase({ url: join(dir, 'data') });
    await loadSecretKey(source, { log: () => undefined });
    await buildLedger(source, dir);
    before = await snapshot(source.db);
    backupFile = join(dir, 'arrears.backup.tar.gz');
    const result = await backupDatabase(source, backupFile);
    expect(result).toMatchObject({ includesKey: true, hasSecrets: true, counts: { patrons: 150, recordSets: 1 } });
    expect(result.counts.referrals).toBe(before.referrals.length);
    expect(result.counts.reportFiles).toBe(before.files.length);
    expect(readFileSync(backupFile).length).toBe(result.bytes);
  });

  afterAll(async () => {
    await source?.close();
    rmSync(dir, { recursive: true, force: true });
    if (savedKey.key !== undefined) process.env.ARREARS_SECRET_KEY = savedKey.key;
    if (savedKey.file !== undefined) process.env.ARREARS_SECRET_KEY_FILE = savedKey.file;
  });

  it('restores into a fresh folder: the same balances, referrals, history, files, record sets and audit; credentials still decrypt', async () => {
    expect(before.referrals.length).toBeGreaterThan(0);
    expect(before.history.length).toBeGreaterThan(0);
    expect(before.files.length).toBeGreaterThan(0);
    const target = join(dir, 'restored');
    const result = await restoreDatabase(backupFile, target);
    expect(result).toMatchObject({ folder: target, previous: null, includesKey: true });
    expect(readFileSync(join(target, KEY_FILE_NAME), 'utf8')).toBe(readFileSync(join(dir, 'data', KEY_FILE_NAME), 'utf8'));
    expect(readdirSync(dir).filter((n) => n.includes('.restoring-'))).toEqual([]);
    const restored = await openDatabase({ url: target });
    try {
      expect(await snapshot(restored.db)).toEqual(before);
      const agency = await restored.db.selectFrom('agencies').select('id').where('name', '=', 'Secure Drop').executeTakeFirstOrThrow();
      expect(await readAgencySecrets(restored.db, agency.id, await loadSecretKey(restored))).toEqual({ password: SFTP_PASSWORD });
      // The restored ledger is live: the next day's run works on it.
      const next = await runReport({ database: restored, clock: fixedClock('2025-07-01T13:00:00Z'), actor: 'test:backup' }, { reportDate: asDate('2025-07-01') });
      expect(next.alreadyRun).toBe(false);
    } finally {
      await restored.close();
    }
  });

  it('refuses a folder that holds a database unless forced; forced, the old folder is kept beside it', async () => {
    const target = join(dir, 'occupied');
    const other = await openDatabase({ url: target });
    await other.close();
    const untouched = folderDigest(target);
    await expect(restoreDatabase(backupFile, target)).rejects.toThrow(ConflictError);
    await expect(restoreDatabase(backupFile, target)).rejects.toThrow(`${target} already holds a database (or other files); restore refuses to replace it without --force`);
    expect(folderDigest(target)).toEqual(untouched);

    const result = await restoreDatabase(backupFile, target, { force: true, now: new Date('2025-07-02T08:30:00Z') });
    expect(result.previous).toBe(`${target}.before-restore-20250702T083000Z`);
    expect(folderDigest(result.previous!)).toEqual(untouched);
    const restored = await openDatabase({ url: target });
    try {
      expect((await snapshot(restored.db)).referrals).toEqual(before.referrals);
    } finally {
      await restored.close();
    }
  });

  it('a truncated, corrupted or foreign file is refused with a clear error and the target untouched', async () => {
    const whole = readFileSync(backupFile);
    const target = join(dir, 'keep');
    const kept = await openDatabase({ url: target });
    await kept.close();
    const untouched = folderDigest(target);
    const flipped = Buffer.from(whole);
    flipped[Math.floor(flipped.length / 2)]! ^= 0xff;
    const cases: [string, Buffer, RegExp][] = [
      ['truncated', whole.subarray(0, Math.floor(whole.length / 2)), /the backup is damaged or incomplete \(unexpected end of file\); nothing was restored$/],
      ['last-bytes-missing', whole.subarray(0, whole.length - 8), /the backup is damaged or incomplete \(.+\); nothing was restored$/],
      ['corrupted', flipped, /the backup is damaged or incomplete \(.+\); nothing was restored$/],
      ['not-gzip', Buffer.from('patron_id,name\n1,Ann\n'), /is not an Arrears backup \(not a gzip file\)$/],
    ];
    for (const [name, bytes, message] of cases) {
      const file = join(dir, `${name}.tar.gz`);
      writeFileSync(file, bytes);
      for (const force of [false, true]) {
        const err = await restoreDatabase(file, target, { force }).catch((e: unknown) => e);
        if (!force) {
          expect(err).toBeInstanceOf(ConflictError);
          continue;
        }
        expect(err, name).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).problems).toHaveLength(1);
        expect((err as ValidationError).problems[0]!.file).toBe(file);
        expect((err as ValidationError).problems[0]!.reason, name).toMatch(message);
      }
      // Into an empty folder too: nothing is created.
      const empty = join(dir, `empty-${name}`);
      await expect(restoreDatabase(file, empty)).rejects.toThrow(ValidationError);
      expect(existsSync(empty)).toBe(false);
    }
    expect(folderDigest(target)).toEqual(untouched);
    expect(readdirSync(dir).filter((n) => n.includes('.restoring-') || n.includes('.before-restore-') && n.startsWith('keep'))).toEqual([]);
  });

  it('the commands: exit 0 with the counts, 3 for an occupied folder or an existing file, 2 for a damaged file', async () => {
    const cli = async (...args: string[]) => {
      const r = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args]).then(
        (ok) => ({ code: 0, stdout: ok.stdout, stderr: ok.stderr }),
        (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, stdout: e.stdout, stderr: e.stderr }),
      );
      return { ...r, stderr: r.stderr.replace(/^npm warn.*\n/gm, '') };
    };
    const target = join(dir, 'by-cli');
    const restored = await cli('--db', target, 'restore', backupFile);
    expect(restored).toMatchObject({ code: 0, stderr: '' });
    expect(restored.stdout).toContain('Restored 150 patrons, ');
    expect(restored.stdout).toContain(`${before.referrals.length} referrals (${before.history.length} history records), ${before.files.length} report files, 1 record sets into ${target}.`);
    expect(await cli('--db', target, 'restore', backupFile)).toMatchObject({ code: 3, stderr: `error: ${target} already holds a database (or other files); restore refuses to replace it without --force\n` });
    expect(await cli('--db', target, 'backup', backupFile)).toMatchObject({ code: 3, stderr: `error: ${backupFile} already exists; choose another name or pass --force\n` });
    const cut = join(dir, 'cut.tar.gz');
    writeFileSync(cut, readFileSync(backupFile).subarray(0, 1000));
    expect(await cli('--db', join(dir, 'by-cli-2'), 'restore', cut)).toMatchObject({ code: 2, stderr: `error: ${cut}: the backup is damaged or incomplete (unexpected end of file); nothing was restored\n` });
    expect(existsSync(join(dir, 'by-cli-2'))).toBe(false);
  });

  it('--without-key leaves the key out: the restored ledger is whole, its credentials need ARREARS_SECRET_KEY', async () => {
    const file = join(dir, 'no-key.tar.gz');
    expect(await backupDatabase(source, file, { withoutKey: true })).toMatchObject({ includesKey: false, hasSecrets: true });
    const target = join(dir, 'no-key');
    expect((await restoreDatabase(file, target)).includesKey).toBe(false);
    expect(existsSync(join(target, KEY_FILE_NAME))).toBe(false);
    const restored = await openDatabase({ url: target });
    try {
      expect(await snapshot(restored.db)).toEqual(before);
      const err = await loadSecretKey(restored, { log: () => undefined }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SecretKeyError);
      expect((err as Error).message).toContain(`its key file ${join(target, KEY_FILE_NAME)} is missing`);
      const key = readFileSync(join(dir, 'data', KEY_FILE_NAME), 'utf8').trim();
      const agency = await restored.db.selectFrom('agencies').select('id').where('name', '=', 'Secure Drop').executeTakeFirstOrThrow();
      expect(await readAgencySecrets(restored.db, agency.id, await loadSecretKey(restored, { env: { ARREARS_SECRET_KEY: key } }))).toEqual({ password: SFTP_PASSWORD });
    } finally {
      await restored.close();
    }
  });
});

describe.runIf(testDbKind() === 'postgres')('PostgreSQL: the pg_dump / pg_restore story', () => {
  const suffix = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const names = { source: `arrears_bk_src_${suffix}`, target: `arrears_bk_dst_${suffix}` };
  const urlOf = (name: string) => {
    const u = new URL(POSTGRES_URL);
    u.pathname = `/${name}`;
    return u.toString();
  };
  let dir: string;

  async function admin(statement: string): Promise<void> {
    const client = new pg.Client({ connectionString: POSTGRES_URL });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'arrears-pgdump-'));
    await admin(`create database ${names.source}`);
    await admin(`create database ${names.target}`);
  });

  afterAll(async () => {
    for (const n of Object.values(names)) await admin(`drop database if exists ${n} with (force)`);
    rmSync(dir, { recursive: true, force: true });
  });

  it('arrears backup and restore refuse PostgreSQL with exit 2 and print the exact pg_dump / pg_restore command, without the password', async () => {
    const url = 'postgres://arrears:s3cret-pw@db.example.org:5432/arrears';
    expect(pgDumpCommand(url, '/backups/arrears.dump')).toBe('pg_dump --format=custom --no-owner --file=/backups/arrears.dump postgres://arrears@db.example.org:5432/arrears');
    expect(pgRestoreCommand(url, '/backups/arrears.dump')).toBe('pg_restore --clean --if-exists --no-owner --single-transaction --dbname=postgres://arrears@db.example.org:5432/arrears /backups/arrears.dump');
    await expect(restoreDatabase('/backups/arrears.dump', url)).rejects.toThrow(UseOtherToolError);
    const cli = await run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', url, 'backup', '/backups/arrears.dump']).catch((e: { code: number; stderr: string }) => e);
    expect('code' in cli ? cli.code : 0).toBe(2);
    const stderr = 'stderr' in cli ? String(cli.stderr) : '';
    expect(stderr).toContain(`  ${pgDumpCommand(url, '/backups/arrears.dump')}\n`);
    expect(stderr).not.toContain('s3cret-pw');
  });

  it('the printed commands, run as printed, copy the whole ledger into another database', async () => {
    const source = await openDatabase({ url: urlOf(names.source) });
    let before: Awaited<ReturnType<typeof snapshot>>;
    try {
      process.env.ARREARS_SECRET_KEY ??= randomBytes(32).toString('base64');
      await buildLedger(source, dir);
      before = await snapshot(source.db);
    } finally {
      await source.close();
    }
    const file = join(dir, 'arrears.dump');
    execFileSync('sh', ['-c', pgDumpCommand(urlOf(names.source), file)]);
    execFileSync('sh', ['-c', pgRestoreCommand(urlOf(names.target), file)]);
    const target = await openDatabase({ url: urlOf(names.target) });
    try {
      expect(await snapshot(target.db)).toEqual(before);
    } finally {
      await target.close();
    }
  });
});
