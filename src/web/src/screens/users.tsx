// Staff accounts and their roles, and API tokens for machines: a new token is shown once,
// in the reply that creates it (the server keeps only its hash), with a button to copy it; a
// token can be revoked. Deactivating a user, taking one's own admin role and revoking a token
// ask first; the server refuses to leave no active administrator.
import { useState, type FormEvent } from 'react';
import { del, get, patch, post, type List } from '../api.ts';
import { useConfirm, useMe } from '../session.tsx';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, useLoad, useTask } from '../ui.tsx';

interface User {
  id: number;
  username: string;
  displayName: string;
  roles: string[];
  active: boolean;
  hasPassword: boolean;
  createdAt: string;
}

interface Role {
  name: string;
  description: string;
  permissions: string[];
  builtIn: boolean;
  users: number;
}

interface Token {
  id: number;
  name: string;
  username: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

function RoleChoices({ roles, chosen, prefix }: { roles: Role[]; chosen: string[]; prefix: string }) {
  return (
    <fieldset>
      <legend>Roles</legend>
      {roles.map((r) => (
        <label key={r.name} className="inline" title={r.description}>
          <input type="checkbox" name="roles" value={r.name} defaultChecked={chosen.includes(r.name)} id={`${prefix}-role-${r.name}`} /> {r.name}
        </label>
      ))}
    </fieldset>
  );
}

function AddUser({ roles, onDone }: { roles: Role[]; onDone: (message: string) => void }) {
  const task = useTask();
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const target = e.currentTarget;
    const form = new FormData(target);
    const password = String(form.get('password') ?? '');
    const body = { username: String(form.get('username') ?? '').trim(), displayName: String(form.get('displayName') ?? '').trim(), password: password === '' ? null : password, roles: form.getAll('roles').map(String) };
    const r = await task.run('Adding the user', () => post<User>('/users', body));
    if (r) {
      target.reset();
      onDone(`Added ${r.username}${r.hasPassword ? '' : ' (API tokens only)'}.`);
    }
  }
  return (
    <form className="panel" onSubmit={submit} aria-labelledby="add-user-title">
      <h2 id="add-user-title">Add a user</h2>
      <div className="field">
        <label htmlFor="new-username">New username</label>
        <input id="new-username" name="username" required maxLength={64} autoComplete="off" />
      </div>
      <div className="field">
        <label htmlFor="new-display">Display name</label>
        <input id="new-display" name="displayName" maxLength={200} />
      </div>
      <div className="field">
        <label htmlFor="new-password">Initial password</label>
        <input id="new-password" name="password" type="password" autoComplete="new-password" aria-describedby="new-password-hint" />
        <small id="new-password-hint">blank: the user signs in only with API tokens</small>
      </div>
      <RoleChoices roles={roles} chosen={[]} prefix="new" />
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      <button type="submit" disabled={task.busy !== null}>
        Add user
      </button>
    </form>
  );
}

function EditUser({ user, roles, onDone, onCancel }: { user: User; roles: Role[]; onDone: (message: string) => void; onCancel: () => void }) {
  const task = useTask();
  const confirm = useConfirm();
  const me = useMe();
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const password = String(form.get('password') ?? '');
    const body = { displayName: String(form.get('displayName') ?? '').trim(), roles: form.getAll('roles').map(String), active: form.get('active') === 'on', ...(password ? { password } : {}) };
    const self = me?.id === user.id;
    const losingAdmin = user.roles.includes('admin') && !body.roles.includes('admin');
    if (self && losingAdmin) {
      const ok = await confirm({
        title: 'Remove your own admin role?',
        confirm: 'Remove my admin role',
        danger: true,
        body: <p>You will lose access to Users, the settings table and every other administrator’s screen as soon as you save. Only another administrator can give it back.</p>,
      });
      if (!ok) return;
    }
    if (user.active && !body.active) {
      const ok = await confirm({
        title: self ? 'Deactivate your own account?' : `Deactivate ${user.username}?`,
        confirm: `Deactivate ${user.username}`,
        danger: true,
        body: <p>{self ? 'You are signed out at once and cannot sign in again' : `${user.username} is signed out at once, cannot sign in, and their API tokens stop working`} until an administrator activates the account again.</p>,
      });
      if (!ok) return;
    }
    const r = await task.run('Saving the user', () => patch<User>(`/users/${user.id}`, body));
    // One's own roles decide the screens: start again with the new ones.
    if (r && self && (losingAdmin || !r.active)) window.location.reload();
    else if (r) onDone(`Saved ${r.username}: ${r.roles.join(', ') || 'no roles'}${r.active ? '' : ', deactivated'}.`);
  }
  const p = `user-${user.id}`;
  return (
    <form className="panel" onSubmit={submit} aria-labelledby={`${p}-title`}>
      <h2 id={`${p}-title`}>Edit user {user.username}</h2>
      <div className="field">
        <label htmlFor={`${p}-display`}>Display name</label>
        <input id={`${p}-display`} name="displayName" maxLength={200} defaultValue={user.displayName} />
      </div>
      <div className="field">
        <label htmlFor={`${p}-password`}>New password</label>
        <input id={`${p}-password`} name="password" type="password" autoComplete="new-password" aria-describedby={`${p}-password-hint`} />
        <small id={`${p}-password-hint`}>blank keeps the current one</small>
      </div>
      <div className="field check">
        <input id={`${p}-active`} name="active" type="checkbox" defaultChecked={user.active} />
        <label htmlFor={`${p}-active`}>Active (off ends their sessions and stops their tokens)</label>
      </div>
      <RoleChoices roles={roles} chosen={user.roles} prefix={p} />
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      <div className="actions">
        <button type="submit" disabled={task.busy !== null}>
          Save user
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function Tokens({ users, version }: { users: User[]; version: number }) {
  const { data, error, reload } = useLoad(() => get<List<Token>>('/tokens'), [version]);
  const [created, setCreated] = useState<{ name: string; token: string } | null>(null);
  const [copied, setCopied] = useState(false);
  const task = useTask();
  const confirm = useConfirm();
  async function create(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const target = e.currentTarget;
    const form = new FormData(target);
    const r = await task.run('Creating the token', () => post<Token & { token: string }>(`/users/${String(form.get('user'))}/tokens`, { name: String(form.get('name') ?? '').trim() }));
    if (r) {
      setCreated({ name: r.name, token: r.token });
      setCopied(false);
      target.reset();
      reload();
    }
  }
  async function revoke(t: Token) {
    const ok = await confirm({
      title: `Revoke the token “${t.name}” of ${t.username}?`,
      confirm: 'Revoke it',
      danger: true,
      body: <p>Whatever uses it (a nightly script, the ILS) is refused from now on. A revoked token cannot be brought back; create a new one instead.</p>,
    });
    if (!ok) return;
    if (await task.run(`Revoking ${t.name}`, () => del(`/tokens/${t.id}`))) {
      task.setMessage(`Revoked the token “${t.name}” of ${t.username}.`);
      reload();
    }
  }
  async function copy(token: string) {
    try {
      await navigator.clipboard.writeText(token);
      setCopied(true);
    } catch {
      task.setError(new Error('The browser did not allow copying: select the token and copy it by hand.'));
    }
  }
  return (
    <section aria-labelledby="tokens-title">
      <h2 id="tokens-title">API tokens</h2>
      <form className="filters" onSubmit={create}>
        <label>
          Token for user
          <select name="user" required>
            {users.map((u) => (
              <option key={u.id} value={u.id}>
                {u.username}
              </option>
            ))}
          </select>
        </label>
        <label>
          Token name
          <input name="name" required maxLength={100} />
        </label>
        <button type="submit" disabled={task.busy !== null}>
          Create token
        </button>
      </form>
      {created && (
        <div className="warning" role="status">
          <p>
            Token “{created.name}”: copy it now — it is not shown again. <code className="token">{created.token}</code>
          </p>
          <div className="actions">
            <button type="button" onClick={() => copy(created.token)}>
              {copied ? 'Copied' : 'Copy token'}
            </button>
            <button type="button" className="secondary" onClick={() => setCreated(null)}>
              I have copied it
            </button>
          </div>
          <span className="sr-only" aria-live="polite">
            {copied ? 'The token is on the clipboard.' : ''}
          </span>
        </div>
      )}
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={error ?? task.error} />
      {task.message && (
        <p className="ok" role="status">
          {task.message}
        </p>
      )}
      {data && (
        <DataTable
          name="API tokens"
          caption={counted(data.total, 'token')}
          rows={data.items}
          rowKey={(t) => t.id}
          columns={[
            { header: 'Name', cell: (t) => t.name },
            { header: 'User', cell: (t) => t.username },
            { header: 'Created', cell: (t) => new Date(t.createdAt).toLocaleString() },
            { header: 'Last used', cell: (t) => (t.lastUsedAt ? new Date(t.lastUsedAt).toLocaleString() : 'never') },
            { header: 'State', cell: (t) => (t.revokedAt ? `revoked ${new Date(t.revokedAt).toLocaleDateString()}` : 'active') },
            {
              header: 'Actions',
              hideHeader: true,
              action: true,
              cell: (t) => (
                <>
                  {!t.revokedAt && (
                    <button type="button" className="danger" onClick={() => revoke(t)} disabled={task.busy !== null} aria-label={`Revoke token ${t.name}`}>
                      Revoke
                    </button>
                  )}
                </>
              ),
            },
          ]}
        />
      )}
    </section>
  );
}

export function UsersScreen() {
  const [version, setVersion] = useState(0);
  const users = useLoad(() => get<List<User>>('/users'), [version]);
  const roles = useLoad(() => get<List<Role>>('/roles'), []);
  const [editing, setEditing] = useState<User | null>(null);
  const [message, setMessage] = useState('');
  const done = (m: string) => {
    setMessage(m);
    setEditing(null);
    setVersion((v) => v + 1);
  };
  return (
    <section aria-labelledby="users-title">
      <h1 id="users-title">Users and API tokens</h1>
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      <ErrorBanner error={users.error ?? roles.error} />
      {editing && roles.data && <EditUser key={editing.id} user={editing} roles={roles.data.items} onDone={done} onCancel={() => setEditing(null)} />}
      {users.data && (
        <DataTable
          name="users"
          caption={counted(users.data.total, 'user')}
          rows={users.data.items}
          rowKey={(u) => u.id}
          columns={[
            { header: 'Username', cell: (u) => u.username },
            { header: 'Name', cell: (u) => u.displayName },
            { header: 'Roles', cell: (u) => u.roles.join(', ') },
            { header: 'Signs in with', cell: (u) => (u.hasPassword ? 'password' : 'API tokens only') },
            { header: 'Active', cell: (u) => (u.active ? 'yes' : 'no') },
            {
              header: 'Actions',
              hideHeader: true,
              action: true,
              cell: (u) => (
                <>
                  <button
                    type="button"
                    className="secondary"
                    onClick={() => {
                      setMessage('');
                      setEditing(u);
                    }}
                    aria-label={`Edit user ${u.username}`}
                  >
                    Edit
                  </button>
                </>
              ),
            },
          ]}
        />
      )}
      {roles.data && <AddUser roles={roles.data.items} onDone={done} />}
      {users.data && <Tokens users={users.data.items} version={version} />}
      {roles.data && (
        <details>
          <summary>What each role may do</summary>
          <ul>
            {roles.data.items.map((r) => (
              <li key={r.name}>
                <strong>{r.name}</strong>: {r.description} ({r.permissions.join(', ')})
              </li>
            ))}
          </ul>
        </details>
      )}
    </section>
  );
}
