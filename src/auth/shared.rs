//! Limits shared by every node through Redis (`CAUSERIE_REDIS_URL`, optional): messages per
//! user per minute and failed logins per client address (and username) per minute.
//!
//! Counts live in one key per window of a minute (`INCR`, then `EXPIRE`), so Redis holds
//! nothing for long and no event ever. When Redis does not answer within `TIMEOUT`, each
//! call says so (`None`) and the caller counts with the node's own limits instead: a node
//! keeps serving, logs the change both ways, and `/readyz` shows it.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::domain::UserId;
use crate::error::ApiError;

/// How long a call waits for Redis before the node uses its own limits.
const TIMEOUT: Duration = Duration::from_millis(300);
const WINDOW_SECONDS: u64 = 60;

pub struct SharedLimits {
    client: redis::Client,
    prefix: String,
    connection: OnceCell<ConnectionManager>,
    /// Redis did not answer the last call (logged once per change).
    down: AtomicBool,
    messages_per_minute: u32,
    login_failures_per_minute: u32,
    login_failures_per_address_per_minute: u32,
}

/// The current window of a minute, and the seconds left in it.
fn window() -> (u64, u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    (now / WINDOW_SECONDS, WINDOW_SECONDS - now % WINDOW_SECONDS)
}

impl SharedLimits {
    /// Parses the URL; connects on first use.
    pub fn new(
        url: &str,
        prefix: &str,
        messages_per_minute: u32,
        login_failures_per_minute: u32,
        login_failures_per_address_per_minute: u32,
    ) -> redis::RedisResult<Self> {
        Ok(Self {
            client: redis::Client::open(url)?,
            prefix: prefix.to_owned(),
            connection: OnceCell::new(),
            down: AtomicBool::new(false),
            messages_per_minute,
            login_failures_per_minute,
            login_failures_per_address_per_minute,
        })
    }

    async fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let client = self.client.clone();
        self.connection
            .get_or_try_init(|| async move { ConnectionManager::new_lazy_with_config(client, config) })
            .await
            .cloned()
    }

    /// Runs one command (or pipeline) within `TIMEOUT`; `None` when Redis did not answer.
    async fn run<T: redis::FromRedisValue>(&self, query: impl FnOnce() -> QueryOf) -> Option<T> {
        let answer = async {
            let mut connection = self.connection().await?;
            match query() {
                QueryOf::Cmd(cmd) => cmd.query_async::<T>(&mut connection).await,
                QueryOf::Pipe(pipe) => pipe.query_async::<T>(&mut connection).await,
            }
        };
        let result = match tokio::time::timeout(TIMEOUT, answer).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err("no answer in time".to_owned()),
        };
        match result {
            Ok(value) => {
                if self.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("Redis answers again: limits are shared by all nodes");
                }
                Some(value)
            }
            Err(error) => {
                if !self.down.swap(true, Ordering::Relaxed) {
                    tracing::warn!(%error, "Redis does not answer: this node counts limits on its own");
                }
                None
            }
        }
    }

    /// True when Redis answers a `PING`.
    pub async fn answers(&self) -> bool {
        self.run::<String>(|| QueryOf::Cmd(redis::cmd("PING"))).await.is_some()
    }

    /// Counts a message (or an attempt to send files); `None`: Redis did not answer.
    pub async fn message(&self, user_id: UserId) -> Option<Result<(), ApiError>> {
        if self.messages_per_minute == 0 {
            return Some(Ok(()));
        }
        let (window, left) = window();
        let key = format!("{}:messages:{user_id}:{window}", self.prefix);
        let (count,): (u64,) = self.run(|| QueryOf::Pipe(counting(&key))).await?;
        Some(if count > u64::from(self.messages_per_minute) {
            Err(ApiError::RateLimited { retry_after_secs: left })
        } else {
            Ok(())
        })
    }

    /// Refuses a login while the address, or the address and username, used up its failures
    /// in this window; `None`: Redis did not answer.
    pub async fn login_allowed(&self, ip: IpAddr, username: Option<&str>) -> Option<Result<(), ApiError>> {
        let (window, left) = window();
        let address = format!("{}:login:{ip}:{window}", self.prefix);
        let account = username.map(|name| format!("{}:login:{ip}:{name}:{window}", self.prefix));
        let keys: Vec<&str> = std::iter::once(address.as_str()).chain(account.as_deref()).collect();
        let counts: Vec<Option<u64>> = self.run(|| QueryOf::Cmd(redis::cmd("MGET").arg(&keys).clone())).await?;
        let over = |count: Option<&Option<u64>>, allowed: u32| {
            count.copied().flatten().unwrap_or(0) >= u64::from(allowed.max(1))
        };
        let refused = over(counts.first(), self.login_failures_per_address_per_minute)
            || (username.is_some() && over(counts.get(1), self.login_failures_per_minute));
        Some(if refused { Err(ApiError::RateLimited { retry_after_secs: left }) } else { Ok(()) })
    }

    /// Counts a failed login for the address and, when given, the address and username;
    /// false: Redis did not answer.
    pub async fn login_failed(&self, ip: IpAddr, username: Option<&str>) -> bool {
        let (window, _) = window();
        let address = format!("{}:login:{ip}:{window}", self.prefix);
        let account = username.map(|name| format!("{}:login:{ip}:{name}:{window}", self.prefix));
        let mut pipe = counting(&address);
        if let Some(account) = &account {
            pipe.incr(account, 1).expire(account, WINDOW_SECONDS as i64 * 2).ignore();
        }
        self.run::<redis::Value>(|| QueryOf::Pipe(pipe)).await.is_some()
    }
}

/// `INCR key` (answered) then `EXPIRE key` (ignored), at once.
fn counting(key: &str) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    pipe.atomic().incr(key, 1).expire(key, WINDOW_SECONDS as i64 * 2).ignore();
    pipe
}

enum QueryOf {
    Cmd(redis::Cmd),
    Pipe(redis::Pipeline),
}
