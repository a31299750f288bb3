-- The ledger: libraries, patrons, items, charges and what was paid against them.
-- Money columns are whole cents (bigint); never numeric or float.

CREATE TABLE libraries (
  code        text PRIMARY KEY,
  name        text NOT NULL,
  time_zone   text NOT NULL,               -- IANA zone; a report date is evaluated in it
  -- What the second-agency workflow does to a lost item: 'missing' or 'withdrawn' (Polaris Lost Item Transition)
  lost_item_transition text NOT NULL DEFAULT 'missing' CHECK (lost_item_transition IN ('missing', 'withdrawn')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE patrons (
  id            text PRIMARY KEY,
  barcode       text NOT NULL DEFAULT '',
  first_name    text NOT NULL DEFAULT '',
  last_name     text NOT NULL DEFAULT '',
  address       text NOT NULL DEFAULT '',
  city          text NOT NULL DEFAULT '',
  state         text NOT NULL DEFAULT '',
  postal_code   text NOT NULL DEFAULT '',
  phone         text NOT NULL DEFAULT '',
  email         text NOT NULL DEFAULT '',
  birth_date    date,
  home_library  text NOT NULL REFERENCES libraries (code),
  ptype         integer NOT NULL,           -- Sierra P TYPE
  patron_code   text NOT NULL DEFAULT '',   -- Polaris patron code; some are exempt from collections
  status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'secured')),
  in_collections boolean NOT NULL DEFAULT false, -- mirrors "has an open referral"; the flag the ILS pulls
  blocked       boolean NOT NULL DEFAULT false,
  note          text NOT NULL DEFAULT '',
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX patrons_home_library ON patrons (home_library);

CREATE TABLE items (
  id          text PRIMARY KEY,
  barcode     text NOT NULL DEFAULT '',
  title       text NOT NULL DEFAULT '',
  status      text NOT NULL CHECK (status IN ('available', 'checked_out', 'lost', 'missing', 'withdrawn', 'claims_returned')),
  patron_id   text REFERENCES patrons (id), -- the patron the item is linked to (checked out, lost, ...)
  due_date    date,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX items_patron ON items (patron_id) WHERE patron_id IS NOT NULL;

CREATE TABLE charges (
  id           text PRIMARY KEY,
  patron_id    text NOT NULL REFERENCES patrons (id),
  item_id      text REFERENCES items (id),
  library      text NOT NULL REFERENCES libraries (code), -- the library that posted the charge
  reason       text NOT NULL CHECK (reason IN ('overdue', 'replacement', 'processing', 'manual', 'damage', 'agency_fee')),
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  assessed_at  timestamptz NOT NULL,
  -- The calendar date of assessed_at in the posting library's time zone, kept so eligibility
  -- windows compare dates without a time-zone conversion per row. Set by whoever writes
  -- the charge; recomputed when a library's time zone changes.
  assessed_on  date NOT NULL,
  referral_id  bigint,                      -- set on agency_fee charges: the referral that charged it
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_patron ON charges (patron_id);

CREATE TABLE payments (
  id           text PRIMARY KEY,
  patron_id    text NOT NULL REFERENCES patrons (id),
  charge_id    text REFERENCES charges (id), -- as given in the import; blank = allocated oldest charge first
  type         text NOT NULL CHECK (type IN ('payment', 'waive', 'writeoff')),
  method       text NOT NULL DEFAULT '',     -- free text; 'collection agency' marks money the agency recovered
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  paid_at      timestamptz NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_patron ON payments (patron_id);

-- How each payment, waiver or write-off is spread over charges. A charge's outstanding
-- balance is its amount minus its allocations; it is always computed, never stored.
CREATE TABLE allocations (
  payment_id   text NOT NULL REFERENCES payments (id) ON DELETE CASCADE,
  charge_id    text NOT NULL REFERENCES charges (id),
  patron_id    text NOT NULL,                -- repeated so the ledger groups by patron without a join (Citus co-location)
  amount_cents bigint NOT NULL CHECK (amount_cents > 0),
  PRIMARY KEY (payment_id, charge_id)
);
CREATE INDEX allocations_charge ON allocations (charge_id);
CREATE INDEX allocations_patron ON allocations (patron_id);
