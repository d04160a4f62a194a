//! Adapters from MediBook's ports to the outside world.
//!
//! Message delivery (the [`MessageChannel`](medibook_core::delivery::MessageChannel)
//! port): [`SmtpChannel`] sends email through any SMTP server, [`TwilioSmsChannel`] sends SMS
//! through Twilio or any gateway that speaks its Messages API, and [`Channels`] puts the two
//! behind one channel that picks by the kind of recipient. Each is a real network client,
//! configured once from settings that are checked when the channel is built, so a
//! misconfiguration stops the server at start-up rather than at the first sign-in.
//!
//! Failures come back as [`DeliveryError`](medibook_core::delivery::DeliveryError):
//! `Transient` when trying again later may work (provider down, timeout, rate limit, SMTP 4xx),
//! `Permanent` when it will not (address refused, bad credentials, SMTP 5xx).
//!
//! [`google`] speaks Google's OAuth 2.0 and Calendar v3 protocol for the calendar sync.
//!
//! [`redis_bus`] carries committed events between instances over Redis pub/sub (the
//! [`EventBus`](medibook_core::events::EventBus) port), and [`redis_agendas`] keeps the
//! doctors' agendas the instances share, when `REDIS_URL` is set.

mod channels;
pub mod google;
mod mail;
pub mod redis_agendas;
pub mod redis_bus;
mod sms;
#[cfg(feature = "test-support")]
#[allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]
pub mod test_smtp;

pub use channels::Channels;
pub use mail::{SmtpChannel, SmtpSettings};
pub use sms::{SmsSettings, TwilioSmsChannel};
