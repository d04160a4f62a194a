-- The words patients use for a specialty ("heart", "skin"), comma-separated and lower-case,
-- which the doctor search matches like the specialty's name.
ALTER TABLE specialties ADD COLUMN keywords TEXT NOT NULL DEFAULT '';
