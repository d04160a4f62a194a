//! The catalogue as the read path sees it: doctors (with their parsed weekly schedules) and
//! their time off, kept in memory so a slot listing reads only the occupancy from the database.
//!
//! The cache is derived state. An entry is dropped as soon as this instance hears that the
//! doctor changed ([`DomainEvent::Doctor`], published by the transaction that changed the
//! profile, schedule or time off, and relayed from other instances over PostgreSQL `LISTEN` or
//! Redis), so it is never served after the event that outdates it has been seen. A fill that
//! raced with such an event is not kept (a generation counter), and every entry also lapses
//! after [`ENTRY_LIFETIME`], which bounds how long an instance that missed an event (its relay
//! was down) can serve a stale schedule.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::clinic::{Doctor, Specialty, SpecialtySummary};
use crate::clock::Clock;
use crate::error::BookingResult;
use crate::events::{DomainEvent, EventFollower};
use crate::ids::{DoctorId, SpecialtyId};
use crate::ports::ClinicRepository;
use crate::schedule::TimeOff;

/// How long an entry is served without news of its doctor.
pub const ENTRY_LIFETIME: SignedDuration = SignedDuration::from_secs(60);

/// A [`ClinicRepository`] that keeps doctors and their time off in memory.
pub struct CachedClinic {
    inner: Arc<dyn ClinicRepository>,
    clock: Arc<dyn Clock>,
    state: Mutex<Entries>,
}

/// What is cached, and a count of invalidations so a fill that overlapped one is dropped.
#[derive(Default)]
struct Entries {
    generation: u64,
    doctors: HashMap<DoctorId, (Timestamp, Doctor)>,
    everyone: Option<(Timestamp, Vec<Doctor>)>,
    time_off: HashMap<DoctorId, (Timestamp, Arc<Vec<TimeOff>>)>,
}

impl CachedClinic {
    /// A cache in front of `inner`, aging entries by `clock`.
    pub fn new(inner: Arc<dyn ClinicRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            inner,
            clock,
            state: Mutex::new(Entries::default()),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops what is cached of `doctor_id` (and the list of everyone).
    pub fn forget(&self, doctor_id: DoctorId) {
        let mut entries = self.entries();
        entries.generation += 1;
        entries.doctors.remove(&doctor_id);
        entries.time_off.remove(&doctor_id);
        entries.everyone = None;
    }

    /// Drops everything (when events may have been missed).
    pub fn forget_all(&self) {
        let mut entries = self.entries();
        let generation = entries.generation + 1;
        *entries = Entries {
            generation,
            ..Entries::default()
        };
    }

    /// Follows one event: a changed doctor is forgotten.
    pub fn on_event(&self, event: &DomainEvent) {
        if let DomainEvent::Doctor { doctor_id } = event {
            self.forget(*doctor_id);
        }
    }

    fn fresh(&self, filled: Timestamp, now: Timestamp) -> bool {
        now.duration_since(filled) < ENTRY_LIFETIME
    }

    /// Answers from `cached` if it has a fresh entry; else awaits `read` and lets `keep` store
    /// its answer, unless an invalidation came while it was read (the generation moved on).
    async fn read_through<T>(
        &self,
        cached: impl FnOnce(&Entries) -> Option<T>,
        read: impl Future<Output = BookingResult<T>>,
        keep: impl FnOnce(&mut Entries, &T),
    ) -> BookingResult<T> {
        let generation = {
            let entries = self.entries();
            if let Some(hit) = cached(&entries) {
                return Ok(hit);
            }
            entries.generation
        };
        let answer = read.await?;
        let mut entries = self.entries();
        if entries.generation == generation {
            keep(&mut entries, &answer);
        }
        Ok(answer)
    }
}

#[async_trait]
impl ClinicRepository for CachedClinic {
    async fn specialties(&self) -> BookingResult<Vec<SpecialtySummary>> {
        self.inner.specialties().await
    }

    async fn specialty(&self, id: SpecialtyId) -> BookingResult<Option<Specialty>> {
        self.inner.specialty(id).await
    }

    async fn doctors(&self) -> BookingResult<Vec<Doctor>> {
        let now = self.clock.now();
        self.read_through(
            |entries| {
                let (filled, everyone) = entries.everyone.as_ref()?;
                self.fresh(*filled, now).then(|| everyone.clone())
            },
            self.inner.doctors(),
            |entries, everyone| entries.everyone = Some((now, everyone.clone())),
        )
        .await
    }

    async fn doctor(&self, id: DoctorId) -> BookingResult<Option<Doctor>> {
        let now = self.clock.now();
        self.read_through(
            |entries| {
                let (filled, doctor) = entries.doctors.get(&id)?;
                self.fresh(*filled, now).then(|| Some(doctor.clone()))
            },
            self.inner.doctor(id),
            |entries, doctor| {
                // "Not found" is not kept: a doctor added elsewhere is found at once.
                if let Some(doctor) = doctor {
                    entries.doctors.insert(id, (now, doctor.clone()));
                }
            },
        )
        .await
    }

    async fn time_off(
        &self,
        doctors: &[DoctorId],
        from: Timestamp,
        to: Timestamp,
    ) -> BookingResult<Vec<TimeOff>> {
        let now = self.clock.now();
        let mut known: Vec<Arc<Vec<TimeOff>>> = Vec::with_capacity(doctors.len());
        let mut missing: Vec<DoctorId> = Vec::new();
        let generation = {
            let entries = self.entries();
            for id in doctors {
                match entries.time_off.get(id) {
                    Some((filled, all)) if self.fresh(*filled, now) => known.push(all.clone()),
                    _ => missing.push(*id),
                }
            }
            entries.generation
        };
        if !missing.is_empty() {
            // All of the missing doctors' time off in one query, kept whole: a listing of
            // another week needs no new read.
            let fetched = self
                .inner
                .time_off(&missing, Timestamp::MIN, Timestamp::MAX)
                .await?;
            let mut by_doctor: HashMap<DoctorId, Vec<TimeOff>> =
                missing.iter().map(|id| (*id, Vec::new())).collect();
            for time_off in fetched {
                by_doctor
                    .entry(time_off.doctor_id)
                    .or_default()
                    .push(time_off);
            }
            let mut entries = self.entries();
            let keep = entries.generation == generation;
            for (id, all) in by_doctor {
                let all = Arc::new(all);
                if keep {
                    entries.time_off.insert(id, (now, all.clone()));
                }
                known.push(all);
            }
        }
        Ok(known
            .iter()
            .flat_map(|all| all.iter())
            .filter(|t| t.start < to && t.end > from)
            .cloned()
            .collect())
    }

    async fn add_specialty(&self, specialty: &Specialty) -> BookingResult<()> {
        self.inner.add_specialty(specialty).await
    }

    async fn add_doctor(&self, doctor: &Doctor) -> BookingResult<()> {
        self.inner.add_doctor(doctor).await?;
        self.forget(doctor.id);
        Ok(())
    }

    async fn add_time_off(&self, time_off: &TimeOff) -> BookingResult<()> {
        self.inner.add_time_off(time_off).await?;
        self.forget(time_off.doctor_id);
        Ok(())
    }

    async fn is_empty(&self) -> BookingResult<bool> {
        self.inner.is_empty().await
    }
}

impl EventFollower for CachedClinic {
    fn follow(&self, event: &DomainEvent) {
        self.on_event(event);
    }

    fn missed_some(&self) {
        self.forget_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::clock::ManualClock;
    use crate::events::{EventBus, FollowedBus, NoListeners};
    use crate::fixtures;
    use crate::ids::TimeOffId;
    use crate::schedule::WeeklyHours;

    /// A catalogue of one doctor and their time off that counts its reads, and can run
    /// something in the middle of a read (to race a change with it).
    #[derive(Default)]
    struct Counted {
        doctor: Mutex<Option<Doctor>>,
        time_off: Mutex<Vec<TimeOff>>,
        doctor_reads: AtomicUsize,
        time_off_reads: AtomicUsize,
        during_read: Mutex<Option<Box<dyn Fn() + Send>>>,
    }

    impl Counted {
        fn read(&self) {
            if let Some(during) = self.during_read.lock().unwrap().take() {
                during();
            }
        }
    }

    #[async_trait]
    impl ClinicRepository for Counted {
        async fn specialties(&self) -> BookingResult<Vec<SpecialtySummary>> {
            Ok(Vec::new())
        }
        async fn specialty(&self, _id: SpecialtyId) -> BookingResult<Option<Specialty>> {
            Ok(None)
        }
        async fn doctors(&self) -> BookingResult<Vec<Doctor>> {
            self.doctor_reads.fetch_add(1, Ordering::SeqCst);
            Ok(self.doctor.lock().unwrap().iter().cloned().collect())
        }
        async fn doctor(&self, id: DoctorId) -> BookingResult<Option<Doctor>> {
            self.doctor_reads.fetch_add(1, Ordering::SeqCst);
            let doctor = self.doctor.lock().unwrap().clone().filter(|d| d.id == id);
            self.read();
            Ok(doctor)
        }
        async fn time_off(
            &self,
            doctors: &[DoctorId],
            from: Timestamp,
            to: Timestamp,
        ) -> BookingResult<Vec<TimeOff>> {
            self.time_off_reads.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .time_off
                .lock()
                .unwrap()
                .iter()
                .filter(|t| doctors.contains(&t.doctor_id) && t.start < to && t.end > from)
                .cloned()
                .collect())
        }
        async fn add_specialty(&self, _specialty: &Specialty) -> BookingResult<()> {
            Ok(())
        }
        async fn add_doctor(&self, doctor: &Doctor) -> BookingResult<()> {
            *self.doctor.lock().unwrap() = Some(doctor.clone());
            Ok(())
        }
        async fn add_time_off(&self, time_off: &TimeOff) -> BookingResult<()> {
            self.time_off.lock().unwrap().push(time_off.clone());
            Ok(())
        }
        async fn is_empty(&self) -> BookingResult<bool> {
            Ok(false)
        }
    }

    fn doctor(name: &str) -> Doctor {
        fixtures::doctor(
            name,
            WeeklyHours::default(),
            WeeklyHours::default(),
            fixtures::rules(),
        )
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn cache_over(inner: &Arc<Counted>) -> (Arc<CachedClinic>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(at("2027-03-01T08:00:00Z")));
        let cache = Arc::new(CachedClinic::new(inner.clone(), clock.clone()));
        (cache, clock)
    }

    #[tokio::test]
    async fn a_doctor_is_read_once_until_an_event_says_it_changed() {
        let inner = Arc::new(Counted::default());
        let anna = doctor("Dr. Anna");
        inner.add_doctor(&anna).await.unwrap();
        let (cache, _) = cache_over(&inner);
        for _ in 0..3 {
            assert_eq!(
                cache.doctor(anna.id).await.unwrap().unwrap().name,
                "Dr. Anna"
            );
        }
        assert_eq!(inner.doctor_reads.load(Ordering::SeqCst), 1);

        let renamed = Doctor {
            name: "Dr. Anna Schmidt".into(),
            ..anna.clone()
        };
        inner.add_doctor(&renamed).await.unwrap();
        cache.on_event(&DomainEvent::Doctor { doctor_id: anna.id });
        assert_eq!(
            cache.doctor(anna.id).await.unwrap().unwrap().name,
            "Dr. Anna Schmidt"
        );
        assert_eq!(inner.doctor_reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_read_that_raced_with_a_change_is_not_kept() {
        let inner = Arc::new(Counted::default());
        let anna = doctor("Dr. Anna");
        inner.add_doctor(&anna).await.unwrap();
        let (cache, _) = cache_over(&inner);
        // The change commits and is announced while the first read is on its way back.
        let racing = cache.clone();
        let id = anna.id;
        *inner.during_read.lock().unwrap() = Some(Box::new(move || racing.forget(id)));
        cache.doctor(anna.id).await.unwrap();
        cache.doctor(anna.id).await.unwrap();
        assert_eq!(
            inner.doctor_reads.load(Ordering::SeqCst),
            2,
            "the raced read was not served again"
        );
    }

    #[tokio::test]
    async fn entries_lapse_even_without_news() {
        let inner = Arc::new(Counted::default());
        let anna = doctor("Dr. Anna");
        inner.add_doctor(&anna).await.unwrap();
        let (cache, clock) = cache_over(&inner);
        cache.doctor(anna.id).await.unwrap();
        clock.advance(ENTRY_LIFETIME - SignedDuration::from_secs(1));
        cache.doctor(anna.id).await.unwrap();
        assert_eq!(inner.doctor_reads.load(Ordering::SeqCst), 1);
        clock.advance(SignedDuration::from_secs(1));
        cache.doctor(anna.id).await.unwrap();
        assert_eq!(inner.doctor_reads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn time_off_is_read_once_per_doctor_and_cut_to_the_window() {
        let inner = Arc::new(Counted::default());
        let (anna, ben) = (doctor("Dr. Anna"), doctor("Dr. Ben"));
        let week_off = TimeOff {
            id: TimeOffId::generate(),
            doctor_id: anna.id,
            start: at("2027-03-08T00:00:00Z"),
            end: at("2027-03-15T00:00:00Z"),
            reason: String::new(),
        };
        inner.add_time_off(&week_off).await.unwrap();
        let (cache, _) = cache_over(&inner);
        let both = [anna.id, ben.id];
        let this_week = cache
            .time_off(
                &both,
                at("2027-03-01T00:00:00Z"),
                at("2027-03-08T00:00:00Z"),
            )
            .await
            .unwrap();
        assert!(this_week.is_empty());
        let next_week = cache
            .time_off(
                &both,
                at("2027-03-08T00:00:00Z"),
                at("2027-03-15T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(next_week, vec![week_off.clone()]);
        assert_eq!(inner.time_off_reads.load(Ordering::SeqCst), 1, "one query");

        // Time off added through the cache is seen at once.
        let day_off = TimeOff {
            id: TimeOffId::generate(),
            start: at("2027-03-02T00:00:00Z"),
            end: at("2027-03-03T00:00:00Z"),
            ..week_off
        };
        cache.add_time_off(&day_off).await.unwrap();
        let this_week = cache
            .time_off(
                &both,
                at("2027-03-01T00:00:00Z"),
                at("2027-03-08T00:00:00Z"),
            )
            .await
            .unwrap();
        assert_eq!(this_week, vec![day_off]);
    }

    #[tokio::test]
    async fn the_followed_bus_forgets_before_anyone_hears() {
        let inner = Arc::new(Counted::default());
        let anna = doctor("Dr. Anna");
        inner.add_doctor(&anna).await.unwrap();
        let (cache, _) = cache_over(&inner);
        cache.doctor(anna.id).await.unwrap();
        let bus = FollowedBus::new(vec![cache.clone()], Arc::new(NoListeners));
        bus.publish(DomainEvent::Doctor { doctor_id: anna.id });
        cache.doctor(anna.id).await.unwrap();
        assert_eq!(inner.doctor_reads.load(Ordering::SeqCst), 2);
    }
}
