//! The clinic's catalogue: specialties and doctors.

use std::fmt;

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use crate::error::BookingError;
use crate::ids::{DoctorId, SpecialtyId};
use crate::schedule::WeeklySchedule;

/// What patients need to know about the clinic itself: where it is, when it opens, what to
/// bring. Empty fields are simply not shown.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClinicInfo {
    /// The clinic's name.
    pub name: String,
    /// Its postal address, one line ("Lindenstraße 12, 10969 Berlin").
    pub address: Option<String>,
    /// Its phone number, as written for people.
    pub phone: Option<String>,
    /// When it is open, as written for people ("Mon–Fri 08:00–18:00").
    pub opening_hours: Option<String>,
    /// A map showing it (an `https://` link).
    pub map_url: Option<String>,
    /// What a patient brings to a visit.
    pub what_to_bring: Option<String>,
}

/// A medical specialty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Specialty {
    /// Identity.
    pub id: SpecialtyId,
    /// Display name, e.g. "Cardiology".
    pub name: String,
    /// Words patients use for it ("heart", "chest pain"), lower-case, which the doctor search
    /// matches like the name.
    pub keywords: Vec<String>,
}

/// Most keywords one specialty has.
pub const MAX_KEYWORDS: usize = 40;
/// Longest keyword, in characters.
pub const MAX_KEYWORD_CHARS: usize = 40;

impl Specialty {
    /// Keywords from their written form: comma-separated, trimmed, lower-cased, duplicates and
    /// empty ones dropped; `Validation` for too many, too long, or control characters.
    pub fn parse_keywords(raw: &str) -> Result<Vec<String>, BookingError> {
        let mut keywords: Vec<String> = Vec::new();
        for word in raw.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word.chars().count() > MAX_KEYWORD_CHARS || word.chars().any(char::is_control) {
                return Err(BookingError::validation(format!(
                    "each keyword must be at most {MAX_KEYWORD_CHARS} characters of text"
                )));
            }
            let word = word.to_lowercase();
            if !keywords.contains(&word) {
                keywords.push(word);
            }
        }
        if keywords.len() > MAX_KEYWORDS {
            return Err(BookingError::validation(format!(
                "a specialty has at most {MAX_KEYWORDS} keywords"
            )));
        }
        Ok(keywords)
    }

    /// The stored form of keywords: comma-separated.
    pub fn keywords_text(keywords: &[String]) -> String {
        keywords.join(", ")
    }
}

/// A specialty with the number of doctors practising it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SpecialtySummary {
    /// The specialty.
    pub specialty: Specialty,
    /// How many doctors practise it.
    pub doctor_count: i64,
}

/// An IANA time zone, kept with its name so it can be stored and shown.
#[derive(Clone, Debug)]
pub struct Zone {
    name: String,
    tz: TimeZone,
}

impl Zone {
    /// Looks up an IANA zone name such as `Europe/Berlin`.
    pub fn parse(name: &str) -> Result<Self, BookingError> {
        let tz = TimeZone::get(name).map_err(|_| {
            BookingError::validation(format!(
                "unknown time zone {name:?}; use an IANA name like Europe/Berlin"
            ))
        })?;
        Ok(Self {
            name: name.to_owned(),
            tz,
        })
    }

    /// The IANA name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The zone's rules.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Zone {}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Serialize for Zone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name).map_err(serde::de::Error::custom)
    }
}

/// A consultation fee in minor units (cents) of a currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fee {
    /// Amount in minor units, e.g. 6500 for 65.00.
    pub amount_minor: i64,
    /// ISO 4217 code, e.g. "EUR".
    pub currency: String,
}

impl Fee {
    /// Validates amount and currency code.
    pub fn new(amount_minor: i64, currency: &str) -> Result<Self, BookingError> {
        if amount_minor < 0 {
            return Err(BookingError::validation("fee must not be negative"));
        }
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_uppercase()) {
            return Err(BookingError::validation(
                "currency must be an ISO 4217 code like EUR",
            ));
        }
        Ok(Self {
            amount_minor,
            currency: currency.to_owned(),
        })
    }
}

/// A doctor's public profile and booking setup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Doctor {
    /// Identity.
    pub id: DoctorId,
    /// Full display name, e.g. "Dr. Anna Schmidt".
    pub name: String,
    /// Main specialty.
    pub specialty_id: SpecialtyId,
    /// Degrees and titles, e.g. "MD, FESC".
    pub qualification: String,
    /// Years in practice.
    pub years_experience: u16,
    /// A few sentences for patients.
    pub bio: String,
    /// Price of one consultation.
    pub fee: Fee,
    /// Picture URL, if any.
    pub photo_url: Option<String>,
    /// The zone the weekly hours are written in.
    pub time_zone: Zone,
    /// Working hours and booking rules.
    pub schedule: WeeklySchedule,
}
