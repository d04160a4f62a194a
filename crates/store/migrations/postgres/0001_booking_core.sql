-- MediBook schema, PostgreSQL flavour. Instants are microseconds since the Unix epoch (UTC);
-- ids are UUID strings. Same tables as sqlite/0001_booking_core.sql.

CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE specialties (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE doctors (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL,
    specialty_id      TEXT NOT NULL REFERENCES specialties (id),
    qualification     TEXT NOT NULL,
    years_experience  BIGINT NOT NULL CHECK (years_experience >= 0),
    bio               TEXT NOT NULL,
    fee_minor         BIGINT NOT NULL CHECK (fee_minor >= 0),
    currency          TEXT NOT NULL,
    photo_url         TEXT,
    time_zone         TEXT NOT NULL,
    schedule          TEXT NOT NULL,
    created_at        BIGINT NOT NULL
);
CREATE INDEX doctors_by_specialty ON doctors (specialty_id);

CREATE TABLE time_off (
    id         TEXT PRIMARY KEY,
    doctor_id  TEXT NOT NULL REFERENCES doctors (id),
    start_at   BIGINT NOT NULL,
    end_at     BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX time_off_by_doctor ON time_off (doctor_id, start_at);

CREATE TABLE users (
    id          TEXT PRIMARY KEY,
    email       TEXT UNIQUE,
    phone       TEXT UNIQUE,
    name        TEXT,
    role        TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'admin')),
    doctor_id   TEXT REFERENCES doctors (id),
    created_at  BIGINT NOT NULL,
    CHECK (email IS NOT NULL OR phone IS NOT NULL)
);

-- One live code per identifier; a new request replaces the previous code.
CREATE TABLE one_time_codes (
    identifier_key  TEXT PRIMARY KEY,
    code_hash       TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    used_at         BIGINT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE holds (
    id              TEXT PRIMARY KEY,
    doctor_id       TEXT NOT NULL REFERENCES doctors (id),
    patient_id      TEXT NOT NULL REFERENCES users (id),
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    -- The agenda interval the hold occupies: the visit plus the doctor's buffers.
    claim_start     BIGINT NOT NULL,
    claim_end       BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'released', 'confirmed', 'expired')),
    appointment_id  TEXT,
    created_at      BIGINT NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX holds_active_by_patient ON holds (patient_id) WHERE state = 'active';
CREATE INDEX holds_active_by_expiry ON holds (expires_at) WHERE state = 'active';

CREATE TABLE appointments (
    id              TEXT PRIMARY KEY,
    doctor_id       TEXT NOT NULL REFERENCES doctors (id),
    patient_id      TEXT NOT NULL REFERENCES users (id),
    start_at        BIGINT NOT NULL,
    end_at          BIGINT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('scheduled', 'completed', 'cancelled', 'no_show')),
    reason          TEXT NOT NULL,
    notes           TEXT,
    -- The hold that created it: confirming a hold twice can never create two appointments.
    origin_hold_id  TEXT NOT NULL UNIQUE REFERENCES holds (id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    CHECK (end_at > start_at)
);
CREATE INDEX appointments_by_patient ON appointments (patient_id, start_at);
CREATE INDEX appointments_by_doctor ON appointments (doctor_id, start_at);

-- The occupancy ledger: one row per hold or appointment that keeps a doctor's time, covering
-- the visit plus buffers. A row with expires_at set is a hold and stops occupying at that
-- instant; writers delete such lapsed rows in the same transaction as their own claim.
-- The exclusion constraint makes two overlapping claims of one doctor impossible, whatever
-- the number of connections or instances.
CREATE TABLE slot_claims (
    id              TEXT PRIMARY KEY,
    doctor_id       TEXT NOT NULL REFERENCES doctors (id),
    claim_start     BIGINT NOT NULL,
    claim_end       BIGINT NOT NULL,
    hold_id         TEXT UNIQUE REFERENCES holds (id),
    appointment_id  TEXT UNIQUE REFERENCES appointments (id),
    expires_at      BIGINT,
    CHECK (claim_end > claim_start),
    CHECK ((appointment_id IS NULL) = (expires_at IS NOT NULL)),
    CONSTRAINT slot_claims_no_overlap
        EXCLUDE USING gist (doctor_id WITH =, int8range(claim_start, claim_end) WITH &&)
);
CREATE INDEX slot_claims_by_doctor_end ON slot_claims (doctor_id, claim_end);
