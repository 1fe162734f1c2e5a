//! Random secrets for sessions and API tokens; only their SHA-256 is stored.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret (`prefix` + 64 hex digits) and the hash to store.
pub fn generate(prefix: &str) -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = format!("{prefix}{}", hex::encode(bytes));
    let hash = digest(&secret);
    (secret, hash)
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether two secrets are equal, in a time that tells nothing of where they differ: their
/// SHA-256 digests are compared, every byte of them.
pub fn same(given: &[u8], expected: &[u8]) -> bool {
    let (given, expected) = (Sha256::digest(given), Sha256::digest(expected));
    given.iter().zip(expected.iter()).fold(0u8, |diff, (a, b)| diff | (a ^ b)) == 0
}

/// A random password for the first `admin` account.
pub fn password() -> String {
    let mut bytes = [0u8; 12];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_random_and_hashed() {
        let (a, ha) = super::generate("cau_");
        let (b, _) = super::generate("cau_");
        assert_ne!(a, b);
        assert!(a.starts_with("cau_") && a.len() == 68);
        assert_eq!(super::digest(&a), ha);
        assert_eq!(super::password().len(), 24);
        assert!(super::same(b"Bearer s3cret", b"Bearer s3cret"));
        assert!(!super::same(b"Bearer s3creT", b"Bearer s3cret"));
        assert!(!super::same(b"", b"Bearer s3cret"));
    }
}
