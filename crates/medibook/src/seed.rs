//! `medibook seed`: a large generated clinic for benchmarks and load tests, loaded into the
//! configured database (the one a running server uses, or one it will use): many doctors with
//! realistic weekly hours in five time zones, a holiday each, and weeks of appointments behind
//! and ahead of them.
//!
//! Loading millions of appointments through the HTTP API would take hours, so the history is
//! bulk-loaded ([`medibook_store::bulk`]); the slots of every working day come from the core's
//! [`SlotGrid`], the same code that lists them, so every loaded appointment sits exactly on a
//! listed slot.

use std::time::Instant;

use jiff::civil::{Date, Time, Weekday, time};
use jiff::{SignedDuration, Timestamp, ToSpan};
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::ids::{DoctorId, SpecialtyId, TimeOffId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::{BookingRules, TimeOff, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::slots::{Slot, SlotGrid};
use medibook_store::Database;
use medibook_store::bulk::{BookedRun, MAX_RUN};
use serde::Serialize;

/// Doctors whose history is loaded per transaction: about 60,000 appointments, short enough
/// that a running server's own writers never wait long for the SQLite write lock.
const DOCTORS_PER_TRANSACTION: usize = 20;
/// Patients the appointments are spread over.
const PATIENTS: u32 = 20_000;
/// The time zones doctors work in.
const ZONES: [&str; 5] = [
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "Asia/Kolkata",
];
/// Share of past slots booked, in per mille.
const PAST_BOOKED_PER_MILLE: u64 = 850;
/// Share of booked slots whose appointment was later cancelled, in per mille.
const CANCELLED_PER_MILLE: u64 = 40;

/// How big a clinic to load.
#[derive(Clone, Copy, Debug, clap::Args)]
pub struct Shape {
    /// Doctors to add.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub doctors: u32,
    /// Weeks of past appointments before today.
    #[arg(long, default_value_t = 52, value_parser = clap::value_parser!(u16).range(0..=520))]
    pub weeks_back: u16,
    /// Weeks of future appointments from today (also the doctors' booking horizon).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=100))]
    pub weeks_ahead: u16,
    /// Seed of the pseudo-random choices (which slots are booked), for repeatable data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What was loaded, printed as one JSON line.
#[derive(Clone, Debug, Serialize)]
pub struct Seeded {
    /// The doctors added.
    pub doctors: Vec<DoctorId>,
    /// Appointments added (cancelled ones included).
    pub appointments: u64,
    /// Of which still occupy their slot (every one but the cancelled).
    pub occupying: u64,
    /// Wall-clock time of the whole load, in seconds.
    pub seconds: f64,
}

/// Loads a clinic of `shape` into `db` (migrated), around `now`.
pub async fn seed(db: &Database, shape: &Shape, now: Timestamp) -> Result<Seeded, String> {
    let started = Instant::now();
    let specialties = specialties(db).await?;
    let store_error = |context: &'static str| move |e| format!("{context}: {e}");
    let mut loader = db
        .bulk_loader(PATIENTS, now - SignedDuration::from_hours(400 * 24))
        .await
        .map_err(store_error("cannot prepare the load"))?;

    let today = now.to_zoned(jiff::tz::TimeZone::UTC).date();
    let first_day = today
        .checked_sub(i64::from(shape.weeks_back).weeks())
        .map_err(|e| format!("--weeks-back reaches too far: {e}"))?;
    let last_day = today
        .checked_add(i64::from(shape.weeks_ahead).weeks())
        .map_err(|e| format!("--weeks-ahead reaches too far: {e}"))?;

    let mut seeded = Seeded {
        doctors: Vec::new(),
        appointments: 0,
        occupying: 0,
        seconds: 0.0,
    };
    let numbers: Vec<u32> = (0..shape.doctors).collect();
    for chunk in numbers.chunks(DOCTORS_PER_TRANSACTION) {
        let mut runs = Vec::new();
        for &number in chunk {
            let doctor = seeded_doctor(number, &specialties, shape)?;
            let vacation = vacation_of(&doctor, number, first_day, today)?;
            db.add_doctor(&doctor)
                .await
                .map_err(|e| format!("cannot add a doctor: {e}"))?;
            if let Some(vacation) = &vacation {
                db.add_time_off(vacation)
                    .await
                    .map_err(|e| format!("cannot add time off: {e}"))?;
            }
            let mut random = SplitMix::new(shape.seed ^ u64::from(number).wrapping_mul(0x9e37));
            let time_off: Vec<TimeOff> = vacation.into_iter().collect();
            let grid = SlotGrid::new(&doctor.schedule, doctor.time_zone.tz(), &time_off);
            let rules = &doctor.schedule.rules;
            let mut day = first_day;
            while day < last_day {
                let booked_per_mille = booked_share(day, today, shape.weeks_ahead);
                for run in runs_of(&grid.for_day(day)) {
                    let mut booked = 0_i64;
                    let mut cancelled = 0_i64;
                    for bit in 0..run.count {
                        if random.per_mille() < booked_per_mille {
                            booked |= 1 << bit;
                            seeded.appointments += 1;
                            if random.per_mille() < CANCELLED_PER_MILLE {
                                cancelled |= 1 << bit;
                            } else {
                                seeded.occupying += 1;
                            }
                        }
                    }
                    if booked != 0 {
                        runs.push(BookedRun {
                            doctor_id: doctor.id.to_string(),
                            first_start: run.first.as_microsecond(),
                            step: micros(run.step),
                            len: micros(rules.slot_length()),
                            before: micros(rules.buffer_before()),
                            after: micros(rules.buffer_after()),
                            count: i64::try_from(run.count).unwrap_or(0),
                            booked,
                            cancelled,
                        });
                    }
                }
                day = day.tomorrow().map_err(|e| e.to_string())?;
            }
            seeded.doctors.push(doctor.id);
        }
        loader
            .load(&runs, now)
            .await
            .map_err(store_error("cannot load appointments"))?;
    }
    loader
        .finish()
        .await
        .map_err(store_error("cannot finish the load"))?;
    seeded.seconds = started.elapsed().as_secs_f64();
    Ok(seeded)
}

/// Evenly spaced slots of one day: `count` slots, the k-th starting at `first + k * step`.
#[derive(Debug, PartialEq)]
struct Run {
    first: Timestamp,
    step: SignedDuration,
    count: usize,
}

/// `slots` (one day, in order, all of one length) cut into runs of at most [`MAX_RUN`].
fn runs_of(slots: &[Slot]) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for slot in slots {
        if let Some(run) = runs.last_mut() {
            let gap = slot.start.duration_since(run.first);
            let fits = match run.count {
                1 => gap.is_positive(),
                _ => gap == run.step * i32::try_from(run.count).unwrap_or(i32::MAX),
            };
            if fits && run.count < MAX_RUN {
                if run.count == 1 {
                    run.step = gap;
                }
                run.count += 1;
                continue;
            }
        }
        runs.push(Run {
            first: slot.start,
            step: SignedDuration::ZERO,
            count: 1,
        });
    }
    runs
}

/// Per mille of the slots of `day` that are booked: most of the past, and from nearly all of
/// the coming days down to about a third at the horizon.
fn booked_share(day: Date, today: Date, weeks_ahead: u16) -> u64 {
    if day < today {
        return PAST_BOOKED_PER_MILLE;
    }
    let ahead_days = u64::try_from((day - today).get_days()).unwrap_or(0);
    let horizon_days = u64::from(weeks_ahead.max(1)) * 7;
    950_u64.saturating_sub(600 * ahead_days / horizon_days)
}

/// The specialties doctors are spread over: those already there, or one made here.
async fn specialties(db: &Database) -> Result<Vec<SpecialtyId>, String> {
    let existing = db
        .specialties()
        .await
        .map_err(|e| format!("cannot read specialties: {e}"))?;
    if !existing.is_empty() {
        return Ok(existing.iter().map(|s| s.specialty.id).collect());
    }
    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "General practice".into(),
        keywords: Vec::new(),
    };
    db.add_specialty(&specialty)
        .await
        .map_err(|e| format!("cannot add a specialty: {e}"))?;
    Ok(vec![specialty.id])
}

const FIRST_NAMES: [&str; 12] = [
    "Anna", "Ben", "Chiara", "David", "Elif", "Farid", "Greta", "Hiro", "Ines", "Jonas", "Kavya",
    "Lena",
];
const LAST_NAMES: [&str; 12] = [
    "Schmidt", "Okafor", "Rossi", "Nguyen", "Yilmaz", "Haddad", "Larsen", "Tanaka", "Silva",
    "Weber", "Iyer", "Novak",
];

/// Doctor `number` of the seeded clinic.
fn seeded_doctor(
    number: u32,
    specialties: &[SpecialtyId],
    shape: &Shape,
) -> Result<Doctor, String> {
    let n = usize::try_from(number).unwrap_or(0);
    let pick = |len: usize, salt: usize| (n / salt) % len;
    let zone = ZONES[pick(ZONES.len(), 1)];
    let horizon_days = (shape.weeks_ahead.max(1) * 7).min(730);
    Ok(Doctor {
        id: DoctorId::generate(),
        name: format!(
            "Dr. {} {} ({number})",
            FIRST_NAMES[pick(FIRST_NAMES.len(), 3)],
            LAST_NAMES[pick(LAST_NAMES.len(), 7)]
        ),
        specialty_id: specialties[pick(specialties.len(), 2)],
        qualification: "MD".into(),
        years_experience: u16::try_from(5 + n % 30).unwrap_or(5),
        bio: "A doctor of the seeded clinic.".into(),
        fee: Fee::new(6000, "EUR").map_err(|e| e.to_string())?,
        photo_url: None,
        time_zone: Zone::parse(zone).map_err(|e| e.to_string())?,
        schedule: week_of(n % 4, horizon_days)?,
    })
}

/// One of four kinds of working week.
fn week_of(kind: usize, horizon_days: u16) -> Result<WeeklySchedule, String> {
    let range = |from: Time, to: Time| TimeRange::new(from, to);
    let bad = |e: medibook_core::BookingError| e.to_string();
    let mut hours = WeeklyHours::default();
    let mut breaks = WeeklyHours::default();
    let (days, day_hours, pause, slot_minutes, buffer_after): (&[Weekday], _, _, u16, u16) =
        match kind {
            // Full-time GP: weekdays 08–17 with lunch, 30-minute visits.
            0 => (
                &[
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Friday,
                ],
                range(time(8, 0, 0, 0), time(17, 0, 0, 0)),
                Some(range(time(12, 0, 0, 0), time(13, 0, 0, 0))),
                30,
                0,
            ),
            // Specialist: four days, 20-minute visits with 5 minutes to write up.
            1 => (
                &[
                    Weekday::Monday,
                    Weekday::Tuesday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                ],
                range(time(9, 0, 0, 0), time(17, 30, 0, 0)),
                Some(range(time(12, 30, 0, 0), time(13, 30, 0, 0))),
                20,
                5,
            ),
            // Part-time mornings, 15-minute visits.
            2 => (
                &[Weekday::Tuesday, Weekday::Wednesday, Weekday::Friday],
                range(time(7, 30, 0, 0), time(13, 30, 0, 0)),
                None,
                15,
                0,
            ),
            // Long consultations, Saturday included.
            _ => (
                &[
                    Weekday::Monday,
                    Weekday::Wednesday,
                    Weekday::Thursday,
                    Weekday::Saturday,
                ],
                range(time(10, 0, 0, 0), time(18, 0, 0, 0)),
                Some(range(time(14, 0, 0, 0), time(14, 30, 0, 0))),
                45,
                0,
            ),
        };
    let day_hours = day_hours.map_err(bad)?;
    let pause = pause.transpose().map_err(bad)?;
    for day in days {
        hours.on_mut(*day).push(day_hours);
        if let Some(pause) = pause {
            breaks.on_mut(*day).push(pause);
        }
    }
    WeeklySchedule {
        hours,
        breaks,
        rules: BookingRules {
            slot_minutes,
            buffer_before_minutes: 0,
            buffer_after_minutes: buffer_after,
            min_notice_minutes: 60,
            horizon_days,
            max_per_day: None,
        },
    }
    .validate()
    .map_err(bad)
}

/// Two weeks of holiday in the past, at a different week for each doctor.
fn vacation_of(
    doctor: &Doctor,
    number: u32,
    first_day: Date,
    today: Date,
) -> Result<Option<TimeOff>, String> {
    let past_weeks = (today - first_day).get_days() / 7;
    if past_weeks < 4 {
        return Ok(None);
    }
    let offset = i64::from(number) % i64::from(past_weeks - 2);
    let bad = |e: jiff::Error| e.to_string();
    let start_day = first_day.checked_add(offset.weeks()).map_err(bad)?;
    let end_day = start_day.checked_add(2.weeks()).map_err(bad)?;
    let tz = doctor.time_zone.tz();
    Ok(Some(TimeOff {
        id: TimeOffId::generate(),
        doctor_id: doctor.id,
        start: start_day.to_zoned(tz.clone()).map_err(bad)?.timestamp(),
        end: end_day.to_zoned(tz.clone()).map_err(bad)?.timestamp(),
        reason: "Holiday".into(),
    }))
}

fn micros(duration: SignedDuration) -> i64 {
    i64::try_from(duration.as_micros()).unwrap_or(i64::MAX)
}

/// A small, seedable pseudo-random generator (SplitMix64): the same data for the same seed on
/// every platform and version.
#[derive(Debug)]
struct SplitMix(u64);

impl SplitMix {
    fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn per_mille(&mut self) -> u64 {
        self.next_u64() % 1000
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot(start_minute: i64, minutes: i64) -> Slot {
        let start = Timestamp::UNIX_EPOCH + SignedDuration::from_mins(start_minute);
        Slot {
            start,
            end: start + SignedDuration::from_mins(minutes),
        }
    }

    #[test]
    fn evenly_spaced_slots_make_one_run_and_a_break_starts_another() {
        let slots = [slot(0, 30), slot(30, 30), slot(60, 30), slot(150, 30)];
        let runs = runs_of(&slots);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0].count, 3);
        assert_eq!(runs[0].step, SignedDuration::from_mins(30));
        assert_eq!(runs[1].first, slots[3].start);
        assert_eq!(runs[1].count, 1);
    }

    #[test]
    fn runs_expand_back_to_exactly_the_slots() {
        let slots: Vec<Slot> = (0..150).map(|k| slot(k * 25, 20)).collect();
        let runs = runs_of(&slots);
        assert!(runs.iter().all(|run| run.count <= MAX_RUN));
        let expanded: Vec<Timestamp> = runs
            .iter()
            .flat_map(|run| {
                (0..run.count).map(|k| run.first + run.step * i32::try_from(k).unwrap())
            })
            .collect();
        let starts: Vec<Timestamp> = slots.iter().map(|s| s.start).collect();
        assert_eq!(expanded, starts);
    }

    #[test]
    fn every_kind_of_week_is_a_valid_schedule() {
        for kind in 0..4 {
            let schedule = week_of(kind, 56).unwrap();
            assert!(!schedule.hours.on(Weekday::Wednesday).is_empty());
        }
    }

    #[test]
    fn coming_days_are_booked_more_than_the_horizon() {
        let today = jiff::civil::date(2026, 11, 22);
        let soon = booked_share(today, today, 8);
        let late = booked_share(today.checked_add(55.days()).unwrap(), today, 8);
        assert!(soon > late, "{soon} vs {late}");
        assert_eq!(
            booked_share(today.yesterday().unwrap(), today, 8),
            PAST_BOOKED_PER_MILLE
        );
    }
}
