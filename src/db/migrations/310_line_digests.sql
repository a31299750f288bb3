-- A patron row keeps the digest of the import file's line that wrote it (src/services/imports/
-- digest.ts): re-importing the same line then costs a lookup in memory, not staging the row and
-- comparing its nineteen columns with the table's (docs/benchmark.md, eighteenth pass).
ALTER TABLE patrons ADD COLUMN line_digest bytea;

-- The digest vouches for the row only while the row is as that line wrote it. Any writer that
-- sets a column the import files carry without giving a new digest (a sync leaves none, staff or
-- SQL give none) clears it, so the next import compares that row in full. A run's in_collections
-- and other columns no file carries leave it. test/line-digests.test.ts holds the column list
-- equal to the patrons file's.
CREATE FUNCTION patrons_clear_line_digest() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.line_digest := NULL;
  RETURN NEW;
END $$;

CREATE TRIGGER patrons_line_digest BEFORE UPDATE OF
    id, barcode, first_name, last_name, address, address2, city, state, postal_code, phone,
    mobile, alt_phone_1, alt_phone_2, email, birth_date, home_library, ptype, patron_code, adult_or_child
  ON patrons
  FOR EACH ROW WHEN (OLD.line_digest IS NOT NULL AND NEW.line_digest IS NOT DISTINCT FROM OLD.line_digest)
  EXECUTE FUNCTION patrons_clear_line_digest();
