//! What the booking benchmarks use up: signed-in patients and free slots.
//!
//! Patients are signed in before a measured phase starts, many at a time, each with the code
//! the started server logs; free slots are read from the public slot listing, far enough ahead
//! that no doctor's minimum notice refuses them.

use futures_util::stream::{self, StreamExt, TryStreamExt};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};

use crate::api::{Api, Doctor};
use crate::error::{BenchError, BenchResult};
use crate::target::Target;

/// Most days one slot listing covers (the server's own limit).
const LISTING_DAYS: u16 = 31;
/// Free slots closer than this are skipped: the demo doctors ask for up to two hours' notice.
const NOTICE_MARGIN: SignedDuration = SignedDuration::from_hours(3);

/// Signs in `count` new patients, `concurrency` at a time; returns their bearer tokens.
pub async fn sign_in_patients(
    target: &Target,
    label: &str,
    count: usize,
    concurrency: usize,
) -> BenchResult<Vec<String>> {
    at_most(concurrency, count, |_| target.new_patient_token(label)).await
}

/// Runs `task(0..count)`, at most `concurrency` at a time; the results in completion order, or
/// the first error.
pub async fn at_most<T, F, Fut>(concurrency: usize, count: usize, task: F) -> BenchResult<Vec<T>>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = BenchResult<T>>,
{
    stream::iter(0..count)
        .map(task)
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await
}

/// A doctor and the starts of their free slots, soonest first.
#[derive(Clone, Debug)]
pub struct FreeSlots {
    /// The doctor.
    pub doctor: Doctor,
    /// Free slots at least [`NOTICE_MARGIN`] from now.
    pub starts: Vec<Timestamp>,
}

/// The free slots of every doctor over `days` days from today (in listings of at most 31
/// days), leaving out doctors with none.
pub async fn free_slots(api: &Api, days: u16) -> BenchResult<Vec<FreeSlots>> {
    let now = Timestamp::now();
    let not_before = now.saturating_add(NOTICE_MARGIN).unwrap_or(now);
    let today = now.to_zoned(TimeZone::UTC).date();
    let mut all = Vec::new();
    for doctor in api.doctors().await? {
        if doctor.next_free_slot.is_none() {
            continue;
        }
        let mut starts = Vec::new();
        let mut offset: u16 = 0;
        while offset < days {
            let span = LISTING_DAYS.min(days - offset);
            let from = today
                .checked_add(jiff::Span::new().days(i64::from(offset)))
                .map_err(|e| BenchError::Data(format!("date out of range: {e}")))?;
            starts.extend(
                api.slots(&doctor.id, from, span)
                    .await?
                    .into_iter()
                    .filter(|slot| slot.status == "available" && slot.start > not_before)
                    .map(|slot| slot.start),
            );
            offset += span;
        }
        starts.sort_unstable();
        starts.dedup();
        if !starts.is_empty() {
            all.push(FreeSlots { doctor, starts });
        }
    }
    Ok(all)
}

/// The slots of `doctors` interleaved (the first of each doctor, then the second of each…), so
/// that consecutive bookings go to different doctors as a clinic's would.
pub fn interleaved(doctors: &[FreeSlots]) -> Vec<(usize, Timestamp)> {
    let longest = doctors.iter().map(|d| d.starts.len()).max().unwrap_or(0);
    let mut order = Vec::with_capacity(doctors.iter().map(|d| d.starts.len()).sum());
    for rank in 0..longest {
        for (index, doctor) in doctors.iter().enumerate() {
            if let Some(start) = doctor.starts.get(rank) {
                order.push((index, *start));
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doctor(name: &str, starts: &[&str]) -> FreeSlots {
        FreeSlots {
            doctor: Doctor {
                id: name.to_owned(),
                name: name.to_owned(),
                next_free_slot: None,
            },
            starts: starts.iter().map(|s| s.parse().unwrap()).collect(),
        }
    }

    #[test]
    fn slots_alternate_between_doctors() {
        let doctors = [
            doctor(
                "a",
                &[
                    "2027-03-02T08:00:00Z",
                    "2027-03-02T08:30:00Z",
                    "2027-03-02T09:00:00Z",
                ],
            ),
            doctor("b", &["2027-03-02T10:00:00Z"]),
        ];
        let order: Vec<usize> = interleaved(&doctors).iter().map(|(i, _)| *i).collect();
        assert_eq!(order, [0, 1, 0, 0]);
        assert!(interleaved(&[]).is_empty());
    }
}
