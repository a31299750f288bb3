// The Collection Agency Settings table: read in order for the engine, imported and exported
// in its JSON form (DESIGN.md), every change audited with before and after.
import { sql } from 'kysely';
import type { LocalDate } from '../domain/dates.ts';
import { NotFoundError, ValidationError, type Problem } from '../domain/errors.ts';
import type { Cents } from '../domain/money.ts';
import type { AgencyChoice, SettingsEntry, WindowSpec } from '../domain/settings.ts';
import { LIMITS, toSettingsJson, validateSettingsTable, type SettingsEntryInput, type SettingsEntryJson } from '../domain/settings-validation.ts';
import type { SettingsRow } from '../db/schema.ts';
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
