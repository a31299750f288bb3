// Small shared pieces: the busy indicator with elapsed time, error banners, and a hook that
// runs one request at a time for a screen.
import { useCallback, useEffect, useState } from 'react';
import { ApiError, type Problem } from './api.ts';

export function Busy({ label }: { label: string }) {
  const [started] = useState(() => Date.now());
  const [now, setNow] = useState(started);
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 250);
    return () => clearInterval(t);
  }, []);
  return (
    <p className="busy" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" /> {label}… {Math.floor((now - started) / 1000)} s
    </p>
  );
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const problems: Problem[] = error instanceof ApiError ? error.problems : [];
  return (
    <div className="error" role="alert">
      <p>{error instanceof Error ? error.message.split('\n')[0] : String(error)}</p>
      {problems.length > 1 && (
        <ul>
          {problems.map((p, i) => (
            <li key={i}>
              {[p.file, p.row !== undefined ? `row ${p.row}` : undefined, p.column, p.field].filter(Boolean).join(', ')}: {p.reason}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** Runs async work for a screen: one at a time, with its busy label and its error. */
export function useTask() {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async <T,>(label: string, work: () => Promise<T>): Promise<T | undefined> => {
    setBusy(label);
    setError(null);
    try {
      return await work();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(null);
    }
  }, []);
  return { busy, error, run, setError };
}

/** Loads data when the screen opens and whenever a dependency changes. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    load().then(
      (d) => live && setData(d),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [...deps, version]);
  return { data, error, reload: () => setVersion((v) => v + 1) };
}

export function Status({ value }: { value: string }) {
  return <span className={`tag tag-${value}`}>{value}</span>;
}
