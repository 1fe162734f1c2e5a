//! A short-lived memory of who a session or token belongs to, so that a busy client (a
//! bot posting, a load tester) is not looked up in the database on every request.
//!
//! Changes made through this server (logout, token revocation, account changes) take
//! effect at once; changes made by another process (the CLI, another instance) within
//! the time to live.

use crate::domain::UserId;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::domain::Permission;

/// What the extractor needs to build a `CurrentUser`.
#[derive(Debug, Clone)]
pub struct Known {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
}

pub struct AuthCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Known)>>,
}

/// Past this many entries the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

impl AuthCache {
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Known)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, credential_hash: &str) -> Option<Known> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let (at, known) = entries.get(credential_hash)?;
        (at.elapsed() < self.ttl).then(|| known.clone())
    }

    pub fn put(&self, credential_hash: String, known: Known) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(credential_hash, (Instant::now(), known));
    }

    pub fn forget(&self, credential_hash: &str) {
        self.entries().remove(credential_hash);
    }

    /// Forgets every credential of a user (account changed, token revoked).
    pub fn forget_user(&self, user_id: UserId) {
        self.entries().retain(|_, (_, known)| known.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(id: i64) -> Known {
        Known { id: UserId(id), username: "u".into(), display_name: "U".into(), is_admin: false, permissions: vec![] }
    }

    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = AuthCache::new(Duration::from_secs(60));
        cache.put("a".into(), known(1));
        cache.put("b".into(), known(1));
        cache.put("c".into(), known(2));
        assert_eq!(cache.get("a").map(|k| k.id), Some(UserId(1)));
        cache.forget("a");
        assert!(cache.get("a").is_none());
        cache.forget_user(UserId(1));
        assert!(cache.get("b").is_none());
        assert!(cache.get("c").is_some());
        let off = AuthCache::new(Duration::ZERO);
        off.put("a".into(), known(1));
        assert!(off.get("a").is_none());
        let short = AuthCache::new(Duration::from_millis(1));
        short.put("a".into(), known(1));
        std::thread::sleep(Duration::from_millis(5));
        assert!(short.get("a").is_none());
    }
}
