-- The waitlist. A patient waits for a doctor, or for any doctor of a specialty, optionally
-- within a date window (dates in the doctor's zone). When a matching slot is free, the first
-- waiter in queue order is offered it: an exclusive hold that lasts the offer window, made in
-- the same transaction that freed the slot.

CREATE TABLE waitlist_entries (
    id            TEXT PRIMARY KEY,
    patient_id    TEXT NOT NULL REFERENCES users (id),
    doctor_id     TEXT REFERENCES doctors (id),
    specialty_id  TEXT REFERENCES specialties (id),
    from_date     TEXT,
    to_date       TEXT,
    state         TEXT NOT NULL CHECK (state IN ('waiting', 'offered', 'fulfilled', 'left')),
    -- Queue order: earlier first, ties broken by id.
    queued_at     BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    CHECK ((doctor_id IS NULL) <> (specialty_id IS NULL)),
    CHECK (from_date IS NULL OR to_date IS NULL OR from_date <= to_date)
);
CREATE INDEX waitlist_waiting_by_doctor ON waitlist_entries (doctor_id, queued_at)
    WHERE state = 'waiting';
CREATE INDEX waitlist_waiting_by_specialty ON waitlist_entries (specialty_id, queued_at)
    WHERE state = 'waiting';
CREATE INDEX waitlist_by_patient ON waitlist_entries (patient_id, state);

-- Offers made: the hold that carries the slot, and what became of it. An entry is never offered
-- the same slot twice, so declining or letting an offer lapse passes the slot on.
CREATE TABLE waitlist_offers (
    id          TEXT PRIMARY KEY,
    entry_id    TEXT NOT NULL REFERENCES waitlist_entries (id),
    patient_id  TEXT NOT NULL REFERENCES users (id),
    doctor_id   TEXT NOT NULL REFERENCES doctors (id),
    hold_id     TEXT NOT NULL UNIQUE REFERENCES holds (id) DEFERRABLE INITIALLY DEFERRED,
    start_at    BIGINT NOT NULL,
    end_at      BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('open', 'accepted', 'declined', 'expired')),
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- Nobody holds two open offers at once.
CREATE UNIQUE INDEX waitlist_one_open_offer_per_patient ON waitlist_offers (patient_id)
    WHERE state = 'open';
CREATE INDEX waitlist_offers_by_entry ON waitlist_offers (entry_id, doctor_id, start_at);

-- Schedule edits can take a free slot off the grid: its event says 'unavailable'.
ALTER TABLE slot_events DROP CONSTRAINT slot_events_status_check;
ALTER TABLE slot_events ADD CONSTRAINT slot_events_status_check
    CHECK (status IN ('available', 'held', 'booked', 'unavailable'));

-- Announce each committed offer to every instance, like slot events ("offer:<id>").
CREATE FUNCTION waitlist_offers_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('medibook_slot_events', 'offer:' || NEW.id);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER waitlist_offers_notify AFTER INSERT ON waitlist_offers
    FOR EACH ROW EXECUTE FUNCTION waitlist_offers_notify();
