import { afterEach, describe, expect, it, vi } from 'vitest';
import { CONNECT_TIMEOUT_MS, TRANSFER_TIMEOUT_MS, transferTimeouts, withDeadline } from './limits.ts';

describe('transfer timeouts', () => {
  afterEach(() => vi.useRealTimers());

  it('default to 10 s to connect and 120 s to transfer; the environment can set each in milliseconds', () => {
    expect(transferTimeouts({})).toEqual({ connectMs: CONNECT_TIMEOUT_MS, transferMs: TRANSFER_TIMEOUT_MS });
    expect(transferTimeouts({ ARREARS_TRANSFER_CONNECT_TIMEOUT_MS: '2500', ARREARS_TRANSFER_TIMEOUT_MS: ' 600000 ' })).toEqual({ connectMs: 2500, transferMs: 600_000 });
    for (const bad of ['0', '-1', '1.5', 'ten', 'Infinity']) {
      expect(() => transferTimeouts({ ARREARS_TRANSFER_TIMEOUT_MS: bad })).toThrow(`ARREARS_TRANSFER_TIMEOUT_MS must be a whole number of milliseconds above 0, got "${bad}"`);
    }
  });

  it('withDeadline gives up on a sender that never finishes, and passes a quick one through', async () => {
    vi.useFakeTimers();
    const never = new Promise<string>(() => undefined);
    const late = withDeadline(never, 5000, 'sending a.txt by sftp');
    vi.advanceTimersByTime(5000);
    await expect(late).rejects.toThrow('sending a.txt by sftp did not finish within 5000 ms; it will be tried again');
    await expect(withDeadline(Promise.resolve('ok'), 5000, 'x')).resolves.toBe('ok');
    // A sender that fails after being given up on does not surface as an unhandled rejection.
    let fail!: (e: Error) => void;
    const abandoned = withDeadline(new Promise<string>((_, reject) => (fail = reject)), 10, 'y');
    vi.advanceTimersByTime(10);
    await expect(abandoned).rejects.toThrow('y did not finish within 10 ms');
    fail(new Error('socket closed'));
  });
});
