-- The contact inbox is worked by the front desk: a message is answered by e-mail (through the
-- outbox) and marked handled.
ALTER TABLE contact_messages ADD COLUMN handled_at BIGINT;
ALTER TABLE contact_messages ADD COLUMN replied_at BIGINT;
