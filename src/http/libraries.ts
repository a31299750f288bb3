// /api/libraries: every library with its name and time zone (imported as `arrears import libraries`).
import type { FastifyInstance } from 'fastify';
import type { Context } from '../services/context.ts';
import { listLibraries } from '../services/libraries.ts';
import { all } from './schemas.ts';

export function registerLibraryRoutes(app: FastifyInstance, ctx: Context): void {
  app.get(
    '/api/libraries',
    { config: { permission: 'ledger.view' }, schema: { tags: ['libraries'], summary: 'Every library: code, name, IANA time zone and how many patrons call it home' } },
    async () => all(await listLibraries(ctx.database.db)),
  );
}
