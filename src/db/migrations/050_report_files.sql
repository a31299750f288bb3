-- Report files: one strategy entry sends the same file name to each of its agencies, so a
-- name is unique per agency, not overall. Each file keeps the layout it was written in, so
-- staff downloads (CSV, .xlsx) read it back the same way even after the agency changes layout.
ALTER TABLE report_files DROP CONSTRAINT report_files_name_key;
ALTER TABLE report_files ADD CONSTRAINT report_files_agency_name UNIQUE (agency_id, name);
ALTER TABLE report_files ADD COLUMN layout text NOT NULL DEFAULT 'arrears' CHECK (layout IN ('arrears', 'ums', 'custom'));
ALTER TABLE report_files ADD COLUMN layout_config jsonb NOT NULL DEFAULT '{}'::jsonb; -- the custom layout's settings, defaults filled in
CREATE INDEX report_files_run ON report_files (run_id);

-- The files are built per entry and agency from what one run wrote, a batch of patrons at a
-- time in code-point order of patron id (COLLATE "C": the same order on every server).
CREATE INDEX referrals_run ON referrals (run_id, patron_id COLLATE "C") WHERE run_id IS NOT NULL;
CREATE INDEX referrals_open_entry ON referrals (entry_id, agency_id, patron_id COLLATE "C") WHERE status = 'open';
CREATE INDEX referral_history_run ON referral_history (run_id, patron_id COLLATE "C") WHERE run_id IS NOT NULL;
