-- Server-side sessions behind short-lived access tokens, and fixed-window rate counters that
-- hold across restarts and instances.

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users (id),
    -- SHA-256 of the current refresh token; rotated on every refresh.
    refresh_hash  TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- Absolute end of the session, whatever the activity.
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE rate_counters (
    key           TEXT NOT NULL,
    window_start  BIGINT NOT NULL,
    hits          BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
