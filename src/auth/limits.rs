//! Rate limits (governor): messages and typing per user, failed logins per client address
//! and username.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::UserId;
use crate::error::ApiError;

type LoginKey = (IpAddr, String);

pub struct Limits {
    messages: Option<DefaultKeyedRateLimiter<UserId>>,
    typing: DefaultKeyedRateLimiter<UserId>,
    /// One cell fewer than the failures allowed, so that the last allowed failure is the one
    /// the limiter refuses and locks the key; `None` when one failure locks it.
    login_failures: Option<DefaultKeyedRateLimiter<LoginKey>>,
    /// How long a key stays locked when the limiter cannot say (one failure allowed).
    login_lock: Duration,
    /// Login keys that used up their failures, and until when they are refused.
    locked: Mutex<HashMap<LoginKey, Instant>>,
}

fn per_minute(n: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN))
}

fn refused(wait: Duration) -> ApiError {
    ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) }
}

impl Limits {
    pub fn new(messages_per_minute: u32, typing_per_minute: u32, login_failures_per_minute: u32) -> Self {
        Self {
            messages: (messages_per_minute > 0).then(|| RateLimiter::keyed(per_minute(messages_per_minute))),
            typing: RateLimiter::keyed(per_minute(typing_per_minute)),
            login_failures: NonZeroU32::new(login_failures_per_minute.max(1) - 1)
                .map(|burst| RateLimiter::keyed(per_minute(login_failures_per_minute).allow_burst(burst))),
            login_lock: Duration::from_secs(60) / login_failures_per_minute.max(1),
            locked: Mutex::new(HashMap::new()),
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

    /// Refuses a login attempt while its key is locked out.
    pub fn login_allowed(&self, ip: IpAddr, username: &str) -> Result<(), ApiError> {
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        let key = (ip, username.to_owned());
        match locked.get(&key) {
            Some(until) if *until > Instant::now() => Err(refused(*until - Instant::now())),
            Some(_) => {
                locked.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Counts a failed login; the failure that uses up the quota locks the key out until it
    /// refills, so the next attempt is refused.
    pub fn login_failed(&self, ip: IpAddr, username: &str) {
        let key = (ip, username.to_owned());
        let wait = match &self.login_failures {
            Some(limiter) => match limiter.check_key(&key) {
                Ok(()) => return,
                Err(not_until) => not_until.wait_time_from(DefaultClock::default().now()),
            },
            None => self.login_lock,
        };
        let mut locked = self.locked.lock().unwrap_or_else(|p| p.into_inner());
        locked.retain(|_, until| *until > Instant::now());
        locked.insert(key, Instant::now() + wait.max(Duration::from_secs(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_limited_per_user() {
        let limits = Limits::new(2, 1, 1);
        assert!(limits.message(UserId(1)).is_ok());
        assert!(limits.message(UserId(1)).is_ok());
        assert!(matches!(limits.message(UserId(1)), Err(ApiError::RateLimited { .. })));
        assert!(limits.message(UserId(2)).is_ok());
        let off = Limits::new(0, 1, 1);
        for _ in 0..1000 {
            assert!(off.message(UserId(1)).is_ok());
        }
    }

    #[test]
    fn the_last_allowed_failure_locks_the_key() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for allowed in [1, 2, 10] {
            let limits = Limits::new(1, 1, allowed);
            for _ in 0..allowed {
                assert!(limits.login_allowed(ip, "bob").is_ok(), "{allowed}");
                limits.login_failed(ip, "bob");
            }
            assert!(matches!(limits.login_allowed(ip, "bob"), Err(ApiError::RateLimited { .. })), "{allowed}");
            assert!(limits.login_allowed(ip, "alice").is_ok());
        }
    }
}
