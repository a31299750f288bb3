// Progress of long work over HTTP: a real server on a loopback port, a client that opens the
// server-sent-event stream and then starts a run or an import with ?progress=<id>, as the
// staff app does. The stream must tell the run's phases in order, an import's phases with its
// rows and bytes, a failure with its message, and nothing of another user's work; without
// Accept: text/event-stream the route answers with the state now.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import type { ProgressState } from '../src/services/progress.ts';
import { RUN_PHASES } from '../src/services/runs.ts';
import { addUser } from '../src/services/users.ts';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';

const PASSWORD = 'correct horse battery staple';
const HEADER = 'id,barcode,first_name,last_name,address,city,state,postal_code,phone,email,birth_date,home_library,ptype,patron_code';

let t: TestDatabase;
let app: FastifyInstance;
let url: string;
let dir: string;
const cookies: Record<string, string> = {};
/** The session's CSRF token, sent on POSTs as the staff app does. */
const tokens: Record<string, string> = {};

interface Event {
  event: string;
  data: ProgressState | null;
}

/** Opens the stream and resolves once the server has said it is open (signed in, watching). */
async function watch(who: string, id: string) {
  const abort = new AbortController();
  const res = await fetch(`${url}/api/progress/${id}`, { headers: { cookie: cookies[who]!, accept: 'text/event-stream' }, signal: abort.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n\n')) text += decoder.decode((await reader.read()).value);
  const rest = (async () => {
    for (;;) {
      const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
      if (done) return text;
      text += decoder.decode(value);
    }
  })();
  return {
    text: () => text,
    abort: () => abort.abort(),
    /** Every event of the stream, once it has ended. */
    events: async (): Promise<Event[]> =>
      (await rest)
        .split('\n\n')
        .filter((block) => block.includes('data:'))
        .map((block) => {
          const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
          return { event, data: JSON.parse(/^data: (.*)$/m.exec(block)![1]!) as ProgressState | null };
        }),
  };
}

function patronsFile(name: string, count: number, bad = false): string {
  const rows = Array.from({ length: count }, (_, i) => `Q${i + 1},3100${i + 1},Ann,Row ${i + 1},1 Main St,Springfield,IL,62701,,,,${bad && i === count - 1 ? 'NOWHERE' : 'MAIN'},1,ADULT`);
  const path = join(dir, name);
  writeFileSync(path, `${HEADER}\n${rows.join('\n')}\n`);
  return path;
}

async function importWith(who: string, id: string, path: string) {
  const form = new FormData();
  form.set('file', new Blob([readFileSync(path)]), basename(path));
  return fetch(`${url}/api/imports/patrons?progress=${id}`, { method: 'POST', headers: { cookie: cookies[who]!, 'x-csrf-token': tokens[who]! }, body: form });
}

/** The distinct phases of the events, in the order they first came. */
function phases(events: Event[]): string[] {
  return [...new Set(events.map((e) => e.data?.phase).filter((p): p is string => p !== undefined))];
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'arrears-progress-'));
  t = await freshDatabase();
  const s = new Scenario(t);
  await s.libraries({ code: 'MAIN' });
  await s.agency('UMS');
  await s.patrons({ id: 'P1' }, { id: 'P2' });
  await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
  await s.settings({});
  const ctx = s.context('2025-06-02T15:00:00Z');
  for (const username of ['clerk', 'other']) await addUser(ctx, { username, password: PASSWORD, roles: ['admin'] });
  app = await buildServer({ ...ctx, clock: { now: () => new Date() } });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  for (const username of ['clerk', 'other']) {
    const res = await fetch(`${url}/api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username, password: PASSWORD }) });
    expect(res.status).toBe(200);
    cookies[username] = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
    tokens[username] = res.headers.get('x-csrf-token')!;
    expect(cookies[username]).toMatch(new RegExp(`^${SESSION_COOKIE}=.+`));
  }
});

afterAll(async () => {
  await app?.close();
  await t?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

describe('progress of long work', () => {
  it('tells a run’s phases in order, as steps of six, then its end', async () => {
    const stream = await watch('clerk', 'run-progress-1');
    const res = await fetch(`${url}/api/runs?progress=run-progress-1`, {
      method: 'POST',
      headers: { cookie: cookies.clerk!, 'x-csrf-token': tokens.clerk!, 'content-type': 'application/json' },
      body: JSON.stringify({ reportDate: '2025-06-02' }),
    });
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await res.json()).newSubmissions.map((n: { patronId: string }) => n.patronId)).toEqual(['P1']);
    const events = await stream.events();
    expect(phases(events)).toEqual(['starting', ...RUN_PHASES, 'done']);
    expect(events.filter((e) => e.data?.phase === 'files').map((e) => [e.data!.done, e.data!.total, e.data!.unit])).toEqual([[4, 6, 'steps']]);
    expect(events.at(-1)).toEqual({ event: 'end', data: expect.objectContaining({ kind: 'run', phase: 'done', finished: true, ok: true, error: null }) });

    // Without asking for a stream, a script gets the state now: kept after the end, unknown otherwise.
    const now = await fetch(`${url}/api/progress/run-progress-1`, { headers: { cookie: cookies.clerk! } });
    expect(await now.json()).toEqual(events.at(-1)!.data);
    const unknown = await fetch(`${url}/api/progress/never-started`, { headers: { cookie: cookies.clerk! } });
    expect(unknown.status).toBe(404);
    expect((await fetch(`${url}/api/progress/run-progress-1`, { headers: { cookie: cookies.other! } })).status).toBe(404);
  });

  it('tells an import’s phases with the rows and bytes read', async () => {
    const path = patronsFile('patrons-2500.csv', 2500);
    const stream = await watch('clerk', 'import-progress-1');
    const res = await importWith('clerk', 'import-progress-1', path);
    expect(res.status, await res.clone().text()).toBe(200);
    expect(await res.json()).toMatchObject({ inserted: 2500, updated: 0 });
    const events = await stream.events();
    expect(phases(events)).toEqual(['starting', 'reading', 'checking', 'writing', 'done']);
    // Rows only grow, and the check starts with every row read.
    const rows = events.map((e) => e.data?.rows ?? 0);
    expect(rows).toEqual([...rows].sort((a, b) => a - b));
    expect(events.find((e) => e.data?.phase === 'checking')!.data!.rows).toBe(2500);
    expect(events.at(-1)!.data).toMatchObject({ kind: 'import', ok: true, rows: 2500, unit: 'bytes', done: statSync(path).size, total: statSync(path).size });
  });

  it('ends a failed import with ok false and the error', async () => {
    const stream = await watch('clerk', 'import-progress-2');
    const res = await importWith('clerk', 'import-progress-2', patronsFile('bad.csv', 3, true));
    expect(res.status).toBe(400);
    const last = (await stream.events()).at(-1)!;
    expect(last.event).toBe('end');
    expect(last.data).toMatchObject({ phase: 'failed', finished: true, ok: false });
    expect(last.data!.error).toMatch(/NOWHERE/);
  });

  it('shows nobody else’s work under the same id', async () => {
    const stranger = await watch('other', 'shared-id-123');
    const mine = await watch('clerk', 'shared-id-123');
    expect((await importWith('clerk', 'shared-id-123', patronsFile('few.csv', 5))).status).toBe(200);
    expect((await mine.events()).at(-1)!.data).toMatchObject({ ok: true, rows: 5 });
    expect(stranger.text()).toBe(': open\n\n');
    stranger.abort();
  });

  it('refuses an id that is not a plain token', async () => {
    const res = await fetch(`${url}/api/progress/${encodeURIComponent('../x')}`, { headers: { cookie: cookies.clerk! } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.problems).toEqual([{ field: 'id', reason: expect.stringMatching(/pattern/) }]);
    const run = await fetch(`${url}/api/runs?progress=x`, { method: 'POST', headers: { cookie: cookies.clerk!, 'x-csrf-token': tokens.clerk!, 'content-type': 'application/json' }, body: JSON.stringify({ reportDate: '2025-06-03', dryRun: true }) });
    expect(run.status).toBe(400);
  });
});
