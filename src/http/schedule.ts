// /api/schedule: what the server's scheduler owes each settings entry, as `arrears schedule status` shows.
import type { FastifyInstance } from 'fastify';
import { formatRunTime } from '../domain/schedule.ts';
import type { Context } from '../services/context.ts';
import { lastHeartbeat, Scheduler } from '../services/scheduler.ts';

export function registerScheduleRoutes(app: FastifyInstance, ctx: Context): void {
  app.get(
    '/api/schedule',
    {
      config: { permission: 'parameters.view' },
      schema: { tags: ['schedule'], summary: "Each entry's New Submission and Update jobs: zone, last date done, dates due, next due date and time" },
    },
    async () => {
      const scheduler = new Scheduler(ctx);
      const jobs = await scheduler.nextDue();
      // The server whose loop passed last (this one, or another sharing the database).
      const beat = await lastHeartbeat(ctx.database.db);
      const server = beat && { host: beat.host, pid: beat.pid, lastPass: beat.beatAt.toISOString(), runTime: formatRunTime(beat.runTime) };
      return { runTime: formatRunTime(scheduler.runTime), server, items: jobs, total: jobs.length };
    },
  );
}
