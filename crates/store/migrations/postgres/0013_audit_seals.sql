-- The audit trail's hash chain and its retention; same tables as sqlite/0012_audit_seals.sql.
CREATE TABLE audit_seals (
    seq        BIGINT PRIMARY KEY,
    from_at    BIGINT NOT NULL,
    to_at      BIGINT NOT NULL,
    entries    BIGINT NOT NULL,
    digest     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    sealed_at  BIGINT NOT NULL,
    pruned_at  BIGINT
);

CREATE TABLE audit_pruning (
    permit INTEGER PRIMARY KEY
);

-- Deleting entries is allowed only inside the pruning transaction (while it holds a permit);
-- UPDATE and TRUNCATE stay refused.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND EXISTS (SELECT 1 FROM audit_pruning) THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;
