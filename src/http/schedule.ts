// /api/schedule: what the server's scheduler owes each settings entry, as `arrears schedule status` shows.
import type { FastifyInstance } from 'fastify';
import { formatRunTime } from '../domain/schedule.ts';
import type { Context } from '../services/context.ts';
import { Scheduler } from '../services/scheduler.ts';

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
      return { runTime: formatRunTime(scheduler.runTime), items: jobs, total: jobs.length };
    },
  );
}
