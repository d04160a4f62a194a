//! Booking the demo appointments: a pool of demo patients taken in turn, and filling a
//! doctor's next working days or scattering visits over the coming week.

use jiff::Timestamp;
use jiff::civil::Date;
use medibook_core::audit::Actor;
use medibook_core::booking::{Reason, SlotStatus};
use medibook_core::booking_service::BookingService;
use medibook_core::clinic::Doctor;
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::{DoctorId, UserId};
use medibook_core::ports::IdentityRepository;
use medibook_core::{BookingError, BookingResult};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;

use super::PATIENT_EMAIL_DOMAIN;

/// Patients created up front; more are added when all of them reach the appointment limit.
const INITIAL_PATIENTS: usize = 12;

/// How many working days of a fully booked doctor are filled.
const FULLY_BOOKED_DAYS: usize = 3;

/// How far ahead a fully booked doctor's working days are looked for.
const FULLY_BOOKED_LOOKAHEAD_DAYS: u16 = 14;

/// How many days, from today, scattered appointments are spread over.
const SCATTER_DAYS: u16 = 7;

/// Reason used if a specialty lists none.
const FALLBACK_REASON: &str = "Consultation";

/// Demo patients, created as needed and taken in turn, so that none goes over the policy's
/// limit of active appointments (and, since each hold is confirmed at once, none has more than
/// one hold).
pub(super) struct PatientPool<'a> {
    identities: &'a dyn IdentityRepository,
    now: Timestamp,
    max_appointments: u16,
    /// Each patient with the number of appointments booked for them.
    patients: Vec<(UserId, u16)>,
    /// Where the search for the next patient starts.
    turn: usize,
}

impl<'a> PatientPool<'a> {
    /// A pool of `INITIAL_PATIENTS` patients, each allowed `max_appointments`.
    pub(super) async fn new(
        identities: &'a dyn IdentityRepository,
        now: Timestamp,
        max_appointments: u16,
    ) -> BookingResult<Self> {
        let mut pool = Self {
            identities,
            now,
            max_appointments,
            patients: Vec::with_capacity(INITIAL_PATIENTS),
            turn: 0,
        };
        for _ in 0..INITIAL_PATIENTS {
            pool.add().await?;
        }
        Ok(pool)
    }

    /// How many patients the pool has.
    pub(super) fn len(&self) -> usize {
        self.patients.len()
    }

    /// Creates (or finds) the next demo patient account; returns its index.
    async fn add(&mut self) -> BookingResult<usize> {
        let number = self.patients.len() + 1;
        let email = Email::parse(&format!("patient{number:02}@{PATIENT_EMAIL_DOMAIN}"))?;
        let user = self
            .identities
            .user_for(&Identifier::Email(email), self.now)
            .await?;
        // Named, so the doctors' agendas and the front desk show people, not addresses.
        if user.name.is_none() {
            self.identities
                .rename(user.id, &demo_patient_name(number))
                .await?;
        }
        self.patients.push((user.id, 0));
        Ok(self.patients.len() - 1)
    }

    /// The index of the next patient in turn who may book one more appointment, adding a
    /// patient when everyone is at the limit.
    async fn next_with_room(&mut self) -> BookingResult<usize> {
        let count = self.patients.len();
        let with_room = (0..count)
            .map(|offset| (self.turn + offset) % count)
            .find(|&index| self.patients[index].1 < self.max_appointments);
        let index = match with_room {
            Some(index) => index,
            None => self.add().await?,
        };
        self.turn = index + 1;
        Ok(index)
    }
}

/// The made-up name of demo patient `number` (first and last names combined in turn).
fn demo_patient_name(number: usize) -> String {
    const FIRST: [&str; 12] = [
        "Lena", "Jonas", "Amira", "Mateo", "Sofia", "Noah", "Hanna", "Elias", "Yara", "Felix",
        "Ines", "Karl",
    ];
    const LAST: [&str; 11] = [
        "Becker", "Okafor", "Nowak", "Silva", "Keller", "Haddad", "Lindgren", "Costa", "Weber",
        "Yamamoto", "Fischer",
    ];
    format!(
        "{} {}",
        FIRST[number % FIRST.len()],
        LAST[(number / FIRST.len() + number) % LAST.len()]
    )
}

/// What booking a doctor's slots needs besides the patients.
pub(super) struct Visits<'a> {
    pub(super) bookings: &'a BookingService,
    pub(super) doctor_id: DoctorId,
    pub(super) reasons: &'static [&'static str],
}

impl Visits<'_> {
    /// Books the slot starting at `start` for the next patient in turn, with a reason of the
    /// doctor's specialty. `false` if the slot can no longer be booked: taken, its day reached
    /// the doctor's daily maximum, or it slipped inside the minimum notice while seeding.
    async fn book(
        &self,
        start: Timestamp,
        patients: &mut PatientPool<'_>,
        rng: &mut StdRng,
    ) -> BookingResult<bool> {
        let reason = Reason::parse(self.reasons.choose(rng).copied().unwrap_or(FALLBACK_REASON))?;
        let index = patients.next_with_room().await?;
        let patient_id = patients.patients[index].0;
        let operator = Actor::operator();
        let hold = match self
            .bookings
            .hold(
                &operator,
                patient_id,
                self.doctor_id,
                start,
                medibook_core::booking_service::HoldPurpose::NewAppointment,
            )
            .await
        {
            Ok(hold) => hold,
            Err(
                BookingError::SlotTaken | BookingError::DayFull | BookingError::SlotUnavailable(_),
            ) => return Ok(false),
            Err(other) => return Err(other),
        };
        self.bookings
            .confirm(&operator, patient_id, hold.hold.id, reason)
            .await?;
        patients.patients[index].1 += 1;
        Ok(true)
    }
}

/// Books every available slot of the doctor's next `FULLY_BOOKED_DAYS` working days (today
/// counts if it has slots left); returns how many were booked.
pub(super) async fn book_fully(
    visits: &Visits<'_>,
    doctor: &Doctor,
    today: Date,
    patients: &mut PatientPool<'_>,
    rng: &mut StdRng,
) -> BookingResult<usize> {
    let tz = doctor.time_zone.tz();
    let slots = visits
        .bookings
        .slots(visits.doctor_id, today, FULLY_BOOKED_LOOKAHEAD_DAYS)
        .await?;
    let mut days: Vec<Date> = Vec::with_capacity(FULLY_BOOKED_DAYS);
    let mut booked = 0;
    for slot in slots.iter().filter(|s| s.status == SlotStatus::Available) {
        let day = tz.to_datetime(slot.start).date();
        if !days.contains(&day) {
            if days.len() == FULLY_BOOKED_DAYS {
                break;
            }
            days.push(day);
        }
        if visits.book(slot.start, patients, rng).await? {
            booked += 1;
        }
    }
    Ok(booked)
}

/// Books about one in `one_in` of the doctor's available slots over the next `SCATTER_DAYS`
/// days; returns how many were booked.
pub(super) async fn book_some(
    visits: &Visits<'_>,
    today: Date,
    one_in: u32,
    patients: &mut PatientPool<'_>,
    rng: &mut StdRng,
) -> BookingResult<usize> {
    let slots = visits
        .bookings
        .slots(visits.doctor_id, today, SCATTER_DAYS)
        .await?;
    let mut booked = 0;
    for slot in slots.iter().filter(|s| s.status == SlotStatus::Available) {
        if rng.random_ratio(1, one_in.max(1)) && visits.book(slot.start, patients, rng).await? {
            booked += 1;
        }
    }
    Ok(booked)
}
