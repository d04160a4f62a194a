//! Property tests for the parsers that turn raw input into domain values: email addresses,
//! phone numbers, free-text fields (reasons, names, messages), fees, time zones, entity ids,
//! calendar-feed tokens, search queries, and weekly schedules as JSON.
//!
//! Each parser gets two kinds of generated input. Arbitrary strings (any Unicode, control
//! characters, huge lengths) check that it never panics and that whatever it accepts has the
//! shape its type promises. Structured near-valid input (a valid value with one thing changed:
//! case, surrounding blanks, separators, one character too many) checks the boundary: valid
//! input is accepted and round-trips (parse → text → parse gives the same value), and invalid
//! input gets the typed error, `BookingError::Validation`, never something else.

#![allow(clippy::expect_used)]

use jiff::civil::Time;
use medibook_core::BookingError;
use medibook_core::booking::Reason;
use medibook_core::calendar_feeds::FeedToken;
use medibook_core::clinic::{Fee, Zone};
use medibook_core::contact::text_field;
use medibook_core::identity::{Email, Identifier, PhoneNumber};
use medibook_core::ids::{AppointmentId, DoctorId, HoldId};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklySchedule};
use medibook_core::search;
use proptest::prelude::*;
use proptest::sample::select;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2_000,
        // Integration tests have no lib.rs for proptest to file regressions next to.
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any string: arbitrary Unicode (control characters, combining marks, astral planes) and
/// lengths up to a few hundred characters, mixed with the ASCII punctuation parsers split on.
fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "\\PC{0,300}",
        "[ @.+0-9a-zA-Z()\\-\t\n\r\u{0}\u{85}\u{a0}\u{200b}İẞ]{0,80}",
    ]
}

fn is_validation(error: &BookingError) -> bool {
    matches!(error, BookingError::Validation(message) if !message.is_empty())
}

/// Blanks a careless client puts around a value, which parsers trim.
fn padding() -> impl Strategy<Value = String> {
    "[ \t\n]{0,3}"
}

/// Changes the case of some ASCII letters.
fn mixed_case(text: &str, flips: &[bool]) -> String {
    text.chars()
        .zip(flips.iter().cycle())
        .map(|(c, flip)| if *flip { c.to_ascii_uppercase() } else { c })
        .collect()
}

// --- Email ---------------------------------------------------------------------------------

/// Addresses of the shape `local@label(.label)+`, ASCII and not, within the length limits.
fn valid_email() -> impl Strategy<Value = String> {
    (
        "[a-z0-9][a-z0-9._%+\\-]{0,40}",
        prop::collection::vec("[a-z0-9ü]([a-z0-9\\-]{0,10}[a-z0-9])?", 1..4),
        "[a-z]{2,6}",
    )
        .prop_map(|(local, labels, tld)| format!("{local}@{}.{tld}", labels.join(".")))
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn email_parsing_never_panics_and_accepts_only_normalised_addresses(raw in any_text()) {
        match Email::parse(&raw) {
            Ok(email) => {
                let text = email.as_str();
                prop_assert_eq!(text.matches('@').count(), 1);
                prop_assert!(text.len() <= 254);
                prop_assert!(!text.chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert_eq!(text.to_lowercase(), text);
                prop_assert_eq!(Email::parse(text), Ok(email.clone()));
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn valid_emails_are_accepted_trimmed_lowercased_and_round_trip(
        address in valid_email(),
        before in padding(),
        after in padding(),
        flips in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let typed = format!("{before}{}{after}", mixed_case(&address, &flips));
        let email = Email::parse(&typed).expect("a valid address is accepted");
        prop_assert_eq!(email.as_str(), address.as_str());
        prop_assert_eq!(email.to_string(), address.clone());
        prop_assert_eq!(Email::parse(&email.to_string()), Ok(email.clone()));
        let masked = Identifier::Email(email).masked();
        prop_assert!(masked.ends_with(address.split_once('@').map_or("", |(_, d)| d)));
    }

    #[test]
    fn near_valid_emails_get_a_validation_error(
        address in valid_email(),
        breakage in 0..6_usize,
        spot in any::<prop::sample::Index>(),
    ) {
        let (local, domain) = address.split_once('@').expect("generated with one @");
        let broken = match breakage {
            0 => address.replace('@', ""),                           // no @
            1 => format!("{local}@@{domain}"),                       // two @
            2 => format!("{local}@{}", domain.replace('.', "")),     // no dot in the domain
            3 => format!("{local}@{domain}."),                       // trailing dot
            4 => {                                                   // a blank inside
                let chars: Vec<char> = address.chars().collect();
                let at = spot.index(chars.len() - 1) + 1;
                let (head, tail) = chars.split_at(at);
                format!("{} {}", head.iter().collect::<String>(), tail.iter().collect::<String>())
            }
            _ => format!("{}@{domain}", "a".repeat(65)),             // local part too long
        };
        let error = Email::parse(&broken).expect_err("a broken address is refused");
        prop_assert!(is_validation(&error), "{broken:?}: {error:?}");
    }
}

// --- Phone numbers -------------------------------------------------------------------------

/// E.164 digits: 8 to 15, the first not zero.
fn e164_digits() -> impl Strategy<Value = String> {
    "[1-9][0-9]{7,14}"
}

/// Writes `digits` the way people type them: `+` or `00`, with spaces, dashes, dots and
/// parentheses between some digits.
fn typed_phone(digits: &str, international: bool, separators: &[usize]) -> String {
    let mut typed = String::from(if international { "+" } else { "00" });
    for (i, digit) in digits.chars().enumerate() {
        typed.push(digit);
        match separators.get(i).copied().unwrap_or(0) {
            1 => typed.push(' '),
            2 => typed.push('-'),
            3 => typed.push('.'),
            4 => typed.push_str(") "),
            5 => typed.push_str(" ("),
            _ => {}
        }
    }
    typed
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn phone_parsing_never_panics_and_accepts_only_e164(raw in any_text()) {
        match PhoneNumber::parse(&raw) {
            Ok(phone) => {
                let text = phone.as_str();
                let digits = text.strip_prefix('+').expect("E.164 starts with +");
                prop_assert!((8..=15).contains(&digits.len()), "{text}");
                prop_assert!(digits.bytes().all(|b| b.is_ascii_digit()));
                prop_assert!(!digits.starts_with('0'));
                prop_assert_eq!(PhoneNumber::parse(text), Ok(phone.clone()));
                // Masking must not panic whatever the length, and keeps only two digits.
                prop_assert!(phone.masked().ends_with(&digits[digits.len() - 2..]));
                let masked = Identifier::Phone(phone).masked();
                prop_assert_eq!(masked.chars().filter(char::is_ascii_digit).count(), 4);
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn typed_phone_numbers_normalise_to_e164_and_round_trip(
        digits in e164_digits(),
        international in any::<bool>(),
        separators in prop::collection::vec(0..8_usize, 15),
        before in padding(),
        after in padding(),
    ) {
        let typed = format!("{before}{}{after}", typed_phone(&digits, international, &separators));
        let phone = PhoneNumber::parse(&typed).expect("a typed number is accepted");
        prop_assert_eq!(phone.as_str(), format!("+{digits}"));
        prop_assert_eq!(PhoneNumber::parse(&phone.to_string()), Ok(phone.clone()));
    }

    #[test]
    fn near_valid_phone_numbers_get_a_validation_error(
        digits in e164_digits(),
        breakage in 0..5_usize,
        letter in "[a-zA-Z#*/,;]",
    ) {
        let broken = match breakage {
            0 => digits.clone(),                               // no + or 00
            1 => format!("+0{}", &digits[1..]),                // leading zero
            2 => format!("+{}", &digits[..7]),                 // 7 digits
            3 => format!("+{digits}{}", "1".repeat(16 - digits.len())), // 16 digits
            _ => format!("+{}{letter}{}", &digits[..3], &digits[3..]),  // a letter inside
        };
        let error = PhoneNumber::parse(&broken).expect_err("a broken number is refused");
        prop_assert!(is_validation(&error), "{broken:?}: {error:?}");
    }
}

// --- Free text: reasons, names, messages ---------------------------------------------------

/// Text without control characters that does not start or end with white space.
fn clean_text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[\\PC&&\\S]{{1,{max}}}")).expect("a valid pattern")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn reasons_are_trimmed_bounded_and_round_trip(raw in any_text()) {
        match Reason::parse(&raw) {
            Ok(reason) => {
                let text = reason.as_str();
                prop_assert_eq!(text, raw.trim());
                prop_assert!(!text.is_empty() && text.chars().count() <= Reason::MAX_CHARS);
                prop_assert!(!text.chars().any(|c| c.is_control() && c != '\n' && c != '\t'));
                prop_assert_eq!(Reason::parse(text), Ok(reason.clone()));
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn reasons_of_1_to_1000_characters_are_accepted_and_1001_refused(
        text in clean_text(Reason::MAX_CHARS),
        extra in clean_text(1),
    ) {
        prop_assert_eq!(Reason::parse(&format!(" {text}\n")).map(|r| r.as_str().to_owned()), Ok(text.clone()));
        let too_long: String = text
            .chars()
            .chain(std::iter::repeat_n(extra.chars().next().expect("one char"), Reason::MAX_CHARS + 1))
            .take(Reason::MAX_CHARS + 1)
            .collect();
        let error = Reason::parse(&too_long).expect_err("1,001 characters are refused");
        prop_assert!(is_validation(&error));
    }

    #[test]
    fn text_fields_accept_what_they_promise(
        raw in any_text(),
        max in 1..200_usize,
        multiline in any::<bool>(),
    ) {
        match text_field("name", &raw, max, multiline) {
            Ok(text) => {
                prop_assert_eq!(text.as_str(), raw.trim());
                prop_assert!(!text.is_empty() && text.chars().count() <= max);
                let line_break = |c: char| c == '\n' || c == '\t' || c == '\r';
                prop_assert!(text.chars().all(|c| !c.is_control() || (multiline && line_break(c))));
                prop_assert_eq!(text_field("name", &text, max, multiline), Ok(text.clone()));
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }
}

// --- Fees, zones, ids, feed tokens, search ------------------------------------------------

/// Zone names: real ones, near misses, and paths that must not reach the file system.
fn zone_name() -> impl Strategy<Value = String> {
    prop_oneof![
        select(vec![
            "Europe/Berlin",
            "America/New_York",
            "Asia/Kolkata",
            "UTC",
            "Etc/GMT+5",
            "Pacific/Chatham",
            "Australia/Lord_Howe",
            "America/Argentina/Buenos_Aires",
        ])
        .prop_map(str::to_owned),
        select(vec![
            "",
            "/",
            "..",
            "../../etc/passwd",
            "/etc/localtime",
            "Europe/",
            "/Europe/Berlin",
            "Europe//Berlin",
            "Europe/Berlin\0",
            "europe/berlin",
            "Europe/Berlin ",
            "posixrules",
            "Factory",
            "EST5EDT",
            "<+03>-3",
        ])
        .prop_map(str::to_owned),
        any_text(),
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fees_are_accepted_exactly_when_non_negative_with_an_iso_code(
        amount in prop_oneof![any::<i64>(), -10..100_000_i64],
        currency in prop_oneof!["[A-Z]{3}", "[A-Za-z€]{0,5}", any_text()],
    ) {
        let expected = amount >= 0
            && currency.len() == 3
            && currency.bytes().all(|b| b.is_ascii_uppercase());
        match Fee::new(amount, &currency) {
            Ok(fee) => {
                prop_assert!(expected);
                prop_assert_eq!(fee.amount_minor, amount);
                prop_assert_eq!(fee.currency, currency);
            }
            Err(error) => prop_assert!(!expected && is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn zones_never_panic_and_round_trip_by_name(name in zone_name()) {
        match Zone::parse(&name) {
            Ok(zone) => {
                prop_assert_eq!(zone.name(), name.as_str());
                prop_assert_eq!(Zone::parse(zone.name()).expect("the name parses again"), zone);
            }
            Err(error) => prop_assert!(is_validation(&error), "{error:?}"),
        }
    }

    #[test]
    fn ids_parse_only_uuids_and_round_trip(raw in any_text(), bits in any::<u128>(), upper in any::<bool>()) {
        if let Ok(id) = raw.parse::<HoldId>() {
            prop_assert_eq!(id.to_string().parse::<HoldId>().expect("canonical text parses"), id);
        }
        let id = DoctorId::from_uuid(uuid::Uuid::from_u128(bits));
        let text = if upper { id.to_string().to_uppercase() } else { id.to_string() };
        prop_assert_eq!(text.parse::<DoctorId>().expect("a UUID parses"), id);
        let canonical = id.to_string();
        prop_assert_eq!(canonical.len(), 36);
        prop_assert!(canonical.parse::<AppointmentId>().is_ok());
        let truncated = &canonical[..35];
        prop_assert!(truncated.parse::<AppointmentId>().is_err());
    }

    #[test]
    fn feed_tokens_are_64_lowercase_hex_digits(
        raw in prop_oneof!["[0-9a-f]{64}", "[0-9a-fA-G]{63,65}", any_text()],
    ) {
        let shaped = raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        match FeedToken::parse(&raw) {
            Some(token) => {
                prop_assert!(shaped);
                prop_assert_eq!(token.as_str(), raw.as_str());
                prop_assert_eq!(token.lookup_hash().len(), 64);
            }
            None => prop_assert!(!shaped),
        }
    }

    #[test]
    fn search_words_are_folded_once_and_a_text_finds_itself(raw in any_text()) {
        let words = search::words(&raw);
        prop_assert!(words.iter().all(|w| !w.is_empty() && !w.contains(char::is_whitespace)));
        prop_assert_eq!(search::words(&words.join(" ")), words.clone());
        if !words.is_empty() {
            prop_assert!(search::score(&words, &words).is_some());
        }
    }
}

// --- Weekly schedules as JSON --------------------------------------------------------------

fn time_of_day() -> impl Strategy<Value = Time> {
    (0..24_i8, select(vec![0_i8, 15, 30, 45, 59]))
        .prop_map(|(hour, minute)| jiff::civil::time(hour, minute, 0, 0))
}

/// Ranges as a client may send them: mostly forwards, sometimes empty or backwards.
fn raw_ranges() -> impl Strategy<Value = Vec<(Time, Time)>> {
    prop::collection::vec((time_of_day(), time_of_day()), 0..4)
}

fn range_json((start, end): &(Time, Time)) -> serde_json::Value {
    serde_json::json!({ "start": start.to_string(), "end": end.to_string() })
}

/// Whether a day's ranges are what `validate` must accept: each ends after it starts and none
/// overlap (a model written independently of the implementation).
fn day_is_valid(ranges: &[(Time, Time)]) -> bool {
    ranges.iter().all(|(s, e)| e > s)
        && ranges
            .iter()
            .enumerate()
            .all(|(i, a)| ranges[i + 1..].iter().all(|b| a.1 <= b.0 || b.1 <= a.0))
}

/// Booking rules as JSON, inside and just outside their bounds.
fn rules_json() -> impl Strategy<Value = (serde_json::Value, bool)> {
    (
        prop_oneof![Just(4_u32), Just(5), 5..=480_u32, Just(480), Just(481)],
        prop_oneof![0..=240_u32, Just(241)],
        prop_oneof![Just(0_u32), Just(43_200), Just(43_201)],
        prop_oneof![Just(0_u32), 1..=730_u32, Just(731)],
        prop_oneof![
            Just(None),
            Just(Some(0_u32)),
            (1..=500_u32).prop_map(Some),
            Just(Some(501))
        ],
    )
        .prop_map(|(slot, buffer, notice, horizon, max)| {
            let valid = (5..=480).contains(&slot)
                && buffer <= 240
                && notice <= 43_200
                && (1..=730).contains(&horizon)
                && max.is_none_or(|m| (1..=500).contains(&m));
            let json = serde_json::json!({
                "slot_minutes": slot,
                "buffer_before_minutes": buffer,
                "buffer_after_minutes": 0,
                "min_notice_minutes": notice,
                "horizon_days": horizon,
                "max_per_day": max,
            });
            (json, valid)
        })
}

/// Arbitrary JSON, nested a few levels.
fn any_json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        any_text().prop_map(serde_json::Value::from),
        select(vec![
            "09:00",
            "17:00",
            "24:00",
            "9:00",
            "monday",
            "slot_minutes"
        ])
        .prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(
                select(vec![
                    "hours",
                    "breaks",
                    "rules",
                    "monday",
                    "sunday",
                    "start",
                    "end",
                    "slot_minutes",
                    "horizon_days",
                    "x"
                ])
                .prop_map(str::to_owned),
                inner,
                0..6,
            )
            .prop_map(|map| serde_json::Value::Object(map.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_json_never_panics_as_a_schedule(value in any_json()) {
        if let Ok(schedule) = serde_json::from_value::<WeeklySchedule>(value) {
            let _ = schedule.validate();
        }
    }

    #[test]
    fn schedules_validate_exactly_when_the_model_says_and_round_trip(
        monday in raw_ranges(),
        friday in raw_ranges(),
        breaks in raw_ranges(),
        (rules, rules_valid) in rules_json(),
    ) {
        let days = |ranges: &[(Time, Time)]| ranges.iter().map(range_json).collect::<Vec<_>>();
        let json = serde_json::json!({
            "hours": { "monday": days(&monday), "friday": days(&friday) },
            "breaks": { "monday": days(&breaks) },
            "rules": rules,
        });
        let schedule: WeeklySchedule =
            serde_json::from_value(json.clone()).expect("well-typed JSON deserialises");
        let expected = day_is_valid(&monday) && day_is_valid(&friday) && day_is_valid(&breaks)
            && rules_valid;
        match schedule.validate() {
            Ok(valid) => {
                prop_assert!(expected, "accepted {json}");
                let text = serde_json::to_string(&valid).expect("serialises");
                let again: WeeklySchedule = serde_json::from_str(&text).expect("reads back");
                prop_assert_eq!(&again, &valid);
                prop_assert_eq!(again.validate(), Ok(valid.clone()));
                // Working periods are sorted, disjoint, and inside the working hours.
                let periods = valid.periods_on(jiff::civil::Weekday::Monday);
                prop_assert!(periods.windows(2).all(|p| p[0].end <= p[1].start));
                for period in &periods {
                    prop_assert!(period.start < period.end);
                    prop_assert!(monday.iter().any(|(s, e)| *s <= period.start && period.end <= *e));
                }
            }
            Err(error) => prop_assert!(!expected && is_validation(&error), "{json}: {error:?}"),
        }
    }

    #[test]
    fn time_ranges_need_an_end_after_the_start(start in time_of_day(), end in time_of_day()) {
        match TimeRange::new(start, end) {
            Ok(range) => prop_assert!(end > start && range.start == start && range.end == end),
            Err(error) => prop_assert!(end <= start && is_validation(&error)),
        }
    }

    #[test]
    fn unknown_fields_in_a_schedule_are_refused(key in "[a-z_]{1,12}") {
        const DAYS: [&str; 7] =
            ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"];
        const RULES: [&str; 6] = ["slot_minutes", "buffer_before_minutes",
            "buffer_after_minutes", "min_notice_minutes", "horizon_days", "max_per_day"];
        let rules = serde_json::json!({ "slot_minutes": 30, "horizon_days": 30 });
        let mut hours = serde_json::Map::new();
        hours.insert(key.clone(), serde_json::json!([]));
        let json = serde_json::json!({ "hours": hours, "rules": rules.clone() });
        let parsed = serde_json::from_value::<WeeklySchedule>(json);
        prop_assert_eq!(parsed.is_ok(), DAYS.contains(&key.as_str()));
        let mut rules = rules.as_object().cloned().expect("an object");
        rules.insert(key.clone(), serde_json::json!(1));
        let parsed = serde_json::from_value::<BookingRules>(serde_json::Value::Object(rules));
        prop_assert_eq!(parsed.is_ok(), RULES.contains(&key.as_str()));
    }
}
