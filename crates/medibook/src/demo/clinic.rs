//! The demo clinic's specialties, doctors and time off as domain values, built from the
//! catalogue with fresh ids and validated schedules.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Time;
use jiff::civil::Weekday::Monday;
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::ids::{DoctorId, SpecialtyId, TimeOffId};
use medibook_core::schedule::{TimeOff, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::slots::day_bounds;
use medibook_core::{BookingError, BookingResult};

use super::catalogue::{DOCTORS, SPECIALTIES, Shift, TIME_OFF};

/// Currency of every demo fee.
const CURRENCY: &str = "EUR";

/// The demo specialties, with fresh ids, in the order of `SPECIALTIES`.
pub(super) fn specialties() -> Vec<Specialty> {
    SPECIALTIES
        .iter()
        .map(|demo| Specialty {
            id: SpecialtyId::generate(),
            name: demo.name.to_owned(),
            keywords: Specialty::parse_keywords(demo.keywords).unwrap_or_default(),
        })
        .collect()
}

/// The demo doctors, with fresh ids and validated schedules, in the order of `DOCTORS`.
pub(super) fn doctors(specialties: &[Specialty]) -> BookingResult<Vec<Doctor>> {
    DOCTORS
        .iter()
        .map(|demo| {
            let specialty = specialties
                .iter()
                .find(|s| s.name == demo.specialty)
                .ok_or_else(|| {
                    BookingError::validation(format!(
                        "demo doctor {} has an unknown specialty {}",
                        demo.name, demo.specialty
                    ))
                })?;
            Ok(Doctor {
                id: DoctorId::generate(),
                name: demo.name.to_owned(),
                specialty_id: specialty.id,
                qualification: demo.qualification.to_owned(),
                years_experience: demo.years_experience,
                bio: demo.bio.to_owned(),
                fee: Fee::new(demo.fee_minor, CURRENCY)?,
                photo_url: None,
                time_zone: Zone::parse(demo.time_zone)?,
                schedule: WeeklySchedule {
                    hours: weekly_hours(demo.hours)?,
                    breaks: weekly_hours(demo.breaks)?,
                    rules: demo.rules,
                }
                .validate()?,
            })
        })
        .collect()
}

/// The shifts laid out over the week.
fn weekly_hours(shifts: &[Shift]) -> BookingResult<WeeklyHours> {
    let mut hours = WeeklyHours::default();
    for shift in shifts {
        let range = TimeRange::new(wall_clock(shift.from)?, wall_clock(shift.to)?)?;
        for &day in shift.days {
            hours.on_mut(day).push(range);
        }
    }
    Ok(hours)
}

fn wall_clock((hour, minute): (i8, i8)) -> BookingResult<Time> {
    Time::new(hour, minute, 0, 0).map_err(|error| {
        BookingError::validation(format!(
            "demo time {hour:02}:{minute:02} is invalid: {error}"
        ))
    })
}

/// The demo time off, placed in the weeks following `now` in each doctor's zone.
pub(super) fn time_off(doctors: &[Doctor], now: Timestamp) -> BookingResult<Vec<TimeOff>> {
    TIME_OFF
        .iter()
        .map(|demo| {
            let doctor = doctors
                .iter()
                .find(|d| d.name == demo.doctor)
                .ok_or_else(|| {
                    BookingError::validation(format!(
                        "demo time off of unknown doctor {}",
                        demo.doctor
                    ))
                })?;
            let out_of_range = || BookingError::validation("demo time off is out of range");
            let tz = doctor.time_zone.tz();
            let first_day = tz
                .to_datetime(now)
                .date()
                .nth_weekday(demo.weeks_ahead, Monday)
                .map_err(|_| out_of_range())?;
            let first_day_back = first_day
                .checked_add(demo.days.days())
                .map_err(|_| out_of_range())?;
            let (start, _) = day_bounds(tz, first_day).ok_or_else(out_of_range)?;
            let (end, _) = day_bounds(tz, first_day_back).ok_or_else(out_of_range)?;
            Ok(TimeOff {
                id: TimeOffId::generate(),
                doctor_id: doctor.id,
                start,
                end,
                reason: demo.reason.to_owned(),
            })
        })
        .collect()
}

/// The reasons patients of a specialty give.
pub(super) fn reasons_of(specialty: &str) -> &'static [&'static str] {
    SPECIALTIES
        .iter()
        .find(|s| s.name == specialty)
        .map_or(&[], |s| s.reasons)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jiff::civil::Date;
    use medibook_core::slots::SlotGrid;

    use super::*;

    fn demo_doctors() -> BookingResult<Vec<Doctor>> {
        doctors(&specialties())
    }

    #[test]
    fn the_catalogue_is_large_and_every_schedule_is_valid() -> BookingResult<()> {
        let doctors = demo_doctors()?;
        assert!(SPECIALTIES.len() >= 7);
        assert!(doctors.len() >= 14);
        let names: HashSet<&str> = doctors.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), doctors.len(), "doctor names repeat");
        Ok(())
    }

    #[test]
    fn every_specialty_has_a_doctor() -> BookingResult<()> {
        let specialties = specialties();
        let doctors = doctors(&specialties)?;
        for specialty in &specialties {
            assert!(
                doctors.iter().any(|d| d.specialty_id == specialty.id),
                "{} has no doctor",
                specialty.name
            );
        }
        Ok(())
    }

    #[test]
    fn every_doctor_offers_slots_in_a_week() -> BookingResult<()> {
        let monday = Date::new(2027, 3, 1).map_err(|e| BookingError::validation(e.to_string()))?;
        for doctor in demo_doctors()? {
            let grid = SlotGrid::new(&doctor.schedule, doctor.time_zone.tz(), &[]);
            assert!(
                !grid.for_days(monday, 7).is_empty(),
                "{} has no slots",
                doctor.name
            );
        }
        Ok(())
    }
    #[test]
    fn time_off_starts_at_midnight_on_a_future_monday() -> BookingResult<()> {
        let doctors = demo_doctors()?;
        let now: Timestamp = "2027-03-03T10:00:00Z"
            .parse()
            .map_err(|e: jiff::Error| BookingError::validation(e.to_string()))?;
        let entries = time_off(&doctors, now)?;
        assert_eq!(entries.len(), TIME_OFF.len());
        for entry in entries {
            let doctor = doctors
                .iter()
                .find(|d| d.id == entry.doctor_id)
                .ok_or(BookingError::NotFound("doctor"))?;
            let start = doctor.time_zone.tz().to_datetime(entry.start);
            assert!(entry.start > now && entry.end > entry.start);
            assert_eq!(start.weekday(), Monday);
            assert_eq!(start.time(), Time::midnight());
        }
        Ok(())
    }
}
