-- Staff work and accountability: the append-only audit trail, the contact-form inbox, and one
-- user account per doctor profile.

-- Who read or changed which appointment, hold, schedule or role, when and from where. Rows are
-- only ever inserted: the triggers below abort any UPDATE or DELETE, whoever issues it.
CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,
    at             INTEGER NOT NULL,
    actor_user_id  TEXT,
    actor_role     TEXT CHECK (actor_role IN ('patient', 'doctor', 'admin')),
    action         TEXT NOT NULL,
    subject_type   TEXT NOT NULL,
    subject_id     TEXT,
    patient_id     TEXT,
    doctor_id      TEXT,
    client_ip      TEXT,
    detail         TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_patient ON audit_log (patient_id, at) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_by_doctor ON audit_log (doctor_id, at) WHERE doctor_id IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE contact_messages (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    email        TEXT NOT NULL,
    message      TEXT NOT NULL,
    received_at  INTEGER NOT NULL
);
CREATE INDEX contact_messages_by_time ON contact_messages (received_at);

-- A doctor profile belongs to at most one user account.
CREATE UNIQUE INDEX users_one_account_per_doctor ON users (doctor_id) WHERE doctor_id IS NOT NULL;
