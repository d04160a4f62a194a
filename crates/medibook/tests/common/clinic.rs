//! A doctor with plain booking rules, seeded straight into a migrated database before any server
//! starts: open every day from 08:00 to 18:00 UTC in 30-minute slots, no buffers, no notice, no
//! daily cap, bookable 60 days ahead. Tests that run the real binary then know its slots
//! exactly, without reading the demo clinic's varied rules.

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan, tz::TimeZone};
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::ports::ClinicRepository;
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_store::Database;

/// Slots a day: 08:00 to 18:00 in 30-minute steps.
pub const SLOTS_PER_DAY: usize = 20;

/// The seeded doctor.
pub struct PlainDoctor {
    /// The doctor's id, as the API spells it.
    pub id: String,
    /// The first day whose slots tests use: tomorrow (UTC), so every slot is in the future for
    /// the rest of the run.
    pub first_day: Date,
}

impl PlainDoctor {
    /// Migrates the database at `database_url` and adds the doctor (and a specialty).
    pub async fn seed(database_url: &str) -> Self {
        let database = Database::connect(database_url)
            .await
            .expect("the database opens");
        database.migrate().await.expect("the database migrates");
        let specialty = Specialty {
            id: SpecialtyId::generate(),
            name: "General practice".into(),
            keywords: Vec::new(),
        };
        database.add_specialty(&specialty).await.expect("specialty");
        let day = vec![
            TimeRange::new(
                "08:00".parse().expect("time"),
                "18:00".parse().expect("time"),
            )
            .expect("range"),
        ];
        let doctor = Doctor {
            id: DoctorId::generate(),
            name: "Dr. Plain Rules".to_owned(),
            specialty_id: specialty.id,
            qualification: "MD".into(),
            years_experience: 10,
            bio: "Seeded by the reliability tests.".into(),
            fee: Fee::new(5000, "EUR").expect("fee"),
            photo_url: None,
            time_zone: Zone::parse("UTC").expect("zone"),
            schedule: WeeklySchedule {
                hours: WeeklyHours {
                    monday: day.clone(),
                    tuesday: day.clone(),
                    wednesday: day.clone(),
                    thursday: day.clone(),
                    friday: day.clone(),
                    saturday: day.clone(),
                    sunday: day,
                },
                breaks: WeeklyHours::default(),
                rules: BookingRules {
                    slot_minutes: 30,
                    buffer_before_minutes: 0,
                    buffer_after_minutes: 0,
                    min_notice_minutes: 0,
                    horizon_days: 60,
                    max_per_day: None,
                },
            }
            .validate()
            .expect("schedule"),
        };
        database.add_doctor(&doctor).await.expect("doctor");
        database.close().await;
        let today = Timestamp::now().to_zoned(TimeZone::UTC).date();
        Self {
            id: doctor.id.to_string(),
            first_day: today.checked_add(1.day()).expect("a date"),
        }
    }

    /// The start of the `index`-th slot counted from 08:00 on [`Self::first_day`] (20 a day).
    pub fn slot(&self, index: usize) -> Timestamp {
        let days = i64::try_from(index / SLOTS_PER_DAY).expect("a small index");
        let half_hours = i64::try_from(index % SLOTS_PER_DAY).expect("a small index");
        self.first_day
            .checked_add(days.days())
            .expect("a date")
            .at(8, 0, 0, 0)
            .to_zoned(TimeZone::UTC)
            .expect("an instant")
            .timestamp()
            .checked_add((30 * half_hours).minutes())
            .expect("an instant")
    }
}
