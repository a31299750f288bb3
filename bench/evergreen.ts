// The Evergreen connector's benchmark: the demo consortium of the main benchmark (same
// generator, same seed) loaded into Evergreen's tables in its own PostgreSQL database as
// Evergreen would hold it (org units with lib.timezone, profiles, patrons with cards and
// addresses, copies, circulations and grocery bills, billings, payments of each kind, and the
// materialized transaction summary), then, into Arrears on PostgreSQL:
//   (f) a full sync, in ledger rows (billings and payments) per second;
//   (g) an incremental sync after 10,000 changed rows (5,000 cash payments at the desk, each
//       with the summary row Evergreen's triggers update);
//   (h) write-backs of a full run's referrals (penalty, note, tracker row, fee), per 1,000.
// Every patron's balance is checked against Evergreen's before the figures count.
//   npm run bench:evergreen -- [--size small|medium] [--db postgres://…] [--evergreen postgres://postgres@127.0.0.1:5432/test] [--seed 1] [--keep]
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import pg from 'pg';
import { isPostgresUrl, openDatabase, type Database } from '../src/db/connection.ts';
import { parseDateTime } from '../src/domain/dates.ts';
import { formatMoney, parseMoney } from '../src/domain/money.ts';
import { addConnector } from '../src/services/connectors.ts';
import { fixedClock, type Context } from '../src/services/context.ts';
import { DEMO_AS_OF, demoLibraries, generateDemo } from '../src/services/demo.ts';
import { EVERGREEN_STOCK_ROWS, EVERGREEN_TABLES, evergreenGrants } from '../test/helpers/evergreen-schema.ts';
import { arg, loadAverage, machine, measureConnector, SIZES, sizeArg, timed, writeResult } from './connector.ts';
import { DEFAULT_URL } from './import-charges.ts';

const BATCH = 5000;
const BTYPE: Record<string, number> = { overdue: 1, replacement: 3, processing: 4, damage: 7, manual: 101 };
const BILLING_LABEL: Record<number, string> = { 1: 'Overdue materials', 3: 'Lost Materials', 4: 'Lost Materials Processing Fee', 7: 'Damaged Item', 101: 'Misc' };
const PAYMENT_TABLE: Record<string, string> = { payment: 'cash_payment', waive: 'forgive_payment', writeoff: 'account_adjustment' };

/** Rows for one table, written in batches through unnest (one round trip per 5,000 rows). */
class Bulk {
  private rows: unknown[][] = [];
  count = 0;
  constructor(
    private readonly client: pg.Client,
    private readonly table: string,
    private readonly columns: [name: string, type: string][],
  ) {}
  async add(row: unknown[]): Promise<void> {
    this.rows.push(row);
    this.count++;
    if (this.rows.length >= BATCH) await this.flush();
  }
  async flush(): Promise<void> {
    if (this.rows.length === 0) return;
    const arrays = this.columns.map((_, i) => this.rows.map((r) => r[i] ?? null));
    const params = this.columns.map(([, type], i) => `$${i + 1}::${type}[]`).join(', ');
    await this.client.query(`INSERT INTO ${this.table} (${this.columns.map(([n]) => n).join(', ')}) SELECT * FROM unnest(${params})`, arrays);
    this.rows = [];
  }
}

const marc = (title: string) =>
  `<record xmlns="http://www.loc.gov/MARC21/slim"><leader>00000nam a2200000 a 4500</leader><datafield tag="245" ind1="0" ind2="0"><subfield code="a">${title.replace(/&/g, '&amp;').replace(/</g, '&lt;')} /</subfield></datafield></record>`;

/** The demo consortium as Evergreen holds it; returns the counts loaded. */
async function loadEvergreen(client: pg.Client, patrons: number, seed: number): Promise<{ users: number; billings: number; payments: number; transactions: number; copies: number }> {
  const zones = new Map(demoLibraries().map((l) => [l.code, l.time_zone]));
  const orgOf = new Map<string, number>();
  let orgId = 100;
  for (const l of demoLibraries()) {
    const id = ++orgId;
    orgOf.set(l.code, id);
    await client.query('INSERT INTO actor.org_unit (id, parent_ou, ou_type, shortname, name) VALUES ($1, 2, 3, $2, $3)', [id, l.code, l.name]);
    await client.query("INSERT INTO actor.org_unit_setting (org_unit, name, value) VALUES ($1, 'lib.timezone', $2)", [id, JSON.stringify(l.time_zone)]);
  }
  // Bulk load as a migration would: triggers (and the foreign keys they enforce) held off, the summary built after.
  await client.query("SET session_replication_role = 'replica'");
  const profiles = new Map<string, number>();
  const users = new Bulk(client, 'actor.usr', [['id', 'int'], ['card', 'int'], ['profile', 'int'], ['usrname', 'text'], ['email', 'text'], ['passwd', 'text'], ['ident_type', 'int'], ['first_given_name', 'text'], ['family_name', 'text'], ['day_phone', 'text'], ['mailing_address', 'int'], ['home_ou', 'int'], ['dob', 'date'], ['last_update_time', 'timestamptz']]);
  const cards = new Bulk(client, 'actor.card', [['id', 'int'], ['usr', 'int'], ['barcode', 'text']]);
  const addresses = new Bulk(client, 'actor.usr_address', [['id', 'int'], ['usr', 'int'], ['street1', 'text'], ['city', 'text'], ['state', 'text'], ['country', 'text'], ['post_code', 'text']]);
  const records = new Bulk(client, 'biblio.record_entry', [['id', 'bigint'], ['tcn_value', 'text'], ['marc', 'text'], ['last_xact_id', 'text']]);
  const volumes = new Bulk(client, 'asset.call_number', [['id', 'bigint'], ['creator', 'bigint'], ['editor', 'bigint'], ['record', 'bigint'], ['owning_lib', 'int'], ['label', 'text'], ['label_class', 'bigint']]);
  const copies = new Bulk(client, 'asset.copy', [['id', 'bigint'], ['circ_lib', 'int'], ['creator', 'bigint'], ['editor', 'bigint'], ['call_number', 'bigint'], ['status', 'int'], ['loan_duration', 'int'], ['fine_level', 'int'], ['barcode', 'text'], ['deleted', 'bool']]);
  const circs = new Bulk(client, 'action.circulation', [['id', 'bigint'], ['usr', 'int'], ['xact_start', 'timestamptz'], ['target_copy', 'bigint'], ['circ_lib', 'int'], ['circ_staff', 'int'], ['renewal_remaining', 'int'], ['grace_period', 'interval'], ['due_date', 'timestamptz'], ['checkin_time', 'timestamptz'], ['stop_fines', 'text'], ['duration_rule', 'text'], ['recurring_fine_rule', 'text'], ['max_fine_rule', 'text']]);
  const groceries = new Bulk(client, 'money.grocery', [['id', 'bigint'], ['usr', 'int'], ['xact_start', 'timestamptz'], ['billing_location', 'int']]);
  const billings = new Bulk(client, 'money.billing', [['id', 'bigint'], ['xact', 'bigint'], ['billing_ts', 'timestamptz'], ['create_date', 'timestamptz'], ['amount', 'numeric'], ['btype', 'int'], ['billing_type', 'text']]);
  const payments = new Map(Object.values(PAYMENT_TABLE).map((t) => [t, new Bulk(client, `money.${t}`, [['id', 'bigint'], ['xact', 'bigint'], ['payment_ts', 'timestamptz'], ['amount', 'numeric'], ['amount_collected', 'numeric'], ['accepting_usr', 'int'], ['note', 'text']])]));
  const stamp = new Date(Date.now() - 86_400_000);
  let usr = 1;
  let xactId = 0;
  let billingId = 0;
  let paymentId = 0;
  const copyOf = new Map<string, number>();
  for (const b of generateDemo({ patrons, seed, asOf: DEMO_AS_OF })) {
    const p = b.patron;
    const id = ++usr;
    const home = orgOf.get(p.home_library)!;
    let profile = profiles.get(p.ptype);
    if (profile === undefined) {
      profile = 100 + profiles.size;
      profiles.set(p.ptype, profile);
      await client.query('INSERT INTO permission.grp_tree (id, name, parent, usergroup) VALUES ($1, $2, 2, TRUE)', [profile, p.ptype]);
    }
    await users.add([id, p.barcode ? id : null, profile, `u${id}`, p.email || null, 'x', 3, p.first_name, p.last_name, p.phone || null, id, home, p.birth_date || null, stamp]);
    if (p.barcode) await cards.add([id, id, p.barcode]);
    await addresses.add([id, id, p.address || '-', p.city || '-', p.state || null, 'US', p.postal_code || '-']);
    for (const it of b.items) {
      if (copyOf.has(it.id)) continue;
      const n = copyOf.size + 1;
      copyOf.set(it.id, n);
      await records.add([n, `tcn${n}`, marc(it.title), 'IMPORT']);
      await volumes.add([n, 1, 1, n, home, `FIC ${n}`, 1]);
      const linked = it.patron_id === p.id;
      const status = linked && it.status === 'lost' ? 3 : linked && it.status === 'checked_out' ? 1 : it.status === 'withdrawn' ? 13 : 0;
      await copies.add([n, home, 1, 1, n, status, 2, 2, it.barcode || `copy${n}`, false]);
    }
    // One circulation per item the patron borrowed or was billed for; a grocery bill for the rest.
    const circOf = new Map<string, number>();
    const openCirc = async (itemId: string, lib: number, start: Date): Promise<number> => {
      let x = circOf.get(itemId);
      if (x === undefined) {
        x = ++xactId;
        circOf.set(itemId, x);
        const it = b.items.find((i) => i.id === itemId);
        const out = it?.patron_id === p.id && (it.status === 'checked_out' || it.status === 'lost');
        const due = it?.due_date ? parseDateTime(`${it.due_date}T23:59:59`, zones.get(p.home_library) ?? 'America/Chicago')! : start;
        await circs.add([x, id, start, copyOf.get(itemId) ?? null, lib, 1, 0, '1 day', due, out ? null : due, out ? (it!.status === 'lost' ? 'LOST' : null) : 'CHECKIN', 'default', 'default', 'default']);
      }
      return x;
    };
    const xactOfCharge = new Map<string, { xact: number; left: number; at: Date }>();
    for (const c of b.charges) {
      const lib = orgOf.get(c.library) ?? home;
      const at = parseDateTime(c.assessed_at, zones.get(c.library) ?? 'America/Chicago')!;
      let xact: number;
      if (c.item_id && copyOf.has(c.item_id)) xact = await openCirc(c.item_id, lib, at);
      else {
        xact = ++xactId;
        await groceries.add([xact, id, at, lib]);
      }
      const cents = Number(parseMoney(c.amount));
      const btype = BTYPE[c.reason] ?? 101;
      await billings.add([++billingId, xact, at, at, formatMoney(cents), btype, BILLING_LABEL[btype]]);
      xactOfCharge.set(c.id, { xact, left: cents, at });
    }
    for (const it of b.items) if (it.patron_id === p.id && (it.status === 'checked_out' || it.status === 'lost')) await openCirc(it.id, home, stamp);
    // Evergreen pays transaction by transaction: a payment for no charge in particular is split oldest first.
    const open = [...xactOfCharge.values()].sort((x, y) => x.at.getTime() - y.at.getTime());
    for (const pay of b.payments) {
      let cents = Number(parseMoney(pay.amount));
      const at = parseDateTime(pay.paid_at, 'America/Chicago')!;
      const table = payments.get(PAYMENT_TABLE[pay.type] ?? 'cash_payment')!;
      const targets = pay.charge_id ? [xactOfCharge.get(pay.charge_id)].filter((x) => x !== undefined) : open;
      for (const t of targets) {
        const a = Math.min(cents, t.left);
        if (a <= 0) continue;
        t.left -= a;
        cents -= a;
        await table.add([++paymentId, t.xact, at, formatMoney(a), formatMoney(a), 1, pay.method]);
      }
    }
  }
  for (const bulk of [users, cards, addresses, records, volumes, copies, circs, groceries, billings, ...payments.values()]) await bulk.flush();
  for (const [seq, table] of [
    ['actor.usr_id_seq', 'actor.usr'],
    ['actor.card_id_seq', 'actor.card'],
    ['actor.usr_address_id_seq', 'actor.usr_address'],
    ['biblio.record_entry_id_seq', 'biblio.record_entry'],
    ['asset.call_number_id_seq', 'asset.call_number'],
    ['asset.copy_id_seq', 'asset.copy'],
    ['money.billable_xact_id_seq', 'money.billable_xact'],
    ['money.billing_id_seq', 'money.billing'],
    ['money.payment_id_seq', 'money.payment'],
  ] as const) {
    await client.query(`SELECT setval('${seq}', GREATEST((SELECT max(id) FROM ${table}), 1))`);
  }
  // The summary Evergreen's triggers would have kept, built in one pass (3.16's refundable rule included).
  await client.query(`
    INSERT INTO money.materialized_billable_xact_summary (id, usr, xact_start, xact_finish, total_paid, total_owed, balance_owed, xact_type)
    SELECT x.id, x.usr, x.xact_start, NULL, COALESCE(p.paid, 0), COALESCE(b.owed, 0),
           CASE WHEN COALESCE(b.owed, 0) - COALESCE(p.paid, 0) < 0
                THEN LEAST(COALESCE(b.owed, 0) - COALESCE(p.paid, 0) + COALESCE(p.not_refundable, 0), 0)
                ELSE COALESCE(b.owed, 0) - COALESCE(p.paid, 0) END,
           c.relname
    FROM money.billable_xact x
    JOIN pg_class c ON c.oid = x.tableoid
    LEFT JOIN (SELECT xact, sum(amount) AS owed FROM money.billing WHERE NOT voided GROUP BY xact) b ON b.xact = x.id
    LEFT JOIN (SELECT xact, sum(amount) AS paid, sum(amount) FILTER (WHERE NOT refundable) AS not_refundable FROM money.payment_view WHERE NOT voided GROUP BY xact) p ON p.xact = x.id`);
  // check_open_xact: what owes nothing (and accrues nothing) is closed.
  await client.query(`
    UPDATE money.billable_xact x SET xact_finish = x.xact_start + interval '30 days'
    FROM money.materialized_billable_xact_summary s
    WHERE s.id = x.id AND s.balance_owed = 0
      AND (s.xact_type = 'grocery' OR EXISTS (SELECT 1 FROM action.circulation c WHERE c.id = x.id AND c.stop_fines IS NOT NULL))`);
  await client.query('UPDATE money.materialized_billable_xact_summary s SET xact_finish = x.xact_finish FROM money.billable_xact x WHERE x.id = s.id AND x.xact_finish IS NOT NULL');
  await client.query("SET session_replication_role = 'origin'");
  await client.query('ANALYZE');
  let paymentCount = 0;
  for (const p of payments.values()) paymentCount += p.count;
  return { users: usr, billings: billings.count, payments: paymentCount, transactions: xactId, copies: copies.count };
}

/** 5,000 cash payments at the desk, each on a different patron's oldest open transaction: 10,000 changed rows. */
async function deskPayments(client: pg.Client, count: number): Promise<number> {
  const r = await client.query(`
    WITH oldest AS (
      SELECT DISTINCT ON (usr) id, usr, balance_owed FROM money.materialized_billable_xact_summary
      WHERE xact_finish IS NULL AND balance_owed > 0 ORDER BY usr, xact_start, id)
    INSERT INTO money.cash_payment (xact, amount, amount_collected, accepting_usr)
    SELECT id, LEAST(balance_owed, 5.00), LEAST(balance_owed, 5.00), 1 FROM oldest ORDER BY usr LIMIT $1`,
    [count],
  );
  return (r.rowCount ?? 0) * 2;
}

/** Evergreen's total owed by patrons who owe (balance_owed of open transactions, summed where positive). */
async function evergreenOwed(client: pg.Client): Promise<number> {
  const e = await client.query<{ total: string }>(
    'SELECT COALESCE(sum(b), 0)::text AS total FROM (SELECT sum(balance_owed) AS b FROM money.materialized_billable_xact_summary WHERE xact_finish IS NULL GROUP BY usr HAVING sum(balance_owed) > 0) t',
  );
  return parseMoney(e.rows[0]!.total)!;
}

async function main(): Promise<void> {
  const size = sizeArg();
  const patrons = SIZES[size];
  const pgUrl = arg('--db', DEFAULT_URL);
  if (!isPostgresUrl(pgUrl)) throw new Error('the Evergreen benchmark writes Arrears to PostgreSQL: --db postgres://…');
  const serverUrl = arg('--evergreen', process.env.ARREARS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test');
  const seed = Number(arg('--seed', '1'));
  const suffix = randomBytes(4).toString('hex');
  const egDb = `arrears_bench_eg_${suffix}`;
  const role = `arrears_bench_eg_${suffix}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  const loadStart = loadAverage();
  console.log(`Evergreen connector benchmark: size ${size} (${patrons} patrons), seed ${seed}, ${cpus().length} cores`);
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${egDb}`);
  await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
  const egUrl = new URL(serverUrl);
  egUrl.pathname = `/${egDb}`;
  const client = new pg.Client({ connectionString: egUrl.toString() });
  await client.connect();
  let database: Database | undefined;
  try {
    await client.query(EVERGREEN_TABLES);
    await client.query(EVERGREEN_STOCK_ROWS);
    for (const g of evergreenGrants(role, egDb)) await client.query(g);
    const loaded = await timed("load the demo consortium into Evergreen's tables", () => loadEvergreen(client, patrons, seed));
    const ledgerRows = loaded.value.billings + loaded.value.payments;
    console.log(`  Evergreen: ${loaded.value.users} users, ${loaded.value.copies} copies, ${loaded.value.transactions} transactions, ${loaded.value.billings} billings, ${loaded.value.payments} payments`);

    process.env.ARREARS_SECRET_KEY ??= randomBytes(32).toString('base64');
    database = await openDatabase({ url: pgUrl, schema });
    const ctx: Context = { database, clock: fixedClock(`${DEMO_AS_OF}T12:00:00Z`), actor: 'bench' };
    // The connector's own least-privilege role, as a library would set it up.
    const connectorUrl = new URL(egUrl);
    connectorUrl.username = role;
    connectorUrl.password = password;
    await addConnector(ctx, { name: 'eg', kind: 'evergreen', url: connectorUrl.toString(), timeZone: 'America/Chicago' });

    const figures = await measureConnector({
      ils: 'Evergreen',
      connector: 'eg',
      database,
      ctx,
      ledgerRows,
      ilsOwed: () => evergreenOwed(client),
      deskPayments: { label: 'change 10,000 rows (5,000 cash payments and their summary rows)', change: () => deskPayments(client, 5000) },
    });
    const version = (await client.query<{ v: string }>('SHOW server_version')).rows[0]!.v;
    console.log(`load average (1, 5, 15 min): ${loadStart.join(', ')} at start, ${loadAverage().join(', ')} at end`);
    await writeResult(`evergreen-${size}-postgres`, {
      size,
      seed,
      machine: machine({ postgres: version }),
      evergreen: loaded.value,
      loadSeconds: loaded.seconds,
      ...figures,
      loadAverage: { start: loadStart, end: loadAverage() },
    });
  } finally {
    await database?.close();
    await client.end().catch(() => undefined);
    if (process.argv.includes('--keep')) console.log(`kept the Evergreen database ${egDb} (role ${role})`);
    else {
      await admin.query(`DROP DATABASE IF EXISTS ${egDb} WITH (FORCE)`).catch(() => undefined);
      await admin.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    }
    await admin.end();
    const arrears = new pg.Client({ connectionString: pgUrl });
    await arrears.connect();
    await arrears.query(`drop schema if exists ${schema} cascade`);
    await arrears.end();
  }
}

await main();
