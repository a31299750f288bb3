// Progress of long work (imports, runs): the app picks an id, opens the server's event stream
// for it (GET /api/progress/:id), then starts the work with ?progress=<id>. The display is a
// bar (bytes read, or steps done) and the list of phases, each ticked when the server told it.
import { useCallback, useState } from 'react';
// The server's own type: its event stream sends these objects as they are (a type only, so
// nothing of the server's code reaches the bundle).
import type { ProgressState } from '../../services/progress.ts';

function newId(): string {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  // Plain http on another host has no randomUUID; the id only has to be unlikely to repeat.
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Opens the stream, waits until the server is watching (or gives up quietly), then runs the work. */
async function withProgressStream<T>(start: (id: string) => Promise<T>, onState: (s: ProgressState) => void): Promise<T> {
  const id = newId();
  const source = new EventSource(`/api/progress/${id}`);
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 3000);
    source.onopen = () => {
      clearTimeout(timer);
      resolve();
    };
    // Without a stream the work still runs; only the display is missing. No reconnecting.
    source.onerror = () => {
      source.close();
      clearTimeout(timer);
      resolve();
    };
  });
  const take = (e: MessageEvent<string>) => {
    const state = JSON.parse(e.data) as ProgressState | null;
    if (state) onState(state);
  };
  source.onmessage = take;
  source.addEventListener('end', (e) => {
    take(e);
    source.close();
  });
  source.addEventListener('timeout', () => source.close());
  try {
    return await start(id);
  } finally {
    // The end event may still be on its way; the stream closes itself then.
    setTimeout(() => source.close(), 2000);
  }
}

/** The latest state of the screen's tracked work and the phases seen so far. */
export function useProgress() {
  const [state, setState] = useState<ProgressState | null>(null);
  const [seen, setSeen] = useState<string[]>([]);
  const track = useCallback(<T,>(start: (id: string) => Promise<T>): Promise<T> => {
    setState(null);
    setSeen([]);
    return withProgressStream(start, (s) => {
      setState(s);
      setSeen((old) => (old.includes(s.phase) ? old : [...old, s.phase]));
    });
  }, []);
  return { state, seen, track };
}

function bytes(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} kB`;
}

/** The bar and the phase list; phases are [name, label] in the order the work goes through them. */
export function ProgressView({ title, state, seen, phases }: { title: string; state: ProgressState | null; seen: string[]; phases: [string, string][] }) {
  if (!state) return null;
  const failed = state.finished && !state.ok;
  const current = phases.find(([p]) => p === state.phase)?.[1] ?? (state.finished ? (state.ok ? 'Done' : 'Failed') : 'Starting');
  // Work that failed is not "100 %": the bar stays where the work stopped.
  const max = state.finished && !failed ? 1 : (state.total ?? 0);
  const value = state.finished && !failed ? 1 : state.done;
  const percent = max > 0 ? Math.round((100 * value) / max) : null;
  const detail = [
    state.rows !== null ? `${state.rows.toLocaleString('en-US')} rows read` : null,
    state.unit === 'bytes' && state.total ? `${bytes(state.done)} of ${bytes(state.total)}` : null,
    state.unit === 'steps' && state.total && !state.finished ? `step ${state.done + 1} of ${state.total}` : null,
  ].filter(Boolean);
  return (
    <section className="panel progress" aria-label={title}>
      <p role="status" aria-live="polite" className="progress-now">
        {title}: {current}
        {detail.length > 0 && ` — ${detail.join(', ')}`}
      </p>
      {failed ? null : max > 0 ? <progress aria-label={`${title} progress`} max={max} value={value} /> : <progress aria-label={`${title} progress`} />}
      {percent !== null && !failed && <span className="percent"> {percent}%</span>}
      <ol className="phases">
        {phases.map(([p, label]) => {
          // A failed run rolled back: nothing it reached counts as done.
          const done = !failed && seen.includes(p) && state.phase !== p;
          return (
            <li key={p} className={state.phase === p ? 'current' : done ? 'done' : undefined} aria-current={state.phase === p ? 'step' : undefined}>
              <span aria-hidden="true">{done ? '✓' : state.phase === p ? '▸' : '·'}</span> {label}
              <span className="sr-only">{done ? ' (done)' : state.phase === p ? ' (under way)' : ''}</span>
            </li>
          );
        })}
      </ol>
    </section>
  );
}
