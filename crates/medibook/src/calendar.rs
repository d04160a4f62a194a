//! Google Calendar wiring: the AES-256-GCM vault for refresh tokens, the sync service over the
//! database and Google's HTTP client, and the background worker that runs sync rounds.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use medibook_core::BookingError;
use medibook_core::BookingResult;
use medibook_core::calendar_sync::{GoogleCalendarSync, SealedToken, SyncConfig, TokenVault};
use medibook_core::clock::Clock;
use medibook_integrations::google::GoogleClient;
use medibook_store::Database;
use medibook_web::GoogleCalendar;
use rand::RngCore;
use tokio::sync::{Notify, watch};

use crate::settings::Settings;

/// What the events name as their location (there is no clinic-name setting yet).
pub const CLINIC_NAME: &str = "MediBook clinic";

/// Seals refresh tokens with AES-256-GCM under a key derived from the server secret, with a
/// random 96-bit nonce per encryption and the owner's id as associated data (a sealed token
/// copied to another person's row does not open).
pub struct AesGcmVault {
    key: LessSafeKey,
}

impl AesGcmVault {
    /// A vault with `key` (see [`crate::secrets::ServerKeys::calendar_key`]).
    pub fn new(key: &[u8; 32]) -> Self {
        let key = match UnboundKey::new(&AES_256_GCM, key) {
            Ok(key) => key,
            Err(_) => unreachable!("a 32-byte key is the length AES-256-GCM takes"),
        };
        Self {
            key: LessSafeKey::new(key),
        }
    }
}

impl TokenVault for AesGcmVault {
    fn seal(&self, context: &str, plaintext: &str) -> BookingResult<SealedToken> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut sealed = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| BookingError::Storage("sealing a calendar token failed".into()))?;
        Ok(SealedToken {
            ciphertext: sealed,
            nonce: nonce.to_vec(),
        })
    }

    fn open(&self, context: &str, sealed: &SealedToken) -> BookingResult<String> {
        let refused = || BookingError::Storage("a stored calendar token does not open".into());
        let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| refused())?;
        let mut buffer = sealed.ciphertext.clone();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buffer)
            .map_err(|_| refused())?;
        String::from_utf8(plain.to_vec()).map_err(|_| refused())
    }
}

/// The Google Calendar sync (with what the pages need) when a Google client is configured,
/// nudging `wake` after each connect so the worker syncs at once.
pub fn google_calendar(
    settings: &Settings,
    database: &Database,
    calendar_key: &[u8; 32],
    clock: Arc<dyn Clock>,
    wake: Arc<Notify>,
) -> Result<Option<GoogleCalendar>, String> {
    let Some(google) = settings.google()? else {
        return Ok(None);
    };
    let client = GoogleClient::new(&google)?;
    let consent_origin = client.consent_origin();
    let config = SyncConfig {
        redirect_uri: format!("{}/profile/google/callback", settings.public_url()),
        clinic_name: CLINIC_NAME.to_owned(),
    };
    let sync = GoogleCalendarSync::new(
        Arc::new(client),
        Arc::new(database.clone()),
        Arc::new(AesGcmVault::new(calendar_key)),
        clock,
        config,
    )
    .with_nudge(Arc::new(move || wake.notify_one()));
    Ok(Some(GoogleCalendar {
        sync,
        consent_origin,
    }))
}

/// Runs a sync round every `every`, and at once when woken (after a connect), until told to
/// stop. Failures of one person's calendar are kept on their connection (and shown on their
/// profile); a failure of the round itself is logged and retried.
pub async fn sync_google_calendars(
    sync: GoogleCalendarSync,
    every: Duration,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = wake.notified() => {}
            _ = stop.changed() => break,
        }
        match sync.sync_round().await {
            Ok(report) if report.revoked + report.failed > 0 => {
                tracing::warn!(
                    ?report,
                    "Google Calendar sync: some calendars need attention"
                );
            }
            Ok(report) if report.sent > 0 => {
                tracing::debug!(?report, "Google Calendar sync round");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "Google Calendar sync round failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "1//0gRefreshTokenFromGoogle-abcdefghijklmnopqrstuvwxyz";

    #[test]
    fn sealed_tokens_do_not_contain_the_token_and_open_again() {
        let vault = AesGcmVault::new(&[7u8; 32]);
        let sealed = vault.seal("person-1", TOKEN).unwrap();
        let stored = format!(
            "{}{}",
            hex::encode(&sealed.ciphertext),
            hex::encode(&sealed.nonce)
        );
        assert!(!stored.contains(TOKEN));
        assert!(!stored.contains(&hex::encode(TOKEN)));
        assert!(
            !sealed
                .ciphertext
                .windows(TOKEN.len())
                .any(|w| w == TOKEN.as_bytes())
        );
        assert_eq!(vault.open("person-1", &sealed).unwrap(), TOKEN);
        // A fresh nonce each time: the same token never seals the same way twice.
        let again = vault.seal("person-1", TOKEN).unwrap();
        assert_ne!(again.nonce, sealed.nonce);
        assert_ne!(again.ciphertext, sealed.ciphertext);
    }

    #[test]
    fn a_sealed_token_opens_only_for_its_owner_and_key() {
        let vault = AesGcmVault::new(&[7u8; 32]);
        let sealed = vault.seal("person-1", TOKEN).unwrap();
        assert!(vault.open("person-2", &sealed).is_err());
        assert!(
            AesGcmVault::new(&[8u8; 32])
                .open("person-1", &sealed)
                .is_err()
        );
        let mut tampered = sealed.clone();
        tampered.ciphertext[0] ^= 1;
        assert!(vault.open("person-1", &tampered).is_err());
    }
}
