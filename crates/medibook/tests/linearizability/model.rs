//! The sequential specification of booking one doctor's slots, as DESIGN.md states the rules
//! and the store implements them, for the slots of one history (all free at its start).
//!
//! A slot is free, held by a hold, or booked by an appointment. A hold of a held or booked slot
//! is refused (`slot_taken`), except that the patient who holds it gets the same hold back.
//! Releasing a live hold frees its slot; releasing it again changes nothing; a hold that became
//! an appointment cannot be released (`invalid_state`). Confirming a live hold of the caller
//! books its slot as a new appointment; confirming it again returns that appointment as it is
//! now; a released hold is `hold_not_found`. Cancelling frees the slot; cancelling again
//! changes nothing. Rescheduling moves a scheduled appointment to the slot of the caller's live
//! hold in one step (the old slot is free, the new one booked, the hold used); repeating it
//! returns the appointment as it is; a hold used for another appointment is `invalid_state`, a
//! released one `hold_not_found`, a cancelled appointment `invalid_state`. Per-patient limits
//! are configured out of the runs and holds outlive them, so neither is modelled.

use std::collections::BTreeMap;

use super::checker::Model;

/// What a patient asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// `POST /api/v1/holds` for the slot with this index.
    Hold(usize),
    /// `DELETE /api/v1/holds/{id}`.
    Release(String),
    /// `POST /api/v1/appointments {hold_id}`.
    Confirm(String),
    /// `POST /api/v1/appointments/{id}/cancel`.
    Cancel(String),
    /// `POST /api/v1/appointments/{id}/reschedule {hold_id}`.
    Reschedule {
        /// The appointment to move.
        appointment: String,
        /// The hold of the slot to move it to.
        hold: String,
    },
    /// `GET /api/v1/slots` for the day of the slots.
    ReadSlots,
}

/// A patient's request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// Which patient (one per client).
    pub patient: usize,
    /// What they ask.
    pub action: Action,
}

/// A slot's status as the listing shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Shown {
    /// `available`.
    Available,
    /// `held`.
    Held,
    /// `booked`.
    Booked,
}

/// What the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A hold: `created` for 201, false for 200 (the caller's existing hold).
    Held {
        /// The hold's id.
        hold: String,
        /// Whether the answer was 201.
        created: bool,
    },
    /// 204 to a release.
    Released,
    /// An appointment (to confirm, cancel or reschedule).
    Appointment {
        /// Its id.
        id: String,
        /// The index of the slot it is at.
        slot: usize,
        /// Whether its status is `cancelled` (else `scheduled`).
        cancelled: bool,
        /// Whether the answer was 201.
        created: bool,
    },
    /// The listing of the history's slots, in order.
    Slots(Vec<Shown>),
    /// A problem response with this `code`.
    Refused(String),
}

/// Who occupies a slot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Occupant {
    Free,
    Hold(String),
    Appointment(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum HoldState {
    Live,
    Released,
    /// Used for this appointment (by confirming or rescheduling).
    Used(String),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct HoldRecord {
    patient: usize,
    slot: usize,
    state: HoldState,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct AppointmentRecord {
    patient: usize,
    slot: usize,
    cancelled: bool,
}

/// The agenda of the history's slots.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Agenda {
    slots: Vec<Occupant>,
    holds: BTreeMap<String, HoldRecord>,
    appointments: BTreeMap<String, AppointmentRecord>,
}

impl Agenda {
    /// `slots` free slots, no holds, no appointments.
    pub fn new(slots: usize) -> Self {
        Self {
            slots: vec![Occupant::Free; slots],
            holds: BTreeMap::new(),
            appointments: BTreeMap::new(),
        }
    }

    /// The answer about appointment `id` as it is now.
    fn appointment_outcome(&self, id: &str, created: bool) -> Option<Outcome> {
        let appointment = self.appointments.get(id)?;
        Some(Outcome::Appointment {
            id: id.to_owned(),
            slot: appointment.slot,
            cancelled: appointment.cancelled,
            created,
        })
    }

    /// The state after `request` and the answer it gets, for the deterministic cases; `None`
    /// for the requests that create something (their new id comes from the answer).
    fn determined(&self, request: &Request) -> Option<(Self, Outcome)> {
        let patient = request.patient;
        let refused = |code: &str| Some((self.clone(), Outcome::Refused(code.to_owned())));
        match &request.action {
            Action::Hold(slot) => match self.slots.get(*slot)? {
                Occupant::Free => None,
                Occupant::Hold(id) if self.holds.get(id)?.patient == patient => Some((
                    self.clone(),
                    Outcome::Held {
                        hold: id.clone(),
                        created: false,
                    },
                )),
                Occupant::Hold(_) | Occupant::Appointment(_) => refused("slot_taken"),
            },
            Action::Release(id) => {
                let Some(hold) = self.holds.get(id).filter(|h| h.patient == patient) else {
                    return refused("hold_not_found");
                };
                match hold.state {
                    HoldState::Released => Some((self.clone(), Outcome::Released)),
                    HoldState::Used(_) => refused("invalid_state"),
                    HoldState::Live => {
                        let mut next = self.clone();
                        next.slots[hold.slot] = Occupant::Free;
                        next.holds.get_mut(id)?.state = HoldState::Released;
                        Some((next, Outcome::Released))
                    }
                }
            }
            Action::Confirm(id) => {
                let Some(hold) = self.holds.get(id).filter(|h| h.patient == patient) else {
                    return refused("hold_not_found");
                };
                match &hold.state {
                    HoldState::Used(appointment) => {
                        Some((self.clone(), self.appointment_outcome(appointment, false)?))
                    }
                    HoldState::Released => refused("hold_not_found"),
                    HoldState::Live => None,
                }
            }
            Action::Cancel(id) => {
                let Some(appointment) = self.appointments.get(id).filter(|a| a.patient == patient)
                else {
                    return refused("not_found");
                };
                let mut next = self.clone();
                if !appointment.cancelled {
                    next.slots[appointment.slot] = Occupant::Free;
                    next.appointments.get_mut(id)?.cancelled = true;
                }
                let outcome = next.appointment_outcome(id, false)?;
                Some((next, outcome))
            }
            Action::Reschedule { appointment, hold } => {
                let Some(current) = self
                    .appointments
                    .get(appointment)
                    .filter(|a| a.patient == patient)
                else {
                    return refused("not_found");
                };
                let Some(target) = self.holds.get(hold).filter(|h| h.patient == patient) else {
                    return refused("hold_not_found");
                };
                match &target.state {
                    HoldState::Used(used) if used == appointment => {
                        return Some((self.clone(), self.appointment_outcome(appointment, false)?));
                    }
                    HoldState::Used(_) => return refused("invalid_state"),
                    HoldState::Released => return refused("hold_not_found"),
                    HoldState::Live => {}
                }
                if current.cancelled {
                    return refused("invalid_state");
                }
                let mut next = self.clone();
                next.slots[current.slot] = Occupant::Free;
                next.slots[target.slot] = Occupant::Appointment(appointment.clone());
                next.holds.get_mut(hold)?.state = HoldState::Used(appointment.clone());
                next.appointments.get_mut(appointment)?.slot = target.slot;
                let outcome = next.appointment_outcome(appointment, false)?;
                Some((next, outcome))
            }
            Action::ReadSlots => {
                let shown = self
                    .slots
                    .iter()
                    .map(|occupant| match occupant {
                        Occupant::Free => Shown::Available,
                        Occupant::Hold(_) => Shown::Held,
                        Occupant::Appointment(_) => Shown::Booked,
                    })
                    .collect();
                Some((self.clone(), Outcome::Slots(shown)))
            }
        }
    }

    /// The state after a request that creates a hold or an appointment answered `outcome`, if
    /// the rules allow that answer: the new id must be new.
    fn created(&self, request: &Request, outcome: &Outcome) -> Option<Self> {
        let patient = request.patient;
        match (&request.action, outcome) {
            (
                Action::Hold(slot),
                Outcome::Held {
                    hold,
                    created: true,
                },
            ) => {
                if self.slots.get(*slot)? != &Occupant::Free || self.holds.contains_key(hold) {
                    return None;
                }
                let mut next = self.clone();
                next.slots[*slot] = Occupant::Hold(hold.clone());
                next.holds.insert(
                    hold.clone(),
                    HoldRecord {
                        patient,
                        slot: *slot,
                        state: HoldState::Live,
                    },
                );
                Some(next)
            }
            (
                Action::Confirm(hold),
                Outcome::Appointment {
                    id,
                    slot,
                    cancelled: false,
                    created: true,
                },
            ) => {
                let record = self.holds.get(hold)?;
                if record.patient != patient
                    || record.state != HoldState::Live
                    || record.slot != *slot
                    || self.appointments.contains_key(id)
                {
                    return None;
                }
                let mut next = self.clone();
                next.slots[*slot] = Occupant::Appointment(id.clone());
                next.holds.get_mut(hold)?.state = HoldState::Used(id.clone());
                next.appointments.insert(
                    id.clone(),
                    AppointmentRecord {
                        patient,
                        slot: *slot,
                        cancelled: false,
                    },
                );
                Some(next)
            }
            _ => None,
        }
    }
}

impl Model for Agenda {
    type Call = Request;
    type Outcome = Outcome;

    fn step(&self, request: &Request, outcome: &Outcome) -> Option<Self> {
        match self.determined(request) {
            Some((next, expected)) => (&expected == outcome).then_some(next),
            None => self.created(request, outcome),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::checker::{Operation, check};
    use super::*;

    type Op = Operation<Request, Outcome>;

    fn op(patient: usize, from: u64, to: u64, action: Action, outcome: Outcome) -> Op {
        Operation {
            client: patient,
            invoked: Duration::from_millis(from),
            returned: Duration::from_millis(to),
            call: Request { patient, action },
            outcome,
        }
    }

    fn held(id: &str) -> Outcome {
        Outcome::Held {
            hold: id.to_owned(),
            created: true,
        }
    }

    fn booked(id: &str, slot: usize) -> Outcome {
        Outcome::Appointment {
            id: id.to_owned(),
            slot,
            cancelled: false,
            created: true,
        }
    }

    fn refused(code: &str) -> Outcome {
        Outcome::Refused(code.to_owned())
    }

    fn slots(shown: &[Shown]) -> Outcome {
        Outcome::Slots(shown.to_vec())
    }

    use Shown::{Available, Booked, Held};

    #[test]
    fn overlapping_holds_of_one_slot_with_one_winner_are_linearizable() {
        // The later-invoked request wins: the order of invocation does not decide.
        let history = [
            op(0, 0, 10, Action::Hold(0), refused("slot_taken")),
            op(1, 1, 9, Action::Hold(0), held("h1")),
        ];
        assert_eq!(check(&Agenda::new(2), &history).unwrap(), vec![1, 0]);
    }

    #[test]
    fn two_successful_holds_of_one_slot_are_not_linearizable() {
        let history = [
            op(0, 0, 10, Action::Hold(0), held("h0")),
            op(1, 1, 9, Action::Hold(0), held("h1")),
        ];
        assert!(check(&Agenda::new(2), &history).is_err());
    }

    #[test]
    fn a_hold_refused_after_the_slot_was_released_is_not_linearizable() {
        let history = [
            op(0, 0, 1, Action::Hold(0), held("h0")),
            op(0, 2, 3, Action::Release("h0".into()), Outcome::Released),
            op(1, 4, 5, Action::Hold(0), refused("slot_taken")),
        ];
        assert!(check(&Agenda::new(1), &history).is_err());
        // Had the hold overlapped the release, either answer would do.
        let history = [
            op(0, 0, 1, Action::Hold(0), held("h0")),
            op(0, 2, 5, Action::Release("h0".into()), Outcome::Released),
            op(1, 3, 6, Action::Hold(0), refused("slot_taken")),
        ];
        assert!(check(&Agenda::new(1), &history).is_ok());
    }

    #[test]
    fn a_stale_read_is_not_linearizable() {
        let hold = op(0, 0, 5, Action::Hold(0), held("h0"));
        let concurrent = op(1, 1, 4, Action::ReadSlots, slots(&[Available]));
        assert!(check(&Agenda::new(1), &[hold.clone(), concurrent]).is_ok());
        let after = op(1, 6, 8, Action::ReadSlots, slots(&[Available]));
        assert!(check(&Agenda::new(1), &[hold, after]).is_err());
    }

    #[test]
    fn a_reschedule_seen_half_done_is_not_linearizable() {
        let mut history = vec![
            op(0, 0, 1, Action::Hold(0), held("h0")),
            op(0, 2, 3, Action::Confirm("h0".into()), booked("a0", 0)),
            op(0, 4, 5, Action::Hold(1), held("h1")),
            op(
                0,
                10,
                20,
                Action::Reschedule {
                    appointment: "a0".into(),
                    hold: "h1".into(),
                },
                Outcome::Appointment {
                    id: "a0".into(),
                    slot: 1,
                    cancelled: false,
                    created: false,
                },
            ),
        ];
        for before_or_after in [[Booked, Held], [Available, Booked]] {
            let read = op(1, 11, 19, Action::ReadSlots, slots(&before_or_after));
            let mut with_read = history.clone();
            with_read.push(read);
            assert!(
                check(&Agenda::new(2), &with_read).is_ok(),
                "{before_or_after:?}"
            );
        }
        for half_done in [[Booked, Booked], [Available, Held], [Available, Available]] {
            history.push(op(1, 11, 19, Action::ReadSlots, slots(&half_done)));
            assert!(check(&Agenda::new(2), &history).is_err(), "{half_done:?}");
            history.pop();
        }
    }

    #[test]
    fn confirming_one_hold_twice_gives_one_appointment() {
        let once = [
            op(0, 0, 1, Action::Hold(0), held("h0")),
            op(0, 2, 3, Action::Confirm("h0".into()), booked("a0", 0)),
        ];
        let mut again = once.to_vec();
        again.push(op(
            0,
            4,
            5,
            Action::Confirm("h0".into()),
            Outcome::Appointment {
                id: "a0".into(),
                slot: 0,
                cancelled: false,
                created: false,
            },
        ));
        assert!(check(&Agenda::new(1), &again).is_ok());
        let mut second = once.to_vec();
        second.push(op(0, 4, 5, Action::Confirm("h0".into()), booked("a1", 0)));
        assert!(check(&Agenda::new(1), &second).is_err());
    }

    #[test]
    fn a_cancelled_slot_can_be_held_again_and_the_appointment_not_moved() {
        let history = [
            op(0, 0, 1, Action::Hold(0), held("h0")),
            op(0, 2, 3, Action::Confirm("h0".into()), booked("a0", 0)),
            op(0, 4, 5, Action::Hold(1), held("h1")),
            op(
                0,
                6,
                7,
                Action::Cancel("a0".into()),
                Outcome::Appointment {
                    id: "a0".into(),
                    slot: 0,
                    cancelled: true,
                    created: false,
                },
            ),
            op(1, 8, 9, Action::Hold(0), held("h2")),
            op(
                0,
                10,
                11,
                Action::Reschedule {
                    appointment: "a0".into(),
                    hold: "h1".into(),
                },
                refused("invalid_state"),
            ),
            op(0, 12, 13, Action::ReadSlots, slots(&[Held, Held])),
        ];
        assert!(check(&Agenda::new(2), &history).is_ok());
    }
}
