// The `arrears` command itself: its table of commands agrees with the modules that define them,
// and the compiled build (scripts/build.js, run by bin/arrears.js) works like the sources —
// it finds the SQL migrations, prints the same ledger — while loading, for each command, no
// library that command does not use. Without a build, or with sources newer than it,
// bin/arrears.js runs the sources and says why.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS, commandName, rootProgram } from '../src/cli/commands.ts';
import { openDatabase } from '../src/db/connection.ts';
import { migrationFiles } from '../src/db/migrate.ts';
import { patronLedger, patronLedgerJson } from '../src/services/ledger.ts';
import { ROOT } from './helpers/child.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

describe('the command table', () => {
  it('lists every top-level command of every command module, with the summary the module gives it', async () => {
    const found = new Map<string, { summary: string; load: unknown }>();
    for (const load of new Set(COMMANDS.map((c) => c.load))) {
      const program = rootProgram();
      (await load())(program);
      for (const c of program.commands) found.set(c.name(), { summary: c.description(), load });
    }
    expect([...found.keys()].sort()).toEqual(COMMANDS.map((c) => c.name).sort());
    for (const c of COMMANDS) expect({ name: c.name, ...found.get(c.name) }).toEqual({ name: c.name, summary: c.summary, load: c.load });
  });

  it('finds the command before commander parses: past --db and its value, and for help, the command asked about', () => {
    expect(commandName(['patron', 'P1', '--json'])).toBe('patron');
    expect(commandName(['--db', 'postgres://x/y', 'run', '--date', '2025-01-01'])).toBe('run');
    expect(commandName(['--db=./data', 'users', 'list'])).toBe('users');
    expect(commandName(['-h'])).toBeUndefined();
    expect(commandName([])).toBeUndefined();
    expect(commandName(['help', 'import'])).toBe('import');
    expect(commandName(['help'])).toBe('help');
    expect(commandName(['--', 'start'])).toBe('start');
  });
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
  /** Packages in node_modules the process loaded. */
  packages: string[];
}

describe('the compiled build', () => {
  // A copy of the project's shape: its own bin/ and dist/, the real src/ and node_modules/.
  const home = mkdtempSync(join(tmpdir(), 'arrears-build-'));
  let t: TestDatabase | undefined;
  let url: string;
  let traces = 0;

  beforeAll(async () => {
    mkdirSync(join(home, 'bin'));
    copyFileSync(join(ROOT, 'bin', 'arrears.js'), join(home, 'bin', 'arrears.js'));
    copyFileSync(join(ROOT, 'package.json'), join(home, 'package.json'));
    symlinkSync(join(ROOT, 'src'), join(home, 'src'));
    symlinkSync(join(ROOT, 'node_modules'), join(home, 'node_modules'));

    if (testDbKind() === 'postgres') {
      t = await freshDatabase();
      url = `${t.url}?options=${encodeURIComponent(`-c search_path=${t.schema}`)}`;
      await seed(t);
    } else {
      url = join(home, 'data');
      const setup = await openDatabase({ url });
      await seed(Object.assign(setup, { url, dispose: () => setup.close() }));
      await setup.close();
    }
  });

  afterAll(async () => {
    await t?.dispose();
    rmSync(home, { recursive: true, force: true });
  });

  async function seed(database: TestDatabase): Promise<void> {
    const s = new Scenario(database);
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1' });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
    await s.payments({ id: 'T1', patron_id: 'P1', charge_id: 'C1', amount: '12.50', paid_at: '2025-05-20T10:00:00' });
  }

  function arrears(args: string[], env: Record<string, string> = {}, stdin = ''): Promise<Run> {
    const trace = join(home, `loaded-${traces++}.txt`);
    writeFileSync(trace, '');
    const argv = ['--import', join(ROOT, 'test', 'helpers', 'loaded-modules.mjs'), join(home, 'bin', 'arrears.js'), ...args];
    return new Promise((resolve) => {
      const child = execFile(process.execPath, argv, { cwd: home, env: { ...process.env, ARREARS_FROM_SOURCE: '', ...env, ARREARS_LOADED_MODULES: trace } }, (error, stdout, stderr) => {
        const packages = new Set<string>();
        for (const m of readFileSync(trace, 'utf8').matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)) packages.add(m[1]!);
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr, packages: [...packages].sort() });
      });
      child.stdin!.end(stdin);
    });
  }

  it('is not there yet: bin/arrears.js runs the sources through tsx and says so', async () => {
    const r = await arrears(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: arrears');
    expect(r.stderr).toContain('no compiled build in dist/; running the TypeScript sources through tsx');
  });

  it('once built, is what runs: help loads no library, migrate finds the SQL files, patron prints the same ledger', async () => {
    await new Promise<void>((resolve, reject) =>
      execFile(process.execPath, [join(ROOT, 'scripts', 'build.js'), join(home, 'dist')], (error, _out, stderr) => (error ? reject(new Error(stderr)) : resolve())),
    );

    const help = await arrears(['--help']);
    expect(help.code).toBe(0);
    expect(help.stderr).toBe('');
    for (const c of COMMANDS) expect(help.stdout).toContain(c.name);
    expect(help.packages).toEqual([]);

    // A database it has never seen gets every migration, read from src/db/migrations.
    let fresh: string;
    let schema: string | undefined;
    if (testDbKind() === 'postgres') {
      schema = `${t!.schema}_cli`;
      const admin = new pg.Client({ connectionString: t!.url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
      await admin.end();
      fresh = `${t!.url}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    } else fresh = join(home, 'fresh');
    try {
      // Opening applies them; `migrate` then finds nothing left to do.
      const migrated = await arrears(['--db', fresh, 'migrate']);
      expect(migrated.code, migrated.stderr).toBe(0);
      expect(migrated.stdout.trim()).toBe('database is up to date');
      const database = await openDatabase({ url: fresh, migrate: false });
      try {
        const applied = await sql<{ version: string }>`select version from schema_migrations order by version`.execute(database.db);
        expect(applied.rows.map((r) => r.version)).toEqual(migrationFiles());
      } finally {
        await database.close();
      }
    } finally {
      if (schema) {
        const admin = new pg.Client({ connectionString: t!.url });
        await admin.connect();
        await admin.query(`drop schema ${schema} cascade`);
        await admin.end();
      }
    }

    const shown = await arrears(['--db', url, 'patron', 'P1', '--json']);
    expect(shown.code, shown.stderr).toBe(0);
    const database = t ?? (await openDatabase({ url }));
    try {
      expect(JSON.parse(shown.stdout)).toEqual(JSON.parse(JSON.stringify(patronLedgerJson(await patronLedger(database.db, 'P1')))));
    } finally {
      if (!t) await database.close();
    }
    // The one database driver it uses (pg is in the build itself).
    expect(shown.packages).toEqual(testDbKind() === 'postgres' ? [] : ['@electric-sql/pglite']);
  });

  it('loads the big libraries only in the commands that use them', async () => {
    const heavy = ['exceljs', '@aws-sdk/client-s3', 'ssh2', 'ssh2-sftp-client', 'nodemailer', 'fastify', 'argon2', 'tsx'];
    for (const args of [['users', 'list'], ['agencies', 'list'], ['files', 'list'], ['exclusions', 'list']]) {
      const r = await arrears(['--db', url, ...args]);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.packages.filter((p) => heavy.includes(p)), args.join(' ')).toEqual([]);
    }
    // And loaded when used: adding a user hashes the password with argon2.
    const added = await arrears(['--db', url, 'users', 'add', 'robin', '--role', 'viewer', '--password-stdin'], {}, 'a passphrase for robin\n');
    expect(added.code, added.stderr).toBe(0);
    expect(added.packages).toContain('argon2');
  });

  it('is not used once a source has changed since it was built: the sources run, and the notice says which changed', async () => {
    const info = join(home, 'dist', 'build-info.json');
    const built = JSON.parse(readFileSync(info, 'utf8')) as { startedAt: number; sources: string[] };
    writeFileSync(info, JSON.stringify({ ...built, startedAt: 0 }));
    const r = await arrears(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain(`${built.sources[0]} has changed since dist/ was built`);
    expect(r.packages).toContain('tsx');
    // ARREARS_FROM_SOURCE=1 asks for the sources, without the notice.
    const quiet = await arrears(['--help'], { ARREARS_FROM_SOURCE: '1' });
    expect(quiet.code).toBe(0);
    expect(quiet.stderr).toBe('');
  });
});
