//! One [`MessageChannel`] over all configured channels, choosing by the kind of recipient.

use async_trait::async_trait;
use medibook_core::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::Identifier;

use crate::mail::{SmtpChannel, SmtpSettings};
use crate::sms::{SmsSettings, TwilioSmsChannel};

/// The configured delivery channels: email recipients go to `email`, phone recipients to
/// `sms`. A recipient whose kind has no channel is a permanent failure.
#[derive(Clone, Debug, Default)]
pub struct Channels {
    /// Email over SMTP, if configured.
    pub email: Option<SmtpChannel>,
    /// SMS through the gateway, if configured.
    pub sms: Option<TwilioSmsChannel>,
}

impl Channels {
    /// Builds each channel whose settings are given; the error names the first bad setting.
    pub fn from_settings(
        email: Option<&SmtpSettings>,
        sms: Option<&SmsSettings>,
    ) -> Result<Self, String> {
        Ok(Self {
            email: email.map(SmtpChannel::new).transpose()?,
            sms: sms.map(TwilioSmsChannel::new).transpose()?,
        })
    }

    /// True when no channel is configured, so no message can be delivered at all.
    pub fn is_empty(&self) -> bool {
        self.email.is_none() && self.sms.is_none()
    }
}

#[async_trait]
impl MessageChannel for Channels {
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        match (&message.to, &self.email, &self.sms) {
            (Identifier::Email(_), Some(email), _) => email.deliver(message).await,
            (Identifier::Phone(_), _, Some(sms)) => sms.deliver(message).await,
            (Identifier::Email(_), None, _) => Err(DeliveryError::Permanent(
                "no email channel configured".to_owned(),
            )),
            (Identifier::Phone(_), _, None) => Err(DeliveryError::Permanent(
                "no SMS channel configured".to_owned(),
            )),
        }
    }
}
