//! Identifiers of the domain's entities.
//!
//! Every id is a UUID (version 7, so ids sort by creation time) wrapped in its own type, so a
//! `DoctorId` can never be passed where a `HoldId` is expected. Ids are not secrets: access is
//! decided by ownership checks, never by the difficulty of guessing an id.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! entity_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            pub fn generate() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

entity_id!(
    /// A patient's place on a waitlist.
    WaitlistEntryId
);
entity_id!(
    /// A slot offered to a waiting patient.
    OfferId
);
entity_id!(
    /// A medical specialty, such as cardiology.
    SpecialtyId
);
entity_id!(
    /// A doctor's profile.
    DoctorId
);
entity_id!(
    /// A signed-in person: patient, doctor or admin.
    UserId
);
entity_id!(
    /// A temporary claim on a slot.
    HoldId
);
entity_id!(
    /// A booked visit.
    AppointmentId
);
entity_id!(
    /// A period in which a doctor takes no appointments.
    TimeOffId
);
entity_id!(
    /// A signed-in session.
    SessionId
);
entity_id!(
    /// A doctor's note on a visit.
    VisitNoteId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_their_text_form() {
        let id = HoldId::generate();
        let parsed: HoldId = id.to_string().parse().unwrap();
        assert_eq!(id, parsed);
    }

    #[test]
    fn generated_ids_sort_by_creation() {
        let first = AppointmentId::generate();
        let second = AppointmentId::generate();
        assert!(first < second);
    }
}
