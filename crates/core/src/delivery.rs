//! Outbound messages (sign-in codes, appointment confirmations and reminders, waitlist offers) and the port of the
//! channels that carry them: email over SMTP, SMS through an HTTP gateway.

use async_trait::async_trait;
use thiserror::Error;

use crate::identity::Identifier;

/// A message to one recipient, as plain text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundMessage {
    /// Where it goes: an email address or a phone number.
    pub to: Identifier,
    /// Subject line (emails only; SMS ignores it).
    pub subject: String,
    /// The text.
    pub body: String,
    /// A file sent with it (emails only; SMS ignores it): the appointment's calendar file.
    pub attachment: Option<Attachment>,
}

/// A file attached to an email.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attachment {
    /// Its file name.
    pub filename: String,
    /// Its media type, with parameters (`text/calendar; charset=utf-8`).
    pub content_type: String,
    /// Its text.
    pub content: String,
}

/// Why a delivery failed.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum DeliveryError {
    /// Worth retrying later: the provider is down, timed out, or asked us to slow down.
    #[error("temporary delivery failure: {0}")]
    Transient(String),
    /// Retrying will not help: the address is refused, credentials are wrong, no channel
    /// handles this kind of recipient.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
}

/// Carries messages to their recipients.
#[async_trait]
pub trait MessageChannel: Send + Sync + 'static {
    /// Delivers `message`, or says whether trying again may help.
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), DeliveryError>;
}
