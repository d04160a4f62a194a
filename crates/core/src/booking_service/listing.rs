//! Slot listings: one doctor's bookable slots over some dates, the next free slot of each doctor,
//! and listings under a proposed setup, from the doctor's grid, time off and occupancy.

use std::collections::HashMap;

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::agenda_cache::AgendaCache;
use crate::booking::{Occupancy, SlotStatus};
use crate::clinic::Doctor;
use crate::error::{BookingError, BookingResult};
use crate::ids::DoctorId;
use crate::listing::{SlotView, doctor_listing};
use crate::schedule::TimeOff;
use crate::shared_agendas::SharedAgendas;
use crate::slots::last_date;

use super::BookingService;

/// Most days one slot listing may cover.
pub const MAX_LISTING_DAYS: u16 = 31;

/// Most days ahead of a doctor's claims kept in the agenda cache (a longer horizon's later weeks
/// are read from the database when listed).
const MAX_KEPT_DAYS: u16 = 92;

/// How far ahead the "next free slot" of a doctor is looked for.
const NEXT_FREE_LOOKAHEAD_DAYS: u16 = 28;

impl BookingService {
    /// The bookable slots of a doctor on `days` dates from `first` (dates in the doctor's
    /// zone), with their status. Slots before the minimum notice or beyond the horizon are left
    /// out, and so are free slots of a day that reached the doctor's daily maximum.
    pub async fn slots(
        &self,
        doctor_id: DoctorId,
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<SlotView>> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let doctor = self.doctor(doctor_id).await?;
        let mut listing = self.listings(&[doctor], first, days).await?;
        Ok(listing.pop().map(|(_, slots)| slots).unwrap_or_default())
    }

    /// The bookable slots of several doctors on `days` dates from `first` (each in the
    /// doctor's zone), with their status, in the order given; one query per kind of data for
    /// all of them.
    pub async fn slots_of(
        &self,
        doctors: &[Doctor],
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<(DoctorId, Vec<SlotView>)>> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        if doctors.is_empty() {
            return Ok(Vec::new());
        }
        self.listings(doctors, first, days).await
    }

    /// The next free slot of each doctor within four weeks, with one query per kind of data
    /// for all of them.
    pub async fn next_free_slots(
        &self,
        doctors: &[Doctor],
    ) -> BookingResult<HashMap<DoctorId, SlotView>> {
        let now = self.clock.now();
        let mut next = HashMap::new();
        let Some(first) = doctors
            .iter()
            .map(|d| d.time_zone.tz().to_datetime(now).date())
            .min()
        else {
            return Ok(next);
        };
        for (doctor_id, slots) in self
            .listings(doctors, first, NEXT_FREE_LOOKAHEAD_DAYS)
            .await?
        {
            if let Some(slot) = slots
                .into_iter()
                .find(|s| s.status == SlotStatus::Available)
            {
                next.insert(doctor_id, slot);
            }
        }
        Ok(next)
    }

    /// The first free slot of `doctors` on the `days` dates from `first` that `suits`
    /// accepts, with its doctor (soonest first across doctors); `None` if there is none. One
    /// query per kind of data for all of them.
    pub async fn first_free_matching(
        &self,
        doctors: &[Doctor],
        first: Date,
        days: u16,
        suits: impl Fn(&Doctor, &SlotView) -> bool,
    ) -> BookingResult<Option<(DoctorId, SlotView)>> {
        if doctors.is_empty() {
            return Ok(None);
        }
        let days = days.clamp(1, MAX_LISTING_DAYS);
        let listings = self.listings(doctors, first, days).await?;
        Ok(listings
            .into_iter()
            .filter_map(|(id, slots)| {
                let doctor = doctors.iter().find(|d| d.id == id)?;
                slots
                    .into_iter()
                    .find(|slot| slot.status == SlotStatus::Available && suits(doctor, slot))
                    .map(|slot| (id, slot))
            })
            .min_by_key(|(_, slot)| slot.start))
    }

    /// Slot listings of several doctors over the same dates.
    async fn listings(
        &self,
        doctors: &[Doctor],
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<(DoctorId, Vec<SlotView>)>> {
        let now = self.clock.now();
        let (from, to) = listing_window(first, days)?;
        let ids: Vec<DoctorId> = doctors.iter().map(|d| d.id).collect();
        let time_off = self.clinic.time_off(&ids, from, to).await?;
        let occupancy = match (&self.agendas, &self.shared_agendas, doctors) {
            (Some(agendas), _, [doctor]) => {
                self.cached_occupancy(agendas, doctor, (from, to), now)
                    .await?
            }
            (None, Some(shared), [doctor]) => {
                self.shared_occupancy(shared, doctor.id, (from, to), now)
                    .await?
            }
            _ => self.bookings.occupancy(&ids, from, to, now).await?,
        };

        let mut listings = Vec::with_capacity(doctors.len());
        for doctor in doctors {
            let own_time_off: Vec<_> = time_off
                .iter()
                .filter(|t| t.doctor_id == doctor.id)
                .cloned()
                .collect();
            let mut own_occupancy: Vec<Occupancy> = occupancy
                .iter()
                .filter(|o| o.doctor_id == doctor.id)
                .copied()
                .collect();
            own_occupancy.sort_by_key(|o| o.start);
            listings.push((
                doctor.id,
                doctor_listing(doctor, &own_time_off, &own_occupancy, first, days, now),
            ));
        }
        Ok(listings)
    }

    /// What occupies one doctor's `[from, to)` at `now`, from the agenda cache when it covers
    /// the window. A miss within the bookable weeks reads and keeps the doctor's claims from
    /// two days ago to two days past the horizon, so that the doctor's other weeks are served
    /// from memory too; a window outside them is read as asked and not kept.
    async fn cached_occupancy(
        &self,
        agendas: &AgendaCache,
        doctor: &Doctor,
        (from, to): (Timestamp, Timestamp),
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        if let Some(hit) = agendas.occupancy(doctor.id, (from, to), now) {
            return Ok(hit);
        }
        let margin = SignedDuration::from_hours(48);
        let kept_days = doctor.schedule.rules.horizon_days.min(MAX_KEPT_DAYS);
        let horizon = SignedDuration::from_hours(24 * i64::from(kept_days));
        let wide = (
            now.saturating_sub(margin).unwrap_or(now),
            now.saturating_add(horizon)
                .and_then(|end| end.saturating_add(margin))
                .unwrap_or(now),
        );
        if from < wide.0 || to > wide.1 {
            return self.bookings.occupancy(&[doctor.id], from, to, now).await;
        }
        let agenda = self.bookings.agenda(doctor.id, wide.0, wide.1).await?;
        let occupancy = agenda.occupancy(doctor.id, (from, to), now);
        agendas.keep(doctor.id, wide, agenda, now);
        Ok(occupancy)
    }

    /// What occupies one doctor's `[from, to)` at `now`, from the agenda another listing stored
    /// in the shared cache under the doctor's current slot event number, or else read from the
    /// database (with that number, in one statement) and stored for the others.
    async fn shared_occupancy(
        &self,
        shared: &SharedAgendas,
        doctor_id: DoctorId,
        window: (Timestamp, Timestamp),
        now: Timestamp,
    ) -> BookingResult<Vec<Occupancy>> {
        let mark = shared.current(doctor_id).await?;
        if let Some(agenda) = shared.agenda(doctor_id, window, mark).await {
            return Ok(agenda.occupancy(doctor_id, window, now));
        }
        let agenda = self.bookings.agenda(doctor_id, window.0, window.1).await?;
        shared.keep(doctor_id, window, &agenda).await;
        Ok(agenda.occupancy(doctor_id, window, now))
    }

    /// Listings of one doctor under setups that need not be saved (a proposed schedule, an extra
    /// period of time off), one per `(doctor, time_off)` variant, over `days` dates from
    /// `first`. Each variant's `time_off` replaces the stored one; the doctor's occupancy (holds
    /// and appointments) is read once, as [`Self::slots`] reads it, and shared by all variants.
    /// Every variant must be the same doctor.
    pub async fn listings_for(
        &self,
        variants: &[(&Doctor, &[TimeOff])],
        first: Date,
        days: u16,
    ) -> BookingResult<Vec<Vec<SlotView>>> {
        if !(1..=MAX_LISTING_DAYS).contains(&days) {
            return Err(BookingError::validation(format!(
                "days must be between 1 and {MAX_LISTING_DAYS}"
            )));
        }
        let Some((doctor, _)) = variants.first() else {
            return Ok(Vec::new());
        };
        if variants.iter().any(|(other, _)| other.id != doctor.id) {
            return Err(BookingError::validation(
                "listings to compare must be of one doctor",
            ));
        }
        let now = self.clock.now();
        let (from, to) = listing_window(first, days)?;
        let mut occupancy = self.bookings.occupancy(&[doctor.id], from, to, now).await?;
        occupancy.retain(|o| o.doctor_id == doctor.id);
        occupancy.sort_by_key(|o| o.start);
        Ok(variants
            .iter()
            .map(|(variant, time_off)| {
                doctor_listing(variant, time_off, &occupancy, first, days, now)
            })
            .collect())
    }
}

/// The instants whose occupancy and time off a listing of `days` dates from `first` needs: one
/// window wide enough for every doctor's zone (UTC offsets stay within a day) and for buffers
/// around the first and last slot.
pub fn listing_window(first: Date, days: u16) -> BookingResult<(Timestamp, Timestamp)> {
    let invalid_window = || BookingError::validation("date is out of range");
    let last = last_date(first, days).ok_or_else(invalid_window)?;
    let from = first
        .yesterday()
        .ok()
        .and_then(utc_midnight)
        .ok_or_else(invalid_window)?;
    let to = last
        .tomorrow()
        .ok()
        .and_then(utc_midnight)
        .ok_or_else(invalid_window)?;
    Ok((from, to))
}

fn utc_midnight(date: Date) -> Option<Timestamp> {
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|zoned| zoned.timestamp())
}
