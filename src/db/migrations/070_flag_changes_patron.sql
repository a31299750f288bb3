-- recordFlagChanges compares a patron's flags with the last change recorded for them, and
-- flags export picks each patron's latest change: both look up by patron, newest first.
CREATE INDEX flag_changes_patron ON flag_changes (patron_id, id DESC);
