// One interface for every ILS: a driver opens a session on the ILS's own database, reads
// libraries, patron categories, patrons, items, charges and payments (everything, or what
// changed since a cursor) as Arrears's own rows, and applies a write-back. Everything
// ILS-specific stays in the driver's folder; services, the engine and the report files only
// ever see the rows below.
import type { ChargeReason, ItemStatus, PaymentType } from '../db/schema.ts';
import type { PatronRecord } from '../domain/patron-record.ts';

export const CONNECTOR_KINDS = ['koha', 'evergreen'] as const;
export type ConnectorKind = (typeof CONNECTOR_KINDS)[number];

/** How the ILS's own codes become Arrears's: the library's overrides of the driver's stock mapping. */
export interface Mapping {
  /** Debit type / billing type code → charge reason, or 'ignore' to leave such charges out. */
  charges: Record<string, ChargeReason | 'ignore'>;
  /** Credit type / payment kind → payment, waive or writeoff. */
  payments: Record<string, PaymentType>;
  /** Payment type (how it was paid: CASH, SIP00, ...) → the method Arrears records, e.g. "collection agency". */
  methods: Record<string, string>;
  /** Branch / org unit code → its time zone (default: the connector's), or left out of Arrears. */
  libraries: Record<string, { timeZone?: string; ignore?: boolean }>;
}

export interface ConnectorOptions {
  /** Koha: the restriction type code placed (default MANUAL). */
  restrictionType?: string;
  /** The block's comment or note; {agency} and {date} are filled in. */
  comment?: string;
  /** Koha: debit type of the agency fee (default MANUAL). Evergreen: billing type id (default 2). */
  feeType?: string;
  /** The fee's description as the patron and the desk see it; {agency} is filled in. */
  feeDescription?: string;
  /** Koha: accountlines.interface of what Arrears writes (default "cron", as Koha's own collection plugin). */
  interface?: string;
  /** Evergreen: the standing penalty id (default 30, PATRON_IN_COLLECTIONS). */
  penaltyId?: number;
  /** Evergreen: the org unit the penalty and fee are placed at (default: the patron's home library). */
  penaltyOrgUnit?: number;
  /** Evergreen: the staff account (actor.usr id) that places the penalty and is the tracker's collector (default 1, the installer's administrator). */
  staffId?: number;
  /** Koha: the borrowers column Arrears reads as the patron code (exempt codes match it), e.g. sort1. */
  patronCode?: 'sort1' | 'sort2';
  /** Refuse a scheduled run when the last sync is older than this (default 24 hours). */
  maxSyncAgeMinutes?: number;
  /** Full reconciliation every this many days (default 7); the syncs between are incremental. */
  fullSyncEveryDays?: number;
  /** TLS to the ILS database: "require" (verify the server), "no-verify", or absent for plain. */
  tls?: 'require' | 'no-verify';
  /** A CA certificate (PEM) to verify the ILS database server with. */
  tlsCa?: string;
}

export interface ConnectorConfig {
  id: number;
  name: string;
  kind: ConnectorKind;
  /** The connection URL with its password: never logged, never shown. */
  url: string;
  timeZone: string;
  readOnly: boolean;
  options: ConnectorOptions;
  /** The stock mapping with the library's overrides applied. */
  mapping: Mapping;
}

// --- the rows a sync produces: the import formats' columns, typed --------------------------

export interface LibraryRow {
  code: string;
  name: string;
  timeZone: string;
}

export interface PatronRow extends PatronRecord {
  /** <connector>:<ILS key>. */
  id: string;
  /** The ILS's numeric key, which problems name. */
  key: number;
}

export interface ItemRow {
  id: string;
  key: number;
  barcode: string;
  title: string;
  status: ItemStatus;
  patronId: string | null;
  dueDate: string | null;
}

export interface ChargeRow {
  id: string;
  key: number;
  patronId: string;
  itemId: string | null;
  library: string;
  reason: ChargeReason;
  amountCents: number;
  assessedAt: Date;
}

export interface PaymentRow {
  id: string;
  key: number;
  patronId: string;
  /** Always named: a connector knows which charge every payment was applied to. */
  chargeId: string;
  type: PaymentType;
  method: string;
  amountCents: number;
  paidAt: Date;
}

/** Where a driver puts what it reads; the sync service stages it and merges it set-based. */
export interface SyncSink {
  libraries(rows: readonly LibraryRow[]): Promise<void>;
  patrons(rows: readonly PatronRow[]): Promise<void>;
  items(rows: readonly ItemRow[]): Promise<void>;
  charges(rows: readonly ChargeRow[]): Promise<void>;
  /**
   * Sent before the charges they pay: a first sync writes each charge with what the payments
   * sent before it pay of it (sent after it, the charge is paid by its allocations instead,
   * one more row version each).
   */
  payments(rows: readonly PaymentRow[]): Promise<void>;
  /**
   * Patrons whose whole ledger and checkouts this sync carries: any charge, payment or item
   * link of theirs from this connector that was not sent is gone from the ILS.
   */
  scope(patronIds: readonly string[]): Promise<void>;
  /**
   * Every library and patron this sync carries has been sent; none follows. A first full sync
   * merges them then, while the reader goes on with the ledgers. Optional for a reader: one
   * that never says so has them merged after everything is read.
   */
  patronsSent?(): Promise<void>;
  /** Patrons whose checkouts (not their whole ledger) this sync carries: item links not sent are gone. */
  itemScope(patronIds: readonly string[]): Promise<void>;
  /**
   * Part of a ledger this sync carries in full, for patrons read only in part (`patrons`, whose
   * lines these are): these charges and every payment on them, and every payment of these
   * credits (`<connector>:<credit key>`). Any such payment or charge not sent is gone from the ILS.
   */
  lineScope(lines: { patrons: readonly string[]; charges: readonly string[]; credits: readonly string[] }): Promise<void>;
  /**
   * An agency fee Arrears posted (one of `ownDebits`) and the patron whose account holds it in
   * the ILS now: a patron merge moves it, and the fee's charge follows.
   */
  ownFee(chargeId: string, patronId: string): void;
  /** Patrons the ILS has deleted: never submitted again (their ledger is still synced by id). */
  deleted(patronIds: readonly string[]): Promise<void>;
  /** Codes seen that the mapping does not name (they took the default), to show staff. */
  unmapped(kind: 'charges' | 'payments' | 'methods', codes: readonly string[]): void;
  /** Rows read so far, for a progress display. */
  progress(rowsRead: number): void;
}

export interface SyncRequest {
  mode: 'full' | 'incremental';
  /** The cursor the last sync returned ({} for none). */
  cursor: Record<string, unknown>;
  /**
   * Arrears's own records in the ILS, by the ILS key of the debit: the agency fees it posted.
   * The driver maps them (and what was paid on them) to these charge ids instead of new charges.
   */
  ownDebits: ReadonlyMap<string, string>;
  /** Incremental: charges and payments Arrears holds for patrons, by patron, to read again by key. */
  knownLedger: (patronIds: readonly string[]) => Promise<Map<string, { charges: string[]; payments: string[] }>>;
  /** Incremental: which of these patrons or items Arrears holds. */
  known: (kind: 'patrons' | 'items', ids: readonly string[]) => Promise<Set<string>>;
  /** Incremental: the patrons Arrears links these items to now (returns move an item off a patron). */
  itemHolders: (itemIds: readonly string[]) => Promise<Map<string, string>>;
  /** Incremental: the items Arrears links to these patrons now, by patron. */
  heldItems: (patronIds: readonly string[]) => Promise<Map<string, string[]>>;
}

export interface IlsCodes {
  /** timeZone: the zone the ILS itself gives the library (Evergreen's inherited lib.timezone), if any. */
  libraries: { code: string; name: string; timeZone?: string }[];
  categories: { code: string; name: string }[];
  chargeTypes: { code: string; name: string }[];
  paymentTypes: { code: string; name: string }[];
  methods: { code: string; name: string }[];
}

export interface ConnectionReport {
  /** What the ILS says it is, e.g. "Koha 23.11.03.000 on MariaDB 10.11.6". */
  version: string;
  /** Each privilege the connector needs, and whether the user has it. */
  privileges: { what: string; ok: boolean }[];
  /** Counts of what a full sync would read. */
  counts: Record<string, number>;
  /** What the user may do that the connector never does: least privilege, checked (a warning, not a failure). */
  excess: string[];
  /**
   * What in the ILS's own settings undoes or weakens the write-back (the ILS lifting Arrears's
   * block by itself, a block that blocks nothing): a warning, not a failure.
   */
  warnings: string[];
}

/** One queued write, as the driver needs it. */
export interface WriteIntent {
  kind: 'block' | 'lift' | 'fee';
  idempotencyKey: string;
  /** The ILS's patron key (borrowernumber, actor.usr id). */
  patronKey: string;
  agency: string;
  /** The referral's report date. */
  date: string;
  /** fee: its amount and Arrears charge id. */
  amountCents?: number;
  chargeId?: string;
  /** lift: the ILS id of the block it lifts. */
  blockRef?: string;
  /** True when an earlier attempt may have written already (it was in flight when it stopped). */
  recovering: boolean;
}

export interface AppliedWrite {
  /** The ILS's id of what was written (for a lift: of what was removed). */
  ilsRef: string | null;
  /** What changed, as staff read it in the audit log. */
  detail: Record<string, unknown>;
}

/** The ILS refused the write for good (the patron is gone, a code does not exist): no retry. */
export class WriteRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WriteRefused';
  }
}

export interface IlsSession {
  test(): Promise<ConnectionReport>;
  codes(): Promise<IlsCodes>;
  /** Reads into the sink from one consistent snapshot of the ILS; returns the next cursor. */
  extract(request: SyncRequest, sink: SyncSink): Promise<Record<string, unknown>>;
  /** Applies one write, idempotently; throws WriteRefused for a permanent refusal. */
  apply(write: WriteIntent): Promise<AppliedWrite>;
  /**
   * Optional: runs fn, whose writes then commit together in the ILS (a refused write is rolled
   * back alone); if fn or the commit fails, none of them is written.
   */
  group?<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Of the blocks Arrears placed (their ilsRef), those still in force in the ILS: staff may lift
   * one by hand, or the ILS by itself (Koha's lift after payment), while the referral is open.
   */
  blocksInForce?(refs: readonly string[]): Promise<Set<string>>;
  close(): Promise<void>;
}

export interface ConnectorDriver {
  kind: ConnectorKind;
  /** What a stock installation of this ILS needs mapped; a library's mapping overrides it. */
  stockMapping: Mapping;
  /** The labels of the ILS's keys, for problems: the patron key is "borrowernumber" in Koha. */
  keyLabels: Record<'patrons' | 'items' | 'charges' | 'payments', string>;
  /** Opens a connection; throws IlsUnavailable when the ILS cannot be reached or refuses the user. */
  open(config: ConnectorConfig): Promise<IlsSession>;
}
