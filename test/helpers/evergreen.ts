// An Evergreen database for one test file, on the PostgreSQL server at 127.0.0.1:5432: a
// database of its own, Evergreen's tables (evergreen-schema.ts), and a least-privilege role
// holding exactly DESIGN.md's GRANTs. The methods do to it what Evergreen's own code does
// (bill a transaction, take a cash payment, forgive, void a billing, check out and in, mark
// lost, close a settled transaction as check_open_xact does, delete or purge a patron), so
// the connector is tested against what Evergreen leaves in its tables.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { decimalToCents, formatMoney } from '../../src/domain/money.ts';
import { EVERGREEN_SCHEMAS, EVERGREEN_STOCK_ROWS, EVERGREEN_TABLES, evergreenGrants } from './evergreen-schema.ts';

export const POSTGRES_ROOT_URL = process.env.ARREARS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const money = (cents: number) => formatMoney(cents);
const cents = (text: unknown) => decimalToCents(String(text))!;

/** The text Evergreen's Perl writes into money.billing.billing_type for a stock btype (not always the config name). */
const BILLING_LABEL: Record<number, string> = { 1: 'Overdue materials', 10: 'Long Overdue Materials', 11: 'Long Overdue Materials Processing Fee' };

export interface EvergreenPatron {
  barcode?: string;
  usrname?: string;
  firstName?: string;
  familyName?: string;
  /** permission.grp_tree name; default Patrons. */
  profile?: string;
  /** org unit shortname; default BR1. */
  homeOu?: string;
  email?: string;
  dayPhone?: string;
  eveningPhone?: string;
  otherPhone?: string;
  dob?: string;
  juvenile?: boolean;
  street1?: string;
  street2?: string;
  city?: string;
  state?: string;
  postCode?: string;
}

export type PaymentKind = 'cash_payment' | 'check_payment' | 'credit_card_payment' | 'debit_card_payment' | 'forgive_payment' | 'work_payment' | 'credit_payment' | 'goods_payment';

export class EvergreenFixture {
  private constructor(
    readonly root: pg.Client,
    readonly database: string,
    readonly role: string,
    readonly password: string,
  ) {}

  /** The connector's URL: the least-privilege role, never the superuser. */
  get url(): string {
    const u = new URL(POSTGRES_ROOT_URL);
    return `postgres://${this.role}:${this.password}@${u.hostname}:${u.port || 5432}/${this.database}`;
  }

  static async create(): Promise<EvergreenFixture> {
    const suffix = randomBytes(4).toString('hex');
    const database = `arrears_eg_${suffix}`;
    const role = `arrears_eg_${suffix}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const admin = new pg.Client({ connectionString: POSTGRES_ROOT_URL });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE ${database}`);
      // Only roles granted CONNECT get in, so the connector's role lives on its own GRANTs.
      await admin.query(`REVOKE CONNECT ON DATABASE ${database} FROM PUBLIC`);
      await admin.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`);
    } finally {
      await admin.end();
    }
    const url = new URL(POSTGRES_ROOT_URL);
    url.pathname = `/${database}`;
    const root = new pg.Client({ connectionString: url.toString() });
    await root.connect();
    const fixture = new EvergreenFixture(root, database, role, password);
    await fixture.install();
    return fixture;
  }

  private async install(): Promise<void> {
    await this.root.query(EVERGREEN_TABLES);
    await this.root.query(EVERGREEN_STOCK_ROWS);
    for (const g of evergreenGrants(this.role, this.database)) await this.root.query(g);
  }

  /** A fresh Evergreen in the same database: every schema dropped and made again. */
  async reset(): Promise<void> {
    await this.root.query(`DROP SCHEMA IF EXISTS ${EVERGREEN_SCHEMAS.join(', ')} CASCADE`);
    await this.install();
  }

  async dispose(): Promise<void> {
    await this.root.end();
    const admin = new pg.Client({ connectionString: POSTGRES_ROOT_URL });
    await admin.connect();
    try {
      await admin.query(`DROP DATABASE IF EXISTS ${this.database} WITH (FORCE)`);
      await admin.query(`DROP ROLE IF EXISTS ${this.role}`);
    } finally {
      await admin.end();
    }
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(statement: string, params: unknown[] = []): Promise<T[]> {
    return (await this.root.query<T>(statement, params)).rows;
  }

  async one<T extends pg.QueryResultRow = Record<string, unknown>>(statement: string, params: unknown[] = []): Promise<T> {
    const rows = await this.query<T>(statement, params);
    if (rows.length !== 1) throw new Error(`expected one row, got ${rows.length}: ${statement}`);
    return rows[0]!;
  }

  async orgId(shortname: string): Promise<number> {
    return (await this.one<{ id: number }>('SELECT id FROM actor.org_unit WHERE shortname = $1', [shortname])).id;
  }

  /** An org unit under a parent (shortname), of type Branch. */
  async orgUnit(shortname: string, name: string, parent = 'SYS1'): Promise<number> {
    const r = await this.one<{ id: number }>('INSERT INTO actor.org_unit (parent_ou, ou_type, shortname, name) VALUES ($1, 3, $2, $3) RETURNING id', [await this.orgId(parent), shortname, name]);
    return r.id;
  }

  /** lib.timezone at an org unit, stored as Evergreen stores every setting: JSON text. */
  async timeZone(shortname: string, zone: string): Promise<void> {
    await this.query('INSERT INTO actor.org_unit_setting (org_unit, name, value) VALUES ($1, $2, $3)', [await this.orgId(shortname), 'lib.timezone', JSON.stringify(zone)]);
  }

  async patron(p: EvergreenPatron = {}): Promise<number> {
    const profile = (await this.one<{ id: number }>('SELECT id FROM permission.grp_tree WHERE name = $1', [p.profile ?? 'Patrons'])).id;
    const home = await this.orgId(p.homeOu ?? 'BR1');
    const usrname = p.usrname ?? `u${randomBytes(5).toString('hex')}`;
    await this.query('BEGIN');
    try {
      const u = await this.one<{ id: number }>(
        `INSERT INTO actor.usr (profile, usrname, email, passwd, ident_type, first_given_name, family_name, day_phone, evening_phone, other_phone, home_ou, dob, juvenile)
         VALUES ($1, $2, $3, 'secret', 3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id`,
        [profile, usrname, p.email ?? null, p.firstName ?? 'Pat', p.familyName ?? 'Patron', p.dayPhone ?? null, p.eveningPhone ?? null, p.otherPhone ?? null, home, p.dob ?? null, p.juvenile ?? false],
      );
      const card = p.barcode ? (await this.one<{ id: number }>('INSERT INTO actor.card (usr, barcode) VALUES ($1, $2) RETURNING id', [u.id, p.barcode])).id : null;
      const address = p.street1
        ? (await this.one<{ id: number }>("INSERT INTO actor.usr_address (usr, street1, street2, city, state, country, post_code) VALUES ($1, $2, $3, $4, $5, 'US', $6) RETURNING id", [u.id, p.street1, p.street2 ?? null, p.city ?? '', p.state ?? null, p.postCode ?? ''])).id
        : null;
      await this.query('UPDATE actor.usr SET card = $2, mailing_address = $3, billing_address = $3 WHERE id = $1', [u.id, card, address]);
      await this.query('COMMIT');
      return u.id;
    } catch (err) {
      await this.query('ROLLBACK');
      throw err;
    }
  }

  /** A copy of a new title: the bib record (MARCXML with its 245), its call number, the copy. */
  async item(barcode: string, title: string, circLib = 'BR1', price = '25.00'): Promise<number> {
    const lib = await this.orgId(circLib);
    const xml = title.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    // As Evergreen stores it: MARCXML, the 245 $a ending in ISBD punctuation before $c.
    const marc =
      '<record xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:schemaLocation="http://www.loc.gov/MARC21/slim http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd" xmlns="http://www.loc.gov/MARC21/slim">' +
      '<leader>00000nam a2200000 a 4500</leader><controlfield tag="008">200101s2020    xxu           000 1 eng d</controlfield>' +
      `<datafield tag="100" ind1="1" ind2=" "><subfield code="a">Author, An.</subfield></datafield>` +
      `<datafield tag="245" ind1="1" ind2="4"><subfield code="6">880-01</subfield><subfield code="a">${xml} /</subfield><subfield code="c">by An Author.</subfield></datafield>` +
      '</record>';
    const bre = await this.one<{ id: number }>("INSERT INTO biblio.record_entry (tcn_value, marc, last_xact_id) VALUES ($1, $2, 'IMPORT') RETURNING id", [`tcn-${barcode}`, marc]);
    const cn = await this.one<{ id: number }>('INSERT INTO asset.call_number (creator, editor, record, owning_lib, label, label_class) VALUES (1, 1, $1, $2, $3, 1) RETURNING id', [bre.id, lib, `FIC ${barcode}`]);
    const cp = await this.one<{ id: string }>('INSERT INTO asset.copy (circ_lib, creator, editor, call_number, loan_duration, fine_level, barcode, price) VALUES ($1, 1, 1, $2, 2, 2, $3, $4) RETURNING id', [lib, cn.id, barcode, price]);
    return Number(cp.id);
  }

  /** A pre-catalogued copy: no bib record, the title typed at the desk. */
  async precat(barcode: string, title: string, circLib = 'BR1'): Promise<number> {
    const cp = await this.one<{ id: string }>('INSERT INTO asset.copy (circ_lib, creator, editor, call_number, loan_duration, fine_level, barcode, dummy_title) VALUES ($1, 1, 1, -1, 2, 2, $2, $3) RETURNING id', [await this.orgId(circLib), barcode, title]);
    return Number(cp.id);
  }

  /** A checkout of 14 days due on `due` (pushed to 23:59:59 local by the due-date trigger); the copy is Checked out. */
  async checkout(usr: number, copy: number, due: string, circLib = 'BR1'): Promise<number> {
    const r = await this.one<{ id: string }>(
      `INSERT INTO action.circulation (usr, target_copy, circ_lib, circ_staff, renewal_remaining, grace_period, due_date, duration, recurring_fine, max_fine,
         duration_rule, recurring_fine_rule, max_fine_rule, xact_start)
       VALUES ($1, $2, $3, 1, 2, '1 day', ($4::date + time '12:00')::timestamptz, '14 days', 0.25, 5.00, 'default', 'default', 'default', ($4::date - 14)::timestamptz)
       RETURNING id`,
      [usr, copy, await this.orgId(circLib), due],
    );
    await this.query('UPDATE asset.copy SET status = 1 WHERE id = $1', [copy]);
    return Number(r.id);
  }

  /** A return: checkin time, fines stopped, the copy reshelving; the transaction closed if it owes nothing. */
  async checkin(circ: number): Promise<void> {
    const c = await this.one<{ target_copy: string }>("UPDATE action.circulation SET checkin_time = now(), checkin_lib = circ_lib, checkin_staff = 1, stop_fines = COALESCE(stop_fines, 'CHECKIN'), stop_fines_time = COALESCE(stop_fines_time, now()) WHERE id = $1 RETURNING target_copy", [circ]);
    await this.query('UPDATE asset.copy SET status = 7 WHERE id = $1', [c.target_copy]);
    await this.checkOpenXact(circ);
  }

  /** Mark lost (set_item_lost): fines stop, the copy is Lost, the price billed (btype 3) and a processing fee (btype 4). */
  async markLost(circ: number, opts: { processingCents?: number; at?: string } = {}): Promise<{ lost: number; processing: number }> {
    const c = await this.one<{ target_copy: string; price: string }>(
      "UPDATE action.circulation SET stop_fines = 'LOST', stop_fines_time = now() WHERE id = $1 RETURNING target_copy, (SELECT price FROM asset.copy WHERE id = target_copy) AS price",
      [circ],
    );
    await this.query('UPDATE asset.copy SET status = 3 WHERE id = $1', [c.target_copy]);
    const lost = await this.bill(circ, { btype: 3, cents: cents(c.price ?? '0'), at: opts.at });
    const processing = await this.bill(circ, { btype: 4, cents: opts.processingCents ?? 500, at: opts.at });
    return { lost, processing };
  }

  /**
   * A billing on a transaction, with the label Evergreen's code writes; an overdue fine
   * carries its fine period (billing_ts is then the period's end). Reopens a closed transaction.
   */
  async bill(xact: number, b: { btype: number; cents: number; note?: string; at?: string; periodEnd?: string }): Promise<number> {
    const label = BILLING_LABEL[b.btype] ?? (await this.one<{ name: string }>('SELECT name FROM config.billing_type WHERE id = $1', [b.btype])).name;
    const periodEnd = b.periodEnd ?? (b.btype === 1 ? (b.at ?? null) : null);
    const r = await this.one<{ id: string }>(
      `INSERT INTO money.billing (xact, amount, btype, billing_type, note, create_date, period_start, period_end)
       VALUES ($1, $2, $3, $4, $5, COALESCE($6::timestamptz, now()), $7::timestamptz - interval '1 day', $7::timestamptz) RETURNING id`,
      [xact, money(b.cents), b.btype, label, b.note ?? null, b.at ?? null, periodEnd],
    );
    await this.checkOpenXact(xact);
    return Number(r.id);
  }

  /** Staff's "Bill patron": a grocery transaction at a library with one billing. */
  async grocery(usr: number, b: { btype?: number; cents: number; note?: string; at?: string; location?: string }): Promise<{ xact: number; billing: number }> {
    const x = await this.one<{ id: string }>('INSERT INTO money.grocery (usr, billing_location, xact_start) VALUES ($1, $2, COALESCE($3::timestamptz, now())) RETURNING id', [usr, await this.orgId(b.location ?? 'BR1'), b.at ?? null]);
    const xact = Number(x.id);
    const billing = await this.bill(xact, { btype: b.btype ?? 101, cents: b.cents, note: b.note, at: b.at });
    return { xact, billing };
  }

  /** A payment of one kind on one transaction (Evergreen pays transaction by transaction), then check_open_xact. */
  async pay(xact: number, amount: number, kind: PaymentKind = 'cash_payment', note?: string): Promise<number> {
    const extra = kind === 'check_payment' ? { col: ', check_number', val: ", '1001'" } : { col: '', val: '' };
    const r = await this.one<{ id: string }>(
      `INSERT INTO money.${kind} (xact, amount, amount_collected, accepting_usr, note${extra.col}) VALUES ($1, $2, $2, 1, $3${extra.val}) RETURNING id`,
      [xact, money(amount), note ?? null],
    );
    await this.checkOpenXact(xact);
    return Number(r.id);
  }

  /** Forgive: a forgive_payment (not money received). */
  forgive(xact: number, amount: number): Promise<number> {
    return this.pay(xact, amount, 'forgive_payment');
  }

  /** "Adjust to zero": an account_adjustment of what is left on one billing, pointing at it. */
  async adjustToZero(billing: number): Promise<number> {
    const b = await this.one<{ xact: string; balance: string }>('SELECT b.xact, s.balance_owed AS balance FROM money.billing b JOIN money.materialized_billable_xact_summary s ON s.id = b.xact WHERE b.id = $1', [billing]);
    const bill = await this.one<{ amount: string }>('SELECT amount FROM money.billing WHERE id = $1', [billing]);
    const amount = Math.min(cents(bill.amount), cents(b.balance));
    const r = await this.one<{ id: string }>('INSERT INTO money.account_adjustment (xact, amount, amount_collected, accepting_usr, billing) VALUES ($1, $2, $2, 1, $3) RETURNING id', [b.xact, money(amount), billing]);
    await this.checkOpenXact(Number(b.xact));
    return Number(r.id);
  }

  /** A refund: a negative cash payment. */
  refund(xact: number, amount: number): Promise<number> {
    return this.pay(xact, -amount);
  }

  /** Void a billing in place (voided, voider, void_time): it no longer counts. */
  async voidBilling(billing: number): Promise<void> {
    const b = await this.one<{ xact: string }>('UPDATE money.billing SET voided = TRUE, voider = 1, void_time = now() WHERE id = $1 RETURNING xact', [billing]);
    await this.checkOpenXact(Number(b.xact));
  }

  /** Void a payment: the flag flips in place, leaving no timestamp (only a full sync sees it). */
  async voidPayment(payment: number): Promise<void> {
    const p = await this.one<{ xact: string }>('UPDATE money.payment SET voided = TRUE WHERE id = $1 RETURNING xact', [payment]);
    await this.checkOpenXact(Number(p.xact));
  }

  /**
   * AppUtils::check_open_xact: a transaction owing nothing is closed, unless it is a
   * circulation still accruing fines; one that owes again is reopened.
   */
  async checkOpenXact(xact: number): Promise<void> {
    const s = await this.one<{ balance_owed: string; xact_finish: Date | null; xact_type: string }>('SELECT balance_owed, xact_finish, xact_type FROM money.materialized_billable_xact_summary WHERE id = $1', [xact]);
    const accruing = s.xact_type === 'circulation' ? (await this.one<{ stop_fines: string | null }>('SELECT stop_fines FROM action.circulation WHERE id = $1', [xact])).stop_fines === null : false;
    const zero = cents(s.balance_owed) === 0;
    if (zero && !accruing && s.xact_finish === null) await this.query('UPDATE money.billable_xact SET xact_finish = now() WHERE id = $1', [xact]);
    else if (!zero && s.xact_finish !== null) await this.query('UPDATE money.billable_xact SET xact_finish = NULL WHERE id = $1', [xact]);
  }

  /** A staff note or block: a message and a standing penalty linked to it (open-ils.actor.user.penalty.apply). */
  async staffPenalty(usr: number, penalty: number, message: string, orgUnit = 'BR1'): Promise<number> {
    const org = await this.orgId(orgUnit);
    const m = await this.one<{ id: number }>('INSERT INTO actor.usr_message (usr, title, message, sending_lib) VALUES ($1, $2, $2, $3) RETURNING id', [usr, message, org]);
    const p = await this.one<{ id: number }>('INSERT INTO actor.usr_standing_penalty (org_unit, usr, standing_penalty, staff, usr_message) VALUES ($1, $2, $3, 1, $4) RETURNING id', [org, usr, penalty, m.id]);
    return p.id;
  }

  /** A plain DELETE of a patron, which Evergreen's rule turns into deleted = TRUE: the money stays. */
  async deletePatron(usr: number): Promise<void> {
    await this.query('DELETE FROM actor.usr WHERE id = $1', [usr]);
  }

  /**
   * What actor.usr_delete (the staff client's Delete, via actor.usr_purge_data) does to a
   * patron: their transactions (billings, payments), tracker rows, cards, penalties, messages
   * and addresses go; the row stays, anonymised and flagged deleted.
   */
  async purgePatron(usr: number): Promise<void> {
    await this.query('BEGIN');
    try {
      const xacts = (await this.query<{ id: string }>('SELECT id FROM money.billable_xact WHERE usr = $1', [usr])).map((r) => r.id);
      await this.query('DELETE FROM money.billing WHERE xact = ANY($1::bigint[])', [xacts]);
      await this.query('DELETE FROM money.payment WHERE xact = ANY($1::bigint[])', [xacts]);
      await this.query('DELETE FROM money.billable_xact WHERE usr = $1', [usr]);
      await this.query('DELETE FROM money.collections_tracker WHERE usr = $1', [usr]);
      await this.query('DELETE FROM actor.usr_standing_penalty WHERE usr = $1', [usr]);
      await this.query("UPDATE actor.usr_message SET title = 'purged', message = 'purged', deleted = TRUE WHERE usr = $1", [usr]);
      await this.query('UPDATE actor.usr SET card = NULL, mailing_address = NULL, billing_address = NULL WHERE id = $1', [usr]);
      await this.query('DELETE FROM actor.card WHERE usr = $1', [usr]);
      await this.query('DELETE FROM actor.usr_address WHERE usr = $1', [usr]);
      await this.query(
        `UPDATE actor.usr SET profile = 1, home_ou = 1, usrname = id || '-PURGED-' || now(), first_given_name = id || '-PURGED-' || now(),
           family_name = id || '-PURGED-' || now(), email = NULL, day_phone = NULL, evening_phone = NULL, other_phone = NULL,
           active = FALSE, barred = FALSE, deleted = TRUE, create_date = now(), expire_date = now() WHERE id = $1`,
        [usr],
      );
      await this.query('COMMIT');
    } catch (err) {
      await this.query('ROLLBACK');
      throw err;
    }
  }

  /**
   * Moves every change stamp back by `minutes`, as if all of it happened that long ago. The
   * triggers that stamp rows (last_update_time, billing_ts, status_changed_time) are held off
   * for it, as Evergreen's would only fire on a real change.
   */
  async age(minutes: number): Promise<void> {
    const by = `interval '${Math.trunc(minutes)} minutes'`;
    await this.query('BEGIN');
    try {
      await this.query("SET LOCAL session_replication_role = 'replica'");
      await this.query(`UPDATE actor.usr SET last_update_time = last_update_time - ${by}`);
      await this.query(`UPDATE money.billing SET create_date = create_date - ${by}, billing_ts = billing_ts - ${by}, period_end = period_end - ${by}, period_start = period_start - ${by}, void_time = void_time - ${by}`);
      await this.query(`UPDATE money.payment SET payment_ts = payment_ts - ${by}`);
      await this.query(`UPDATE action.circulation SET checkin_time = checkin_time - ${by}, stop_fines_time = stop_fines_time - ${by}, create_time = create_time - ${by}`);
      await this.query(`UPDATE money.billable_xact SET xact_start = xact_start - ${by}`);
      await this.query(`UPDATE money.materialized_billable_xact_summary SET xact_start = xact_start - ${by}`);
      await this.query(`UPDATE asset.copy SET status_changed_time = status_changed_time - ${by}, edit_date = edit_date - ${by}`);
      await this.query('COMMIT');
    } catch (err) {
      await this.query('ROLLBACK');
      throw err;
    }
  }

  /** Evergreen's own balance of every patron: the sum of balance_owed of their open transactions, in cents. */
  async balances(): Promise<Map<number, number>> {
    const rows = await this.query<{ usr: number; balance: string }>('SELECT usr, SUM(balance_owed)::text AS balance FROM money.materialized_billable_xact_summary WHERE xact_finish IS NULL GROUP BY usr');
    return new Map(rows.map((r) => [r.usr, cents(r.balance)]));
  }
}
