//! The memory that image work may use at once, all uploads together. An image reserves
//! what its header says preparing it will take (`image_cost_mib`) before it is decoded, and
//! holds it until its files are written; one that finds too little free waits its turn for
//! a while, then gets 503.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::{ApiError, ApiResult};

/// How long an image waits for its share of the budget before the upload gets 503.
const WAIT: Duration = Duration::from_secs(10);
/// What a refused upload is told to wait before it tries again.
const RETRY_AFTER_SECS: u64 = 5;

/// The budget: one semaphore permit per MiB.
pub struct ImageBudget {
    permits: Arc<Semaphore>,
    total_mib: u64,
}

/// A share of the budget, given back when dropped.
#[must_use = "the share is given back when dropped"]
pub struct Reserved {
    _permits: OwnedSemaphorePermit,
}

impl ImageBudget {
    pub fn new(total_mib: u64) -> Self {
        let total_mib = total_mib.min(u64::from(u32::MAX)).min(Semaphore::MAX_PERMITS as u64);
        Self { permits: Arc::new(Semaphore::new(total_mib as usize)), total_mib }
    }

    /// Reserves `mib` for one image, waiting up to `WAIT` while other images hold the
    /// budget. An image that needs more than the whole budget is refused at once (413).
    pub async fn reserve(&self, mib: u64) -> ApiResult<Reserved> {
        self.reserve_within(mib, WAIT).await
    }

    pub async fn reserve_within(&self, mib: u64, wait: Duration) -> ApiResult<Reserved> {
        if mib > self.total_mib {
            return Err(ApiError::TooLarge(format!(
                "the image needs {mib} MiB to process; this server processes images within {} MiB",
                self.total_mib
            )));
        }
        // At most `total_mib`, which fits a u32 (see `new`).
        let count = u32::try_from(mib).unwrap_or(u32::MAX);
        match tokio::time::timeout(wait, self.permits.clone().acquire_many_owned(count)).await {
            Ok(Ok(permits)) => Ok(Reserved { _permits: permits }),
            // The semaphore is never closed; a timeout is the busy case.
            _ => Err(ApiError::unavailable(
                format!("too many images are being processed; retry in {RETRY_AFTER_SECS} s"),
                RETRY_AFTER_SECS,
            )),
        }
    }

    /// MiB free now.
    pub fn available_mib(&self) -> usize {
        self.permits.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn images_share_the_budget_and_wait_their_turn() {
        let budget = ImageBudget::new(100);
        let first = budget.reserve(60).await.unwrap();
        assert_eq!(budget.available_mib(), 40);
        let busy = budget.reserve_within(50, Duration::from_millis(10)).await.err().unwrap();
        assert!(matches!(busy, ApiError::Unavailable { retry_after_secs: RETRY_AFTER_SECS, .. }), "{busy:?}");
        let waiting = budget.reserve(50);
        drop(first);
        let second = waiting.await.unwrap();
        assert_eq!(budget.available_mib(), 50);
        drop(second);
        let whole = budget.reserve_within(101, Duration::from_millis(10)).await.err().unwrap();
        assert!(matches!(whole, ApiError::TooLarge(_)), "{whole:?}");
        assert_eq!(budget.available_mib(), 100);
    }
}
