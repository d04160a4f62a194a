//! Browsing the clinic: specialties, doctor search, doctor profiles.

use std::sync::Arc;

use crate::clinic::{Doctor, Specialty, SpecialtySummary};
use crate::error::{BookingError, BookingResult};
use crate::ids::{DoctorId, SpecialtyId};
use crate::ports::ClinicRepository;
use crate::search;

/// Read access to the catalogue, with search.
#[derive(Clone)]
pub struct Catalogue {
    clinic: Arc<dyn ClinicRepository>,
}

/// Longest accepted search query, in characters.
pub const MAX_QUERY_CHARS: usize = 100;

impl Catalogue {
    /// A catalogue over `clinic`.
    pub fn new(clinic: Arc<dyn ClinicRepository>) -> Self {
        Self { clinic }
    }

    /// All specialties with doctor counts.
    pub async fn specialties(&self) -> BookingResult<Vec<SpecialtySummary>> {
        self.clinic.specialties().await
    }

    /// One doctor, or `NotFound`.
    pub async fn doctor(&self, id: DoctorId) -> BookingResult<Doctor> {
        self.clinic
            .doctor(id)
            .await?
            .ok_or(BookingError::NotFound("doctor"))
    }

    /// One specialty, or `NotFound`.
    pub async fn specialty(&self, id: SpecialtyId) -> BookingResult<Specialty> {
        self.clinic
            .specialty(id)
            .await?
            .ok_or(BookingError::NotFound("specialty"))
    }

    /// Doctors matching a free-text query (typo-tolerant, name or specialty) and/or a
    /// specialty, best matches first. No query lists everyone by name.
    pub async fn search(
        &self,
        query: Option<&str>,
        specialty: Option<SpecialtyId>,
    ) -> BookingResult<Vec<Doctor>> {
        let query_words = match query {
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                return Err(BookingError::validation(format!(
                    "q must be at most {MAX_QUERY_CHARS} characters"
                )));
            }
            Some(q) => search::words(q),
            None => Vec::new(),
        };
        if let Some(id) = specialty {
            self.specialty(id).await?;
        }
        let specialties = self.clinic.specialties().await?;
        // A specialty is found by its name and by the words patients use for it.
        let specialty_words = |id: SpecialtyId| {
            specialties
                .iter()
                .find(|s| s.specialty.id == id)
                .map(|s| format!("{} {}", s.specialty.name, s.specialty.keywords.join(" ")))
                .unwrap_or_default()
        };
        let mut ranked: Vec<(u32, Doctor)> = self
            .clinic
            .doctors()
            .await?
            .into_iter()
            .filter(|doctor| specialty.is_none_or(|id| doctor.specialty_id == id))
            .filter_map(|doctor| {
                if query_words.is_empty() {
                    return Some((0, doctor));
                }
                let document = format!("{} {}", doctor.name, specialty_words(doctor.specialty_id));
                search::score(&query_words, &search::words(&document)).map(|s| (s, doctor))
            })
            .collect();
        // When some doctor matches every word exactly or as a prefix, near misses (a typo's
        // worth away, like "health" for "heart") are left out: they would only be noise.
        let sure = 3 * u32::try_from(query_words.len()).unwrap_or(u32::MAX / 3);
        if !query_words.is_empty() && ranked.iter().any(|(score, _)| *score >= sure) {
            ranked.retain(|(score, _)| *score >= sure);
        }
        ranked.sort_by(|(a_score, a), (b_score, b)| {
            b_score.cmp(a_score).then_with(|| a.name.cmp(&b.name))
        });
        Ok(ranked.into_iter().map(|(_, doctor)| doctor).collect())
    }
}
