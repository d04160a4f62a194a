//! How pages write times, dates and money for people. Every time is written in the doctor's
//! (clinic's) time zone, which the page names; the slot picker's scripts write the same labels
//! (`assets/slots.js`), so a slot added live reads like one rendered here.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use medibook_core::clinic::Fee;

/// A slot's full accessible name: "Tuesday 3 March 2027, 09:30 to 09:50".
pub fn slot_label(start: Timestamp, end: Timestamp, tz: &TimeZone) -> String {
    let start = start.to_zoned(tz.clone());
    let end = end.to_zoned(tz.clone());
    format!(
        "{}, {} to {}",
        start.strftime("%A %-d %B %Y"),
        start.strftime("%H:%M"),
        end.strftime("%H:%M")
    )
}

/// A wall-clock time in `tz`: "09:30".
pub fn clock_time(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// A day and time in full in `tz`: "Monday 1 March 2027, 09:30".
pub fn long_moment(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%A %-d %B %Y, %H:%M")
        .to_string()
}

/// A whole number of hours in words: "1 hour", "24 hours"; minutes when it is not whole.
pub fn hours(span: jiff::SignedDuration) -> String {
    let minutes = span.as_mins();
    if minutes % 60 == 0 {
        count_of(minutes / 60, "hour")
    } else {
        count_of(minutes, "minute")
    }
}

/// A short day and time in `tz`, for "next free" lines: "Tue 3 Mar, 09:30".
pub fn short_moment(at: Timestamp, tz: &TimeZone) -> String {
    at.to_zoned(tz.clone())
        .strftime("%a %-d %b, %H:%M")
        .to_string()
}

/// A day's short name for a column heading: "Tue".
pub fn weekday_short(date: Date) -> String {
    date.strftime("%a").to_string()
}

/// A day's date for a column heading: "3 Mar".
pub fn day_month(date: Date) -> String {
    date.strftime("%-d %b").to_string()
}

/// A day in full: "Tuesday 3 March 2027".
pub fn long_date(date: Date) -> String {
    date.strftime("%A %-d %B %Y").to_string()
}

/// A span of dates: "2 – 8 March 2027", "29 March – 4 April 2027", "28 Dec 2026 – 3 Jan 2027".
pub fn date_range(first: Date, last: Date) -> String {
    if first.year() != last.year() {
        format!(
            "{} – {}",
            first.strftime("%-d %b %Y"),
            last.strftime("%-d %b %Y")
        )
    } else if first.month() != last.month() {
        format!(
            "{} – {}",
            first.strftime("%-d %B"),
            last.strftime("%-d %B %Y")
        )
    } else {
        format!("{} – {}", first.strftime("%-d"), last.strftime("%-d %B %Y"))
    }
}

/// A consultation fee: "€65.00", "£55.00", "$80.00", or "65.00 CHF" for other currencies.
pub fn fee(fee: &Fee) -> String {
    let amount = format!(
        "{}.{:02}",
        fee.amount_minor / 100,
        (fee.amount_minor % 100).abs()
    );
    match fee.currency.as_str() {
        "EUR" => format!("€{amount}"),
        "GBP" => format!("£{amount}"),
        "USD" => format!("${amount}"),
        other => format!("{amount} {other}"),
    }
}

/// A wait in words: "30 seconds", "1 minute", "12 minutes", "2 hours".
pub fn wait_time(seconds: u64) -> String {
    let (count, unit) = if seconds < 60 {
        (seconds.max(1), "second")
    } else if seconds < 3600 {
        (seconds.div_ceil(60), "minute")
    } else {
        (seconds.div_ceil(3600), "hour")
    };
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// "1 doctor", "3 doctors".
pub fn count_of(count: i64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// A person's initials for a picture placeholder: "Dr. Anna Schmidt" → "AS".
pub fn initials(name: &str) -> String {
    name.split_whitespace()
        .filter(|word| !word.ends_with('.'))
        .filter_map(|word| word.chars().next())
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .take(2)
        .collect()
}

/// "a", "a and b", "a, b and c".
pub fn join_words(words: &[String]) -> String {
    match words {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin").unwrap()
    }

    #[test]
    fn slot_labels_name_the_full_date_and_both_times() {
        let start: Timestamp = "2027-03-02T08:30:00Z".parse().unwrap();
        let end: Timestamp = "2027-03-02T08:50:00Z".parse().unwrap();
        assert_eq!(
            slot_label(start, end, &berlin()),
            "Tuesday 2 March 2027, 09:30 to 09:50"
        );
        assert_eq!(clock_time(start, &berlin()), "09:30");
        assert_eq!(short_moment(start, &berlin()), "Tue 2 Mar, 09:30");
    }

    #[test]
    fn summer_time_is_the_doctors_wall_clock() {
        let start: Timestamp = "2027-07-06T07:00:00Z".parse().unwrap();
        let end: Timestamp = "2027-07-06T07:20:00Z".parse().unwrap();
        assert_eq!(
            slot_label(start, end, &berlin()),
            "Tuesday 6 July 2027, 09:00 to 09:20"
        );
    }

    #[test]
    fn ranges_drop_what_both_ends_share() {
        assert_eq!(
            date_range(date(2027, 3, 2), date(2027, 3, 8)),
            "2 – 8 March 2027"
        );
        assert_eq!(
            date_range(date(2027, 3, 29), date(2027, 4, 4)),
            "29 March – 4 April 2027"
        );
        assert_eq!(
            date_range(date(2026, 12, 28), date(2027, 1, 3)),
            "28 Dec 2026 – 3 Jan 2027"
        );
        assert_eq!(long_date(date(2027, 3, 2)), "Tuesday 2 March 2027");
    }

    #[test]
    fn money_waits_and_names_read_naturally() {
        assert_eq!(fee(&Fee::new(6500, "EUR").unwrap()), "€65.00");
        assert_eq!(fee(&Fee::new(5505, "CHF").unwrap()), "55.05 CHF");
        assert_eq!(wait_time(30), "30 seconds");
        assert_eq!(wait_time(61), "2 minutes");
        assert_eq!(wait_time(3600), "1 hour");
        assert_eq!(count_of(1, "doctor"), "1 doctor");
        assert_eq!(count_of(3, "doctor"), "3 doctors");
        assert_eq!(initials("Dr. Anna Schmidt"), "AS");
        assert_eq!(initials("Dr. Élodie Fournier"), "ÉF");
    }
}

/// A fee's amount in the currency's major unit, as the admin's fee field takes it: "80.00".
pub fn fee_amount(amount_minor: i64) -> String {
    format!("{}.{:02}", amount_minor / 100, (amount_minor % 100).abs())
}

/// An instant in UTC, for the admin console's inbox and audit trail (they belong to no
/// doctor's zone): "Sat 21 Nov 2026, 20:43 UTC".
pub fn utc_moment(at: Timestamp) -> String {
    at.to_zoned(TimeZone::UTC)
        .strftime("%a %-d %b %Y, %H:%M UTC")
        .to_string()
}

/// A count with its noun's own plural: "1 specialty", "4 specialties".
pub fn count_with(count: i64, one: &str, many: &str) -> String {
    if count == 1 {
        format!("1 {one}")
    } else {
        format!("{count} {many}")
    }
}

#[cfg(test)]
mod admin_console_tests {
    use super::*;

    #[test]
    fn admin_console_amounts_instants_and_counts() {
        assert_eq!(fee_amount(8000), "80.00");
        assert_eq!(fee_amount(5505), "55.05");
        let at: Timestamp = "2026-11-21T20:43:10Z".parse().unwrap();
        assert_eq!(utc_moment(at), "Sat 21 Nov 2026, 20:43 UTC");
        assert_eq!(count_with(1, "specialty", "specialties"), "1 specialty");
        assert_eq!(count_with(4, "specialty", "specialties"), "4 specialties");
    }

    #[test]
    fn moments_in_full_and_windows_in_hours() {
        let at: Timestamp = "2027-03-01T08:30:00Z".parse().unwrap();
        let berlin = TimeZone::get("Europe/Berlin").unwrap();
        assert_eq!(long_moment(at, &berlin), "Monday 1 March 2027, 09:30");
        assert_eq!(hours(jiff::SignedDuration::from_hours(24)), "24 hours");
        assert_eq!(hours(jiff::SignedDuration::from_hours(1)), "1 hour");
        assert_eq!(hours(jiff::SignedDuration::from_mins(90)), "90 minutes");
    }
}
