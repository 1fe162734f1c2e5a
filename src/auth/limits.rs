//! Rate limits (governor): messages and typing per user; failed logins per client address
//! and username, and per client address across usernames.
//!
//! Strangers choose the keys of the login limits, so the keys are bounded (a username that
//! breaks the username rule is refused before it is counted) and forgotten once their
//! window has passed ([`Limits::forget_stale`]).

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::UserId;
use crate::error::ApiError;

type AccountKey = (IpAddr, String);

pub struct Limits {
    messages: Option<DefaultKeyedRateLimiter<UserId>>,
    typing: DefaultKeyedRateLimiter<UserId>,
    /// Failed logins for one username from one address: a stranger elsewhere cannot lock
    /// the owner out.
    account_failures: Failures<AccountKey>,
    /// Failed logins from one address, whatever the username: guessing across many names.
    address_failures: Failures<IpAddr>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

/// A refusal whose `Retry-After` is the wait rounded up: a client that waits that long is
/// let in, never refused again for a fraction of a second left over.
fn refused(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::RateLimited { retry_after_secs: secs.max(1) }
}

/// Counts failures per key; the failure that uses up the quota locks the key until the
/// quota refills, so that the next attempt is refused.
struct Failures<K: Hash + Eq + Clone> {
    /// One cell fewer than the failures allowed, so that the last allowed failure is the
    /// one the limiter refuses; `None` when one failure locks the key.
    limiter: Option<DefaultKeyedRateLimiter<K>>,
    /// How long a key stays locked when the limiter cannot say (one failure allowed).
    lock: Duration,
    /// Keys that used up their failures, and until when they are refused.
    locked: Mutex<HashMap<K, Instant>>,
}

impl<K: Hash + Eq + Clone> Failures<K> {
    fn per_minute(allowed: u32) -> Self {
        Self {
            limiter: NonZeroU32::new(allowed.max(1) - 1)
                .map(|burst| RateLimiter::keyed(per_minute(allowed).allow_burst(burst))),
            lock: Duration::from_secs(60) / allowed.max(1),
            locked: Mutex::new(HashMap::new()),
        }
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, HashMap<K, Instant>> {
        self.locked.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn allowed(&self, key: &K) -> Result<(), ApiError> {
        self.wait(key).map_or(Ok(()), |wait| Err(refused(wait)))
    }

    /// How long the key stays locked, `None` when it is not.
    fn wait(&self, key: &K) -> Option<Duration> {
        let now = Instant::now();
        let mut locked = self.locked();
        match locked.get(key) {
            Some(until) if *until > now => Some(*until - now),
            Some(_) => {
                locked.remove(key);
                None
            }
            None => None,
        }
    }

    fn failed(&self, key: K) {
        let wait = match &self.limiter {
            Some(limiter) => match limiter.check_key(&key) {
                Ok(()) => return,
                Err(not_until) => not_until.wait_time_from(DefaultClock::default().now()),
            },
            None => self.lock,
        };
        self.locked().insert(key, Instant::now() + wait.max(Duration::from_secs(1)));
    }

    fn forget_stale(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let now = Instant::now();
        let mut locked = self.locked();
        locked.retain(|_, until| *until > now);
        locked.shrink_to_fit();
    }

    fn len(&self) -> usize {
        self.limiter.as_ref().map_or(0, |l| l.len()) + self.locked().len()
    }
}

impl Limits {
    pub fn new(
        messages_per_minute: u32,
        typing_per_minute: u32,
        login_failures_per_minute: u32,
        login_failures_per_address_per_minute: u32,
    ) -> Self {
        Self {
            messages: (messages_per_minute > 0).then(|| RateLimiter::keyed(per_minute(messages_per_minute))),
            typing: RateLimiter::keyed(per_minute(typing_per_minute)),
            account_failures: Failures::per_minute(login_failures_per_minute),
            address_failures: Failures::per_minute(login_failures_per_address_per_minute),
        }
    }

    pub fn message(&self, user_id: UserId) -> Result<(), ApiError> {
        match &self.messages {
            Some(limiter) => limiter
                .check_key(&user_id)
                .map_err(|not_until| refused(not_until.wait_time_from(DefaultClock::default().now()))),
            None => Ok(()),
        }
    }

    pub fn typing(&self, user_id: UserId) -> Result<(), ApiError> {
        self.typing
            .check_key(&user_id)
            .map_err(|not_until| refused(not_until.wait_time_from(DefaultClock::default().now())))
    }

    /// Refuses a login attempt while its address, or its address and username, is locked.
    /// The refusal names the longer of the two locks, so that the time it gives is the time
    /// the next attempt is let in.
    pub fn login_allowed(&self, ip: IpAddr, username: &str) -> Result<(), ApiError> {
        let address = self.address_failures.wait(&ip);
        let account = self.account_failures.wait(&(ip, username.to_owned()));
        address.max(account).map_or(Ok(()), |wait| Err(refused(wait)))
    }

    /// Refuses a login attempt while its address is locked, whatever the username.
    pub fn address_allowed(&self, ip: IpAddr) -> Result<(), ApiError> {
        self.address_failures.allowed(&ip)
    }

    /// Counts a failed login for the address and for the address and username.
    pub fn login_failed(&self, ip: IpAddr, username: &str) {
        self.address_failures.failed(ip);
        self.account_failures.failed((ip, username.to_owned()));
    }

    /// Counts a failed login for the address alone: a username no account can have.
    pub fn login_failed_from(&self, ip: IpAddr) {
        self.address_failures.failed(ip);
    }

    /// Forgets every key whose window has passed and every lock that has ended; the server
    /// calls it every minute.
    pub fn forget_stale(&self) {
        if let Some(messages) = &self.messages {
            messages.retain_recent();
            messages.shrink_to_fit();
        }
        self.typing.retain_recent();
        self.typing.shrink_to_fit();
        self.account_failures.forget_stale();
        self.address_failures.forget_stale();
    }

    /// How many login keys are remembered (limiter cells and locks).
    pub fn login_keys(&self) -> usize {
        self.account_failures.len() + self.address_failures.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_limited_per_user() {
        let limits = Limits::new(2, 1, 1, 1);
        assert!(limits.message(UserId(1)).is_ok());
        assert!(limits.message(UserId(1)).is_ok());
        assert!(matches!(limits.message(UserId(1)), Err(ApiError::RateLimited { .. })));
        assert!(limits.message(UserId(2)).is_ok());
        let off = Limits::new(0, 1, 1, 1);
        for _ in 0..1000 {
            assert!(off.message(UserId(1)).is_ok());
        }
    }

    #[test]
    fn the_last_allowed_failure_locks_the_key() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
        for allowed in [1, 2, 10] {
            let limits = Limits::new(1, 1, allowed, 1000);
            for _ in 0..allowed {
                assert!(limits.login_allowed(ip, "bob").is_ok(), "{allowed}");
                limits.login_failed(ip, "bob");
            }
            assert!(matches!(limits.login_allowed(ip, "bob"), Err(ApiError::RateLimited { .. })), "{allowed}");
            assert!(limits.login_allowed(ip, "alice").is_ok());
            assert!(limits.login_allowed(elsewhere, "bob").is_ok());
        }
    }

    #[test]
    fn an_address_has_a_budget_across_usernames() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let elsewhere: IpAddr = "192.0.2.7".parse().unwrap();
        let limits = Limits::new(1, 1, 10, 3);
        for name in ["a", "b", "c"] {
            assert!(limits.login_allowed(ip, name).is_ok(), "{name}");
            limits.login_failed(ip, name);
        }
        assert!(matches!(limits.login_allowed(ip, "d"), Err(ApiError::RateLimited { .. })));
        assert!(limits.login_allowed(elsewhere, "d").is_ok());
        let limits = Limits::new(1, 1, 10, 2);
        limits.login_failed_from(ip);
        assert!(limits.address_allowed(ip).is_ok());
        limits.login_failed_from(ip);
        assert!(limits.address_allowed(ip).is_err());
        assert!(limits.login_allowed(ip, "a").is_err());
    }

    #[test]
    fn a_refusal_gives_the_whole_time_left_rounded_up() {
        assert!(matches!(refused(Duration::from_millis(1_200)), ApiError::RateLimited { retry_after_secs: 2 }));
        assert!(matches!(refused(Duration::from_secs(6)), ApiError::RateLimited { retry_after_secs: 6 }));
        assert!(matches!(refused(Duration::from_millis(10)), ApiError::RateLimited { retry_after_secs: 1 }));
        // The address's lock is short (30 a minute), the account's long (one a minute): the
        // refusal names the long one, whichever is checked first.
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let limits = Limits::new(1, 1, 1, 30);
        for name in ["a", "b", "c"] {
            limits.login_failed(ip, name);
        }
        for _ in 0..30 {
            limits.login_failed_from(ip);
        }
        assert!(limits.address_allowed(ip).is_err(), "the address is locked too");
        match limits.login_allowed(ip, "a") {
            Err(ApiError::RateLimited { retry_after_secs }) => assert!(retry_after_secs > 50, "{retry_after_secs}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn live_keys_are_kept() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let limits = Limits::new(1, 1, 1, 1);
        limits.login_failed(ip, "bob");
        let before = limits.login_keys();
        assert!(before > 0);
        limits.forget_stale();
        // The lock lasts a minute: still there, still refused.
        assert_eq!(limits.login_keys(), before);
        assert!(limits.login_allowed(ip, "bob").is_err());
    }
}
