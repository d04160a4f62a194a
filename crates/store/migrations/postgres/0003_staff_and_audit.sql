-- Staff work and accountability: the append-only audit trail, the contact-form inbox, and one
-- user account per doctor profile. Same tables as sqlite/0003_staff_and_audit.sql.

-- Who read or changed which appointment, hold, schedule or role, when and from where. Rows are
-- only ever inserted: the triggers below raise on any UPDATE, DELETE or TRUNCATE, whoever
-- issues it.
CREATE TABLE audit_log (
    id             TEXT PRIMARY KEY,
    at             BIGINT NOT NULL,
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

CREATE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_or_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE contact_messages (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    email        TEXT NOT NULL,
    message      TEXT NOT NULL,
    received_at  BIGINT NOT NULL
);
CREATE INDEX contact_messages_by_time ON contact_messages (received_at);

-- A doctor profile belongs to at most one user account.
CREATE UNIQUE INDEX users_one_account_per_doctor ON users (doctor_id) WHERE doctor_id IS NOT NULL;
