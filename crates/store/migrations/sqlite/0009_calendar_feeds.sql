-- Private calendar feeds: one row per person and kind ('appointments': their own, 'agenda': the
-- agenda of their doctor profile). The token is derived from the server secret, the person and
-- the generation; only its SHA-256 is kept, to find the feed of a request. Revoking raises the
-- generation and clears the hash, so the old URL stops working at once.
CREATE TABLE calendar_feeds (
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL CHECK (kind IN ('appointments', 'agenda')),
    generation  INTEGER NOT NULL DEFAULT 0 CHECK (generation >= 0),
    token_hash  TEXT UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, kind)
);
