//! Who a person is: contact identifiers (parsed once, at the edge) and roles.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::error::BookingError;
use crate::ids::{DoctorId, UserId};

/// A syntactically valid, lower-cased email address.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Parses and normalises (trims, lower-cases) an email address.
    pub fn parse(raw: &str) -> Result<Self, BookingError> {
        let email = raw.trim().to_lowercase();
        let invalid = || BookingError::validation("email must look like name@example.org");
        if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid());
        }
        let (local, domain) = email.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && domain
                .chars()
                .all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || local.len() > 64 || local.contains('@') || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(email))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164 form: `+` and 8 to 15 digits, the first not zero.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses a phone number written with a leading `+` (or `00`) and country code; spaces,
    /// dashes, dots and parentheses are ignored.
    pub fn parse(raw: &str) -> Result<Self, BookingError> {
        let invalid = || {
            BookingError::validation(
                "phone must be in international form with country code, like +49 30 1234567",
            )
        };
        let trimmed = raw.trim();
        let rest = if let Some(rest) = trimmed.strip_prefix('+') {
            rest
        } else if let Some(rest) = trimmed.strip_prefix("00") {
            rest
        } else {
            return Err(invalid());
        };
        let mut digits = String::with_capacity(16);
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(invalid()),
            }
        }
        if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(invalid());
        }
        Ok(Self(format!("+{digits}")))
    }

    /// The E.164 form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The number with all but the last two digits hidden, for logs.
    pub fn masked(&self) -> String {
        let keep = 2;
        let hidden = self.0.len().saturating_sub(keep + 1);
        format!("+{}{}", "•".repeat(hidden), &self.0[self.0.len() - keep..])
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a person signs in: an email address or a phone number.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identifier {
    /// Codes go by email.
    Email(Email),
    /// Codes go by SMS.
    Phone(PhoneNumber),
}

impl Identifier {
    /// A stable text form, used as the key of one-time codes.
    pub fn key(&self) -> String {
        match self {
            Self::Email(email) => format!("email:{email}"),
            Self::Phone(phone) => format!("phone:{phone}"),
        }
    }

    /// Enough of the address for staff to tell messages apart, not enough to contact anyone:
    /// `p•••@example.com` (the first character of the local part and the domain), or
    /// `+49•••78` (the first two and last two digits).
    pub fn masked(&self) -> String {
        match self {
            Self::Email(email) => {
                let (local, domain) = email.as_str().split_once('@').unwrap_or(("", ""));
                let first: String = local.chars().take(1).collect();
                format!("{first}•••@{domain}")
            }
            Self::Phone(phone) => {
                let digits = phone.as_str().trim_start_matches('+');
                let count = digits.chars().count();
                let head: String = digits.chars().take(2).collect();
                let tail: String = digits.chars().skip(count.saturating_sub(2)).collect();
                format!("+{head}•••{tail}")
            }
        }
    }

    /// `email` or `sms`: the channel a message to this address goes through.
    pub fn channel(&self) -> &'static str {
        match self {
            Self::Email(_) => "email",
            Self::Phone(_) => "sms",
        }
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Email(email) => email.fmt(f),
            Self::Phone(phone) => phone.fmt(f),
        }
    }
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Books for themselves.
    Patient,
    /// Sees their own agenda.
    Doctor,
    /// Manages the clinic.
    Admin,
    /// Works the front desk: books, moves and cancels for patients and runs the clinic's day;
    /// never sees clinical text.
    Receptionist,
}

impl Role {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Doctor => "doctor",
            Self::Admin => "admin",
            Self::Receptionist => "receptionist",
        }
    }

    /// Whether the role works at the front desk (books for patients, sees the clinic's day):
    /// receptionists and admins.
    pub fn works_the_desk(self) -> bool {
        matches!(self, Self::Receptionist | Self::Admin)
    }

    /// Parses the stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "patient" => Some(Self::Patient),
            "doctor" => Some(Self::Doctor),
            "admin" => Some(Self::Admin),
            "receptionist" => Some(Self::Receptionist),
            _ => None,
        }
    }
}

/// A person who can sign in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    /// Identity.
    pub id: UserId,
    /// Email, if known.
    pub email: Option<Email>,
    /// Phone, if known.
    pub phone: Option<PhoneNumber>,
    /// Display name, if given.
    pub name: Option<String>,
    /// What they may do.
    pub role: Role,
    /// The doctor profile of a user with the doctor role.
    pub doctor_id: Option<DoctorId>,
    /// When the account was created.
    pub created_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lowercased() {
        assert_eq!(
            Email::parse("  Ada@Example.ORG ").unwrap().as_str(),
            "ada@example.org"
        );
    }

    #[test]
    fn malformed_emails_are_refused() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@x.org",
            "a@b",
            "a b@x.org",
            "a@x..org",
            "a@@x.org",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn phone_numbers_normalise_to_e164() {
        assert_eq!(
            PhoneNumber::parse("+49 (30) 123-4567").unwrap().as_str(),
            "+49301234567"
        );
        assert_eq!(
            PhoneNumber::parse("0044 20 7946 0000").unwrap().as_str(),
            "+442079460000"
        );
    }

    #[test]
    fn malformed_phone_numbers_are_refused() {
        for bad in [
            "",
            "030 1234567",
            "+12",
            "+0123456789",
            "+49 30 abc",
            "+1234567890123456",
        ] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn masked_identifiers_keep_only_a_hint() {
        let email = Identifier::Email(Email::parse("patient@example.com").unwrap());
        assert_eq!(email.masked(), "p•••@example.com");
        assert_eq!(email.channel(), "email");
        let phone = Identifier::Phone(PhoneNumber::parse("+49 30 1234578").unwrap());
        assert_eq!(phone.masked(), "+49•••78");
        assert_eq!(phone.channel(), "sms");
    }

    #[test]
    fn masked_phone_shows_only_last_two_digits() {
        let phone = PhoneNumber::parse("+49301234567").unwrap();
        assert_eq!(phone.masked(), "+•••••••••67");
    }
}
