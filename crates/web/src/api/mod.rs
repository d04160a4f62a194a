//! JSON API v1: routes and the OpenAPI document generated from the handlers.

pub mod admin;
pub mod appointments;
pub mod auth;
pub mod calendar;
pub mod catalogue;
pub mod contact;
pub mod contract;
pub mod desk;
pub mod doctor;
pub mod google;
pub mod health;
pub mod holds;
pub mod outbox;
pub mod privacy;
pub mod profile;
pub mod records;
pub mod slots;
pub mod waitlist;

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::shell::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "MediBook API",
        version = "1",
        description = "Doctor-appointment booking: find a doctor, see live slots, hold one for five \
                       minutes, confirm, reschedule or cancel. Errors are RFC 9457 problem \
                       documents with a stable `code`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Sign-in with one-time codes"),
        (name = "catalogue", description = "Specialties and doctors"),
        (name = "booking", description = "Slots, holds and appointments"),
        (name = "operations", description = "Health probes"),
        (name = "doctor", description = "A doctor's schedule, time off, agenda, visit outcomes, patient records and visit notes"),
        (name = "desk", description = "The front desk: patients who phone, the clinic's day, check-in"),
        (name = "admin", description = "Specialties, doctor profiles, roles, inbox, audit trail and outbox"),
        (name = "contact", description = "The contact form"),
        (name = "waitlist", description = "Waiting for a slot, and the offers made when one frees"),
        (name = "calendar", description = "iCalendar files of appointments and private calendar feeds"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// All API routes with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::request_code))
        .routes(routes!(auth::verify))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(profile::me, profile::update_me, privacy::erase))
        .routes(routes!(privacy::export))
        .routes(routes!(google::connection))
        .routes(routes!(catalogue::specialties))
        .routes(routes!(catalogue::doctors))
        .routes(routes!(catalogue::doctor))
        .routes(routes!(slots::list))
        .routes(routes!(holds::create))
        .routes(routes!(holds::get, holds::release))
        .routes(routes!(appointments::confirm, appointments::list))
        .routes(routes!(appointments::get))
        .routes(routes!(appointments::cancel))
        .routes(routes!(appointments::reschedule))
        .routes(routes!(calendar::appointment_ics))
        .routes(routes!(calendar::my_feeds, calendar::revoke_feed))
        .routes(routes!(waitlist::join, waitlist::list))
        .routes(routes!(waitlist::get, waitlist::leave))
        .routes(routes!(waitlist::decline))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(contact::send))
        .routes(routes!(doctor::schedule, doctor::set_schedule))
        .routes(routes!(doctor::time_off, doctor::add_time_off))
        .routes(routes!(doctor::remove_time_off))
        .routes(routes!(doctor::agenda))
        .routes(routes!(doctor::complete))
        .routes(routes!(doctor::no_show))
        .routes(routes!(records::patient))
        .routes(routes!(records::notes, records::add_note))
        .routes(routes!(desk::find_patients, desk::register_patient))
        .routes(routes!(desk::patient_appointments))
        .routes(routes!(desk::day))
        .routes(routes!(desk::arrived))
        .routes(routes!(admin::add_specialty))
        .routes(routes!(admin::rename_specialty))
        .routes(routes!(admin::add_doctor))
        .routes(routes!(admin::update_doctor))
        .routes(routes!(admin::users))
        .routes(routes!(admin::set_role))
        .routes(routes!(admin::contact_messages))
        .routes(routes!(admin::reply_to_contact))
        .routes(routes!(admin::set_contact_handled))
        .routes(routes!(admin::audit))
        .routes(routes!(outbox::outbox))
}
