//! SMS through an HTTP gateway that speaks Twilio's Messages API.
//!
//! One message is one `POST {base}/2010-04-01/Accounts/{AccountSid}/Messages.json` with HTTP
//! basic auth (account SID, auth token) and the form fields `To`, `From` and `Body`. The base
//! URL is configurable, so any Twilio-compatible gateway (or a local test server) works.
//!
//! Twilio answers errors with JSON such as `{"code": 21211, "message": "…", "status": 400}`.
//! A 4xx answer means the request itself is wrong (bad number, bad credentials) and is
//! permanent; 408, 429, 5xx and network trouble are transient.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use medibook_core::delivery::{DeliveryError, MessageChannel, OutboundMessage};
use medibook_core::identity::{Identifier, PhoneNumber};
use reqwest::{StatusCode, Url, header, redirect};
use serde::Deserialize;

/// How to reach the SMS gateway.
#[derive(Clone, Deserialize)]
pub struct SmsSettings {
    /// The gateway's base URL; Twilio's own by default ([`SmsSettings::TWILIO_BASE_URL`]).
    #[serde(default = "twilio_base_url")]
    pub base_url: String,
    /// The account SID (`AC…`), the user name of basic auth and part of the path.
    pub account_sid: String,
    /// The auth token, the password of basic auth.
    pub auth_token: String,
    /// The sender: an E.164 number such as `+15005550006`, or an alphanumeric sender ID.
    pub from: String,
}

impl SmsSettings {
    /// Twilio's API.
    pub const TWILIO_BASE_URL: &str = "https://api.twilio.com";

    /// Settings for Twilio itself.
    pub fn twilio(account_sid: &str, auth_token: &str, from: &str) -> Self {
        Self {
            base_url: Self::TWILIO_BASE_URL.to_owned(),
            account_sid: account_sid.to_owned(),
            auth_token: auth_token.to_owned(),
            from: from.to_owned(),
        }
    }
}

fn twilio_base_url() -> String {
    SmsSettings::TWILIO_BASE_URL.to_owned()
}

impl fmt::Debug for SmsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsSettings")
            .field("base_url", &self.base_url)
            .field("account_sid", &self.account_sid)
            .field("auth_token", &"<redacted>")
            .field("from", &self.from)
            .finish()
    }
}

/// Sends SMS through a Twilio-compatible gateway; delivers only to [`Identifier::Phone`]
/// recipients.
#[derive(Clone)]
pub struct TwilioSmsChannel {
    client: reqwest::Client,
    endpoint: Url,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl TwilioSmsChannel {
    /// How long one request may take, from connecting to the last byte of the answer.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// Checks `settings` and builds the channel; no request is made until the first message.
    pub fn new(settings: &SmsSettings) -> Result<Self, String> {
        let account_sid = settings.account_sid.trim();
        if account_sid.is_empty() || !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err("SMS account SID must be letters and digits, like AC0123…".to_owned());
        }
        if settings.auth_token.trim().is_empty() {
            return Err("SMS auth token is empty".to_owned());
        }
        let from = sender(&settings.from)?;
        let endpoint = messages_endpoint(&settings.base_url, account_sid)?;
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            // A redirected POST would arrive as a GET, or somewhere we did not mean to send
            // credentials; a moved gateway is a configuration problem to report.
            .redirect(redirect::Policy::none())
            .user_agent(concat!("medibook/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("SMS HTTP client could not be built: {e}"))?;
        Ok(Self {
            client,
            endpoint,
            account_sid: account_sid.to_owned(),
            auth_token: settings.auth_token.trim().to_owned(),
            from,
        })
    }

    async fn send(&self, to: &PhoneNumber, body: &str) -> Result<(), DeliveryError> {
        let form = [
            ("To", to.as_str()),
            ("From", self.from.as_str()),
            ("Body", body),
        ];
        let response = self
            .client
            .post(self.endpoint.clone())
            .basic_auth(&self.account_sid, Some(&self.auth_token))
            .form(&form)
            .send()
            .await
            .map_err(|e| {
                DeliveryError::Transient(format!("SMS gateway could not be reached: {e}"))
            })?;
        let status = response.status();
        if status.is_success() {
            let sid = response
                .json::<Accepted>()
                .await
                .ok()
                .and_then(|accepted| accepted.sid);
            tracing::info!(
                to = %to.masked(),
                sid = sid.as_deref().unwrap_or("?"),
                "SMS accepted by the gateway"
            );
            return Ok(());
        }
        let retry_after = response
            .headers()
            .get(header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .map(|value| format!(" (retry after {value})"))
            .unwrap_or_default();
        let text = response.text().await.unwrap_or_default();
        // Gateways quote the number back in their messages; logs get the masked form only.
        let detail = describe_refusal(status, &text).replace(to.as_str(), &to.masked());
        tracing::warn!(to = %to.masked(), %status, %detail, "SMS delivery failed");
        if is_retryable(status) {
            Err(DeliveryError::Transient(format!(
                "SMS gateway answered {detail}{retry_after}"
            )))
        } else {
            Err(DeliveryError::Permanent(format!(
                "SMS gateway refused the message: {detail}"
            )))
        }
    }
}

impl fmt::Debug for TwilioSmsChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioSmsChannel")
            .field("endpoint", &self.endpoint.as_str())
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl MessageChannel for TwilioSmsChannel {
    async fn deliver(&self, message: &OutboundMessage) -> Result<(), DeliveryError> {
        match &message.to {
            Identifier::Phone(to) => self.send(to, &message.body).await,
            Identifier::Email(_) => Err(DeliveryError::Permanent(
                "the SMS channel delivers only to phone numbers".to_owned(),
            )),
        }
    }
}

/// The part of Twilio's 201 answer worth logging.
#[derive(Deserialize)]
struct Accepted {
    sid: Option<String>,
}

/// Twilio's error body.
#[derive(Deserialize)]
struct Refusal {
    code: Option<u64>,
    message: Option<String>,
}

/// Rate limits, timeouts and server trouble pass; anything else the gateway refuses will be
/// refused again.
fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// `HTTP 400, Twilio error 21211: The 'To' number … is not a valid phone number.`, or the
/// start of the body when it is not Twilio's JSON.
fn describe_refusal(status: StatusCode, body: &str) -> String {
    match serde_json::from_str::<Refusal>(body) {
        Ok(Refusal {
            code: Some(code),
            message,
        }) => format!(
            "HTTP {}, Twilio error {code}: {}",
            status.as_u16(),
            message.unwrap_or_default()
        ),
        _ => {
            let excerpt: String = body.trim().chars().take(200).collect();
            if excerpt.is_empty() {
                format!("HTTP {status}")
            } else {
                format!("HTTP {status}: {excerpt}")
            }
        }
    }
}

/// `{base}/2010-04-01/Accounts/{sid}/Messages.json`, keeping any path the base already has.
fn messages_endpoint(base_url: &str, account_sid: &str) -> Result<Url, String> {
    let mut url = Url::parse(base_url.trim())
        .map_err(|e| format!("SMS base URL {base_url:?} is not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "SMS base URL {base_url:?} must be http:// or https://"
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("SMS base URL must not carry credentials; set the SID and token".to_owned());
    }
    url.set_query(None);
    url.set_fragment(None);
    url.path_segments_mut()
        .map_err(|()| format!("SMS base URL {base_url:?} cannot take a path"))?
        .pop_if_empty()
        .extend(["2010-04-01", "Accounts", account_sid, "Messages.json"]);
    Ok(url)
}

/// A phone number in E.164 form, or an alphanumeric sender ID (up to 11 letters, digits and
/// spaces, at least one letter), as carriers accept them.
fn sender(raw: &str) -> Result<String, String> {
    let raw = raw.trim();
    if raw.starts_with('+') || raw.starts_with("00") {
        return PhoneNumber::parse(raw)
            .map(|phone| phone.as_str().to_owned())
            .map_err(|_| format!("SMS sender {raw:?} is not a phone number in E.164 form"));
    }
    let alphanumeric = (1..=11).contains(&raw.chars().count())
        && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == ' ')
        && raw.chars().any(|c| c.is_ascii_alphabetic());
    if alphanumeric {
        Ok(raw.to_owned())
    } else {
        Err(format!(
            "SMS sender {raw:?} must be a number like +15005550006 or a sender ID like MediBook"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_follows_the_twilio_path_under_any_base() {
        for (base, expected) in [
            (
                "https://api.twilio.com",
                "https://api.twilio.com/2010-04-01/Accounts/AC123/Messages.json",
            ),
            (
                "http://127.0.0.1:8080/",
                "http://127.0.0.1:8080/2010-04-01/Accounts/AC123/Messages.json",
            ),
            (
                "https://gateway.example/twilio/",
                "https://gateway.example/twilio/2010-04-01/Accounts/AC123/Messages.json",
            ),
        ] {
            assert_eq!(messages_endpoint(base, "AC123").unwrap().as_str(), expected);
        }
    }

    #[test]
    fn refuses_settings_it_cannot_use() {
        let good = SmsSettings::twilio("AC123", "token", "+15005550006");
        assert!(TwilioSmsChannel::new(&good).is_ok());
        let broken = [
            SmsSettings {
                base_url: "ftp://api.twilio.com".to_owned(),
                ..good.clone()
            },
            SmsSettings {
                account_sid: "AC1/../x".to_owned(),
                ..good.clone()
            },
            SmsSettings {
                auth_token: " ".to_owned(),
                ..good.clone()
            },
            SmsSettings {
                from: "+0".to_owned(),
                ..good.clone()
            },
            SmsSettings {
                from: "Medibook Clinic Berlin".to_owned(),
                ..good.clone()
            },
        ];
        for settings in broken {
            assert!(
                TwilioSmsChannel::new(&settings).is_err(),
                "{settings:?} accepted"
            );
        }
    }

    #[test]
    fn senders_are_numbers_or_short_ids() {
        assert_eq!(sender("+1 500 555 0006").unwrap(), "+15005550006");
        assert_eq!(sender("MediBook").unwrap(), "MediBook");
        assert!(sender("12345").is_err());
    }

    #[test]
    fn twilio_errors_are_described_by_code_and_message() {
        let detail = describe_refusal(
            StatusCode::BAD_REQUEST,
            r#"{"code": 21211, "message": "Invalid 'To' Phone Number", "status": 400}"#,
        );
        assert_eq!(
            detail,
            "HTTP 400, Twilio error 21211: Invalid 'To' Phone Number"
        );
        assert_eq!(
            describe_refusal(StatusCode::BAD_GATEWAY, "upstream down"),
            "HTTP 502 Bad Gateway: upstream down"
        );
    }

    #[test]
    fn debug_output_hides_the_token() {
        let settings = SmsSettings::twilio("AC123", "hunter2", "+15005550006");
        assert!(!format!("{settings:?}").contains("hunter2"));
        let channel = TwilioSmsChannel::new(&settings).unwrap();
        assert!(!format!("{channel:?}").contains("hunter2"));
    }
}
