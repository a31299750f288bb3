// The Collection Agency Settings table: read in order for the engine, imported and exported
// in its JSON form (DESIGN.md), every change audited with before and after.
import { sql } from 'kysely';
import type { LocalDate } from '../domain/dates.ts';
import { NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import { sum, type Cents } from '../domain/money.ts';
import type { AgencyChoice, SettingsEntry, WindowSpec } from '../domain/settings.ts';
import { LIMITS, toSettingsJson, validateSettingsTable, type SettingsEntryInput, type SettingsEntryJson } from '../domain/settings-validation.ts';
import type { SettingsRow } from '../db/schema.ts';
import { findEligible, type EligibleRow } from '../db/eligibility.sql.ts';
import { recordAudit, type AuditEntry } from './audit.ts';
import type { Context, Executor } from './context.ts';

export interface ImportSummary {
  /** Entry names, in table order. */
  created: string[];
  updated: string[];
  unchanged: string[];
  removed: string[];
}

function toWindow(row: SettingsRow): WindowSpec {
  return row.window_mode === 'relative'
    ? { mode: 'relative', startDays: row.start_days, endDays: row.end_days }
    : { mode: 'absolute', start: row.absolute_start as LocalDate | null, end: row.absolute_end as LocalDate | null, graceDays: row.grace_days };
}

function agencyName(names: Map<number, string>, id: number): string {
  const name = names.get(id);
  if (name === undefined) throw new Error(`agency ${id} of a settings entry is missing`);
  return name;
}

function toAgencyChoice(row: SettingsRow, names: Map<number, string>): AgencyChoice {
  if (row.agency_strategy !== null) {
    return { kind: 'strategy', strategy: row.agency_strategy, among: row.strategy_among.map((id) => agencyName(names, id)) };
  }
  return { kind: 'fixed', agency: agencyName(names, row.agency_id!) };
}

function toEntry(row: SettingsRow, names: Map<number, string>): SettingsEntry {
  return {
    id: row.id,
    position: row.position,
    name: row.name,
    homeLibraries: row.home_libraries,
    ptypes: row.ptypes,
    exemptPatronCodes: row.exempt_patron_codes,
    countedCharges: row.counted_charges,
    window: toWindow(row),
    feeAgeDays: row.fee_age_days,
    minimumOwed: row.minimum_owed_cents as Cents,
    requireBill: row.require_bill,
    minDaysOverdue: row.min_days_overdue,
    removeIfLessThan: row.remove_if_less_than_cents as Cents,
    agencyFee: row.agency_fee_cents as Cents,
    agency: toAgencyChoice(row, names),
    resubmitAfterClear: row.resubmit_after_clear,
    autoCancelDays: row.auto_cancel_days,
    writeOffOnCancel: row.write_off_on_cancel,
    baseFilename: row.base_filename,
    autoNewSubmission: row.auto_new_submission,
    autoUpdateDays: row.auto_update_days,
    sendEmptyReports: row.send_empty_reports,
    reviewHours: row.review_hours,
    email: { from: row.email_from, to: row.email_to, cc: row.email_cc, subject: row.email_subject },
  };
}

/** Column values of an entry; agency names must already be known to exist. */
function toColumns(entry: SettingsEntryInput, ids: Map<string, number>) {
  const w = entry.window;
  const a = entry.agency;
  return {
    name: entry.name,
    home_libraries: entry.homeLibraries,
    ptypes: entry.ptypes,
    exempt_patron_codes: entry.exemptPatronCodes,
    counted_charges: entry.countedCharges,
    window_mode: w.mode,
    start_days: w.mode === 'relative' ? w.startDays : null,
    end_days: w.mode === 'relative' ? w.endDays : null,
    absolute_start: w.mode === 'absolute' ? w.start : null,
    absolute_end: w.mode === 'absolute' ? w.end : null,
    grace_days: w.mode === 'absolute' ? w.graceDays : null,
    fee_age_days: entry.feeAgeDays,
    minimum_owed_cents: entry.minimumOwed,
    require_bill: entry.requireBill,
    min_days_overdue: entry.minDaysOverdue,
    remove_if_less_than_cents: entry.removeIfLessThan,
    agency_fee_cents: entry.agencyFee,
    agency_id: a.kind === 'fixed' ? ids.get(a.agency)! : null,
    agency_strategy: a.kind === 'strategy' ? a.strategy : null,
    strategy_among: a.kind === 'strategy' ? a.among.map((n) => ids.get(n)!) : [],
    resubmit_after_clear: entry.resubmitAfterClear,
    auto_cancel_days: entry.autoCancelDays,
    write_off_on_cancel: entry.writeOffOnCancel,
    base_filename: entry.baseFilename,
    auto_new_submission: entry.autoNewSubmission,
    auto_update_days: entry.autoUpdateDays,
    send_empty_reports: entry.sendEmptyReports,
    review_hours: entry.reviewHours,
    email_from: entry.email.from,
    email_to: entry.email.to,
    email_cc: entry.email.cc,
    email_subject: entry.email.subject,
  };
}

/** What the audit log keeps of an entry: its id, place and JSON form. */
function snapshot(entry: SettingsEntry) {
  return { id: entry.id, position: entry.position, ...toSettingsJson(entry) };
}

/** The table in order: the first entry that applies to a patron is the one used. */
export async function loadEntries(db: Executor): Promise<SettingsEntry[]> {
  const rows = await db.selectFrom('settings_entries').selectAll().orderBy('position').execute();
  const agencies = await db.selectFrom('agencies').select(['id', 'name']).execute();
  const names = new Map(agencies.map((a) => [a.id, a.name]));
  return rows.map((r) => toEntry(r, names));
}

/** The table as staff see it (the same entries, in the same order, as the engine). */
export const listEntries = loadEntries;

/** By id (a number or a string of digits) or by exact name; entry names are never only digits. */
export async function getEntry(db: Executor, idOrName: number | string): Promise<SettingsEntry> {
  const key = String(idOrName).trim();
  const found = (await loadEntries(db)).find((e) => (/^\d+$/.test(key) ? e.id === Number(key) : e.name === key));
  if (!found) throw new NotFoundError(`settings entry "${key}"`);
  return found;
}

/** The table in the JSON form `importSettings` reads; importing it back changes nothing. */
export async function exportSettings(db: Executor): Promise<SettingsEntryJson[]> {
  return (await loadEntries(db)).map(toSettingsJson);
}

// Runs and imports read the table while it is edited; one writer at a time keeps positions whole.
async function lockTable(db: Executor): Promise<void> {
  await sql`lock table settings_entries in exclusive mode`.execute(db);
}

/**
 * Agency names in the raw JSON that do not exist, as problems on the entry's agency field.
 * Read from the raw array so they are reported together with every other problem.
 */
function agencyProblems(list: unknown[], ids: Map<string, number>): Problem[] {
  const problems: Problem[] = [];
  list.forEach((json, i) => {
    const agency = typeof json === 'object' && json !== null ? (json as Record<string, unknown>).agency : undefined;
    if (typeof agency === 'string' && agency.trim() !== '' && !ids.has(agency.trim())) {
      problems.push({ field: `entries[${i}].agency`, reason: `no agency is named "${agency.trim()}"` });
    }
    const among = typeof agency === 'object' && agency !== null ? (agency as Record<string, unknown>).among : undefined;
    if (Array.isArray(among)) {
      among.forEach((n, j) => {
        if (typeof n === 'string' && n.trim() !== '' && !ids.has(n.trim())) {
          problems.push({ field: `entries[${i}].agency.among[${j}]`, reason: `no agency is named "${n.trim()}"` });
        }
      });
    }
  });
  return problems;
}

/** Problems in entry order (stable within an entry); table-wide ones first. */
function byEntry(problems: Problem[]): Problem[] {
  const index = (p: Problem) => Number(/^entries\[(\d+)\]/.exec(p.field ?? '')?.[1] ?? -1);
  return [...problems].sort((a, b) => index(a) - index(b));
}

/**
 * Imports the JSON array: everything is validated first and all problems are reported at
 * once (nothing written). Entries are matched by name and updated in place, new ones added;
 * the file's order becomes the table order, entries not in the file follow in their old
 * order — or are removed with `replace`. One transaction, audited per entry.
 */
export async function importSettings(ctx: Context, json: unknown, options: { replace?: boolean } = {}): Promise<ImportSummary> {
  const validated = validateSettingsTable(json);
  // Not even an array: nothing to look up.
  if (!Array.isArray(json)) throw new ValidationError(validated.problems);

  return ctx.database.db.transaction().execute(async (trx) => {
    await lockTable(trx);
    const agencies = await trx.selectFrom('agencies').select(['id', 'name']).execute();
    const ids = new Map(agencies.map((a) => [a.name, a.id]));
    const problems = [...validated.problems, ...agencyProblems(json, ids)];
    const incoming = validated.entries;
    if (!incoming) throw new ValidationError(byEntry(problems));
    const existing = await loadEntries(trx);
    const byName = new Map(existing.map((e) => [e.name, e]));
    const incomingNames = new Set(incoming.map((e) => e.name));
    const outside = existing.filter((e) => !incomingNames.has(e.name));
    const kept = options.replace ? [] : outside;
    const removed = options.replace ? outside : [];

    const total = incoming.length + kept.length;
    if (total > LIMITS.entries) {
      problems.push({
        field: 'entries',
        reason: `the table can hold at most ${LIMITS.entries} entries; with the ${kept.length} entries not in this file it would have ${total}`,
      });
    }
    incoming.forEach((e, i) => {
      const clash = e.baseFilename === null ? undefined : kept.find((k) => k.baseFilename === e.baseFilename);
      if (clash) problems.push({ field: `entries[${i}].baseFilename`, reason: `"${e.baseFilename}" is already the base filename of entry "${clash.name}"` });
    });
    if (problems.length) throw new ValidationError(byEntry(problems));

    const now = ctx.clock.now();
    const summary: ImportSummary = { created: [], updated: [], unchanged: [], removed: removed.map((e) => e.name) };
    const audits: AuditEntry[] = [];

    if (removed.length) {
      await trx.deleteFrom('settings_entries').where('id', 'in', removed.map((e) => e.id)).execute();
      for (const e of removed) audits.push({ actor: ctx.actor, action: 'settings.remove', entity: 'settings_entry', entityId: e.id, before: snapshot(e), at: now });
    }

    // The final table: position i + 1 for the i-th of the file's entries, then the kept ones.
    const plan = [
      ...incoming.map((input) => ({ input, old: byName.get(input.name) })),
      ...kept.map((old): { input: SettingsEntryInput; old?: SettingsEntry } => ({ input: old, old })),
    ].map((p, i) => ({ ...p, position: i + 1 }));
    const same = (a: SettingsEntryInput, b: SettingsEntryInput) => JSON.stringify(toSettingsJson(a)) === JSON.stringify(toSettingsJson(b));

    // Unique indexes are checked row by row: move changing positions and base filenames out of the way first.
    const moving = plan.filter((p) => p.old && p.old.position !== p.position).map((p) => p.old!.id);
    if (moving.length) await trx.updateTable('settings_entries').set({ position: sql`-id` }).where('id', 'in', moving).execute();
    const rebased = plan.filter((p) => p.old && p.old.baseFilename !== p.input.baseFilename).map((p) => p.old!.id);
    if (rebased.length) await trx.updateTable('settings_entries').set({ base_filename: null }).where('id', 'in', rebased).execute();

    for (const { input, old, position } of plan) {
      if (!old) {
        const { id } = await trx
          .insertInto('settings_entries')
          .values({ ...toColumns(input, ids), position, created_at: now, updated_at: now })
          .returning('id')
          .executeTakeFirstOrThrow();
        audits.push({ actor: ctx.actor, action: 'settings.create', entity: 'settings_entry', entityId: id, after: snapshot({ ...input, id, position }), at: now });
        summary.created.push(input.name);
        continue;
      }
      if (old.position === position && same(old, input)) {
        summary.unchanged.push(input.name);
        continue;
      }
      await trx
        .updateTable('settings_entries')
        .set({ ...toColumns(input, ids), position, updated_at: now })
        .where('id', '=', old.id)
        .execute();
      const after = { ...input, id: old.id, position };
      audits.push({ actor: ctx.actor, action: 'settings.update', entity: 'settings_entry', entityId: old.id, before: snapshot(old), after: snapshot(after), at: now });
      summary.updated.push(input.name);
    }
    await recordAudit(trx, audits);
    return summary;
  });
}

/** Removes one entry; the entries after it move up one place. */
export async function removeEntry(ctx: Context, idOrName: number | string): Promise<SettingsEntry> {
  return ctx.database.db.transaction().execute(async (trx) => {
    await lockTable(trx);
    const entry = await getEntry(trx, idOrName);
    await trx.deleteFrom('settings_entries').where('id', '=', entry.id).execute();
    await trx.updateTable('settings_entries').set({ position: sql`-position` }).where('position', '>', entry.position).execute();
    await trx.updateTable('settings_entries').set({ position: sql`-position - 1` }).where('position', '<', 0).execute();
    const now = ctx.clock.now();
    await recordAudit(trx, { actor: ctx.actor, action: 'settings.remove', entity: 'settings_entry', entityId: entry.id, before: snapshot(entry), at: now });
    return entry;
  });
}

// --- one entry at a time (the staff app's editor, PATCH /api/settings/:id, `settings edit`) ---
// An entry keeps its id for life, whatever is edited: referrals, report files, run history
// and the scheduler's "already done" dates all hang on it.

function findEntry(entries: readonly SettingsEntry[], idOrName: number | string): SettingsEntry {
  const key = String(idOrName).trim();
  const found = entries.find((e) => (/^\d+$/.test(key) ? e.id === Number(key) : e.name === key));
  if (!found) throw new NotFoundError(`settings entry "${key}"`);
  return found;
}

/**
 * Validates a whole proposed table (each item in the JSON form) against the agencies; throws
 * every problem at once. `focus` names one entry whose problems are reported by their own
 * field ("window.startDays") rather than "entries[i].window.startDays".
 */
async function checkTable(db: Executor, list: unknown[], focus?: number): Promise<{ entries: SettingsEntryInput[]; agencyIds: Map<string, number> }> {
  const validated = validateSettingsTable(list);
  const agencies = await db.selectFrom('agencies').select(['id', 'name']).execute();
  const agencyIds = new Map(agencies.map((a) => [a.name, a.id]));
  const problems = byEntry([...validated.problems, ...agencyProblems(list, agencyIds)]);
  if (problems.length || !validated.entries) {
    const prefix = `entries[${focus}].`;
    throw new ValidationError(focus === undefined ? problems : problems.map((p) => (p.field?.startsWith(prefix) ? { ...p, field: p.field.slice(prefix.length) } : p)));
  }
  return { entries: validated.entries, agencyIds };
}

function positionProblem(position: unknown, count: number): ValidationError | null {
  if (position === undefined) return null;
  if (typeof position === 'number' && Number.isInteger(position) && position >= 1 && position <= count) return null;
  return ValidationError.of(`must be a whole number from 1 to ${count}`, { field: 'position' });
}

/** Gives the entries positions 1..n in the order of `ids`; returns the entries that moved. */
async function applyOrder(trx: Executor, current: readonly SettingsEntry[], ids: readonly number[]): Promise<{ entry: SettingsEntry; position: number }[]> {
  const moved = ids.map((id, i) => ({ entry: current.find((e) => e.id === id)!, position: i + 1 })).filter((m) => m.entry.position !== m.position);
  if (moved.length === 0) return [];
  // Positions are unique row by row: move the changing ones out of the way first.
  await trx.updateTable('settings_entries').set({ position: sql`-id` }).where('id', 'in', moved.map((m) => m.entry.id)).execute();
  for (const m of moved) await trx.updateTable('settings_entries').set({ position: m.position }).where('id', '=', m.entry.id).execute();
  return moved;
}

function moveAudits(ctx: Context, moved: { entry: SettingsEntry; position: number }[], now: Date, except?: number): AuditEntry[] {
  return moved
    .filter((m) => m.entry.id !== except)
    .map((m) => ({ actor: ctx.actor, action: 'settings.move', entity: 'settings_entry', entityId: m.entry.id, before: { name: m.entry.name, position: m.entry.position }, after: { name: m.entry.name, position: m.position }, at: now }));
}

/**
 * Changes one entry in place: `changes` holds the keys of the JSON form to replace (a key
 * given replaces that whole value, e.g. all of `window`) and optionally `position`, the place
 * to move it to (the others shift). The table is validated as a whole, so a name or base
 * filename another entry has is refused. Audited with before and after.
 */
export async function updateEntry(ctx: Context, idOrName: number | string, changes: Record<string, unknown>): Promise<SettingsEntry> {
  return ctx.database.db.transaction().execute(async (trx) => {
    await lockTable(trx);
    const entries = await loadEntries(trx);
    const old = findEntry(entries, idOrName);
    const { position, ...fields } = changes;
    const bad = positionProblem(position, entries.length);
    if (bad) throw bad;
    const index = entries.indexOf(old);
    const list = entries.map((e) => (e === old ? { ...toSettingsJson(e), ...fields } : toSettingsJson(e)));
    const { entries: inputs, agencyIds } = await checkTable(trx, list, index);
    const input = inputs[index]!;
    const now = ctx.clock.now();
    const ids = entries.map((e) => e.id).filter((id) => id !== old.id);
    ids.splice(typeof position === 'number' ? position - 1 : index, 0, old.id);
    const moved = await applyOrder(trx, entries, ids);
    const finalPosition = ids.indexOf(old.id) + 1;
    await trx.updateTable('settings_entries').set({ ...toColumns(input, agencyIds), updated_at: now }).where('id', '=', old.id).execute();
    const after: SettingsEntry = { ...input, id: old.id, position: finalPosition };
    await recordAudit(trx, [
      { actor: ctx.actor, action: 'settings.update', entity: 'settings_entry', entityId: old.id, before: snapshot(old), after: snapshot(after), at: now },
      ...moveAudits(ctx, moved, now, old.id),
    ]);
    return after;
  });
}

/** Adds one entry, last or at `position` (the entries from there move down one). */
export async function createEntry(ctx: Context, json: Record<string, unknown>): Promise<SettingsEntry> {
  return ctx.database.db.transaction().execute(async (trx) => {
    await lockTable(trx);
    const entries = await loadEntries(trx);
    const { position, ...fields } = json;
    if (entries.length >= LIMITS.entries) throw ValidationError.of(`the table already holds the most entries it can (${LIMITS.entries})`, { field: 'entries' });
    const bad = positionProblem(position, entries.length + 1);
    if (bad) throw bad;
    const { entries: inputs, agencyIds } = await checkTable(trx, [...entries.map(toSettingsJson), fields], entries.length);
    const input = inputs[entries.length]!;
    const now = ctx.clock.now();
    const { id } = await trx
      .insertInto('settings_entries')
      .values({ ...toColumns(input, agencyIds), position: entries.length + 1, created_at: now, updated_at: now })
      .returning('id')
      .executeTakeFirstOrThrow();
    const withNew = [...entries, { ...input, id, position: entries.length + 1 }];
    const ids = entries.map((e) => e.id);
    ids.splice(typeof position === 'number' ? position - 1 : entries.length, 0, id);
    const moved = await applyOrder(trx, withNew, ids);
    const created: SettingsEntry = { ...input, id, position: ids.indexOf(id) + 1 };
    await recordAudit(trx, [{ actor: ctx.actor, action: 'settings.create', entity: 'settings_entry', entityId: id, after: snapshot(created), at: now }, ...moveAudits(ctx, moved, now, id)]);
    return created;
  });
}

/** Puts the entries in the order of `ids`, which must name every entry once. */
export async function reorderEntries(ctx: Context, ids: readonly number[]): Promise<SettingsEntry[]> {
  return ctx.database.db.transaction().execute(async (trx) => {
    await lockTable(trx);
    const entries = await loadEntries(trx);
    const known = new Set(entries.map((e) => e.id));
    const problems: Problem[] = [];
    ids.forEach((id, i) => {
      if (!known.has(id)) problems.push({ field: `ids[${i}]`, reason: `no settings entry has id ${id}` });
      else if (ids.indexOf(id) !== i) problems.push({ field: `ids[${i}]`, reason: `entry ${id} is listed twice` });
    });
    const missing = entries.filter((e) => !ids.includes(e.id));
    if (missing.length) problems.push({ field: 'ids', reason: `every entry must be listed once; missing ${missing.map((e) => `${e.id} (${e.name})`).join(', ')}` });
    if (problems.length) throw new ValidationError(problems);
    const moved = await applyOrder(trx, entries, ids);
    await recordAudit(trx, moveAudits(ctx, moved, ctx.clock.now()));
    return loadEntries(trx);
  });
}

// --- what a change would do -------------------------------------------------------------

export interface PreviewPatron {
  patronId: string;
  name: string;
  /** The entry that applies (before for dropped patrons, after for added ones). */
  entry: string;
  owedCents: Cents;
}

export interface SettingsPreview {
  reportDate: LocalDate;
  before: { count: number; owedCents: Cents };
  after: { count: number; owedCents: Cents };
  /** Submitted with the proposed table and not with the current one. */
  added: PreviewPatron[];
  /** Submitted with the current table and not with the proposed one. */
  dropped: PreviewPatron[];
  /** Submitted either way, under another entry. */
  moved: (PreviewPatron & { from: string })[];
  /** How many of each there are (the lists hold at most `limit`). */
  totals: { added: number; dropped: number; moved: number };
}

/**
 * New Submissions for a report date with the current table and with a proposed one (the JSON
 * form in order; an item with `id` stands for that existing entry, one without is new),
 * against today's data, writing nothing: who would be added, dropped, or fall under another
 * entry.
 */
export async function previewSettings(db: Executor, proposed: unknown[], reportDate: LocalDate, limit = 200): Promise<SettingsPreview> {
  const current = await loadEntries(db);
  const known = new Map(current.map((e) => [e.id, e]));
  const idProblems: Problem[] = [];
  const ids: (number | null)[] = [];
  const list = proposed.map((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) return item;
    const { id, ...rest } = item as Record<string, unknown>;
    if (id !== undefined && id !== null && !(typeof id === 'number' && known.has(id))) idProblems.push({ field: `entries[${i}].id`, reason: `no settings entry has id ${JSON.stringify(id)}` });
    ids.push(typeof id === 'number' ? id : null);
    return rest;
  });
  if (idProblems.length) throw new ValidationError(idProblems);
  const { entries: inputs } = await checkTable(db, list);
  // Entries not saved yet need ids of their own for the query; negative ones never clash.
  const table: SettingsEntry[] = inputs.map((input, i) => ({ ...input, id: ids[i] ?? -(i + 1), position: i + 1 }));
  const [beforeRows, afterRows] = [await findEligible(db, current, reportDate), await findEligible(db, table, reportDate)];
  const nameOf = new Map([...current, ...table].map((e) => [e.id, e.name]));
  const before = new Map(beforeRows.map((r) => [r.patronId, r]));
  const after = new Map(afterRows.map((r) => [r.patronId, r]));
  const added = afterRows.filter((r) => !before.has(r.patronId));
  const dropped = beforeRows.filter((r) => !after.has(r.patronId));
  const moved = afterRows.filter((r) => before.has(r.patronId) && before.get(r.patronId)!.entryId !== r.entryId);
  const shown = [...added.slice(0, limit), ...dropped.slice(0, limit), ...moved.slice(0, limit)].map((r) => r.patronId);
  const people = shown.length ? await db.selectFrom('patrons').select(['id', 'first_name', 'last_name']).where('id', 'in', shown).execute() : [];
  const names = new Map(people.map((p) => [p.id, [p.first_name, p.last_name].filter(Boolean).join(' ')]));
  const patron = (r: EligibleRow): PreviewPatron => ({ patronId: r.patronId, name: names.get(r.patronId) ?? '', entry: nameOf.get(r.entryId) ?? String(r.entryId), owedCents: r.owedCents });
  const total = (rows: EligibleRow[]) => sum(rows.map((r) => r.owedCents));
  return {
    reportDate,
    before: { count: beforeRows.length, owedCents: total(beforeRows) },
    after: { count: afterRows.length, owedCents: total(afterRows) },
    added: added.slice(0, limit).map(patron),
    dropped: dropped.slice(0, limit).map(patron),
    moved: moved.slice(0, limit).map((r) => ({ ...patron(r), from: nameOf.get(before.get(r.patronId)!.entryId) ?? '' })),
    totals: { added: added.length, dropped: dropped.length, moved: moved.length },
  };
}
