//! What a patient's record holds besides the account: date of birth, sex, address, and the
//! medical history (clinical text, kept sealed), and how changes to it are checked.

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use crate::contact::text_field;
use crate::error::{BookingError, BookingResult};
use crate::identity::User;

/// Longest address, in characters.
pub const MAX_ADDRESS_CHARS: usize = 300;
/// Longest medical history, in characters.
pub const MAX_HISTORY_CHARS: usize = 10_000;
/// Longest display name, in characters.
pub const MAX_PATIENT_NAME_CHARS: usize = 100;

/// Administrative sex, as FHIR's `AdministrativeGender` has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Other.
    Other,
    /// Not known or not said.
    Unknown,
}

impl Sex {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Female => "female",
            Self::Male => "male",
            Self::Other => "other",
            Self::Unknown => "unknown",
        }
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "female" => Some(Self::Female),
            "male" => Some(Self::Male),
            "other" => Some(Self::Other),
            "unknown" => Some(Self::Unknown),
            _ => None,
        }
    }
}

/// The record's plain fields (none of them clinical).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PatientDetails {
    /// Date of birth.
    pub date_of_birth: Option<Date>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Postal address, free text.
    pub address: Option<String>,
}

/// A patient as storage holds them: the account, the details, and the medical history still
/// sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredPatient {
    /// The account (name and contacts).
    pub user: User,
    /// Date of birth, sex, address.
    pub details: PatientDetails,
    /// The sealed medical history, if any was written.
    pub sealed_history: Option<Vec<u8>>,
}

/// A patient's record, opened for someone allowed to read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatientRecord {
    /// The account (name and contacts).
    pub user: User,
    /// Date of birth, sex, address.
    pub details: PatientDetails,
    /// Allergies, conditions, medication: free text.
    pub medical_history: Option<String>,
}

/// Changes to a record, as asked for (fields left `None` stay as they are).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// Display name, 1 to 100 characters.
    pub name: Option<String>,
    /// `YYYY-MM-DD`, not in the future.
    pub date_of_birth: Option<String>,
    /// Administrative sex.
    pub sex: Option<Sex>,
    /// Postal address; empty removes it.
    pub address: Option<String>,
    /// Medical history; empty removes it.
    pub medical_history: Option<String>,
}

/// A checked change, with the history already sealed, for storage.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New date of birth.
    pub date_of_birth: Option<Date>,
    /// New sex.
    pub sex: Option<Sex>,
    /// New address (`Some(None)` removes it).
    pub address: Option<Option<String>>,
    /// New sealed history (`Some(None)` removes it).
    pub sealed_history: Option<Option<Vec<u8>>>,
}

impl RecordUpdate {
    /// The names of the fields it changes, for the audit trail (never their values).
    pub fn fields(&self) -> Vec<&'static str> {
        let mut fields = Vec::new();
        let mut note = |changed: bool, name| {
            if changed {
                fields.push(name);
            }
        };
        note(self.name.is_some(), "name");
        note(self.date_of_birth.is_some(), "date_of_birth");
        note(self.sex.is_some(), "sex");
        note(self.address.is_some(), "address");
        note(self.sealed_history.is_some(), "medical_history");
        fields
    }
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
pub fn patient_name(raw: &str) -> BookingResult<String> {
    text_field("name", raw, MAX_PATIENT_NAME_CHARS, false)
        .map_err(|_| BookingError::validation("name must be 1 to 100 characters"))
}

/// A date of birth written `YYYY-MM-DD`: a real date, not after today anywhere on Earth, and
/// not before 1900.
pub fn date_of_birth(raw: &str, now: Timestamp) -> BookingResult<Date> {
    let invalid = || BookingError::validation("date_of_birth must be a date written YYYY-MM-DD");
    let raw = raw.trim();
    if raw.len() != 10 {
        return Err(invalid());
    }
    let date: Date = raw.parse().map_err(|_| invalid())?;
    // The latest calendar date anywhere is UTC+14's.
    let latest_today = now
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(14)))
        .date();
    if date > latest_today {
        return Err(BookingError::validation(
            "date_of_birth must not be in the future",
        ));
    }
    if date.year() < 1900 {
        return Err(BookingError::validation(
            "date_of_birth must not be before 1900",
        ));
    }
    Ok(date)
}

/// Free text of at most `max` characters (lines allowed); empty means "remove".
pub fn optional_text(field: &str, raw: &str, max: usize) -> BookingResult<Option<String>> {
    if raw.trim().is_empty() {
        return Ok(None);
    }
    text_field(field, raw, max, true).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        "2026-12-07T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn dates_of_birth_must_be_real_past_dates() {
        assert_eq!(
            date_of_birth("1984-02-29", now()).unwrap(),
            jiff::civil::date(1984, 2, 29)
        );
        assert!(date_of_birth("2026-12-07", now()).is_ok());
        for bad in [
            "",
            "1985-02-29",
            "07.12.1980",
            "1980-1-1",
            "2026-12-09",
            "1899-12-31",
        ] {
            let error = date_of_birth(bad, now()).unwrap_err();
            assert_eq!(error.code(), "validation", "{bad:?}");
        }
    }

    #[test]
    fn empty_text_removes_and_long_text_is_refused() {
        assert_eq!(optional_text("address", "  ", 10).unwrap(), None);
        assert_eq!(
            optional_text("address", " Main St 1\n10115 Berlin ", 100).unwrap(),
            Some("Main St 1\n10115 Berlin".into())
        );
        assert!(optional_text("address", "x".repeat(11).as_str(), 10).is_err());
    }

    #[test]
    fn audit_names_changed_fields_only() {
        let update = RecordUpdate {
            sealed_history: Some(None),
            sex: Some(Sex::Female),
            ..RecordUpdate::default()
        };
        assert_eq!(update.fields(), vec!["sex", "medical_history"]);
    }
}
