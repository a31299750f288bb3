// The Collection Agency Settings table in order (the first entry whose home libraries and
// PTYPEs match a patron is the one applied), and an editor for every field of an entry. An
// entry is changed in place by its id (PATCH /api/settings/:id), which it keeps for life with
// its run history and schedule; entries are added, duplicated, deleted (asking first) and
// reordered. Before saving, "Preview changes" runs the edited table against today's data and
// lists who would be added, dropped or fall under another entry. Each problem the server
// reports is shown beside the field it names.
import { useState, type FormEvent, type ReactNode } from 'react';
import { ApiError, del, get, patch, post, put, type List } from '../api.ts';
import { money, PatronLink, libraryLabel, useCan, useConfirm, useLibraries } from '../session.tsx';
import { DataTable } from '../table.tsx';
import { Busy, Done, ErrorBanner, useLoad, useTask } from '../ui.tsx';
import type { SettingsEntryJson, WindowJson } from '../../../domain/settings-validation.ts';

/** An entry in the JSON form (DESIGN.md), as the server reads and writes it; PTYPEs may be numbers or the ILS's own codes. */
type EntryJson = SettingsEntryJson;
type Window = WindowJson;
type AgencyChoice = SettingsEntryJson['agency'];

type Entry = EntryJson & { id: number; position: number };

interface Preview {
  reportDate: string;
  before: { count: number; owed: string };
  after: { count: number; owed: string };
  added: { patronId: string; name: string; entry: string; owed: string }[];
  dropped: { patronId: string; name: string; entry: string; owed: string }[];
  moved: { patronId: string; name: string; entry: string; owed: string; from: string }[];
  totals: { added: number; dropped: number; moved: number };
}

interface RunRow {
  id: number;
  reportDate: string;
  trigger: string;
  actor: string;
  startedAt: string;
}

interface JobStatus {
  entryId: number;
  job: string;
  lastDone: string | null;
}

const STRATEGIES: Record<string, string> = { least_referred_debt: 'the agency with the least open referred debt', round_robin: 'round robin' };

function today(): string {
  const d = new Date();
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

/** The JSON form of a listed entry, with its id (what preview and PATCH take). */
function jsonOf(e: Entry): EntryJson & { id: number } {
  const { position: _position, ...json } = e;
  return json;
}

function agencyText(agency: AgencyChoice): string {
  if (typeof agency === 'string') return agency;
  return `${STRATEGIES[agency.strategy] ?? agency.strategy}${agency.among.length ? ` among ${agency.among.join(', ')}` : ''}`;
}

function windowText(w: Window): string {
  if (w.mode === 'relative') {
    if (w.startDays === null && w.endDays === null) return 'every charge';
    return `${w.startDays ?? 'any'} to ${w.endDays ?? 0} days before the report date`;
  }
  return `${w.start ?? '1970-01-01'} to ${w.end ?? 'the report date'}${w.graceDays ? `, grace ${w.graceDays} days` : ''}`;
}

// --- the editor's draft: every field as the form holds it ------------------------------------

interface Draft {
  name: string;
  homeLibraries: string[];
  ptypes: string;
  exemptPatronCodes: string;
  countedCharges: 'all' | 'item_fees';
  mode: 'relative' | 'absolute';
  startDays: string;
  endDays: string;
  start: string;
  end: string;
  graceDays: string;
  feeAgeDays: string;
  minimumOwed: string;
  requireBill: boolean;
  minDaysOverdue: string;
  removeIfLessThan: string;
  agencyFee: string;
  agencyKind: 'fixed' | 'strategy';
  agency: string;
  strategy: string;
  among: string[];
  resubmitAfterClear: boolean;
  autoCancelDays: string;
  writeOffOnCancel: boolean;
  baseFilename: string;
  autoNewSubmission: boolean;
  autoUpdateDays: string;
  sendEmptyReports: boolean;
  reviewHours: string;
  emailFrom: string;
  emailTo: string;
  emailCc: string;
  emailSubject: string;
}

const text = (n: number | null) => (n === null ? '' : String(n));

function toDraft(e: EntryJson): Draft {
  const w = e.window;
  return {
    name: e.name,
    homeLibraries: [...e.homeLibraries],
    ptypes: e.ptypes.map(String).join(', '),
    exemptPatronCodes: e.exemptPatronCodes.join(', '),
    countedCharges: e.countedCharges,
    mode: w.mode,
    startDays: w.mode === 'relative' ? text(w.startDays) : '',
    endDays: w.mode === 'relative' ? text(w.endDays) : '',
    start: w.mode === 'absolute' ? (w.start ?? '') : '',
    end: w.mode === 'absolute' ? (w.end ?? '') : '',
    graceDays: w.mode === 'absolute' ? text(w.graceDays) : '',
    feeAgeDays: text(e.feeAgeDays),
    minimumOwed: e.minimumOwed,
    requireBill: e.requireBill,
    minDaysOverdue: text(e.minDaysOverdue),
    removeIfLessThan: e.removeIfLessThan,
    agencyFee: e.agencyFee,
    agencyKind: typeof e.agency === 'string' ? 'fixed' : 'strategy',
    agency: typeof e.agency === 'string' ? e.agency : '',
    strategy: typeof e.agency === 'string' ? 'least_referred_debt' : e.agency.strategy,
    among: typeof e.agency === 'string' ? [] : [...e.agency.among],
    resubmitAfterClear: e.resubmitAfterClear,
    autoCancelDays: text(e.autoCancelDays),
    writeOffOnCancel: e.writeOffOnCancel,
    baseFilename: e.baseFilename ?? '',
    autoNewSubmission: e.autoNewSubmission,
    autoUpdateDays: e.autoUpdateDays,
    sendEmptyReports: e.sendEmptyReports,
    reviewHours: text(e.reviewHours),
    emailFrom: e.email.from,
    emailTo: e.email.to,
    emailCc: e.email.cc,
    emailSubject: e.email.subject,
  };
}

/** A count field: blank is null, digits a number; anything else goes as typed, for the server to name. */
function count(v: string): number | string | null {
  const t = v.trim();
  if (t === '') return null;
  return /^\d+$/.test(t) ? Number(t) : t;
}

function list(v: string): string[] {
  return v
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
}

/** PTYPEs as typed: a whole number stays a number (Sierra), anything else is the ILS's code as text. */
export function ptypeValues(v: string): (number | string)[] {
  return list(v).map((x) => (/^\d+$/.test(x) ? Number(x) : x));
}

function fromDraft(d: Draft): Record<string, unknown> {
  return {
    name: d.name.trim(),
    homeLibraries: d.homeLibraries,
    ptypes: ptypeValues(d.ptypes),
    exemptPatronCodes: list(d.exemptPatronCodes),
    countedCharges: d.countedCharges,
    window:
      d.mode === 'relative'
        ? { mode: 'relative', startDays: count(d.startDays), endDays: count(d.endDays) }
        : { mode: 'absolute', start: d.start || null, end: d.end || null, graceDays: count(d.graceDays) },
    feeAgeDays: count(d.feeAgeDays),
    minimumOwed: d.minimumOwed.trim(),
    requireBill: d.requireBill,
    minDaysOverdue: count(d.minDaysOverdue),
    removeIfLessThan: d.removeIfLessThan.trim() || '0.00',
    agencyFee: d.agencyFee.trim() || '0.00',
    agency: d.agencyKind === 'fixed' ? d.agency : { strategy: d.strategy, among: d.among },
    resubmitAfterClear: d.resubmitAfterClear,
    autoCancelDays: count(d.autoCancelDays),
    writeOffOnCancel: d.writeOffOnCancel,
    baseFilename: d.baseFilename.trim() || null,
    autoNewSubmission: d.autoNewSubmission,
    autoUpdateDays: d.autoUpdateDays.trim(),
    sendEmptyReports: d.sendEmptyReports,
    reviewHours: count(d.reviewHours),
    email: { from: d.emailFrom.trim(), to: d.emailTo.trim(), cc: d.emailCc.trim(), subject: d.emailSubject.trim() },
  };
}

const NEW_ENTRY: EntryJson = {
  name: '',
  homeLibraries: [],
  ptypes: [],
  exemptPatronCodes: [],
  countedCharges: 'all',
  window: { mode: 'relative', startDays: null, endDays: null },
  feeAgeDays: null,
  minimumOwed: '25.00',
  requireBill: false,
  minDaysOverdue: null,
  removeIfLessThan: '0.00',
  agencyFee: '0.00',
  agency: '',
  resubmitAfterClear: false,
  autoCancelDays: null,
  writeOffOnCancel: false,
  baseFilename: null,
  autoNewSubmission: false,
  autoUpdateDays: '',
  sendEmptyReports: true,
  reviewHours: null,
  email: { from: '', to: '', cc: '', subject: '' },
};

// Where the server's field names ("window.startDays", "ptypes[2]") show in the form.
const FIELD_OF: [string, string][] = [
  ['window.startDays', 'startDays'],
  ['window.endDays', 'endDays'],
  ['window.start', 'start'],
  ['window.end', 'end'],
  ['window.graceDays', 'graceDays'],
  ['window', 'mode'],
  ['agency.among', 'among'],
  ['agency.strategy', 'strategy'],
  ['agency', 'agency'],
  ['email.from', 'emailFrom'],
  ['email.to', 'emailTo'],
  ['email.cc', 'emailCc'],
  ['email.subject', 'emailSubject'],
];

function formField(serverField: string): string {
  for (const [prefix, key] of FIELD_OF) if (serverField === prefix || serverField.startsWith(`${prefix}.`) || serverField.startsWith(`${prefix}[`)) return key;
  return serverField.replace(/\[\d+\]$/, '').split('.')[0]!;
}

// --- pieces -------------------------------------------------------------------------------

function PreviewPanel({ preview, title }: { preview: Preview; title: string }) {
  const p = preview;
  const change = p.after.count - p.before.count;
  const rows = [
    ...p.added.map((x) => ({ ...x, what: 'added', from: '' })),
    ...p.dropped.map((x) => ({ ...x, what: 'dropped', from: x.entry, entry: '' })),
    ...p.moved.map((x) => ({ ...x, what: 'under another entry' })),
  ];
  return (
    <section className="panel preview" aria-labelledby="preview-title">
      <h3 id="preview-title">{title}</h3>
      <p role="status">
        New Submissions for {p.reportDate} with today’s data: {p.after.count} ({money(p.after.owed)}) instead of {p.before.count} ({money(p.before.owed)}),{' '}
        {change === 0 ? 'the same number' : change > 0 ? `${change} more` : `${-change} fewer`}. {p.totals.added} added, {p.totals.dropped} dropped, {p.totals.moved} under another entry.
      </p>
      {rows.length > 0 ? (
        <DataTable
          name="patrons the change affects"
          rows={rows}
          rowKey={(r) => `${r.what}-${r.patronId}`}
          pageSize={10}
          columns={[
            { header: 'Change', cell: (r) => r.what },
            { header: 'Patron', text: (r) => r.patronId, cell: (r) => <PatronLink id={r.patronId} /> },
            { header: 'Name', cell: (r) => r.name },
            { header: 'Entry before', cell: (r) => r.from },
            { header: 'Entry after', cell: (r) => r.entry },
            { header: 'Owed', num: true, text: (r) => money(r.owed), cell: (r) => money(r.owed) },
          ]}
        />
      ) : (
        <p>Nobody would be added or dropped.</p>
      )}
    </section>
  );
}

function Field({ id, label, hint, problem, children, wide }: { id: string; label: string; hint?: string; problem?: string; children: ReactNode; wide?: boolean }) {
  return (
    <div className={wide ? 'field wide' : 'field'}>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <small id={`${id}-hint`}>{hint}</small>}
      {problem && (
        <span className="problem" id={`${id}-problem`} role="alert">
          {label} {problem}
        </span>
      )}
    </div>
  );
}

function EntryHistory({ entry }: { entry: Entry }) {
  const runs = useLoad(() => get<List<RunRow>>('/runs', { entry: String(entry.id), limit: '10' }), [entry.id]);
  const schedule = useLoad(() => get<List<JobStatus>>('/schedule'), [entry.id]);
  const jobs = schedule.data?.items.filter((j) => j.entryId === entry.id) ?? [];
  return (
    <section className="history" aria-labelledby={`history-${entry.id}`}>
      <h3 id={`history-${entry.id}`}>
        Entry id {entry.id}, position {entry.position}: run history
      </h3>
      <p>
        Scheduler: {jobs.length ? jobs.map((j) => `${j.job === 'new' ? 'New Submissions' : 'Updates'} done through ${j.lastDone ?? 'not yet'}`).join('; ') : 'not scheduled yet'}. An
        edit keeps the id, so these stay with the entry.
      </p>
      <ErrorBanner error={runs.error} />
      {runs.data && runs.data.items.length === 0 && <p>Not run yet.</p>}
      {runs.data && runs.data.items.length > 0 && (
        <DataTable
          plain
          caption={`${runs.data.total} run${runs.data.total === 1 ? '' : 's'} included this entry; the latest:`}
          rows={runs.data.items}
          rowKey={(r) => r.id}
          columns={[
            { header: 'Run', cell: (r) => r.id },
            { header: 'Report date', cell: (r) => r.reportDate },
            { header: 'Started by', cell: (r) => (r.trigger === 'schedule' ? 'the scheduler' : r.actor) },
            { header: 'Started', cell: (r) => new Date(r.startedAt).toLocaleString() },
          ]}
        />
      )}
    </section>
  );
}

function EntryForm({
  entry,
  start,
  table,
  readOnly,
  onDone,
  onCancel,
}: {
  /** The entry edited; null adds one. */
  entry: Entry | null;
  /** What the form opens with (a copy when duplicating). */
  start: EntryJson;
  table: Entry[];
  readOnly: boolean;
  onDone: (message: string) => void;
  onCancel: () => void;
}) {
  const [d, setD] = useState<Draft>(() => toDraft(start));
  const [problems, setProblems] = useState<Record<string, string>>({});
  const [preview, setPreview] = useState<Preview | null>(null);
  const [reportDate, setReportDate] = useState(today);
  const libraries = useLibraries();
  const agencies = useLoad(() => get<List<{ name: string; active: boolean }>>('/agencies'), []);
  const task = useTask();
  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => {
    setD((old) => ({ ...old, [key]: value }));
    setPreview(null);
  };
  const prefix = entry ? `entry-${entry.id}` : 'entry-new';
  const id = (key: string) => (key === 'name' ? 'field-name' : `field-${key}`);

  function showProblems(err: unknown) {
    if (!(err instanceof ApiError)) return;
    const mine: Record<string, string> = {};
    for (const p of err.problems) if (p.field && !p.field.startsWith('entries')) mine[formField(p.field)] ??= p.reason;
    setProblems(mine);
  }

  function proposed(): unknown[] {
    const json = fromDraft(d);
    if (!entry) return [...table.map(jsonOf), json];
    return table.map((e) => (e.id === entry.id ? { id: e.id, ...json } : jsonOf(e)));
  }

  async function doPreview() {
    setProblems({});
    setPreview(null);
    const r = await task.run('Working out what changes', async () => {
      try {
        return await post<Preview>('/settings/preview', { reportDate, entries: proposed() });
      } catch (err) {
        // The preview validates the whole table: map this entry's problems to its fields.
        if (err instanceof ApiError) {
          const index = entry ? table.findIndex((e) => e.id === entry.id) : table.length;
          const mine: Record<string, string> = {};
          for (const p of err.problems) {
            const m = /^entries\[(\d+)\]\.(.+)$/.exec(p.field ?? '');
            if (m && Number(m[1]) === index) mine[formField(m[2]!)] ??= p.reason;
          }
          setProblems(mine);
        }
        throw err;
      }
    });
    if (r) setPreview(r);
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    setProblems({});
    const saved = await task.run('Saving', async () => {
      try {
        return entry ? await patch<Entry>(`/settings/${entry.id}`, fromDraft(d)) : await post<Entry>('/settings', fromDraft(d));
      } catch (err) {
        showProblems(err);
        throw err;
      }
    });
    if (saved) {
      onDone(
        entry
          ? `Saved “${saved.name}” (entry id ${saved.id}, position ${saved.position}); it keeps its id, run history and schedule.`
          : `Added “${saved.name}” as entry id ${saved.id} at position ${saved.position}.`,
      );
    }
  }

  const input = (key: keyof Draft, label: string, hint?: string, type = 'text', extra: Record<string, unknown> = {}) => (
    <Field id={id(key)} label={label} hint={hint} problem={problems[key]}>
      <input
        id={id(key)}
        name={key}
        type={type}
        value={d[key] as string}
        aria-invalid={problems[key] ? true : undefined}
        aria-describedby={[hint ? `${id(key)}-hint` : '', problems[key] ? `${id(key)}-problem` : ''].filter(Boolean).join(' ') || undefined}
        onChange={(e) => set(key, e.target.value as never)}
        {...extra}
      />
    </Field>
  );
  const check = (key: keyof Draft, label: string) => (
    <div className="field check">
      <input id={id(key)} name={key} type="checkbox" checked={d[key] as boolean} onChange={(e) => set(key, e.target.checked as never)} />
      <label htmlFor={id(key)}>{label}</label>
      {problems[key] && (
        <span className="problem" role="alert">
          {label} {problems[key]}
        </span>
      )}
    </div>
  );
  const agencyNames = agencies.data?.items.map((a) => a.name) ?? [];
  const codes = [...new Set([...libraries.keys(), ...d.homeLibraries])].sort();
  const title = readOnly ? `Entry “${entry?.name}”` : entry ? `Edit “${entry.name}”` : 'Add an entry';

  return (
    <form className="panel entry-form" onSubmit={save} aria-labelledby={`${prefix}-title`} noValidate>
      <h2 id={`${prefix}-title`}>{title}</h2>
      {entry && <EntryHistory entry={entry} />}
      <fieldset disabled={readOnly} className="plain">
        <fieldset>
          <legend>Which patrons it applies to</legend>
          {input('name', 'Name', 'at most 35 characters')}
          <div className="field wide">
            <span className="label" id={`${prefix}-libraries`}>
              Home libraries
            </span>
            <div className="choices" role="group" aria-labelledby={`${prefix}-libraries`} aria-describedby={`${prefix}-libraries-hint`}>
              {codes.map((code) => (
                <label key={code} className="inline">
                  <input
                    type="checkbox"
                    checked={d.homeLibraries.includes(code)}
                    onChange={(e) => set('homeLibraries', e.target.checked ? [...d.homeLibraries, code] : d.homeLibraries.filter((c) => c !== code))}
                  />{' '}
                  {libraryLabel(libraries, code)}
                </label>
              ))}
            </div>
            <small id={`${prefix}-libraries-hint`}>none ticked = every library</small>
            {problems.homeLibraries && (
              <span className="problem" role="alert">
                Home libraries {problems.homeLibraries}
              </span>
            )}
          </div>
          {input('ptypes', 'PTYPEs', 'comma-separated: numbers (1, 2) or the ILS’s patron category codes (PT); blank = every PTYPE')}
          {input('exemptPatronCodes', 'Exempt patron codes', 'comma-separated, e.g. STAFF; these patrons are never submitted')}
        </fieldset>

        <fieldset>
          <legend>What counts</legend>
          <div className="field">
            <span className="label">Counted charges</span>
            <div role="radiogroup" aria-label="Counted charges">
              <label className="inline">
                <input type="radio" name="countedCharges" checked={d.countedCharges === 'all'} onChange={() => set('countedCharges', 'all')} /> all charges
              </label>
              <label className="inline">
                <input type="radio" name="countedCharges" checked={d.countedCharges === 'item_fees'} onChange={() => set('countedCharges', 'item_fees')} /> item fees only (replacement
                and processing)
              </label>
            </div>
          </div>
          <div className="field">
            <span className="label">Window</span>
            <div role="radiogroup" aria-label="Window mode">
              <label className="inline">
                <input type="radio" name="mode" checked={d.mode === 'relative'} onChange={() => set('mode', 'relative')} /> relative (days before the report date)
              </label>
              <label className="inline">
                <input type="radio" name="mode" checked={d.mode === 'absolute'} onChange={() => set('mode', 'absolute')} /> absolute (dates)
              </label>
            </div>
            {problems.mode && (
              <span className="problem" role="alert">
                Window {problems.mode}
              </span>
            )}
          </div>
          {d.mode === 'relative' ? (
            <>
              {input('startDays', 'Start days', 'how many days before the report date the window opens; blank = no lower bound', 'text', { inputMode: 'numeric' })}
              {input('endDays', 'End days', 'days before the report date it closes; blank = no upper bound; both 0 = the report date only', 'text', { inputMode: 'numeric' })}
            </>
          ) : (
            <>
              {input('start', 'Start date', 'blank = 1970-01-01', 'date')}
              {input('end', 'End date', 'blank = the report date', 'date')}
              {input('graceDays', 'Grace days', 'charges of the last N days (the report date is day 1) do not count', 'text', { inputMode: 'numeric' })}
            </>
          )}
          {input('feeAgeDays', 'Fee age days', 'a charge counts once it is this many days old; blank = at once', 'text', { inputMode: 'numeric' })}
          {input('minimumOwed', 'Minimum owed', 'e.g. 25.00', 'text', { inputMode: 'decimal' })}
          {check('requireBill', 'Require a replacement bill in the window')}
          {input('minDaysOverdue', 'Minimum days overdue', 'legacy model: an item at least this many days past due; blank = not used', 'text', { inputMode: 'numeric' })}
        </fieldset>

        <fieldset>
          <legend>Agency and money</legend>
          <div className="field">
            <span className="label">Agency</span>
            <div role="radiogroup" aria-label="How the agency is chosen">
              <label className="inline">
                <input type="radio" name="agencyKind" checked={d.agencyKind === 'fixed'} onChange={() => set('agencyKind', 'fixed')} /> one agency
              </label>
              <label className="inline">
                <input type="radio" name="agencyKind" checked={d.agencyKind === 'strategy'} onChange={() => set('agencyKind', 'strategy')} /> a strategy picks one
              </label>
            </div>
          </div>
          {d.agencyKind === 'fixed' ? (
            <Field id={id('agency')} label="Agency name" problem={problems.agency}>
              <select id={id('agency')} value={d.agency} aria-invalid={problems.agency ? true : undefined} onChange={(e) => set('agency', e.target.value)}>
                <option value="">(choose an agency)</option>
                {[...new Set([...agencyNames, ...(d.agency ? [d.agency] : [])])].map((a) => (
                  <option key={a}>{a}</option>
                ))}
              </select>
            </Field>
          ) : (
            <>
              <Field id={id('strategy')} label="Strategy" problem={problems.strategy}>
                <select id={id('strategy')} value={d.strategy} onChange={(e) => set('strategy', e.target.value)}>
                  {Object.entries(STRATEGIES).map(([k, label]) => (
                    <option key={k} value={k}>
                      {label}
                    </option>
                  ))}
                </select>
              </Field>
              <div className="field wide">
                <span className="label">Among</span>
                <div className="choices" role="group" aria-label="Agencies the strategy picks from">
                  {agencyNames.map((a) => (
                    <label key={a} className="inline">
                      <input type="checkbox" checked={d.among.includes(a)} onChange={(e) => set('among', e.target.checked ? [...d.among, a] : d.among.filter((x) => x !== a))} /> {a}
                    </label>
                  ))}
                </div>
                <small>none ticked = every active agency</small>
                {problems.among && (
                  <span className="problem" role="alert">
                    Among {problems.among}
                  </span>
                )}
              </div>
            </>
          )}
          {input('agencyFee', 'Agency fee', 'charged once, on first submission', 'text', { inputMode: 'decimal' })}
          {input('removeIfLessThan', 'Remove if less than', '0.00 removes at zero or less', 'text', { inputMode: 'decimal' })}
          {check('resubmitAfterClear', 'Submit a cleared patron again (Sierra); off = never again (Polaris)')}
          {input('autoCancelDays', 'Auto-cancel after days', 'cancel a referral still open this many days after it was made; blank = never', 'text', { inputMode: 'numeric' })}
          {check('writeOffOnCancel', 'Write off the balance when cancelling')}
        </fieldset>

        <fieldset>
          <legend>Files, schedule and review</legend>
          {input('baseFilename', 'Base filename', 'letters, digits, . _ -; blank = the entry id')}
          {check('autoNewSubmission', 'Auto New Submission every day')}
          {input('autoUpdateDays', 'Auto Update days', 'weekdays as 1,4 or 1-4 (1 = Sunday … 7 = Saturday); blank = none')}
          {check('sendEmptyReports', 'Send a file even when it has no patrons')}
          {input('reviewHours', 'Review hours', 'hold New Submissions this long for staff review; blank = send at once', 'text', { inputMode: 'numeric' })}
        </fieldset>

        <fieldset>
          <legend>Email delivery</legend>
          {input('emailFrom', 'Email from', 'shorter than 49 characters', 'email')}
          {input('emailTo', 'Email to', 'addresses separated by commas')}
          {input('emailCc', 'Email cc', 'addresses separated by commas')}
          {input('emailSubject', 'Email subject')}
        </fieldset>
      </fieldset>

      {task.busy && <Busy label={task.busy} />}
      {task.error && Object.keys(problems).length === 0 ? <ErrorBanner error={task.error} /> : null}
      {task.error && Object.keys(problems).length > 0 ? (
        <p className="error" role="alert">
          Nothing was saved: {Object.keys(problems).length} field{Object.keys(problems).length === 1 ? ' needs' : 's need'} a change (marked above).
        </p>
      ) : null}
      {preview && <PreviewPanel preview={preview} title={`What this change would do on ${preview.reportDate}`} />}
      {!readOnly && (
        <div className="actions">
          <label className="inline">
            Preview for{' '}
            <input type="date" value={reportDate} onChange={(e) => setReportDate(e.target.value)} aria-label="Report date of the preview" />
          </label>
          <button type="button" className="secondary" disabled={task.busy !== null} onClick={doPreview}>
            Preview changes
          </button>
          <button type="submit" disabled={task.busy !== null}>
            {entry ? 'Save' : 'Add entry'}
          </button>
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        </div>
      )}
      {readOnly && (
        <button type="button" className="secondary" onClick={onCancel}>
          Close
        </button>
      )}
    </form>
  );
}

export function SettingsScreen() {
  const { data, error, reload } = useLoad(() => get<List<Entry>>('/settings'), []);
  const [editing, setEditing] = useState<{ entry: Entry | null; start: EntryJson; readOnly: boolean } | null>(null);
  const [order, setOrder] = useState<number[] | null>(null);
  const [orderPreview, setOrderPreview] = useState<Preview | null>(null);
  const [reportDate] = useState(today);
  const libraries = useLibraries();
  const can = useCan();
  const confirm = useConfirm();
  const task = useTask();
  const edit = can('settings.edit');
  const saved = data?.items ?? [];
  const shown = order ? order.map((id) => saved.find((e) => e.id === id)!).filter(Boolean) : saved;

  function open(entry: Entry | null, start: EntryJson, readOnly = false) {
    task.clear();
    setEditing({ entry, start, readOnly });
  }
  function move(entry: Entry, by: number) {
    const ids = (order ?? saved.map((e) => e.id)).slice();
    const i = ids.indexOf(entry.id);
    const j = i + by;
    if (j < 0 || j >= ids.length) return;
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    task.clear();
    setOrderPreview(null);
    setOrder(ids.every((id, k) => id === saved[k]?.id) ? null : ids);
  }
  async function previewOrder() {
    if (!order) return;
    setOrderPreview(null);
    const r = await task.run('Working out what the new order changes', () =>
      post<Preview>('/settings/preview', { reportDate, entries: order.map((id) => jsonOf(saved.find((e) => e.id === id)!)) }),
    );
    if (r) setOrderPreview(r);
  }
  async function saveOrder() {
    if (!order) return;
    const r = await task.run('Saving the order', () => put<List<Entry>>('/settings/order', { ids: order }));
    if (r) {
      setOrder(null);
      setOrderPreview(null);
      task.setMessage(`Saved the order: ${r.items.map((e) => `${e.position}. ${e.name}`).join(', ')}.`);
      reload();
    }
  }
  async function remove(entry: Entry) {
    const ok = await confirm({
      title: `Delete the entry “${entry.name}” (id ${entry.id})?`,
      confirm: 'Delete the entry',
      danger: true,
      body: (
        <p>
          Patrons it applies to fall under the next entry that matches them, or none. Its referrals, report files and run history are kept; its scheduled runs stop. It cannot be
          undone.
        </p>
      ),
    });
    if (!ok) return;
    setEditing(null);
    const r = await task.run(`Deleting ${entry.name}`, () => del<Entry>(`/settings/${entry.id}`));
    if (r) {
      task.setMessage(`Deleted “${r.name}” (was id ${r.id}, position ${r.position}).`);
      reload();
    }
  }
  function duplicate(entry: Entry) {
    const { id: _id, position: _position, ...json } = entry;
    const name = `Copy of ${entry.name}`.slice(0, 35);
    open(null, { ...json, name, baseFilename: null });
  }

  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Collection Agency Settings</h1>
      <p>The entries are tried in order: the first whose home libraries and PTYPEs match a patron is the one applied, with no fall-through to a later entry.</p>
      <ErrorBanner error={error ?? (editing ? null : task.error)} />
      <Done message={task.message} />
      {task.busy && !editing && <Busy label={task.busy} />}
      {!data && !error && <Busy label="Loading the settings table" />}
      {data && (
        <>
          {edit && (
            <div className="actions">
              <button type="button" onClick={() => open(null, NEW_ENTRY)} disabled={order !== null}>
                Add an entry
              </button>
            </div>
          )}
          {order && (
            <div className="warning" role="status">
              <p>The order has changed and is not saved yet: {shown.map((e, i) => `${i + 1}. ${e.name}`).join(', ')}.</p>
              <div className="actions">
                <button type="button" className="secondary" onClick={previewOrder} disabled={task.busy !== null}>
                  Preview changes
                </button>
                <button type="button" onClick={saveOrder} disabled={task.busy !== null}>
                  Save order
                </button>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => {
                    setOrder(null);
                    setOrderPreview(null);
                  }}
                >
                  Discard
                </button>
              </div>
              {orderPreview && <PreviewPanel preview={orderPreview} title={`What the new order would do on ${orderPreview.reportDate}`} />}
            </div>
          )}
          <DataTable
            name="settings entries"
            caption="First entry that applies to a patron wins."
            rows={shown}
            rowKey={(e) => e.id}
            pageSize={0}
            columns={[
              { header: '#', num: true, text: (e) => String(shown.indexOf(e) + 1), cell: (e) => shown.indexOf(e) + 1 },
              { header: 'Id', num: true, cell: (e) => e.id },
              { header: 'Name', cell: (e) => e.name },
              { header: 'Home libraries', text: (e) => e.homeLibraries.map((c) => libraryLabel(libraries, c)).join(', ') || 'all', cell: (e) => e.homeLibraries.map((c) => libraryLabel(libraries, c)).join(', ') || 'all' },
              { header: 'PTYPEs', text: (e) => e.ptypes.map(String).join(', ') || 'all', cell: (e) => e.ptypes.map(String).join(', ') || 'all' },
              { header: 'Window', text: (e) => windowText(e.window), cell: (e) => windowText(e.window) },
              { header: 'Minimum owed', num: true, text: (e) => money(e.minimumOwed), cell: (e) => money(e.minimumOwed) },
              { header: 'Agency', text: (e) => agencyText(e.agency), cell: (e) => agencyText(e.agency) },
              {
                header: 'Schedule',
                text: (e) => [e.autoNewSubmission ? 'new daily' : '', e.autoUpdateDays ? `updates ${e.autoUpdateDays}` : ''].filter(Boolean).join(', ') || 'by hand',
                cell: (e) => [e.autoNewSubmission ? 'new daily' : '', e.autoUpdateDays ? `updates ${e.autoUpdateDays}` : ''].filter(Boolean).join(', ') || 'by hand',
              },
              {
                header: 'Actions',
                hideHeader: true,
                action: true,
                cell: (e) =>
                  edit ? (
                    <span className="row-actions">
                      <button type="button" onClick={() => open(e, e)} aria-label={`Edit ${e.name}`} disabled={order !== null}>
                        Edit
                      </button>
                      <button type="button" className="secondary" onClick={() => duplicate(e)} aria-label={`Duplicate ${e.name}`} disabled={order !== null}>
                        Duplicate
                      </button>
                      <button type="button" className="secondary" onClick={() => move(e, -1)} aria-label={`Move ${e.name} up`} disabled={shown.indexOf(e) === 0}>
                        ↑
                      </button>
                      <button type="button" className="secondary" onClick={() => move(e, 1)} aria-label={`Move ${e.name} down`} disabled={shown.indexOf(e) === shown.length - 1}>
                        ↓
                      </button>
                      <button type="button" className="danger" onClick={() => remove(e)} aria-label={`Delete ${e.name}`} disabled={order !== null}>
                        Delete
                      </button>
                    </span>
                  ) : (
                    <button type="button" className="secondary" onClick={() => open(e, e, true)} aria-label={`View ${e.name}`}>
                      View
                    </button>
                  ),
              },
            ]}
          />
        </>
      )}
      {editing && (
        <EntryForm
          key={editing.entry?.id ?? `new-${editing.start.name}`}
          entry={editing.entry}
          start={editing.start}
          table={saved}
          readOnly={editing.readOnly}
          onCancel={() => setEditing(null)}
          onDone={(m) => {
            setEditing(null);
            task.setMessage(m);
            reload();
          }}
        />
      )}
    </section>
  );
}
