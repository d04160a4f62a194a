-- Private calendar feeds. See sqlite/0009_calendar_feeds.sql.
CREATE TABLE calendar_feeds (
    user_id     TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL CHECK (kind IN ('appointments', 'agenda')),
    generation  BIGINT NOT NULL DEFAULT 0 CHECK (generation >= 0),
    token_hash  TEXT UNIQUE,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, kind)
);
