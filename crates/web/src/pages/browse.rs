//! Finding a doctor: the home page (search box, specialty grid, every doctor with their next
//! free slot), the search results page that serves the search box without JavaScript, and a
//! specialty's doctors.
//!
//! With JavaScript, `assets/search.js` shows results while the person types, from
//! `GET /api/v1/doctors?q=`; the cards it draws match [`DoctorCard`]'s markup
//! (`templates/partials/doctor_card.html`).

use std::collections::HashMap;

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use medibook_core::BookingError;
use medibook_core::booking_service::SlotView;
use medibook_core::catalogue::MAX_QUERY_CHARS;
use medibook_core::clinic::{Doctor, SpecialtySummary};
use medibook_core::ids::{DoctorId, SpecialtyId};
use uuid::Uuid;

use crate::pages::error::{PageError, PageResult};
use crate::pages::format;
use crate::pages::{Layout, Section, Viewer};
use crate::shell::AppState;

/// A doctor as the lists show them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DoctorCard {
    /// Their profile page.
    pub href: String,
    /// Full name.
    pub name: String,
    /// Initials, for the picture placeholder.
    pub initials: String,
    /// Picture, if any.
    pub photo_url: Option<String>,
    /// Specialty name.
    pub specialty: String,
    /// Degrees and titles.
    pub qualification: String,
    /// "18 years' experience".
    pub experience: String,
    /// "€65.00".
    pub fee: String,
    /// The next free slot, if any within four weeks.
    pub next_free: Option<NextFree>,
}

/// A doctor's next free slot, as a link to the week it is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextFree {
    /// "Tue 3 Mar, 09:30".
    pub label: String,
    /// RFC 3339 start, for `<time datetime>`.
    pub datetime: String,
    /// The doctor's page at the week of the slot.
    pub href: String,
    /// The IANA zone the label is written in.
    pub zone: String,
}

impl DoctorCard {
    /// The card of `doctor`, whose specialty is named in `specialty_names`.
    pub fn new(
        doctor: &Doctor,
        specialty_names: &HashMap<SpecialtyId, String>,
        next: Option<&SlotView>,
    ) -> Self {
        let href = doctor_href(doctor.id);
        let tz = doctor.time_zone.tz();
        let next_free = next.map(|slot| NextFree {
            label: format::short_moment(slot.start, tz),
            datetime: slot.start.to_string(),
            href: format!("{href}?week={}", tz.to_datetime(slot.start).date()),
            zone: doctor.time_zone.name().to_owned(),
        });
        Self {
            name: doctor.name.clone(),
            initials: format::initials(&doctor.name),
            photo_url: doctor.photo_url.clone(),
            specialty: specialty_names
                .get(&doctor.specialty_id)
                .cloned()
                .unwrap_or_default(),
            qualification: doctor.qualification.clone(),
            experience: experience(doctor.years_experience),
            fee: format::fee(&doctor.fee),
            next_free,
            href,
        }
    }
}

/// "1 year's experience", "18 years' experience".
pub fn experience(years: u16) -> String {
    if years == 1 {
        "1 year's experience".to_owned()
    } else {
        format!("{years} years' experience")
    }
}

/// The profile page of a doctor.
pub fn doctor_href(id: DoctorId) -> String {
    format!("/doctors/{id}")
}

/// Specialty names by id.
pub fn specialty_names(specialties: &[SpecialtySummary]) -> HashMap<SpecialtyId, String> {
    specialties
        .iter()
        .map(|s| (s.specialty.id, s.specialty.name.clone()))
        .collect()
}

/// The cards of `doctors`, with every next free slot found in one batch.
async fn cards(
    state: &AppState,
    doctors: &[Doctor],
    specialties: &[SpecialtySummary],
) -> PageResult<Vec<DoctorCard>> {
    let next = state.bookings.next_free_slots(doctors).await?;
    let names = specialty_names(specialties);
    Ok(doctors
        .iter()
        .map(|doctor| DoctorCard::new(doctor, &names, next.get(&doctor.id)))
        .collect())
}

/// A specialty tile of the home page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpecialtyTile {
    /// Its page.
    pub href: String,
    /// Its name.
    pub name: String,
    /// "3 doctors".
    pub doctors: String,
}

impl From<&SpecialtySummary> for SpecialtyTile {
    fn from(summary: &SpecialtySummary) -> Self {
        Self {
            href: format!("/specialties/{}", summary.specialty.id),
            name: summary.specialty.name.clone(),
            doctors: format::count_of(summary.doctor_count, "doctor"),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    specialties: Vec<SpecialtyTile>,
    doctors: Vec<DoctorCard>,
    query: String,
}

/// `GET /`.
pub async fn home(State(state): State<AppState>, viewer: Viewer, uri: Uri) -> PageResult<Response> {
    let specialties = state.catalogue.specialties().await?;
    let doctors = state.catalogue.search(None, None).await?;
    let cards = cards(&state, &doctors, &specialties).await?;
    let page = HomePage {
        layout: Layout::new(&viewer, "Find a doctor", Section::FindDoctor, &uri)
            .with_script("search.js"),
        specialties: specialties.iter().map(SpecialtyTile::from).collect(),
        doctors: cards,
        query: String::new(),
    };
    Ok(page.into_response())
}

/// The first value of the query parameter `name` (form-decoded), if present.
pub fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

#[derive(Template, WebTemplate)]
#[template(path = "search.html")]
struct SearchPage {
    layout: Layout,
    query: String,
    /// "3 doctors found for “cardiolgy”", or why there are none.
    summary: String,
    /// A problem with the query, shown next to the search box.
    error: Option<String>,
    doctors: Vec<DoctorCard>,
}

/// `GET /search?q=`: the search box's results without JavaScript.
pub async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    let query = query_param(raw.as_deref(), "q").unwrap_or_default();
    let trimmed = query.trim();
    let title = if trimmed.is_empty() {
        "Search doctors".to_owned()
    } else {
        format!("Search results for “{trimmed}”")
    };
    let layout = Layout::new(&viewer, title, Section::FindDoctor, &uri).with_script("search.js");
    if trimmed.chars().count() > MAX_QUERY_CHARS {
        let page = SearchPage {
            layout,
            query,
            summary: String::new(),
            error: Some(format!(
                "Search for at most {MAX_QUERY_CHARS} characters: a name or a specialty."
            )),
            doctors: Vec::new(),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response());
    }
    let found = if trimmed.is_empty() {
        state.catalogue.search(None, None).await?
    } else {
        state.catalogue.search(Some(trimmed), None).await?
    };
    let specialties = state.catalogue.specialties().await?;
    let doctors = cards(&state, &found, &specialties).await?;
    let summary = match (trimmed.is_empty(), doctors.len()) {
        (true, _) => format!("All {}", format::count_of(count(&doctors), "doctor")),
        (false, 0) => format!(
            "No doctors found for “{trimmed}”. Check the spelling, or search for a specialty \
             such as “cardiology”."
        ),
        (false, _) => format!(
            "{} found for “{trimmed}”",
            format::count_of(count(&doctors), "doctor")
        ),
    };
    let page = SearchPage {
        layout,
        query,
        summary,
        error: None,
        doctors,
    };
    Ok(page.into_response())
}

fn count<T>(items: &[T]) -> i64 {
    i64::try_from(items.len()).unwrap_or(i64::MAX)
}

#[derive(Template, WebTemplate)]
#[template(path = "specialty.html")]
struct SpecialtyPage {
    layout: Layout,
    name: String,
    summary: String,
    doctors: Vec<DoctorCard>,
}

/// Parses a page path's id; anything else is a missing page, not a malformed request.
pub fn page_id(raw: &str) -> PageResult<Uuid> {
    raw.parse::<Uuid>().map_err(|_| PageError::not_found())
}

/// `GET /specialties/{id}`: the specialty's doctors with their next free slot.
pub async fn specialty(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let id = SpecialtyId::from_uuid(page_id(&id)?);
    let specialty = state
        .catalogue
        .specialty(id)
        .await
        .map_err(|error| match error {
            BookingError::NotFound(_) => PageError::new(
                StatusCode::NOT_FOUND,
                "Specialty not found",
                "We could not find that specialty. Choose one from the home page.",
            ),
            other => other.into(),
        })?;
    let doctors = state.catalogue.search(None, Some(id)).await?;
    let specialties = state.catalogue.specialties().await?;
    let cards = cards(&state, &doctors, &specialties).await?;
    let summary = if cards.is_empty() {
        "No doctors practise this specialty at the clinic yet.".to_owned()
    } else {
        format::count_of(count(&cards), "doctor")
    };
    let page = SpecialtyPage {
        layout: Layout::new(&viewer, specialty.name.clone(), Section::FindDoctor, &uri),
        name: specialty.name,
        summary,
        doctors: cards,
    };
    Ok(page.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experience_reads_naturally() {
        assert_eq!(experience(1), "1 year's experience");
        assert_eq!(experience(18), "18 years' experience");
    }

    #[test]
    fn query_parameters_are_decoded_and_the_first_wins() {
        assert_eq!(
            query_param(Some("q=cardi+olgy&q=x"), "q").as_deref(),
            Some("cardi olgy")
        );
        assert_eq!(
            query_param(Some("next=%2Fa%3Fb"), "next").as_deref(),
            Some("/a?b")
        );
        assert_eq!(query_param(None, "q"), None);
    }

    #[test]
    fn malformed_ids_are_missing_pages() {
        assert_eq!(
            page_id("not-a-uuid").unwrap_err().status(),
            StatusCode::NOT_FOUND
        );
    }
}
