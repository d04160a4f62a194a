-- The patient's record and the doctor's visit notes.
--
-- Clinical text (a patient's medical history, visit notes) is stored only sealed: AES-256-GCM
-- under the clinical key, as one value (format version, key id, nonce, ciphertext and tag; see
-- the clinical vault in the medibook crate), bound to its row by associated data. The database
-- never sees the plaintext.
ALTER TABLE users ADD COLUMN date_of_birth TEXT;
ALTER TABLE users ADD COLUMN sex TEXT CHECK (sex IN ('female', 'male', 'other', 'unknown'));
ALTER TABLE users ADD COLUMN address TEXT;
ALTER TABLE users ADD COLUMN medical_history BYTEA;

-- When the patient was seen at the front desk (checked in), for the desk's day view.
-- The desk's day reads every doctor's appointments of a day.
CREATE INDEX appointments_by_start ON appointments (start_at);
ALTER TABLE appointments ADD COLUMN arrived_at BIGINT;

-- Notes are appended, never changed: a correction is a new note.
CREATE TABLE visit_notes (
    id              TEXT PRIMARY KEY,
    appointment_id  TEXT NOT NULL REFERENCES appointments (id),
    patient_id      TEXT NOT NULL REFERENCES users (id),
    doctor_id       TEXT NOT NULL REFERENCES doctors (id),
    author_id       TEXT NOT NULL REFERENCES users (id),
    created_at      BIGINT NOT NULL,
    sealed          BYTEA NOT NULL
);
CREATE INDEX visit_notes_by_appointment ON visit_notes (appointment_id, created_at);
CREATE INDEX visit_notes_by_patient ON visit_notes (patient_id, doctor_id, created_at);

-- A row here, written and removed inside the transaction of a key rotation
-- (`medibook clinical rekey`), is the only way a note's sealed text is ever rewritten.
CREATE TABLE visit_note_rekeying (
    permit INTEGER PRIMARY KEY
);

CREATE FUNCTION visit_notes_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM visit_note_rekeying)
       AND (NEW.id, NEW.appointment_id, NEW.patient_id, NEW.doctor_id, NEW.author_id,
            NEW.created_at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.appointment_id, OLD.patient_id, OLD.doctor_id, OLD.author_id,
            OLD.created_at) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'visit notes are append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER visit_notes_no_update BEFORE UPDATE ON visit_notes
    FOR EACH ROW EXECUTE FUNCTION visit_notes_append_only();
