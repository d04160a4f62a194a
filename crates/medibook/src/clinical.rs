//! The clinical vault: medical histories and visit notes sealed with AES-256-GCM (aws-lc-rs)
//! before they reach the database, under a key ring of one current key and any number of
//! previous ones.
//!
//! A sealed value is `version (1 byte) ‖ key id (4 bytes) ‖ nonce (12 bytes) ‖ ciphertext ‖
//! tag (16 bytes)`. The key id is the first four bytes of SHA-256 over a fixed label and the
//! key, so a value names the key that opens it without revealing it. The nonce is random per
//! value; the row the text belongs to (`medical_history:<user>`, `visit_note:<note>`) is the
//! associated data, so a value moved to another row does not open. Rotation: make the new key
//! current, list the old one as previous, run `medibook clinical rekey`, then drop the old key.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use medibook_core::BookingError;
use medibook_core::BookingResult;
use medibook_core::patients::ClinicalVault;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::secrets::ServerKeys;
use crate::settings::Settings;

/// The format of sealed values this vault writes.
const VERSION: u8 = 1;
const KEY_ID_LEN: usize = 4;
const HEADER_LEN: usize = 1 + KEY_ID_LEN + NONCE_LEN;

struct RingKey {
    id: [u8; KEY_ID_LEN],
    key: LessSafeKey,
}

impl RingKey {
    fn new(bytes: &[u8; 32]) -> Self {
        let key = match UnboundKey::new(&AES_256_GCM, bytes) {
            Ok(key) => key,
            Err(_) => unreachable!("a 32-byte key is the length AES-256-GCM takes"),
        };
        let digest = Sha256::new()
            .chain_update(b"medibook clinical key id v1")
            .chain_update(bytes)
            .finalize();
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        Self {
            id,
            key: LessSafeKey::new(key),
        }
    }
}

/// Seals under the current key; opens under the current or any previous key.
pub struct ClinicalKeyring {
    current: RingKey,
    previous: Vec<RingKey>,
}

impl ClinicalKeyring {
    /// A ring sealing under `current` and also opening values sealed under `previous`.
    pub fn new(current: &[u8; 32], previous: &[[u8; 32]]) -> Self {
        Self {
            current: RingKey::new(current),
            previous: previous.iter().map(RingKey::new).collect(),
        }
    }

    /// The current key's id, in hex (shown by `medibook clinical rekey`).
    pub fn current_key_id(&self) -> String {
        hex::encode(self.current.id)
    }
}

/// The key ring the settings describe: `clinical_key` (or the key derived from the server
/// secret) as current, `clinical_previous_keys` as previous.
pub fn keyring(settings: &Settings, keys: &ServerKeys) -> Result<ClinicalKeyring, String> {
    let (current, previous) = settings.clinical_keys()?;
    Ok(ClinicalKeyring::new(
        &current.unwrap_or(keys.clinical_key),
        &previous,
    ))
}

fn refused() -> BookingError {
    BookingError::Storage("a sealed clinical text does not open (wrong key or altered)".into())
}

impl ClinicalVault for ClinicalKeyring {
    fn seal(&self, context: &str, plaintext: &str) -> BookingResult<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let mut body = plaintext.as_bytes().to_vec();
        self.current
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut body,
            )
            .map_err(|_| BookingError::Storage("sealing clinical text failed".into()))?;
        let mut sealed = Vec::with_capacity(HEADER_LEN + body.len());
        sealed.push(VERSION);
        sealed.extend_from_slice(&self.current.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&body);
        Ok(sealed)
    }

    fn open(&self, context: &str, sealed: &[u8]) -> BookingResult<String> {
        if sealed.len() < HEADER_LEN || sealed[0] != VERSION {
            return Err(refused());
        }
        let id = &sealed[1..1 + KEY_ID_LEN];
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|key| key.id == id)
            .ok_or_else(|| {
                BookingError::Storage(format!(
                    "clinical text sealed under key {} which is not configured \
                     (add it to clinical_previous_keys)",
                    hex::encode(id)
                ))
            })?;
        let nonce = Nonce::try_assume_unique_for_key(&sealed[1 + KEY_ID_LEN..HEADER_LEN])
            .map_err(|_| refused())?;
        let mut body = sealed[HEADER_LEN..].to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| refused())?;
        String::from_utf8(plain.to_vec()).map_err(|_| refused())
    }

    fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.len() >= HEADER_LEN
            && sealed[0] == VERSION
            && sealed[1..1 + KEY_ID_LEN] == self.current.id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: [u8; 32] = [7; 32];
    const NEW: [u8; 32] = [9; 32];

    #[test]
    fn sealed_text_opens_only_in_its_own_row() {
        let ring = ClinicalKeyring::new(&NEW, &[]);
        let sealed = ring.seal("visit_note:a", "penicillin allergy").unwrap();
        assert!(
            !sealed
                .windows(b"penicillin".len())
                .any(|w| w == b"penicillin")
        );
        assert_eq!(
            ring.open("visit_note:a", &sealed).unwrap(),
            "penicillin allergy"
        );
        assert!(ring.open("visit_note:b", &sealed).is_err());
    }

    #[test]
    fn a_changed_byte_is_refused() {
        let ring = ClinicalKeyring::new(&NEW, &[]);
        let mut sealed = ring.seal("x", "asthma").unwrap();
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(ring.open("x", &sealed).is_err());
        assert!(ring.open("x", &[]).is_err());
    }

    #[test]
    fn after_rotation_old_values_open_and_are_not_current() {
        let old_ring = ClinicalKeyring::new(&OLD, &[]);
        let sealed = old_ring.seal("x", "diabetes").unwrap();
        let rotated = ClinicalKeyring::new(&NEW, &[OLD]);
        assert_eq!(rotated.open("x", &sealed).unwrap(), "diabetes");
        assert!(!rotated.is_current(&sealed));
        assert!(rotated.is_current(&rotated.seal("x", "diabetes").unwrap()));
        let forgotten = ClinicalKeyring::new(&NEW, &[]);
        let error = forgotten.open("x", &sealed).unwrap_err().to_string();
        assert!(error.contains("not configured"), "{error}");
    }
}
