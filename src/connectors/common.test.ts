import { describe, expect, it } from 'vitest';
import { connectionUrl, feeMarker, fill, guarded, letAnswersIn } from './common.ts';
import { IlsUnavailable } from './errors.ts';

describe('connectionUrl', () => {
  const koha = (url: string) => connectionUrl({ name: 'koha', url }, 'a Koha', ['mysql:', 'mariadb:'], 'mysql://user:password@host:3306/koha');

  it("takes the ILS's own kinds of URL", () => {
    expect(koha('mysql://arrears:s3cret@db.example.org:3306/koha').hostname).toBe('db.example.org');
    expect(koha('mariadb://arrears@127.0.0.1/koha').pathname).toBe('/koha');
  });

  it('names the connector and shows the form a URL takes, never the text given', () => {
    expect(() => koha('//arrears:s3cret@db.example.org:3306/koha')).toThrow('connector "koha": the connection URL is not a URL (mysql://user:password@host:3306/koha)');
    expect(() => koha('//arrears:s3cret@db.example.org:3306/koha')).not.toThrow(/s3cret/);
    expect(() => koha('postgres://arrears:s3cret@db/evergreen')).toThrow('connector "koha": a Koha connection URL starts with mysql://, not postgres://');
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
