// Past runs as staff browse them: the runs table with each run's summary and files. Dry runs
// are never here (they roll back); what they found is only in the reply to the dry run.
import { NotFoundError } from '../domain/errors.ts';
import type { Executor } from './context.ts';
import { listFiles, type FileSummary } from './reports.ts';

export interface RunRow {
  id: number;
  reportDate: string;
  trigger: string;
  actor: string;
  startedAt: Date;
  finishedAt: Date | null;
  /** What runReport stored: counts of new submissions, updates, removals, cancellations, and the entries run. */
  summary: unknown;
  files: number;
}

export interface RunDetails extends RunRow {
  fileList: FileSummary[];
}

function runsQuery(db: Executor) {
  return db
    .selectFrom('runs as r')
    .select(['r.id', 'r.report_date', 'r.trigger', 'r.actor', 'r.started_at', 'r.finished_at', 'r.summary'])
    .select((eb) => eb.selectFrom('report_files as f').whereRef('f.run_id', '=', 'r.id').select(eb.fn.countAll<number>().as('n')).as('files'));
}

function toRow(r: Awaited<ReturnType<ReturnType<typeof runsQuery>['executeTakeFirstOrThrow']>>): RunRow {
  return {
    id: r.id,
    reportDate: r.report_date,
    trigger: r.trigger,
    actor: r.actor,
    startedAt: new Date(r.started_at),
    finishedAt: r.finished_at,
    summary: r.summary,
    files: Number(r.files ?? 0),
  };
}

/** Runs, newest first; optionally those of one report date, or those that ran one settings entry. */
export async function listRuns(db: Executor, filter: { reportDate?: string; entryId?: number; limit?: number; offset?: number } = {}): Promise<{ items: RunRow[]; total: number }> {
  let q = runsQuery(db);
  let count = db.selectFrom('runs').select((eb) => eb.fn.countAll<number>().as('n'));
  if (filter.reportDate !== undefined) {
    q = q.where('r.report_date', '=', filter.reportDate);
    count = count.where('report_date', '=', filter.reportDate);
  }
  if (filter.entryId !== undefined) {
    const entryId = filter.entryId;
    q = q.where((eb) => eb.exists(eb.selectFrom('run_entries as x').whereRef('x.run_id', '=', 'r.id').where('x.entry_id', '=', entryId)));
    count = count.where((eb) => eb.exists(eb.selectFrom('run_entries as x').whereRef('x.run_id', '=', 'runs.id').where('x.entry_id', '=', entryId)));
  }
  const rows = await q
    .orderBy('r.id', 'desc')
    .limit(filter.limit ?? 50)
    .offset(filter.offset ?? 0)
    .execute();
  return { items: rows.map(toRow), total: Number((await count.executeTakeFirstOrThrow()).n) };
}

export async function getRun(db: Executor, id: number): Promise<RunDetails> {
  const row = await runsQuery(db).where('r.id', '=', id).executeTakeFirst();
  if (!row) throw new NotFoundError(`run ${id}`);
  return { ...toRow(row), fileList: await listFiles(db, { runId: id }) };
}
