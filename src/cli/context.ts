// Shared plumbing for commands: open the database named by --db or ARREARS_DATABASE_URL,
// run the service, print, and map errors to the documented exit codes
// (0 ok, 1 unexpected, 2 bad input, 3 conflict).
import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { openDatabase, type Database } from '../db/connection.ts';
import { ArrearsError, ValidationError, codeFor, describeProblem, type ErrorCode, type Problem } from '../domain/errors.ts';
import { systemClock, type Context } from '../services/context.ts';

export const DEFAULT_DATABASE = './data';

export function databaseUrl(flag?: string): string {
  return flag ?? process.env.ARREARS_DATABASE_URL ?? DEFAULT_DATABASE;
}

function cliActor(): string {
  try {
    return `cli:${userInfo().username}`;
  } catch {
    return 'cli';
  }
}

/** The root program's --db option, wherever the command sits in the tree. */
export function rootOptions(cmd: Command): { db?: string } {
  let c: Command | null = cmd;
  while (c?.parent) c = c.parent;
  return (c?.opts() ?? {}) as { db?: string };
}

export async function withContext<T>(cmd: Command, fn: (ctx: Context) => Promise<T>): Promise<T> {
  const database: Database = await openDatabase({ url: databaseUrl(rootOptions(cmd).db), shortLived: true });
  try {
    return await fn({ database, clock: systemClock, actor: cliActor() });
  } finally {
    await database.close();
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Wraps a command action: known errors print plainly and exit with their code. With --json the
 * error is also printed on stdout as the API sends it (`{ "error": { code, message, problems? } }`),
 * so a script reading the command's JSON gets JSON either way.
 */
export function action<A extends unknown[]>(fn: (this: Command, ...args: A) => Promise<void>): (this: Command, ...args: A) => Promise<void> {
  return async function (this: Command, ...args: A) {
    try {
      await fn.apply(this, args);
    } catch (err) {
      let error: { code: ErrorCode; message: string; problems?: Problem[] };
      if (err instanceof ValidationError) {
        for (const p of err.problems) process.stderr.write(`error: ${describeProblem(p)}\n`);
        error = { code: codeFor(err.httpStatus), message: err.message, problems: err.problems };
        process.exitCode = err.exitCode;
      } else if (err instanceof ArrearsError) {
        process.stderr.write(`error: ${err.message}\n`);
        error = { code: codeFor(err.httpStatus), message: err.message };
        process.exitCode = err.exitCode;
      } else {
        process.stderr.write(`unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
        error = { code: 'internal', message: err instanceof Error ? err.message : String(err) };
        process.exitCode = 1;
      }
      if (this?.opts<{ json?: boolean }>().json) printJson({ error });
    }
  };
}
