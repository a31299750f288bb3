// Property-based requests against the real server (buildServer, inject): for every /api route,
// random JSON bodies, query strings, path parameters, content types and huge strings, both
// blind and shaped by the route's own schema from the OpenAPI document. A request is either
// accepted or refused with a 4xx in the `{ error: { code, message, problems? } }` shape; never
// a 5xx; and a refused request writes nothing (every table's row count and the audit log).
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoutes } from '../src/http/auth.ts';
import { buildServer } from '../src/http/server.ts';
import type { Context } from '../src/services/context.ts';
import { addUser, createToken } from '../src/services/users.ts';
import { freshDatabase, testDbKind, type TestDatabase } from './helpers/db.ts';
import { Scenario } from './helpers/scenario.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

let t: TestDatabase;
let app: FastifyInstance;
let ctx: Context;
let auth: Record<string, string>;
let fuzzer = { userId: 0, tokenId: 0 };
let tables: string[] = [];
type Route = { method: string; url: string; body: string[]; query: string[] };
let routes: Route[] = [];
const stats = { cases: 0, accepted: 0, refused: 0, routes: new Set<string>(), slowest: { ms: 0, route: '' } };
useTestSecretKey();

beforeAll(async () => {
  t = await freshDatabase();
  const s = new Scenario(t);
  ctx = s.context('2025-06-02T12:00:00Z');
  await s.libraries({ code: 'MAIN' });
  await s.agency('UMS');
  await s.patrons({ id: 'P1' }, { id: 'P2' });
  await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '40.00', assessed_at: '2025-05-01T10:00:00' });
  await s.settings({ agencyFee: '10.00' });
  await s.run('2025-06-02');
  // A bearer token: no session a fuzzed POST /api/logout could end.
  await addUser(ctx, { username: 'fuzzer', password: null, roles: ['admin'] });
  const created = await createToken(ctx, 'fuzzer', 'fuzz');
  auth = { authorization: `Bearer ${created.token}` };
  fuzzer = { userId: (await t.db.selectFrom('users').select('id').where('username', '=', 'fuzzer').executeTakeFirstOrThrow()).id, tokenId: created.id };
  app = await buildServer(ctx);
  await app.ready();

  const doc = app.swagger() as { paths: Record<string, Record<string, { parameters?: { in: string; name: string }[]; requestBody?: { content: Record<string, { schema?: { properties?: Record<string, unknown>; items?: { properties?: Record<string, unknown> } } }> } }>> };
  routes = apiRoutes(app).map((r) => {
    const op = doc.paths[r.url.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
    const schema = op?.requestBody?.content['application/json']?.schema;
    return {
      method: r.method,
      url: r.url,
      body: Object.keys(schema?.properties ?? schema?.items?.properties ?? {}),
      query: (op?.parameters ?? []).filter((p) => p.in === 'query').map((p) => p.name),
    };
  });
  tables = (await sql<{ tablename: string }>`select tablename from pg_tables where schemaname = current_schema() order by tablename`.execute(t.db)).rows.map((r) => r.tablename);
});

afterAll(async () => {
  await app?.close();
  await t?.dispose();
  console.log(`fuzz-api (${testDbKind()}): ${stats.cases} requests over ${stats.routes.size} routes; ${stats.refused} refused with 4xx, ${stats.accepted} accepted; slowest ${stats.slowest.route} ${stats.slowest.ms} ms`);
});

/**
 * Row counts of every table (sessions and tokens included) and the newest audit row. A refused
 * sign-in is audited by design (user.login_failed and the limits it sets off): those rows aside.
 */
async function snapshot(): Promise<Record<string, number>> {
  const counts = sql.join(tables.filter((name) => name !== 'audit_log').map((name) => sql`(select count(*)::int from ${sql.table(name)}) as ${sql.ref(name)}`));
  const r = await sql<Record<string, number>>`select ${counts},
    (select count(*)::int from audit_log where action not like 'user.login\_%') as audit_log,
    (select coalesce(max(id), 0)::int from audit_log where action not like 'user.login\_%') as audit_max`.execute(t.db);
  return r.rows[0]!;
}

const hugeString = fc.integer({ min: 100_000, max: 2_000_000 }).map((n) => 'x'.repeat(n));
const nastyString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom('', ' ', '\u0000', 'a\u0000b', '\uD800', '%', '%00', '../../etc/passwd', '=HYPERLINK("http://x","y")', '2025-02-30', '9'.repeat(30), '-1', '0', '1e309', 'NaN', 'null', 'true', '[]', '{}', 'UMS', 'P1', 'admin', 'MAIN'),
);
const nastyNumber = fc.oneof(fc.integer(), fc.double(), fc.constantFrom(0, -1, 2 ** 31, 2 ** 53, -(2 ** 63), 1e308, 0.1));
const nastyValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    nastyString,
    nastyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(nastyString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** A path parameter: ids that exist, ids that do not, numbers past int4 and int8, junk. */
const param = fc.oneof(fc.constantFrom('1', '2', 'P1', 'UMS', 'fuzzer', '0', '-1', '2147483648', '99999999999999999999', '1.5', 'admin', '%20', 'returns'), fc.string({ minLength: 1, maxLength: 20 }));

interface Case {
  route: Route;
  params: string[];
  query: [string, unknown][];
  body: unknown;
  /** How the body is sent. */
  as: 'json' | 'text' | 'form' | 'multipart' | 'none';
}

/** Percent-encodes every byte of the UTF-8 form (a lone surrogate becomes U+FFFD, as a browser sends it). */
function encode(text: string): string {
  return [...Buffer.from(text, 'utf8')].map((b) => (/[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0')}`)).join('');
}

function request(c: Case) {
  let i = 0;
  const text = typeof c.body === 'string' ? c.body : (JSON.stringify(c.body) ?? '');
  const url = c.route.url.replace(/:(\w+)/g, () => encode(c.params[i++] ?? 'x'));
  const qs = c.query.map(([k, v]) => `${encode(k)}=${encode(typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))}`).join('&');
  const headers: Record<string, string> = { ...auth };
  let payload: string | undefined;
  if (c.as === 'json') {
    headers['content-type'] = 'application/json';
    payload = JSON.stringify(c.body) ?? 'null';
  } else if (c.as === 'text') {
    headers['content-type'] = 'text/plain';
    payload = text;
  } else if (c.as === 'form') {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = `a=${encode(text)}`;
  } else if (c.as === 'multipart') {
    headers['content-type'] = 'multipart/form-data; boundary=zzz';
    payload = `--zzz\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n${text}\r\n--zzz--\r\n`;
  }
  return app.inject({ method: c.route.method as 'GET', url: qs ? `${url}?${qs}` : url, headers, payload });
}

async function check(c: Case): Promise<void> {
  stats.cases++;
  stats.routes.add(`${c.route.method} ${c.route.url}`);
  const before = await snapshot();
  const started = Date.now();
  const res = await request(c);
  if (Date.now() - started > stats.slowest.ms) stats.slowest = { ms: Date.now() - started, route: `${c.route.method} ${c.route.url}` };
  const where = `${c.route.method} ${c.route.url} ${JSON.stringify({ ...c, route: undefined }).slice(0, 300)} → ${res.statusCode} ${res.body.slice(0, 300)}`;
  expect(res.statusCode, where).toBeLessThan(500);
  // The caller stays a signed-in admin throughout, so every case reaches the route itself;
  // only sign-in answers 401 of its own accord (a well-formed body with wrong credentials).
  const signInRefusal = c.route.url === '/api/login' && res.statusCode === 401;
  if (!signInRefusal) expect([401, 403], where).not.toContain(res.statusCode);
  if (res.statusCode < 400) {
    stats.accepted++;
    await keepFuzzerAdmin();
    return;
  }
  stats.refused++;
  const body = res.json() as { error?: { code?: unknown; message?: unknown; problems?: unknown } };
  expect(Object.keys(body), where).toEqual(['error']);
  expect(typeof body.error?.code, where).toBe('string');
  expect(typeof body.error?.message, where).toBe('string');
  if (body.error?.problems !== undefined) {
    expect(Array.isArray(body.error.problems), where).toBe(true);
    for (const p of body.error.problems as { reason?: unknown }[]) expect(typeof p.reason, where).toBe('string');
  }
  expect(await snapshot(), `${where}: a refused request wrote`).toEqual(before);
}

/** An accepted request may have revoked the fuzzer's token, deactivated it or changed its roles: undo that. */
async function keepFuzzerAdmin(): Promise<void> {
  await t.db.updateTable('api_tokens').set({ revoked_at: null }).where('id', '=', fuzzer.tokenId).execute();
  await t.db.updateTable('users').set({ active: true }).where('id', '=', fuzzer.userId).execute();
  await t.db.deleteFrom('user_roles').where('user_id', '=', fuzzer.userId).execute();
  await t.db.insertInto('user_roles').values({ user_id: fuzzer.userId, role: 'admin' }).execute();
}

const routeArb = () => fc.constantFrom(...routes);
const asArb = fc.constantFrom<Case['as']>('json', 'json', 'json', 'text', 'form', 'multipart', 'none');

describe('fuzzing every /api route', () => {
  it('lists the routes from the server itself', () => {
    expect(routes.length).toBeGreaterThan(50);
    expect(routes.filter((r) => r.body.length > 0 || r.query.length > 0).length).toBeGreaterThan(25);
  });

  it('blind: random bodies, query strings, parameters and content types', async () => {
    await fc.assert(
      fc.asyncProperty(
        routeArb(),
        fc.array(param, { minLength: 2, maxLength: 2 }),
        fc.array(fc.tuple(nastyString, nastyValue), { maxLength: 3 }),
        fc.oneof(nastyValue, hugeString),
        asArb,
        async (route, params, query, body, as) => check({ route, params, query, body, as }),
      ),
      { numRuns: 400 },
    );
  }, 600_000);

  it('shaped: the route’s own body and query fields with hostile values', async () => {
    const shaped = routeArb().chain((route) =>
      fc.record({
        route: fc.constant(route),
        params: fc.array(param, { minLength: 2, maxLength: 2 }),
        query: route.query.length ? fc.array(fc.tuple(fc.constantFrom(...route.query), fc.oneof(nastyString, nastyNumber.map(String))), { maxLength: 3 }) : fc.constant([] as [string, unknown][]),
        body: route.body.length
          ? fc.oneof(fc.dictionary(fc.constantFrom(...route.body), nastyValue, { maxKeys: route.body.length }), fc.array(fc.dictionary(fc.constantFrom(...route.body), nastyValue), { maxLength: 2 }))
          : nastyValue,
        as: fc.constant<Case['as']>('json'),
      }),
    );
    await fc.assert(
      fc.asyncProperty(shaped, async (c) => check(c)),
      { numRuns: 600 },
    );
  }, 600_000);
});

describe('what the fuzzer found, kept as plain cases', () => {
  const call = (method: 'GET' | 'POST' | 'DELETE' | 'PATCH', url: string, payload?: unknown) => app.inject({ method, url, headers: auth, payload: payload as object });

  it('an id past the 32-bit serial of API tokens is a 400 naming the field, not a 500', async () => {
    const res = await call('DELETE', '/api/tokens/2147483648');
    expect(res.statusCode).toBe(400);
    expect(res.json().error.problems).toEqual([{ field: 'id', reason: 'must be <= 2147483647' }]);
  });

  it('values PostgreSQL cannot store (NUL in text, numbers past int4 and int8) are 400s that write nothing', async () => {
    const before = await snapshot();
    for (const [method, url, payload] of [
      ['POST', '/api/agencies', { name: 'Nul\u0000Agency' }],
      ['POST', '/api/exclusions', { patronId: 'P1', reason: 'nul\u0000reason' }],
      ['GET', '/api/settings/99999999999'],
      ['GET', '/api/users/99999999999'],
      ['GET', '/api/recordsets/99999999999999999999'],
      ['GET', '/api/referrals?run=99999999999999999999'],
    ] as const) {
      const res = await call(method, url, payload);
      expect([400, 404], `${method} ${url}: ${res.statusCode} ${res.body}`).toContain(res.statusCode);
      expect(res.json().error.code).toMatch(/^(validation|not_found)$/);
    }
    expect(await snapshot()).toEqual(before);
  });
});
