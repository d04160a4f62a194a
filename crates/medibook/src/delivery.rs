//! Delivery of one-time codes in development: written to the server log so a developer can sign
//! in without an SMS or email provider. Refused in production (see [`crate::app`]).

use async_trait::async_trait;
use medibook_core::BookingResult;
use medibook_core::identity::Identifier;
use medibook_core::ports::CodeSender;

/// Logs codes instead of sending them. Development only.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogCodeSender;

#[async_trait]
impl CodeSender for LogCodeSender {
    async fn send_code(&self, to: &Identifier, code: &str) -> BookingResult<()> {
        tracing::info!(target: "medibook::signin", "one-time code for {to}: {code} (development mode: no SMS or email channel configured)");
        Ok(())
    }
}
