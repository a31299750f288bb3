-- ILS connectors: Arrears reads an ILS's own database (Koha, Evergreen) instead of CSV files,
-- and writes the collections block back into it. Each library comes from exactly one source:
-- a connector, or CSV imports (connector_id NULL).

CREATE TABLE connectors (
  id            serial PRIMARY KEY,
  name          text NOT NULL UNIQUE CHECK (name ~ '^[a-z][a-z0-9_-]{0,30}$'), -- also the prefix of its record ids: koha:1042
  kind          text NOT NULL CHECK (kind IN ('koha', 'evergreen')),
  -- AES-256-GCM ciphertext of the connection URL (it carries the ILS database password); see secrets.ts
  url_secret    text NOT NULL,
  location      text NOT NULL DEFAULT '',      -- where the URL points (scheme, host, port, database): safe to show
  time_zone     text NOT NULL,                 -- the ILS's local time (Koha keeps one zone per installation)
  read_only     boolean NOT NULL DEFAULT false, -- flags only: never writes to the ILS
  -- Write-back and connection settings of this kind (restriction type, comment, fee debit type, TLS, ...)
  options       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- The library's own overrides of the stock mapping: ILS codes -> charge reasons, payment kinds, library zones
  mapping       jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Incremental sync watermarks, in the ILS's own terms; {} until the first full sync
  sync_cursor   jsonb NOT NULL DEFAULT '{}'::jsonb,
  last_sync_at  timestamptz,                   -- the last sync that committed (full or incremental)
  last_full_sync_at timestamptz,
  last_sync     jsonb,                         -- outcome of the last attempt: mode, counts or error, when
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE libraries ADD COLUMN connector_id integer REFERENCES connectors (id);
CREATE INDEX libraries_connector ON libraries (connector_id) WHERE connector_id IS NOT NULL;

-- The outbox: what Arrears must write to an ILS, queued in the transaction that decided it
-- (a run, an exclusion, a return) by the triggers below, and applied after that transaction
-- commits. Each write has an idempotency key, so a run of the same date twice, or a retry
-- after a crash, never writes twice.
CREATE TABLE connector_writes (
  id              bigserial PRIMARY KEY,
  connector_id    integer NOT NULL REFERENCES connectors (id) ON DELETE CASCADE,
  -- block: put the collections restriction on the patron; lift: remove the one we put;
  -- fee: post the agency fee to the patron's ILS account
  kind            text NOT NULL CHECK (kind IN ('block', 'lift', 'fee')),
  patron_id       text NOT NULL,
  referral_id     bigint NOT NULL REFERENCES referrals (id),
  charge_id       text,                        -- fee: the agency fee charge it posts
  amount_cents    bigint,                      -- fee: its amount
  idempotency_key text NOT NULL,               -- block:<referral>, lift:<referral>, fee:<charge>
  -- pending: to do (retried with back-off while the ILS cannot be reached); applying: in
  -- flight; applied: done; failed: refused by the ILS for good (staff may retry); skipped:
  -- no longer wanted (the referral closed before its block was placed, the fee was removed)
  status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'applying', 'applied', 'failed', 'skipped')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz,                 -- NULL: due at once; after a failed attempt, the back-off's end
  last_error      text,
  ils_ref         text,                        -- the ILS's id of what was written (borrower_debarment_id, accountlines_id, ...)
  detail          jsonb NOT NULL DEFAULT '{}'::jsonb, -- what was written, as staff read it
  queued_txid     bigint NOT NULL DEFAULT txid_current(), -- the transaction that queued it: a dry run lists its own
  created_at      timestamptz NOT NULL DEFAULT now(),
  applied_at      timestamptz,
  UNIQUE (connector_id, idempotency_key)
);
CREATE INDEX connector_writes_due ON connector_writes (connector_id, id) WHERE status IN ('pending', 'applying');
CREATE INDEX connector_writes_referral ON connector_writes (referral_id);
CREATE INDEX connector_writes_txid ON connector_writes (queued_txid);

-- The writable connector a patron belongs to, through their home library.
CREATE VIEW patron_connectors AS
  SELECT p.id AS patron_id, c.id AS connector_id
  FROM patrons p
  JOIN libraries l ON l.code = p.home_library
  JOIN connectors c ON c.id = l.connector_id
  WHERE NOT c.read_only;

-- Row triggers with a WHEN clause: a row that does not qualify costs one comparison and queues
-- nothing (a bulk import of millions of charges, a run updating every open referral).

-- A referral opened for a connector's patron: block them in their ILS.
CREATE FUNCTION connector_writes_on_refer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO connector_writes (connector_id, kind, patron_id, referral_id, idempotency_key, detail)
  SELECT pc.connector_id, 'block', NEW.patron_id, NEW.id, 'block:' || NEW.id,
         jsonb_build_object('agency', a.name, 'referredOn', NEW.referred_on)
  FROM patron_connectors pc
  JOIN agencies a ON a.id = NEW.agency_id
  WHERE pc.patron_id = NEW.patron_id
  ON CONFLICT (connector_id, idempotency_key) DO NOTHING;
  RETURN NULL;
END $$;

-- A referral that leaves open (cleared, paid below the threshold, cancelled, excluded,
-- returned): lift the block it put on the patron.
CREATE FUNCTION connector_writes_on_close() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO connector_writes (connector_id, kind, patron_id, referral_id, idempotency_key, detail)
  SELECT w.connector_id, 'lift', NEW.patron_id, NEW.id, 'lift:' || NEW.id, jsonb_build_object('status', NEW.status)
  FROM connector_writes w
  WHERE w.referral_id = NEW.id AND w.kind = 'block'
  ON CONFLICT (connector_id, idempotency_key) DO NOTHING;
  RETURN NULL;
END $$;

-- The agency fee charged on a connector patron's referral: post it to their ILS account too,
-- so the circulation desk sees it and can take it.
CREATE FUNCTION connector_writes_on_fee() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO connector_writes (connector_id, kind, patron_id, referral_id, charge_id, amount_cents, idempotency_key, detail)
  SELECT pc.connector_id, 'fee', NEW.patron_id, NEW.referral_id, NEW.id, NEW.amount_cents, 'fee:' || NEW.id,
         jsonb_build_object('agency', a.name)
  FROM patron_connectors pc
  JOIN referrals r ON r.id = NEW.referral_id
  JOIN agencies a ON a.id = r.agency_id
  WHERE pc.patron_id = NEW.patron_id
  ON CONFLICT (connector_id, idempotency_key) DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER referrals_connector_block AFTER INSERT ON referrals
  FOR EACH ROW WHEN (NEW.status = 'open') EXECUTE FUNCTION connector_writes_on_refer();
CREATE TRIGGER referrals_connector_lift AFTER UPDATE OF status ON referrals
  FOR EACH ROW WHEN (OLD.status = 'open' AND NEW.status <> 'open') EXECUTE FUNCTION connector_writes_on_close();
CREATE TRIGGER charges_connector_fee AFTER INSERT ON charges
  FOR EACH ROW WHEN (NEW.reason = 'agency_fee' AND NEW.referral_id IS NOT NULL) EXECUTE FUNCTION connector_writes_on_fee();
