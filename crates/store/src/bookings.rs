//! Holds, appointments and the occupancy ledger (`slot_claims`).
//!
//! Every change is one transaction from [`Database::begin_write`]. Inside it, lapsed holds of
//! the doctor are expired and their claims deleted *before* the new claim is checked and
//! written, so an expired hold stops occupying at `expires_at` whether or not the sweeper ran.
//! The decision rules (who may cancel what, when) come from `medibook-core`; this module only
//! makes them atomic.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::Actor;
use medibook_core::booking::{
    Appointment, AppointmentStatus, Hold, HoldState, Occupancy, Reason, SlotStatus,
};
use medibook_core::booking_audit;
use medibook_core::events::{SlotEvent, SlotEventLog};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};
use medibook_core::notifications::Change;
use medibook_core::ports::{
    Booked, BookingRepository, Claimed, Confirmation, DayLimit, HoldClaim, Recorded, Reschedule,
};
use medibook_core::slots::Slot;
use medibook_core::waitlist::{EntryState, OfferState};
use medibook_core::{BookingError, BookingResult};
use sqlx::any::AnyRow;
use sqlx::{Any, AssertSqlSafe, Row};
use uuid::Uuid;

use crate::Database;
use crate::audit::record_in;
use crate::columns::{counter, micros, named, optional_parsed, parsed, placeholders, timestamp};
use crate::error::{StoreError, claim_error};
use crate::notify::queue_appointment_messages;
use crate::waitlist::{offer_free_slots, settle_offer_of_hold};

pub(crate) type Tx = crate::WriteTx;

pub(crate) const HOLD_COLUMNS: &str = "id, doctor_id, patient_id, start_at, end_at, claim_start, claim_end, \
     expires_at, state, appointment_id, created_at";
pub(crate) const APPOINTMENT_COLUMNS: &str = "id, doctor_id, patient_id, start_at, end_at, status, \
     reason, notes, origin_hold_id, created_at, updated_at, sequence, late_cancellation";

const LAPSED_HOLDS_OF_DOCTOR: &str = "
    SELECT start_at, end_at FROM holds
    WHERE doctor_id = $1 AND state = 'active' AND expires_at <= $2
    ORDER BY start_at";
const RECORD_SLOT_EVENT: &str = "
    INSERT INTO slot_events (doctor_id, seq, start_at, end_at, status, recorded_at)
    SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5 FROM slot_events WHERE doctor_id = $1
    RETURNING seq";
const REQUEUE_ENTRIES_OF_LAPSED_OFFERS: &str = "
    UPDATE waitlist_entries SET state = 'waiting', updated_at = $2
    WHERE state = 'offered'
      AND id IN (SELECT entry_id FROM waitlist_offers
                 WHERE doctor_id = $1 AND state = 'open' AND expires_at <= $2)";
const EXPIRE_LAPSED_OFFERS: &str = "
    UPDATE waitlist_offers SET state = 'expired', updated_at = $2
    WHERE doctor_id = $1 AND state = 'open' AND expires_at <= $2";
const EXPIRE_LAPSED_HOLDS_OF_DOCTOR: &str = "
    UPDATE holds SET state = 'expired'
    WHERE doctor_id = $1 AND state = 'active' AND expires_at <= $2";
const DELETE_LAPSED_CLAIMS_OF_DOCTOR: &str = "
    DELETE FROM slot_claims
    WHERE doctor_id = $1 AND expires_at IS NOT NULL AND expires_at <= $2";
const COUNT_OVERLAPPING_CLAIMS: &str = "
    SELECT COUNT(*) AS n FROM slot_claims
    WHERE doctor_id = $1 AND claim_start < $2 AND claim_end > $3";
pub(crate) const COUNT_CLAIMS_IN_DAY: &str = "
    SELECT COUNT(*) AS n FROM slot_claims
    WHERE doctor_id = $1 AND claim_start >= $2 AND claim_start < $3";
const COUNT_LIVE_HOLDS_OF_PATIENT: &str = "
    SELECT COUNT(*) AS n FROM holds
    WHERE patient_id = $1 AND state = 'active' AND expires_at > $2";
const COUNT_UPCOMING_APPOINTMENTS_OF_PATIENT: &str = "
    SELECT COUNT(*) AS n FROM appointments
    WHERE patient_id = $1 AND status = 'scheduled' AND start_at > $2";
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
const COUNT_CLAIMS_TAKEN_FROM_PATIENT: &str = "
    SELECT COUNT(*) AS n FROM slot_claims c LEFT JOIN holds h ON h.id = c.hold_id
    WHERE c.doctor_id = $1 AND c.claim_start < $2 AND c.claim_end > $3
      AND (c.expires_at IS NULL OR c.expires_at > $4)
      AND (c.appointment_id IS NOT NULL OR h.patient_id IS NULL OR h.patient_id <> $5)";
const CLAIM_OF_HOLD: &str = "SELECT id FROM slot_claims WHERE hold_id = $1";
const DELETE_CLAIM_OF_HOLD: &str =
    "DELETE FROM slot_claims WHERE hold_id = $1 AND appointment_id IS NULL";
const DELETE_CLAIM_OF_APPOINTMENT: &str = "DELETE FROM slot_claims WHERE appointment_id = $1";
const TURN_CLAIM_INTO_APPOINTMENT: &str = "
    UPDATE slot_claims SET appointment_id = $1, expires_at = NULL WHERE hold_id = $2";
const SET_HOLD_STATE: &str = "UPDATE holds SET state = $1 WHERE id = $2";
const MARK_HOLD_CONFIRMED: &str =
    "UPDATE holds SET state = 'confirmed', appointment_id = $1 WHERE id = $2";
const INSERT_APPOINTMENT: &str = "
    INSERT INTO appointments (id, doctor_id, patient_id, start_at, end_at, status, reason, notes,
                              origin_hold_id, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, 'scheduled', $6, NULL, $7, $8, $8)";
const CANCEL_APPOINTMENT: &str = "
    UPDATE appointments SET status = 'cancelled', updated_at = $1, sequence = sequence + 1,
                            late_cancellation = $2
    WHERE id = $3";
const MOVE_APPOINTMENT: &str = "
    UPDATE appointments SET start_at = $1, end_at = $2, updated_at = $3, sequence = sequence + 1
    WHERE id = $4";
const SLOT_EVENTS_AFTER: &str = "
    SELECT seq, start_at, end_at, status FROM slot_events
    WHERE doctor_id = $1 AND seq > $2 ORDER BY seq LIMIT $3";
const LATEST_SLOT_SEQ: &str =
    "SELECT COALESCE(MAX(seq), 0) AS seq FROM slot_events WHERE doctor_id = $1";
const DOCTORS_WITH_LAPSED_HOLDS: &str =
    "SELECT DISTINCT doctor_id FROM holds WHERE state = 'active' AND expires_at <= $1";

pub(crate) fn hold_from(row: &AnyRow) -> Result<Hold, StoreError> {
    Ok(Hold {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        patient_id: parsed(row, "patient_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        expires_at: timestamp(row, "expires_at")?,
        state: named(row, "state", HoldState::parse)?,
        appointment_id: optional_parsed(row, "appointment_id")?,
        created_at: timestamp(row, "created_at")?,
    })
}

pub(crate) fn appointment_from(row: &AnyRow) -> Result<Appointment, StoreError> {
    Ok(Appointment {
        id: parsed(row, "id")?,
        doctor_id: parsed(row, "doctor_id")?,
        patient_id: parsed(row, "patient_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        status: named(row, "status", AppointmentStatus::parse)?,
        reason: Reason::from_stored(row.try_get("reason")?),
        notes: row.try_get("notes")?,
        created_at: timestamp(row, "created_at")?,
        updated_at: timestamp(row, "updated_at")?,
        sequence: counter(row, "sequence")?,
        late_cancellation: row.try_get::<i64, _>("late_cancellation")? != 0,
    })
}

/// A hold as stored, with the agenda interval it claims.
struct StoredHold {
    hold: Hold,
    claim: (Timestamp, Timestamp),
}

async fn load_hold(tx: &mut Tx, id: HoldId) -> Result<Option<StoredHold>, StoreError> {
    let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.map(|row| {
        Ok(StoredHold {
            hold: hold_from(&row)?,
            claim: (
                timestamp(&row, "claim_start")?,
                timestamp(&row, "claim_end")?,
            ),
        })
    })
    .transpose()
}

async fn load_appointment(
    tx: &mut Tx,
    id: AppointmentId,
) -> Result<Option<Appointment>, StoreError> {
    let sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?;
    row.as_ref().map(appointment_from).transpose()
}

/// A bound statement argument: the store binds only text (ids, names) and integers (instants).
pub(crate) enum Arg {
    Text(String),
    Int(i64),
}

impl From<i64> for Arg {
    fn from(value: i64) -> Self {
        Arg::Int(value)
    }
}

impl From<&str> for Arg {
    fn from(value: &str) -> Self {
        Arg::Text(value.to_owned())
    }
}

impl From<String> for Arg {
    fn from(value: String) -> Self {
        Arg::Text(value)
    }
}

pub(crate) fn bind_all<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    args: Vec<Arg>,
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text),
            Arg::Int(int) => query.bind(int),
        };
    }
    query
}

/// Runs a statement inside the transaction.
pub(crate) async fn exec(tx: &mut Tx, sql: &'static str, args: Vec<Arg>) -> Result<(), StoreError> {
    bind_all(sqlx::query(sql), args).execute(&mut **tx).await?;
    Ok(())
}

/// Runs a `SELECT COUNT(*) AS n …` inside the transaction.
pub(crate) async fn count(
    tx: &mut Tx,
    sql: &'static str,
    args: Vec<Arg>,
) -> Result<i64, StoreError> {
    let row = bind_all(sqlx::query(sql), args)
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.try_get("n")?)
}

/// Records a change of a slot's status as the doctor's next event, inside the transaction that
/// makes the change (writers on one doctor are serialised, so `MAX(seq) + 1` cannot race; the
/// primary key is the backstop).
pub(crate) async fn record_slot_event(
    tx: &mut Tx,
    doctor_id: DoctorId,
    start: Timestamp,
    end: Timestamp,
    status: SlotStatus,
    now: Timestamp,
) -> Result<SlotEvent, StoreError> {
    let row = bind_all(
        sqlx::query(RECORD_SLOT_EVENT),
        vec![
            doctor_id.to_string().into(),
            micros(start).into(),
            micros(end).into(),
            status.as_str().into(),
            micros(now).into(),
        ],
    )
    .fetch_one(&mut **tx)
    .await?;
    Ok(SlotEvent {
        doctor_id,
        seq: row.try_get("seq")?,
        start,
        end,
        status,
    })
}

/// Expires the doctor's lapsed holds and deletes their claims; their slots become available.
/// Lapsed waitlist offers expire with their holds and their entries wait again.
pub(crate) async fn free_lapsed_claims(
    tx: &mut Tx,
    doctor_id: DoctorId,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let lapsed = bind_all(
        sqlx::query(LAPSED_HOLDS_OF_DOCTOR),
        vec![doctor_id.to_string().into(), micros(now).into()],
    )
    .fetch_all(&mut **tx)
    .await?;
    if lapsed.is_empty() {
        return Ok(Recorded::default());
    }
    for sql in [
        REQUEUE_ENTRIES_OF_LAPSED_OFFERS,
        EXPIRE_LAPSED_OFFERS,
        EXPIRE_LAPSED_HOLDS_OF_DOCTOR,
        DELETE_LAPSED_CLAIMS_OF_DOCTOR,
    ] {
        exec(
            tx,
            sql,
            vec![doctor_id.to_string().into(), micros(now).into()],
        )
        .await?;
    }
    let mut recorded = Recorded::default();
    for row in &lapsed {
        let (start, end) = (timestamp(row, "start_at")?, timestamp(row, "end_at")?);
        recorded
            .slots
            .push(record_slot_event(tx, doctor_id, start, end, SlotStatus::Available, now).await?);
    }
    Ok(recorded)
}

/// Releases an active hold inside the transaction (which holds the doctor's lock): its claim is
/// deleted, an offer it carried is declined, and the slot is recorded as available.
pub(crate) async fn release_active_hold(
    tx: &mut Tx,
    hold: &Hold,
    now: Timestamp,
) -> Result<SlotEvent, StoreError> {
    exec(tx, DELETE_CLAIM_OF_HOLD, vec![hold.id.to_string().into()]).await?;
    exec(
        tx,
        SET_HOLD_STATE,
        vec![
            HoldState::Released.as_str().into(),
            hold.id.to_string().into(),
        ],
    )
    .await?;
    settle_offer_of_hold(tx, hold.id, OfferState::Declined, EntryState::Waiting, now).await?;
    record_slot_event(
        tx,
        hold.doctor_id,
        hold.start,
        hold.end,
        SlotStatus::Available,
        now,
    )
    .await
}

/// Makes sure the hold's interval is claimed: its own claim if it still has one, otherwise a new
/// claim if nothing else occupies the interval now (a lapsed hold may be used while its slot is
/// still free). `HoldExpired` if the slot was taken in the meantime.
async fn ensure_hold_claim(
    tx: &mut Tx,
    stored: &StoredHold,
    day_limit: Option<DayLimit>,
    now: Timestamp,
) -> BookingResult<Recorded> {
    let hold = &stored.hold;
    let freed = free_lapsed_claims(tx, hold.doctor_id, now).await?;
    let existing = sqlx::query(CLAIM_OF_HOLD)
        .bind(hold.id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
    if existing.is_some() {
        return Ok(freed);
    }
    // A lapsed offer's slot passes on to the queue: its hold cannot be revived like a plain
    // hold (the patient would book while their entry waits on and is offered more slots).
    let carried_offer = sqlx::query("SELECT 1 FROM waitlist_offers WHERE hold_id = $1")
        .bind(hold.id.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(StoreError::from)?;
    if carried_offer.is_some() {
        return Err(BookingError::HoldExpired);
    }
    let (claim_start, claim_end) = stored.claim;
    let overlapping = count(
        tx,
        COUNT_OVERLAPPING_CLAIMS,
        vec![
            hold.doctor_id.to_string().into(),
            micros(claim_end).into(),
            micros(claim_start).into(),
        ],
    )
    .await?;
    if overlapping > 0 {
        return Err(BookingError::HoldExpired);
    }
    check_day_limit(tx, hold.doctor_id, day_limit).await?;
    sqlx::query(INSERT_HOLD_CLAIM)
        .bind(Uuid::now_v7().to_string())
        .bind(hold.doctor_id.to_string())
        .bind(micros(claim_start))
        .bind(micros(claim_end))
        .bind(hold.id.to_string())
        .bind(micros(now))
        .execute(&mut **tx)
        .await
        .map_err(|e| match claim_error(e) {
            BookingError::SlotTaken => BookingError::HoldExpired,
            other => other,
        })?;
    Ok(freed)
}

/// `DayFull` if the doctor's day already has its maximum of claims.
pub(crate) async fn check_day_limit(
    tx: &mut Tx,
    doctor_id: DoctorId,
    day_limit: Option<DayLimit>,
) -> BookingResult<()> {
    let Some(DayLimit {
        day: (day_start, day_end),
        max,
    }) = day_limit
    else {
        return Ok(());
    };
    let taken = count(
        tx,
        COUNT_CLAIMS_IN_DAY,
        vec![
            doctor_id.to_string().into(),
            micros(day_start).into(),
            micros(day_end).into(),
        ],
    )
    .await?;
    if taken >= i64::from(max) {
        return Err(BookingError::DayFull);
    }
    Ok(())
}

/// Gives the hold's claim to the appointment (it now occupies the slot for good), marks the hold
/// used, and records the slot as booked. Shared by confirm and reschedule.
async fn book_hold(
    tx: &mut Tx,
    hold: &Hold,
    appointment_id: AppointmentId,
    now: Timestamp,
) -> Result<SlotEvent, StoreError> {
    let args = || {
        vec![
            appointment_id.to_string().into(),
            hold.id.to_string().into(),
        ]
    };
    exec(tx, TURN_CLAIM_INTO_APPOINTMENT, args()).await?;
    exec(tx, MARK_HOLD_CONFIRMED, args()).await?;
    settle_offer_of_hold(
        tx,
        hold.id,
        OfferState::Accepted,
        EntryState::Fulfilled,
        now,
    )
    .await?;
    record_slot_event(
        tx,
        hold.doctor_id,
        hold.start,
        hold.end,
        SlotStatus::Booked,
        now,
    )
    .await
}

async fn commit(tx: Tx) -> Result<(), StoreError> {
    tx.commit().await?;
    Ok(())
}

#[async_trait]
impl BookingRepository for Database {
    async fn claim_hold(&self, claim: &HoldClaim, now: Timestamp) -> BookingResult<Claimed> {
        // When many patients ask for one slot at once, all but one lose. Losers are answered
        // from a plain read, without queueing for the write lock (SQLite) or the doctor's row
        // lock (PostgreSQL) behind each other: a live claim someone else made is already
        // visible, and claims only go away by release or expiry, so `SlotTaken` was true when
        // read. Everyone else goes on to the serialised check below, which alone decides.
        let (claim_start, claim_end) = claim.claim;
        let taken: i64 = sqlx::query(COUNT_CLAIMS_TAKEN_FROM_PATIENT)
            .bind(claim.doctor_id.to_string())
            .bind(micros(claim_end))
            .bind(micros(claim_start))
            .bind(micros(now))
            .bind(claim.patient_id.to_string())
            .fetch_one(self.pool())
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(StoreError::from)?;
        if taken > 0 {
            return Err(BookingError::SlotTaken);
        }

        let mut tx = self.begin_write().await?;
        self.lock_agenda(&mut tx, claim.doctor_id, claim.patient_id)
            .await?;

        // A repeated request (say, a retry after a lost response) gets the same hold back.
        let sql = format!(
            "SELECT {HOLD_COLUMNS} FROM holds
             WHERE patient_id = $1 AND doctor_id = $2 AND start_at = $3
               AND state = 'active' AND expires_at > $4"
        );
        let repeat = sqlx::query(AssertSqlSafe(sql))
            .bind(claim.patient_id.to_string())
            .bind(claim.doctor_id.to_string())
            .bind(micros(claim.slot.start))
            .bind(micros(now))
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(row) = repeat {
            let hold = hold_from(&row)?;
            let mut events = Recorded::default();
            let entry = booking_audit::claimed(&hold, false);
            record_in(&mut tx, &mut events, &claim.actor, now, entry).await?;
            commit(tx).await?;
            return Ok(Claimed {
                hold,
                created: false,
                events,
            });
        }

        let mut events = free_lapsed_claims(&mut tx, claim.doctor_id, now).await?;

        let live_holds = count(
            &mut tx,
            COUNT_LIVE_HOLDS_OF_PATIENT,
            vec![claim.patient_id.to_string().into(), micros(now).into()],
        )
        .await?;
        if live_holds >= i64::from(claim.max_holds_per_patient) {
            return Err(BookingError::LimitReached(format!(
                "you can hold at most {} slots at a time; release or confirm one first",
                claim.max_holds_per_patient
            )));
        }

        let overlapping = count(
            &mut tx,
            COUNT_OVERLAPPING_CLAIMS,
            vec![
                claim.doctor_id.to_string().into(),
                micros(claim_end).into(),
                micros(claim_start).into(),
            ],
        )
        .await?;
        if overlapping > 0 {
            return Err(BookingError::SlotTaken);
        }

        check_day_limit(&mut tx, claim.doctor_id, claim.day_limit).await?;

        exec(
            &mut tx,
            INSERT_HOLD,
            vec![
                claim.hold_id.to_string().into(),
                claim.doctor_id.to_string().into(),
                claim.patient_id.to_string().into(),
                micros(claim.slot.start).into(),
                micros(claim.slot.end).into(),
                micros(claim_start).into(),
                micros(claim_end).into(),
                micros(claim.expires_at).into(),
                micros(now).into(),
            ],
        )
        .await?;
        sqlx::query(INSERT_HOLD_CLAIM)
            .bind(Uuid::now_v7().to_string())
            .bind(claim.doctor_id.to_string())
            .bind(micros(claim_start))
            .bind(micros(claim_end))
            .bind(claim.hold_id.to_string())
            .bind(micros(claim.expires_at))
            .execute(&mut *tx)
            .await
            .map_err(claim_error)?;
        events.slots.push(
            record_slot_event(
                &mut tx,
                claim.doctor_id,
                claim.slot.start,
                claim.slot.end,
                SlotStatus::Held,
                now,
            )
            .await?,
        );
        if events.freed_any() {
            events.extend(offer_free_slots(&mut tx, &self.offering(), claim.doctor_id, now).await?);
        }
        let hold = Hold {
            id: claim.hold_id,
            doctor_id: claim.doctor_id,
            patient_id: claim.patient_id,
            start: claim.slot.start,
            end: claim.slot.end,
            expires_at: claim.expires_at,
            state: HoldState::Active,
            appointment_id: None,
            created_at: now,
        };
        let entry = booking_audit::claimed(&hold, true);
        record_in(&mut tx, &mut events, &claim.actor, now, entry).await?;
        tx.commit().await.map_err(claim_error)?;

        Ok(Claimed {
            hold,
            created: true,
            events,
        })
    }

    async fn release_hold(
        &self,
        hold_id: HoldId,
        patient_id: UserId,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Recorded> {
        let mut tx = self.begin_write().await?;
        let hold = self.locked_hold(&mut tx, hold_id, patient_id).await?.hold;
        let mut recorded = Recorded::default();
        match hold.state {
            // Already given back or lapsed: nothing changes, but the request is recorded.
            HoldState::Released | HoldState::Expired => {}
            HoldState::Confirmed => {
                return Err(BookingError::InvalidState(
                    "this hold became an appointment; cancel the appointment instead".into(),
                ));
            }
            HoldState::Active => {
                recorded
                    .slots
                    .push(release_active_hold(&mut tx, &hold, now).await?);
                recorded.extend(
                    offer_free_slots(&mut tx, &self.offering(), hold.doctor_id, now).await?,
                );
            }
        }
        let entry = booking_audit::released(hold_id, patient_id);
        record_in(&mut tx, &mut recorded, actor, now, entry).await?;
        commit(tx).await?;
        Ok(recorded)
    }

    async fn confirm_hold(
        &self,
        confirmation: &Confirmation,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        let mut tx = self.begin_write().await?;
        let stored = self
            .locked_hold(&mut tx, confirmation.hold_id, confirmation.patient_id)
            .await?;
        let hold = &stored.hold;
        match (hold.state, hold.appointment_id) {
            (HoldState::Confirmed, Some(appointment_id)) => {
                // A repeat: the hold already became (or moved) this appointment.
                let appointment = load_appointment(&mut tx, appointment_id)
                    .await?
                    .ok_or(BookingError::NotFound("appointment"))?;
                let mut events = Recorded::default();
                let entry = booking_audit::confirmed(&appointment, false);
                record_in(&mut tx, &mut events, &confirmation.actor, now, entry).await?;
                commit(tx).await?;
                return Ok(Booked {
                    appointment,
                    changed: false,
                    moved_from: None,
                    events,
                });
            }
            (HoldState::Released | HoldState::Confirmed, _) => {
                return Err(BookingError::HoldNotFound);
            }
            (HoldState::Active | HoldState::Expired, _) => {}
        }

        let mut events = ensure_hold_claim(&mut tx, &stored, confirmation.day_limit, now).await?;

        let upcoming = count(
            &mut tx,
            COUNT_UPCOMING_APPOINTMENTS_OF_PATIENT,
            vec![
                confirmation.patient_id.to_string().into(),
                micros(now).into(),
            ],
        )
        .await?;
        if upcoming >= i64::from(confirmation.max_active_appointments) {
            return Err(BookingError::LimitReached(format!(
                "you can have at most {} upcoming appointments",
                confirmation.max_active_appointments
            )));
        }

        let appointment_id = confirmation.appointment_id;
        exec(
            &mut tx,
            INSERT_APPOINTMENT,
            vec![
                appointment_id.to_string().into(),
                hold.doctor_id.to_string().into(),
                hold.patient_id.to_string().into(),
                micros(hold.start).into(),
                micros(hold.end).into(),
                confirmation.reason.as_str().to_owned().into(),
                hold.id.to_string().into(),
                micros(now).into(),
            ],
        )
        .await?;
        events
            .slots
            .push(book_hold(&mut tx, hold, appointment_id, now).await?);
        if events.freed_any() {
            events.extend(offer_free_slots(&mut tx, &self.offering(), hold.doctor_id, now).await?);
        }
        let appointment = Appointment {
            id: appointment_id,
            doctor_id: hold.doctor_id,
            patient_id: hold.patient_id,
            start: hold.start,
            end: hold.end,
            status: AppointmentStatus::Scheduled,
            reason: confirmation.reason.clone(),
            notes: None,
            created_at: now,
            updated_at: now,
            sequence: 0,
            late_cancellation: false,
        };
        queue_appointment_messages(
            &mut tx,
            self.notifications.as_deref(),
            Change::Booked,
            &appointment,
            now,
        )
        .await?;
        let entry = booking_audit::confirmed(&appointment, true);
        record_in(&mut tx, &mut events, &confirmation.actor, now, entry).await?;
        commit(tx).await?;

        Ok(Booked {
            appointment,
            changed: true,
            moved_from: None,
            events,
        })
    }

    async fn cancel_appointment(
        &self,
        appointment_id: AppointmentId,
        patient_id: UserId,
        late_window: SignedDuration,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        let mut tx = self.begin_write().await?;
        let appointment = self
            .locked_appointment(&mut tx, appointment_id, patient_id)
            .await?;
        if !appointment.check_cancel(now)? {
            let mut events = Recorded::default();
            let entry = booking_audit::cancelled(&appointment, false);
            record_in(&mut tx, &mut events, actor, now, entry).await?;
            commit(tx).await?;
            return Ok(Booked {
                appointment,
                changed: false,
                moved_from: None,
                events,
            });
        }
        let late = appointment.is_late_cancellation(now, late_window);
        exec(
            &mut tx,
            CANCEL_APPOINTMENT,
            vec![
                micros(now).into(),
                i64::from(late).into(),
                appointment_id.to_string().into(),
            ],
        )
        .await?;
        exec(
            &mut tx,
            DELETE_CLAIM_OF_APPOINTMENT,
            vec![appointment_id.to_string().into()],
        )
        .await?;
        let mut events = Recorded::default();
        events.slots.push(
            record_slot_event(
                &mut tx,
                appointment.doctor_id,
                appointment.start,
                appointment.end,
                SlotStatus::Available,
                now,
            )
            .await?,
        );
        events.extend(free_lapsed_claims(&mut tx, appointment.doctor_id, now).await?);
        events
            .extend(offer_free_slots(&mut tx, &self.offering(), appointment.doctor_id, now).await?);
        let appointment = Appointment {
            status: AppointmentStatus::Cancelled,
            updated_at: now,
            sequence: appointment.sequence + 1,
            late_cancellation: late,
            ..appointment
        };
        queue_appointment_messages(
            &mut tx,
            self.notifications.as_deref(),
            Change::Cancelled,
            &appointment,
            now,
        )
        .await?;
        let entry = booking_audit::cancelled(&appointment, true);
        record_in(&mut tx, &mut events, actor, now, entry).await?;
        commit(tx).await?;
        Ok(Booked {
            appointment,
            changed: true,
            moved_from: None,
            events,
        })
    }

    async fn reschedule_appointment(
        &self,
        request: &Reschedule,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        let Reschedule {
            appointment_id,
            hold_id,
            patient_id,
            day_limit,
            ref actor,
        } = *request;
        let mut tx = self.begin_write().await?;
        // Locks the appointment's doctor and patient; a hold of another doctor is refused below.
        let appointment = self
            .locked_appointment(&mut tx, appointment_id, patient_id)
            .await?;
        let stored = load_hold(&mut tx, hold_id)
            .await?
            .filter(|s| s.hold.patient_id == patient_id)
            .ok_or(BookingError::HoldNotFound)?;
        let hold = &stored.hold;
        match (hold.state, hold.appointment_id) {
            (HoldState::Confirmed, Some(id)) if id == appointment_id => {
                let mut events = Recorded::default();
                let entry = booking_audit::rescheduled(&appointment, false);
                record_in(&mut tx, &mut events, actor, now, entry).await?;
                commit(tx).await?;
                return Ok(Booked {
                    appointment,
                    changed: false,
                    moved_from: None,
                    events,
                });
            }
            (HoldState::Confirmed, _) => {
                return Err(BookingError::InvalidState(
                    "this hold was already used for another appointment".into(),
                ));
            }
            (HoldState::Released, _) => return Err(BookingError::HoldNotFound),
            (HoldState::Active | HoldState::Expired, _) => {}
        }
        appointment.check_reschedule(now)?;
        if hold.doctor_id != appointment.doctor_id {
            return Err(BookingError::validation(
                "an appointment can only be moved to another slot of the same doctor",
            ));
        }

        // Free the old time first so the new slot may overlap it (moving by a few minutes);
        // if anything below fails, the rollback restores it.
        exec(
            &mut tx,
            DELETE_CLAIM_OF_APPOINTMENT,
            vec![appointment_id.to_string().into()],
        )
        .await?;
        let mut events = Recorded::default();
        events.slots.push(
            record_slot_event(
                &mut tx,
                appointment.doctor_id,
                appointment.start,
                appointment.end,
                SlotStatus::Available,
                now,
            )
            .await?,
        );
        events.extend(ensure_hold_claim(&mut tx, &stored, day_limit, now).await?);
        exec(
            &mut tx,
            MOVE_APPOINTMENT,
            vec![
                micros(hold.start).into(),
                micros(hold.end).into(),
                micros(now).into(),
                appointment_id.to_string().into(),
            ],
        )
        .await?;
        events
            .slots
            .push(book_hold(&mut tx, hold, appointment_id, now).await?);
        // The old time is free now that the move is certain: offer it to the waitlist.
        events
            .extend(offer_free_slots(&mut tx, &self.offering(), appointment.doctor_id, now).await?);
        let from = Slot {
            start: appointment.start,
            end: appointment.end,
        };
        let appointment = Appointment {
            start: hold.start,
            end: hold.end,
            updated_at: now,
            sequence: appointment.sequence + 1,
            ..appointment
        };
        queue_appointment_messages(
            &mut tx,
            self.notifications.as_deref(),
            Change::Rescheduled { from },
            &appointment,
            now,
        )
        .await?;
        let entry = booking_audit::rescheduled(&appointment, true);
        record_in(&mut tx, &mut events, actor, now, entry).await?;
        commit(tx).await?;

        Ok(Booked {
            moved_from: Some(from),
            appointment,
            changed: true,
            events,
        })
    }

    async fn hold(&self, id: HoldId) -> BookingResult<Option<Hold>> {
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(hold_from).transpose()?)
    }

    async fn appointment(&self, id: AppointmentId) -> BookingResult<Option<Appointment>> {
        let sql = format!("SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(appointment_from).transpose()?)
    }

    async fn appointments_of_patient(&self, patient_id: UserId) -> BookingResult<Vec<Appointment>> {
        let sql = format!(
            "SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE patient_id = $1
             ORDER BY start_at, id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(rows
            .iter()
            .map(appointment_from)
            .collect::<Result<_, _>>()?)
    }

    async fn occupancy(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        let mut found = Vec::new();
        for chunk in doctors.chunks(500) {
            let sql = format!(
                "SELECT doctor_id, claim_start, claim_end,
                        CASE WHEN appointment_id IS NULL THEN 0 ELSE 1 END AS booked
                 FROM slot_claims
                 WHERE claim_start < $1 AND claim_end > $2
                   AND (expires_at IS NULL OR expires_at > $3)
                   AND doctor_id IN ({})",
                placeholders(4, chunk.len())
            );
            let mut query = sqlx::query(AssertSqlSafe(sql))
                .bind(micros(to))
                .bind(micros(from))
                .bind(micros(now));
            for id in chunk {
                query = query.bind(id.to_string());
            }
            let rows = query
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::from)?;
            for row in &rows {
                let booked: i64 = row.try_get("booked").map_err(StoreError::from)?;
                found.push(Occupancy {
                    doctor_id: parsed(row, "doctor_id")?,
                    start: timestamp(row, "claim_start")?,
                    end: timestamp(row, "claim_end")?,
                    status: if booked == 1 {
                        SlotStatus::Booked
                    } else {
                        SlotStatus::Held
                    },
                });
            }
        }
        Ok(found)
    }

    async fn expire_holds(&self, now: Timestamp) -> BookingResult<Recorded> {
        // One short transaction per doctor, under that doctor's lock, so the sweeper takes locks
        // in the same order as every other writer.
        let rows = sqlx::query(DOCTORS_WITH_LAPSED_HOLDS)
            .bind(micros(now))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let mut events = Recorded::default();
        for row in &rows {
            let doctor_id: DoctorId = parsed(row, "doctor_id")?;
            let mut tx = self.begin_write().await?;
            self.lock_doctor(&mut tx, doctor_id).await?;
            events.extend(free_lapsed_claims(&mut tx, doctor_id, now).await?);
            events.extend(offer_free_slots(&mut tx, &self.offering(), doctor_id, now).await?);
            commit(tx).await?;
        }
        Ok(events)
    }
}

#[async_trait]
impl SlotEventLog for Database {
    async fn slot_events_after(
        &self,
        doctor_id: DoctorId,
        after_seq: i64,
        limit: u32,
    ) -> BookingResult<Vec<SlotEvent>> {
        let rows = sqlx::query(SLOT_EVENTS_AFTER)
            .bind(doctor_id.to_string())
            .bind(after_seq)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let events = rows
            .iter()
            .map(|row| {
                Ok(SlotEvent {
                    doctor_id,
                    seq: row.try_get("seq")?,
                    start: timestamp(row, "start_at")?,
                    end: timestamp(row, "end_at")?,
                    status: named(row, "status", SlotStatus::parse)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(events)
    }

    async fn latest_slot_seq(&self, doctor_id: DoctorId) -> BookingResult<i64> {
        let seq: i64 = sqlx::query(LATEST_SLOT_SEQ)
            .bind(doctor_id.to_string())
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("seq"))
            .map_err(StoreError::from)?;
        Ok(seq)
    }
}

impl Database {
    /// Loads the patient's hold, takes the agenda locks of its doctor and patient, and reads it
    /// again: another writer may have changed it while this one waited for the locks.
    async fn locked_hold(
        &self,
        tx: &mut Tx,
        hold_id: HoldId,
        patient_id: UserId,
    ) -> BookingResult<StoredHold> {
        let owned = |s: &StoredHold| s.hold.patient_id == patient_id;
        let first = load_hold(tx, hold_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::HoldNotFound)?;
        self.lock_agenda(tx, first.hold.doctor_id, patient_id)
            .await?;
        load_hold(tx, hold_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::HoldNotFound)
    }

    /// Loads the patient's appointment, takes the agenda locks of its doctor and patient, and
    /// reads it again.
    async fn locked_appointment(
        &self,
        tx: &mut Tx,
        appointment_id: AppointmentId,
        patient_id: UserId,
    ) -> BookingResult<Appointment> {
        let owned = |a: &Appointment| a.patient_id == patient_id;
        let first = load_appointment(tx, appointment_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::NotFound("appointment"))?;
        self.lock_agenda(tx, first.doctor_id, patient_id).await?;
        load_appointment(tx, appointment_id)
            .await?
            .filter(owned)
            .ok_or(BookingError::NotFound("appointment"))
    }
}
