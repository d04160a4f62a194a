-- Every change of a slot's status, numbered per doctor in the transaction that makes it. Live
-- feeds replay it to resume without loss, and other instances read it after a notification.

CREATE TABLE slot_events (
    doctor_id    TEXT NOT NULL REFERENCES doctors (id),
    seq          BIGINT NOT NULL,
    start_at     BIGINT NOT NULL,
    end_at       BIGINT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('available', 'held', 'booked')),
    recorded_at  BIGINT NOT NULL,
    PRIMARY KEY (doctor_id, seq)
);

-- Announce each committed event to every instance: NOTIFY is delivered at commit, only for
-- committed transactions. The payload names the event ("doctor_id:seq"); listeners read the row.
CREATE FUNCTION slot_events_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('medibook_slot_events', NEW.doctor_id || ':' || NEW.seq);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER slot_events_notify AFTER INSERT ON slot_events
    FOR EACH ROW EXECUTE FUNCTION slot_events_notify();
