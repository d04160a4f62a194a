-- The hold path in one round trip (issue 17): the claiming transaction of
-- `BookingRepository::claim_hold` as one function, called in autocommit, so a hold costs the
-- contention read plus this call. It takes the same locks in the same order as the store's
-- general path (the doctor's row, then the patient's), answers a repeated request with the live
-- hold, checks the same limits, and writes the hold, its claim, the slot event and the audit
-- entry. When the doctor has lapsed holds to free first it answers 'lapsed' and changes nothing:
-- freed slots go to the waitlist, which the store's general path decides.
--
-- outcome: 'created' | 'repeat' | 'lapsed' | 'limit' | 'taken' | 'day_full'. An overlapping
-- claim that slipped past the count is refused by the exclusion constraint (23P01).
CREATE FUNCTION medibook_claim_hold(
    p_hold_id TEXT, p_claim_id TEXT, p_doctor_id TEXT, p_patient_id TEXT,
    p_start BIGINT, p_end BIGINT, p_claim_start BIGINT, p_claim_end BIGINT,
    p_expires_at BIGINT, p_now BIGINT, p_max_holds BIGINT,
    p_day_start BIGINT, p_day_end BIGINT, p_day_max BIGINT,
    p_audit_id TEXT, p_actor_user_id TEXT, p_actor_role TEXT, p_client_ip TEXT
) RETURNS TABLE (
    outcome TEXT, hold_id TEXT, start_at BIGINT, end_at BIGINT, expires_at BIGINT,
    created_at BIGINT, seq BIGINT
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    live holds%ROWTYPE;
    taken BIGINT;
    next_seq BIGINT;
BEGIN
    PERFORM 1 FROM doctors WHERE id = p_doctor_id FOR NO KEY UPDATE;
    PERFORM 1 FROM users WHERE id = p_patient_id FOR NO KEY UPDATE;

    SELECT * INTO live FROM holds h
    WHERE h.patient_id = p_patient_id AND h.doctor_id = p_doctor_id AND h.start_at = p_start
      AND h.state = 'active' AND h.expires_at > p_now
    LIMIT 1;
    IF FOUND THEN
        INSERT INTO audit_log (id, at, actor_user_id, actor_role, action, subject_type,
                               subject_id, patient_id, doctor_id, client_ip, detail)
        VALUES (p_audit_id, p_now, p_actor_user_id, p_actor_role, 'hold.read', 'hold',
                live.id, live.patient_id, live.doctor_id, p_client_ip, NULL);
        RETURN QUERY SELECT 'repeat'::TEXT, live.id, live.start_at, live.end_at,
                            live.expires_at, live.created_at, NULL::BIGINT;
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM holds h WHERE h.doctor_id = p_doctor_id AND h.state = 'active'
                                        AND h.expires_at <= p_now) THEN
        RETURN QUERY SELECT 'lapsed'::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
                            NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;

    SELECT COUNT(*) INTO taken FROM holds h
    WHERE h.patient_id = p_patient_id AND h.state = 'active' AND h.expires_at > p_now;
    IF taken >= p_max_holds THEN
        RETURN QUERY SELECT 'limit'::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
                            NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;

    SELECT COUNT(*) INTO taken FROM slot_claims c
    WHERE c.doctor_id = p_doctor_id AND c.claim_start < p_claim_end AND c.claim_end > p_claim_start;
    IF taken > 0 THEN
        RETURN QUERY SELECT 'taken'::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
                            NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
        RETURN;
    END IF;

    IF p_day_max IS NOT NULL THEN
        SELECT COUNT(*) INTO taken FROM slot_claims c
        WHERE c.doctor_id = p_doctor_id AND c.claim_start >= p_day_start
          AND c.claim_start < p_day_end;
        IF taken >= p_day_max THEN
            RETURN QUERY SELECT 'day_full'::TEXT, NULL::TEXT, NULL::BIGINT, NULL::BIGINT,
                                NULL::BIGINT, NULL::BIGINT, NULL::BIGINT;
            RETURN;
        END IF;
    END IF;

    INSERT INTO holds (id, doctor_id, patient_id, start_at, end_at, claim_start, claim_end,
                       expires_at, state, appointment_id, created_at)
    VALUES (p_hold_id, p_doctor_id, p_patient_id, p_start, p_end, p_claim_start, p_claim_end,
            p_expires_at, 'active', NULL, p_now);
    INSERT INTO slot_claims (id, doctor_id, claim_start, claim_end, hold_id, appointment_id,
                             expires_at)
    VALUES (p_claim_id, p_doctor_id, p_claim_start, p_claim_end, p_hold_id, NULL, p_expires_at);
    INSERT INTO slot_events (doctor_id, seq, start_at, end_at, status, recorded_at)
    SELECT p_doctor_id, COALESCE(MAX(e.seq), 0) + 1, p_start, p_end, 'held', p_now
    FROM slot_events e WHERE e.doctor_id = p_doctor_id
    RETURNING slot_events.seq INTO next_seq;
    INSERT INTO audit_log (id, at, actor_user_id, actor_role, action, subject_type,
                           subject_id, patient_id, doctor_id, client_ip, detail)
    VALUES (p_audit_id, p_now, p_actor_user_id, p_actor_role, 'hold.create', 'hold',
            p_hold_id, p_patient_id, p_doctor_id, p_client_ip, NULL);
    RETURN QUERY SELECT 'created'::TEXT, p_hold_id, p_start, p_end, p_expires_at, p_now,
                        next_seq;
END
$$;
