//! [`CalendarFeeds`], the service behind the calendar pages: one appointment as a file, and
//! handing out, opening and revoking a person's feed links.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use sha2::Sha256;

use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::ical::{self, CalendarEvent};
use crate::identity::{Role, User};
use crate::ids::{AppointmentId, DoctorId, UserId};
use crate::signin::hex_string;

use super::repository::{CalendarFeedRepository, FeedEntry};
use super::tokens::{FeedKind, FeedToken};
use super::{
    AppointmentFile, CalendarSettings, FEED_MAX_EVENTS, FEED_PAST_DAYS, FeedLink, FeedLinks,
    OpenedFeed,
};

/// The calendar files and feeds.
#[derive(Clone)]
pub struct CalendarFeeds {
    repository: Arc<dyn CalendarFeedRepository>,
    clock: Arc<dyn Clock>,
    key: [u8; 32],
    settings: Arc<CalendarSettings>,
}

impl CalendarFeeds {
    /// The service over `repository`, deriving tokens with `key` (a key used for nothing
    /// else).
    pub fn new(
        repository: Arc<dyn CalendarFeedRepository>,
        clock: Arc<dyn Clock>,
        key: [u8; 32],
        settings: CalendarSettings,
    ) -> Self {
        let settings = CalendarSettings {
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
            ..settings
        };
        Self {
            repository,
            clock,
            key,
            settings: Arc::new(settings),
        }
    }

    /// The clinic and site settings.
    pub fn settings(&self) -> &CalendarSettings {
        &self.settings
    }

    /// The calendar file of `patient_id`'s appointment; `NotFound` for anyone else's.
    pub async fn appointment_file(
        &self,
        patient_id: UserId,
        appointment_id: AppointmentId,
    ) -> BookingResult<AppointmentFile> {
        let entry = self
            .repository
            .patient_appointment(patient_id, appointment_id)
            .await?
            .ok_or(BookingError::NotFound("appointment"))?;
        let event = self.patient_event(&entry);
        Ok(AppointmentFile {
            appointment: entry.appointment,
            calendar: ical::calendar(&self.settings.clinic_name, &[event]),
        })
    }

    /// The feeds `user` may subscribe to: their appointments, and their agenda if they are a
    /// doctor (or an admin linked to a doctor profile).
    pub async fn links(&self, user: &User) -> BookingResult<FeedLinks> {
        let appointments = self.link(user.id, FeedKind::Appointments).await?;
        let agenda = match agenda_of(user.role, user.doctor_id) {
            Some(_) => Some(self.link(user.id, FeedKind::Agenda).await?),
            None => None,
        };
        Ok(FeedLinks {
            appointments,
            agenda,
        })
    }

    /// Revokes `user_id`'s feed of `kind`: its URL stops working now, and the next
    /// [`Self::links`] hands out a new one.
    pub async fn revoke(&self, user_id: UserId, kind: FeedKind) -> BookingResult<()> {
        self.repository
            .revoke_feed(user_id, kind, self.clock.now())
            .await
    }

    /// The feed `token` opens, or `None` for a malformed, unknown or revoked token, or an
    /// agenda feed of someone no longer linked to a doctor profile.
    pub async fn open(&self, token: &str) -> BookingResult<Option<OpenedFeed>> {
        let Some(token) = FeedToken::parse(token) else {
            return Ok(None);
        };
        let Some(owner) = self.repository.feed_owner(&token.lookup_hash()).await? else {
            return Ok(None);
        };
        let since = self.clock.now() - SignedDuration::from_hours(24 * FEED_PAST_DAYS);
        let (doctor_id, name, events) = match owner.kind {
            FeedKind::Appointments => {
                let entries = self
                    .repository
                    .patient_feed(owner.user_id, since, FEED_MAX_EVENTS)
                    .await?;
                let name = format!("{} appointments", self.settings.clinic_name);
                let events: Vec<_> = entries.iter().map(|e| self.patient_event(e)).collect();
                (None, name, events)
            }
            FeedKind::Agenda => {
                let Some(doctor_id) = agenda_of(owner.role, owner.doctor_id) else {
                    return Ok(None);
                };
                let entries = self
                    .repository
                    .doctor_feed(doctor_id, since, FEED_MAX_EVENTS)
                    .await?;
                let name = match entries.first() {
                    Some(entry) => format!("{} agenda", entry.doctor_name),
                    None => format!("{} agenda", self.settings.clinic_name),
                };
                let events: Vec<_> = entries.iter().map(|e| self.doctor_event(e)).collect();
                (Some(doctor_id), name, events)
            }
        };
        Ok(Some(OpenedFeed {
            owner,
            doctor_id,
            patients: events.iter().map(|e| e.appointment.patient_id).collect(),
            events: events.len(),
            calendar: ical::calendar(&name, &events),
        }))
    }

    /// The URL of `user_id`'s feed of `kind`, handing out its token if it has none.
    async fn link(&self, user_id: UserId, kind: FeedKind) -> BookingResult<FeedLink> {
        let token = self.token(user_id, kind).await?;
        let url = format!(
            "{}/calendar/{}.ics",
            self.settings.public_url,
            token.as_str()
        );
        let webcal_url = match url.split_once("://") {
            Some((_, rest)) => format!("webcal://{rest}"),
            None => url.clone(),
        };
        Ok(FeedLink { url, webcal_url })
    }

    /// The live token of `user_id`'s feed of `kind`. Tokens are derived, so two requests at
    /// once store the same hash; a stored hash that no derivable token matches (the server
    /// secret changed) is revoked and replaced.
    async fn token(&self, user_id: UserId, kind: FeedKind) -> BookingResult<FeedToken> {
        // Each round either returns or moves the stored state one step towards a live token
        // of the current key; a concurrent revocation can cost a round.
        for _ in 0..4 {
            let state = self.repository.feed_state(user_id, kind).await?;
            let generation = state.as_ref().map_or(0, |s| s.generation);
            let token = self.derive(user_id, kind, generation);
            let hash = token.lookup_hash();
            let now = self.clock.now();
            match state.and_then(|s| s.token_hash) {
                Some(stored) if stored == hash => return Ok(token),
                Some(_) => self.repository.revoke_feed(user_id, kind, now).await?,
                None => {
                    self.repository
                        .activate_feed(user_id, kind, generation, &hash, now)
                        .await?
                }
            }
        }
        Err(BookingError::Storage(
            "the calendar feed kept changing while its link was handed out".into(),
        ))
    }

    fn derive(&self, user_id: UserId, kind: FeedKind, generation: u32) -> FeedToken {
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(format!("{}\n{user_id}\n{generation}", kind.as_str()).as_bytes());
        FeedToken(hex_string(&mac.finalize().into_bytes()))
    }

    fn patient_event(&self, entry: &FeedEntry) -> CalendarEvent {
        CalendarEvent::for_patient(
            entry.appointment.clone(),
            &entry.doctor_name,
            entry.specialty.as_deref(),
            &self.settings.clinic_name,
            &self.settings.public_url,
        )
    }

    fn doctor_event(&self, entry: &FeedEntry) -> CalendarEvent {
        CalendarEvent::for_doctor(
            entry.appointment.clone(),
            &entry.doctor_name,
            entry.patient_name.as_deref().unwrap_or("Patient"),
            &self.settings.clinic_name,
            &self.settings.public_url,
        )
    }
}

/// The doctor profile whose agenda a person with `role` and `doctor_id` may subscribe to.
fn agenda_of(role: Role, doctor_id: Option<DoctorId>) -> Option<DoctorId> {
    match role {
        Role::Doctor | Role::Admin => doctor_id,
        Role::Patient | Role::Receptionist => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::future::Future;
    use std::sync::Mutex;
    use std::task::{Context, Poll, Waker};

    use async_trait::async_trait;
    use jiff::Timestamp;

    use super::super::repository::{FeedOwner, FeedState};
    use super::*;
    use crate::clock::ManualClock;

    /// Runs a future that never waits (the in-memory repository answers at once).
    fn run<T>(future: impl Future<Output = T>) -> T {
        let mut future = std::pin::pin!(future);
        let mut context = Context::from_waker(Waker::noop());
        match future.as_mut().poll(&mut context) {
            Poll::Ready(value) => value,
            Poll::Pending => panic!("the in-memory repository never waits"),
        }
    }

    /// Feeds in memory, with the same rules as the SQL of `medibook-store`.
    #[derive(Default)]
    struct MemoryFeeds {
        feeds: Mutex<HashMap<(UserId, &'static str), FeedState>>,
        users: Mutex<HashMap<UserId, (Role, Option<DoctorId>)>>,
    }

    #[async_trait]
    impl CalendarFeedRepository for MemoryFeeds {
        async fn feed_state(
            &self,
            user: UserId,
            kind: FeedKind,
        ) -> BookingResult<Option<FeedState>> {
            Ok(self
                .feeds
                .lock()
                .unwrap()
                .get(&(user, kind.as_str()))
                .cloned())
        }
        async fn activate_feed(
            &self,
            user: UserId,
            kind: FeedKind,
            generation: u32,
            token_hash: &str,
            _now: Timestamp,
        ) -> BookingResult<()> {
            let mut feeds = self.feeds.lock().unwrap();
            let feed = feeds.entry((user, kind.as_str())).or_insert(FeedState {
                generation,
                token_hash: None,
            });
            if feed.generation == generation && feed.token_hash.is_none() {
                feed.token_hash = Some(token_hash.to_owned());
            }
            Ok(())
        }
        async fn revoke_feed(
            &self,
            user: UserId,
            kind: FeedKind,
            _now: Timestamp,
        ) -> BookingResult<()> {
            if let Some(feed) = self.feeds.lock().unwrap().get_mut(&(user, kind.as_str())) {
                feed.generation += 1;
                feed.token_hash = None;
            }
            Ok(())
        }
        async fn feed_owner(&self, token_hash: &str) -> BookingResult<Option<FeedOwner>> {
            let feeds = self.feeds.lock().unwrap();
            let users = self.users.lock().unwrap();
            Ok(feeds.iter().find_map(|((user, kind), state)| {
                (state.token_hash.as_deref() == Some(token_hash)).then(|| {
                    let (role, doctor_id) =
                        users.get(user).copied().unwrap_or((Role::Patient, None));
                    FeedOwner {
                        user_id: *user,
                        kind: FeedKind::parse(kind).unwrap(),
                        role,
                        doctor_id,
                    }
                })
            }))
        }
        async fn patient_feed(
            &self,
            _: UserId,
            _: Timestamp,
            _: u32,
        ) -> BookingResult<Vec<FeedEntry>> {
            Ok(Vec::new())
        }
        async fn doctor_feed(
            &self,
            _: DoctorId,
            _: Timestamp,
            _: u32,
        ) -> BookingResult<Vec<FeedEntry>> {
            Ok(Vec::new())
        }
        async fn patient_appointment(
            &self,
            _: UserId,
            _: AppointmentId,
        ) -> BookingResult<Option<FeedEntry>> {
            Ok(None)
        }
    }

    fn service(repository: Arc<MemoryFeeds>, key: u8) -> CalendarFeeds {
        CalendarFeeds::new(
            repository,
            Arc::new(ManualClock::new("2027-03-01T08:00:00Z".parse().unwrap())),
            [key; 32],
            CalendarSettings {
                public_url: "https://clinic.example/".into(),
                clinic_name: "Clinic".into(),
            },
        )
    }

    fn patient(id: UserId) -> User {
        User {
            id,
            email: None,
            phone: None,
            name: None,
            role: Role::Patient,
            doctor_id: None,
            created_at: "2027-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    fn token_of(url: &str) -> &str {
        url.trim_start_matches("https://clinic.example/calendar/")
            .trim_end_matches(".ics")
    }

    #[test]
    fn a_feed_link_is_stable_until_revoked_and_only_its_hash_is_stored() {
        let repository = Arc::new(MemoryFeeds::default());
        let feeds = service(repository.clone(), 1);
        let user = patient(UserId::generate());
        let first = run(feeds.links(&user)).unwrap();
        assert!(
            first
                .appointments
                .url
                .starts_with("https://clinic.example/calendar/")
        );
        assert_eq!(
            first.appointments.webcal_url,
            first.appointments.url.replace("https://", "webcal://")
        );
        assert_eq!(first.agenda, None);
        assert_eq!(run(feeds.links(&user)).unwrap(), first);
        let token = token_of(&first.appointments.url).to_owned();
        let stored = repository
            .feeds
            .lock()
            .unwrap()
            .values()
            .cloned()
            .collect::<Vec<_>>();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].token_hash.as_deref(), Some(token.as_str()));
        assert!(run(feeds.open(&token)).unwrap().is_some());

        run(feeds.revoke(user.id, FeedKind::Appointments)).unwrap();
        assert!(
            run(feeds.open(&token)).unwrap().is_none(),
            "revoked at once"
        );
        let second = run(feeds.links(&user)).unwrap();
        assert_ne!(second, first);
        assert!(
            run(feeds.open(token_of(&second.appointments.url)))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn a_new_server_secret_replaces_links_made_with_the_old_one() {
        let repository = Arc::new(MemoryFeeds::default());
        let user = patient(UserId::generate());
        let old = run(service(repository.clone(), 1).links(&user)).unwrap();
        let feeds = service(repository, 2);
        let new = run(feeds.links(&user)).unwrap();
        assert_ne!(new, old);
        assert!(
            run(feeds.open(token_of(&old.appointments.url)))
                .unwrap()
                .is_none()
        );
        assert!(
            run(feeds.open(token_of(&new.appointments.url)))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn an_agenda_feed_closes_when_its_owner_is_no_longer_a_doctor() {
        let repository = Arc::new(MemoryFeeds::default());
        let feeds = service(repository.clone(), 1);
        let doctor_id = DoctorId::generate();
        let user = User {
            role: Role::Doctor,
            doctor_id: Some(doctor_id),
            ..patient(UserId::generate())
        };
        repository
            .users
            .lock()
            .unwrap()
            .insert(user.id, (Role::Doctor, Some(doctor_id)));
        let links = run(feeds.links(&user)).unwrap();
        let agenda = links.agenda.expect("a doctor has an agenda feed");
        let opened = run(feeds.open(token_of(&agenda.url))).unwrap().unwrap();
        assert_eq!(opened.doctor_id, Some(doctor_id));
        repository
            .users
            .lock()
            .unwrap()
            .insert(user.id, (Role::Patient, None));
        assert!(run(feeds.open(token_of(&agenda.url))).unwrap().is_none());
        // The personal feed is not an agenda and stays open.
        assert!(
            run(feeds.open(token_of(&links.appointments.url)))
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn agendas_belong_to_staff_linked_to_a_doctor_profile() {
        let doctor = Some(DoctorId::generate());
        assert_eq!(agenda_of(Role::Doctor, doctor), doctor);
        assert_eq!(agenda_of(Role::Admin, doctor), doctor);
        assert_eq!(agenda_of(Role::Patient, doctor), None);
        assert_eq!(agenda_of(Role::Doctor, None), None);
    }
}
