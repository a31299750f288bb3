-- Agencies, the Collection Agency Settings table, referrals and the runs that make them.

CREATE TABLE agencies (
  id              serial PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  active          boolean NOT NULL DEFAULT true,
  transfer_method text NOT NULL DEFAULT 'none' CHECK (transfer_method IN ('sftp', 's3', 'email', 'folder', 'none')),
  transfer_config jsonb NOT NULL DEFAULT '{}'::jsonb, -- host, port, folder, bucket, addresses: nothing secret
  -- AES-256-GCM ciphertext of the transfer secrets (password, private key, S3 secret); never stored in clear
  transfer_secret text,
  layout          text NOT NULL DEFAULT 'arrears' CHECK (layout IN ('arrears', 'ums', 'custom')),
  layout_config   jsonb NOT NULL DEFAULT '{}'::jsonb,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- One row of the Collection Agency Settings table. Entry order (position) decides which
-- entry applies to a patron: the first whose home libraries and PTYPEs match.
CREATE TABLE settings_entries (
  id                 serial PRIMARY KEY,
  position           integer NOT NULL,
  name               text NOT NULL,
  home_libraries     text[] NOT NULL DEFAULT '{}',   -- empty = every library
  ptypes             integer[] NOT NULL DEFAULT '{}', -- empty = every PTYPE
  exempt_patron_codes text[] NOT NULL DEFAULT '{}',
  counted_charges    text NOT NULL DEFAULT 'all' CHECK (counted_charges IN ('all', 'item_fees')),
  window_mode        text NOT NULL DEFAULT 'relative' CHECK (window_mode IN ('relative', 'absolute')),
  start_days         integer,   -- relative: null = no lower bound
  end_days           integer,   -- relative: null = no upper bound
  absolute_start     date,      -- absolute: null = 1970-01-01
  absolute_end       date,      -- absolute: null = the report date
  grace_days         integer,   -- absolute only: the last N days (report date = day 1) do not count
  fee_age_days       integer,   -- Polaris: a charge counts once it is this many days old
  minimum_owed_cents bigint NOT NULL,
  require_bill       boolean NOT NULL DEFAULT false,
  min_days_overdue   integer,   -- legacy model: some linked item at least this many days past due
  remove_if_less_than_cents bigint NOT NULL DEFAULT 0, -- 0 removes owing <= 0; X > 0 removes owing < X
  agency_fee_cents   bigint NOT NULL DEFAULT 0,
  agency_id          integer REFERENCES agencies (id),
  agency_strategy    text CHECK (agency_strategy IN ('least_referred_debt', 'round_robin')),
  strategy_among     integer[] NOT NULL DEFAULT '{}', -- agencies the strategy picks from; empty = all active
  resubmit_after_clear boolean NOT NULL DEFAULT false, -- Polaris: never; Sierra: yes
  auto_cancel_days   integer,
  write_off_on_cancel boolean NOT NULL DEFAULT false,
  base_filename      text UNIQUE,                     -- null = the entry id
  auto_new_submission boolean NOT NULL DEFAULT false,
  auto_update_days   text NOT NULL DEFAULT '',        -- Sierra weekday spec: '1,4' or '1-4', 1 = Sunday
  send_empty_reports boolean NOT NULL DEFAULT true,
  review_hours       integer,                          -- hold New Submissions this long for staff review
  email_from         text NOT NULL DEFAULT '',
  email_to           text NOT NULL DEFAULT '',
  email_cc           text NOT NULL DEFAULT '',
  email_subject      text NOT NULL DEFAULT '',
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (agency_id IS NOT NULL OR agency_strategy IS NOT NULL)
);
CREATE UNIQUE INDEX settings_entries_position ON settings_entries (position);

CREATE TABLE runs (
  id           bigserial PRIMARY KEY,
  report_date  date NOT NULL,
  dry_run      boolean NOT NULL DEFAULT false,
  trigger      text NOT NULL DEFAULT 'manual',   -- manual, schedule, api
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz,
  summary      jsonb NOT NULL DEFAULT '{}'::jsonb,
  actor        text NOT NULL DEFAULT ''
);
CREATE INDEX runs_report_date ON runs (report_date);

-- Idempotency: one row per report date and settings entry, written in the run's transaction.
CREATE TABLE run_entries (
  run_id      bigint NOT NULL REFERENCES runs (id),
  entry_id    integer NOT NULL REFERENCES settings_entries (id) ON DELETE CASCADE,
  report_date date NOT NULL,
  kind        text NOT NULL DEFAULT 'full' CHECK (kind IN ('full', 'new', 'update')),
  PRIMARY KEY (report_date, entry_id, kind)
);

CREATE TABLE referrals (
  id            bigserial PRIMARY KEY,
  patron_id     text NOT NULL REFERENCES patrons (id),
  agency_id     integer NOT NULL REFERENCES agencies (id),
  entry_id      integer REFERENCES settings_entries (id) ON DELETE SET NULL,
  status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cleared', 'cancelled', 'returned')),
  referred_on   date NOT NULL,                 -- the report date of the New Submission
  closed_on     date,
  run_id        bigint REFERENCES runs (id),
  referred_cents bigint NOT NULL,              -- amount referred, including the agency fee
  fee_cents     bigint NOT NULL DEFAULT 0,
  last_reported_cents bigint NOT NULL,         -- balance in the last report sent to the agency
  previous_referral_id bigint REFERENCES referrals (id), -- set when re-referred to a second agency
  created_at    timestamptz NOT NULL DEFAULT now()
);
-- Once only: a patron has at most one open referral.
CREATE UNIQUE INDEX referrals_one_open ON referrals (patron_id) WHERE status = 'open';
CREATE INDEX referrals_patron ON referrals (patron_id);
CREATE INDEX referrals_agency_open ON referrals (agency_id) WHERE status = 'open';

-- Append-only: every change to a referral, with the amount at that moment.
CREATE TABLE referral_history (
  id           bigserial PRIMARY KEY,
  referral_id  bigint NOT NULL REFERENCES referrals (id),
  patron_id    text NOT NULL,
  type         text NOT NULL CHECK (type IN ('refer', 'update', 'cancel', 'clear', 'return')),
  amount_cents bigint NOT NULL,
  reason       text NOT NULL DEFAULT '',     -- paid, waived, new charge, removed, cancelled, returned
  run_id       bigint REFERENCES runs (id),
  report_date  date,
  at           timestamptz NOT NULL DEFAULT now(),
  actor        text NOT NULL DEFAULT ''
);
CREATE INDEX referral_history_referral ON referral_history (referral_id);
CREATE INDEX referral_history_patron ON referral_history (patron_id);

-- Patrons the engine must not submit (staff review: "Exclude now"), until a date or lifted.
CREATE TABLE exclusions (
  id          bigserial PRIMARY KEY,
  patron_id   text NOT NULL REFERENCES patrons (id),
  reason      text NOT NULL,
  until_date  date,
  created_by  text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now(),
  lifted_at   timestamptz,
  lifted_by   text
);
CREATE INDEX exclusions_patron ON exclusions (patron_id) WHERE lifted_at IS NULL;

-- Changes of the flags the ILS pulls back (in collections, secured), for `flags export --since`.
CREATE TABLE flag_changes (
  id             bigserial PRIMARY KEY,
  patron_id      text NOT NULL,
  in_collections boolean NOT NULL,
  secured        boolean NOT NULL,
  at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX flag_changes_at ON flag_changes (at);
