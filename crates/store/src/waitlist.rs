//! The waitlist tables and the offering of free slots to waiters.
//!
//! [`offer_free_slots`] runs inside the transaction of every change that frees a slot (under
//! the doctor's lock), so a freed slot goes to the first waiter before anyone else can hold it.
//! Each offer is made inside a savepoint: should an offer fail, the change that freed the slot
//! still commits and the slot simply stays free.

use std::collections::HashSet;

use async_trait::async_trait;
use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::Actor;
use medibook_core::booking::{HoldState, SlotStatus};
use medibook_core::booking_audit;
use medibook_core::clinic::Doctor;
use medibook_core::delivery::OutboundMessage;
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::ids::{DoctorId, HoldId, OfferId, UserId, WaitlistEntryId};
use medibook_core::outbox::{MessageKind, NewMessage};
use medibook_core::ports::Recorded;
use medibook_core::slots::{Slot, day_bounds};
use medibook_core::waitlist::{
    EntryState, NewEntry, OfferState, WaitTarget, WaitlistEntry, WaitlistOffer, WaitlistPolicy,
    WaitlistRepository, accepts, offer_message, offerable_slots,
};
use medibook_core::{BookingError, BookingResult};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row};
use uuid::Uuid;

use crate::Database;
use crate::audit::record_in;
use crate::bookings::{
    COUNT_CLAIMS_IN_DAY, INSERT_HOLD, INSERT_HOLD_CLAIM, Tx, count, exec, free_lapsed_claims,
    record_slot_event, release_active_hold,
};
use crate::columns::{micros, named, optional_parsed, parsed, timestamp};
use crate::error::StoreError;
use crate::grid::{load_doctor, occupancy_between, time_off_between};
use crate::outbox::enqueue_query;

const ENTRY_COLUMNS: &str =
    "id, patient_id, doctor_id, specialty_id, from_date, to_date, state, queued_at";
const OFFER_COLUMNS: &str =
    "id, entry_id, patient_id, doctor_id, hold_id, start_at, end_at, expires_at, state";

/// Waiting entries that may be offered a slot of the doctor, in queue order: for this doctor or
/// its specialty, and of patients without an open offer.
const WAITERS_FOR_DOCTOR: &str = "
    SELECT e.id, e.patient_id, e.from_date, e.to_date FROM waitlist_entries e
    WHERE e.state = 'waiting'
      AND (e.doctor_id = $1
           OR e.specialty_id = (SELECT d.specialty_id FROM doctors d WHERE d.id = $1))
      AND NOT EXISTS (SELECT 1 FROM waitlist_offers o
                      WHERE o.patient_id = e.patient_id AND o.state = 'open')
    ORDER BY e.queued_at, e.id";
const OFFERED_BEFORE: &str = "
    SELECT entry_id, start_at FROM waitlist_offers WHERE doctor_id = $1 AND start_at >= $2";
const MARK_ENTRY_OFFERED: &str = "
    UPDATE waitlist_entries SET state = 'offered', updated_at = $2
    WHERE id = $1 AND state = 'waiting'";
const INSERT_OFFER: &str = "
    INSERT INTO waitlist_offers (id, entry_id, patient_id, doctor_id, hold_id, start_at, end_at,
                                 expires_at, state, created_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9, $9)
    ON CONFLICT (patient_id) WHERE state = 'open' DO NOTHING";
const CONTACT_OF_USER: &str = "SELECT email, phone FROM users WHERE id = $1";
const SETTLE_ENTRY_OF_HOLD: &str = "
    UPDATE waitlist_entries SET state = $2, updated_at = $3
    WHERE state = 'offered'
      AND id IN (SELECT entry_id FROM waitlist_offers WHERE hold_id = $1 AND state = 'open')";
const SETTLE_OFFER_OF_HOLD: &str = "
    UPDATE waitlist_offers SET state = $2, updated_at = $3 WHERE hold_id = $1 AND state = 'open'";
const ACTIVE_ENTRIES_OF_PATIENT: &str = "
    SELECT COUNT(*) AS n FROM waitlist_entries
    WHERE patient_id = $1 AND state IN ('waiting', 'offered')";
const INSERT_ENTRY: &str = "
    INSERT INTO waitlist_entries (id, patient_id, doctor_id, specialty_id, from_date, to_date,
                                  state, queued_at, updated_at)
    VALUES ($1, $2, $3, $4, $5, $6, 'waiting', $7, $7)";
const LEAVE_WAITING_ENTRY: &str = "
    UPDATE waitlist_entries SET state = 'left', updated_at = $2
    WHERE id = $1 AND state = 'waiting'";
const LEAVE_ENTRY: &str = "
    UPDATE waitlist_entries SET state = 'left', updated_at = $2
    WHERE id = $1 AND state IN ('waiting', 'offered')";

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

/// A waiting entry as the offering needs it.
struct Waiter {
    id: WaitlistEntryId,
    patient_id: UserId,
    from: Option<Date>,
    to: Option<Date>,
}

fn date_column(row: &AnyRow, column: &str) -> Result<Option<Date>, StoreError> {
    optional_parsed(row, column)
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
    let (subject, mut body) = offer_message(doctor, offer);
    if let Some(public_url) = &offering.public_url {
        body.push_str(&format!("\n\nSee the offer: {public_url}/waitlist"));
    }
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
    for to in recipients {
        let channel = match &to {
            Identifier::Email(_) => "email",
            Identifier::Phone(_) => "phone",
        };
        let message = NewMessage {
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
        };
        enqueue_query(&message, now).execute(&mut **tx).await?;
    }
    Ok(())
}

fn entry_from(row: &AnyRow) -> Result<WaitlistEntry, StoreError> {
    let doctor_id = optional_parsed(row, "doctor_id")?;
    let specialty_id = optional_parsed(row, "specialty_id")?;
    let target = match (doctor_id, specialty_id) {
        (Some(doctor), None) => WaitTarget::Doctor(doctor),
        (None, Some(specialty)) => WaitTarget::Specialty(specialty),
        _ => return Err(StoreError::Corrupt("waitlist entry target".into())),
    };
    Ok(WaitlistEntry {
        id: parsed(row, "id")?,
        patient_id: parsed(row, "patient_id")?,
        target,
        from: date_column(row, "from_date")?,
        to: date_column(row, "to_date")?,
        state: named(row, "state", EntryState::parse)?,
        queued_at: timestamp(row, "queued_at")?,
        offer: None,
    })
}

fn offer_from(row: &AnyRow) -> Result<WaitlistOffer, StoreError> {
    Ok(WaitlistOffer {
        id: parsed(row, "id")?,
        entry_id: parsed(row, "entry_id")?,
        patient_id: parsed(row, "patient_id")?,
        doctor_id: parsed(row, "doctor_id")?,
        hold_id: parsed(row, "hold_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        expires_at: timestamp(row, "expires_at")?,
        state: named(row, "state", OfferState::parse)?,
    })
}

fn target_columns(target: WaitTarget) -> (Option<String>, Option<String>) {
    match target {
        WaitTarget::Doctor(id) => (Some(id.to_string()), None),
        WaitTarget::Specialty(id) => (None, Some(id.to_string())),
    }
}

impl Database {
    async fn open_offer_of_entry(
        &self,
        tx: &mut Tx,
        entry_id: WaitlistEntryId,
    ) -> Result<Option<WaitlistOffer>, StoreError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE entry_id = $1 AND state = 'open'"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(entry_id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(offer_from).transpose()
    }

    async fn load_offer(
        &self,
        tx: &mut Tx,
        id: OfferId,
    ) -> Result<Option<WaitlistOffer>, StoreError> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(offer_from).transpose()
    }

    /// Gives back the hold of an open offer (under the doctor's lock, which the caller holds):
    /// the offer becomes `declined`, its entry waits again (or stays as `entry` says), and the
    /// slot passes on to the next waiter.
    async fn decline_in(
        &self,
        tx: &mut Tx,
        offer: &WaitlistOffer,
        now: Timestamp,
    ) -> Result<Recorded, StoreError> {
        let mut recorded = free_lapsed_claims(tx, offer.doctor_id, now).await?;
        let sql = format!(
            "SELECT {} FROM holds WHERE id = $1",
            crate::bookings::HOLD_COLUMNS
        );
        let hold = sqlx::query(AssertSqlSafe(sql))
            .bind(offer.hold_id.to_string())
            .fetch_optional(&mut **tx)
            .await?
            .as_ref()
            .map(crate::bookings::hold_from)
            .transpose()?;
        if let Some(hold) = hold.filter(|h| h.state == HoldState::Active) {
            recorded
                .slots
                .push(release_active_hold(tx, &hold, now).await?);
        }
        settle_offer_of_hold(
            tx,
            offer.hold_id,
            OfferState::Declined,
            EntryState::Waiting,
            now,
        )
        .await?;
        Ok(recorded)
    }
}

#[async_trait]
impl WaitlistRepository for Database {
    async fn join(
        &self,
        entry: &NewEntry,
        max_entries: u16,
        now: Timestamp,
    ) -> BookingResult<(WaitlistEntry, bool)> {
        let mut tx = self.begin_write().await?;
        self.lock_patient(&mut tx, entry.patient_id).await?;
        let (doctor_id, specialty_id) = target_columns(entry.target);
        let from = entry.from.map(|d| d.to_string());
        let to = entry.to.map(|d| d.to_string());
        // `IS` compares NULLs as equal on SQLite; PostgreSQL spells it `IS NOT DISTINCT FROM`.
        let same = match self.backend {
            crate::Backend::Sqlite => "IS",
            crate::Backend::Postgres => "IS NOT DISTINCT FROM",
        };
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries
             WHERE patient_id = $1 AND state IN ('waiting', 'offered')
               AND doctor_id {same} $2 AND specialty_id {same} $3
               AND from_date {same} $4 AND to_date {same} $5"
        );
        let existing = sqlx::query(AssertSqlSafe(sql))
            .bind(entry.patient_id.to_string())
            .bind(doctor_id.clone())
            .bind(specialty_id.clone())
            .bind(from.clone())
            .bind(to.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(row) = existing {
            let mut found = entry_from(&row)?;
            found.offer = self.open_offer_of_entry(&mut tx, found.id).await?;
            tx.commit().await.map_err(StoreError::from)?;
            return Ok((found, false));
        }
        let active = count(
            &mut tx,
            ACTIVE_ENTRIES_OF_PATIENT,
            vec![entry.patient_id.to_string().into()],
        )
        .await?;
        if active >= i64::from(max_entries) {
            return Err(BookingError::LimitReached(format!(
                "you can be on at most {max_entries} waitlists at a time; leave one first"
            )));
        }
        sqlx::query(INSERT_ENTRY)
            .bind(entry.id.to_string())
            .bind(entry.patient_id.to_string())
            .bind(doctor_id)
            .bind(specialty_id)
            .bind(from)
            .bind(to)
            .bind(micros(now))
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from)?;
        tx.commit().await.map_err(StoreError::from)?;
        Ok((
            WaitlistEntry {
                id: entry.id,
                patient_id: entry.patient_id,
                target: entry.target,
                from: entry.from,
                to: entry.to,
                state: EntryState::Waiting,
                queued_at: now,
                offer: None,
            },
            true,
        ))
    }

    async fn entries_of(&self, patient_id: UserId) -> BookingResult<Vec<WaitlistEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM waitlist_entries
             WHERE patient_id = $1 AND state IN ('waiting', 'offered')
             ORDER BY queued_at, id"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let mut entries = rows.iter().map(entry_from).collect::<Result<Vec<_>, _>>()?;
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE patient_id = $1 AND state = 'open'"
        );
        let offers = sqlx::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?
            .iter()
            .map(offer_from)
            .collect::<Result<Vec<_>, _>>()?;
        for entry in &mut entries {
            entry.offer = offers.iter().find(|o| o.entry_id == entry.id).copied();
        }
        Ok(entries)
    }

    async fn entry(&self, id: WaitlistEntryId) -> BookingResult<Option<WaitlistEntry>> {
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM waitlist_entries WHERE id = $1");
        let Some(row) = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?
        else {
            return Ok(None);
        };
        let mut entry = entry_from(&row)?;
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE entry_id = $1 AND state = 'open'"
        );
        entry.offer = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?
            .as_ref()
            .map(offer_from)
            .transpose()?;
        Ok(Some(entry))
    }

    async fn offer(&self, id: OfferId) -> BookingResult<Option<WaitlistOffer>> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::from)?;
        Ok(row.as_ref().map(offer_from).transpose()?)
    }

    async fn leave(
        &self,
        id: WaitlistEntryId,
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<Recorded> {
        // An entry may gain an offer between reading it and taking the doctor's lock; a few
        // rounds settle it (each round either finishes or saw the entry change).
        for _ in 0..3 {
            let Some(entry) = self.entry(id).await?.filter(|e| e.patient_id == patient_id) else {
                return Err(BookingError::NotFound("waitlist entry"));
            };
            let mut tx = self.begin_write().await?;
            match entry.offer {
                Some(offer) => {
                    self.lock_agenda(&mut tx, offer.doctor_id, patient_id)
                        .await?;
                    // Re-read under the lock: the offer may have been settled meanwhile.
                    if self
                        .load_offer(&mut tx, offer.id)
                        .await?
                        .is_none_or(|o| o.state != OfferState::Open)
                    {
                        continue;
                    }
                    let mut recorded = self.decline_in(&mut tx, &offer, now).await?;
                    exec(
                        &mut tx,
                        LEAVE_ENTRY,
                        vec![id.to_string().into(), micros(now).into()],
                    )
                    .await?;
                    recorded.extend(
                        offer_free_slots(&mut tx, &self.offering(), offer.doctor_id, now).await?,
                    );
                    tx.commit().await.map_err(StoreError::from)?;
                    return Ok(recorded);
                }
                None => {
                    if matches!(entry.state, EntryState::Left | EntryState::Fulfilled) {
                        return Ok(Recorded::default());
                    }
                    let left = sqlx::query(LEAVE_WAITING_ENTRY)
                        .bind(id.to_string())
                        .bind(micros(now))
                        .execute(&mut *tx)
                        .await
                        .map_err(StoreError::from)?;
                    if left.rows_affected() == 1 {
                        tx.commit().await.map_err(StoreError::from)?;
                        return Ok(Recorded::default());
                    }
                }
            }
        }
        Err(BookingError::Storage(
            "the waitlist entry kept changing; try again".into(),
        ))
    }

    async fn decline(
        &self,
        id: OfferId,
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<Recorded> {
        let Some(offer) = self.offer(id).await?.filter(|o| o.patient_id == patient_id) else {
            return Err(BookingError::NotFound("offer"));
        };
        let mut tx = self.begin_write().await?;
        self.lock_agenda(&mut tx, offer.doctor_id, patient_id)
            .await?;
        let offer = self
            .load_offer(&mut tx, id)
            .await?
            .ok_or(BookingError::NotFound("offer"))?;
        match offer.state {
            OfferState::Open => {}
            OfferState::Declined | OfferState::Expired => return Ok(Recorded::default()),
            OfferState::Accepted => {
                return Err(BookingError::InvalidState(
                    "this offer was booked; cancel the appointment instead".into(),
                ));
            }
        }
        let mut recorded = self.decline_in(&mut tx, &offer, now).await?;
        recorded.extend(offer_free_slots(&mut tx, &self.offering(), offer.doctor_id, now).await?);
        tx.commit().await.map_err(StoreError::from)?;
        Ok(recorded)
    }

    async fn offer_free_slots(
        &self,
        doctor_id: DoctorId,
        now: Timestamp,
    ) -> BookingResult<Recorded> {
        let mut tx = self.begin_write().await?;
        self.lock_doctor(&mut tx, doctor_id).await?;
        let mut recorded = free_lapsed_claims(&mut tx, doctor_id, now).await?;
        recorded.extend(offer_free_slots(&mut tx, &self.offering(), doctor_id, now).await?);
        tx.commit().await.map_err(StoreError::from)?;
        Ok(recorded)
    }
}
