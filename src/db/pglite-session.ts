// PGlite is one PostgreSQL session. When `arrears start` shares its folder over a socket
// (pglite-share.ts), that one session serves the server's own queries and every client's, so
// whoever is in the middle of something keeps it to themselves until they are done: a
// transaction, or the several messages of one extended-protocol query or COPY. SessionLock
// is the turn; the server takes it for each Kysely connection it holds (lockedDialect), a
// socket client from its first message until the session is idle again (socketFacade).
import type { PGlite } from '@electric-sql/pglite';
import type { DatabaseConnection, Dialect, Driver, Kysely, TransactionSettings } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';

/** First come, first served. acquire() resolves with the function that releases the turn. */
export class SessionLock {
  private tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const done = new Promise<void>((resolve) => (release = resolve));
    const before = this.tail;
    this.tail = before.then(() => done);
    let released = false;
    return before.then(() => () => {
      if (released) return;
      released = true;
      release();
    });
  }
}

/** Kysely on PGlite, taking the session's turn while it holds its (only) connection. */
export function lockedDialect(pglite: PGlite, lock: SessionLock): Dialect {
  const inner = new PGliteDialect(pglite);
  return {
    createAdapter: () => inner.createAdapter(),
    createQueryCompiler: () => inner.createQueryCompiler(),
    createIntrospector: (db: Kysely<unknown>) => inner.createIntrospector(db),
    createDriver: (): Driver => {
      const driver = inner.createDriver();
      let release: (() => void) | undefined;
      return {
        init: () => driver.init(),
        async acquireConnection(): Promise<DatabaseConnection> {
          const turn = await lock.acquire();
          try {
            const connection = await driver.acquireConnection();
            release = turn;
            return connection;
          } catch (error) {
            turn();
            throw error;
          }
        },
        async releaseConnection(connection: DatabaseConnection): Promise<void> {
          try {
            await driver.releaseConnection(connection);
          } finally {
            const turn = release;
            release = undefined;
            turn?.();
          }
        },
        beginTransaction: (c: DatabaseConnection, settings: TransactionSettings) => driver.beginTransaction(c, settings),
        commitTransaction: (c: DatabaseConnection) => driver.commitTransaction(c),
        rollbackTransaction: (c: DatabaseConnection) => driver.rollbackTransaction(c),
        destroy: () => driver.destroy(),
      };
    },
  };
}

/**
 * Reads the backend's side of the wire protocol as it streams out and remembers whether the
 * session is idle: the last message was ReadyForQuery with status 'I' (not in a transaction
 * block). Anything after it (ParseComplete, a row, CopyInResponse…) means a client is in the
 * middle of something.
 */
export class ReadyTracker {
  idle = true;
  /** Inside COPY FROM STDIN: the backend sent CopyInResponse and has not finished it. */
  copyIn = false;
  private header = new Uint8Array(5);
  private headerBytes = 0;
  /** Body bytes of the current message still to come. */
  private remaining = 0;
  private type = 0;
  /** The current message is ReadyForQuery and its status byte is still to come. */
  private wantStatus = false;

  feed(data: Uint8Array): void {
    let i = 0;
    while (i < data.length) {
      if (this.remaining > 0) {
        if (this.wantStatus) {
          this.idle = data[i] === 0x49; // 'I'
          this.wantStatus = false;
        }
        const take = Math.min(this.remaining, data.length - i);
        this.remaining -= take;
        i += take;
        continue;
      }
      this.header[this.headerBytes++] = data[i++]!;
      if (this.headerBytes < 5) continue;
      this.headerBytes = 0;
      this.type = this.header[0]!;
      const length = ((this.header[1]! << 24) | (this.header[2]! << 16) | (this.header[3]! << 8) | this.header[4]!) >>> 0;
      this.remaining = Math.max(0, length - 4);
      this.idle = false;
      if (this.type === 0x5a) {
        // 'Z': ReadyForQuery ends every query and COPY.
        this.wantStatus = this.remaining > 0;
        this.copyIn = false;
      } else if (this.type === 0x47) this.copyIn = true; // 'G': CopyInResponse
    }
  }
}

function frontendMessage(type: string, body: Uint8Array): Uint8Array {
  const message = new Uint8Array(5 + body.length);
  message[0] = type.charCodeAt(0);
  new DataView(message.buffer).setInt32(1, 4 + body.length);
  message.set(body, 5);
  return message;
}

const cString = (s: string) => new TextEncoder().encode(`${s}\0`);
const QUERY_ROLLBACK = frontendMessage('Q', cString('ROLLBACK'));
const SYNC = frontendMessage('S', new Uint8Array(0));
const COPY_FAIL = frontendMessage('f', cString('the client went away'));

/** The part of PGlite that PGLiteSocketServer uses. */
export interface SocketDatabase {
  readonly waitReady: Promise<void>;
  isInTransaction(): boolean;
  runExclusive<T>(fn: () => Promise<T>): Promise<T>;
  execProtocolRawStream(message: Uint8Array, options: { onRawData: (data: Uint8Array) => void }): Promise<void>;
  exec(query: string): Promise<unknown>;
}

/**
 * What PGLiteSocketServer is given instead of the PGlite instance. Its queue runs one client
 * message at a time and, while isInTransaction() is true, only messages of the client that
 * sent the last one; here that holds whenever the session is not idle, so one client's
 * extended-protocol query or COPY is never cut into by another's. Each message first takes
 * the session's turn (waiting for the server's own queries), kept until the session is idle.
 * The queue's exec('ROLLBACK') for a client that left in the middle becomes whatever brings
 * the session back to idle, nothing the client sent being committed.
 */
export function socketFacade(pglite: PGlite, lock: SessionLock): SocketDatabase {
  const tracker = new ReadyTracker();
  let release: (() => void) | undefined;
  const take = async () => {
    if (!release) release = await lock.acquire();
  };
  const freeIfIdle = () => {
    if (!tracker.idle || !release) return;
    const turn = release;
    release = undefined;
    turn();
  };
  const send = (message: Uint8Array) => pglite.runExclusive(() => pglite.execProtocolRawStream(message, { onRawData: (data) => tracker.feed(data) }));
  return {
    get waitReady() {
      return pglite.waitReady;
    },
    isInTransaction: () => !tracker.idle,
    async runExclusive<T>(fn: () => Promise<T>): Promise<T> {
      await take();
      try {
        return await pglite.runExclusive(fn);
      } finally {
        freeIfIdle();
      }
    },
    execProtocolRawStream(message, options) {
      return pglite.execProtocolRawStream(message, {
        onRawData: (data) => {
          tracker.feed(data);
          options.onRawData(data);
        },
      });
    },
    async exec() {
      if (pglite.closed) {
        tracker.idle = true;
        return;
      }
      await take();
      try {
        // A COPY is failed; a transaction block or a half-sent query is rolled back (a query
        // after an error is ignored until Sync, which then ends the aborted transaction).
        for (let tries = 0; !tracker.idle && tries < 3; tries++) {
          await send(tracker.copyIn ? COPY_FAIL : QUERY_ROLLBACK);
          if (!tracker.idle) await send(SYNC);
        }
        tracker.idle = true;
      } finally {
        freeIfIdle();
      }
    },
  };
}
