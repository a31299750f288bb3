// A Koha database for one test file, in the real MariaDB at 127.0.0.1:3306: its own database,
// Koha's tables (koha-schema.ts), and a least-privilege user holding exactly DESIGN.md's
// GRANTs. The methods do to it what Koha's own code does (Koha::Account add_debit,
// add_credit + apply, void, cancel; AddDebarment; patron deletion), so the connector is tested
// against what Koha leaves in its tables, not against rows shaped for the test.
import { randomBytes } from 'node:crypto';
import { createConnection, type Connection, type ResultSetHeader, type RowDataPacket } from 'mysql2/promise';
import { decimalToCents, formatMoney } from '../../src/domain/money.ts';
import { KOHA_STOCK_ROWS, KOHA_TABLES, kohaGrants } from './koha-schema.ts';

export const MARIADB_ROOT_URL = process.env.ARREARS_TEST_MARIADB_URL ?? 'mysql://root@127.0.0.1:3306/test';

const money = (cents: number) => formatMoney(cents);
const cents = (text: unknown) => decimalToCents(String(text))!;

export interface KohaPatron {
  cardnumber?: string;
  surname?: string;
  firstname?: string;
  branchcode?: string;
  categorycode?: string;
  address?: string;
  address2?: string;
  city?: string;
  state?: string;
  zipcode?: string;
  email?: string;
  phone?: string;
  mobile?: string;
  phonepro?: string;
  B_phone?: string;
  dateofbirth?: string;
}

export class KohaFixture {
  private constructor(
    readonly root: Connection,
    readonly database: string,
    readonly user: string,
    readonly password: string,
  ) {}

  /** The connector's URL: the least-privilege user, never root. */
  get url(): string {
    const u = new URL(MARIADB_ROOT_URL);
    return `mysql://${this.user}:${this.password}@${u.hostname}:${u.port || 3306}/${this.database}`;
  }

  static async create(): Promise<KohaFixture> {
    const suffix = randomBytes(4).toString('hex');
    const database = `arrears_koha_${suffix}`;
    const user = `arrears_${suffix}`;
    const password = `pw-${randomBytes(8).toString('hex')}`;
    const root = await createConnection({ uri: MARIADB_ROOT_URL, multipleStatements: true, dateStrings: true, timezone: 'Z' });
    await root.query(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await root.query(`USE \`${database}\``);
    // Koha's own sessions are not strict; the connector's are, so these tests are too.
    await root.query("SET time_zone = '+00:00'");
    await root.query(KOHA_TABLES);
    await root.query(KOHA_STOCK_ROWS);
    await root.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
    for (const g of kohaGrants(database, `'${user}'@'127.0.0.1'`)) await root.query(g);
    return new KohaFixture(root, database, user, password);
  }

  async dispose(): Promise<void> {
    await this.root.query(`DROP DATABASE IF EXISTS \`${this.database}\``);
    await this.root.query(`DROP USER IF EXISTS '${this.user}'@'127.0.0.1'`);
    await this.root.end();
  }

  async query<T extends RowDataPacket>(statement: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.root.query<T[]>(statement, params);
    return rows;
  }

  async exec(statement: string, params: unknown[] = []): Promise<ResultSetHeader> {
    const [r] = await this.root.query<ResultSetHeader>(statement, params);
    return r;
  }

  async branch(code: string, name = `${code} Library`): Promise<void> {
    await this.exec('INSERT INTO branches (branchcode, branchname) VALUES (?, ?)', [code, name]);
  }

  async category(code: string, type = 'A', description = code): Promise<void> {
    await this.exec('INSERT INTO categories (categorycode, description, category_type) VALUES (?, ?, ?)', [code, description, type]);
  }

  async patron(p: KohaPatron = {}): Promise<number> {
    const r = await this.exec(
      `INSERT INTO borrowers (cardnumber, surname, firstname, branchcode, categorycode, address, address2, city, state, zipcode, email, phone, mobile, phonepro, B_phone, dateofbirth)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [p.cardnumber ?? null, p.surname ?? 'Patron', p.firstname ?? 'Pat', p.branchcode ?? 'CPL', p.categorycode ?? 'PT', p.address ?? null, p.address2 ?? null, p.city ?? null, p.state ?? null, p.zipcode ?? null, p.email ?? null, p.phone ?? null, p.mobile ?? null, p.phonepro ?? null, p.B_phone ?? null, p.dateofbirth ?? null],
    );
    return r.insertId;
  }

  async item(barcode: string, title: string, branch = 'CPL'): Promise<number> {
    const b = await this.exec("INSERT INTO biblio (title, datecreated) VALUES (?, '2020-01-01')", [title]);
    const bi = await this.exec('INSERT INTO biblioitems (biblionumber) VALUES (?)', [b.insertId]);
    const i = await this.exec('INSERT INTO items (biblionumber, biblioitemnumber, barcode, homebranch, holdingbranch, replacementprice) VALUES (?, ?, ?, ?, ?, 25.00)', [b.insertId, bi.insertId, barcode, branch, branch]);
    return i.insertId;
  }

  /** A checkout, as AddIssue leaves it: the issues row and items.onloan. */
  async checkout(borrowernumber: number, itemnumber: number, due: string): Promise<number> {
    const r = await this.exec("INSERT INTO issues (borrowernumber, itemnumber, date_due, branchcode, issuedate) VALUES (?, ?, ?, 'CPL', NOW())", [borrowernumber, itemnumber, `${due} 23:59:00`]);
    await this.exec('UPDATE items SET onloan = ? WHERE itemnumber = ?', [due, itemnumber]);
    return r.insertId;
  }

  /** A return (MarkIssueReturned): the checkout moves to old_issues, onloan clears. */
  async checkin(itemnumber: number): Promise<void> {
    await this.exec(
      `INSERT INTO old_issues (issue_id, borrowernumber, itemnumber, date_due, branchcode, returndate, issuedate)
       SELECT issue_id, borrowernumber, itemnumber, date_due, branchcode, NOW(), issuedate FROM issues WHERE itemnumber = ?`,
      [itemnumber],
    );
    await this.exec('DELETE FROM issues WHERE itemnumber = ?', [itemnumber]);
    await this.exec('UPDATE items SET onloan = NULL, datelastseen = NOW() WHERE itemnumber = ?', [itemnumber]);
  }

  /** Koha::Account->add_debit: the line and its CREATE offset. `date` is a UTC instant (ISO). */
  async debit(borrowernumber: number, d: { type: string; cents: number; date?: string; itemnumber?: number; branch?: string; description?: string }): Promise<number> {
    const r = await this.exec(
      `INSERT INTO accountlines (borrowernumber, itemnumber, date, amount, amountoutstanding, description, debit_type_code, status, interface, branchcode)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'intranet', ?)`,
      [borrowernumber, d.itemnumber ?? null, d.date ? d.date.replace('T', ' ').replace('Z', '') : new Date().toISOString().slice(0, 19).replace('T', ' '), money(d.cents), money(d.cents), d.description ?? '', d.type, d.type === 'OVERDUE' ? 'UNRETURNED' : null, d.branch ?? 'CPL'],
    );
    await this.exec("INSERT INTO account_offsets (debit_id, type, amount) VALUES (?, 'CREATE', ?)", [r.insertId, money(d.cents)]);
    return r.insertId;
  }

  /**
   * Koha::Account->pay: a credit of `cents`, applied to the given debits (or every outstanding
   * debit, oldest first), the rest left unapplied. Returns the credit's accountlines_id.
   */
  async pay(borrowernumber: number, amount: number, opts: { type?: string; paymentType?: string | null; debits?: number[]; apply?: boolean } = {}): Promise<number> {
    const type = opts.type ?? 'PAYMENT';
    const r = await this.exec(
      `INSERT INTO accountlines (borrowernumber, date, amount, amountoutstanding, description, credit_type_code, payment_type, interface, branchcode)
       VALUES (?, UTC_TIMESTAMP(), ?, ?, '', ?, ?, 'intranet', 'CPL')`,
      [borrowernumber, money(-amount), money(-amount), type, opts.paymentType === undefined ? 'CASH' : opts.paymentType],
    );
    const credit = r.insertId;
    await this.exec("INSERT INTO account_offsets (credit_id, type, amount) VALUES (?, 'CREATE', ?)", [credit, money(amount)]);
    if (opts.apply === false) return credit;
    let left = amount;
    const debits = opts.debits
      ? await this.query(`SELECT accountlines_id, amountoutstanding FROM accountlines WHERE accountlines_id IN (?) ORDER BY FIELD(accountlines_id, ?)`, [opts.debits, opts.debits])
      : await this.query('SELECT accountlines_id, amountoutstanding FROM accountlines WHERE borrowernumber = ? AND amount > 0 AND amountoutstanding > 0 ORDER BY date, accountlines_id', [borrowernumber]);
    for (const d of debits) {
      if (left <= 0) break;
      const owed = cents(d.amountoutstanding);
      const a = Math.min(left, owed);
      if (a <= 0) continue;
      await this.applyCredit(credit, Number(d.accountlines_id), a);
      left -= a;
    }
    return credit;
  }

  /** Koha::Account::Line->apply for one debit. */
  async applyCredit(credit: number, debit: number, amount: number): Promise<void> {
    await this.exec('UPDATE accountlines SET amountoutstanding = amountoutstanding - ? WHERE accountlines_id = ?', [money(amount), debit]);
    await this.exec('UPDATE accountlines SET amountoutstanding = amountoutstanding + ? WHERE accountlines_id = ?', [money(amount), credit]);
    await this.exec("INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES (?, ?, 'APPLY', ?)", [credit, debit, money(-amount)]);
  }

  /** Koha::Account::Line->void: what the credit paid is put back on each debit; a VOID debit takes the credit. */
  async void(credit: number): Promise<void> {
    const [c] = await this.query('SELECT borrowernumber, amount FROM accountlines WHERE accountlines_id = ?', [credit]);
    const amount = -cents(c!.amount);
    const applied = await this.query("SELECT debit_id, amount FROM account_offsets WHERE credit_id = ? AND type = 'APPLY' AND amount < 0", [credit]);
    for (const a of applied) {
      const back = money(-cents(a.amount));
      await this.exec('UPDATE accountlines SET amountoutstanding = amountoutstanding + ? WHERE accountlines_id = ?', [back, a.debit_id]);
      await this.exec("INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES (?, ?, 'VOID', ?)", [credit, a.debit_id, back]);
    }
    const v = await this.exec("INSERT INTO accountlines (borrowernumber, date, amount, amountoutstanding, description, debit_type_code, interface) VALUES (?, UTC_TIMESTAMP(), ?, 0, 'Credit has been voided', 'VOID', 'intranet')", [c!.borrowernumber, money(amount)]);
    await this.exec("INSERT INTO account_offsets (debit_id, type, amount) VALUES (?, 'CREATE', ?)", [v.insertId, money(amount)]);
    await this.exec("INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES (?, ?, 'APPLY', ?)", [credit, v.insertId, money(-amount)]);
    await this.exec("UPDATE accountlines SET amountoutstanding = 0, status = 'VOID' WHERE accountlines_id = ?", [credit]);
  }

  /** Koha::Account::Line->cancel: a CANCELLATION credit applied in full; the debit's status CANCELLED. */
  async cancel(debit: number): Promise<number> {
    const [d] = await this.query('SELECT borrowernumber, amount FROM accountlines WHERE accountlines_id = ?', [debit]);
    const amount = cents(d!.amount);
    const r = await this.exec("INSERT INTO accountlines (borrowernumber, date, amount, amountoutstanding, description, credit_type_code, status, interface) VALUES (?, UTC_TIMESTAMP(), ?, 0, '', 'CANCELLATION', 'APPLIED', 'intranet')", [d!.borrowernumber, money(-amount)]);
    await this.exec("INSERT INTO account_offsets (credit_id, type, amount) VALUES (?, 'CREATE', ?)", [r.insertId, money(-amount)]);
    await this.exec("INSERT INTO account_offsets (credit_id, debit_id, type, amount) VALUES (?, ?, 'APPLY', ?)", [r.insertId, debit, money(-amount)]);
    await this.exec("UPDATE accountlines SET amountoutstanding = 0, status = 'CANCELLED' WHERE accountlines_id = ?", [debit]);
    return r.insertId;
  }

  /** A restriction added by staff (AddDebarment), with the flags Koha recomputes. */
  async restrict(borrowernumber: number, r: { type?: string; comment?: string; expiration?: string | null }): Promise<number> {
    const x = await this.exec('INSERT INTO borrower_debarments (borrowernumber, expiration, type, comment, manager_id) VALUES (?, ?, ?, ?, 1)', [borrowernumber, r.expiration ?? null, r.type ?? 'MANUAL', r.comment ?? null]);
    await this.exec(
      `UPDATE borrowers b SET
         debarred = (SELECT CASE WHEN COUNT(*) = 0 THEN NULL WHEN SUM(expiration IS NULL) > 0 THEN '9999-12-31' ELSE MAX(expiration) END FROM borrower_debarments d WHERE d.borrowernumber = b.borrowernumber AND (d.expiration IS NULL OR d.expiration > CURDATE())),
         debarredcomment = (SELECT GROUP_CONCAT(comment SEPARATOR '\\n') FROM borrower_debarments d WHERE d.borrowernumber = b.borrowernumber AND (d.expiration IS NULL OR d.expiration > CURDATE()))
       WHERE borrowernumber = ?`,
      [borrowernumber],
    );
    return x.insertId;
  }

  /** What Koha does when staff delete a patron: the row to deletedborrowers, then gone (lines orphaned). */
  async deletePatron(borrowernumber: number): Promise<void> {
    await this.exec(
      `INSERT INTO deletedborrowers (borrowernumber, cardnumber, surname, firstname, branchcode, categorycode)
       SELECT borrowernumber, cardnumber, surname, firstname, branchcode, categorycode FROM borrowers WHERE borrowernumber = ?`,
      [borrowernumber],
    );
    await this.exec('DELETE FROM borrowers WHERE borrowernumber = ?', [borrowernumber]);
  }

  /**
   * Moves every change stamp back by `minutes`, as if all of it happened that long ago: an
   * explicit value keeps MariaDB from stamping the row again.
   */
  async age(minutes: number): Promise<void> {
    await this.exec('UPDATE accountlines SET timestamp = timestamp - INTERVAL ? MINUTE', [minutes]);
    await this.exec('UPDATE borrowers SET updated_on = updated_on - INTERVAL ? MINUTE', [minutes]);
    await this.exec('UPDATE deletedborrowers SET updated_on = updated_on - INTERVAL ? MINUTE', [minutes]);
    await this.exec('UPDATE items SET timestamp = timestamp - INTERVAL ? MINUTE', [minutes]);
    await this.exec('UPDATE issues SET timestamp = timestamp - INTERVAL ? MINUTE', [minutes]);
  }

  /** Koha's balance of every patron (Koha::Account->balance): the sum of every line's amountoutstanding, in cents. */
  async balances(): Promise<Map<number, number>> {
    const rows = await this.query('SELECT borrowernumber, CAST(SUM(amountoutstanding) AS CHAR) AS balance FROM accountlines WHERE borrowernumber IS NOT NULL GROUP BY borrowernumber');
    return new Map(rows.map((r) => [Number(r.borrowernumber), cents(r.balance)]));
  }
}
