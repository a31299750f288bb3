-- A connector's first sync loads charges and the payments the ILS applied to them in one
-- transaction. Writing each charge with what those payments pay of it, instead of 0, saves
-- giving most charges a second row version when the allocations arrive (at medium: 785,000
-- rows rewritten, most of a first sync's payments merge, and a table left half dead rows).
-- The merge that does so says so for the one statement that writes those allocations, with a
-- transaction-local setting; every other writer keeps paid_cents through the triggers.
CREATE OR REPLACE FUNCTION allocations_keep_paid() RETURNS trigger LANGUAGE plpgsql AS $$
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
  IF TG_OP = 'INSERT' AND current_setting('arrears.paid_counted', true) = 'on' THEN
    RETURN NULL;
  END IF;
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
