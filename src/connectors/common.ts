// What the Koha and Evergreen connectors do alike: read the connection URL, turn a driver's
// error into IlsUnavailable, word what they write into the ILS, and take in the ILS's next
// answer while they turn the last one into rows.
import { setImmediate as nextTurn } from 'node:timers/promises';
import { asIlsError } from './errors.ts';
import { ValidationError } from '../domain/errors.ts';
import type { ConnectorConfig, ConnectorOptions, WriteIntent } from './types.ts';
import { ConnectionUrlError, connectionTarget, effectiveTls, type ConnectionTarget } from './url.ts';

/**
 * Where the connector connects and how (see url.ts), or an error naming the connector that says
 * what is wrong with its URL, never the URL itself.
 */
export function connectionOf(config: Pick<ConnectorConfig, 'name' | 'url' | 'kind' | 'options'>): ConnectionTarget & { useTls: ConnectorOptions['tls'] | undefined } {
  try {
    const target = connectionTarget(config.kind, config.url);
    return { ...target, useTls: effectiveTls(target, config.options.tls) };
  } catch (err) {
    if (err instanceof ConnectionUrlError) throw ValidationError.of(`connector "${config.name}": ${err.message}`, { field: 'url' });
    throw err;
  }
}

/** Runs `work`; an error meaning the ILS cannot be reached or refuses us comes back as IlsUnavailable naming the connector. */
export async function guarded<T>(connector: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asIlsError(connector, err);
  }
}

/** A comment or description template with the write's {agency} and {date} filled in. */
export function fill(template: string, w: Pick<WriteIntent, 'agency' | 'date'>): string {
  return template.replace(/\{agency\}/g, w.agency).replace(/\{date\}/g, w.date);
}

/** What Arrears writes in the note of a fee it posts: how a retry finds the fee it already posted. */
export function feeMarker(w: Pick<WriteIntent, 'idempotencyKey'>, connector: string): string {
  return `Arrears ${connector} ${w.idempotencyKey}`;
}

/** The number written (a date's field, read character by character: millions of rows a full sync) in text[from, from + length), or -1 if any of it is not a digit. */
export function digitsAt(text: string, from: number, length: number): number {
  let n = 0;
  for (let i = from; i < from + length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** Patrons turned into rows between two looks at the socket (see letAnswersIn). */
const PATRONS_PER_TURN = 250;

/**
 * Called once per patron a reader turns into rows (`handled` counts them): now and then the event
 * loop gets a turn, so the driver takes in the next chunk's answer, which the ILS sends
 * meanwhile. Left in the socket, it stalls the ILS's server until the chunk is done.
 */
export async function letAnswersIn(handled: number): Promise<void> {
  if (handled % PATRONS_PER_TURN === 0) await nextTurn();
}

/**
 * Handles `count` keys a chunk of `size` at a time: each chunk's fetch (from its first index) is
 * started while the chunk before is handled, so the ILS's server works meanwhile. A fetch's
 * failure surfaces at its chunk's turn (or the sync's own failure rolls back first).
 */
export async function inChunks<T>(count: number, size: number, fetch: (from: number) => Promise<T>, handle: (fetched: T, from: number) => Promise<void>): Promise<void> {
  const start = (from: number) => {
    const read = fetch(from);
    read.catch(() => undefined);
    return read;
  };
  let next = count > 0 ? start(0) : null;
  for (let from = 0; from < count; from += size) {
    const fetched = await next!;
    next = from + size < count ? start(from + size) : null;
    await handle(fetched, from);
  }
}

/** A sorted list's adjacent entries that `same` pairs made one, their cents summed (in place; returns the list). */
export function mergeAdjacent<T extends { cents: number }>(list: T[], same: (a: T, b: T) => boolean): T[] {
  let kept = 0;
  for (const x of list) {
    const last = kept > 0 ? list[kept - 1]! : undefined;
    if (last && same(last, x)) last.cents += x.cents;
    else list[kept++] = x;
  }
  list.length = kept;
  return list;
}
