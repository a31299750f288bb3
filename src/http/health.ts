// GET /health: is the service up and does its database answer? For monitoring and for
// load balancers: 200 or 503, no sign-in needed. Anyone gets only the status; a signed-in
// caller (session or API token) also gets the database kind, the version, a few counts, how
// many things need attention of what their role may see, and, on 503, the reason: the outside
// world learns nothing about the installation.
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { FastifyInstance } from 'fastify';
import type { Context, Executor } from '../services/context.ts';
import type { ServerOptions } from './server.ts';
import { describeConnectionError } from '../db/unavailable.ts';
import { projectPath } from '../root.ts';
import { needsAttention, SCREEN_PERMISSION, type AttentionLevel } from '../services/attention.ts';

/** The version in package.json, read once. */
export const VERSION: string = (JSON.parse(readFileSync(projectPath('package.json'), 'utf8')) as { version: string }).version;

export const DEFAULT_HEALTH_TIMEOUT_MS = 5000;

export interface HealthCounts {
  libraries: number;
  patrons: number;
  charges: number;
  openReferrals: number;
}

export type Health =
  | { status: 'ok'; database: string; version: string; counts: HealthCounts }
  | { status: 'unavailable'; database: string; version: string; reason: string };

/** One round trip; exact counts (a count of ten million charges takes well under a second). */
async function healthCounts(db: Executor): Promise<HealthCounts> {
  const r = await sql<HealthCounts>`
    select (select count(*) from libraries) as "libraries",
           (select count(*) from patrons) as "patrons",
           (select count(*) from charges) as "charges",
           (select count(*) from referrals where status = 'open') as "openReferrals"`.execute(db);
  const row = r.rows[0];
  if (!row) throw new Error('the count query returned no row');
  return row;
}

/** The counts, or why the database did not give them within `timeoutMs`. */
export async function checkHealth(ctx: Context, timeoutMs: number): Promise<Health> {
  const base = { database: ctx.database.kind, version: VERSION };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`database did not answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const counts = await Promise.race([healthCounts(ctx.database.db), timeout]);
    return { status: 'ok', ...base, counts };
  } catch (err) {
    return { status: 'unavailable', ...base, reason: describeConnectionError(err) };
  } finally {
    clearTimeout(timer);
  }
}


/** How many items of each level need attention (services/attention.ts), of what the caller may see. */
export type AttentionCounts = Record<AttentionLevel, number>;

async function attentionCounts(ctx: Context, permissions: readonly string[]): Promise<AttentionCounts> {
  const counts: AttentionCounts = { error: 0, warning: 0, notice: 0 };
  for (const i of await needsAttention(ctx)) if (permissions.includes(SCREEN_PERMISSION[i.screen])) counts[i.level]++;
  return counts;
}

export function registerHealthRoutes(app: FastifyInstance, ctx: Context, options: ServerOptions): void {
  const timeoutMs = options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS;
  app.get('/health', { config: { permission: 'optional' } }, async (request, reply) => {
    const health = await checkHealth(ctx, timeoutMs);
    if (!request.user) return reply.status(health.status === 'ok' ? 200 : 503).send({ status: health.status });
    // A monitor with an API token also learns what needs attention; the service itself is up either way.
    const attention = health.status === 'ok' ? await attentionCounts(ctx, request.user.permissions).catch(() => null) : null;
    return reply.status(health.status === 'ok' ? 200 : 503).send(attention ? { ...health, attention } : health);
  });
}
