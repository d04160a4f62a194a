//! The occupancy ledger inside a write transaction: binding and running statements, recording
//! slot events, freeing lapsed claims, claiming, releasing and booking a hold's interval, and
//! settling the waitlist offer a hold carries. The steps every change of a claim is made of,
//! shared by the bookings, the waitlist's offering and the schedule edits.

pub(crate) mod queries;
mod rows;

pub(crate) use queries::{COUNT_CLAIMS_IN_DAY, HOLD_COLUMNS, INSERT_HOLD, INSERT_HOLD_CLAIM};
pub(crate) use rows::{StoredHold, appointment_from, hold_from, load_appointment, load_hold};

/// A write transaction, as the ledger's steps take it.
pub(crate) type Tx = crate::WriteTx;

use jiff::Timestamp;
use medibook_core::booking::{Hold, HoldState, SlotStatus};
use medibook_core::events::SlotEvent;
use medibook_core::ids::{AppointmentId, DoctorId, HoldId};
use medibook_core::ports::{DayLimit, Recorded};
use medibook_core::waitlist::{EntryState, OfferState};
use medibook_core::{BookingError, BookingResult};
use uuid::Uuid;

use crate::columns::{micros, timestamp};
use crate::error::{StoreError, claim_error};
use crate::sql;
use queries::{
    CLAIM_OF_HOLD, COUNT_OVERLAPPING_CLAIMS, DELETE_CLAIM_OF_HOLD, DELETE_LAPSED_CLAIMS_OF_DOCTOR,
    EXPIRE_LAPSED_HOLDS_OF_DOCTOR, EXPIRE_LAPSED_OFFERS, LAPSED_HOLDS_OF_DOCTOR,
    MARK_HOLD_CONFIRMED, RECORD_SLOT_EVENT, REQUEUE_ENTRIES_OF_LAPSED_OFFERS, SET_HOLD_STATE,
    SETTLE_ENTRY_OF_HOLD, SETTLE_OFFER_OF_HOLD, TURN_CLAIM_INTO_APPOINTMENT,
};

/// Binds `args` to the placeholders of `query`, in order.
pub(crate) fn bind_all(query: sql::Query, args: Vec<sql::Value>) -> sql::Query {
    args.into_iter().fold(query, sql::Query::bind)
}

pub(crate) async fn exec(
    tx: &mut Tx,
    sql: &'static str,
    args: Vec<sql::Value>,
) -> Result<(), StoreError> {
    bind_all(sql::query(sql), args).execute(&mut *tx).await?;
    Ok(())
}

/// Runs a `SELECT COUNT(*) AS n …` inside the transaction.
pub(crate) async fn count(
    tx: &mut Tx,
    sql: &'static str,
    args: Vec<sql::Value>,
) -> Result<i64, StoreError> {
    let row = bind_all(sql::query(sql), args).fetch_one(&mut *tx).await?;
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
        sql::query(RECORD_SLOT_EVENT),
        vec![
            doctor_id.to_string().into(),
            micros(start).into(),
            micros(end).into(),
            status.as_str().into(),
            micros(now).into(),
        ],
    )
    .fetch_one(&mut *tx)
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
        sql::query(LAPSED_HOLDS_OF_DOCTOR),
        vec![doctor_id.to_string().into(), micros(now).into()],
    )
    .fetch_all(&mut *tx)
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
pub(crate) async fn ensure_hold_claim(
    tx: &mut Tx,
    stored: &StoredHold,
    day_limit: Option<DayLimit>,
    now: Timestamp,
) -> BookingResult<Recorded> {
    let hold = &stored.hold;
    let freed = free_lapsed_claims(tx, hold.doctor_id, now).await?;
    let existing = sql::query(CLAIM_OF_HOLD)
        .bind(hold.id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::from)?;
    if existing.is_some() {
        return Ok(freed);
    }
    // A lapsed offer's slot passes on to the queue: its hold cannot be revived like a plain
    // hold (the patient would book while their entry waits on and is offered more slots).
    let carried_offer = sql::query("SELECT 1 FROM waitlist_offers WHERE hold_id = $1")
        .bind(hold.id.to_string())
        .fetch_optional(&mut *tx)
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
    sql::query(INSERT_HOLD_CLAIM)
        .bind(Uuid::now_v7().to_string())
        .bind(hold.doctor_id.to_string())
        .bind(micros(claim_start))
        .bind(micros(claim_end))
        .bind(hold.id.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
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
/// `carries_offer` false skips settling a waitlist offer the caller knows the hold has none of.
pub(crate) async fn book_hold(
    tx: &mut Tx,
    hold: &Hold,
    appointment_id: AppointmentId,
    carries_offer: bool,
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
    if carries_offer {
        settle_offer_of_hold(
            tx,
            hold.id,
            OfferState::Accepted,
            EntryState::Fulfilled,
            now,
        )
        .await?;
    }
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

pub(crate) async fn commit(tx: Tx) -> Result<(), StoreError> {
    tx.commit().await?;
    Ok(())
}

/// Records what became of the open offer carried by a hold (if the hold carries one) and of its
/// entry, inside the transaction that settles the hold.
pub(crate) async fn settle_offer_of_hold(
    tx: &mut Tx,
    hold_id: HoldId,
    offer: OfferState,
    entry: EntryState,
    now: Timestamp,
) -> Result<(), StoreError> {
    exec(
        tx,
        SETTLE_ENTRY_OF_HOLD,
        vec![
            hold_id.to_string().into(),
            entry.as_str().into(),
            micros(now).into(),
        ],
    )
    .await?;
    exec(
        tx,
        SETTLE_OFFER_OF_HOLD,
        vec![
            hold_id.to_string().into(),
            offer.as_str().into(),
            micros(now).into(),
        ],
    )
    .await
}
