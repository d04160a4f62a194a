//! PostgreSQL's hold path in one round trip: the claiming transaction of
//! [`BookingRepository::claim_hold`](medibook_core::ports::BookingRepository::claim_hold) run by
//! the `medibook_claim_hold` function (migration 0012) in autocommit. The general path in
//! `repository.rs` stays the reference (and SQLite's path); this one answers `None` when the
//! doctor has lapsed holds to free first, and the general path takes over.

use jiff::Timestamp;
use medibook_core::audit::AuditEntry;
use medibook_core::booking::{Hold, HoldState, SlotStatus};
use medibook_core::events::SlotEvent;
use medibook_core::ports::{Claimed, HoldClaim, Recorded};
use medibook_core::{BookingError, BookingResult, booking_audit};
use uuid::Uuid;

use crate::Database;
use crate::columns::{micros, timestamp};
use crate::error::{StoreError, claim_error};
use crate::sql;

const CLAIM_HOLD: &str = "SELECT outcome, hold_id, start_at, end_at, expires_at, created_at, seq
    FROM medibook_claim_hold($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
                             $16, $17, $18)";

impl Database {
    /// Claims a hold in one call; `None` when the general path must run instead.
    pub(super) async fn claim_hold_in_one_call(
        &self,
        claim: &HoldClaim,
        now: Timestamp,
    ) -> BookingResult<Option<Claimed>> {
        let (claim_start, claim_end) = claim.claim;
        let audit_id = Uuid::now_v7();
        let (day_start, day_end, day_max) = match claim.day_limit {
            Some(limit) => (
                Some(micros(limit.day.0)),
                Some(micros(limit.day.1)),
                Some(i64::from(limit.max)),
            ),
            None => (None, None, None),
        };
        let row = sql::query(CLAIM_HOLD)
            .bind(claim.hold_id.to_string())
            .bind(Uuid::now_v7().to_string())
            .bind(claim.doctor_id.to_string())
            .bind(claim.patient_id.to_string())
            .bind(micros(claim.slot.start))
            .bind(micros(claim.slot.end))
            .bind(micros(claim_start))
            .bind(micros(claim_end))
            .bind(micros(claim.expires_at))
            .bind(micros(now))
            .bind(i64::from(claim.max_holds_per_patient))
            .bind(day_start)
            .bind(day_end)
            .bind(day_max)
            .bind(audit_id.to_string())
            .bind(claim.actor.user_id.map(|id| id.to_string()))
            .bind(claim.actor.role.map(|role| role.as_str().to_owned()))
            .bind(claim.actor.client_ip.clone())
            .fetch_one(self.pool())
            .await
            .map_err(claim_error)?;
        let outcome: String = row.try_get("outcome").map_err(StoreError::from)?;
        let created = match outcome.as_str() {
            "created" => true,
            "repeat" => false,
            "lapsed" => return Ok(None),
            "taken" => return Err(BookingError::SlotTaken),
            "day_full" => return Err(BookingError::DayFull),
            "limit" => {
                return Err(BookingError::hold_limit(claim.max_holds_per_patient));
            }
            other => {
                return Err(StoreError::Corrupt(format!("claim outcome {other:?}")).into());
            }
        };
        let hold = Hold {
            id: crate::columns::parsed(&row, "hold_id")?,
            doctor_id: claim.doctor_id,
            patient_id: claim.patient_id,
            start: timestamp(&row, "start_at")?,
            end: timestamp(&row, "end_at")?,
            expires_at: timestamp(&row, "expires_at")?,
            state: HoldState::Active,
            appointment_id: None,
            created_at: timestamp(&row, "created_at")?,
        };
        let mut events = Recorded::default();
        if created {
            let seq: i64 = row.try_get("seq").map_err(StoreError::from)?;
            events.slots.push(SlotEvent {
                doctor_id: claim.doctor_id,
                seq,
                start: hold.start,
                end: hold.end,
                status: SlotStatus::Held,
            });
        }
        // The entry the function wrote, as `record_in` would have stamped it.
        events.audit.push(AuditEntry {
            id: audit_id,
            ..AuditEntry::stamped(&claim.actor, now, booking_audit::claimed(&hold, created))
        });
        Ok(Some(Claimed {
            hold,
            created,
            events,
        }))
    }
}
