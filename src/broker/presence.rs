//! Who is online: a user is online while one of their streams is open on this node or on
//! another one, and goes offline a grace period after the last one closes, so that a
//! reconnect does not flap. The calls (a stream opened, a stream closed, is online, the
//! changes) are the interface for this node's streams; with several nodes, what this node
//! must tell the others (`told`) and what they tell it (`remote`, `forget_silent`) join it.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

#[derive(Debug, Default)]
struct UserPresence {
    streams: usize,
    /// A stream is open on this node, or closed less than the grace period ago.
    local: bool,
    /// The other nodes where the user is online, each with when it last said so.
    remote: HashMap<u64, Instant>,
    /// What was last announced to others.
    announced: bool,
    /// Counts the user's last-stream closes: a pending offline applies only if none came
    /// since.
    closes: u64,
}

impl UserPresence {
    fn online(&self) -> bool {
        self.local || !self.remote.is_empty()
    }

    fn forgettable(&self) -> bool {
        !self.online() && !self.announced && self.streams == 0
    }
}

#[derive(Default)]
struct State {
    users: HashMap<i64, UserPresence>,
    /// Users whose state may differ from what was announced.
    changed: HashSet<i64>,
    /// Users who came online (`true`) or went offline here, for the other nodes.
    told: Vec<(i64, bool)>,
}

impl State {
    /// Notes that `user_id` may need announcing; says whether it does.
    fn mark(&mut self, user_id: i64) -> bool {
        let due = self.users.get(&user_id).is_some_and(|u| u.online() != u.announced);
        if due {
            self.changed.insert(user_id);
        } else if self.users.get(&user_id).is_some_and(UserPresence::forgettable) {
            self.users.remove(&user_id);
        }
        due
    }
}

pub struct Presence {
    state: Mutex<State>,
    grace: Duration,
    changed: Notify,
    told: Notify,
    /// Other nodes share the database: local changes are kept for them.
    clustered: AtomicBool,
}

fn lock(mutex: &Mutex<State>) -> MutexGuard<'_, State> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Presence {
    pub fn new(grace: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            grace,
            changed: Notify::new(),
            told: Notify::new(),
            clustered: AtomicBool::new(false),
        })
    }

    /// From now on, this node's changes are kept for the other nodes (`told`).
    pub fn join_cluster(&self) {
        self.clustered.store(true, Ordering::SeqCst);
    }

    pub fn stream_opened(&self, user_id: i64) {
        let mut state = lock(&self.state);
        let user = state.users.entry(user_id).or_default();
        user.streams += 1;
        if user.local {
            return;
        }
        user.local = true;
        self.tell(&mut state, user_id, true);
        let due = state.mark(user_id);
        drop(state);
        if due {
            self.changed.notify_one();
        }
    }

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
            Err(_) => self.expire(user_id, closes),
        }
    }

    fn expire(&self, user_id: i64, closes: u64) {
        let mut state = lock(&self.state);
        let Some(user) = state.users.get_mut(&user_id) else { return };
        if user.streams > 0 || user.closes != closes || !user.local {
            return;
        }
        user.local = false;
        self.tell(&mut state, user_id, false);
        let due = state.mark(user_id);
        drop(state);
        if due {
            self.changed.notify_one();
        }
    }

    fn tell(&self, state: &mut State, user_id: i64, online: bool) {
        if self.clustered.load(Ordering::Relaxed) {
            state.told.push((user_id, online));
            self.told.notify_one();
        }
    }

    pub fn is_online(&self, user_id: i64) -> bool {
        lock(&self.state).users.get(&user_id).is_some_and(UserPresence::online)
    }

    /// Waits for users whose state differs from what was announced, and takes them.
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

    /// Users whose state differs from what was announced, now; each is then taken as
    /// announced.
    pub fn take_ready(&self) -> Vec<(i64, bool)> {
        let mut state = lock(&self.state);
        let State { users, changed, .. } = &mut *state;
        let mut out = Vec::with_capacity(changed.len());
        for user_id in changed.drain() {
            let Some(user) = users.get_mut(&user_id) else { continue };
            let online = user.online();
            if online != user.announced {
                user.announced = online;
                out.push((user_id, online));
            }
            if user.forgettable() {
                users.remove(&user_id);
            }
        }
        out
    }

    /// Waits for changes made on this node that the other nodes have not been told, and
    /// takes them (in order).
    pub async fn told(&self) -> Vec<(i64, bool)> {
        loop {
            let notified = self.told.notified();
            let taken = std::mem::take(&mut lock(&self.state).told);
            if !taken.is_empty() {
                return taken;
            }
            notified.await;
        }
    }

    /// The users online on this node, for the other nodes' periodic reminder.
    pub fn local_users(&self) -> Vec<i64> {
        lock(&self.state).users.iter().filter(|(_, u)| u.local).map(|(&id, _)| id).collect()
    }

    /// Another node says the user is online there (again), or no longer.
    pub fn remote(&self, node: u64, user_id: i64, online: bool) {
        let mut state = lock(&self.state);
        if online {
            state.users.entry(user_id).or_default().remote.insert(node, Instant::now());
        } else if let Some(user) = state.users.get_mut(&user_id) {
            user.remote.remove(&node);
        }
        let due = state.mark(user_id);
        drop(state);
        if due {
            self.changed.notify_one();
        }
    }

    /// Forgets what other nodes said of users and have not said again since `before`: a
    /// node that stopped without saying so stops counting.
    pub fn forget_silent(&self, before: Instant) {
        let mut state = lock(&self.state);
        let stale: Vec<i64> = state
            .users
            .iter_mut()
            .filter_map(|(&id, user)| {
                let had = user.remote.len();
                user.remote.retain(|_, said| *said >= before);
                (user.remote.len() != had).then_some(id)
            })
            .collect();
        let mut due = false;
        for user_id in stale {
            due |= state.mark(user_id);
        }
        drop(state);
        if due {
            self.changed.notify_one();
        }
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

    #[tokio::test]
    async fn online_while_another_node_says_so_and_until_it_falls_silent() {
        let ms = Duration::from_millis;
        let presence = Presence::new(ms(50));
        presence.join_cluster();
        presence.remote(7, 1, true);
        assert!(presence.is_online(1));
        assert_eq!(presence.take_ready(), [(1, true)]);
        // Here too, then gone from here: still online through node 7, nothing to announce.
        presence.stream_opened(1);
        assert_eq!(presence.told().await, [(1, true)]);
        presence.stream_closed(1);
        tokio::time::sleep(ms(150)).await;
        assert_eq!(presence.told().await, [(1, false)]);
        assert!(presence.is_online(1));
        assert!(presence.take_ready().is_empty());
        // Node 7 falls silent: offline once what it said is too old.
        let later = Instant::now() + ms(1);
        presence.forget_silent(later);
        assert!(!presence.is_online(1));
        assert_eq!(presence.take_ready(), [(1, false)]);
        assert!(lock(&presence.state).users.is_empty());
        // A node that says the user went offline there takes back only its own word.
        presence.remote(7, 2, true);
        presence.remote(8, 2, true);
        presence.remote(7, 2, false);
        assert!(presence.is_online(2));
        presence.remote(8, 2, false);
        assert!(!presence.is_online(2));
    }
}
