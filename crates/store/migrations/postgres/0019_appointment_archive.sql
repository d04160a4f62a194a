-- Appointments past the clinic's retention period, pseudonymised (see medibook_core::retention):
-- a fresh id (not the appointment's, which the audit trail names with its patient), the doctor,
-- the times and the outcome, and the patient as a keyed hash of their id.
CREATE TABLE appointment_archive (
    id                 TEXT PRIMARY KEY,
    doctor_id          TEXT NOT NULL REFERENCES doctors (id),
    patient_pseudonym  TEXT NOT NULL,
    start_at           BIGINT NOT NULL,
    end_at             BIGINT NOT NULL,
    status             TEXT NOT NULL,
    late_cancellation  BIGINT NOT NULL,
    pseudonymised_at   BIGINT NOT NULL
);
CREATE INDEX appointment_archive_by_doctor ON appointment_archive (doctor_id, start_at);
-- The retention job finds appointments by their end; erasure and export find a person's holds,
-- and the messages sent to their address.
CREATE INDEX appointments_by_end ON appointments (end_at);
CREATE INDEX holds_by_patient ON holds (patient_id);
CREATE INDEX holds_by_appointment ON holds (appointment_id);
CREATE INDEX outbox_by_recipient ON outbox (recipient);
