//! The background workers `serve` runs: outbox delivery, the sweeper of expired holds, the
//! keeper of the audit trail (its hash chain and retention) and the retention job that
//! pseudonymises old appointments.

use std::time::Duration;

use medibook_core::booking_service::BookingService;
use medibook_core::limits::RateLimiter;
use medibook_core::outbox::OutboxWorker;
use tokio::sync::watch;

/// How often the outbox worker deletes finished messages past their retention.
const OUTBOX_PURGE_EVERY: Duration = Duration::from_secs(600);

/// Delivers due outbox messages every `every` until told to stop, and deletes finished
/// messages past their retention every [`OUTBOX_PURGE_EVERY`] (the first time one period
/// after start).
pub async fn deliver_outbox(
    worker: OutboxWorker,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    // The first round comes one period after start, when the server is up.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_purge = tokio::time::Instant::now() + every;
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                if tokio::time::Instant::now() >= next_purge {
                    next_purge = tokio::time::Instant::now() + OUTBOX_PURGE_EVERY;
                    match worker.purge_finished().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "deleted finished outbox messages past their retention"),
                        Err(e) => tracing::warn!(error = %e, "deleting old outbox messages failed"),
                    }
                }
                // Rounds follow each other at once while they come back full (a burst).
                loop {
                    match worker.deliver_due().await {
                        Ok(round) => {
                            if round.retried + round.failed > 0 {
                                tracing::warn!(?round, "some messages could not be delivered yet");
                            }
                            if !round.was_full() {
                                break;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "delivering the outbox failed");
                            break;
                        }
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// Expires lapsed holds every `every` until told to stop, and forgets old rate-limit windows.
/// Expired holds stop occupying their slot at `expires_at` regardless; the sweeper tidies state
/// and announces the freed slots.
pub async fn sweep_expired_holds(
    bookings: BookingService,
    limiter: RateLimiter,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                match bookings.sweep_expired_holds().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(expired = n, "swept expired holds"),
                    Err(e) => tracing::warn!(error = %e, "sweeping expired holds failed"),
                }
                if let Err(e) = limiter.prune().await {
                    tracing::warn!(error = %e, "pruning rate-limit counters failed");
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// How often the audit trail's settled entries are sealed into its hash chain.
pub const AUDIT_SEAL_EVERY: Duration = Duration::from_secs(60);
/// How long an entry is given to settle before it is sealed: longer than any command's
/// transaction takes from timing its entry to committing it.
pub const AUDIT_SETTLE: jiff::SignedDuration = jiff::SignedDuration::from_secs(60);
/// How often entries past their retention are pruned.
const AUDIT_PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Seals the audit trail every [`AUDIT_SEAL_EVERY`] and, with a retention, prunes sealed
/// entries older than it every hour, until told to stop.
pub async fn keep_audit_trail(
    database: medibook_store::Database,
    retention: Option<jiff::SignedDuration>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(AUDIT_SEAL_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_prune = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let now = jiff::Timestamp::now();
                // Seal everything that settled (a backlog takes several seals).
                loop {
                    match database.seal_audit(now, AUDIT_SETTLE).await {
                        Ok(Some(seal)) => tracing::debug!(seq = seal.seq, entries = seal.entries, "sealed audit entries"),
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "sealing the audit trail failed");
                            break;
                        }
                    }
                }
                if let Some(retention) = retention
                    && tokio::time::Instant::now() >= next_prune
                {
                    next_prune = tokio::time::Instant::now() + AUDIT_PRUNE_EVERY;
                    let before = now.saturating_sub(retention).unwrap_or(now);
                    match database.prune_audit(before, now).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deleted = n, "deleted audit entries past their retention"),
                        Err(e) => tracing::warn!(error = %e, "pruning the audit trail failed"),
                    }
                }
            }
            _ = stop.changed() => break,
        }
    }
}

/// How often appointments past their retention are looked for.
const RETENTION_EVERY: Duration = Duration::from_secs(3600);
/// The pause between two batches of the retention job.
const RETENTION_PAUSE: Duration = Duration::from_millis(200);

/// Pseudonymises appointments past their retention period every hour (the first time a minute
/// after start), until told to stop.
pub async fn keep_retention(
    retention: medibook_core::retention::Retention,
    mut stop: watch::Receiver<bool>,
) {
    let first = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut ticker = tokio::time::interval_at(first, RETENTION_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                // A batch per transaction, with a pause between them so the writer serves
                // requests too, and the server may stop between batches.
                let mut total = 0;
                loop {
                    match retention.pseudonymise_batch().await {
                        Ok(0) => break,
                        Ok(n) => total += n,
                        Err(e) => {
                            tracing::warn!(error = %e, "pseudonymising old appointments failed");
                            break;
                        }
                    }
                    if *stop.borrow() {
                        break;
                    }
                    tokio::time::sleep(RETENTION_PAUSE).await;
                }
                if total > 0 {
                    tracing::info!(appointments = total, "pseudonymised appointments past their retention");
                }
            }
            _ = stop.changed() => break,
        }
    }
}
