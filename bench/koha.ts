// The Koha connector's benchmark: the demo consortium of the main benchmark (same generator,
// same seed) loaded into Koha's tables in MariaDB as Koha itself would hold it (debits,
// credits and the APPLY offsets between them), then, into Arrears on PostgreSQL:
//   (f) a full sync, in ledger rows (accountlines) per second;
//   (g) an incremental sync after 10,000 changed accountlines (5,000 desk payments);
//   (h) write-backs of a full run's referrals (restriction + fee), per 1,000.
// Every patron's balance is checked against Koha's before the figures count.
//   npm run bench:koha -- [--size small|medium] [--db postgres://…] [--mariadb mysql://root@127.0.0.1:3306/test] [--seed 1] [--keep-koha]
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { sql } from 'kysely';
import { createConnection, type Connection } from 'mysql2/promise';
import pg from 'pg';
import { isPostgresUrl, openDatabase, type Database } from '../src/db/connection.ts';
import { parseDateTime } from '../src/domain/dates.ts';
import { formatMoney, parseMoney } from '../src/domain/money.ts';
import { addConnector } from '../src/services/connectors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { DEMO_AS_OF, demoLibraries, generateDemo } from '../src/services/demo.ts';
import { KOHA_STOCK_ROWS, KOHA_TABLES } from '../test/helpers/koha-schema.ts';
import { arg, loadAverage, machine, measureConnector, SIZES, sizeArg, timed, writeResult } from './connector.ts';
import { DEFAULT_URL } from './import-charges.ts';

const BATCH = 5000;
const DEBIT_TYPE: Record<string, string> = { replacement: 'LOST', processing: 'PROCESSING', overdue: 'OVERDUE', manual: 'MANUAL', damage: 'MANUAL' };
const CREDIT_TYPE: Record<string, string> = { payment: 'PAYMENT', waive: 'FORGIVEN', writeoff: 'WRITEOFF' };

const utc = (d: Date) => d.toISOString().slice(0, 19).replace('T', ' ');

/** Rows for one multi-row INSERT, flushed every BATCH rows. */
class Inserter {
  private rows: unknown[][] = [];
  count = 0;
  constructor(
    private readonly conn: Connection,
    private readonly head: string,
  ) {}
  async add(row: unknown[]): Promise<void> {
    this.rows.push(row);
    this.count++;
    if (this.rows.length >= BATCH) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    await this.conn.query(`${this.head} VALUES ?`, [this.rows]);
    this.rows = [];
  }
}

/** The demo consortium as Koha holds it; returns the counts loaded. */
async function loadKoha(conn: Connection, patrons: number, seed: number): Promise<{ borrowers: number; debits: number; credits: number; offsets: number; items: number }> {
  const zones = new Map(demoLibraries().map((l) => [l.code, l.time_zone]));
  await conn.query('SET foreign_key_checks = 0, unique_checks = 0');
  await conn.query(`INSERT INTO branches (branchcode, branchname) VALUES ?`, [demoLibraries().map((l) => [l.code, l.name])]);
  const stamp = utc(new Date(Date.now() - 86_400_000));
  const borrowers = new Inserter(conn, 'INSERT INTO borrowers (borrowernumber, cardnumber, surname, firstname, address, city, state, zipcode, phone, email, dateofbirth, branchcode, categorycode, sort1, updated_on)');
  const biblios = new Inserter(conn, 'INSERT INTO biblio (biblionumber, title, datecreated)');
  const biblioitems = new Inserter(conn, 'INSERT INTO biblioitems (biblioitemnumber, biblionumber)');
  const items = new Inserter(conn, 'INSERT INTO items (itemnumber, biblionumber, biblioitemnumber, barcode, homebranch, holdingbranch, itemlost, withdrawn, timestamp)');
  const issues = new Inserter(conn, 'INSERT INTO issues (borrowernumber, itemnumber, date_due, branchcode, timestamp)');
  const lines = new Inserter(conn, 'INSERT INTO accountlines (accountlines_id, borrowernumber, itemnumber, date, amount, amountoutstanding, debit_type_code, credit_type_code, payment_type, interface, branchcode, timestamp)');
  const offsets = new Inserter(conn, 'INSERT INTO account_offsets (credit_id, debit_id, type, amount)');
  const categories = new Set<string>();
  const itemNumbers = new Map<string, number>();
  let borrowernumber = 0;
  let line = 0;
  let debits = 0;
  let credits = 0;
  for (const b of generateDemo({ patrons, seed, asOf: DEMO_AS_OF })) {
    const p = b.patron;
    const bn = ++borrowernumber;
    categories.add(p.ptype);
    await borrowers.add([bn, p.barcode || null, p.last_name, p.first_name, p.address, p.city, p.state, p.postal_code, p.phone, p.email, p.birth_date || null, p.home_library, p.ptype, p.patron_code, stamp]);
    for (const it of b.items) {
      if (itemNumbers.has(it.id)) continue;
      const n = itemNumbers.size + 1;
      itemNumbers.set(it.id, n);
      await biblios.add([n, it.title, '2020-01-01']);
      await biblioitems.add([n, n]);
      const linked = it.patron_id === p.id;
      await items.add([n, n, n, it.barcode || null, p.home_library, p.home_library, linked && it.status === 'lost' ? 1 : 0, it.status === 'withdrawn' ? 1 : 0, stamp]);
      if (linked && it.status === 'checked_out') await issues.add([bn, n, `${it.due_date} 23:59:00`, p.home_library, stamp]);
    }
    // Debits, then each payment applied as Koha's pay does: to its charge, or oldest first.
    const open = b.charges
      .map((c) => ({ id: ++line, cents: Number(parseMoney(c.amount)), left: Number(parseMoney(c.amount)), at: parseDateTime(c.assessed_at, zones.get(c.library) ?? 'America/Chicago')!, row: c }))
      .sort((x, y) => x.at.getTime() - y.at.getTime() || x.id - y.id);
    const byCharge = new Map(open.map((d) => [d.row.id, d]));
    const applied: { credit: number; debit: number; cents: number }[] = [];
    const creditRows: { id: number; cents: number; left: number; at: Date; type: string; method: string }[] = [];
    for (const pay of b.payments) {
      const credit = { id: ++line, cents: Number(parseMoney(pay.amount)), left: Number(parseMoney(pay.amount)), at: parseDateTime(pay.paid_at, 'America/Chicago')!, type: CREDIT_TYPE[pay.type] ?? 'PAYMENT', method: pay.method };
      const targets = pay.charge_id ? [byCharge.get(pay.charge_id)].filter((d) => d !== undefined) : open;
      for (const d of targets) {
        const a = Math.min(credit.left, d.left);
        if (a <= 0) continue;
        d.left -= a;
        credit.left -= a;
        applied.push({ credit: credit.id, debit: d.id, cents: a });
      }
      creditRows.push(credit);
    }
    for (const d of open) {
      const item = d.row.item_id ? (itemNumbers.get(d.row.item_id) ?? null) : null;
      await lines.add([d.id, bn, item, utc(d.at), formatMoney(d.cents), formatMoney(d.left), DEBIT_TYPE[d.row.reason] ?? 'MANUAL', null, null, 'intranet', d.row.library, stamp]);
      await offsets.add([null, d.id, 'CREATE', formatMoney(d.cents)]);
      debits++;
    }
    for (const c of creditRows) {
      await lines.add([c.id, bn, null, utc(c.at), formatMoney(-c.cents), formatMoney(-c.left), null, c.type, c.method.toUpperCase().slice(0, 80) || null, 'intranet', p.home_library, stamp]);
      await offsets.add([c.id, null, 'CREATE', formatMoney(c.cents)]);
      credits++;
    }
    for (const a of applied) await offsets.add([a.credit, a.debit, 'APPLY', formatMoney(-a.cents)]);
  }
  for (const i of [borrowers, biblios, biblioitems, items, issues, lines, offsets]) await i.flush();
  await conn.query(`INSERT INTO categories (categorycode, description, category_type) VALUES ?`, [[...categories].map((c) => [c, `Category ${c}`, 'A'])]);
  await conn.query('SET foreign_key_checks = 1, unique_checks = 1');
  await conn.query('ANALYZE TABLE borrowers, accountlines, account_offsets, items, issues');
  return { borrowers: borrowernumber, debits, credits, offsets: offsets.count, items: itemNumbers.size };
}

/** Every accountlines row and every credit-to-debit offset, streamed and counted: the least a full sync reads. */
async function readFloor(conn: Connection): Promise<number> {
  let rows = 0;
  for (const query of [
    'SELECT accountlines_id, borrowernumber, itemnumber, date, timestamp, amount, amountoutstanding, debit_type_code, credit_type_code, payment_type, branchcode FROM accountlines',
    'SELECT credit_id, debit_id, amount FROM account_offsets WHERE credit_id IS NOT NULL AND debit_id IS NOT NULL',
  ]) {
    await new Promise<void>((resolve, reject) => {
      (conn as unknown as { connection: { query(sql: string): { stream(): NodeJS.ReadableStream } } }).connection
        .query(query)
        .stream()
        .on('data', () => rows++)
        .on('end', () => resolve())
        .on('error', reject);
    });
  }
  return rows;
}

/** 5,000 desk payments, each on a different patron's oldest open debit: 10,000 changed accountlines. */
async function deskPayments(conn: Connection, count: number): Promise<number> {
  const [rows] = await conn.query<(import('mysql2').RowDataPacket)[]>(
    `SELECT d.accountlines_id, d.borrowernumber, d.branchcode, CAST(d.amountoutstanding AS CHAR) AS left_amount
     FROM accountlines d
     JOIN (SELECT borrowernumber, MIN(accountlines_id) AS id FROM accountlines WHERE amountoutstanding > 0 AND debit_type_code IS NOT NULL GROUP BY borrowernumber LIMIT ?) f ON f.id = d.accountlines_id`,
    [count],
  );
  const [[max]] = await conn.query<(import('mysql2').RowDataPacket)[]>('SELECT MAX(accountlines_id) AS m FROM accountlines');
  let id = Number(max!.m);
  const credits: unknown[][] = [];
  const offsets: unknown[][] = [];
  for (const r of rows) {
    const cents = Math.min(parseMoney(String(r.left_amount).replace(/(\.\d\d)\d*$/, '$1'))!, 500);
    const c = ++id;
    credits.push([c, r.borrowernumber, utc(new Date()), formatMoney(-cents), '0.00', 'PAYMENT', 'CASH', 'intranet', r.branchcode]);
    offsets.push([c, null, 'CREATE', formatMoney(cents)], [c, r.accountlines_id, 'APPLY', formatMoney(-cents)]);
    await conn.query('UPDATE accountlines SET amountoutstanding = amountoutstanding - ? WHERE accountlines_id = ?', [formatMoney(cents), r.accountlines_id]);
  }
  for (let i = 0; i < credits.length; i += BATCH) {
    await conn.query('INSERT INTO accountlines (accountlines_id, borrowernumber, date, amount, amountoutstanding, credit_type_code, payment_type, interface, branchcode) VALUES ?', [credits.slice(i, i + BATCH)]);
  }
  for (let i = 0; i < offsets.length; i += BATCH) await conn.query('INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES ?', [offsets.slice(i, i + BATCH)]);
  return rows.length * 2;
}

/** Koha's total owed by patrons who owe (Koha::Account->balance summed where positive). */
async function kohaOwed(conn: Connection): Promise<number> {
  const [[k]] = await conn.query<(import('mysql2').RowDataPacket)[]>(
    'SELECT CAST(COALESCE(SUM(b), 0) AS CHAR) AS total FROM (SELECT SUM(amountoutstanding) AS b FROM accountlines WHERE borrowernumber IS NOT NULL GROUP BY borrowernumber HAVING SUM(amountoutstanding) > 0) t',
  );
  return parseMoney(String(k!.total).replace(/(\.\d\d)\d*$/, '$1'))!;
}

async function main(): Promise<void> {
  const size = sizeArg();
  const patrons = SIZES[size];
  const pgUrl = arg('--db', DEFAULT_URL);
  if (!isPostgresUrl(pgUrl)) throw new Error('the Koha benchmark writes Arrears to PostgreSQL: --db postgres://…');
  const mariaUrl = arg('--mariadb', process.env.ARREARS_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test');
  const seed = Number(arg('--seed', '1'));
  const kohaDb = `arrears_bench_koha_${randomBytes(4).toString('hex')}`;
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const loadStart = loadAverage();
  console.log(`Koha connector benchmark: size ${size} (${patrons} patrons), seed ${seed}, ${cpus().length} cores`);
  const root = await createConnection({ uri: mariaUrl, multipleStatements: true });
  let database: Database | undefined;
  try {
    await root.query(`CREATE DATABASE \`${kohaDb}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await root.query(`USE \`${kohaDb}\``);
    await root.query("SET time_zone = '+00:00'");
    await root.query(KOHA_TABLES);
    await root.query(KOHA_STOCK_ROWS);
    const loaded = await timed('load the demo consortium into Koha\'s tables', () => loadKoha(root, patrons, seed));
    const ledgerRows = loaded.value.debits + loaded.value.credits;
    console.log(`  Koha: ${loaded.value.borrowers} borrowers, ${loaded.value.items} items, ${loaded.value.debits} debits, ${loaded.value.credits} credits, ${loaded.value.offsets} offsets`);

    process.env.ARREARS_SECRET_KEY ??= randomBytes(32).toString('base64');
    database = await openDatabase({ url: pgUrl, schema });
    const ctx: Context = { database, clock: fixedClock(`${DEMO_AS_OF}T12:00:00Z`), actor: 'bench' };
    const kohaUrl = new URL(mariaUrl);
    kohaUrl.pathname = `/${kohaDb}`;
    await addConnector(ctx, { name: 'koha', kind: 'koha', url: kohaUrl.toString(), timeZone: 'America/Chicago' });
    await sql`update connectors set mapping = ${JSON.stringify({ libraries: Object.fromEntries(demoLibraries().map((l) => [l.code, { timeZone: l.time_zone }])) })}::jsonb`.execute(database.db);

    const figures = await measureConnector({
      ils: 'Koha',
      connector: 'koha',
      database,
      ctx,
      ledgerRows,
      ilsOwed: () => kohaOwed(root),
      deskPayments: { label: 'change 10,000 accountlines (5,000 desk payments)', change: () => deskPayments(root, 5000) },
      // The floor: only reading what a full sync must read from Koha, one streaming query per table.
      floor: async () => {
        const r = await timed("(f0) floor: read Koha's accountlines and offsets", () => readFloor(root));
        return { rows: r.value, seconds: r.seconds };
      },
    });
    const [[version]] = await root.query<(import('mysql2').RowDataPacket)[]>('SELECT VERSION() AS v');
    console.log(`load average (1, 5, 15 min): ${loadStart.join(', ')} at start, ${loadAverage().join(', ')} at end`);
    await writeResult(`koha-${size}-postgres`, {
      size,
      seed,
      machine: machine({ mariadb: String(version!.v) }),
      koha: loaded.value,
      loadSeconds: loaded.seconds,
      ...figures,
      loadAverage: { start: loadStart, end: loadAverage() },
    });
  } finally {
    await database?.close();
    if (process.argv.includes('--keep-koha')) console.log(`kept the Koha database ${kohaDb}`);
    else await root.query(`DROP DATABASE IF EXISTS \`${kohaDb}\``).catch(() => undefined);
    await root.end();
    const client = new pg.Client({ connectionString: pgUrl });
    await client.connect();
    await client.query(`drop schema if exists ${schema} cascade`);
    await client.end();
  }
}

await main();
