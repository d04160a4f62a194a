//! The SQL of holds, appointments, the occupancy ledger and slot events, as constants, so each
//! statement's text is written once and can be read in one place.

pub(crate) const HOLD_COLUMNS: &str = "id, doctor_id, patient_id, start_at, end_at, claim_start, claim_end, \
     expires_at, state, appointment_id, created_at";
pub(crate) const APPOINTMENT_COLUMNS: &str = "id, doctor_id, patient_id, start_at, end_at, status, \
     reason, notes, origin_hold_id, created_at, updated_at, sequence, late_cancellation";

pub(crate) const LAPSED_HOLDS_OF_DOCTOR: &str = "
    SELECT start_at, end_at FROM holds
    WHERE doctor_id = $1 AND state = 'active' AND expires_at <= $2
    ORDER BY start_at";
pub(crate) const RECORD_SLOT_EVENT: &str = "
    INSERT INTO slot_events (doctor_id, seq, start_at, end_at, status, recorded_at)
    SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM slot_events WHERE doctor_id = $1
    RETURNING seq";
pub(crate) const REQUEUE_ENTRIES_OF_LAPSED_OFFERS: &str = "
    UPDATE waitlist_entries SET state = 'waiting', updated_at = $2
    WHERE state = 'offered'
      AND id IN (SELECT entry_id FROM waitlist_offers
                 WHERE doctor_id = $1 AND state = 'open' AND expires_at <= $2)";
pub(crate) const EXPIRE_LAPSED_OFFERS: &str = "
    UPDATE waitlist_offers SET state = 'expired', updated_at = $2
    WHERE doctor_id = $1 AND state = 'open' AND expires_at <= $2";
pub(crate) const EXPIRE_LAPSED_HOLDS_OF_DOCTOR: &str = "
    UPDATE holds SET state = 'expired'
    WHERE doctor_id = $1 AND state = 'active' AND expires_at <= $2";
pub(crate) const DELETE_LAPSED_CLAIMS_OF_DOCTOR: &str = "
    DELETE FROM slot_claims
    WHERE doctor_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2";
pub(crate) const COUNT_OVERLAPPING_CLAIMS: &str = "
    SELECT COUNT(*) AS n FROM slot_claims
    WHERE doctor_id = $1 AND claim_start < $2 AND claim_end > $3";
pub(crate) const COUNT_CLAIMS_IN_DAY: &str = "
    SELECT COUNT(*) AS n FROM slot_claims
    WHERE doctor_id = $1 AND claim_start >= $2 AND claim_start < $3";
/// Everything a hold request of patient `$1` for doctor `$2`'s slot starting `$3` checks at
/// `$4`, in one statement: a live hold of theirs for it (a repeat), whether the doctor has lapsed
/// holds to free first, the patient's live holds, claims overlapping `[$6, $5)`, and claims
/// starting within the day `[$7, $8)`.
pub(crate) const HOLD_CHECKS: &str = "
    SELECT
      (SELECT COUNT(*) FROM (SELECT 1 FROM holds
         WHERE patient_id = $1 AND doctor_id = $2 AND start_at = $3
           AND state = 'active' AND expires_at > $4 LIMIT 1) r) AS repeats,
      (SELECT COUNT(*) FROM (SELECT 1 FROM holds
         WHERE doctor_id = $2 AND state = 'active' AND expires_at <= $4 LIMIT 1) l) AS lapsed,
      (SELECT COUNT(*) FROM holds
         WHERE patient_id = $1 AND state = 'active' AND expires_at > $4) AS live_holds,
      (SELECT COUNT(*) FROM slot_claims
         WHERE doctor_id = $2 AND claim_start < $5 AND claim_end > $6) AS overlapping,
      (SELECT COUNT(*) FROM slot_claims
         WHERE doctor_id = $2 AND claim_start >= $7 AND claim_start < $8) AS day_claims";
pub(crate) const INSERT_HOLD: &str = "
    INSERT INTO holds (id, doctor_id, patient_id, start_at, end_at, claim_start, claim_end,
                       expires_at, state, appointment_id, created_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'active', NULL, $9)";
pub(crate) const INSERT_HOLD_CLAIM: &str = "
    INSERT INTO slot_claims (id, doctor_id, claim_start, claim_end, hold_id, appointment_id, expires_at)
    VALUES ($1, $2, $3, $4, $5, NULL, $6)";
/// Live claims overlapping an interval that a hold request of `$5` cannot be answered with:
/// appointments, and holds of anyone else. (A patient's own hold is left to the write path,
/// which returns it again when the request is a repeat.)
/// The doctor `$1`'s claims overlapping `[$3, $2)`, lapsed or not, with the doctor's latest slot
/// event (its number and when it was recorded), in one statement (one snapshot on both
/// backends); one row with null claim columns when there are none.
pub(crate) const AGENDA: &str = "
    SELECT s.seq,
           (SELECT e.recorded_at FROM slot_events e
            WHERE e.doctor_id = $1 AND e.seq = s.seq) AS latest_at,
           c.claim_start, c.claim_end, c.expires_at,
           CAST(CASE WHEN c.appointment_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS booked
    FROM (SELECT COALESCE(MAX(seq), 0) AS seq FROM slot_events WHERE doctor_id = $1) s
    LEFT JOIN slot_claims c
      ON c.doctor_id = $1 AND c.claim_start < $2 AND c.claim_end > $3";
/// A live claim overlapping `[$3, $2)` that refuses patient `$5` (anything but their own hold).
pub(crate) const CLAIM_IN_THE_WAY: &str = "
    SELECT c.claim_start, c.claim_end,
           CASE WHEN c.appointment_id IS NULL THEN h.patient_id END AS holder
    FROM slot_claims c LEFT JOIN holds h ON h.id = c.hold_id
    WHERE c.doctor_id = $1 AND c.claim_start < $2 AND c.claim_end > $3
      AND (c.expires_at IS NULL OR c.expires_at > $4)
      AND (c.appointment_id IS NOT NULL OR h.patient_id IS NULL OR h.patient_id <> $5)
    LIMIT 1";
pub(crate) const CLAIM_OF_HOLD: &str = "SELECT id FROM slot_claims WHERE hold_id = $1";
/// What confirming hold `$1` of patient `$2` for doctor `$3` checks at `$4`, in one statement:
/// whether the doctor has lapsed holds to free first, whether the hold still has its claim,
/// the patient's upcoming appointments, and whether the hold carries a waitlist offer.
pub(crate) const CONFIRM_CHECKS: &str = "
    SELECT
      (SELECT COUNT(*) FROM (SELECT 1 FROM holds
         WHERE doctor_id = $3 AND state = 'active' AND expires_at <= $4 LIMIT 1) l) AS lapsed,
      (SELECT COUNT(*) FROM slot_claims WHERE hold_id = $1) AS claimed,
      (SELECT COUNT(*) FROM appointments
         WHERE patient_id = $2 AND status = 'scheduled' AND start_at > $4) AS upcoming,
      (SELECT COUNT(*) FROM waitlist_offers WHERE hold_id = $1) AS offers";
pub(crate) const DELETE_CLAIM_OF_HOLD: &str =
    "DELETE FROM slot_claims WHERE hold_id = $1 AND appointment_id IS NULL";
pub(crate) const DELETE_CLAIM_OF_APPOINTMENT: &str =
    "DELETE FROM slot_claims WHERE appointment_id = $1";
pub(crate) const TURN_CLAIM_INTO_APPOINTMENT: &str = "
    UPDATE slot_claims SET appointment_id = $1, expires_at = NULL WHERE hold_id = $2";
pub(crate) const SET_HOLD_STATE: &str = "UPDATE holds SET state = $1 WHERE id = $2";
pub(crate) const MARK_HOLD_CONFIRMED: &str =
    "UPDATE holds SET state = 'confirmed', appointment_id = $1 WHERE id = $2";
pub(crate) const INSERT_APPOINTMENT: &str = "
    INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, reason, notes,
                              origin_hold_id, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, NULL, $7, $8, $8)";
pub(crate) const CANCEL_APPOINTMENT: &str = "
    UPDATE appointments SET status = 'cancelled', updated_at = $1, sequence = sequence + 1,
                            late_cancellation = $2
    WHERE id = $3";
pub(crate) const MOVE_APPOINTMENT: &str = "
    UPDATE appointments SET start_at = $1, end_at = $2, updated_at = $3, sequence = sequence + 1
    WHERE id = $4";
pub(crate) const SLOT_EVENTS_AFTER: &str = "
    SELECT seq, start_at, end_at, status FROM slot_events
    WHERE doctor_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
pub(crate) const LATEST_SLOT_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0) AS seq FROM slot_events WHERE doctor_id = $1";
/// The doctor's latest slot event's number and time; no row before the first.
pub(crate) const LATEST_SLOT_MARK: &str = "
    SELECT seq, recorded_at FROM slot_events WHERE doctor_id = $1 ORDER BY seq DESC LIMIT 1";
pub(crate) const DOCTORS_WITH_LAPSED_HOLDS: &str =
    "SELECT DISTINCT doctor_id FROM holds WHERE state = 'active' AND expires_at <= $1";
pub(crate) const SETTLE_ENTRY_OF_HOLD: &str = "
    UPDATE waitlist_entries SET state = $2, updated_at = $3
    WHERE state = 'offered'
      AND id IN (SELECT entry_id FROM waitlist_offers WHERE hold_id = $1 AND state = 'open')";
pub(crate) const SETTLE_OFFER_OF_HOLD: &str = "
    UPDATE waitlist_offers SET state = $2, updated_at = $3 WHERE hold_id = $1 AND state = 'open'";
