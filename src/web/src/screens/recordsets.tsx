// The second-agency workflow (seed 000): upload the agency's returned-accounts file as a
// patron record set (unknown ids listed), review and remove members, build an item set by
// status and delete or transition its lost items, then secure, release and settle.
import { useState, type FormEvent } from 'react';
import { get, post, type List } from '../api.ts';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

const ITEM_STATUSES = ['available', 'checked_out', 'lost', 'missing', 'withdrawn', 'claims_returned'];

interface SetSummary {
  id: number;
  name: string;
  kind: 'patron' | 'item';
  source: string;
  createdBy: string;
  createdAt: string;
  members: number;
}

interface PatronMember {
  id: string;
  exists: boolean;
  firstName: string;
  lastName: string;
  homeLibrary: string;
  status: string | null;
  inCollections: boolean;
  balance: string;
  linkedItems: number;
}

interface ItemMember {
  id: string;
  barcode: string;
  title: string;
  status: string | null;
  patronId: string | null;
}

type SetView = { set: SetSummary; members: (PatronMember | ItemMember)[] };

function Upload({ onCreated }: { onCreated: (id: number, unknown: { id: string; row: number }[]) => void }) {
  const task = useTask();
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    form.set('allowUnknown', form.get('allowUnknown') ? 'true' : 'false');
    const created = await task.run('Uploading and reading the file', () => post<{ set: SetSummary; unknown: { id: string; row: number }[] }>('/recordsets', form));
    if (created) onCreated(created.set.id, created.unknown);
  }
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="upload-title">
      <h2 id="upload-title">Upload the agency’s file</h2>
      <div className="field">
        <label htmlFor="set-name">Record set name</label>
        <input id="set-name" name="name" required maxLength={100} />
      </div>
      <div className="field">
        <label htmlFor="set-file">Returned accounts (.xlsx or .csv)</label>
        <input id="set-file" name="file" type="file" accept=".xlsx,.csv" required />
      </div>
      <div className="field">
        <label htmlFor="set-column">Patron id column (optional)</label>
        <input id="set-column" name="column" placeholder="PatronID" />
      </div>
      <div className="field check">
        <input id="set-allow" name="allowUnknown" type="checkbox" value="true" defaultChecked />
        <label htmlFor="set-allow">Create the set from the known ids when some are unknown</label>
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      <button type="submit" disabled={task.busy !== null}>
        Upload
      </button>
    </form>
  );
}

interface ClearedReply {
  file: string;
  cleared: { patronId: string; referralId: number; agency: string; amount: string; released: boolean }[];
  unknown: { id: string; row: number }[];
  notReferred: { id: string; row: number }[];
}

/** Step 7: the agency's cleared-accounts file clears each listed patron's open referral. */
function Cleared() {
  const task = useTask();
  const [reply, setReply] = useState<ClearedReply | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const r = await task.run('Clearing the listed accounts', () => post<ClearedReply>('/cleared', new FormData(e.currentTarget)));
    if (r) setReply(r);
  }
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="cleared-title">
      <h2 id="cleared-title">Import the agency’s cleared accounts</h2>
      <div className="field">
        <label htmlFor="cleared-file">Cleared accounts (.xlsx or .csv)</label>
        <input id="cleared-file" name="file" type="file" accept=".xlsx,.csv" required />
      </div>
      <div className="field">
        <label htmlFor="cleared-column">Patron id column (optional)</label>
        <input id="cleared-column" name="column" placeholder="Patron ID" />
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      {reply && (
        <p className="ok" role="status">
          {reply.file}: cleared {reply.cleared.length} ({reply.cleared.filter((c) => c.released).length} released)
          {reply.unknown.length > 0 && `; unknown ids: ${reply.unknown.map((u) => `${u.id} (row ${u.row})`).join(', ')}`}
          {reply.notReferred.length > 0 && `; without an open referral: ${reply.notReferred.map((u) => u.id).join(', ')}`}.
        </p>
      )}
      <button type="submit" disabled={task.busy !== null}>
        Import cleared accounts
      </button>
    </form>
  );
}

function PatronActions({ set, selected, onChanged }: { set: SetSummary; selected: string[]; onChanged: (message: string) => void }) {
  const task = useTask();
  const target = () => (selected.length ? { patronIds: selected } : { set: String(set.id) });
  const scope = selected.length ? `${selected.length} selected` : 'whole set';
  async function act(label: string, work: () => Promise<string>) {
    const message = await task.run(label, work);
    if (message) onChanged(message);
  }
  const [statuses, setStatuses] = useState<string[]>(['lost']);
  return (
    <div className="panel">
      <h3>Actions ({scope})</h3>
      <div className="actions">
        {selected.length > 0 && (
          <button type="button" className="secondary" onClick={() => act('Removing', async () => (await post<{ removed: string[] }>(`/recordsets/${set.id}/members/remove`, { ids: selected })).removed.length + ' removed from the set')}>
            Remove from set
          </button>
        )}
        <button type="button" onClick={() => act('Securing', async () => {
          const r = await post<{ secured: string[]; alreadySecured: string[] }>('/secure', target());
          return `Secured ${r.secured.length}; already secured ${r.alreadySecured.length}.`;
        })}>
          Secure
        </button>
        <button type="button" onClick={() => act('Releasing', async () => {
          const r = await post<{ released: string[]; notSecured: string[] }>('/release', target());
          return `Released ${r.released.length}; not secured ${r.notSecured.length}.`;
        })}>
          Release
        </button>
        <button type="button" className="danger" onClick={() => act('Waiving', async () => `Waived ${(await post<{ total: string }>('/settle', { ...target(), mode: 'waive' })).total}.`)}>
          Waive balance
        </button>
        <button type="button" className="danger" onClick={() => act('Recording payment', async () => `Recorded agency payments of ${(await post<{ total: string }>('/settle', { ...target(), mode: 'agency_payment' })).total}.`)}>
          Record agency payment
        </button>
      </div>
      <fieldset>
        <legend>Item set of linked items by status</legend>
        {ITEM_STATUSES.map((s) => (
          <label key={s} className="inline">
            <input type="checkbox" checked={statuses.includes(s)} onChange={(e) => setStatuses(e.target.checked ? [...statuses, s] : statuses.filter((x) => x !== s))} /> {s}
          </label>
        ))}
        <button
          type="button"
          disabled={statuses.length === 0}
          onClick={() => act('Building the item set', async () => {
            const r = await post<{ set: SetSummary }>(`/recordsets/${set.id}/item-sets`, { statuses });
            return `Item set “${r.set.name}” with ${r.set.members} items created.`;
          })}
        >
          Build item set
        </button>
      </fieldset>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
    </div>
  );
}

function ItemActions({ set, onChanged }: { set: SetSummary; onChanged: (message: string) => void }) {
  const task = useTask();
  async function act(label: string, path: string) {
    const r = await task.run(label, () => post<{ deleted: unknown[]; kept: unknown[]; skipped: unknown[] }>(`/recordsets/${set.id}/${path}`));
    if (r) onChanged(`${label}: ${r.deleted.length} deleted, ${r.kept.length} kept or transitioned, ${r.skipped.length} skipped.`);
  }
  return (
    <div className="panel">
      <h3>Lost items</h3>
      <div className="actions">
        <button type="button" className="danger" onClick={() => act('Deleting lost items', 'delete-lost')}>
          Delete lost items
        </button>
        <button type="button" onClick={() => act('Applying the lost-item transition', 'transition-lost')}>
          Apply lost-item transition
        </button>
      </div>
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
    </div>
  );
}

function SetDetail({ id, onClose, onChanged }: { id: number; onClose: () => void; onChanged: () => void }) {
  const { data, error, reload } = useLoad(() => get<SetView>(`/recordsets/${id}`), [id]);
  const [selected, setSelected] = useState<string[]>([]);
  const [message, setMessage] = useState('');
  const changed = (m: string) => {
    setMessage(m);
    setSelected([]);
    reload();
    // Member counts change, and an item set built from this one joins the list.
    onChanged();
  };
  return (
    <section className="panel" aria-labelledby="set-title">
      <h2 id="set-title">{data ? `${data.set.kind === 'patron' ? 'Patron' : 'Item'} set “${data.set.name}”` : `Record set ${id}`}</h2>
      <ErrorBanner error={error} />
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      {!data && !error && <Busy label="Loading the set" />}
      {data && data.set.kind === 'patron' && <PatronActions set={data.set} selected={selected} onChanged={changed} />}
      {data && data.set.kind === 'item' && <ItemActions set={data.set} onChanged={changed} />}
      {data &&
        (data.set.kind === 'patron' ? (
          <DataTable
            caption={counted(data.members.length, 'member')}
            rows={data.members as PatronMember[]}
            rowKey={(m) => m.id}
            columns={[
              {
                header: 'Select',
                hideHeader: true,
                cell: (m) => (
                  <input
                    type="checkbox"
                    aria-label={`Select patron ${m.id}`}
                    checked={selected.includes(m.id)}
                    onChange={(e) => setSelected(e.target.checked ? [...selected, m.id] : selected.filter((x) => x !== m.id))}
                  />
                ),
              },
              { header: 'Patron', cell: (m) => m.id },
              { header: 'Name', cell: (m) => (m.exists ? `${m.lastName}, ${m.firstName}` : '(no longer in the database)') },
              { header: 'Library', cell: (m) => m.homeLibrary },
              { header: 'Status', cell: (m) => m.status && <Status value={m.status} /> },
              { header: 'In collections', cell: (m) => (m.inCollections ? 'yes' : 'no') },
              { header: 'Balance', num: true, cell: (m) => m.balance },
              { header: 'Linked items', num: true, cell: (m) => m.linkedItems },
            ]}
          />
        ) : (
          <DataTable
            caption={counted(data.members.length, 'member')}
            rows={data.members as ItemMember[]}
            rowKey={(m) => m.id}
            columns={[
              { header: 'Item', cell: (m) => m.id },
              { header: 'Barcode', cell: (m) => m.barcode },
              { header: 'Title', cell: (m) => m.title },
              { header: 'Status', cell: (m) => m.status },
              { header: 'Patron', cell: (m) => m.patronId },
            ]}
          />
        ))}
      <button type="button" className="secondary" onClick={onClose}>
        Close
      </button>
    </section>
  );
}

export function RecordSetsScreen() {
  const { data, error, reload } = useLoad(() => get<List<SetSummary>>('/recordsets'), []);
  const [open, setOpen] = useState<number | null>(null);
  const [unknown, setUnknown] = useState<{ id: string; row: number }[]>([]);
  return (
    <section aria-labelledby="sets-title">
      <h1 id="sets-title">Second agency: record sets</h1>
      <Upload
        onCreated={(id, u) => {
          setUnknown(u);
          setOpen(id);
          reload();
        }}
      />
      {unknown.length > 0 && (
        <div className="warning" role="status">
          <p>{unknown.length} ids in the file are not patrons here:</p>
          <ul className="unknown">
            {unknown.map((u) => (
              <li key={u.id}>
                {u.id} (row {u.row})
              </li>
            ))}
          </ul>
        </div>
      )}
      {open !== null && <SetDetail key={open} id={open} onClose={() => setOpen(null)} onChanged={reload} />}
      <Cleared />
      <ErrorBanner error={error} />
      {data && (
        <DataTable
          caption="Record sets"
          rows={data.items}
          rowKey={(s) => s.id}
          columns={[
            {
              header: 'Name',
              cell: (s) => (
                <button type="button" className="link" onClick={() => setOpen(s.id)}>
                  {s.name}
                </button>
              ),
            },
            { header: 'Kind', cell: (s) => s.kind },
            { header: 'Source', cell: (s) => s.source },
            { header: 'Members', num: true, cell: (s) => s.members },
            { header: 'Created', cell: (s) => `${new Date(s.createdAt).toLocaleString()} by ${s.createdBy}` },
          ]}
        />
      )}
    </section>
  );
}
