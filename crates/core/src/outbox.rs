//! The outbox: messages are written to the database first and delivered by a worker with
//! retries, so a provider outage or a crash delays a message but never loses it, and a request
//! never fails because a provider is down.
//!
//! Delivery is at least once: a worker claims due messages with a lease, delivers, then marks
//! them sent. A worker that dies mid-delivery leaves the lease to expire and another worker
//! retries. Sensitive bodies (one-time codes) are erased once a message is sent or given up,
//! and a message past its `expires_at` (a code that no longer works) is given up, not sent.
//!
//! Admins watch the outbox through [`OutboxMonitor`]: counts per status, the oldest message
//! still waiting, and the messages themselves with their failure reasons, recipients masked
//! and bodies never shown (sign-in codes live there until they are sent).

use std::sync::Arc;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};

use crate::clock::Clock;
use crate::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use crate::error::{BookingError, BookingResult};
use crate::identity::Identifier;
use crate::ids::AppointmentId;
use crate::ports::CodeSender;
use crate::signin::CODE_LIFETIME;

/// What a message is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageKind {
    /// A one-time sign-in code.
    SignInCode,
    /// An appointment was booked.
    Booked,
    /// An appointment moved.
    Rescheduled,
    /// An appointment was cancelled.
    Cancelled,
    /// A reminder before an appointment.
    Reminder,
    /// A waitlist offer.
    WaitlistOffer,
    /// The desk's answer to a contact-form message.
    ContactReply,
}

impl MessageKind {
    /// Every kind, for listings.
    pub const ALL: [Self; 7] = [
        Self::SignInCode,
        Self::Booked,
        Self::Rescheduled,
        Self::Cancelled,
        Self::Reminder,
        Self::WaitlistOffer,
        Self::ContactReply,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignInCode => "sign_in_code",
            Self::Booked => "booked",
            Self::Rescheduled => "rescheduled",
            Self::Cancelled => "cancelled",
            Self::Reminder => "reminder",
            Self::WaitlistOffer => "waitlist_offer",
            Self::ContactReply => "contact_reply",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == raw)
    }
}

/// Where a message stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    /// Waiting for its first attempt or a retry.
    Pending,
    /// Delivered to the provider.
    Sent,
    /// Given up: refused for good, out of attempts, or expired before it could go.
    Failed,
    /// Withdrawn before it was sent (a reminder of an appointment that moved or was cancelled).
    Cancelled,
}

impl MessageStatus {
    /// Every status, in the order listings show them.
    pub const ALL: [Self; 4] = [Self::Pending, Self::Sent, Self::Failed, Self::Cancelled];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Reads a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == raw)
    }
}

/// A message to queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewMessage {
    /// Unique per message: queuing the same key twice queues it once.
    pub idempotency_key: String,
    /// The message.
    pub message: OutboundMessage,
    /// Give up (without sending) after this instant, if set.
    pub expires_at: Option<Timestamp>,
    /// Erase the body once the message is sent or given up.
    pub sensitive: bool,
    /// What it is about.
    pub kind: MessageKind,
    /// The appointment it is about, if any (its pending reminders are withdrawn when it moves
    /// or is cancelled).
    pub appointment_id: Option<AppointmentId>,
    /// Not before this instant (a reminder); now if unset.
    pub due_at: Option<Timestamp>,
}

/// A message claimed for delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Outbox row id.
    pub id: String,
    /// The message.
    pub message: OutboundMessage,
    /// Delivery attempts so far (before this one).
    pub attempts: u32,
    /// Give up after this instant, if set.
    pub expires_at: Option<Timestamp>,
}

/// One outbox message as admins see it: everything but the body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// Outbox row id.
    pub id: String,
    /// What it is about.
    pub kind: MessageKind,
    /// Who it goes to.
    pub recipient: Identifier,
    /// Its subject line.
    pub subject: String,
    /// Where it stands.
    pub status: MessageStatus,
    /// Delivery attempts so far.
    pub attempts: u32,
    /// When a pending message is (next) due.
    pub next_attempt_at: Timestamp,
    /// Why the last attempt failed, or why it was given up or withdrawn.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: Timestamp,
    /// When it was sent, given up or withdrawn.
    pub finished_at: Option<Timestamp>,
    /// The appointment it is about, if any.
    pub appointment_id: Option<AppointmentId>,
}

/// Which outbox messages to list: newest first, `limit` of them after skipping `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutboxQuery {
    /// Only messages in this status.
    pub status: Option<MessageStatus>,
    /// Only messages of this kind.
    pub kind: Option<MessageKind>,
    /// At most this many.
    pub limit: u32,
    /// Skip this many of the newest first.
    pub offset: u32,
}

/// How many messages are in each status, and how long the oldest pending one has waited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxSummary {
    /// Waiting to be sent.
    pub pending: u64,
    /// Delivered.
    pub sent: u64,
    /// Given up.
    pub failed: u64,
    /// Withdrawn.
    pub cancelled: u64,
    /// The earliest due time among pending messages (in the past when the worker lags).
    pub oldest_pending_due: Option<Timestamp>,
}

/// Storage of the outbox.
#[async_trait]
pub trait OutboxRepository: Send + Sync + 'static {
    /// Queues a message due now; `false` if its idempotency key was already queued.
    async fn enqueue(&self, message: &NewMessage, now: Timestamp) -> BookingResult<bool>;
    /// Claims up to `limit` due pending messages until `now + lease`.
    async fn claim_due(
        &self,
        now: Timestamp,
        lease: SignedDuration,
        limit: u32,
    ) -> BookingResult<Vec<QueuedMessage>>;
    /// Records a successful delivery.
    async fn mark_sent(&self, id: &str, now: Timestamp) -> BookingResult<()>;
    /// Records a failed attempt to be retried at `retry_at`.
    async fn mark_retry(&self, id: &str, retry_at: Timestamp, error: &str) -> BookingResult<()>;
    /// Gives a message up for good.
    async fn mark_failed(&self, id: &str, now: Timestamp, error: &str) -> BookingResult<()>;
    /// The messages `query` selects, newest first.
    async fn list_messages(&self, query: &OutboxQuery) -> BookingResult<Vec<OutboxEntry>>;
    /// Counts per status and the oldest pending due time.
    async fn summary(&self) -> BookingResult<OutboxSummary>;
    /// Deletes up to `limit` finished messages (sent, failed or withdrawn) created before
    /// `created_before`; returns how many went. Pending messages are never deleted.
    async fn purge_finished(&self, created_before: Timestamp, limit: u32) -> BookingResult<u64>;
}

/// Messages shown on one page of the admin listing.
pub const OUTBOX_PAGE_SIZE: u32 = 50;
/// Highest page number the listing accepts (deeper pages are better reached by filtering).
pub const OUTBOX_MAX_PAGE: u32 = 1000;

/// One page of the outbox for admins.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxPage {
    /// Counts over the whole outbox (not only this page).
    pub summary: OutboxSummary,
    /// This page's messages, newest first.
    pub messages: Vec<OutboxEntry>,
    /// The page number (1 for the newest).
    pub page: u32,
    /// Whether an older page follows.
    pub has_more: bool,
}

/// Reads the outbox for admins (the HTTP layer lets only admins in).
#[derive(Clone)]
pub struct OutboxMonitor {
    outbox: Arc<dyn OutboxRepository>,
}

impl OutboxMonitor {
    /// A monitor over `outbox`.
    pub fn new(outbox: Arc<dyn OutboxRepository>) -> Self {
        Self { outbox }
    }

    /// The summary and page `page` (1-based) of the messages with `status` and `kind` as typed
    /// (empty means any); an unknown status or kind, or a page out of range, is a validation
    /// error.
    pub async fn page(
        &self,
        status: Option<&str>,
        kind: Option<&str>,
        page: Option<u32>,
    ) -> BookingResult<OutboxPage> {
        let status = parse_filter(status, "status", MessageStatus::parse, || {
            MessageStatus::ALL.map(MessageStatus::as_str).join(", ")
        })?;
        let kind = parse_filter(kind, "kind", MessageKind::parse, || {
            MessageKind::ALL.map(MessageKind::as_str).join(", ")
        })?;
        let page = page.unwrap_or(1);
        if !(1..=OUTBOX_MAX_PAGE).contains(&page) {
            return Err(BookingError::validation(format!(
                "page must be between 1 and {OUTBOX_MAX_PAGE}"
            )));
        }
        let query = OutboxQuery {
            status,
            kind,
            // One more than a page, to know whether another page follows.
            limit: OUTBOX_PAGE_SIZE + 1,
            offset: (page - 1) * OUTBOX_PAGE_SIZE,
        };
        let mut messages = self.outbox.list_messages(&query).await?;
        let has_more = messages.len() > OUTBOX_PAGE_SIZE as usize;
        messages.truncate(OUTBOX_PAGE_SIZE as usize);
        let summary = self.outbox.summary().await?;
        Ok(OutboxPage {
            summary,
            messages,
            page,
            has_more,
        })
    }
}

/// Reads an optional filter value: `None` or blank means any.
fn parse_filter<T>(
    raw: Option<&str>,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
    known: impl Fn() -> String,
) -> BookingResult<Option<T>> {
    let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    parse(raw)
        .map(Some)
        .ok_or_else(|| BookingError::validation(format!("{field} must be one of {}", known())))
}

/// How often and how long to retry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Wait before the first retry; doubles after each failure.
    pub first_backoff: SignedDuration,
    /// Longest wait between attempts.
    pub max_backoff: SignedDuration,
    /// Attempts after which a message is given up.
    pub max_attempts: u32,
    /// How long a claimed message is reserved for the worker that claimed it.
    pub lease: SignedDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            first_backoff: SignedDuration::from_secs(5),
            max_backoff: SignedDuration::from_mins(10),
            max_attempts: 10,
            lease: SignedDuration::from_mins(2),
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` failed attempts (1, 2, …).
    pub fn backoff(&self, attempts: u32) -> SignedDuration {
        let factor = 1i32 << attempts.saturating_sub(1).min(16);
        self.first_backoff
            .checked_mul(factor)
            .map_or(self.max_backoff, |wait| wait.min(self.max_backoff))
    }
}

/// What one delivery round did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    /// Delivered.
    pub sent: usize,
    /// Failed for now, scheduled again.
    pub retried: usize,
    /// Given up.
    pub failed: usize,
}

impl DeliveryRound {
    /// Whether the round took a full batch, so more may be due at once.
    pub fn was_full(&self) -> bool {
        self.sent + self.retried + self.failed >= OutboxWorker::BATCH as usize
    }
}

/// Delivers due outbox messages through a channel.
#[derive(Clone)]
pub struct OutboxWorker {
    outbox: Arc<dyn OutboxRepository>,
    channel: Arc<dyn MessageChannel>,
    clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    retention: Option<SignedDuration>,
}

impl OutboxWorker {
    /// Most messages one round claims.
    pub const BATCH: u32 = 50;
    /// Most finished messages one purge statement deletes (short transactions, however large
    /// the backlog).
    pub const PURGE_BATCH: u32 = 1000;
    /// Most purge statements one [`Self::purge_finished`] call runs.
    const PURGE_ROUNDS: u32 = 20;

    /// A worker delivering through `channel`.
    pub fn new(
        outbox: Arc<dyn OutboxRepository>,
        channel: Arc<dyn MessageChannel>,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Self {
        Self {
            outbox,
            channel,
            clock,
            policy,
            retention: None,
        }
    }

    /// Keeps finished messages for `retention` after they were queued, then deletes them
    /// ([`Self::purge_finished`]); without it they are kept forever.
    #[must_use]
    pub fn with_retention(mut self, retention: Option<SignedDuration>) -> Self {
        self.retention = retention;
        self
    }

    /// Deletes finished messages queued longer ago than the retention, in batches of
    /// [`Self::PURGE_BATCH`] (at most a few batches per call; the next call goes on). Returns
    /// how many were deleted; 0 without a retention.
    pub async fn purge_finished(&self) -> BookingResult<u64> {
        let Some(retention) = self.retention else {
            return Ok(0);
        };
        let Ok(cutoff) = self.clock.now().checked_sub(retention) else {
            return Ok(0);
        };
        let mut purged = 0;
        for _ in 0..Self::PURGE_ROUNDS {
            let deleted = self
                .outbox
                .purge_finished(cutoff, Self::PURGE_BATCH)
                .await?;
            purged += deleted;
            if deleted < u64::from(Self::PURGE_BATCH) {
                break;
            }
        }
        Ok(purged)
    }

    /// Delivers what is due now (up to [`Self::BATCH`] messages).
    pub async fn deliver_due(&self) -> BookingResult<DeliveryRound> {
        let now = self.clock.now();
        let due = self
            .outbox
            .claim_due(now, self.policy.lease, Self::BATCH)
            .await?;
        let mut round = DeliveryRound::default();
        for queued in due {
            if queued.expires_at.is_some_and(|expiry| expiry <= now) {
                self.outbox
                    .mark_failed(&queued.id, now, "expired before it could be delivered")
                    .await?;
                round.failed += 1;
                continue;
            }
            let attempts = queued.attempts + 1;
            match self.channel.deliver(&queued.message).await {
                Ok(()) => {
                    self.outbox.mark_sent(&queued.id, self.clock.now()).await?;
                    round.sent += 1;
                }
                Err(DeliveryError::Transient(reason)) if attempts < self.policy.max_attempts => {
                    let retry_at = self
                        .clock
                        .now()
                        .saturating_add(self.policy.backoff(attempts))
                        .unwrap_or(now);
                    self.outbox
                        .mark_retry(&queued.id, retry_at, &reason)
                        .await?;
                    round.retried += 1;
                }
                Err(DeliveryError::Transient(reason) | DeliveryError::Permanent(reason)) => {
                    self.outbox
                        .mark_failed(&queued.id, self.clock.now(), &reason)
                        .await?;
                    round.failed += 1;
                }
            }
        }
        Ok(round)
    }
}

/// Sends one-time codes by queuing them in the outbox.
#[derive(Clone)]
pub struct OutboxCodeSender {
    outbox: Arc<dyn OutboxRepository>,
    clock: Arc<dyn Clock>,
}

impl OutboxCodeSender {
    /// A code sender over `outbox`.
    pub fn new(outbox: Arc<dyn OutboxRepository>, clock: Arc<dyn Clock>) -> Self {
        Self { outbox, clock }
    }
}

#[async_trait]
impl CodeSender for OutboxCodeSender {
    async fn send_code(&self, to: &Identifier, code: &str) -> BookingResult<()> {
        let now = self.clock.now();
        let message = NewMessage {
            idempotency_key: format!("sign-in-code:{}:{}", to.key(), uuid::Uuid::now_v7()),
            message: OutboundMessage {
                to: to.clone(),
                subject: "Your MediBook one-time code".into(),
                body: format!(
                    "Your MediBook one-time code is {code}. It expires in {} minutes.\n\
                     If you did not ask for it, you can ignore this message.",
                    CODE_LIFETIME.as_mins()
                ),
                attachment: None,
            },
            expires_at: Some(
                now.saturating_add(CODE_LIFETIME)
                    .map_err(|_| BookingError::Storage("code expiry overflows".into()))?,
            ),
            sensitive: true,
            kind: MessageKind::SignInCode,
            appointment_id: None,
            due_at: None,
        };
        self.outbox.enqueue(&message, now).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), SignedDuration::from_secs(5));
        assert_eq!(policy.backoff(2), SignedDuration::from_secs(10));
        assert_eq!(policy.backoff(4), SignedDuration::from_secs(40));
        assert_eq!(policy.backoff(30), SignedDuration::from_mins(10));
    }
}
