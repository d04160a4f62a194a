-- Slot listings read a doctor's claims that end after the listed window starts
-- (`doctor_id = ? AND claim_end > ? AND claim_start < ?`, plus the hold expiry and whether the
-- claim is an appointment). With a year of appointments per doctor, the old index on
-- (doctor_id, claim_end) found the rows but fetched each one from the table; this index carries
-- every column the listing reads, so a listing can be an index-only scan. It serves every
-- query the old index served (same key columns), which is dropped.
CREATE INDEX slot_claims_listing
    ON slot_claims (doctor_id, claim_end) INCLUDE (claim_start, expires_at, appointment_id);
DROP INDEX slot_claims_by_doctor_end;
