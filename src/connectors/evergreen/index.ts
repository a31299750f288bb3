// The Evergreen connector (PostgreSQL, Evergreen 3.7 and later, built for 3.17): the stock
// mapping of Evergreen's own codes, and a session that tests the connection, lists codes,
// reads and writes back.
import type pg from 'pg';
import type { ConnectionReport, ConnectorConfig, ConnectorDriver, IlsCodes, IlsSession, Mapping } from '../types.ts';
import { guarded } from '../common.ts';
import { evergreenExcess, type RoleFacts } from './grants.ts';
import { connectEvergreen } from './connection.ts';
import { EvergreenReader, inheritedZones, ORG_UNITS, type OrgUnitRow } from './extract.ts';
import { applyEvergreenWrite, DEFAULT_FEE_BTYPE, DEFAULT_PENALTY, DEFAULT_STAFF, newWriteCache, parseBlockRef } from './writeback.ts';

/**
 * Evergreen's stock billing types (config.billing_type ids, matched by id: the text Evergreen's
 * code writes into money.billing.billing_type differs from the names) and payment kinds (the
 * money.payment table a payment lives in).
 */
export const EVERGREEN_STOCK_MAPPING: Mapping = {
  charges: {
    '1': 'overdue', // Overdue Materials
    '2': 'manual', // Long Overdue Collection Fee (Arrears's own are recognised by their billing id)
    '3': 'replacement', // Lost Materials
    '4': 'processing', // Lost Materials Processing Fee
    '5': 'manual', // System: Deposit
    '6': 'manual', // System: Rental
    '7': 'damage', // Damaged Item
    '8': 'processing', // Damaged Item Processing Fee
    '9': 'manual', // Notification Fee
    '10': 'replacement', // Long-Overdue Materials
    '11': 'processing', // Long-Overdue Materials Processing Fee
    '101': 'manual', // Misc
  },
  payments: {
    cash_payment: 'payment',
    check_payment: 'payment',
    credit_card_payment: 'payment',
    debit_card_payment: 'payment',
    credit_payment: 'payment',
    work_payment: 'payment',
    goods_payment: 'payment',
    payment: 'payment',
    bnm_payment: 'payment',
    bnm_desk_payment: 'payment',
    // Not money received: forgiven, or adjusted to zero.
    forgive_payment: 'waive',
    account_adjustment: 'writeoff',
  },
  methods: {
    cash_payment: 'cash',
    check_payment: 'check',
    credit_card_payment: 'credit card',
    debit_card_payment: 'debit card',
    credit_payment: 'patron credit',
    work_payment: 'work',
    goods_payment: 'goods',
    payment: 'payment',
    bnm_payment: 'payment',
    bnm_desk_payment: 'desk payment',
    forgive_payment: 'forgiven',
    account_adjustment: 'adjustment',
  },
  libraries: {},
};

/** The payment kinds Evergreen has: the money.payment child tables. */
const PAYMENT_KINDS: { code: string; name: string }[] = [
  { code: 'cash_payment', name: 'Cash' },
  { code: 'check_payment', name: 'Check' },
  { code: 'credit_card_payment', name: 'Credit card' },
  { code: 'debit_card_payment', name: 'Debit card' },
  { code: 'credit_payment', name: 'Patron credit' },
  { code: 'work_payment', name: 'Work' },
  { code: 'goods_payment', name: 'Goods' },
  { code: 'forgive_payment', name: 'Forgive' },
  { code: 'account_adjustment', name: 'Account adjustment' },
];

/** What a sync reads. */
const READ_TABLES = [
  'actor.org_unit',
  'actor.org_unit_setting',
  'permission.grp_tree',
  'actor.usr',
  'actor.card',
  'actor.usr_address',
  'money.materialized_billable_xact_summary',
  'money.grocery',
  'money.billing',
  'money.payment',
  'action.circulation',
  'asset.copy',
  'asset.call_number',
  'biblio.record_entry',
  'config.billing_type',
];
const SCHEMAS = ['actor', 'permission', 'money', 'action', 'asset', 'config', 'biblio'];
/**
 * What the write-back writes, and what Evergreen's own triggers on a new grocery and billing
 * read and write with the writer's rights (`triggers`: checked only where the table exists).
 * `inserts`: the id sequence of its default is checked too, whatever it is named.
 */
const WRITES: { table: string; privileges: string[]; inserts?: boolean; triggers?: boolean }[] = [
  { table: 'config.standing_penalty', privileges: ['SELECT'] },
  { table: 'actor.usr_standing_penalty', privileges: ['SELECT', 'INSERT', 'UPDATE'], inserts: true },
  { table: 'actor.usr_message', privileges: ['SELECT', 'INSERT'], inserts: true },
  { table: 'money.collections_tracker', privileges: ['SELECT', 'INSERT', 'DELETE'], inserts: true },
  { table: 'money.grocery', privileges: ['INSERT'], inserts: true },
  { table: 'money.billing', privileges: ['INSERT'], inserts: true },
  { table: 'money.materialized_billable_xact_summary', privileges: ['INSERT', 'UPDATE'] },
  { table: 'money.materialized_payment_by_billing_type', privileges: ['SELECT', 'INSERT', 'DELETE'], inserts: true, triggers: true },
  { table: 'money.payment_view', privileges: ['SELECT'], triggers: true },
  { table: 'money.bnm_payment', privileges: ['SELECT'], triggers: true },
  { table: 'money.bnm_desk_payment', privileges: ['SELECT'], triggers: true },
  { table: 'actor.workstation', privileges: ['SELECT'], triggers: true },
];

/** Penalties Evergreen's actor.calculate_system_penalties applies and removes itself (fines, overdue, checkout, lost and long-overdue counts). */
const SYSTEM_PENALTIES = new Set([1, 2, 3, 4, 5, 35]);
/** What a block list names that stops a patron at the desk. */
const BLOCKING = new Set(['CIRC', 'RENEW', 'HOLD']);

class EvergreenSession implements IlsSession {
  constructor(
    private readonly client: pg.Client,
    private readonly config: ConnectorConfig,
  ) {}

  private guard<T>(fn: () => Promise<T>): Promise<T> {
    return guarded(this.config.name, fn);
  }

  private async granted(sql: string, params: unknown[]): Promise<boolean> {
    const r = await this.client.query<{ ok: boolean | null }>(`SELECT ${sql} AS ok`, params);
    return r.rows[0]?.ok === true;
  }

  test(): Promise<ConnectionReport> {
    return this.guard(async () => {
      const server = (await this.client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version.split(' ')[0];
      let evergreen = 'Evergreen (version not readable)';
      try {
        // A fresh install logs its schema's number with the release in applied_to ('1466',
        // '3.17.0'); a release's upgrade script logs the release itself as the version.
        const v = await this.client.query<{ version: string }>(
          `SELECT CASE WHEN version ~ '^[0-9]+[.][0-9]+' THEN version ELSE applied_to END AS version FROM config.upgrade_log
           WHERE version ~ '^[0-9]+[.][0-9]+' OR applied_to ~ '^[0-9]+[.][0-9]+' ORDER BY install_date DESC, version DESC LIMIT 1`,
        );
        if (v.rows[0]) evergreen = `Evergreen ${v.rows[0].version}`;
      } catch {
        /* left as not readable */
      }
      const privileges: ConnectionReport['privileges'] = [];
      for (const schema of SCHEMAS) privileges.push({ what: `USAGE on schema ${schema}`, ok: await this.granted("has_schema_privilege((SELECT oid FROM pg_namespace WHERE nspname = $1), 'USAGE')", [schema]) });
      // A table that does not exist (to_regclass NULL) counts as not granted.
      const table = (name: string, privilege: string) => this.granted('has_table_privilege(to_regclass($1), $2)', [name, privilege]);
      for (const t of READ_TABLES) {
        // A table this Evergreen does not have (another version) is named as missing, not as a GRANT to give.
        if (await this.granted('to_regclass($1) IS NOT NULL', [t])) privileges.push({ what: `SELECT on ${t}`, ok: await table(t, 'SELECT') });
        else privileges.push({ what: `SELECT on ${t} (Evergreen has no such table)`, ok: false });
      }
      if (!this.config.readOnly) {
        const sequences = new Set<string>();
        for (const w of WRITES) {
          if (w.triggers && !(await this.granted('to_regclass($1) IS NOT NULL', [w.table]))) continue;
          let ok = true;
          for (const p of w.privileges) ok = (await table(w.table, p)) && ok;
          privileges.push({ what: `${w.privileges.join(', ')} on ${w.table}`, ok });
          if (w.inserts) {
            // The sequence named by the id column's default (penalties share the message sequence since 3.7).
            const d = await this.client.query<{ seq: string | null }>(
              `SELECT substring(pg_get_expr(d.adbin, d.adrelid) from $$nextval[(]'([^']+)'$$) AS seq
               FROM pg_attrdef d JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
               WHERE d.adrelid = to_regclass($1) AND a.attname = 'id'`,
              [w.table],
            );
            const seq = d.rows[0]?.seq;
            if (seq) sequences.add(seq.includes('.') ? seq : `${w.table.split('.')[0]}.${seq}`);
          }
        }
        for (const seq of sequences) privileges.push({ what: `USAGE on sequence ${seq}`, ok: await this.granted("has_sequence_privilege(to_regclass($1), 'USAGE')", [seq]) });
        privileges.push(...(await this.writtenCodes()));
      }
      const counts: Record<string, number> = {};
      for (const [label, query] of [
        ['org units', 'SELECT count(*) AS n FROM actor.org_unit'],
        ['patrons', 'SELECT count(*) AS n FROM actor.usr WHERE NOT deleted'],
        ['billings', 'SELECT count(*) AS n FROM money.billing'],
      ] as const) {
        try {
          counts[label] = Number((await this.client.query<{ n: string }>(query)).rows[0]!.n);
        } catch {
          /* shown as a missing privilege above */
        }
      }
      return { version: `${evergreen} on PostgreSQL ${server}`, privileges, counts, excess: evergreenExcess(await this.roleFacts(), this.config.readOnly), warnings: await this.warnings() };
    });
  }

  /** The role's attributes, and what it may create or write anywhere in this database (grants through other roles included). */
  private async roleFacts(): Promise<RoleFacts> {
    const attrs = await this.client.query<{ superuser: boolean; createrole: boolean; createdb: boolean; replication: boolean; bypassrls: boolean; createdatabase: boolean }>(
      `SELECT rolsuper AS superuser, rolcreaterole AS createrole, rolcreatedb AS createdb, rolreplication AS replication, rolbypassrls AS bypassrls,
              has_database_privilege(current_database(), 'CREATE') AS createdatabase
       FROM pg_roles WHERE rolname = current_user`,
    );
    const a = attrs.rows[0];
    const attributes = a ? (['superuser', 'createrole', 'createdb', 'replication', 'bypassrls'] as const).filter((k) => a[k]) : [];
    if (attributes.includes('superuser')) return { attributes, creates: [], writes: [] };
    const schemas = await this.client.query<{ name: string }>(
      `SELECT nspname AS name FROM pg_namespace
       WHERE nspname NOT IN ('information_schema', 'public') AND nspname NOT LIKE 'pg\\_%' AND has_schema_privilege(oid, 'CREATE') ORDER BY 1`,
    );
    const writes = await this.client.query<{ table: string; privileges: string[] }>(
      `SELECT n.nspname || '.' || c.relname AS table, array_agg(p.priv ORDER BY p.ord) AS privileges
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       CROSS JOIN unnest(ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) WITH ORDINALITY AS p(priv, ord)
       WHERE c.relkind IN ('r', 'p', 'v', 'f') AND n.nspname NOT IN ('information_schema', 'pg_catalog') AND n.nspname NOT LIKE 'pg\\_%'
         AND has_table_privilege(c.oid, p.priv)
       GROUP BY 1 ORDER BY 1`,
    );
    return { attributes, creates: [...(a?.createdatabase ? ['database'] : []), ...schemas.rows.map((r) => r.name)], writes: writes.rows };
  }

  /**
   * The standing penalty's settings that weaken Arrears's block: one that blocks no checkout,
   * renewal or hold (stock PATRON_IN_COLLECTIONS), one Evergreen's own penalty recalculation
   * (actor.calculate_system_penalties) applies and removes by its own rules, and for
   * PATRON_IN_COLLECTIONS a fine threshold, at which that recalculation removes it (read only
   * where the role may: permission.grp_penalty_threshold is optional).
   */
  private async warnings(): Promise<string[]> {
    if (this.config.readOnly) return [];
    const penalty = this.config.options.penaltyId ?? DEFAULT_PENALTY;
    const warnings: string[] = [];
    try {
      const p = (await this.client.query<{ name: string; blocks: string | null; alert: boolean }>('SELECT name, block_list AS blocks, staff_alert AS alert FROM config.standing_penalty WHERE id = $1', [penalty])).rows[0];
      if (!p) return warnings; // listed among the privileges as missing
      if (SYSTEM_PENALTIES.has(penalty)) {
        warnings.push(
          `standing penalty ${penalty} "${p.name}" is one Evergreen applies and removes itself by its own rules (actor.calculate_system_penalties): it lifts Arrears's block as soon as the patron no longer meets them; name 30 (PATRON_IN_COLLECTIONS) or a STAFF_* penalty (--penalty-id)`,
        );
      }
      const blocked = (p.blocks ?? '').split('|').filter((b) => BLOCKING.has(b.trim()));
      if (blocked.length === 0) {
        const list = p.blocks?.trim() ? `its block_list is "${p.blocks}"` : 'its block_list is empty';
        warnings.push(
          `standing penalty ${penalty} "${p.name}" blocks no checkout, renewal or hold (${list})${p.alert ? '' : ' and alerts no staff'}: a patron in collections can still check out, renew and place holds; to stop them, give the penalty a block list in Evergreen or name a STAFF_* penalty (--penalty-id)`,
        );
      }
      if (penalty === DEFAULT_PENALTY && (await this.granted("has_table_privilege(to_regclass('permission.grp_penalty_threshold'), 'SELECT')", []))) {
        const n = Number((await this.client.query<{ n: string }>('SELECT count(*) AS n FROM permission.grp_penalty_threshold WHERE penalty = $1', [penalty])).rows[0]?.n ?? 0);
        if (n > 0) {
          warnings.push(
            `standing penalty ${penalty} has a fine threshold (${n} in permission.grp_penalty_threshold): Evergreen's own penalty recalculation removes it once the patron has paid down to the threshold, before the agency is paid; the next sync lists the block as gone`,
          );
        }
      }
    } catch {
      /* no SELECT on config.standing_penalty: listed among the privileges */
    }
    return warnings;
  }

  /** What the connector's writes name, which Evergreen's foreign keys would refuse if it were not there. */
  private async writtenCodes(): Promise<ConnectionReport['privileges']> {
    const o = this.config.options;
    const exists = async (query: string, params: unknown[]) => {
      try {
        return ((await this.client.query(query, params)).rowCount ?? 0) > 0;
      } catch {
        return false;
      }
    };
    const penalty = o.penaltyId ?? DEFAULT_PENALTY;
    const btype = Number(o.feeType ?? DEFAULT_FEE_BTYPE);
    const checks: ConnectionReport['privileges'] = [
      { what: `standing penalty ${penalty} in config.standing_penalty`, ok: await exists('SELECT 1 FROM config.standing_penalty WHERE id = $1', [penalty]) },
      { what: `billing type ${o.feeType ?? DEFAULT_FEE_BTYPE} in config.billing_type`, ok: Number.isSafeInteger(btype) && (await exists('SELECT 1 FROM config.billing_type WHERE id = $1', [btype])) },
      o.staffId !== undefined
        ? { what: `staff account ${o.staffId} in actor.usr`, ok: await exists('SELECT 1 FROM actor.usr WHERE id = $1', [o.staffId]) }
        : { what: `staff account ${DEFAULT_STAFF} or a super user in actor.usr`, ok: await exists('SELECT 1 FROM actor.usr WHERE id = $1 OR (super_user AND NOT deleted) LIMIT 1', [DEFAULT_STAFF]) },
    ];
    if (o.penaltyOrgUnit !== undefined) checks.push({ what: `org unit ${o.penaltyOrgUnit} in actor.org_unit`, ok: await exists('SELECT 1 FROM actor.org_unit WHERE id = $1', [o.penaltyOrgUnit]) });
    return checks;
  }

  /** The org units, each with the lib.timezone it inherits (what a sync gives the library unless the mapping says otherwise). */
  private async libraries(): Promise<IlsCodes['libraries']> {
    try {
      const rows = (await this.client.query<OrgUnitRow>(ORG_UNITS)).rows;
      const zones = inheritedZones(rows);
      return rows
        .map((r) => ({ code: r.shortname, name: r.name || r.shortname, ...(zones.get(r.id) ? { timeZone: zones.get(r.id)! } : {}) }))
        .sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
    } catch {
      return [];
    }
  }

  codes(): Promise<IlsCodes> {
    return this.guard(async () => {
      const list = async (query: string) => {
        try {
          return (await this.client.query<{ code: string; name: string | null }>(query)).rows.map((r) => ({ code: String(r.code), name: String(r.name ?? r.code) }));
        } catch {
          return [];
        }
      };
      return {
        libraries: await this.libraries(),
        categories: await list('SELECT name AS code, COALESCE(description, name) AS name FROM permission.grp_tree WHERE usergroup ORDER BY name'),
        chargeTypes: await list('SELECT id::text AS code, name FROM config.billing_type ORDER BY id'),
        paymentTypes: PAYMENT_KINDS,
        methods: PAYMENT_KINDS,
      };
    });
  }

  extract(request: Parameters<IlsSession['extract']>[0], sink: Parameters<IlsSession['extract']>[1]): Promise<Record<string, unknown>> {
    return this.guard(() => new EvergreenReader(this.client, this.config, request, sink).run());
  }

  /** Our penalties still there and not archived (stop_date unset or ahead): staff may archive or remove one. */
  blocksInForce(refs: readonly string[]): Promise<Set<string>> {
    return this.guard(async () => {
      const byPenalty = new Map<number, string[]>();
      for (const ref of refs) {
        const parsed = parseBlockRef(ref);
        if (parsed) byPenalty.set(parsed.penalty, [...(byPenalty.get(parsed.penalty) ?? []), ref]);
      }
      if (byPenalty.size === 0) return new Set<string>();
      const r = await this.client.query<{ id: string }>('SELECT id FROM actor.usr_standing_penalty WHERE id = ANY($1::int[]) AND (stop_date IS NULL OR stop_date > now())', [[...byPenalty.keys()]]);
      return new Set(r.rows.flatMap((row) => byPenalty.get(Number(row.id)) ?? []));
    });
  }

  private grouped = false;
  private readonly cache = newWriteCache();

  apply(write: Parameters<IlsSession['apply']>[0]): ReturnType<IlsSession['apply']> {
    return this.guard(() => applyEvergreenWrite(this.client, this.config, write, this.grouped, this.cache));
  }

  /**
   * The writes fn applies share one Evergreen transaction: one commit for the batch. Its
   * foreign keys are checked at each statement (Evergreen defers them), so a write they refuse
   * is rolled back to its savepoint alone.
   */
  async group<T>(fn: () => Promise<T>): Promise<T> {
    return this.guard(async () => {
      await this.client.query('BEGIN');
      await this.client.query('SET CONSTRAINTS ALL IMMEDIATE');
      this.grouped = true;
      try {
        const result = await fn();
        await this.client.query('COMMIT');
        return result;
      } catch (err) {
        await this.client.query('ROLLBACK').catch(() => undefined);
        throw err;
      } finally {
        this.grouped = false;
      }
    });
  }

  async close(): Promise<void> {
    await this.client.end().catch(() => undefined);
  }
}

export const evergreenDriver: ConnectorDriver = {
  kind: 'evergreen',
  stockMapping: EVERGREEN_STOCK_MAPPING,
  keyLabels: { patrons: 'actor.usr id', items: 'asset.copy id', charges: 'money.billing id', payments: 'money.payment id' },
  async open(config) {
    return new EvergreenSession(await connectEvergreen(config), config);
  },
};
