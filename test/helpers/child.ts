// The `arrears` command as a child process, for tests that kill, stop or race it. It runs
// as `node --import tsx src/cli/main.ts`, the same program `npx tsx src/cli/main.ts` runs, but
// in ONE process: the tsx launcher would put the program in a grandchild, which a SIGKILL
// sent to the launcher would leave running.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface CliResult {
  /** Exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from spawn to exit. */
  ms: number;
  /** Fault points reached (ARREARS_FAULT_TRACE=1), each with its milliseconds since spawn. */
  points: { name: string; ms: number }[];
}

export interface CliProcess {
  child: ChildProcess;
  pid: number;
  done: Promise<CliResult>;
}

type Env = Record<string, string | undefined>;

/** Starts `arrears <args>` against the database url; env adds to (or, as undefined, removes from) this process's. */
export function startCli(url: string, args: string[], env: Env = {}): CliProcess {
  const started = Date.now();
  const childEnv: Env = { ...process.env, ARREARS_DATABASE_URL: url, ARREARS_FAULT_TRACE: '1', ...env };
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), ...args], {
    cwd: ROOT,
    env: childEnv as NodeJS.ProcessEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const points: CliResult['points'] = [];
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
    for (const m of d.matchAll(/^fault point: (\S+)$/gm)) points.push({ name: m[1]!, ms: Date.now() - started });
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr, ms: Date.now() - started, points }));
  });
  return { child, pid: child.pid!, done };
}

export function runCli(url: string, args: string[], env: Env = {}): Promise<CliResult> {
  return startCli(url, args, env).done;
}

/** Kills the child with SIGKILL after `ms`; resolves with how it ended (it may finish first). */
export function killAfter(proc: CliProcess, ms: number): Promise<CliResult> {
  const timer = setTimeout(() => proc.child.kill('SIGKILL'), ms);
  return proc.done.finally(() => clearTimeout(timer));
}

/** Kills the child with SIGKILL `ms` after it reports reaching a fault point (ARREARS_FAULT_TRACE). */
export function killAfterPoint(proc: CliProcess, point: string, ms: number): Promise<CliResult> {
  let timer: NodeJS.Timeout | undefined;
  const onData = (d: string) => {
    if (timer === undefined && d.includes(`fault point: ${point}\n`)) timer = setTimeout(() => proc.child.kill('SIGKILL'), ms);
  };
  proc.child.stderr!.on('data', onData);
  return proc.done.finally(() => clearTimeout(timer));
}

/** Resolves once the process is stopped (SIGSTOP: state T in /proc), or rejects if it ends or the time runs out. */
export async function waitUntilStopped(proc: CliProcess, timeoutMs = 60_000): Promise<void> {
  let ended = false;
  void proc.done.then(() => (ended = true));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (ended) throw new Error(`process ${proc.pid} ended before it stopped: ${(await proc.done).stderr}`);
    let state = '';
    try {
      // The state follows the command name in parentheses, which may itself hold spaces.
      const stat = readFileSync(`/proc/${proc.pid}/stat`, 'utf8');
      state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    } catch {
      /* gone: the next turn sees it ended */
    }
    if (state === 'T') return;
    if (Date.now() > deadline) throw new Error(`process ${proc.pid} did not stop within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
