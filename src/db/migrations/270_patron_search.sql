-- Staff look patrons up by the start of an id, barcode, name or email, in any case
-- (GET /api/patrons?q=…, the staff app's Patron screen). text_pattern_ops lets LIKE 'abc%'
-- use the index whatever the database's collation; a name typed as "first last" or
-- "last, first" is matched through the two name indexes together.
CREATE INDEX patrons_search_id ON patrons (lower(id) text_pattern_ops);
CREATE INDEX patrons_search_barcode ON patrons (lower(barcode) text_pattern_ops);
CREATE INDEX patrons_search_last_name ON patrons (lower(last_name) text_pattern_ops);
CREATE INDEX patrons_search_first_name ON patrons (lower(first_name) text_pattern_ops);
CREATE INDEX patrons_search_email ON patrons (lower(email) text_pattern_ops);
