-- A waitlist entry says which days of the week (bit n = Monday + n; 0 = any day) and which part
-- of the day (earliest start, latest end, "HH:MM:SS" in the doctor's zone) suit the patient.
ALTER TABLE waitlist_entries ADD COLUMN weekdays BIGINT NOT NULL DEFAULT 0
    CHECK (weekdays BETWEEN 0 AND 127);
ALTER TABLE waitlist_entries ADD COLUMN earliest TEXT;
ALTER TABLE waitlist_entries ADD COLUMN latest TEXT;
