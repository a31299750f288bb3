// Small factories for ledger rows with overridable defaults, written straight to the tables
// (no import files), so a test states only what it is about. Ids carry a per-factory prefix,
// so tests sharing one database never collide.
import type { Insertable } from 'kysely';
import { instantAt, type LocalDate } from '../../src/domain/dates.ts';
import type { SettingsEntry } from '../../src/domain/settings.ts';
import type { Cents } from '../../src/domain/money.ts';
import type { DB } from '../../src/db/schema.ts';
import type { Executor } from '../../src/services/context.ts';

type Row<T extends keyof DB> = Insertable<DB[T]>;

let factories = 0;

/** Inserts many rows in a few statements. */
export async function insertRows<T extends keyof DB>(db: Executor, table: T, rows: Row<T>[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 500) {
    // Kysely's generic insert types do not narrow over a table-name type parameter.
    await db
      .insertInto(table)
      .values(rows.slice(i, i + 500) as never)
      .execute();
  }
}

export class LedgerFactory {
  private seq = 0;
  private readonly zones = new Map<string, string>();
  private defaultLibrary?: string;
  private defaultAgency?: number;

  constructor(
    readonly db: Executor,
    readonly prefix = `f${++factories}_`,
  ) {}

  id(kind: string): string {
    return `${this.prefix}${kind}${++this.seq}`;
  }

  async library(o: Partial<Row<'libraries'>> = {}): Promise<Row<'libraries'>> {
    const code = o.code ?? this.id('L');
    const row: Row<'libraries'> = { name: `${code} Library`, time_zone: 'America/Chicago', ...o, code };
    await this.db.insertInto('libraries').values(row).execute();
    this.zones.set(code, row.time_zone);
    return row;
  }

  private async libraryCode(): Promise<string> {
    this.defaultLibrary ??= (await this.library()).code;
    return this.defaultLibrary;
  }

  async patron(o: Partial<Row<'patrons'>> = {}): Promise<Row<'patrons'>> {
    const row: Row<'patrons'> = { id: this.id('P'), home_library: o.home_library ?? (await this.libraryCode()), ptype: '1', ...o };
    await this.db.insertInto('patrons').values(row).execute();
    return row;
  }

  async item(o: Partial<Row<'items'>> & { patron_id: string | null }): Promise<Row<'items'>> {
    const row: Row<'items'> = { id: this.id('I'), title: 'A Book', status: 'checked_out', due_date: null, ...o };
    await this.db.insertInto('items').values(row).execute();
    return row;
  }

  /** A charge; by default a $10.00 replacement bill posted by the default library at noon local time. */
  async charge(o: Partial<Row<'charges'>> & { patron_id: string }): Promise<Row<'charges'>> {
    const library = o.library ?? (await this.libraryCode());
    const assessedOn = o.assessed_on ?? '2015-04-20';
    const zone = this.zones.get(library) ?? 'America/Chicago';
    const row: Row<'charges'> = {
      id: this.id('C'),
      reason: 'replacement',
      amount_cents: 1000,
      assessed_at: instantAt(assessedOn as LocalDate, zone, 12),
      ...o,
      library,
      assessed_on: assessedOn,
    };
    await this.db.insertInto('charges').values(row).execute();
    return row;
  }

  /** A payment (or waiver, write-off) allocated entirely to one charge. */
  async payment(o: { patron_id: string; charge_id: string; amount_cents: number; type?: 'payment' | 'waive' | 'writeoff'; method?: string }): Promise<string> {
    const id = this.id('Y');
    await this.db
      .insertInto('payments')
      .values({ id, patron_id: o.patron_id, charge_id: o.charge_id, type: o.type ?? 'payment', method: o.method ?? 'cash', amount_cents: o.amount_cents, paid_at: new Date('2015-04-01T12:00:00Z') })
      .execute();
    await this.db.insertInto('allocations').values({ payment_id: id, charge_id: o.charge_id, patron_id: o.patron_id, amount_cents: o.amount_cents }).execute();
    return id;
  }

  async agency(name = this.id('AG')): Promise<number> {
    const row = await this.db.insertInto('agencies').values({ name }).returning('id').executeTakeFirstOrThrow();
    return row.id;
  }

  async referral(o: Partial<Row<'referrals'>> & { patron_id: string }): Promise<number> {
    const agencyId = o.agency_id ?? (this.defaultAgency ??= await this.agency());
    const status = o.status ?? 'open';
    const row = await this.db
      .insertInto('referrals')
      .values({
        referred_on: '2015-01-05',
        closed_on: status === 'open' ? null : '2015-02-05',
        referred_cents: 5000,
        last_reported_cents: 5000,
        ...o,
        agency_id: agencyId,
        status,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }

  async exclusion(o: Partial<Row<'exclusions'>> & { patron_id: string }): Promise<number> {
    const row = await this.db
      .insertInto('exclusions')
      .values({ reason: 'staff review', ...o })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  }
}

let entries = 0;

/** A settings entry that counts every charge ever assessed, with a $25.00 minimum; override what a test is about. */
export function settingsEntry(o: Partial<SettingsEntry> = {}): SettingsEntry {
  const id = o.id ?? ++entries;
  return {
    id,
    position: id,
    name: `Entry ${id}`,
    homeLibraries: [],
    ptypes: [],
    exemptPatronCodes: [],
    countedCharges: 'all',
    window: { mode: 'relative', startDays: null, endDays: null },
    feeAgeDays: null,
    minimumOwed: 2500 as Cents,
    requireBill: false,
    minDaysOverdue: null,
    removeIfLessThan: 1 as Cents,
    agencyFee: 1000 as Cents,
    agency: { kind: 'fixed', agency: 'UMS' },
    resubmitAfterClear: false,
    autoCancelDays: null,
    writeOffOnCancel: false,
    baseFilename: null,
    autoNewSubmission: false,
    autoUpdateDays: '',
    sendEmptyReports: true,
    reviewHours: null,
    email: { from: '', to: '', cc: '', subject: '' },
    ...o,
  };
}
