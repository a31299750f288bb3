-- A dry run writes the rows its result is read from (referrals, fees, change history, files, the
-- ILS write-backs its triggers queue), then rolls them back. Their foreign keys become
-- deferrable, still checked row by row as before (INITIALLY IMMEDIATE), so a dry run can defer
-- them (runs.ts): the rolled back rows are never checked (two fifths of a dry run's writing at
-- medium). A run that commits checks every one as before.
ALTER TABLE referrals ALTER CONSTRAINT referrals_agency_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referrals ALTER CONSTRAINT referrals_entry_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referrals ALTER CONSTRAINT referrals_patron_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referrals ALTER CONSTRAINT referrals_previous_referral_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referrals ALTER CONSTRAINT referrals_run_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referral_history ALTER CONSTRAINT referral_history_referral_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE referral_history ALTER CONSTRAINT referral_history_run_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE charges ALTER CONSTRAINT charges_item_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE charges ALTER CONSTRAINT charges_library_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE charges ALTER CONSTRAINT charges_patron_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE payments ALTER CONSTRAINT payments_charge_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE payments ALTER CONSTRAINT payments_patron_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE allocations ALTER CONSTRAINT allocations_charge_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE allocations ALTER CONSTRAINT allocations_payment_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE run_entries ALTER CONSTRAINT run_entries_entry_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE run_entries ALTER CONSTRAINT run_entries_run_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE report_files ALTER CONSTRAINT report_files_agency_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE report_files ALTER CONSTRAINT report_files_entry_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE report_files ALTER CONSTRAINT report_files_run_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE connector_writes ALTER CONSTRAINT connector_writes_referral_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
ALTER TABLE connector_writes ALTER CONSTRAINT connector_writes_connector_id_fkey DEFERRABLE INITIALLY IMMEDIATE;
