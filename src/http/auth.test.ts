import { describe, expect, it } from 'vitest';
import { LoginThrottle } from './auth.ts';

function clockAt(iso: string) {
  let now = new Date(iso).getTime();
  return { now: () => new Date(now), advance: (minutes: number) => (now += minutes * 60_000) };
}

describe('LoginThrottle', () => {
  it('refuses a key after its failures until the window has passed, and a success starts it afresh', () => {
    const clock = clockAt('2025-06-01T12:00:00Z');
    const throttle = new LoginThrottle(clock, { attempts: 2, windowMinutes: 10 });
    throttle.fail('alice|10.0.0.1');
    throttle.check('alice|10.0.0.1');
    throttle.fail('alice|10.0.0.1');
    expect(() => throttle.check('alice|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429, retryAfterSeconds: 600 }));
    throttle.check('alice|10.0.0.2');
    clock.advance(4);
    expect(() => throttle.check('alice|10.0.0.1')).toThrow(expect.objectContaining({ retryAfterSeconds: 360, message: 'too many failed sign-ins; try again in 6 minutes' }));
    clock.advance(6);
    throttle.check('alice|10.0.0.1');

    throttle.fail('bob|10.0.0.1');
    throttle.succeed('bob|10.0.0.1');
    throttle.fail('bob|10.0.0.1');
    throttle.check('bob|10.0.0.1');
  });

  it('keeps at most 10,000 keys, forgetting the oldest first', () => {
    const clock = clockAt('2025-06-01T12:00:00Z');
    const throttle = new LoginThrottle(clock, { attempts: 1, windowMinutes: 10 });
    for (let i = 0; i <= 10_000; i++) throttle.fail(`user${i}|10.0.0.1`);
    throttle.check('user0|10.0.0.1');
    expect(() => throttle.check('user1|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429 }));
    expect(() => throttle.check('user10000|10.0.0.1')).toThrow(expect.objectContaining({ httpStatus: 429 }));
  });
});
