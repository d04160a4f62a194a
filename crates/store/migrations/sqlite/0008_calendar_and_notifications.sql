-- Calendar and notifications.
--
-- appointments.sequence: the iCalendar SEQUENCE of the appointment, bumped by every change a
-- calendar must follow (reschedule, cancellation), so calendar apps replace their copy.
-- appointments.late_cancellation: the patient cancelled inside the late-cancellation window.
ALTER TABLE appointments ADD COLUMN sequence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN late_cancellation INTEGER NOT NULL DEFAULT 0;

-- The outbox learns what a message is about (kind, appointment), carries an optional attachment
-- (the .ics of an appointment), and a pending message can be withdrawn ('cancelled': a reminder
-- of an appointment that moved or was cancelled). SQLite cannot change a CHECK constraint in
-- place, so the table is rebuilt.
CREATE TABLE outbox_new (
    id                TEXT PRIMARY KEY,
    idempotency_key   TEXT NOT NULL UNIQUE,
    kind              TEXT NOT NULL DEFAULT 'sign_in_code',
    appointment_id    TEXT,
    recipient_kind    TEXT NOT NULL CHECK (recipient_kind IN ('email', 'phone')),
    recipient         TEXT NOT NULL,
    subject           TEXT NOT NULL,
    body              TEXT NOT NULL,
    attachment_name   TEXT,
    attachment_type   TEXT,
    attachment        TEXT,
    sensitive         INTEGER NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER NOT NULL,
    expires_at        INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    finished_at       INTEGER
);
INSERT INTO outbox_new (id, idempotency_key, recipient_kind, recipient, subject, body, sensitive,
                        status, attempts, next_attempt_at, expires_at, last_error, created_at,
                        finished_at)
SELECT id, idempotency_key, recipient_kind, recipient, subject, body, sensitive, status, attempts,
       next_attempt_at, expires_at, last_error, created_at, finished_at
FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status = 'pending';
CREATE INDEX outbox_by_appointment ON outbox (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX outbox_by_status ON outbox (status, created_at);
