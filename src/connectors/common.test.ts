import { describe, expect, it } from 'vitest';
import { ValidationError } from '../domain/errors.ts';
import { connectionOf, feeMarker, fill, guarded, inChunks, letAnswersIn } from './common.ts';
import { IlsUnavailable } from './errors.ts';

describe('connectionOf', () => {
  const koha = (url: string, options = {}) => connectionOf({ name: 'koha', kind: 'koha', url, options });

  it("takes the ILS's own kinds of URL", () => {
    expect(koha('mysql://arrears:s3cret@db.example.org:3306/koha')).toMatchObject({ host: 'db.example.org', port: 3306, database: 'koha', user: 'arrears', password: 's3cret', useTls: undefined });
    expect(koha('mariadb://arrears@127.0.0.1/koha').database).toBe('koha');
  });

  it('names the connector and shows the form a URL takes, never the text given', () => {
    expect(() => koha('//arrears:s3cret@db.example.org:3306/koha')).toThrow('connector "koha": not a URL; a koha connection URL looks like mysql://user:password@host:3306/koha');
    expect(() => koha('//arrears:s3cret@db.example.org:3306/koha')).not.toThrow(/s3cret/);
    expect(() => koha('postgres://arrears:s3cret@db/evergreen')).toThrow('connector "koha": a koha connection URL starts with mysql://');
    expect(() => koha('postgres://arrears:s3cret@db/evergreen')).toThrow(ValidationError);
  });

  it("uses the URL's TLS mode unless --tls is given, and refuses the two disagreeing", () => {
    expect(koha('mysql://a:b@db/koha?ssl-mode=VERIFY_IDENTITY').useTls).toBe('require');
    expect(koha('mysql://a:b@db/koha', { tls: 'no-verify' }).useTls).toBe('no-verify');
    expect(koha('mysql://a:b@db/koha?ssl-mode=REQUIRED', { tls: 'no-verify' }).useTls).toBe('no-verify');
    expect(() => koha('mysql://a:b@db/koha?ssl-mode=DISABLED', { tls: 'require' })).toThrow(/disagree/);
  });
});

describe('guarded', () => {
  it('turns the ILS going away into IlsUnavailable naming the connector, and leaves our own errors as they are', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:3306'), { code: 'ECONNREFUSED' });
    await expect(guarded('koha', () => Promise.reject(refused))).rejects.toThrow(IlsUnavailable);
    await expect(guarded('koha', () => Promise.reject(refused))).rejects.toThrow(/connector "koha"/);
    const bug = new TypeError('x is undefined');
    await expect(guarded('koha', () => Promise.reject(bug))).rejects.toBe(bug);
    await expect(guarded('koha', async () => 7)).resolves.toBe(7);
  });
});

describe('what a write says', () => {
  it('fills every {agency} and {date} of a template', () => {
    expect(fill('Sent to collections ({agency}) on {date}; {agency}', { agency: 'UMS', date: '2026-12-04' })).toBe('Sent to collections (UMS) on 2026-12-04; UMS');
  });

  it("marks a fee with the connector and the write's idempotency key", () => {
    expect(feeMarker({ idempotencyKey: 'fee:fee-17' }, 'koha')).toBe('Arrears koha fee:fee-17');
  });
});

describe('letAnswersIn', () => {
  it("gives the event loop a turn (where a driver reads the ILS's next answer) every 250th patron, and only then", async () => {
    let turned = 0;
    const mark = () => setImmediate(() => turned++);
    mark();
    for (let handled = 1; handled < 250; handled++) await letAnswersIn(handled);
    expect(turned).toBe(0);
    await letAnswersIn(250);
    expect(turned).toBe(1);
    mark();
    await letAnswersIn(251);
    expect(turned).toBe(1);
    await letAnswersIn(500);
    expect(turned).toBe(2);
  });
});

describe('inChunks', () => {
  it('hands every chunk over in order, each fetched while the one before is handled', async () => {
    const events: string[] = [];
    await inChunks(
      5,
      2,
      async (from) => {
        events.push(`fetch ${from}`);
        await new Promise((resolve) => setTimeout(resolve, 1));
        return from * 10;
      },
      async (fetched, from) => {
        events.push(`handle ${from} (${fetched})`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        events.push(`handled ${from}`);
      },
    );
    expect(events).toEqual(['fetch 0', 'fetch 2', 'handle 0 (0)', 'handled 0', 'fetch 4', 'handle 2 (20)', 'handled 2', 'handle 4 (40)', 'handled 4']);
  });

  it("fails at the failed chunk's turn, after the chunks before it, with nothing unhandled", async () => {
    const handled: number[] = [];
    const run = inChunks(
      6,
      2,
      (from) => (from === 2 ? Promise.reject(new Error('the ILS went away')) : Promise.resolve(from)),
      async (_, from) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        handled.push(from);
      },
    );
    await expect(run).rejects.toThrow('the ILS went away');
    expect(handled).toEqual([0]);
  });

  it('fetches nothing for no keys', async () => {
    let fetched = 0;
    await inChunks(0, 2, async () => fetched++, async () => undefined);
    expect(fetched).toBe(0);
  });
});
