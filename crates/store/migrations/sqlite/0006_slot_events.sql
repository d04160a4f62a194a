-- Every change of a slot's status, numbered per doctor in the transaction that makes it. Live
-- feeds replay it to resume without loss, and other instances read it after a notification.

CREATE TABLE slot_events (
    doctor_id    TEXT NOT NULL REFERENCES doctors (id),
    seq          INTEGER NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('available', 'held', 'booked')),
    recorded_at  INTEGER NOT NULL,
    PRIMARY KEY (doctor_id, seq)
);
