//! The contact form: anyone may write to the clinic; the front desk (receptionists and
//! admins) reads the inbox, answers by e-mail through the outbox and marks messages handled.
//!
//! Spam is kept out in two ways. A honeypot field (`website`) is invisible to people, so a
//! form that fills it was filled by a bot: it is answered like any other and then dropped. And
//! each client address may send only a few messages an hour.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{Actor, AuditAction, AuditEntry, AuditEvent};
use crate::clock::Clock;
use crate::delivery::OutboundMessage;
use crate::error::{BookingError, BookingResult};
use crate::identity::Email;
use crate::identity::Identifier;
use crate::limits::{RateLimit, RateLimiter};
use crate::outbox::{MessageKind, NewMessage};

/// Longest accepted name, in characters.
pub const MAX_NAME_CHARS: usize = 100;
/// Longest accepted message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 5000;
/// Most messages the inbox lists at once, newest first.
pub const INBOX_LIMIT: u32 = 500;
/// How many forms one client address may send: 10 an hour.
pub const FORMS_PER_CLIENT: RateLimit = RateLimit::per_hour(10);

/// A stored message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContactMessage {
    /// Identity.
    pub id: Uuid,
    /// Who wrote, as they gave it.
    pub name: String,
    /// Where to answer.
    pub email: Email,
    /// What they wrote.
    pub message: String,
    /// When it arrived.
    pub received_at: Timestamp,
    /// When the desk marked it handled (answered, or nothing to answer).
    pub handled_at: Option<Timestamp>,
    /// When the desk last answered it by e-mail.
    pub replied_at: Option<Timestamp>,
}

/// The form as submitted, before any checks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContactForm {
    /// Name field.
    pub name: String,
    /// Email field.
    pub email: String,
    /// Message field.
    pub message: String,
    /// The honeypot: people leave it empty.
    pub website: Option<String>,
}

/// What became of a submitted form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submission {
    /// Stored in the inbox.
    Stored,
    /// Recognised as a bot by the honeypot and dropped.
    Dropped,
}

/// Storage of contact messages.
#[async_trait]
pub trait ContactRepository: Send + Sync + 'static {
    /// Stores a message.
    async fn add_contact_message(&self, message: &ContactMessage) -> BookingResult<()>;
    /// The newest `limit` messages, newest first.
    async fn contact_messages(&self, limit: u32) -> BookingResult<Vec<ContactMessage>>;
    /// One message; `None` if there is none.
    async fn contact_message(&self, id: Uuid) -> BookingResult<Option<ContactMessage>>;
    /// In one transaction: queues `reply`, stamps the message replied (and handled, if it was
    /// not) at `now` and appends `audit`; `false` if there is no such message.
    async fn reply_to_contact(
        &self,
        id: Uuid,
        reply: &NewMessage,
        now: Timestamp,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
    /// Marks the message handled at `handled` (or not handled, with `None`) and appends
    /// `audit`, in one transaction; `false` if there is no such message.
    async fn set_contact_handled(
        &self,
        id: Uuid,
        handled: Option<Timestamp>,
        audit: &[AuditEntry],
    ) -> BookingResult<bool>;
}

/// Longest reply, in characters.
pub const MAX_REPLY_CHARS: usize = 5000;

/// Receives contact forms and lists them for admins.
#[derive(Clone)]
pub struct ContactDesk {
    repository: Arc<dyn ContactRepository>,
    limiter: RateLimiter,
    limit: RateLimit,
    clock: Arc<dyn Clock>,
    signature: String,
}

impl ContactDesk {
    /// A desk storing into `repository`, allowing `limit` forms per client address.
    pub fn new(
        repository: Arc<dyn ContactRepository>,
        limiter: RateLimiter,
        limit: RateLimit,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            repository,
            limiter,
            limit,
            clock,
            signature: "MediBook clinic".to_owned(),
        }
    }

    /// Signs replies with `clinic` (the clinic's name).
    pub fn signed_as(mut self, clinic: impl Into<String>) -> Self {
        self.signature = clinic.into();
        self
    }

    /// Takes a form from `client` (an IP address, if known): rate-limits, drops bots, checks
    /// the fields and stores the message.
    pub async fn submit(
        &self,
        form: ContactForm,
        client: Option<&str>,
    ) -> BookingResult<Submission> {
        let key = format!("contact-ip:{}", client.unwrap_or("unknown"));
        self.limiter.hit(&key, self.limit).await?;
        if form
            .website
            .as_deref()
            .is_some_and(|w| !w.trim().is_empty())
        {
            return Ok(Submission::Dropped);
        }
        let message = ContactMessage {
            id: Uuid::now_v7(),
            name: text_field("name", &form.name, MAX_NAME_CHARS, false)?,
            email: Email::parse(&form.email)?,
            message: text_field("message", &form.message, MAX_MESSAGE_CHARS, true)?,
            received_at: self.clock.now(),
            handled_at: None,
            replied_at: None,
        };
        self.repository.add_contact_message(&message).await?;
        Ok(Submission::Stored)
    }

    /// The newest messages, newest first.
    pub async fn inbox(&self) -> BookingResult<Vec<ContactMessage>> {
        self.repository.contact_messages(INBOX_LIMIT).await
    }

    /// Answers message `id` by e-mail (queued in the outbox with the change, so it is sent
    /// even if the process stops right after) and marks it handled. The audit entry names the
    /// message, never the reply's text.
    pub async fn reply(
        &self,
        actor: &Actor,
        id: Uuid,
        text: &str,
    ) -> BookingResult<ContactMessage> {
        let text = text_field("reply", text, MAX_REPLY_CHARS, true)?;
        let message = self
            .repository
            .contact_message(id)
            .await?
            .ok_or(BookingError::NotFound("contact message"))?;
        let now = self.clock.now();
        let body = format!(
            "{text}\n\n{}\n\n---\nYou wrote on {}:\n{}",
            self.signature,
            message.received_at.strftime("%Y-%m-%d"),
            quoted(&message.message),
        );
        let reply = NewMessage {
            idempotency_key: format!("contact-reply:{id}:{}", Uuid::now_v7()),
            message: OutboundMessage {
                to: Identifier::Email(message.email.clone()),
                subject: format!("Your message to {}", self.signature),
                body,
                attachment: None,
            },
            expires_at: None,
            sensitive: true,
            kind: MessageKind::ContactReply,
            appointment_id: None,
            due_at: None,
        };
        let event = AuditEvent::new(
            AuditAction::ContactReply,
            "contact_message",
            Some(id.to_string()),
        );
        if !self
            .repository
            .reply_to_contact(id, &reply, now, &[AuditEntry::stamped(actor, now, event)])
            .await?
        {
            return Err(BookingError::NotFound("contact message"));
        }
        Ok(ContactMessage {
            handled_at: message.handled_at.or(Some(now)),
            replied_at: Some(now),
            ..message
        })
    }

    /// Marks message `id` handled or, with `handled` false, back to be dealt with.
    pub async fn set_handled(
        &self,
        actor: &Actor,
        id: Uuid,
        handled: bool,
    ) -> BookingResult<ContactMessage> {
        let message = self
            .repository
            .contact_message(id)
            .await?
            .ok_or(BookingError::NotFound("contact message"))?;
        let now = self.clock.now();
        let at = handled.then(|| message.handled_at.unwrap_or(now));
        let event = AuditEvent::new(
            AuditAction::ContactHandled,
            "contact_message",
            Some(id.to_string()),
        )
        .with_detail(if handled { "handled" } else { "not handled" });
        if !self
            .repository
            .set_contact_handled(id, at, &[AuditEntry::stamped(actor, now, event)])
            .await?
        {
            return Err(BookingError::NotFound("contact message"));
        }
        Ok(ContactMessage {
            handled_at: at,
            ..message
        })
    }
}

/// `text` with every line marked as quoted (`> `).
fn quoted(text: &str) -> String {
    text.lines()
        .map(|line| format!("> {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Trims `raw` and checks it is 1 to `max` characters without control characters (line
/// breaks and tabs allowed where `multiline`).
pub fn text_field(field: &str, raw: &str, max: usize, multiline: bool) -> BookingResult<String> {
    let text = raw.trim();
    if text.is_empty() {
        return Err(BookingError::validation(format!(
            "{field} must not be empty"
        )));
    }
    if text.chars().count() > max {
        return Err(BookingError::validation(format!(
            "{field} must be at most {max} characters"
        )));
    }
    let allowed = |c: char| !c.is_control() || (multiline && (c == '\n' || c == '\t' || c == '\r'));
    if !text.chars().all(allowed) {
        return Err(BookingError::validation(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_fields_are_trimmed_and_bounded() {
        assert_eq!(text_field("name", "  Ada ", 10, false).unwrap(), "Ada");
        assert!(text_field("name", "   ", 10, false).is_err());
        assert!(text_field("name", &"x".repeat(11), 10, false).is_err());
        assert!(text_field("name", "a\nb", 10, false).is_err());
        assert_eq!(text_field("message", "a\nb", 10, true).unwrap(), "a\nb");
        assert!(text_field("message", "a\u{0}b", 10, true).is_err());
    }
}
