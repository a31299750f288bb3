// Reading Koha: branches, patron categories, borrowers (and deletedborrowers), checkouts and
// the items they hold, and each patron's whole account (accountlines with account_offsets),
// from one consistent snapshot. A full sync reads every patron; an incremental one reads
// again only the patrons something changed for since the cursor: borrowers.updated_on,
// accountlines.timestamp, issues.timestamp and items.timestamp, all kept by MariaDB itself.
import type { Connection, RowDataPacket } from 'mysql2/promise';
import type { ChargeReason, ItemStatus, PaymentType } from '../../db/schema.ts';
import type { ChargeRow, ConnectorConfig, ItemRow, LibraryRow, PatronRow, PaymentRow, SyncRequest, SyncSink } from '../types.ts';
import { datePart, instantOfSeconds, utcInstant, utcText } from './connection.ts';
import { inChunks, letAnswersIn } from '../common.ts';
import { splitLedger, type KohaCredit, type KohaDebit, type KohaOffset } from './ledger.ts';
import { OffsetsByDebit } from './offsets.ts';

/** Patrons read per round trip. */
const CHUNK = 2000;
/**
 * The next incremental sync reads again from this long before the snapshot: a Koha transaction
 * that was still open when the snapshot was taken stamps its rows with its own start time, so
 * they appear behind the cursor once it commits. Rows read twice compare equal and cost nothing.
 */
const OVERLAP_MS = 10 * 60_000;

interface BorrowerRow extends RowDataPacket {
  borrowernumber: number;
  cardnumber: string | null;
  surname: string | null;
  firstname: string | null;
  address: string | null;
  address2: string | null;
  city: string | null;
  state: string | null;
  zipcode: string | null;
  email: string | null;
  phone: string | null;
  mobile: string | null;
  phonepro: string | null;
  B_phone: string | null;
  dateofbirth: string | null;
  branchcode: string;
  categorycode: string;
  sort1: string | null;
  sort2: string | null;
}

/** An accountlines row, its instants in seconds and its amounts in cents (see LINES). */
interface LineRow extends RowDataPacket {
  accountlines_id: number;
  borrowernumber: number | null;
  itemnumber: number | null;
  date: number | null;
  timestamp: number | null;
  amount: number | null;
  amountoutstanding: number | null;
  debit_type_code: string | null;
  credit_type_code: string | null;
  payment_type: string | null;
  branchcode: string | null;
}

interface ItemDataRow extends RowDataPacket {
  itemnumber: number;
  barcode: string | null;
  itemlost: number;
  withdrawn: number;
  title: string | null;
  issued_to: number | null;
  date_due: string | null;
}

const text = (v: string | null | undefined) => (v ?? '').trim();

export class KohaReader {
  private readonly name: string;
  private readonly branches = new Map<string, LibraryRow>();
  /** categorycode → category_type (A, C, ...). */
  private readonly categoryTypes = new Map<string, string>();
  private readonly itemsSent = new Set<number>();
  private readonly itemWants = new Map<number, { borrowernumber: number | null; line: number }>();
  /** Items named only by debits an incremental sync read unchanged: sent only if Arrears lacks them. */
  private readonly itemMaybe = new Map<number, { borrowernumber: number; line: number }>();
  private readonly unmapped = { charges: new Set<string>(), payments: new Set<string>(), methods: new Set<string>() };
  private rowsRead = 0;

  constructor(
    private readonly conn: Connection,
    private readonly config: ConnectorConfig,
    private readonly request: SyncRequest,
    private readonly sink: SyncSink,
  ) {
    this.name = config.name;
  }

  private async rows<T extends RowDataPacket>(query: string, params: unknown[] = []): Promise<T[]> {
    const [rows] = await this.conn.query<T[]>(query, params);
    this.rowsRead += rows.length;
    this.sink.progress(this.rowsRead);
    return rows;
  }

  private id(key: number | string): string {
    return `${this.name}:${key}`;
  }

  async run(): Promise<Record<string, unknown>> {
    await this.conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
    await this.conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
    try {
      const [[clock]] = await this.conn.query<RowDataPacket[]>('SELECT UTC_TIMESTAMP() AS now');
      const snapshotAt = utcInstant(String(clock!.now))!;
      await this.readLibraries();
      const since = typeof this.request.cursor.since === 'string' ? this.request.cursor.since : null;
      if (this.request.mode === 'full' || since === null) await this.readEverything();
      else await this.readChangedSince(since);
      for (const kind of ['charges', 'payments', 'methods'] as const) if (this.unmapped[kind].size) this.sink.unmapped(kind, [...this.unmapped[kind]].sort());
      await this.conn.query('COMMIT');
      return { since: utcText(new Date(snapshotAt.getTime() - OVERLAP_MS)), snapshotAt: snapshotAt.toISOString() };
    } catch (err) {
      await this.conn.query('ROLLBACK').catch(() => undefined);
      throw err;
    }
  }

  private async readLibraries(): Promise<void> {
    const rows = (await this.rows('SELECT branchcode, branchname FROM branches ORDER BY branchcode')) as unknown as { branchcode: string; branchname: string | null }[];
    const libraries: LibraryRow[] = [];
    for (const r of rows) {
      const m = this.config.mapping.libraries[r.branchcode];
      if (m?.ignore) continue;
      const row = { code: r.branchcode, name: text(r.branchname) || r.branchcode, timeZone: m?.timeZone ?? this.config.timeZone };
      this.branches.set(r.branchcode, row);
      libraries.push(row);
    }
    await this.sink.libraries(libraries);
    const categories = (await this.rows('SELECT categorycode, category_type FROM categories')) as unknown as { categorycode: string; category_type: string | null }[];
    for (const c of categories) this.categoryTypes.set(c.categorycode, text(c.category_type));
  }

  /**
   * Rows of one query as they arrive, a batch at a time: the stream is paused while a batch is
   * handled (a promise per row would cost more than reading it).
   */
  private async *stream<T>(query: string, params: unknown[] = [], size = 5000): AsyncGenerator<T[]> {
    const raw = (this.conn as unknown as { connection: { query(options: { sql: string }, values: unknown[]): { stream(): NodeJS.ReadableStream } } }).connection;
    const rows = raw.query({ sql: query }, params).stream();
    let batch: T[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let failure: unknown = null;
    const ready = () => {
      const w = wake;
      wake = null;
      w?.();
    };
    rows.on('data', (row: T) => {
      batch.push(row);
      if (batch.length >= size) {
        rows.pause();
        ready();
      }
    });
    rows.on('end', () => {
      done = true;
      ready();
    });
    rows.on('error', (err) => {
      failure = err;
      done = true;
      ready();
    });
    for (;;) {
      if (batch.length < size && !done) await new Promise<void>((resolve) => (wake = resolve));
      if (failure) throw failure;
      if (batch.length > 0) {
        const out = batch;
        batch = [];
        this.rowsRead += out.length;
        this.sink.progress(this.rowsRead);
        yield out;
      }
      if (done && batch.length === 0) return;
      rows.resume();
    }
  }

  /**
   * Everything: the patrons and the checkouts each in one streaming pass, then every account,
   * lines and offsets, a range of patrons at a time.
   */
  private async readEverything(): Promise<void> {
    const homes = new Map<number, string>();
    for await (const batch of this.stream<BorrowerRow>(`${BORROWERS} ORDER BY borrowernumber`)) {
      const patrons: PatronRow[] = [];
      for (const b of batch) {
        if (!this.branches.has(b.branchcode)) continue;
        homes.set(b.borrowernumber, b.branchcode);
        patrons.push(this.patron(b));
      }
      await this.sink.patrons(patrons);
    }
    await this.sink.patronsSent?.();
    for await (const batch of this.stream<RowDataPacket>('SELECT itemnumber, borrowernumber FROM issues')) {
      for (const r of batch) if (homes.has(Number(r.borrowernumber))) this.want(Number(r.itemnumber), null, 0);
    }

    // Every offset between a credit and a debit, in one pass over the table (see OffsetsByDebit).
    const offsets = new OffsetsByDebit();
    for await (const batch of this.stream<RowDataPacket>(ALL_OFFSETS)) {
      for (const o of batch) offsets.add(Number(o.debit_id), Number(o.credit_id), this.cents(o.amount as number | null, Number(o.debit_id), 'account_offsets amount'));
    }
    offsets.seal();

    // The accounts, a range of patrons at a time: each range's lines are an index range scan in
    // Koha (one query sorting every line by patron made MariaDB write and sort them all first),
    // and the next range is asked for while this one is handled.
    const keys = [...homes.keys()];
    await inChunks(
      keys.length,
      CHUNK,
      (i) => this.rows<LineRow>(`${LINES} WHERE borrowernumber BETWEEN ? AND ?`, [keys[i], keys[Math.min(i + CHUNK, keys.length) - 1]]),
      (lines, i) => this.accounts(keys.slice(i, i + CHUNK), homes, lines, offsets, 'none'),
    );
    const all = [...homes.keys()].map((k) => this.id(k));
    for (let i = 0; i < all.length; i += CHUNK) await this.sink.scope(all.slice(i, i + CHUNK));
    await this.flushItems();
    this.sink.progress(this.rowsRead);

    // Every deleted patron Arrears still holds: their account is read by its own keys.
    const deleted = (await this.rows('SELECT DISTINCT d.borrowernumber FROM deletedborrowers d WHERE NOT EXISTS (SELECT 1 FROM borrowers b WHERE b.borrowernumber = d.borrowernumber)')).map((r) => Number(r.borrowernumber));
    await this.readDeleted(deleted);
  }

  private async readChangedSince(since: string): Promise<void> {
    const keys = new Set<number>();
    // Patrons whose checkouts are read whole: their record, a checkout or an item Arrears links
    // to them changed. A patron read only for a changed account line keeps their items as they are.
    const lending = new Set<number>();
    const add = (rows: RowDataPacket[], checkouts: boolean) =>
      rows.forEach((r) => {
        if (r.borrowernumber === null) return;
        keys.add(Number(r.borrowernumber));
        if (checkouts) lending.add(Number(r.borrowernumber));
      });
    add(await this.rows('SELECT borrowernumber FROM borrowers WHERE updated_on >= ?', [since]), true);
    add(await this.rows('SELECT DISTINCT borrowernumber FROM accountlines WHERE timestamp >= ? AND borrowernumber IS NOT NULL', [since]), false);
    add(await this.rows('SELECT borrowernumber FROM issues WHERE timestamp >= ?', [since]), true);
    // An item that changed (returned, found, withdrawn) may leave the patron Arrears links it to.
    const items = (await this.rows('SELECT itemnumber FROM items WHERE timestamp >= ?', [since])).map((r) => this.id(Number(r.itemnumber)));
    const prefix = `${this.name}:`;
    const holders = [...(await this.request.itemHolders(items)).values()].filter((h) => h.startsWith(prefix)).map((h) => ({ borrowernumber: Number(h.slice(prefix.length)) }));
    add(holders as unknown as RowDataPacket[], true);
    const gone = (await this.rows('SELECT DISTINCT d.borrowernumber FROM deletedborrowers d WHERE d.updated_on >= ? AND NOT EXISTS (SELECT 1 FROM borrowers b WHERE b.borrowernumber = d.borrowernumber)', [since])).map((r) => Number(r.borrowernumber));
    const sorted = [...keys].filter((k) => Number.isSafeInteger(k)).sort((a, b) => a - b);
    for (let i = 0; i < sorted.length; i += CHUNK) await this.readPatrons(sorted.slice(i, i + CHUNK), since, lending);
    await this.readDeleted(gone);
  }

  /**
   * Patrons by key with their checkouts, and their whole accounts or, after `since`, the part
   * of them that can have changed (see readChangedLines).
   */
  private async readPatrons(keys: number[], since?: string, lending?: ReadonlySet<number>): Promise<void> {
    if (keys.length === 0) return;
    const borrowers = (await this.rows<BorrowerRow>(`${BORROWERS} WHERE borrowernumber IN (?)`, [keys])).filter((b) => this.branches.has(b.branchcode));
    if (borrowers.length === 0) return;
    const homes = new Map(borrowers.map((b) => [b.borrowernumber, b.branchcode]));
    await this.sink.patrons(borrowers.map((b) => this.patron(b)));
    const present = [...homes.keys()];
    const { lines, offsets, whole, stamped } =
      since === undefined
        ? {
            lines: await this.rows<LineRow>(`${LINES} WHERE borrowernumber IN (?)`, [present]),
            offsets: await this.rows(`${OFFSETS} WHERE d.borrowernumber IN (?) AND o.credit_id IS NOT NULL`, [present]),
            whole: undefined,
            stamped: undefined,
          }
        : await this.readChangedLines(present, since);
    const borrowing = lending ? present.filter((p) => lending.has(p)) : present;
    if (borrowing.length) for (const r of await this.rows('SELECT itemnumber FROM issues WHERE borrowernumber IN (?)', [borrowing])) this.want(Number(r.itemnumber), null, 0);
    if (since !== undefined && borrowing.length) {
      // The items Arrears links to them are read again: a lost one stays with its patron (the debit
      // that links it may be closed and unread), one found or returned leaves them.
      const prefix = `${this.name}:`;
      for (const [patron, items] of await this.request.heldItems(borrowing.map((p) => this.id(p)))) {
        for (const item of items) if (item.startsWith(prefix)) this.want(Number(item.slice(prefix.length)), Number(patron.slice(prefix.length)), 0);
      }
    }
    await this.accounts(present, homes, lines, offsets, since === undefined ? 'patrons' : 'lines', whole, borrowing, stamped);
    await this.flushItems();
  }

  /**
   * The lines of these patrons that can have changed what Arrears holds since `since`: those
   * stamped since, and the credits not all applied; for a patron with such a credit also their
   * open debits (an unapplied credit pays the oldest of them). Those credits come whole: every
   * debit they paid is read too. Every debit read comes with every offset applied to it and the
   * credits those name, so its payments come out whole; a credit read only for that is not
   * carried whole (`whole` leaves it out), so its payments on debits not read stay as Arrears
   * holds them. One step, not a chase through the account: a changed credit or debit stamps its
   * own line, so what is not stamped has not changed.
   */
  private async readChangedLines(patrons: number[], since: string): Promise<{ lines: LineRow[]; offsets: RowDataPacket[]; whole: Set<number>; stamped: Set<number> }> {
    const found = await this.rows<LineRow>(`${LINES} WHERE borrowernumber IN (?) AND (timestamp >= ? OR (credit_type_code IS NOT NULL AND amountoutstanding < 0))`, [patrons, since]);
    // The debits among these were stamped since (the other condition is a credit's).
    const stamped = new Set(found.filter((l) => l.credit_type_code === null).map((l) => l.accountlines_id));
    const crediting = [...new Set(found.filter((l) => l.credit_type_code !== null && Number(l.amountoutstanding) < 0).map((l) => l.borrowernumber!))];
    if (crediting.length) found.push(...(await this.rows<LineRow>(`${LINES} WHERE borrowernumber IN (?) AND credit_type_code IS NULL AND amountoutstanding > 0`, [crediting])));
    const lines = new Map(found.map((l) => [l.accountlines_id, l]));
    const whole = new Set(found.filter((l) => l.credit_type_code !== null).map((l) => l.accountlines_id));
    const readLines = async (keys: Iterable<number>) => {
      const missing = [...new Set(keys)].filter((k) => !lines.has(k));
      if (missing.length) for (const l of await this.rows<LineRow>(`${LINES} WHERE accountlines_id IN (?)`, [missing])) lines.set(l.accountlines_id, l);
    };
    // The debits the whole credits paid.
    if (whole.size) {
      const paid = await this.rows('SELECT DISTINCT o.debit_id FROM account_offsets o WHERE o.credit_id IN (?) AND o.debit_id IS NOT NULL', [[...whole]]);
      await readLines(paid.map((o) => Number(o.debit_id)));
    }
    // Every offset on a debit read, and the credits they name.
    const debits = [...lines.values()].filter((l) => l.credit_type_code === null).map((l) => l.accountlines_id);
    const offsets = debits.length
      ? await this.rows(`SELECT o.id, o.credit_id, o.debit_id, ${cents('o.amount')} AS amount FROM account_offsets o WHERE o.debit_id IN (?) AND o.credit_id IS NOT NULL`, [debits])
      : [];
    await readLines(offsets.map((o) => Number(o.credit_id)));
    return { lines: [...lines.values()], offsets, whole, stamped };
  }

  /** Patrons Koha deleted: their lines survive with borrowernumber NULL, so they are read by the keys Arrears holds. */
  private async readDeleted(keys: number[]): Promise<void> {
    for (let i = 0; i < keys.length; i += CHUNK) {
      const ids = keys.slice(i, i + CHUNK).map((k) => this.id(k));
      const known = await this.request.knownLedger(ids);
      if (known.size === 0) continue;
      const present = [...known.keys()].map((id) => Number(id.slice(this.name.length + 1)));
      const homes = new Map<number, string>();
      const rows = await this.rows('SELECT borrowernumber, branchcode FROM deletedborrowers WHERE borrowernumber IN (?)', [present]);
      for (const r of rows) if (this.branches.has(String(r.branchcode))) homes.set(Number(r.borrowernumber), String(r.branchcode));
      const lineKeys = [...known.values()].flatMap((k) => [...k.charges, ...k.payments]).map((id) => lineKey(id, this.name)).filter((k): k is number => k !== null);
      const lines = lineKeys.length ? await this.rows<LineRow>(`${LINES} WHERE accountlines_id IN (?)`, [lineKeys]) : [];
      // The lines no longer name their patron: attribute them by the keys each patron's records carry.
      const owner = new Map<number, number>();
      for (const [patronId, k] of known) for (const id of [...k.charges, ...k.payments]) {
        const line = lineKey(id, this.name);
        if (line !== null) owner.set(line, Number(patronId.slice(this.name.length + 1)));
      }
      for (const l of lines) l.borrowernumber ??= owner.get(l.accountlines_id) ?? null;
      const debitKeys = lines.filter((l) => l.credit_type_code === null).map((l) => l.accountlines_id);
      const offsets = debitKeys.length ? await this.rows(`${OFFSETS} WHERE o.debit_id IN (?) AND o.credit_id IS NOT NULL`, [debitKeys]) : [];
      const patrons = present.filter((p) => homes.has(p));
      await this.sink.deleted(patrons.map((p) => this.id(p)));
      await this.accounts(patrons, homes, lines, offsets, 'patrons');
      await this.flushItems();
    }
  }

  private patron(b: BorrowerRow): PatronRow {
    const code = this.config.options.patronCode;
    return {
      id: this.id(b.borrowernumber),
      key: b.borrowernumber,
      barcode: text(b.cardnumber),
      firstName: text(b.firstname),
      lastName: text(b.surname),
      address: text(b.address),
      address2: text(b.address2),
      city: text(b.city),
      state: text(b.state),
      postalCode: text(b.zipcode),
      phone: text(b.phone),
      mobile: text(b.mobile),
      altPhone1: text(b.phonepro),
      altPhone2: text(b.B_phone),
      email: text(b.email),
      birthDate: datePart(b.dateofbirth),
      homeLibrary: b.branchcode,
      ptype: b.categorycode,
      patronCode: code ? text(b[code]) : '',
      adultOrChild: this.categoryTypes.get(b.categorycode) ?? '',
    };
  }

  /** An item to read and send: checked out (borrower null) or named by a debit (`line`: the latest such debit wins). */
  private want(itemnumber: number, borrowernumber: number | null, line: number): void {
    if (this.itemsSent.has(itemnumber)) return;
    const known = this.itemWants.get(itemnumber);
    if (!known) this.itemWants.set(itemnumber, { borrowernumber, line });
    else if (borrowernumber !== null && line >= known.line) {
      // Changed in place: a full sync wants an item for most of its debits.
      known.borrowernumber = borrowernumber;
      known.line = line;
    }
  }

  /** The items wanted so far, read and sent; a lost one not checked out stays with the patron its debit names. */
  private async flushItems(): Promise<void> {
    // An item sent anyway still takes the latest debit's patron from these.
    const maybe = [...this.itemMaybe].filter(([k]) => !this.itemsSent.has(k));
    const unsure = maybe.filter(([k]) => !this.itemWants.has(k)).map(([k]) => this.id(k));
    const known = unsure.length ? await this.request.known('items', unsure) : new Set<string>();
    for (const [k, w] of maybe) if (this.itemWants.has(k) || !known.has(this.id(k))) this.want(k, w.borrowernumber, w.line);
    this.itemMaybe.clear();
    const wanted = [...this.itemWants.keys()];
    const send = async (rows: ItemDataRow[]) => {
      const items: ItemRow[] = [];
      for (const r of rows) {
        const want = this.itemWants.get(r.itemnumber);
        if (!want) continue;
        this.itemsSent.add(r.itemnumber);
        items.push(this.item(r, want.borrowernumber));
      }
      await this.sink.items(items);
    };
    // A third of the items or more (a first sync's checkouts and billed items): one pass over the
    // table, in its own order, costs less than looking each up by key (a random read per item).
    if (wanted.length > 0 && wanted.length * 3 >= (await this.itemsHeld())) {
      for await (const rows of this.stream<ItemDataRow>(ITEMS)) await send(rows);
    } else {
      for (let i = 0; i < wanted.length; i += CHUNK) await send(await this.rows<ItemDataRow>(`${ITEMS} WHERE it.itemnumber IN (?)`, [wanted.slice(i, i + CHUNK)]));
    }
    this.itemWants.clear();
  }

  /** Koha's items, as its table statistics estimate them. */
  private async itemsHeld(): Promise<number> {
    const [rows] = await this.conn.query<RowDataPacket[]>("SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'items'");
    return Number(rows[0]?.n ?? 0);
  }

  /**
   * Charges and payments of a chunk of patrons from their lines and offsets, and the items
   * their debits name (sent by flushItems). `scope` says what the sync now carries in full:
   * these patrons' whole ledgers and checkouts, only the lines read (readChangedLines), or
   * nothing yet (the caller scopes every patron at the end).
   */
  private async accounts(
    patrons: number[],
    homes: Map<number, string>,
    lines: LineRow[],
    offsetRows: RowDataPacket[] | OffsetsByDebit,
    scope: 'patrons' | 'lines' | 'none',
    whole?: ReadonlySet<number>,
    borrowing: readonly number[] = patrons,
    stamped?: ReadonlySet<number>,
  ): Promise<void> {
    const ownDebits = this.request.ownDebits;
    const byPatron = new Map<number, LineRow[]>();
    for (const l of lines) {
      if (l.borrowernumber === null || !homes.has(l.borrowernumber)) continue;
      const list = byPatron.get(l.borrowernumber);
      if (list) list.push(l);
      else byPatron.set(l.borrowernumber, [l]);
      if (l.itemnumber !== null && l.credit_type_code === null) {
        // An unchanged debit's item was sent when the debit was: sent again only if Arrears lacks it.
        if (stamped && !stamped.has(l.accountlines_id)) {
          const known = this.itemMaybe.get(l.itemnumber);
          if (!known || l.accountlines_id >= known.line) this.itemMaybe.set(l.itemnumber, { borrowernumber: l.borrowernumber, line: l.accountlines_id });
        } else this.want(l.itemnumber, l.borrowernumber, l.accountlines_id);
      }
    }
    const offsetsOf = offsetRows instanceof OffsetsByDebit ? this.offsetsOnDebits(offsetRows, byPatron) : this.offsetsByPatron(offsetRows, lines);
    // Arrears's own debits in Koha (its agency fees): none before the first run's write-back.
    const own = ownDebits.size > 0;

    const { charges: chargeMap, payments: paymentMap, methods } = this.config.mapping;
    let handled = 0;
    for (const patron of patrons) {
      await letAnswersIn(++handled);
      const mine = byPatron.get(patron) ?? [];
      const debits: (KohaDebit & { line: LineRow })[] = [];
      const credits: (KohaCredit & { line: LineRow })[] = [];
      for (const l of mine) {
        const amount = this.cents(l.amount, l.accountlines_id, 'amount');
        const outstanding = this.cents(l.amountoutstanding, l.accountlines_id, 'amountoutstanding');
        if (l.credit_type_code !== null) {
          credits.push({ id: l.accountlines_id, outstanding, line: l });
          continue;
        }
        if (amount <= 0) continue;
        const code = l.debit_type_code ?? '';
        if (!(code in chargeMap)) this.unmapped.charges.add(code);
        if (chargeMap[code] === 'ignore' && !(own && ownDebits.has(String(l.accountlines_id)))) continue;
        debits.push({ id: l.accountlines_id, amount, outstanding, date: instantOfSeconds(l.date) ?? instantOfSeconds(l.timestamp) ?? new Date(0), line: l });
      }
      const { splits } = splitLedger(debits, credits, offsetsOf.get(patron) ?? []);
      // Each patron's rows are handed over as they are made: kept for the whole chunk, they
      // outlived the young generation and every collection copied them.
      const charges: ChargeRow[] = [];
      const payments: PaymentRow[] = [];
      const patronId = this.id(patron);
      const home = homes.get(patron)!;
      const chargeIdOf = (debitId: number) => (own ? ownDebits.get(String(debitId)) : undefined) ?? this.id(debitId);
      for (const d of debits) {
        if (own && ownDebits.has(String(d.id))) {
          this.sink.ownFee(ownDebits.get(String(d.id))!, patronId);
          continue;
        }
        const reason = chargeMap[d.line.debit_type_code ?? ''];
        charges.push({
          id: this.id(d.id),
          key: d.id,
          patronId,
          // accountlines.itemnumber is a foreign key (SET NULL when the item goes): the item exists, and is sent.
          itemId: d.line.itemnumber !== null ? this.id(d.line.itemnumber) : null,
          library: d.line.branchcode && this.branches.has(d.line.branchcode) ? d.line.branchcode : home,
          reason: (reason === undefined || reason === 'ignore' ? 'manual' : reason) as ChargeReason,
          amountCents: d.amount,
          assessedAt: d.date,
        });
      }
      for (const s of splits) {
        if (s.creditId === null) {
          const debit = lineOf(debits, s.debitId);
          payments.push({
            id: `${this.name}:adjust:${s.debitId}`,
            key: s.debitId,
            patronId,
            chargeId: chargeIdOf(s.debitId),
            type: 'payment',
            method: 'paid before Koha kept offsets',
            amountCents: s.cents,
            paidAt: instantOfSeconds(debit.timestamp) ?? new Date(0),
          });
          continue;
        }
        const credit = lineOf(credits, s.creditId);
        const code = credit.credit_type_code!;
        if (!(code in paymentMap)) this.unmapped.payments.add(code);
        const paymentType = credit.payment_type ?? '';
        if (paymentType && !(paymentType in methods)) this.unmapped.methods.add(paymentType);
        payments.push({
          id: `${this.name}:${s.creditId}:${s.debitId}`,
          key: s.creditId,
          patronId,
          chargeId: chargeIdOf(s.debitId),
          type: (paymentMap[code] ?? 'payment') as PaymentType,
          method: methods[paymentType] ?? paymentType,
          amountCents: s.cents,
          paidAt: instantOfSeconds(credit.date) ?? instantOfSeconds(credit.timestamp) ?? new Date(0),
        });
      }
      // Payments first: each charge is staged with what they pay of it (see SyncSink.payments).
      await this.sink.payments(payments);
      await this.sink.charges(charges);
    }
    if (scope === 'lines') {
      await this.sink.itemScope(borrowing.map((p) => this.id(p)));
      const mine = lines.filter((l) => l.borrowernumber !== null && homes.has(l.borrowernumber));
      await this.sink.lineScope({
        patrons: patrons.map((p) => this.id(p)),
        charges: mine.filter((l) => l.credit_type_code === null).map((l) => ownDebits.get(String(l.accountlines_id)) ?? this.id(l.accountlines_id)),
        credits: mine.filter((l) => l.credit_type_code !== null && (whole === undefined || whole.has(l.accountlines_id))).map((l) => this.id(l.accountlines_id)),
      });
    } else if (scope === 'patrons') await this.sink.scope(patrons.map((p) => this.id(p)));
  }

  /**
   * Offsets by the patron of their debit: as the query read it, or (a deleted patron's lines,
   * attributed by the caller, or a query that did not read it) as the debit's line says.
   * splitLedger takes a patron's offsets on the debits and credits it is given and leaves the rest.
   */
  private offsetsByPatron(offsetRows: RowDataPacket[], lines: LineRow[]): Map<number, KohaOffset[]> {
    let ownerOf: Map<number, number> | undefined;
    const offsetsOf = new Map<number, KohaOffset[]>();
    for (const o of offsetRows) {
      const offset: KohaOffset = { creditId: Number(o.credit_id), debitId: Number(o.debit_id), amount: this.cents(o.amount as number | null, Number(o.debit_id), 'account_offsets amount') };
      let patron = o.borrowernumber === null || o.borrowernumber === undefined ? undefined : Number(o.borrowernumber);
      if (patron === undefined) {
        ownerOf ??= new Map(lines.filter((l) => l.borrowernumber !== null).map((l) => [l.accountlines_id, l.borrowernumber!]));
        patron = ownerOf.get(offset.debitId);
        if (patron === undefined) continue;
      }
      const list = offsetsOf.get(patron);
      if (list) list.push(offset);
      else offsetsOf.set(patron, [offset]);
    }
    return offsetsOf;
  }

  /** Offsets held by debit (a full sync), by the patron whose lines hold the debit. */
  private offsetsOnDebits(offsets: OffsetsByDebit, byPatron: ReadonlyMap<number, LineRow[]>): Map<number, KohaOffset[]> {
    const offsetsOf = new Map<number, KohaOffset[]>();
    for (const [patron, mine] of byPatron) {
      const list: KohaOffset[] = [];
      for (const l of mine) if (l.credit_type_code === null) offsets.offsetsOf(l.accountlines_id, list);
      if (list.length) offsetsOf.set(patron, list);
    }
    return offsetsOf;
  }

  private item(r: ItemDataRow, chargedTo: number | null): ItemRow {
    let status: ItemStatus = 'available';
    let holder: number | null = r.issued_to;
    if (Number(r.itemlost) !== 0) {
      status = 'lost';
      holder ??= chargedTo;
    } else if (r.issued_to !== null) status = 'checked_out';
    else if (Number(r.withdrawn) !== 0) status = 'withdrawn';
    return {
      id: this.id(r.itemnumber),
      key: r.itemnumber,
      barcode: text(r.barcode),
      title: text(r.title),
      status,
      patronId: holder === null ? null : this.id(holder),
      dueDate: r.issued_to !== null ? datePart(r.date_due) : null,
    };
  }

  /** An amount as LINES and the offsets' queries read it: whole cents, as a number. */
  private cents(value: number | null, line: number, column: string): number {
    if (value === null) return 0;
    if (!Number.isSafeInteger(value)) throw new Error(`Koha accountlines ${line} ${column} is not an amount Arrears can hold to the cent: ${value} cents`);
    return value;
  }
}

/** The line of a patron's debit or credit split by splitLedger (a patron's lines are few: looked for in order, a map past that). */
function lineOf(list: readonly { id: number; line: LineRow }[], id: number): LineRow {
  if (list.length <= 32) {
    for (const x of list) if (x.id === id) return x.line;
  } else {
    let index = lineIndex.get(list);
    if (!index) lineIndex.set(list, (index = new Map(list.map((x) => [x.id, x.line]))));
    const line = index.get(id);
    if (line) return line;
  }
  throw new Error(`Koha accountlines ${id}: split but not read`);
}
const lineIndex = new WeakMap<readonly unknown[], Map<number, LineRow>>();

const ITEMS = `SELECT it.itemnumber, it.barcode, it.itemlost, it.withdrawn, b.title, iss.borrowernumber AS issued_to, iss.date_due
  FROM items it
  LEFT JOIN biblio b ON b.biblionumber = it.biblionumber
  LEFT JOIN issues iss ON iss.itemnumber = it.itemnumber`;

const BORROWERS = `SELECT borrowernumber, cardnumber, surname, firstname, address, address2, city, state, zipcode, email, phone, mobile,
  phonepro, B_phone, dateofbirth, branchcode, categorycode, sort1, sort2 FROM borrowers`;

/**
 * Amounts in cents and instants in seconds since 1970, made numbers by MariaDB (a DOUBLE: the
 * driver reads it as a number, where a DECIMAL or a TIMESTAMP is a string per value to parse
 * here; a full sync reads millions). The cents are exact: the DECIMAL is rounded, half away from
 * zero as decimalToCents rounds, before it becomes a DOUBLE, and a value past 2^53 is refused.
 * A TIMESTAMP is UTC inside MariaDB: UNIX_TIMESTAMP reads it as it is, whatever the zone.
 */
const cents = (column: string) => `ROUND(${column} * 100) * 1e0`;
const seconds = (column: string) => `UNIX_TIMESTAMP(${column}) * 1e0`;
const LINES = `SELECT accountlines_id, borrowernumber, itemnumber, ${seconds('date')} AS date, ${seconds('timestamp')} AS timestamp,
  ${cents('amount')} AS amount, ${cents('amountoutstanding')} AS amountoutstanding, debit_type_code, credit_type_code, payment_type, branchcode
  FROM accountlines`;
/** Offsets between a credit and a debit, the whole table in its own order (a full sync). */
const ALL_OFFSETS = `SELECT debit_id, credit_id, ${cents('amount')} AS amount FROM account_offsets WHERE credit_id IS NOT NULL AND debit_id IS NOT NULL`;
const OFFSETS = `SELECT o.credit_id, o.debit_id, ${cents('o.amount')} AS amount, d.borrowernumber FROM account_offsets o JOIN accountlines d ON d.accountlines_id = o.debit_id`;

/** The accountlines key a record id of this connector carries: koha:5512 (a debit), koha:77:5512 (a credit on a debit). */
export function lineKey(id: string, connector: string): number | null {
  const rest = id.startsWith(`${connector}:`) ? id.slice(connector.length + 1) : null;
  if (rest === null || rest.startsWith('adjust:')) return rest === null ? null : Number(rest.slice(7));
  const first = rest.split(':')[0]!;
  return /^\d+$/.test(first) ? Number(first) : null;
}
