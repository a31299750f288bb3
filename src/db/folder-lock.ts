// One process per embedded database folder. PGlite does not lock its data folder, and two
// processes writing one folder corrupt it. The opener writes its pid to <folder>/arrears.pid;
// another live process finds it and does not open the folder itself: if the holder is
// `arrears start`, it connects through the server's socket (pglite-share.ts), otherwise it is
// refused at once with what to do. A pid whose process is gone (killed, crashed) is stale
// and taken over. Opens within one process share the lock (counted) and the last close frees it.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ConflictError } from '../domain/errors.ts';

export const LOCK_FILE = 'arrears.pid';

const held = new Map<string, number>();

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user, which still means the folder is in use.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holder(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** The live process other than this one that holds the folder, if any. */
export function folderHolder(folder: string): number | null {
  const pid = holder(join(resolve(folder), LOCK_FILE));
  return pid !== null && pid !== process.pid && alive(pid) ? pid : null;
}

/** Takes the folder for this process; returns the release. Throws ConflictError if another live process has it. */
export function lockFolder(folder: string): () => void {
  const path = join(resolve(folder), LOCK_FILE);
  const count = held.get(path) ?? 0;
  if (count === 0) {
    for (let tries = 0; ; tries++) {
      try {
        writeFileSync(path, `${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 2) throw error;
        const pid = holder(path);
        if (pid !== null && pid !== process.pid && alive(pid)) {
          throw new ConflictError(
            `the database folder ${folder} is in use by process ${pid} (arrears start or another arrears command): ` +
              `an embedded database serves one process at a time. Stop that process, or use PostgreSQL to run several.`,
          );
        }
        rmSync(path, { force: true }); // stale: its process is gone
      }
    }
  }
  held.set(path, count + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (held.get(path) ?? 1) - 1;
    if (left > 0) {
      held.set(path, left);
      return;
    }
    held.delete(path);
    if (holder(path) === process.pid) rmSync(path, { force: true });
  };
}
