// Kysely's view of the tables in migrations/. Keep in step with the SQL.
import type { ColumnType, Generated, Selectable, Insertable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, Date | string>;
/** date columns come back as 'YYYY-MM-DD' strings (see connection.ts type parsers). */
type DateCol = ColumnType<string, string, string>;
type Json = ColumnType<unknown, string, string>;

export interface LibrariesTable {
  code: string;
  name: string;
  time_zone: string;
  /** The connector the library comes from; null = CSV imports. */
  connector_id: ColumnType<number | null, number | null | undefined, number | null>;
  lost_item_transition: Generated<'missing' | 'withdrawn'>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface PatronsTable {
  id: string;
  barcode: Generated<string>;
  first_name: Generated<string>;
  last_name: Generated<string>;
  address: Generated<string>;
  address2: Generated<string>;
  city: Generated<string>;
  state: Generated<string>;
  postal_code: Generated<string>;
  phone: Generated<string>;
  mobile: Generated<string>;
  alt_phone_1: Generated<string>;
  alt_phone_2: Generated<string>;
  email: Generated<string>;
  birth_date: DateCol | null;
  home_library: string;
  /** The ILS's patron category as text; a Sierra-style number as its digits (src/domain/ptype.ts). */
  ptype: string;
  patron_code: Generated<string>;
  /** UMS's "Adult or Child" as the ILS gives it; '' = from the birth date. */
  adult_or_child: Generated<string>;
  status: Generated<'active' | 'secured'>;
  in_collections: Generated<boolean>;
  blocked: Generated<boolean>;
  note: Generated<string>;
  /** The digest of the import file's line that wrote the row, while it is as that line wrote it (migration 310). */
  line_digest: Generated<Buffer | null>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export type ItemStatus = 'available' | 'checked_out' | 'lost' | 'missing' | 'withdrawn' | 'claims_returned';

export interface ItemsTable {
  id: string;
  barcode: Generated<string>;
  title: Generated<string>;
  status: ItemStatus;
  patron_id: string | null;
  due_date: DateCol | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export type ChargeReason = 'overdue' | 'replacement' | 'processing' | 'manual' | 'damage' | 'agency_fee';

export interface ChargesTable {
  id: string;
  patron_id: string;
  item_id: string | null;
  library: string;
  reason: ChargeReason;
  amount_cents: number;
  assessed_at: Timestamp;
  assessed_on: DateCol;
  referral_id: number | null;
  created_at: CreatedAt;
  /** Sum of the charge's allocations, kept by triggers on allocations (migration 170); never written directly. */
  paid_cents: ColumnType<number, never, never>;
}

export type PaymentType = 'payment' | 'waive' | 'writeoff';

export interface PaymentsTable {
  id: string;
  patron_id: string;
  charge_id: string | null;
  type: PaymentType;
  method: Generated<string>;
  amount_cents: number;
  paid_at: Timestamp;
  created_at: CreatedAt;
}

export interface AllocationsTable {
  payment_id: string;
  charge_id: string;
  patron_id: string;
  amount_cents: number;
}

export type TransferMethod = 'sftp' | 's3' | 'email' | 'folder' | 'none';

export interface AgenciesTable {
  id: Generated<number>;
  name: string;
  active: Generated<boolean>;
  transfer_method: Generated<TransferMethod>;
  transfer_config: ColumnType<Record<string, unknown>, string | undefined, string>;
  transfer_secret: string | null;
  layout: Generated<'arrears' | 'ums' | 'custom'>;
  layout_config: ColumnType<Record<string, unknown>, string | undefined, string>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface SettingsEntriesTable {
  id: Generated<number>;
  position: number;
  name: string;
  home_libraries: ColumnType<string[], string[] | undefined, string[]>;
  ptypes: ColumnType<string[], string[] | undefined, string[]>;
  exempt_patron_codes: ColumnType<string[], string[] | undefined, string[]>;
  counted_charges: Generated<'all' | 'item_fees'>;
  window_mode: Generated<'relative' | 'absolute'>;
  start_days: number | null;
  end_days: number | null;
  absolute_start: DateCol | null;
  absolute_end: DateCol | null;
  grace_days: number | null;
  fee_age_days: number | null;
  minimum_owed_cents: number;
  require_bill: Generated<boolean>;
  min_days_overdue: number | null;
  remove_if_less_than_cents: Generated<number>;
  agency_fee_cents: Generated<number>;
  agency_id: number | null;
  agency_strategy: 'least_referred_debt' | 'round_robin' | null;
  strategy_among: ColumnType<number[], number[] | undefined, number[]>;
  resubmit_after_clear: Generated<boolean>;
  auto_cancel_days: number | null;
  write_off_on_cancel: Generated<boolean>;
  base_filename: string | null;
  auto_new_submission: Generated<boolean>;
  auto_update_days: Generated<string>;
  send_empty_reports: Generated<boolean>;
  review_hours: number | null;
  email_from: Generated<string>;
  email_to: Generated<string>;
  email_cc: Generated<string>;
  email_subject: Generated<string>;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export interface RunsTable {
  id: Generated<number>;
  report_date: DateCol;
  dry_run: Generated<boolean>;
  trigger: Generated<string>;
  started_at: CreatedAt;
  finished_at: Timestamp | null;
  summary: ColumnType<unknown, string | undefined, string>;
  actor: Generated<string>;
}

export interface RunEntriesTable {
  run_id: number;
  entry_id: number;
  report_date: DateCol;
  kind: Generated<'full' | 'new' | 'update'>;
}

export type ReferralStatus = 'open' | 'cleared' | 'cancelled' | 'returned';

export interface ReferralsTable {
  id: Generated<number>;
  patron_id: string;
  agency_id: number;
  entry_id: number | null;
  status: Generated<ReferralStatus>;
  referred_on: DateCol;
  closed_on: DateCol | null;
  run_id: number | null;
  referred_cents: number;
  fee_cents: Generated<number>;
  last_reported_cents: number;
  previous_referral_id: number | null;
  withdrawn: Generated<boolean>;
  created_at: CreatedAt;
}

export type HistoryType = 'refer' | 'update' | 'cancel' | 'clear' | 'return';

export interface ReferralHistoryTable {
  id: Generated<number>;
  referral_id: number;
  patron_id: string;
  type: HistoryType;
  amount_cents: number;
  reason: Generated<string>;
  run_id: number | null;
  report_date: DateCol | null;
  at: CreatedAt;
  actor: Generated<string>;
}

export interface ExclusionsTable {
  id: Generated<number>;
  patron_id: string;
  reason: string;
  until_date: DateCol | null;
  created_by: Generated<string>;
  created_at: CreatedAt;
  lifted_at: Timestamp | null;
  lifted_by: string | null;
}

export interface FlagChangesTable {
  id: Generated<number>;
  patron_id: string;
  in_collections: boolean;
  secured: boolean;
  at: CreatedAt;
}

export interface ReportFilesTable {
  id: Generated<number>;
  run_id: number | null;
  entry_id: number | null;
  agency_id: number;
  kind: 'new' | 'update' | 'sync';
  name: string;
  content: Buffer;
  sha256: string;
  row_count: number;
  status: Generated<'queued' | 'delivered' | 'held' | 'none'>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  delivered_at: Timestamp | null;
  created_at: CreatedAt;
  /** The layout the content was written in (migration 050). */
  layout: Generated<'arrears' | 'ums' | 'custom'>;
  layout_config: ColumnType<Record<string, unknown>, string | undefined, string>;
}

export interface TransferAttemptsTable {
  id: Generated<number>;
  file_id: number;
  method: string;
  started_at: CreatedAt;
  finished_at: Timestamp | null;
  ok: boolean;
  error: Generated<string>;
  /** Where the file landed (migration 060); empty for a failed attempt. */
  remote: Generated<string>;
}

export interface RecordSetsTable {
  id: Generated<number>;
  name: string;
  kind: 'patron' | 'item';
  source: Generated<string>;
  created_by: Generated<string>;
  created_at: CreatedAt;
}

export interface RecordSetMembersTable {
  record_set_id: number;
  member_id: string;
  added_at: CreatedAt;
}

export interface UsersTable {
  id: Generated<number>;
  username: string;
  display_name: Generated<string>;
  password_hash: string | null;
  active: Generated<boolean>;
  created_at: CreatedAt;
  /** Encrypted TOTP secret (migration 250); in force once totp_enabled_at is set. */
  totp_secret: string | null;
  totp_enabled_at: Timestamp | null;
  /** The time step of the last code accepted: no code is accepted twice. */
  totp_last_step: number | null;
}

export interface UserRecoveryCodesTable {
  user_id: number;
  /** sha256 of the normalised code; the code itself is shown once. */
  code_hash: string;
  created_at: CreatedAt;
  used_at: Timestamp | null;
}

export interface RolesTable {
  name: string;
  description: Generated<string>;
  permissions: ColumnType<string[], string[] | undefined, string[]>;
  /** Defined in src/domain/permissions.ts and seeded by migration 090; not editable by staff. */
  built_in: Generated<boolean>;
}

export interface UserRolesTable {
  user_id: number;
  role: string;
}

export interface SessionsTable {
  id: string;
  user_id: number;
  created_at: CreatedAt;
  expires_at: Timestamp;
  /** For the idle expiry (migration 090). */
  last_seen_at: CreatedAt;
}

export interface ApiTokensTable {
  id: Generated<number>;
  user_id: number;
  name: string;
  token_hash: string;
  created_at: CreatedAt;
  revoked_at: Timestamp | null;
  /** Migration 090. */
  last_used_at: Timestamp | null;
}

export interface AuditLogTable {
  id: Generated<number>;
  at: CreatedAt;
  actor: string;
  action: string;
  entity: string;
  entity_id: Generated<string>;
  before: Json | null;
  after: Json | null;
}

export interface AttentionAlertsTable {
  key: string;
  first_seen_at: Date;
  last_sent_at: Date;
}

/** The server whose background loop passed last (migration 320): one row, id 1. */
export interface SchedulerHeartbeatTable {
  id: number;
  /** HH:MM: that server's ARREARS_SCHEDULE_TIME. */
  run_time: string;
  host: string;
  pid: number;
  beat_at: Date;
}

export interface ScheduleStateTable {
  job: string;
  entry_id: number;
  last_date: DateCol;
}

export interface ConnectorsTable {
  id: Generated<number>;
  name: string;
  kind: 'koha' | 'evergreen';
  url_secret: string;
  location: Generated<string>;
  time_zone: string;
  read_only: Generated<boolean>;
  options: ColumnType<unknown, string | undefined, string>;
  mapping: ColumnType<unknown, string | undefined, string>;
  sync_cursor: ColumnType<unknown, string | undefined, string>;
  last_sync_at: Timestamp | null;
  last_full_sync_at: Timestamp | null;
  last_sync: Json | null;
  created_at: CreatedAt;
  updated_at: CreatedAt;
}

export type WriteKind = 'block' | 'lift' | 'fee';
export type WriteStatus = 'pending' | 'applying' | 'applied' | 'failed' | 'skipped';

export interface ConnectorWritesTable {
  id: Generated<number>;
  connector_id: number;
  kind: WriteKind;
  patron_id: string;
  referral_id: number;
  charge_id: string | null;
  amount_cents: number | null;
  idempotency_key: string;
  status: Generated<WriteStatus>;
  attempts: Generated<number>;
  next_attempt_at: Timestamp | null;
  last_error: string | null;
  ils_ref: string | null;
  detail: ColumnType<unknown, string | undefined, string>;
  queued_txid: Generated<number>;
  created_at: CreatedAt;
  applied_at: Timestamp | null;
}

export interface DB {
  connectors: ConnectorsTable;
  connector_writes: ConnectorWritesTable;
  libraries: LibrariesTable;
  patrons: PatronsTable;
  items: ItemsTable;
  charges: ChargesTable;
  payments: PaymentsTable;
  allocations: AllocationsTable;
  agencies: AgenciesTable;
  settings_entries: SettingsEntriesTable;
  runs: RunsTable;
  run_entries: RunEntriesTable;
  referrals: ReferralsTable;
  referral_history: ReferralHistoryTable;
  exclusions: ExclusionsTable;
  flag_changes: FlagChangesTable;
  report_files: ReportFilesTable;
  transfer_attempts: TransferAttemptsTable;
  record_sets: RecordSetsTable;
  record_set_members: RecordSetMembersTable;
  users: UsersTable;
  roles: RolesTable;
  user_roles: UserRolesTable;
  sessions: SessionsTable;
  api_tokens: ApiTokensTable;
  user_recovery_codes: UserRecoveryCodesTable;
  audit_log: AuditLogTable;
  schedule_state: ScheduleStateTable;
  scheduler_heartbeat: SchedulerHeartbeatTable;
  attention_alerts: AttentionAlertsTable;
}

export type Patron = Selectable<PatronsTable>;
export type Charge = Selectable<ChargesTable>;
export type NewCharge = Insertable<ChargesTable>;
export type SettingsRow = Selectable<SettingsEntriesTable>;
export type Agency = Selectable<AgenciesTable>;
export type Referral = Selectable<ReferralsTable>;
