// /api/runs and /api/explain: dry runs and runs for a report date, past runs, and why a
// patron would or would not be submitted. The reply of a run is the same object
// `arrears run --json` prints.
import type { FastifyInstance } from 'fastify';
import type { Context } from '../services/context.ts';
import { explainPatron, referralContext } from '../services/eligibility.ts';
import { getRun, listRuns, type RunRow } from '../services/run-history.ts';
import { RUN_PHASES, runReport, type RunPart } from '../services/runs.ts';
import { loadEntries } from '../services/settings.ts';
import { actingContext } from './auth.ts';
import { progressId, trackProgress } from './progress.ts';
import { calendarDate, dateString, idParams, pageProperties, type PageQuery } from './schemas.ts';

function runJson(r: RunRow) {
  return { ...r, startedAt: r.startedAt.toISOString(), finishedAt: r.finishedAt?.toISOString() ?? null };
}

export function registerRunRoutes(app: FastifyInstance, ctx: Context): void {
  const tags = ['runs'];

  app.post<{ Body: { reportDate: string; dryRun?: boolean; parts?: RunPart[]; entryIds?: number[]; writeBack?: boolean }; Querystring: { progress?: string } }>(
    '/api/runs',
    {
      config: { permission: 'runs.run' },
      schema: {
        tags,
        summary: 'Run (or dry-run) the settings table for a report date: New Submissions, updates, removals, cancellations',
        description:
          'A report date that already ran for an entry is skipped for it (alreadyRun / skipped say so). A dry run computes everything and writes nothing. With ?progress={id}, GET /api/progress/{id} streams its phases.',
        querystring: { type: 'object', additionalProperties: false, properties: { progress: progressId } },
        body: {
          type: 'object',
          required: ['reportDate'],
          additionalProperties: false,
          properties: {
            reportDate: dateString,
            dryRun: { type: 'boolean', default: false },
            parts: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: ['new', 'update'] } },
            entryIds: { type: 'array', minItems: 1, maxItems: 500, items: { type: 'integer', minimum: 1, maximum: 2_147_483_647 } },
            writeBack: { type: 'boolean', default: true, description: 'apply the ILS write-backs the run queued once it commits (false leaves them queued)' },
          },
        },
      },
    },
    async (request) => {
      const b = request.body;
      const reportDate = calendarDate(b.reportDate, 'reportDate');
      return trackProgress(app, request, request.query.progress, 'run', (tracker) =>
        runReport(actingContext(ctx, request), {
          reportDate,
          dryRun: b.dryRun,
          parts: b.parts,
          entryIds: b.entryIds,
          trigger: 'api',
          writeBack: b.writeBack,
          onPhase: tracker && ((phase) => tracker.update({ phase, unit: 'steps', done: RUN_PHASES.indexOf(phase), total: RUN_PHASES.length })),
        }),
      );
    },
  );

  app.get<{ Querystring: PageQuery & { reportDate?: string; entry?: number } }>(
    '/api/runs',
    {
      config: { permission: 'ledger.view' },
      schema: {
        tags,
        summary: 'Past runs, newest first, with their summaries; entry= those that ran one settings entry (by id)',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { reportDate: dateString, entry: { type: 'integer', minimum: 1, maximum: 2_147_483_647 }, ...pageProperties },
        },
      },
    },
    async (request) => {
      const q = request.query;
      const page = await listRuns(ctx.database.db, {
        reportDate: q.reportDate === undefined ? undefined : calendarDate(q.reportDate, 'reportDate'),
        entryId: q.entry,
        limit: q.limit,
        offset: q.offset,
      });
      return { items: page.items.map(runJson), total: page.total };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/api/runs/:id',
    { config: { permission: 'ledger.view' }, schema: { tags, summary: 'One run with its summary and files', params: idParams } },
    async (request) => {
      const run = await getRun(ctx.database.db, request.params.id);
      return { ...runJson(run), fileList: run.fileList };
    },
  );

  app.get<{ Params: { patronId: string }; Querystring: { date: string } }>(
    '/api/explain/:patronId',
    {
      config: { permission: 'runs.run' },
      schema: {
        tags,
        summary: 'Which settings entry applies to a patron on a report date and every condition, measured and judged (amounts in cents)',
        description:
          'referral: the referral a run for that date made (or the one open now), with its New Submissions file and whether it is held for review; null when there is none. A patron that run referred fails "not already in collections" only because of it.',
        params: { type: 'object', required: ['patronId'], additionalProperties: false, properties: { patronId: { type: 'string', minLength: 1, maxLength: 100 } } },
        querystring: { type: 'object', required: ['date'], additionalProperties: false, properties: { date: dateString } },
      },
    },
    async (request) => {
      const db = ctx.database.db;
      const date = calendarDate(request.query.date, 'date');
      const x = await explainPatron(db, await loadEntries(db), request.params.patronId, date);
      return { ...x.evaluation, sql: { ...x.sql, agrees: x.agrees }, referral: await referralContext(db, request.params.patronId, date) };
    },
  );
}
