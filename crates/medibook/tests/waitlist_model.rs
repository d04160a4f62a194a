//! A model-based test of the waitlist queue: random sequences of joins, leaves, bookings,
//! cancellations, reschedules, accepted, declined and lapsed offers run against the real
//! booking and waitlist services over a real database, and after every step the database must
//! agree with a small reference model of the rules in `medibook_core::waitlist`.
//!
//! The world is one doctor with exactly four slots on one date (Tuesday 2 March 2027, 09:00 to
//! 11:00 in Berlin), five patients who wait for that date and four who simply book. The model
//! keeps the entries in join order, the offers ever made and the appointments; a slot is free,
//! held by an open offer, or booked. Whenever a slot is freed (a cancellation, a reschedule, a
//! declined offer, leaving with an offer, lapsed offers) and when somebody joins, the free slots
//! are offered: each waiting entry, in queue order, whose patient has no open offer gets the
//! earliest free slot not offered in this round and never offered to that entry before.
//! Offers lapse either with the sweeper running, or silently, to be noticed by the next change
//! on the doctor's agenda (which frees their slots before doing its own work).
//!
//! Besides the model's own state, each step checks invariants on the raw tables: no two claims
//! of the doctor overlap, nobody has two open offers, every open offer's hold is active and
//! claims its slot, an appointment booked through an offer settled that offer and its entry,
//! no slot stays free while a waiter who was never offered it waits, and the slot event log
//! ends on each slot's status. The offers the services announce, and the messages they queue,
//! must be the offers the model made. On a failure proptest shrinks the sequence and the panic
//! message lists the smallest one found, up to the step that failed.
//!
//! Runs on SQLite (a new file per case), and on PostgreSQL when `MEDIBOOK_TEST_POSTGRES_URL`
//! is set (required under `CI=true`; one new database, emptied before each case).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use jiff::civil::{Date, date};
use jiff::{SignedDuration, Timestamp};
use medibook_core::audit::Actor;
use medibook_core::booking::{AppointmentStatus, Reason};
use medibook_core::booking_service::{BookingPolicy, BookingService};
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::clock::ManualClock;
use medibook_core::events::{DomainEvent, EventBus};
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::{AppointmentId, DoctorId, OfferId, SpecialtyId, UserId, WaitlistEntryId};
use medibook_core::ports::{ClinicRepository, IdentityRepository};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_core::waitlist::{EntryState, OfferState, WaitTarget, WaitlistOffer, WaitlistPolicy};
use medibook_core::waitlist_service::{JoinRequest, WaitlistService};
use medibook_store::Database;
use proptest::prelude::*;
use proptest::test_runner::{TestError, TestRunner};

/// Slots of the doctor on the waited-for date.
const SLOTS: usize = 4;
/// Patients who join the waitlist.
const WAITERS: usize = 5;
/// Patients who book directly.
const BOOKERS: usize = 4;
/// The date everybody waits for and books on.
const DAY: Date = date(2027, 3, 2);

// ---------------------------------------------------------------------------------------------
// Operations
// ---------------------------------------------------------------------------------------------

/// One step of a generated sequence. Indices pick a waiter, a booker, a slot or an appointment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    /// Waiter joins the doctor's waitlist for `DAY` (again: the same entry comes back).
    Join(usize),
    /// Waiter leaves with their latest entry; an open offer is declined and passes on.
    Leave(usize),
    /// Booker holds slot `.1` and confirms it.
    Book(usize, usize),
    /// The appointment at this index (modulo the live ones) is cancelled by its patient.
    Cancel(usize),
    /// The appointment at this index (modulo the live ones) is moved by its patient to slot
    /// `.1`: they hold it, then reschedule onto the hold.
    Reschedule(usize, usize),
    /// Waiter confirms their open offer's hold (a no-op without one).
    Accept(usize),
    /// Waiter declines their open offer, or else their latest settled offer again.
    Decline(usize),
    /// The clock moves past the offer window and the sweeper runs.
    Expire,
    /// The clock moves past the offer window and no sweeper runs: the next change on the
    /// doctor's agenda notices the lapsed offers.
    Lapse,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..WAITERS).prop_map(Op::Join),
        1 => (0..WAITERS).prop_map(Op::Leave),
        2 => (0..BOOKERS, 0..SLOTS).prop_map(|(b, s)| Op::Book(b, s)),
        2 => (0..8_usize).prop_map(Op::Cancel),
        1 => (0..8_usize, 0..SLOTS).prop_map(|(k, s)| Op::Reschedule(k, s)),
        2 => (0..WAITERS).prop_map(Op::Accept),
        2 => (0..WAITERS).prop_map(Op::Decline),
        1 => Just(Op::Expire),
        1 => Just(Op::Lapse),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(op(), 5..=40)
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

/// Who an appointment is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Patient {
    Waiter(usize),
    Booker(usize),
}

/// What occupies a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Free,
    /// Held by the open offer at this index of `Model::offers`.
    Offered(usize),
    /// Booked by the appointment at this index of `Model::appointments`.
    Booked(usize),
}

#[derive(Clone, Debug)]
struct ModelEntry {
    /// The id the service gave it (the model cannot guess ids).
    id: WaitlistEntryId,
    waiter: usize,
    state: EntryState,
}

#[derive(Clone, Debug)]
struct ModelOffer {
    /// Index into `Model::entries`.
    entry: usize,
    slot: usize,
    state: OfferState,
}

#[derive(Clone, Debug)]
struct ModelAppointment {
    id: AppointmentId,
    patient: Patient,
    slot: usize,
    cancelled: bool,
}

/// The waitlist as the rules describe it.
#[derive(Clone, Debug, Default)]
struct Model {
    /// In join order (which is queue order).
    entries: Vec<ModelEntry>,
    /// Every offer ever made, in the order made.
    offers: Vec<ModelOffer>,
    /// Every appointment ever booked, in the order booked.
    appointments: Vec<ModelAppointment>,
    /// Every open offer has lapsed, but the database has not noticed yet: the offers are still
    /// open and their holds still claim their slots until a change on the doctor's agenda (or
    /// the sweeper) expires them.
    lapsed: bool,
}

impl Model {
    fn slot_state(&self, slot: usize) -> SlotState {
        if let Some(i) = self
            .offers
            .iter()
            .position(|o| o.slot == slot && o.state == OfferState::Open)
        {
            return SlotState::Offered(i);
        }
        if let Some(i) = self
            .appointments
            .iter()
            .position(|a| a.slot == slot && !a.cancelled)
        {
            return SlotState::Booked(i);
        }
        SlotState::Free
    }

    fn open_offer_of(&self, waiter: usize) -> Option<usize> {
        self.offers
            .iter()
            .position(|o| o.state == OfferState::Open && self.entries[o.entry].waiter == waiter)
    }

    fn latest_offer_of(&self, waiter: usize) -> Option<usize> {
        self.offers
            .iter()
            .rposition(|o| self.entries[o.entry].waiter == waiter)
    }

    fn latest_entry_of(&self, waiter: usize) -> Option<usize> {
        self.entries.iter().rposition(|e| e.waiter == waiter)
    }

    fn active_entry_of(&self, waiter: usize) -> Option<usize> {
        self.latest_entry_of(waiter).filter(|&i| {
            matches!(
                self.entries[i].state,
                EntryState::Waiting | EntryState::Offered
            )
        })
    }

    fn offered_before(&self, entry: usize, slot: usize) -> bool {
        self.offers
            .iter()
            .any(|o| o.entry == entry && o.slot == slot)
    }

    fn live_appointments(&self) -> Vec<usize> {
        (0..self.appointments.len())
            .filter(|&i| !self.appointments[i].cancelled)
            .collect()
    }

    /// Offers the free slots: each waiting entry in queue order whose patient has no open offer
    /// gets the earliest free slot never offered to it. Returns the indices of the new offers.
    fn offer_round(&mut self) -> Vec<usize> {
        self.offer_round_beside(None)
    }

    /// Like [`Model::offer_round`], while a plain hold (which the model does not keep) occupies
    /// `held`.
    fn offer_round_beside(&mut self, held: Option<usize>) -> Vec<usize> {
        let mut made = Vec::new();
        for entry in 0..self.entries.len() {
            if self.entries[entry].state != EntryState::Waiting
                || self.open_offer_of(self.entries[entry].waiter).is_some()
            {
                continue;
            }
            let slot = (0..SLOTS).find(|&slot| {
                self.slot_state(slot) == SlotState::Free
                    && held != Some(slot)
                    && !self.offered_before(entry, slot)
            });
            if let Some(slot) = slot {
                self.offers.push(ModelOffer {
                    entry,
                    slot,
                    state: OfferState::Open,
                });
                self.entries[entry].state = EntryState::Offered;
                made.push(self.offers.len() - 1);
            }
        }
        made
    }

    /// Notices lapsed offers, as every change on the doctor's agenda does first: they expire
    /// and their entries wait again. Whether any did.
    fn notice_lapse(&mut self) -> bool {
        std::mem::take(&mut self.lapsed) && self.expire_open_offers() > 0
    }

    /// Expires every open offer; their entries wait again. How many there were.
    fn expire_open_offers(&mut self) -> usize {
        let open: Vec<usize> = (0..self.offers.len())
            .filter(|&o| self.offers[o].state == OfferState::Open)
            .collect();
        for &o in &open {
            self.give_back(o, OfferState::Expired);
        }
        self.lapsed = false;
        open.len()
    }

    /// Settles an open offer without booking it: the entry waits again, the slot is free.
    fn give_back(&mut self, offer: usize, state: OfferState) {
        self.offers[offer].state = state;
        let entry = self.offers[offer].entry;
        self.entries[entry].state = EntryState::Waiting;
    }
}

// ---------------------------------------------------------------------------------------------
// The real world
// ---------------------------------------------------------------------------------------------

/// Where a case's database lives.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Backend {
    /// A new SQLite file per case.
    Sqlite,
    /// The database at this URL, emptied at the start of each case.
    Postgres(String),
}

impl Backend {
    fn name(&self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgres(_) => "PostgreSQL",
        }
    }
}

/// Keeps the offers the services announce, to compare with the offers the model made.
#[derive(Default)]
struct OfferRecorder {
    offers: Mutex<Vec<WaitlistOffer>>,
}

impl OfferRecorder {
    fn take(&self) -> Vec<WaitlistOffer> {
        std::mem::take(&mut *self.offers.lock().unwrap())
    }
}

impl EventBus for OfferRecorder {
    fn publish(&self, event: DomainEvent) {
        if let DomainEvent::WaitlistOffer(offer) = event {
            self.offers.lock().unwrap().push(offer);
        }
    }
}

/// The services over a fresh database, wired as `App::build` wires them.
struct World {
    database: Database,
    bookings: BookingService,
    waitlist: WaitlistService,
    clock: Arc<ManualClock>,
    announced: Arc<OfferRecorder>,
    doctor: DoctorId,
    waiters: Vec<UserId>,
    bookers: Vec<UserId>,
    /// Starts of the doctor's slots on `DAY`, in order.
    slots: [Timestamp; SLOTS],
    /// Holds the SQLite file.
    _dir: Option<tempfile::TempDir>,
}

fn time(hh_mm: &str) -> jiff::civil::Time {
    hh_mm.parse().unwrap()
}

/// Tuesdays 09:00–11:00 in Berlin, 30-minute slots, no buffers, no notice, no daily maximum.
fn tuesday_doctor(specialty: SpecialtyId) -> Doctor {
    Doctor {
        id: DoctorId::generate(),
        name: "Dr. Queue".into(),
        specialty_id: specialty,
        qualification: "MD".into(),
        years_experience: 10,
        bio: "Sees patients on Tuesday mornings.".into(),
        fee: Fee::new(6500, "EUR").unwrap(),
        photo_url: None,
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        schedule: WeeklySchedule {
            hours: WeeklyHours {
                tuesday: vec![TimeRange::new(time("09:00"), time("11:00")).unwrap()],
                ..WeeklyHours::default()
            },
            breaks: WeeklyHours::default(),
            rules: BookingRules {
                slot_minutes: 30,
                buffer_before_minutes: 0,
                buffer_after_minutes: 0,
                min_notice_minutes: 0,
                horizon_days: 60,
                max_per_day: None,
            },
        }
        .validate()
        .unwrap(),
    }
}

async fn world(backend: &Backend) -> World {
    let (database, dir) = match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("waitlist.db").display());
            let database = Database::connect(&url).await.unwrap();
            database.migrate().await.unwrap();
            (database, Some(dir))
        }
        Backend::Postgres(url) => {
            let database = Database::connect(url).await.unwrap();
            empty_postgres(&database).await;
            (database, None)
        }
    };
    let policy = WaitlistPolicy {
        offer_window: SignedDuration::from_mins(10),
        max_entries_per_patient: 5,
    };
    let database = database.with_waitlist_policy(policy);
    let start: Timestamp = "2027-03-01T08:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));

    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "General practice".into(),
        keywords: Vec::new(),
    };
    database.add_specialty(&specialty).await.unwrap();
    let doctor = tuesday_doctor(specialty.id);
    database.add_doctor(&doctor).await.unwrap();

    let waiters = patients(&database, "p", WAITERS, start).await;
    let bookers = patients(&database, "b", BOOKERS, start).await;

    let announced = Arc::new(OfferRecorder::default());
    let store = Arc::new(database.clone());
    let bookings = BookingService::new(
        store.clone(),
        store.clone(),
        clock.clone(),
        announced.clone(),
        BookingPolicy {
            hold_duration: SignedDuration::from_mins(5),
            max_active_appointments: 100,
            max_holds_per_patient: 100,
            ..BookingPolicy::default()
        },
    );
    let waitlist = WaitlistService::new(
        store.clone(),
        store,
        clock.clone(),
        announced.clone(),
        policy,
    );
    let slots = [(9, 0), (9, 30), (10, 0), (10, 30)].map(|(hour, minute)| {
        DAY.at(hour, minute, 0, 0)
            .in_tz("Europe/Berlin")
            .unwrap()
            .timestamp()
    });
    World {
        database,
        bookings,
        waitlist,
        clock,
        announced,
        doctor: doctor.id,
        waiters,
        bookers,
        slots,
        _dir: dir,
    }
}

/// Empties every table of a migrated PostgreSQL database, which leaves it as a fresh migration
/// would (the migrations insert no rows). Creating and dropping a database per case costs over
/// two seconds (`DROP DATABASE` waits for a checkpoint); this costs a fraction of that. The
/// audit log refuses `TRUNCATE` by design, and nothing here writes to it.
async fn empty_postgres(database: &Database) {
    let tables: Vec<String> = medibook_store::sql::query(
        "SELECT tablename::text AS name FROM pg_tables
         WHERE schemaname = current_schema()
           AND tablename NOT IN ('_sqlx_migrations', 'audit_log')",
    )
    .fetch_all(database.pool())
    .await
    .unwrap()
    .iter()
    .map(|row| format!("\"{}\"", row.get::<String, _>("name")))
    .collect();
    medibook_store::sql::query(medibook_store::sql::AssertSqlSafe(format!(
        "TRUNCATE {} CASCADE",
        tables.join(", ")
    )))
    .execute(database.pool())
    .await
    .unwrap();
}

/// Patients `{prefix}0@example.org`, `{prefix}1@example.org`, …
async fn patients(database: &Database, prefix: &str, n: usize, now: Timestamp) -> Vec<UserId> {
    let mut ids = Vec::new();
    for i in 0..n {
        let email = Email::parse(&format!("{prefix}{i}@example.org")).unwrap();
        let user = database
            .user_for(&Identifier::Email(email), now)
            .await
            .unwrap();
        ids.push(user.id);
    }
    ids
}

impl World {
    fn now(&self) -> Timestamp {
        medibook_core::clock::Clock::now(self.clock.as_ref())
    }

    fn user(&self, patient: Patient) -> UserId {
        match patient {
            Patient::Waiter(i) => self.waiters[i],
            Patient::Booker(i) => self.bookers[i],
        }
    }

    fn join_request(&self) -> JoinRequest {
        JoinRequest {
            target: WaitTarget::Doctor(self.doctor),
            from: Some(DAY),
            to: Some(DAY),
            preference: medibook_core::waitlist::WaitPreference::ANY,
        }
    }

    fn slot_index(&self, start: Timestamp) -> Option<usize> {
        self.slots.iter().position(|s| *s == start)
    }

    fn slot_of_micros(&self, micros: i64) -> Result<usize, String> {
        self.slots
            .iter()
            .position(|s| s.as_microsecond() == micros)
            .ok_or_else(|| format!("{micros} µs is not one of the doctor's slots"))
    }
}

// ---------------------------------------------------------------------------------------------
// Applying one operation to the services and to the model
// ---------------------------------------------------------------------------------------------

macro_rules! ensure {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            return Err(format!($($arg)+));
        }
    };
}

/// What a step did, for the checks that follow it.
#[derive(Default)]
struct Outcome {
    /// Indices of the offers the model made in this step.
    new_offers: Vec<usize>,
}

fn reason() -> Reason {
    Reason::parse("Check-up").unwrap()
}

async fn apply(world: &World, model: &mut Model, op: Op) -> Result<Outcome, String> {
    let mut outcome = Outcome::default();
    match op {
        Op::Join(p) => {
            let active = model.active_entry_of(p);
            let (entry, created) = world
                .waitlist
                .join(world.waiters[p], &Actor::system(), world.join_request())
                .await
                .map_err(|e| format!("join failed: {e}"))?;
            if let Some(i) = active {
                ensure!(
                    !created && entry.id == model.entries[i].id,
                    "joining again should return entry #{i} unchanged, got created={created}"
                );
            } else {
                ensure!(created, "joining should create an entry");
                model.entries.push(ModelEntry {
                    id: entry.id,
                    waiter: p,
                    state: EntryState::Waiting,
                });
                model.notice_lapse();
                outcome.new_offers = model.offer_round();
            }
            let i = model
                .active_entry_of(p)
                .ok_or("the joined entry is not active")?;
            ensure!(
                entry.state == model.entries[i].state,
                "join returned the entry {:?}, the model says {:?}",
                entry.state,
                model.entries[i].state
            );
            let offered = model
                .open_offer_of(p)
                .map(|o| world.slots[model.offers[o].slot]);
            ensure!(
                entry.offer.map(|o| o.start) == offered,
                "join returned the offer {:?}, the model says {offered:?}",
                entry.offer
            );
        }
        Op::Leave(p) => {
            let Some(i) = model.latest_entry_of(p) else {
                let left = world
                    .waitlist
                    .leave(
                        world.waiters[p],
                        &Actor::system(),
                        WaitlistEntryId::generate(),
                    )
                    .await;
                ensure!(
                    left.as_ref().is_err_and(|e| e.code() == "not_found"),
                    "leaving an unknown entry should be not_found, got {left:?}"
                );
                return Ok(outcome);
            };
            world
                .waitlist
                .leave(world.waiters[p], &Actor::system(), model.entries[i].id)
                .await
                .map_err(|e| format!("leave failed: {e}"))?;
            match model.entries[i].state {
                EntryState::Waiting => model.entries[i].state = EntryState::Left,
                EntryState::Offered => {
                    let offer = model
                        .open_offer_of(p)
                        .ok_or("offered entry without offer")?;
                    // A lapsed offer expires rather than being declined.
                    if !model.notice_lapse() {
                        model.give_back(offer, OfferState::Declined);
                    }
                    model.entries[i].state = EntryState::Left;
                    outcome.new_offers = model.offer_round();
                }
                EntryState::Left | EntryState::Fulfilled => {}
            }
        }
        Op::Book(b, slot) => {
            // Holding notices lapsed offers first, so their slots can be held; a refused hold
            // rolls that back with everything else.
            let before = model.clone();
            let noticed = model.notice_lapse();
            let free = model.slot_state(slot) == SlotState::Free;
            let user = world.bookers[b];
            let held = world
                .bookings
                .hold(
                    &Actor::operator(),
                    user,
                    world.doctor,
                    world.slots[slot],
                    medibook_core::booking_service::HoldPurpose::NewAppointment,
                )
                .await;
            match (free, held) {
                (true, Ok(claimed)) => {
                    ensure!(claimed.created, "a new hold should be created");
                    let booked = world
                        .bookings
                        .confirm(&Actor::operator(), user, claimed.hold.id, reason())
                        .await
                        .map_err(|e| format!("confirming a fresh hold failed: {e}"))?;
                    model.appointments.push(ModelAppointment {
                        id: booked.appointment.id,
                        patient: Patient::Booker(b),
                        slot,
                        cancelled: false,
                    });
                    if noticed {
                        outcome.new_offers = model.offer_round();
                    }
                }
                (false, Err(e)) if e.code() == "slot_taken" => *model = before,
                (free, held) => {
                    return Err(format!(
                        "holding slot {slot} ({:?} in the model, free={free}) gave {:?}",
                        model.slot_state(slot),
                        held.map(|c| c.hold.id)
                    ));
                }
            }
        }
        Op::Reschedule(k, slot) => {
            let live = model.live_appointments();
            if live.is_empty() {
                return Ok(outcome);
            }
            let a = live[k % live.len()];
            let (id, patient) = (model.appointments[a].id, model.appointments[a].patient);
            let user = world.user(patient);
            // Holding a slot one's own live offer holds returns the offer's hold.
            let own_offer = match patient {
                Patient::Waiter(p) => model
                    .open_offer_of(p)
                    .filter(|&o| model.offers[o].slot == slot && !model.lapsed),
                Patient::Booker(_) => None,
            };
            let before = model.clone();
            let noticed = model.notice_lapse();
            let free = model.slot_state(slot) == SlotState::Free;
            let held = world
                .bookings
                .hold(
                    &Actor::operator(),
                    user,
                    world.doctor,
                    world.slots[slot],
                    medibook_core::booking_service::HoldPurpose::NewAppointment,
                )
                .await;
            let hold = match (own_offer, free, held) {
                (Some(o), _, Ok(claimed)) => {
                    ensure!(
                        !claimed.created,
                        "holding the slot of one's own offer should return the offer's hold"
                    );
                    model.offers[o].state = OfferState::Accepted;
                    let entry = model.offers[o].entry;
                    model.entries[entry].state = EntryState::Fulfilled;
                    claimed.hold.id
                }
                (None, true, Ok(claimed)) => {
                    ensure!(claimed.created, "a new hold should be created");
                    if noticed {
                        outcome.new_offers = model.offer_round_beside(Some(slot));
                    }
                    claimed.hold.id
                }
                (None, false, Err(e)) if e.code() == "slot_taken" => {
                    *model = before;
                    return Ok(outcome);
                }
                (own_offer, free, held) => {
                    return Err(format!(
                        "holding slot {slot} ({:?} in the model, free={free}, own offer \
                         {own_offer:?}) gave {:?}",
                        model.slot_state(slot),
                        held.map(|c| c.hold.id)
                    ));
                }
            };
            let moved = world
                .bookings
                .reschedule(&Actor::operator(), user, id, hold)
                .await
                .map_err(|e| format!("reschedule failed: {e}"))?;
            ensure!(
                moved.start == world.slots[slot],
                "the appointment should have moved to slot {slot}"
            );
            model.appointments[a].slot = slot;
            outcome.new_offers.extend(model.offer_round());
        }
        Op::Cancel(k) => {
            let live = model.live_appointments();
            if live.is_empty() {
                return Ok(outcome);
            }
            let a = live[k % live.len()];
            let appointment = &model.appointments[a];
            let cancelled = world
                .bookings
                .cancel(
                    &Actor::operator(),
                    world.user(appointment.patient),
                    appointment.id,
                )
                .await
                .map_err(|e| format!("cancel failed: {e}"))?;
            ensure!(
                cancelled.status == AppointmentStatus::Cancelled,
                "the appointment should be cancelled"
            );
            model.appointments[a].cancelled = true;
            model.notice_lapse();
            outcome.new_offers = model.offer_round();
        }
        Op::Accept(p) => {
            // Confirming a lapsed offer is not generated: today it books the slot but leaves the
            // entry waiting (so it is offered further slots), and the rules do not say yet
            // whether it should be refused instead or fulfil the entry.
            let Some(o) = model.open_offer_of(p).filter(|_| !model.lapsed) else {
                return Ok(outcome);
            };
            let offer = open_offer_via_api(world, p).await?;
            let slot = model.offers[o].slot;
            ensure!(
                offer.start == world.slots[slot],
                "the open offer is for {}, the model says slot {slot}",
                offer.start
            );
            let booked = world
                .bookings
                .confirm(
                    &Actor::operator(),
                    world.waiters[p],
                    offer.hold_id,
                    reason(),
                )
                .await
                .map_err(|e| format!("confirming the offer failed: {e}"))?;
            ensure!(
                booked.changed && booked.appointment.start == offer.start,
                "confirming the offer should book its slot"
            );
            model.offers[o].state = OfferState::Accepted;
            let entry = model.offers[o].entry;
            model.entries[entry].state = EntryState::Fulfilled;
            model.appointments.push(ModelAppointment {
                id: booked.appointment.id,
                patient: Patient::Waiter(p),
                slot,
                cancelled: false,
            });
        }
        Op::Decline(p) => {
            if let Some(o) = model.open_offer_of(p) {
                let offer = open_offer_via_api(world, p).await?;
                world
                    .waitlist
                    .decline(world.waiters[p], &Actor::system(), offer.id)
                    .await
                    .map_err(|e| format!("decline failed: {e}"))?;
                // A lapsed offer expires rather than being declined.
                if !model.notice_lapse() {
                    model.give_back(o, OfferState::Declined);
                }
                outcome.new_offers = model.offer_round();
            } else if let Some(o) = model.latest_offer_of(p) {
                // Declining a settled offer again changes nothing; a booked one is refused.
                let id = offer_id(world, model, o).await?;
                let declined = world
                    .waitlist
                    .decline(world.waiters[p], &Actor::system(), id)
                    .await;
                match model.offers[o].state {
                    OfferState::Accepted => ensure!(
                        declined
                            .as_ref()
                            .is_err_and(|e| e.code() == "invalid_state"),
                        "declining a booked offer should be invalid_state, got {declined:?}"
                    ),
                    _ => ensure!(
                        declined.is_ok(),
                        "declining a settled offer again should be a no-op, got {declined:?}"
                    ),
                }
            }
        }
        Op::Expire => {
            world.clock.advance(SignedDuration::from_mins(11));
            let changed = world
                .bookings
                .sweep_expired_holds()
                .await
                .map_err(|e| format!("sweep failed: {e}"))?;
            let expired = model.expire_open_offers();
            if expired > 0 {
                outcome.new_offers = model.offer_round();
            }
            // One "available" event per lapsed hold, one "held" per new offer.
            let expected = expired + outcome.new_offers.len();
            ensure!(
                changed == expected,
                "the sweep recorded {changed} slot changes, the model expects {expected}"
            );
        }
        Op::Lapse => {
            world.clock.advance(SignedDuration::from_mins(11));
            model.lapsed = model.offers.iter().any(|o| o.state == OfferState::Open);
        }
    }
    Ok(outcome)
}

/// The waiter's open offer as a client sees it: through their list of entries.
async fn open_offer_via_api(world: &World, p: usize) -> Result<WaitlistOffer, String> {
    let entries = world
        .waitlist
        .entries_of(world.waiters[p])
        .await
        .map_err(|e| format!("entries_of failed: {e}"))?;
    entries
        .iter()
        .find_map(|e| e.offer)
        .ok_or_else(|| format!("waiter {p} has no open offer in entries_of"))
}

/// The id of the offer the model knows by entry and slot (an entry gets a slot at most once).
async fn offer_id(world: &World, model: &Model, offer: usize) -> Result<OfferId, String> {
    let o = &model.offers[offer];
    let row = medibook_store::sql::query(
        "SELECT id FROM waitlist_offers WHERE entry_id = $1 AND start_at = $2",
    )
    .bind(model.entries[o.entry].id.to_string())
    .bind(world.slots[o.slot].as_microsecond())
    .fetch_one(world.database.pool())
    .await
    .map_err(|e| format!("offer #{offer} not found: {e}"))?;
    let id: String = row.get("id");
    id.parse().map_err(|_| format!("bad offer id {id}"))
}

// ---------------------------------------------------------------------------------------------
// Comparing the database with the model
// ---------------------------------------------------------------------------------------------

/// A row of `waitlist_entries`.
struct EntryRow {
    id: String,
    patient: String,
    state: String,
}

/// A row of `waitlist_offers`.
struct OfferRow {
    entry: String,
    start: i64,
    state: String,
    patient: String,
    hold: String,
}

/// A row of `appointments`.
struct AppointmentRow {
    id: String,
    patient: String,
    start: i64,
    status: String,
}

/// A row of `slot_claims`.
#[derive(Debug)]
struct ClaimRow {
    start: i64,
    end: i64,
    hold: Option<String>,
    appointment: Option<String>,
    expires_at: Option<i64>,
}

/// An appointment booked with the hold of an offer, with what became of that offer.
struct BookedOfferRow {
    start: i64,
    offer_state: String,
    entry_state: String,
}

/// The rows of the doctor's agenda and waitlist that the checks look at.
struct Snapshot {
    /// In queue order.
    entries: Vec<EntryRow>,
    offers: Vec<OfferRow>,
    appointments: Vec<AppointmentRow>,
    claims: Vec<ClaimRow>,
    /// Ids of active holds.
    active_holds: BTreeSet<String>,
    /// (slot start, status) in `seq` order.
    slot_events: Vec<(i64, String)>,
    /// Offer messages queued in the outbox.
    offer_messages: i64,
    booked_offers: Vec<BookedOfferRow>,
}

impl Snapshot {
    fn open_offers(&self) -> impl Iterator<Item = &OfferRow> {
        self.offers.iter().filter(|o| o.state == "open")
    }
}

async fn rows(world: &World, sql: &'static str) -> Result<Vec<medibook_store::sql::Row>, String> {
    medibook_store::sql::query(sql)
        .bind(world.doctor.to_string())
        .fetch_all(world.database.pool())
        .await
        .map_err(|e| format!("query failed: {e}\n{sql}"))
}

async fn snapshot(world: &World) -> Result<Snapshot, String> {
    // Only one doctor exists; the queries take it as `$1` all the same.
    let entries = rows(
        world,
        "SELECT id, patient_id, state FROM waitlist_entries WHERE doctor_id = $1
         ORDER BY queued_at, id",
    )
    .await?
    .iter()
    .map(|r| EntryRow {
        id: r.get("id"),
        patient: r.get("patient_id"),
        state: r.get("state"),
    })
    .collect();
    let offers = rows(
        world,
        "SELECT entry_id, start_at, state, patient_id, hold_id FROM waitlist_offers
         WHERE doctor_id = $1",
    )
    .await?
    .iter()
    .map(|r| OfferRow {
        entry: r.get("entry_id"),
        start: r.get("start_at"),
        state: r.get("state"),
        patient: r.get("patient_id"),
        hold: r.get("hold_id"),
    })
    .collect();
    let appointments = rows(
        world,
        "SELECT id, patient_id, start_at, status FROM appointments WHERE doctor_id = $1",
    )
    .await?
    .iter()
    .map(|r| AppointmentRow {
        id: r.get("id"),
        patient: r.get("patient_id"),
        start: r.get("start_at"),
        status: r.get("status"),
    })
    .collect();
    let claims = rows(
        world,
        "SELECT claim_start, claim_end, hold_id, appointment_id, expires_at FROM slot_claims
         WHERE doctor_id = $1",
    )
    .await?
    .iter()
    .map(|r| ClaimRow {
        start: r.get("claim_start"),
        end: r.get("claim_end"),
        hold: r.get("hold_id"),
        appointment: r.get("appointment_id"),
        expires_at: r.get("expires_at"),
    })
    .collect();
    let active_holds = rows(
        world,
        "SELECT id FROM holds WHERE doctor_id = $1 AND state = 'active'",
    )
    .await?
    .iter()
    .map(|r| r.get("id"))
    .collect();
    let slot_events = rows(
        world,
        "SELECT start_at, status FROM slot_events WHERE doctor_id = $1 ORDER BY seq",
    )
    .await?
    .iter()
    .map(|r| (r.get("start_at"), r.get("status")))
    .collect();
    let offer_messages: i64 = medibook_store::sql::query(
        "SELECT COUNT(*) AS n FROM outbox WHERE idempotency_key LIKE 'waitlist-offer:%'",
    )
    .fetch_one(world.database.pool())
    .await
    .map_err(|e| format!("counting offer messages failed: {e}"))?
    .get("n");
    let booked_offers = rows(
        world,
        "SELECT a.start_at, o.state AS offer_state, e.state AS entry_state FROM appointments a
         JOIN waitlist_offers o ON o.hold_id = a.origin_hold_id
         JOIN waitlist_entries e ON e.id = o.entry_id
         WHERE a.doctor_id = $1",
    )
    .await?
    .iter()
    .map(|r| BookedOfferRow {
        start: r.get("start_at"),
        offer_state: r.get("offer_state"),
        entry_state: r.get("entry_state"),
    })
    .collect();
    Ok(Snapshot {
        entries,
        offers,
        appointments,
        claims,
        active_holds,
        slot_events,
        offer_messages,
        booked_offers,
    })
}

fn state_name(state: SlotState) -> &'static str {
    match state {
        SlotState::Free => "available",
        SlotState::Offered(_) => "held",
        SlotState::Booked(_) => "booked",
    }
}

/// Names for the ids in a comparison: `p0`, `b1`, entry `#2`.
struct Names {
    users: HashMap<String, String>,
    entries: HashMap<String, usize>,
}

impl Names {
    fn new(world: &World, model: &Model) -> Self {
        let waiters = world.waiters.iter().enumerate();
        let bookers = world.bookers.iter().enumerate();
        let users = waiters
            .map(|(i, id)| (id.to_string(), format!("p{i}")))
            .chain(bookers.map(|(i, id)| (id.to_string(), format!("b{i}"))))
            .collect();
        let entries = model
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id.to_string(), i))
            .collect();
        Self { users, entries }
    }

    fn user(&self, id: &str) -> String {
        self.users.get(id).cloned().unwrap_or_else(|| id.to_owned())
    }

    fn entry(&self, id: &str) -> Result<usize, String> {
        self.entries
            .get(id)
            .copied()
            .ok_or_else(|| format!("the database has an entry {id} the model does not know"))
    }
}

/// Compares the database (and what the services announced) with the model.
async fn compare(world: &World, model: &Model, outcome: &Outcome) -> Result<(), String> {
    let db = snapshot(world).await?;
    let names = Names::new(world, model);
    let offers = compare_waitlist(world, model, outcome, &db, &names)?;
    let claimed = compare_agenda(world, model, &db)?;
    check_work_conserving(&db, &names, &offers, &claimed)?;
    compare_views(world, model).await
}

/// Entries, offers (with their announcements and messages), and nobody with two open offers.
/// Returns the offers made so far, as (entry, slot) → state.
fn compare_waitlist(
    world: &World,
    model: &Model,
    outcome: &Outcome,
    db: &Snapshot,
    names: &Names,
) -> Result<BTreeMap<(usize, usize), String>, String> {
    let entries: Vec<(String, String, &str)> = db
        .entries
        .iter()
        .map(|e| (e.id.clone(), e.patient.clone(), e.state.as_str()))
        .collect();
    let expected: Vec<(String, String, &str)> = model
        .entries
        .iter()
        .map(|e| {
            (
                e.id.to_string(),
                world.waiters[e.waiter].to_string(),
                e.state.as_str(),
            )
        })
        .collect();
    if entries != expected {
        let show = |rows: &[(String, String, &str)]| {
            rows.iter()
                .map(|(id, patient, state)| {
                    let entry = names.entry(id).map_or("?".to_owned(), |i| i.to_string());
                    format!("#{entry}:{}={state}", names.user(patient))
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        return Err(format!(
            "entries differ:\n  database: {}\n  model:    {}",
            show(&entries),
            show(&expected)
        ));
    }

    let mut offers = BTreeMap::new();
    for offer in &db.offers {
        let e = names.entry(&offer.entry)?;
        let slot = world.slot_of_micros(offer.start)?;
        ensure!(
            offer.patient == world.waiters[model.entries[e].waiter].to_string(),
            "offer of entry #{e} is for {} instead of the entry's patient",
            names.user(&offer.patient)
        );
        ensure!(
            offers.insert((e, slot), offer.state.clone()).is_none(),
            "entry #{e} was offered slot {slot} twice"
        );
    }
    let mut open_per_patient: HashMap<&str, usize> = HashMap::new();
    for offer in db.open_offers() {
        *open_per_patient.entry(offer.patient.as_str()).or_default() += 1;
    }
    for (patient, n) in &open_per_patient {
        ensure!(*n <= 1, "{} has {n} open offers", names.user(patient));
    }
    let expected_offers: BTreeMap<(usize, usize), String> = model
        .offers
        .iter()
        .map(|o| ((o.entry, o.slot), o.state.as_str().to_owned()))
        .collect();
    ensure!(
        offers == expected_offers,
        "offers (entry, slot) → state differ:\n  database: {offers:?}\n  model:    {expected_offers:?}"
    );

    // The offers announced in this step are the ones the model made, and every offer queued a
    // message (every patient here has an email address).
    let announced: BTreeSet<(usize, usize)> = world
        .announced
        .take()
        .iter()
        .map(|o| {
            let slot = world
                .slot_index(o.start)
                .ok_or("an offer for a slot off the grid was announced")?;
            Ok((names.entry(&o.entry_id.to_string())?, slot))
        })
        .collect::<Result<_, String>>()?;
    let made: BTreeSet<(usize, usize)> = outcome
        .new_offers
        .iter()
        .map(|&o| (model.offers[o].entry, model.offers[o].slot))
        .collect();
    ensure!(
        announced == made,
        "announced offers (entry, slot) {announced:?}, the model made {made:?}"
    );
    ensure!(
        usize::try_from(db.offer_messages).ok() == Some(model.offers.len()),
        "{} offer messages queued for {} offers",
        db.offer_messages,
        model.offers.len()
    );

    // An appointment booked with an offer's hold settled that offer and its entry.
    for booked in &db.booked_offers {
        ensure!(
            booked.offer_state == "accepted" && booked.entry_state == "fulfilled",
            "the appointment at {} was booked with an offer's hold, yet the offer is {} and its \
             entry {}",
            booked.start,
            booked.offer_state,
            booked.entry_state
        );
    }
    Ok(offers)
}

/// Appointments, claims and holds. Returns the claimed slots.
fn compare_agenda<'db>(
    world: &World,
    model: &Model,
    db: &'db Snapshot,
) -> Result<BTreeMap<usize, &'db ClaimRow>, String> {
    let appointments: BTreeSet<(String, String, usize, String)> = db
        .appointments
        .iter()
        .map(|a| {
            let slot = world.slot_of_micros(a.start)?;
            Ok((a.id.clone(), a.patient.clone(), slot, a.status.clone()))
        })
        .collect::<Result<_, String>>()?;
    let expected: BTreeSet<(String, String, usize, String)> = model
        .appointments
        .iter()
        .map(|a| {
            let status = if a.cancelled {
                "cancelled"
            } else {
                "scheduled"
            };
            let patient = world.user(a.patient).to_string();
            (a.id.to_string(), patient, a.slot, status.to_owned())
        })
        .collect();
    ensure!(
        appointments == expected,
        "appointments differ:\n  database: {appointments:?}\n  model:    {expected:?}"
    );

    // No two claims overlap; the claimed slots are exactly the offered and booked ones.
    for (i, a) in db.claims.iter().enumerate() {
        for b in &db.claims[i + 1..] {
            ensure!(
                a.end <= b.start || b.end <= a.start,
                "claims {a:?} and {b:?} of the doctor overlap"
            );
        }
    }
    let mut claimed = BTreeMap::new();
    for claim in &db.claims {
        let slot = world.slot_of_micros(claim.start)?;
        ensure!(
            claimed.insert(slot, claim).is_none(),
            "slot {slot} has two claims"
        );
    }
    let open_hold_of_slot: HashMap<usize, &str> = db
        .open_offers()
        .map(|o| Ok((world.slot_of_micros(o.start)?, o.hold.as_str())))
        .collect::<Result<_, String>>()?;
    for slot in 0..SLOTS {
        let claim = claimed.get(&slot);
        match model.slot_state(slot) {
            SlotState::Free => ensure!(claim.is_none(), "slot {slot} should be free: {claim:?}"),
            SlotState::Offered(_) => {
                let hold = open_hold_of_slot.get(&slot).copied();
                ensure!(
                    claim.is_some_and(|c| c.appointment.is_none() && c.hold.as_deref() == hold),
                    "slot {slot} should be claimed by its open offer's hold {hold:?}: {claim:?}"
                );
            }
            SlotState::Booked(a) => {
                let id = model.appointments[a].id.to_string();
                ensure!(
                    claim.is_some_and(|c| c.appointment.as_deref() == Some(&id)),
                    "slot {slot} should be claimed by appointment {id}: {claim:?}"
                );
            }
        }
    }
    let now = world.now().as_microsecond();
    for claim in &db.claims {
        ensure!(
            model.lapsed || claim.expires_at.is_none_or(|t| t > now),
            "the claim {claim:?} has lapsed but is still there"
        );
    }

    // Active holds are exactly the open offers' holds (bookers confirm theirs at once).
    let open_holds: BTreeSet<String> = db.open_offers().map(|o| o.hold.clone()).collect();
    ensure!(
        db.active_holds == open_holds,
        "active holds {:?} are not the open offers' holds {open_holds:?}",
        db.active_holds
    );

    // The live feed's log ends on each slot's current status.
    let mut last_status: HashMap<i64, &str> = HashMap::new();
    for (start, status) in &db.slot_events {
        last_status.insert(*start, status.as_str());
    }
    for slot in 0..SLOTS {
        let logged = last_status
            .get(&world.slots[slot].as_microsecond())
            .copied()
            .unwrap_or("available");
        let expected = state_name(model.slot_state(slot));
        ensure!(
            logged == expected,
            "the slot event log says slot {slot} is {logged}, the model says {expected}"
        );
    }
    Ok(claimed)
}

/// From the tables alone: no slot is free while a waiter without an open offer, who was never
/// offered it, waits.
fn check_work_conserving(
    db: &Snapshot,
    names: &Names,
    offers: &BTreeMap<(usize, usize), String>,
    claimed: &BTreeMap<usize, &ClaimRow>,
) -> Result<(), String> {
    let busy: BTreeSet<&str> = db.open_offers().map(|o| o.patient.as_str()).collect();
    for slot in (0..SLOTS).filter(|s| !claimed.contains_key(s)) {
        for entry in &db.entries {
            if entry.state != "waiting" || busy.contains(entry.patient.as_str()) {
                continue;
            }
            let e = names.entry(&entry.id)?;
            ensure!(
                offers.contains_key(&(e, slot)),
                "slot {slot} is free while entry #{e} of {} waits and was never offered it",
                names.user(&entry.patient)
            );
        }
    }
    Ok(())
}

/// What each waiter sees through the service: their active entry and its open offer.
async fn compare_views(world: &World, model: &Model) -> Result<(), String> {
    for p in 0..WAITERS {
        let entries = world
            .waitlist
            .entries_of(world.waiters[p])
            .await
            .map_err(|e| format!("entries_of failed: {e}"))?;
        let seen: Vec<(WaitlistEntryId, EntryState, Option<Timestamp>)> = entries
            .iter()
            .map(|e| (e.id, e.state, e.offer.map(|o| o.start)))
            .collect();
        let expected: Vec<(WaitlistEntryId, EntryState, Option<Timestamp>)> = model
            .active_entry_of(p)
            .map(|i| {
                let offer = model
                    .offers
                    .iter()
                    .find(|o| o.entry == i && o.state == OfferState::Open)
                    .map(|o| world.slots[o.slot]);
                (model.entries[i].id, model.entries[i].state, offer)
            })
            .into_iter()
            .collect();
        ensure!(
            seen == expected,
            "entries_of(p{p}) shows {seen:?}, the model says {expected:?}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The property
// ---------------------------------------------------------------------------------------------

async fn run_sequence(backend: &Backend, ops: &[Op]) -> Result<(), String> {
    let world = world(backend).await;
    let mut model = Model::default();
    let mut result = Ok(());
    for (step, &op) in ops.iter().enumerate() {
        world.clock.advance(SignedDuration::from_millis(1));
        let checked = match apply(&world, &mut model, op).await {
            Ok(outcome) => compare(&world, &model, &outcome).await,
            Err(e) => Err(e),
        };
        if let Err(e) = checked {
            // Steps after the failing one never ran: leave them out of the listing.
            let mut listing = String::new();
            for (i, op) in ops[..=step].iter().enumerate() {
                let _ = writeln!(listing, "  {i:>2}: {op:?}");
            }
            result = Err(format!("step {step} ({op:?}): {e}\nsequence:\n{listing}"));
            break;
        }
    }
    world.database.close().await;
    result
}

fn check_against_model(backend: &Backend, cases: u32) {
    let config = ProptestConfig {
        cases,
        // Each case builds a database; shrinking a failure stays within a few minutes.
        max_shrink_iters: 400,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let result = runner.run(&ops(), |ops| {
        run_on_own_runtime(backend, &ops).map_err(TestCaseError::fail)
    });
    match result {
        Ok(()) => {}
        Err(TestError::Fail(reason, ops)) => {
            let reason = without_needless_steps(backend, ops, reason.message().to_owned());
            panic!("{}: smallest failing case found:\n{reason}", backend.name())
        }
        Err(e) => panic!("{}: {e}", backend.name()),
    }
}

fn run_on_own_runtime(backend: &Backend, ops: &[Op]) -> Result<(), String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(run_sequence(backend, ops))
}

/// Drops steps one at a time for as long as the sequence still fails, and returns the last
/// failure: proptest stops removing steps once it starts simplifying them.
fn without_needless_steps(backend: &Backend, mut ops: Vec<Op>, mut failure: String) -> String {
    loop {
        let mut dropped_any = false;
        for i in (0..ops.len()).rev() {
            let mut shorter = ops.clone();
            shorter.remove(i);
            if let Err(e) = run_on_own_runtime(backend, &shorter) {
                (ops, failure, dropped_any) = (shorter, e, true);
            }
        }
        if !dropped_any {
            return failure;
        }
    }
}

#[test]
fn waitlist_follows_the_model_on_sqlite() {
    check_against_model(&Backend::Sqlite, 64);
}

#[test]
fn waitlist_follows_the_model_on_postgres() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let Some(fresh) = runtime.block_on(async {
        let fresh = common::FreshPostgres::create().await?;
        let database = Database::connect(&fresh.url).await.unwrap();
        database.migrate().await.unwrap();
        database.close().await;
        Some(fresh)
    }) else {
        return;
    };
    check_against_model(&Backend::Postgres(fresh.url.clone()), 12);
}
