-- A referral cancelled by "Exclude now" while its New Submissions file was still held for
-- review never reached the agency. It stays in the history, but it must not count as an
-- earlier referral for the once-only rule, or lifting the exclusion could never let the
-- patron be referred again on an entry that does not resubmit after a clear.
ALTER TABLE referrals ADD COLUMN withdrawn boolean NOT NULL DEFAULT false;

UPDATE referrals r SET withdrawn = true
WHERE r.status = 'cancelled'
  AND EXISTS (SELECT 1 FROM referral_history h
              WHERE h.referral_id = r.id AND h.type = 'cancel' AND h.reason = 'excluded at review');
