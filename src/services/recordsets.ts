// Record sets: named lists of patrons (or items) that staff work on in bulk, as in steps 2–5
// of the second-agency workflow (seed 000). A patron set is built from an agency's .xlsx or
// .csv file by patron id alone: nothing else in the file is read, and every id the database
// does not know is listed back. Every change is one transaction with its audit entries.
import { open } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { sql } from 'kysely';
import type { ItemStatus } from '../db/schema.ts';
import { ITEM_STATUSES } from '../domain/import-formats.ts';
import { ConflictError, NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { formatMoney, type Cents } from '../domain/money.ts';
import { ptypeTextProblem } from '../domain/ptype.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';

export type RecordSetKind = 'patron' | 'item';

export interface RecordSetSummary {
  id: number;
  name: string;
  kind: RecordSetKind;
  /** The file or record set it was built from. */
  source: string;
  createdBy: string;
  createdAt: Date;
  members: number;
}

// ---------------------------------------------------------------------------------------
// Reading an agency's file: one column of patron ids.

export interface IdInFile {
  id: string;
  /** The row a spreadsheet program shows it on (the header is usually row 1). */
  row: number;
}

export interface IdFile {
  file: string;
  /** The header of the column the ids were read from. */
  column: string;
  /** Distinct ids in file order, each with the first row it appears on. */
  ids: IdInFile[];
  /** Rows that repeated an id already read. */
  duplicates: number;
}

const NAME_MAX = 100;
/** Problems listed one by one; beyond this one line says how many more. */
const LISTED = 20;

/** Headers compared without case, spaces, underscores, hyphens or dots: "PatronID", "Patron ID", "patron_id". */
function headerKey(header: string): string {
  return header.toLowerCase().replace(/[\s_.-]+/g, '');
}

/** What the first bytes say a file really is, when it is something we can name. */
function recognise(head: Buffer): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x50, 0x4b, 0x03, 0x04)) return 'zip';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'a PNG image';
  if (starts(0xff, 0xd8, 0xff)) return 'a JPEG image';
  if (starts(0x47, 0x49, 0x46, 0x38)) return 'a GIF image';
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'a PDF document';
  if (starts(0xd0, 0xcf, 0x11, 0xe0)) return 'an old-style Excel .xls (Office 97–2003) file; save it as .xlsx or .csv';
  return undefined;
}

/** Refuses what is not a spreadsheet before any parser sees it, with a message a person can act on. */
async function checkFileType(path: string, file: string): Promise<void> {
  const ext = extname(file).toLowerCase();
  if (ext !== '.xlsx' && ext !== '.csv') throw ValidationError.of(`agency files must be .xlsx or .csv, not "${ext || 'no extension'}"`, { file });
  let head: Buffer;
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      head = buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch {
    throw new NotFoundError(`file "${path}"`);
  }
  if (head.length === 0) throw ValidationError.of('the file is empty: expected a header row naming the patron id column, then one id per row', { file });
  const kind = recognise(head);
  if (ext === '.xlsx' && kind !== 'zip') {
    throw ValidationError.of(`not a spreadsheet: this is not an Excel .xlsx workbook${kind ? ` (it looks like ${kind})` : ''}`, { file });
  }
  if (ext === '.csv' && kind === 'zip') throw ValidationError.of('not a CSV file: it is a zip archive (an .xlsx workbook named .csv?)', { file });
  if (ext === '.csv' && (kind !== undefined || head.includes(0))) {
    throw ValidationError.of(`not a spreadsheet: this is not a CSV text file${kind ? ` (it looks like ${kind})` : ''}`, { file });
  }
}

function pickColumn(cells: string[], wanted: string | undefined, file: string, row: number): { index: number; name: string } {
  const headers = cells.map((c) => c.trim());
  const listed = headers.filter(Boolean).map((h) => `"${h}"`).join(', ');
  if (wanted !== undefined && wanted.trim() !== '') {
    const index = headers.findIndex((h) => h.toLowerCase() === wanted.trim().toLowerCase());
    if (index < 0) throw ValidationError.of(`no column headed "${wanted.trim()}"; the headers are ${listed}`, { file, row, column: wanted.trim() });
    return { index, name: headers[index]! };
  }
  const matches = headers.flatMap((h, i) => (headerKey(h) === 'patronid' ? [i] : []));
  if (matches.length === 0) {
    throw ValidationError.of(`no patron id column (a header like "PatronID", "Patron ID" or "patron_id"); the headers are ${listed}; name the column to use`, { file, row });
  }
  if (matches.length > 1) {
    throw ValidationError.of(`more than one patron id column (${matches.map((i) => `"${headers[i]}"`).join(', ')}); name the column to use`, { file, row });
  }
  return { index: matches[0]!, name: headers[matches[0]!]! };
}

/**
 * Reads the patron ids of one column of an agency's .xlsx (first worksheet) or .csv file.
 * The header is the first row that is not blank; the column is the one named, or the one
 * headed like "PatronID". Blank cells are passed over; repeated ids are counted, not kept twice.
 */
export async function readIdFile(path: string, column?: string): Promise<IdFile> {
  const file = basename(path);
  await checkFileType(path, file);
  // The spreadsheet reader (exceljs) loads with the first file read, not with every record-set command.
  const { openSource } = await import('./imports/source.ts');
  const { rows } = openSource(path);
  let picked: { index: number; name: string } | undefined;
  const ids: IdInFile[] = [];
  const seen = new Set<string>();
  let duplicates = 0;
  for await (const { row, cells } of rows) {
    if (!picked) {
      if (cells.some((c) => c.trim() !== '')) picked = pickColumn(cells, column, file, row);
      continue;
    }
    const id = (cells[picked.index] ?? '').trim();
    if (id === '') continue;
    if (seen.has(id)) duplicates++;
    else {
      seen.add(id);
      ids.push({ id, row });
    }
  }
  if (!picked) throw ValidationError.of('the file has no rows: expected a header row naming the patron id column, then one id per row', { file });
  if (ids.length === 0) throw ValidationError.of(`no patron ids under column "${picked.name}"`, { file, column: picked.name });
  return { file, column: picked.name, ids, duplicates };
}

// ---------------------------------------------------------------------------------------
// Finding sets and their members.

function checkSetName(name: string): string {
  const n = name.trim();
  if (n === '') throw ValidationError.of('a record set needs a name', { field: 'name' });
  if (n.length > NAME_MAX) throw ValidationError.of(`a record set name is at most ${NAME_MAX} characters`, { field: 'name' });
  // Sets are found by id or name, so a name of digits would read as an id.
  if (/^\d+$/.test(n)) throw ValidationError.of('a record set name cannot be only digits (it would read as an id)', { field: 'name' });
  return n;
}

async function assertNameFree(db: Executor, name: string): Promise<void> {
  const clash = await db
    .selectFrom('record_sets')
    .select('id')
    .where(sql<boolean>`lower(name) = lower(${name})`)
    .executeTakeFirst();
  if (clash) throw new ConflictError(`a record set named "${name}" already exists (#${clash.id})`);
}

const summaryQuery = (db: Executor) =>
  db
    .selectFrom('record_sets as s')
    .select(['s.id', 's.name', 's.kind', 's.source', 's.created_by', 's.created_at'])
    .select((eb) => eb.selectFrom('record_set_members as m').whereRef('m.record_set_id', '=', 's.id').select(eb.fn.countAll<number>().as('n')).as('members'));

type SummaryRow = Awaited<ReturnType<ReturnType<typeof summaryQuery>['execute']>>[number];

function toSummary(r: SummaryRow): RecordSetSummary {
  return { id: r.id, name: r.name, kind: r.kind, source: r.source, createdBy: r.created_by, createdAt: new Date(r.created_at), members: Number(r.members ?? 0) };
}

/** Every set, or those holding one member (a patron's sets, on the staff app's Patron screen). */
export async function listRecordSets(db: Executor, filter: { member?: string } = {}): Promise<RecordSetSummary[]> {
  let q = summaryQuery(db);
  const member = filter.member;
  if (member !== undefined) q = q.where((eb) => eb.exists(eb.selectFrom('record_set_members as m').whereRef('m.record_set_id', '=', 's.id').where('m.member_id', '=', member)));
  return (await q.orderBy('s.id').execute()).map(toSummary);
}

/** By id (digits) or by name, compared without regard to case. */
export async function getRecordSet(db: Executor, ref: string | number, kind?: RecordSetKind): Promise<RecordSetSummary> {
  const key = String(ref).trim();
  const q = summaryQuery(db);
  const row = /^\d+$/.test(key)
    ? await q.where('s.id', '=', Number(key)).executeTakeFirst()
    : await q.where(sql<boolean>`lower(s.name) = lower(${key})`).executeTakeFirst();
  if (!row) throw new NotFoundError(`record set "${key}"`);
  const set = toSummary(row);
  if (kind && set.kind !== kind) {
    const label = { patron: 'a patron set', item: 'an item set' };
    const hint = kind === 'item' ? '; build an item set from it first' : '';
    throw ValidationError.of(`record set "${set.name}" is ${label[set.kind]}, not ${label[kind]}${hint}`, { field: 'set' });
  }
  return set;
}

export async function memberIds(db: Executor, setId: number): Promise<string[]> {
  const rows = await db.selectFrom('record_set_members').select('member_id').where('record_set_id', '=', setId).orderBy('member_id').execute();
  return rows.map((r) => r.member_id);
}

/** Which patrons the bulk actions work on: a patron record set's members, or ids given directly. */
export type PatronTarget = { set: string | number } | { patronIds: string[] };

/** The patron ids a target names, sorted; ids the database does not know are refused (nothing is done). */
export async function resolvePatronTarget(db: Executor, target: PatronTarget): Promise<string[]> {
  if ('set' in target) return memberIds(db, (await getRecordSet(db, target.set, 'patron')).id);
  const ids = [...new Set(target.patronIds.map((id) => id.trim()).filter(Boolean))].sort();
  if (ids.length === 0) throw ValidationError.of('name at least one patron id, or a record set', { field: 'patronIds' });
  const unknown = await unknownIds(db, 'patron', ids);
  if (unknown.length) throw new ValidationError(listProblems(unknown.map((id) => ({ id })), (x) => ({ field: 'patronIds', reason: `unknown patron "${x.id}"` })));
  return ids;
}

async function unknownIds(db: Executor, kind: RecordSetKind, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const table = kind === 'patron' ? sql.table('patrons') : sql.table('items');
  const known = await sql<{ id: string }>`select id from ${table} where id = any(${[...ids]}::text[])`.execute(db);
  const found = new Set(known.rows.map((r) => r.id));
  return ids.filter((id) => !found.has(id));
}

/** The first LISTED problems one per line, then how many more. */
function listProblems<T>(items: readonly T[], describe: (item: T) => Problem, head: Problem[] = []): Problem[] {
  const problems = [...head, ...items.slice(0, LISTED).map(describe)];
  if (items.length > LISTED) problems.push({ reason: `… and ${items.length - LISTED} more` });
  return problems;
}

async function insertMembers(db: Executor, setId: number, ids: readonly string[], at: Date): Promise<number> {
  let added = 0;
  for (let i = 0; i < ids.length; i += 10_000) {
    const r = await sql`
      insert into record_set_members (record_set_id, member_id, added_at)
      select ${setId}::bigint, v.id, ${at}::timestamptz from unnest(${ids.slice(i, i + 10_000)}::text[]) as v(id)
      on conflict do nothing`.execute(db);
    added += Number(r.numAffectedRows ?? 0);
  }
  return added;
}

// ---------------------------------------------------------------------------------------
// Creating, changing and deleting sets.

export interface CreatePatronSetInput {
  name: string;
  /** Path of the agency's .xlsx or .csv file. */
  file: string;
  /** Header of the id column; by default the one headed like "PatronID". */
  column?: string;
  /** Create the set from the known ids when some are unknown (they are still listed back). */
  allowUnknown?: boolean;
}

export interface CreatedPatronSet {
  set: RecordSetSummary;
  file: string;
  column: string;
  /** Ids in the file that are not patrons here, with their rows. */
  unknown: IdInFile[];
  duplicates: number;
}

/**
 * A patron record set from an agency's file. Unknown ids refuse the file (nothing is created)
 * unless allowUnknown, and even then a file in which no id is known is refused: it is the
 * wrong file or the wrong column.
 */
export async function createPatronSet(ctx: Context, input: CreatePatronSetInput): Promise<CreatedPatronSet> {
  const name = checkSetName(input.name);
  const read = await readIdFile(input.file, input.column);
  const { file, column } = read;
  return ctx.database.db.transaction().execute(async (trx) => {
    await assertNameFree(trx, name);
    const unknownSet = new Set(await unknownIds(trx, 'patron', read.ids.map((x) => x.id)));
    const unknown = read.ids.filter((x) => unknownSet.has(x.id));
    const known = read.ids.filter((x) => !unknownSet.has(x.id)).map((x) => x.id);
    const describe = (x: IdInFile): Problem => ({ file, row: x.row, column, reason: `unknown patron "${x.id}"` });
    if (known.length === 0) {
      throw new ValidationError(
        listProblems(unknown, describe, [{ file, column, reason: `none of the ${read.ids.length} patron ids in the file is a patron here; nothing was created (is it the right file and column?)` }]),
      );
    }
    if (unknown.length && !input.allowUnknown) {
      throw new ValidationError(
        listProblems(unknown, describe, [
          { file, column, reason: `${unknown.length} of the ${read.ids.length} patron ids in the file are not patrons here; nothing was created (check the file, or allow unknown ids to create the set without them)` },
        ]),
      );
    }
    const now = ctx.clock.now();
    const source = `${file} (column ${column})`;
    const row = await trx
      .insertInto('record_sets')
      .values({ name, kind: 'patron', source, created_by: ctx.actor, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    await insertMembers(trx, row.id, known, now);
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'recordset.create',
      entity: 'record_set',
      entityId: row.id,
      after: { name, kind: 'patron', source, members: known, unknown: unknown.map((x) => x.id) },
      at: now,
    });
    return { set: await getRecordSet(trx, row.id), file, column, unknown, duplicates: read.duplicates };
  });
}

export interface MembershipChange {
  set: RecordSetSummary;
  added: string[];
  removed: string[];
  /** add: ids already in the set; remove: ids that were not in it. */
  unchanged: string[];
}

/** Adds patrons (or items, to an item set); any id the database does not know refuses the whole change. */
export async function addMembers(ctx: Context, ref: string | number, ids: string[]): Promise<MembershipChange> {
  const wanted = [...new Set(ids.map((id) => id.trim()).filter(Boolean))];
  if (wanted.length === 0) throw ValidationError.of('name at least one id to add', { field: 'ids' });
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref);
    const unknown = await unknownIds(trx, set.kind, wanted);
    if (unknown.length) throw new ValidationError(listProblems(unknown, (id) => ({ field: 'ids', reason: `unknown ${set.kind} "${id}"` })));
    const present = new Set(await memberIds(trx, set.id));
    const added = wanted.filter((id) => !present.has(id));
    const now = ctx.clock.now();
    await insertMembers(trx, set.id, added, now);
    if (added.length) await recordAudit(trx, { actor: ctx.actor, action: 'recordset.add', entity: 'record_set', entityId: set.id, after: { name: set.name, added }, at: now });
    return { set: await getRecordSet(trx, set.id), added, removed: [], unchanged: wanted.filter((id) => present.has(id)) };
  });
}

export async function removeMembers(ctx: Context, ref: string | number, ids: string[]): Promise<MembershipChange> {
  const wanted = [...new Set(ids.map((id) => id.trim()).filter(Boolean))];
  if (wanted.length === 0) throw ValidationError.of('name at least one id to remove', { field: 'ids' });
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref);
    const gone = await trx
      .deleteFrom('record_set_members')
      .where('record_set_id', '=', set.id)
      .where('member_id', 'in', wanted)
      .returning('member_id')
      .execute();
    const removed = gone.map((r) => r.member_id).sort();
    const now = ctx.clock.now();
    if (removed.length) await recordAudit(trx, { actor: ctx.actor, action: 'recordset.remove', entity: 'record_set', entityId: set.id, before: { name: set.name, removed }, at: now });
    return { set: await getRecordSet(trx, set.id), added: [], removed, unchanged: wanted.filter((id) => !removed.includes(id)) };
  });
}

/** Deletes the set and its member list; the patrons and items themselves are untouched. */
export async function deleteRecordSet(ctx: Context, ref: string | number): Promise<RecordSetSummary> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref);
    const members = await memberIds(trx, set.id);
    await trx.deleteFrom('record_sets').where('id', '=', set.id).execute();
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'recordset.delete',
      entity: 'record_set',
      entityId: set.id,
      before: { name: set.name, kind: set.kind, source: set.source, members },
      at: ctx.clock.now(),
    });
    return set;
  });
}

// ---------------------------------------------------------------------------------------
// Showing a set.

export interface PatronMember {
  id: string;
  /** False when the patron has gone from the database since it was added. */
  exists: boolean;
  firstName: string;
  lastName: string;
  homeLibrary: string;
  ptype: string | null;
  patronCode: string;
  status: 'active' | 'secured' | null;
  inCollections: boolean;
  blocked: boolean;
  note: string;
  balanceCents: Cents;
  /** Items still linked to the patron (securing is refused while there are any). */
  linkedItems: number;
}

export interface ItemMember {
  id: string;
  exists: boolean;
  barcode: string;
  title: string;
  status: ItemStatus | null;
  patronId: string | null;
  dueDate: string | null;
}

export type RecordSetView = { set: RecordSetSummary; kind: 'patron'; members: PatronMember[] } | { set: RecordSetSummary; kind: 'item'; members: ItemMember[] };

export async function showRecordSet(db: Executor, ref: string | number): Promise<RecordSetView> {
  const set = await getRecordSet(db, ref);
  if (set.kind === 'item') {
    const rows = await db
      .selectFrom('record_set_members as m')
      .leftJoin('items as i', 'i.id', 'm.member_id')
      .where('m.record_set_id', '=', set.id)
      .select(['m.member_id', 'i.id as item_id', 'i.barcode', 'i.title', 'i.status', 'i.patron_id', 'i.due_date'])
      .orderBy('m.member_id')
      .execute();
    return {
      set,
      kind: 'item',
      members: rows.map((r) => ({
        id: r.member_id,
        exists: r.item_id !== null,
        barcode: r.barcode ?? '',
        title: r.title ?? '',
        status: r.status,
        patronId: r.patron_id,
        dueDate: r.due_date,
      })),
    };
  }
  // Balance = what each charge still owes (paid_cents is kept from its allocations).
  const rows = await sql<{
    member_id: string;
    id: string | null;
    first_name: string | null;
    last_name: string | null;
    home_library: string | null;
    ptype: string | null;
    patron_code: string | null;
    status: 'active' | 'secured' | null;
    in_collections: boolean | null;
    blocked: boolean | null;
    note: string | null;
    balance: number;
    items: number;
  }>`
    select m.member_id, p.id, p.first_name, p.last_name, p.home_library, p.ptype, p.patron_code, p.status,
           p.in_collections, p.blocked, p.note,
           coalesce((select sum(c.amount_cents - c.paid_cents) from charges c where c.patron_id = m.member_id), 0)::bigint as balance,
           (select count(*) from items i where i.patron_id = m.member_id)::int as items
    from record_set_members m
    left join patrons p on p.id = m.member_id
    where m.record_set_id = ${set.id}
    order by m.member_id`.execute(db);
  return {
    set,
    kind: 'patron',
    members: rows.rows.map((r) => ({
      id: r.member_id,
      exists: r.id !== null,
      firstName: r.first_name ?? '',
      lastName: r.last_name ?? '',
      homeLibrary: r.home_library ?? '',
      ptype: r.ptype,
      patronCode: r.patron_code ?? '',
      status: r.status,
      inCollections: r.in_collections ?? false,
      blocked: r.blocked ?? false,
      note: r.note ?? '',
      balanceCents: Number(r.balance) as Cents,
      linkedItems: Number(r.items),
    })),
  };
}

/** A set as scripts read it (`recordset show --json`, the API): amounts as decimal strings. */
export function recordSetJson(view: RecordSetView) {
  const set = { ...view.set, createdAt: view.set.createdAt.toISOString() };
  if (view.kind === 'item') return { set, members: view.members };
  return { set, members: view.members.map(({ balanceCents, ...m }) => ({ ...m, balance: formatMoney(balanceCents) })) };
}

// ---------------------------------------------------------------------------------------
// Bulk change of a patron set's members.

export interface BulkChange {
  patronCode?: string;
  /** The ILS's patron category as text, or a Sierra-style number's digits. */
  ptype?: string;
  note?: { text: string; mode: 'append' | 'replace' };
  blocked?: boolean;
}

type ChangedFields = { patron_code?: string; ptype?: string; note?: string; blocked?: boolean };

export interface BulkChangeResult {
  set: RecordSetSummary;
  /** Per patron, the fields that changed, before and after. */
  changed: { patronId: string; before: ChangedFields; after: ChangedFields }[];
  /** Members whose fields already had these values. */
  unchanged: string[];
}

const PATRON_CODE_MAX = 50;
const NOTE_MAX = 4000;

function checkChange(change: BulkChange): Problem[] {
  const problems: Problem[] = [];
  if (change.patronCode === undefined && change.ptype === undefined && change.note === undefined && change.blocked === undefined) {
    problems.push({ reason: 'nothing to change: give a patron code, a patron type, a note, or block/unblock' });
  }
  if (change.patronCode !== undefined && change.patronCode.trim().length > PATRON_CODE_MAX) {
    problems.push({ field: 'patronCode', reason: `a patron code is at most ${PATRON_CODE_MAX} characters` });
  }
  const ptypeProblem = change.ptype === undefined ? null : ptypeTextProblem(change.ptype.trim());
  if (ptypeProblem !== null) problems.push({ field: 'ptype', reason: `a patron type ${ptypeProblem}` });
  if (change.note !== undefined) {
    if (change.note.text.trim() === '' && change.note.mode === 'append') problems.push({ field: 'note', reason: 'the note to append is empty' });
    if (change.note.text.length > NOTE_MAX) problems.push({ field: 'note', reason: `a note is at most ${NOTE_MAX} characters` });
  }
  return problems;
}

/**
 * Changes the members of a patron set at once: patron code, patron type, a note (appended on a
 * new line, or replacing the old one) and the block. One transaction: any failure changes nobody.
 */
export async function bulkChange(ctx: Context, ref: string | number, change: BulkChange): Promise<BulkChangeResult> {
  const problems = checkChange(change);
  if (problems.length) throw new ValidationError(problems);
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref, 'patron');
    const ids = await memberIds(trx, set.id);
    if (ids.length === 0) return { set, changed: [], unchanged: [] };
    const now = ctx.clock.now();
    const current = await trx.selectFrom('patrons').select(['id', 'patron_code', 'ptype', 'note', 'blocked']).where('id', 'in', ids).orderBy('id').forUpdate().execute();
    const changed: BulkChangeResult['changed'] = [];
    const unchanged: string[] = [];
    const rows: { id: string; patron_code: string; ptype: string; note: string; blocked: boolean }[] = [];
    for (const p of current) {
      const next = { patron_code: p.patron_code, ptype: p.ptype, note: p.note, blocked: p.blocked };
      if (change.patronCode !== undefined) next.patron_code = change.patronCode.trim();
      if (change.ptype !== undefined) next.ptype = change.ptype.trim();
      if (change.note !== undefined) {
        const text = change.note.text.trim();
        next.note = change.note.mode === 'replace' || p.note === '' ? text : `${p.note}\n${text}`;
      }
      if (change.blocked !== undefined) next.blocked = change.blocked;
      const was: ChangedFields = {};
      const becomes: ChangedFields = {};
      for (const key of ['patron_code', 'ptype', 'note', 'blocked'] as const) {
        if (next[key] !== p[key]) {
          Object.assign(was, { [key]: p[key] });
          Object.assign(becomes, { [key]: next[key] });
        }
      }
      if (Object.keys(becomes).length === 0) unchanged.push(p.id);
      else {
        changed.push({ patronId: p.id, before: was, after: becomes });
        rows.push({ id: p.id, ...next });
      }
    }
    for (let i = 0; i < rows.length; i += 10_000) {
      const batch = rows.slice(i, i + 10_000);
      await sql`
        update patrons p set patron_code = v.patron_code, ptype = v.ptype, note = v.note, blocked = v.blocked, updated_at = ${now}::timestamptz
        from unnest(${batch.map((r) => r.id)}::text[], ${batch.map((r) => r.patron_code)}::text[], ${batch.map((r) => r.ptype)}::text[],
                    ${batch.map((r) => r.note)}::text[], ${batch.map((r) => r.blocked)}::boolean[])
          as v(id, patron_code, ptype, note, blocked)
        where p.id = v.id`.execute(trx);
    }
    await recordAudit(
      trx,
      changed.map(
        (c): AuditEntry => ({ actor: ctx.actor, action: 'patron.change', entity: 'patron', entityId: c.patronId, before: c.before, after: { ...c.after, recordSet: set.name }, at: now }),
      ),
    );
    return { set, changed, unchanged };
  });
}

// ---------------------------------------------------------------------------------------
// Item sets: the items linked to a patron set's members, and what to do with lost ones.

export interface CreateItemSetInput {
  /** The patron record set whose members' linked items are taken. */
  from: string | number;
  /** Item statuses to include (one or more of ITEM_STATUSES). */
  statuses: string[];
  /** Default: "<patron set name> items (<statuses>)". */
  name?: string;
}

export interface CreatedItemSet {
  set: RecordSetSummary;
  items: ItemMember[];
}

export function parseItemStatuses(statuses: readonly string[]): ItemStatus[] {
  const wanted = [...new Set(statuses.flatMap((s) => s.split(',')).map((s) => s.trim().toLowerCase()).filter(Boolean))];
  if (wanted.length === 0) throw ValidationError.of(`name at least one item status: ${ITEM_STATUSES.join(', ')}`, { field: 'statuses' });
  const bad = wanted.filter((s) => !(ITEM_STATUSES as readonly string[]).includes(s));
  if (bad.length) throw ValidationError.of(`unknown item status ${bad.map((s) => `"${s}"`).join(', ')}; expected ${ITEM_STATUSES.join(', ')}`, { field: 'statuses' });
  return wanted as ItemStatus[];
}

export async function createItemSet(ctx: Context, input: CreateItemSetInput): Promise<CreatedItemSet> {
  const statuses = parseItemStatuses(input.statuses);
  return ctx.database.db.transaction().execute(async (trx) => {
    const from = await getRecordSet(trx, input.from, 'patron');
    const name = checkSetName(input.name ?? `${from.name} items (${statuses.join(',')})`);
    await assertNameFree(trx, name);
    const patrons = await memberIds(trx, from.id);
    const items = patrons.length
      ? await trx
          .selectFrom('items')
          .select(['id', 'barcode', 'title', 'status', 'patron_id', 'due_date'])
          .where('patron_id', 'in', patrons)
          .where('status', 'in', statuses)
          .orderBy('id')
          .execute()
      : [];
    const now = ctx.clock.now();
    const source = `record set #${from.id} "${from.name}", items ${statuses.join(',')}`;
    const row = await trx
      .insertInto('record_sets')
      .values({ name, kind: 'item', source, created_by: ctx.actor, created_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    await insertMembers(
      trx,
      row.id,
      items.map((i) => i.id),
      now,
    );
    await recordAudit(trx, {
      actor: ctx.actor,
      action: 'recordset.create',
      entity: 'record_set',
      entityId: row.id,
      after: { name, kind: 'item', source, members: items.map((i) => i.id) },
      at: now,
    });
    return {
      set: await getRecordSet(trx, row.id),
      items: items.map((i) => ({ id: i.id, exists: true, barcode: i.barcode, title: i.title, status: i.status, patronId: i.patron_id, dueDate: i.due_date })),
    };
  });
}

export interface ItemRef {
  id: string;
  barcode: string;
  title: string;
  /** The patron it was linked to. */
  patronId: string | null;
}

export interface SkippedItem {
  id: string;
  reason: string;
}

export interface LostItemsResult {
  set: RecordSetSummary;
  /** delete: item rows removed. */
  deleted: ItemRef[];
  /** delete: lost items a charge still names, kept as withdrawn and unlinked. transition: every lost item, to its library's status. */
  kept: (ItemRef & { status: 'missing' | 'withdrawn'; library?: string })[];
  /** Members that are not lost items linked to a patron, left as they are. */
  skipped: SkippedItem[];
}

/** The set's members that are lost and still linked to a patron, locked; the others with why they are passed over. */
async function lostMembers(trx: Executor, setId: number) {
  const ids = await memberIds(trx, setId);
  const rows = ids.length ? await trx.selectFrom('items').select(['id', 'barcode', 'title', 'status', 'patron_id']).where('id', 'in', ids).orderBy('id').forUpdate().execute() : [];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const skipped: SkippedItem[] = [];
  const lost: typeof rows = [];
  for (const id of ids) {
    const r = byId.get(id);
    if (!r) skipped.push({ id, reason: 'no longer exists' });
    else if (r.status !== 'lost') skipped.push({ id, reason: `status is ${r.status}, not lost` });
    else if (r.patron_id === null) skipped.push({ id, reason: 'not linked to a patron' });
    else lost.push(r);
  }
  return { lost, skipped };
}

/**
 * Bulk delete of the lost items in an item set, so their patrons can be secured. An item row
 * that no charge names is deleted. One that a charge names is kept, as withdrawn and unlinked
 * from the patron: deleting it would break the charge's reference, and clearing
 * charges.item_id would lose the title and barcode that reports and the patron's ledger show.
 * Either way the patron has no linked item left and every charge stays as it was.
 */
export async function deleteLostItems(ctx: Context, ref: string | number): Promise<LostItemsResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref, 'item');
    const { lost, skipped } = await lostMembers(trx, set.id);
    const now = ctx.clock.now();
    const charged = new Set(
      lost.length
        ? (
            await trx
              .selectFrom('charges')
              .select('item_id')
              .distinct()
              .where('item_id', 'in', lost.map((i) => i.id))
              .execute()
          ).map((c) => c.item_id)
        : [],
    );
    const toDelete = lost.filter((i) => !charged.has(i.id));
    const toKeep = lost.filter((i) => charged.has(i.id));
    if (toKeep.length) {
      await trx
        .updateTable('items')
        .set({ status: 'withdrawn', patron_id: null, updated_at: now })
        .where('id', 'in', toKeep.map((i) => i.id))
        .execute();
    }
    if (toDelete.length) {
      const ids = toDelete.map((i) => i.id);
      // Item sets list items by id; a deleted item leaves every item set it was in.
      await trx
        .deleteFrom('record_set_members')
        .where('member_id', 'in', ids)
        .where('record_set_id', 'in', (eb) => eb.selectFrom('record_sets').select('id').where('kind', '=', 'item'))
        .execute();
      await trx.deleteFrom('items').where('id', 'in', ids).execute();
    }
    const audit: AuditEntry[] = [
      ...toDelete.map((i): AuditEntry => ({ actor: ctx.actor, action: 'item.delete', entity: 'item', entityId: i.id, before: i, after: { recordSet: set.name }, at: now })),
      ...toKeep.map(
        (i): AuditEntry => ({
          actor: ctx.actor,
          action: 'item.withdraw',
          entity: 'item',
          entityId: i.id,
          before: { status: i.status, patron_id: i.patron_id },
          after: { status: 'withdrawn', patron_id: null, recordSet: set.name, reason: 'lost item deleted; kept because a charge names it' },
          at: now,
        }),
      ),
    ];
    await recordAudit(trx, audit);
    const toRef = (i: (typeof lost)[number]): ItemRef => ({ id: i.id, barcode: i.barcode, title: i.title, patronId: i.patron_id });
    return {
      set: await getRecordSet(trx, set.id),
      deleted: toDelete.map(toRef),
      kept: toKeep.map((i) => ({ ...toRef(i), status: 'withdrawn' as const })),
      skipped,
    };
  });
}

/**
 * The library's Lost Item Transition (Polaris): each lost item in the set becomes 'missing' or
 * 'withdrawn' as its library says and is unlinked from the patron. Items carry no library, so
 * the patron's home library decides.
 */
export async function transitionLostItems(ctx: Context, ref: string | number): Promise<LostItemsResult> {
  return ctx.database.db.transaction().execute(async (trx) => {
    const set = await getRecordSet(trx, ref, 'item');
    const { lost, skipped } = await lostMembers(trx, set.id);
    const now = ctx.clock.now();
    const moved = lost.length
      ? (
          await sql<{ id: string; barcode: string; title: string; status: 'missing' | 'withdrawn'; patron_id: string; library: string }>`
            update items i set status = l.lost_item_transition, patron_id = null, updated_at = ${now}::timestamptz
            from patrons p join libraries l on l.code = p.home_library
            where p.id = i.patron_id and i.id = any(${lost.map((x) => x.id)}::text[]) and i.status = 'lost'
            returning i.id, i.barcode, i.title, i.status, p.id as patron_id, l.code as library`.execute(trx)
        ).rows.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      : [];
    await recordAudit(
      trx,
      moved.map(
        (i): AuditEntry => ({
          actor: ctx.actor,
          action: 'item.transition',
          entity: 'item',
          entityId: i.id,
          before: { status: 'lost', patron_id: i.patron_id },
          after: { status: i.status, patron_id: null, library: i.library, recordSet: set.name },
          at: now,
        }),
      ),
    );
    return {
      set: await getRecordSet(trx, set.id),
      deleted: [],
      kept: moved.map((i) => ({ id: i.id, barcode: i.barcode, title: i.title, patronId: i.patron_id, status: i.status, library: i.library })),
      skipped,
    };
  });
}
