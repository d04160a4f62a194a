//! What the OpenAPI document says beyond each handler's own annotation.
//!
//! Two things are the same for many operations, so they are written here once instead of on
//! every handler:
//!
//! - the problem responses an operation can give because of how a request reaches it, before
//!   its handler decides anything: a JSON body that is not JSON (400), has the wrong shape (422),
//!   is too large (413) or is not declared JSON (415); a malformed path or query parameter
//!   (400); no valid bearer token (401) or the wrong role (403) on routes that
//!   [`access::ROUTE_ACCESS`](crate::shell::access::ROUTE_ACCESS) protects; a body that stops
//!   arriving (408); and the server unable to do its part (503: `storage_full`,
//!   `database_unavailable`, `busy`, with `Retry-After`);
//! - the links of the booking flow (doctor → hold → appointment → cancel or reschedule, and the
//!   staff flows that create something and then change it), so a client — or a fuzzer's
//!   stateful phase — can follow the ids one response hands to the next request.
//!
//! A response an operation already declares keeps its own description.

use serde_json::json;
use utoipa::openapi::link::LinkBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{Content, OpenApi, Ref, RefOr, Response};

use crate::shell::access::{Access, access_for};

/// Adds the shared problem responses and the flow's links to the generated document.
pub fn complete(openapi: &mut OpenApi) {
    for (path, item) in &mut openapi.paths.paths {
        let operations = [
            ("GET", item.get.as_mut()),
            ("PUT", item.put.as_mut()),
            ("POST", item.post.as_mut()),
            ("DELETE", item.delete.as_mut()),
            ("PATCH", item.patch.as_mut()),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                declare_request_problems(operation, access_for(method, path));
            }
        }
    }
    for link in FLOW_LINKS {
        add_link(openapi, link);
    }
}

fn problem(description: &str) -> Response {
    let mut response = Response::new(description);
    response.content.insert(
        "application/problem+json".to_owned(),
        RefOr::T(Content::new(Some(Ref::from_schema_name("Problem")))),
    );
    response
}

fn declare(operation: &mut Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::T(problem(description)));
}

/// The problems the extractors and the access middleware answer with, whatever the handler.
fn declare_request_problems(operation: &mut Operation, access: Access) {
    declare(
        operation,
        "503",
        "The server cannot do its part right now and changed nothing: its disk is full \
         (`storage_full`), its database is unreachable (`database_unavailable`) or it is at \
         its connection limit (`busy`); try again after `Retry-After` seconds",
    );
    if operation.request_body.is_some() {
        declare(
            operation,
            "400",
            "The body is not valid JSON (`validation`)",
        );
        declare(
            operation,
            "408",
            "The body stopped arriving before it was whole (`request_timeout`)",
        );
        declare(
            operation,
            "413",
            "The body is larger than 64 KiB (`payload_too_large`)",
        );
        declare(
            operation,
            "415",
            "The body is not declared as `application/json` (`unsupported_media_type`)",
        );
        declare(
            operation,
            "422",
            "The JSON does not have the declared shape, or a value is not acceptable \
             (`validation`)",
        );
    }
    let has_parameters = operation.parameters.iter().flatten().any(|parameter| {
        matches!(
            parameter,
            RefOr::T(p) if matches!(p.parameter_in, ParameterIn::Path | ParameterIn::Query)
        )
    });
    if has_parameters {
        declare(
            operation,
            "400",
            "A path or query parameter is malformed (`validation`)",
        );
    }
    if access != Access::Public {
        declare(
            operation,
            "401",
            "No valid bearer token, or its session ended (`unauthorized`)",
        );
    }
    let names_a_doctor = operation.parameters.iter().flatten().any(|parameter| {
        matches!(
            parameter,
            RefOr::T(p) if p.parameter_in == ParameterIn::Query && p.name == "doctor_id"
        )
    });
    if access == Access::Doctor && names_a_doctor {
        declare(
            operation,
            "422",
            "An admin without a doctor profile must name `doctor_id` (`validation`)",
        );
    }
    if matches!(access, Access::Doctor | Access::Admin) {
        declare(
            operation,
            "403",
            "Signed in without the role this needs (`forbidden`)",
        );
    }
}

/// One link: from a response of one operation to another operation, with the values the
/// response supplies.
struct FlowLink {
    /// Method and path of the operation whose response carries the link.
    from: (&'static str, &'static str),
    /// The response statuses that carry it.
    statuses: &'static [&'static str],
    /// The link's name.
    name: &'static str,
    /// The `operationId` of the operation it leads to.
    to: &'static str,
    /// Parameters of the target, as runtime expressions.
    parameters: &'static [(&'static str, &'static str)],
    /// The target's request body, as a JSON object of runtime expressions, if it takes one.
    body: Option<fn() -> serde_json::Value>,
    /// What following the link does.
    description: &'static str,
}

const ID: &[(&str, &str)] = &[("id", "$response.body#/id")];
const FIRST_ID: &[(&str, &str)] = &[("id", "$response.body#/0/id")];

/// The flows of the API, as links.
const FLOW_LINKS: &[FlowLink] = &[
    // Find a doctor, see their slots, hold the next free one.
    FlowLink {
        from: ("GET", "/api/v1/doctors"),
        statuses: &["200"],
        name: "GetFirstDoctor",
        to: "doctor",
        parameters: FIRST_ID,
        body: None,
        description: "The first doctor's profile.",
    },
    FlowLink {
        from: ("GET", "/api/v1/doctors"),
        statuses: &["200"],
        name: "ListFirstDoctorsSlots",
        to: "list_slots",
        parameters: &[("doctor_id", "$response.body#/0/id")],
        body: None,
        description: "The first doctor's slots.",
    },
    FlowLink {
        from: ("GET", "/api/v1/doctors"),
        statuses: &["200"],
        name: "HoldFirstDoctorsNextFreeSlot",
        to: "create_hold",
        parameters: &[],
        body: Some(|| {
            json!({
                "doctor_id": "$response.body#/0/id",
                "start": "$response.body#/0/next_free_slot/start",
            })
        }),
        description: "Holds the first doctor's next free slot.",
    },
    FlowLink {
        from: ("GET", "/api/v1/doctors/{id}"),
        statuses: &["200"],
        name: "HoldNextFreeSlot",
        to: "create_hold",
        parameters: &[],
        body: Some(|| {
            json!({
                "doctor_id": "$response.body#/id",
                "start": "$response.body#/next_free_slot/start",
            })
        }),
        description: "Holds the doctor's next free slot.",
    },
    FlowLink {
        from: ("GET", "/api/v1/slots"),
        statuses: &["200"],
        name: "HoldFirstSlot",
        to: "create_hold",
        parameters: &[],
        body: Some(|| {
            json!({
                "doctor_id": "$request.query.doctor_id",
                "start": "$response.body#/0/start",
            })
        }),
        description: "Holds the first listed slot.",
    },
    // A hold: read it, release it, or confirm it into an appointment.
    FlowLink {
        from: ("POST", "/api/v1/holds"),
        statuses: &["200", "201"],
        name: "GetHold",
        to: "get_hold",
        parameters: ID,
        body: None,
        description: "Reads the hold.",
    },
    FlowLink {
        from: ("POST", "/api/v1/holds"),
        statuses: &["200", "201"],
        name: "ReleaseHold",
        to: "release",
        parameters: ID,
        body: None,
        description: "Releases the hold.",
    },
    FlowLink {
        from: ("POST", "/api/v1/holds"),
        statuses: &["200", "201"],
        name: "ConfirmHold",
        to: "confirm",
        parameters: &[],
        body: Some(|| json!({ "hold_id": "$response.body#/id" })),
        description: "Books the held slot.",
    },
    // An appointment: read it, its calendar file, cancel or reschedule it.
    FlowLink {
        from: ("POST", "/api/v1/appointments"),
        statuses: &["201"],
        name: "GetAppointment",
        to: "get_appointment",
        parameters: ID,
        body: None,
        description: "Reads the appointment.",
    },
    FlowLink {
        from: ("POST", "/api/v1/appointments"),
        statuses: &["201"],
        name: "AppointmentCalendarFile",
        to: "appointment_ics",
        parameters: ID,
        body: None,
        description: "The appointment as an iCalendar file.",
    },
    FlowLink {
        from: ("POST", "/api/v1/appointments"),
        statuses: &["201"],
        name: "CancelAppointment",
        to: "cancel",
        parameters: ID,
        body: None,
        description: "Cancels the appointment.",
    },
    FlowLink {
        from: ("POST", "/api/v1/appointments"),
        statuses: &["201"],
        name: "RescheduleAppointment",
        to: "reschedule",
        parameters: ID,
        body: None,
        description: "Moves the appointment to the slot of another hold.",
    },
    FlowLink {
        from: ("GET", "/api/v1/appointments"),
        statuses: &["200"],
        name: "GetFirstAppointment",
        to: "get_appointment",
        parameters: FIRST_ID,
        body: None,
        description: "Reads the first appointment.",
    },
    FlowLink {
        from: ("GET", "/api/v1/appointments"),
        statuses: &["200"],
        name: "CancelFirstAppointment",
        to: "cancel",
        parameters: FIRST_ID,
        body: None,
        description: "Cancels the first appointment.",
    },
    // The waitlist.
    FlowLink {
        from: ("POST", "/api/v1/waitlist"),
        statuses: &["200", "201"],
        name: "GetWaitlistEntry",
        to: "get_waitlist_entry",
        parameters: ID,
        body: None,
        description: "Reads the waitlist entry.",
    },
    FlowLink {
        from: ("POST", "/api/v1/waitlist"),
        statuses: &["200", "201"],
        name: "LeaveWaitlist",
        to: "leave",
        parameters: ID,
        body: None,
        description: "Leaves the waitlist.",
    },
    // Staff: what they create, they can change or remove.
    FlowLink {
        from: ("POST", "/api/v1/doctor/time-off"),
        statuses: &["201"],
        name: "RemoveTimeOff",
        to: "remove_time_off",
        parameters: ID,
        body: None,
        description: "Removes the time off.",
    },
    FlowLink {
        from: ("POST", "/api/v1/admin/specialties"),
        statuses: &["201"],
        name: "RenameSpecialty",
        to: "rename_specialty",
        parameters: ID,
        body: None,
        description: "Renames the specialty.",
    },
    FlowLink {
        from: ("POST", "/api/v1/admin/doctors"),
        statuses: &["201"],
        name: "UpdateDoctor",
        to: "update_doctor",
        parameters: ID,
        body: None,
        description: "Changes the doctor's profile.",
    },
    FlowLink {
        from: ("POST", "/api/v1/admin/doctors"),
        statuses: &["201"],
        name: "GetNewDoctor",
        to: "doctor",
        parameters: ID,
        body: None,
        description: "The new doctor's public profile.",
    },
];

fn add_link(openapi: &mut OpenApi, link: &FlowLink) {
    let (method, path) = link.from;
    let Some(item) = openapi.paths.paths.get_mut(path) else {
        return;
    };
    let operation = match method {
        "GET" => item.get.as_mut(),
        "POST" => item.post.as_mut(),
        "PUT" => item.put.as_mut(),
        "PATCH" => item.patch.as_mut(),
        "DELETE" => item.delete.as_mut(),
        _ => None,
    };
    let Some(operation) = operation else {
        return;
    };
    for status in link.statuses {
        let Some(RefOr::T(response)) = operation.responses.responses.get_mut(*status) else {
            continue;
        };
        let mut builder = LinkBuilder::new()
            .operation_id(link.to)
            .description(link.description)
            .request_body(link.body.map(|body| body()));
        for (name, expression) in link.parameters {
            builder = builder.parameter(*name, *expression);
        }
        response
            .links
            .insert(link.name.to_owned(), RefOr::T(builder.build()));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn document() -> OpenApi {
        let (_, mut openapi) = crate::api::routes().split_for_parts();
        complete(&mut openapi);
        openapi
    }

    fn operations(openapi: &OpenApi) -> Vec<(String, &'static str, &Operation)> {
        let mut all = Vec::new();
        for (path, item) in &openapi.paths.paths {
            let operations = [
                ("GET", item.get.as_ref()),
                ("PUT", item.put.as_ref()),
                ("POST", item.post.as_ref()),
                ("DELETE", item.delete.as_ref()),
                ("PATCH", item.patch.as_ref()),
            ];
            for (method, operation) in operations {
                if let Some(operation) = operation {
                    all.push((path.clone(), method, operation));
                }
            }
        }
        all
    }

    #[test]
    fn operation_ids_are_unique() {
        let openapi = document();
        let mut seen = BTreeSet::new();
        for (path, method, operation) in operations(&openapi) {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(!id.is_empty(), "{method} {path} has no operationId");
            assert!(
                seen.insert(id.clone()),
                "operationId {id} twice ({method} {path})"
            );
        }
    }

    #[test]
    fn every_link_leads_from_a_declared_response_to_an_existing_operation() {
        let openapi = document();
        let ids: BTreeSet<String> = operations(&openapi)
            .iter()
            .filter_map(|(_, _, o)| o.operation_id.clone())
            .collect();
        for link in FLOW_LINKS {
            assert!(
                ids.contains(link.to),
                "link {} leads to no {}",
                link.name,
                link.to
            );
            let (method, path) = link.from;
            let (_, _, operation) = operations(&openapi)
                .into_iter()
                .find(|(p, m, _)| p == path && *m == method)
                .unwrap_or_else(|| panic!("link {} from unknown {method} {path}", link.name));
            for status in link.statuses {
                let Some(RefOr::T(response)) = operation.responses.responses.get(*status) else {
                    panic!(
                        "link {} from undeclared {status} of {method} {path}",
                        link.name
                    );
                };
                assert!(response.links.contains_key(link.name));
            }
        }
    }

    #[test]
    fn path_parameters_are_in_the_path_and_the_rest_are_query_parameters() {
        let openapi = document();
        for (path, method, operation) in operations(&openapi) {
            for parameter in operation.parameters.iter().flatten() {
                let RefOr::T(parameter) = parameter else {
                    continue;
                };
                let in_template = path.contains(&format!("{{{}}}", parameter.name));
                assert_eq!(
                    parameter.parameter_in == ParameterIn::Path,
                    in_template,
                    "{method} {path}: parameter {} is declared in the wrong place",
                    parameter.name
                );
            }
        }
    }

    #[test]
    fn protected_operations_declare_401_and_staff_ones_403() {
        let openapi = document();
        for (path, method, operation) in operations(&openapi) {
            let declared = |status: &str| operation.responses.responses.contains_key(status);
            match access_for(method, &path) {
                Access::Public => {}
                Access::SignedIn => assert!(declared("401"), "{method} {path}"),
                Access::Doctor | Access::Desk | Access::Admin => {
                    assert!(declared("401") && declared("403"), "{method} {path}");
                }
            }
            let scoped = operation.parameters.iter().flatten().any(
                |p| matches!(p, RefOr::T(p) if p.name == "doctor_id" && p.parameter_in == ParameterIn::Query),
            );
            if path.starts_with("/api/v1/doctor/") && scoped {
                assert!(
                    declared("422"),
                    "{method} {path}: admins must name doctor_id"
                );
            }
            if operation.request_body.is_some() {
                for status in ["400", "413", "415", "422"] {
                    assert!(declared(status), "{method} {path} lacks {status}");
                }
            }
        }
    }
}
