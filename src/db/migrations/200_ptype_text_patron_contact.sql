-- ILS connectors read the ILS's own patron categories: a PTYPE becomes text (Koha
-- categorycode "PT", Evergreen profile "Patrons", or a Sierra-style "3"). Existing numbers
-- become their digits, so 3 and "3" stay the same PTYPE; settings entries convert alike.
-- Patrons also gain the contact fields an ILS knows and the UMS file has columns for.
-- One ALTER for patrons: the type change rewrites the table once, with the new columns.
ALTER TABLE patrons
  ALTER COLUMN ptype TYPE text USING ptype::text,   -- the ILS patron category, or a Sierra number's digits
  ADD CONSTRAINT patrons_ptype_not_blank CHECK (ptype <> ''),
  ADD COLUMN address2 text NOT NULL DEFAULT '',
  ADD COLUMN mobile text NOT NULL DEFAULT '',
  ADD COLUMN alt_phone_1 text NOT NULL DEFAULT '',  -- UMS "Alt Ph 1" (Koha phonepro)
  ADD COLUMN alt_phone_2 text NOT NULL DEFAULT '',  -- UMS "Alt Ph 2" (Koha B_phone)
  -- UMS's "Adult or Child" as the ILS says it (Koha: the category's category_type);
  -- blank = derived from the birth date on the report date.
  ADD COLUMN adult_or_child text NOT NULL DEFAULT '';

ALTER TABLE settings_entries
  ALTER COLUMN ptypes DROP DEFAULT,
  ALTER COLUMN ptypes TYPE text[] USING ptypes::text[],
  ALTER COLUMN ptypes SET DEFAULT '{}';
