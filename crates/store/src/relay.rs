//! The PostgreSQL transport of events across instances: a trigger on `slot_events` runs
//! `pg_notify('medibook_slot_events', 'doctor_id:seq')`, delivered at commit and only for
//! committed transactions; every instance `LISTEN`s and hands what it hears to a
//! [`Republisher`] (`medibook_core::relay`, which Redis pub/sub feeds too).

use std::sync::Arc;
use std::time::Duration;

use medibook_core::events::EventBus;
use medibook_core::ids::DoctorId;
use medibook_core::relay::{Announcement, Republisher};
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::sql;
use crate::{Backend, Database};

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "medibook_slot_events";

/// Wait before connecting again after the PostgreSQL listener failed.
const RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Relays committed slot events from every instance to this instance's bus through
/// PostgreSQL `LISTEN`.
pub struct EventRelay;

impl EventRelay {
    /// Starts listening on `database` (PostgreSQL only; `url` is its URL) and republishing on
    /// `bus` until `stop` changes. Fails when the first connection fails.
    pub async fn spawn(
        database: Database,
        url: &str,
        bus: Arc<dyn EventBus>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, StoreError> {
        if database.backend() != Backend::Postgres {
            return Err(StoreError::Config(
                "the PostgreSQL event relay needs PostgreSQL (a single SQLite instance needs none)"
                    .into(),
            ));
        }
        let mut listener = listen(url).await?;
        let url = url.to_owned();
        let store = Arc::new(database);
        let mut republisher = Republisher::new(store, bus);
        Ok(tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    _ = stop.changed() => break,
                };
                match received {
                    Ok(Some(notification)) => {
                        if let Err(e) = republisher.on_payload(notification.payload()).await {
                            tracing::warn!(error = %e, "event relay");
                        }
                    }
                    // The connection dropped and the listener has connected and listened again:
                    // what was announced in between is only in the log.
                    Ok(None) => {
                        tracing::info!("event relay: reconnected to PostgreSQL, catching up");
                        if let Err(e) = republisher.catch_up().await {
                            tracing::warn!(error = %e, "event relay: catching up");
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event relay: listening failed; reconnecting");
                        let Some(fresh) = reconnect(&url, &mut stop).await else {
                            break;
                        };
                        listener = fresh;
                        if let Err(e) = republisher.catch_up().await {
                            tracing::warn!(error = %e, "event relay: catching up");
                        }
                    }
                }
            }
        }))
    }
}

impl Database {
    /// Tells every instance, at commit, that `doctor_id`'s profile, schedule or time off
    /// changed (PostgreSQL; a single SQLite instance hears it from its own bus). Instances drop
    /// what they cached of the doctor when they hear it.
    pub(crate) async fn announce_doctor_change(
        &self,
        tx: &mut crate::WriteTx,
        doctor_id: DoctorId,
    ) -> Result<(), StoreError> {
        if self.backend() == Backend::Postgres {
            let announcement = Announcement::Doctor { doctor_id };
            sql::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(announcement.to_string())
                .execute(&mut *tx)
                .await?;
        }
        Ok(())
    }
}

async fn listen(url: &str) -> Result<PgListener, StoreError> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// A new listener, retrying until one connects; `None` when told to stop first.
async fn reconnect(url: &str, stop: &mut watch::Receiver<bool>) -> Option<PgListener> {
    loop {
        tokio::select! {
            () = tokio::time::sleep(RECONNECT_DELAY) => {}
            _ = stop.changed() => return None,
        }
        match listen(url).await {
            Ok(listener) => return Some(listener),
            Err(e) => tracing::warn!(error = %e, "event relay: cannot listen yet"),
        }
    }
}
