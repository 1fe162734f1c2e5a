//! Password hashing (argon2id, PHC strings). Slow on purpose, to make guessing costly:
//! callers run it on the blocking pool, and logins through [`Verifier`], which bounds how
//! many run at once.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use tokio::sync::Semaphore;

pub fn hash(password: &str) -> anyhow::Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
}

pub fn verify(password: &str, phc: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), phc).is_ok()
}

/// Verifies against a throwaway hash, so that a login for an unknown or disabled account
/// does the same work as one with a wrong password.
pub fn verify_nobody(password: &str) {
    let _ = verify(password, dummy_hash());
}

fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not a real password").unwrap_or_default())
}

/// Checks login passwords off the reactor and off the database's connections, at most one
/// per core at a time: a flood of bad logins queues here instead of taking the database
/// permits that every other request needs.
pub struct Verifier {
    permits: Semaphore,
}

impl Verifier {
    pub fn new(concurrency: usize) -> Self {
        Self { permits: Semaphore::new(concurrency.max(1)) }
    }

    /// One permit per core.
    pub fn per_core() -> Self {
        Self::new(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
    }

    /// Whether `password` matches `phc`; `None` (no such account, or a disabled one)
    /// verifies against a throwaway hash and answers `false`, after the same work.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else { return false };
        tokio::task::spawn_blocking(move || match phc {
            Some(phc) => verify(&password, &phc),
            None => {
                verify_nobody(&password);
                false
            }
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn hashes_verify() {
        let h = super::hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse", &h));
        assert!(!super::verify("wrong horse", &h));
        assert!(!super::verify("x", "not a phc string"));
    }

    #[tokio::test]
    async fn the_verifier_answers_no_for_nobody() {
        let verifier = super::Verifier::new(1);
        let h = super::hash("correct horse").unwrap();
        assert!(verifier.verify("correct horse".into(), Some(h.clone())).await);
        assert!(!verifier.verify("wrong horse".into(), Some(h)).await);
        assert!(!verifier.verify("not a real password".into(), None).await);
    }
}
