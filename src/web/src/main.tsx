// The staff app: sign in, then one screen per feature, chosen by the URL's hash
// (#/settings) so every screen has an address without server routes.
import { StrictMode, useEffect, useState, type FormEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, get, post, type Me } from './api.ts';
import { AuditScreen } from './screens/audit.tsx';
import { DashboardScreen } from './screens/dashboard.tsx';
import { FilesScreen } from './screens/files.tsx';
import { ImportsScreen } from './screens/imports.tsx';
import { RecordSetsScreen } from './screens/recordsets.tsx';
import { ReferralsScreen } from './screens/referrals.tsx';
import { RunsScreen } from './screens/runs.tsx';
import { SettingsScreen } from './screens/settings.tsx';
import { ErrorBanner } from './ui.tsx';
import './styles.css';

const SCREENS = [
  { path: 'dashboard', label: 'Dashboard', Screen: DashboardScreen },
  { path: 'settings', label: 'Settings', Screen: SettingsScreen },
  { path: 'runs', label: 'Run preview', Screen: RunsScreen },
  { path: 'referrals', label: 'Referrals', Screen: ReferralsScreen },
  { path: 'recordsets', label: 'Second agency', Screen: RecordSetsScreen },
  { path: 'files', label: 'Report files', Screen: FilesScreen },
  { path: 'imports', label: 'Imports', Screen: ImportsScreen },
  { path: 'audit', label: 'Audit log', Screen: AuditScreen },
] as const;

function currentPath(): string {
  return window.location.hash.replace(/^#\/?/, '').split('?')[0] || 'dashboard';
}

function Login({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await post('/login', { username, password });
      onSignedIn(await get<Me>('/me'));
    } catch (err) {
      setError(err instanceof ApiError && err.status === 401 ? new Error('Wrong username or password.') : err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="login">
      <form onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Arrears — staff sign-in</h1>
        <label>
          Username
          <input name="username" autoComplete="username" required value={username} onChange={(e) => setUsername(e.target.value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </label>
        <ErrorBanner error={error} />
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

function App() {
  const [me, setMe] = useState<Me | null | undefined>(undefined);
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    get<Me>('/me').then(setMe, () => setMe(null));
    const onHash = () => setPath(currentPath());
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);
  if (me === undefined) return <p className="busy">Loading…</p>;
  if (me === null) return <Login onSignedIn={setMe} />;
  const screen = SCREENS.find((s) => s.path === path) ?? SCREENS[0];
  async function signOut() {
    await post('/logout').catch(() => undefined);
    setMe(null);
  }
  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Arrears</span>
        <nav aria-label="Screens">
          <ul>
            {SCREENS.map((s) => (
              <li key={s.path}>
                <a href={`#/${s.path}`} aria-current={s.path === screen.path ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          {me.displayName || me.username}{' '}
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        <screen.Screen />
      </main>
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
