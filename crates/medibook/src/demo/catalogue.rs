//! The demo clinic's catalogue as plain data: its specialties with the reasons patients give,
//! its doctors with their hours, breaks, booking rules and load, and their time off.

use jiff::civil::Weekday::{self, Friday, Monday, Saturday, Thursday, Tuesday, Wednesday};
use medibook_core::schedule::BookingRules;

/// The clinic's own zone; most doctors work in it.
const BERLIN: &str = "Europe/Berlin";

const MON_TO_FRI: &[Weekday] = &[Monday, Tuesday, Wednesday, Thursday, Friday];
const MON_TO_THU: &[Weekday] = &[Monday, Tuesday, Wednesday, Thursday];
const TUE_TO_SAT: &[Weekday] = &[Tuesday, Wednesday, Thursday, Friday, Saturday];
const WED_TO_FRI: &[Weekday] = &[Wednesday, Thursday, Friday];
const MON_WED_FRI: &[Weekday] = &[Monday, Wednesday, Friday];
const MON_TUE_THU: &[Weekday] = &[Monday, Tuesday, Thursday];
const MON_WED: &[Weekday] = &[Monday, Wednesday];
const TUE_THU: &[Weekday] = &[Tuesday, Thursday];

/// A specialty of the demo clinic, with reasons its patients typically give.
pub(super) struct DemoSpecialty {
    pub(super) name: &'static str,
    /// Words patients use for it, which the search matches (comma-separated).
    pub(super) keywords: &'static str,
    pub(super) reasons: &'static [&'static str],
}

pub(super) const SPECIALTIES: &[DemoSpecialty] = &[
    DemoSpecialty {
        name: "General Practice",
        keywords: "check-up, fever, cold, flu, cough, sore throat, vaccination, blood test, tired, back pain",
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
        keywords: "heart, chest pain, palpitations, blood pressure, hypertension, ecg, arrhythmia, shortness of breath",
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
        keywords: "skin, rash, mole, acne, eczema, itching, psoriasis, hair, nails",
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
        keywords: "child, children, baby, infant, kids, vaccination, growth",
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
        keywords: "bone, joint, knee, hip, shoulder, back, spine, fracture, sports injury",
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
        keywords: "women, pregnancy, period, menstruation, contraception, menopause, pap smear",
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
        keywords: "headache, migraine, dizziness, numbness, seizure, epilepsy, memory, nerves",
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
        keywords: "eye, eyes, vision, sight, glasses, contact lenses, cataract, glaucoma",
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
        keywords: "anxiety, depression, stress, sleep, insomnia, mood, panic, mental health",
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
pub(super) struct Shift {
    pub(super) days: &'static [Weekday],
    pub(super) from: (i8, i8),
    pub(super) to: (i8, i8),
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
pub(super) enum Load {
    /// Every slot of the next working days is booked.
    FullyBooked,
    /// About one in `one_in` slots of the coming week is booked.
    Scattered { one_in: u32 },
    /// No appointments.
    Open,
}

/// A doctor of the demo clinic.
pub(super) struct DemoDoctor {
    pub(super) name: &'static str,
    pub(super) specialty: &'static str,
    pub(super) qualification: &'static str,
    pub(super) years_experience: u16,
    pub(super) bio: &'static str,
    pub(super) fee_minor: i64,
    pub(super) time_zone: &'static str,
    pub(super) hours: &'static [Shift],
    pub(super) breaks: &'static [Shift],
    pub(super) rules: BookingRules,
    pub(super) load: Load,
}

pub(super) const DOCTORS: &[DemoDoctor] = &[
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
pub(super) struct DemoTimeOff {
    pub(super) doctor: &'static str,
    /// 1 for next week's Monday, 2 for the one after, and so on.
    pub(super) weeks_ahead: i32,
    pub(super) days: i64,
    pub(super) reason: &'static str,
}

pub(super) const TIME_OFF: &[DemoTimeOff] = &[
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

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use medibook_core::search;

    use super::*;

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
}
