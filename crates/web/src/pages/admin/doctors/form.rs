//! The doctor form's values as typed and their checks: each mistake gets its own message by
//! its field before the core sees the profile, and the core's own refusals are placed by the
//! field they concern.

use medibook_core::BookingError;
use medibook_core::clinic::{Doctor, Fee, SpecialtySummary, Zone};
use medibook_core::contact::text_field;
use medibook_core::ids::SpecialtyId;
use medibook_core::staff::{
    MAX_BIO_CHARS, MAX_NAME_CHARS, MAX_PHOTO_URL_CHARS, MAX_QUALIFICATION_CHARS,
};

use crate::pages::admin::FieldErrors;
use crate::pages::format;
use crate::pages::forms::FormFields;

/// The largest fee the form takes, in minor units (1,000,000.00).
const MAX_FEE_MINOR: i64 = 100_000_000;
/// The doctor form's fields as typed (or as stored, when editing).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DoctorFormValues {
    /// Full name.
    pub name: String,
    /// The chosen specialty's id.
    pub specialty_id: String,
    /// Degrees and titles.
    pub qualification: String,
    /// Years in practice.
    pub years_experience: String,
    /// Fee in the currency's major unit, "80.00".
    pub fee_amount: String,
    /// ISO 4217 code.
    pub currency: String,
    /// About the doctor.
    pub bio: String,
    /// Picture URL.
    pub photo_url: String,
    /// IANA zone.
    pub time_zone: String,
}

impl DoctorFormValues {
    /// The fields of a posted form.
    pub fn posted(form: &FormFields) -> Self {
        Self {
            name: form.get("name").to_owned(),
            specialty_id: form.get("specialty_id").to_owned(),
            qualification: form.get("qualification").to_owned(),
            years_experience: form.get("years_experience").to_owned(),
            fee_amount: form.get("fee_amount").to_owned(),
            currency: form.get("currency").to_owned(),
            bio: form.get("bio").to_owned(),
            photo_url: form.get("photo_url").to_owned(),
            time_zone: form.get("time_zone").to_owned(),
        }
    }

    /// The fields of a stored doctor.
    pub fn of(doctor: &Doctor) -> Self {
        Self {
            name: doctor.name.clone(),
            specialty_id: doctor.specialty_id.to_string(),
            qualification: doctor.qualification.clone(),
            years_experience: doctor.years_experience.to_string(),
            fee_amount: format::fee_amount(doctor.fee.amount_minor),
            currency: doctor.fee.currency.clone(),
            bio: doctor.bio.clone(),
            photo_url: doctor.photo_url.clone().unwrap_or_default(),
            time_zone: doctor.time_zone.name().to_owned(),
        }
    }

    /// Blank, with the clinic's usual currency and zone filled in.
    pub(super) fn blank() -> Self {
        Self {
            years_experience: "0".to_owned(),
            currency: "EUR".to_owned(),
            time_zone: "Europe/Berlin".to_owned(),
            ..Self::default()
        }
    }
}

/// A doctor form that passed the page's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckedDoctor {
    pub(super) name: String,
    pub(super) specialty_id: SpecialtyId,
    pub(super) qualification: String,
    pub(super) years_experience: u16,
    pub(super) fee_minor: i64,
    pub(super) currency: String,
    pub(super) bio: String,
    pub(super) photo_url: Option<String>,
    pub(super) time_zone: String,
}

/// An amount in a currency's major unit ("80", "80.5", "80.00", "80,00") in minor units.
pub fn parse_fee(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let normalised = if raw.contains('.') {
        raw.to_owned()
    } else {
        raw.replacen(',', ".", 1)
    };
    let (whole, fraction) = normalised
        .split_once('.')
        .unwrap_or((normalised.as_str(), ""));
    let digits = |text: &str| text.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || fraction.len() > 2 || !digits(fraction) {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let cents: i64 = match fraction.len() {
        0 => 0,
        1 => fraction.parse::<i64>().ok()? * 10,
        _ => fraction.parse().ok()?,
    };
    whole.checked_mul(100)?.checked_add(cents)
}

/// Whether `url` is a picture address the pages can show: `https://` only, since the
/// Content-Security-Policy loads no plain-http images (the core would also take `http://`).
fn photo_url_ok(url: &str) -> bool {
    url.starts_with("https://")
        && url.chars().count() <= MAX_PHOTO_URL_CHARS
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
        && url::Url::parse(url).is_ok_and(|parsed| parsed.host_str().is_some_and(|h| !h.is_empty()))
}

/// Checks the form, with a message for each field that is not right.
pub fn check(
    values: &DoctorFormValues,
    specialties: &[SpecialtySummary],
) -> Result<CheckedDoctor, FieldErrors> {
    let mut errors = FieldErrors::default();
    let name = match text_field("name", &values.name, MAX_NAME_CHARS, false) {
        Ok(name) => name,
        Err(_) if values.name.trim().is_empty() => {
            errors.add("name", "Enter the doctor's full name.");
            String::new()
        }
        Err(_) => {
            errors.add(
                "name",
                format!("Use at most {MAX_NAME_CHARS} characters, on one line."),
            );
            String::new()
        }
    };
    let specialty_id = values
        .specialty_id
        .parse()
        .ok()
        .map(SpecialtyId::from_uuid)
        .filter(|id| specialties.iter().any(|s| s.specialty.id == *id));
    if specialty_id.is_none() {
        errors.add("specialty_id", "Choose a specialty.");
    }
    let qualification = values.qualification.trim().to_owned();
    if qualification.chars().count() > MAX_QUALIFICATION_CHARS {
        errors.add(
            "qualification",
            format!("Use at most {MAX_QUALIFICATION_CHARS} characters."),
        );
    }
    let years = values.years_experience.trim();
    let years_experience = if years.is_empty() {
        Some(0)
    } else {
        years.parse::<u16>().ok().filter(|y| *y <= 80)
    };
    if years_experience.is_none() {
        errors.add(
            "years_experience",
            "Enter the years in practice as a whole number from 0 to 80.",
        );
    }
    let fee_minor = parse_fee(&values.fee_amount).filter(|fee| *fee <= MAX_FEE_MINOR);
    if fee_minor.is_none() {
        errors.add(
            "fee_amount",
            "Enter the fee as an amount like 80.00 (no currency sign, at most 1000000.00).",
        );
    }
    let currency = values.currency.trim().to_ascii_uppercase();
    if Fee::new(0, &currency).is_err() {
        errors.add("currency", "Enter a three-letter currency code, like EUR.");
    }
    let bio = values.bio.trim().to_owned();
    if bio.chars().count() > MAX_BIO_CHARS {
        errors.add("bio", format!("Use at most {MAX_BIO_CHARS} characters."));
    }
    let photo = values.photo_url.trim();
    let photo_url = if photo.is_empty() {
        None
    } else {
        if !photo_url_ok(photo) {
            errors.add(
                "photo_url",
                format!(
                    "Enter a web address starting with https://, like \
                     https://example.org/photo.jpg (at most {MAX_PHOTO_URL_CHARS} characters), \
                     or leave it empty."
                ),
            );
        }
        Some(photo.to_owned())
    };
    let time_zone = values.time_zone.trim().to_owned();
    if time_zone.is_empty() {
        errors.add(
            "time_zone",
            "Enter the doctor's time zone, like Europe/Berlin.",
        );
    } else if Zone::parse(&time_zone).is_err() {
        errors.add(
            "time_zone",
            format!(
                "We do not know the time zone “{time_zone}”. Use a name from the list, like \
                 Europe/Berlin."
            ),
        );
    }
    match (specialty_id, years_experience, fee_minor) {
        (Some(specialty_id), Some(years_experience), Some(fee_minor)) if errors.is_empty() => {
            Ok(CheckedDoctor {
                name,
                specialty_id,
                qualification,
                years_experience,
                fee_minor,
                currency,
                bio,
                photo_url,
                time_zone,
            })
        }
        _ => Err(errors),
    }
}

/// The field a core validation message is about, with the page's words for it.
pub(super) fn core_refusal(error: &BookingError) -> Option<(&'static str, &'static str)> {
    let BookingError::Validation(message) = error else {
        return None;
    };
    let fields: [(&str, &'static str, &'static str); 8] = [
        ("name", "name", "Enter the doctor's full name."),
        ("specialty", "specialty_id", "Choose a specialty."),
        (
            "qualification",
            "qualification",
            "Shorten the qualification.",
        ),
        (
            "years",
            "years_experience",
            "Enter the years in practice from 0 to 80.",
        ),
        ("bio", "bio", "Shorten the text about the doctor."),
        (
            "photo",
            "photo_url",
            "Enter a web address starting with https://.",
        ),
        (
            "unknown time zone",
            "time_zone",
            "Use a time zone from the list.",
        ),
        (
            "currency",
            "currency",
            "Enter a three-letter currency code, like EUR.",
        ),
    ];
    fields
        .into_iter()
        .find(|(prefix, _, _)| message.starts_with(prefix))
        .map(|(_, field, words)| (field, words))
}

#[cfg(test)]
mod tests {
    use medibook_core::clinic::Specialty;

    use super::*;

    #[test]
    fn fees_are_read_in_major_units() {
        assert_eq!(parse_fee("80"), Some(8000));
        assert_eq!(parse_fee("80.5"), Some(8050));
        assert_eq!(parse_fee(" 80.05 "), Some(8005));
        assert_eq!(parse_fee("80,00"), Some(8000));
        assert_eq!(parse_fee("0"), Some(0));
        for bad in [
            "",
            "-5",
            "80.001",
            "€80",
            "eighty",
            ".5",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_fee(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_mistake_gets_a_message_by_its_field() {
        let cardiology = SpecialtySummary {
            specialty: Specialty {
                id: SpecialtyId::generate(),
                name: "Cardiology".into(),
                keywords: Vec::new(),
            },
            doctor_count: 0,
        };
        let good = DoctorFormValues {
            name: " Dr. Lena Vogel ".into(),
            specialty_id: cardiology.specialty.id.to_string(),
            qualification: "MD".into(),
            years_experience: "7".into(),
            fee_amount: "80.00".into(),
            currency: "eur".into(),
            bio: String::new(),
            photo_url: "https://example.org/lena.jpg".into(),
            time_zone: "Europe/Vienna".into(),
        };
        let checked = check(&good, std::slice::from_ref(&cardiology)).unwrap();
        assert_eq!(checked.name, "Dr. Lena Vogel");
        assert_eq!(checked.fee_minor, 8000);
        assert_eq!(checked.currency, "EUR");
        let bad = DoctorFormValues {
            name: " ".into(),
            specialty_id: "nope".into(),
            years_experience: "81".into(),
            fee_amount: "-1".into(),
            currency: "EURO".into(),
            photo_url: "http://example.org/lena.jpg".into(),
            time_zone: "Mars/Olympus".into(),
            ..good
        };
        let errors = check(&bad, &[cardiology]).unwrap_err();
        for field in [
            "name",
            "specialty_id",
            "years_experience",
            "fee_amount",
            "currency",
            "photo_url",
            "time_zone",
        ] {
            assert!(errors.get(field).is_some(), "{field}: {errors:?}");
        }
        assert!(errors.get("bio").is_none());
    }

    #[test]
    fn only_https_pictures_are_taken() {
        assert!(photo_url_ok("https://example.org/a.jpg"));
        assert!(!photo_url_ok("http://example.org/a.jpg"));
        assert!(!photo_url_ok("https://"));
        assert!(!photo_url_ok("https://example.org/a b.jpg"));
        assert!(!photo_url_ok("javascript:alert(1)"));
    }
}
