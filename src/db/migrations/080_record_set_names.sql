-- Staff name record sets on the command line and in the staff app (`recordset show "UMS returns"`),
-- so a name, compared without regard to case, picks exactly one set.
CREATE UNIQUE INDEX record_sets_name ON record_sets (lower(name));
