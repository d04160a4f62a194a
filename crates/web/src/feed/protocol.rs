//! The JSON messages of the feed's protocol (see the parent module): what a client may send,
//! and what the server sends back besides the shared slot frames.

use std::collections::BTreeMap;

use jiff::Timestamp;
use medibook_core::ids::{DoctorId, HoldId, OfferId, UserId};
use medibook_core::waitlist::WaitlistOffer;
use serde::{Deserialize, Serialize};

/// A message from the client.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub(super) enum ClientMessage {
    Subscribe {
        doctor_ids: Vec<DoctorId>,
        #[serde(default)]
        after_seq: Option<AfterSeq>,
    },
    Unsubscribe {
        doctor_ids: Vec<DoctorId>,
    },
    Authenticate {
        token: String,
    },
}

/// Where a subscribe resumes: one number for all listed doctors, or one per doctor.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum AfterSeq {
    All(i64),
    PerDoctor(BTreeMap<DoctorId, i64>),
}

impl AfterSeq {
    pub(super) fn for_doctor(&self, doctor: DoctorId) -> Option<i64> {
        match self {
            Self::All(seq) => Some(*seq),
            Self::PerDoctor(seqs) => seqs.get(&doctor).copied(),
        }
    }

    pub(super) fn has_negative(&self) -> bool {
        match self {
            Self::All(seq) => *seq < 0,
            Self::PerDoctor(seqs) => seqs.values().any(|seq| *seq < 0),
        }
    }
}

/// A message to the client.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(super) enum ServerMessage<'a> {
    Resync {
        doctor_id: DoctorId,
        latest_seq: i64,
    },
    Subscribed {
        doctor_ids: &'a [DoctorId],
        latest_seq: BTreeMap<DoctorId, i64>,
    },
    Unsubscribed {
        doctor_ids: &'a [DoctorId],
    },
    Error {
        message: &'a str,
    },
    Authenticated {
        user_id: UserId,
    },
    /// The connection's session ended (signed out, expired): it watches slots anonymously
    /// from now on and carries no more offers.
    SignedOut,
    WaitlistOffer {
        offer_id: OfferId,
        hold_id: HoldId,
        doctor_id: DoctorId,
        start: Timestamp,
        end: Timestamp,
        expires_at: Timestamp,
    },
}

impl ServerMessage<'_> {
    pub(super) fn offer(offer: &WaitlistOffer) -> Self {
        Self::WaitlistOffer {
            offer_id: offer.id,
            hold_id: offer.hold_id,
            doctor_id: offer.doctor_id,
            start: offer.start,
            end: offer.end,
            expires_at: offer.expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use medibook_core::events::SlotEvent;

    use crate::shell::events::slot_frame;

    use super::*;

    #[test]
    fn after_seq_is_one_number_or_one_per_doctor() {
        let doctor = DoctorId::generate();
        let other = DoctorId::generate();
        let all: ClientMessage = serde_json::from_str(&format!(
            r#"{{"type":"subscribe","doctor_ids":["{doctor}"],"after_seq":4}}"#
        ))
        .unwrap();
        let ClientMessage::Subscribe {
            after_seq: Some(all),
            ..
        } = all
        else {
            panic!("a subscribe with after_seq");
        };
        assert_eq!(all.for_doctor(other), Some(4));
        let per_doctor: ClientMessage = serde_json::from_str(&format!(
            r#"{{"type":"subscribe","doctor_ids":["{doctor}","{other}"],"after_seq":{{"{doctor}":2}}}}"#
        ))
        .unwrap();
        let ClientMessage::Subscribe {
            after_seq: Some(per_doctor),
            ..
        } = per_doctor
        else {
            panic!("a subscribe with after_seq");
        };
        assert_eq!(per_doctor.for_doctor(doctor), Some(2));
        assert_eq!(per_doctor.for_doctor(other), None);
    }

    #[test]
    fn slot_events_go_out_in_the_documented_shape() {
        let event = SlotEvent {
            doctor_id: DoctorId::generate(),
            seq: 3,
            start: "2027-03-02T08:00:00Z".parse().unwrap(),
            end: "2027-03-02T08:30:00Z".parse().unwrap(),
            status: medibook_core::booking::SlotStatus::Held,
        };
        let frame = slot_frame(&event).unwrap();
        let json: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        assert_eq!(json["type"], "slot");
        assert_eq!(json["seq"], 3);
        assert_eq!(json["status"], "held");
        assert_eq!(json["doctor_id"], event.doctor_id.to_string());
        assert_eq!(json["start"], "2027-03-02T08:00:00Z");
    }
}
