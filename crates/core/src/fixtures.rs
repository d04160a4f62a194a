//! Doctors for the core's unit tests: Berlin, 30-minute slots, no buffers or notice.

use crate::clinic::{Doctor, Fee, Zone};
use crate::ids::{DoctorId, SpecialtyId};
use crate::schedule::{BookingRules, WeeklyHours, WeeklySchedule};

/// 30-minute slots, no buffers, no notice, bookable 60 days ahead, no daily maximum.
pub(crate) fn rules() -> BookingRules {
    BookingRules {
        slot_minutes: 30,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        min_notice_minutes: 0,
        horizon_days: 60,
        max_per_day: None,
    }
}

/// A doctor in Europe/Berlin named `name`, working `hours` less `breaks` under `rules`.
pub(crate) fn doctor(
    name: &str,
    hours: WeeklyHours,
    breaks: WeeklyHours,
    rules: BookingRules,
) -> Doctor {
    Doctor {
        id: DoctorId::generate(),
        name: name.into(),
        specialty_id: SpecialtyId::generate(),
        qualification: "MD".into(),
        years_experience: 1,
        bio: String::new(),
        fee: Fee::new(5000, "EUR").unwrap(),
        photo_url: None,
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        schedule: WeeklySchedule {
            hours,
            breaks,
            rules,
        }
        .validate()
        .unwrap(),
    }
}
