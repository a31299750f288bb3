// The second-agency workflow (seed 000): upload the agency's returned-accounts file as a
// patron record set (unknown ids listed), review and remove members, build an item set by
// status and delete or transition its lost items, then secure, release and settle. Actions
// apply to the ticked members, or to the whole set when none is ticked, and say which; those
// that move money, clear referrals or delete ask first, naming the amount and the patrons.
import { useState, type FormEvent } from 'react';
import { del, get, post, type List } from '../api.ts';
import { formatCents, toCents } from '../money.ts';
import { LibraryName, libraryLabel, money, PatronLink, useCan, useConfirm, useLibraries } from '../session.tsx';
import { DataTable, counted } from '../table.tsx';
import { Busy, Done, ErrorBanner, Status, useLoad, useTask } from '../ui.tsx';

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

const patrons = (n: number) => `${n} patron${n === 1 ? '' : 's'}`;

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
  const confirm = useConfirm();
  const [reply, setReply] = useState<ClearedReply | null>(null);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const file = form.get('file');
    const ok = await confirm({
      title: `Clear the referrals of the patrons listed in ${file instanceof File ? file.name : 'the file'}?`,
      confirm: 'Clear their referrals',
      danger: true,
      body: <p>Each listed patron’s open referral is closed as cleared by the agency, and a secured record is released. It cannot be undone.</p>,
    });
    if (!ok) return;
    setReply(null);
    const r = await task.run('Clearing the listed accounts', () => post<ClearedReply>('/cleared', form));
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

function PatronActions({ set, members, selected, onStart, onChanged }: { set: SetSummary; members: PatronMember[]; selected: string[]; onStart: () => void; onChanged: (message: string) => void }) {
  const task = useTask();
  const confirm = useConfirm();
  const can = useCan();
  const target = () => (selected.length ? { patronIds: selected } : { set: String(set.id) });
  const chosen = selected.length ? members.filter((m) => selected.includes(m.id)) : members;
  const scope = selected.length ? `${selected.length} selected` : `whole set, ${patrons(members.length)}`;
  const owed = chosen.reduce((sum, m) => sum + toCents(m.balance), 0);
  const owing = chosen.filter((m) => toCents(m.balance) > 0).length;
  // Said first when nothing is ticked, so nobody settles a whole set thinking of one patron.
  const wholeSet = selected.length ? '' : `Nothing is ticked, so this is for the whole set “${set.name}” (${patrons(members.length)}). `;
  const whom = selected.length ? `the ${patrons(selected.length)} ticked` : 'they';
  async function act(label: string, work: () => Promise<string>) {
    onStart();
    const message = await task.run(label, work);
    if (message) onChanged(message);
  }
  async function settle(mode: 'waive' | 'agency_payment') {
    const amount = formatCents(owed);
    const ok = await confirm(
      mode === 'waive'
        ? {
            title: `Waive ${amount} on ${patrons(owing)}?`,
            confirm: `Waive ${amount}`,
            danger: true,
            body: (
              <p>
                {wholeSet}It waives everything {whom} still owe. A waiver is not money recovered, and it cannot be undone here.
              </p>
            ),
          }
        : {
            title: `Record ${amount} of collection-agency payments for ${patrons(owing)}?`,
            confirm: `Record ${amount}`,
            danger: true,
            body: (
              <p>
                {wholeSet}It records payments with the method “collection agency” for everything {whom} still owe: money the agency recovered.
              </p>
            ),
          },
    );
    if (!ok) return;
    await act(mode === 'waive' ? 'Waiving' : 'Recording payment', async () => {
      const r = await post<{ total: string }>('/settle', { ...target(), mode });
      return mode === 'waive' ? `Waived ${r.total}.` : `Recorded agency payments of ${r.total}.`;
    });
  }
  async function remove() {
    const ok = await confirm({
      title: `Remove ${patrons(selected.length)} from “${set.name}”?`,
      confirm: 'Remove from set',
      body: <p>Their records are untouched; only their place in this set goes.</p>,
    });
    if (ok) await act('Removing', async () => (await post<{ removed: string[] }>(`/recordsets/${set.id}/members/remove`, { ids: selected })).removed.length + ' removed from the set');
  }
  const [statuses, setStatuses] = useState<string[]>(['lost']);
  const manage = can('recordsets.manage');
  const settleAllowed = can('balances.settle');
  if (!manage && !settleAllowed) return null;
  return (
    <div className="panel">
      <h3>Actions ({scope})</h3>
      <div className="actions">
        {manage && selected.length > 0 && (
          <button type="button" className="secondary" onClick={remove}>
            Remove from set
          </button>
        )}
        {manage && (
          <>
            <button
              type="button"
              onClick={() =>
                act('Securing', async () => {
                  const r = await post<{ secured: string[]; alreadySecured: string[] }>('/secure', target());
                  return `Secured ${r.secured.length}; already secured ${r.alreadySecured.length}.`;
                })
              }
            >
              Secure {selected.length ? `${selected.length} selected` : 'whole set'}
            </button>
            <button
              type="button"
              onClick={() =>
                act('Releasing', async () => {
                  const r = await post<{ released: string[]; notSecured: string[] }>('/release', target());
                  return `Released ${r.released.length}; not secured ${r.notSecured.length}.`;
                })
              }
            >
              Release {selected.length ? `${selected.length} selected` : 'whole set'}
            </button>
          </>
        )}
        {settleAllowed && (
          <>
            <button type="button" className="danger" disabled={owed === 0} onClick={() => settle('waive')}>
              Waive balance
            </button>
            <button type="button" className="danger" disabled={owed === 0} onClick={() => settle('agency_payment')}>
              Record agency payment
            </button>
          </>
        )}
      </div>
      {manage && (
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
            onClick={() =>
              act('Building the item set', async () => {
                const r = await post<{ set: SetSummary }>(`/recordsets/${set.id}/item-sets`, { statuses });
                return `Item set “${r.set.name}” with ${r.set.members} items created.`;
              })
            }
          >
            Build item set
          </button>
        </fieldset>
      )}
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
    </div>
  );
}

function ItemActions({ set, members, onStart, onChanged }: { set: SetSummary; members: ItemMember[]; onStart: () => void; onChanged: (message: string) => void }) {
  const task = useTask();
  const confirm = useConfirm();
  const lost = members.filter((m) => m.status === 'lost').length;
  async function act(label: string, path: string) {
    onStart();
    const r = await task.run(label, () => post<{ deleted: unknown[]; kept: unknown[]; skipped: unknown[] }>(`/recordsets/${set.id}/${path}`));
    if (r) onChanged(`${label}: ${r.deleted.length} deleted, ${r.kept.length} kept or transitioned, ${r.skipped.length} skipped.`);
  }
  async function deleteLost() {
    const ok = await confirm({
      title: `Delete the ${lost} lost item${lost === 1 ? '' : 's'} of “${set.name}”?`,
      confirm: `Delete ${lost} lost item${lost === 1 ? '' : 's'}`,
      danger: true,
      body: <p>Items a charge names are kept as withdrawn and unlinked instead. It cannot be undone.</p>,
    });
    if (ok) await act('Deleting lost items', 'delete-lost');
  }
  return (
    <div className="panel">
      <h3>Lost items ({lost} of {members.length})</h3>
      <div className="actions">
        <button type="button" className="danger" disabled={lost === 0} onClick={deleteLost}>
          Delete lost items
        </button>
        <button type="button" disabled={lost === 0} onClick={() => act('Applying the lost-item transition', 'transition-lost')}>
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
  const libraries = useLibraries();
  const can = useCan();
  const confirm = useConfirm();
  const task = useTask();
  const changed = (m: string) => {
    setMessage(m);
    setSelected([]);
    reload();
    // Member counts change, and an item set built from this one joins the list.
    onChanged();
  };
  async function deleteSet(set: SetSummary) {
    const ok = await confirm({
      title: `Delete the record set “${set.name}”?`,
      confirm: 'Delete the set',
      danger: true,
      body: <p>Only the list goes: its {set.members} {set.kind === 'patron' ? 'patrons' : 'items'} are untouched.</p>,
    });
    if (!ok) return;
    setMessage('');
    if (await task.run('Deleting the set', () => del(`/recordsets/${set.id}`))) {
      onChanged();
      onClose();
    }
  }
  return (
    <section className="panel" aria-labelledby="set-title">
      <h2 id="set-title">{data ? `${data.set.kind === 'patron' ? 'Patron' : 'Item'} set “${data.set.name}”` : `Record set ${id}`}</h2>
      <ErrorBanner error={error ?? task.error} />
      <Done message={message} />
      {!data && !error && <Busy label="Loading the set" />}
      {data && data.set.kind === 'patron' && (
        <PatronActions set={data.set} members={data.members as PatronMember[]} selected={selected} onStart={() => setMessage('')} onChanged={changed} />
      )}
      {data && data.set.kind === 'item' && can('recordsets.manage') && <ItemActions set={data.set} members={data.members as ItemMember[]} onStart={() => setMessage('')} onChanged={changed} />}
      {data &&
        (data.set.kind === 'patron' ? (
          <DataTable
            name={`members of ${data.set.name}`}
            caption={counted(data.members.length, 'member')}
            rows={data.members as PatronMember[]}
            rowKey={(m) => m.id}
            pageSize={50}
            columns={[
              ...(can('recordsets.manage') || can('balances.settle')
                ? [
                    {
                      header: 'Select',
                      hideHeader: true,
                      action: true,
                      cell: (m: PatronMember) => (
                        <input
                          type="checkbox"
                          aria-label={`Select patron ${m.id}`}
                          checked={selected.includes(m.id)}
                          onChange={(e) => setSelected(e.target.checked ? [...selected, m.id] : selected.filter((x) => x !== m.id))}
                        />
                      ),
                    },
                  ]
                : []),
              { header: 'Patron', text: (m) => m.id, cell: (m) => <PatronLink id={m.id} /> },
              { header: 'Name', text: (m) => (m.exists ? `${m.lastName}, ${m.firstName}` : '(no longer in the database)'), cell: (m) => (m.exists ? `${m.lastName}, ${m.firstName}` : '(no longer in the database)') },
              { header: 'Library', text: (m) => libraryLabel(libraries, m.homeLibrary), cell: (m) => <LibraryName code={m.homeLibrary} /> },
              { header: 'Status', text: (m) => m.status ?? '', cell: (m) => m.status && <Status value={m.status} /> },
              { header: 'In collections', cell: (m) => (m.inCollections ? 'yes' : 'no') },
              { header: 'Balance', num: true, text: (m) => money(m.balance), sortValue: (m) => toCents(m.balance), cell: (m) => money(m.balance) },
              { header: 'Linked items', num: true, cell: (m) => m.linkedItems },
            ]}
          />
        ) : (
          <DataTable
            name={`items of ${data.set.name}`}
            caption={counted(data.members.length, 'member')}
            rows={data.members as ItemMember[]}
            rowKey={(m) => m.id}
            pageSize={50}
            columns={[
              { header: 'Item', cell: (m) => m.id },
              { header: 'Barcode', cell: (m) => m.barcode },
              { header: 'Title', cell: (m) => m.title },
              { header: 'Status', cell: (m) => m.status ?? '' },
              { header: 'Patron', text: (m) => m.patronId ?? '', cell: (m) => (m.patronId ? <PatronLink id={m.patronId} /> : '') },
            ]}
          />
        ))}
      <div className="actions">
        <button type="button" className="secondary" onClick={onClose}>
          Close
        </button>
        {data && can('recordsets.manage') && (
          <button type="button" className="secondary" onClick={() => deleteSet(data.set)}>
            Delete this set
          </button>
        )}
      </div>
    </section>
  );
}

export function RecordSetsScreen({ rest }: { rest: string }) {
  const { data, error, reload } = useLoad(() => get<List<SetSummary>>('/recordsets'), []);
  const [open, setOpen] = useState<number | null>(/^\d+$/.test(rest) ? Number(rest) : null);
  const [unknown, setUnknown] = useState<{ id: string; row: number }[]>([]);
  const can = useCan();
  return (
    <section aria-labelledby="sets-title">
      <h1 id="sets-title">Second agency: record sets</h1>
      {can('recordsets.manage') && (
        <Upload
          onCreated={(id, u) => {
            setUnknown(u);
            setOpen(id);
            reload();
          }}
        />
      )}
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
      {can('recordsets.manage') && <Cleared />}
      <ErrorBanner error={error} />
      {data && (
        <DataTable
          name="record sets"
          caption="Record sets"
          rows={data.items}
          rowKey={(s) => s.id}
          columns={[
            {
              header: 'Name',
              text: (s) => s.name,
              cell: (s) => (
                <button type="button" className="link" onClick={() => setOpen(s.id)}>
                  {s.name}
                </button>
              ),
            },
            { header: 'Kind', cell: (s) => s.kind },
            { header: 'Source', cell: (s) => s.source },
            { header: 'Members', num: true, cell: (s) => s.members },
            { header: 'Created', text: (s) => `${new Date(s.createdAt).toLocaleString()} by ${s.createdBy}`, sortValue: (s) => s.createdAt, cell: (s) => `${new Date(s.createdAt).toLocaleString()} by ${s.createdBy}` },
          ]}
        />
      )}
    </section>
  );
}
