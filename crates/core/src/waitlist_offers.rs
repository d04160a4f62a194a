//! Which freed slot goes to which waiting patient, decided here and applied by the store inside
//! the transaction of the change that freed it (see [`crate::waitlist`] for the rules).
//!
//! The store reads the waiters of a doctor in queue order and asks [`OfferWindow::of`] which
//! days (and which instants around them) to read; it reads the doctor's time off, occupancy and
//! earlier offers there and builds an [`OfferPlan`]. For each waiter in turn the plan names the
//! slot to offer ([`OfferPlan::slot_for`]); the store tries to make the offer (the waiter may
//! have an open offer elsewhere) and tells the plan when it did ([`OfferPlan::offered`]). The
//! offer itself ([`new_offer`]) and the messages that announce it ([`offer_messages`]) are
//! decided here too: the store only writes them.

use std::collections::{HashMap, HashSet};

use jiff::civil::Date;
use jiff::{SignedDuration, Timestamp};

use crate::booking::Occupancy;
use crate::clinic::Doctor;
use crate::delivery::OutboundMessage;
use crate::identity::{Email, Identifier, PhoneNumber};
use crate::ids::{HoldId, OfferId, UserId, WaitlistEntryId};
use crate::outbox::{MessageKind, NewMessage};
use crate::schedule::TimeOff;
use crate::slots::{Slot, day_bounds};
use crate::waitlist::{
    OfferState, WaitPreference, WaitlistOffer, accepts, offer_message, offerable_slots,
};

/// A waiting entry, as the offering sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Waiter {
    /// The entry.
    pub id: WaitlistEntryId,
    /// Who waits.
    pub patient_id: UserId,
    /// First acceptable date (in the doctor's zone).
    pub from: Option<Date>,
    /// Last acceptable date.
    pub to: Option<Date>,
    /// Days and times that suit.
    pub preference: WaitPreference,
}

/// The days the waiters of a doctor accept from today to the doctor's horizon, and the instants
/// to read the doctor's time off and occupancy over (a day's margin each side, since buffers
/// reach a little outside the days themselves).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfferWindow {
    /// First date any waiter accepts.
    pub first: Date,
    /// Last date any waiter accepts.
    pub last: Date,
    /// Read time off and occupancy from here …
    pub read_from: Timestamp,
    /// … to here.
    pub read_to: Timestamp,
}

impl OfferWindow {
    /// The window of `waiters` for `doctor` at `now`; `None` when there is nothing to offer
    /// (no waiters, or none of them accepts a day before the horizon).
    pub fn of(doctor: &Doctor, waiters: &[Waiter], now: Timestamp) -> Option<Self> {
        let tz = doctor.time_zone.tz();
        let today = tz.to_datetime(now).date();
        let horizon_end = today
            .checked_add(jiff::Span::new().days(i64::from(
                doctor.schedule.rules.horizon_days.saturating_add(1),
            )))
            .unwrap_or(today);
        let first = waiters
            .iter()
            .map(|w| w.from.unwrap_or(today).max(today))
            .min()?;
        let last = waiters
            .iter()
            .map(|w| w.to.unwrap_or(horizon_end).min(horizon_end))
            .max()?;
        if last < first {
            return None;
        }
        let (Some((day_start, _)), Some((_, day_end))) =
            (day_bounds(tz, first), day_bounds(tz, last))
        else {
            return None;
        };
        let margin = SignedDuration::from_hours(24);
        Some(Self {
            first,
            last,
            read_from: day_start.saturating_sub(margin).unwrap_or(day_start),
            read_to: day_end.saturating_add(margin).unwrap_or(day_end),
        })
    }
}

/// The offering of one doctor's free slots to the doctor's waiters, first come first served.
#[derive(Clone, Debug)]
pub struct OfferPlan<'a> {
    doctor: &'a Doctor,
    free: Vec<Slot>,
    offered_before: HashSet<(WaitlistEntryId, Timestamp)>,
    taken: HashSet<Timestamp>,
    claims_per_day: HashMap<Date, usize>,
}

impl<'a> OfferPlan<'a> {
    /// The plan over `window`: the doctor's offerable slots there given `time_off` and
    /// `occupancy` (the doctor's claims over the window's read instants), and the slots each
    /// entry was offered before (`offered_before`: entry and slot start), which it is not offered
    /// again.
    pub fn new(
        doctor: &'a Doctor,
        window: &OfferWindow,
        time_off: &[TimeOff],
        occupancy: &[Occupancy],
        offered_before: impl IntoIterator<Item = (WaitlistEntryId, Timestamp)>,
        now: Timestamp,
    ) -> Self {
        let tz = doctor.time_zone.tz();
        let mut claims_per_day: HashMap<Date, usize> = HashMap::new();
        for claim in occupancy {
            *claims_per_day
                .entry(tz.to_datetime(claim.start).date())
                .or_default() += 1;
        }
        Self {
            doctor,
            free: offerable_slots(doctor, time_off, occupancy, window.first, window.last, now),
            offered_before: offered_before.into_iter().collect(),
            taken: HashSet::new(),
            claims_per_day,
        }
    }

    /// Whether no slot is free to offer.
    pub fn is_empty(&self) -> bool {
        self.free.is_empty()
    }

    /// The slot to offer `waiter` now: the first free one not offered in this plan yet, not
    /// offered to this entry before, on a date its window accepts, on a day the doctor's daily
    /// maximum still has room. `None` when there is none; either way the waiter's turn is over.
    pub fn slot_for(&self, waiter: &Waiter) -> Option<Slot> {
        let tz = self.doctor.time_zone.tz();
        let max = self.doctor.schedule.rules.max_per_day.map(usize::from);
        self.free.iter().copied().find(|slot| {
            let date = tz.to_datetime(slot.start).date();
            !self.taken.contains(&slot.start)
                && !self.offered_before.contains(&(waiter.id, slot.start))
                && accepts(waiter.from, waiter.to, date)
                && waiter.preference.accepts(tz, slot.start, slot.end)
                && max.is_none_or(|max| self.claims_per_day.get(&date).copied().unwrap_or(0) < max)
        })
    }

    /// `slot` was offered: nobody else gets it, and it counts towards its day's maximum.
    pub fn offered(&mut self, slot: &Slot) {
        self.taken.insert(slot.start);
        let date = self.doctor.time_zone.tz().to_datetime(slot.start).date();
        *self.claims_per_day.entry(date).or_default() += 1;
    }
}

/// The offer of `slot` to `waiter`: an open offer, held for the offer window from `now`.
/// `None` if that instant is out of range.
pub fn new_offer(
    doctor: &Doctor,
    waiter: &Waiter,
    slot: &Slot,
    offer_window: SignedDuration,
    now: Timestamp,
) -> Option<WaitlistOffer> {
    Some(WaitlistOffer {
        id: OfferId::generate(),
        entry_id: waiter.id,
        patient_id: waiter.patient_id,
        doctor_id: doctor.id,
        hold_id: HoldId::generate(),
        start: slot.start,
        end: slot.end,
        expires_at: now.saturating_add(offer_window).ok()?,
        state: OfferState::Open,
    })
}

/// The messages announcing `offer`: one per way the patient can be reached (their e-mail
/// address and phone number), each sent at most once and worthless after the offer lapses.
pub fn offer_messages(
    doctor: &Doctor,
    offer: &WaitlistOffer,
    email: Option<Email>,
    phone: Option<PhoneNumber>,
    public_url: Option<&str>,
) -> Vec<NewMessage> {
    let (subject, body) = offer_message(doctor, offer, public_url);
    let recipients = email
        .map(Identifier::Email)
        .into_iter()
        .chain(phone.map(Identifier::Phone));
    recipients
        .map(|to| {
            let channel = match &to {
                Identifier::Email(_) => "email",
                Identifier::Phone(_) => "phone",
            };
            NewMessage {
                idempotency_key: format!("waitlist-offer:{}:{channel}", offer.id),
                message: OutboundMessage {
                    to,
                    subject: subject.clone(),
                    body: body.clone(),
                    attachment: None,
                },
                expires_at: Some(offer.expires_at),
                sensitive: false,
                kind: MessageKind::WaitlistOffer,
                appointment_id: None,
                due_at: None,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use jiff::civil::{date, time};

    use super::*;
    use crate::booking::SlotStatus;
    use crate::fixtures;
    use crate::schedule::{BookingRules, TimeRange, WeeklyHours};

    /// Tuesdays and Wednesdays 09:00–10:30 in Berlin, 30-minute slots: three a day.
    fn doctor(max_per_day: Option<u16>) -> Doctor {
        let morning = TimeRange::new(time(9, 0, 0, 0), time(10, 30, 0, 0)).unwrap();
        let hours = WeeklyHours {
            tuesday: vec![morning],
            wednesday: vec![morning],
            ..WeeklyHours::default()
        };
        let rules = BookingRules {
            horizon_days: 14,
            max_per_day,
            ..fixtures::rules()
        };
        fixtures::doctor("Dr. Test", hours, WeeklyHours::default(), rules)
    }

    /// Monday 1 March 2027, 08:00 UTC.
    fn now() -> Timestamp {
        "2027-03-01T08:00:00Z".parse().unwrap()
    }

    fn waiter(from: Option<Date>, to: Option<Date>) -> Waiter {
        Waiter {
            id: WaitlistEntryId::generate(),
            patient_id: UserId::generate(),
            from,
            to,
            preference: WaitPreference::ANY,
        }
    }

    fn at(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn booked(doctor: &Doctor, start: &str) -> Occupancy {
        let start = at(start);
        Occupancy {
            doctor_id: doctor.id,
            start,
            end: start + SignedDuration::from_mins(30),
            status: SlotStatus::Booked,
        }
    }

    #[test]
    fn a_waiter_is_offered_only_days_and_times_that_suit_them() {
        let doctor = doctor(None);
        let picky = Waiter {
            preference: WaitPreference::parse(&["wednesday"], Some("09:30"), Some("10:30"))
                .unwrap(),
            ..waiter(None, None)
        };
        let window = OfferWindow::of(&doctor, &[picky], now()).unwrap();
        let plan = OfferPlan::new(&doctor, &window, &[], &[], [], now());
        // Tuesday's slots and Wednesday's 09:00 do not suit; Wednesday 09:30 (08:30 UTC) does.
        assert_eq!(
            plan.slot_for(&picky).unwrap().start,
            at("2027-03-03T08:30:00Z")
        );
        let too_late = Waiter {
            preference: WaitPreference::parse(&[], Some("10:00"), Some("10:20")).unwrap(),
            ..waiter(None, None)
        };
        assert_eq!(plan.slot_for(&too_late), None, "no slot ends by 10:20");
    }

    #[test]
    fn written_preferences_are_checked() {
        assert!(WaitPreference::parse(&["Funday"], None, None).is_err());
        assert!(WaitPreference::parse(&[], Some("18:00"), Some("09:00")).is_err());
        assert!(WaitPreference::parse(&[], Some("9"), None).is_err());
        let any = WaitPreference::parse(&[], Some(""), None).unwrap();
        assert!(any.is_any());
        let some = WaitPreference::parse(&["MONDAY", "friday"], None, None).unwrap();
        assert_eq!(some.day_names(), ["monday", "friday"]);
    }

    #[test]
    fn waiters_take_turns_at_the_free_slots_in_queue_order_within_their_dates() {
        let doctor = doctor(None);
        let early = waiter(None, None);
        let wednesday_only = waiter(Some(date(2027, 3, 3)), Some(date(2027, 3, 3)));
        let second = waiter(None, None);
        let waiters = [early, wednesday_only, second];
        let window = OfferWindow::of(&doctor, &waiters, now()).unwrap();
        assert_eq!(window.first, date(2027, 3, 1));
        let occupancy = [booked(&doctor, "2027-03-02T08:00:00Z")];
        let mut plan = OfferPlan::new(&doctor, &window, &[], &occupancy, [], now());

        let first = plan.slot_for(&early).unwrap();
        assert_eq!(
            first.start,
            at("2027-03-02T08:30:00Z"),
            "the 09:00 is booked"
        );
        plan.offered(&first);
        let wednesday = plan.slot_for(&wednesday_only).unwrap();
        assert_eq!(wednesday.start, at("2027-03-03T08:00:00Z"));
        plan.offered(&wednesday);
        let next = plan.slot_for(&second).unwrap();
        assert_eq!(
            next.start,
            at("2027-03-02T09:00:00Z"),
            "the 09:30 went to the first"
        );
    }

    #[test]
    fn an_entry_is_not_offered_a_slot_again_and_an_unoffered_slot_stays_for_the_next() {
        let doctor = doctor(None);
        let declined = waiter(None, None);
        let next = waiter(None, None);
        let window = OfferWindow::of(&doctor, &[declined, next], now()).unwrap();
        let tuesday_nine = at("2027-03-02T08:00:00Z");
        let plan = OfferPlan::new(
            &doctor,
            &window,
            &[],
            &[],
            [(declined.id, tuesday_nine)],
            now(),
        );
        assert_eq!(
            plan.slot_for(&declined).unwrap().start,
            at("2027-03-02T08:30:00Z")
        );
        // The first's offer failed (an open offer elsewhere): nothing was marked offered.
        assert_eq!(plan.slot_for(&next).unwrap().start, tuesday_nine);
    }

    #[test]
    fn offers_count_towards_the_daily_maximum() {
        let doctor = doctor(Some(2));
        let waiters = [waiter(None, None), waiter(None, None), waiter(None, None)];
        let window = OfferWindow::of(&doctor, &waiters, now()).unwrap();
        let occupancy = [booked(&doctor, "2027-03-02T08:00:00Z")];
        let mut plan = OfferPlan::new(&doctor, &window, &[], &occupancy, [], now());
        let first = plan.slot_for(&waiters[0]).unwrap();
        assert_eq!(first.start, at("2027-03-02T08:30:00Z"));
        plan.offered(&first);
        // Tuesday has its two now: the next offer is on Wednesday.
        let second = plan.slot_for(&waiters[1]).unwrap();
        assert_eq!(second.start, at("2027-03-03T08:00:00Z"));
    }

    #[test]
    fn no_window_without_waiters_or_when_every_waiter_wants_days_past_the_horizon() {
        let doctor = doctor(None);
        assert_eq!(OfferWindow::of(&doctor, &[], now()), None);
        let late = waiter(Some(date(2027, 6, 1)), None);
        assert_eq!(OfferWindow::of(&doctor, &[late], now()), None);
    }

    #[test]
    fn an_offer_is_announced_once_per_way_to_reach_the_patient() {
        let doctor = doctor(None);
        let waiter = waiter(None, None);
        let slot = Slot {
            start: at("2027-03-02T08:00:00Z"),
            end: at("2027-03-02T08:30:00Z"),
        };
        let offer = new_offer(
            &doctor,
            &waiter,
            &slot,
            SignedDuration::from_mins(10),
            now(),
        )
        .unwrap();
        assert_eq!(offer.expires_at, at("2027-03-01T08:10:00Z"));
        let email = Email::parse("ada@example.org").unwrap();
        let phone = PhoneNumber::parse("+4930123456").unwrap();
        let messages = offer_messages(&doctor, &offer, Some(email), Some(phone), None);
        let keys: Vec<_> = messages.iter().map(|m| m.idempotency_key.clone()).collect();
        assert_eq!(
            keys,
            [
                format!("waitlist-offer:{}:email", offer.id),
                format!("waitlist-offer:{}:phone", offer.id),
            ]
        );
        assert!(
            messages
                .iter()
                .all(|m| m.expires_at == Some(offer.expires_at))
        );
        assert!(offer_messages(&doctor, &offer, None, None, None).is_empty());
    }
}
