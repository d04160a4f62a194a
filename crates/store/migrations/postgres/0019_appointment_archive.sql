-- Appointments past the clinic's retention period, pseudonymised: the patient is a keyed hash
-- of their id, the reason, notes and messages are gone (see medibook_core::retention).
CREATE TABLE appointment_archive (
    id                 TEXT PRIMARY KEY,
    doctor_id          TEXT NOT NULL REFERENCES doctors (id),
    patient_pseudonym  TEXT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    status             TEXT NOT NULL,
    late_cancellation  BIGINT NOT NULL,
    created_at         BIGINT NOT NULL,
    pseudonymised_at   BIGINT NOT NULL
);
CREATE INDEX appointment_archive_by_doctor ON appointment_archive (doctor_id, start_at);
CREATE INDEX appointments_by_end ON appointments (end_at);
