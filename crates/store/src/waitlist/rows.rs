//! Waitlist rows as domain values: entries, offers, and the target columns of an entry.

use jiff::civil::Date;
use medibook_core::waitlist::{
    EntryState, OfferState, WaitPreference, WaitTarget, WaitlistEntry, WaitlistOffer,
};

use crate::columns::{named, optional_parsed, parsed, timestamp};
use crate::error::StoreError;
use crate::sql;

pub(super) fn date_column(row: &sql::Row, column: &str) -> Result<Option<Date>, StoreError> {
    optional_parsed(row, column)
}

/// The days and times of day an entry accepts.
pub(super) fn preference_from(row: &sql::Row) -> Result<WaitPreference, StoreError> {
    let weekdays: i64 = row.try_get("weekdays")?;
    Ok(WaitPreference {
        weekdays: u8::try_from(weekdays)
            .map_err(|e| StoreError::Corrupt(format!("weekdays: {e}")))?,
        earliest: optional_parsed(row, "earliest")?,
        latest: optional_parsed(row, "latest")?,
    })
}

pub(crate) fn entry_from(row: &sql::Row) -> Result<WaitlistEntry, StoreError> {
    let doctor_id = optional_parsed(row, "doctor_id")?;
    let specialty_id = optional_parsed(row, "specialty_id")?;
    let target = match (doctor_id, specialty_id) {
        (Some(doctor), None) => WaitTarget::Doctor(doctor),
        (None, Some(specialty)) => WaitTarget::Specialty(specialty),
        _ => return Err(StoreError::Corrupt("waitlist entry target".into())),
    };
    Ok(WaitlistEntry {
        id: parsed(row, "id")?,
        patient_id: parsed(row, "patient_id")?,
        target,
        from: date_column(row, "from_date")?,
        to: date_column(row, "to_date")?,
        preference: preference_from(row)?,
        state: named(row, "state", EntryState::parse)?,
        queued_at: timestamp(row, "queued_at")?,
        offer: None,
    })
}

pub(super) fn offer_from(row: &sql::Row) -> Result<WaitlistOffer, StoreError> {
    Ok(WaitlistOffer {
        id: parsed(row, "id")?,
        entry_id: parsed(row, "entry_id")?,
        patient_id: parsed(row, "patient_id")?,
        doctor_id: parsed(row, "doctor_id")?,
        hold_id: parsed(row, "hold_id")?,
        start: timestamp(row, "start_at")?,
        end: timestamp(row, "end_at")?,
        expires_at: timestamp(row, "expires_at")?,
        state: named(row, "state", OfferState::parse)?,
    })
}

pub(super) fn target_columns(target: WaitTarget) -> (Option<String>, Option<String>) {
    match target {
        WaitTarget::Doctor(id) => (Some(id.to_string()), None),
        WaitTarget::Specialty(id) => (None, Some(id.to_string())),
    }
}
