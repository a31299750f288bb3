-- Indexes for the set-based eligibility statement (src/db/eligibility.sql.ts).

-- It sums allocations per (patron, charge) before joining them to charges; with the amount
-- included that pass is an index-only scan, already in the order the join consumes it,
-- instead of a read of every allocation row from the heap.
CREATE INDEX allocations_patron_charge ON allocations (patron_id, charge_id) INCLUDE (amount_cents);
