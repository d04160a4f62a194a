-- The receptionist role, for users and for the audit trail's actors.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('patient', 'doctor', 'admin', 'receptionist'));
ALTER TABLE audit_log DROP CONSTRAINT audit_log_actor_role_check;
ALTER TABLE audit_log ADD CONSTRAINT audit_log_actor_role_check
    CHECK (actor_role IN ('patient', 'doctor', 'admin', 'receptionist'));
