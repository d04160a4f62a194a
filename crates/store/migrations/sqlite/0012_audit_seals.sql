-- The audit trail's hash chain and its retention (see store::audit_chain). A seal covers every
-- entry whose time lies in its window (after the previous seal's end, up to its own end): the
-- number of entries, a SHA-256 digest over them in order, and a hash over the previous seal's
-- hash and its own fields, so that any entry changed, removed or added into a sealed window,
-- and any seal changed or removed, shows when the chain is verified.
CREATE TABLE audit_seals (
    seq        INTEGER PRIMARY KEY,
    from_at    INTEGER NOT NULL,
    to_at      INTEGER NOT NULL,
    entries    INTEGER NOT NULL,
    digest     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL,
    sealed_at  INTEGER NOT NULL,
    -- When the window's entries were deleted by retention; the seal itself stays in the chain.
    pruned_at  INTEGER
);

-- A row here, written and removed inside the pruning transaction, is the only way entries of
-- audit_log can be deleted.
CREATE TABLE audit_pruning (
    permit INTEGER PRIMARY KEY
);

DROP TRIGGER audit_log_no_delete;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
WHEN NOT EXISTS (SELECT 1 FROM audit_pruning)
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
