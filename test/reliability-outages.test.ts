// Outages. The agency's SFTP, S3 and SMTP servers refuse connections or accept and never
// answer: each attempt fails within the configured timeouts, is recorded, and the file stays
// queued; when the server is back the next pass delivers it once, byte for byte (both
// databases). PostgreSQL stops, starts and restarts under the running server and its
// background loop (a private server this file owns): requests get 503 while it is down, the
// pool reconnects without restarting Arrears, and a scheduled run due during the outage
// happens exactly once afterwards.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../src/db/connection.ts';
import { parseRunTime } from '../src/domain/schedule.ts';
import { buildServer } from '../src/http/server.ts';
import { addAgency, editAgency, type AgencyInput } from '../src/services/agencies.ts';
import { startBackgroundJobs, type BackgroundJobs, type BackgroundPass } from '../src/services/background.ts';
import type { Clock, Context } from '../src/services/context.ts';
import { deliverDueFiles, type AttemptResult } from '../src/services/delivery.ts';
import { Scheduler } from '../src/services/scheduler.ts';
import { importSettings } from '../src/services/settings.ts';
import { CONNECT_TIMEOUT_VARIABLE, TRANSFER_TIMEOUT_VARIABLE } from '../src/services/transfer/limits.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { LedgerFactory } from './helpers/ledger-factory.ts';
import { startPrivatePostgres, type PrivatePostgres } from './helpers/pgserver.ts';
import { prepareSshd, sparePort, startS3, startSmtp, type S3, type Smtp, type Sshd } from './helpers/servers.ts';

const CONNECT_MS = 1500;
const TRANSFER_MS = 3000;

/** A listener that accepts connections and never says a word: a hung agency server. */
async function silentServer(): Promise<{ port: number; stop(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('agency servers that refuse or never answer', () => {
  let t: TestDatabase;
  let ctx: Context;
  let now = new Date('2025-03-10T15:00:00.000Z');
  const clock: Clock = { now: () => new Date(now.getTime()) };
  let sshd: Sshd;
  let s3: S3;
  let smtp: Smtp;
  let silent: Awaited<ReturnType<typeof silentServer>>;
  let refusedPort: number;
  const saved = { key: process.env.ARREARS_SECRET_KEY, smtp: process.env.ARREARS_SMTP_URL, connect: process.env[CONNECT_TIMEOUT_VARIABLE], transfer: process.env[TRANSFER_TIMEOUT_VARIABLE] };

  beforeAll(async () => {
    process.env.ARREARS_SECRET_KEY = randomBytes(32).toString('base64');
    process.env[CONNECT_TIMEOUT_VARIABLE] = String(CONNECT_MS);
    process.env[TRANSFER_TIMEOUT_VARIABLE] = String(TRANSFER_MS);
    t = await freshDatabase();
    ctx = { database: t, clock, actor: 'test:outages' };
    sshd = prepareSshd(await sparePort());
    await sshd.start();
    [s3, smtp, silent] = await Promise.all([startS3('outage-drop'), startSmtp(), silentServer()]);
    // Taken and released: nothing listens there (refused), as when the agency's server is down.
    refusedPort = await sparePort();
  });

  afterAll(async () => {
    await Promise.all([sshd?.dispose(), s3?.stop(), smtp?.stop(), silent?.stop()]);
    await t?.dispose();
    const restore = (name: string, value: string | undefined) => (value === undefined ? delete process.env[name] : (process.env[name] = value));
    restore('ARREARS_SECRET_KEY', saved.key);
    restore('ARREARS_SMTP_URL', saved.smtp);
    restore(CONNECT_TIMEOUT_VARIABLE, saved.connect);
    restore(TRANSFER_TIMEOUT_VARIABLE, saved.transfer);
  });

  let seq = 0;
  async function queueFile(agencyId: number): Promise<{ id: number; name: string; bytes: Buffer }> {
    seq += 1;
    const name = `outage${seq}_new_20250310150000.txt`;
    const bytes = Buffer.concat([Buffer.from(`patron_id\tname\towed\r\nP-${seq}\tZoë Ñuñez\t=HYPERLINK("x")\r\n`), randomBytes(64)]);
    const { id } = await t.db
      .insertInto('report_files')
      .values({ agency_id: agencyId, kind: 'new', name, content: bytes, sha256: createHash('sha256').update(bytes).digest('hex'), row_count: 1, status: 'queued', next_attempt_at: clock.now() })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id, name, bytes };
  }

  /** One delivery pass; the attempt at this file, and how long the pass took. */
  async function attempt(fileId: number): Promise<{ result: AttemptResult; ms: number }> {
    const started = performance.now();
    const report = await deliverDueFiles(ctx);
    const ms = performance.now() - started;
    const mine = report.results.filter((r) => r.fileId === fileId);
    expect(mine).toHaveLength(1);
    return { result: mine[0]!, ms };
  }

  type Fault = 'refused' | 'silent';
  const portFor = (fault: Fault) => (fault === 'refused' ? refusedPort : silent.port);

  const transports: {
    method: string;
    /** Agency settings pointing at `port` on loopback. */
    agency: (port: number) => Omit<AgencyInput, 'name'>;
    /** What each fault looks like in the recorded error. */
    error: Record<Fault, RegExp>;
    /** Point the agency (or the relay) at the real server again. */
    recover: (agencyId: number) => Promise<void>;
    /** The bytes the real server holds for the file, and how many copies arrived. */
    received: (name: string) => Promise<{ bytes: Buffer; copies: number }>;
  }[] = [
    {
      method: 'sftp',
      agency: (port) => ({ transferMethod: 'sftp', transferConfig: { host: '127.0.0.1', port, username: sshd.user, remoteFolder: sshd.uploadDir }, secrets: { password: sshd.password } }),
      error: { refused: /ECONNREFUSED/, silent: /Timed out while waiting for handshake/ },
      recover: async (id) => void (await editAgency(ctx, id, { transferConfig: { host: '127.0.0.1', port: sshd.port, username: sshd.user, remoteFolder: sshd.uploadDir } })),
      received: async (name) => ({ bytes: readFileSync(join(sshd.uploadDir, name)), copies: readdirSync(sshd.uploadDir).filter((n) => n.startsWith(name)).length }),
    },
    {
      method: 's3',
      agency: (port) => ({
        transferMethod: 's3',
        transferConfig: { bucket: s3.bucket, prefix: 'in', region: 'us-east-1', endpoint: `http://127.0.0.1:${port}`, accessKeyId: s3.accessKeyId },
        secrets: { secretAccessKey: s3.secretAccessKey },
      }),
      error: { refused: /ECONNREFUSED/, silent: /exceeded the configured 3000 ms requestTimeout/ },
      recover: async (id) => void (await editAgency(ctx, id, { transferConfig: { bucket: s3.bucket, prefix: 'in', region: 'us-east-1', endpoint: s3.endpoint, accessKeyId: s3.accessKeyId } })),
      // A key holds one object: a second PUT would replace it, so copies are counted by the mails and files; S3 shows the bytes.
      received: async (name) => ({ bytes: await s3.read(`in/${name}`), copies: 1 }),
    },
    {
      method: 'email',
      agency: (port) => {
        process.env.ARREARS_SMTP_URL = `smtp://${smtp.user}:${smtp.password}@127.0.0.1:${port}`;
        return { transferMethod: 'email', transferConfig: { to: 'intake@agency.example' } };
      },
      error: { refused: /ECONNREFUSED/, silent: /Greeting never received/ },
      recover: async () => {
        process.env.ARREARS_SMTP_URL = smtp.url;
      },
      received: async (name) => {
        const mails = smtp.received.filter((m) => m.mail.attachments.some((a) => a.filename === name));
        return { bytes: mails[0]?.mail.attachments[0]?.content ?? Buffer.alloc(0), copies: mails.length };
      },
    },
  ];

  for (const transport of transports) {
    for (const fault of ['refused', 'silent'] as const) {
      it(`${transport.method}, server ${fault}: the attempt fails within the timeouts and is recorded; once back, delivered once, byte for byte`, async () => {
        seq += 1;
        const { id: agencyId } = await addAgency(ctx, { name: `${transport.method} ${fault} ${seq}`, ...transport.agency(portFor(fault)) });
        const file = await queueFile(agencyId);

        const failures: AttemptResult[] = [];
        for (let i = 1; i <= 2; i++) {
          const { result, ms } = await attempt(file.id);
          expect(result).toMatchObject({ ok: false, status: 'queued', attempts: i, method: transport.method, remote: '' });
          expect(result.error).toMatch(transport.error[fault]);
          // Bounded: a refused connection fails at once, a silent server after the connect (or transfer) timeout.
          expect(ms).toBeLessThan(fault === 'refused' ? CONNECT_MS : CONNECT_MS + TRANSFER_MS + 2000);
          // The S3 request connects and then waits for an answer: its limit is the transfer timeout.
          if (fault === 'silent') expect(ms).toBeGreaterThanOrEqual((transport.method === 's3' ? TRANSFER_MS : CONNECT_MS) - 50);
          failures.push(result);
          now = new Date(result.nextAttemptAt!.getTime());
        }
        const row = await t.db.selectFrom('report_files').select(['status', 'attempts', 'delivered_at']).where('id', '=', file.id).executeTakeFirstOrThrow();
        expect(row).toEqual({ status: 'queued', attempts: 2, delivered_at: null });

        await transport.recover(agencyId);
        const { result } = await attempt(file.id);
        expect(result).toMatchObject({ ok: true, status: 'delivered', attempts: 3 });
        const got = await transport.received(file.name);
        expect(got.copies).toBe(1);
        expect(got.bytes.equals(file.bytes)).toBe(true);
        const attempts = await t.db.selectFrom('transfer_attempts').select(['ok', 'error']).where('file_id', '=', file.id).orderBy('id').execute();
        expect(attempts).toEqual([...failures.map((f) => ({ ok: false, error: f.error })), { ok: true, error: '' }]);

        // Later passes leave a delivered file alone.
        now = new Date(now.getTime() + 24 * 3600_000);
        expect((await deliverDueFiles(ctx)).results.filter((r) => r.fileId === file.id)).toEqual([]);
        expect((await transport.received(file.name)).copies).toBe(1);
      });
    }
  }

  it('sshd stopped and started again: the queued file goes once it is back, never while it is down', async () => {
    const { id: agencyId } = await addAgency(ctx, { name: `sftp restarted ${++seq}`, ...transports[0]!.agency(sshd.port) });
    const file = await queueFile(agencyId);
    await sshd.stop();
    const { result, ms } = await attempt(file.id);
    expect(result).toMatchObject({ ok: false, status: 'queued', attempts: 1 });
    expect(result.error).toMatch(/ECONNREFUSED/);
    expect(ms).toBeLessThan(CONNECT_MS);
    await sshd.start();
    now = new Date(result.nextAttemptAt!.getTime());
    expect((await attempt(file.id)).result).toMatchObject({ ok: true, attempts: 2 });
    expect(readFileSync(join(sshd.uploadDir, file.name)).equals(file.bytes)).toBe(true);
    expect(readdirSync(sshd.uploadDir).filter((n) => n.startsWith(file.name))).toEqual([file.name]);
  });

  it('a timeout setting that is not a positive whole number fails the attempt with a message, never means "wait forever"', async () => {
    const { id: agencyId } = await addAgency(ctx, { name: `bad timeout ${++seq}`, ...transports[0]!.agency(sshd.port) });
    const file = await queueFile(agencyId);
    process.env[CONNECT_TIMEOUT_VARIABLE] = '0';
    try {
      const { result } = await attempt(file.id);
      expect(result).toMatchObject({ ok: false, status: 'queued', error: `${CONNECT_TIMEOUT_VARIABLE} must be a whole number of milliseconds above 0, got "0"` });
    } finally {
      process.env[CONNECT_TIMEOUT_VARIABLE] = String(CONNECT_MS);
    }
    now = new Date(now.getTime() + 60_000);
    expect((await attempt(file.id)).result).toMatchObject({ ok: true, attempts: 2 });
  });
});

describe.runIf(testDbKind() === 'postgres')('PostgreSQL stops and restarts under the running server', () => {
  let pgs: PrivatePostgres;
  let database: Database;
  let app: FastifyInstance;
  let jobs: BackgroundJobs;
  let base: string;
  let token: string;
  let outbox: string;
  let now = new Date('2025-03-10T06:00:00.000Z'); // 01:00 in Chicago: today's 02:00 run is not due yet
  const clock: Clock = { now: () => new Date(now.getTime()) };
  const passes: BackgroundPass[] = [];
  const waiting: { test: (p: BackgroundPass) => boolean; resolve: (p: BackgroundPass) => void }[] = [];
  const logs: string[] = [];
  const savedKey = process.env.ARREARS_SECRET_KEY;

  /** The next background pass (from now on) that satisfies `test`. */
  function nextPass(test: (p: BackgroundPass) => boolean): Promise<BackgroundPass> {
    return new Promise((resolve) => waiting.push({ test, resolve }));
  }

  async function get(path: string): Promise<{ status: number; body: Record<string, unknown>; retryAfter: string | null }> {
    const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, retryAfter: res.headers.get('retry-after') };
  }

  let factory: LedgerFactory;
  async function owingPatron(): Promise<string> {
    const patron = await factory.patron({ home_library: 'MAIN' });
    await factory.charge({ patron_id: patron.id, amount_cents: 5000, assessed_on: '2025-01-15', library: 'MAIN' });
    return patron.id;
  }

  async function runsOn(date: string): Promise<number> {
    const r = await sql<{ n: number }>`select count(*)::int as n from runs where report_date = ${date} and not dry_run`.execute(database.db);
    return r.rows[0]!.n;
  }

  async function referralsAndFees(patronId: string): Promise<{ referrals: number; fees: number }> {
    const r = await sql<{ referrals: number; fees: number }>`
      select (select count(*)::int from referrals where patron_id = ${patronId}) as referrals,
             (select count(*)::int from charges where patron_id = ${patronId} and reason = 'agency_fee') as fees`.execute(database.db);
    return r.rows[0]!;
  }

  beforeAll(async () => {
    process.env.ARREARS_SECRET_KEY ??= randomBytes(32).toString('base64');
    pgs = await startPrivatePostgres();
    database = await openDatabase({ url: pgs.url });
    const ctx: Context = { database, clock, actor: 'test:outages' };
    factory = new LedgerFactory(database.db, 'o_');
    await factory.library({ code: 'MAIN', time_zone: 'America/Chicago' });
    outbox = mkdtempSync(join(tmpdir(), 'arrears-outage-outbox-'));
    await addAgency(ctx, { name: 'UMS', transferMethod: 'folder', transferConfig: { path: outbox } });
    await importSettings(ctx, [{ name: 'Nightly', minimumOwed: '25.00', agencyFee: '10.00', agency: 'UMS', autoNewSubmission: true, autoUpdateDays: '' }]);
    await addUser(ctx, { username: 'monitor', roles: ['admin'] });
    token = (await createToken(ctx, 'monitor', 'outage test')).token;

    app = await buildServer(ctx);
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    jobs = startBackgroundJobs(ctx, {
      intervalMs: 50,
      scheduler: new Scheduler(ctx, { runTime: parseRunTime('02:00')! }),
      log: (line) => logs.push(line),
      onPass: (p) => {
        passes.push(p);
        for (const w of [...waiting]) {
          if (!w.test(p)) continue;
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(p);
        }
      },
    });
    // The first pass meets the schedule: the job starts from yesterday, nothing is due yet.
    const first = await nextPass(() => true);
    expect(first).toMatchObject({ errors: [], tick: { busy: false, ran: [], failed: [] } });
  });

  afterAll(async () => {
    await jobs?.stop();
    await app?.close();
    await database?.close();
    await pgs?.dispose();
    rmSync(outbox, { recursive: true, force: true });
    if (savedKey === undefined) delete process.env.ARREARS_SECRET_KEY;
    else process.env.ARREARS_SECRET_KEY = savedKey;
  });

  it('a transaction in progress when the server restarts fails cleanly; the process lives on and the pool reconnects', async () => {
    const err = await database.db
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        // The client is checked out and idle between two queries when its session is terminated.
        await pgs.restart();
        await sql`select 1`.execute(trx);
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toMatch(/terminat|not queryable|ECONNRESET/i);
    expect((await sql<{ ok: number }>`select 1 as ok`.execute(database.db)).rows).toEqual([{ ok: 1 }]);
  });

  it('while PostgreSQL is down: /health and the API answer 503, the scheduler logs and retries; back up, the run due meanwhile happens exactly once', async () => {
    const patronA = await owingPatron();
    expect((await get('/health')).status).toBe(200);
    expect((await get(`/api/patrons/${patronA}`)).status).toBe(200);

    await pgs.stop();
    // Nobody can be signed in while the database is down: /health says only that.
    const health = await get('/health');
    expect(health.status).toBe(503);
    expect(health.body).toEqual({ status: 'unavailable' });
    const api = await get(`/api/patrons/${patronA}`);
    expect(api.status).toBe(503);
    expect(api.retryAfter).toBe('5');
    expect(api.body).toEqual({ error: { code: 'unavailable', message: expect.stringMatching(/^the database is not available right now \(.*ECONNREFUSED.*\); try again shortly$/) } });

    // 03:00 in Chicago: the 2025-03-10 run is due while the database is down.
    now = new Date('2025-03-10T08:00:00.000Z');
    const failed = await nextPass((p) => p.errors.length > 0);
    expect(failed.tick).toBeNull();
    expect(failed.errors.join('\n')).toMatch(/^scheduler tick: .*ECONNREFUSED/);
    expect(logs.some((l) => /^\[background\] scheduler tick: .*; trying again in 50 ms$/.test(l))).toBe(true);

    const ran = nextPass((p) => p.tick?.ran.some((r) => r.reportDate === '2025-03-10') ?? false);
    await pgs.start();
    const pass = await ran;
    expect(pass.tick!.ran).toEqual([{ entryId: expect.any(Number), job: 'new', reportDate: '2025-03-10', runId: expect.any(Number), alreadyRun: false }]);
    expect(pass.delivery?.delivered).toBe(1);
    expect((await get('/health')).status).toBe(200);
    const patron = await get(`/api/patrons/${patronA}`);
    expect(patron.status).toBe(200);

    // A few more passes change nothing: one run, one referral, one fee, one file.
    for (let i = 0; i < 3; i++) expect((await nextPass(() => true)).tick?.ran).toEqual([]);
    expect(await runsOn('2025-03-10')).toBe(1);
    expect(await referralsAndFees(patronA)).toEqual({ referrals: 1, fees: 1 });
    expect(readdirSync(outbox)).toHaveLength(1);
  });

  it('a restart while the next run is due: the run completes once, the server never restarts', async () => {
    const patronB = await owingPatron();
    const ran = nextPass((p) => p.tick?.ran.some((r) => r.reportDate === '2025-03-11') ?? false);
    now = new Date('2025-03-11T08:00:00.000Z');
    // Restart at once: the pass now due may be holding the schedule lock, or mid-run.
    await pgs.restart();
    const pass = await ran;
    expect(pass.tick!.ran.filter((r) => r.reportDate === '2025-03-11')).toHaveLength(1);
    for (let i = 0; i < 3; i++) await nextPass(() => true);
    expect(await runsOn('2025-03-11')).toBe(1);
    expect(await referralsAndFees(patronB)).toEqual({ referrals: 1, fees: 1 });
    expect(await referralsAndFees((await database.db.selectFrom('referrals').select('patron_id').orderBy('id').executeTakeFirstOrThrow()).patron_id)).toEqual({ referrals: 1, fees: 1 });
    const files = await database.db.selectFrom('report_files').select(['status']).execute();
    expect(files.map((f) => f.status)).toEqual(['delivered', 'delivered']);
    expect(readdirSync(outbox)).toHaveLength(2);
    expect((await get('/health')).status).toBe(200);
  });
});
