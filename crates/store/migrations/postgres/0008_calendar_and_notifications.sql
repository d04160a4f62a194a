-- Calendar and notifications. See sqlite/0008_calendar_and_notifications.sql.
ALTER TABLE appointments ADD COLUMN sequence BIGINT NOT NULL DEFAULT 0;
ALTER TABLE appointments ADD COLUMN late_cancellation BIGINT NOT NULL DEFAULT 0;

ALTER TABLE outbox ADD COLUMN kind TEXT NOT NULL DEFAULT 'sign_in_code';
ALTER TABLE outbox ADD COLUMN appointment_id TEXT;
ALTER TABLE outbox ADD COLUMN attachment_name TEXT;
ALTER TABLE outbox ADD COLUMN attachment_type TEXT;
ALTER TABLE outbox ADD COLUMN attachment TEXT;
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check
    CHECK (status IN ('pending', 'sent', 'failed', 'cancelled'));
CREATE INDEX outbox_by_appointment ON outbox (appointment_id) WHERE appointment_id IS NOT NULL;
CREATE INDEX outbox_by_status ON outbox (status, created_at);
