//! The contention fast path wired into the booking service, over a real database: when many
//! patients ask for one slot, one database answer serves every request that was already waiting
//! for it, and none that came later (`medibook_core::contention`).
//!
//! The database is wrapped so that the first request's read of what stands in the way is held
//! until all the others have queued for the slot; the winner's claim then begins after every
//! other request arrived, so all of them are answered from it, deterministically.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::Actor;
use medibook_core::booking::Agenda;
use medibook_core::booking::{Appointment, Hold, Occupancy};
use medibook_core::booking_service::{BookingPolicy, BookingService};
use medibook_core::clock::{Clock, ManualClock};
use medibook_core::contention::{ClaimInTheWay, SlotContention};
use medibook_core::events::NoListeners;
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId, UserId};
use medibook_core::ports::{
    Booked, BookingRepository, Claimed, Confirmation, HoldClaim, IdentityRepository, Recorded,
    Reschedule,
};
use medibook_core::{BookingError, BookingResult};
use medibook_store::Database;

use common::{Backend, TestDatabase};

/// Patients racing for the slot.
const RACERS: usize = 20;

/// The real database, counting the reads and claims of the hold path; the first read waits
/// until `RACERS` requests have queued for the slot.
struct Counted {
    inner: Database,
    contention: Arc<SlotContention>,
    slot: (DoctorId, Timestamp),
    reads: AtomicUsize,
    claims: AtomicUsize,
}

#[async_trait]
impl BookingRepository for Counted {
    async fn claim_in_the_way(
        &self,
        doctor_id: DoctorId,
        claim: (Timestamp, Timestamp),
        patient_id: UserId,
        now: Timestamp,
    ) -> BookingResult<Option<ClaimInTheWay>> {
        if self.reads.fetch_add(1, Ordering::SeqCst) == 0 {
            let (doctor, start) = self.slot;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            while self.contention.waiting(doctor, start) < RACERS {
                assert!(tokio::time::Instant::now() < deadline, "the racers queue");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        self.inner
            .claim_in_the_way(doctor_id, claim, patient_id, now)
            .await
    }
    async fn claim_hold(&self, claim: &HoldClaim, now: Timestamp) -> BookingResult<Claimed> {
        self.claims.fetch_add(1, Ordering::SeqCst);
        self.inner.claim_hold(claim, now).await
    }
    async fn release_hold(
        &self,
        hold_id: HoldId,
        patient_id: UserId,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Recorded> {
        self.inner
            .release_hold(hold_id, patient_id, actor, now)
            .await
    }
    async fn confirm_hold(
        &self,
        confirmation: &Confirmation,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        self.inner.confirm_hold(confirmation, now).await
    }
    async fn cancel_appointment(
        &self,
        appointment_id: AppointmentId,
        patient_id: UserId,
        late_window: SignedDuration,
        actor: &Actor,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        self.inner
            .cancel_appointment(appointment_id, patient_id, late_window, actor, now)
            .await
    }
    async fn reschedule_appointment(
        &self,
        request: &Reschedule,
        now: Timestamp,
    ) -> BookingResult<Booked> {
        self.inner.reschedule_appointment(request, now).await
    }
    async fn hold(&self, id: HoldId) -> BookingResult<Option<Hold>> {
        self.inner.hold(id).await
    }
    async fn appointment(&self, id: AppointmentId) -> BookingResult<Option<Appointment>> {
        self.inner.appointment(id).await
    }
    async fn appointments_of_patient(&self, patient_id: UserId) -> BookingResult<Vec<Appointment>> {
        self.inner.appointments_of_patient(patient_id).await
    }
    async fn occupancy(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        self.inner.occupancy(doctors, from, to, now).await
    }
    async fn agenda(
        &self,
        doctor_id: DoctorId,
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Agenda> {
        self.inner.agenda(doctor_id, from, to).await
    }
    async fn expire_holds(&self, now: Timestamp) -> BookingResult<Recorded> {
        self.inner.expire_holds(now).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racers_queued_before_the_winning_claim_are_answered_by_it_on_sqlite() {
    let Some(database) = TestDatabase::create(Backend::Sqlite).await else {
        return;
    };
    let url = database.url.clone();
    one_claim_answers_everyone_queued_before_it(&url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racers_queued_before_the_winning_claim_are_answered_by_it_on_postgres() {
    let Some(postgres) = TestDatabase::create(Backend::Postgres).await else {
        return;
    };
    one_claim_answers_everyone_queued_before_it(&postgres.url).await;
}

/// Twenty patients ask for one slot at once. The first request's read finds the slot free (it
/// is held until the other nineteen have queued), its claim wins, and the nineteen are refused
/// from that claim: one read and one claim in the database for twenty requests.
async fn one_claim_answers_everyone_queued_before_it(url: &str) {
    let doctor = common::clinic::PlainDoctor::seed(url).await;
    let doctor_id: DoctorId = doctor.id.parse().unwrap();
    let start = doctor.slot(3);
    let database = Database::connect(url).await.unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let mut patients = Vec::new();
    for i in 0..RACERS {
        let email = Email::parse(&format!("racer{i}@example.org")).unwrap();
        let user = database
            .user_for(&Identifier::Email(email), clock.now())
            .await
            .unwrap();
        patients.push(user.id);
    }
    let contention = Arc::new(SlotContention::new());
    let counted = Arc::new(Counted {
        inner: database.clone(),
        contention: contention.clone(),
        slot: (doctor_id, start),
        reads: AtomicUsize::new(0),
        claims: AtomicUsize::new(0),
    });
    let service = BookingService::new(
        Arc::new(database.clone()),
        counted.clone(),
        clock,
        Arc::new(NoListeners),
        BookingPolicy::default(),
    )
    .with_contention(contention.clone());

    let mut racers = tokio::task::JoinSet::new();
    for patient in patients {
        let service = service.clone();
        racers.spawn(async move {
            service
                .hold(
                    &Actor::operator(),
                    patient,
                    doctor_id,
                    start,
                    medibook_core::booking_service::HoldPurpose::NewAppointment,
                )
                .await
        });
    }
    let outcomes = racers.join_all().await;

    let winners = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(winners, 1, "exactly one patient gets the slot");
    for outcome in outcomes.iter().filter(|o| o.is_err()) {
        assert!(
            matches!(outcome, Err(BookingError::SlotTaken)),
            "{outcome:?}"
        );
    }
    assert_eq!(counted.reads.load(Ordering::SeqCst), 1, "one read");
    assert_eq!(counted.claims.load(Ordering::SeqCst), 1, "one claim");
    assert_eq!(contention.refused_from_memory(), (RACERS - 1) as u64);
    assert_eq!(
        contention.queued_slots(),
        0,
        "nothing is kept after the burst"
    );
    database.close().await;
}
