// One process per embedded database folder: another live process is refused at once (exit 3
// through the CLI), a stale lock left by a killed process is taken over, and opens within one
// process share the lock until the last close.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { openDatabase } from '../src/db/connection.ts';
import { LOCK_FILE } from '../src/db/folder-lock.ts';

const run = promisify(execFile);
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'arrears-lock-'));
  cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A live process that is not this one, standing in for `arrears start` holding the folder. */
function otherProcess(): ChildProcess {
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  cleanup.push(() => child.kill('SIGKILL'));
  return child;
}

describe('embedded database folder lock', () => {
  it('writes this process’s pid while open and removes it on close', async () => {
    const dir = folder();
    const database = await openDatabase({ url: dir, migrate: false });
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    await database.close();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('refuses a folder another live process holds, naming the process, and leaves its lock alone', async () => {
    const dir = folder();
    await (await openDatabase({ url: dir })).close();
    const other = otherProcess();
    writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
    await expect(openDatabase({ url: dir })).rejects.toMatchObject({ name: 'ConflictError', message: expect.stringContaining(`in use by process ${other.pid}`) });
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(other.pid));

    // The CLI says the same and exits 3 (conflict), without touching the folder.
    const cli = run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--db', dir, 'migrate']);
    await expect(cli).rejects.toMatchObject({ code: 3, stderr: expect.stringContaining(`in use by process ${other.pid}`) });
  });

  it('takes over a stale lock whose process is gone (killed with SIGKILL)', async () => {
    const dir = folder();
    const other = otherProcess();
    const gone = new Promise((resolve) => other.once('exit', resolve));
    other.kill('SIGKILL');
    await gone;
    writeFileSync(join(dir, LOCK_FILE), `${other.pid}\n`);
    const database = await openDatabase({ url: dir });
    expect(readFileSync(join(dir, LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
    await database.close();
  });

  it('opens in one process share the lock: it is freed by the last close only', async () => {
    const dir = folder();
    const first = await openDatabase({ url: dir, migrate: false });
    await first.close();
    const a = await openDatabase({ url: dir, migrate: false });
    // A second handle in the same process is the caller's business (tests reopen folders);
    // the lock must survive the first close while the other handle is open.
    const b = await openDatabase({ url: join(dir, '.'), migrate: false }).catch(() => null);
    await a.close();
    if (b) {
      expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
      await b.close();
    }
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });
});
