// `arrears start [--port 8080] [--host 127.0.0.1]`: open the database (applying migrations),
// load a small demo consortium into an empty one so there is something to look at, and
// serve HTTP until SIGINT or SIGTERM, then close the server and the database cleanly.
import type { Command } from 'commander';
import type { FastifyInstance } from 'fastify';
import { openDatabase, type Database } from '../db/connection.ts';
import { ConflictError, ValidationError } from '../domain/errors.ts';
import { VERSION } from '../http/health.ts';
import { buildServer } from '../http/server.ts';
import { systemClock, type Clock, type Context } from '../services/context.ts';
import { databaseHasPatrons, demoToday, loadDemo } from '../services/demo.ts';
import { loadSecretKey } from '../services/secrets.ts';
import { startBackgroundJobs, type BackgroundJobs } from '../services/background.ts';
import { countUsers } from '../services/users.ts';
import { action, databaseUrl, rootOptions } from './context.ts';
import { wholeNumber } from './demo.ts';

export const DEFAULT_PORT = 8080;
export const DEFAULT_HOST = '127.0.0.1';
/** What `start` says while nobody can sign in yet. */
export const NO_USERS_YET = 'No users yet: create the first admin with `npx arrears users add admin --role admin` (it asks for a password), then sign in.';
/** The demo consortium an empty database gets on its first start. */
export const START_DEMO = { patrons: 300, seed: 1 } as const;

export interface StartOptions {
  /** 0 picks a free port; the URL returned says which. */
  port: number;
  host: string;
  clock?: Clock;
  /** Where messages for the person starting the server go. */
  log?: (line: string) => void;
  /** Fastify's request log. */
  logger?: boolean;
  /** Patrons in the demo an empty database gets (default START_DEMO.patrons). */
  demoPatrons?: number;
  /** Run the scheduler and file delivery in this process (the CLI does; tests usually do not). */
  background?: boolean;
}

export interface Started {
  app: FastifyInstance;
  url: string;
  /** The scheduler and delivery loop, when started. */
  jobs?: BackgroundJobs;
}

/** Loads the demo into an empty database, then listens. The caller closes app and database. */
export async function startArrears(database: Database, options: StartOptions): Promise<Started> {
  const clock = options.clock ?? systemClock;
  const log = options.log ?? (() => undefined);
  const ctx: Context = { database, clock, actor: 'server' };
  // Fail now, not at the first delivery, when agency credentials cannot be decrypted.
  await loadSecretKey(database, { log });

  if (!(await databaseHasPatrons(ctx))) {
    const demo = { patrons: options.demoPatrons ?? START_DEMO.patrons, seed: START_DEMO.seed, asOf: demoToday(clock) };
    log(`The database has no patrons yet: loading a demo consortium (${demo.patrons} patrons, seed ${demo.seed}, as of ${demo.asOf}).`);
    const loaded = await loadDemo({ ...ctx, actor: 'demo' }, demo);
    log(`Loaded ${loaded.rows.libraries} libraries, ${loaded.rows.patrons} patrons, ${loaded.rows.items} items, ${loaded.rows.charges} charges and ${loaded.rows.payments} payments.`);
  }

  const app = await buildServer(ctx, { logger: options.logger ?? false });
  try {
    await app.listen({ port: options.port, host: options.host });
  } catch (err) {
    await app.close();
    if ((err as { code?: unknown }).code === 'EADDRINUSE') throw new ConflictError(`port ${options.port} on ${options.host} is already in use`);
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const jobs = options.background ? startBackgroundJobs({ ...ctx, actor: 'scheduler' }, { log }) : undefined;
  return { app, url: `http://${host}:${port}`, jobs };
}

/** Resolves on the first SIGINT or SIGTERM; a second one gets Node's default (exit at once). */
function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const stop = (signal: NodeJS.Signals) => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerStart(program: Command): void {
  program
    .command('start')
    .description('serve HTTP: applies migrations, loads a demo consortium into an empty database, stops on Ctrl-C or SIGTERM')
    .option('--port <n>', 'TCP port', String(DEFAULT_PORT))
    .option('--host <address>', 'address to listen on (0.0.0.0 for every interface)', DEFAULT_HOST)
    .action(
      action(async (opts: { port: string; host: string }, cmd: Command) => {
        const port = wholeNumber('--port', opts.port);
        if (port > 65535) throw ValidationError.of(`must be a port number from 0 to 65535, got ${port}`, { field: '--port' });
        // On an embedded database the server shares its folder: other commands reach it through a socket.
        const database = await openDatabase({ url: databaseUrl(rootOptions(cmd).db), share: true });
        let started: Started;
        try {
          started = await startArrears(database, { port, host: opts.host, log: (line) => console.log(line), logger: true, background: true });
        } catch (err) {
          await database.close();
          throw err;
        }
        console.log(`Arrears ${VERSION} is listening on ${started.url} (database: ${database.location}). Stop it with Ctrl-C.`);
        if (database.share) console.log(`Other arrears commands on ${database.location} run through this server (socket ${database.share.socket}).`);
        if ((await countUsers(database.db)) === 0) console.log(NO_USERS_YET);
        const signal = await untilSignal();
        console.log(`${signal}: shutting down.`);
        await started.jobs?.stop();
        await started.app.close();
        await database.close();
      }),
    );
}
