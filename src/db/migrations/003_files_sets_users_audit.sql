-- Report files and their delivery, record sets, users and permissions, the audit log.

CREATE TABLE report_files (
  id          bigserial PRIMARY KEY,
  run_id      bigint REFERENCES runs (id),
  entry_id    integer REFERENCES settings_entries (id) ON DELETE SET NULL,
  agency_id   integer NOT NULL REFERENCES agencies (id),
  kind        text NOT NULL CHECK (kind IN ('new', 'update', 'sync')),
  name        text NOT NULL UNIQUE,
  content     bytea NOT NULL,               -- stored before any delivery is tried
  sha256      text NOT NULL,
  row_count   integer NOT NULL,
  -- queued: waiting to be sent; delivered; held: waiting for staff review; none: transfer method none
  status      text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'delivered', 'held', 'none')),
  attempts    integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,
  delivered_at timestamptz,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_files_due ON report_files (next_attempt_at) WHERE status = 'queued';

CREATE TABLE transfer_attempts (
  id          bigserial PRIMARY KEY,
  file_id     bigint NOT NULL REFERENCES report_files (id),
  method      text NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz,
  ok          boolean NOT NULL,
  error       text NOT NULL DEFAULT ''
);
CREATE INDEX transfer_attempts_file ON transfer_attempts (file_id);

CREATE TABLE record_sets (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL,
  kind        text NOT NULL CHECK (kind IN ('patron', 'item')),
  source      text NOT NULL DEFAULT '',     -- the file or record set it was built from
  created_by  text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE record_set_members (
  record_set_id bigint NOT NULL REFERENCES record_sets (id) ON DELETE CASCADE,
  member_id     text NOT NULL,              -- a patron id or an item id, by the set's kind
  added_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (record_set_id, member_id)
);

CREATE TABLE users (
  id            serial PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  display_name  text NOT NULL DEFAULT '',
  password_hash text,                       -- argon2id
  active        boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE roles (
  name        text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  permissions text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE user_roles (
  user_id  integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  role     text NOT NULL REFERENCES roles (name),
  PRIMARY KEY (user_id, role)
);

CREATE TABLE sessions (
  id          text PRIMARY KEY,             -- sha256 of the cookie value
  user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);

CREATE TABLE api_tokens (
  id          serial PRIMARY KEY,
  user_id     integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  name        text NOT NULL,
  token_hash  text NOT NULL UNIQUE,         -- sha256; the token itself is shown once
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,                -- a username, 'cli:<os user>', 'scheduler'
  action      text NOT NULL,                -- e.g. settings.update, referral.refer, import.charges
  entity      text NOT NULL,
  entity_id   text NOT NULL DEFAULT '',
  before      jsonb,
  after       jsonb
);
CREATE INDEX audit_log_entity ON audit_log (entity, entity_id);
CREATE INDEX audit_log_at ON audit_log (at);

-- Scheduler bookkeeping: the last local report date each job completed, per entry.
CREATE TABLE schedule_state (
  job        text NOT NULL,                 -- 'new' or 'update'
  entry_id   integer NOT NULL REFERENCES settings_entries (id) ON DELETE CASCADE,
  last_date  date NOT NULL,
  PRIMARY KEY (job, entry_id)
);
