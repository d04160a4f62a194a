//! Specialties and doctors.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use jiff::Timestamp;
use medibook_core::booking_service::SlotView;
use medibook_core::clinic::{Doctor, SpecialtySummary};
use medibook_core::ids::{DoctorId, SpecialtyId};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::shell::AppState;
use crate::shell::error::{ApiResult, Problem};
use crate::shell::extract::{ApiPath, ApiQuery};

/// A specialty with its number of doctors.
#[derive(Debug, Serialize, ToSchema)]
pub struct SpecialtyResponse {
    /// Identity.
    pub id: Uuid,
    /// Name, e.g. "Cardiology".
    pub name: String,
    /// Words patients use for it ("heart"), which the doctor search matches.
    pub keywords: Vec<String>,
    /// How many doctors practise it.
    pub doctor_count: i64,
}

/// A consultation fee.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeeResponse {
    /// Amount in minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// A slot's interval.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlotInterval {
    /// Start (RFC 3339).
    pub start: Timestamp,
    /// End (RFC 3339).
    pub end: Timestamp,
}

/// A doctor's public profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct DoctorResponse {
    /// Identity.
    pub id: Uuid,
    /// Full name.
    pub name: String,
    /// Specialty id.
    pub specialty_id: Uuid,
    /// Specialty name.
    pub specialty: String,
    /// Degrees and titles.
    pub qualification: String,
    /// Years in practice.
    pub years_experience: u16,
    /// About the doctor.
    pub bio: String,
    /// Price of a consultation.
    pub fee: FeeResponse,
    /// Picture, if any.
    pub photo_url: Option<String>,
    /// IANA zone of the doctor's hours.
    pub time_zone: String,
    /// Length of one appointment in minutes.
    pub slot_minutes: u16,
    /// The next free slot within four weeks, if any.
    pub next_free_slot: Option<SlotInterval>,
}

fn doctor_response(
    doctor: Doctor,
    specialty_names: &HashMap<SpecialtyId, String>,
    next: Option<&SlotView>,
) -> DoctorResponse {
    DoctorResponse {
        id: doctor.id.as_uuid(),
        specialty: specialty_names
            .get(&doctor.specialty_id)
            .cloned()
            .unwrap_or_default(),
        specialty_id: doctor.specialty_id.as_uuid(),
        name: doctor.name,
        qualification: doctor.qualification,
        years_experience: doctor.years_experience,
        bio: doctor.bio,
        fee: FeeResponse {
            amount_minor: doctor.fee.amount_minor,
            currency: doctor.fee.currency,
        },
        photo_url: doctor.photo_url,
        time_zone: doctor.time_zone.name().to_owned(),
        slot_minutes: doctor.schedule.rules.slot_minutes,
        next_free_slot: next.map(|slot| SlotInterval {
            start: slot.start,
            end: slot.end,
        }),
    }
}

fn names(specialties: &[SpecialtySummary]) -> HashMap<SpecialtyId, String> {
    specialties
        .iter()
        .map(|s| (s.specialty.id, s.specialty.name.clone()))
        .collect()
}

/// Lists specialties with doctor counts.
#[utoipa::path(get, path = "/api/v1/specialties", tag = "catalogue",
    responses((status = 200, body = [SpecialtyResponse])))]
pub async fn specialties(State(state): State<AppState>) -> ApiResult<Json<Vec<SpecialtyResponse>>> {
    let specialties = state.catalogue.specialties().await?;
    Ok(Json(
        specialties
            .into_iter()
            .map(|s| SpecialtyResponse {
                id: s.specialty.id.as_uuid(),
                name: s.specialty.name,
                keywords: s.specialty.keywords,
                doctor_count: s.doctor_count,
            })
            .collect(),
    ))
}

/// Doctor search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DoctorSearch {
    /// Free text: name or specialty, typos tolerated.
    pub q: Option<String>,
    /// Only doctors of this specialty.
    pub specialty: Option<Uuid>,
}

/// Searches doctors (typo-tolerant, by name or specialty), best matches first.
#[utoipa::path(get, path = "/api/v1/doctors", tag = "catalogue", params(DoctorSearch),
    responses(
        (status = 200, body = [DoctorResponse]),
        (status = 404, description = "Unknown specialty", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn doctors(
    State(state): State<AppState>,
    ApiQuery(search): ApiQuery<DoctorSearch>,
) -> ApiResult<Json<Vec<DoctorResponse>>> {
    let query = search.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let doctors = state
        .catalogue
        .search(query, search.specialty.map(SpecialtyId::from_uuid))
        .await?;
    let next = state.bookings.next_free_slots(&doctors).await?;
    let names = names(&state.catalogue.specialties().await?);
    Ok(Json(
        doctors
            .into_iter()
            .map(|d| {
                let next = next.get(&d.id).copied();
                doctor_response(d, &names, next.as_ref())
            })
            .collect(),
    ))
}

/// One doctor's profile with the next free slot.
#[utoipa::path(get, path = "/api/v1/doctors/{id}", tag = "catalogue",
    params(("id" = Uuid, Path, description = "Doctor id")),
    responses(
        (status = 200, body = DoctorResponse),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn doctor(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Json<DoctorResponse>> {
    let doctor = state.catalogue.doctor(DoctorId::from_uuid(id)).await?;
    let next = state
        .bookings
        .next_free_slots(std::slice::from_ref(&doctor))
        .await?;
    let names = names(&state.catalogue.specialties().await?);
    let next = next.get(&doctor.id).copied();
    Ok(Json(doctor_response(doctor, &names, next.as_ref())))
}
