// The Collection Agency Settings table in order, and a form to edit one entry. The server
// takes the table as its JSON array, so an edit sends the exported table back with the one
// entry changed; each problem it reports ("entries[2].name") is shown beside its field.
import { useState, type FormEvent } from 'react';
import { get, post, ApiError, type List } from '../api.ts';
import { DataTable } from '../table.tsx';
import { Busy, ErrorBanner, useLoad, useTask } from '../ui.tsx';

type EntryJson = Record<string, unknown> & { name: string };
type Entry = EntryJson & { id: number; position: number; agency: unknown; minimumOwed: string; window: { mode: string } };

const FIELDS = [
  { key: 'name', label: 'Name', hint: 'at most 35 characters' },
  { key: 'minimumOwed', label: 'Minimum owed', hint: 'e.g. 25.00' },
  { key: 'agencyFee', label: 'Agency fee', hint: 'charged on first submission' },
  { key: 'removeIfLessThan', label: 'Remove if less than', hint: '0.00 removes at zero or less' },
  { key: 'baseFilename', label: 'Base filename', hint: 'letters, digits, . _ -; blank = the entry id' },
] as const;

type FieldKey = (typeof FIELDS)[number]['key'];

function agencyText(agency: unknown): string {
  if (typeof agency === 'string') return agency;
  if (agency && typeof agency === 'object' && 'strategy' in agency) return `strategy: ${String((agency as { strategy: unknown }).strategy)}`;
  return '';
}

function EditForm({ entry, onDone }: { entry: Entry; onDone: () => void }) {
  const [values, setValues] = useState<Record<FieldKey, string>>(() => Object.fromEntries(FIELDS.map((f) => [f.key, String(entry[f.key] ?? '')])) as Record<FieldKey, string>);
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<string, string>>>({});
  const task = useTask();

  async function save(e: FormEvent) {
    e.preventDefault();
    setFieldErrors({});
    await task.run('Saving', async () => {
      const table = await get<EntryJson[]>('/settings/export');
      const index = table.findIndex((t) => t.name === entry.name);
      if (index < 0) throw new Error(`entry "${entry.name}" is no longer in the table`);
      table[index] = { ...table[index]!, ...values };
      try {
        // A renamed entry cannot be matched by name: the whole table replaces the old one.
        await post(`/settings/import?mode=${values.name === entry.name ? 'merge' : 'replace'}`, table);
      } catch (err) {
        if (err instanceof ApiError) {
          const prefix = `entries[${index}].`;
          const mine: Record<string, string> = {};
          for (const p of err.problems) if (p.field?.startsWith(prefix)) mine[p.field.slice(prefix.length).split('.')[0]!] ??= p.reason;
          setFieldErrors(mine);
        }
        throw err;
      }
      onDone();
    });
  }

  return (
    <form className="panel" onSubmit={save} aria-labelledby="edit-title" noValidate>
      <h2 id="edit-title">Edit “{entry.name}”</h2>
      {FIELDS.map((f) => {
        const id = `field-${f.key}`;
        const problem = fieldErrors[f.key];
        return (
          <div className="field" key={f.key}>
            <label htmlFor={id}>{f.label}</label>
            <input
              id={id}
              name={f.key}
              value={values[f.key]}
              aria-invalid={problem ? true : undefined}
              aria-describedby={`${id}-hint${problem ? ` ${id}-problem` : ''}`}
              onChange={(e) => setValues({ ...values, [f.key]: e.target.value })}
            />
            <small id={`${id}-hint`}>{f.hint}</small>
            {problem && (
              <span className="problem" id={`${id}-problem`} role="alert">
                {f.label} {problem}
              </span>
            )}
          </div>
        );
      })}
      {task.busy && <Busy label={task.busy} />}
      {task.error && Object.keys(fieldErrors).length === 0 ? <ErrorBanner error={task.error} /> : null}
      <div className="actions">
        <button type="submit" disabled={task.busy !== null}>
          Save
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

export function SettingsScreen() {
  const { data, error, reload } = useLoad(() => get<List<Entry>>('/settings'), []);
  const [editing, setEditing] = useState<Entry | null>(null);
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Collection Agency Settings</h1>
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading the settings table" />}
      {data && (
        <DataTable
          caption="First entry that applies to a patron wins."
          rows={data.items}
          rowKey={(e) => e.id}
          columns={[
            { header: '#', cell: (e) => e.position },
            { header: 'Name', cell: (e) => e.name },
            { header: 'Home libraries', cell: (e) => (e.homeLibraries as string[]).join(', ') || 'all' },
            { header: 'Window', cell: (e) => e.window.mode },
            { header: 'Minimum owed', num: true, cell: (e) => e.minimumOwed },
            { header: 'Agency', cell: (e) => agencyText(e.agency) },
            {
              header: 'Actions',
              hideHeader: true,
              cell: (e) => (
                <>
                  <button type="button" onClick={() => setEditing(e)} aria-label={`Edit ${e.name}`}>
                    Edit
                  </button>
                </>
              ),
            },
          ]}
        />
      )}
      {editing && (
        <EditForm
          key={editing.id}
          entry={editing}
          onDone={() => {
            setEditing(null);
            reload();
          }}
        />
      )}
    </section>
  );
}
