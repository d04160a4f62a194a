//! Delivery in development: with no email or SMS channel configured, messages (one-time codes)
//! are written to the server log so a developer can sign in. Production refuses to start this
//! way (see [`crate::app::production_guard`]).

use async_trait::async_trait;
use medibook_core::BookingResult;
use medibook_core::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::Identifier;
use medibook_core::ports::CodeSender;

/// Writes messages to the log instead of sending them. Development only.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogChannel;

#[async_trait]
impl MessageChannel for LogChannel {
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        tracing::info!(
            target: "medibook::delivery",
            "development mode, nothing sent: message for {} — {}: {}",
            message.to,
            message.subject,
            message.body
        );
        Ok(())
    }
}

/// Logs codes directly, without the outbox. For tools and tests that run no delivery worker.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCodeSender;

#[async_trait]
impl CodeSender for LogCodeSender {
    async fn send_code(&self, to: &Identifier, code: &str) -> BookingResult<()> {
        tracing::info!(target: "medibook::signin", "one-time code for {to}: {code} (development mode)");
        Ok(())
    }
}
