// What needs someone now, in one list: a connector whose sync failed or whose data is too old
// for a run, write-backs the ILS refused or could not take for a while, report files whose
// delivery keeps failing, New Submissions files held for review, scheduled runs that are
// late, and a server that stopped passing while runs are scheduled. The dashboard shows it to
// staff, `arrears status` to the system administrator (and to cron or a monitoring check by its
// exit code). Each item says what to do and where.
import { sql } from 'kysely';
import type { Permission } from '../domain/permissions.ts';
import { dueAt, formatRunTime } from '../domain/schedule.ts';
import type { Context } from './context.ts';
import { lastHeartbeat, Scheduler, serverRunTime } from './scheduler.ts';
import { staleConnectors } from './sync.ts';

/** error: something fails or is held back; warning: late, and may fix itself; notice: staff work waiting. */
export type AttentionLevel = 'error' | 'warning' | 'notice';

/** What kind of thing it is, for scripts and for telling an item apart from others about the same subject. */
export type AttentionKind = 'never-synced' | 'sync-failed' | 'blocks-gone' | 'writes-refused' | 'writes-waiting' | 'delivery-failing' | 'held' | 'late-run' | 'server-stopped';

export interface AttentionItem {
  /**
   * The same thing from one look to the next, made of ids, not of the text (counts and ages
   * change): a mail is sent for a key once (services/alerts.ts).
   */
  key: string;
  kind: AttentionKind;
  level: AttentionLevel;
  /** The screen of the staff app that shows it and where it is fixed. */
  screen: 'connectors' | 'files' | 'review' | 'schedule';
  /** What it is about: a connector, a file, a settings entry. */
  subject: string;
  message: string;
  /** Since when: the failed sync, the oldest waiting write, the file's first attempt, the due time. */
  since: Date | null;
}

/** Which permission each screen needs: items are shown only to who may open the screen. */
export const SCREEN_PERMISSION: Record<AttentionItem['screen'], Permission> = { connectors: 'parameters.view', files: 'ledger.view', review: 'ledger.view', schedule: 'parameters.view' };

/** A write-back never tried this long after it was queued (write-back left off) is waiting too long. */
export const WRITES_WAITING_AFTER_MS = 30 * 60_000;
/** A scheduled run not done this long after its due time is late (the scheduler ticks every minute). */
export const SCHEDULE_LATE_AFTER_MS = 60 * 60_000;
/** The server's loop passes every minute and says so first: this long without a word, it has stopped (a long catch-up pass included). */
export const SERVER_STOPPED_AFTER_MS = 30 * 60_000;

const JOB_LABEL = { new: 'New Submissions', update: 'Update' } as const;
/** Patrons named in a blocks-gone item before the rest are counted. */
const BLOCKS_NAMED = 5;
const LEVEL_ORDER: Record<AttentionLevel, number> = { error: 0, warning: 1, notice: 2 };

export async function needsAttention(ctx: Context): Promise<AttentionItem[]> {
  const now = ctx.clock.now();
  const items = [...(await connectorItems(ctx, now)), ...(await fileItems(ctx)), ...(await scheduleItems(ctx, now))];
  return items.sort((a, b) => LEVEL_ORDER[a.level] - LEVEL_ORDER[b.level] || (a.since?.getTime() ?? 0) - (b.since?.getTime() ?? 0) || a.subject.localeCompare(b.subject));
}

async function connectorItems(ctx: Context, now: Date): Promise<AttentionItem[]> {
  const { db } = ctx.database;
  const items: AttentionItem[] = [];
  const connectors = await db.selectFrom('connectors').select(['id', 'name', 'last_sync']).orderBy('name').execute();
  if (connectors.length === 0) return items;
  // Data older than the limit is normal between runs (a run syncs first); it matters when a
  // sync fails, so it is said with the failure. Failing or never synced: one key, the same item.
  const stale = new Map((await staleConnectors(db, now)).map((s) => [s.connector, s]));
  for (const c of connectors) {
    const last = c.last_sync as { ok?: boolean; error?: string; at?: string; finishedAt?: string; blocksGone?: string[] } | null;
    const s = stale.get(c.name);
    const key = `connector:${c.id}:sync`;
    if (last?.ok === false) {
      const why = s ? s.reason.replace(`connector "${c.name}": `, '') : `the last sync failed and changed nothing: ${last.error ?? 'no reason given'}`;
      items.push({ key, kind: 'sync-failed', level: 'error', screen: 'connectors', subject: `connector ${c.name}`, message: why, since: last.at ? new Date(last.at) : null });
    } else if (!last) {
      items.push({ key, kind: 'never-synced', level: 'error', screen: 'connectors', subject: `connector ${c.name}`, message: 'it has never synced; runs of its libraries wait for a first sync', since: null });
    }
    const gone = last?.ok ? (last.blocksGone ?? []) : [];
    if (gone.length) {
      const who = `${gone.slice(0, BLOCKS_NAMED).join(', ')}${gone.length > BLOCKS_NAMED ? ` and ${gone.length - BLOCKS_NAMED} more` : ''}`;
      items.push({
        key: `connector:${c.id}:blocks-gone`,
        kind: 'blocks-gone',
        level: 'warning',
        screen: 'connectors',
        subject: `connector ${c.name}`,
        message: `the collections block Arrears placed is no longer in force in the ILS for ${gone.length === 1 ? '1 patron' : `${gone.length} patrons`} whose referral is open (${who}): lifted by staff, or by the ILS itself (Koha can lift a restriction type after a payment); place it again in the ILS, or close the referral in Arrears`,
        since: last?.finishedAt ? new Date(last.finishedAt) : null,
      });
    }
  }
  // Waiting long is judged by the database's clock, which stamped created_at.
  const writes = await sql<{ id: number; name: string; status: 'pending' | 'failed'; n: number; oldest: Date; tried: boolean; overdue: boolean; last_error: string | null }>`
    select c.id, c.name, case when w.status = 'failed' then 'failed' else 'pending' end as status, count(*)::int as n, min(w.created_at) as oldest,
           bool_or(w.attempts > 0) as tried, bool_or(now() - w.created_at >= ${`${WRITES_WAITING_AFTER_MS / 1000} seconds`}::interval) as overdue,
           (array_agg(w.last_error order by w.id desc) filter (where w.last_error is not null))[1] as last_error
    from connector_writes w join connectors c on c.id = w.connector_id
    where w.status in ('pending', 'applying', 'failed')
    group by c.id, c.name, 3
    order by c.name, 3`.execute(db);
  for (const w of writes.rows) {
    const oldest = new Date(w.oldest);
    const plural = w.n === 1 ? 'write-back' : 'write-backs';
    if (w.status === 'failed') {
      items.push({ key: `connector:${w.id}:writes-refused`, kind: 'writes-refused', level: 'error', screen: 'connectors', subject: `connector ${w.name}`, message: `${w.n} ${plural} refused by the ILS${w.last_error ? ` (the last: ${w.last_error})` : ''}; fix the cause and retry them`, since: oldest });
    } else if (w.tried || w.overdue) {
      // Tried and not taken (the ILS is down or refuses the user), or queued long ago and never tried.
      items.push({ key: `connector:${w.id}:writes-waiting`, kind: 'writes-waiting', level: 'warning', screen: 'connectors', subject: `connector ${w.name}`, message: `${w.n} ${plural} waiting to be written to the ILS${w.last_error ? `: ${w.last_error}` : ''}; they are retried on their own`, since: oldest });
    }
  }
  return items;
}

async function fileItems(ctx: Context): Promise<AttentionItem[]> {
  const rows = await sql<{ id: number; name: string; agency: string; status: 'queued' | 'held'; attempts: number; created_at: Date; next_attempt_at: Date | null; error: string | null }>`
    select f.id, f.name, a.name as agency, f.status, f.attempts, f.created_at, f.next_attempt_at,
           (select t.error from transfer_attempts t where t.file_id = f.id and not t.ok order by t.id desc limit 1) as error
    from report_files f join agencies a on a.id = f.agency_id
    where (f.status = 'queued' and f.attempts > 0) or f.status = 'held'
    order by f.id`.execute(ctx.database.db);
  return rows.rows.map((f): AttentionItem => {
    const since = new Date(f.created_at);
    if (f.status === 'held') {
      const until = f.next_attempt_at ? ` until ${new Date(f.next_attempt_at).toISOString()}` : '';
      return { key: `file:${f.id}:held`, kind: 'held', level: 'notice', screen: 'review', subject: `file ${f.name} for ${f.agency}`, message: `held for review${until} before it is sent`, since };
    }
    const next = f.next_attempt_at ? `; the next try is at ${new Date(f.next_attempt_at).toISOString()}` : '';
    return { key: `file:${f.id}:delivery`, kind: 'delivery-failing', level: 'error', screen: 'files', subject: `file ${f.name} for ${f.agency}`, message: `delivery failed ${f.attempts} time${f.attempts === 1 ? '' : 's'}${f.error ? ` (the last: ${f.error})` : ''}${next}`, since };
  });
}

async function scheduleItems(ctx: Context, now: Date): Promise<AttentionItem[]> {
  // Late by the server's own run time, whatever this process's environment says.
  const beat = await lastHeartbeat(ctx.database.db);
  const scheduler = new Scheduler(ctx, { runTime: serverRunTime(beat) });
  const items: AttentionItem[] = [];
  const jobs = await scheduler.nextDue();
  if (beat && now.getTime() - beat.beatAt.getTime() >= SERVER_STOPPED_AFTER_MS && jobs.some((j) => j.enabled)) {
    items.push({
      key: 'server:stopped',
      kind: 'server-stopped',
      level: 'warning',
      screen: 'schedule',
      subject: 'the server',
      message: `no \`arrears start\` has passed since ${beat.beatAt.toISOString()} (the last was on ${beat.host}, process ${beat.pid}, running reports at ${formatRunTime(beat.runTime)}): scheduled runs, deliveries, ILS write-backs and alert mails wait until one runs`,
      since: beat.beatAt,
    });
  }
  for (const job of jobs) {
    const oldest = job.pending[0];
    if (!job.enabled || !oldest || !job.timeZone) continue;
    const due = dueAt(oldest, job.timeZone, scheduler.runTime);
    if (now.getTime() - due.getTime() < SCHEDULE_LATE_AFTER_MS) continue;
    const dates = job.pending.length === 1 ? oldest : `${oldest} and ${job.pending.length - 1} later date${job.pending.length === 2 ? '' : 's'}`;
    items.push({
      key: `entry:${job.entryId}:${job.job}:late`,
      kind: 'late-run',
      level: 'warning',
      screen: 'schedule',
      subject: `${JOB_LABEL[job.job]} of settings entry ${job.entryName}`,
      message: `the scheduled run for ${dates} has not happened: the scheduler runs inside \`arrears start\`, and waits while a connector's data is too old or a run fails`,
      since: due,
    });
  }
  return items;
}
