//! Schedule edits (weekly hours, rules, time zone, time off) change which slots exist. Each edit
//! runs under the doctor's lock, compares the doctor's free slots before and after, and records
//! the difference as slot events in the same transaction: a slot that appeared is `available`,
//! a free slot that vanished is `unavailable`. Slots that appeared are then offered to the
//! waitlist like any freed slot. Held and booked slots keep their time whatever the edit.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use medibook_core::booking::{Occupancy, SlotStatus};
use medibook_core::clinic::Doctor;
use medibook_core::ids::DoctorId;
use medibook_core::listing::doctor_listing;
use medibook_core::ports::Recorded;
use medibook_core::schedule::TimeOff;
use medibook_core::slots::day_bounds;
use sqlx::AssertSqlSafe;

use crate::clinic::{DOCTOR_COLUMNS, doctor_from, time_off_from};
use crate::columns::{micros, timestamp};
use crate::error::StoreError;
use crate::ledger::{Tx, record_slot_event};
use crate::sql;

const TIME_OFF_IN_WINDOW: &str = "
    SELECT id, doctor_id, start_at, end_at, reason FROM time_off
    WHERE doctor_id = $1 AND start_at < $2 AND end_at > $3";
const CLAIMS_IN_WINDOW: &str = "
    SELECT claim_start, claim_end, CAST(CASE WHEN appointment_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS booked
    FROM slot_claims
    WHERE doctor_id = $1 AND claim_start < $2 AND claim_end > $3
      AND (expires_at IS NULL OR expires_at > $4)";

/// A doctor's free slots at one moment: start → end.
pub(crate) type FreeSlots = BTreeMap<Timestamp, Timestamp>;

/// The doctor as stored, read inside the transaction.
pub(crate) async fn load_doctor(tx: &mut Tx, id: DoctorId) -> Result<Option<Doctor>, StoreError> {
    let sql = format!("SELECT {DOCTOR_COLUMNS} FROM doctors WHERE id = $1");
    let row = sql::query(AssertSqlSafe(sql))
        .bind(id.to_string())
        .fetch_optional(&mut *tx)
        .await?;
    row.as_ref().map(doctor_from).transpose()
}

/// The doctor's time off overlapping `[from, to)`.
pub(crate) async fn time_off_between(
    tx: &mut Tx,
    doctor_id: DoctorId,
    from: Timestamp,
    to: Timestamp,
) -> Result<Vec<TimeOff>, StoreError> {
    sql::query(TIME_OFF_IN_WINDOW)
        .bind(doctor_id.to_string())
        .bind(micros(to))
        .bind(micros(from))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(time_off_from)
        .collect()
}

/// What occupies the doctor's time in `[from, to)` at `now`, sorted by start.
pub(crate) async fn occupancy_between(
    tx: &mut Tx,
    doctor_id: DoctorId,
    from: Timestamp,
    to: Timestamp,
    now: Timestamp,
) -> Result<Vec<Occupancy>, StoreError> {
    let mut occupancy = sql::query(CLAIMS_IN_WINDOW)
        .bind(doctor_id.to_string())
        .bind(micros(to))
        .bind(micros(from))
        .bind(micros(now))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| {
            let booked: i64 = row.try_get("booked")?;
            Ok(Occupancy {
                doctor_id,
                start: timestamp(row, "claim_start")?,
                end: timestamp(row, "claim_end")?,
                status: if booked == 1 {
                    SlotStatus::Booked
                } else {
                    SlotStatus::Held
                },
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    occupancy.sort_by_key(|o| o.start);
    Ok(occupancy)
}

/// The doctor's free, bookable slots on `days` dates from today (in the doctor's zone).
pub(crate) async fn free_slots(
    tx: &mut Tx,
    doctor_id: DoctorId,
    days: u16,
    now: Timestamp,
) -> Result<FreeSlots, StoreError> {
    let Some(doctor) = load_doctor(tx, doctor_id).await? else {
        return Ok(FreeSlots::new());
    };
    let tz = doctor.time_zone.tz();
    let today = tz.to_datetime(now).date();
    let last = today
        .checked_add(jiff::Span::new().days(i64::from(days)))
        .unwrap_or(today);
    let (Some((from, _)), Some((_, to))) = (day_bounds(tz, today), day_bounds(tz, last)) else {
        return Ok(FreeSlots::new());
    };
    let margin = SignedDuration::from_hours(24);
    let from = from.saturating_sub(margin).unwrap_or(from);
    let to = to.saturating_add(margin).unwrap_or(to);
    let time_off = time_off_between(tx, doctor_id, from, to).await?;
    let occupancy = occupancy_between(tx, doctor_id, from, to, now).await?;
    Ok(
        doctor_listing(&doctor, &time_off, &occupancy, today, days, now)
            .into_iter()
            .filter(|view| view.status == SlotStatus::Available)
            .map(|view| (view.start, view.end))
            .collect(),
    )
}

/// Records how the free slots changed: vanished ones as `unavailable`, then new ones as
/// `available`, each in time order.
pub(crate) async fn record_grid_change(
    tx: &mut Tx,
    doctor_id: DoctorId,
    before: &FreeSlots,
    after: &FreeSlots,
    now: Timestamp,
) -> Result<Recorded, StoreError> {
    let mut recorded = Recorded::default();
    for (start, end) in before {
        if after.get(start) != Some(end) {
            recorded.slots.push(
                record_slot_event(tx, doctor_id, *start, *end, SlotStatus::Unavailable, now)
                    .await?,
            );
        }
    }
    for (start, end) in after {
        if before.get(start) != Some(end) {
            recorded.slots.push(
                record_slot_event(tx, doctor_id, *start, *end, SlotStatus::Available, now).await?,
            );
        }
    }
    Ok(recorded)
}

/// How many days ahead a grid comparison must look for a doctor whose horizon is, or becomes,
/// `horizons`.
pub(crate) fn days_to_compare(horizons: &[u16]) -> u16 {
    horizons
        .iter()
        .copied()
        .max()
        .unwrap_or(0)
        .saturating_add(2)
}
