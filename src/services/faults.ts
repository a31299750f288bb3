// Fault points: named moments in a run and in a delivery where the crash tests
// (test/reliability-crash.test.ts, test/reliability-races.test.ts) make this process die
// with SIGKILL, or stop with SIGSTOP, to prove that a crash at that moment loses nothing and
// writes nothing twice. It exists because a kill at a random delay rarely lands exactly
// between two writes; a named point does, every time. Unset (always, outside those tests),
// faultPoint only compares a string.
//   ARREARS_FAULT_POINT=name     act the first time the point is reached
//   ARREARS_FAULT_POINT=name#n   act the n-th time (points inside loops)
//   ARREARS_FAULT_SIGNAL=SIGSTOP stop instead of dying (the test commits something, then SIGCONT)
//   ARREARS_FAULT_TRACE=1        print "fault point: name" on stderr at every point reached

export const FAULT_POINTS = [
  'run.snapshot', // the run holds the lock and its transaction's snapshot; nothing written
  'run.updates-written', // open referrals updated, cleared or cancelled
  'referrals.inserted', // New Submissions' referrals inserted, their fees not yet charged
  'referrals.fees-charged', // agency fees charged
  'run.referrals-written', // referral history and in-collections flags written
  'reports.file-stored', // one report file stored (use #n for the n-th)
  'run.files-stored', // every report file stored
  'run.before-commit', // everything written and recorded, not yet committed
  'run.committed', // committed, before the command prints its result
  'delivery.claimed', // a file claimed for sending (committed), nothing sent yet
  'delivery.sent', // the agency has the file; the success is not yet recorded
] as const;
export type FaultPoint = (typeof FAULT_POINTS)[number];

const hits = new Map<string, number>();

export function faultPoint(name: FaultPoint, env: NodeJS.ProcessEnv = process.env): void {
  const wanted = env.ARREARS_FAULT_POINT;
  if (env.ARREARS_FAULT_TRACE === '1') process.stderr.write(`fault point: ${name}\n`);
  if (wanted === undefined || wanted === '') return;
  const [point, nth] = wanted.split('#');
  if (point !== name) return;
  const count = (hits.get(name) ?? 0) + 1;
  hits.set(name, count);
  if (count !== Number(nth ?? 1)) return;
  process.kill(process.pid, env.ARREARS_FAULT_SIGNAL === 'SIGSTOP' ? 'SIGSTOP' : 'SIGKILL');
}
