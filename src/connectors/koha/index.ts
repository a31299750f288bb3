// The Koha connector (MariaDB/MySQL, Koha 23.11 and later): the stock mapping of Koha's own
// codes, and a session that tests the connection, lists codes, reads and writes back.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { decimalToCents, formatMoney } from '../../domain/money.ts';
import type { ConnectionReport, ConnectorConfig, ConnectorDriver, IlsCodes, IlsSession, Mapping } from '../types.ts';
import { guarded } from '../common.ts';
import { connectKoha } from './connection.ts';
import { kohaExcess } from './grants.ts';
import { KohaReader } from './extract.ts';
import { applyKohaWrite } from './writeback.ts';

/** Koha's stock debit and credit types (installer data), as Arrears reads them. */
export const KOHA_STOCK_MAPPING: Mapping = {
  charges: {
    LOST: 'replacement',
    PROCESSING: 'processing',
    OVERDUE: 'overdue',
    MANUAL: 'manual',
    ACCOUNT: 'manual',
    ACCOUNT_RENEW: 'manual',
    ARTICLE_REQUEST: 'manual',
    NEW_CARD: 'manual',
    RENT: 'manual',
    RENT_DAILY: 'manual',
    RENT_RENEW: 'manual',
    RENT_DAILY_RENEW: 'manual',
    RESERVE: 'manual',
    RESERVE_EXPIRED: 'manual',
    // A VOID debit only balances a voided credit, and a PAYOUT a credit paid back: no debt.
    VOID: 'ignore',
    PAYOUT: 'ignore',
  },
  payments: {
    PAYMENT: 'payment',
    PURCHASE: 'payment',
    OVERPAYMENT: 'payment',
    WRITEOFF: 'writeoff',
    FORGIVEN: 'waive',
    CREDIT: 'waive',
    CANCELLATION: 'waive',
    DISCOUNT: 'waive',
    REFUND: 'waive',
    LOST_FOUND: 'waive',
    PROCESSING_FOUND: 'waive',
  },
  // The payment type Koha's installer creates (authorised values PAYMENT_TYPE).
  methods: { CASH: 'cash' },
  libraries: {},
};

/** SELECT on what a sync reads; the write-back's own statements are probed in a rolled-back transaction. */
const READ_TABLES = ['branches', 'categories', 'borrowers', 'deletedborrowers', 'items', 'biblio', 'issues', 'accountlines', 'account_offsets', 'account_debit_types', 'account_credit_types', 'borrower_debarments', 'restriction_types'];

class KohaSession implements IlsSession {
  constructor(
    private readonly conn: Connection,
    private readonly config: ConnectorConfig,
  ) {}

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    return guarded(this.config.name, fn);
  }

  test(): Promise<ConnectionReport> {
    return this.guard(async () => {
      const [[server]] = await this.conn.query<RowDataPacket[]>('SELECT VERSION() AS v');
      let koha = 'Koha';
      try {
        const [v] = await this.conn.query<RowDataPacket[]>("SELECT value FROM systempreferences WHERE variable = 'Version'");
        if (v[0]) koha = `Koha ${String(v[0].value)}`;
      } catch {
        koha = 'Koha (version not readable)';
      }
      const privileges: ConnectionReport['privileges'] = [];
      for (const table of READ_TABLES) privileges.push(await this.probe(`SELECT on ${table}`, `SELECT 1 FROM ${table} LIMIT 0`));
      privileges.push(...(await this.probeWrites()));
      const counts: Record<string, number> = {};
      for (const table of ['branches', 'borrowers', 'accountlines']) {
        try {
          const [[c]] = await this.conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
          counts[table] = Number(c!.n);
        } catch {
          /* shown as a missing privilege above */
        }
      }
      return { version: `${koha} on ${String(server!.v)}`, privileges, counts, excess: await this.excess(), warnings: await this.warnings() };
    });
  }

  /**
   * The restriction type's settings that have Koha lift Arrears's restriction by itself. Read with
   * `*`: a Koha before 24.05 has no lift_after_payment or fee_limit, and nothing to warn of there.
   */
  private async warnings(): Promise<string[]> {
    if (this.config.readOnly) return [];
    const type = this.config.options.restrictionType ?? 'MANUAL';
    let row: RowDataPacket | undefined;
    try {
      [[row]] = await this.conn.query<RowDataPacket[]>('SELECT * FROM restriction_types WHERE code = ?', [type]);
    } catch {
      return []; // no SELECT on restriction_types: listed among the privileges
    }
    if (!row) return []; // listed among the privileges as missing
    const warnings: string[] = [];
    if (Number(row.is_system) === 1) {
      warnings.push(`restriction type "${type}" is one Koha places and lifts itself (restriction_types.is_system): Koha may lift Arrears's block on its own; use a type of the library's own, such as MANUAL (--restriction-type)`);
    }
    if (Number(row.lift_after_payment) === 1) {
      // Koha lifts it when the patron's whole balance is at most fee_limit (none: 0).
      const limit = row.fee_limit === null || row.fee_limit === undefined ? 0 : decimalToCents(String(row.fee_limit));
      const owing = limit === null ? `the type's fee_limit (${String(row.fee_limit)})` : formatMoney(limit);
      warnings.push(`restriction type "${type}" is lifted by Koha itself after a payment that leaves the patron owing ${owing} or less (restriction_types.lift_after_payment): the block ends at the desk before the agency is paid; the next sync lists it as gone`);
    }
    return warnings;
  }

  /** The user's grants beyond what the connector does (SHOW GRANTS of the user Koha authenticated us as). */
  private async excess(): Promise<string[]> {
    try {
      const [[db]] = await this.conn.query<RowDataPacket[]>('SELECT DATABASE() AS name');
      const [rows] = await this.conn.query<RowDataPacket[]>('SHOW GRANTS FOR CURRENT_USER()');
      return kohaExcess(rows.map((r) => String(Object.values(r)[0])), String(db!.name), this.config.readOnly);
    } catch (err) {
      // Not "nothing more than needed": said, so nobody reads it as a clean bill.
      return [`(the user's grants could not be read: ${err instanceof Error ? err.message : String(err)})`];
    }
  }

  /** One privilege, tried by a statement that changes nothing: `what` says so when the table itself is missing (another Koha version). */
  private async probe(what: string, statement: string): Promise<{ what: string; ok: boolean }> {
    try {
      await this.conn.query(statement);
      return { what, ok: true };
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      // Access denied to a table (1142) or column (1143): the GRANT is missing. No such table
      // (1146) only comes to a user allowed to know. Anything else (a foreign key refusing the
      // probe's made-up key) means the statement was allowed.
      if (errno === 1146) return { what: `${what} (Koha has no such table)`, ok: false };
      return { what, ok: errno !== 1142 && errno !== 1143 };
    }
  }

  /**
   * Each write the connector makes, as a statement that writes no row (an insert of nothing,
   * so no AUTO_INCREMENT value is used up), in a transaction that is rolled back; and the codes
   * the connector writes, which Koha's foreign keys would refuse if they were not there.
   */
  private async probeWrites(): Promise<ConnectionReport['privileges']> {
    if (this.config.readOnly) return [];
    const restriction = this.config.options.restrictionType ?? 'MANUAL';
    const debit = this.config.options.feeType ?? 'MANUAL';
    await this.conn.beginTransaction();
    try {
      return [
        await this.probe('INSERT on borrower_debarments', "INSERT INTO borrower_debarments (borrowernumber, type, comment) SELECT -1, 'MANUAL', 'Arrears privilege probe' FROM DUAL WHERE FALSE"),
        await this.probe('DELETE on borrower_debarments', 'DELETE FROM borrower_debarments WHERE borrower_debarment_id = -1'),
        await this.probe('UPDATE (debarred, debarredcomment) on borrowers', 'UPDATE borrowers SET debarred = debarred, debarredcomment = debarredcomment WHERE borrowernumber = -1'),
        await this.probe('INSERT on accountlines', "INSERT INTO accountlines (borrowernumber, amount, amountoutstanding, debit_type_code, interface) SELECT -1, 0, 0, 'MANUAL', 'cron' FROM DUAL WHERE FALSE"),
        await this.probe('INSERT on account_offsets', "INSERT INTO account_offsets (debit_id, type, amount) SELECT -1, 'CREATE', 0 FROM DUAL WHERE FALSE"),
        { what: `restriction type "${restriction}" in restriction_types`, ok: await this.exists('SELECT 1 FROM restriction_types WHERE code = ?', [restriction]) },
        { what: `debit type "${debit}" in account_debit_types, not archived`, ok: await this.exists('SELECT 1 FROM account_debit_types WHERE code = ? AND NOT archived', [debit]) },
      ];
    } finally {
      await this.conn.rollback().catch(() => undefined);
    }
  }

  private async exists(query: string, params: unknown[]): Promise<boolean> {
    try {
      const [rows] = await this.conn.query<RowDataPacket[]>(query, params);
      return rows.length > 0;
    } catch {
      return false;
    }
  }

  codes(): Promise<IlsCodes> {
    return this.guard(async () => {
      const list = async (query: string) => {
        try {
          const [rows] = await this.conn.query<RowDataPacket[]>(query);
          return rows.map((r) => ({ code: String(r.code), name: String(r.name ?? r.code) }));
        } catch {
          return [];
        }
      };
      return {
        libraries: await list('SELECT branchcode AS code, branchname AS name FROM branches ORDER BY branchcode'),
        categories: await list('SELECT categorycode AS code, description AS name FROM categories ORDER BY categorycode'),
        chargeTypes: await list('SELECT code, description AS name FROM account_debit_types ORDER BY code'),
        paymentTypes: await list('SELECT code, description AS name FROM account_credit_types ORDER BY code'),
        methods: await list("SELECT authorised_value AS code, lib AS name FROM authorised_values WHERE category = 'PAYMENT_TYPE' ORDER BY authorised_value"),
      };
    });
  }

  extract(request: Parameters<IlsSession['extract']>[0], sink: Parameters<IlsSession['extract']>[1]): Promise<Record<string, unknown>> {
    return this.guard(() => new KohaReader(this.conn, this.config, request, sink).run());
  }

  /** Our restrictions (borrower_debarment_id) still there and not expired: staff may delete one, or Koha lift it after a payment. */
  blocksInForce(refs: readonly string[]): Promise<Set<string>> {
    return this.guard(async () => {
      const ids = refs.map(Number).filter((n) => Number.isSafeInteger(n));
      if (ids.length === 0) return new Set<string>();
      const [rows] = await this.conn.query<RowDataPacket[]>(
        'SELECT borrower_debarment_id AS id FROM borrower_debarments WHERE borrower_debarment_id IN (?) AND (expiration IS NULL OR expiration > CURDATE())',
        [ids],
      );
      return new Set(rows.map((r) => String(r.id)));
    });
  }

  private grouped = false;

  apply(write: Parameters<IlsSession['apply']>[0]): ReturnType<IlsSession['apply']> {
    return this.guard(() => applyKohaWrite(this.conn, this.config, write, new Date(), this.grouped));
  }

  /** The writes fn applies share one Koha transaction: one commit (and one log flush) for the batch. */
  async group<T>(fn: () => Promise<T>): Promise<T> {
    return this.guard(async () => {
      await this.conn.beginTransaction();
      this.grouped = true;
      try {
        const result = await fn();
        await this.conn.commit();
        return result;
      } catch (err) {
        await this.conn.rollback().catch(() => undefined);
        throw err;
      } finally {
        this.grouped = false;
      }
    });
  }

  async close(): Promise<void> {
    await this.conn.end().catch(() => this.conn.destroy());
  }
}

export const kohaDriver: ConnectorDriver = {
  kind: 'koha',
  stockMapping: KOHA_STOCK_MAPPING,
  keyLabels: { patrons: 'borrowernumber', items: 'itemnumber', charges: 'accountlines_id', payments: 'accountlines_id' },
  async open(config) {
    return new KohaSession(await connectKoha(config), config);
  },
};
