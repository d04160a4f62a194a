//! Events across instances on PostgreSQL: every committed slot event is announced with
//! `NOTIFY medibook_slot_events, 'doctor_id:seq'` (a trigger on `slot_events`, so only committed
//! changes are announced). Each instance listens, reads the announced rows from the event log,
//! and republishes them on its own bus. Notifications name events; the rows are read after, so
//! a notification lost while the connection was down is filled in from the log at the next one
//! (per-doctor sequence numbers show the gap).

use std::collections::HashMap;
use std::sync::Arc;

use medibook_core::events::{DomainEvent, EventBus, SlotEventLog};
use medibook_core::ids::DoctorId;
use sqlx::postgres::PgListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::StoreError;
use crate::{Backend, Database};

/// The notification channel.
pub const CHANNEL: &str = "medibook_slot_events";

/// Most events read from the log for one notification.
const CATCH_UP_LIMIT: u32 = 1000;

/// Relays committed slot events from every instance to this instance's bus.
pub struct EventRelay;

impl EventRelay {
    /// Starts listening on `database` (PostgreSQL only) and republishing on `bus` until `stop`
    /// changes. Events this instance made itself arrive too; listeners deduplicate by `seq`.
    pub async fn spawn(
        database: Database,
        url: &str,
        bus: Arc<dyn EventBus>,
        mut stop: watch::Receiver<bool>,
    ) -> Result<JoinHandle<()>, StoreError> {
        if database.backend() != Backend::Postgres {
            return Err(StoreError::Config(
                "the event relay needs PostgreSQL (a single SQLite instance needs none)".into(),
            ));
        }
        let mut listener = PgListener::connect(url).await?;
        listener.listen(CHANNEL).await?;
        Ok(tokio::spawn(async move {
            let mut last_seen: HashMap<DoctorId, i64> = HashMap::new();
            loop {
                let notification = tokio::select! {
                    received = listener.recv() => received,
                    _ = stop.changed() => break,
                };
                let notification = match notification {
                    Ok(notification) => notification,
                    Err(e) => {
                        // PgListener reconnects by itself; missed events are caught up later.
                        tracing::warn!(error = %e, "event relay: listening failed");
                        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                        continue;
                    }
                };
                let Some((doctor_id, seq)) = parse(notification.payload()) else {
                    tracing::warn!(payload = notification.payload(), "event relay: bad payload");
                    continue;
                };
                let after = last_seen.get(&doctor_id).copied().unwrap_or(seq - 1);
                if seq <= after {
                    continue;
                }
                match database
                    .slot_events_after(doctor_id, after, CATCH_UP_LIMIT)
                    .await
                {
                    Ok(events) => {
                        for event in events {
                            last_seen.insert(doctor_id, event.seq);
                            bus.publish(DomainEvent::Slot(event));
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "event relay: reading the log failed"),
                }
            }
        }))
    }
}

fn parse(payload: &str) -> Option<(DoctorId, i64)> {
    let (doctor, seq) = payload.split_once(':')?;
    Some((doctor.parse().ok()?, seq.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn payloads_name_a_doctor_and_a_sequence_number() {
        let (_, seq) = parse("0190a1b2-0000-7000-8000-000000000001:42").unwrap();
        assert_eq!(seq, 42);
        assert!(parse("nonsense").is_none());
        assert!(parse("0190a1b2-0000-7000-8000-000000000001:x").is_none());
    }
}
