-- A run flags every patron it refers or releases (in_collections, updated_at), and a sync
-- changes a few patrons a night. Neither column is indexed, so the new row version can stay on
-- its page (a HOT update, no index touched) if the page has room; a bulk-loaded table's pages
-- are full, and each flag then wrote a new entry in every one of the patron table's seven
-- indexes (99 ms against 29 ms for 2,800 patrons at medium). A tenth of each page is left free
-- from now on; pages written before keep their fill until rewritten (a first load, VACUUM FULL).
ALTER TABLE patrons SET (fillfactor = 90);
