// Evergreen's tables as the connector meets them, written for these tests from Evergreen's
// documented schema (target 3.17; Open-ILS/src/sql/Pg in Evergreen's repository): schema,
// table and column names, types, NOT NULL columns, defaults, keys, foreign keys with their deferral and ON DELETE actions, the money tables' inheritance, and the stock rows
// (org unit types and example org units, permission groups, standing penalties, billing types,
// copy statuses, refundable-payment flags). Columns the connector never reads are kept where
// they are NOT NULL or carry a key, so an INSERT that forgets one fails here as it would in a
// real Evergreen.
//
// The behaviour Evergreen keeps in the database is re-implemented here from its documented
// effect, not copied: the materialized billable-transaction summary kept by row triggers
// (per transaction, billing and payment table), a credit balance cut back by the payments of
// kinds config.global_flag marks not refundable (a variant, not what Evergreen's stock summary
// triggers do: they leave a credit whole; the property test runs both), billing_ts maintained from period_end/create_date,
// last_update_time stamped on every actor.usr write, DELETE on actor.usr and
// actor.usr_message turned into a deleted flag, due dates of day loans pushed to 23:59:59 in
// the library's lib.timezone, and the payment-by-billing-type table rebuilt per transaction
// (simplified: payments spread over billings oldest first). The functions are ordinary
// (not SECURITY DEFINER), so a writer needs the privileges their statements need, as in
// Evergreen.

export const EVERGREEN_SCHEMAS = ['evergreen', 'config', 'actor', 'permission', 'money', 'action', 'asset', 'biblio'] as const;

export const EVERGREEN_TABLES = `
CREATE SCHEMA evergreen;
CREATE SCHEMA config;
CREATE SCHEMA actor;
CREATE SCHEMA permission;
CREATE SCHEMA money;
CREATE SCHEMA action;
CREATE SCHEMA asset;
CREATE SCHEMA biblio;

CREATE FUNCTION evergreen.is_json(text) RETURNS boolean LANGUAGE plpgsql IMMUTABLE AS $f$
BEGIN
  PERFORM $1::json;
  RETURN TRUE;
EXCEPTION WHEN others THEN
  RETURN FALSE;
END $f$;

-- config ------------------------------------------------------------------------------------

CREATE TABLE config.internal_flag (
  name    TEXT PRIMARY KEY,
  value   TEXT,
  enabled BOOL NOT NULL DEFAULT FALSE
);
CREATE TABLE config.global_flag (
  label TEXT NOT NULL
) INHERITS (config.internal_flag);
ALTER TABLE config.global_flag ADD PRIMARY KEY (name);

CREATE TABLE config.upgrade_log (
  version      TEXT PRIMARY KEY,
  install_date TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  applied_to   TEXT
);

CREATE TABLE config.standing (
  id    SERIAL PRIMARY KEY,
  value TEXT NOT NULL UNIQUE
);

CREATE TABLE config.identification_type (
  id   SERIAL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE config.net_access_level (
  id   SERIAL PRIMARY KEY,
  name TEXT NOT NULL UNIQUE
);

CREATE TABLE config.standing_penalty (
  id               SERIAL PRIMARY KEY,
  name             TEXT NOT NULL UNIQUE,
  label            TEXT NOT NULL,
  block_list       TEXT,
  staff_alert      BOOL NOT NULL DEFAULT FALSE,
  org_depth        INTEGER,
  ignore_proximity INTEGER
);

CREATE TABLE config.billing_type (
  id            SERIAL PRIMARY KEY,
  name          TEXT NOT NULL,
  owner         INT NOT NULL,
  default_price NUMERIC(6,2),
  CONSTRAINT billing_type_once_per_lib UNIQUE (name, owner)
);

CREATE TABLE config.copy_status (
  id                   SERIAL PRIMARY KEY,
  name                 TEXT NOT NULL UNIQUE,
  holdable             BOOL NOT NULL DEFAULT FALSE,
  opac_visible         BOOL NOT NULL DEFAULT FALSE,
  copy_active          BOOL NOT NULL DEFAULT FALSE,
  restrict_copy_delete BOOL NOT NULL DEFAULT FALSE,
  is_available         BOOL NOT NULL DEFAULT FALSE,
  hopeless_prone       BOOL NOT NULL DEFAULT FALSE
);

CREATE TABLE config.org_unit_setting_type (
  name        TEXT PRIMARY KEY,
  label       TEXT NOT NULL,
  grp         TEXT,
  description TEXT,
  datatype    TEXT NOT NULL DEFAULT 'string'
);

-- permission groups (patron profiles) -----------------------------------------------------

CREATE TABLE permission.grp_tree (
  id                      SERIAL PRIMARY KEY,
  name                    TEXT NOT NULL UNIQUE,
  parent                  INT REFERENCES permission.grp_tree (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  usergroup               BOOL NOT NULL DEFAULT TRUE,
  perm_interval           INTERVAL NOT NULL DEFAULT '3 years'::interval,
  temporary_perm_interval INTERVAL,
  description             TEXT,
  application_perm        TEXT,
  hold_priority           INT NOT NULL DEFAULT 0,
  mfa_allowed             BOOL NOT NULL DEFAULT FALSE,
  mfa_required            BOOL NOT NULL DEFAULT FALSE,
  erenew                  BOOL NOT NULL DEFAULT FALSE
);

-- org units -------------------------------------------------------------------------------

CREATE TABLE actor.org_unit_type (
  id             SERIAL PRIMARY KEY,
  name           TEXT NOT NULL,
  opac_label     TEXT NOT NULL,
  depth          INT NOT NULL,
  parent         INT REFERENCES actor.org_unit_type (id) DEFERRABLE INITIALLY DEFERRED,
  can_have_vols  BOOL NOT NULL DEFAULT TRUE,
  can_have_users BOOL NOT NULL DEFAULT TRUE
);

CREATE TABLE actor.org_unit (
  id                    SERIAL PRIMARY KEY,
  parent_ou             INT REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED,
  ou_type               INT NOT NULL REFERENCES actor.org_unit_type (id) DEFERRABLE INITIALLY DEFERRED,
  ill_address           INT,
  holds_address         INT,
  mailing_address       INT,
  billing_address       INT,
  shortname             TEXT NOT NULL UNIQUE,
  name                  TEXT NOT NULL UNIQUE,
  email                 TEXT,
  phone                 TEXT,
  opac_visible          BOOL NOT NULL DEFAULT TRUE,
  fiscal_calendar       INT NOT NULL DEFAULT 1,
  staff_catalog_visible BOOL NOT NULL DEFAULT TRUE
);
CREATE INDEX actor_org_unit_parent_ou_idx ON actor.org_unit (parent_ou);

-- A parent chain may not loop, nor run deeper than 100 levels.
CREATE FUNCTION actor.org_unit_parent_protect() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  cur  INT := NEW.parent_ou;
  hops INT := 0;
BEGIN
  WHILE cur IS NOT NULL LOOP
    IF cur = NEW.id THEN RAISE EXCEPTION 'org unit % would be its own ancestor', NEW.id; END IF;
    hops := hops + 1;
    IF hops > 100 THEN RAISE EXCEPTION 'org unit % is more than 100 levels deep', NEW.id; END IF;
    SELECT parent_ou INTO cur FROM actor.org_unit WHERE id = cur;
  END LOOP;
  RETURN NEW;
END $f$;
CREATE TRIGGER actor_org_unit_parent_protect_trigger BEFORE INSERT OR UPDATE ON actor.org_unit
  FOR EACH ROW EXECUTE FUNCTION actor.org_unit_parent_protect();

-- Settings values are JSON text: a time zone is stored as "America/Chicago", quotes included.
CREATE TABLE actor.org_unit_setting (
  id       BIGSERIAL PRIMARY KEY,
  org_unit INT NOT NULL REFERENCES actor.org_unit (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  name     TEXT NOT NULL REFERENCES config.org_unit_setting_type (name) DEFERRABLE INITIALLY DEFERRED,
  value    TEXT NOT NULL,
  CONSTRAINT aous_must_be_json CHECK (evergreen.is_json(value)),
  CONSTRAINT ou_once_per_key UNIQUE (org_unit, name)
);

-- A fine threshold at which Evergreen's own penalty recalculation applies (and removes) a penalty.
CREATE TABLE permission.grp_penalty_threshold (
  id        SERIAL PRIMARY KEY,
  grp       INT NOT NULL REFERENCES permission.grp_tree (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  org_unit  INT NOT NULL REFERENCES actor.org_unit (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  penalty   INT NOT NULL REFERENCES config.standing_penalty (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  threshold NUMERIC(8,2) NOT NULL,
  CONSTRAINT penalty_grp_once UNIQUE (grp, org_unit, penalty)
);

CREATE TABLE actor.workstation (
  id         SERIAL PRIMARY KEY,
  name       TEXT NOT NULL UNIQUE,
  owning_lib INT NOT NULL REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED
);

-- patrons ---------------------------------------------------------------------------------

CREATE TABLE actor.usr (
  id                             SERIAL PRIMARY KEY,
  card                           INT UNIQUE,
  profile                        INT NOT NULL,
  usrname                        TEXT NOT NULL UNIQUE,
  email                          TEXT,
  passwd                         TEXT NOT NULL,
  standing                       INT NOT NULL DEFAULT 1,
  ident_type                     INT NOT NULL,
  ident_value                    TEXT,
  ident_type2                    INT,
  ident_value2                   TEXT,
  net_access_level               INT NOT NULL DEFAULT 1,
  photo_url                      TEXT,
  prefix                         TEXT,
  first_given_name               TEXT NOT NULL,
  second_given_name              TEXT,
  family_name                    TEXT NOT NULL,
  suffix                         TEXT,
  guardian                       TEXT,
  pref_prefix                    TEXT,
  pref_first_given_name          TEXT,
  pref_second_given_name         TEXT,
  pref_family_name               TEXT,
  pref_suffix                    TEXT,
  name_keywords                  TEXT,
  name_kw_tsvector               TSVECTOR,
  alias                          TEXT,
  day_phone                      TEXT,
  evening_phone                  TEXT,
  other_phone                    TEXT,
  mailing_address                INT,
  billing_address                INT,
  home_ou                        INT NOT NULL,
  dob                            DATE,
  active                         BOOL NOT NULL DEFAULT TRUE,
  master_account                 BOOL NOT NULL DEFAULT FALSE,
  super_user                     BOOL NOT NULL DEFAULT FALSE,
  barred                         BOOL NOT NULL DEFAULT FALSE,
  deleted                        BOOL NOT NULL DEFAULT FALSE,
  juvenile                       BOOL NOT NULL DEFAULT FALSE,
  usrgroup                       SERIAL NOT NULL,
  claims_returned_count          INT NOT NULL DEFAULT 0,
  credit_forward_balance         NUMERIC(6,2) NOT NULL DEFAULT 0.00,
  last_xact_id                   TEXT NOT NULL DEFAULT 'none',
  create_date                    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT now(),
  expire_date                    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT (now() + '3 years'::interval),
  claims_never_checked_out_count INT NOT NULL DEFAULT 0,
  last_update_time               TIMESTAMP WITH TIME ZONE,
  locale                         TEXT,
  guardian_email                 TEXT
);
CREATE INDEX actor_usr_home_ou_idx ON actor.usr (home_ou);
CREATE INDEX actor_usr_mailing_address_idx ON actor.usr (mailing_address);
CREATE INDEX actor_usr_billing_address_idx ON actor.usr (billing_address);

-- Every insert and update of a patron stamps last_update_time (Arrears's incremental watermark).
CREATE FUNCTION actor.au_updated() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  NEW.last_update_time := now();
  RETURN NEW;
END $f$;
CREATE TRIGGER au_update_trig BEFORE INSERT OR UPDATE ON actor.usr FOR EACH ROW EXECUTE FUNCTION actor.au_updated();

-- Patrons are never deleted by SQL: a DELETE marks the row deleted.
CREATE RULE protect_user_delete AS ON DELETE TO actor.usr DO INSTEAD
  UPDATE actor.usr SET deleted = TRUE WHERE OLD.id = actor.usr.id;

CREATE TABLE actor.card (
  id      SERIAL PRIMARY KEY,
  usr     INT NOT NULL,
  barcode TEXT NOT NULL UNIQUE,
  active  BOOL NOT NULL DEFAULT TRUE
);
CREATE INDEX actor_card_usr_idx ON actor.card (usr);

CREATE TABLE actor.usr_address (
  id                 SERIAL PRIMARY KEY,
  valid              BOOL NOT NULL DEFAULT TRUE,
  within_city_limits BOOL NOT NULL DEFAULT TRUE,
  address_type       TEXT NOT NULL DEFAULT 'MAILING',
  usr                INT NOT NULL,
  street1            TEXT NOT NULL,
  street2            TEXT,
  city               TEXT NOT NULL,
  county             TEXT,
  state              TEXT,
  country            TEXT NOT NULL,
  post_code          TEXT NOT NULL,
  pending            BOOL NOT NULL DEFAULT FALSE,
  replaces           INT REFERENCES actor.usr_address (id) DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX actor_usr_addr_usr_idx ON actor.usr_address (usr);

ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_profile_fkey FOREIGN KEY (profile) REFERENCES permission.grp_tree (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_home_ou_fkey FOREIGN KEY (home_ou) REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_mailing_address_fkey FOREIGN KEY (mailing_address) REFERENCES actor.usr_address (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_billing_address_fkey FOREIGN KEY (billing_address) REFERENCES actor.usr_address (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_standing_fkey FOREIGN KEY (standing) REFERENCES config.standing (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_ident_type_fkey FOREIGN KEY (ident_type) REFERENCES config.identification_type (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_ident_type2_fkey FOREIGN KEY (ident_type2) REFERENCES config.identification_type (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr ADD CONSTRAINT actor_usr_net_access_level_fkey FOREIGN KEY (net_access_level) REFERENCES config.net_access_level (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.card ADD CONSTRAINT actor_card_usr_fkey FOREIGN KEY (usr) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE actor.usr_address ADD CONSTRAINT actor_usr_address_usr_fkey FOREIGN KEY (usr) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;

-- notes and standing penalties (3.7+: a penalty's note is a linked actor.usr_message) ------

CREATE TABLE actor.usr_message (
  id          SERIAL PRIMARY KEY,
  usr         INT NOT NULL REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED,
  title       TEXT,
  message     TEXT NOT NULL,
  create_date TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  deleted     BOOL NOT NULL DEFAULT FALSE,
  read_date   TIMESTAMP WITH TIME ZONE,
  sending_lib INT NOT NULL REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED,
  pub         BOOL NOT NULL DEFAULT FALSE,
  stop_date   TIMESTAMP WITH TIME ZONE,
  editor      BIGINT REFERENCES actor.usr (id),
  edit_date   TIMESTAMP WITH TIME ZONE
);
CREATE INDEX aum_usr ON actor.usr_message (usr);
CREATE RULE protect_usr_message_delete AS ON DELETE TO actor.usr_message DO INSTEAD
  UPDATE actor.usr_message SET deleted = TRUE WHERE OLD.id = actor.usr_message.id;

CREATE TABLE actor.usr_standing_penalty (
  id               SERIAL PRIMARY KEY,
  org_unit         INT NOT NULL REFERENCES actor.org_unit (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  usr              INT NOT NULL REFERENCES actor.usr (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  standing_penalty INT NOT NULL REFERENCES config.standing_penalty (id) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED,
  staff            INT REFERENCES actor.usr (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  set_date         TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  stop_date        TIMESTAMP WITH TIME ZONE,
  usr_message      BIGINT REFERENCES actor.usr_message (id)
);
-- Since 3.7 penalties and messages share one id sequence, so their ids never collide.
ALTER TABLE actor.usr_standing_penalty ALTER COLUMN id SET DEFAULT nextval('actor.usr_message_id_seq'::regclass);
CREATE INDEX actor_usr_standing_penalty_usr_idx ON actor.usr_standing_penalty (usr);
CREATE INDEX actor_usr_standing_penalty_staff_idx ON actor.usr_standing_penalty (staff);
CREATE INDEX usr_standing_penalty_usr_message_idx ON actor.usr_standing_penalty (usr_message);

-- bibliographic records, call numbers, copies -------------------------------------------

CREATE TABLE biblio.record_entry (
  id           BIGSERIAL PRIMARY KEY,
  creator      INT NOT NULL DEFAULT 1,
  editor       INT NOT NULL DEFAULT 1,
  source       INT,
  quality      INT,
  create_date  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  edit_date    TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  active       BOOL NOT NULL DEFAULT TRUE,
  deleted      BOOL NOT NULL DEFAULT FALSE,
  fingerprint  TEXT,
  tcn_source   TEXT NOT NULL DEFAULT 'AUTOGEN',
  tcn_value    TEXT NOT NULL,
  marc         TEXT NOT NULL,
  last_xact_id TEXT NOT NULL,
  owner        INT,
  share_depth  INT
);

CREATE TABLE asset.copy_location (
  id         SERIAL PRIMARY KEY,
  name       TEXT NOT NULL,
  owning_lib INT NOT NULL REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED,
  holdable   BOOL NOT NULL DEFAULT TRUE,
  opac_visible BOOL NOT NULL DEFAULT TRUE,
  circulate  BOOL NOT NULL DEFAULT TRUE,
  deleted    BOOL NOT NULL DEFAULT FALSE
);

CREATE TABLE asset.call_number_class (
  id         BIGSERIAL PRIMARY KEY,
  name       TEXT NOT NULL,
  normalizer TEXT NOT NULL DEFAULT 'asset.normalize_generic',
  field      TEXT NOT NULL DEFAULT '050ab,055ab,060ab,070ab,080ab,082ab,086ab,088ab,090,092,096,098,099'
);

CREATE TABLE asset.call_number_prefix (
  id            SERIAL PRIMARY KEY,
  owning_lib    INT NOT NULL REFERENCES actor.org_unit (id),
  label         TEXT NOT NULL,
  label_sortkey TEXT
);

CREATE TABLE asset.call_number_suffix (
  id            SERIAL PRIMARY KEY,
  owning_lib    INT NOT NULL REFERENCES actor.org_unit (id),
  label         TEXT NOT NULL,
  label_sortkey TEXT
);

CREATE TABLE asset.call_number (
  id            BIGSERIAL PRIMARY KEY,
  creator       BIGINT NOT NULL,
  create_date   TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  editor        BIGINT NOT NULL,
  edit_date     TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  record        BIGINT NOT NULL,
  owning_lib    INT NOT NULL,
  label         TEXT NOT NULL,
  deleted       BOOL NOT NULL DEFAULT FALSE,
  prefix        INT NOT NULL DEFAULT -1 REFERENCES asset.call_number_prefix (id) DEFERRABLE INITIALLY DEFERRED,
  suffix        INT NOT NULL DEFAULT -1 REFERENCES asset.call_number_suffix (id) DEFERRABLE INITIALLY DEFERRED,
  label_class   BIGINT NOT NULL REFERENCES asset.call_number_class (id) DEFERRABLE INITIALLY DEFERRED,
  label_sortkey TEXT
);
CREATE INDEX asset_call_number_record_idx ON asset.call_number (record);
ALTER TABLE asset.call_number ADD CONSTRAINT asset_call_number_record_fkey FOREIGN KEY (record) REFERENCES biblio.record_entry (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.call_number ADD CONSTRAINT asset_call_number_owning_lib_fkey FOREIGN KEY (owning_lib) REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.call_number ADD CONSTRAINT asset_call_number_creator_fkey FOREIGN KEY (creator) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.call_number ADD CONSTRAINT asset_call_number_editor_fkey FOREIGN KEY (editor) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE asset.copy (
  id                  BIGSERIAL PRIMARY KEY,
  circ_lib            INT NOT NULL,
  creator             BIGINT NOT NULL,
  call_number         BIGINT NOT NULL,
  editor              BIGINT NOT NULL,
  create_date         TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  edit_date           TIMESTAMP WITH TIME ZONE DEFAULT NOW(),
  copy_number         INT,
  status              INT NOT NULL DEFAULT 0,
  location            INT NOT NULL DEFAULT 1,
  loan_duration       INT NOT NULL CHECK (loan_duration IN (1, 2, 3)),
  fine_level          INT NOT NULL CHECK (fine_level IN (1, 2, 3)),
  age_protect         INT,
  circulate           BOOL NOT NULL DEFAULT TRUE,
  deposit             BOOL NOT NULL DEFAULT FALSE,
  ref                 BOOL NOT NULL DEFAULT FALSE,
  holdable            BOOL NOT NULL DEFAULT TRUE,
  deposit_amount      NUMERIC(6,2) NOT NULL DEFAULT 0.00,
  price               NUMERIC(8,2),
  barcode             TEXT NOT NULL,
  circ_modifier       TEXT,
  circ_as_type        TEXT,
  dummy_title         TEXT,
  dummy_author        TEXT,
  alert_message       TEXT,
  opac_visible        BOOL NOT NULL DEFAULT TRUE,
  deleted             BOOL NOT NULL DEFAULT FALSE,
  floating            INT,
  dummy_isbn          TEXT,
  status_changed_time TIMESTAMP WITH TIME ZONE,
  active_date         TIMESTAMP WITH TIME ZONE,
  mint_condition      BOOL NOT NULL DEFAULT TRUE,
  cost                NUMERIC(8,2)
);
CREATE UNIQUE INDEX copy_barcode_key ON asset.copy (barcode) WHERE deleted = FALSE OR deleted IS FALSE;
CREATE INDEX cp_cn_idx ON asset.copy (call_number);
CREATE INDEX cp_status_changed_time_idx ON asset.copy (status_changed_time);
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_circ_lib_fkey FOREIGN KEY (circ_lib) REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_call_number_fkey FOREIGN KEY (call_number) REFERENCES asset.call_number (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_status_fkey FOREIGN KEY (status) REFERENCES config.copy_status (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_location_fkey FOREIGN KEY (location) REFERENCES asset.copy_location (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_creator_fkey FOREIGN KEY (creator) REFERENCES actor.usr (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE asset.copy ADD CONSTRAINT asset_copy_editor_fkey FOREIGN KEY (editor) REFERENCES actor.usr (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

-- A status change is timed.
CREATE FUNCTION asset.acp_status_changed() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.status IS DISTINCT FROM OLD.status THEN NEW.status_changed_time := now(); END IF;
  RETURN NEW;
END $f$;
CREATE TRIGGER acp_status_changed_trig BEFORE INSERT OR UPDATE ON asset.copy FOR EACH ROW EXECUTE FUNCTION asset.acp_status_changed();
CREATE RULE protect_copy_delete AS ON DELETE TO asset.copy DO INSTEAD
  UPDATE asset.copy SET deleted = TRUE WHERE OLD.id = asset.copy.id;

-- money: billable transactions and their children by inheritance --------------------------

CREATE TABLE money.billable_xact (
  id          BIGSERIAL PRIMARY KEY,
  usr         INT NOT NULL,
  xact_start  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  xact_finish TIMESTAMP WITH TIME ZONE,
  unrecovered BOOL
);
CREATE INDEX m_b_x_open_xacts_idx ON money.billable_xact (usr);
ALTER TABLE money.billable_xact ADD CONSTRAINT money_billable_xact_usr_fkey FOREIGN KEY (usr) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;

CREATE TABLE money.grocery (
  billing_location INT NOT NULL,
  note             TEXT
) INHERITS (money.billable_xact);
ALTER TABLE money.grocery ADD PRIMARY KEY (id);
CREATE INDEX circ_open_date_idx ON money.grocery (xact_start) WHERE xact_finish IS NULL;
CREATE INDEX m_g_usr_idx ON money.grocery (usr);

CREATE TABLE action.circulation (
  target_copy            BIGINT NOT NULL,
  circ_lib               INT NOT NULL,
  circ_staff             INT NOT NULL,
  checkin_staff          INT,
  checkin_lib            INT,
  renewal_remaining      INT NOT NULL,
  grace_period           INTERVAL NOT NULL,
  due_date               TIMESTAMP WITH TIME ZONE,
  stop_fines_time        TIMESTAMP WITH TIME ZONE,
  checkin_time           TIMESTAMP WITH TIME ZONE,
  create_time            TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  duration               INTERVAL,
  fine_interval          INTERVAL NOT NULL DEFAULT '1 day'::interval,
  recurring_fine         NUMERIC(6,2),
  max_fine               NUMERIC(6,2),
  phone_renewal          BOOL NOT NULL DEFAULT FALSE,
  desk_renewal           BOOL NOT NULL DEFAULT FALSE,
  opac_renewal           BOOL NOT NULL DEFAULT FALSE,
  duration_rule          TEXT NOT NULL,
  recurring_fine_rule    TEXT NOT NULL,
  max_fine_rule          TEXT NOT NULL,
  stop_fines             TEXT CHECK (stop_fines IN ('CHECKIN', 'CLAIMSRETURNED', 'LOST', 'MAXFINES', 'RENEW', 'LONGOVERDUE', 'CLAIMSNEVERCHECKEDOUT')),
  workstation            INT REFERENCES actor.workstation (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  checkin_workstation    INT REFERENCES actor.workstation (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
  copy_location          INT NOT NULL DEFAULT 1 REFERENCES asset.copy_location (id) DEFERRABLE INITIALLY DEFERRED,
  checkin_scan_time      TIMESTAMP WITH TIME ZONE,
  auto_renewal           BOOLEAN NOT NULL DEFAULT FALSE,
  auto_renewal_remaining INTEGER
) INHERITS (money.billable_xact);
ALTER TABLE action.circulation ADD PRIMARY KEY (id);
ALTER TABLE action.circulation ADD COLUMN parent_circ BIGINT REFERENCES action.circulation (id) DEFERRABLE INITIALLY DEFERRED;
CREATE INDEX circ_open_xacts_idx ON action.circulation (usr) WHERE xact_finish IS NULL;
CREATE INDEX circ_outstanding_idx ON action.circulation (usr) WHERE checkin_time IS NULL;
CREATE INDEX circ_checkin_time ON action.circulation (checkin_time) WHERE checkin_time IS NOT NULL;
CREATE INDEX circ_circ_lib_idx ON action.circulation (circ_lib);
CREATE INDEX circ_open_date_idx ON action.circulation (xact_start) WHERE xact_finish IS NULL;
CREATE INDEX circ_all_usr_idx ON action.circulation (usr);
CREATE INDEX circ_target_copy_idx ON action.circulation (target_copy);
CREATE UNIQUE INDEX only_one_concurrent_checkout_per_copy ON action.circulation (target_copy) WHERE checkin_time IS NULL;
CREATE UNIQUE INDEX circ_parent_idx ON action.circulation (parent_circ) WHERE parent_circ IS NOT NULL;
ALTER TABLE action.circulation ADD CONSTRAINT action_circulation_usr_fkey FOREIGN KEY (usr) REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED;
ALTER TABLE action.circulation ADD CONSTRAINT action_circulation_circ_lib_fkey FOREIGN KEY (circ_lib) REFERENCES actor.org_unit (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED;

-- target_copy has no real foreign key (copies are soft-deleted): a trigger checks it.
CREATE FUNCTION action.circulation_target_copy_check() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM asset.copy WHERE id = NEW.target_copy) THEN
    RAISE foreign_key_violation USING MESSAGE = format('action.circulation.target_copy %s is not an asset.copy', NEW.target_copy);
  END IF;
  RETURN NEW;
END $f$;
CREATE TRIGGER action_circulation_target_copy_trig AFTER INSERT OR UPDATE ON action.circulation
  FOR EACH ROW EXECUTE FUNCTION action.circulation_target_copy_check();

-- The circulation's copy location is the copy's.
CREATE FUNCTION action.fill_circ_copy_location() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  SELECT location INTO NEW.copy_location FROM asset.copy WHERE id = NEW.target_copy;
  NEW.copy_location := COALESCE(NEW.copy_location, 1);
  RETURN NEW;
END $f$;
CREATE TRIGGER fill_circ_copy_location_tgr BEFORE INSERT ON action.circulation FOR EACH ROW EXECUTE FUNCTION action.fill_circ_copy_location();

-- A loan of whole days is due at 23:59:59 on its last day in the circulating library's zone
-- (lib.timezone, inherited down the org tree; the session zone when none is set).
CREATE FUNCTION action.push_circ_due_time() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  zone TEXT;
  org  INT := NEW.circ_lib;
BEGIN
  IF NEW.due_date IS NULL OR NEW.duration IS NULL OR EXTRACT(EPOCH FROM NEW.duration)::bigint % 86400 <> 0 THEN
    RETURN NEW;
  END IF;
  WHILE org IS NOT NULL AND zone IS NULL LOOP
    SELECT BTRIM(s.value, '"') INTO zone FROM actor.org_unit_setting s WHERE s.org_unit = org AND s.name = 'lib.timezone';
    SELECT parent_ou INTO org FROM actor.org_unit WHERE id = org;
  END LOOP;
  zone := COALESCE(zone, current_setting('timezone'));
  NEW.due_date := ((NEW.due_date AT TIME ZONE zone)::date + TIME '23:59:59') AT TIME ZONE zone;
  RETURN NEW;
END $f$;
CREATE TRIGGER push_due_date_tgr BEFORE INSERT OR UPDATE ON action.circulation FOR EACH ROW EXECUTE FUNCTION action.push_circ_due_time();

CREATE TABLE money.billing (
  id           BIGSERIAL PRIMARY KEY,
  xact         BIGINT NOT NULL,
  billing_ts   TIMESTAMP WITH TIME ZONE NOT NULL,
  voided       BOOL NOT NULL DEFAULT FALSE,
  voider       INT,
  void_time    TIMESTAMP WITH TIME ZONE,
  amount       NUMERIC(6,2) NOT NULL,
  billing_type TEXT NOT NULL,
  btype        INT NOT NULL REFERENCES config.billing_type (id) ON DELETE RESTRICT DEFERRABLE INITIALLY DEFERRED,
  note         TEXT,
  create_date  TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  period_start TIMESTAMP WITH TIME ZONE,
  period_end   TIMESTAMP WITH TIME ZONE
);
CREATE INDEX m_b_xact_idx ON money.billing (xact);
CREATE INDEX m_b_time_idx ON money.billing (billing_ts);
CREATE INDEX m_b_create_date_idx ON money.billing (create_date);
CREATE INDEX m_b_period_start_idx ON money.billing (period_start);
CREATE INDEX m_b_period_end_idx ON money.billing (period_end);
CREATE INDEX m_b_voider_idx ON money.billing (voider);

-- payments: the kind of a payment is the table it lives in
CREATE TABLE money.payment (
  id         BIGSERIAL PRIMARY KEY,
  xact       BIGINT NOT NULL,
  payment_ts TIMESTAMP WITH TIME ZONE NOT NULL DEFAULT NOW(),
  voided     BOOL NOT NULL DEFAULT FALSE,
  amount     NUMERIC(6,2) NOT NULL,
  note       TEXT
);
CREATE INDEX m_p_xact_idx ON money.payment (xact);
CREATE INDEX m_p_time_idx ON money.payment (payment_ts);

CREATE TABLE money.bnm_payment (
  amount_collected NUMERIC(6,2) NOT NULL,
  accepting_usr    INT NOT NULL
) INHERITS (money.payment);
ALTER TABLE money.bnm_payment ADD PRIMARY KEY (id);
-- The two abstract parents (bnm_payment, bnm_desk_payment) have their primary key alone.

CREATE TABLE money.forgive_payment () INHERITS (money.bnm_payment);
CREATE TABLE money.work_payment () INHERITS (money.bnm_payment);
CREATE TABLE money.credit_payment () INHERITS (money.bnm_payment);
CREATE TABLE money.goods_payment () INHERITS (money.bnm_payment);
CREATE TABLE money.account_adjustment (
  billing BIGINT REFERENCES money.billing (id) ON DELETE SET NULL
) INHERITS (money.bnm_payment);
CREATE TABLE money.bnm_desk_payment (
  cash_drawer INT REFERENCES actor.workstation (id) DEFERRABLE INITIALLY DEFERRED
) INHERITS (money.bnm_payment);
ALTER TABLE money.bnm_desk_payment ADD PRIMARY KEY (id);
CREATE TABLE money.cash_payment () INHERITS (money.bnm_desk_payment);
CREATE TABLE money.check_payment (
  check_number TEXT NOT NULL
) INHERITS (money.bnm_desk_payment);
CREATE TABLE money.credit_card_payment (
  cc_number       TEXT,
  cc_processor    TEXT,
  cc_order_number TEXT,
  approval_code   TEXT
) INHERITS (money.bnm_desk_payment);
CREATE TABLE money.debit_card_payment () INHERITS (money.bnm_desk_payment);

DO $do$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['forgive_payment', 'work_payment', 'credit_payment', 'goods_payment', 'account_adjustment', 'cash_payment', 'check_payment', 'credit_card_payment', 'debit_card_payment'] LOOP
    EXECUTE format('ALTER TABLE money.%I ADD PRIMARY KEY (id)', t);
    EXECUTE format('CREATE INDEX %I ON money.%I (xact)', 'money_' || t || '_xact_idx', t);
    EXECUTE format('CREATE INDEX %I ON money.%I (payment_ts)', 'money_' || t || '_payment_ts_idx', t);
    EXECUTE format('CREATE INDEX %I ON money.%I (accepting_usr)', 'money_' || t || '_accepting_usr_idx', t);
  END LOOP;
END $do$;

-- Each payment with the table it lives in, and whether that kind may be refunded (the variant's flags).
CREATE VIEW money.payment_view AS
  SELECT p.*, c.relname AS payment_type, COALESCE(f.enabled, TRUE) AS refundable
  FROM money.payment p
  JOIN pg_class c ON c.oid = p.tableoid
  LEFT JOIN config.global_flag f ON f.name = 'money.' || c.relname || '.is_refundable';

-- the materialized billable-transaction summary, one row per transaction -----------------

CREATE TABLE money.materialized_billable_xact_summary (
  id                BIGINT PRIMARY KEY,
  usr               INT,
  xact_start        TIMESTAMP WITH TIME ZONE,
  xact_finish       TIMESTAMP WITH TIME ZONE,
  total_paid        NUMERIC,
  last_payment_ts   TIMESTAMP WITH TIME ZONE,
  last_payment_note TEXT,
  last_payment_type NAME,
  total_owed        NUMERIC,
  last_billing_ts   TIMESTAMP WITH TIME ZONE,
  last_billing_note TEXT,
  last_billing_type TEXT,
  balance_owed      NUMERIC,
  xact_type         NAME
);
CREATE INDEX money_mat_summary_usr_idx ON money.materialized_billable_xact_summary (usr);
CREATE INDEX money_mat_summary_xact_start_idx ON money.materialized_billable_xact_summary (xact_start);
CREATE VIEW money.billable_xact_summary AS SELECT * FROM money.materialized_billable_xact_summary;

-- A new transaction gets its summary row, with nothing owed or paid yet.
CREATE FUNCTION money.mat_summary_create() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  INSERT INTO money.materialized_billable_xact_summary (id, usr, xact_start, xact_finish, total_paid, total_owed, balance_owed, xact_type)
  VALUES (NEW.id, NEW.usr, NEW.xact_start, NEW.xact_finish, 0.0, 0.0, 0.0, TG_ARGV[0]);
  RETURN NEW;
END $f$;

CREATE FUNCTION money.mat_summary_update() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  UPDATE money.materialized_billable_xact_summary
     SET usr = NEW.usr, xact_start = NEW.xact_start, xact_finish = NEW.xact_finish
   WHERE id = NEW.id;
  RETURN NEW;
END $f$;

CREATE FUNCTION money.mat_summary_delete() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  DELETE FROM money.materialized_billable_xact_summary WHERE id = OLD.id;
  RETURN OLD;
END $f$;

CREATE TRIGGER mat_summary_create_tgr AFTER INSERT ON money.grocery FOR EACH ROW EXECUTE FUNCTION money.mat_summary_create('grocery');
CREATE TRIGGER mat_summary_change_tgr AFTER UPDATE ON money.grocery FOR EACH ROW EXECUTE FUNCTION money.mat_summary_update();
CREATE TRIGGER mat_summary_remove_tgr AFTER DELETE ON money.grocery FOR EACH ROW EXECUTE FUNCTION money.mat_summary_delete();
CREATE TRIGGER mat_summary_create_tgr AFTER INSERT ON action.circulation FOR EACH ROW EXECUTE FUNCTION money.mat_summary_create('circulation');
CREATE TRIGGER mat_summary_change_tgr AFTER UPDATE ON action.circulation FOR EACH ROW EXECUTE FUNCTION money.mat_summary_update();
CREATE TRIGGER mat_summary_remove_tgr AFTER DELETE ON action.circulation FOR EACH ROW EXECUTE FUNCTION money.mat_summary_delete();

-- The newest billing still standing names the transaction's last billing.
CREATE FUNCTION money.mat_summary_last_billing(x BIGINT) RETURNS void LANGUAGE sql AS $f$
  UPDATE money.materialized_billable_xact_summary
     SET (last_billing_ts, last_billing_note, last_billing_type) = (
       SELECT billing_ts, note, billing_type FROM money.billing
        WHERE xact = x AND NOT voided ORDER BY billing_ts DESC, id DESC LIMIT 1)
   WHERE id = x;
$f$;

CREATE FUNCTION money.materialized_summary_billing_add() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT NEW.voided THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_owed = COALESCE(total_owed, 0.0) + NEW.amount,
           balance_owed = COALESCE(total_owed, 0.0) + NEW.amount - COALESCE(total_paid, 0.0),
           last_billing_ts = NEW.billing_ts, last_billing_note = NEW.note, last_billing_type = NEW.billing_type
     WHERE id = NEW.xact;
  END IF;
  RETURN NEW;
END $f$;

CREATE FUNCTION money.materialized_summary_billing_update() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  delta NUMERIC := 0.0;
BEGIN
  IF NOT OLD.voided AND NEW.voided THEN delta := -OLD.amount;
  ELSIF OLD.voided AND NOT NEW.voided THEN delta := NEW.amount;
  ELSIF NOT NEW.voided THEN delta := NEW.amount - OLD.amount;
  END IF;
  IF delta <> 0.0 THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_owed = COALESCE(total_owed, 0.0) + delta,
           balance_owed = COALESCE(total_owed, 0.0) + delta - COALESCE(total_paid, 0.0)
     WHERE id = NEW.xact;
  END IF;
  IF OLD.voided IS DISTINCT FROM NEW.voided THEN PERFORM money.mat_summary_last_billing(NEW.xact); END IF;
  RETURN NEW;
END $f$;

CREATE FUNCTION money.materialized_summary_billing_del() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT OLD.voided THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_owed = COALESCE(total_owed, 0.0) - OLD.amount,
           balance_owed = COALESCE(total_owed, 0.0) - OLD.amount - COALESCE(total_paid, 0.0)
     WHERE id = OLD.xact;
  END IF;
  RETURN OLD;
END $f$;

-- billing_ts is kept by the database: the end of the fine period, else when it was created.
CREATE FUNCTION money.maintain_billing_ts() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  NEW.billing_ts := COALESCE(NEW.period_end, NEW.create_date);
  RETURN NEW;
END $f$;

CREATE TRIGGER maintain_billing_ts_tgr BEFORE INSERT OR UPDATE ON money.billing FOR EACH ROW EXECUTE FUNCTION money.maintain_billing_ts();
CREATE TRIGGER mat_summary_add_tgr AFTER INSERT ON money.billing FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_billing_add();
CREATE TRIGGER mat_summary_upd_tgr AFTER UPDATE ON money.billing FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_billing_update();
CREATE TRIGGER mat_summary_del_tgr BEFORE DELETE ON money.billing FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_billing_del();

CREATE FUNCTION money.mat_summary_last_payment(x BIGINT) RETURNS void LANGUAGE sql AS $f$
  UPDATE money.materialized_billable_xact_summary
     SET (last_payment_ts, last_payment_note, last_payment_type) = (
       SELECT payment_ts, note, payment_type FROM money.payment_view
        WHERE xact = x AND NOT voided ORDER BY payment_ts DESC, id DESC LIMIT 1)
   WHERE id = x;
$f$;

CREATE FUNCTION money.materialized_summary_payment_add() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT NEW.voided THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_paid = COALESCE(total_paid, 0.0) + NEW.amount,
           balance_owed = COALESCE(total_owed, 0.0) - COALESCE(total_paid, 0.0) - NEW.amount,
           last_payment_ts = NEW.payment_ts, last_payment_note = NEW.note, last_payment_type = TG_ARGV[0]
     WHERE id = NEW.xact;
  END IF;
  RETURN NEW;
END $f$;

CREATE FUNCTION money.materialized_summary_payment_update() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  delta NUMERIC := 0.0;
BEGIN
  IF NOT OLD.voided AND NEW.voided THEN delta := -OLD.amount;
  ELSIF OLD.voided AND NOT NEW.voided THEN delta := NEW.amount;
  ELSIF NOT NEW.voided THEN delta := NEW.amount - OLD.amount;
  END IF;
  IF delta <> 0.0 THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_paid = COALESCE(total_paid, 0.0) + delta,
           balance_owed = COALESCE(total_owed, 0.0) - COALESCE(total_paid, 0.0) - delta
     WHERE id = NEW.xact;
  END IF;
  IF OLD.voided IS DISTINCT FROM NEW.voided THEN PERFORM money.mat_summary_last_payment(NEW.xact); END IF;
  RETURN NEW;
END $f$;

CREATE FUNCTION money.materialized_summary_payment_del() RETURNS trigger LANGUAGE plpgsql AS $f$
BEGIN
  IF NOT OLD.voided THEN
    UPDATE money.materialized_billable_xact_summary
       SET total_paid = COALESCE(total_paid, 0.0) - OLD.amount,
           balance_owed = COALESCE(total_owed, 0.0) - COALESCE(total_paid, 0.0) + OLD.amount
     WHERE id = OLD.xact;
  END IF;
  RETURN OLD;
END $f$;

-- The variant: a credit balance never exceeds what was paid in refundable kinds (forgiven,
-- worked off or adjusted money is never owed back to the patron). With every kind refundable
-- it is Evergreen's stock balance, total owed less total paid.
CREATE FUNCTION money.mbts_refundable_balance_check() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  raw            NUMERIC := COALESCE(NEW.total_owed, 0.0) - COALESCE(NEW.total_paid, 0.0);
  not_refundable NUMERIC;
BEGIN
  IF raw < 0 THEN
    SELECT COALESCE(SUM(amount), 0.0) INTO not_refundable FROM money.payment_view
     WHERE xact = NEW.id AND NOT voided AND NOT refundable;
    NEW.balance_owed := LEAST(raw + not_refundable, 0.0);
  ELSE
    NEW.balance_owed := raw;
  END IF;
  RETURN NEW;
END $f$;
CREATE TRIGGER mat_summary_refund_balance_check_tgr BEFORE UPDATE ON money.materialized_billable_xact_summary
  FOR EACH ROW EXECUTE FUNCTION money.mbts_refundable_balance_check();

-- which payment paid which billing, rebuilt per transaction on every change
CREATE TABLE money.materialized_payment_by_billing_type (
  id           BIGSERIAL PRIMARY KEY,
  xact         BIGINT NOT NULL,
  payment      BIGINT NOT NULL,
  billing      BIGINT NOT NULL,
  payment_ts   TIMESTAMP WITH TIME ZONE NOT NULL,
  billing_ts   TIMESTAMP WITH TIME ZONE NOT NULL,
  amount       NUMERIC(8,2) NOT NULL,
  payment_type TEXT,
  billing_type TEXT,
  payment_ou   INT,
  billing_ou   INT,
  CONSTRAINT x_p_b_once UNIQUE (xact, payment, billing)
);
CREATE INDEX p_by_b_payment_ts_idx ON money.materialized_payment_by_billing_type (payment_ts);

-- Simplified: standing payments cover standing billings, both oldest first.
CREATE FUNCTION money.payment_by_billing_type_trigger() RETURNS trigger LANGUAGE plpgsql AS $f$
DECLARE
  x BIGINT;
BEGIN
  IF TG_OP = 'DELETE' THEN x := OLD.xact; ELSE x := NEW.xact; END IF;
  DELETE FROM money.materialized_payment_by_billing_type WHERE xact = x;
  INSERT INTO money.materialized_payment_by_billing_type (xact, payment, billing, payment_ts, billing_ts, amount, payment_type, billing_type, payment_ou, billing_ou)
  SELECT x, p.id, b.id, p.payment_ts, b.billing_ts,
         LEAST(b.hi, p.hi) - GREATEST(b.hi - b.amount, p.hi - p.amount),
         p.payment_type, b.billing_type, w.owning_lib,
         COALESCE((SELECT circ_lib FROM action.circulation WHERE id = x), (SELECT billing_location FROM money.grocery WHERE id = x))
  FROM (SELECT id, billing_ts, billing_type, amount, SUM(amount) OVER (ORDER BY billing_ts, id) AS hi
          FROM money.billing WHERE xact = x AND NOT voided AND amount > 0) b
  JOIN (SELECT id, payment_ts, payment_type, amount, SUM(amount) OVER (ORDER BY payment_ts, id) AS hi
          FROM money.payment_view WHERE xact = x AND NOT voided AND amount > 0) p
    ON LEAST(b.hi, p.hi) > GREATEST(b.hi - b.amount, p.hi - p.amount)
  LEFT JOIN money.bnm_desk_payment d ON d.id = p.id
  LEFT JOIN actor.workstation w ON w.id = d.cash_drawer;
  RETURN NULL;
END $f$;

CREATE TRIGGER calculate_payment_by_btype_tgr AFTER INSERT OR UPDATE OR DELETE ON money.billing FOR EACH ROW EXECUTE FUNCTION money.payment_by_billing_type_trigger();

DO $do$
DECLARE
  t TEXT;
BEGIN
  FOREACH t IN ARRAY ARRAY['payment', 'bnm_payment', 'forgive_payment', 'work_payment', 'credit_payment', 'goods_payment', 'account_adjustment', 'bnm_desk_payment', 'cash_payment', 'check_payment', 'credit_card_payment', 'debit_card_payment'] LOOP
    EXECUTE format('CREATE TRIGGER mat_summary_add_tgr AFTER INSERT ON money.%I FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_payment_add(%L)', t, t);
    EXECUTE format('CREATE TRIGGER mat_summary_upd_tgr AFTER UPDATE ON money.%I FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_payment_update(%L)', t, t);
    EXECUTE format('CREATE TRIGGER mat_summary_del_tgr BEFORE DELETE ON money.%I FOR EACH ROW EXECUTE FUNCTION money.materialized_summary_payment_del(%L)', t, t);
    -- As in Evergreen, debit card payments and account adjustments do not rebuild it.
    IF t NOT IN ('debit_card_payment', 'account_adjustment') THEN
      EXECUTE format('CREATE TRIGGER calculate_payment_by_btype_tgr AFTER INSERT OR UPDATE OR DELETE ON money.%I FOR EACH ROW EXECUTE FUNCTION money.payment_by_billing_type_trigger()', t);
    END IF;
  END LOOP;
END $do$;

-- who sent a patron to collections, where, when
CREATE TABLE money.collections_tracker (
  id         BIGSERIAL PRIMARY KEY,
  usr        INT NOT NULL REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED,
  collector  INT NOT NULL REFERENCES actor.usr (id) DEFERRABLE INITIALLY DEFERRED,
  location   INT NOT NULL REFERENCES actor.org_unit (id) DEFERRABLE INITIALLY DEFERRED,
  enter_time TIMESTAMP WITH TIME ZONE
);
CREATE UNIQUE INDEX m_c_t_usr_collector_location_once_idx ON money.collections_tracker (usr, collector, location);
CREATE INDEX m_c_t_collector_idx ON money.collections_tracker (collector);
`;

/** The stock rows of a fresh Evergreen (seed data and the upgrades named in the facts), with its example org units and the administrator. */
export const EVERGREEN_STOCK_ROWS = `
INSERT INTO config.upgrade_log (version, install_date, applied_to) VALUES
  ('1519', '2026-03-01T12:00:00Z', '3.17-beta3'),
  ('3.17.0', '2026-03-15T12:00:00Z', NULL),
  ('1521', '2026-05-01T12:00:00Z', '3.17.1'),
  ('3.17.1', '2026-05-01T12:00:01Z', NULL);

INSERT INTO config.standing (id, value) VALUES (1, 'Good'), (2, 'Barred');
SELECT setval('config.standing_id_seq', 100);
INSERT INTO config.identification_type (id, name) VALUES (1, 'Drivers License'), (2, 'SSN'), (3, 'Other');
SELECT setval('config.identification_type_id_seq', 100);
INSERT INTO config.net_access_level (id, name) VALUES (1, 'Filtered'), (2, 'Unfiltered'), (3, 'No Access');
SELECT setval('config.net_access_level_id_seq', 100);

INSERT INTO config.global_flag (name, enabled, label) VALUES
  ('money.account_adjustment.is_refundable', FALSE, 'Account adjustments are refundable'),
  ('money.forgive_payment.is_refundable', FALSE, 'Forgive payments are refundable'),
  ('money.work_payment.is_refundable', FALSE, 'Work payments are refundable'),
  ('money.credit_payment.is_refundable', FALSE, 'Credit payments are refundable'),
  ('money.goods_payment.is_refundable', FALSE, 'Goods payments are refundable'),
  ('money.credit_card_payment.is_refundable', TRUE, 'Credit card payments are refundable'),
  ('money.cash_payment.is_refundable', TRUE, 'Cash payments are refundable'),
  ('money.check_payment.is_refundable', TRUE, 'Check payments are refundable'),
  ('money.debit_card_payment.is_refundable', TRUE, 'Debit card payments are refundable');

INSERT INTO config.org_unit_setting_type (name, label, grp, datatype) VALUES ('lib.timezone', 'Library time zone', 'lib', 'string');

INSERT INTO actor.org_unit_type (id, name, opac_label, depth, parent, can_have_vols, can_have_users) VALUES
  (1, 'Consortium', 'Everywhere', 0, NULL, FALSE, FALSE),
  (2, 'System', 'Local Library System', 1, 1, FALSE, FALSE),
  (3, 'Branch', 'This Branch', 2, 2, TRUE, TRUE),
  (4, 'Sub-library', 'This Specialized Library', 3, 3, TRUE, TRUE),
  (5, 'Bookmobile', 'Your Bookmobile', 3, 3, TRUE, TRUE);
SELECT setval('actor.org_unit_type_id_seq', 100);

INSERT INTO actor.org_unit (id, parent_ou, ou_type, shortname, name) VALUES
  (1, NULL, 1, 'CONS', 'Example Consortium'),
  (2, 1, 2, 'SYS1', 'Example System 1'),
  (3, 1, 2, 'SYS2', 'Example System 2'),
  (4, 2, 3, 'BR1', 'Example Branch 1'),
  (5, 2, 3, 'BR2', 'Example Branch 2'),
  (6, 3, 3, 'BR3', 'Example Branch 3'),
  (7, 3, 3, 'BR4', 'Example Branch 4'),
  (8, 4, 4, 'SL1', 'Example Sub-library 1'),
  (9, 6, 5, 'BM1', 'Example Bookmobile 1');
SELECT setval('actor.org_unit_id_seq', 100);

INSERT INTO permission.grp_tree (id, name, parent, usergroup, application_perm) VALUES
  (1, 'Users', NULL, FALSE, 'group_application.user'),
  (2, 'Patrons', 1, TRUE, 'group_application.user.patron'),
  (3, 'Staff', 1, FALSE, 'group_application.user.staff'),
  (4, 'Catalogers', 3, TRUE, 'group_application.user.staff.cat'),
  (5, 'Circulators', 3, TRUE, 'group_application.user.staff.circ'),
  (6, 'Acquisitions', 3, TRUE, 'group_application.user.staff.acq'),
  (7, 'Acquisitions Administrator', 3, TRUE, 'group_application.user.staff.acq_admin'),
  (8, 'Cataloging Administrator', 3, TRUE, 'group_application.user.staff.cat_admin'),
  (9, 'Circulation Administrator', 3, TRUE, 'group_application.user.staff.circ_admin'),
  (10, 'Local Administrator', 3, TRUE, 'group_application.user.staff.admin.local_admin'),
  (11, 'Serials', 3, TRUE, 'group_application.user.staff.serials'),
  (12, 'System Administrator', 3, TRUE, 'group_application.user.staff.admin.system_admin'),
  (13, 'Global Administrator', 3, TRUE, 'group_application.user.staff.admin.global_admin'),
  (14, 'Data Review', 3, TRUE, 'group_application.user.staff.data_review'),
  (15, 'Volunteers', 3, TRUE, 'group_application.user.staff.volunteers');
SELECT setval('permission.grp_tree_id_seq', 15);

INSERT INTO config.standing_penalty (id, name, label, block_list, staff_alert, org_depth) VALUES
  (1, 'PATRON_EXCEEDS_FINES', 'Patron exceeds fine threshold', 'CIRC|FULFILL|HOLD|CAPTURE|RENEW', TRUE, NULL),
  (2, 'PATRON_EXCEEDS_OVERDUE_COUNT', 'Patron exceeds max overdue item threshold', 'CIRC|FULFILL|HOLD|CAPTURE|RENEW', TRUE, NULL),
  (3, 'PATRON_EXCEEDS_CHECKOUT_COUNT', 'Patron exceeds max checked out item threshold', 'CIRC|FULFILL', TRUE, NULL),
  (4, 'PATRON_EXCEEDS_COLLECTIONS_WARNING', 'Patron exceeds pre-collections warning fine threshold', 'CIRC|FULFILL|HOLD|CAPTURE|RENEW', TRUE, NULL),
  (5, 'PATRON_EXCEEDS_LOST_COUNT', 'Patron exceeds max lost item threshold', 'CIRC|FULFILL|HOLD|CAPTURE|RENEW', TRUE, NULL),
  (20, 'ALERT_NOTE', 'Alerting Note, no blocks', NULL, TRUE, NULL),
  (21, 'SILENT_NOTE', 'Note, no blocks', NULL, FALSE, NULL),
  (22, 'STAFF_C', 'Alerting block on Circ', 'CIRC', TRUE, NULL),
  (23, 'STAFF_CH', 'Alerting block on Circ and Hold', 'CIRC|HOLD', TRUE, NULL),
  (24, 'STAFF_CR', 'Alerting block on Circ and Renew', 'CIRC|RENEW', TRUE, NULL),
  (25, 'STAFF_CHR', 'Alerting block on Circ, Hold and Renew', 'CIRC|HOLD|RENEW', TRUE, NULL),
  (26, 'STAFF_HR', 'Alerting block on Hold and Renew', 'HOLD|RENEW', TRUE, NULL),
  (27, 'STAFF_H', 'Alerting block on Hold', 'HOLD', TRUE, NULL),
  (28, 'STAFF_R', 'Alerting block on Renew', 'RENEW', TRUE, NULL),
  (29, 'INVALID_PATRON_ADDRESS', 'Patron has an invalid address', NULL, FALSE, NULL),
  (30, 'PATRON_IN_COLLECTIONS', 'Patron has been referred to a collections agency', NULL, FALSE, NULL),
  (31, 'INVALID_PATRON_EMAIL_ADDRESS', 'Patron had an invalid email address', NULL, TRUE, 0),
  (32, 'INVALID_PATRON_DAY_PHONE', 'Patron had an invalid daytime phone number', NULL, TRUE, 0),
  (33, 'INVALID_PATRON_EVENING_PHONE', 'Patron had an invalid evening phone number', NULL, TRUE, 0),
  (34, 'INVALID_PATRON_OTHER_PHONE', 'Patron had an invalid other phone number', NULL, TRUE, 0),
  (35, 'PATRON_EXCEEDS_LONGOVERDUE_COUNT', 'Patron exceeds max long-overdue item threshold', 'CIRC|FULFILL|HOLD|CAPTURE|RENEW', TRUE, NULL),
  (90, 'PATRON_TEMP_RENEWAL', 'Patron was given a temporary account renewal', NULL, TRUE, 0);
SELECT setval('config.standing_penalty_id_seq', 100);

INSERT INTO config.billing_type (id, name, owner) VALUES
  (1, 'Overdue Materials', 1),
  (2, 'Long Overdue Collection Fee', 1),
  (3, 'Lost Materials', 1),
  (4, 'Lost Materials Processing Fee', 1),
  (5, 'System: Deposit', 1),
  (6, 'System: Rental', 1),
  (7, 'Damaged Item', 1),
  (8, 'Damaged Item Processing Fee', 1),
  (9, 'Notification Fee', 1),
  (10, 'Long-Overdue Materials', 1),
  (11, 'Long-Overdue Materials Processing Fee', 1),
  (101, 'Misc', 1);
SELECT setval('config.billing_type_id_seq', 101);

INSERT INTO config.copy_status (id, name, holdable, opac_visible, copy_active, restrict_copy_delete, is_available) VALUES
  (0, 'Available', TRUE, TRUE, TRUE, FALSE, TRUE),
  (1, 'Checked out', TRUE, TRUE, TRUE, TRUE, FALSE),
  (2, 'Bindery', FALSE, FALSE, FALSE, FALSE, FALSE),
  (3, 'Lost', FALSE, FALSE, FALSE, TRUE, FALSE),
  (4, 'Missing', FALSE, FALSE, FALSE, FALSE, FALSE),
  (5, 'In process', TRUE, TRUE, FALSE, FALSE, FALSE),
  (6, 'In transit', TRUE, TRUE, FALSE, TRUE, FALSE),
  (7, 'Reshelving', TRUE, TRUE, TRUE, FALSE, TRUE),
  (8, 'On holds shelf', TRUE, TRUE, TRUE, TRUE, FALSE),
  (9, 'On order', TRUE, TRUE, FALSE, FALSE, FALSE),
  (10, 'ILL', FALSE, FALSE, TRUE, FALSE, FALSE),
  (11, 'Cataloging', FALSE, FALSE, FALSE, FALSE, FALSE),
  (12, 'Reserves', FALSE, TRUE, TRUE, FALSE, FALSE),
  (13, 'Discard/Weed', FALSE, FALSE, FALSE, FALSE, FALSE),
  (14, 'Damaged', FALSE, FALSE, FALSE, FALSE, FALSE),
  (15, 'On reservation shelf', FALSE, FALSE, TRUE, FALSE, FALSE),
  (16, 'Long Overdue', FALSE, FALSE, FALSE, TRUE, FALSE),
  (17, 'Lost and Paid', FALSE, FALSE, FALSE, FALSE, FALSE),
  (18, 'Canceled Transit', TRUE, TRUE, FALSE, FALSE, FALSE);
SELECT setval('config.copy_status_id_seq', 100);

-- The administrator Evergreen's installer creates (actor.usr 1), staff of every write.
INSERT INTO actor.usr (id, profile, usrname, passwd, ident_type, first_given_name, family_name, home_ou, super_user)
  VALUES (1, 13, 'admin', 'installer', 3, 'Administrator', 'System Account', 1, TRUE);
INSERT INTO actor.card (id, usr, barcode) VALUES (1, 1, '101010101010101');
UPDATE actor.usr SET card = 1 WHERE id = 1;
SELECT setval('actor.usr_id_seq', 1);
SELECT setval('actor.card_id_seq', 1);

INSERT INTO biblio.record_entry (id, tcn_source, tcn_value, marc, last_xact_id) VALUES (-1, 'AUTOGEN', '-1', '<record xmlns="http://www.loc.gov/MARC21/slim"/>', 'IMPORT');
INSERT INTO asset.call_number_class (id, name) VALUES (1, 'Generic'), (2, 'Dewey (DDC)'), (3, 'Library of Congress (LC)');
SELECT setval('asset.call_number_class_id_seq', 100);
INSERT INTO asset.call_number_prefix (id, owning_lib, label) VALUES (-1, 1, '');
INSERT INTO asset.call_number_suffix (id, owning_lib, label) VALUES (-1, 1, '');
INSERT INTO asset.call_number (id, creator, editor, record, owning_lib, label, label_class) VALUES (-1, 1, 1, -1, 1, '##URI##', 1);
INSERT INTO asset.copy_location (id, name, owning_lib) VALUES (1, 'Stacks', 1);
SELECT setval('asset.copy_location_id_seq', 100);
`;

/**
 * DESIGN.md's least privilege for an Evergreen connector (README gives the same statements):
 * USAGE on the schemas read; SELECT on the tables read; INSERT, UPDATE on the penalty and its
 * note; INSERT, DELETE on the collections tracker; INSERT on the grocery and billing of the
 * fee; and what Evergreen's own triggers on those two write and read (the summary and the
 * payment-by-billing-type tables, the payment view), with the id sequences of every insert.
 */
export function evergreenGrants(role: string, database: string): string[] {
  return [
    `GRANT CONNECT ON DATABASE ${database} TO ${role}`,
    `GRANT USAGE ON SCHEMA actor, permission, money, action, asset, config, biblio TO ${role}`,
    `GRANT SELECT ON actor.org_unit, actor.org_unit_setting, permission.grp_tree, actor.usr, actor.card, actor.usr_address,
       money.materialized_billable_xact_summary, money.grocery, money.billing, money.payment, action.circulation,
       asset.copy, asset.call_number, biblio.record_entry, config.billing_type, config.upgrade_log TO ${role}`,
    `GRANT SELECT, INSERT, UPDATE ON actor.usr_standing_penalty, actor.usr_message TO ${role}`,
    `GRANT SELECT, INSERT, DELETE ON money.collections_tracker TO ${role}`,
    `GRANT SELECT ON config.standing_penalty TO ${role}`,
    `GRANT INSERT ON money.grocery, money.billing TO ${role}`,
    `GRANT INSERT, UPDATE ON money.materialized_billable_xact_summary TO ${role}`,
    `GRANT SELECT, INSERT, DELETE ON money.materialized_payment_by_billing_type TO ${role}`,
    `GRANT SELECT ON money.payment_view, money.bnm_payment, money.bnm_desk_payment, actor.workstation TO ${role}`,
    `GRANT USAGE ON SEQUENCE actor.usr_message_id_seq, money.collections_tracker_id_seq, money.billable_xact_id_seq, money.billing_id_seq, money.materialized_payment_by_billing_type_id_seq TO ${role}`,
  ];
}
