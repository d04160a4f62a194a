//! Offering free slots to waiters, inside the transaction of the change that freed them. Core
//! decides who is offered which slot and what they are told ([`OfferPlan`], [`new_offer`],
//! [`offer_messages`]); this module reads what the plan needs and writes each offer in its own
//! savepoint: the entry marked offered, the offer, its hold and claim, the slot event, the
//! messages and the audit entry.

use jiff::Timestamp;
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::booking::SlotStatus;
use medibook_core::booking_audit;
use medibook_core::clinic::Doctor;
use medibook_core::events::SlotEvent;
use medibook_core::identity::{Email, PhoneNumber};
use medibook_core::ids::DoctorId;
use medibook_core::ports::Recorded;
use medibook_core::slots::Slot;
use medibook_core::waitlist::{WaitlistOffer, WaitlistPolicy};
use medibook_core::waitlist_offers::{OfferPlan, OfferWindow, Waiter, new_offer, offer_messages};
use uuid::Uuid;

use super::queries::{
    CONTACT_OF_USER, INSERT_OFFER, MARK_ENTRY_OFFERED, OFFERED_BEFORE, WAITERS_FOR_DOCTOR,
};
use super::rows::{date_column, preference_from};
use crate::audit::record_in;
use crate::columns::{micros, parsed, timestamp};
use crate::error::StoreError;
use crate::ledger::{INSERT_HOLD, INSERT_HOLD_CLAIM, Tx, exec, record_slot_event};
use crate::outbox::enqueue_all_in;
use crate::schedule_edits::{load_doctor, occupancy_between, time_off_between};
use crate::sql;

/// How offers are made: the waitlist policy, and where people reach the site (the link in the
/// offer's message) when messages are configured.
pub(crate) struct Offering {
    pub(crate) policy: WaitlistPolicy,
    pub(crate) public_url: Option<String>,
}

/// Offers the doctor's free slots to matching waiters, first come first served, inside `tx`
/// (which holds the doctor's lock). Returns the holds and offers recorded.
pub(crate) async fn offer_free_slots(
    tx: &mut Tx,
    policy: &Offering,
    doctor_id: DoctorId,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let mut recorded = Recorded::default();
    let rows = sql::query(WAITERS_FOR_DOCTOR)
        .bind(doctor_id.to_string())
        .fetch_all(&mut *tx)
        .await?;
    if rows.is_empty() {
        return Ok(recorded);
    }
    let waiters = rows
        .iter()
        .map(|row| {
            Ok(Waiter {
                id: parsed(row, "id")?,
                patient_id: parsed(row, "patient_id")?,
                from: date_column(row, "from_date")?,
                to: date_column(row, "to_date")?,
                preference: preference_from(row)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    let Some(doctor) = load_doctor(tx, doctor_id).await? else {
        return Ok(recorded);
    };
    let Some(window) = OfferWindow::of(&doctor, &waiters, now) else {
        return Ok(recorded);
    };
    let time_off = time_off_between(tx, doctor_id, window.read_from, window.read_to).await?;
    let occupancy = occupancy_between(tx, doctor_id, window.read_from, window.read_to, now).await?;
    let mut offered_before = Vec::new();
    for row in sql::query(OFFERED_BEFORE)
        .bind(doctor_id.to_string())
        .bind(micros(now))
        .fetch_all(&mut *tx)
        .await?
    {
        offered_before.push((parsed(&row, "entry_id")?, timestamp(&row, "start_at")?));
    }
    let mut plan = OfferPlan::new(&doctor, &window, &time_off, &occupancy, offered_before, now);
    if plan.is_empty() {
        return Ok(recorded);
    }
    for waiter in &waiters {
        // Offered or not (it may have an open offer elsewhere), the waiter's turn is over.
        let Some(slot) = plan.slot_for(waiter) else {
            continue;
        };
        if let Some((offer, event)) =
            offer_in_savepoint(tx, policy, &doctor, waiter, &slot, now).await
        {
            plan.offered(&slot);
            recorded.slots.push(event);
            // The system makes the offer; the command that freed the slot has its own entry.
            record_in(
                tx,
                &mut recorded,
                &Actor::system(),
                now,
                booking_audit::offered(&offer),
            )
            .await?;
            recorded.offers.push(offer);
        }
    }
    Ok(recorded)
}

/// Makes one offer inside a savepoint; on any failure the savepoint is rolled back, the failure
/// logged, and `None` returned, so the surrounding change is unaffected.
async fn offer_in_savepoint(
    tx: &mut Tx,
    policy: &Offering,
    doctor: &Doctor,
    waiter: &Waiter,
    slot: &Slot,
    now: Timestamp,
) -> Option<(WaitlistOffer, SlotEvent)> {
    if let Err(e) = sql::query("SAVEPOINT waitlist_offer")
        .execute(&mut *tx)
        .await
    {
        tracing::warn!(error = %e, "waitlist: cannot open a savepoint");
        return None;
    }
    match make_offer(tx, policy, doctor, waiter, slot, now).await {
        Ok(Some(made)) => {
            if let Err(e) = sql::query("RELEASE SAVEPOINT waitlist_offer")
                .execute(&mut *tx)
                .await
            {
                tracing::warn!(error = %e, "waitlist: cannot release the savepoint");
            }
            Some(made)
        }
        outcome => {
            if let Err(e) = outcome {
                tracing::warn!(error = %e, entry = %waiter.id, "waitlist: offering a slot failed");
            }
            if let Err(e) = sql::query("ROLLBACK TO SAVEPOINT waitlist_offer")
                .execute(&mut *tx)
                .await
            {
                tracing::warn!(error = %e, "waitlist: cannot roll back the savepoint");
            }
            None
        }
    }
}

/// Holds the slot for the waiter, records the offer and queues its notifications. `None` when
/// the waiter can no longer be offered anything (it left, or has an open offer already).
async fn make_offer(
    tx: &mut Tx,
    policy: &Offering,
    doctor: &Doctor,
    waiter: &Waiter,
    slot: &Slot,
    now: Timestamp,
) -> Result<Option<(WaitlistOffer, SlotEvent)>, StoreError> {
    let claimed = sql::query(MARK_ENTRY_OFFERED)
        .bind(waiter.id.to_string())
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
    if claimed.rows_affected() != 1 {
        return Ok(None);
    }
    let offer = new_offer(doctor, waiter, slot, policy.policy.offer_window, now)
        .ok_or_else(|| StoreError::Corrupt("offer expiry overflows".into()))?;
    let expires_at = offer.expires_at;
    let inserted = sql::query(INSERT_OFFER)
        .bind(offer.id.to_string())
        .bind(offer.entry_id.to_string())
        .bind(offer.patient_id.to_string())
        .bind(offer.doctor_id.to_string())
        .bind(offer.hold_id.to_string())
        .bind(micros(offer.start))
        .bind(micros(offer.end))
        .bind(micros(offer.expires_at))
        .bind(micros(now))
        .execute(&mut *tx)
        .await?;
    if inserted.rows_affected() != 1 {
        // The patient has an open offer already: the savepoint rollback undoes the entry.
        return Ok(None);
    }
    let (claim_start, claim_end) = slot.claim(&doctor.schedule.rules);
    exec(
        tx,
        INSERT_HOLD,
        vec![
            offer.hold_id.to_string().into(),
            doctor.id.to_string().into(),
            offer.patient_id.to_string().into(),
            micros(slot.start).into(),
            micros(slot.end).into(),
            micros(claim_start).into(),
            micros(claim_end).into(),
            micros(expires_at).into(),
            micros(now).into(),
        ],
    )
    .await?;
    sql::query(INSERT_HOLD_CLAIM)
        .bind(Uuid::now_v7().to_string())
        .bind(doctor.id.to_string())
        .bind(micros(claim_start))
        .bind(micros(claim_end))
        .bind(offer.hold_id.to_string())
        .bind(micros(expires_at))
        .execute(&mut *tx)
        .await?;
    let event =
        record_slot_event(tx, doctor.id, slot.start, slot.end, SlotStatus::Held, now).await?;
    queue_offer_messages(tx, policy, doctor, &offer, now).await?;
    Ok(Some((offer, event)))
}

/// Queues the offer's email and SMS (whichever the patient has) in the outbox.
async fn queue_offer_messages(
    tx: &mut Tx,
    offering: &Offering,
    doctor: &Doctor,
    offer: &WaitlistOffer,
    now: Timestamp,
) -> Result<(), StoreError> {
    let Some(row) = sql::query(CONTACT_OF_USER)
        .bind(offer.patient_id.to_string())
        .fetch_optional(&mut *tx)
        .await?
    else {
        return Ok(());
    };
    let email: Option<String> = row.try_get("email")?;
    let phone: Option<String> = row.try_get("phone")?;
    let corrupt = |e: BookingError| StoreError::Corrupt(format!("contact of a patient: {e}"));
    let email = email
        .map(|email| Email::parse(&email))
        .transpose()
        .map_err(corrupt)?;
    let phone = phone
        .map(|phone| PhoneNumber::parse(&phone))
        .transpose()
        .map_err(corrupt)?;
    let messages = offer_messages(doctor, offer, email, phone, offering.public_url.as_deref());
    enqueue_all_in(tx, &messages, now).await
}
