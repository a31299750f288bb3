import { describe, expect, it } from 'vitest';
import { ReadyTracker, SessionLock } from './pglite-session.ts';

/** A backend message: type byte, length (itself included), body. */
function message(type: string, body: number[] = []): number[] {
  const length = 4 + body.length;
  return [type.charCodeAt(0), (length >>> 24) & 255, (length >>> 16) & 255, (length >>> 8) & 255, length & 255, ...body];
}
const ready = (status: 'I' | 'T' | 'E') => message('Z', [status.charCodeAt(0)]);

/** Feeds the bytes in pieces of `size`, as a socket may deliver them. */
function feed(tracker: ReadyTracker, bytes: number[], size: number): void {
  for (let i = 0; i < bytes.length; i += size) tracker.feed(Uint8Array.from(bytes.slice(i, i + size)));
}

describe('ReadyTracker', () => {
  it('is idle only after ReadyForQuery with status I, however the stream is cut', () => {
    const query = [...message('T', [0, 1, 65, 0]), ...message('D', [0, 1, 0, 0, 0, 1, 49]), ...message('C', [83, 69, 76, 0])];
    for (const size of [1, 2, 3, 5, 7, 1000]) {
      const t = new ReadyTracker();
      feed(t, query, size);
      expect(t.idle, `piece size ${size}`).toBe(false);
      feed(t, ready('I'), size);
      expect(t.idle, `piece size ${size}`).toBe(true);
      feed(t, [...message('1'), ...message('2')], size); // ParseComplete, BindComplete: a query under way
      expect(t.idle).toBe(false);
      feed(t, ready('T'), size); // in a transaction block
      expect(t.idle).toBe(false);
      feed(t, ready('E'), size); // in a failed one
      expect(t.idle).toBe(false);
      feed(t, [...message('C', [67, 0]), ...ready('I')], size);
      expect(t.idle).toBe(true);
    }
  });

  it('knows when the backend waits for COPY data', () => {
    const t = new ReadyTracker();
    t.feed(Uint8Array.from(message('G', [0, 0, 0])));
    expect(t.copyIn).toBe(true);
    expect(t.idle).toBe(false);
    t.feed(Uint8Array.from([...message('C', [67, 0]), ...ready('I')]));
    expect(t.copyIn).toBe(false);
    expect(t.idle).toBe(true);
  });
});

describe('SessionLock', () => {
  it('gives the turn in the order asked, one holder at a time', async () => {
    const lock = new SessionLock();
    const order: string[] = [];
    const holder = async (name: string, ms: number) => {
      const release = await lock.acquire();
      order.push(`${name} in`);
      await new Promise((r) => setTimeout(r, ms));
      order.push(`${name} out`);
      release();
      release(); // a second release changes nothing
    };
    await Promise.all([holder('a', 20), holder('b', 1), holder('c', 5)]);
    expect(order).toEqual(['a in', 'a out', 'b in', 'b out', 'c in', 'c out']);
  });
});
