import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../src/db/connection.ts';
import type { DB } from '../src/db/schema.ts';
import { NotFoundError, ValidationError } from '../src/domain/errors.ts';
import { buildServer } from '../src/http/server.ts';
import { startArrears } from '../src/cli/start.ts';
import { generateDemo } from '../src/services/demo.ts';
import { checkHealth } from '../src/http/health.ts';
import { needsAttention } from '../src/services/attention.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const clock = fixedClock('2025-06-30T17:00:00Z');
// `start` checks the key for agency credentials first; on PostgreSQL one must be configured.
process.env.ARREARS_SECRET_KEY ??= randomBytes(32).toString('base64');

/** What the demo `start` loads (30 patrons, seed 1, as of 2025-06-30), counted from the generator itself. */
const DEMO = { items: 0, charges: 0, payments: 0 };
for (const b of generateDemo({ patrons: 30, seed: 1, asOf: '2025-06-30' })) {
  DEMO.items += b.items.length;
  DEMO.charges += b.charges.length;
  DEMO.payments += b.payments.length;
}

/** A Database whose PostgreSQL lives at a port of our choosing (nothing, or a server that never answers). */
function unreachableDatabase(port: number): Database {
  const pool = new pg.Pool({ connectionString: `postgres://nobody@127.0.0.1:${port}/none`, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { kind: 'postgres', db, location: `127.0.0.1:${port}`, close: () => db.destroy() };
}

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

// One database for the file (a PGlite instance is slow to start), so these run in order:
// `start` loads the demo into the empty database, then /health counts what it loaded.
describe('arrears start and GET /health', () => {
  let t: TestDatabase;
  /** A viewer's API token: /health tells its counts only to a signed-in caller. */
  let auth: Record<string, string>;
  beforeAll(async () => {
    t = await freshDatabase();
    const ctx: Context = { database: t, clock, actor: 'test' };
    await addUser(ctx, { username: 'monitor', password: null, roles: ['viewer'] });
    auth = { authorization: `Bearer ${(await createToken(ctx, 'monitor', 'health')).token}` };
  });
  afterAll(() => t.dispose());

  it('start loads a demo consortium into an empty database and serves /health', async () => {
    const lines: string[] = [];
    const started = await startArrears(t, { port: 0, host: '127.0.0.1', clock, log: (l) => lines.push(l), demoPatrons: 30 });
    try {
      expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(`${started.url}/health`, { headers: auth });
      expect(res.status).toBe(200);
      expect(((await res.json()) as { counts: unknown }).counts).toEqual({ libraries: 10, patrons: 30, charges: DEMO.charges, openReferrals: 0 });
      // Signed out: the status and nothing about the installation.
      const bare = await fetch(`${started.url}/health`);
      expect([bare.status, await bare.json()]).toEqual([200, { status: 'ok' }]);
      expect(lines).toEqual([
        'The database has no patrons yet: loading a demo consortium (30 patrons, seed 1, as of 2025-06-30).',
        `Loaded 10 libraries, 30 patrons, ${DEMO.items} items, ${DEMO.charges} charges and ${DEMO.payments} payments.`,
      ]);
    } finally {
      await started.app.close();
    }
  });

  it('start leaves a database that has patrons alone', async () => {
    const lines: string[] = [];
    const started = await startArrears(t, { port: 0, host: '127.0.0.1', clock, log: (l) => lines.push(l), demoPatrons: 50 });
    try {
      const body = (await (await fetch(`${started.url}/health`, { headers: auth })).json()) as { counts: { patrons: number } };
      expect(body.counts.patrons).toBe(30);
      expect(lines).toEqual([]);
    } finally {
      await started.app.close();
    }
  });

  it('start refuses a port that is already taken with a conflict', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const port = (taken.address() as AddressInfo).port;
    try {
      const err = await startArrears(t, { port, host: '127.0.0.1', clock }).catch((e: unknown) => e);
      expect(err).toMatchObject({ name: 'ConflictError', exitCode: 3, message: `port ${port} on 127.0.0.1 is already in use` });
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });

  describe('GET /health', () => {
    let app: FastifyInstance;
    let base: string;

    beforeAll(async () => {
      const agency = await t.db.insertInto('agencies').values({ name: 'Health Agency' }).returning('id').executeTakeFirstOrThrow();
      const referral = { agency_id: agency.id, referred_on: '2025-06-01', referred_cents: 5000, last_reported_cents: 5000 };
      await t.db
        .insertInto('referrals')
        .values([
          { ...referral, patron_id: 'p1000001' },
          { ...referral, patron_id: 'p1000002' },
          { ...referral, patron_id: 'p1000003', status: 'cleared', closed_on: '2025-06-15' },
        ])
        .execute();
      app = await buildServer({ database: t, clock, actor: 'test' });
      app.get('/test/validation', async () => {
        throw ValidationError.of('must be a date', { field: 'reportDate' });
      });
      app.get('/test/missing', async () => {
        throw new NotFoundError('patron p1');
      });
      app.get('/test/bug', async () => {
        throw new Error('secret internals');
      });
      base = await listen(app);
    });
    afterAll(() => app.close());

    it('answers 200 with the database kind, the version and the counts to a signed-in caller', async () => {
      // The demo's schedules are late at this clock: what needs attention, counted by level (a viewer sees every screen's).
      const levels = { error: 0, warning: 0, notice: 0 };
      for (const i of await needsAttention({ database: t, clock, actor: 'test' })) levels[i.level]++;
      expect(levels.warning).toBeGreaterThan(0);
      const res = await fetch(`${base}/health`, { headers: auth });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({
        status: 'ok',
        database: testDbKind(),
        version: VERSION,
        counts: { libraries: 10, patrons: 30, charges: DEMO.charges, openReferrals: 2 },
        attention: levels,
      });
      // Something to attend to: a connector that never synced (an error a viewer may see).
      const connector = await t.db.insertInto('connectors').values({ name: 'koha', kind: 'koha', url_secret: 'x', location: 'mysql://db/koha', time_zone: 'UTC', options: '{}', created_at: new Date(), updated_at: new Date() }).returning('id').executeTakeFirstOrThrow();
      try {
        expect(((await (await fetch(`${base}/health`, { headers: auth })).json()) as { attention: unknown }).attention).toEqual({ ...levels, error: levels.error + 1 });
        expect(await (await fetch(`${base}/health`)).json()).toEqual({ status: 'ok' });
      } finally {
        await t.db.deleteFrom('connectors').where('id', '=', connector.id).execute();
      }
    });

    it('maps the error hierarchy to statuses once, for every route', async () => {
      const validation = await fetch(`${base}/test/validation`);
      expect(validation.status).toBe(400);
      expect(await validation.json()).toEqual({
        error: { code: 'validation', message: 'field reportDate: must be a date', problems: [{ field: 'reportDate', reason: 'must be a date' }] },
      });
      const missing = await fetch(`${base}/test/missing`);
      expect(missing.status).toBe(404);
      expect(await missing.json()).toEqual({ error: { code: 'not_found', message: 'patron p1 not found' } });
      const bug = await fetch(`${base}/test/bug`);
      expect(bug.status).toBe(500);
      expect(await bug.text()).not.toContain('secret internals');
      expect((await fetch(`${base}/no/such/route`)).status).toBe(404);
    });
  });
});

describe('GET /health when the database is down', () => {
  let silent: Server;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // Accepts connections and never says a word: a hung database server.
    silent = createServer((s) => void sockets.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  /** What GET /health answers (to anyone: nobody can be signed in while the database is down), and what the server knows. */
  async function health(database: Database, healthTimeoutMs?: number): Promise<{ status: number; body: Record<string, unknown>; known: Record<string, unknown> }> {
    const ctx: Context = { database, clock, actor: 'test' };
    const app = await buildServer(ctx, { healthTimeoutMs });
    try {
      const base = await listen(app);
      const res = await fetch(`${base}/health`);
      const known = (await checkHealth(ctx, healthTimeoutMs ?? 5000)) as unknown as Record<string, unknown>;
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, known };
    } finally {
      await app.close();
      for (const s of sockets) s.destroy();
      await database.close();
    }
  }

  it('answers 503 with the reason when connections are refused', async () => {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    const { status, body, known } = await health(unreachableDatabase(1));
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'unavailable' });
    expect(known).toEqual({ status: 'unavailable', database: 'postgres', version: VERSION, reason: expect.stringMatching(/ECONNREFUSED/) });
  });

  it('answers 503 within the time limit when the database does not answer', async () => {
    const started = Date.now();
    const { status, body, known } = await health(unreachableDatabase((silent.address() as AddressInfo).port), 300);
    expect(status).toBe(503);
    expect(body).toEqual({ status: 'unavailable' });
    expect(known.reason).toBe('database did not answer within 300 ms');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

