//! Email over SMTP, with `lettre`.
//!
//! The relay is named by one URL (in the binary: `MEDIBOOK_SMTP_URL`):
//!
//! | URL | connection |
//! |---|---|
//! | `smtp://host:port` | plain text, no STARTTLS attempt: for a relay on the same host or network, and tests |
//! | `smtp+starttls://user:pass@host:port` | plain connection upgraded with STARTTLS, which must succeed (port 587 if omitted) |
//! | `smtps://user:pass@host:port` | TLS from the first byte (port 465 if omitted) |
//!
//! Credentials come from the URL's user part (percent-encoded where needed); certificates are
//! checked against the platform's trust store. Messages are plain text with the
//! [`OutboundMessage`]'s subject.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use medibook_core::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::{Email, Identifier};
use serde::Deserialize;
use url::Url;

/// Where and as whom to send email.
#[derive(Clone, Deserialize)]
pub struct SmtpSettings {
    /// The relay: `smtp://host:port`, `smtp+starttls://user:pass@host:port` or
    /// `smtps://user:pass@host:port` (see the module docs).
    pub url: String,
    /// The sender, as `noreply@clinic.example` or `MediBook <noreply@clinic.example>`.
    pub from: String,
}

impl fmt::Debug for SmtpSettings {
    // The URL may carry a password: show only what identifies the relay.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = Url::parse(&self.url)
            .map(|url| describe_relay(&url))
            .unwrap_or_else(|_| "<unparsable>".to_owned());
        f.debug_struct("SmtpSettings")
            .field("url", &url)
            .field("from", &self.from)
            .finish()
    }
}

/// Sends email through one SMTP relay; delivers only to [`Identifier::Email`] recipients.
#[derive(Clone)]
pub struct SmtpChannel {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    /// The relay without credentials, for logs and errors.
    relay: String,
}

impl SmtpChannel {
    /// How long one SMTP command (and the connection itself) may take before the attempt is
    /// given up as a transient failure.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Checks `settings` and builds the channel; no connection is made until the first message.
    ///
    /// The error says what is wrong, without repeating any password.
    pub fn new(settings: &SmtpSettings) -> Result<Self, String> {
        let from: Mailbox = settings.from.trim().parse().map_err(|e| {
            format!(
                "mail sender {:?} is not a valid address: {e}",
                settings.from
            )
        })?;
        let url = lettre_url(&settings.url)?;
        let relay = describe_relay(&url);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.as_str())
            .map_err(|e| format!("SMTP URL for {relay} is not usable: {e}"))?
            .timeout(Some(Self::TIMEOUT))
            .build();
        Ok(Self {
            transport,
            from,
            relay,
        })
    }

    fn compose(&self, to: &Email, message: &OutboundMessage) -> Result<Message, DeliveryError> {
        let address: Address = to.as_str().parse().map_err(|e| {
            DeliveryError::Permanent(format!("recipient {to} is not deliverable by SMTP: {e}"))
        })?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, address))
            .subject(message.subject.as_str())
            .message_id(None);
        let composed = match &message.attachment {
            None => builder
                .header(ContentType::TEXT_PLAIN)
                .body(message.body.clone()),
            Some(attachment) => {
                let content_type = ContentType::parse(&attachment.content_type).map_err(|e| {
                    DeliveryError::Permanent(format!(
                        "attachment type {:?} is not a media type: {e}",
                        attachment.content_type
                    ))
                })?;
                builder.multipart(
                    MultiPart::mixed()
                        .singlepart(SinglePart::plain(message.body.clone()))
                        .singlepart(
                            lettre::message::Attachment::new(attachment.filename.clone())
                                .body(attachment.content.clone(), content_type),
                        ),
                )
            }
        };
        composed.map_err(|e| DeliveryError::Permanent(format!("email could not be composed: {e}")))
    }
}

impl fmt::Debug for SmtpChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpChannel")
            .field("relay", &self.relay)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MessageChannel for SmtpChannel {
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        let Identifier::Email(to) = &message.to else {
            return Err(DeliveryError::Permanent(
                "the SMTP channel delivers only to email addresses".to_owned(),
            ));
        };
        let email = self.compose(to, message)?;
        match self.transport.send(email).await {
            Ok(_) => {
                tracing::info!(relay = %self.relay, "email handed to the SMTP relay");
                Ok(())
            }
            Err(error) => {
                let failure = classify(&self.relay, &error);
                tracing::warn!(relay = %self.relay, %error, "email delivery failed");
                Err(failure)
            }
        }
    }
}

/// Turns our URL forms into the one `lettre` reads (`smtp://…?tls=required` for STARTTLS),
/// refusing anything we would not know how to secure.
fn lettre_url(raw: &str) -> Result<Url, String> {
    // Never echo `raw` in errors: it may hold a password.
    let mut url = Url::parse(raw.trim()).map_err(|e| format!("SMTP URL is not a URL: {e}"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("SMTP URL names no host".to_owned());
    }
    if !url.username().is_empty() && url.password().is_none() {
        return Err(format!(
            "SMTP URL for {} has a user but no password",
            describe_relay(&url)
        ));
    }
    match url.scheme() {
        "smtp" | "smtps" => {}
        "smtp+starttls" => {
            url.set_scheme("smtp")
                .map_err(|()| "SMTP URL scheme could not be rewritten".to_owned())?;
            url.set_query(Some("tls=required"));
        }
        other => {
            return Err(format!(
                "SMTP URL scheme {other:?} is not one of smtp, smtp+starttls, smtps"
            ));
        }
    }
    Ok(url)
}

/// `scheme://host:port`, without credentials.
fn describe_relay(url: &Url) -> String {
    let scheme = url.scheme();
    let starttls = url
        .query_pairs()
        .any(|(k, v)| k == "tls" && v == "required");
    let scheme = if scheme == "smtp" && starttls {
        "smtp+starttls"
    } else {
        scheme
    };
    let default_port = match scheme {
        "smtps" => 465,
        "smtp+starttls" => 587,
        _ => 25,
    };
    let host = url.host_str().unwrap_or("");
    format!("{scheme}://{host}:{}", url.port().unwrap_or(default_port))
}

/// 5xx replies and errors of our own making will not go away by retrying; everything else
/// (4xx replies, refused or dropped connections, timeouts, TLS trouble, garbled replies) may.
fn classify(relay: &str, error: &lettre::transport::smtp::Error) -> DeliveryError {
    if error.is_permanent() || error.is_client() {
        DeliveryError::Permanent(format!("SMTP relay {relay} refused the email: {error}"))
    } else if error.is_transient() {
        DeliveryError::Transient(format!("SMTP relay {relay} deferred the email: {error}"))
    } else if error.is_timeout() {
        DeliveryError::Transient(format!("SMTP relay {relay} timed out: {error}"))
    } else {
        DeliveryError::Transient(format!("SMTP relay {relay} could not be reached: {error}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> SmtpSettings {
        SmtpSettings {
            url: url.to_owned(),
            from: "MediBook <noreply@clinic.example>".to_owned(),
        }
    }

    #[test]
    fn accepts_plain_starttls_and_tls_relays() {
        for (url, relay) in [
            ("smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525"),
            ("smtp://relay.internal", "smtp://relay.internal:25"),
            (
                "smtp+starttls://ada:p%40ss@mail.example.org",
                "smtp+starttls://mail.example.org:587",
            ),
            (
                "smtps://ada:secret@mail.example.org:465",
                "smtps://mail.example.org:465",
            ),
        ] {
            let channel = SmtpChannel::new(&settings(url)).unwrap();
            assert_eq!(channel.relay, relay, "{url}");
        }
    }

    #[test]
    fn refuses_urls_it_cannot_use() {
        for url in [
            "",
            "mail.example.org",
            "http://mail.example.org",
            "smtp://",
            "smtps://ada@mail.example.org",
        ] {
            assert!(
                SmtpChannel::new(&settings(url)).is_err(),
                "{url:?} accepted"
            );
        }
    }

    #[test]
    fn refuses_a_malformed_sender() {
        let settings = SmtpSettings {
            url: "smtp://127.0.0.1:25".to_owned(),
            from: "MediBook".to_owned(),
        };
        assert!(SmtpChannel::new(&settings).is_err());
    }

    #[test]
    fn errors_and_debug_output_never_show_the_password() {
        let secret = settings("smtps://ada:hunter2@mail.example.org");
        assert!(!format!("{secret:?}").contains("hunter2"));
        let channel = SmtpChannel::new(&secret).unwrap();
        assert!(!format!("{channel:?}").contains("hunter2"));
        let err = SmtpChannel::new(&settings("gopher://ada:hunter2@mail.example.org")).unwrap_err();
        assert!(!err.contains("hunter2"), "{err}");
    }
}
