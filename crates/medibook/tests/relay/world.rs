//! The worlds the relay tests run in: two instances on one PostgreSQL database (events through
//! `LISTEN/NOTIFY`), or on one SQLite file with Redis between them, and a Redis server of a
//! test's own.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use medibook::app::{App, EventWiring, open_database};
use medibook::delivery::LogCodeSender;
use medibook::settings::Settings;
use medibook_core::clinic::{Doctor, Fee, Specialty, Zone};
use medibook_core::clock::ManualClock;
use medibook_core::events::EventBus;
use medibook_core::identity::{Email, Identifier};
use medibook_core::ids::{DoctorId, SpecialtyId};
use medibook_core::ports::{ClinicRepository, IdentityRepository};
use medibook_core::schedule::{BookingRules, TimeRange, WeeklyHours, WeeklySchedule};
use medibook_integrations::redis_agendas::RedisAgendaStore;
use medibook_integrations::redis_bus::{RedisRelay, RedisSettings};
use medibook_store::Database;
use medibook_store::relay::EventRelay;
use medibook_web::shell::events::{InProcessBus, Published};
use tokio::sync::{broadcast, watch};

use crate::common;

const SECRET: &[u8] = b"test secret that is long enough for hmac keys";

/// Two instances on one fresh PostgreSQL database: A makes changes, B relays them to its bus.
pub struct PostgresPair {
    pub a: App,
    pub doctor: DoctorId,
    pub patient: medibook_core::identity::User,
    pub other: medibook_core::ids::UserId,
    pub received: broadcast::Receiver<Published>,
    pub _b: App,
    pub _stop: watch::Sender<bool>,
    pub _database: common::TestDatabase,
}

impl PostgresPair {
    pub async fn start() -> Option<Self> {
        let database = common::TestDatabase::create(common::Backend::Postgres).await?;
        let url = database.url.clone();
        let settings = Settings {
            database_url: Some(url.clone()),
            data_dir: database.dir().to_path_buf(),
            ..Settings::default()
        };
        let clock = Arc::new(ManualClock::new(
            "2027-03-01T08:00:00Z".parse::<Timestamp>().unwrap(),
        ));
        let database_a = open_database(&settings).await.unwrap();
        let database_b = open_database(&settings).await.unwrap();
        let doctor = seed_doctor(&database_a).await;
        let patient = database_a
            .user_for(
                &Identifier::Email(Email::parse("ada@example.org").unwrap()),
                medibook_core::clock::Clock::now(clock.as_ref()),
            )
            .await
            .unwrap();
        let other = other_patient(&database_a, clock.as_ref()).await;
        let build = |database| {
            App::build(
                &settings,
                database,
                SECRET,
                clock.clone(),
                Arc::new(LogCodeSender),
            )
        };
        let a = build(database_a);
        let b = build(database_b.clone());
        let (stop, stopped) = watch::channel(false);
        let bus: Arc<dyn EventBus> = Arc::new(b.events.clone());
        let received = b.events.subscribe();
        EventRelay::spawn(database_b, &url, bus, stopped)
            .await
            .unwrap();
        Some(Self {
            a,
            doctor,
            patient,
            other,
            received,
            _b: b,
            _stop: stop,
            _database: database,
        })
    }
}

/// A second patient, to race the first.
pub async fn other_patient(
    database: &medibook_store::Database,
    clock: &ManualClock,
) -> medibook_core::ids::UserId {
    database
        .user_for(
            &Identifier::Email(Email::parse("grace@example.org").unwrap()),
            medibook_core::clock::Clock::now(clock),
        )
        .await
        .unwrap()
        .id
}

pub async fn seed_doctor(database: &medibook_store::Database) -> DoctorId {
    let specialty = Specialty {
        id: SpecialtyId::generate(),
        name: "Cardiology".into(),
        keywords: Vec::new(),
    };
    database.add_specialty(&specialty).await.unwrap();
    let day = vec![TimeRange::new("09:00".parse().unwrap(), "12:00".parse().unwrap()).unwrap()];
    let doctor = Doctor {
        id: DoctorId::generate(),
        name: "Dr. Anna Smith".into(),
        specialty_id: specialty.id,
        qualification: "MD".into(),
        years_experience: 10,
        bio: "Test doctor.".into(),
        fee: Fee::new(6500, "EUR").unwrap(),
        photo_url: None,
        time_zone: Zone::parse("Europe/Berlin").unwrap(),
        schedule: WeeklySchedule {
            hours: WeeklyHours {
                tuesday: day,
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
    };
    database.add_doctor(&doctor).await.unwrap();
    doctor.id
}

/// Two instances on one SQLite database file whose events cross through the Redis server of
/// `MEDIBOOK_TEST_REDIS_URL` (Redis works on SQLite too: processes sharing one file).
pub struct RedisPair {
    pub redis: RedisSettings,
    pub world: SharedSqlite,
    pub a: App,
    pub b: App,
    pub _stop: watch::Sender<bool>,
}

impl RedisPair {
    /// Starts both, or returns `None` (outside CI) when no Redis server is configured.
    pub async fn start() -> Option<Self> {
        let redis = RedisSettings {
            url: common::redis_url()?,
            channel: common::fresh_redis_channel(),
        };
        let world = SharedSqlite::new().await;
        let (stop, stopped) = watch::channel(false);
        let a = world.instance_on_redis(&redis, stopped.clone()).await;
        let b = world.instance_on_redis(&redis, stopped).await;
        Some(Self {
            redis,
            world,
            a,
            b,
            _stop: stop,
        })
    }
}

/// One SQLite database file with a doctor and a patient, that instances open separately.
pub struct SharedSqlite {
    pub settings: Settings,
    pub clock: Arc<ManualClock>,
    pub doctor: DoctorId,
    pub patient: medibook_core::ids::UserId,
    pub other: medibook_core::ids::UserId,
    pub _dir: tempfile::TempDir,
}

impl SharedSqlite {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().to_path_buf(),
            ..Settings::default()
        };
        let clock = Arc::new(ManualClock::new(
            "2027-03-01T08:00:00Z".parse::<Timestamp>().unwrap(),
        ));
        let database = open_database(&settings).await.unwrap();
        let doctor = seed_doctor(&database).await;
        let patient = database
            .user_for(
                &Identifier::Email(Email::parse("ada@example.org").unwrap()),
                medibook_core::clock::Clock::now(clock.as_ref()),
            )
            .await
            .unwrap()
            .id;
        let other = other_patient(&database, clock.as_ref()).await;
        Self {
            settings,
            clock,
            doctor,
            patient,
            other,
            _dir: dir,
        }
    }

    /// An instance with its own connection pool whose events cross through `redis`.
    pub async fn instance_on_redis(
        &self,
        redis: &RedisSettings,
        stop: watch::Receiver<bool>,
    ) -> App {
        let database = open_database(&self.settings).await.unwrap();
        let local = InProcessBus::new(1024);
        let agendas = RedisAgendaStore::connect(redis, stop.clone())
            .await
            .unwrap();
        let relay = RedisRelay::start(
            redis,
            Arc::new(local.clone()),
            Arc::new(database.clone()),
            stop,
        )
        .await
        .unwrap();
        let events = EventWiring {
            local,
            publish: Arc::new(relay.bus),
            shared: true,
            agendas: Some(agendas),
        };
        self.build(database, events)
    }

    /// An instance whose events stay in its process.
    pub async fn instance_in_process(&self) -> App {
        let database = open_database(&self.settings).await.unwrap();
        self.build(database, EventWiring::in_process())
    }

    pub fn build(&self, database: Database, events: EventWiring) -> App {
        App::build_with_events(
            &self.settings,
            database,
            SECRET,
            self.clock.clone(),
            Arc::new(LogCodeSender),
            events,
        )
    }
}

/// A `redis-server` of this test's own on a free port, so that it can be stopped and started
/// again without disturbing anyone else. Killed when dropped.
pub struct PrivateRedis {
    pub child: Child,
    pub port: u16,
}

impl PrivateRedis {
    /// Starts one, or returns `None` (outside CI) when `redis-server` is not installed.
    pub async fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        match spawn_redis_server(port) {
            Ok(child) => {
                let server = Self { child, port };
                server.wait_until_answering().await;
                Some(server)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                assert_ne!(
                    std::env::var("CI").as_deref(),
                    Ok("true"),
                    "redis-server must be installed under CI=true"
                );
                eprintln!("skipping: redis-server is not installed");
                None
            }
            Err(e) => panic!("cannot start redis-server: {e}"),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Stops the server (dropping every connection and subscription) and starts it again on
    /// the same port.
    pub async fn restart(&mut self) {
        self.stop();
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.child = spawn_redis_server(self.port).unwrap();
        self.wait_until_answering().await;
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub async fn wait_until_answering(&self) {
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("redis-server did not answer on port {}", self.port);
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn spawn_redis_server(port: u16) -> std::io::Result<Child> {
    Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}
