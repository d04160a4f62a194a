//! What a change to a doctor's hours or time off would do, before it is saved: the free slots
//! it adds and removes, day by day, and the booked appointments it leaves outside the doctor's
//! working time (they keep their time; nothing here moves them).
//!
//! Everything here is pure. The listings it compares come from
//! [`BookingService::listings_for`](crate::booking_service::BookingService::listings_for), which
//! reads the doctor's occupancy once for the current and the proposed setup.

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::booking::{Appointment, AppointmentStatus, SlotStatus};
use crate::listing::SlotView;
use crate::schedule::{TimeOff, WeeklySchedule};

/// The free slots of one calendar date, now and with the change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DayChange {
    /// The date, in the doctor's zone.
    pub date: Date,
    /// Free slots now.
    pub free_before: usize,
    /// Free slots with the change.
    pub free_after: usize,
    /// Starts of free slots the change adds, in order.
    pub added: Vec<Timestamp>,
    /// Starts of free slots the change removes, in order.
    pub removed: Vec<Timestamp>,
}

impl DayChange {
    /// Whether the day's free slots differ.
    pub fn changed(&self) -> bool {
        !self.added.is_empty() || !self.removed.is_empty()
    }
}

/// The free slots over some days, now and with a change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingChange {
    /// One entry per date of the window, in order (changed or not).
    pub days: Vec<DayChange>,
    /// Free slots now, over the whole window.
    pub free_before: usize,
    /// Free slots with the change, over the whole window.
    pub free_after: usize,
}

impl ListingChange {
    /// The days whose free slots differ.
    pub fn changed_days(&self) -> impl Iterator<Item = &DayChange> {
        self.days.iter().filter(|day| day.changed())
    }

    /// How many free slots the change adds, over the whole window.
    pub fn added(&self) -> usize {
        self.days.iter().map(|day| day.added.len()).sum()
    }

    /// How many free slots the change removes, over the whole window.
    pub fn removed(&self) -> usize {
        self.days.iter().map(|day| day.removed.len()).sum()
    }
}

/// Compares two listings of one doctor over `days` dates from `first` (dates in `tz`): which
/// free (available) slot starts each day gains and loses. A slot counts by its start, so a
/// slot that only changes length is neither added nor removed.
pub fn compare_listings(
    before: &[SlotView],
    after: &[SlotView],
    tz: &TimeZone,
    first: Date,
    days: u16,
) -> ListingChange {
    let free_on = |listing: &[SlotView], date: Date| -> Vec<Timestamp> {
        let mut starts: Vec<Timestamp> = listing
            .iter()
            .filter(|slot| slot.status == SlotStatus::Available)
            .filter(|slot| tz.to_datetime(slot.start).date() == date)
            .map(|slot| slot.start)
            .collect();
        starts.sort();
        starts.dedup();
        starts
    };
    let mut change = ListingChange {
        days: Vec::with_capacity(usize::from(days)),
        free_before: 0,
        free_after: 0,
    };
    for offset in 0..days {
        let Ok(date) = first.checked_add(i64::from(offset).days()) else {
            break;
        };
        let now = free_on(before, date);
        let then = free_on(after, date);
        change.free_before += now.len();
        change.free_after += then.len();
        change.days.push(DayChange {
            date,
            free_before: now.len(),
            free_after: then.len(),
            added: then
                .iter()
                .filter(|start| now.binary_search(start).is_err())
                .copied()
                .collect(),
            removed: now
                .iter()
                .filter(|start| then.binary_search(start).is_err())
                .copied()
                .collect(),
        });
    }
    change
}

/// Whether a visit `[start, end)` lies wholly inside one working period (breaks cut out) of
/// `schedule`, read in `tz`, and outside all `time_off`.
pub fn within_working_time(
    schedule: &WeeklySchedule,
    tz: &TimeZone,
    time_off: &[TimeOff],
    start: Timestamp,
    end: Timestamp,
) -> bool {
    if time_off.iter().any(|off| off.overlaps(start, end)) {
        return false;
    }
    let local_start = tz.to_datetime(start);
    let local_end = tz.to_datetime(end);
    let date = local_start.date();
    // A visit that ends at midnight ends "at 24:00" of its day; no period reaches past that.
    let ends_same_day = local_end.date() == date;
    schedule.periods_on(date.weekday()).iter().any(|period| {
        period.start <= local_start.time() && ends_same_day && local_end.time() <= period.end
    })
}

/// The scheduled appointments among `appointments` that would lie outside the working time of
/// `schedule` with `time_off` (read in `tz`): the ones a change leaves stranded. Cancelled and
/// past-outcome visits are not counted.
pub fn appointments_outside<'a>(
    appointments: impl IntoIterator<Item = &'a Appointment>,
    schedule: &WeeklySchedule,
    tz: &TimeZone,
    time_off: &[TimeOff],
) -> Vec<&'a Appointment> {
    appointments
        .into_iter()
        .filter(|a| a.status == AppointmentStatus::Scheduled)
        .filter(|a| !within_working_time(schedule, tz, time_off, a.start, a.end))
        .collect()
}

#[cfg(test)]
mod tests {
    use jiff::SignedDuration;
    use jiff::civil::{Weekday, date, time};

    use super::*;
    use crate::booking::Reason;
    use crate::clinic::Doctor;
    use crate::fixtures;
    use crate::ids::{AppointmentId, DoctorId, TimeOffId, UserId};
    use crate::listing::doctor_listing;
    use crate::schedule::{BookingRules, TimeRange, WeeklyHours};

    fn range(from: (i8, i8), to: (i8, i8)) -> TimeRange {
        TimeRange::new(time(from.0, from.1, 0, 0), time(to.0, to.1, 0, 0)).unwrap()
    }

    fn rules(slot_minutes: u16) -> BookingRules {
        BookingRules {
            slot_minutes,
            ..fixtures::rules()
        }
    }

    fn doctor(hours: WeeklyHours, breaks: WeeklyHours) -> Doctor {
        fixtures::doctor("Dr. Test", hours, breaks, rules(30))
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn clock(at: Timestamp) -> String {
        at.to_zoned(berlin()).strftime("%H:%M").to_string()
    }

    #[test]
    fn moving_the_end_of_a_day_adds_and_removes_slots_on_that_day_only() {
        // Tuesday 2 March 2027: 09:00–12:00 becomes 10:00–13:00.
        let before = doctor(
            WeeklyHours {
                tuesday: vec![range((9, 0), (12, 0))],
                ..WeeklyHours::default()
            },
            WeeklyHours::default(),
        );
        let mut after = before.clone();
        after.schedule.hours.tuesday = vec![range((10, 0), (13, 0))];
        let now = at("2027-03-01T00:00:00Z");
        let first = date(2027, 3, 1);
        let old = doctor_listing(&before, &[], &[], first, 7, now);
        let new = doctor_listing(&after, &[], &[], first, 7, now);
        let change = compare_listings(&old, &new, &berlin(), first, 7);
        assert_eq!(change.days.len(), 7);
        assert_eq!((change.free_before, change.free_after), (6, 6));
        let changed: Vec<_> = change.changed_days().collect();
        assert_eq!(changed.len(), 1);
        let tuesday = changed[0];
        assert_eq!(tuesday.date, date(2027, 3, 2));
        let added: Vec<_> = tuesday.added.iter().map(|t| clock(*t)).collect();
        let removed: Vec<_> = tuesday.removed.iter().map(|t| clock(*t)).collect();
        assert_eq!(added, ["12:00", "12:30"]);
        assert_eq!(removed, ["09:00", "09:30"]);
        assert_eq!((change.added(), change.removed()), (2, 2));
    }

    #[test]
    fn taken_slots_are_not_free_on_either_side() {
        let before = doctor(
            WeeklyHours {
                tuesday: vec![range((9, 0), (10, 0))],
                ..WeeklyHours::default()
            },
            WeeklyHours::default(),
        );
        let mut after = before.clone();
        after.schedule.hours.tuesday = vec![range((9, 0), (11, 0))];
        let booked = crate::booking::Occupancy {
            doctor_id: before.id,
            start: at("2027-03-02T08:30:00Z"),
            end: at("2027-03-02T09:00:00Z"),
            status: SlotStatus::Booked,
        };
        let now = at("2027-03-01T00:00:00Z");
        let first = date(2027, 3, 2);
        let old = doctor_listing(&before, &[], &[booked], first, 1, now);
        let new = doctor_listing(&after, &[], &[booked], first, 1, now);
        let change = compare_listings(&old, &new, &berlin(), first, 1);
        // 09:00 free before and after; 09:30 booked in both; 10:00 and 10:30 are new.
        assert_eq!((change.free_before, change.free_after), (1, 3));
        let added: Vec<_> = change.days[0].added.iter().map(|t| clock(*t)).collect();
        assert_eq!(added, ["10:00", "10:30"]);
        assert!(change.days[0].removed.is_empty());
    }

    #[test]
    fn a_dst_week_compares_by_the_doctors_wall_clock_dates() {
        // Clocks in Berlin jump from 02:00 to 03:00 on Sunday 28 March 2027. Adding Sunday
        // hours 01:00–04:00 adds the slots that exist: 01:00, 01:30, 03:00, 03:30.
        let before = doctor(
            WeeklyHours {
                saturday: vec![range((22, 0), (23, 0))],
                ..WeeklyHours::default()
            },
            WeeklyHours::default(),
        );
        let mut after = before.clone();
        after.schedule.hours.sunday = vec![range((1, 0), (4, 0))];
        let now = at("2027-03-20T00:00:00Z");
        let first = date(2027, 3, 22);
        let old = doctor_listing(&before, &[], &[], first, 7, now);
        let new = doctor_listing(&after, &[], &[], first, 7, now);
        let change = compare_listings(&old, &new, &berlin(), first, 7);
        let changed: Vec<_> = change.changed_days().collect();
        assert_eq!(changed.len(), 1, "{change:?}");
        let sunday = changed[0];
        assert_eq!(sunday.date, date(2027, 3, 28));
        assert_eq!(sunday.date.weekday(), Weekday::Sunday);
        let added: Vec<_> = sunday.added.iter().map(|t| clock(*t)).collect();
        assert_eq!(added, ["01:00", "01:30", "03:00", "03:30"]);
        // Saturday 22:00–23:00 is 21:00–22:00 UTC before the switch; it stays on Saturday.
        let saturday = change
            .days
            .iter()
            .find(|d| d.date == date(2027, 3, 27))
            .unwrap();
        assert_eq!((saturday.free_before, saturday.free_after), (2, 2));
        assert_eq!((change.free_before, change.free_after), (2, 6));
    }

    fn appointment(start: &str, minutes: i64, status: AppointmentStatus) -> Appointment {
        let start = at(start);
        Appointment {
            id: AppointmentId::generate(),
            doctor_id: DoctorId::generate(),
            patient_id: UserId::generate(),
            start,
            end: start + SignedDuration::from_mins(minutes),
            status,
            reason: Reason::from_stored("Check-up".into()),
            notes: None,
            created_at: start,
            updated_at: start,
            sequence: 0,
            late_cancellation: false,
        }
    }

    #[test]
    fn booked_visits_outside_the_new_hours_breaks_or_time_off_are_named() {
        let proposed = doctor(
            WeeklyHours {
                tuesday: vec![range((9, 0), (12, 0))],
                ..WeeklyHours::default()
            },
            WeeklyHours {
                tuesday: vec![range((10, 0), (10, 30))],
                ..WeeklyHours::default()
            },
        );
        let inside = appointment("2027-03-02T08:00:00Z", 30, AppointmentStatus::Scheduled);
        let in_break = appointment("2027-03-02T09:00:00Z", 30, AppointmentStatus::Scheduled);
        let too_late = appointment("2027-03-02T11:00:00Z", 30, AppointmentStatus::Scheduled);
        let wednesday = appointment("2027-03-03T08:00:00Z", 30, AppointmentStatus::Scheduled);
        let cancelled = appointment("2027-03-02T11:00:00Z", 30, AppointmentStatus::Cancelled);
        let on_leave = appointment("2027-03-02T10:00:00Z", 30, AppointmentStatus::Scheduled);
        let leave = TimeOff {
            id: TimeOffId::generate(),
            doctor_id: proposed.id,
            start: at("2027-03-02T09:45:00Z"),
            end: at("2027-03-02T11:00:00Z"),
            reason: String::new(),
        };
        let all = [
            inside.clone(),
            in_break.clone(),
            too_late.clone(),
            wednesday.clone(),
            cancelled,
            on_leave.clone(),
        ];
        let outside = appointments_outside(
            &all,
            &proposed.schedule,
            &berlin(),
            std::slice::from_ref(&leave),
        );
        let ids: Vec<_> = outside.iter().map(|a| a.id).collect();
        assert_eq!(ids, [in_break.id, too_late.id, wednesday.id, on_leave.id]);
        assert!(within_working_time(
            &proposed.schedule,
            &berlin(),
            &[],
            inside.start,
            inside.end
        ));
    }
}
