//! Who is online on this node: a user is online while one of their streams is open, and
//! goes offline a grace period after the last one closes, so that a reconnect does not
//! flap. The four calls (a stream opened, a stream closed, is online, the changes) are the
//! whole interface: a shared store can take this state's place without the callers
//! changing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct UserPresence {
    streams: usize,
    online: bool,
    /// What was last announced to others.
    announced: bool,
    /// Counts the user's last-stream closes: a pending offline applies only if none came
    /// since.
    closes: u64,
}

#[derive(Default)]
struct State {
    users: HashMap<i64, UserPresence>,
    /// Users whose state may differ from what was announced.
    changed: HashSet<i64>,
}

pub struct Presence {
    state: Mutex<State>,
    grace: Duration,
    changed: Notify,
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Presence {
    pub fn new(grace: Duration) -> Arc<Self> {
        Arc::new(Self { state: Mutex::new(State::default()), grace, changed: Notify::new() })
    }

    /// A stream of the user opened.
    pub fn stream_opened(&self, user_id: i64) {
        let mut state = lock(&self.state);
        let user = state.users.entry(user_id).or_default();
        user.streams += 1;
        if !user.online {
            user.online = true;
            if !user.announced {
                state.changed.insert(user_id);
                drop(state);
                self.changed.notify_one();
            }
        }
    }

    /// A stream of the user closed: when it was the last, the user goes offline after the
    /// grace period unless a stream opens in between.
    pub fn stream_closed(self: &Arc<Self>, user_id: i64) {
        let closes = {
            let mut state = lock(&self.state);
            let Some(user) = state.users.get_mut(&user_id) else { return };
            user.streams = user.streams.saturating_sub(1);
            if user.streams > 0 {
                return;
            }
            user.closes += 1;
            user.closes
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                let presence = Arc::downgrade(self);
                let grace = self.grace;
                runtime.spawn(async move {
                    tokio::time::sleep(grace).await;
                    if let Some(presence) = presence.upgrade() {
                        presence.expire(user_id, closes);
                    }
                });
            }
            // No runtime to wait on (a stream dropped at shutdown): offline at once.
            Err(_) => self.expire(user_id, closes),
        }
    }

    fn expire(&self, user_id: i64, closes: u64) {
        let mut state = lock(&self.state);
        let Some(user) = state.users.get_mut(&user_id) else { return };
        if user.streams > 0 || user.closes != closes {
            return;
        }
        user.online = false;
        if user.announced {
            state.changed.insert(user_id);
            drop(state);
            self.changed.notify_one();
        } else {
            state.users.remove(&user_id);
        }
    }

    pub fn is_online(&self, user_id: i64) -> bool {
        lock(&self.state).users.get(&user_id).is_some_and(|u| u.online)
    }

    /// Waits for changes, then takes every user whose state differs from what was last
    /// announced, with their state now: a user who went offline and came back before this
    /// is not among them.
    pub async fn changes(&self) -> Vec<(i64, bool)> {
        loop {
            let notified = self.changed.notified();
            let taken = self.take_ready();
            if !taken.is_empty() {
                return taken;
            }
            notified.await;
        }
    }

    pub fn take_ready(&self) -> Vec<(i64, bool)> {
        let mut state = lock(&self.state);
        let State { users, changed } = &mut *state;
        let mut out = Vec::with_capacity(changed.len());
        for user_id in changed.drain() {
            let Some(user) = users.get_mut(&user_id) else { continue };
            if user.online != user.announced {
                user.announced = user.online;
                out.push((user_id, user.online));
            }
            if !user.online && user.streams == 0 {
                users.remove(&user_id);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn offline_only_after_the_grace_period_and_no_flap_on_reconnect() {
        let ms = Duration::from_millis;
        let presence = Presence::new(ms(200));
        presence.stream_opened(1);
        assert!(presence.is_online(1));
        assert_eq!(presence.changes().await, [(1, true)]);
        presence.stream_closed(1);
        tokio::time::sleep(ms(50)).await;
        assert!(presence.is_online(1));
        presence.stream_opened(1);
        tokio::time::sleep(ms(400)).await;
        assert!(presence.is_online(1), "reopened within the grace period");
        assert!(presence.take_ready().is_empty());
        presence.stream_closed(1);
        tokio::time::sleep(ms(400)).await;
        assert!(!presence.is_online(1));
        assert_eq!(presence.changes().await, [(1, false)]);
        assert!(lock(&presence.state).users.is_empty());
    }
}
