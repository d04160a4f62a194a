//! MediBook's records as FHIR R4 resources. Ids are the JSON API's: a Practitioner, its
//! PractitionerRole and its Schedule carry the doctor's id, a HealthcareService the
//! specialty's, an Appointment the appointment's, a Patient the user's. A Slot's id is stable
//! and opaque: the doctor and the start, in hex ([`SlotId`]).

use jiff::{SignedDuration, Timestamp};
use medibook_core::booking::{Appointment, AppointmentStatus, SlotStatus};
use medibook_core::clinic::{Doctor, Specialty};
use medibook_core::desk::PatientCard;
use medibook_core::ids::DoctorId;
use medibook_core::listing::SlotView;
use serde_json::{Value, json};
use uuid::Uuid;

/// A slot's identity: whose, and when it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlotId {
    /// The doctor.
    pub doctor_id: DoctorId,
    /// The start, to the second.
    pub start: Timestamp,
}

impl SlotId {
    /// 48 hex digits: the doctor's UUID, then the start in seconds since 1970.
    pub fn encode(&self) -> String {
        let seconds = u64::from_ne_bytes(self.start.as_second().to_ne_bytes());
        format!("{:032x}{seconds:016x}", self.doctor_id.as_uuid().as_u128())
    }

    /// The slot an id names; `None` for anything that is not one of ours.
    pub fn decode(raw: &str) -> Option<Self> {
        if raw.len() != 48 || !raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let doctor = u128::from_str_radix(raw.get(..32)?, 16).ok()?;
        let seconds = u64::from_str_radix(raw.get(32..)?, 16).ok()?;
        let start = Timestamp::from_second(i64::from_ne_bytes(seconds.to_ne_bytes())).ok()?;
        Some(Self {
            doctor_id: DoctorId::from_uuid(Uuid::from_u128(doctor)),
            start,
        })
    }
}

fn reference(kind: &str, id: impl std::fmt::Display) -> Value {
    json!({ "reference": format!("{kind}/{id}") })
}

fn named_reference(kind: &str, id: impl std::fmt::Display, display: &str) -> Value {
    json!({ "reference": format!("{kind}/{id}"), "display": display })
}

/// A doctor as a Practitioner.
pub fn practitioner(doctor: &Doctor) -> Value {
    let mut resource = json!({
        "resourceType": "Practitioner",
        "id": doctor.id.to_string(),
        "active": true,
        "name": [{ "use": "official", "text": doctor.name }],
    });
    if !doctor.qualification.trim().is_empty() {
        resource["qualification"] = json!([{ "code": { "text": doctor.qualification } }]);
    }
    if let Some(url) = &doctor.photo_url {
        resource["photo"] = json!([{ "url": url }]);
    }
    resource
}

/// The doctor practising their specialty, as a PractitionerRole (the doctor's id).
pub fn practitioner_role(doctor: &Doctor, specialty: Option<&Specialty>) -> Value {
    let mut resource = json!({
        "resourceType": "PractitionerRole",
        "id": doctor.id.to_string(),
        "active": true,
        "practitioner": named_reference("Practitioner", doctor.id, &doctor.name),
    });
    if let Some(specialty) = specialty {
        resource["specialty"] = json!([{ "text": specialty.name }]);
        resource["healthcareService"] = json!([named_reference(
            "HealthcareService",
            specialty.id,
            &specialty.name
        )]);
    }
    resource
}

/// A specialty as the HealthcareService offering it; the words patients use for it are its
/// characteristics.
pub fn healthcare_service(specialty: &Specialty) -> Value {
    let mut resource = json!({
        "resourceType": "HealthcareService",
        "id": specialty.id.to_string(),
        "active": true,
        "name": specialty.name,
        "specialty": [{ "text": specialty.name }],
        "appointmentRequired": true,
    });
    if !specialty.keywords.is_empty() {
        resource["characteristic"] = Value::Array(
            specialty
                .keywords
                .iter()
                .map(|k| json!({ "text": k }))
                .collect(),
        );
    }
    resource
}

/// The doctor's bookable time as a Schedule (the doctor's id), planned from `now` to the
/// booking horizon.
pub fn schedule(doctor: &Doctor, specialty: Option<&Specialty>, now: Timestamp) -> Value {
    let horizon = SignedDuration::from_hours(24 * i64::from(doctor.schedule.rules.horizon_days));
    let mut resource = json!({
        "resourceType": "Schedule",
        "id": doctor.id.to_string(),
        "active": true,
        "actor": [
            named_reference("Practitioner", doctor.id, &doctor.name),
            reference("PractitionerRole", doctor.id),
        ],
        "planningHorizon": {
            "start": instant(now),
            "end": instant(now.saturating_add(horizon).unwrap_or(now)),
        },
        "comment": format!("Times in {}", doctor.time_zone.name()),
    });
    if let Some(specialty) = specialty {
        resource["specialty"] = json!([{ "text": specialty.name }]);
    }
    resource
}

/// The FHIR status of a listed slot.
pub fn slot_status(status: SlotStatus) -> &'static str {
    match status {
        SlotStatus::Available => "free",
        SlotStatus::Held => "busy-tentative",
        SlotStatus::Booked => "busy",
        SlotStatus::Unavailable => "busy-unavailable",
    }
}

/// One listed slot of `doctor`.
pub fn slot(doctor: DoctorId, view: &SlotView) -> Value {
    let id = SlotId {
        doctor_id: doctor,
        start: view.start,
    };
    json!({
        "resourceType": "Slot",
        "id": id.encode(),
        "schedule": reference("Schedule", doctor),
        "status": slot_status(view.status),
        "start": instant(view.start),
        "end": instant(view.end),
    })
}

/// The FHIR status of an appointment.
pub fn appointment_status(status: AppointmentStatus) -> &'static str {
    match status {
        AppointmentStatus::Scheduled => "booked",
        AppointmentStatus::Completed => "fulfilled",
        AppointmentStatus::Cancelled => "cancelled",
        AppointmentStatus::NoShow => "noshow",
    }
}

/// The appointment statuses a FHIR status code stands for; `None` for a code we never use.
pub fn statuses_of(code: &str) -> Option<AppointmentStatus> {
    Some(match code {
        "booked" => AppointmentStatus::Scheduled,
        "fulfilled" => AppointmentStatus::Completed,
        "cancelled" => AppointmentStatus::Cancelled,
        "noshow" => AppointmentStatus::NoShow,
        _ => return None,
    })
}

/// An appointment, with its doctor's name when known.
pub fn appointment(appointment: &Appointment, doctor: Option<&Doctor>) -> Value {
    let slot = SlotId {
        doctor_id: appointment.doctor_id,
        start: appointment.start,
    };
    let practitioner = match doctor {
        Some(d) => named_reference("Practitioner", d.id, &d.name),
        None => reference("Practitioner", appointment.doctor_id),
    };
    let taking_part = if appointment.status == AppointmentStatus::Cancelled {
        "declined"
    } else {
        "accepted"
    };
    let minutes = appointment.end.duration_since(appointment.start).as_mins();
    json!({
        "resourceType": "Appointment",
        "id": appointment.id.to_string(),
        "meta": { "versionId": appointment.sequence.to_string(), "lastUpdated": instant(appointment.updated_at) },
        "status": appointment_status(appointment.status),
        "reasonCode": [{ "text": appointment.reason.as_str() }],
        "start": instant(appointment.start),
        "end": instant(appointment.end),
        "minutesDuration": minutes.max(1),
        "slot": [reference("Slot", slot.encode())],
        "created": instant(appointment.created_at),
        "participant": [
            {
                "actor": reference("Patient", appointment.patient_id),
                "required": "required",
                "status": taking_part,
            },
            {
                "actor": practitioner,
                "required": "required",
                "status": taking_part,
            },
        ],
    })
}

/// A patient's account as a Patient: name, contacts and date of birth.
pub fn patient(card: &PatientCard) -> Value {
    let user = &card.user;
    let mut resource = json!({
        "resourceType": "Patient",
        "id": user.id.to_string(),
        "active": true,
    });
    if let Some(name) = &user.name {
        resource["name"] = json!([{ "use": "official", "text": name }]);
    }
    let mut telecom = Vec::new();
    if let Some(phone) = &user.phone {
        telecom.push(json!({ "system": "phone", "value": phone.as_str() }));
    }
    if let Some(email) = &user.email {
        telecom.push(json!({ "system": "email", "value": email.as_str() }));
    }
    if !telecom.is_empty() {
        resource["telecom"] = Value::Array(telecom);
    }
    if let Some(born) = card.date_of_birth {
        resource["birthDate"] = Value::String(born.to_string());
    }
    resource
}

/// An instant as FHIR writes it: UTC, to the second.
pub fn instant(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_ids_survive_the_round_trip_and_nothing_else_decodes() {
        let id = SlotId {
            doctor_id: DoctorId::from_uuid(Uuid::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455)),
            start: "2027-03-02T09:30:00Z".parse().unwrap(),
        };
        let text = id.encode();
        assert_eq!(text.len(), 48);
        assert_eq!(SlotId::decode(&text), Some(id));
        assert_eq!(SlotId::decode("not-a-slot"), None);
        assert_eq!(SlotId::decode(&text.replace('0', "g")), None);
    }
}
