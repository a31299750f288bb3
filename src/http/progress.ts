// /api/progress/:id: the progress of an import or a run as server-sent events. The client
// picks an id, opens this stream, then starts the work with ?progress=<id>; the stream tells
// each phase and count and ends when the work does. A stream, not polling, because on PGlite
// a running import or run holds the one connection and every other query (a poll's sign-in
// check too) would wait for it; the stream is signed in once, before the work starts.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { NotFoundError } from '../domain/errors.ts';
import { ProgressBoard, withProgress, type ProgressState, type ProgressTracker } from '../services/progress.ts';

/** Ids the client chooses (a UUID fits); scoped to the signed-in user. */
export const progressId = { type: 'string', pattern: '^[A-Za-z0-9_-]{8,64}$', description: 'an id of your choosing; watch the work at GET /api/progress/{id}' } as const;

const boards = new WeakMap<FastifyInstance, ProgressBoard>();

/** The server's one board: route modules that report progress and this one share it. */
export function progressBoard(app: FastifyInstance): ProgressBoard {
  let board = boards.get(app);
  if (!board) boards.set(app, (board = new ProgressBoard()));
  return board;
}

/** Where a user's progress id is kept on the board: ids are per user, so nobody watches another's work. */
export function progressKey(userId: number | string, id: string): string {
  return `${userId}:${id}`;
}

function key(request: FastifyRequest, id: string): string {
  return progressKey(request.user?.id ?? 'anonymous', id);
}

/** Runs a route's work under the request's progress id (if it gave one). */
export function trackProgress<T>(app: FastifyInstance, request: FastifyRequest, id: string | undefined, kind: string, work: (tracker: ProgressTracker | undefined) => Promise<T>): Promise<T> {
  return withProgress(progressBoard(app), id === undefined ? undefined : key(request, id), kind, work);
}

/** How long a stream waits for its work to start before it ends. */
const WAIT_MS = 120_000;

export function registerProgressRoutes(app: FastifyInstance): void {
  const open = new Set<() => void>();
  // Streams would otherwise hold the server open while it shuts down.
  app.addHook('preClose', async () => {
    for (const end of open) end();
  });
  app.get<{ Params: { id: string } }>(
    '/api/progress/:id',
    {
      config: { permission: 'signed-in' },
      schema: {
        tags: ['progress'],
        summary: 'The progress of your import or run started with ?progress={id}: server-sent events (Accept: text/event-stream) ending with event "end", or else its state now',
        description:
          'The state (each event\'s data) is JSON: kind, phase, done, total, unit (bytes or steps), rows, finished, ok, error. A stream may be opened before the work starts; one whose work has not started within two minutes ends with event "timeout". Without Accept: text/event-stream the reply is the state now, or 404 when no work of yours has that id (finished work is kept five minutes).',
        produces: ['text/event-stream', 'application/json'],
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: progressId } },
      },
    },
    async (request, reply) => {
      if (!request.headers.accept?.includes('text/event-stream')) {
        const state = progressBoard(app).get(key(request, request.params.id));
        if (!state) throw new NotFoundError(`work under progress id "${request.params.id}"`);
        return state;
      }
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store, no-transform', 'x-accel-buffering': 'no', connection: 'close' });
      // A comment first, so the client knows the stream is open (and signed in) before it starts the work.
      out.write(': open\n\n');
      const end = (event: string, state?: ProgressState) => {
        if (!out.writableEnded) out.end(`event: ${event}\ndata: ${JSON.stringify(state ?? null)}\n\n`);
      };
      const timer = setTimeout(() => end('timeout'), WAIT_MS);
      const stop = progressBoard(app).watch(key(request, request.params.id), (state) => {
        if (state.finished) end('end', state);
        else if (!out.writableEnded) out.write(`data: ${JSON.stringify(state)}\n\n`);
      });
      const cleanup = () => {
        stop();
        clearTimeout(timer);
        open.delete(closing);
      };
      const closing = () => end('closing');
      open.add(closing);
      if (out.writableEnded) cleanup();
      out.on('finish', cleanup);
      out.on('close', cleanup);
    },
  );
}
