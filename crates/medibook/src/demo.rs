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

use jiff::Timestamp;
use jiff::ToSpan;
use jiff::civil::Weekday::{self, Friday, Monday, Saturday, Thursday, Tuesday, Wednesday};
use jiff::civil::{Date, Time};
use medibook_core::audit::Actor;
use medibook_core::booking::{Reason, SlotStatus};
use medibook_core::booking_service::BookingService;
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::identity::{Email, Identifier, Role};
use medibook_core::ids::{DoctorId, SpecialtyId, TimeOffId, UserId};
use medibook_core::ports::{ClinicRepository, IdentityRepository};
use medibook_core::schedule::{BookingRules, TimeOff, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::slots::day_bounds;
use medibook_core::staff::Staff;
use medibook_core::{BookingError, BookingResult};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

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

/// Currency of every demo fee.
const CURRENCY: &str = "EUR";

/// The clinic's own zone; most doctors work in it.
const BERLIN: &str = "Europe/Berlin";

/// Demo patients sign in with `patientNN@` this domain (a reserved `.test` name, never mailed),
/// the demo doctors with `doctorNN@` (in the order of `DOCTORS`) and the clinic's administrator
/// with `admin@`.
const PATIENT_EMAIL_DOMAIN: &str = "demo.medibook.test";

/// Patients created up front; more are added when all of them reach the appointment limit.
const INITIAL_PATIENTS: usize = 12;

/// How many working days of a fully booked doctor are filled.
const FULLY_BOOKED_DAYS: usize = 3;

/// How far ahead a fully booked doctor's working days are looked for.
const FULLY_BOOKED_LOOKAHEAD_DAYS: u16 = 14;

/// How many days, from today, scattered appointments are spread over.
const SCATTER_DAYS: u16 = 7;

/// Seed of the generator that scatters appointments and picks reasons.
const SCATTER_SEED: u64 = 0x4d45_4449_424f_4f4b;

/// Reason used if a specialty lists none.
const FALLBACK_REASON: &str = "Consultation";

const MON_TO_FRI: &[Weekday] = &[Monday, Tuesday, Wednesday, Thursday, Friday];
const MON_TO_THU: &[Weekday] = &[Monday, Tuesday, Wednesday, Thursday];
const TUE_TO_SAT: &[Weekday] = &[Tuesday, Wednesday, Thursday, Friday, Saturday];
const WED_TO_FRI: &[Weekday] = &[Wednesday, Thursday, Friday];
const MON_WED_FRI: &[Weekday] = &[Monday, Wednesday, Friday];
const MON_TUE_THU: &[Weekday] = &[Monday, Tuesday, Thursday];
const MON_WED: &[Weekday] = &[Monday, Wednesday];
const TUE_THU: &[Weekday] = &[Tuesday, Thursday];

/// A specialty of the demo clinic, with reasons its patients typically give.
struct DemoSpecialty {
    name: &'static str,
    reasons: &'static [&'static str],
}

const SPECIALTIES: &[DemoSpecialty] = &[
    DemoSpecialty {
        name: "General Practice",
        reasons: &[
            "Annual check-up",
            "Persistent cough",
            "Fever and sore throat",
            "Blood pressure follow-up",
            "Flu vaccination",
            "Discuss blood test results",
            "Back pain after gardening",
        ],
    },
    DemoSpecialty {
        name: "Cardiology",
        reasons: &[
            "Palpitations in the evening",
            "Chest tightness when climbing stairs",
            "ECG follow-up",
            "High blood pressure despite medication",
            "Check-up six months after stent",
        ],
    },
    DemoSpecialty {
        name: "Dermatology",
        reasons: &[
            "Mole check",
            "Eczema flare-up",
            "Acne treatment",
            "Itchy rash on both arms",
            "Skin cancer screening",
        ],
    },
    DemoSpecialty {
        name: "Pediatrics",
        reasons: &[
            "Well-child visit",
            "Ear pain and fever",
            "Vaccination",
            "Cough at night for two weeks",
            "Rash after trying a new food",
        ],
    },
    DemoSpecialty {
        name: "Orthopedics",
        reasons: &[
            "Knee pain after running",
            "Lower back pain",
            "Stiff shoulder",
            "Sprained ankle",
            "Follow-up after wrist fracture",
        ],
    },
    DemoSpecialty {
        name: "Gynecology",
        reasons: &[
            "Annual check-up",
            "Pregnancy check-up",
            "Contraception advice",
            "Irregular cycle",
            "Cervical screening",
        ],
    },
    DemoSpecialty {
        name: "Neurology",
        reasons: &[
            "Recurring migraines",
            "Numbness in the fingers",
            "Dizzy spells",
            "Follow-up after MRI",
            "Tremor in the right hand",
        ],
    },
    DemoSpecialty {
        name: "Ophthalmology",
        reasons: &[
            "Eye test for new glasses",
            "Red, itchy eyes",
            "Blurred vision when reading",
            "Glaucoma check",
            "Floaters in the left eye",
        ],
    },
    DemoSpecialty {
        name: "Psychiatry",
        reasons: &[
            "Initial consultation",
            "Anxiety and trouble sleeping",
            "Medication review",
            "Low mood for several weeks",
            "Follow-up session",
        ],
    },
];

/// Working hours (or a break) from `from` to `to`, as (hour, minute), on each of `days`.
struct Shift {
    days: &'static [Weekday],
    from: (i8, i8),
    to: (i8, i8),
}

const fn shift(days: &'static [Weekday], from: (i8, i8), to: (i8, i8)) -> Shift {
    Shift { days, from, to }
}

/// Booking rules with the demo's defaults (no buffers, no notice, 60 days ahead, no daily
/// cap), for doctors' entries to adjust.
const fn slots_of(minutes: u16) -> BookingRules {
    BookingRules {
        slot_minutes: minutes,
        buffer_before_minutes: 0,
        buffer_after_minutes: 0,
        min_notice_minutes: 0,
        horizon_days: 60,
        max_per_day: None,
    }
}

/// How busy a doctor is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Load {
    /// Every slot of the next working days is booked.
    FullyBooked,
    /// About one in `one_in` slots of the coming week is booked.
    Scattered { one_in: u32 },
    /// No appointments.
    Open,
}

/// A doctor of the demo clinic.
struct DemoDoctor {
    name: &'static str,
    specialty: &'static str,
    qualification: &'static str,
    years_experience: u16,
    bio: &'static str,
    fee_minor: i64,
    time_zone: &'static str,
    hours: &'static [Shift],
    breaks: &'static [Shift],
    rules: BookingRules,
    load: Load,
}

const DOCTORS: &[DemoDoctor] = &[
    DemoDoctor {
        name: "Dr. Anna Schmidt",
        specialty: "General Practice",
        qualification: "MD, Specialist in General Medicine",
        years_experience: 18,
        bio: "Family doctor for all ages with a focus on prevention and chronic conditions. \
              Speaks German and English.",
        fee_minor: 6500,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_FRI, (8, 0), (18, 0))],
        breaks: &[shift(MON_TO_FRI, (12, 30), (13, 30))],
        rules: BookingRules {
            min_notice_minutes: 60,
            ..slots_of(15)
        },
        load: Load::Scattered { one_in: 5 },
    },
    DemoDoctor {
        name: "Dr. Mehmet Yılmaz",
        specialty: "General Practice",
        qualification: "MD",
        years_experience: 9,
        bio: "Runs the evening clinic for patients who cannot come during working hours. \
              Speaks German, Turkish and English.",
        fee_minor: 6000,
        time_zone: BERLIN,
        hours: &[shift(MON_TUE_THU, (14, 0), (20, 0))],
        breaks: &[],
        rules: BookingRules {
            min_notice_minutes: 30,
            horizon_days: 30,
            max_per_day: Some(30),
            ..slots_of(10)
        },
        load: Load::Scattered { one_in: 3 },
    },
    DemoDoctor {
        name: "Dr. Oliver Bennett",
        specialty: "General Practice",
        qualification: "MBBS, MRCGP",
        years_experience: 12,
        bio: "Offers video consultations in English from London, including Saturday mornings.",
        fee_minor: 5500,
        time_zone: "Europe/London",
        hours: &[shift(TUE_TO_SAT, (8, 30), (14, 30))],
        breaks: &[],
        rules: BookingRules {
            min_notice_minutes: 15,
            horizon_days: 30,
            ..slots_of(20)
        },
        load: Load::Scattered { one_in: 3 },
    },
    DemoDoctor {
        name: "Dr. Henrik Lindqvist",
        specialty: "Cardiology",
        qualification: "MD, PhD, FESC",
        years_experience: 22,
        bio: "Cardiologist specialising in heart rhythm disorders. Each visit includes an ECG, \
              so allow a few extra minutes.",
        fee_minor: 14000,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_THU, (8, 0), (16, 0))],
        breaks: &[shift(MON_TO_THU, (12, 0), (13, 0))],
        rules: BookingRules {
            buffer_after_minutes: 15,
            min_notice_minutes: 120,
            horizon_days: 90,
            max_per_day: Some(6),
            ..slots_of(45)
        },
        load: Load::Scattered { one_in: 2 },
    },
    DemoDoctor {
        name: "Dr. Priya Raman",
        specialty: "Cardiology",
        qualification: "MD, DM (Cardiology)",
        years_experience: 11,
        bio: "Treats high blood pressure and heart failure, and follows up patients after \
              cardiac procedures.",
        fee_minor: 12000,
        time_zone: BERLIN,
        hours: &[shift(WED_TO_FRI, (9, 0), (17, 0))],
        breaks: &[shift(WED_TO_FRI, (13, 0), (14, 0))],
        rules: BookingRules {
            buffer_before_minutes: 10,
            min_notice_minutes: 60,
            ..slots_of(30)
        },
        load: Load::Scattered { one_in: 3 },
    },
    DemoDoctor {
        name: "Dr. Amélie Durand",
        specialty: "Dermatology",
        qualification: "MD, Dermatology and Venereology",
        years_experience: 15,
        bio: "Known for careful mole checks and skin cancer screening; usually booked out days \
              ahead. Speaks French, German and English.",
        fee_minor: 9500,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_THU, (9, 0), (15, 0))],
        breaks: &[shift(MON_TO_THU, (12, 0), (12, 30))],
        rules: BookingRules {
            min_notice_minutes: 120,
            horizon_days: 90,
            ..slots_of(20)
        },
        load: Load::FullyBooked,
    },
    DemoDoctor {
        name: "Dr. Sofia Rossi",
        specialty: "Dermatology",
        qualification: "MD, Specialist in Dermatology",
        years_experience: 7,
        bio: "Treats acne, eczema and psoriasis in teenagers and adults.",
        fee_minor: 8500,
        time_zone: BERLIN,
        hours: &[
            shift(&[Tuesday], (10, 0), (18, 0)),
            shift(&[Friday], (8, 0), (13, 0)),
        ],
        breaks: &[shift(&[Tuesday], (13, 0), (14, 0))],
        rules: BookingRules {
            buffer_after_minutes: 5,
            min_notice_minutes: 60,
            ..slots_of(15)
        },
        load: Load::Open,
    },
    DemoDoctor {
        name: "Dr. Élodie Fournier",
        specialty: "Pediatrics",
        qualification: "MD, Specialist in Paediatrics",
        years_experience: 16,
        bio: "Paediatrician for newborns to teenagers. Open consultation hours in the morning \
              and late afternoon; same-day appointments for sick children.",
        fee_minor: 7000,
        time_zone: BERLIN,
        hours: &[
            shift(MON_TO_FRI, (8, 0), (12, 0)),
            shift(MON_TO_FRI, (15, 0), (18, 0)),
        ],
        breaks: &[],
        rules: BookingRules {
            horizon_days: 30,
            ..slots_of(15)
        },
        load: Load::Scattered { one_in: 4 },
    },
    DemoDoctor {
        name: "Dr. Lukas Novák",
        specialty: "Pediatrics",
        qualification: "MUDr., Paediatric Allergology",
        years_experience: 10,
        bio: "Paediatrician with a special interest in allergies and asthma in children.",
        fee_minor: 7500,
        time_zone: BERLIN,
        hours: &[shift(MON_WED_FRI, (9, 0), (17, 0))],
        breaks: &[shift(MON_WED_FRI, (12, 0), (13, 0))],
        rules: BookingRules {
            min_notice_minutes: 30,
            horizon_days: 45,
            max_per_day: Some(16),
            ..slots_of(20)
        },
        load: Load::Scattered { one_in: 5 },
    },
    DemoDoctor {
        name: "Dr. Jörg Müller",
        specialty: "Orthopedics",
        qualification: "Dr. med., Orthopaedics and Trauma Surgery",
        years_experience: 25,
        bio: "Senior orthopaedic surgeon for knees, hips and spine. Morning consultations only; \
              his agenda fills up quickly.",
        fee_minor: 11000,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_FRI, (7, 30), (13, 0))],
        breaks: &[],
        rules: BookingRules {
            buffer_after_minutes: 5,
            min_notice_minutes: 120,
            horizon_days: 45,
            ..slots_of(30)
        },
        load: Load::FullyBooked,
    },
    DemoDoctor {
        name: "Dr. Kwame Mensah",
        specialty: "Orthopedics",
        qualification: "MD, Sports Medicine",
        years_experience: 8,
        bio: "Sports physician for running, football and climbing injuries. Late afternoons and \
              Saturday mornings.",
        fee_minor: 9000,
        time_zone: BERLIN,
        hours: &[
            shift(MON_WED, (14, 0), (19, 0)),
            shift(&[Saturday], (9, 0), (13, 0)),
        ],
        breaks: &[],
        rules: BookingRules {
            min_notice_minutes: 60,
            horizon_days: 30,
            ..slots_of(20)
        },
        load: Load::Scattered { one_in: 3 },
    },
    DemoDoctor {
        name: "Dr. María José García",
        specialty: "Gynecology",
        qualification: "MD, Obstetrics and Gynaecology",
        years_experience: 19,
        bio: "Gynaecologist and obstetrician accompanying patients through pregnancy and \
              beyond. Speaks Spanish, German and English.",
        fee_minor: 10000,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_THU, (9, 0), (17, 0))],
        breaks: &[shift(MON_TO_THU, (13, 0), (14, 0))],
        rules: BookingRules {
            buffer_before_minutes: 5,
            min_notice_minutes: 60,
            horizon_days: 90,
            max_per_day: Some(10),
            ..slots_of(30)
        },
        load: Load::Scattered { one_in: 4 },
    },
    DemoDoctor {
        name: "Dr. Małgorzata Wiśniewska",
        specialty: "Gynecology",
        qualification: "MD, PhD, Reproductive Medicine",
        years_experience: 13,
        bio: "Fertility specialist offering afternoon and early evening consultations.",
        fee_minor: 11000,
        time_zone: BERLIN,
        hours: &[shift(TUE_THU, (12, 0), (19, 0))],
        breaks: &[],
        rules: BookingRules {
            min_notice_minutes: 120,
            ..slots_of(30)
        },
        load: Load::Open,
    },
    DemoDoctor {
        name: "Dr. Søren Holm",
        specialty: "Neurology",
        qualification: "MD, PhD, Neurology",
        years_experience: 21,
        bio: "Neurologist treating migraine, epilepsy and nerve disorders. Long first visits \
              with time for questions.",
        fee_minor: 13000,
        time_zone: BERLIN,
        hours: &[shift(MON_TUE_THU, (9, 0), (16, 0))],
        breaks: &[shift(MON_TUE_THU, (12, 30), (13, 0))],
        rules: BookingRules {
            buffer_after_minutes: 15,
            min_notice_minutes: 120,
            horizon_days: 90,
            max_per_day: Some(6),
            ..slots_of(45)
        },
        load: Load::Scattered { one_in: 2 },
    },
    DemoDoctor {
        name: "Dr. Hiroshi Tanaka",
        specialty: "Ophthalmology",
        qualification: "MD, PhD, FEBO",
        years_experience: 17,
        bio: "Eye specialist for vision tests, glaucoma and cataract follow-up. Short, punctual \
              appointments.",
        fee_minor: 9000,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_FRI, (8, 0), (14, 0))],
        breaks: &[],
        rules: BookingRules {
            buffer_after_minutes: 5,
            min_notice_minutes: 60,
            max_per_day: Some(20),
            ..slots_of(10)
        },
        load: Load::Scattered { one_in: 5 },
    },
    DemoDoctor {
        name: "Dr. Fatima Haddad",
        specialty: "Psychiatry",
        qualification: "MD, Psychiatry and Psychotherapy",
        years_experience: 14,
        bio: "Psychiatrist and psychotherapist for anxiety, depression and sleep problems. \
              Speaks Arabic, German and English.",
        fee_minor: 12000,
        time_zone: BERLIN,
        hours: &[shift(MON_TO_THU, (10, 0), (18, 0))],
        breaks: &[shift(MON_TO_THU, (13, 0), (14, 0))],
        rules: BookingRules {
            buffer_after_minutes: 15,
            min_notice_minutes: 120,
            max_per_day: Some(6),
            ..slots_of(45)
        },
        load: Load::Scattered { one_in: 3 },
    },
    DemoDoctor {
        name: "Dr. Emily Carter",
        specialty: "Psychiatry",
        qualification: "MD, Board Certified in Psychiatry",
        years_experience: 11,
        bio: "Video sessions from New York, which puts her hours in the European afternoon \
              and evening.",
        fee_minor: 13000,
        time_zone: "America/New_York",
        hours: &[shift(MON_TO_FRI, (9, 0), (17, 0))],
        breaks: &[shift(MON_TO_FRI, (12, 0), (13, 0))],
        rules: BookingRules {
            min_notice_minutes: 60,
            horizon_days: 30,
            ..slots_of(30)
        },
        load: Load::Scattered { one_in: 3 },
    },
];

/// A period off for one of the demo doctors, starting on a Monday.
struct DemoTimeOff {
    doctor: &'static str,
    /// 1 for next week's Monday, 2 for the one after, and so on.
    weeks_ahead: i32,
    days: i64,
    reason: &'static str,
}

const TIME_OFF: &[DemoTimeOff] = &[
    DemoTimeOff {
        doctor: "Dr. Henrik Lindqvist",
        weeks_ahead: 1,
        days: 3,
        reason: "European cardiology congress",
    },
    DemoTimeOff {
        doctor: "Dr. Élodie Fournier",
        weeks_ahead: 2,
        days: 1,
        reason: "Paediatric emergency training",
    },
    DemoTimeOff {
        doctor: "Dr. Sofia Rossi",
        weeks_ahead: 3,
        days: 12,
        reason: "Holiday",
    },
];

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

/// The demo specialties, with fresh ids, in the order of `SPECIALTIES`.
fn specialties() -> Vec<Specialty> {
    SPECIALTIES
        .iter()
        .map(|demo| Specialty {
            id: SpecialtyId::generate(),
            name: demo.name.to_owned(),
        })
        .collect()
}

/// The demo doctors, with fresh ids and validated schedules, in the order of `DOCTORS`.
fn doctors(specialties: &[Specialty]) -> BookingResult<Vec<Doctor>> {
    DOCTORS
        .iter()
        .map(|demo| {
            let specialty = specialties
                .iter()
                .find(|s| s.name == demo.specialty)
                .ok_or_else(|| {
                    BookingError::validation(format!(
                        "demo doctor {} has an unknown specialty {}",
                        demo.name, demo.specialty
                    ))
                })?;
            Ok(Doctor {
                id: DoctorId::generate(),
                name: demo.name.to_owned(),
                specialty_id: specialty.id,
                qualification: demo.qualification.to_owned(),
                years_experience: demo.years_experience,
                bio: demo.bio.to_owned(),
                fee: Fee::new(demo.fee_minor, CURRENCY)?,
                photo_url: None,
                time_zone: Zone::parse(demo.time_zone)?,
                schedule: WeeklySchedule {
                    hours: weekly_hours(demo.hours)?,
                    breaks: weekly_hours(demo.breaks)?,
                    rules: demo.rules,
                }
                .validate()?,
            })
        })
        .collect()
}

/// The shifts laid out over the week.
fn weekly_hours(shifts: &[Shift]) -> BookingResult<WeeklyHours> {
    let mut hours = WeeklyHours::default();
    for shift in shifts {
        let range = TimeRange::new(wall_clock(shift.from)?, wall_clock(shift.to)?)?;
        for &day in shift.days {
            hours.on_mut(day).push(range);
        }
    }
    Ok(hours)
}

fn wall_clock((hour, minute): (i8, i8)) -> BookingResult<Time> {
    Time::new(hour, minute, 0, 0).map_err(|error| {
        BookingError::validation(format!(
            "demo time {hour:02}:{minute:02} is invalid: {error}"
        ))
    })
}

/// The demo time off, placed in the weeks following `now` in each doctor's zone.
fn time_off(doctors: &[Doctor], now: Timestamp) -> BookingResult<Vec<TimeOff>> {
    TIME_OFF
        .iter()
        .map(|demo| {
            let doctor = doctors
                .iter()
                .find(|d| d.name == demo.doctor)
                .ok_or_else(|| {
                    BookingError::validation(format!(
                        "demo time off of unknown doctor {}",
                        demo.doctor
                    ))
                })?;
            let out_of_range = || BookingError::validation("demo time off is out of range");
            let tz = doctor.time_zone.tz();
            let first_day = tz
                .to_datetime(now)
                .date()
                .nth_weekday(demo.weeks_ahead, Monday)
                .map_err(|_| out_of_range())?;
            let first_day_back = first_day
                .checked_add(demo.days.days())
                .map_err(|_| out_of_range())?;
            let (start, _) = day_bounds(tz, first_day).ok_or_else(out_of_range)?;
            let (end, _) = day_bounds(tz, first_day_back).ok_or_else(out_of_range)?;
            Ok(TimeOff {
                id: TimeOffId::generate(),
                doctor_id: doctor.id,
                start,
                end,
                reason: demo.reason.to_owned(),
            })
        })
        .collect()
}

/// The reasons patients of a specialty give.
fn reasons_of(specialty: &str) -> &'static [&'static str] {
    SPECIALTIES
        .iter()
        .find(|s| s.name == specialty)
        .map_or(&[], |s| s.reasons)
}

/// Demo patients, created as needed and taken in turn, so that none goes over the policy's
/// limit of active appointments (and, since each hold is confirmed at once, none has more than
/// one hold).
struct PatientPool<'a> {
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
    async fn new(
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
    fn len(&self) -> usize {
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

/// What booking a doctor's slots needs besides the patients.
struct Visits<'a> {
    bookings: &'a BookingService,
    doctor_id: DoctorId,
    reasons: &'static [&'static str],
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
            .hold(&operator, patient_id, self.doctor_id, start)
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
async fn book_fully(
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
async fn book_some(
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use medibook_core::search;
    use medibook_core::slots::SlotGrid;

    use super::*;

    fn demo_doctors() -> BookingResult<Vec<Doctor>> {
        doctors(&specialties())
    }

    #[test]
    fn the_catalogue_is_large_and_every_schedule_is_valid() -> BookingResult<()> {
        let doctors = demo_doctors()?;
        assert!(SPECIALTIES.len() >= 7);
        assert!(doctors.len() >= 14);
        let names: HashSet<&str> = doctors.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(names.len(), doctors.len(), "doctor names repeat");
        Ok(())
    }

    #[test]
    fn every_specialty_has_a_doctor() -> BookingResult<()> {
        let specialties = specialties();
        let doctors = doctors(&specialties)?;
        for specialty in &specialties {
            assert!(
                doctors.iter().any(|d| d.specialty_id == specialty.id),
                "{} has no doctor",
                specialty.name
            );
        }
        Ok(())
    }

    #[test]
    fn every_doctor_offers_slots_in_a_week() -> BookingResult<()> {
        let monday = Date::new(2027, 3, 1).map_err(|e| BookingError::validation(e.to_string()))?;
        for doctor in demo_doctors()? {
            let grid = SlotGrid::new(&doctor.schedule, doctor.time_zone.tz(), &[]);
            assert!(
                !grid.for_days(monday, 7).is_empty(),
                "{} has no slots",
                doctor.name
            );
        }
        Ok(())
    }

    #[test]
    fn schedules_and_zones_vary() {
        let zones: HashSet<&str> = DOCTORS.iter().map(|d| d.time_zone).collect();
        let slot_lengths: HashSet<u16> = DOCTORS.iter().map(|d| d.rules.slot_minutes).collect();
        assert!(zones.len() >= 3);
        assert!(slot_lengths.len() >= 5);
        assert!(DOCTORS.iter().any(|d| d.rules.max_per_day.is_some()));
        assert!(DOCTORS.iter().any(|d| d.rules.buffer_after_minutes > 0));
        assert!(DOCTORS.iter().any(|d| !d.breaks.is_empty()));
        let fully_booked = DOCTORS
            .iter()
            .filter(|d| d.load == Load::FullyBooked)
            .count();
        assert!(fully_booked >= 2);
    }

    #[test]
    fn accented_names_are_found_without_accents() {
        for (query, name) in [
            ("jorg muller", "Dr. Jörg Müller"),
            ("amelie durand", "Dr. Amélie Durand"),
            ("soren", "Dr. Søren Holm"),
        ] {
            assert!(
                DOCTORS.iter().any(|d| d.name == name),
                "{name} is not a demo doctor"
            );
            assert!(
                search::score(&search::words(query), &search::words(name)).is_some(),
                "{query:?} does not find {name}"
            );
        }
    }

    #[test]
    fn time_off_starts_at_midnight_on_a_future_monday() -> BookingResult<()> {
        let doctors = demo_doctors()?;
        let now: Timestamp = "2027-03-03T10:00:00Z"
            .parse()
            .map_err(|e: jiff::Error| BookingError::validation(e.to_string()))?;
        let entries = time_off(&doctors, now)?;
        assert_eq!(entries.len(), TIME_OFF.len());
        for entry in entries {
            let doctor = doctors
                .iter()
                .find(|d| d.id == entry.doctor_id)
                .ok_or(BookingError::NotFound("doctor"))?;
            let start = doctor.time_zone.tz().to_datetime(entry.start);
            assert!(entry.start > now && entry.end > entry.start);
            assert_eq!(start.weekday(), Monday);
            assert_eq!(start.time(), Time::midnight());
        }
        Ok(())
    }

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
