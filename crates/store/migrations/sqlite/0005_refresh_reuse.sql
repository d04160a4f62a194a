-- The refresh token before the current one, to recognise its reuse (a stolen token): reuse
-- ends the session.
ALTER TABLE sessions ADD COLUMN previous_refresh_hash TEXT;
CREATE INDEX sessions_by_previous_refresh ON sessions (previous_refresh_hash);
