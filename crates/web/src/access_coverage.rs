//! The access table against the router: every route of the JSON API has a row in
//! [`ROUTE_ACCESS`], and every row names a route that exists (the table decides who may call
//! what, so a route without a row would be admin-only by accident).

use std::collections::BTreeSet;

use crate::api;
use crate::shell::access::ROUTE_ACCESS;

/// Routes served outside the OpenAPI document (pages and the document itself).
const UNDOCUMENTED_ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/search"),
    ("GET", "/specialties/{id}"),
    ("GET", "/doctors/{id}"),
    ("GET", "/profile"),
    ("POST", "/profile"),
    ("GET", "/profile/delete"),
    ("POST", "/profile/delete"),
    ("POST", "/profile/google/connect"),
    ("GET", "/profile/google/callback"),
    ("POST", "/profile/google/disconnect"),
    ("POST", "/profile/calendar/reset"),
    ("GET", "/calendar/{file}"),
    ("GET", "/contact"),
    ("POST", "/contact"),
    ("GET", "/login"),
    ("POST", "/login"),
    ("POST", "/login/code"),
    ("GET", "/welcome"),
    ("POST", "/welcome"),
    ("POST", "/logout"),
    ("POST", "/book/hold"),
    ("GET", "/book/resume"),
    ("POST", "/book/confirm"),
    ("POST", "/book/release"),
    ("POST", "/book/waitlist"),
    ("GET", "/holds/{id}"),
    ("GET", "/appointments"),
    ("GET", "/appointments/{id}"),
    ("GET", "/appointments/{id}/calendar.ics"),
    ("GET", "/appointments/{id}/cancel"),
    ("POST", "/appointments/{id}/cancel"),
    ("GET", "/appointments/{id}/reschedule"),
    ("GET", "/waitlist"),
    ("POST", "/waitlist/{id}/leave"),
    ("POST", "/waitlist/offers/{id}/decline"),
    ("GET", "/doctor"),
    ("GET", "/doctor/appointments/{id}"),
    ("POST", "/doctor/appointments/{id}/notes"),
    ("POST", "/doctor/appointments/{id}/complete"),
    ("POST", "/doctor/appointments/{id}/no-show"),
    ("GET", "/doctor/hours"),
    ("POST", "/doctor/hours"),
    ("GET", "/doctor/time-off"),
    ("POST", "/doctor/time-off"),
    ("POST", "/doctor/time-off/{id}/remove"),
    ("GET", "/admin"),
    ("GET", "/admin/doctors"),
    ("GET", "/admin/doctors/new"),
    ("POST", "/admin/doctors/new"),
    ("GET", "/admin/doctors/{id}"),
    ("POST", "/admin/doctors/{id}"),
    ("GET", "/admin/specialties"),
    ("POST", "/admin/specialties"),
    ("POST", "/admin/specialties/{id}"),
    ("GET", "/admin/people"),
    ("POST", "/admin/people/{id}/role"),
    ("GET", "/admin/messages"),
    ("GET", "/desk/messages"),
    ("POST", "/desk/messages/{id}/reply"),
    ("POST", "/desk/messages/{id}/handled"),
    ("GET", "/admin/audit"),
    ("GET", "/admin/outbox"),
    ("GET", "/desk"),
    ("POST", "/desk/patients"),
    ("GET", "/desk/patients/{id}"),
    ("POST", "/desk/appointments/{id}/arrived"),
    ("GET", "/assets/{*path}"),
    ("GET", "/api/v1/openapi.json"),
    ("GET", "/api/v1/ws"),
    ("GET", "/metrics"),
    ("GET", "/fhir/r4/metadata"),
    ("GET", "/fhir/r4/Practitioner"),
    ("GET", "/fhir/r4/Practitioner/{id}"),
    ("GET", "/fhir/r4/PractitionerRole"),
    ("GET", "/fhir/r4/PractitionerRole/{id}"),
    ("GET", "/fhir/r4/HealthcareService"),
    ("GET", "/fhir/r4/HealthcareService/{id}"),
    ("GET", "/fhir/r4/Schedule"),
    ("GET", "/fhir/r4/Schedule/{id}"),
    ("GET", "/fhir/r4/Slot"),
    ("GET", "/fhir/r4/Slot/{id}"),
    ("GET", "/fhir/r4/Appointment"),
    ("POST", "/fhir/r4/Appointment"),
    ("GET", "/fhir/r4/Appointment/{id}"),
    ("PATCH", "/fhir/r4/Appointment/{id}"),
    ("PUT", "/fhir/r4/Appointment/{id}"),
    ("GET", "/fhir/r4/Patient"),
    ("GET", "/fhir/r4/Patient/{id}"),
];

fn documented_routes() -> BTreeSet<(String, String)> {
    let (_, openapi) = api::routes().split_for_parts();
    let mut routes = BTreeSet::new();
    for (path, item) in openapi.paths.paths {
        let operations = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("OPTIONS", item.options.is_some()),
            ("HEAD", item.head.is_some()),
            ("PATCH", item.patch.is_some()),
            ("TRACE", item.trace.is_some()),
        ];
        for (method, present) in operations {
            if present {
                routes.insert((method.to_owned(), path.clone()));
            }
        }
    }
    routes
}

#[test]
fn every_api_route_has_a_row_in_the_access_table() {
    let table: BTreeSet<(String, String)> = ROUTE_ACCESS
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = documented_routes().difference(&table).cloned().collect();
    assert!(
        missing.is_empty(),
        "routes without a row in access::ROUTE_ACCESS (they are admin-only until added): \
         {missing:?}"
    );
}

#[test]
fn every_row_of_the_access_table_names_a_route() {
    let documented = documented_routes();
    for (method, path, _) in ROUTE_ACCESS {
        let known = documented.contains(&((*method).to_owned(), (*path).to_owned()))
            || UNDOCUMENTED_ROUTES.contains(&(*method, *path));
        assert!(known, "{method} {path} is in the table but not a route");
    }
}
