//! The demo clinic behind `medibook serve --demo`.
//!
//! Seeds an empty database with nine specialties and seventeen doctors whose hours and booking
//! rules differ the way real ones do: full days with a lunch break, mornings only, an evening
//! clinic, Saturdays, 10- to 45-minute slots, buffers, minimum notice, daily caps, and two
//! video-consultation doctors in London and New York. A few doctors take time off, and demo
//! patients hold appointments: two popular doctors are fully booked for their next three working
//! days, others have visits scattered over the coming week.
//!
//! Appointments are booked through the [`BookingService`] like any patient's (hold, then confirm
//! with a reason), so the demo data obeys every booking rule. The scattering is drawn from a
//! fixed seed; two runs differ only by the moment they start.

mod appointments;
mod catalogue;
mod clinic;

use medibook_core::BookingResult;
use medibook_core::booking_service::BookingService;
use medibook_core::clinic::Doctor;
use medibook_core::identity::{Email, Identifier, Role};
use medibook_core::ports::{ClinicRepository, IdentityRepository};
use medibook_core::staff::Staff;
use rand::SeedableRng;
use rand::rngs::StdRng;

use appointments::{PatientPool, Visits, book_fully, book_some};
use catalogue::{DOCTORS, Load};
use clinic::{doctors, reasons_of, specialties, time_off};

/// What the demo seeder created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DemoSummary {
    /// Specialties added.
    pub specialties: usize,
    /// Doctors added.
    pub doctors: usize,
    /// Demo patient accounts used (created, or found if they already existed).
    pub patients: usize,
    /// Appointments booked.
    pub appointments: usize,
    /// Staff accounts: the admin and one per doctor.
    pub staff: usize,
}

/// Demo patients sign in with `patientNN@` this domain (a reserved `.test` name, never mailed),
/// the demo doctors with `doctorNN@` (in the order of `DOCTORS`) and the clinic's administrator
/// with `admin@`.
const PATIENT_EMAIL_DOMAIN: &str = "demo.medibook.test";

/// Seed of the generator that scatters appointments and picks reasons.
const SCATTER_SEED: u64 = 0x4d45_4449_424f_4f4b;

/// Seeds the demo clinic into an empty database: specialties, doctors, time off, demo patients
/// and appointments. Does nothing, and returns zero counts, if the clinic already has
/// specialties or doctors.
///
/// Demo patients are `patient01@demo.medibook.test`, `patient02@…`; they sign in with a
/// one-time code like anyone else. Seeding is not one transaction: if it fails half-way, the
/// clinic is no longer empty and a later start will not seed again.
pub async fn seed_demo_clinic(
    clinic: &dyn ClinicRepository,
    identities: &dyn IdentityRepository,
    bookings: &BookingService,
    staff: &Staff,
) -> BookingResult<DemoSummary> {
    if !clinic.is_empty().await? {
        tracing::info!("the clinic already has data; not seeding the demo clinic");
        return Ok(DemoSummary::default());
    }
    let now = bookings.now();

    let specialties = specialties();
    for specialty in &specialties {
        clinic.add_specialty(specialty).await?;
    }
    let doctors = doctors(&specialties)?;
    for doctor in &doctors {
        clinic.add_doctor(doctor).await?;
    }
    for time_off in time_off(&doctors, now)? {
        clinic.add_time_off(&time_off).await?;
    }

    let mut summary = DemoSummary {
        specialties: specialties.len(),
        doctors: doctors.len(),
        patients: 0,
        appointments: 0,
        staff: 0,
    };
    summary.staff = staff_accounts(staff, &doctors).await?;
    let policy = bookings.policy();
    if policy.max_active_appointments == 0 || policy.max_holds_per_patient == 0 {
        tracing::info!("the booking policy allows no appointments; seeding no demo appointments");
    } else {
        let mut patients =
            PatientPool::new(identities, now, policy.max_active_appointments).await?;
        let mut rng = StdRng::seed_from_u64(SCATTER_SEED);
        // `doctors` is in the order of `DOCTORS`.
        for (demo, doctor) in DOCTORS.iter().zip(&doctors) {
            let today = doctor.time_zone.tz().to_datetime(now).date();
            let reasons = reasons_of(demo.specialty);
            let visits = Visits {
                bookings,
                doctor_id: doctor.id,
                reasons,
            };
            summary.appointments += match demo.load {
                Load::FullyBooked => {
                    book_fully(&visits, doctor, today, &mut patients, &mut rng).await?
                }
                Load::Scattered { one_in } => {
                    book_some(&visits, today, one_in, &mut patients, &mut rng).await?
                }
                Load::Open => 0,
            };
        }
        summary.patients = patients.len();
    }

    tracing::info!(
        specialties = summary.specialties,
        doctors = summary.doctors,
        patients = summary.patients,
        appointments = summary.appointments,
        "seeded the demo clinic; demo patients sign in as patient01@{PATIENT_EMAIL_DOMAIN} and \
         up, doctors as doctor01@{PATIENT_EMAIL_DOMAIN} and up, the administrator as \
         admin@{PATIENT_EMAIL_DOMAIN}"
    );
    Ok(summary)
}

/// The administrator `admin@…` and one doctor account `doctorNN@…` per doctor (in the order of
/// `doctors`), each linked to its doctor profile. Returns how many accounts there are.
async fn staff_accounts(staff: &Staff, doctors: &[Doctor]) -> BookingResult<usize> {
    let admin = Email::parse(&format!("admin@{PATIENT_EMAIL_DOMAIN}"))?;
    staff
        .grant(&Identifier::Email(admin), Role::Admin, None)
        .await?;
    for (index, doctor) in doctors.iter().enumerate() {
        let email = Email::parse(&format!("doctor{:02}@{PATIENT_EMAIL_DOMAIN}", index + 1))?;
        staff
            .grant(&Identifier::Email(email), Role::Doctor, Some(doctor.id))
            .await?;
    }
    Ok(doctors.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seeder can run inside a spawned task.
    #[allow(dead_code)]
    fn seeding_is_send(
        clinic: &dyn ClinicRepository,
        identities: &dyn IdentityRepository,
        bookings: &BookingService,
        staff: &Staff,
    ) {
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&seed_demo_clinic(clinic, identities, bookings, staff));
    }
}
