//! SQLite's one writer: a task that owns the only connection this process writes through and
//! commits concurrently arriving commands together (group commit).
//!
//! A command asks for a [`Lease`] of the writer's connection. The writer takes whatever leases
//! are queued (up to [`BATCH_LIMIT`]), opens one `BEGIN IMMEDIATE`, and lends the connection to
//! each command in turn inside a `SAVEPOINT` of its own: a command that fails (or is dropped)
//! rolls back to its savepoint and answers its own error, leaving the others untouched. When
//! the queue is empty the writer commits once, and only then does each command's
//! [`Lease::commit`] return. A failed `COMMIT` (or a statement that aborted the whole
//! transaction, such as a full disk) fails every command of the batch, and the connection is
//! replaced before the next batch, so nothing half-done survives into it.
//!
//! Writers of other processes on the same file still meet at SQLite's lock (`BEGIN IMMEDIATE`
//! with the busy timeout).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sqlx::{ConnectOptions, Connection, Executor};
use tokio::sync::{Mutex, OwnedMutexGuard, mpsc, oneshot, watch};

use crate::error::StoreError;

/// At most this many commands share one commit, so that a steady stream of writers still sees
/// its acknowledgements (and other processes their turn at the lock) promptly.
pub(crate) const BATCH_LIMIT: usize = 64;

/// Commands waiting for a lease beyond this many wait to be queued (back-pressure).
const QUEUE_CAPACITY: usize = 4096;

/// The outcome of a batch's commit, shared by its commands.
type BatchOutcome = Option<Result<(), Arc<sqlx::Error>>>;

/// A request to the writer task.
enum Request {
    /// Lend the connection to a command.
    Lease(oneshot::Sender<Result<Lease, StoreError>>),
    /// Close the connection and stop.
    Close(oneshot::Sender<()>),
}

/// The handle to the writer task; cheap to clone.
#[derive(Clone, Debug)]
pub(crate) struct SqliteWriter {
    requests: mpsc::Sender<Request>,
    tally: Arc<Tally>,
}

/// What the writer has committed so far.
#[derive(Debug, Default)]
struct Tally {
    commits: AtomicU64,
    commands: AtomicU64,
    /// The last batch failed for want of space (`SQLITE_FULL`); cleared by the next commit.
    full: AtomicBool,
}

/// How many commits the writer made and how many commands they held: commands per commit is
/// the batching the load achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriterCounts {
    /// Batches committed.
    pub commits: u64,
    /// Commands kept in those commits.
    pub commands: u64,
}

impl SqliteWriter {
    /// Opens the writer's connection with `options` and starts its task.
    pub(crate) async fn start(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        let conn = open(&options).await?;
        let (requests, queue) = mpsc::channel(QUEUE_CAPACITY);
        let tally = Arc::new(Tally::default());
        tokio::spawn(run(queue, options, Some(conn), Arc::clone(&tally)));
        Ok(Self { requests, tally })
    }

    /// The commits made so far and the commands they held.
    pub(crate) fn counts(&self) -> WriterCounts {
        WriterCounts {
            commits: self.tally.commits.load(Ordering::Relaxed),
            commands: self.tally.commands.load(Ordering::Relaxed),
        }
    }

    /// Whether the last batch failed for want of space, and none has committed since.
    pub(crate) fn storage_full(&self) -> bool {
        self.tally.full.load(Ordering::Relaxed)
    }

    /// Waits for this command's turn on the writer's connection, inside a savepoint of the
    /// current batch.
    pub(crate) async fn lease(&self) -> Result<Lease, StoreError> {
        let (reply, lease) = oneshot::channel();
        self.requests
            .send(Request::Lease(reply))
            .await
            .map_err(|_| stopped())?;
        lease.await.map_err(|_| stopped())?
    }

    /// Closes the writer's connection once the batch in progress has committed.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.requests.send(Request::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// One command's turn on the writer's connection. Dropped without [`Lease::commit`], the
/// command's changes are rolled back (to its savepoint) and the batch goes on.
pub(crate) struct Lease {
    conn: OwnedMutexGuard<SqliteConnection>,
    /// Tells the writer whether to keep (`true`) or undo the command; sent once.
    back: Option<oneshot::Sender<bool>>,
    committed: watch::Receiver<BatchOutcome>,
}

impl Lease {
    /// The connection, for the command's statements.
    pub(crate) fn connection(&mut self) -> &mut SqliteConnection {
        &mut self.conn
    }

    /// Keeps the command's changes and waits until the batch holding them has committed.
    pub(crate) async fn commit(mut self) -> Result<(), StoreError> {
        let handed_back = self.back.take().map(|back| back.send(true));
        let mut committed = self.committed.clone();
        // Gives the connection back to the writer.
        drop(self);
        if let Some(Err(_)) = handed_back {
            return Err(stopped());
        }
        let outcome = committed
            .wait_for(Option::is_some)
            .await
            .map_err(|_| stopped())?
            .clone();
        match outcome {
            Some(Ok(())) => Ok(()),
            Some(Err(error)) => Err(StoreError::Batch(error)),
            None => Err(stopped()),
        }
    }
}

impl std::fmt::Debug for Lease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lease")
            .field("ended", &self.back.is_none())
            .finish()
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(back) = self.back.take() {
            let _ = back.send(false);
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Config("the database writer has stopped".into())
}

/// Opens a writing connection with the store's pragmas.
pub(crate) async fn open(options: &SqliteConnectOptions) -> Result<SqliteConnection, StoreError> {
    let mut conn = options.connect().await?;
    crate::apply_sqlite_pragmas(&mut conn).await?;
    Ok(conn)
}

/// The writer task: one batch per wake-up, until every handle is gone or it is told to close.
async fn run(
    mut queue: mpsc::Receiver<Request>,
    options: SqliteConnectOptions,
    mut conn: Option<SqliteConnection>,
    tally: Arc<Tally>,
) {
    while let Some(request) = queue.recv().await {
        let first = match request {
            Request::Lease(reply) => reply,
            Request::Close(done) => {
                shut(conn.take(), done).await;
                return;
            }
        };
        let current = match conn.take() {
            Some(current) => current,
            None => match open(&options).await {
                Ok(fresh) => fresh,
                Err(error) => {
                    let _ = first.send(Err(error));
                    continue;
                }
            },
        };
        let (kept, closing) = batch(current, first, &mut queue, &tally).await;
        conn = kept;
        if let Some(done) = closing {
            shut(conn.take(), done).await;
            return;
        }
    }
    if let Some(current) = conn {
        let _ = current.close().await;
    }
}

async fn shut(conn: Option<SqliteConnection>, done: oneshot::Sender<()>) {
    if let Some(current) = conn {
        let _ = current.close().await;
    }
    let _ = done.send(());
}

/// Runs one batch: `first` and whatever else is queued, in one transaction. Returns the
/// connection if it is fit for the next batch, and a close request met on the way.
async fn batch(
    conn: SqliteConnection,
    first: oneshot::Sender<Result<Lease, StoreError>>,
    queue: &mut mpsc::Receiver<Request>,
    tally: &Tally,
) -> (Option<SqliteConnection>, Option<oneshot::Sender<()>>) {
    let shared = Arc::new(Mutex::new(conn));
    let mut conn = Arc::clone(&shared).lock_owned().await;
    if let Err(error) = conn.execute("BEGIN IMMEDIATE").await {
        // Nothing began (say, another process held the lock past the busy timeout): this
        // command fails and the connection stays usable.
        let _ = first.send(Err(error.into()));
        drop(conn);
        return (unshare(shared), None);
    }
    let (outcome, committed) = watch::channel::<BatchOutcome>(None);
    let mut next = Some(first);
    let mut leased = 0;
    let mut kept = 0;
    let mut closing = None;
    let mut broken: Option<sqlx::Error> = None;
    loop {
        let reply = match next.take() {
            Some(reply) => reply,
            None if leased >= BATCH_LIMIT => break,
            None => match queue.try_recv() {
                Ok(Request::Lease(reply)) => reply,
                Ok(Request::Close(done)) => {
                    closing = Some(done);
                    break;
                }
                Err(_) => break,
            },
        };
        if let Err(error) = conn.execute("SAVEPOINT command").await {
            let _ = reply.send(Err(StoreError::Database(error)));
            broken = Some(sqlx::Error::Protocol(
                "the batch's savepoint could not be opened".into(),
            ));
            break;
        }
        leased += 1;
        let (back, returned) = oneshot::channel();
        drop(conn);
        let lease = Lease {
            conn: Arc::clone(&shared).lock_owned().await,
            back: Some(back),
            committed: committed.clone(),
        };
        // A command that stopped waiting drops the lease here, which hands the connection
        // straight back, undone.
        drop(reply.send(Ok(lease)));
        // A command that panicked with its turn (its sender gone unsent) is undone too.
        let keep = returned.await.unwrap_or(false);
        conn = Arc::clone(&shared).lock_owned().await;
        kept += u64::from(keep);
        let ended = if keep {
            conn.execute("RELEASE command").await
        } else {
            conn.execute("ROLLBACK TO command; RELEASE command").await
        };
        if let Err(error) = ended {
            // The transaction was aborted under the command (a full disk, an I/O error):
            // everything the batch kept is gone.
            broken = Some(error);
            break;
        }
    }
    let result = match broken {
        Some(error) => Err(error),
        None => conn.execute("COMMIT").await.map(|_| ()),
    };
    match result {
        Ok(()) => {
            // Only a batch that kept something proves that writes have room again.
            if kept > 0 {
                tally.full.store(false, Ordering::Relaxed);
            }
            tally.commits.fetch_add(1, Ordering::Relaxed);
            tally.commands.fetch_add(kept, Ordering::Relaxed);
            let _ = outcome.send(Some(Ok(())));
            drop(conn);
            (unshare(shared), closing)
        }
        Err(error) => {
            let _ = conn.execute("ROLLBACK").await;
            if crate::error::outage(&error) == Some(crate::error::Outage::StorageFull) {
                tracing::warn!("SQLite could not commit: the disk is full ({error})");
                tally.full.store(true, Ordering::Relaxed);
            }
            let _ = outcome.send(Some(Err(Arc::new(error))));
            drop(conn);
            // A fresh connection for the next batch: this one's state is in doubt.
            if let Some(doubtful) = unshare(shared) {
                let _ = doubtful.close().await;
            }
            (None, closing)
        }
    }
}

/// The connection back out of its sharing, once no lease holds it.
fn unshare(shared: Arc<Mutex<SqliteConnection>>) -> Option<SqliteConnection> {
    Arc::into_inner(shared).map(Mutex::into_inner)
}
