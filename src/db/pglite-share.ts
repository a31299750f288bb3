// `arrears start` on an embedded database shares it with the other Arrears commands: it
// serves its PGlite on a Unix socket in a private folder (mode 0700, the socket 0600, so only
// its own user can connect) and writes where to <data folder>/arrears.socket. A command that
// finds the folder held by that server connects there as an ordinary PostgreSQL client
// instead of being refused, so cron jobs and staff commands work while the server runs.
//
// The socket's folder is <data folder>/.arrears-socket, which every process that can use the
// database can reach (a service's private /tmp is not shared with cron jobs), unless that
// path is too long for a Unix socket (about 100 bytes); then it is a fresh folder in the
// temporary directory.
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { socketFacade, type SessionLock } from './pglite-session.ts';

export const SHARE_FILE = 'arrears.socket';
/** The socket's folder inside the data folder. */
export const SOCKET_DIR = '.arrears-socket';
/** pg finds a server's socket as <dir>/.s.PGSQL.<port>. */
export const SOCKET_PORT = 5432;
const SOCKET_NAME = `.s.PGSQL.${SOCKET_PORT}`;
/** How long a command waits for a server that is still opening the folder (migrations, a large database). */
const STARTING_WAIT_MS = 120_000;
/** Unix socket paths are limited to 108 bytes on Linux (104 on macOS). */
const SOCKET_PATH_MAX = 100;

export interface ShareInfo {
  pid: number;
  /** The folder holding the socket; absent while the server is still starting. */
  socketDir?: string;
}

const infoPath = (folder: string) => join(resolve(folder), SHARE_FILE);

function writeInfo(folder: string, info: ShareInfo): void {
  // Written beside and renamed: a reader never sees half a file.
  const temp = `${infoPath(folder)}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(info) + '\n', { mode: 0o600 });
  renameSync(temp, infoPath(folder));
}

export function readShareInfo(folder: string): ShareInfo | null {
  try {
    const info = JSON.parse(readFileSync(infoPath(folder), 'utf8')) as Partial<ShareInfo>;
    if (!Number.isSafeInteger(info.pid)) return null;
    return { pid: info.pid!, socketDir: typeof info.socketDir === 'string' ? info.socketDir : undefined };
  } catch {
    return null;
  }
}

/** Says, before the slow opening starts, that this process will share the folder it has locked. */
export function announceShare(folder: string): void {
  writeInfo(folder, { pid: process.pid });
}

/**
 * Removes the folder's share file and socket: the caller holds the folder, so any there are
 * its own or stale (a killed server's), including a socket folder of ours in the temporary directory.
 */
export function clearShare(folder: string): void {
  const left = readShareInfo(folder)?.socketDir;
  if (left && /^arrears-socket-[A-Za-z0-9]+$/.test(basename(left)) && holdsOnlySocket(left)) rmSync(left, { recursive: true, force: true });
  rmSync(infoPath(folder), { force: true });
  rmSync(join(resolve(folder), SOCKET_DIR), { recursive: true, force: true });
}

function holdsOnlySocket(dir: string): boolean {
  try {
    return readdirSync(dir).every((name) => name === SOCKET_NAME);
  } catch {
    return false;
  }
}

/** A new folder for the socket, only this user's. */
function socketFolder(folder: string): string {
  const inside = join(resolve(folder), SOCKET_DIR);
  if (join(inside, SOCKET_NAME).length > SOCKET_PATH_MAX) return mkdtempSync(join(tmpdir(), 'arrears-socket-'));
  rmSync(inside, { recursive: true, force: true });
  mkdirSync(inside, { mode: 0o700 });
  return inside;
}

export interface Share {
  /** The socket's path. */
  socket: string;
  stop(): Promise<void>;
}

/** Serves the open PGlite of a locked folder on a private socket and says where. */
export async function shareFolder(folder: string, pglite: PGlite, lock: SessionLock): Promise<Share> {
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = socketFolder(folder);
  // Whatever the umask: nobody else may even look inside.
  chmodSync(dir, 0o700);
  if (!lstatSync(dir).isDirectory()) throw new Error(`${dir} is not a folder`);
  const socket = join(dir, SOCKET_NAME);
  // The package's types ask for a PGlite; the facade is the part of it the server uses.
  // pglite-socket 0.1 does not free a connection's slot when the connection ends in an error
  // (0.2.15 does, but needs PGlite 0.5, PostgreSQL 18): room for many such ends between restarts.
  const server = new PGLiteSocketServer({ db: socketFacade(pglite, lock) as unknown as PGlite, path: socket, maxConnections: 1000 });
  try {
    await server.start();
    chmodSync(socket, 0o600);
    writeInfo(folder, { pid: process.pid, socketDir: dir });
  } catch (error) {
    await server.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    socket,
    async stop() {
      clearShare(folder);
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Where the process holding the folder serves it, waiting while that server is starting; null
 * when the holder does not share it (another command, not `arrears start`) or has gone.
 */
export async function findShare(folder: string, holder: number, waitMs = STARTING_WAIT_MS): Promise<{ pid: number; socketDir: string } | null> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const info = readShareInfo(folder);
    if (!info || info.pid !== holder || !alive(holder)) return null;
    if (info.socketDir) return { pid: info.pid, socketDir: info.socketDir };
    if (Date.now() > deadline) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}
