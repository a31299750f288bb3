// The set-based half of an import: the staging table of each kind, the reference checks
// run against it (each writes its findings to import_problems with the spreadsheet row),
// and the upsert into the real table. Everything here runs inside the import's transaction.
import { sql, type RawBuilder } from 'kysely';
import { COLUMNS, type ImportKind } from '../../domain/import-formats.ts';
import type { Executor } from '../context.ts';
import { assessedOnSql, recomputeAssessedOn } from '../ledger.ts';

export const STAGE = 'import_stage';
export const PROBLEMS = 'import_problems';

export interface StageColumn {
  /** Column in the staging table and in the real table. */
  name: string;
  /** Column of the import file it comes from. */
  source: string;
  type: string;
}

const SQL_TYPES: Record<string, string> = {
  birth_date: 'date',
  due_date: 'date',
  amount: 'bigint',
  assessed_at: 'timestamptz',
  paid_at: 'timestamptz',
};

export function stageColumns(kind: ImportKind): StageColumn[] {
  return COLUMNS[kind].map((c) => ({ name: c.name === 'amount' ? 'amount_cents' : c.name, source: c.name, type: SQL_TYPES[c.name] ?? 'text' }));
}

/** The column that identifies a row: re-importing the same key updates it. */
export function keyColumn(kind: ImportKind): string {
  return kind === 'libraries' ? 'code' : 'id';
}

export async function createStaging(db: Executor, kind: ImportKind): Promise<void> {
  await createStageTable(db, kind, STAGE);
  await createProblemsTable(db);
}

/**
 * Kinds whose rows keep the digest of the line that wrote them (line_digest, migration 310): a
 * re-import leaves a line whose digest is stored unstaged (digest.ts). Patrons: the widest rows,
 * so the costliest to stage and compare (docs/benchmark.md, eighteenth pass).
 */
export const DIGESTED: ReadonlySet<ImportKind> = new Set<ImportKind>(['patrons']);

/** The stage's column after the kind's own, for digested kinds: null for a row read the general way, or synced. */
export const DIGEST_COLUMN = 'line_digest';

/** A temporary table shaped as the staging table of `kind`: a source can fill it and merge it by renaming it import_stage. */
export async function createStageTable(db: Executor, kind: ImportKind, table: string): Promise<void> {
  const cols = stageColumns(kind).map((c) => sql`${sql.ref(c.name)} ${sql.raw(c.type)}`);
  // Payments re-imported with the same money (see keepAllocations) keep their allocations untouched.
  const extra = kind === 'payments' ? [sql`unchanged boolean not null default false`] : DIGESTED.has(kind) ? [sql`${sql.ref(DIGEST_COLUMN)} bytea`] : [];
  await sql`create temp table ${sql.table(table)} (row_no integer not null, ${sql.join([...cols, ...extra])}) on commit drop`.execute(db);
}

export async function createProblemsTable(db: Executor): Promise<void> {
  await sql`create temp table ${sql.table(PROBLEMS)} (row_no integer not null, col text not null, reason text not null) on commit drop`.execute(db);
}

/** Cents as "12.50" inside a problem message. */
export function moneySql(cents: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`format('%s.%s', (${cents})::bigint / 100, lpad(((${cents})::bigint % 100)::text, 2, '0'))`;
}

/** Whether a table holds any row (an index-free look at its first page). */
export async function hasRows(db: Executor, table: string): Promise<boolean> {
  const r = await sql<{ any: boolean }>`select exists (select 1 from ${sql.table(table)}) as any`.execute(db);
  return r.rows[0]?.any ?? true;
}

/** Records a problem for every staged row matching `where` (the staged row is `s`); returns how many. */
async function flag(db: Executor, column: string, reason: RawBuilder<unknown>, where: RawBuilder<unknown>): Promise<number> {
  const r = await sql`insert into import_problems (row_no, col, reason) select s.row_no, ${column}, ${reason} from import_stage s where ${where}`.execute(db);
  return Number(r.numAffectedRows ?? 0);
}

/** Staged rows still free of problems (the staged row is `s`). */
export const clean = sql`not exists (select 1 from import_problems q where q.row_no = s.row_no)`;

/**
 * Whether the row of `table` keyed by the staged column exists. A few rows (a re-import's
 * changed ones) look it up by key (offset 0 keeps the lookup: PostgreSQL's costs would hash
 * the whole table); many join it whole.
 */
function known(table: 'patrons' | 'items', column: string, few: boolean): RawBuilder<unknown> {
  return sql`exists (select 1 from ${sql.table(table)} k where k.id = s.${sql.ref(column)} ${few ? sql`offset 0` : sql``})`;
}

/**
 * The reference checks of a kind against the staged rows; returns how many problems they found.
 * `which`: all of them, only those a foreign key also makes and nothing before the writes
 * depends on (`keyed`: a patron's, an item's or a charge's unknown patron, item or library,
 * found by the key itself when it is added back after a load, see mergeStaged), or all but
 * those (`unkeyed`). `chargesVouched`: the payments' charges and patrons need not be looked up (MergeOptions).
 */
export async function checkReferences(db: Executor, kind: ImportKind, few = false, which: 'all' | 'keyed' | 'unkeyed' = 'all', chargesVouched = false): Promise<number> {
  const keyed = which !== 'unkeyed';
  const unkeyed = which !== 'keyed';
  switch (kind) {
    case 'libraries':
      if (!unkeyed) return 0;
      // Intl accepted the zone already; the database must know it too, for assessed_on.
      return flag(
        db,
        'time_zone',
        sql`format('unknown time zone "%s"', s.time_zone)`,
        sql`s.time_zone is not null and lower(s.time_zone) not in (select lower(name) from pg_timezone_names)`,
      );
    case 'patrons':
      if (!keyed) return 0;
      return flag(db, 'home_library', sql`format('unknown library "%s"', s.home_library)`, sql`s.home_library is not null and not exists (select 1 from libraries l where l.code = s.home_library)`);
    case 'items':
      if (!keyed) return 0;
      return flag(db, 'patron_id', sql`format('unknown patron "%s"', s.patron_id)`, sql`s.patron_id is not null and not ${known('patrons', 'patron_id', few)}`);
    case 'charges': {
      let n = 0;
      if (keyed) {
        n += await flag(db, 'patron_id', sql`format('unknown patron "%s"', s.patron_id)`, sql`s.patron_id is not null and not ${known('patrons', 'patron_id', few)}`);
        n += await flag(db, 'item_id', sql`format('unknown item "%s"', s.item_id)`, sql`s.item_id is not null and not ${known('items', 'item_id', few)}`);
      }
      if (!unkeyed) return n;
      // A re-imported charge may not drop below what was already paid against it, nor move away
      // from the patron who paid: both read the charge as it is, in one join. A few changed rows
      // (a re-import's) take it from findChanges, which read it beside them.
      const stored = few
        ? sql`join (select x.key as id, x.paid_cents, x.paid_by as patron_id from ${sql.table(CHANGED)} x where not x.new) c on c.id = s.id`
        : sql`join charges c on c.id = s.id`;
      const r = await sql`
        with paid as materialized (
          select s.row_no, s.id, s.amount_cents, s.patron_id, c.paid_cents, c.patron_id as paid_by
          from import_stage s ${stored}
          where c.paid_cents > s.amount_cents or (c.patron_id <> s.patron_id and c.paid_cents > 0)
        )
        insert into import_problems (row_no, col, reason)
        select row_no, 'amount', format('%s is less than the %s already paid, waived or written off', ${moneySql(sql.ref('amount_cents'))}, ${moneySql(sql.ref('paid_cents'))})
        from paid where paid_cents > amount_cents
        union all
        select row_no, 'patron_id', format('charge "%s" has payments from patron "%s" and cannot move to another patron', id, paid_by)
        from paid where paid_by <> patron_id and paid_cents > 0`.execute(db);
      return n + Number(r.numAffectedRows ?? 0);
    }
    case 'payments': {
      // Allocation reads every payment's patron, so none of these waits for the keys.
      // Vouched for, each payment's patron is its charge's, which the charges' merge checked.
      if (!unkeyed || chargesVouched) return 0;
      const n = await flag(db, 'patron_id', sql`format('unknown patron "%s"', s.patron_id)`, sql`s.patron_id is not null and not ${known('patrons', 'patron_id', few)}`);
      // The charge a payment names must exist and be its payer's: one join reads both. A few
      // rows (the changed ones of a re-import) look their charges up by key (offset 0 keeps
      // the lookup): priced by PostgreSQL's defaults, a hash join read every charge instead.
      const charge = few
        ? sql`left join lateral (select x.id, x.patron_id from charges x where x.id = s.charge_id offset 0) c on true`
        : sql`left join charges c on c.id = s.charge_id`;
      const r = await sql`
        insert into import_problems (row_no, col, reason)
        select s.row_no, 'charge_id', case when c.id is null then format('unknown charge "%s"', s.charge_id)
          else format('charge "%s" belongs to patron "%s", not "%s"', s.charge_id, c.patron_id, s.patron_id) end
        from import_stage s
        ${charge}
        where s.charge_id is not null and (c.id is null or c.patron_id <> s.patron_id)`.execute(db);
      return n + Number(r.numAffectedRows ?? 0);
    }
  }
}

/**
 * Each library's records come from one source: CSV imports (`connectorId` null) or one ILS
 * connector. Rows that would add to or change another source's library, patron or ledger are
 * problems, named with the source they belong to. Returns how many problems it found.
 */
export async function checkSource(db: Executor, kind: ImportKind, connectorId: number | null): Promise<number> {
  // Without connectors everything is CSV: nothing to check (and nothing to slow a big import down).
  if (connectorId === null) {
    if (!(await hasRows(db, 'connectors'))) return 0;
  }
  const source = sql`${connectorId}::int`;
  const owner = (connector: RawBuilder<unknown>) => sql`coalesce('connector "' || (select c.name from connectors c where c.id = ${connector}) || '"', 'CSV imports')`;
  // Libraries and patrons of other sources, each looked up once (hashed), not once per row.
  const foreignLibraries = sql`(select l.code, l.connector_id from libraries l where l.connector_id is distinct from ${source})`;
  const foreignPatrons = sql`(select p.id, l.connector_id from patrons p join libraries l on l.code = p.home_library where l.connector_id is distinct from ${source})`;
  const insert = async (column: string, reason: RawBuilder<unknown>, from: RawBuilder<unknown>): Promise<number> => {
    const r = await sql`insert into import_problems (row_no, col, reason) select s.row_no, ${column}, ${reason} from import_stage s ${from}`.execute(db);
    return Number(r.numAffectedRows ?? 0);
  };
  switch (kind) {
    case 'libraries':
      // A connector adopts its branches itself (sync.ts); CSV may not change a connector's.
      if (connectorId !== null) return 0;
      return insert('code', sql`format('library "%s" comes from %s; CSV imports cannot change it', s.code, ${owner(sql`f.connector_id`)})`, sql`join ${foreignLibraries} f on f.code = s.code where f.connector_id is not null`);
    case 'patrons': {
      let n = await insert('home_library', sql`format('library "%s" comes from %s, not %s', s.home_library, ${owner(sql`f.connector_id`)}, ${owner(source)})`, sql`join ${foreignLibraries} f on f.code = s.home_library`);
      n += await insert('id', sql`format('patron "%s" comes from %s; %s cannot change it', s.id, ${owner(sql`f.connector_id`)}, ${owner(source)})`, sql`join ${foreignPatrons} f on f.id = s.id`);
      return n;
    }
    case 'items':
    case 'charges':
    case 'payments': {
      const noun = kind.slice(0, -1);
      let n = await insert('patron_id', sql`format('patron "%s" comes from %s; %s cannot change their records', s.patron_id, ${owner(sql`f.connector_id`)}, ${owner(source)})`, sql`join ${foreignPatrons} f on f.id = s.patron_id`);
      // The row itself: one of another source's patrons may not be taken over by its id.
      n += await insert(
        'id',
        sql`format('%s "%s" is a record of %s; %s cannot change it', ${noun}::text, s.id, ${owner(sql`f.connector_id`)}, ${owner(source)})`,
        sql`join ${sql.table(kind)} t on t.id = s.id join ${foreignPatrons} f on f.id = t.patron_id`,
      );
      if (kind === 'charges') n += await insert('library', sql`format('library "%s" comes from %s, not %s', s.library, ${owner(sql`f.connector_id`)}, ${owner(source)})`, sql`join ${foreignLibraries} f on f.code = s.library`);
      // CSV ids in a connector's namespace ("koha:…") would meet its records on the next sync.
      if (connectorId === null) n += await insert('id', sql`format('%s "%s" is in the ids of connector "%s" (%s:…); CSV imports cannot use them', ${noun}::text, s.id, c.name, c.name)`, sql`join connectors c on c.name = split_part(s.id, ':', 1) and strpos(s.id, ':') > 0`);
      return n;
    }
  }
}

/**
 * Duplicate keys whose first row is `fromRow` or later (earlier keys are checked in memory as
 * the file is read), reported on each later row as the in-memory check words it. Keys are
 * grouped by equality, which every deterministic collation makes byte equality.
 */
export async function flagDuplicateKeys(db: Executor, key: string, fromRow: number): Promise<void> {
  // The repeated keys by hashing (usually none), then only their rows: a window over every
  // staged row sorted by key cost a sort of the whole file.
  await sql`
    with repeated as (
      select ${sql.ref(key)} as k, min(row_no) as first_row
      from import_stage where ${sql.ref(key)} is not null
      group by ${sql.ref(key)} having count(*) > 1
    )
    insert into import_problems (row_no, col, reason)
    select s.row_no, ${key}, format('duplicate %s "%s" (also on row %s)', ${key}::text, d.k, d.first_row)
    from repeated d join import_stage s on s.${sql.ref(key)} = d.k
    where s.row_no > d.first_row and d.first_row >= ${fromRow}`.execute(db);
}

export async function problemCounts(db: Executor): Promise<{ problems: number; rows: number }> {
  const r = await sql<{ problems: number; rows: number }>`select count(*)::int as problems, count(distinct row_no)::int as rows from import_problems`.execute(db);
  return r.rows[0] ?? { problems: 0, rows: 0 };
}

/** The first problems by row, then by the column's place in the format. */
export async function firstProblems(db: Executor, columnOrder: readonly string[], limit: number): Promise<{ row_no: number; col: string; reason: string }[]> {
  const r = await sql<{ row_no: number; col: string; reason: string }>`
    select row_no, col, reason from import_problems
    order by row_no, array_position(${[...columnOrder]}::text[], col) nulls last, col, reason
    limit ${limit}`.execute(db);
  return r.rows;
}

export async function dropBadRows(db: Executor): Promise<void> {
  await sql`delete from import_stage s where not (${clean})`.execute(db);
}

/** Libraries whose time zone the staged rows change: their charges' local dates must follow. */
async function zoneChanges(db: Executor): Promise<string[]> {
  const r = await sql<{ code: string }>`select s.code from import_stage s join libraries l on l.code = s.code where l.time_zone <> s.time_zone`.execute(db);
  return r.rows.map((x) => x.code);
}

const HAS_UPDATED_AT = new Set<ImportKind>(['libraries', 'patrons', 'items']);

export async function stagedRows(db: Executor): Promise<number> {
  const r = await sql<{ n: number }>`select count(*)::int as n from import_stage`.execute(db);
  return r.rows[0]?.n ?? 0;
}

/**
 * Writes the staged rows: updates the rows that exist and differ, and inserts the rest, in one
 * statement. A row that exists exactly as staged is compared and left alone, so a nightly
 * re-sync of unchanged data writes nothing (and bumps no updated_at). The insert's existence
 * check sees the table as it was before the statement, so each row is looked up once by key
 * and the table is never scanned; plain inserts are also cheaper than ON CONFLICT for a
 * million rows. Only the columns the source carries are compared and written, so a file
 * without, say, patron_code leaves that field as it was. `paidStaged`, for charges loaded into
 * an empty table: the stage carries each one's paid_cents (see MergeOptions.paidStaged).
 */
export async function upsert(db: Executor, kind: ImportKind, present: ReadonlySet<string>, now: Date, changes: Changes, paidStaged = false): Promise<{ inserted: number; updated: number }> {
  const zonesChanged = kind === 'libraries' ? await zoneChanges(db) : [];
  const keyName = keyColumn(kind);
  const key = sql.ref(keyName);
  const cols = stageColumns(kind).filter((c) => present.has(c.source));
  const target = cols.map((c) => sql.ref(c.name));
  const values = cols.map((c) => sql.ref(`s.${c.name}`));
  const written = cols.filter((c) => c.name !== keyName);
  const sets = written.map((c) => sql`${sql.ref(c.name)} = ${sql.ref(`s.${c.name}`)}`);
  let from = sql`import_stage s`;
  if (kind === 'charges') {
    const assessedOn = assessedOnSql(sql.ref('s.assessed_at'), sql.ref('l.time_zone'));
    target.push(sql.ref('assessed_on'));
    values.push(assessedOn);
    sets.push(sql`assessed_on = ${assessedOn}`);
    from = sql`import_stage s join libraries l on l.code = s.library`;
    if (paidStaged && !changes.listed) {
      target.push(sql.ref('paid_cents'));
      values.push(sql.ref('s.paid_cents'));
    }
  }
  if (DIGESTED.has(kind)) {
    // Whatever the source: a row written from a line without a digest (or synced) has none.
    target.push(sql.ref(DIGEST_COLUMN));
    values.push(sql.ref(`s.${DIGEST_COLUMN}`));
    sets.push(sql`${sql.ref(DIGEST_COLUMN)} = ${sql.ref(`s.${DIGEST_COLUMN}`)}`);
  }
  if (HAS_UPDATED_AT.has(kind)) sets.push(sql`updated_at = ${now.toISOString()}::timestamptz`);
  const table = sql.table(kind);
  // The rows findChanges listed. Into a table it found empty, every staged row, with no update
  // and no lookup: a vacuumed empty table is planned as one row, and a lookup of each staged key
  // in it (a nested loop over the table the insert is filling) grows with the square of the file.
  const listed = (isNew: boolean) => sql`s.${key} in (select c.key from ${sql.table(CHANGED)} c where c.new = ${isNew})`;
  const updated = changes.listed
    ? sql`(update ${table} t set ${sql.join(sets)} from ${from} where t.${key} = s.${key} and ${differs(kind, present)} and ${changedExisting(kind, 't', changes)} returning 1)`
    : sql`(select 1 where false)`;
  const r = await sql<{ updated: number }>`
    with updated as ${updated},
    inserted as (
      insert into ${table} (${sql.join(target)})
      select ${sql.join(values)} from ${from}
      where ${changes.listed ? listed(true) : sql`true`}
      returning 1)
    select (select count(*) from updated)::int as updated, (select count(*) from inserted)::int as inserted`.execute(db);
  if (zonesChanged.length) await recomputeAssessedOn(db, zonesChanged);
  const row = r.rows[0] as { updated: number; inserted: number } | undefined;
  return { inserted: row?.inserted ?? 0, updated: row?.updated ?? 0 };
}

/**
 * Whether the table's row `t` differs from the staged row `s` in a column the source carries:
 * compared column by column, so each comparison uses its column's own type.
 */
function differs(kind: ImportKind, present: ReadonlySet<string>): RawBuilder<unknown> {
  const compared = stageColumns(kind).filter((c) => present.has(c.source) && c.name !== keyColumn(kind));
  if (compared.length === 0) return sql`false`;
  return sql`(${sql.join(
    compared.map((c) => sql`t.${sql.ref(c.name)} is distinct from s.${sql.ref(c.name)}`),
    sql` or `,
  )})`;
}

export const CHANGED = 'import_changed';

/**
 * The staged rows `s` that change rows the table `alias` already holds, joined on the key. With
 * few of them, the changed keys are given as one array the table is read by (its primary key),
 * where PostgreSQL's default costs hash the whole table to find a few thousand rows (and, with a
 * join to the keys, nested-loop over them); with many, the changed keys are joined as they are.
 */
function changedExisting(table: ImportKind, alias: string, changes: Changes): RawBuilder<unknown> {
  const key = keyColumn(table);
  const keys = sql`select c.key from ${sql.table(CHANGED)} c where not c.new`;
  if (!changes.few) return sql`s.${sql.ref(key)} in (${keys})`;
  return sql`${sql.ref(`${alias}.${key}`)} = any(array(${keys}))`;
}

export interface Changes {
  /** Staged rows the upsert writes: new, or changed in a column the source carries. */
  rows: number;
  /** Whether import_changed lists their keys; if not, every staged row counts as new. */
  listed: boolean;
  /** Of those, rows the table already holds (changed, not new). */
  existing: number;
  /** Few of the table's rows change (a re-import or sync with a small share changed): look them up by key. */
  few?: boolean;
}

/**
 * The staged rows that write something, found in one pass over the table: the key of each new
 * or changed row goes to import_changed, with whether it is new, and the upsert joins those
 * alone. A file re-imported unchanged is compared once and writes nothing; a new row is never
 * looked up again. An empty table needs no pass: every row is new.
 */
export async function findChanges(db: Executor, kind: ImportKind, present: ReadonlySet<string>, staged: number): Promise<Changes> {
  const key = sql.ref(keyColumn(kind));
  if (!(await hasRows(db, kind))) return { rows: staged, listed: false, existing: 0 };
  // Each changed row's place in the stage (tid), so a few can be set apart without reading the
  // stage again; a charge's paid amount and payer as they are, for its checks (checkReferences).
  // A payment's money as stored: whether it moves as before (keepAllocations).
  const extra =
    kind === 'charges'
      ? sql`, t.paid_cents, t.patron_id as paid_by`
      : kind === 'payments'
        ? sql`, coalesce(t.patron_id = s.patron_id and t.charge_id is not distinct from s.charge_id and t.type = s.type and t.amount_cents = s.amount_cents and t.paid_at = s.paid_at, false) as same_money`
        : sql``;
  // A stage much smaller than the table (a sync's changed rows) looks each row up by key (offset
  // 0 keeps the lookup): PostgreSQL's default costs hash the whole table instead, 150-190 ms of a
  // 10,000-row sync against a million charges or payments.
  const few = await isFew(db, kind, staged);
  const table = few ? sql`lateral (select t0.* from ${sql.table(kind)} t0 where t0.${key} = s.${key} offset 0) t on true` : sql`${sql.table(kind)} t on t.${key} = s.${key}`;
  await sql`
    create temp table ${sql.table(CHANGED)} on commit drop as
    select s.${key} as key, t.${key} is null as new, s.ctid as tid ${extra}
    from import_stage s left join ${table}
    where t.${key} is null or ${differs(kind, present)}`.execute(db);
  await sql`analyze ${sql.table(CHANGED)}`.execute(db);
  const r = await sql<{ n: number; existing: number }>`select count(*)::int as n, (count(*) filter (where not new))::int as existing from ${sql.table(CHANGED)}`.execute(db);
  return { rows: r.rows[0]?.n ?? 0, listed: true, existing: r.rows[0]?.existing ?? 0 };
}

/**
 * A bulk load: many rows written (new, or changed in some column), and many compared with
 * what the table already holds. A file re-imported unchanged, or nearly, writes few rows and
 * keeps the table's keys and indexes, which a bulk load would check and build again whole.
 */
export async function isBulkLoad(db: Executor, kind: ImportKind, written: number, bulkRows: number): Promise<boolean> {
  return written >= bulkRows && written * 4 >= (await estimatedRows(db, kind));
}

/**
 * Rows few enough beside the table's (under a twentieth) to be looked up by key, one at a time,
 * rather than met by a join that reads the whole table.
 */
export async function isFew(db: Executor, table: BulkTable, rows: number): Promise<boolean> {
  return rows * 20 < (await estimatedRows(db, table));
}

/** The planner's row count of a table: -1 (never analyzed) counts as unknown, so as one row, never as empty. */
export async function estimatedRows(db: Executor, table: BulkTable): Promise<number> {
  const r = await sql<{ n: number }>`select reltuples::bigint as n from pg_class where oid = ${table}::regclass`.execute(db);
  const n = Number(r.rows[0]?.n ?? -1);
  return n < 0 ? 1 : n;
}

/** The tables an import writes in bulk: its kind's, and allocations for payments. */
export type BulkTable = ImportKind | 'allocations';

export interface ForeignKey {
  name: string;
  definition: string;
}

/**
 * What pg_restore does for a bulk load: the table's foreign keys are dropped, the rows
 * written, and the keys added back (restoreForeignKeys), which validates every row in
 * one set-based pass instead of one trigger call per row, most of the cost of a
 * million-row insert. The import has already checked the references itself, so the
 * validation finds nothing; it keeps the guarantee all the same. The table stays
 * exclusively locked until the import commits or rolls back (which restores the keys).
 */
export async function dropForeignKeys(db: Executor, kind: BulkTable): Promise<ForeignKey[]> {
  const fks = await sql<ForeignKey>`
    select conname as name, pg_get_constraintdef(oid) as definition
    from pg_constraint where conrelid = ${kind}::regclass and contype = 'f' order by conname`.execute(db);
  if (fks.rows.length) await sql`alter table ${sql.table(kind)} ${sql.join(fks.rows.map((f) => sql`drop constraint ${sql.ref(f.name)}`))}`.execute(db);
  return fks.rows;
}

/**
 * Bulk loads also drop the table's plain secondary indexes (not the primary key or a unique
 * one, which the upsert and other tables rely on) and build them again afterwards: one
 * sort of the whole table costs far less than a million random index insertions.
 * Returns the statements that recreate them.
 */
export async function dropIndexes(db: Executor, kind: BulkTable): Promise<string[]> {
  const r = await sql<{ name: string; definition: string }>`
    select quote_ident(n.nspname) || '.' || quote_ident(c.relname) as name, pg_get_indexdef(i.indexrelid) as definition
    from pg_index i join pg_class c on c.oid = i.indexrelid join pg_namespace n on n.oid = c.relnamespace
    where i.indrelid = ${kind}::regclass and not i.indisprimary and not i.indisunique
      and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
    order by 1`.execute(db);
  if (r.rows.length) await sql.raw(`drop index ${r.rows.map((ix) => ix.name).join(', ')}`).execute(db);
  return r.rows.map((ix) => ix.definition);
}

/**
 * A primary key takes a random insertion for each new row or row version; when most of a
 * table's rows are about to be written (a first load into it, or a first load of payments,
 * which pays most charges), the key is dropped and added back once, like the other indexes.
 * A foreign key that references the table from an empty table (the tables loaded after it, on
 * a first load) is dropped with it and added back after it, validating nothing; one from a
 * table with rows keeps the key in place. Returns the statements that add them back, key
 * first (for restoreIndexes), or none.
 */
export async function dropPrimaryKey(db: Executor, table: BulkTable): Promise<string[]> {
  const r = await sql<{ name: string; definition: string }>`
    select k.conname as name, pg_get_constraintdef(k.oid) as definition from pg_constraint k
    where k.conrelid = ${table}::regclass and k.contype = 'p'`.execute(db);
  const key = r.rows[0];
  if (!key) return [];
  const referencing = await sql<{ name: string; definition: string; source: string }>`
    select f.conname as name, pg_get_constraintdef(f.oid) as definition, f.conrelid::regclass::text as source
    from pg_constraint f where f.confrelid = ${table}::regclass and f.contype = 'f' order by 3, 1`.execute(db);
  for (const f of referencing.rows) if (await hasRows(db, f.source)) return [];
  for (const f of referencing.rows) await sql`alter table ${sql.raw(f.source)} drop constraint ${sql.ref(f.name)}`.execute(db);
  await sql`alter table ${sql.table(table)} drop constraint ${sql.ref(key.name)}`.execute(db);
  const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;
  return [
    `alter table ${ident(table)} add constraint ${ident(key.name)} ${key.definition}`,
    ...referencing.rows.map((f) => `alter table ${f.source} add constraint ${ident(f.name)} ${f.definition}`),
  ];
}

export async function restoreIndexes(db: Executor, definitions: readonly string[]): Promise<void> {
  for (const definition of definitions) await sql.raw(definition).execute(db);
}

export async function restoreForeignKeys(db: Executor, kind: BulkTable, fks: readonly ForeignKey[]): Promise<void> {
  if (fks.length === 0) return;
  await sql`alter table ${sql.table(kind)} ${sql.join(fks.map((f) => sql`add constraint ${sql.ref(f.name)} ${sql.raw(f.definition)}`))}`.execute(db);
}
