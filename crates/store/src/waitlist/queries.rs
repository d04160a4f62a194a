//! The SQL of the waitlist: entries, offers and the queries the offering runs, as constants.

pub(crate) const ENTRY_COLUMNS: &str = "id, patient_id, doctor_id, specialty_id, from_date, to_date, weekdays, earliest, latest, \
     state, queued_at";
pub(super) const OFFER_COLUMNS: &str =
    "id, entry_id, patient_id, doctor_id, hold_id, start_at, end_at, expires_at, state";

/// Waiting entries that may be offered a slot of the doctor, in queue order: for this doctor or
/// its specialty, and of patients without an open offer.
pub(super) const WAITERS_FOR_DOCTOR: &str = "
    SELECT e.id, e.patient_id, e.from_date, e.to_date, e.weekdays, e.earliest, e.latest
    FROM waitlist_entries e
    WHERE e.state = 'waiting'
      AND (e.doctor_id = $1
           OR e.specialty_id = (SELECT d.specialty_id FROM doctors d WHERE d.id = $1))
      AND NOT EXISTS (SELECT 1 FROM waitlist_offers o
                      WHERE o.patient_id = e.patient_id AND o.state = 'open')
    ORDER BY e.queued_at, e.id";
pub(super) const OFFERED_BEFORE: &str = "
    SELECT entry_id, start_at FROM waitlist_offers WHERE doctor_id = $1 AND start_at >= $2";
pub(super) const MARK_ENTRY_OFFERED: &str = "
    UPDATE waitlist_entries SET state = 'offered', updated_at = $2
    WHERE id = $1 AND state = 'waiting'";
pub(super) const INSERT_OFFER: &str = "
    INSERT INTO waitlist_offers (id, entry_id, patient_id, doctor_id, hold_id, start_at, end_at,
                                 expires_at, state, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $9)
    ON CONFLICT (patient_id) WHERE state = 'open' DO NOTHING";
pub(super) const CONTACT_OF_USER: &str = "SELECT email, phone FROM users WHERE id = $1";
pub(super) const ACTIVE_ENTRIES_OF_PATIENT: &str = "
    SELECT COUNT(*) AS n FROM waitlist_entries
    WHERE patient_id = $1 AND state IN ('waiting', 'offered')";
pub(super) const INSERT_ENTRY: &str = "
    INSERT INTO waitlist_entries (id, patient_id, doctor_id, specialty_id, from_date, to_date,
                                  state, queued_at, updated_at, weekdays, earliest, latest)
    VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $7, $7, $8, $9, $10)";
pub(super) const LEAVE_WAITING_ENTRY: &str = "
    UPDATE waitlist_entries SET state = 'left', updated_at = $2
    WHERE id = $1 AND state = 'waiting'";
pub(super) const LEAVE_ENTRY: &str = "
    UPDATE waitlist_entries SET state = 'left', updated_at = $2
    WHERE id = $1 AND state IN ('waiting', 'offered')";
