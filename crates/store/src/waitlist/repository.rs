//! [`WaitlistRepository`] over the database: joining and leaving the waitlist, reading entries
//! and offers, and declining an offer so its slot passes on.

use async_trait::async_trait;
use jiff::Timestamp;
use medibook_core::audit::AuditEntry;
use medibook_core::booking::HoldState;
use medibook_core::ids::{DoctorId, OfferId, UserId, WaitlistEntryId};
use medibook_core::ports::Recorded;
use medibook_core::ports::WaitlistRepository;
use medibook_core::waitlist::{EntryState, NewEntry, OfferState, WaitlistEntry, WaitlistOffer};
use medibook_core::{BookingError, BookingResult};
use sqlx::AssertSqlSafe;

use super::offering::offer_free_slots;
use super::queries::{
    ACTIVE_ENTRIES_OF_PATIENT, ENTRY_COLUMNS, INSERT_ENTRY, LEAVE_ENTRY, LEAVE_WAITING_ENTRY,
    OFFER_COLUMNS,
};
use super::rows::{entry_from, offer_from, target_columns};
use crate::Database;
use crate::audit::append_in;
use crate::columns::micros;
use crate::error::StoreError;
use crate::ledger::settle_offer_of_hold;
use crate::ledger::{Tx, count, exec, free_lapsed_claims, release_active_hold};
use crate::sql;

impl Database {
    async fn open_offer_of_entry(
        &self,
        tx: &mut Tx,
        entry_id: WaitlistEntryId,
    ) -> Result<Option<WaitlistOffer>, StoreError> {
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE entry_id = $1 AND state = 'open'"
        );
        let row = sql::query(AssertSqlSafe(sql))
            .bind(entry_id.to_string())
            .fetch_optional(&mut *tx)
            .await?;
        row.as_ref().map(offer_from).transpose()
    }

    async fn load_offer(
        &self,
        tx: &mut Tx,
        id: OfferId,
    ) -> Result<Option<WaitlistOffer>, StoreError> {
        let sql = format!("SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE id = $1");
        let row = sql::query(AssertSqlSafe(sql))
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
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
            crate::ledger::HOLD_COLUMNS
        );
        let hold = sql::query(AssertSqlSafe(sql))
            .bind(offer.hold_id.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(crate::ledger::hold_from)
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
        audit: &[AuditEntry],
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
               AND from_date {same} $4 AND to_date {same} $5
               AND weekdays = $6 AND earliest {same} $7 AND latest {same} $8"
        );
        let existing = sql::query(AssertSqlSafe(sql))
            .bind(entry.patient_id.to_string())
            .bind(doctor_id.clone())
            .bind(specialty_id.clone())
            .bind(from.clone())
            .bind(to.clone())
            .bind(i64::from(entry.preference.weekdays))
            .bind(entry.preference.earliest.map(|t| t.to_string()))
            .bind(entry.preference.latest.map(|t| t.to_string()))
            .fetch_optional(&mut tx)
            .await
            .map_err(StoreError::from)?;
        if let Some(row) = existing {
            let mut found = entry_from(&row)?;
            found.offer = self.open_offer_of_entry(&mut tx, found.id).await?;
            tx.commit().await?;
            return Ok((found, false));
        }
        let active = count(
            &mut tx,
            ACTIVE_ENTRIES_OF_PATIENT,
            vec![entry.patient_id.to_string().into()],
        )
        .await?;
        if active >= i64::from(max_entries) {
            return Err(BookingError::waitlist_limit(max_entries));
        }
        sql::query(INSERT_ENTRY)
            .bind(entry.id.to_string())
            .bind(entry.patient_id.to_string())
            .bind(doctor_id)
            .bind(specialty_id)
            .bind(from)
            .bind(to)
            .bind(micros(now))
            .bind(i64::from(entry.preference.weekdays))
            .bind(entry.preference.earliest.map(|t| t.to_string()))
            .bind(entry.preference.latest.map(|t| t.to_string()))
            .execute(&mut tx)
            .await
            .map_err(StoreError::from)?;
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok((
            WaitlistEntry {
                id: entry.id,
                patient_id: entry.patient_id,
                target: entry.target,
                from: entry.from,
                to: entry.to,
                preference: entry.preference,
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
        let rows = sql::query(AssertSqlSafe(sql))
            .bind(patient_id.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::from)?;
        let mut entries = rows.iter().map(entry_from).collect::<Result<Vec<_>, _>>()?;
        let sql = format!(
            "SELECT {OFFER_COLUMNS} FROM waitlist_offers WHERE patient_id = $1 AND state = 'open'"
        );
        let offers = sql::query(AssertSqlSafe(sql))
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
        let Some(row) = sql::query(AssertSqlSafe(sql))
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
        entry.offer = sql::query(AssertSqlSafe(sql))
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
        let row = sql::query(AssertSqlSafe(sql))
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
        audit: &[AuditEntry],
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
                    append_in(&mut tx, audit).await?;
                    tx.commit().await?;
                    return Ok(recorded);
                }
                None => {
                    if matches!(entry.state, EntryState::Left | EntryState::Fulfilled) {
                        return Ok(Recorded::default());
                    }
                    let left = sql::query(LEAVE_WAITING_ENTRY)
                        .bind(id.to_string())
                        .bind(micros(now))
                        .execute(&mut tx)
                        .await
                        .map_err(StoreError::from)?;
                    if left.rows_affected() == 1 {
                        append_in(&mut tx, audit).await?;
                        tx.commit().await?;
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
        audit: &[AuditEntry],
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
                return Err(BookingError::offer_already_booked());
            }
        }
        let mut recorded = self.decline_in(&mut tx, &offer, now).await?;
        recorded.extend(offer_free_slots(&mut tx, &self.offering(), offer.doctor_id, now).await?);
        append_in(&mut tx, audit).await?;
        tx.commit().await?;
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
        tx.commit().await?;
        Ok(recorded)
    }
}
