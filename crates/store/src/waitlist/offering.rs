//! Offering free slots to waiters, inside the transaction of the change that freed them: first
//! come first served, each offer in its own savepoint, with the patient's messages queued.

use std::collections::HashSet;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use medibook_core::BookingError;
use medibook_core::audit::Actor;
use medibook_core::booking::SlotStatus;
use medibook_core::booking_audit;
use medibook_core::clinic::Doctor;
use medibook_core::delivery::OutboundMessage;
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::ids::{DoctorId, HoldId, OfferId, UserId, WaitlistEntryId};
use medibook_core::outbox::{MessageKind, NewMessage};
use medibook_core::ports::Recorded;
use medibook_core::slots::{Slot, day_bounds};
use medibook_core::waitlist::{
    OfferState, WaitlistOffer, WaitlistPolicy, accepts, offer_message, offerable_slots,
};
use sqlx::Row;
use uuid::Uuid;

use super::queries::{
    CONTACT_OF_USER, INSERT_OFFER, MARK_ENTRY_OFFERED, OFFERED_BEFORE, WAITERS_FOR_DOCTOR,
};
use super::rows::date_column;
use crate::audit::record_in;
use crate::columns::{micros, parsed, timestamp};
use crate::error::StoreError;
use crate::ledger::{
    COUNT_CLAIMS_IN_DAY, INSERT_HOLD, INSERT_HOLD_CLAIM, Tx, count, exec, record_slot_event,
};
use crate::outbox::enqueue_all_in;
use crate::schedule_edits::{load_doctor, occupancy_between, time_off_between};

/// A waiting entry as the offering needs it.
struct Waiter {
    id: WaitlistEntryId,
    patient_id: UserId,
    from: Option<Date>,
    to: Option<Date>,
}

/// Offers the doctor's free slots to matching waiters, first come first served, inside `tx`
/// (which holds the doctor's lock). Returns the holds and offers recorded.
/// How offers are made: the waitlist policy, and where people reach the site (the link in the
/// offer's message) when messages are configured.
pub(crate) struct Offering {
    pub(crate) policy: WaitlistPolicy,
    pub(crate) public_url: Option<String>,
}

pub(crate) async fn offer_free_slots(
    tx: &mut Tx,
    policy: &Offering,
    doctor_id: DoctorId,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let mut recorded = Recorded::default();
    let rows = sqlx::query(WAITERS_FOR_DOCTOR)
        .bind(doctor_id.to_string())
        .fetch_all(&mut **tx)
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
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;

    let Some(doctor) = load_doctor(tx, doctor_id).await? else {
        return Ok(recorded);
    };
    let tz = doctor.time_zone.tz();
    let today = tz.to_datetime(now).date();
    let horizon_end = today
        .checked_add(jiff::Span::new().days(i64::from(
            doctor.schedule.rules.horizon_days.saturating_add(1),
        )))
        .unwrap_or(today);
    let first = waiters
        .iter()
        .map(|w| w.from.unwrap_or(today).max(today))
        .min()
        .unwrap_or(today);
    let last = waiters
        .iter()
        .map(|w| w.to.unwrap_or(horizon_end).min(horizon_end))
        .max()
        .unwrap_or(today);
    if last < first {
        return Ok(recorded);
    }
    let (Some((window_start, _)), Some((_, window_end))) =
        (day_bounds(tz, first), day_bounds(tz, last))
    else {
        return Ok(recorded);
    };
    // Buffers reach a little outside the days themselves.
    let margin = SignedDuration::from_hours(24);
    let window_start = window_start.saturating_sub(margin).unwrap_or(window_start);
    let window_end = window_end.saturating_add(margin).unwrap_or(window_end);

    let time_off = time_off_between(tx, doctor_id, window_start, window_end).await?;
    let occupancy = occupancy_between(tx, doctor_id, window_start, window_end, now).await?;
    let free = offerable_slots(&doctor, &time_off, &occupancy, first, last, now);
    if free.is_empty() {
        return Ok(recorded);
    }

    let mut offered_before: HashSet<(WaitlistEntryId, Timestamp)> = HashSet::new();
    for row in sqlx::query(OFFERED_BEFORE)
        .bind(doctor_id.to_string())
        .bind(micros(now))
        .fetch_all(&mut **tx)
        .await?
    {
        offered_before.insert((parsed(&row, "entry_id")?, timestamp(&row, "start_at")?));
    }

    let mut taken: HashSet<Timestamp> = HashSet::new();
    for waiter in &waiters {
        for slot in &free {
            if taken.contains(&slot.start)
                || offered_before.contains(&(waiter.id, slot.start))
                || !accepts(waiter.from, waiter.to, tz.to_datetime(slot.start).date())
                || !day_has_room(tx, &doctor, slot).await?
            {
                continue;
            }
            if let Some((offer, event)) =
                offer_in_savepoint(tx, policy, &doctor, waiter, slot, now).await
            {
                taken.insert(slot.start);
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
            // Offered or not (it may have an open offer elsewhere), the waiter's turn is over.
            break;
        }
    }
    Ok(recorded)
}

/// Whether the doctor's daily maximum leaves room on the slot's day.
async fn day_has_room(tx: &mut Tx, doctor: &Doctor, slot: &Slot) -> Result<bool, StoreError> {
    let Some(max) = doctor.schedule.rules.max_per_day else {
        return Ok(true);
    };
    let tz = doctor.time_zone.tz();
    let Some((day_start, day_end)) = day_bounds(tz, tz.to_datetime(slot.start).date()) else {
        return Ok(false);
    };
    let taken = count(
        tx,
        COUNT_CLAIMS_IN_DAY,
        vec![
            doctor.id.to_string().into(),
            micros(day_start).into(),
            micros(day_end).into(),
        ],
    )
    .await?;
    Ok(taken < i64::from(max))
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
) -> Option<(WaitlistOffer, medibook_core::events::SlotEvent)> {
    if let Err(e) = sqlx::query("SAVEPOINT waitlist_offer")
        .execute(&mut **tx)
        .await
    {
        tracing::warn!(error = %e, "waitlist: cannot open a savepoint");
        return None;
    }
    match make_offer(tx, policy, doctor, waiter, slot, now).await {
        Ok(Some(made)) => {
            if let Err(e) = sqlx::query("RELEASE SAVEPOINT waitlist_offer")
                .execute(&mut **tx)
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
            if let Err(e) = sqlx::query("ROLLBACK TO SAVEPOINT waitlist_offer")
                .execute(&mut **tx)
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
) -> Result<Option<(WaitlistOffer, medibook_core::events::SlotEvent)>, StoreError> {
    let claimed = sqlx::query(MARK_ENTRY_OFFERED)
        .bind(waiter.id.to_string())
        .bind(micros(now))
        .execute(&mut **tx)
        .await?;
    if claimed.rows_affected() != 1 {
        return Ok(None);
    }
    let expires_at = now
        .saturating_add(policy.policy.offer_window)
        .map_err(|_| StoreError::Corrupt("offer expiry overflows".into()))?;
    let offer = WaitlistOffer {
        id: OfferId::generate(),
        entry_id: waiter.id,
        patient_id: waiter.patient_id,
        doctor_id: doctor.id,
        hold_id: HoldId::generate(),
        start: slot.start,
        end: slot.end,
        expires_at,
        state: OfferState::Open,
    };
    let inserted = sqlx::query(INSERT_OFFER)
        .bind(offer.id.to_string())
        .bind(offer.entry_id.to_string())
        .bind(offer.patient_id.to_string())
        .bind(offer.doctor_id.to_string())
        .bind(offer.hold_id.to_string())
        .bind(micros(offer.start))
        .bind(micros(offer.end))
        .bind(micros(offer.expires_at))
        .bind(micros(now))
        .execute(&mut **tx)
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
    sqlx::query(INSERT_HOLD_CLAIM)
        .bind(Uuid::now_v7().to_string())
        .bind(doctor.id.to_string())
        .bind(micros(claim_start))
        .bind(micros(claim_end))
        .bind(offer.hold_id.to_string())
        .bind(micros(expires_at))
        .execute(&mut **tx)
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
    let Some(row) = sqlx::query(CONTACT_OF_USER)
        .bind(offer.patient_id.to_string())
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(());
    };
    let email: Option<String> = row.try_get("email")?;
    let phone: Option<String> = row.try_get("phone")?;
    let (subject, body) = offer_message(doctor, offer, offering.public_url.as_deref());
    let corrupt = |e: BookingError| StoreError::Corrupt(format!("contact of a patient: {e}"));
    let mut recipients = Vec::new();
    if let Some(email) = email {
        recipients.push(Identifier::Email(Email::parse(&email).map_err(corrupt)?));
    }
    if let Some(phone) = phone {
        recipients.push(Identifier::Phone(
            PhoneNumber::parse(&phone).map_err(corrupt)?,
        ));
    }
    let messages: Vec<NewMessage> = recipients
        .into_iter()
        .map(|to| {
            let channel = match &to {
                Identifier::Email(_) => "email",
                Identifier::Phone(_) => "phone",
            };
            NewMessage {
                idempotency_key: format!("waitlist-offer:{}:{channel}", offer.id),
                message: OutboundMessage {
                    to,
                    subject: subject.clone(),
                    body: body.clone(),
                    attachment: None,
                },
                expires_at: Some(offer.expires_at),
                sensitive: false,
                kind: MessageKind::WaitlistOffer,
                appointment_id: None,
                due_at: None,
            }
        })
        .collect();
    enqueue_all_in(tx, &messages, now).await
}
