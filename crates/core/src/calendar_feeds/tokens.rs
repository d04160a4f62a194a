//! Which feed of a person, and the secret token in its URL, kept in storage only as a hash.

use sha2::{Digest, Sha256};

use crate::signin::hex_string;

/// Length of a feed token: 32 bytes in lowercase hex.
const TOKEN_HEX_CHARS: usize = 64;

/// Which feed of a person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeedKind {
    /// The person's own appointments, as a patient.
    Appointments,
    /// The agenda of the doctor profile linked to the person.
    Agenda,
}

impl FeedKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Appointments => "appointments",
            Self::Agenda => "agenda",
        }
    }

    /// The kind with the stored name `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "appointments" => Some(Self::Appointments),
            "agenda" => Some(Self::Agenda),
            _ => None,
        }
    }
}

/// The secret part of a feed URL.
#[derive(Clone, PartialEq, Eq)]
pub struct FeedToken(pub(super) String);

impl FeedToken {
    /// A token as it appears in a URL, if it has a token's shape (64 lowercase hex digits).
    pub fn parse(text: &str) -> Option<Self> {
        let shaped = text.len() == TOKEN_HEX_CHARS
            && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        shaped.then(|| Self(text.to_owned()))
    }

    /// The token, for the URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What storage keeps to find the feed: the SHA-256 of the token, in hex.
    pub fn lookup_hash(&self) -> String {
        hex_string(&Sha256::digest(self.0.as_bytes()))
    }
}

impl std::fmt::Debug for FeedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FeedToken(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lowercase_hex_digits_are_tokens() {
        let good = "0123456789abcdef".repeat(4);
        assert!(FeedToken::parse(&good).is_some());
        assert!(FeedToken::parse(&good.to_uppercase()).is_none());
        assert!(FeedToken::parse(&good[1..]).is_none());
        assert!(FeedToken::parse(&format!("{good}0")).is_none());
        assert!(FeedToken::parse(&good.replace('a', "g")).is_none());
        assert!(FeedToken::parse("").is_none());
    }

    #[test]
    fn the_lookup_hash_is_the_sha256_of_the_token() {
        let token = FeedToken::parse(&"ab".repeat(32)).unwrap();
        assert_eq!(token.lookup_hash().len(), 64);
        assert_ne!(token.lookup_hash(), token.as_str());
        assert_eq!(format!("{token:?}"), "FeedToken(…)");
    }

    #[test]
    fn feed_kinds_round_trip_their_stored_names() {
        for kind in [FeedKind::Appointments, FeedKind::Agenda] {
            assert_eq!(FeedKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(FeedKind::parse("other"), None);
    }
}
