// The demo consortium: a synthetic, deterministic library network in the import formats
// of DESIGN.md. The same seed and as-of date give the same bytes on every machine: the
// only randomness is src/domain/random.ts, one stream per patron, and no wall clock is read.
// Rows are generated patron by patron and streamed to disk, so a million patrons and
// ten million charges never sit in memory together.
//
// The shape is meant to look like a real consortium's ledger: most patrons owe nothing or
// a few dollars of overdue fines, a minority have unpaid lost-item bills large enough to
// be referred, and charges are posted at several libraries in several time zones, some
// by the nightly billing job late in the evening.
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { addDays, daysBetween, instantAt, localDateOf, parseDate, type LocalDate } from '../domain/dates.ts';
import { ValidationError, type Problem } from '../domain/errors.ts';
import { IMPORT_KINDS, type ImportKind } from '../domain/import-formats.ts';
import { formatMoney, type Cents } from '../domain/money.ts';
import { createRandom, type Random } from '../domain/random.ts';
import type { SettingsEntryJson } from '../domain/settings-validation.ts';
import type { TransferMethod } from '../db/schema.ts';
import type { Clock, Context } from './context.ts';
import { importFile } from './imports.ts';
import { addAgency, listAgencies } from './agencies.ts';
import { importSettings, loadEntries } from './settings.ts';

/** The as-of date when none is given: fixed, so default output never changes. */
export const DEMO_AS_OF = '2025-06-30';
/** The zone in which "today" is read for a demo loaded now (the central library's). */
export const DEMO_TIME_ZONE = 'America/Chicago';
/** Upper bound on --patrons; every id and barcode keeps its width up to here. */
export const DEMO_MAX_PATRONS = 5_000_000;

export interface DemoOptions {
  patrons: number;
  seed: number;
  /** 'YYYY-MM-DD'; charges fall in the two years up to and including it. Default DEMO_AS_OF. */
  asOf?: string;
}

/** The columns of each import file, in the order DESIGN.md lists them. */
export const DEMO_COLUMNS = {
  libraries: ['code', 'name', 'time_zone'],
  patrons: [
    'id', 'barcode', 'first_name', 'last_name', 'address', 'address2', 'city', 'state', 'postal_code', 'phone', 'mobile',
    'alt_phone_1', 'alt_phone_2', 'email', 'birth_date', 'home_library', 'ptype', 'patron_code', 'adult_or_child',
  ],
  items: ['id', 'barcode', 'title', 'status', 'patron_id', 'due_date'],
  charges: ['id', 'patron_id', 'item_id', 'library', 'reason', 'amount', 'assessed_at'],
  payments: ['id', 'patron_id', 'charge_id', 'type', 'method', 'amount', 'paid_at'],
} as const satisfies Record<ImportKind, readonly string[]>;

type RowOf<K extends ImportKind> = Record<(typeof DEMO_COLUMNS)[K][number], string>;
export type LibraryRow = RowOf<'libraries'>;
export type PatronRow = RowOf<'patrons'>;
export type ItemRow = RowOf<'items'>;
export type ChargeRow = RowOf<'charges'>;
export type PaymentRow = RowOf<'payments'>;

/** Everything generated for one patron: their row and the rows that belong to them. */
export interface DemoPatronBundle {
  patron: PatronRow;
  /** The patron's linked items plus a share of the unlinked collection. */
  items: ItemRow[];
  charges: ChargeRow[];
  /** In time order; a payment with a blank charge_id is always the patron's last. */
  payments: PaymentRow[];
  /** The sum of the patron's charges. */
  charged: Cents;
  /** What the patron still owes once every payment, waiver and write-off is applied. */
  outstanding: Cents;
}

export interface DemoTotals {
  charged: Cents;
  /** Payments, waivers and write-offs together. */
  settled: Cents;
  outstanding: Cents;
  patronsOwing: number;
}

export interface DemoSummary {
  asOf: LocalDate;
  seed: number;
  patrons: number;
  rows: Record<ImportKind, number>;
  totals: DemoTotals;
}

export interface DemoFile {
  kind: ImportKind;
  path: string;
  rows: number;
}

export interface DemoFiles extends DemoSummary {
  /** In import order: libraries, patrons, items, charges, payments. */
  files: DemoFile[];
}

// ---------------------------------------------------------------------------------------
// The consortium

interface Branch {
  code: string;
  name: string;
  timeZone: string;
  city: string;
  state: string;
  zip3: string;
  areaCode: string;
  /** Share of the consortium's patrons registered here. */
  weight: number;
  processingFee: Cents;
}

// A fictional network spread over seven zones, two without daylight saving time (Phoenix,
// Honolulu). An evening charge falls on the next day in UTC everywhere here, so any date
// taken in the wrong zone shows up.
const BRANCHES: readonly Branch[] = [
  { code: 'MAIN', name: 'Central Library', timeZone: 'America/Chicago', city: 'Springfield', state: 'IL', zip3: '627', areaCode: '217', weight: 24, processingFee: 500 as Cents },
  { code: 'NORTH', name: 'North Branch', timeZone: 'America/Chicago', city: 'Rockford', state: 'IL', zip3: '611', areaCode: '815', weight: 12, processingFee: 500 as Cents },
  { code: 'SOUTH', name: 'South Branch', timeZone: 'America/Chicago', city: 'Carbondale', state: 'IL', zip3: '629', areaCode: '618', weight: 9, processingFee: 500 as Cents },
  { code: 'EAST', name: 'East Branch', timeZone: 'America/New_York', city: 'Columbus', state: 'OH', zip3: '432', areaCode: '614', weight: 14, processingFee: 1000 as Cents },
  { code: 'WEST', name: 'West Branch', timeZone: 'America/Denver', city: 'Boulder', state: 'CO', zip3: '803', areaCode: '303', weight: 11, processingFee: 1000 as Cents },
  { code: 'MESA', name: 'Mesa Branch', timeZone: 'America/Phoenix', city: 'Mesa', state: 'AZ', zip3: '852', areaCode: '480', weight: 8, processingFee: 500 as Cents },
  { code: 'PAC', name: 'Pacific Branch', timeZone: 'America/Los_Angeles', city: 'Eugene', state: 'OR', zip3: '974', areaCode: '541', weight: 9, processingFee: 1000 as Cents },
  { code: 'ANCH', name: 'Anchorage Branch', timeZone: 'America/Anchorage', city: 'Anchorage', state: 'AK', zip3: '995', areaCode: '907', weight: 6, processingFee: 500 as Cents },
  { code: 'HILO', name: 'Hilo Branch', timeZone: 'Pacific/Honolulu', city: 'Hilo', state: 'HI', zip3: '967', areaCode: '808', weight: 5, processingFee: 500 as Cents },
  { code: 'BKM', name: 'Bookmobile & Outreach', timeZone: 'America/Chicago', city: 'Springfield', state: 'IL', zip3: '627', areaCode: '217', weight: 0, processingFee: 500 as Cents },
];

const BRANCH_BY_CODE = new Map(BRANCHES.map((b) => [b.code, b]));
const BRANCH_WEIGHTS = BRANCHES.filter((b) => b.weight > 0).map((b) => [b, b.weight] as const);
const BOOKMOBILE = BRANCH_BY_CODE.get('BKM')!;

export function demoLibraries(): LibraryRow[] {
  return BRANCHES.map((b) => ({ code: b.code, name: b.name, time_zone: b.timeZone }));
}

// ---------------------------------------------------------------------------------------
// Names, places and titles. Some names carry letters outside ASCII, apostrophes and
// hyphens, because real patron files do and every file format must survive them.

const FIRST_NAMES = [
  'James', 'Mary', 'Robert', 'Patricia', 'John', 'Jennifer', 'Michael', 'Linda', 'David', 'Elizabeth',
  'William', 'Barbara', 'Richard', 'Susan', 'Joseph', 'Jessica', 'Thomas', 'Sarah', 'Charles', 'Karen',
  'Emma', 'Liam', 'Olivia', 'Noah', 'Ava', 'Ethan', 'Isabella', 'Mason', 'Mia', 'Lucas', 'Harper', 'Elijah',
  'Amelia', 'Aaliyah', 'DeShawn', 'Keisha', 'Hannah', 'Caleb', 'Grace', 'Jack', 'Ella', 'Samuel', 'Ruth',
  'Maria', 'José', 'Sofía', 'Luis', 'Ana', 'Carmen', 'Jesús', 'Zoë', 'Chloé', 'Renée', 'André', 'Björn',
  'Siobhán', 'Seán', 'Łukasz', 'Søren', 'François', 'Håkon', 'Dmitri', 'Olga', 'Wei', 'Mei', 'Hiroshi',
  'Yuki', 'Priya', 'Arjun', 'Fatima', 'Omar', 'Aiyana', 'Kai', 'Noelani', 'Keoni', 'Leilani', 'Nalani',
  'Jean-Luc', 'Mary-Kate', 'Anne-Marie', 'Jean-Pierre', 'Li-Na',
];

const LAST_NAMES = [
  'Smith', 'Johnson', 'Williams', 'Brown', 'Jones', 'Garcia', 'Miller', 'Davis', 'Rodriguez', 'Martinez',
  'Wilson', 'Anderson', 'Thomas', 'Taylor', 'Moore', 'Jackson', 'Martin', 'Lee', 'Thompson', 'White',
  'Harris', 'Clark', 'Lewis', 'Robinson', 'Walker', 'Young', 'Allen', 'King', 'Wright', 'Scott', 'Torres',
  'Nguyen', 'Hill', 'Flores', 'Green', 'Adams', 'Nelson', 'Baker', 'Hall', 'Rivera', 'Campbell', 'Mitchell',
  'Carter', 'Roberts', 'Hernández', 'López', 'González', 'Pérez', 'Sánchez', 'Ramírez', 'Peña', 'Muñoz',
  'Müller', 'Schröder', 'Kowalski', 'Nowak', 'Wójcik', 'Åberg', 'Dubois', 'Lefèvre', 'Chen', 'Wang', 'Kim',
  'Park', 'Patel', 'Shah', 'Yamamoto', 'Nakamura', 'Kealoha', 'Kahananui', 'Begay', 'Yazzie', 'Tsosie',
  'Ivanova', 'Haddad', "O'Brien", "O'Neil", "D'Angelo", "O'Connor", 'McAllister', 'MacDonald', 'Fitzgerald',
  'Smith-Jones', 'Garcia-Lopez', 'Rivera-Ortiz', 'Lloyd-Webb', 'St. John', 'Van der Berg', 'De la Cruz',
];

const STREETS = [
  'Main St', 'Oak Ave', 'Maple St', 'Cedar Ln', 'Elm St', 'Washington Ave', 'Lincoln Rd', 'Park Pl',
  '2nd St', '5th Ave', 'Lakeview Dr', 'Hillcrest Rd', 'River Rd', 'Sunset Blvd', 'Prairie View Dr',
  'Church St', 'Mill Rd', 'College Ave', 'Jefferson St', 'Walnut St', "King's Hwy", 'Cherry Ln',
];

const LOCAL_STREETS: Record<string, readonly string[]> = {
  HILO: ['Kīlauea Ave', 'Kamehameha Ave', 'Waiānuenue Ave', 'Kinoʻole St'],
  ANCH: ['Spenard Rd', 'Northern Lights Blvd', 'Muldoon Rd'],
  MESA: ['Camino Real', 'Avenida del Sol', 'Mesa Verde Dr'],
};

const EMAIL_DOMAINS = ['example.com', 'example.org', 'example.net'];

const ADJECTIVES = ['Silent', 'Hidden', 'Last', 'Golden', 'Forgotten', 'Wild', 'Broken', 'Distant', 'Midnight', 'Crimson', 'Little', 'Secret', 'Northern', 'Quiet', 'Restless'];
const NOUNS = ['River', 'Garden', 'House', 'Orchard', 'Lighthouse', 'Prairie', 'Kingdom', 'Winter', 'Harbor', 'Promise', 'Mountain', 'Letters', 'Island', 'Bridge', 'Storm'];
const PLACES = ['Chicago', 'the Great Lakes', 'Alaska', 'Hawaiʻi', 'the Rockies', 'the Sonoran Desert', 'Oregon', 'Ohio', 'the Mississippi', 'the Pacific'];
const TOPICS = ['Python', 'Bread Baking', 'Watercolor', 'Birdwatching', 'Home Repair', 'Chess', 'Gardening', 'Spanish', 'Personal Finance', 'Knitting'];
const ANIMALS = ['Bear', 'Fox', 'Owl', 'Turtle', 'Rabbit', 'Dragon', 'Penguin', 'Moose'];

type ItemKind = 'book' | 'juvenile' | 'dvd' | 'audiobook' | 'game' | 'hotspot';

/** [kind, weight, lowest and highest replacement cost in whole dollars] */
const ITEM_KINDS: ReadonlyArray<readonly [ItemKind, number, number, number]> = [
  ['book', 55, 16, 38],
  ['juvenile', 22, 9, 24],
  ['dvd', 10, 15, 30],
  ['audiobook', 7, 30, 80],
  ['game', 4, 40, 70],
  ['hotspot', 2, 90, 150],
];

const ITEM_KIND_WEIGHTS = ITEM_KINDS.map(([kind, weight]) => [kind, weight] as const);

function bookTitle(rng: Random): string {
  switch (rng.int(0, 5)) {
    case 0:
      return `The ${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}`;
    case 1:
      return `${rng.pick(NOUNS)} of ${rng.pick(PLACES)}`;
    case 2:
      return `A History of ${rng.pick(PLACES)}`;
    case 3:
      return `${rng.pick(TOPICS)} for Beginners`;
    case 4:
      return `${rng.pick(FIRST_NAMES)}'s ${rng.pick(NOUNS)}`;
    default:
      return `Learning ${rng.pick(TOPICS)}, 3rd edition`;
  }
}

function juvenileTitle(rng: Random): string {
  switch (rng.int(0, 2)) {
    case 0:
      return `The ${rng.pick(ADJECTIVES)} ${rng.pick(ANIMALS)}`;
    case 1:
      return `${rng.pick(FIRST_NAMES)} and the ${rng.pick(ANIMALS)}`;
    default:
      return `Where Is ${rng.pick(ANIMALS)}?`;
  }
}

function title(rng: Random, kind: ItemKind): string {
  switch (kind) {
    case 'juvenile':
      return juvenileTitle(rng);
    case 'dvd':
      return `The ${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)} [DVD]`;
    case 'audiobook':
      return `${rng.pick(NOUNS)} of ${rng.pick(PLACES)} [sound recording]`;
    case 'game':
      return `${rng.pick(ADJECTIVES)} ${rng.pick(NOUNS)}: The Game [video game]`;
    case 'hotspot':
      return 'Mobile Wi-Fi hotspot';
    case 'book':
      return bookTitle(rng);
  }
}

const SLUGS = new Map<string, string>();
/** The ASCII letters of a name, for an email address: "Łukasz" → "lukasz", "O'Brien" → "obrien". */
function slug(name: string): string {
  let s = SLUGS.get(name);
  if (s === undefined) {
    s = name
      .normalize('NFD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[łŁ]/g, 'l')
      .replace(/[øØ]/g, 'o')
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '');
    SLUGS.set(name, s);
  }
  return s;
}

// ---------------------------------------------------------------------------------------
// Patrons

type PatronCode = 'ADULT' | 'JUV' | 'STAFF' | 'OUTREACH';

/** How a patron deals with the library, which decides what they owe today. */
type Profile = 'inactive' | 'casual' | 'active' | 'owing' | 'delinquent' | 'settled';

const PROFILES: ReadonlyArray<readonly [Profile, number]> = [
  ['inactive', 31],
  ['casual', 30],
  ['active', 22],
  ['owing', 10],
  ['delinquent', 5],
  ['settled', 2],
];
// Staff rarely let a bill go, but a demo needs a few who did to show the STAFF exemption.
const STAFF_PROFILES: ReadonlyArray<readonly [Profile, number]> = [
  ['inactive', 20],
  ['casual', 30],
  ['active', 25],
  ['owing', 5],
  ['delinquent', 15],
  ['settled', 5],
];

/** A calendar date as whole days since 1970-01-01: the generator's arithmetic stays on integers. */
type Day = number;
/** Seconds since local midnight. */
type Clock24 = number;

const EPOCH = '1970-01-01' as LocalDate;
const dayOf = (d: LocalDate): Day => daysBetween(EPOCH, d);

const DATE_TEXT = new Map<Day, LocalDate>();
function dateText(day: Day): LocalDate {
  let text = DATE_TEXT.get(day);
  if (text === undefined) {
    if (DATE_TEXT.size > 100_000) DATE_TEXT.clear();
    text = addDays(EPOCH, day);
    DATE_TEXT.set(day, text);
  }
  return text;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

function stamp(day: Day, time: Clock24): string {
  return `${dateText(day)}T${pad2(Math.floor(time / 3600))}:${pad2(Math.floor(time / 60) % 60)}:${pad2(time % 60)}`;
}

/** A time between two whole hours (the last one included up to :59:59). */
function between(rng: Random, fromHour: number, toHour: number): Clock24 {
  return rng.int(fromHour * 3600, toHour * 3600 + 3599);
}

/** A fine paid at the desk or an item checked in: library opening hours. */
const daytime = (rng: Random) => between(rng, 9, 20);
/** The nightly billing and fine jobs, and evening check-ins: 21:00 to 23:59, mostly after 23:00. */
const lateEvening = (rng: Random) => (rng.chance(0.6) ? between(rng, 23, 23) : between(rng, 21, 22));
/** Online payments come at any waking hour; never 00:00–06:59, where DST gaps and overlaps fall. */
const waking = (rng: Random) => between(rng, 7, 23);

const OFFSETS = new Map<string, string>();
/** A zone's UTC offset as "-05:00" on a day, valid from 04:00 on (DST changes happen before that). */
function offsetOn(day: Day, timeZone: string): string {
  const key = `${timeZone}|${day}`;
  let text = OFFSETS.get(key);
  if (text === undefined) {
    const noonUtc = day * 86_400_000 + 12 * 3_600_000;
    const minutes = Math.round((noonUtc - instantAt(dateText(day), timeZone, 12).getTime()) / 60_000);
    const abs = Math.abs(minutes);
    text = `${minutes < 0 ? '-' : '+'}${pad2(Math.floor(abs / 60))}:${pad2(abs % 60)}`;
    if (OFFSETS.size > 100_000) OFFSETS.clear();
    OFFSETS.set(key, text);
  }
  return text;
}

const DESK_METHODS = ['cash', 'cash', 'credit card', 'credit card', 'check', 'online'];

/** How late an overdue item came back: [lowest, highest days], weight. */
const LATENESS: ReadonlyArray<readonly [readonly [number, number], number]> = [
  [[1, 3], 50],
  [[4, 10], 30],
  [[11, 30], 15],
  [[31, 90], 5],
];

type Settlement = 'pay' | 'waive' | 'partial' | 'installments' | 'pay_then_waive' | 'writeoff' | 'none';
type Plan = ReadonlyArray<readonly [Settlement, number]>;

interface DraftCharge {
  seq: number;
  itemId: string;
  library: Branch;
  reason: 'overdue' | 'replacement' | 'processing' | 'manual' | 'damage';
  amount: Cents;
  day: Day;
  time: Clock24;
  outstanding: number;
  id: string;
}

interface DraftPayment {
  seq: number;
  charge: DraftCharge | null;
  type: 'payment' | 'waive' | 'writeoff';
  method: string;
  amount: Cents;
  day: Day;
  time: Clock24;
}

/** Counters shared by all patrons so every id is unique across the whole consortium. */
interface IdCounters {
  items: number;
  charges: number;
  payments: number;
}

function dollars(rng: Random, low: number, high: number): Cents {
  return (rng.int(low, high) * 100 + rng.pick([0, 0, 50, 95, 99])) as Cents;
}

function byTime(a: { day: Day; time: Clock24; seq: number }, b: { day: Day; time: Clock24; seq: number }): number {
  return a.day - b.day || a.time - b.time || a.seq - b.seq;
}

/** Generates one patron and everything that hangs off them, from their own random stream. */
class PatronBuilder {
  private readonly charges: DraftCharge[] = [];
  private readonly payments: DraftPayment[] = [];
  private readonly items: ItemRow[] = [];
  private seq = 0;
  private readonly asOf: Day;
  private readonly start: Day;
  private readonly home: Branch;
  private readonly code: PatronCode;
  private readonly profile: Profile;
  readonly patron: PatronRow;

  constructor(
    private readonly rng: Random,
    private readonly index: number,
    asOf: LocalDate,
    private readonly poolSize: number,
    private readonly ids: IdCounters,
  ) {
    this.asOf = dayOf(asOf);
    // Charges fall in the two years up to and including the as-of date.
    this.start = this.asOf - 729;
    this.code = rng.weighted([['ADULT', 65], ['JUV', 24], ['STAFF', 4], ['OUTREACH', 7]] as const);
    this.profile = rng.weighted(this.code === 'STAFF' ? STAFF_PROFILES : PROFILES);
    this.home = this.code === 'OUTREACH' && rng.chance(0.7) ? BOOKMOBILE : rng.weighted(BRANCH_WEIGHTS);
    this.patron = this.makePatron();
  }

  private makePatron(): PatronRow {
    const { rng, home, code } = this;
    const age = code === 'JUV' ? rng.int(4, 17) : code === 'OUTREACH' ? rng.int(62, 96) : code === 'STAFF' ? rng.int(21, 68) : rng.int(18, 88);
    const ptype = code === 'JUV' ? (age < 13 ? 2 : 3) : code === 'STAFF' ? 10 : code === 'OUTREACH' ? 20 : rng.chance(0.12) ? 4 : 1;
    const first = rng.pick(FIRST_NAMES);
    const last = rng.pick(LAST_NAMES);
    const local = LOCAL_STREETS[home.code];
    const street = local && rng.chance(0.4) ? rng.pick(local) : rng.pick(STREETS);
    const apartment = rng.chance(0.15) ? `, Apt ${rng.int(1, 40)}${rng.pick(['', 'A', 'B', 'C'])}` : '';
    const phone = rng.chance(0.9) ? `(${home.areaCode}) 555-01${pad2(rng.int(0, 99))}` : '';
    const hasEmail = rng.chance(code === 'JUV' ? 0.35 : code === 'OUTREACH' ? 0.4 : 0.85);
    const email = hasEmail ? `${slug(first)}.${slug(last)}${rng.chance(0.4) ? rng.int(1, 99) : ''}@${rng.pick(EMAIL_DOMAINS)}` : '';
    return {
      id: `p${1_000_001 + this.index}`,
      barcode: `21234${String(this.index + 1).padStart(9, '0')}`,
      first_name: first,
      last_name: last,
      address: `${rng.int(100, 9899)} ${street}${apartment}`,
      address2: '',
      city: home.city,
      state: home.state,
      postal_code: `${home.zip3}${pad2(rng.int(1, 99))}`,
      phone,
      mobile: '',
      alt_phone_1: '',
      alt_phone_2: '',
      email,
      birth_date: dateText(this.asOf - (age * 365 + Math.floor(age / 4) + rng.int(0, 364))),
      home_library: home.code,
      ptype: String(ptype),
      patron_code: code,
      // A CSV library's export has no such field: UMS's Adult or Child comes from the birth date.
      adult_or_child: '',
    };
  }

  build(): DemoPatronBundle {
    this.collectionShare();
    const { rng } = this;
    switch (this.profile) {
      case 'inactive':
        this.loans(rng.chance(0.4) ? rng.int(1, 2) : 0);
        break;
      case 'casual':
        this.overdues(rng.int(1, 8), [['pay', 75], ['waive', 20], ['none', 5]]);
        if (rng.chance(0.1)) this.manual([['pay', 90], ['none', 10]]);
        this.loans(rng.int(0, 3));
        break;
      case 'active':
        this.overdues(rng.int(8, 50), [['pay', 78], ['waive', 15], ['none', 7]]);
        for (let n = rng.chance(0.25) ? rng.int(1, 3) : 0; n > 0; n--) this.manual([['pay', 85], ['none', 15]]);
        if (rng.chance(0.1)) this.damage([['pay', 60], ['partial', 20], ['none', 20]]);
        if (rng.chance(0.05)) this.claimsReturned();
        this.loans(rng.int(1, 10));
        break;
      case 'owing':
        this.overdues(rng.int(2, 12), [['pay', 35], ['waive', 10], ['writeoff', 5], ['none', 50]]);
        if (rng.chance(0.4)) this.manual([['none', 70], ['partial', 30]]);
        if (rng.chance(0.25)) this.damage([['none', 60], ['partial', 40]]);
        if (rng.chance(0.2)) this.lostItem([['partial', 60], ['installments', 20], ['none', 20]]);
        if (rng.chance(0.08)) this.claimsReturned();
        this.loans(rng.int(0, 4));
        if (rng.chance(0.25)) this.accountPayment();
        break;
      case 'delinquent':
        this.overdues(rng.int(0, 15), [['pay', 30], ['waive', 5], ['writeoff', 5], ['none', 60]]);
        for (let n = rng.weighted([[1, 50], [2, 30], [3, 13], [4, 7]]); n > 0; n--) {
          this.lostItem([['none', 62], ['partial', 20], ['pay_then_waive', 8], ['installments', 10]]);
        }
        if (rng.chance(0.15)) this.damage([['none', 80], ['partial', 20]]);
        if (rng.chance(0.15)) this.claimsReturned();
        this.loans(rng.int(0, 3));
        if (rng.chance(0.1)) this.accountPayment();
        break;
      case 'settled':
        this.overdues(rng.int(0, 6), [['pay', 100]]);
        for (let n = rng.int(1, 2); n > 0; n--) this.lostItem([['installments', 50], ['pay', 30], ['pay_then_waive', 20]]);
        this.loans(rng.int(0, 3));
        break;
    }
    this.contactDetails();
    return this.finish();
  }

  /** Mobile, alternate phones and a PO box, drawn last so every earlier value of the patron's stream stays as it was. */
  private contactDetails(): void {
    const { rng, patron } = this;
    const area = this.home.areaCode;
    if (rng.chance(0.08)) patron.address2 = `PO Box ${rng.int(100, 9999)}`;
    if (rng.chance(0.55)) patron.mobile = `(${area}) 555-02${pad2(rng.int(0, 99))}`;
    if (rng.chance(0.12)) patron.alt_phone_1 = `(${area}) 555-03${pad2(rng.int(0, 99))}`;
    if (rng.chance(0.03)) patron.alt_phone_2 = `(${area}) 555-04${pad2(rng.int(0, 99))}`;
  }

  /** Two items of the unlinked collection per patron: what overdue and damage charges point at. */
  private collectionShare(): void {
    for (let k = 0; k < 2; k++) {
      const kind = this.rng.weighted(ITEM_KIND_WEIGHTS);
      const status = this.rng.weighted([['available', 90], ['missing', 4], ['withdrawn', 6]] as const);
      this.items.push(this.item(this.index * 2 + k, kind, status, '', ''));
    }
  }

  private item(n: number, kind: ItemKind, status: ItemRow['status'], patronId: string, dueDate: string): ItemRow {
    return {
      id: `i${1_000_000 + n}`,
      barcode: `31234${String(n + 1).padStart(9, '0')}`,
      title: title(this.rng, kind),
      status,
      patron_id: patronId,
      due_date: dueDate,
    };
  }

  private linkedItem(kind: ItemKind, status: ItemRow['status'], due: Day): ItemRow {
    const row = this.item(this.ids.items++, kind, status, this.patron.id, dateText(due));
    this.items.push(row);
    return row;
  }

  private collectionItem(): string {
    return `i${1_000_000 + this.rng.int(0, this.poolSize - 1)}`;
  }

  /** A day in the two years up to the as-of date. */
  private anyDay(): Day {
    return this.rng.int(this.start, this.asOf);
  }

  /** Mostly the home library; a quarter of the time another branch of the consortium. */
  private postingLibrary(): Branch {
    if (this.home === BOOKMOBILE || this.rng.chance(0.75)) return this.home;
    return this.rng.weighted(BRANCH_WEIGHTS);
  }

  private kindFor(): ItemKind {
    if (this.code === 'JUV') return this.rng.chance(0.8) ? 'juvenile' : 'dvd';
    return this.rng.weighted(ITEM_KIND_WEIGHTS);
  }

  private price(kind: ItemKind): Cents {
    const [, , low, high] = ITEM_KINDS.find(([k]) => k === kind)!;
    return dollars(this.rng, low, high);
  }

  private charge(reason: DraftCharge['reason'], amount: Cents, day: Day, time: Clock24, library: Branch, itemId: string): DraftCharge {
    const c: DraftCharge = { seq: this.seq++, itemId, library, reason, amount, day, time, outstanding: amount, id: '' };
    this.charges.push(c);
    return c;
  }

  private overdues(count: number, plan: Plan): void {
    const { rng } = this;
    const perDay = this.code === 'JUV' ? 10 : 25;
    const cap = this.code === 'JUV' ? 500 : 1000;
    for (let n = 0; n < count; n++) {
      const [low, high] = rng.weighted(LATENESS);
      const late = rng.int(low, high);
      // Checked in at the desk during the day, or the fine job closing it out at night.
      const time = rng.chance(0.7) ? daytime(rng) : lateEvening(rng);
      const c = this.charge('overdue', Math.min(late * perDay, cap) as Cents, this.anyDay(), time, this.postingLibrary(), this.collectionItem());
      this.settle(c, rng.weighted(plan), 60);
    }
  }

  private manual(plan: Plan): void {
    const { rng } = this;
    // Lost library card, printing, interlibrary loan, lost headphones, a meeting room.
    const kind = rng.weighted([[0, 3], [1, 4], [2, 2], [3, 2], [4, 1]]);
    const amount = (kind === 1 ? rng.int(1, 50) * 10 : [100, 0, 300, 500, 2500][kind]!) as Cents;
    const c = this.charge('manual', amount, this.anyDay(), daytime(rng), this.postingLibrary(), '');
    this.settle(c, rng.weighted(plan), 45);
  }

  private damage(plan: Plan): void {
    const { rng } = this;
    const amount = (rng.pick([2, 5, 5, 10, 15, 20, 25, 40]) * 100) as Cents;
    const c = this.charge('damage', amount, this.anyDay(), daytime(rng), this.postingLibrary(), this.collectionItem());
    this.settle(c, rng.weighted(plan), 60);
  }

  /** An item never returned: billed by the nightly job 4–8 weeks after it was due. */
  private lostItem(plan: Plan): void {
    const { rng } = this;
    const kind = this.kindFor();
    const billed = this.anyDay();
    const settlement = rng.weighted(plan);
    const library = this.postingLibrary();
    const time = lateEvening(rng);
    // Long-lost items have often gone through the lost-item transition already.
    const old = this.asOf - billed > 365;
    const status = old ? rng.weighted([['lost', 55], ['withdrawn', 30], ['missing', 15]] as const) : 'lost';
    const item = this.linkedItem(kind, status, billed - rng.int(28, 60));
    const replacement = this.charge('replacement', this.price(kind), billed, time, library, item.id);
    const processing = this.charge('processing', library.processingFee, billed, time, library, item.id);
    if (rng.chance(0.3)) this.charge('overdue', (this.code === 'JUV' ? 500 : 1000) as Cents, billed, time, library, item.id);
    if (settlement === 'pay_then_waive') {
      // Item fees partly paid and the rest forgiven, as staff do for a hardship.
      this.settle(processing, 'pay', 30);
      this.settle(replacement, 'pay_then_waive', 90);
    } else {
      this.settle(replacement, settlement, 60);
      this.settle(processing, settlement === 'partial' || settlement === 'installments' ? 'none' : settlement, 60);
    }
  }

  /** The patron says it came back; staff usually waive the fine while they look. */
  private claimsReturned(): void {
    const { rng } = this;
    const due = rng.int(this.asOf - 200, this.asOf - 20);
    const item = this.linkedItem(this.kindFor(), 'claims_returned', due);
    if (rng.chance(0.5)) {
      const c = this.charge('overdue', (rng.int(1, 10) * 100) as Cents, due + rng.int(1, 15), lateEvening(rng), this.home, item.id);
      this.settle(c, rng.chance(0.7) ? 'waive' : 'none', 30);
    }
  }

  /** Items out now: due in the next three weeks, or up to 25 days overdue and not billed yet. */
  private loans(count: number): void {
    for (let n = 0; n < count; n++) this.linkedItem(this.kindFor(), 'checked_out', this.asOf + this.rng.int(-25, 21));
  }

  private payment(charge: DraftCharge | null, type: DraftPayment['type'], method: string, amount: number, day: Day, time: Clock24): void {
    this.payments.push({ seq: this.seq++, charge, type, method, amount: amount as Cents, day, time });
    if (charge) charge.outstanding -= amount;
  }

  /** A part of a balance, in round amounts as people pay: strictly less than the balance. */
  private part(balance: number): number {
    const { rng } = this;
    if (balance > 1000) return rng.int(1, Math.floor((balance - 1) / 500)) * 500;
    if (balance > 200) return rng.int(1, Math.floor((balance - 1) / 100)) * 100;
    return rng.int(1, balance - 1);
  }

  /** A payment at the desk, or online at any waking hour. */
  private pay(c: DraftCharge, amount: number, day: Day): void {
    const method = this.rng.pick(DESK_METHODS);
    this.payment(c, 'payment', method, amount, day, method === 'online' ? waking(this.rng) : daytime(this.rng));
  }

  /**
   * Pays, waives or writes off a charge. Every payment is at least a day after the charge
   * (so it is later in every zone) and never after the as-of date.
   */
  private settle(c: DraftCharge, how: Settlement, maxDelay: number): void {
    const { rng, asOf } = this;
    let day = c.day + rng.int(1, maxDelay);
    if (how === 'none' || day > asOf) return;
    switch (how) {
      case 'pay':
        this.pay(c, c.outstanding, day);
        return;
      case 'waive':
        this.payment(c, 'waive', 'staff', c.outstanding, day, daytime(rng));
        return;
      case 'writeoff': {
        // Uncollectable debt is written off after a year.
        const later = c.day + rng.int(365, 540);
        if (later <= asOf) this.payment(c, 'writeoff', 'aged debt', c.outstanding, later, lateEvening(rng));
        return;
      }
      case 'partial':
      case 'pay_then_waive':
        if (c.outstanding < 2) return;
        this.pay(c, this.part(c.outstanding), day);
        day += rng.int(1, 30);
        if (how === 'pay_then_waive' && day <= asOf) this.payment(c, 'waive', 'staff', c.outstanding, day, daytime(rng));
        return;
      case 'installments': {
        const count = rng.int(2, 4);
        const each = Math.max(100, Math.floor(c.outstanding / count / 100) * 100);
        for (let k = 1; c.outstanding > 0 && day <= asOf; k++) {
          this.pay(c, k === count || each >= c.outstanding ? c.outstanding : each, day);
          day += rng.int(14, 35);
        }
        return;
      }
    }
  }

  /** A payment "on the account" (blank charge_id), applied oldest charge first; always the patron's last. */
  private accountPayment(): void {
    const { rng } = this;
    const balance = this.charges.reduce((s, c) => s + c.outstanding, 0);
    if (balance < 100) return;
    let last = this.start;
    for (const c of this.charges) last = Math.max(last, c.day);
    for (const p of this.payments) last = Math.max(last, p.day);
    const day = last + rng.int(1, 45);
    if (day > this.asOf) return;
    const amount = rng.chance(0.4) ? balance : this.part(balance);
    this.payment(null, 'payment', 'online', amount, day, waking(rng));
    // Which charges it reaches does not matter here: only the patron's total is tracked after it.
    let left = amount;
    for (const c of [...this.charges].sort(byTime)) {
      const take = Math.min(left, c.outstanding);
      c.outstanding -= take;
      left -= take;
    }
  }

  private finish(): DemoPatronBundle {
    const patronId = this.patron.id;
    const charges = this.charges.sort(byTime);
    for (const c of charges) c.id = `c${10_000_001 + this.ids.charges++}`;
    // Payments are listed by day; within a day, in the order they were made.
    const payments = this.payments.sort((a, b) => a.day - b.day || a.seq - b.seq);
    const zone = this.home.timeZone;
    let charged = 0;
    let outstanding = 0;
    for (const c of charges) {
      charged += c.amount;
      outstanding += c.outstanding;
    }
    return {
      patron: this.patron,
      items: this.items,
      charges: charges.map((c) => ({
        id: c.id,
        patron_id: patronId,
        item_id: c.itemId,
        library: c.library.code,
        reason: c.reason,
        amount: formatMoney(c.amount),
        assessed_at: stamp(c.day, c.time),
      })),
      payments: payments.map((p) => ({
        id: `t${10_000_001 + this.ids.payments++}`,
        patron_id: patronId,
        charge_id: p.charge ? p.charge.id : '',
        type: p.type,
        method: p.method,
        amount: formatMoney(p.amount),
        // Paid in the home library's zone; written with its offset, since a payment names no library.
        paid_at: stamp(p.day, p.time) + offsetOn(p.day, zone),
      })),
      charged: charged as Cents,
      outstanding: outstanding as Cents,
    };
  }
}

function checkOptions(options: DemoOptions): { patrons: number; seed: number; asOf: LocalDate } {
  const problems: Problem[] = [];
  const { patrons, seed } = options;
  if (!Number.isSafeInteger(patrons) || patrons < 1 || patrons > DEMO_MAX_PATRONS) {
    problems.push({ field: 'patrons', reason: `must be a whole number from 1 to ${DEMO_MAX_PATRONS}, got ${patrons}` });
  }
  if (!Number.isSafeInteger(seed) || seed < 0) problems.push({ field: 'seed', reason: `must be a whole number of 0 or more, got ${seed}` });
  const asOf = parseDate(options.asOf ?? DEMO_AS_OF);
  if (!asOf) problems.push({ field: 'asOf', reason: `must be a date as YYYY-MM-DD, got "${options.asOf}"` });
  if (problems.length || !asOf) throw new ValidationError(problems);
  return { patrons, seed, asOf };
}

/**
 * The patrons of the demo consortium, one bundle at a time, in id order. Patron i draws
 * only from stream i + 1 of the seed, so its content does not depend on the others.
 */
export function* generateDemo(options: DemoOptions): Generator<DemoPatronBundle> {
  const { patrons, seed, asOf } = checkOptions(options);
  const poolSize = patrons * 2;
  const ids: IdCounters = { items: poolSize, charges: 0, payments: 0 };
  for (let i = 0; i < patrons; i++) yield new PatronBuilder(createRandom(seed, i + 1), i, asOf, poolSize, ids).build();
}

/** Today's date in the demo's home zone: what `arrears start` and `arrears demo` use when no date is given. */
export function demoToday(clock: Clock): LocalDate {
  return localDateOf(clock.now(), DEMO_TIME_ZONE);
}

// ---------------------------------------------------------------------------------------
// Writing the files

// Only these columns hold free text; the generator never puts a comma, quote or line break
// anywhere else, so the other columns skip the quoting test, which is costly at scale.
const FREE_TEXT = new Set(['name', 'first_name', 'last_name', 'address', 'title']);

function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** One CSV file written through a buffer, waiting for the disk when it falls behind. */
class CsvWriter {
  rows = 0;
  private buffer: string[] = [];
  private size = 0;
  private readonly stream: WriteStream;
  private error: Error | null = null;

  constructor(
    readonly path: string,
    private readonly columns: readonly string[],
  ) {
    this.stream = createWriteStream(path);
    this.stream.on('error', (err) => (this.error ??= err));
    this.line(columns.map(csvField));
  }

  private line(values: readonly string[]): void {
    const text = values.join(',') + '\n';
    this.buffer.push(text);
    this.size += text.length;
  }

  add(row: Readonly<Record<string, string>>): void {
    this.line(this.columns.map((c) => (FREE_TEXT.has(c) ? csvField(row[c] ?? '') : (row[c] ?? ''))));
    this.rows++;
  }

  async flush(force = false): Promise<void> {
    if (this.error) throw this.error;
    if (this.size < 1 << 16 && !force) return;
    const chunk = this.buffer.join('');
    this.buffer = [];
    this.size = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush(true);
    this.stream.end();
    await finished(this.stream);
    if (this.error) throw this.error;
  }

  /** Stops writing after a failure elsewhere, without waiting for the buffer. */
  destroy(): void {
    this.stream.destroy();
  }
}

/**
 * Writes libraries.csv, patrons.csv, items.csv, charges.csv and payments.csv into `dir`
 * (created if missing, files overwritten), streaming as it generates.
 */
export async function writeDemoCsv(
  dir: string,
  options: DemoOptions & { onProgress?: (patronsDone: number, total: number) => void },
): Promise<DemoFiles> {
  const { patrons, seed, asOf } = checkOptions(options);
  await mkdir(dir, { recursive: true });
  const writers = Object.fromEntries(IMPORT_KINDS.map((k) => [k, new CsvWriter(join(dir, `${k}.csv`), DEMO_COLUMNS[k])])) as Record<ImportKind, CsvWriter>;
  const totals = { charged: 0, outstanding: 0, patronsOwing: 0 };
  try {
    for (const row of demoLibraries()) writers.libraries.add(row);
    let done = 0;
    for (const bundle of generateDemo({ patrons, seed, asOf })) {
      writers.patrons.add(bundle.patron);
      for (const row of bundle.items) writers.items.add(row);
      for (const row of bundle.charges) writers.charges.add(row);
      for (const row of bundle.payments) writers.payments.add(row);
      totals.charged += bundle.charged;
      totals.outstanding += bundle.outstanding;
      if (bundle.outstanding > 0) totals.patronsOwing++;
      done++;
      if (done % 1000 === 0 || done === patrons) {
        for (const k of IMPORT_KINDS) await writers[k].flush();
        options.onProgress?.(done, patrons);
      }
    }
    for (const k of IMPORT_KINDS) await writers[k].close();
  } catch (err) {
    for (const k of IMPORT_KINDS) writers[k].destroy();
    throw err;
  }
  const files = IMPORT_KINDS.map((kind) => ({ kind, path: writers[kind].path, rows: writers[kind].rows }));
  return {
    asOf,
    seed,
    patrons,
    files,
    rows: Object.fromEntries(files.map((f) => [f.kind, f.rows])) as Record<ImportKind, number>,
    totals: {
      charged: totals.charged as Cents,
      // Every payment, waiver and write-off is applied to some charge, so this is their sum.
      settled: (totals.charged - totals.outstanding) as Cents,
      outstanding: totals.outstanding as Cents,
      patronsOwing: totals.patronsOwing,
    },
  };
}

/**
 * Generates the demo consortium into a temporary folder and imports it file by file,
 * in order, through the ordinary importer (each file one transaction). `onProgress`
 * reports bytes read of the file being imported.
 */
export async function loadDemo(
  ctx: Context,
  options: DemoOptions & { onProgress?: (kind: ImportKind, done: number, total: number) => void },
): Promise<DemoSummary> {
  const dir = await mkdtemp(join(tmpdir(), 'arrears-demo-'));
  try {
    const { files, ...summary } = await writeDemoCsv(dir, { patrons: options.patrons, seed: options.seed, asOf: options.asOf });
    for (const f of files) {
      const onProgress = options.onProgress;
      await importFile(ctx, f.kind, f.path, onProgress ? { onProgress: (done, total) => onProgress(f.kind, done, total) } : {});
    }
    await loadDemoTable(ctx);
    return summary;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The demo agencies and settings table, added only where the library has none of its own yet. */
async function loadDemoTable(ctx: Context): Promise<void> {
  const existing = new Set((await listAgencies(ctx.database.db)).map((a) => a.name));
  for (const a of demoAgencies()) {
    if (!existing.has(a.name)) await addAgency(ctx, { name: a.name, transferMethod: a.transfer });
  }
  if ((await loadEntries(ctx.database.db)).length === 0) await importSettings(ctx, demoSettings());
}

/** Whether any patron exists: the demo is only ever loaded into an empty consortium by default. */
export async function databaseHasPatrons(ctx: Context): Promise<boolean> {
  const row = await ctx.database.db.selectFrom('patrons').select('id').limit(1).executeTakeFirst();
  return row !== undefined;
}

// ---------------------------------------------------------------------------------------
// Settings and agencies for the demo (the JSON forms `settings import` and `agencies add` take)

export interface DemoAgency {
  name: string;
  transfer: TransferMethod;
}

export function demoAgencies(): DemoAgency[] {
  return [
    { name: 'Unique Management Services', transfer: 'none' },
    { name: 'Second Look Recovery', transfer: 'none' },
  ];
}

const NO_EMAIL = { from: '', to: '', cc: '', subject: '' };

/**
 * Three entries, first match wins: the central library runs Polaris's rules, East and West
 * run Sierra's relative window, and everyone else falls to a catch-all that sends each
 * referral to whichever agency holds the least open debt.
 */
export function demoSettings(): SettingsEntryJson[] {
  return [
    {
      name: 'Central (Polaris rules)',
      homeLibraries: ['MAIN'],
      ptypes: [],
      exemptPatronCodes: ['STAFF'],
      countedCharges: 'item_fees',
      window: { mode: 'relative', startDays: null, endDays: null },
      feeAgeDays: 30,
      minimumOwed: '25.00',
      requireBill: false,
      minDaysOverdue: null,
      removeIfLessThan: '0.01',
      agencyFee: '10.00',
      agency: 'Unique Management Services',
      resubmitAfterClear: false,
      autoCancelDays: null,
      writeOffOnCancel: false,
      baseFilename: 'central',
      autoNewSubmission: true,
      autoUpdateDays: '2-6',
      sendEmptyReports: true,
      reviewHours: null,
      email: NO_EMAIL,
    },
    {
      name: 'East and West (Sierra window)',
      homeLibraries: ['EAST', 'WEST'],
      ptypes: [1, 2, 3, 4],
      exemptPatronCodes: ['STAFF'],
      countedCharges: 'all',
      window: { mode: 'relative', startDays: 365, endDays: 21 },
      feeAgeDays: null,
      minimumOwed: '50.00',
      requireBill: true,
      minDaysOverdue: null,
      removeIfLessThan: '0.00',
      agencyFee: '10.00',
      agency: 'Unique Management Services',
      resubmitAfterClear: true,
      autoCancelDays: 365,
      writeOffOnCancel: true,
      baseFilename: 'east-west',
      autoNewSubmission: true,
      autoUpdateDays: '1,4',
      sendEmptyReports: true,
      reviewHours: null,
      email: NO_EMAIL,
    },
    {
      name: 'All other patrons',
      homeLibraries: [],
      ptypes: [],
      exemptPatronCodes: ['STAFF'],
      countedCharges: 'all',
      window: { mode: 'absolute', start: null, end: null, graceDays: 45 },
      feeAgeDays: null,
      minimumOwed: '40.00',
      requireBill: false,
      minDaysOverdue: null,
      removeIfLessThan: '5.00',
      agencyFee: '8.00',
      agency: { strategy: 'least_referred_debt', among: ['Unique Management Services', 'Second Look Recovery'] },
      resubmitAfterClear: false,
      autoCancelDays: null,
      writeOffOnCancel: false,
      baseFilename: 'consortium',
      autoNewSubmission: true,
      autoUpdateDays: '2',
      sendEmptyReports: true,
      reviewHours: null,
      email: NO_EMAIL,
    },
  ];
}
