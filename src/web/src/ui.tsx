// Small shared pieces: the busy indicator with elapsed time, error and success banners, a
// hook that runs one request at a time for a screen (and clears the last outcome when the
// next action starts, so an old result never sits beside a new refusal), loading on open.
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

function message(error: unknown): string {
  if (error instanceof ApiError && error.status === 403) {
    const permission = /"([^"]+)"/.exec(error.message)?.[1];
    return `You don’t have access to do that${permission ? ` (it needs the ${permission} permission; ask an administrator)` : ''}.`;
  }
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}

export function ErrorBanner({ error }: { error: unknown }) {
  if (!error) return null;
  const problems: Problem[] = error instanceof ApiError ? error.problems : [];
  return (
    <div className="error" role="alert">
      <p>{message(error)}</p>
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

/** What the last action did; role=status so a screen reader says it. */
export function Done({ message }: { message: string }) {
  if (!message) return null;
  return (
    <p className="ok" role="status">
      {message}
    </p>
  );
}

/**
 * Runs async work for a screen: one at a time, with its busy label, its error and its success
 * message. Starting new work clears the last error and message.
 */
export function useTask() {
  const [busy, setBusy] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState('');
  const run = useCallback(async <T,>(label: string, work: () => Promise<T>): Promise<T | undefined> => {
    setBusy(label);
    setError(null);
    setMessage('');
    try {
      return await work();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(null);
    }
  }, []);
  const clear = useCallback(() => {
    setError(null);
    setMessage('');
  }, []);
  return { busy, error, run, setError, message, setMessage, clear };
}

/** Loads data when the screen opens and whenever a dependency changes. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [version, setVersion] = useState(0);
  useEffect(() => {
    let live = true;
    setError(null);
    setLoading(true);
    load().then(
      (d) => {
        if (!live) return;
        setData(d);
        setLoading(false);
      },
      (e: unknown) => {
        if (!live) return;
        setError(e);
        setLoading(false);
      },
    );
    return () => {
      live = false;
    };
  }, [...deps, version]);
  /** loading: the data shown is from before the last change, the new one is on its way. */
  return { data, error, loading, reload: () => setVersion((v) => v + 1) };
}

export function Status({ value, label }: { value: string; label?: string }) {
  return <span className={`tag tag-${value}`}>{label ?? value}</span>;
}
