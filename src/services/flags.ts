// Flags back to the ILS: every change of a patron's in-collections or secured state is a
// flag_changes row, and `flags export --since T` gives an ILS script the latest state of each
// patron changed after T, with the high-water mark to pass as T next time.
import { LOCKS } from '../db/locks.ts';
import { sql } from 'kysely';
import { stringify } from 'csv-stringify/sync';
import { parseDate } from '../domain/dates.ts';
import { neutralise } from '../domain/report-layouts.ts';
import type { Executor } from './context.ts';

export interface FlagState {
  patronId: string;
  barcode: string;
  inCollections: boolean;
  secured: boolean;
  changedAt: Date;
}

export interface FlagsExport {
  since: Date | null;
  /** The latest change exported (or `since` when nothing changed): the next export's `since`. */
  highWaterMark: Date | null;
  /** Oldest change first. */
  patrons: FlagState[];
}

export const FLAGS_CSV_HEADER = ['patron_id', 'barcode', 'in_collections', 'secured', 'changed_at'] as const;

/**
 * Records the current flags of the given patrons where they differ from the last change
 * recorded for them (a patron with none is taken as neither in collections nor secured).
 * Call it in the transaction that changed patrons.status or patrons.in_collections.
 * Returns the number of changes recorded.
 */
export async function recordFlagChanges(db: Executor, patronIds: string[], at: Date): Promise<number> {
  if (patronIds.length === 0) return 0;
  const result = await sql`
    insert into flag_changes (patron_id, in_collections, secured, at)
    select p.id, p.in_collections, p.status = 'secured', ${at}::timestamptz
    from patrons p
    left join lateral (
      select f.in_collections, f.secured from flag_changes f
      where f.patron_id = p.id
      order by f.id desc
      limit 1
    ) last on true
    where p.id = any(${[...new Set(patronIds)]}::text[])
      and (p.in_collections <> coalesce(last.in_collections, false)
           or (p.status = 'secured') <> coalesce(last.secured, false))`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * The latest state of every patron whose flags changed after `since` (all of them without it).
 * A run records its changes at its start but commits at its end, so the export first waits
 * for a run in progress: otherwise a later change could set a high-water mark past the run's
 * changes and the next export would miss them.
 */
export async function exportFlags(db: Executor, options: { since?: Date } = {}): Promise<FlagsExport> {
  const since = options.since ?? null;
  const read = async (trx: Executor): Promise<FlagsExport> => {
    // runReport holds this lock exclusively for its whole transaction (src/db/locks.ts).
    await sql`select pg_advisory_xact_lock_shared(${LOCKS.runs}, hashtext(current_schema()))`.execute(trx);
    // One statement, so the rows and the high-water mark come from one snapshot.
    const rows = await sql<{ patron_id: string | null; barcode: string | null; in_collections: boolean; secured: boolean; at: Date; high: Date | null }>`
      with changed as (
        select * from flag_changes where ${since}::timestamptz is null or at > ${since}::timestamptz
      ),
      latest as (          -- each patron's last change in insertion order: their state now
        select distinct on (patron_id) patron_id, in_collections, secured, at
        from changed
        order by patron_id, id desc
      )
      select l.patron_id, p.barcode, l.in_collections, l.secured, l.at, h.high
      from (select max(at) as high from changed) h
      left join latest l on true
      left join patrons p on p.id = l.patron_id
      order by l.at, l.patron_id`.execute(trx);
    const high = rows.rows[0]?.high ?? null;
    return {
      since,
      highWaterMark: high === null ? since : new Date(high),
      patrons: rows.rows
        .filter((r) => r.patron_id !== null)
        .map((r) => ({ patronId: r.patron_id!, barcode: r.barcode ?? '', inCollections: r.in_collections, secured: r.secured, changedAt: new Date(r.at) })),
    };
  };
  return db.isTransaction ? read(db) : db.transaction().execute(read);
}

/** `--since` and `?since=`: an ISO 8601 date-time with a zone (Z or an offset), or null. */
export function parseSince(text: string): Date | null {
  const t = text.trim();
  if (!/^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/.test(t) || !parseDate(t.slice(0, 10))) return null;
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? null : d;
}

/**
 * CSV with the documented header; booleans as true/false, times as ISO 8601 UTC. An id or
 * barcode a spreadsheet would run as a formula gets a leading ' (the JSON form stays exact).
 */
export function flagsCsv(patrons: FlagState[]): string {
  return stringify([
    [...FLAGS_CSV_HEADER],
    ...patrons.map((p) => [neutralise(p.patronId), neutralise(p.barcode), String(p.inCollections), String(p.secured), p.changedAt.toISOString()]),
  ]);
}

/** The JSON form: the same fields, with the high-water mark for the next --since. */
export function flagsJson(exported: FlagsExport) {
  return {
    since: exported.since?.toISOString() ?? null,
    highWaterMark: exported.highWaterMark?.toISOString() ?? null,
    patrons: exported.patrons.map((p) => ({ ...p, changedAt: p.changedAt.toISOString() })),
  };
}
