-- Google Calendar sync. A connection keeps the person's refresh token sealed with AES-256-GCM
-- (hex ciphertext and nonce; the key is derived from the server secret and never stored).
-- google_events records what was last sent to Google for each appointment, so a sync round
-- sends only what changed; google_oauth_states holds started connects (hashed state, PKCE
-- verifier) for ten minutes, so any instance can finish them.

CREATE TABLE google_connections (
    person_id                 TEXT PRIMARY KEY REFERENCES users (id),
    refresh_token_ciphertext  TEXT NOT NULL,
    nonce                     TEXT NOT NULL,
    calendar_id               TEXT NOT NULL DEFAULT 'primary',
    status                    TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    last_error                TEXT,
    connected_at              INTEGER NOT NULL,
    updated_at                INTEGER NOT NULL
);

CREATE TABLE google_events (
    appointment_id  TEXT PRIMARY KEY REFERENCES appointments (id),
    person_id       TEXT NOT NULL REFERENCES users (id),
    event_id        TEXT NOT NULL,
    synced_version  INTEGER NOT NULL,
    synced_status   TEXT NOT NULL,
    synced_start    INTEGER NOT NULL,
    synced_end      INTEGER NOT NULL,
    synced_at       INTEGER NOT NULL
);
CREATE INDEX google_events_by_person ON google_events (person_id);

CREATE TABLE google_oauth_states (
    state_hash     TEXT PRIMARY KEY,
    person_id      TEXT NOT NULL REFERENCES users (id),
    code_verifier  TEXT NOT NULL,
    created_at     INTEGER NOT NULL
);
CREATE INDEX google_oauth_states_by_age ON google_oauth_states (created_at);
