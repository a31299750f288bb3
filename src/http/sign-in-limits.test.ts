import { describe, expect, it } from 'vitest';
import { LoginThrottle, SignInGuard, TooManyAttemptsError } from './sign-in-limits.ts';

function clockAt(iso: string) {
  let now = new Date(iso).getTime();
  return { now: () => new Date(now), advance: (minutes: number) => (now += minutes * 60_000) };
}

describe('LoginThrottle', () => {
  it('refuses a key after its attempts until the window has passed; a refund gives one back', () => {
    const clock = clockAt('2025-06-01T12:00:00Z');
    const throttle = new LoginThrottle(clock, { attempts: 2, windowMinutes: 10 });
    expect(throttle.take('alice|10.0.0.1')).toBe(1);
    throttle.check('alice|10.0.0.1');
    expect(throttle.take('alice|10.0.0.1')).toBe(2);
    expect(() => throttle.check('alice|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429, retryAfterSeconds: 600 }));
    throttle.check('alice|10.0.0.2');
    clock.advance(4);
    expect(() => throttle.check('alice|10.0.0.1')).toThrow(expect.objectContaining({ retryAfterSeconds: 360, message: 'too many failed sign-ins; try again in 6 minutes' }));
    throttle.refund('alice|10.0.0.1');
    throttle.check('alice|10.0.0.1');
    clock.advance(6);
    expect(throttle.count('alice|10.0.0.1')).toBe(0);
  });

  it('keeps at most 10,000 keys, forgetting the oldest first', () => {
    const clock = clockAt('2025-06-01T12:00:00Z');
    const throttle = new LoginThrottle(clock, { attempts: 1, windowMinutes: 10 });
    for (let i = 0; i <= 10_000; i++) throttle.take(`user${i}|10.0.0.1`);
    throttle.check('user0|10.0.0.1');
    expect(() => throttle.check('user1|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429 }));
    expect(() => throttle.check('user10000|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429 }));
  });
});

describe('SignInGuard', () => {
  const waits: number[] = [];
  const wait = async (ms: number) => void waits.push(ms);

  it('counts each attempt before it is checked: of 150 at once from one address, 5 go through', async () => {
    const guard = new SignInGuard(clockAt('2025-06-01T12:00:00Z'), { attempts: 5, windowMinutes: 15 }, wait);
    const outcomes = await Promise.allSettled(Array.from({ length: 150 }, () => guard.enter('admin', '10.0.0.1')));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    expect(outcomes.filter((o) => o.status === 'rejected' && o.reason instanceof TooManyAttemptsError)).toHaveLength(145);
  });

  it('locks a username at one address and an address across usernames, reporting the attempt that locks', async () => {
    const guard = new SignInGuard(clockAt('2025-06-01T12:00:00Z'), { attempts: 2, windowMinutes: 15 }, wait);
    expect((await guard.enter('bob', '10.0.0.1')).failed()).toMatchObject({ pairLocked: false, addressLocked: false });
    expect((await guard.enter('bob', '10.0.0.1')).failed()).toMatchObject({ pairLocked: true, addressLocked: false, until: new Date('2025-06-01T12:15:00Z') });
    await expect(guard.enter('bob', '10.0.0.1')).rejects.toThrow(TooManyAttemptsError);
    // The address's limit is 4 × 2 across usernames.
    for (let i = 0; i < 5; i++) expect((await guard.enter(`user${i}`, '10.0.0.1')).failed().addressLocked).toBe(i === 5);
    expect((await guard.enter('user9', '10.0.0.1')).failed().addressLocked).toBe(true);
    await expect(guard.enter('carol', '10.0.0.1')).rejects.toThrow(TooManyAttemptsError);
    await guard.enter('carol', '10.0.0.2');
  });

  it('slows a username tried from many addresses (1 s, doubling, at most 10 s) but never refuses it', async () => {
    waits.length = 0;
    const guard = new SignInGuard(clockAt('2025-06-01T12:00:00Z'), { attempts: 5, windowMinutes: 15 }, wait);
    for (let i = 0; i < 20; i++) {
      const effects = (await guard.enter('admin', `10.1.0.${i}`)).failed();
      expect(effects.usernameSlowed).toBe(i === 19);
    }
    expect(waits).toEqual([]);
    for (let i = 20; i < 26; i++) (await guard.enter('admin', `10.1.0.${i}`)).failed();
    expect(waits).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
    // The right password from another address still gets in, after its wait.
    (await guard.enter('admin', '10.2.0.1')).succeeded();
    expect(waits.at(-1)).toBe(10_000);
  });

  it('a success forgets the pair but not the wide counts; a refund counts nowhere', async () => {
    const guard = new SignInGuard(clockAt('2025-06-01T12:00:00Z'), { attempts: 2, windowMinutes: 15 }, wait);
    (await guard.enter('dan', '10.0.0.1')).failed();
    (await guard.enter('dan', '10.0.0.1')).succeeded();
    (await guard.enter('dan', '10.0.0.1')).failed();
    (await guard.enter('dan', '10.0.0.1')).refund();
    await guard.enter('dan', '10.0.0.1');
    await expect(guard.enter('dan', '10.0.0.1')).rejects.toThrow(TooManyAttemptsError);
  });
});
