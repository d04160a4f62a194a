//! The contact form: anyone may write to the clinic; admins read the inbox.
//!
//! Spam is kept out in two ways. A honeypot field (`website`) is invisible to people, so a
//! form that fills it was filled by a bot: it is answered like any other and then dropped. And
//! each client address may send only a few messages an hour.

use std::sync::Arc;

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use uuid::Uuid;

use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::Email;
use crate::limits::{RateLimit, RateLimiter};

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
}

/// Receives contact forms and lists them for admins.
#[derive(Clone)]
pub struct ContactDesk {
    repository: Arc<dyn ContactRepository>,
    limiter: RateLimiter,
    limit: RateLimit,
    clock: Arc<dyn Clock>,
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
        }
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
        };
        self.repository.add_contact_message(&message).await?;
        Ok(Submission::Stored)
    }

    /// The newest messages, newest first.
    pub async fn inbox(&self) -> BookingResult<Vec<ContactMessage>> {
        self.repository.contact_messages(INBOX_LIMIT).await
    }
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
