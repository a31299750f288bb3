// The staff app: sign in (password, then a code when the account has two-factor sign-in),
// then one screen per feature, chosen by the URL's hash (#/settings, #/patrons/P100) so every
// screen has an address without server routes; #/account is the user's own two-factor sign-in.
import { StrictMode, useEffect, useState, type ComponentType, type FormEvent, type MouseEvent } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiError, get, post, type Me } from './api.ts';
import { AccountScreen } from './screens/account.tsx';
import { AgenciesScreen } from './screens/agencies.tsx';
import { AuditScreen } from './screens/audit.tsx';
import { ConnectorsScreen } from './screens/connectors.tsx';
import { DashboardScreen } from './screens/dashboard.tsx';
import { FilesScreen } from './screens/files.tsx';
import { ImportsScreen } from './screens/imports.tsx';
import { PatronsScreen } from './screens/patrons.tsx';
import { RecordSetsScreen } from './screens/recordsets.tsx';
import { ReferralsScreen } from './screens/referrals.tsx';
import { ReviewScreen } from './screens/review.tsx';
import { RunsScreen } from './screens/runs.tsx';
import { ScheduleScreen } from './screens/schedule.tsx';
import { SettingsScreen } from './screens/settings.tsx';
import { UsersScreen } from './screens/users.tsx';
import { ConfirmProvider, LibrariesProvider, MeContext } from './session.tsx';
import { ErrorBanner } from './ui.tsx';
import './styles.css';

// Each screen with the permission it needs to be of use; the server checks every call anyway.
// A screen gets what follows its name in the address (#/patrons/P100 → "P100").
export interface ScreenProps {
  /** What follows the screen's name in the address, decoded. */
  rest: string;
}

const SCREENS: { path: string; label: string; Screen: ComponentType<ScreenProps>; needs: string }[] = [
  { path: 'dashboard', label: 'Dashboard', Screen: DashboardScreen, needs: 'ledger.view' },
  { path: 'patrons', label: 'Patrons', Screen: PatronsScreen, needs: 'ledger.view' },
  { path: 'settings', label: 'Settings', Screen: SettingsScreen, needs: 'parameters.view' },
  { path: 'runs', label: 'Run preview', Screen: RunsScreen, needs: 'runs.run' },
  { path: 'review', label: 'Review', Screen: ReviewScreen, needs: 'ledger.view' },
  { path: 'referrals', label: 'Referrals', Screen: ReferralsScreen, needs: 'ledger.view' },
  { path: 'recordsets', label: 'Second agency', Screen: RecordSetsScreen, needs: 'ledger.view' },
  { path: 'files', label: 'Report files', Screen: FilesScreen, needs: 'ledger.view' },
  { path: 'imports', label: 'Imports', Screen: ImportsScreen, needs: 'imports.run' },
  { path: 'agencies', label: 'Agencies', Screen: AgenciesScreen, needs: 'parameters.view' },
  { path: 'connectors', label: 'Connectors', Screen: ConnectorsScreen, needs: 'parameters.view' },
  { path: 'schedule', label: 'Schedule', Screen: ScheduleScreen, needs: 'parameters.view' },
  { path: 'users', label: 'Users', Screen: UsersScreen, needs: 'users.manage' },
  { path: 'audit', label: 'Audit log', Screen: AuditScreen, needs: 'audit.view' },
];

function currentPath(): string {
  return window.location.hash.replace(/^#\/?/, '').split('?')[0] ?? '';
}

/** The screen's name and the rest of the address after it. */
function route(path: string): { name: string; rest: string } {
  const slash = path.indexOf('/');
  return slash < 0 ? { name: path, rest: '' } : { name: path.slice(0, slash), rest: decodeURIComponent(path.slice(slash + 1)) };
}

function Login({ onSignedIn }: { onSignedIn: (me: Me) => void }) {
  const [username, setUsername] = useState('');
  const [password, setPassword] = useState('');
  const [code, setCode] = useState('');
  // Asked once the password was right and the account has two-factor sign-in.
  const [needsCode, setNeedsCode] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const second = !needsCode ? {} : /^[\d\s]+$/.test(code) ? { code } : { recoveryCode: code };
      await post('/login', { username, password, ...second });
      onSignedIn(await get<Me>('/me'));
    } catch (err) {
      if (err instanceof ApiError && err.code === 'totp_required') setNeedsCode(true);
      else if (err instanceof ApiError && err.status === 401) setError(new Error(needsCode ? 'Wrong or already used code.' : 'Wrong username or password.'));
      else setError(err);
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
        {needsCode && (
          <label>
            Code from your authenticator app (or a recovery code)
            <input name="code" autoComplete="one-time-code" required autoFocus value={code} onChange={(e) => setCode(e.target.value)} />
          </label>
        )}
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
    // The session ended on the server (idle, or signed out elsewhere): back to sign-in.
    const onSignedOut = () => setMe(null);
    window.addEventListener('arrears:signed-out', onSignedOut);
    return () => {
      window.removeEventListener('hashchange', onHash);
      window.removeEventListener('arrears:signed-out', onSignedOut);
    };
  }, []);
  if (me === undefined) return <p className="busy">Loading…</p>;
  if (me === null) return <Login onSignedIn={setMe} />;
  // A role that requires two-factor sign-in gets nothing else until it is set up.
  const enrolling = me.twoFactor?.required === true && !me.twoFactor.enabled;
  const screens = enrolling ? [] : SCREENS.filter((s) => me.permissions.includes(s.needs));
  const account = enrolling || path === 'account';
  // After setting up two-factor sign-in: stay on the account screen, whose recovery codes are shown once.
  const enrolled = () => {
    window.location.hash = '#/account';
    setPath('account');
    void get<Me>('/me').then(setMe, () => setMe(null));
  };
  const { name, rest } = route(path);
  const known = SCREENS.find((s) => s.path === name);
  // A screen the role may not use says so; it never falls back to another screen.
  const screen = path === '' ? screens[0] : known && screens.includes(known) ? known : undefined;
  async function signOut() {
    await post('/logout').catch(() => undefined);
    setMe(null);
  }
  function skip(e: MouseEvent) {
    // The hash names screens: moving focus, not the address, keeps the screen.
    e.preventDefault();
    document.getElementById('main')?.focus();
  }
  return (
    <MeContext.Provider value={me}>
      <LibrariesProvider enabled={me.permissions.includes('ledger.view')}>
        <ConfirmProvider>
      <a className="skip" href="#main" onClick={skip}>
        Skip to content
      </a>
      <header className="top">
        <span className="brand">Arrears</span>
        <nav aria-label="Screens">
          <ul>
            {screens.map((s) => (
              <li key={s.path}>
                <a href={`#/${s.path}`} aria-current={!account && s.path === screen?.path ? 'page' : undefined}>
                  {s.label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <span className="who">
          <a href="#/account" aria-current={account ? 'page' : undefined}>
            {me.displayName || me.username}
          </a>{' '}
          <button type="button" className="link" onClick={signOut}>
            Sign out
          </button>
        </span>
      </header>
      <main id="main" tabIndex={-1}>
        {account ? (
          <AccountScreen onChanged={enrolled} />
        ) : screen ? (
          <screen.Screen key={screen.path} rest={rest} />
        ) : known ? (
          <section aria-labelledby="denied-title">
            <h1 id="denied-title">You don’t have access to {known.label}</h1>
            <p>Your role does not include the {known.needs} permission this screen needs. Ask an administrator if you need it.</p>
          </section>
        ) : screens.length === 0 ? (
          <p>Your account has no screens yet: ask an administrator for a role.</p>
        ) : (
          <section aria-labelledby="unknown-title">
            <h1 id="unknown-title">No such screen</h1>
            <p>
              There is no screen at “{path}”. <a href={`#/${screens[0]!.path}`}>Go to {screens[0]!.label}</a>.
            </p>
          </section>
        )}
      </main>
        </ConfirmProvider>
      </LibrariesProvider>
    </MeContext.Provider>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
