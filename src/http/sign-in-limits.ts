// How many sign-ins may be tried, counted before any password or code is checked (so a burst
// of concurrent guesses cannot all slip through while the first ones are still being checked):
// - one username from one address: `attempts` failures in the window, then 429;
// - one address across usernames: WIDE_LOGIN_FACTOR × `attempts`, then 429 (a sprayer's own address);
// - one username from anywhere: past WIDE_LOGIN_FACTOR × `attempts` failures every further try
//   waits (1 s, doubling, at most 10 s) but is never refused, so nobody can lock another
//   person out; the right password from an address that is not locked still gets in.
// The counts live in memory: a restart forgets them, which only helps a legitimate user.
import { ArrearsError } from '../domain/errors.ts';
import type { Clock } from '../services/context.ts';

export interface LoginLimit {
  /** Failed sign-ins allowed per username and address within the window. */
  attempts: number;
  windowMinutes: number;
}

export const DEFAULT_LOGIN_LIMIT: LoginLimit = { attempts: 5, windowMinutes: 15 };
/** One address trying many usernames is refused, and one username tried from many addresses slowed, after this many times `attempts`. */
export const WIDE_LOGIN_FACTOR = 4;
/** The slow-down of a username under attack: the first wait, and the longest. */
export const SLOW_DOWN_FIRST_MS = 1000;
export const SLOW_DOWN_MAX_MS = 10_000;
const MAX_KEYS = 10_000;

export class TooManyAttemptsError extends ArrearsError {
  readonly exitCode = 2;
  readonly httpStatus = 429;
  constructor(readonly retryAfterSeconds: number) {
    super(`too many failed sign-ins; try again in ${Math.ceil(retryAfterSeconds / 60)} minute${retryAfterSeconds > 60 ? 's' : ''}`);
    this.name = 'TooManyAttemptsError';
  }
}

/** Attempts per key in a fixed window that starts with the key's first attempt. */
export class LoginThrottle {
  private readonly counts = new Map<string, { count: number; since: number }>();
  constructor(
    private readonly clock: Clock,
    private readonly limit: LoginLimit = DEFAULT_LOGIN_LIMIT,
  ) {}

  private current(key: string): { count: number; since: number } | undefined {
    const entry = this.counts.get(key);
    if (entry && this.clock.now().getTime() - entry.since >= this.limit.windowMinutes * 60_000) {
      this.counts.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Attempts counted for the key in its current window. */
  count(key: string): number {
    return this.current(key)?.count ?? 0;
  }

  /** When the key's current window ends (now, for a key with none). */
  windowEnd(key: string): Date {
    const entry = this.current(key);
    return new Date((entry?.since ?? this.clock.now().getTime()) + (entry ? this.limit.windowMinutes * 60_000 : 0));
  }

  /** Throws while the key has used up its attempts. */
  check(key: string): void {
    const entry = this.current(key);
    if (entry && entry.count >= this.limit.attempts) {
      const left = entry.since + this.limit.windowMinutes * 60_000 - this.clock.now().getTime();
      throw new TooManyAttemptsError(Math.max(1, Math.ceil(left / 1000)));
    }
  }

  /** Counts one attempt; returns the count now. */
  take(key: string): number {
    // An attacker cycling usernames must not grow the map without end: expired keys go first, then the oldest.
    if (this.counts.size >= MAX_KEYS) for (const k of [...this.counts.keys()]) this.current(k);
    for (const k of this.counts.keys()) {
      if (this.counts.size < MAX_KEYS) break;
      this.counts.delete(k);
    }
    const entry = this.current(key);
    if (entry) return ++entry.count;
    this.counts.set(key, { count: 1, since: this.clock.now().getTime() });
    return 1;
  }

  /** Takes back one attempt that turned out not to be a failure. */
  refund(key: string): void {
    const entry = this.current(key);
    if (entry && --entry.count <= 0) this.counts.delete(key);
  }

  clear(key: string): void {
    this.counts.delete(key);
  }
}

/** What a failed attempt started, for the audit log. */
export interface FailureEffects {
  /** The username at this address is refused until the window passes. */
  pairLocked: boolean;
  /** This address is refused for every username until the window passes. */
  addressLocked: boolean;
  /** The username's attempts are slowed from now on. */
  usernameSlowed: boolean;
  /** When the window of the lock ends. */
  until: Date;
}

/** One attempt in progress: how it ended counts once (later calls change nothing). */
export interface Attempt {
  /** The secret was right: the attempt does not count, and the pair's failures are forgotten. */
  succeeded(): void;
  /** Not a failure and not a success (the password was right, a second factor is still needed). */
  refund(): void;
  failed(): FailureEffects;
}

export class SignInGuard {
  private readonly pairs: LoginThrottle;
  private readonly addresses: LoginThrottle;
  private readonly usernames: LoginThrottle;
  private readonly wide: number;

  constructor(
    private readonly clock: Clock,
    readonly limit: LoginLimit = DEFAULT_LOGIN_LIMIT,
    /** How long to hold an attempt (tests pass a shorter wait). */
    private readonly wait: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {
    this.wide = limit.attempts * WIDE_LOGIN_FACTOR;
    this.pairs = new LoginThrottle(clock, limit);
    this.addresses = new LoginThrottle(clock, { ...limit, attempts: this.wide });
    // Never refuses (no limit): only counts, for the slow-down.
    this.usernames = new LoginThrottle(clock, { ...limit, attempts: Number.MAX_SAFE_INTEGER });
  }

  /** The wait before a username's next attempt, given its failures in the window. */
  slowDownMs(failures: number): number {
    if (failures < this.wide) return 0;
    return Math.min(SLOW_DOWN_MAX_MS, SLOW_DOWN_FIRST_MS * 2 ** Math.min(failures - this.wide, 20));
  }

  /**
   * Counts the attempt now, in one synchronous step (no await between the check and the
   * count), then waits out the username's slow-down. Throws TooManyAttemptsError while the
   * pair or the address is locked; a refused attempt counts nowhere.
   */
  async enter(username: string, address: string): Promise<Attempt> {
    const pair = `${username}|${address}`;
    this.pairs.check(pair);
    this.addresses.check(address);
    // The counts this attempt reached: the attempt that reaches a limit is the one that locks.
    const reached = { pair: this.pairs.take(pair), address: this.addresses.take(address) };
    const delay = this.slowDownMs(this.usernames.count(username));
    const usernameCount = this.usernames.take(username);
    if (delay > 0) await this.wait(delay);

    let settled = false;
    const refund = () => {
      if (settled) return false;
      settled = true;
      this.pairs.refund(pair);
      this.addresses.refund(address);
      this.usernames.refund(username);
      return true;
    };
    return {
      succeeded: () => {
        // Only the pair is forgotten: a sprayer who knows one password must not reset the wide counts.
        if (refund()) this.pairs.clear(pair);
      },
      refund: () => void refund(),
      failed: () => {
        settled = true;
        const pairLocked = reached.pair === this.limit.attempts;
        return {
          pairLocked,
          addressLocked: reached.address === this.wide,
          usernameSlowed: usernameCount === this.wide,
          until: pairLocked ? this.pairs.windowEnd(pair) : this.addresses.windowEnd(address),
        };
      },
    };
  }
}
