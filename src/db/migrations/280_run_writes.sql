-- What a run writes, made cheap per referral (docs/benchmark.md, sixth pass).

-- A run flips in_collections on the patrons it refers or clears. With every page of patrons
-- full, each flip was a new row version in another page and an entry in all seven of the
-- table's indexes (2,798 referrals at medium: 120 ms); with a tenth of each page free the
-- update stays on its page and touches no index (18 ms). New and rewritten pages keep the
-- room; a table loaded before this migration gains it as its pages are vacuumed.
ALTER TABLE patrons SET (fillfactor = 90);

-- "Was this patron ever charged an agency fee?" is asked for every patron a run refers: by
-- index, not a scan of every charge.
CREATE INDEX charges_agency_fee ON charges (patron_id) WHERE reason = 'agency_fee';

-- A run's referrals queue their ILS blocks in one statement, not one trigger call each
-- (the function of migration 210 ran its query once per referral: 13 µs each), and look no
-- further when no connector writes to an ILS (most installations: CSV only).
DROP TRIGGER referrals_connector_block ON referrals;
DROP FUNCTION connector_writes_on_refer();

CREATE FUNCTION connector_writes_on_refer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM connectors WHERE NOT read_only) THEN
    RETURN NULL;
  END IF;
  INSERT INTO connector_writes (connector_id, kind, patron_id, referral_id, idempotency_key, detail)
  SELECT pc.connector_id, 'block', n.patron_id, n.id, 'block:' || n.id,
         jsonb_build_object('agency', a.name, 'referredOn', n.referred_on)
  FROM new_referrals n
  JOIN patron_connectors pc ON pc.patron_id = n.patron_id
  JOIN agencies a ON a.id = n.agency_id
  WHERE n.status = 'open'
  ON CONFLICT (connector_id, idempotency_key) DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER referrals_connector_block AFTER INSERT ON referrals
  REFERENCING NEW TABLE AS new_referrals
  FOR EACH STATEMENT EXECUTE FUNCTION connector_writes_on_refer();

-- The agency fee's ILS posting is queued by the statement that charges the fees
-- (chargeAgencyFees, the only writer of a fee with a referral), in the same statement: a
-- statement trigger on charges would copy every row of a million-row import into its
-- transition table, and the row trigger cost 13 µs per fee.
DROP TRIGGER charges_connector_fee ON charges;
DROP FUNCTION connector_writes_on_fee();
