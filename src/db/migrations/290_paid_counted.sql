-- A connector's first sync loads charges and the payments the ILS applied to them in one
-- transaction. Writing each charge with what those payments pay of it, instead of 0, saves
-- giving most charges a second row version when the allocations arrive (at medium: 785,000
-- rows rewritten, most of a first sync's payments merge, and a table left half dead rows).
-- The merge that does so says so for the one statement that writes those allocations, with a
-- transaction-local setting; for every other writer the trigger keeps paid_cents as before.
DROP TRIGGER allocations_added ON allocations;
CREATE TRIGGER allocations_added AFTER INSERT ON allocations
  REFERENCING NEW TABLE AS added_allocations FOR EACH STATEMENT
  WHEN (current_setting('arrears.paid_counted', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION allocations_keep_paid();
