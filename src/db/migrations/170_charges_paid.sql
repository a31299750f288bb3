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

CREATE FUNCTION allocations_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE charges c SET paid_cents = c.paid_cents + d.cents
  FROM (SELECT charge_id, sum(amount_cents) AS cents FROM added_allocations GROUP BY charge_id) d
  WHERE c.id = d.charge_id;
  RETURN NULL;
END $$;

CREATE FUNCTION allocations_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE charges c SET paid_cents = c.paid_cents - d.cents
  FROM (SELECT charge_id, sum(amount_cents) AS cents FROM removed_allocations GROUP BY charge_id) d
  WHERE c.id = d.charge_id;
  RETURN NULL;
END $$;

CREATE FUNCTION allocations_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE charges c SET paid_cents = c.paid_cents + d.cents
  FROM (
    SELECT charge_id, sum(cents) AS cents FROM (
      SELECT charge_id, amount_cents AS cents FROM added_allocations
      UNION ALL
      SELECT charge_id, -amount_cents FROM removed_allocations
    ) moved GROUP BY charge_id
  ) d
  WHERE c.id = d.charge_id AND d.cents <> 0;
  RETURN NULL;
END $$;

CREATE FUNCTION allocations_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE charges SET paid_cents = 0 WHERE paid_cents <> 0;
  RETURN NULL;
END $$;

CREATE TRIGGER allocations_added AFTER INSERT ON allocations
  REFERENCING NEW TABLE AS added_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_added();
CREATE TRIGGER allocations_removed AFTER DELETE ON allocations
  REFERENCING OLD TABLE AS removed_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_removed();
CREATE TRIGGER allocations_changed AFTER UPDATE ON allocations
  REFERENCING OLD TABLE AS removed_allocations NEW TABLE AS added_allocations FOR EACH STATEMENT EXECUTE FUNCTION allocations_changed();
CREATE TRIGGER allocations_emptied AFTER TRUNCATE ON allocations
  FOR EACH STATEMENT EXECUTE FUNCTION allocations_emptied();

-- Eligibility no longer sums allocations per (patron, charge); the covering index that served
-- that pass only slows every payment import down.
DROP INDEX IF EXISTS allocations_patron_charge;
