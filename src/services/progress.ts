// Progress of long work (imports, runs) for whoever watches it: a board of jobs, each under
// a key its starter chose, updated by the service's callbacks and read by watchers. It lives
// in the server's memory: progress is for the person waiting, not a record (the audit log is).
import { ConflictError } from '../domain/errors.ts';

export interface ProgressState {
  /** What the work is: "import" or "run". */
  kind: string;
  /** The step under way, e.g. reading, checking, writing (imports) or evaluating, files (runs). */
  phase: string;
  /** How far the phase is: bytes of the file read, or steps of a run done. */
  done: number;
  total: number | null;
  unit: 'bytes' | 'steps';
  /** Rows read so far (imports). */
  rows: number | null;
  finished: boolean;
  /** Once finished: whether the work succeeded, and its error message when it did not. */
  ok: boolean | null;
  error: string | null;
}

export type ProgressListener = (state: ProgressState) => void;

export interface ProgressTracker {
  update(change: Partial<Pick<ProgressState, 'phase' | 'done' | 'total' | 'unit' | 'rows'>>): void;
  finish(error?: unknown): void;
}

interface Job {
  state: ProgressState;
  lastSent: number;
}

export interface ProgressBoardOptions {
  /** Least time between two notifications within one phase (default 100 ms); a phase change or the end is told at once. */
  intervalMs?: number;
  /** How long a finished job stays readable (default 5 minutes). */
  keepMs?: number;
}

export class ProgressBoard {
  private readonly jobs = new Map<string, Job>();
  private readonly watchers = new Map<string, Set<ProgressListener>>();
  private readonly intervalMs: number;
  private readonly keepMs: number;

  constructor(options: ProgressBoardOptions = {}) {
    this.intervalMs = options.intervalMs ?? 100;
    this.keepMs = options.keepMs ?? 5 * 60_000;
  }

  /** Starts a job under the key; a key already running refuses the second start. */
  start(key: string, kind: string, first: Partial<ProgressState> = {}): ProgressTracker {
    if (this.jobs.get(key)?.state.finished === false) throw new ConflictError(`progress id "${key}" is already in use by work under way`);
    const job: Job = {
      state: { kind, phase: 'starting', done: 0, total: null, unit: 'steps', rows: null, finished: false, ok: null, error: null, ...first },
      lastSent: 0,
    };
    this.jobs.set(key, job);
    this.notify(key, job, true);
    return {
      update: (change) => {
        if (job.state.finished) return;
        const phaseChanged = change.phase !== undefined && change.phase !== job.state.phase;
        job.state = { ...job.state, ...change };
        this.notify(key, job, phaseChanged);
      },
      finish: (error?: unknown) => {
        if (job.state.finished) return;
        job.state = { ...job.state, phase: error === undefined ? 'done' : 'failed', finished: true, ok: error === undefined, error: error === undefined ? null : error instanceof Error ? error.message : String(error) };
        this.notify(key, job, true);
        setTimeout(() => {
          if (this.jobs.get(key) === job) this.jobs.delete(key);
        }, this.keepMs).unref();
      },
    };
  }

  /** The job's state now, if it has started and not been forgotten. */
  get(key: string): ProgressState | undefined {
    return this.jobs.get(key)?.state;
  }

  /** Calls the listener with the state now (if started) and on every change; returns the unsubscribe. */
  watch(key: string, listener: ProgressListener): () => void {
    let set = this.watchers.get(key);
    if (!set) this.watchers.set(key, (set = new Set()));
    set.add(listener);
    const now = this.get(key);
    if (now) listener(now);
    return () => {
      set.delete(listener);
      if (set.size === 0 && this.watchers.get(key) === set) this.watchers.delete(key);
    };
  }

  private notify(key: string, job: Job, force: boolean): void {
    const now = Date.now();
    if (!force && now - job.lastSent < this.intervalMs) return;
    job.lastSent = now;
    for (const listener of this.watchers.get(key) ?? []) listener(job.state);
  }
}

/** Runs the work with a tracker when a key is given, finishing it however the work ends. */
export async function withProgress<T>(board: ProgressBoard, key: string | undefined, kind: string, work: (tracker: ProgressTracker | undefined) => Promise<T>): Promise<T> {
  if (key === undefined) return work(undefined);
  const tracker = board.start(key, kind);
  try {
    const result = await work(tracker);
    tracker.finish();
    return result;
  } catch (err) {
    tracker.finish(err);
    throw err;
  }
}
