// A private PostgreSQL server that one test file owns and may stop, start and restart at will
// (never the shared server on 5432). initdb into a temp folder, listening on 127.0.0.1 and a
// spare port with its socket in that folder. PostgreSQL refuses to run as root, so under root
// the commands run as the `postgres` account.
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sparePort } from './servers.ts';

export interface PrivatePostgres {
  port: number;
  /** postgres://postgres@127.0.0.1:<port>/postgres (trust authentication). */
  url: string;
  /** Each waits until the server is up (or down); the event loop keeps running meanwhile. */
  start(): Promise<void>;
  /** `pg_ctl stop -m fast`: sessions are terminated, new connections refused. */
  stop(): Promise<void>;
  /** `pg_ctl restart -m fast`. */
  restart(): Promise<void>;
  dispose(): Promise<void>;
}

/** The newest installed server's bin folder (Debian keeps them under /usr/lib/postgresql/<major>/bin). */
function binFolder(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a)) : [];
  for (const m of majors) if (existsSync(join(root, m, 'bin', 'pg_ctl'))) return join(root, m, 'bin');
  return execFileSync('pg_config', ['--bindir']).toString().trim();
}

export async function startPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = binFolder();
  const dir = mkdtempSync(join(tmpdir(), 'arrears-pg-'));
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const pgCommand = async (tool: string, args: string[]) => {
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    await promisify(execFile)(cmd, argv);
  };
  const port = await sparePort();
  const data = join(dir, 'data');
  await pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--locale=C', '--no-sync']);
  const serverOptions = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
  const ctl = (...args: string[]) => pgCommand('pg_ctl', ['-D', data, '-l', join(dir, 'log'), '-w', '-t', '60', ...args]);
  let running = false;
  const server: PrivatePostgres = {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async start() {
      await ctl('-o', serverOptions, 'start');
      running = true;
    },
    async stop() {
      await ctl('-m', 'fast', 'stop');
      running = false;
    },
    async restart() {
      await ctl('-m', 'fast', '-o', serverOptions, 'restart');
      running = true;
    },
    async dispose() {
      if (running) await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await server.start();
  return server;
}
