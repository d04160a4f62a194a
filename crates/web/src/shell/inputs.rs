//! Query values every door reads the same way, so the API and the pages accept the same input.

use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::BookingError;
use medibook_core::calendar_feeds::FeedKind;

/// Parses an audit bound: an RFC 3339 instant, or a date (midnight UTC; for the end of a
/// range, the midnight after it, so the date is included). The audit page reads its filters
/// with it too.
pub fn audit_bound(
    field: &str,
    raw: Option<&str>,
    end: bool,
) -> Result<Option<Timestamp>, BookingError> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if let Ok(instant) = raw.parse::<Timestamp>() {
        return Ok(Some(instant));
    }
    let invalid = || {
        BookingError::validation(format!(
            "{field} must be an RFC 3339 instant or a date YYYY-MM-DD"
        ))
    };
    let date: Date = raw.parse().map_err(|_| invalid())?;
    let date = if end {
        date.tomorrow().map_err(|_| invalid())?
    } else {
        date
    };
    let midnight = date
        .to_zoned(jiff::tz::TimeZone::UTC)
        .map_err(|_| invalid())?;
    Ok(Some(midnight.timestamp()))
}

/// The feed kind named by `feed`, or a validation error.
pub fn feed_kind(feed: Option<&str>) -> Result<FeedKind, BookingError> {
    match feed {
        None | Some("") => Ok(FeedKind::Appointments),
        Some(name) => FeedKind::parse(name)
            .ok_or_else(|| BookingError::validation("feed must be `appointments` or `agenda`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_bounds_take_instants_and_whole_dates() {
        let from = audit_bound("from", Some("2027-03-01"), false).unwrap();
        assert_eq!(from, Some("2027-03-01T00:00:00Z".parse().unwrap()));
        let to = audit_bound("to", Some("2027-03-01"), true).unwrap();
        assert_eq!(to, Some("2027-03-02T00:00:00Z".parse().unwrap()));
        let instant = audit_bound("to", Some("2027-03-01T10:00:00+01:00"), true).unwrap();
        assert_eq!(instant, Some("2027-03-01T09:00:00Z".parse().unwrap()));
        assert_eq!(audit_bound("from", Some(" "), false).unwrap(), None);
        assert!(audit_bound("from", Some("yesterday"), false).is_err());
    }
}
