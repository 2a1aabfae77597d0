//! Customer ids never reach the logs in clear: they are logged as keyed hashes.
//!
//! A plain hash of a customer id is easy to reverse (ids are often small integers), so the hash is keyed:
//! `SHA-256(key ‖ 0x00 ‖ id)`, shortened to 16 hex characters. With a key from the configuration the same
//! customer gets the same hash across restarts and replicas, so log lines can still be correlated; without
//! one a random key is drawn at start-up.

use sha2::{Digest, Sha256};
use std::fmt;

/// Hashes customer ids for logs.
#[derive(Clone)]
pub struct IdHasher {
    key: Vec<u8>,
}

impl fmt::Debug for IdHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdHasher { key: <redacted> }")
    }
}

impl IdHasher {
    /// A hasher with a fixed key (the same key gives the same hashes).
    pub fn with_key(key: &[u8]) -> Self {
        Self { key: key.to_vec() }
    }

    /// A hasher with a random key drawn from the operating system's generator.
    pub fn random() -> Self {
        Self {
            key: rand::random::<[u8; 32]>().to_vec(),
        }
    }

    /// The log-safe form of `customer_id`: 16 lower-case hex characters.
    pub fn hash(&self, customer_id: &str) -> String {
        let mut hasher = Sha256::new();
        hasher.update(&self.key);
        hasher.update([0u8]);
        hasher.update(customer_id.as_bytes());
        hasher.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_stable_per_key_and_hide_the_id() {
        let a = IdHasher::with_key(b"secret");
        let b = IdHasher::with_key(b"other secret");
        assert_eq!(a.hash("12345"), a.hash("12345"));
        assert_ne!(a.hash("12345"), a.hash("12346"));
        assert_ne!(a.hash("12345"), b.hash("12345"));
        let hash = a.hash("12345");
        assert_eq!(hash.len(), 16);
        assert!(!hash.contains("12345"));
        assert!(hash.bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains("secret"));
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(IdHasher::random().hash("7"), IdHasher::random().hash("7"));
    }
}
