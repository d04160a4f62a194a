//! The server secret: from configuration, or generated once and kept in the data directory with
//! owner-only permissions. Never a built-in default. Separate keys for token signing, code
//! hashing, calendar-token encryption and calendar feed tokens are derived from it, so one can
//! never be used as the other.

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Write};
#[cfg(unix)]
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

/// File name of the generated secret inside the data directory.
pub const SECRET_FILE: &str = "secret.key";

/// Keys derived from the server secret.
pub struct ServerKeys {
    /// Signs access tokens.
    pub token_key: [u8; 32],
    /// Keys the HMAC of one-time codes.
    pub code_key: [u8; 32],
    /// Encrypts Google Calendar refresh tokens at rest (AES-256-GCM).
    pub calendar_key: [u8; 32],
    /// Derives the tokens of private calendar feed URLs.
    pub feed_key: [u8; 32],
    /// Seals clinical text when no `clinical_key` is configured (AES-256-GCM).
    pub clinical_key: [u8; 32],
    /// Keys the pseudonyms of patients in the appointment archive (HMAC-SHA256).
    pub pseudonym_key: [u8; 32],
}

impl ServerKeys {
    /// Derives the keys from `secret`.
    pub fn derive(secret: &[u8]) -> Self {
        Self {
            token_key: derive(secret, b"medibook token signing v1"),
            code_key: derive(secret, b"medibook one-time code hashing v1"),
            calendar_key: derive(secret, b"medibook calendar token encryption v1"),
            feed_key: derive(secret, b"medibook calendar feed tokens v1"),
            clinical_key: derive(secret, b"medibook clinical text v1"),
            pseudonym_key: derive(secret, b"medibook appointment pseudonyms v1"),
        }
    }
}

fn derive(secret: &[u8], purpose: &[u8]) -> [u8; 32] {
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(secret) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(purpose);
    mac.finalize().into_bytes().into()
}

/// The configured secret, or the one stored in `data_dir`, created on first use (0600).
pub fn load_or_create(configured: Option<&str>, data_dir: &Path) -> Result<Vec<u8>, String> {
    if let Some(secret) = configured {
        return Ok(secret.as_bytes().to_vec());
    }
    let path = data_dir.join(SECRET_FILE);
    match fs::read_to_string(&path) {
        Ok(text) => {
            check_permissions(&path)?;
            return hex::decode(text.trim())
                .map_err(|e| format!("{} is not a valid secret file: {e}", path.display()));
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    create_private_dir(data_dir)
        .map_err(|e| format!("cannot create data directory {}: {e}", data_dir.display()))?;
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(hex::encode(&secret).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new server secret");
    Ok(secret)
}

#[cfg(unix)]
fn check_permissions(path: &Path) -> Result<(), String> {
    let mode = fs::metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .permissions()
        .mode();
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} is readable by others (mode {:o}); run chmod 600 on it",
            path.display(),
            mode & 0o777
        ));
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_permissions(_path: &Path) -> Result<(), String> {
    Ok(())
}

/// Creates `dir` (and missing parents) readable by the owner only (0700).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_persisted_owner_only_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(None, dir.path()).unwrap();
        let second = load_or_create(None, dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 32);
        let mode = fs::metadata(dir.path().join(SECRET_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_data_directory_the_server_creates_is_owner_only() {
        let root = tempfile::tempdir().unwrap();
        let data_dir = root.path().join("clinic").join("data");
        load_or_create(None, &data_dir).unwrap();
        for dir in [root.path().join("clinic"), data_dir] {
            let mode = fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", dir.display());
        }
    }

    #[test]
    fn derived_keys_differ_by_purpose() {
        let keys = ServerKeys::derive(b"0123456789abcdef0123456789abcdef");
        assert_ne!(keys.token_key, keys.code_key);
        assert_ne!(keys.calendar_key, keys.token_key);
        assert_ne!(keys.calendar_key, keys.code_key);
        assert_ne!(keys.feed_key, keys.token_key);
        assert_ne!(keys.feed_key, keys.code_key);
        assert_ne!(keys.feed_key, keys.calendar_key);
        assert_ne!(keys.pseudonym_key, keys.clinical_key);
        assert_ne!(keys.pseudonym_key, keys.token_key);
    }
}
