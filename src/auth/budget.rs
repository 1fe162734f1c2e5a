//! The per-user budget of changes other than messages and typing (which have limits of
//! their own): edits, deletes, read marks, joins and leaves, member and room changes,
//! tokens, accounts. Each stores an event or a row, so none may come without bound.

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::domain::UserId;
use crate::error::ApiError;

pub struct ActionBudget {
    /// `None` when the setting is 0 (off).
    limiter: Option<DefaultKeyedRateLimiter<UserId>>,
}

impl ActionBudget {
    pub fn new(per_minute: u32) -> Self {
        Self { limiter: std::num::NonZeroU32::new(per_minute).map(|n| RateLimiter::keyed(Quota::per_minute(n))) }
    }

    /// Counts one change by the user; 429 with the wait once the minute's budget is spent.
    pub fn spend(&self, user_id: UserId) -> Result<(), ApiError> {
        let Some(limiter) = &self.limiter else { return Ok(()) };
        limiter.check_key(&user_id).map_err(|not_until| ApiError::RateLimited {
            retry_after_secs: not_until.wait_time_from(DefaultClock::default().now()).as_secs().max(1),
        })
    }

    /// Forgets users whose budget has refilled, so that the map does not grow for ever.
    pub fn forget_idle(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_user_has_a_budget_of_their_own() {
        let budget = ActionBudget::new(2);
        assert!(budget.spend(UserId(1)).is_ok());
        assert!(budget.spend(UserId(1)).is_ok());
        assert!(matches!(budget.spend(UserId(1)), Err(ApiError::RateLimited { .. })));
        assert!(budget.spend(UserId(2)).is_ok());
        let off = ActionBudget::new(0);
        for _ in 0..1000 {
            assert!(off.spend(UserId(1)).is_ok());
        }
    }
}
