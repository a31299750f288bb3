// Your account: two-factor sign-in. Set it up (password, then the secret into an authenticator
// app, then a code from it), see the recovery codes once, renew them, or turn it off. When a
// role requires it, this is the only screen until it is set up.
import { useState, type FormEvent } from 'react';
import { get, post, type TwoFactor } from '../api.ts';
import { ErrorBanner, useLoad, useTask } from '../ui.tsx';

interface Enrolment {
  secret: string;
  uri: string;
}

function RecoveryCodes({ codes }: { codes: string[] }) {
  return (
    <div className="panel" aria-labelledby="recovery-title">
      <h2 id="recovery-title">Recovery codes</h2>
      <p>Each signs you in once without the authenticator. Keep them somewhere safe: they are not shown again.</p>
      <ul className="codes" aria-label="Recovery codes">
        {codes.map((c) => (
          <li key={c}>
            <code>{c}</code>
          </li>
        ))}
      </ul>
    </div>
  );
}

function CodeForm({ label, action, onCode }: { label: string; action: string; onCode: (code: string) => Promise<unknown> }) {
  const [code, setCode] = useState('');
  async function submit(e: FormEvent) {
    e.preventDefault();
    await onCode(code);
    setCode('');
  }
  return (
    <form onSubmit={submit} className="actions">
      <label>
        {label}{' '}
        <input inputMode="numeric" autoComplete="one-time-code" pattern="[0-9 ]{6,7}" required value={code} onChange={(e) => setCode(e.target.value)} />
      </label>
      <button type="submit">{action}</button>
    </form>
  );
}

export function AccountScreen({ onChanged }: { onChanged?: () => void }) {
  const status = useLoad(() => get<TwoFactor>('/me/totp'), []);
  const task = useTask();
  const [password, setPassword] = useState('');
  const [enrolment, setEnrolment] = useState<Enrolment | null>(null);
  const [codes, setCodes] = useState<string[] | null>(null);
  const tf = status.data;

  async function begin(e: FormEvent) {
    e.preventDefault();
    const started = await task.run('Starting', () => post<Enrolment>('/me/totp', { password }));
    setPassword('');
    if (started) setEnrolment(started);
  }
  async function confirm(code: string) {
    const done = await task.run('Checking the code', () => post<{ recoveryCodes: string[] }>('/me/totp/confirm', { code }));
    if (!done) return;
    setEnrolment(null);
    setCodes(done.recoveryCodes);
    status.reload();
    onChanged?.();
  }
  async function renew(code: string) {
    const done = await task.run('Making new codes', () => post<{ recoveryCodes: string[] }>('/me/totp/recovery-codes', { code }));
    if (done) setCodes(done.recoveryCodes);
    status.reload();
  }
  async function disable(code: string) {
    if (await task.run('Turning it off', () => post('/me/totp/disable', { code }))) status.reload();
  }

  return (
    <section aria-labelledby="account-title">
      <h1 id="account-title">Your account</h1>
      <h2>Two-factor sign-in</h2>
      <ErrorBanner error={status.error ?? task.error} />
      {tf?.required && !tf.enabled && <p role="status">Your role requires two-factor sign-in: set it up to go on.</p>}
      {codes && <RecoveryCodes codes={codes} />}
      {tf && !tf.enabled && !enrolment && (
        <form onSubmit={begin} className="actions">
          <label>
            Your password{' '}
            <input type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
          </label>
          <button type="submit">Set up two-factor sign-in</button>
        </form>
      )}
      {enrolment && (
        <div className="panel">
          <p>
            Add this key to an authenticator app (time-based, 6 digits), or open <a href={enrolment.uri}>the set-up link</a> on your phone:
          </p>
          <p>
            <code aria-label="Secret key">{enrolment.secret.replace(/(.{4})/g, '$1 ').trim()}</code>
          </p>
          <CodeForm label="Code from the app" action="Turn on" onCode={confirm} />
        </div>
      )}
      {tf?.enabled && (
        <>
          <p>
            On. Recovery codes left: <strong>{tf.recoveryCodesLeft}</strong>.
          </p>
          <CodeForm label="Code for new recovery codes" action="New recovery codes" onCode={renew} />
          {!tf.required && <CodeForm label="Code to turn it off" action="Turn off" onCode={disable} />}
        </>
      )}
    </section>
  );
}
