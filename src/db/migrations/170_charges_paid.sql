-- What has been paid, waived or written off against each charge, kept on the charge itself.
-- Eligibility then reads one table, in one parallel pass, instead of summing every
-- allocation of the consortium per charge and joining the sums back (at 10 M charges that
-- sum-and-join was most of the statement's time; see docs/benchmark.md).
--
-- Allocations stay the ledger's record; paid_cents is derived from them by the triggers
-- below, one UPDATE per statement whatever the number of rows (a bulk import of millions of
-- allocations updates charges once), so no writer can forget it. test/charges-paid.test.ts
-- checks it against the allocations after every kind of write.
ALTER TABLE charges ADD COLUMN paid_cents bigint NOT NULL DEFAULT 0;

UPDATE charges c SET paid_cents = s.cents
FROM (SELECT charge_id, sum(amount_cents) AS cents FROM allocations GROUP BY charge_id) s
WHERE s.charge_id = c.id;

-- One function for inserts, deletes and updates: the net amount the statement moved per charge
-- is added to paid_cents. PostgreSQL keeps no statistics on a transition table and guesses 200
-- rows, so its plan looks each charge up by key: right for a payment at the desk, minutes for
-- a bulk import of millions of allocations. Past 10,000 rows the update is planned without
-- that nested loop (a hash join over charges). EXECUTE plans each statement afresh, so one
-- plan is never reused for the other case.
CREATE FUNCTION allocations_keep_paid() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  moved text := CASE TG_OP
    WHEN 'INSERT' THEN 'SELECT charge_id, amount_cents AS cents FROM added_allocations'
    WHEN 'DELETE' THEN 'SELECT charge_id, -amount_cents AS cents FROM removed_allocations'
    ELSE 'SELECT charge_id, amount_cents AS cents FROM added_allocations
          UNION ALL SELECT charge_id, -amount_cents FROM removed_allocations'
  END;
  nestloop text := current_setting('enable_nestloop');
  big boolean;
BEGIN
  EXECUTE 'SELECT count(*) > 10000 FROM (SELECT 1 FROM (' || moved || ') m LIMIT 10001) n' INTO big;
  IF big THEN
    PERFORM set_config('enable_nestloop', 'off', true);
  END IF;
  EXECUTE 'UPDATE charges c SET paid_cents = c.paid_cents + d.cents
           FROM (SELECT charge_id, sum(cents) AS cents FROM (' || moved || ') m GROUP BY charge_id) d
           WHERE c.id = d.charge_id AND d.cents <> 0';
  IF big THEN
    PERFORM set_config('enable_nestloop', nestloop, true);
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION allocations_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE charges SET paid_cents = 0 WHERE paid_cents <> 0;
  RETURN NULL;
END $$;

CREATE TRIGGER allocations_added AFTER INSERT ON allocations
  REFERENCING NEW TABLE AS added_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_keep_paid();
CREATE TRIGGER allocations_removed AFTER DELETE ON allocations
  REFERENCING OLD TABLE AS removed_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_keep_paid();
CREATE TRIGGER allocations_changed AFTER UPDATE ON allocations
  REFERENCING OLD TABLE AS removed_allocations NEW TABLE AS added_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_keep_paid();
CREATE TRIGGER allocations_emptied AFTER TRUNCATE ON allocations
  FOR EACH STATEMENT EXECUTE FUNCTION allocations_emptied();

-- Eligibility no longer sums allocations per (patron, charge); the covering index that served
-- that pass only slows every payment import down.
DROP INDEX IF EXISTS allocations_patron_charge;
