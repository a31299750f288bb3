// Collection agencies: how their files reach them (method and its settings) and their layout.
// Credentials are write-only: the form says which are stored and takes new ones, but never
// shows one back — the server never sends them.
import { cloneElement, useState, type FormEvent, type ReactElement } from 'react';
import { ApiError, get, patch, post, type List } from '../api.ts';
import { useCan } from '../session.tsx';
import { DataTable, counted } from '../table.tsx';
import { Busy, ErrorBanner, useLoad, useTask } from '../ui.tsx';

const METHODS = ['none', 'folder', 'sftp', 's3', 'email'] as const;
type Method = (typeof METHODS)[number];
const LAYOUTS = ['arrears', 'ums', 'custom'];

/** Each method's settings and credentials, as the server validates them. */
const CONFIG: Record<Method, { key: string; label: string; hint?: string }[]> = {
  none: [],
  folder: [{ key: 'path', label: 'Folder path' }],
  sftp: [
    { key: 'host', label: 'Host' },
    { key: 'port', label: 'Port', hint: 'default 22' },
    { key: 'username', label: 'SFTP username' },
    { key: 'remoteFolder', label: 'Remote folder' },
    { key: 'hostKey', label: 'Host key fingerprint', hint: 'SHA256:… as ssh-keygen -lf prints it' },
  ],
  s3: [
    { key: 'bucket', label: 'Bucket' },
    { key: 'prefix', label: 'Prefix' },
    { key: 'region', label: 'Region' },
    { key: 'endpoint', label: 'Endpoint URL' },
    { key: 'accessKeyId', label: 'Access key id' },
  ],
  email: [
    { key: 'from', label: 'From' },
    { key: 'to', label: 'To', hint: 'addresses separated by commas' },
    { key: 'cc', label: 'Cc' },
    { key: 'subject', label: 'Subject' },
  ],
};

const SECRETS: Record<Method, { key: 'password' | 'privateKey' | 'passphrase' | 'secretAccessKey'; flag: keyof SecretFlags; label: string }[]> = {
  none: [],
  folder: [],
  email: [],
  sftp: [
    { key: 'password', flag: 'hasPassword', label: 'SFTP password' },
    { key: 'privateKey', flag: 'hasPrivateKey', label: 'Private key' },
    { key: 'passphrase', flag: 'hasPassphrase', label: 'Key passphrase' },
  ],
  s3: [{ key: 'secretAccessKey', flag: 'hasSecretAccessKey', label: 'Secret access key' }],
};

interface SecretFlags {
  hasPassword: boolean;
  hasPrivateKey: boolean;
  hasPassphrase: boolean;
  hasSecretAccessKey: boolean;
}

interface Agency {
  id: number;
  name: string;
  active: boolean;
  transferMethod: Method;
  transferConfig: Record<string, unknown>;
  layout: string;
  secrets?: SecretFlags;
}

function AgencyForm({ agency, onDone, onCancel }: { agency: Agency | null; onDone: (message: string) => void; onCancel: () => void }) {
  const [method, setMethod] = useState<Method>(agency?.transferMethod ?? 'none');
  const [problems, setProblems] = useState<Record<string, string>>({});
  const task = useTask();
  const prefix = agency ? `agency-${agency.id}` : 'agency-new';
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    setProblems({});
    const form = new FormData(e.currentTarget);
    const text = (k: string) => String(form.get(k) ?? '').trim();
    const config: Record<string, string> = {};
    for (const f of CONFIG[method]) if (text(`config.${f.key}`) || agency?.transferMethod === method) config[f.key] = text(`config.${f.key}`);
    const secrets: Record<string, string> = {};
    for (const s of SECRETS[method]) {
      // A secret left blank keeps the stored one; "remove" sends a blank, which deletes it.
      if (form.get(`remove.${s.key}`)) secrets[s.key] = '';
      else if (String(form.get(`secret.${s.key}`) ?? '') !== '') secrets[s.key] = String(form.get(`secret.${s.key}`));
    }
    const common = {
      active: form.get('active') === 'on',
      transferMethod: method,
      transferConfig: config,
      layout: text('layout'),
      ...(Object.keys(secrets).length ? { secrets } : {}),
    };
    const r = await task.run('Saving the agency', async () => {
      try {
        if (agency) return await patch<Agency>(`/agencies/${agency.id}`, { ...(text('name') !== agency.name ? { rename: text('name') } : {}), ...common });
        return await post<Agency>('/agencies', { name: text('name'), ...common });
      } catch (err) {
        if (err instanceof ApiError) setProblems(Object.fromEntries(err.problems.filter((p) => p.field).map((p) => [p.field!.replace(/^rename$/, 'name'), p.reason])));
        throw err;
      }
    });
    if (r) onDone(agency ? `Saved ${r.name}.` : `Added ${r.name}.`);
  }
  const field = (name: string, label: string, input: ReactElement<Record<string, unknown>>, hint?: string) => {
    const id = `${prefix}-${name.replace(/\./g, '-')}`;
    const problem = problems[name];
    return (
      <div className="field" key={name}>
        <label htmlFor={id}>{label}</label>
        {cloneElement(input, { id, 'aria-invalid': problem ? true : undefined, 'aria-describedby': problem ? `${id}-problem` : hint ? `${id}-hint` : undefined })}
        {hint && <small id={`${id}-hint`}>{hint}</small>}
        {problem && (
          <span className="problem" id={`${id}-problem`}>
            {label} {problem}
          </span>
        )}
      </div>
    );
  };
  return (
    <form className="panel" onSubmit={submit} aria-labelledby={`${prefix}-title`} noValidate>
      <h2 id={`${prefix}-title`}>{agency ? `Edit agency “${agency.name}”` : 'Add an agency'}</h2>
      {field('name', 'Agency name', <input name="name" required maxLength={100} defaultValue={agency?.name ?? ''} />)}
      <div className="field check">
        <input id={`${prefix}-active`} name="active" type="checkbox" defaultChecked={agency?.active ?? true} />
        <label htmlFor={`${prefix}-active`}>Active (receives referrals)</label>
      </div>
      {field(
        'layout',
        'File layout',
        <select name="layout" defaultValue={agency?.layout ?? 'arrears'}>
          {LAYOUTS.map((l) => (
            <option key={l}>{l}</option>
          ))}
        </select>,
      )}
      {field(
        'transferMethod',
        'Delivery method',
        <select name="transferMethod" value={method} onChange={(e) => setMethod(e.target.value as Method)}>
          {METHODS.map((m) => (
            <option key={m} value={m}>
              {m === 'none' ? 'none (staff download)' : m}
            </option>
          ))}
        </select>,
      )}
      {CONFIG[method].map((f) =>
        field(`transferConfig.${f.key}`, f.label, <input name={`config.${f.key}`} defaultValue={agency?.transferMethod === method ? String(agency.transferConfig[f.key] ?? '') : ''} />, f.hint),
      )}
      {SECRETS[method].length > 0 && (
        <fieldset>
          <legend>Credentials (write-only: never shown back)</legend>
          {SECRETS[method].map((s) => {
            const stored = agency?.transferMethod === method && agency.secrets?.[s.flag];
            return (
              <div key={s.key}>
                {field(
                  `secrets.${s.key}`,
                  s.label,
                  s.key === 'privateKey' ? (
                    <textarea name={`secret.${s.key}`} rows={3} autoComplete="off" spellCheck={false} />
                  ) : (
                    <input name={`secret.${s.key}`} type="password" autoComplete="new-password" />
                  ),
                  stored ? 'stored — leave blank to keep it' : 'none stored',
                )}
                {stored && (
                  <div className="field check">
                    <input id={`${prefix}-remove-${s.key}`} name={`remove.${s.key}`} type="checkbox" />
                    <label htmlFor={`${prefix}-remove-${s.key}`}>Remove the stored {s.label}</label>
                  </div>
                )}
              </div>
            );
          })}
        </fieldset>
      )}
      {task.busy && <Busy label={task.busy} />}
      <ErrorBanner error={task.error} />
      <div className="actions">
        <button type="submit" disabled={task.busy !== null}>
          {agency ? 'Save agency' : 'Add agency'}
        </button>
        <button type="button" className="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}

function stored(a: Agency): string {
  const s = a.secrets;
  if (!s) return '—';
  const names = [s.hasPassword && 'password', s.hasPrivateKey && 'private key', s.hasPassphrase && 'passphrase', s.hasSecretAccessKey && 'secret key'].filter(Boolean);
  return names.length ? `${names.join(', ')} stored` : '—';
}

function where(a: Agency): string {
  const c = a.transferConfig;
  if (a.transferMethod === 'sftp') return `${String(c.username ?? '')}@${String(c.host ?? '')}:${String(c.port ?? 22)}${c.remoteFolder ? ` ${String(c.remoteFolder)}` : ''}`;
  if (a.transferMethod === 's3') return `s3://${String(c.bucket ?? '')}/${String(c.prefix ?? '')}`;
  if (a.transferMethod === 'email') return String(c.to ?? '');
  if (a.transferMethod === 'folder') return String(c.path ?? '');
  return 'staff download';
}

export function AgenciesScreen() {
  const { data, error, reload } = useLoad(() => get<List<Agency>>('/agencies'), []);
  const [editing, setEditing] = useState<Agency | 'new' | null>(null);
  const [message, setMessage] = useState('');
  const can = useCan();
  const edit = can('settings.edit');
  return (
    <section aria-labelledby="agencies-title">
      <h1 id="agencies-title">Agencies</h1>
      {message && (
        <p className="ok" role="status">
          {message}
        </p>
      )}
      {edit && editing === null && (
        <button
          type="button"
          onClick={() => {
            setMessage('');
            setEditing('new');
          }}
        >
          Add an agency
        </button>
      )}
      {editing !== null && (
        <AgencyForm
          key={editing === 'new' ? 'new' : editing.id}
          agency={editing === 'new' ? null : editing}
          onCancel={() => setEditing(null)}
          onDone={(m) => {
            setMessage(m);
            setEditing(null);
            reload();
          }}
        />
      )}
      <ErrorBanner error={error} />
      {!data && !error && <Busy label="Loading agencies" />}
      {data && (
        <DataTable
          name="agencies"
          caption={counted(data.total, 'agency', 'agencies')}
          rows={data.items}
          rowKey={(a) => a.id}
          columns={[
            { header: 'Name', cell: (a) => a.name },
            { header: 'Active', cell: (a) => (a.active ? 'yes' : 'no') },
            { header: 'Delivery', cell: (a) => a.transferMethod },
            { header: 'Where', cellClass: () => 'json', cell: (a) => where(a) },
            { header: 'Credentials', cell: (a) => stored(a) },
            { header: 'Layout', cell: (a) => a.layout },
            ...(edit
              ? [
                  {
                    header: 'Actions',
                    hideHeader: true,
                    action: true,
                    cell: (a: Agency) => (
                      <button
                        type="button"
                        className="secondary"
                        onClick={() => {
                          setMessage('');
                          setEditing(a);
                        }}
                        aria-label={`Edit ${a.name}`}
                      >
                        Edit
                      </button>
                    ),
                  },
                ]
              : []),
          ]}
        />
      )}
    </section>
  );
}
