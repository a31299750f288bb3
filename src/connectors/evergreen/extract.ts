// Reading Evergreen: org units (with the lib.timezone each inherits), profiles, patrons with
// their active card and mailing address, their accounts (the transactions of the materialized
// summary with their standing billings and payments) and the copies their circulations name
// or they hold, from one consistent snapshot (REPEATABLE READ). A full sync reads every
// patron's whole account. Evergreen keeps no updated-at on billings or payments and voids them
// in place, so an incremental one finds what changed since the cursor by new ids plus
// actor.usr.last_update_time (stamped by a trigger on every write), billing_ts / create_date /
// void_time, payment_ts, and circulation start, check-in and stop-fines times. It reads again
// the records of the patrons that changed (their accounts only when Arrears does not hold
// them yet, or Evergreen deleted them), and only the transactions that changed, each whole:
// every billing and payment of it, as Evergreen settles a transaction as a whole (ledger.ts);
// for a patron in credit on an open transaction, their other open transactions too. What
// leaves no trace at all (a voided payment, a copy's status changed outside a circulation)
// waits for the periodic full reconciliation.
import type pg from 'pg';
import { isTimeZone, localDateResolver } from '../../domain/dates.ts';
import type { ChargeReason, ItemStatus, PaymentType } from '../../db/schema.ts';
import type { ChargeRow, ConnectorConfig, ItemRow, LibraryRow, PatronRow, PaymentRow, SyncRequest, SyncSink } from '../types.ts';
import { num } from './connection.ts';
import { inChunks, letAnswersIn } from '../common.ts';
import { KeyBits } from '../key-bits.ts';
import { copyBinary } from './binary.ts';
import { splitLedger, type EgXact } from './ledger.ts';

/** Patrons read per round trip. */
const CHUNK = 2000;
/**
 * The next incremental sync reads again from this long before the snapshot: rows of an
 * Evergreen transaction still open when the snapshot was taken carry its start time (and ids
 * below the ones seen), so they appear behind the cursor once it commits.
 */
const OVERLAP_MS = 10 * 60_000;

/** Copy statuses (config.copy_status, ids below 100 are Evergreen's own). */
const LOST_STATUSES = new Set([3, 16, 17]);
const MISSING = 4;
const DISCARD = 13;
/** How an adjustment Arrears makes up is recorded (see ledger.ts). */
const ADJUSTED = 'adjusted in Evergreen';

/** actor.usr.dob: a DATE (its text); older schemas kept a timestamp, read here as the UTC date it was entered as. */
function birthDate(dob: string | Date | null): string | null {
  if (dob instanceof Date) return Number.isNaN(dob.getTime()) ? null : dob.toISOString().slice(0, 10);
  return dob && /^\d{4}-\d{2}-\d{2}$/.test(dob) ? dob : null;
}

interface UsrRow {
  id: number;
  deleted: boolean;
  home_ou: number;
  profile: number;
  first_given_name: string | null;
  family_name: string | null;
  email: string | null;
  day_phone: string | null;
  evening_phone: string | null;
  other_phone: string | null;
  dob: string | Date | null;
  juvenile: boolean;
  barcode: string | null;
  street1: string | null;
  street2: string | null;
  city: string | null;
  state: string | null;
  post_code: string | null;
}

/** A transaction of the summary (read as binary COPY: see xactRows). */
interface XactRow {
  id: number;
  usr: number;
  open: boolean;
  /** balance_owed in cents. */
  balanceOwed: number;
  target_copy: number | null;
  location: number | null;
  /** Anything billed, paid or owed: a transaction without is no part of the account. */
  counts: boolean;
  /** The patron's home org unit, where asked for. */
  home_ou: number;
}

interface BillingRow {
  id: number;
  xact: number;
  /** billing_ts. */
  date: Date;
  /** In cents. */
  amount: number;
  btype: number;
  voided: boolean;
  /** The Arrears charge it is, once ledger() has made it (its id made once for the charge and every payment of it). */
  charge: string | null;
}

interface PaymentDbRow {
  id: number;
  xact: number;
  /** payment_ts. */
  date: Date;
  /** In cents. */
  amount: number;
  /** The oid of the table the row lives in. */
  kind: number;
  voided: boolean;
}

/** A chunk of patrons as fetchPatrons read them. */
interface PatronsRead {
  live: UsrRow[];
  deleted: UsrRow[];
  /** The patrons whose whole accounts were read, with their home library's code. */
  homes: Map<number, string>;
  ledger: LedgerRows | null;
}

interface LedgerRows {
  xacts: XactRow[];
  billings: BillingRow[];
  payments: PaymentDbRow[];
  copies: CopyRow[];
}

interface CopyRow {
  id: string;
  barcode: string;
  status: number;
  deleted: boolean;
  dummy_title: string | null;
  precat: boolean;
  title_245a: string | null;
  circ_usr: number | null;
  due_date: Date | null;
  circ_lib: number | null;
  stop_fines: string | null;
}

export interface EvergreenCursor {
  since: string;
  usr: number;
  card: number;
  address: number;
  circulation: number;
  billing: number;
  payment: number;
}

const text = (v: string | null | undefined) => (v ?? '').trim();

/** The MARC 245 $a as Evergreen stores it (XML-escaped, with ISBD punctuation at its end) as plain text. */
export function titleText(raw: string | null): string {
  if (!raw) return '';
  const unescaped = raw.replace(/&(amp|lt|gt|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_, name: string, dec?: string, hex?: string) =>
    dec ? String.fromCodePoint(Number(dec)) : hex ? String.fromCodePoint(parseInt(hex, 16)) : ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[name]!,
  );
  return unescaped.replace(/\s*[/:;=,.]\s*$/, '').trim();
}

export interface OrgUnitRow {
  id: number;
  parent_ou: number | null;
  shortname: string;
  name: string;
  tz: string | null;
}

/** Every org unit with its own lib.timezone setting (a JSON string), if it has one. */
export const ORG_UNITS = `SELECT ou.id, ou.parent_ou, ou.shortname, ou.name, s.value AS tz
  FROM actor.org_unit ou LEFT JOIN actor.org_unit_setting s ON s.org_unit = ou.id AND s.name = 'lib.timezone'
  ORDER BY ou.id`;

/** Each org unit's lib.timezone, inherited from the nearest ancestor that sets one (null: none does). */
export function inheritedZones(rows: readonly OrgUnitRow[]): Map<number, string | null> {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const own = (r: OrgUnitRow): string | null => {
    if (r.tz === null) return null;
    try {
      const v: unknown = JSON.parse(r.tz);
      return typeof v === 'string' && isTimeZone(v) ? v : null;
    } catch {
      return null;
    }
  };
  const zones = new Map<number, string | null>();
  for (const row of rows) {
    let zone: string | null = null;
    for (let r: OrgUnitRow | undefined = row, hops = 0; r && hops < 100; r = r.parent_ou === null ? undefined : byId.get(r.parent_ou), hops++) {
      zone = own(r);
      if (zone) break;
    }
    zones.set(row.id, zone);
  }
  return zones;
}

export class EvergreenReader {
  private readonly name: string;
  /** org unit id → its shortname and time zone (lib.timezone inherited, or the mapping's, or the connector's). */
  private readonly orgs = new Map<number, { code: string; timeZone: string; sent: boolean }>();
  private readonly profiles = new Map<number, string>();
  /** Table oid → name of the money.payment tables: a payment's kind is the table it lives in. */
  private readonly paymentTables = new Map<number, string>();
  /** A checkout's due date in its library's zone (hundreds of thousands a first sync). */
  private readonly localDate = localDateResolver();
  private readonly itemsSent = new KeyBits();
  /** A full sync's: every copy Evergreen has, and those its accounts named (sent once all are read). */
  private copiesFound: KeyBits | null = null;
  private readonly copiesWanted = new KeyBits();
  /** Copies Arrears holds that an incremental sync did not read again: charges may name them. */
  private readonly itemsHeld = new Set<number>();
  private readonly unmapped = { charges: new Set<string>(), payments: new Set<string>(), methods: new Set<string>() };
  private rowsRead = 0;

  constructor(
    private readonly client: pg.Client,
    private readonly config: ConnectorConfig,
    private readonly request: SyncRequest,
    private readonly sink: SyncSink,
  ) {
    this.name = config.name;
  }

  private async rows<T extends pg.QueryResultRow>(query: string, params: unknown[] = []): Promise<T[]> {
    const r = await this.client.query<T>(query, params);
    this.rowsRead += r.rows.length;
    this.sink.progress(this.rowsRead);
    return r.rows;
  }

  private id(key: number | string): string {
    return `${this.name}:${key}`;
  }

  async run(): Promise<Record<string, unknown>> {
    await this.client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const [mark] = (
        await this.client.query<{ now: Date; usr: string | null; card: string | null; address: string | null; circulation: string | null; billing: string | null; payment: string | null }>(
          `SELECT now() AS now, (SELECT max(id) FROM actor.usr) AS usr, (SELECT max(id) FROM actor.card) AS card,
                  (SELECT max(id) FROM actor.usr_address) AS address, (SELECT max(id) FROM action.circulation) AS circulation,
                  (SELECT max(id) FROM money.billing) AS billing, (SELECT max(id) FROM money.payment) AS payment`,
        )
      ).rows;
      await this.readLibraries();
      const cursor = this.request.cursor as Partial<EvergreenCursor>;
      if (this.request.mode === 'full' || typeof cursor.since !== 'string') await this.readEverything();
      else await this.readChangedSince(cursor as EvergreenCursor);
      for (const kind of ['charges', 'payments', 'methods'] as const) if (this.unmapped[kind].size) this.sink.unmapped(kind, [...this.unmapped[kind]].sort());
      await this.client.query('COMMIT');
      const next: EvergreenCursor = {
        since: new Date(mark!.now.getTime() - OVERLAP_MS).toISOString(),
        usr: num(mark!.usr ?? 0),
        card: num(mark!.card ?? 0),
        address: num(mark!.address ?? 0),
        circulation: num(mark!.circulation ?? 0),
        billing: num(mark!.billing ?? 0),
        payment: num(mark!.payment ?? 0),
      };
      return { ...next, snapshotAt: mark!.now.toISOString() };
    } catch (err) {
      await this.client.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async readLibraries(): Promise<void> {
    const rows = await this.rows<OrgUnitRow>(ORG_UNITS);
    const zones = inheritedZones(rows);
    const libraries: LibraryRow[] = [];
    for (const r of rows) {
      const m = this.config.mapping.libraries[r.shortname];
      const timeZone = m?.timeZone ?? zones.get(r.id) ?? this.config.timeZone;
      this.orgs.set(r.id, { code: r.shortname, timeZone, sent: !m?.ignore });
      if (!m?.ignore) libraries.push({ code: r.shortname, name: text(r.name) || r.shortname, timeZone });
    }
    await this.sink.libraries(libraries);
    for (const g of await this.rows<{ id: number; name: string }>('SELECT id, name FROM permission.grp_tree')) this.profiles.set(g.id, g.name);
    const tables = await this.rows<{ oid: number; relname: string }>("SELECT c.oid::int AS oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'money' AND c.relkind = 'r'");
    for (const t of tables) this.paymentTables.set(t.oid, t.relname);
  }

  /**
   * Everything: every patron in one pass through a cursor, sent before any account (a first
   * sync merges them while the accounts are read: SyncSink.patronsSent), then the accounts a
   * chunk of patrons at a time (the next chunk asked for while this one is turned into rows,
   * which now and then lets its answers in: see ledger, so Evergreen's server works meanwhile),
   * then the copies those accounts and open circulations named.
   */
  private async readEverything(): Promise<void> {
    // Read through cursors whole: plans for every row, not the first tenth.
    await this.client.query('SET LOCAL cursor_tuple_fraction = 1');
    // A charge names its copy only if Evergreen has it (a circulation's target_copy has no foreign key).
    const found = new KeyBits();
    for await (const rows of this.cursor<{ id: string }>('SELECT id FROM asset.copy', [], 50_000)) for (const r of rows) found.add(num(r.id));
    this.copiesFound = found;

    // The patrons whose accounts are read, in Evergreen's order, each with its place among every
    // patron Evergreen has (a chunk's span: see fetchLedger).
    const accounts: number[] = [];
    const places: number[] = [];
    let place = 0;
    const homes = new Map<number, string>();
    for await (const batch of this.cursor<UsrRow>(`${USERS} ORDER BY u.id`)) {
      const users = batch.filter((u) => this.orgs.get(u.home_ou)?.sent);
      const gone = users.filter((u) => u.deleted);
      // A patron Evergreen deleted is followed only when Arrears holds them (their money may stay).
      const held = gone.length ? await this.request.known('patrons', gone.map((u) => this.id(u.id))) : new Set<string>();
      const deleted = gone.filter((u) => held.has(this.id(u.id)));
      await this.sink.patrons(users.filter((u) => !u.deleted).map((u) => this.patron(u)));
      if (deleted.length) await this.sink.deleted(deleted.map((u) => this.id(u.id)));
      for (const u of batch) {
        place++;
        if (!this.orgs.get(u.home_ou)?.sent || (u.deleted && !held.has(this.id(u.id)))) continue;
        accounts.push(u.id);
        places.push(place);
        homes.set(u.id, this.orgs.get(u.home_ou)!.code);
      }
    }
    await this.sink.patronsSent?.();

    await inChunks(
      accounts.length,
      CHUNK,
      (i) => {
        const last = Math.min(i + CHUNK, accounts.length) - 1;
        // Consecutive in Evergreen (few patrons between them left out): read as a range of ids.
        const span = places[last]! - places[i]! < 2 * CHUNK ? { from: accounts[i]!, to: accounts[last]! } : undefined;
        return this.fetchLedger(accounts.slice(i, i + CHUNK), 'deferred', span);
      },
      (ledger, i) => this.ledger(accounts.slice(i, i + CHUNK), homes, undefined, ledger),
    );
    await this.sendWantedCopies(found);
  }

  private async readChangedSince(c: EvergreenCursor): Promise<void> {
    const since = new Date(c.since);
    const changed = await this.rows<{ usr: number }>(
      `SELECT id AS usr FROM actor.usr WHERE last_update_time >= $1 OR id > $2
       UNION SELECT usr FROM actor.card WHERE id > $3
       UNION SELECT usr FROM actor.usr_address WHERE id > $4`,
      [since, c.usr, c.card, c.address],
    );
    const keys = [...new Set(changed.map((r) => num(r.usr)))].filter((k) => Number.isSafeInteger(k)).sort((a, b) => a - b);
    const whole = new Set<number>();
    for (let i = 0; i < keys.length; i += CHUNK) for (const k of await this.readPatrons(keys.slice(i, i + CHUNK), false)) whole.add(k);
    const found = [
      ...(await this.rows<{ id: string; circulation: boolean }>(CHANGED_TRANSACTIONS, [since, c.circulation, c.billing, c.payment])),
      ...(await this.movedAway([...whole])),
    ];
    const circulations = new Set(found.filter((x) => x.circulation).map((x) => num(x.id)));
    await this.readTransactions([...new Set(found.map((x) => num(x.id)))], circulations, whole);
  }

  /**
   * Transactions Arrears holds for these patrons (read whole) that another patron now owns:
   * Evergreen's patron merge moves them to the account kept and leaves no trace on them, so
   * they are read with their new owner, not taken for gone with the account merged away.
   */
  private async movedAway(patrons: number[]): Promise<{ id: string; circulation: boolean }[]> {
    if (patrons.length === 0) return [];
    const prefix = `${this.name}:`;
    const held = [...(await this.request.knownLedger(patrons.map((p) => this.id(p)))).values()].flatMap((l) => l.charges);
    const billings = held.map((id) => Number(id.slice(prefix.length))).filter((n) => Number.isSafeInteger(n));
    if (billings.length === 0) return [];
    return this.rows<{ id: string; circulation: boolean }>(
      `SELECT DISTINCT s.id, s.xact_type = 'circulation' AS circulation
       FROM money.billing b JOIN money.materialized_billable_xact_summary s ON s.id = b.xact
       WHERE b.id = ${inList(1, 'bigint')} AND s.usr <> ALL($2::int[])`,
      [billings, patrons],
    );
  }

  /**
   * Patrons by key; deleted ones only when Arrears already holds them. With `accounts`, their
   * checkouts and whole accounts; without, the records of the live ones, and whole accounts
   * only of those Arrears does not hold yet and of the deleted (a purge takes their
   * transactions without a trace). Returns the patrons whose whole accounts were read.
   */
  private async readPatrons(keys: number[], accounts: boolean): Promise<number[]> {
    const read = await this.fetchPatrons(keys, accounts);
    return read ? this.sendPatrons(read) : [];
  }

  /** What readPatrons reads from Evergreen; null when no patron of these is to be sent. */
  private async fetchPatrons(keys: number[], accounts: boolean): Promise<PatronsRead | null> {
    if (keys.length === 0) return null;
    const users = (await this.rows<UsrRow>(`${USERS} WHERE u.id = ${inList(1, 'int')}`, [keys])).filter((u) => this.orgs.get(u.home_ou)?.sent);
    const asked = users.filter((u) => u.deleted || !accounts);
    const held = asked.length ? await this.request.known('patrons', asked.map((u) => this.id(u.id))) : new Set<string>();
    const live = users.filter((u) => !u.deleted);
    // A patron Evergreen deleted is followed only when Arrears holds them (their money may stay).
    const deleted = users.filter((u) => u.deleted && held.has(this.id(u.id)));
    if (live.length === 0 && deleted.length === 0) return null;
    const read = [...(accounts ? live : live.filter((u) => !held.has(this.id(u.id)))), ...deleted];
    const homes = new Map(read.map((u) => [u.id, this.orgs.get(u.home_ou)!.code]));
    return { live, deleted, homes, ledger: homes.size ? await this.fetchLedger([...homes.keys()]) : null };
  }

  /** Sends what fetchPatrons read; returns the patrons whose whole accounts were read. */
  private async sendPatrons(read: PatronsRead): Promise<number[]> {
    await this.sink.patrons(read.live.map((u) => this.patron(u)));
    if (read.deleted.length) await this.sink.deleted(read.deleted.map((u) => this.id(u.id)));
    if (read.ledger) await this.ledger([...read.homes.keys()], read.homes, undefined, read.ledger);
    return [...read.homes.keys()];
  }

  /** The whole accounts of these patrons, with the copies checked out to them or named by their transactions. */
  private async fetchLedger(patrons: number[], copies: 'read' | 'deferred' = 'read', span?: { from: number; to: number }): Promise<LedgerRows> {
    let xacts: XactRow[];
    if (span) {
      // Patrons whose ids run from..to, but a few: the summary, the circulations and the grocery
      // bills each read by their patron index and joined by hashing (by key, a circulation and a
      // grocery probe per transaction were three times the work); the few others' left out here.
      const members = new Set(patrons);
      const between = `BETWEEN ${keyList([span.from])} AND ${keyList([span.to])}`;
      const from = `FROM money.materialized_billable_xact_summary s
        LEFT JOIN action.circulation c ON s.xact_type = 'circulation' AND c.id = s.id AND c.usr ${between}
        LEFT JOIN money.grocery g ON s.xact_type = 'grocery' AND g.id = s.id AND g.usr ${between}`;
      xacts = (await this.xactRows(`WHERE s.usr ${between} AND ${COUNTS}`, false, from)).filter((x) => members.has(x.usr));
    } else xacts = await this.xactRows(`WHERE s.usr = ${listed(patrons, 'int')} AND ${COUNTS}`);
    // Billings and payments of those transactions, by their ids (a bitmap scan of each payment
    // table; joined to the summary by patron, the payment tables were scanned once per transaction).
    const ids = xacts.map((x) => x.id);
    const billings = ids.length ? await this.billingRows(`WHERE b.xact = ${listed(ids, 'bigint')} AND NOT b.voided`) : [];
    const payments = ids.length ? await this.paymentRows(`WHERE p.xact = ${listed(ids, 'bigint')} AND NOT p.voided`) : [];
    const open = await this.rows<{ target_copy: string }>(`SELECT target_copy FROM action.circulation WHERE usr = ${inList(1, 'int')} AND checkin_time IS NULL`, [patrons]);
    const named = [...open.map((c) => c.target_copy), ...xacts.map((x) => x.target_copy)];
    if (copies === 'deferred') {
      // Read once every account is (sendWantedCopies).
      for (const c of named) if (c !== null) this.copiesWanted.add(num(c));
      return { xacts, billings, payments, copies: [] };
    }
    return { xacts, billings, payments, copies: await this.copyRows(named) };
  }

  /** The copies named, but those already sent. */
  private async copyRows(copies: (string | number | null)[]): Promise<CopyRow[]> {
    const wanted = new Set<number>();
    for (const c of copies) if (c !== null) wanted.add(num(c));
    for (const n of wanted) if (this.itemsSent.has(n)) wanted.delete(n);
    if (wanted.size === 0) return [];
    return this.rows<CopyRow>(`${COPIES} WHERE ac.id = ${inList(1, 'bigint')}`, [[...wanted]]);
  }

  /**
   * A full sync's copies, read once every account is: those its transactions and open
   * circulations named (copiesWanted). When they are a third of Evergreen's copies or more (a
   * first sync's), in one pass over the tables, joined by hashing: by key, each copy cost four
   * index probes into copy, call number, bib record and circulation (most of Evergreen's work
   * in a full sync).
   */
  private async sendWantedCopies(found: KeyBits): Promise<void> {
    const wanted = this.copiesWanted;
    const send = async (rows: CopyRow[]) => {
      const items: ItemRow[] = [];
      for (const r of rows) {
        const id = num(r.id);
        if (!wanted.has(id) || this.itemsSent.has(id)) continue;
        this.itemsSent.add(id);
        items.push(this.item(r));
      }
      await this.sink.items(items);
    };
    if (wanted.size * 3 >= found.size) {
      for await (const rows of this.cursor<CopyRow>(COPIES)) await send(rows);
    } else {
      const keys = [...wanted.keys()];
      for (let i = 0; i < keys.length; i += CHUNK) await send(await this.rows<CopyRow>(`${COPIES} WHERE ac.id = ${inList(1, 'bigint')}`, [keys.slice(i, i + CHUNK)]));
    }
  }

  /**
   * A query's rows a batch at a time, through a cursor of the snapshot's transaction (a full
   * sync's hundreds of thousands never held at once); the next batch is asked for while this
   * one is handled.
   */
  private async *cursor<T extends pg.QueryResultRow>(query: string, params: unknown[] = [], batch = 5000): AsyncGenerator<T[]> {
    const name = `arrears_read_${++this.cursors}`;
    await this.client.query(`DECLARE ${name} NO SCROLL CURSOR FOR ${query}`, params);
    const fetch = () => {
      const next = this.rows<T>(`FETCH ${batch} FROM ${name}`);
      next.catch(() => undefined);
      return next;
    };
    let next = fetch();
    for (;;) {
      const rows = await next;
      if (rows.length === 0) break;
      next = rows.length < batch ? Promise.resolve([]) : fetch();
      yield rows;
    }
    await this.client.query(`CLOSE ${name}`);
  }
  private cursors = 0;

  /**
   * The transactions an incremental sync found changed, whole, a chunk of their patrons at a
   * time (`circulations`: those whose circulation changed). A patron whose whole account was
   * read (`skip`) is left out, and one Arrears does not hold yet has theirs read whole.
   */
  private async readTransactions(ids: number[], circulations: ReadonlySet<number>, skip: ReadonlySet<number>): Promise<void> {
    if (ids.length === 0) return;
    const found = (await this.xactRows(`JOIN actor.usr u ON u.id = s.usr WHERE s.id IN (SELECT unnest('{${keyList(ids)}}'::bigint[]))`, true)).filter((x) => !skip.has(x.usr) && this.orgs.get(x.home_ou)?.sent);
    const owners = [...new Set(found.map((x) => x.usr))].sort((a, b) => a - b);
    const held = await this.request.known('patrons', owners.map((p) => this.id(p)));
    const newcomers = owners.filter((p) => !held.has(this.id(p)));
    for (let i = 0; i < newcomers.length; i += CHUNK) await this.readPatrons(newcomers.slice(i, i + CHUNK), true);
    const byPatron = new Map<number, XactRow[]>();
    const homes = new Map<number, string>();
    for (const x of found) {
      if (!held.has(this.id(x.usr))) continue;
      homes.set(x.usr, this.orgs.get(x.home_ou)!.code);
      const list = byPatron.get(x.usr);
      if (list) list.push(x);
      else byPatron.set(x.usr, [x]);
    }
    const patrons = [...byPatron.keys()].sort((a, b) => a - b);
    for (let i = 0; i < patrons.length; i += CHUNK) {
      const chunk = patrons.slice(i, i + CHUNK);
      const xacts = chunk.flatMap((p) => byPatron.get(p)!);
      // An open transaction in credit pays the patron's other open billings (ledger.ts): for a
      // patron with one, every open transaction that owes or is owed is read too.
      const crediting = await this.rows<{ usr: number }>(
        `SELECT DISTINCT usr FROM money.materialized_billable_xact_summary WHERE usr = ${inList(1, 'int')} AND xact_finish IS NULL AND balance_owed < 0`,
        [chunk],
      );
      if (crediting.length) {
        const have = new Set(xacts.map((x) => x.id));
        const more = await this.xactRows(`WHERE s.usr = ${listed(crediting.map((c) => c.usr), 'int')} AND s.xact_finish IS NULL AND s.balance_owed <> 0`);
        for (const x of more) if (!have.has(x.id)) xacts.push(x);
      }
      await this.ledger(chunk, homes, { xacts, circulations });
    }
  }

  private patron(u: UsrRow): PatronRow {
    return {
      id: this.id(u.id),
      key: u.id,
      barcode: text(u.barcode),
      firstName: text(u.first_given_name),
      lastName: text(u.family_name),
      address: text(u.street1),
      address2: text(u.street2),
      city: text(u.city),
      state: text(u.state),
      postalCode: text(u.post_code),
      // Evergreen has day, evening and other phones and no mobile field.
      phone: text(u.day_phone),
      mobile: '',
      altPhone1: text(u.evening_phone),
      altPhone2: text(u.other_phone),
      email: text(u.email),
      birthDate: birthDate(u.dob),
      homeLibrary: this.orgs.get(u.home_ou)!.code,
      ptype: this.profiles.get(u.profile) ?? String(u.profile),
      patronCode: '',
      adultOrChild: u.juvenile ? 'Child' : 'Adult',
    };
  }

  /**
   * Accounts of a chunk of patrons, items first (charges name them), then charges and
   * payments: whole, with the copies checked out to them; or with `part` only these
   * transactions, each with every billing and payment it has (what the sync then carries in
   * full: lineScope), and the copies they name. A copy's link to a patron is its open
   * circulation, so a checkout or return is a changed transaction whose copy is read again.
   */
  private async ledger(patrons: number[], homes: Map<number, string>, part?: { xacts: XactRow[]; circulations: ReadonlySet<number> }, fetched?: LedgerRows): Promise<void> {
    const ownDebits = this.request.ownDebits;
    // Arrears's own fees in Evergreen: none before the first run's write-back (no text made per billing to look for them).
    const own = ownDebits.size > 0;
    let xacts: XactRow[];
    let billings: BillingRow[];
    let payments: PaymentDbRow[];
    let copyRows: CopyRow[];
    if (part === undefined) {
      ({ xacts, billings, payments, copies: copyRows } = fetched ?? (await this.fetchLedger(patrons)));
    } else {
      // By transaction ids joined, not listed (a list costs more to plan across the payment tables
      // than to run); voided ones too: they name the charges and payments Arrears holds that are gone.
      const ids = part.xacts.map((x) => x.id);
      const all = await this.billingRows(`WHERE b.xact IN (SELECT unnest('{${keyList(ids)}}'::bigint[]))`);
      const paid = await this.paymentRows(`WHERE p.xact IN (SELECT unnest('{${keyList(ids)}}'::bigint[]))`);
      await this.sink.lineScope({ patrons: patrons.map((p) => this.id(p)), charges: all.map((b) => ownDebits.get(String(b.id)) ?? this.id(b.id)), credits: paid.map((p) => this.id(p.id)) });
      xacts = part.xacts.filter((x) => x.counts);
      billings = all.filter((b) => !b.voided);
      payments = paid.filter((p) => !p.voided);
      // The copy of a changed circulation is read again; any other only when Arrears does not hold it yet.
      const named = part.xacts.filter((x) => x.target_copy !== null && !part.circulations.has(x.id)).map((x) => this.id(x.target_copy!));
      for (const item of await this.request.known('items', named)) this.itemsHeld.add(Number(item.slice(this.name.length + 1)));
      copyRows = await this.copyRows(part.xacts.filter((x) => x.target_copy !== null && (part.circulations.has(x.id) || !this.itemsHeld.has(x.target_copy!))).map((x) => x.target_copy));
    }

    const items: ItemRow[] = [];
    for (const r of copyRows) {
      // Fetched before the chunk before this one was sent, a copy may have gone with it.
      if (this.itemsSent.has(num(r.id))) continue;
      this.itemsSent.add(num(r.id));
      items.push(this.item(r));
    }
    await this.sink.items(items);

    const xactsOf = new Map<number, EgXact[]>();
    const xactInfo = new Map<number, XactRow>();
    for (const x of xacts) {
      // The rows read are the ledger's own (EgXact, EgBilling, EgPayment): nothing copied per row.
      const list = xactsOf.get(x.usr);
      if (list) list.push(x);
      else xactsOf.set(x.usr, [x]);
      xactInfo.set(x.id, x);
    }
    const billingsOf = new Map<number, BillingRow[]>();
    for (const b of billings) {
      const usr = xactInfo.get(b.xact)?.usr;
      const amount = b.amount;
      if (usr === undefined || amount <= 0) continue;
      const reason = this.reasonOf(b.btype);
      if (reason === 'ignore' && !ownDebits.has(String(b.id))) continue;
      const list = billingsOf.get(usr);
      if (list) list.push(b);
      else billingsOf.set(usr, [b]);
    }
    const paymentsOf = new Map<number, PaymentDbRow[]>();
    for (const p of payments) {
      const usr = xactInfo.get(p.xact)?.usr;
      if (usr === undefined) continue;
      const list = paymentsOf.get(usr);
      if (list) list.push(p);
      else paymentsOf.set(usr, [p]);
    }

    let handled = 0;
    for (const usr of patrons) {
      await letAnswersIn(++handled);
      // Each patron's rows are handed over as they are made: kept for the whole chunk, they
      // outlived the young generation and every collection copied them.
      const charges: ChargeRow[] = [];
      const paymentRows: PaymentRow[] = [];
      const patronId = this.id(usr);
      const home = homes.get(usr)!;
      const mine = billingsOf.get(usr) ?? [];
      const paid = paymentsOf.get(usr) ?? [];
      for (const b of mine) {
        const fee = own ? ownDebits.get(String(b.id)) : undefined;
        if (fee !== undefined) {
          b.charge = fee;
          this.sink.ownFee(fee, patronId);
          continue;
        }
        b.charge = this.id(b.id);
        const x = xactInfo.get(b.xact)!;
        const reason = this.reasonOf(b.btype);
        const copy = x.target_copy;
        const location = x.location === null ? undefined : this.orgs.get(x.location);
        charges.push({
          id: b.charge,
          key: b.id,
          patronId,
          itemId: copy !== null && (this.itemsSent.has(copy) || this.itemsHeld.has(copy) || this.copiesFound?.has(copy)) ? this.id(copy) : null,
          library: location?.sent ? location.code : home,
          reason: (reason === undefined || reason === 'ignore' ? 'manual' : reason) as ChargeReason,
          amountCents: b.amount,
          assessedAt: b.date,
        });
      }
      // In transaction order (their credits pay the patron's other billings in it): sorted per patron, by number.
      const { splits } = splitLedger((xactsOf.get(usr) ?? []).sort((a, b) => a.id - b.id), mine, paid);
      const billingById = byId(mine);
      const paymentById = byId(paid);
      for (const s of splits) {
        const billing = billingById.get(s.billingId)!;
        if (s.paymentId === null) {
          paymentRows.push({
            id: `${this.name}:adjust:${s.billingId}`,
            key: s.billingId,
            patronId,
            chargeId: billing.charge!,
            type: 'waive',
            method: ADJUSTED,
            amountCents: s.cents,
            paidAt: billing.date,
          });
          continue;
        }
        const p = paymentById.get(s.paymentId)!;
        const kind = this.paymentKind(p.kind);
        paymentRows.push({
          id: `${this.name}:${s.paymentId}:${s.billingId}`,
          key: s.paymentId,
          patronId,
          chargeId: billing.charge!,
          type: kind.type,
          method: kind.method,
          amountCents: s.cents,
          paidAt: p.date,
        });
      }
      // Payments first: each charge is staged with what they pay of it (see SyncSink.payments).
      await this.sink.payments(paymentRows);
      await this.sink.charges(charges);
    }
    if (part === undefined) await this.sink.scope(patrons.map((p) => this.id(p)));
  }

  private item(r: CopyRow): ItemRow {
    let status: ItemStatus = 'available';
    const out = r.circ_usr !== null;
    if (out && (r.stop_fines === 'CLAIMSRETURNED' || r.stop_fines === 'CLAIMSNEVERCHECKEDOUT')) status = 'claims_returned';
    else if (LOST_STATUSES.has(r.status)) status = 'lost';
    else if (r.status === MISSING) status = 'missing';
    else if (r.deleted || r.status === DISCARD) status = 'withdrawn';
    else if (out) status = 'checked_out';
    const zone = (r.circ_lib === null ? undefined : this.orgs.get(r.circ_lib)?.timeZone) ?? this.config.timeZone;
    return {
      id: this.id(r.id),
      key: num(r.id),
      barcode: text(r.barcode),
      title: r.precat ? text(r.dummy_title) : titleText(r.title_245a),
      status,
      patronId: out ? this.id(r.circ_usr!) : null,
      dueDate: out && r.due_date ? this.localDate(r.due_date, zone) : null,
    };
  }

  /**
   * Transactions of the summary (`where`: the rest of the query after its FROM, naming it s),
   * read as binary COPY; `home`: with the patron's home org unit (the query joins actor.usr u).
   */
  private async xactRows(where: string, home = false, from = XACTS_FROM): Promise<XactRow[]> {
    const fields = home ? 8 : 7;
    const r = await copyBinary(this.client, `${XACTS}${home ? ', u.home_ou' : ''} ${from} ${where}`);
    const out: XactRow[] = [];
    while (r.row(fields)) {
      const id = r.int()!;
      out.push({ id, usr: r.int()!, open: r.bool()!, balanceOwed: r.int() ?? 0, target_copy: r.int(), location: r.int(), counts: r.bool()!, home_ou: home ? r.int()! : 0 });
    }
    this.counted(out.length);
    return out;
  }

  private async billingRows(where: string): Promise<BillingRow[]> {
    const r = await copyBinary(this.client, `${BILLINGS} ${where}`);
    const out: BillingRow[] = [];
    while (r.row(6)) out.push({ id: r.int()!, xact: r.int()!, date: r.instant()!, amount: r.int()!, btype: r.int()!, voided: r.bool()!, charge: null });
    this.counted(out.length);
    return out;
  }

  private async paymentRows(where: string): Promise<PaymentDbRow[]> {
    const r = await copyBinary(this.client, `${PAYMENTS} ${where}`);
    const out: PaymentDbRow[] = [];
    while (r.row(6)) out.push({ id: r.int()!, xact: r.int()!, date: r.instant()!, amount: r.int()!, kind: r.int()!, voided: r.bool()! });
    this.counted(out.length);
    return out;
  }

  private counted(rows: number): void {
    this.rowsRead += rows;
    this.sink.progress(this.rowsRead);
  }

  /** What the mapping makes of a payment's kind (the oid of its table), worked out once per kind; an unmapped one noted. */
  private paymentKind(oid: number): { type: PaymentType; method: string } {
    let kind = this.kinds.get(oid);
    if (!kind) {
      const name = this.paymentTables.get(oid) ?? String(oid);
      const { payments, methods } = this.config.mapping;
      if (!(name in payments)) this.unmapped.payments.add(name);
      if (!(name in methods)) this.unmapped.methods.add(name);
      kind = { type: (payments[name] ?? 'payment') as PaymentType, method: methods[name] ?? name };
      this.kinds.set(oid, kind);
    }
    return kind;
  }
  private readonly kinds = new Map<number, { type: PaymentType; method: string }>();

  /** What the mapping makes of a billing type (undefined: not mapped), its text made once per btype, not per billing. */
  private reasonOf(btype: number): ChargeReason | 'ignore' | undefined {
    if (this.reasons.has(btype)) return this.reasons.get(btype);
    const code = String(btype);
    const charges = this.config.mapping.charges;
    if (!(code in charges)) this.unmapped.charges.add(code);
    const reason = charges[code];
    this.reasons.set(btype, reason);
    return reason;
  }
  private readonly reasons = new Map<number, ChargeReason | 'ignore' | undefined>();
}

/**
 * `= ANY` of a list passed as parameter n, hidden from the planner behind a sub-select. Shown
 * the list, PostgreSQL estimates its matches from the column's statistics and, for a chunk of
 * 2,000 patrons, read money.billing and the summary whole (150–200 ms a chunk); not shown it,
 * it goes in by index (35–60 ms). Every list here is a chunk, so an index is the right way in.
 */
/** A patron's billings or payments by id (a Map only for the few with many: most have a handful). */
function byId<T extends { id: number }>(rows: T[]): { get(id: number): T | undefined } {
  if (rows.length > 8) return new Map(rows.map((r) => [r.id, r]));
  return { get: (id: number) => rows.find((r) => r.id === id) };
}

const inList = (n: number, type: 'int' | 'bigint') => `ANY((SELECT $${n}::${type}[])::${type}[])`;
/** Keys as an array literal's elements; a COPY takes no parameters, and these are numbers Arrears checked. */
function keyList(keys: readonly number[]): string {
  for (const k of keys) if (!Number.isSafeInteger(k)) throw new Error(`not a key: ${k}`);
  return keys.join(',');
}
/** inList of keys written into the query (for a COPY). */
const listed = (keys: readonly number[], type: 'int' | 'bigint') => `ANY((SELECT '{${keyList(keys)}}'::${type}[])::${type}[])`;
/**
 * The transactions that changed since $1 (with $2–$4 the last circulation, billing and payment
 * ids read), each with whether its circulation changed (a checkout, a return, fines stopped:
 * its copy is read again). Every branch is one Evergreen indexes, so a nightly sync reads
 * what changed, not every circulation the consortium ever made: new ids by primary key,
 * returns by circ_checkin_time, a checkout or stopped fines on an open circulation by its
 * partial indexes (a closed one's stopped fines came with the payment, billing or return
 * that closed it, found by theirs), billings by time, create date and voider (Evergreen sets
 * voider with void_time), payments by payment_ts in each kind's table (the two abstract
 * parents, bnm_payment and bnm_desk_payment, have no index but their primary key, and no rows
 * in a stock Evergreen: every payment lives in a kind's own table). A test explains it with
 * sequential scans disabled and finds none of these tables read whole, but those two parents.
 */
export const CHANGED_TRANSACTIONS = `SELECT id, TRUE AS circulation FROM action.circulation WHERE id > $2
       UNION ALL SELECT id, TRUE FROM action.circulation WHERE checkin_time >= $1
       UNION ALL SELECT id, TRUE FROM action.circulation WHERE xact_finish IS NULL AND (xact_start >= $1 OR stop_fines_time >= $1)
       UNION ALL SELECT xact, FALSE FROM money.billing WHERE id > $3 OR billing_ts >= $1 OR create_date >= $1
       UNION ALL SELECT xact, FALSE FROM money.billing WHERE voider IS NOT NULL AND void_time >= $1
       UNION ALL SELECT xact, FALSE FROM money.payment WHERE id > $4 OR payment_ts >= $1`;

/**
 * Copies with their bib record's 245 $a and open circulation. The title is the text of the
 * field's $a found in the MARCXML from its 245 on (string functions: a regex costs more).
 */
const COPIES = `SELECT ac.id, ac.barcode, ac.status, ac.deleted, ac.dummy_title, ac.call_number = -1 AS precat,
       CASE WHEN strpos(f.f, '<subfield code="a">') BETWEEN 1 AND strpos(f.f, '</datafield>')
            THEN split_part(substr(f.f, strpos(f.f, '<subfield code="a">') + 19), '<', 1) END AS title_245a,
       oc.usr AS circ_usr, oc.due_date, oc.circ_lib, oc.stop_fines
  FROM asset.copy ac
  LEFT JOIN asset.call_number cn ON cn.id = ac.call_number
  LEFT JOIN biblio.record_entry b ON b.id = cn.record AND ac.call_number <> -1
  LEFT JOIN LATERAL (SELECT substr(b.marc, NULLIF(strpos(b.marc, 'tag="245"'), 0)) AS f) f ON TRUE
  LEFT JOIN action.circulation oc ON oc.target_copy = ac.id AND oc.checkin_time IS NULL`;

/** Patrons with their active card (the one actor.usr.card names, else the newest) and mailing address. */
const USERS = `SELECT u.id, u.deleted, u.home_ou, u.profile, u.first_given_name, u.family_name, u.email, u.day_phone, u.evening_phone, u.other_phone,
       u.dob, u.juvenile,
       COALESCE((SELECT c.barcode FROM actor.card c WHERE c.id = u.card AND c.active),
                (SELECT c.barcode FROM actor.card c WHERE c.usr = u.id AND c.active ORDER BY c.id DESC LIMIT 1)) AS barcode,
       a.street1, a.street2, a.city, a.state, a.post_code
  FROM actor.usr u
  LEFT JOIN actor.usr_address a ON a.id = COALESCE(u.mailing_address, u.billing_address)`;

const COUNTS = '(s.total_owed <> 0 OR s.total_paid <> 0 OR s.balance_owed <> 0)';
/** Transactions from the summary, with the copy a circulation names and where each was billed. */
const XACTS = `SELECT s.id, s.usr, s.xact_finish IS NULL AS open, round(s.balance_owed * 100)::bigint AS balance, c.target_copy,
  COALESCE(c.circ_lib, g.billing_location) AS location, ${COUNTS} AS counts`;
const XACTS_FROM = `FROM money.materialized_billable_xact_summary s
  LEFT JOIN action.circulation c ON s.xact_type = 'circulation' AND c.id = s.id
  LEFT JOIN money.grocery g ON s.xact_type = 'grocery' AND g.id = s.id`;
const BILLINGS = 'SELECT b.id, b.xact, b.billing_ts, round(b.amount * 100)::bigint AS amount, b.btype, b.voided FROM money.billing b';
/** A payment's kind is the table it lives in (money.cash_payment, money.forgive_payment, ...), by its oid. */
const PAYMENTS = 'SELECT p.id, p.xact, p.payment_ts, round(p.amount * 100)::bigint AS amount, p.tableoid::int AS kind, p.voided FROM money.payment p';
