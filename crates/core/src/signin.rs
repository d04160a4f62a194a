//! Sign-in with one-time codes sent to an email address or a phone.
//!
//! Codes are six random digits, valid for ten minutes, usable once, and dead after five wrong
//! attempts. Only an HMAC of the code (keyed with a server secret, bound to the identifier) is
//! stored, so a database leak does not reveal live codes.

use std::sync::Arc;

use hmac::{Hmac, Mac};
use jiff::SignedDuration;
use rand::Rng;
use sha2::Sha256;

use crate::clock::Clock;
use crate::error::{BookingError, BookingResult};
use crate::identity::{Identifier, User};
use crate::limits::{RateLimit, RateLimiter};
use crate::ports::{CodeCheck, CodeSender, IdentityRepository};

/// How long a code stays valid.
pub const CODE_LIFETIME: SignedDuration = SignedDuration::from_mins(10);
/// Wrong attempts after which a code is dead.
pub const MAX_CODE_ATTEMPTS: u16 = 5;

/// How often codes may be requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignInLimits {
    /// Per email or phone number (default 5 per hour).
    pub per_identifier: RateLimit,
    /// Per client IP address (default 100 per hour).
    pub per_ip: RateLimit,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            per_identifier: RateLimit::per_hour(5),
            per_ip: RateLimit::per_hour(100),
        }
    }
}

/// Where codes can be delivered: by email, by text message, or both (the development log
/// reaches both).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reach {
    /// An email channel is configured.
    pub email: bool,
    /// An SMS channel is configured.
    pub phone: bool,
}

impl Default for Reach {
    fn default() -> Self {
        Self {
            email: true,
            phone: true,
        }
    }
}

/// Issues and checks one-time codes.
#[derive(Clone)]
pub struct SignIn {
    identities: Arc<dyn IdentityRepository>,
    sender: Arc<dyn CodeSender>,
    clock: Arc<dyn Clock>,
    key: Arc<[u8]>,
    limiter: RateLimiter,
    limits: SignInLimits,
    reach: Reach,
    /// Development mode without a delivery channel: a requested code is handed back to the
    /// caller too (the sign-in page shows it in a development banner). Never in production.
    reveal_codes: bool,
}

impl SignIn {
    /// A sign-in service hashing codes with `key` (at least 32 bytes of secret) and limiting
    /// code requests with `limiter`.
    pub fn new(
        identities: Arc<dyn IdentityRepository>,
        sender: Arc<dyn CodeSender>,
        clock: Arc<dyn Clock>,
        key: &[u8],
        limiter: RateLimiter,
        limits: SignInLimits,
    ) -> Self {
        Self {
            identities,
            sender,
            clock,
            key: key.into(),
            limiter,
            limits,
            reach: Reach::default(),
            reveal_codes: false,
        }
    }

    /// The same service, refusing up front identifiers it has no channel for.
    pub fn reaching(mut self, reach: Reach) -> Self {
        self.reach = reach;
        self
    }

    /// The same service handing requested codes back to the caller as well as sending them:
    /// for development mode without any delivery channel, so trying the demo needs no server
    /// log. The binary never sets it in production.
    pub fn revealing_codes(mut self, reveal: bool) -> Self {
        self.reveal_codes = reveal;
        self
    }

    /// Creates a code for `identifier`, stores its hash and sends it, unless no channel
    /// reaches it (`Validation`), or the client address (`client`, if known) asked too often,
    /// or asked too often for this identifier.
    ///
    /// The per-identifier limit counts per client address (an IPv6 client by its /64), so that
    /// someone who requests codes for a victim's address uses up their own allowance, never
    /// the victim's: there is deliberately no cap on an identifier alone, which anyone could
    /// exhaust. Flooding a mailbox is bounded by the per-address limit.
    ///
    /// Returns the code itself only when the service reveals codes (development mode without
    /// a delivery channel), else `None`.
    pub async fn request_code(
        &self,
        identifier: &Identifier,
        client: Option<&str>,
    ) -> BookingResult<Option<String>> {
        match identifier {
            Identifier::Phone(_) if !self.reach.phone => {
                return Err(BookingError::validation(
                    "this clinic cannot send codes by text message; sign in with your email \
                     address",
                ));
            }
            Identifier::Email(_) if !self.reach.email => {
                return Err(BookingError::validation(
                    "this clinic cannot send codes by email; sign in with your phone number",
                ));
            }
            _ => {}
        }
        let key = identifier.key();
        if let Some(client) = client {
            self.limiter
                .hit(&format!("otp-ip:{client}"), self.limits.per_ip)
                .await?;
        }
        self.limiter
            .hit(
                &format!("otp-id:{key}:{}", client.unwrap_or("unknown")),
                self.limits.per_identifier,
            )
            .await?;

        let now = self.clock.now();
        let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
        let expires_at = now
            .saturating_add(CODE_LIFETIME)
            .map_err(|_| BookingError::Storage("code expiry overflows".into()))?;
        self.identities
            .save_code(
                &identifier.key(),
                &self.hash(identifier, &code),
                expires_at,
                now,
            )
            .await?;
        self.sender.send_code(identifier, &code).await?;
        Ok(self.reveal_codes.then_some(code))
    }

    /// Checks the code and returns the (possibly new) user it signs in.
    pub async fn verify(&self, identifier: &Identifier, code: &str) -> BookingResult<User> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(BookingError::validation("code must be 6 digits"));
        }
        let now = self.clock.now();
        let check = self
            .identities
            .check_code(
                &identifier.key(),
                &self.hash(identifier, code),
                MAX_CODE_ATTEMPTS,
                now,
            )
            .await?;
        match check {
            CodeCheck::Accepted => self.identities.user_for(identifier, now).await,
            CodeCheck::Rejected => Err(BookingError::OtpInvalid),
        }
    }

    fn hash(&self, identifier: &Identifier, code: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(&self.key) {
            Ok(mac) => mac,
            Err(_) => unreachable!("HMAC takes keys of any length"),
        };
        mac.update(identifier.key().as_bytes());
        mac.update(b"\n");
        mac.update(code.as_bytes());
        hex_string(&mac.finalize().into_bytes())
    }
}

pub(crate) fn hex_string(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}
