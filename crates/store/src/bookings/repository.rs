//! The booking commands of [`BookingRepository`], each one write transaction: claim, release
//! and confirm a hold, cancel and reschedule an appointment, and sweep lapsed holds.

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::Actor;
use medibook_core::booking::Agenda;
use medibook_core::booking::{
    Appointment, AppointmentStatus, Hold, HoldState, Occupancy, SlotStatus,
};
use medibook_core::booking_audit;
use medibook_core::contention::ClaimInTheWay;
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};
use medibook_core::notifications::Change;
use medibook_core::ports::{
    Booked, BookingRepository, Claimed, Confirmation, HoldClaim, Recorded, Reschedule,
};
use medibook_core::slots::Slot;
use medibook_core::{BookingError, BookingResult};
use sqlx::AssertSqlSafe;
use uuid::Uuid;

use crate::Database;
use crate::appointment_messages::queue_appointment_messages;
use crate::audit::record_in;
use crate::columns::{micros, optional_parsed, parsed, timestamp};
use crate::error::{StoreError, claim_error};
use crate::ledger::Tx;
use crate::ledger::queries::{
    CANCEL_APPOINTMENT, CLAIM_IN_THE_WAY, CONFIRM_CHECKS, DELETE_CLAIM_OF_APPOINTMENT,
    DOCTORS_WITH_LAPSED_HOLDS, HOLD_CHECKS, HOLD_COLUMNS, INSERT_APPOINTMENT, INSERT_HOLD,
    INSERT_HOLD_CLAIM, MOVE_APPOINTMENT,
};
use crate::ledger::{
    book_hold, commit, ensure_hold_claim, exec, free_lapsed_claims, record_slot_event,
    release_active_hold,
};
use crate::ledger::{hold_from, load_appointment, load_hold};
use crate::sql;
use crate::waitlist::offer_free_slots;

#[async_trait]
impl BookingRepository for Database {
    async fn claim_in_the_way(
        &self,
        doctor_id: DoctorId,
        (claim_start, claim_end): (Timestamp, Timestamp),
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<Option<ClaimInTheWay>> {
        let row = sql::query(CLAIM_IN_THE_WAY)
            .bind(doctor_id.to_string())
            .bind(micros(claim_end))
            .bind(micros(claim_start))
            .bind(micros(now))
            .bind(patient_id.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(StoreError::from)?;
        let Some(row) = row else {
            return Ok(None);
        };
        Ok(Some(ClaimInTheWay {
            start: timestamp(&row, "claim_start")?,
            end: timestamp(&row, "claim_end")?,
            holder: optional_parsed(&row, "holder")?,
        }))
    }

    async fn claim_hold(&self, claim: &HoldClaim, now: Timestamp) -> BookingResult<Claimed> {
        // Losers of a race are answered by `claim_in_the_way`, which the service asks first
        // without any lock; whoever gets here goes on to the serialised check, which alone
        // decides.
        if self.backend() == crate::Backend::Postgres
            && let Some(claimed) = self.claim_hold_in_one_call(claim, now).await?
        {
            return Ok(claimed);
        }
        let (claim_start, claim_end) = claim.claim;
        let mut tx = self.begin_write().await?;
        self.lock_agenda(&mut tx, claim.doctor_id, claim.patient_id)
            .await?;

        // One statement asks everything the claim checks; on the common path (no repeat, no
        // lapsed holds to free) nothing else is read before the inserts.
        let mut checks = hold_checks(&mut tx, claim, now).await?;

        // A repeated request (say, a retry after a lost response) gets the same hold back.
        if checks.repeats > 0 {
            let sql = format!(
                "SELECT {HOLD_COLUMNS} FROM holds
                 WHERE patient_id = $1 AND doctor_id = $2 AND start_at = $3
                   AND state = 'active' AND expires_at > $4"
            );
            let repeat = sql::query(AssertSqlSafe(sql))
                .bind(claim.patient_id.to_string())
                .bind(claim.doctor_id.to_string())
                .bind(micros(claim.slot.start))
                .bind(micros(now))
                .fetch_optional(&mut tx)
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
        }

        let mut events = Recorded::default();
        if checks.lapsed > 0 {
            events = free_lapsed_claims(&mut tx, claim.doctor_id, now).await?;
            checks = hold_checks(&mut tx, claim, now).await?;
        }
        if checks.live_holds >= i64::from(claim.max_holds_per_patient) {
            return Err(BookingError::hold_limit(claim.max_holds_per_patient));
        }
        if checks.overlapping > 0 {
            return Err(BookingError::SlotTaken);
        }
        if let Some(limit) = claim.day_limit
            && checks.day_claims >= i64::from(limit.max)
        {
            return Err(BookingError::DayFull);
        }

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
        sql::query(INSERT_HOLD_CLAIM)
            .bind(Uuid::now_v7().to_string())
            .bind(claim.doctor_id.to_string())
            .bind(micros(claim_start))
            .bind(micros(claim_end))
            .bind(claim.hold_id.to_string())
            .bind(micros(claim.expires_at))
            .execute(&mut tx)
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
        tx.commit().await.map_err(BookingError::from)?;

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
                return Err(BookingError::hold_became_appointment());
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

        // One statement asks what the confirmation checks; only a hold that lost its claim (or a
        // doctor with lapsed holds to free) takes the longer way through `ensure_hold_claim`.
        let checks = sql::query(CONFIRM_CHECKS)
            .bind(hold.id.to_string())
            .bind(confirmation.patient_id.to_string())
            .bind(hold.doctor_id.to_string())
            .bind(micros(now))
            .fetch_one(&mut tx)
            .await
            .map_err(StoreError::from)?;
        let checked = |column: &str| -> Result<i64, StoreError> { Ok(checks.try_get(column)?) };
        let mut events = if checked("lapsed")? == 0 && checked("claimed")? > 0 {
            Recorded::default()
        } else {
            ensure_hold_claim(&mut tx, &stored, confirmation.day_limit, now).await?
        };
        if checked("upcoming")? >= i64::from(confirmation.max_active_appointments) {
            return Err(BookingError::appointment_limit(
                confirmation.max_active_appointments,
            ));
        }
        let carries_offer = checked("offers")? > 0;

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
            .push(book_hold(&mut tx, hold, appointment_id, carries_offer, now).await?);
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
                return Err(BookingError::hold_already_used());
            }
            (HoldState::Released, _) => return Err(BookingError::HoldNotFound),
            (HoldState::Active | HoldState::Expired, _) => {}
        }
        appointment.check_reschedule(now)?;
        if hold.doctor_id != appointment.doctor_id {
            return Err(BookingError::reschedule_to_another_doctor());
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
            .push(book_hold(&mut tx, hold, appointment_id, true, now).await?);
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
        self.read_hold(id).await
    }

    async fn appointment(&self, id: AppointmentId) -> BookingResult<Option<Appointment>> {
        self.read_appointment(id).await
    }

    async fn appointments_of_patient(&self, patient_id: UserId) -> BookingResult<Vec<Appointment>> {
        self.read_appointments_of_patient(patient_id).await
    }

    async fn upcoming_appointments(
        &self,
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<u32> {
        let row = sql::query(
            "SELECT COUNT(*) FROM appointments
             WHERE patient_id = $1 AND status = 'scheduled' AND start_at > $2",
        )
        .bind(patient_id.to_string())
        .bind(micros(now))
        .fetch_one(&self.pool)
        .await
        .map_err(StoreError::from)?;
        let count: i64 = row.try_get(0).map_err(StoreError::from)?;
        Ok(u32::try_from(count).unwrap_or(u32::MAX))
    }

    async fn occupancy(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        self.read_occupancy(doctors, from, to, now).await
    }

    async fn agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Agenda> {
        self.read_agenda(doctor_id, from, to).await
    }

    async fn expire_holds(&self, now: Timestamp) -> BookingResult<Recorded> {
        // One short transaction per doctor, under that doctor's lock, so the sweeper takes locks
        // in the same order as every other writer.
        let rows = sql::query(DOCTORS_WITH_LAPSED_HOLDS)
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

/// What [`HOLD_CHECKS`] found for a claim.
struct HoldChecks {
    repeats: i64,
    lapsed: i64,
    live_holds: i64,
    overlapping: i64,
    day_claims: i64,
}

async fn hold_checks(
    tx: &mut Tx,
    claim: &HoldClaim,
    now: Timestamp,
) -> Result<HoldChecks, StoreError> {
    let (claim_start, claim_end) = claim.claim;
    let (day_start, day_end) = claim
        .day_limit
        .map_or((0, 0), |limit| (micros(limit.day.0), micros(limit.day.1)));
    let row = sql::query(HOLD_CHECKS)
        .bind(claim.patient_id.to_string())
        .bind(claim.doctor_id.to_string())
        .bind(micros(claim.slot.start))
        .bind(micros(now))
        .bind(micros(claim_end))
        .bind(micros(claim_start))
        .bind(day_start)
        .bind(day_end)
        .fetch_one(&mut *tx)
        .await?;
    Ok(HoldChecks {
        repeats: row.try_get("repeats")?,
        lapsed: row.try_get("lapsed")?,
        live_holds: row.try_get("live_holds")?,
        overlapping: row.try_get("overlapping")?,
        day_claims: row.try_get("day_claims")?,
    })
}
