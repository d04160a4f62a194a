-- no-transaction
-- The receptionist role, for users and for the audit trail's actors. SQLite cannot change a
-- CHECK constraint in place, so both tables are rebuilt (the documented twelve-step procedure):
-- foreign keys off, one transaction, copy, drop, rename, indexes and triggers again. The script
-- is safe to run twice (should the process stop between its commit and sqlx's bookkeeping).
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

DROP TABLE IF EXISTS users_rebuilt;
CREATE TABLE users_rebuilt (
    id          TEXT PRIMARY KEY,
    email       TEXT UNIQUE,
    phone       TEXT UNIQUE,
    name        TEXT,
    role        TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'admin', 'receptionist')),
    doctor_id   TEXT REFERENCES doctors (id),
    created_at  INTEGER NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);
INSERT INTO users_rebuilt (id, email, phone, name, role, doctor_id, created_at)
SELECT id, email, phone, name, role, doctor_id, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;
CREATE UNIQUE INDEX users_one_account_per_doctor ON users (doctor_id) WHERE doctor_id IS NOT NULL;

DROP TABLE IF EXISTS audit_log_rebuilt;
CREATE TABLE audit_log_rebuilt (
    id             TEXT PRIMARY KEY,
    at             INTEGER NOT NULL,
    actor_user_id  TEXT,
    actor_role     TEXT CHECK (actor_role IN ('patient', 'doctor', 'admin', 'receptionist')),
    action         TEXT NOT NULL,
    subject_type   TEXT NOT NULL,
    subject_id     TEXT,
    patient_id     TEXT,
    doctor_id      TEXT,
    client_ip      TEXT,
    detail         TEXT
);
INSERT INTO audit_log_rebuilt
SELECT id, at, actor_user_id, actor_role, action, subject_type, subject_id, patient_id,
       doctor_id, client_ip, detail
FROM audit_log;
DROP TABLE audit_log;
ALTER TABLE audit_log_rebuilt RENAME TO audit_log;
CREATE INDEX audit_log_by_time ON audit_log (at);
CREATE INDEX audit_log_by_patient ON audit_log (patient_id, at) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_log_by_doctor ON audit_log (doctor_id, at) WHERE doctor_id IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_pruning)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

COMMIT;
PRAGMA foreign_keys = ON;
