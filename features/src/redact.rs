//! Customer ids never reach logs or error messages in clear: they appear as keyed hashes.
//!
//! A plain hash of a customer id is easy to reverse (ids are often small integers), so the hash is keyed:
//! `SHA-256(key ‖ 0x00 ‖ id)`, shortened to 16 hex characters. With a key from the configuration
//! (`--id-hash-key-file` of both binaries) the same customer gets the same hash across runs, restarts and
//! replicas, so log lines can still be correlated; without one a random key is drawn per process.
//! Error messages locate a customer by file and row, so the hash never stands in the way of a fix.

use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::OnceLock;

/// The hasher of this process, used by [`redacted`].
static PROCESS_HASHER: OnceLock<IdHasher> = OnceLock::new();

/// Makes `hasher` the one [`redacted`] uses in this process; false when one was already in use (the first
/// stays, so hashes never change within a run).
pub fn install(hasher: IdHasher) -> bool {
    PROCESS_HASHER.set(hasher).is_ok()
}

/// The log-safe form of `customer_id` under this process's key (see [`install`]; a random key otherwise).
pub fn redacted(customer_id: &str) -> String {
    PROCESS_HASHER.get_or_init(IdHasher::random).hash(customer_id)
}

/// Reads a hash key from a file: its content without surrounding white space, which must not be empty.
pub fn read_key(path: &std::path::Path) -> crate::Result<Vec<u8>> {
    let text = std::fs::read_to_string(path).map_err(|e| crate::FeatureError::io(path, e))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(crate::FeatureError::Request(format!(
            "{}: the id hash key file is empty",
            path.display()
        )));
    }
    Ok(key.as_bytes().to_vec())
}

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
