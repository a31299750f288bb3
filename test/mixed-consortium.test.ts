// One Arrears for a consortium whose members run different systems: a Koha member (its own
// MariaDB database), an Evergreen member (its own PostgreSQL database) and a member that sends
// CSV files. One settings table, one run; each patron's block is written to the ILS their
// record came from, the CSV member gets flags only, and the agency file holds all three. A
// library code two sources share is refused with both named.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { freshDatabase, type TestDatabase } from './helpers/db.ts';
import { EvergreenFixture } from './helpers/evergreen.ts';
import { KohaFixture } from './helpers/koha.ts';
import { Scenario } from './helpers/scenario.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { addConnector, setMapping } from '../src/services/connectors.ts';
import { syncAllConnectors, syncConnector } from '../src/services/sync.ts';
import { listWrites } from '../src/services/writeback.ts';
import { useTestSecretKey } from './helpers/secret-key.ts';

let t: TestDatabase;
let s: Scenario;
let eg: EvergreenFixture;
let koha: KohaFixture;

const ctx = (at = '2026-12-04T15:00:00Z'): Context => ({ database: t, clock: fixedClock(at), actor: 'test' });

useTestSecretKey();
beforeAll(async () => {
  t = await freshDatabase();
  s = new Scenario(t);
  eg = await EvergreenFixture.create();
});
afterAll(async () => {
  await eg?.dispose();
  await t.dispose();
});
beforeEach(async () => {
  await s.reset();
  await eg.reset();
  await eg.timeZone('CONS', 'America/New_York');
  koha = await KohaFixture.create();
  await koha.branch('CPL', 'Centerville');
  await koha.branch('MPL', 'Midway');
  await koha.category('PT', 'A', 'Patron');
  await addConnector(ctx(), { name: 'koha', kind: 'koha', url: koha.url, timeZone: 'America/Chicago' });
  await addConnector(ctx(), { name: 'eg', kind: 'evergreen', url: eg.url, timeZone: 'America/New_York' });
});
afterEach(async () => {
  await koha.dispose();
});

describe('a mixed consortium', () => {
  it('one settings table, one run: each block goes to the ILS the patron came from, the CSV member gets flags, the agency file holds all three', async () => {
    // Koha member: Ann owes a lost item. Evergreen member: Ben owes one too. CSV member: Cal.
    const ann = await koha.patron({ cardnumber: '21000001', surname: 'Archer', firstname: 'Ann' });
    await koha.debit(ann, { type: 'LOST', cents: 3000, date: '2026-10-15T15:00:00Z' });
    const ben = await eg.patron({ barcode: '29000002', firstName: 'Ben', familyName: 'Baker', street1: '2 Oak St', city: 'Springfield', postCode: '62702' });
    const benBill = await eg.grocery(ben, { btype: 3, cents: 4000, at: '2026-10-15T15:00:00Z' });
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1', home_library: 'MAIN', ptype: 1 });
    await s.charges({ id: 'C1', patron_id: 'P1', reason: 'replacement', amount: '50.00', assessed_at: '2026-10-15T10:00:00' });

    expect(await syncAllConnectors(ctx())).toEqual([
      { connector: 'eg', ok: true, mode: 'full' },
      { connector: 'koha', ok: true, mode: 'full' },
    ]);
    const libraries = await t.db.selectFrom('libraries as l').leftJoin('connectors as c', 'c.id', 'l.connector_id').select(['l.code', 'c.name as source']).orderBy('l.code').execute();
    expect(libraries.filter((l) => ['BR1', 'CPL', 'MAIN'].includes(l.code))).toEqual([
      { code: 'BR1', source: 'eg' },
      { code: 'CPL', source: 'koha' },
      { code: 'MAIN', source: null },
    ]);

    // One settings table: each member's own patron categories, side by side.
    await s.agency('UMS');
    await s.settings({ ptypes: [1, 'PT', 'Patrons'], minimumOwed: '25.00', agencyFee: '10.00', removeIfLessThan: '0.01' });
    const r = await s.run('2026-12-04', {}, '2026-12-04T15:00:00Z');
    expect(r.newSubmissions.map((n) => [n.patronId, n.owed])).toEqual([
      ['P1', '50.00'],
      [`eg:${ben}`, '40.00'],
      [`koha:${ann}`, '30.00'],
    ]);
    expect(r.writeback).toEqual([
      { connector: 'eg', applied: 2, pending: 0, failed: 0, skipped: 0 },
      { connector: 'koha', applied: 2, pending: 0, failed: 0, skipped: 0 },
    ]);
    const writes = await listWrites(t.db);
    expect(writes.map((w) => [w.connector, w.kind, w.patronId, w.status]).sort()).toEqual([
      ['eg', 'block', `eg:${ben}`, 'applied'],
      ['eg', 'fee', `eg:${ben}`, 'applied'],
      ['koha', 'block', `koha:${ann}`, 'applied'],
      ['koha', 'fee', `koha:${ann}`, 'applied'],
    ]);

    // Koha: the restriction and borrowers.debarred on Ann, and on no one else.
    expect(await koha.query('SELECT borrowernumber, type, comment FROM borrower_debarments')).toEqual([{ borrowernumber: ann, type: 'MANUAL', comment: 'Sent to collections (UMS) on 2026-12-04' }]);
    expect(await koha.query('SELECT debarred FROM borrowers WHERE borrowernumber = ?', [ann])).toEqual([{ debarred: '9999-12-31' }]);
    // Evergreen: the penalty, the tracker row and the fee on Ben, and on no one else.
    expect(await eg.query('SELECT usr, standing_penalty FROM actor.usr_standing_penalty')).toEqual([{ usr: ben, standing_penalty: 30 }]);
    expect(await eg.query('SELECT usr FROM money.collections_tracker')).toEqual([{ usr: ben }]);
    expect(await eg.query("SELECT g.usr, b.amount::text AS amount FROM money.grocery g JOIN money.billing b ON b.xact = g.id WHERE b.btype = 2")).toEqual([{ usr: ben, amount: '10.00' }]);
    expect((await eg.balances()).get(ben)).toBe(5000);

    // The agency's file holds all three, in its layout as before.
    const files = await t.db.selectFrom('report_files').select(['kind', 'content']).where('kind', '=', 'new').execute();
    const content = files.map((f) => Buffer.from(f.content).toString('utf8')).join('\n');
    for (const [id, barcode] of [['P1', '2100P1'], [`eg:${ben}`, '29000002'], [`koha:${ann}`, '21000001']]) {
      expect(content).toContain(id);
      expect(content).toContain(barcode);
    }

    // Ben pays everything at the Evergreen desk: only his block is lifted, in Evergreen.
    await eg.pay(benBill.xact, 4000);
    const fee = await eg.one<{ xact: string }>('SELECT xact FROM money.billing WHERE btype = 2');
    await eg.pay(Number(fee.xact), 1000);
    await syncAllConnectors(ctx('2026-12-05T14:00:00Z'));
    const next = await s.run('2026-12-05', {}, '2026-12-05T15:00:00Z');
    expect(next.removals.map((x) => x.patronId)).toEqual([`eg:${ben}`]);
    expect(next.writeback).toEqual([{ connector: 'eg', applied: 1, pending: 0, failed: 0, skipped: 0 }]);
    expect(await eg.query('SELECT stop_date IS NOT NULL AS archived FROM actor.usr_standing_penalty')).toEqual([{ archived: true }]);
    expect(await eg.query('SELECT usr FROM money.collections_tracker')).toEqual([]);
    expect(await koha.query('SELECT borrowernumber FROM borrower_debarments')).toEqual([{ borrowernumber: ann }]);
  });

  it('a library code that two sources share is refused with both named, whichever comes second', async () => {
    await syncConnector(ctx(), 'eg');
    // A Koha branch with an Evergreen org unit's shortname.
    await koha.branch('BR1', 'Another Branch 1');
    await expect(syncConnector(ctx(), 'koha')).rejects.toThrow('library code "BR1" comes from two sources: connector "eg" and connector "koha"');
    expect(await t.db.selectFrom('libraries').select('code').where('connector_id', 'is not', null).where('code', 'in', ['CPL', 'MPL']).execute()).toEqual([]);
    // Mapped away on the Koha side, both sync.
    await setMapping(ctx(), 'koha', { libraries: { BR1: { ignore: true } } });
    await expect(syncConnector(ctx(), 'koha')).resolves.toMatchObject({ mode: 'full', libraries: 2 });

    // CSV member first, then an Evergreen org unit of the same code.
    await s.libraries({ code: 'MAIN' });
    await s.patrons({ id: 'P1', home_library: 'MAIN' });
    await eg.orgUnit('MAIN', 'Main Street Branch');
    await expect(syncConnector(ctx('2026-12-04T15:05:00Z'), 'eg')).rejects.toThrow('library code "MAIN" comes from two sources: CSV imports and connector "eg"');
    // And CSV may not take over a connector's library.
    await expect(s.libraries({ code: 'CPL' })).rejects.toThrow('library "CPL" comes from connector "koha"; CSV imports cannot change it');
    await expect(s.libraries({ code: 'BR2' })).rejects.toThrow('library "BR2" comes from connector "eg"; CSV imports cannot change it');
  });
});
