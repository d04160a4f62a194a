//! MediBook's storage: the repository ports of `medibook-core` implemented over SQLite (the
//! embedded default) and PostgreSQL (for several instances), with embedded migrations.
//!
//! Each backend runs on its native sqlx driver (`SqlitePool` / `PgPool`, see [`sql`]). Both store
//! instants as integer microseconds and ids as UUID text, so one SQL text serves both, except
//! where the backends differ in how they serialise writers (see [`Database::begin_write`]) and
//! in PostgreSQL's hold function.
//!
//! The no-double-booking invariant lives in the `slot_claims` table: on PostgreSQL an exclusion
//! constraint refuses overlapping claims of one doctor outright; on SQLite every write runs in a
//! `BEGIN IMMEDIATE` transaction (one writer at a time, across processes) that checks for overlap
//! before inserting, with a unique index as a backstop.

mod appointment_messages;
mod audit;
pub mod audit_chain;
pub mod backup;
mod bookings;
pub mod bulk;
mod calendar_feeds;
mod clinic;
mod columns;
mod contact;
mod error;
mod floor;
mod google;
mod identity;
mod ledger;
mod limits;
mod outbox;
mod patients;
mod privacy;
pub mod relay;
mod retention;
mod schedule_edits;
mod sessions;
pub mod sql;
mod staff;
mod waitlist;
mod writer;

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use medibook_core::ids::{DoctorId, UserId};
use medibook_core::notifications::NotificationSettings;
use medibook_core::waitlist::WaitlistPolicy;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
use sqlx::{Executor, Transaction};

pub use error::StoreError;
pub use writer::WriterCounts;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("./migrations/postgres");

/// Prepared statements kept per connection: room for every statement the store runs (about
/// 140, and the variants of its `IN (…)` lists and multi-row inserts), so that none is
/// prepared again after its first use on a connection (sqlx's default keeps 100).
const STATEMENT_CACHE: usize = 512;

/// How long a request waits for a PostgreSQL connection (connecting included) before the
/// database counts as unreachable.
const POSTGRES_ACQUIRE_PATIENCE: Duration = Duration::from_secs(2);

/// How long [`Database::ready`] waits for the database before calling it unreachable.
pub const READY_PATIENCE: Duration = Duration::from_secs(2);

/// A transaction that writes ([`Database::begin_write`]): statements run on it as on a
/// connection (`.execute(&mut *tx)`); dropped without [`WriteTx::commit`], it rolls back. On SQLite it is one
/// command's savepoint in the writer's current batch ([`writer`]).
#[derive(Debug)]
pub struct WriteTx {
    inner: WriteInner,
}

#[derive(Debug)]
enum WriteInner {
    /// PostgreSQL: a transaction of its own on a pooled connection.
    Pooled(Transaction<'static, Postgres>),
    /// SQLite: a turn on the one writer's connection.
    Batched(writer::Lease),
}

impl WriteTx {
    /// Commits: on PostgreSQL at once; on SQLite returns once the batch holding this
    /// command's changes has committed.
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.inner {
            // Not cut short: a COMMIT whose answer is late may still have been applied, and a
            // client must never hear "nothing changed" about a change that was kept.
            WriteInner::Pooled(tx) => Ok(tx.commit().await?),
            WriteInner::Batched(lease) => lease.commit().await,
        }
    }

    /// The connection this transaction's statements run on.
    pub(crate) fn on(&mut self) -> sql::Target<'_> {
        match &mut self.inner {
            WriteInner::Pooled(tx) => sql::Target::PostgresTx(tx),
            WriteInner::Batched(lease) => sql::Target::Sqlite(lease.connection()),
        }
    }
}

/// Which database engine a [`Database`] talks to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// A connection pool to the clinic's database; implements every repository port.
#[derive(Clone, Debug)]
pub struct Database {
    /// On SQLite the readers' pool (its connections are `query_only`); on PostgreSQL every
    /// connection.
    pool: sql::Pool,
    backend: Backend,
    /// SQLite's one writer, through which every write of this process goes (none on
    /// PostgreSQL, whose writers run concurrently on the pool).
    writer: Option<writer::SqliteWriter>,
    /// How to open a writing SQLite connection (the writer's, migrations', bulk loads').
    write_options: Option<Arc<SqliteConnectOptions>>,
    waitlist: WaitlistPolicy,
    /// How appointment messages are written; none are queued when unset (tools, some tests).
    notifications: Option<Arc<NotificationSettings>>,
}

impl Database {
    /// Connects to `url` (`sqlite://path` or `postgres://…`), creating a SQLite file and its
    /// directory if missing. Does not migrate; call [`Database::migrate`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Self::connect_postgres(url).await
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL {:?}: use sqlite://PATH or postgres://…",
                redact(url)
            )))
        }
    }

    async fn connect_sqlite(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&with_sqlite_create_mode(url))
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .statement_cache_capacity(STATEMENT_CACHE);
        prepare_sqlite_file(&with_sqlite_create_mode(url))?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _meta| {
                Box::pin(async move {
                    apply_sqlite_pragmas(conn).await?;
                    // Readers only: every write goes through the writer.
                    conn.execute("PRAGMA query_only = ON").await?;
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        let writer = writer::SqliteWriter::start(options.clone()).await?;
        Ok(Self::with_pool(
            sql::Pool::Sqlite(pool),
            Some(writer),
            Some(Arc::new(options)),
        ))
    }

    async fn connect_postgres(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("invalid database URL: {e}")))?
            .statement_cache_capacity(STATEMENT_CACHE);
        // A database that is away costs a request at most this long before it answers 503
        // (statements are held to `sql::QUERY_PATIENCE`).
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(POSTGRES_ACQUIRE_PATIENCE)
            .connect_with(options)
            .await?;
        Ok(Self::with_pool(sql::Pool::Postgres(pool), None, None))
    }

    fn with_pool(
        pool: sql::Pool,
        writer: Option<writer::SqliteWriter>,
        write_options: Option<Arc<SqliteConnectOptions>>,
    ) -> Self {
        let backend = match pool {
            sql::Pool::Sqlite(_) => Backend::Sqlite,
            sql::Pool::Postgres(_) => Backend::Postgres,
        };
        Self {
            pool,
            backend,
            writer,
            write_options,
            waitlist: WaitlistPolicy::default(),
            notifications: None,
        }
    }

    /// Applies the embedded migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match (&self.pool, &self.write_options) {
            (sql::Pool::Sqlite(_), Some(options)) => {
                let mut conn = writer::open(options).await?;
                let migrated = SQLITE_MIGRATIONS.run(&mut conn).await;
                let _ = sqlx::Connection::close(conn).await;
                migrated?;
            }
            (sql::Pool::Postgres(pool), _) => POSTGRES_MIGRATIONS.run(pool).await?,
            (sql::Pool::Sqlite(_), None) => {
                return Err(StoreError::Config("SQLite without its writer".into()));
            }
        }
        Ok(())
    }

    /// A connection that may write, of its own, for work that cannot run as a command of the
    /// writer (bulk loads, the commit floor, tests that plant rows): on SQLite it meets the
    /// writer at SQLite's lock; on PostgreSQL it is a connection to the same database.
    pub async fn open_writing_connection(&self) -> Result<sql::Connection, StoreError> {
        match (&self.pool, &self.write_options) {
            (sql::Pool::Sqlite(_), Some(options)) => {
                Ok(sql::Connection::Sqlite(writer::open(options).await?))
            }
            (sql::Pool::Postgres(pool), _) => {
                Ok(sql::Connection::Postgres(pool.acquire().await?.detach()))
            }
            (sql::Pool::Sqlite(_), None) => {
                Err(StoreError::Config("SQLite without its writer".into()))
            }
        }
    }

    /// The same database with another waitlist policy (the offer window is applied by the
    /// transactions that free slots).
    pub fn with_waitlist_policy(mut self, policy: WaitlistPolicy) -> Self {
        self.waitlist = policy;
        self
    }

    /// The same database queuing confirmations, changes and reminders of appointments, written
    /// with `settings`, in the transactions that change them.
    pub fn with_notifications(mut self, settings: NotificationSettings) -> Self {
        self.notifications = Some(Arc::new(settings));
        self
    }

    /// How this database makes waitlist offers.
    pub(crate) fn offering(&self) -> waitlist::Offering {
        waitlist::Offering {
            policy: self.waitlist,
            public_url: self
                .notifications
                .as_ref()
                .map(|settings| settings.public_url.clone()),
        }
    }

    /// The engine behind this pool.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool, for tests and maintenance tools (run [`sql::query`] on it).
    pub fn pool(&self) -> &sql::Pool {
        &self.pool
    }

    /// SQLite's writer: how many commits it made and how many commands they held (none on
    /// PostgreSQL).
    pub fn writer_counts(&self) -> Option<WriterCounts> {
        self.writer.as_ref().map(writer::SqliteWriter::counts)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sql::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Whether this process can serve: the database answers within [`READY_PATIENCE`], and on
    /// SQLite, after a commit failed for want of space, a write commits again (a real write:
    /// the file header's `user_version` is rewritten with its own value), so that readiness
    /// follows the disk both ways without a restart.
    pub async fn ready(&self) -> Result<(), StoreError> {
        let check = async {
            self.ping().await?;
            if self
                .writer
                .as_ref()
                .is_some_and(writer::SqliteWriter::storage_full)
            {
                self.probe_write().await?;
            }
            Ok(())
        };
        tokio::time::timeout(READY_PATIENCE, check)
            .await
            .unwrap_or(Err(StoreError::Database(sqlx::Error::PoolTimedOut)))
    }

    /// Commits one small write through the writer.
    async fn probe_write(&self) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let version: i64 = sql::query("PRAGMA user_version")
            .fetch_one(&mut tx)
            .await?
            .try_get(0)?;
        sql::query(sql::AssertSqlSafe(format!(
            "PRAGMA user_version = {version}"
        )))
        .execute(&mut tx)
        .await?;
        tx.commit().await
    }

    /// Closes all connections (the writer's once its batch in progress has committed).
    pub async fn close(&self) {
        if let Some(writer) = &self.writer {
            writer.close().await;
        }
        self.pool.close().await;
    }

    /// Starts a transaction that will write. On SQLite it is a turn on the one writer's
    /// connection, inside its current batch's `BEGIN IMMEDIATE` transaction, so a
    /// read-check-write sequence inside it cannot interleave with another writer, in this
    /// process or any other; this process's writers queue for their turns in order, without
    /// sleeping in SQLite's busy handler (writers of other processes still meet at SQLite's
    /// lock, with its busy timeout).
    pub async fn begin_write(&self) -> Result<WriteTx, StoreError> {
        let inner = match (&self.writer, &self.pool) {
            (Some(writer), _) => WriteInner::Batched(writer.lease().await?),
            // Acquiring is held to the pool's timeout (its health check included); BEGIN itself
            // is not cut short, since sqlx would give a connection whose BEGIN was cut back to
            // the pool still inside that transaction.
            (None, sql::Pool::Postgres(pool)) => WriteInner::Pooled(pool.begin().await?),
            (None, sql::Pool::Sqlite(_)) => {
                return Err(StoreError::Config("SQLite without its writer".into()));
            }
        };
        Ok(WriteTx { inner })
    }

    /// Serialises writers on one doctor's agenda and one patient's bookings for the rest of
    /// the transaction. On PostgreSQL this locks the doctor's row and then the patient's row
    /// (`FOR NO KEY UPDATE`, which leaves foreign-key checks of other writers unblocked); every
    /// writer takes them in that order, so two writers never wait on each other in a cycle. On
    /// SQLite the immediate transaction already excludes every other writer.
    pub(crate) async fn lock_agenda(
        &self,
        tx: &mut WriteTx,
        doctor_id: DoctorId,
        patient_id: UserId,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sql::query("SELECT id FROM doctors WHERE id = $1 FOR NO KEY UPDATE")
                .bind(doctor_id.to_string())
                .execute(&mut *tx)
                .await?;
            sql::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(patient_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Locks one patient's bookings (see [`Database::lock_agenda`]), for writers that act on a
    /// patient but no doctor, such as joining a waitlist.
    pub(crate) async fn lock_patient(
        &self,
        tx: &mut WriteTx,
        patient_id: UserId,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sql::query("SELECT id FROM users WHERE id = $1 FOR NO KEY UPDATE")
                .bind(patient_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }

    /// Locks one doctor's agenda (see [`Database::lock_agenda`]), for writers that act on a
    /// doctor but no single patient, such as the sweeper.
    pub(crate) async fn lock_doctor(
        &self,
        tx: &mut WriteTx,
        doctor_id: DoctorId,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            sql::query("SELECT id FROM doctors WHERE id = $1 FOR NO KEY UPDATE")
                .bind(doctor_id.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

/// A statement that writes, run on its own: on SQLite as a command of the writer, on
/// PostgreSQL on the pool (autocommit). Every write outside a [`WriteTx`] goes through it, so
/// SQLite's readers' pool can stay read-only.
pub(crate) trait WriteStatement {
    /// Runs the statement, returning what it changed.
    async fn write_on(self, database: &Database) -> Result<sql::Done, StoreError>;
    /// Runs the statement, returning its row if it touched one (`… RETURNING`).
    async fn write_returning_optional(
        self,
        database: &Database,
    ) -> Result<Option<sql::Row>, StoreError>;
}

impl WriteStatement for sql::Query {
    async fn write_on(self, database: &Database) -> Result<sql::Done, StoreError> {
        if database.writer.is_none() {
            return Ok(self.execute(&database.pool).await?);
        }
        let mut tx = database.begin_write().await?;
        let done = self.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(done)
    }

    async fn write_returning_optional(
        self,
        database: &Database,
    ) -> Result<Option<sql::Row>, StoreError> {
        if database.writer.is_none() {
            return Ok(self.fetch_optional(&database.pool).await?);
        }
        let mut tx = database.begin_write().await?;
        let row = self.fetch_optional(&mut tx).await?;
        tx.commit().await?;
        Ok(row)
    }
}

/// The pragmas of every SQLite connection: WAL lets readers run beside the single writer;
/// NORMAL is durable in WAL mode except for the last commits on power loss (not on crash).
pub(crate) async fn apply_sqlite_pragmas(
    conn: &mut sqlx::SqliteConnection,
) -> Result<(), sqlx::Error> {
    for pragma in [
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
        "PRAGMA busy_timeout = 10000",
        // Deleted content is overwritten, so an erased person's data leaves the file.
        "PRAGMA secure_delete = ON",
    ] {
        conn.execute(pragma).await?;
    }
    Ok(())
}

/// The SQLite URL with `mode=rwc` so a missing file is created.
fn with_sqlite_create_mode(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        return url.to_owned();
    }
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}mode=rwc")
}

/// Creates the file of a SQLite URL, and its directory, if missing: owner-only (0600 and
/// 0700), since they hold patients' data. SQLite gives the WAL and shared-memory files the
/// database file's mode, so they are owner-only too. Existing files keep their modes.
fn prepare_sqlite_file(url: &str) -> Result<(), StoreError> {
    let path = url
        .trim_start_matches("sqlite://")
        .trim_start_matches("sqlite:")
        .split('?')
        .next()
        .unwrap_or_default();
    // Only where the URL asks for a missing file to be created (`mode=rwc`): a backup opens
    // an existing database with `mode=rw`, and a mistyped path must fail, not appear.
    if path.is_empty() || path.contains(":memory:") || !url.contains("mode=rwc") {
        return Ok(());
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(|e| {
            StoreError::Config(format!("cannot create directory {}: {e}", dir.display()))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        // An empty file is an empty database to SQLite.
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Config(format!("cannot create {path}: {e}"))),
    }
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let credentials = &url[scheme_end + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://app:secret@db:5432/medibook"),
            "postgres://app:***@db:5432/medibook"
        );
        assert_eq!(
            redact("sqlite://data/medibook.db"),
            "sqlite://data/medibook.db"
        );
    }

    #[test]
    fn sqlite_urls_create_missing_files() {
        assert_eq!(
            with_sqlite_create_mode("sqlite://data/x.db"),
            "sqlite://data/x.db?mode=rwc"
        );
        assert_eq!(
            with_sqlite_create_mode("sqlite://data/x.db?mode=ro"),
            "sqlite://data/x.db?mode=ro"
        );
    }
}
