//! Property tests for [`SlotGrid`], the engine that turns weekly wall-clock hours into bookable
//! instants.
//!
//! Zones, dates, working hours, breaks, slot lengths, buffers and time off are generated. Dates
//! come mostly from the days around the DST transitions of 2026–2028 and working hours mostly
//! from the small hours, where those transitions happen, so most cases walk across a gap or a
//! fold. Each property states one promise the grid makes: slots never overlap, last exactly
//! their length, start at a wall-clock time the doctor works, disappear in a spring-forward gap,
//! appear once in a fall-back fold, can be found again by their start, and keep clear of time
//! off. The example tests at the end pin exact numbers for known transitions.

use std::collections::BTreeSet;
use std::error::Error;

use jiff::civil::{Date, DateTime, Time, Weekday, date, time};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan};
use medibook_core::ids::{DoctorId, TimeOffId};
use medibook_core::schedule::{BookingRules, TimeOff, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::slots::{Slot, SlotGrid};
use proptest::prelude::*;
use proptest::sample::{Index, select};

/// Zones with DST shifts of 30, 60 and 120 minutes, transitions at midnight, and no DST at all.
const ZONES: &[&str] = &[
    "Europe/Berlin",       // 02:00 → 03:00 in March, 03:00 → 02:00 in October
    "America/New_York",    // 02:00 → 03:00 in March, 02:00 → 01:00 in November
    "Australia/Lord_Howe", // half-hour shift: 02:00 → 02:30 in October, 02:00 → 01:30 in April
    "Pacific/Chatham",     // +12:45/+13:45, at 02:45
    "America/Santiago",    // at midnight: Sunday starts at 01:00, or Saturday's 23:00 repeats
    "America/Havana",      // at midnight: 00:00 → 01:00, 01:00 → 00:00
    "Antarctica/Troll",    // two-hour shift: 01:00 → 03:00, 03:00 → 01:00
    "Asia/Kolkata",        // +05:30, no DST
    "America/Sao_Paulo",   // DST abolished in 2019
    "UTC",
];

/// Zones whose spring-forward gap lies within one calendar date.
const GAP_ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Santiago",
    "America/Havana",
    "Antarctica/Troll",
];

/// Zones whose repeated fall-back span lies within one calendar date (Santiago's ends at
/// midnight, so it is left out).
const FOLD_ZONES: &[&str] = &[
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
    "America/Havana",
    "Antarctica/Troll",
];

/// Slot lengths a clinic is likely to choose; the generator mixes them with arbitrary ones.
const USUAL_SLOT_MINUTES: &[u16] = &[10, 15, 20, 30, 45, 60];

type TestResult = Result<(), Box<dyn Error>>;

// ---------------------------------------------------------------------------------------------
// Properties over generated schedules
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn slots_are_strictly_ordered_and_their_claims_never_overlap(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        let slots = grid.for_days(s.first_date()?, 3);
        for pair in slots.windows(2) {
            let (earlier, later) = (pair[0], pair[1]);
            prop_assert!(earlier.start < later.start, "{earlier:?} is not before {later:?}");
            let (_, earlier_claim_end) = earlier.claim(&s.schedule.rules);
            let (later_claim_start, _) = later.claim(&s.schedule.rules);
            prop_assert!(
                earlier_claim_end <= later_claim_start,
                "claims of {earlier:?} and {later:?} overlap"
            );
        }
    }

    #[test]
    fn every_slot_lasts_exactly_the_slot_length(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        for slot in grid.for_days(s.first_date()?, 3) {
            prop_assert_eq!(slot.end.duration_since(slot.start), s.schedule.rules.slot_length());
        }
    }

    /// The wall-clock time a slot's claim starts at (the slot's start when there is no buffer
    /// before) exists, reads back as the same instant (the first reading, if it exists twice),
    /// lies on the grid of a working period of that weekday and outside every break, and the
    /// claim ends by the period's end.
    #[test]
    fn every_slot_starts_on_an_existing_grid_time_inside_working_hours(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        let rules = &s.schedule.rules;
        for date in s.dates()? {
            let weekday = date.weekday();
            let periods = s.schedule.periods_on(weekday);
            for slot in grid.for_day(date) {
                let (claim_start, claim_end) = slot.claim(rules);
                let wall = s.tz.to_datetime(claim_start);
                prop_assert_eq!(wall.date(), date);
                prop_assert_eq!(s.tz.to_ambiguous_timestamp(wall).earlier()?, claim_start);
                let t = wall.time();
                prop_assert!(s.schedule.hours.on(weekday).iter().any(|r| contains(r, t)));
                prop_assert!(!s.schedule.breaks.on(weekday).iter().any(|r| contains(r, t)));
                let period = periods.iter().find(|p| contains(p, t));
                prop_assert!(period.is_some(), "{wall} is in no period of {periods:?}");
                if let Some(period) = period {
                    prop_assert!(is_grid_time(period, t, rules.step()), "{wall} is off the grid");
                    prop_assert!(claim_end <= period_end(&s.tz, date, period.end)?);
                }
            }
        }
    }

    /// Wherever the walk from a period's start lines up with a spring-forward gap, exactly the
    /// grid times inside the gap are lost and every other one yields its slot.
    #[test]
    fn a_gap_inside_working_hours_skips_exactly_the_grid_times_that_do_not_exist(
        aligned in aligned_transition(GAP_ZONES),
    ) {
        let a = aligned.materialize(Kind::Gap)?;
        let grid = SlotGrid::new(&a.schedule, &a.tz, &[]);
        let slots = grid.for_day(a.date);
        let expected: Vec<DateTime> = (1..=a.steps_before)
            .rev()
            .map(|i| a.span_start - a.step * i)
            .chain((0..a.steps_after).map(|i| a.span_end + a.step * i))
            .collect();
        prop_assert_eq!(claim_walls(&a.tz, &slots, &a.schedule.rules), expected);
    }

    /// Wherever the walk from a period's start lines up with a fall-back fold, every grid time
    /// yields one slot, at its first reading; the second pass of the repeated span stays empty.
    #[test]
    fn a_fold_inside_working_hours_offers_the_repeated_times_once(
        aligned in aligned_transition(FOLD_ZONES),
    ) {
        let a = aligned.materialize(Kind::Fold)?;
        let grid = SlotGrid::new(&a.schedule, &a.tz, &[]);
        let slots = grid.for_day(a.date);
        let repeated = a.span_end.duration_since(a.span_start).as_nanos() / a.step.as_nanos();
        let expected: Vec<DateTime> = (1..=a.steps_before)
            .rev()
            .map(|i| a.span_start - a.step * i)
            .chain((0..i32::try_from(repeated)?).map(|i| a.span_start + a.step * i))
            .chain((0..a.steps_after).map(|i| a.span_end + a.step * i))
            .collect();
        prop_assert_eq!(claim_walls(&a.tz, &slots, &a.schedule.rules), expected);
        let second_pass_end = a.transition + a.shift;
        for slot in &slots {
            let (claim_start, claim_end) = slot.claim(&a.schedule.rules);
            prop_assert!(
                claim_end <= a.transition || claim_start >= second_pass_end,
                "{slot:?} lies in the second pass of the repeated span"
            );
        }
    }

    /// The generated counterpart of the fold property: whatever the hours, no two slots of a
    /// day start their claim (the slot itself, without a buffer before) at the same wall-clock
    /// time. A buffer before that spans a fall-back can still give two different slots, one
    /// in each pass of the repeated span, the same wall-clock start; they never overlap.
    #[test]
    fn no_two_slots_of_a_day_share_a_wall_clock_start(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        for date in s.dates()? {
            let walls = claim_walls(&s.tz, &grid.for_day(date), &s.schedule.rules);
            let distinct: BTreeSet<&DateTime> = walls.iter().collect();
            prop_assert_eq!(distinct.len(), walls.len(), "repeated wall-clock start in {:?}", walls);
        }
    }

    #[test]
    fn days_without_a_transition_have_the_arithmetic_number_of_slots(case in case()) {
        let s = case.scenario()?.without_time_off();
        let grid = s.grid();
        let step = s.schedule.rules.step().as_nanos();
        for date in s.dates()? {
            if has_transition(&s.tz, date)? {
                continue;
            }
            let expected: i128 = s
                .schedule
                .periods_on(date.weekday())
                .iter()
                .map(|p| p.end.duration_since(p.start).as_nanos() / step)
                .sum();
            prop_assert_eq!(grid.for_day(date).len(), usize::try_from(expected)?, "on {}", date);
        }
    }

    /// Completeness: a grid time whose whole claim reads as one unbroken stretch of the
    /// period's wall-clock time (no jump inside it, no time off) yields a slot, unless another
    /// slot's claim already covers part of it.
    #[test]
    fn every_undisturbed_grid_time_yields_a_slot_unless_another_slot_is_in_the_way(
        case in case(),
    ) {
        let s = case.scenario()?;
        let grid = s.grid();
        let rules = &s.schedule.rules;
        let step = rules.step();
        let last_instant = SignedDuration::from_nanos(1);
        for date in s.dates()? {
            let claims: Vec<(Timestamp, Timestamp)> =
                grid.for_day(date).iter().map(|slot| slot.claim(rules)).collect();
            for period in s.schedule.periods_on(date.weekday()) {
                for t in fitting_grid_times(&period, step) {
                    let wall = date.to_datetime(t);
                    let ambiguous = s.tz.to_ambiguous_timestamp(wall);
                    if matches!(ambiguous.offset(), AmbiguousOffset::Gap { .. }) {
                        continue;
                    }
                    let start = ambiguous.earlier()?;
                    let end = start + step;
                    if s.tz.to_datetime(end - last_instant) != wall + step - last_instant {
                        continue;
                    }
                    if s.time_off.iter().any(|off| off.overlaps(start, end)) {
                        continue;
                    }
                    prop_assert!(
                        claims.iter().any(|&(a, b)| a == start || (a < end && start < b)),
                        "no slot for {wall} ({start}) in period {period:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn slot_at_finds_every_slot_and_nothing_off_the_grid(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        let minute = SignedDuration::from_mins(1);
        for slot in grid.for_day(s.date) {
            prop_assert_eq!(grid.slot_at(slot.start), Some(slot));
            prop_assert_eq!(grid.slot_at(slot.start + minute), None);
            prop_assert_eq!(grid.slot_at(slot.start - minute), None);
        }
    }

    #[test]
    fn no_slot_claim_touches_time_off(case in case()) {
        let s = case.scenario()?;
        let grid = s.grid();
        for slot in grid.for_days(s.first_date()?, 3) {
            let (claim_start, claim_end) = slot.claim(&s.schedule.rules);
            for off in &s.time_off {
                prop_assert!(
                    !off.overlaps(claim_start, claim_end),
                    "{slot:?} overlaps time off {}–{}", off.start, off.end
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Known transitions
// ---------------------------------------------------------------------------------------------

#[test]
fn berlin_spring_forward_skips_the_two_half_hours_that_do_not_exist() -> TestResult {
    let tz = TimeZone::get("Europe/Berlin")?;
    let day = date(2026, 3, 29);
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(6, 0, 0, 0))], 30);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    assert_eq!(
        slots.len(),
        10,
        "12 half hours on the clock, 2 of them never happen"
    );
    let starts = wall_times(&tz, &slots);
    assert!(!starts.contains(&time(2, 0, 0, 0)));
    assert!(!starts.contains(&time(2, 30, 0, 0)));
    assert_eq!(starts[3], time(1, 30, 0, 0));
    assert_eq!(starts[4], time(3, 0, 0, 0));
    // 01:30 CET–02:00 CET is 01:30 CET–03:00 CEST: the slots on either side of the gap touch.
    assert_eq!(slots[3].end, slots[4].start);
    assert_no_overlaps(&slots);
    Ok(())
}

#[test]
fn new_york_fall_back_offers_the_repeated_hour_once() -> TestResult {
    let tz = TimeZone::get("America/New_York")?;
    let day = date(2026, 11, 1);
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(4, 0, 0, 0))], 30);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    // Five physical hours, but 01:00–02:00 is offered only in its first (EDT) pass.
    assert_eq!(slots.len(), 8);
    let starts = wall_times(&tz, &slots);
    let distinct: BTreeSet<&Time> = starts.iter().collect();
    assert_eq!(
        distinct.len(),
        starts.len(),
        "repeated wall-clock start in {starts:?}"
    );
    let at_one: Timestamp = "2026-11-01T01:00:00-04:00".parse()?;
    let at_one_thirty: Timestamp = "2026-11-01T01:30:00-04:00".parse()?;
    assert_eq!(slots[2].start, at_one);
    assert_eq!(slots[3].start, at_one_thirty);
    let second_pass_start: Timestamp = "2026-11-01T01:00:00-05:00".parse()?;
    let second_pass_end: Timestamp = "2026-11-01T02:00:00-05:00".parse()?;
    assert!(
        slots
            .iter()
            .all(|slot| slot.end <= second_pass_start || slot.start >= second_pass_end)
    );
    assert_no_overlaps(&slots);
    Ok(())
}

#[test]
fn new_york_slot_at_knows_only_the_first_reading_of_a_repeated_time() -> TestResult {
    let tz = TimeZone::get("America/New_York")?;
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(4, 0, 0, 0))], 30);
    let grid = SlotGrid::new(&schedule, &tz, &[]);
    let first_reading: Timestamp = "2026-11-01T01:30:00-04:00".parse()?;
    let second_reading: Timestamp = "2026-11-01T01:30:00-05:00".parse()?;
    assert!(grid.slot_at(first_reading).is_some());
    assert_eq!(grid.slot_at(second_reading), None);
    Ok(())
}

#[test]
fn lord_howe_spring_forward_skips_the_missing_half_hour() -> TestResult {
    let tz = TimeZone::get("Australia/Lord_Howe")?;
    // The first Sunday of October 2026: clocks jump from 02:00 (+10:30) to 02:30 (+11:00).
    let day = date(2026, 10, 4);
    assert!(matches!(
        tz.to_ambiguous_timestamp(day.at(2, 0, 0, 0)).offset(),
        AmbiguousOffset::Gap { .. }
    ));
    assert!(matches!(
        tz.to_ambiguous_timestamp(day.at(2, 30, 0, 0)).offset(),
        AmbiguousOffset::Unambiguous { .. }
    ));
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(6, 0, 0, 0))], 30);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    assert_eq!(
        slots.len(),
        11,
        "12 half hours on the clock, 02:00–02:30 never happens"
    );
    let starts = wall_times(&tz, &slots);
    assert!(!starts.contains(&time(2, 0, 0, 0)));
    assert_eq!(starts[3], time(1, 30, 0, 0));
    assert_eq!(starts[4], time(2, 30, 0, 0));
    assert_eq!(slots[3].end, slots[4].start);
    assert_no_overlaps(&slots);
    Ok(())
}

#[test]
fn lord_howe_fall_back_offers_the_repeated_half_hour_once() -> TestResult {
    let tz = TimeZone::get("Australia/Lord_Howe")?;
    // The first Sunday of April 2026: clocks fall back from 02:00 (+11:00) to 01:30 (+10:30).
    let day = date(2026, 4, 5);
    assert!(matches!(
        tz.to_ambiguous_timestamp(day.at(1, 30, 0, 0)).offset(),
        AmbiguousOffset::Fold { .. }
    ));
    assert!(matches!(
        tz.to_ambiguous_timestamp(day.at(2, 0, 0, 0)).offset(),
        AmbiguousOffset::Unambiguous { .. }
    ));
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(6, 0, 0, 0))], 30);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    // Six and a half physical hours; the half hour 01:30–02:00 is offered once, at +11:00.
    assert_eq!(slots.len(), 12);
    let starts = wall_times(&tz, &slots);
    let distinct: BTreeSet<&Time> = starts.iter().collect();
    assert_eq!(distinct.len(), 12);
    let first_reading: Timestamp = "2026-04-05T01:30:00+11:00".parse()?;
    assert_eq!(slots[3].start, first_reading);
    let after_fold: Timestamp = "2026-04-05T02:00:00+10:30".parse()?;
    assert_eq!(slots[4].start, after_fold);
    assert_eq!(
        slots[4].start.duration_since(slots[3].end),
        SignedDuration::from_mins(30)
    );
    assert_no_overlaps(&slots);
    Ok(())
}

#[test]
fn santiago_day_that_starts_at_one_has_no_slots_before_one() -> TestResult {
    let tz = TimeZone::get("America/Santiago")?;
    // Chile springs forward at midnight: Sunday 6 September 2026 starts at 01:00.
    let day = date(2026, 9, 6);
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(3, 0, 0, 0))], 30);
    let grid = SlotGrid::new(&schedule, &tz, &[]);
    let slots = grid.for_day(day);

    let expected = [
        time(1, 0, 0, 0),
        time(1, 30, 0, 0),
        time(2, 0, 0, 0),
        time(2, 30, 0, 0),
    ];
    assert_eq!(wall_times(&tz, &slots), expected);
    assert_eq!(
        grid.day_bounds(day).map(|(start, _)| start),
        Some(slots[0].start)
    );
    Ok(())
}

#[test]
fn a_period_ending_inside_a_gap_ends_where_the_gap_starts() -> TestResult {
    let tz = TimeZone::get("Europe/Berlin")?;
    let day = date(2026, 3, 29);
    // "Until 02:30" on a night when the clocks jump from 02:00 to 03:00.
    let schedule = one_day(
        Weekday::Sunday,
        &[(time(0, 0, 0, 0), time(2, 30, 0, 0))],
        30,
    );
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    let expected = [
        time(0, 0, 0, 0),
        time(0, 30, 0, 0),
        time(1, 0, 0, 0),
        time(1, 30, 0, 0),
    ];
    assert_eq!(wall_times(&tz, &slots), expected);
    let jump: Timestamp = "2026-03-29T01:00:00Z".parse()?;
    assert_eq!(slots[3].end, jump);
    Ok(())
}

#[test]
fn a_period_ending_when_the_clocks_jump_keeps_its_last_hour() -> TestResult {
    let tz = TimeZone::get("Europe/Berlin")?;
    let day = date(2026, 3, 29);
    // "Until 02:00": 02:00 itself never shows on the clock that night; 01:59:59 is followed by
    // 03:00. The hour 01:00–02:00 is still worked.
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(2, 0, 0, 0))], 30);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    let expected = [
        time(0, 0, 0, 0),
        time(0, 30, 0, 0),
        time(1, 0, 0, 0),
        time(1, 30, 0, 0),
    ];
    assert_eq!(wall_times(&tz, &slots), expected);
    Ok(())
}

#[test]
fn a_slot_straddling_the_jump_pushes_the_next_one_to_the_following_grid_time() -> TestResult {
    let tz = TimeZone::get("Europe/Berlin")?;
    let day = date(2026, 3, 29);
    let schedule = one_day(Weekday::Sunday, &[(time(0, 0, 0, 0), time(6, 0, 0, 0))], 45);
    let slots = SlotGrid::new(&schedule, &tz, &[]).for_day(day);

    // 01:30 CET + 45 minutes is 03:15 CEST; 02:15 does not exist, and 03:00 would start
    // inside the 01:30 slot, so the grid resumes at 03:45.
    let expected = [
        time(0, 0, 0, 0),
        time(0, 45, 0, 0),
        time(1, 30, 0, 0),
        time(3, 45, 0, 0),
        time(4, 30, 0, 0),
        time(5, 15, 0, 0),
    ];
    assert_eq!(wall_times(&tz, &slots), expected);
    let straddling_end: Timestamp = "2026-03-29T03:15:00+02:00".parse()?;
    assert_eq!(slots[2].end, straddling_end);
    assert_no_overlaps(&slots);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Generated cases
// ---------------------------------------------------------------------------------------------

/// How a case picks its calendar date.
#[derive(Clone, Copy, Debug)]
enum DayPick {
    /// `offset` days from the `index`-th transition of the zone in 2026–2028; for a zone
    /// without transitions, `100 × index + offset` days after 2026-01-01.
    NearTransition { index: usize, offset: i64 },
    /// Any day of 2026–2028.
    Any { day: i64 },
}

/// A generated doctor: zone, date, weekly schedule and time off (minutes from the start of
/// the date, length in minutes).
#[derive(Clone, Debug)]
struct Case {
    zone: &'static str,
    day: DayPick,
    schedule: WeeklySchedule,
    /// If the clocks change on the date, that weekday's hours are replaced by one period from
    /// this many minutes before the missing or repeated span to this many after its end (a
    /// negative number ends the period inside the span, at its start, or before it).
    cover: Option<(i64, i64)>,
    time_off: Vec<(i64, i64)>,
}

/// A case with its zone looked up, its date fixed and its time off turned into instants.
#[derive(Debug)]
struct Scenario {
    tz: TimeZone,
    date: Date,
    schedule: WeeklySchedule,
    time_off: Vec<TimeOff>,
}

impl Case {
    fn scenario(&self) -> Result<Scenario, TestCaseError> {
        let tz = TimeZone::get(self.zone)?;
        let first_day = date(2026, 1, 1);
        let date = match self.day {
            DayPick::NearTransition { index, offset } => {
                let transitions = transitions(&tz)?;
                match transitions.get(index % transitions.len().max(1)) {
                    Some(transition) => transition.date(&tz).checked_add(offset.days())?,
                    None => first_day.checked_add((100 * i64::try_from(index)? + offset).days())?,
                }
            }
            DayPick::Any { day } => first_day.checked_add(day.days())?,
        };
        let mut schedule = self.schedule.clone();
        if let Some((before, after)) = self.cover {
            let transitions = transitions(&tz)?;
            if let Some(transition) = transitions.iter().find(|t| t.date(&tz) == date) {
                let (span_start, span_end) = transition.changed_span();
                let start = span_start - SignedDuration::from_mins(before);
                let end = span_end + SignedDuration::from_mins(after);
                let start = if start.date() < date {
                    Time::MIN
                } else {
                    start.time()
                };
                let end = if end.date() > date {
                    Time::MAX
                } else {
                    end.time()
                };
                if start < end {
                    *schedule.hours.on_mut(date.weekday()) = vec![TimeRange { start, end }];
                }
            }
        }
        let schedule = schedule.validate()?;
        let day_start = date.to_zoned(tz.clone())?.start_of_day()?.timestamp();
        let time_off = self
            .time_off
            .iter()
            .map(|&(from, minutes)| {
                let start = day_start + SignedDuration::from_mins(from);
                TimeOff {
                    id: TimeOffId::generate(),
                    doctor_id: DoctorId::generate(),
                    start,
                    end: start + SignedDuration::from_mins(minutes),
                    reason: String::new(),
                }
            })
            .collect();
        Ok(Scenario {
            tz,
            date,
            schedule,
            time_off,
        })
    }
}

impl Scenario {
    fn grid(&self) -> SlotGrid<'_> {
        SlotGrid::new(&self.schedule, &self.tz, &self.time_off)
    }

    fn without_time_off(self) -> Self {
        Self {
            time_off: Vec::new(),
            ..self
        }
    }

    /// The day before the case's date: the grid is examined over three days around it.
    fn first_date(&self) -> Result<Date, jiff::Error> {
        self.date.yesterday()
    }

    fn dates(&self) -> Result<[Date; 3], jiff::Error> {
        Ok([self.date.yesterday()?, self.date, self.date.tomorrow()?])
    }
}

fn case() -> impl Strategy<Value = Case> {
    (
        // Mostly zones that change their clocks.
        prop_oneof![3 => select(GAP_ZONES), 1 => select(ZONES)],
        day_pick(),
        weekly(working_day()),
        weekly(breaks_of_a_day()),
        rules(),
        prop_oneof![1 => Just(None), 3 => (0i64..=240, -60i64..=240).prop_map(Some)],
        prop::collection::vec((-180i64..=1620, 5i64..=480), 0..=3),
    )
        .prop_map(|(zone, day, hours, breaks, rules, cover, time_off)| Case {
            zone,
            day,
            schedule: WeeklySchedule {
                hours,
                breaks,
                rules,
            },
            cover,
            time_off,
        })
}

/// Mostly the very day the clocks change, else a day near it, else any day.
fn day_pick() -> impl Strategy<Value = DayPick> {
    prop_oneof![
        4 => (0usize..6).prop_map(|index| DayPick::NearTransition { index, offset: 0 }),
        1 => (0usize..6, -3i64..=3)
            .prop_map(|(index, offset)| DayPick::NearTransition { index, offset }),
        1 => (0i64..1096).prop_map(|day| DayPick::Any { day }),
    ]
}

fn rules() -> impl Strategy<Value = BookingRules> {
    let slot_minutes = prop_oneof![2 => select(USUAL_SLOT_MINUTES), 1 => 5u16..=120];
    (slot_minutes, 0u16..=30, 0u16..=30).prop_map(|(slot_minutes, before, after)| BookingRules {
        slot_minutes,
        buffer_before_minutes: before,
        buffer_after_minutes: after,
        min_notice_minutes: 0,
        horizon_days: 60,
        max_per_day: None,
    })
}

/// The same kind of day, drawn independently for each weekday.
fn weekly(day: impl Strategy<Value = Vec<TimeRange>>) -> impl Strategy<Value = WeeklyHours> {
    proptest::array::uniform7(day).prop_map(
        |[
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        ]| WeeklyHours {
            monday,
            tuesday,
            wednesday,
            thursday,
            friday,
            saturday,
            sunday,
        },
    )
}

/// Working hours of one day: mostly in the small hours, where the transitions are.
fn working_day() -> impl Strategy<Value = Vec<TimeRange>> {
    prop_oneof![
        1 => Just(Vec::new()),
        4 => ranges(0..=84, 3),   // within 00:00–07:00
        2 => ranges(96..=216, 2), // office hours, within 08:00–18:00
        2 => ranges(0..=288, 3),  // anywhere, up to the last instant of the day
    ]
}

fn breaks_of_a_day() -> impl Strategy<Value = Vec<TimeRange>> {
    prop_oneof![
        2 => Just(Vec::new()),
        1 => ranges(0..=84, 2),
        1 => ranges(0..=288, 2),
    ]
}

/// Up to `max` disjoint ranges whose ends are 5-minute marks drawn from `marks`.
fn ranges(
    marks: std::ops::RangeInclusive<u16>,
    max: usize,
) -> impl Strategy<Value = Vec<TimeRange>> {
    prop::collection::btree_set(marks, 0..=2 * max).prop_map(|marks| {
        let marks: Vec<Time> = marks.into_iter().map(five_minute_mark).collect();
        marks
            .chunks_exact(2)
            .map(|pair| TimeRange {
                start: pair[0],
                end: pair[1],
            })
            .collect()
    })
}

/// The `n`-th 5-minute mark of the day; mark 288 stands for the day's last instant.
fn five_minute_mark(n: u16) -> Time {
    if n >= 288 {
        Time::MAX
    } else {
        Time::MIN + SignedDuration::from_mins(5 * i64::from(n))
    }
}

// ---------------------------------------------------------------------------------------------
// Generated transitions with a period lined up on them
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Gap,
    Fold,
}

/// A gap or fold with one working period around it, whose grid lines up with the transition:
/// it starts `steps_before` steps before the changed span and ends `steps_after` steps (plus
/// less than one step to spare) after it, and the step divides the DST shift.
#[derive(Clone, Debug)]
struct AlignedTransitionPick {
    zone: &'static str,
    index: usize,
    step: Index,
    buffer_before: u16,
    buffer_after: u16,
    steps_before: i32,
    steps_after: i32,
    spare: Index,
}

/// What [`AlignedTransitionPick`] stands for, resolved in its zone.
#[derive(Debug)]
struct AlignedTransition {
    tz: TimeZone,
    date: Date,
    schedule: WeeklySchedule,
    /// The instant the clocks change.
    transition: Timestamp,
    /// By how much they change.
    shift: SignedDuration,
    /// First wall-clock time of the span that is missing (gap) or repeated (fold).
    span_start: DateTime,
    /// First wall-clock time after that span.
    span_end: DateTime,
    step: SignedDuration,
    steps_before: i32,
    steps_after: i32,
}

fn aligned_transition(
    zones: &'static [&'static str],
) -> impl Strategy<Value = AlignedTransitionPick> {
    (
        select(zones),
        0usize..3,
        any::<Index>(),
        0u16..=30,
        0u16..=30,
        0i32..=6,
        0i32..=6,
        any::<Index>(),
    )
        .prop_map(
            |(zone, index, step, buffer_before, buffer_after, steps_before, steps_after, spare)| {
                AlignedTransitionPick {
                    zone,
                    index,
                    step,
                    buffer_before,
                    buffer_after,
                    steps_before,
                    steps_after,
                    spare,
                }
            },
        )
}

impl AlignedTransitionPick {
    fn materialize(&self, kind: Kind) -> Result<AlignedTransition, TestCaseError> {
        let tz = TimeZone::get(self.zone)?;
        let of_kind: Vec<Transition> = transitions(&tz)?
            .into_iter()
            .filter(|t| t.kind() == kind)
            .collect();
        prop_assume!(!of_kind.is_empty());
        let transition = of_kind[self.index % of_kind.len()];
        let shift = transition.shift();
        let (span_start, span_end) = transition.changed_span();
        prop_assert_eq!(
            span_start.date(),
            span_end.date(),
            "changed span crosses midnight"
        );

        let shift_minutes = shift.as_mins();
        let divisors: Vec<i64> = (5..=shift_minutes)
            .filter(|d| shift_minutes % d == 0)
            .collect();
        let step_minutes = divisors[self.step.index(divisors.len())];
        let step = SignedDuration::from_mins(step_minutes);
        let step_minutes = u16::try_from(step_minutes)?;
        let buffer_before = self.buffer_before.min(step_minutes - 5);
        let buffer_after = self.buffer_after.min(step_minutes - 5 - buffer_before);
        let rules = BookingRules {
            slot_minutes: step_minutes - buffer_before - buffer_after,
            buffer_before_minutes: buffer_before,
            buffer_after_minutes: buffer_after,
            min_notice_minutes: 0,
            horizon_days: 60,
            max_per_day: None,
        };

        let room_before = span_start.time().duration_since(Time::MIN).as_nanos() / step.as_nanos();
        let steps_before = self.steps_before.min(i32::try_from(room_before)?);
        let spare =
            SignedDuration::from_mins(i64::try_from(self.spare.index(usize::from(step_minutes)))?);
        let start = span_start - step * steps_before;
        let end = span_end + step * self.steps_after + spare;
        prop_assert_eq!(end.date(), span_end.date(), "period runs past midnight");

        let date = span_start.date();
        let schedule = one_day_with_rules(date.weekday(), &[(start.time(), end.time())], rules);
        Ok(AlignedTransition {
            tz,
            date,
            schedule,
            transition: transition.at,
            shift,
            span_start,
            span_end,
            step,
            steps_before,
            steps_after: self.steps_after,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Zone rules, read with jiff
// ---------------------------------------------------------------------------------------------

/// A change of a zone's offset.
#[derive(Clone, Copy, Debug)]
struct Transition {
    at: Timestamp,
    before: Offset,
    after: Offset,
}

impl Transition {
    fn kind(&self) -> Kind {
        if self.after > self.before {
            Kind::Gap
        } else {
            Kind::Fold
        }
    }

    fn shift(&self) -> SignedDuration {
        SignedDuration::from_secs(i64::from(self.after.seconds() - self.before.seconds())).abs()
    }

    /// The wall-clock span that is skipped (gap) or read twice (fold), `[start, end)`.
    fn changed_span(&self) -> (DateTime, DateTime) {
        let old_reading = self.before.to_datetime(self.at);
        let new_reading = self.after.to_datetime(self.at);
        (old_reading.min(new_reading), old_reading.max(new_reading))
    }

    /// The calendar date on which the clocks change.
    fn date(&self, tz: &TimeZone) -> Date {
        tz.to_datetime(self.at).date()
    }
}

/// The zone's transitions in 2026–2028.
fn transitions(tz: &TimeZone) -> Result<Vec<Transition>, jiff::Error> {
    let from: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let until: Timestamp = "2029-01-01T00:00:00Z".parse()?;
    Ok(tz
        .following(from)
        .take_while(|t| t.timestamp() < until)
        .map(|t| Transition {
            at: t.timestamp(),
            before: tz.to_offset(t.timestamp() - SignedDuration::from_nanos(1)),
            after: t.offset(),
        })
        .collect())
}

/// Whether the zone's offset changes at any instant of `date`.
fn has_transition(tz: &TimeZone, date: Date) -> Result<bool, jiff::Error> {
    let start = date.to_zoned(tz.clone())?.start_of_day()?.timestamp();
    let end = date
        .tomorrow()?
        .to_zoned(tz.clone())?
        .start_of_day()?
        .timestamp();
    let just_before_start = start - SignedDuration::from_nanos(1);
    Ok(tz
        .following(just_before_start)
        .next()
        .is_some_and(|t| t.timestamp() < end))
}

/// The instant a period ending at wall-clock `end` on `date` is over: the end itself, its
/// first reading if it is repeated, or the jump of the clocks if it is skipped.
fn period_end(tz: &TimeZone, date: Date, end: Time) -> Result<Timestamp, TestCaseError> {
    let ambiguous = tz.to_ambiguous_timestamp(date.to_datetime(end));
    match ambiguous.offset() {
        AmbiguousOffset::Gap { .. } => {
            let jump = tz.following(ambiguous.earlier()?).next();
            jump.map(|t| t.timestamp())
                .ok_or_else(|| TestCaseError::fail("a gap without a transition"))
        }
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => {
            Ok(ambiguous.earlier()?)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

fn contains(range: &TimeRange, t: Time) -> bool {
    range.start <= t && t < range.end
}

/// Whether `t` is a whole number of steps after the period's start.
fn is_grid_time(period: &TimeRange, t: Time, step: SignedDuration) -> bool {
    t.duration_since(period.start).as_nanos() % step.as_nanos() == 0
}

/// The grid times of a period whose whole step fits before the period's end on the clock.
fn fitting_grid_times(period: &TimeRange, step: SignedDuration) -> Vec<Time> {
    let mut times = Vec::new();
    let mut t = period.start;
    while let Ok(next) = t.checked_add(step) {
        if next > period.end || next <= t {
            break;
        }
        times.push(t);
        t = next;
    }
    times
}

/// The wall-clock times at which the slots' claims (the slots with their buffers) start.
fn claim_walls(tz: &TimeZone, slots: &[Slot], rules: &BookingRules) -> Vec<DateTime> {
    slots
        .iter()
        .map(|slot| tz.to_datetime(slot.claim(rules).0))
        .collect()
}

/// The wall-clock times at which the slots start.
fn wall_times(tz: &TimeZone, slots: &[Slot]) -> Vec<Time> {
    slots
        .iter()
        .map(|slot| tz.to_datetime(slot.start).time())
        .collect()
}

fn assert_no_overlaps(slots: &[Slot]) {
    for pair in slots.windows(2) {
        assert!(
            pair[0].end <= pair[1].start,
            "{:?} overlaps {:?}",
            pair[0],
            pair[1]
        );
    }
}

/// A schedule with hours on one weekday only, no breaks and no buffers.
fn one_day(day: Weekday, hours: &[(Time, Time)], slot_minutes: u16) -> WeeklySchedule {
    let rules = BookingRules {
        slot_minutes,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        min_notice_minutes: 0,
        horizon_days: 60,
        max_per_day: None,
    };
    one_day_with_rules(day, hours, rules)
}

fn one_day_with_rules(day: Weekday, hours: &[(Time, Time)], rules: BookingRules) -> WeeklySchedule {
    let mut weekly = WeeklyHours::default();
    weekly
        .on_mut(day)
        .extend(hours.iter().map(|&(start, end)| TimeRange { start, end }));
    WeeklySchedule {
        hours: weekly,
        breaks: WeeklyHours::default(),
        rules,
    }
}
