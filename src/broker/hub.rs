//! The per-room broadcast channels and the registry of open streams.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{broadcast, Notify};

use super::presence::Presence;
use super::{Event, Notice};

pub type RoomReceiver = broadcast::Receiver<Arc<Event>>;

/// Which rooms a stream carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every room the user is a member of, following membership changes.
    AllRooms,
    Room(i64),
}

/// Sent to one open stream.
#[derive(Debug)]
pub enum Control {
    /// Start carrying a room; the receiver was subscribed before the room's next event.
    Add(i64, RoomReceiver),
    /// Stop carrying a room after this event id.
    Remove { room_id: i64, last_event_id: i64 },
    /// End the stream (account disabled, server shutting down).
    Close,
    /// A ping is due: the stream wrote nothing for a whole keep-alive interval.
    Ping,
    /// An event for this user rather than for a room (presence, their account changed);
    /// never stored.
    Passing(Arc<Event>),
}

struct StreamEntry {
    id: u64,
    scope: Scope,
    /// Which sign-in opened the stream (see `crate::auth::credential_tag`).
    credential: u64,
    control: Arc<ControlQueue>,
}

/// Keep-alive ticks per ping interval: a stream pings after this many ticks without a
/// write, so it is never silent for longer than the interval, and an idle one pings once
/// per interval.
pub const TICKS_PER_PING: u8 = 4;

/// A stream's control messages. They are rare, so a locked queue and a `Notify` serve:
/// an unbounded channel would allocate a block of 32 slots for every open stream. The
/// keep-alive state is two atomics beside it, which queue nothing.
#[derive(Default)]
struct ControlQueue {
    messages: Mutex<VecDeque<Control>>,
    /// Keep-alive ticks since the stream last wrote (the stream resets it).
    quiet_ticks: AtomicU8,
    ping_due: AtomicBool,
    ready: Notify,
}

impl ControlQueue {
    fn send(&self, message: Control) {
        lock(&self.messages).push_back(message);
        // Stored as a permit when the stream is not waiting: its next wait returns at once.
        self.ready.notify_one();
    }

    /// Counts a tick; true when the stream has now been quiet for a whole interval.
    fn tick(&self) -> bool {
        let before = self.quiet_ticks.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |q| Some(q.saturating_add(1)));
        before.unwrap_or(u8::MAX).saturating_add(1) >= TICKS_PER_PING
    }

    fn ping(&self) {
        self.ping_due.store(true, Ordering::Release);
        self.ready.notify_one();
    }
}

/// The receiving end of a stream's control messages.
pub struct ControlReceiver(Arc<ControlQueue>);

impl ControlReceiver {
    pub fn try_recv(&mut self) -> Option<Control> {
        if let Some(message) = lock(&self.0.messages).pop_front() {
            return Some(message);
        }
        let due = self.0.ping_due.load(Ordering::Acquire) && self.0.ping_due.swap(false, Ordering::AcqRel);
        due.then_some(Control::Ping)
    }

    /// The stream wrote something (an event, its opening, a ping): the quiet time starts
    /// again.
    pub fn wrote(&self) {
        if self.0.quiet_ticks.load(Ordering::Relaxed) != 0 {
            self.0.quiet_ticks.store(0, Ordering::Relaxed);
        }
    }

    /// The next message. Cancel-safe: a message stays queued until it is returned.
    pub async fn recv(&mut self) -> Control {
        loop {
            if let Some(message) = self.try_recv() {
                return message;
            }
            self.0.ready.notified().await;
        }
    }
}

/// Nothing guarded here is left half-updated by a panic that matters to readers.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A user's open streams, and the rooms they are a member of while any is open.
#[derive(Default)]
struct UserStreams {
    entries: Vec<StreamEntry>,
    rooms: Membership,
}

/// Membership changes a user's entry records while its rooms are being read; beyond this
/// many the read is not taken (a user whose streams all carry one room never fills it).
const MAX_CHANGES_WHILE_READING: usize = 64;

/// What the hub knows of a user's rooms. Kept current by the `Joined` and `Left` notices it
/// publishes, under the same lock as the streams' control messages, so that a stream that
/// takes its rooms from here under that lock, after registering, misses no change: those
/// published before are in the set, those after reach it as control messages. It lives as
/// long as the user has a stream registered: it relies on exactly the notices an open stream
/// relies on.
enum Membership {
    /// Not known yet: the changes published since the user's first stream registered, in
    /// order, to apply over a read of the database taken after a registration.
    Reading(Vec<(i64, bool)>),
    Known(Vec<i64>),
    /// Too many changes while reading: read from the database until the user's streams
    /// have all closed.
    Unknown,
}

impl Default for Membership {
    fn default() -> Self {
        Self::Reading(Vec::new())
    }
}

impl Membership {
    /// Applies a change; true when a known set of rooms gained or lost the room.
    fn change(&mut self, room_id: i64, joined: bool) -> bool {
        match self {
            Self::Reading(changes) if changes.len() >= MAX_CHANGES_WHILE_READING => *self = Self::Unknown,
            Self::Reading(changes) => changes.push((room_id, joined)),
            Self::Known(rooms) => {
                let had = rooms.contains(&room_id);
                if joined && !had {
                    rooms.push(room_id);
                } else if !joined && had {
                    rooms.retain(|r| *r != room_id);
                }
                return joined != had;
            }
            Self::Unknown => {}
        }
        false
    }
}

/// Who listens in each room: the users with a stream open on this node whose rooms the hub
/// knows, kept with their `Membership::Known` sets. Presence finds its audience here without
/// reading the database.
#[derive(Default)]
struct Listeners(HashMap<i64, HashSet<i64>>);

impl Listeners {
    fn add(&mut self, room_id: i64, user_id: i64) {
        self.0.entry(room_id).or_default().insert(user_id);
    }

    fn remove(&mut self, room_id: i64, user_id: i64) {
        if let Some(users) = self.0.get_mut(&room_id) {
            users.remove(&user_id);
            if users.is_empty() {
                self.0.remove(&room_id);
            }
        }
    }

    fn of(&self, room_id: i64) -> impl Iterator<Item = i64> + '_ {
        self.0.get(&room_id).into_iter().flatten().copied()
    }
}

/// The rooms of users whose presence changed, as far as the hub knows them
/// (`Hub::presence_rooms`).
#[derive(Debug, Default)]
pub struct PresenceRooms {
    /// (room, index of the change) for the changed users whose rooms the hub knows.
    pub rooms: Vec<(i64, usize)>,
    /// The changes of users whose rooms the hub does not know: no stream open here, or
    /// their first stream's read still under way.
    pub unknown: Vec<usize>,
    /// Users with a stream open whose rooms the hub does not know yet: they may share a
    /// room with anyone.
    pub unsettled: Vec<i64>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<i64, broadcast::Sender<Arc<Event>>>,
    streams: HashMap<i64, UserStreams>,
    listeners: Listeners,
    /// Users with a stream open whose rooms are not `Membership::Known`.
    unsettled: HashSet<i64>,
    /// The id of the last stored event published: what an ephemeral event follows.
    last_published: i64,
    /// Streams registered, all users together.
    open: usize,
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct HubStats {
    pub subscribers: AtomicI64,
    pub published: AtomicU64,
    pub delivered: AtomicU64,
    pub lagged: AtomicU64,
    pub catch_ups: AtomicU64,
    pub dropped_slow: AtomicU64,
}

/// How many streams may be open at once.
#[derive(Debug, Clone, Copy)]
pub struct StreamLimits {
    pub per_user: usize,
    pub total: usize,
}

impl StreamLimits {
    pub fn of(settings: &crate::config::Settings) -> Self {
        Self { per_user: settings.streams_per_user, total: settings.stream_limit() }
    }

    pub const NONE: Self = Self { per_user: usize::MAX, total: usize::MAX };
}

/// Why a stream was not registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Full {
    /// The user has `per_user` streams open.
    User(usize),
    /// The server has `total` streams open.
    Server(usize),
}

pub struct Hub {
    inner: Mutex<Inner>,
    capacity: usize,
    limits: StreamLimits,
    next_id: AtomicU64,
    /// Set once the server shuts down: streams registered later are closed at once.
    shut_down: AtomicBool,
    pub stats: HubStats,
    /// Who has a stream open, told by `register` and by a registration's drop.
    pub presence: Arc<Presence>,
}

/// How long a user stays online after their last stream closes, unless configured.
pub const PRESENCE_GRACE: Duration = Duration::from_secs(20);

/// A stream's place in the hub; dropping it unregisters the stream and drops room
/// channels nobody listens to any more.
pub struct Registration {
    hub: Arc<Hub>,
    id: u64,
    user_id: i64,
    pub scope: Scope,
}

impl Registration {
    pub fn user_id(&self) -> i64 {
        self.user_id
    }
}

impl Hub {
    pub fn new(capacity: usize, limits: StreamLimits) -> Arc<Self> {
        Self::with_presence(capacity, limits, Presence::new(PRESENCE_GRACE))
    }

    pub fn with_presence(capacity: usize, limits: StreamLimits, presence: Arc<Presence>) -> Arc<Self> {
        Arc::new(Self {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            limits,
            next_id: AtomicU64::new(1),
            shut_down: AtomicBool::new(false),
            stats: HubStats::default(),
            presence,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.inner)
    }

    /// Publishes a committed transaction's notices, in order.
    pub fn publish(&self, notices: Vec<Notice>) {
        if notices.is_empty() {
            return;
        }
        let mut inner = self.lock();
        for notice in notices {
            match notice {
                Notice::Event(event) => {
                    self.stats.published.fetch_add(1, Ordering::Relaxed);
                    inner.last_published = inner.last_published.max(event.id);
                    if let Some(sender) = inner.rooms.get(&event.room_id) {
                        let _ = sender.send(event);
                    }
                }
                Notice::Joined { room_id, user_id } => {
                    let capacity = self.capacity;
                    let Inner { rooms, streams, listeners, .. } = &mut *inner;
                    let Some(user) = streams.get_mut(&user_id) else { continue };
                    if user.rooms.change(room_id, true) {
                        listeners.add(room_id, user_id);
                    }
                    for entry in &user.entries {
                        if entry.scope == Scope::AllRooms {
                            let receiver = room_sender(rooms, room_id, capacity).subscribe();
                            entry.control.send(Control::Add(room_id, receiver));
                        }
                    }
                }
                Notice::Left { room_id, user_id, last_event_id } => {
                    let Inner { streams, listeners, .. } = &mut *inner;
                    let Some(user) = streams.get_mut(&user_id) else { continue };
                    if user.rooms.change(room_id, false) {
                        listeners.remove(room_id, user_id);
                    }
                    for entry in &user.entries {
                        if entry.scope == Scope::AllRooms || entry.scope == Scope::Room(room_id) {
                            entry.control.send(Control::Remove { room_id, last_event_id });
                        }
                    }
                }
                Notice::StreamsEnd { user_id, keep } => {
                    for entry in inner.streams.get(&user_id).into_iter().flat_map(|u| &u.entries) {
                        if keep != Some(entry.credential) {
                            entry.control.send(Control::Close);
                        }
                    }
                }
                Notice::CredentialEnds { user_id, credential } => {
                    for entry in inner.streams.get(&user_id).into_iter().flat_map(|u| &u.entries) {
                        if entry.credential == credential {
                            entry.control.send(Control::Close);
                        }
                    }
                }
                Notice::ToUser { user_id, mut event } => {
                    event.follows = inner.last_published;
                    let event = Arc::new(event);
                    for entry in inner.streams.get(&user_id).into_iter().flat_map(|u| &u.entries) {
                        entry.control.send(Control::Passing(event.clone()));
                    }
                }
            }
        }
    }

    /// Sends an event that is not stored (typing) to whoever listens to the room now. A
    /// stream that has several events waiting puts it after what was published before it.
    pub fn publish_ephemeral(&self, mut event: Event) {
        let inner = self.lock();
        event.follows = inner.last_published;
        if let Some(sender) = inner.rooms.get(&event.room_id) {
            let _ = sender.send(Arc::new(event));
        }
    }

    /// The rooms of these users (whose presence changed) that the hub knows, the users whose
    /// rooms it does not know, and the users listening here whose rooms it does not know yet:
    /// what presence needs to find its audience, the database telling the rest.
    pub fn presence_rooms(&self, changed: &[i64]) -> PresenceRooms {
        let inner = self.lock();
        let mut found = PresenceRooms { unsettled: inner.unsettled.iter().copied().collect(), ..Default::default() };
        for (c, &user_id) in changed.iter().enumerate() {
            match inner.streams.get(&user_id).map(|u| &u.rooms) {
                Some(Membership::Known(rooms)) => found.rooms.extend(rooms.iter().map(|&room_id| (room_id, c))),
                _ => found.unknown.push(c),
            }
        }
        found
    }

    /// Who listens in each of these rooms: `(user, index of the room)` for every user with a
    /// stream open here whose rooms the hub knows and include the room.
    pub fn listeners_of(&self, rooms: &[i64]) -> Vec<(i64, usize)> {
        let inner = self.lock();
        let mut heard = Vec::new();
        for (r, &room_id) in rooms.iter().enumerate() {
            heard.extend(inner.listeners.of(room_id).map(|user_id| (user_id, r)));
        }
        heard
    }

    /// Sends frames that are not stored (presence) to every open stream of each user: one
    /// control message per stream, with that user's frame; users without a stream are
    /// skipped.
    pub fn publish_to_each(&self, frames: Vec<(i64, Bytes)>) {
        let inner = self.lock();
        let follows = inner.last_published;
        for (user_id, frame) in frames {
            let Some(user) = inner.streams.get(&user_id) else { continue };
            let event = Arc::new(Event { id: 0, room_id: 0, follows, frame });
            for entry in &user.entries {
                entry.control.send(Control::Passing(event.clone()));
            }
        }
    }

    /// Registers a stream before its rooms are read from the database, so that membership
    /// changes committed in between reach it through the control channel. Refused when the
    /// user, or the server, has as many streams open as the limits allow; counted under the
    /// lock, so that streams opening at once cannot pass a limit together.
    pub fn register(
        self: &Arc<Self>,
        user_id: i64,
        scope: Scope,
        credential: u64,
    ) -> Result<(Registration, ControlReceiver), Full> {
        let control = Arc::new(ControlQueue::default());
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut inner = self.lock();
        if inner.open >= self.limits.total {
            return Err(Full::Server(self.limits.total));
        }
        let mine = &mut inner.streams.entry(user_id).or_default().entries;
        if mine.len() >= self.limits.per_user {
            if mine.is_empty() {
                inner.streams.remove(&user_id);
            }
            return Err(Full::User(self.limits.per_user));
        }
        if self.shut_down.load(Ordering::SeqCst) {
            control.send(Control::Close);
        }
        mine.push(StreamEntry { id, scope, credential, control: control.clone() });
        if mine.len() == 1 {
            inner.unsettled.insert(user_id);
        }
        inner.open += 1;
        drop(inner);
        self.presence.stream_opened(user_id);
        self.stats.subscribers.fetch_add(1, Ordering::Relaxed);
        Ok((Registration { hub: self.clone(), id, user_id, scope }, ControlReceiver(control)))
    }

    /// Whether `receiver` fell behind its channel by more than the channel holds: its next
    /// receive would report the overflow.
    pub fn overflowed(&self, receiver: &RoomReceiver) -> bool {
        receiver.len() > self.capacity.next_power_of_two()
    }

    /// Subscribes to the rooms' channels, creating those that do not exist yet.
    pub fn subscribe(&self, rooms: &[i64]) -> Vec<(i64, RoomReceiver)> {
        let mut inner = self.lock();
        rooms
            .iter()
            .map(|&room_id| (room_id, room_sender(&mut inner.rooms, room_id, self.capacity).subscribe()))
            .collect()
    }

    /// Subscribes a registered stream of the user to its rooms when the hub knows them: every
    /// room of the user for `AllRooms`, the one room when the user is a member. `None` when
    /// the database must tell (not known yet, or not a member here: the database gives the
    /// refusal, or the membership a node that is behind has not heard of yet).
    pub fn subscribe_known(&self, user_id: i64, scope: Scope) -> Option<Vec<(i64, RoomReceiver)>> {
        let mut inner = self.lock();
        let Inner { rooms, streams, .. } = &mut *inner;
        let Membership::Known(mine) = &streams.get(&user_id)?.rooms else { return None };
        let capacity = self.capacity;
        match scope {
            Scope::AllRooms => {
                Some(mine.iter().map(|&room_id| (room_id, room_sender(rooms, room_id, capacity).subscribe())).collect())
            }
            Scope::Room(room_id) if mine.contains(&room_id) => {
                Some(vec![(room_id, room_sender(rooms, room_id, capacity).subscribe())])
            }
            Scope::Room(_) => None,
        }
    }

    /// Tells the hub the user's rooms as the database had them, read after one of the
    /// user's streams registered; the changes published since the first registration are
    /// applied over them, in order.
    pub fn rooms_read(&self, user_id: i64, read: &[i64]) {
        let mut inner = self.lock();
        let Inner { streams, listeners, unsettled, .. } = &mut *inner;
        let Some(user) = streams.get_mut(&user_id) else { return };
        if let Membership::Reading(changes) = &user.rooms {
            let mut rooms = Membership::Known(read.to_vec());
            for &(room_id, joined) in changes {
                rooms.change(room_id, joined);
            }
            if let Membership::Known(known) = &mut rooms {
                known.sort_unstable();
                known.dedup();
                for &room_id in known.iter() {
                    listeners.add(room_id, user_id);
                }
            }
            user.rooms = rooms;
            unsettled.remove(&user_id);
        }
    }

    /// Drops the channels of these rooms that have no receiver left.
    pub fn release(&self, rooms: impl IntoIterator<Item = i64>) {
        let mut inner = self.lock();
        for room_id in rooms {
            if inner.rooms.get(&room_id).is_some_and(|s| s.receiver_count() == 0) {
                inner.rooms.remove(&room_id);
            }
        }
    }

    pub fn room_channels(&self) -> usize {
        self.lock().rooms.len()
    }

    pub fn subscriber_count(&self) -> i64 {
        self.stats.subscribers.load(Ordering::Relaxed)
    }

    /// Keeps streams alive while the hub is in use: a stream that wrote nothing for
    /// `ping_every` writes a ping. One shared tick, `TICKS_PER_PING` times per interval,
    /// rather than a timer per stream, which the stream would poll on each of its wake-ups
    /// and carry in its task; a tick wakes only the streams whose ping is due.
    pub fn keep_alive(self: &Arc<Self>, ping_every: Duration) {
        let hub = Arc::downgrade(self);
        let every = (ping_every / u32::from(TICKS_PER_PING)).max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(hub) = hub.upgrade() else { return };
                hub.tick();
            }
        });
    }

    /// One keep-alive tick: counts it for every open stream and tells those whose ping is
    /// due. They are collected under the lock and told outside it: publishing does not
    /// wait for their wake-ups.
    pub fn tick(&self) {
        let due: Vec<Arc<ControlQueue>> = self
            .lock()
            .streams
            .values()
            .flat_map(|u| &u.entries)
            .filter(|entry| entry.control.tick())
            .map(|entry| entry.control.clone())
            .collect();
        for queue in due {
            queue.ping();
        }
    }

    /// Ends every stream (server shutdown): clients reconnect elsewhere and resume by id.
    pub fn shutdown(&self) {
        let inner = self.lock();
        // Under the lock: a stream registers either before (and is told here) or after
        // (and sees the flag).
        self.shut_down.store(true, Ordering::SeqCst);
        for entry in inner.streams.values().flat_map(|u| &u.entries) {
            entry.control.send(Control::Close);
        }
    }
}

fn room_sender(
    rooms: &mut HashMap<i64, broadcast::Sender<Arc<Event>>>,
    room_id: i64,
    capacity: usize,
) -> &broadcast::Sender<Arc<Event>> {
    rooms.entry(room_id).or_insert_with(|| broadcast::channel(capacity).0)
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut inner = self.hub.lock();
        let Inner { streams, listeners, unsettled, .. } = &mut *inner;
        if let Some(user) = streams.get_mut(&self.user_id) {
            user.entries.retain(|e| e.id != self.id);
            if user.entries.is_empty() {
                if let Membership::Known(rooms) = &user.rooms {
                    for &room_id in rooms {
                        listeners.remove(room_id, self.user_id);
                    }
                }
                unsettled.remove(&self.user_id);
                streams.remove(&self.user_id);
            }
        }
        inner.open = inner.open.saturating_sub(1);
        drop(inner);
        self.hub.presence.stream_closed(self.user_id);
        self.hub.stats.subscribers.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: i64, room_id: i64) -> Notice {
        Notice::Event(Arc::new(Event::stored(id, room_id, "x", "{}")))
    }

    #[tokio::test]
    async fn events_reach_subscribed_rooms_only() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let (_reg, _ctl) = hub.register(1, Scope::AllRooms, 0).unwrap();
        let mut rx = hub.subscribe(&[10]);
        hub.publish(vec![event(1, 10), event(2, 11), event(3, 10)]);
        let (_, rx10) = &mut rx[0];
        assert_eq!(rx10.recv().await.unwrap().id, 1);
        assert_eq!(rx10.recv().await.unwrap().id, 3);
        assert_eq!(hub.room_channels(), 1);
        drop(rx);
        hub.release([10]);
        assert_eq!(hub.room_channels(), 0);
    }

    #[tokio::test]
    async fn joining_subscribes_before_the_next_event() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let (reg, mut ctl) = hub.register(1, Scope::AllRooms, 0).unwrap();
        hub.publish(vec![Notice::Joined { room_id: 5, user_id: 1 }, event(9, 5)]);
        let Control::Add(5, mut rx) = ctl.recv().await else { panic!("no Add") };
        assert_eq!(rx.recv().await.unwrap().id, 9);
        hub.publish(vec![Notice::Left { room_id: 5, user_id: 1, last_event_id: 9 }]);
        assert!(matches!(ctl.recv().await, Control::Remove { room_id: 5, last_event_id: 9 }));
        assert!(ctl.try_recv().is_none());
        assert_eq!(hub.subscriber_count(), 1);
        drop(reg);
        assert_eq!(hub.subscriber_count(), 0);
    }

    #[test]
    fn streams_are_counted_per_user_and_in_all() {
        let hub = Hub::new(16, StreamLimits { per_user: 2, total: 3 });
        let a1 = hub.register(1, Scope::AllRooms, 0).unwrap();
        let _a2 = hub.register(1, Scope::Room(5), 0).unwrap();
        assert_eq!(hub.register(1, Scope::AllRooms, 0).err(), Some(Full::User(2)));
        let _b1 = hub.register(2, Scope::AllRooms, 0).unwrap();
        assert_eq!(hub.register(3, Scope::AllRooms, 0).err(), Some(Full::Server(3)));
        assert_eq!(hub.lock().streams.len(), 2, "a refused user leaves no entry");
        drop(a1);
        let _a3 = hub.register(1, Scope::AllRooms, 0).unwrap();
        assert_eq!(hub.subscriber_count(), 3);
    }

    fn joined(room_id: i64, user_id: i64) -> Notice {
        Notice::Joined { room_id, user_id }
    }

    fn left(room_id: i64, user_id: i64) -> Notice {
        Notice::Left { room_id, user_id, last_event_id: 0 }
    }

    fn rooms_of(receivers: Option<Vec<(i64, RoomReceiver)>>) -> Option<Vec<i64>> {
        receivers.map(|r| {
            let mut rooms: Vec<i64> = r.into_iter().map(|(room_id, _)| room_id).collect();
            rooms.sort_unstable();
            rooms
        })
    }

    #[test]
    fn a_users_rooms_are_known_from_a_read_and_the_changes_published_since_the_first_stream() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let first = hub.register(1, Scope::AllRooms, 0).unwrap();
        assert!(hub.subscribe_known(1, Scope::AllRooms).is_none(), "not read yet");
        // Published while the first stream's read is under way: applied over it, in order.
        hub.publish(vec![joined(7, 1), left(2, 1), left(7, 1), joined(7, 1), joined(9, 2)]);
        hub.rooms_read(1, &[1, 2]);
        assert_eq!(rooms_of(hub.subscribe_known(1, Scope::AllRooms)), Some(vec![1, 7]));
        hub.publish(vec![left(1, 1), joined(3, 1), joined(3, 1)]);
        assert_eq!(rooms_of(hub.subscribe_known(1, Scope::AllRooms)), Some(vec![3, 7]));
        assert_eq!(rooms_of(hub.subscribe_known(1, Scope::Room(3))), Some(vec![3]));
        assert!(hub.subscribe_known(1, Scope::Room(1)).is_none(), "not a member: the database answers");
        assert!(hub.subscribe_known(2, Scope::AllRooms).is_none(), "no stream, nothing known");
        // A later read does not replace what is known and kept current.
        hub.rooms_read(1, &[1]);
        assert_eq!(rooms_of(hub.subscribe_known(1, Scope::AllRooms)), Some(vec![3, 7]));
        // Forgotten with the user's last stream: nothing tells it any more.
        drop(first);
        assert!(hub.subscribe_known(1, Scope::AllRooms).is_none());
        let _again = hub.register(1, Scope::AllRooms, 0).unwrap();
        assert!(hub.subscribe_known(1, Scope::AllRooms).is_none());
    }

    fn listening(hub: &Hub, room_id: i64) -> Vec<i64> {
        let mut users: Vec<i64> = hub.listeners_of(&[room_id]).into_iter().map(|(user_id, _)| user_id).collect();
        users.sort_unstable();
        users
    }

    #[test]
    fn the_listeners_of_a_room_follow_the_known_rooms_of_those_with_a_stream_open() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let one = hub.register(1, Scope::AllRooms, 0).unwrap();
        let two = hub.register(2, Scope::Room(10), 0).unwrap();
        let _three = hub.register(3, Scope::AllRooms, 0).unwrap();
        hub.rooms_read(1, &[10, 11]);
        hub.rooms_read(2, &[10]);
        hub.rooms_read(3, &[12]);
        assert_eq!(listening(&hub, 10), [1, 2]);
        assert_eq!(hub.listeners_of(&[12, 11, 99]), [(3, 0), (1, 1)]);

        // User 4 has no stream here: the hub does not know their rooms.
        let found = hub.presence_rooms(&[1, 4]);
        assert_eq!(found.rooms.len(), 2);
        assert!(found.rooms.contains(&(10, 0)) && found.rooms.contains(&(11, 0)));
        assert_eq!(found.unknown, [1]);
        assert!(found.unsettled.is_empty());

        // Membership changes keep them current.
        hub.publish(vec![joined(12, 2), left(10, 2)]);
        assert_eq!(listening(&hub, 10), [1]);
        assert_eq!(listening(&hub, 12), [2, 3]);

        // A stream whose rooms are being read is named until they are.
        let _five = hub.register(5, Scope::AllRooms, 0).unwrap();
        let found = hub.presence_rooms(&[3, 5]);
        assert_eq!((found.rooms, found.unknown, found.unsettled), (vec![(12, 0)], vec![1], vec![5]));
        hub.rooms_read(5, &[12]);
        assert!(hub.presence_rooms(&[5]).unsettled.is_empty());
        assert_eq!(listening(&hub, 12), [2, 3, 5]);

        // The last stream of a user closes: they listen nowhere.
        drop(two);
        assert_eq!(listening(&hub, 12), [3, 5]);
        drop(one);
        assert!(!hub.lock().listeners.0.contains_key(&10), "an empty room is forgotten");
    }

    #[test]
    fn too_many_changes_while_reading_leave_the_rooms_to_the_database() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let _stream = hub.register(1, Scope::Room(1), 0).unwrap();
        let changes = (0..=MAX_CHANGES_WHILE_READING as i64).map(|room| joined(room, 1)).collect();
        hub.publish(changes);
        hub.rooms_read(1, &[1]);
        assert!(hub.subscribe_known(1, Scope::AllRooms).is_none());
    }

    #[tokio::test]
    async fn a_signed_out_credential_ends_its_own_streams_only() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let (_a, mut first) = hub.register(1, Scope::AllRooms, 7).unwrap();
        let (_b, mut second) = hub.register(1, Scope::AllRooms, 8).unwrap();
        let (_c, mut other_user) = hub.register(2, Scope::AllRooms, 7).unwrap();
        hub.publish(vec![Notice::CredentialEnds { user_id: 1, credential: 7 }]);
        assert!(matches!(first.try_recv(), Some(Control::Close)));
        assert!(second.try_recv().is_none() && other_user.try_recv().is_none());
        hub.publish(vec![Notice::StreamsEnd { user_id: 1, keep: Some(8) }]);
        assert!(second.try_recv().is_none());
        hub.publish(vec![Notice::StreamsEnd { user_id: 1, keep: None }]);
        assert!(matches!(second.try_recv(), Some(Control::Close)));
        assert!(other_user.try_recv().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiting_stream_wakes_for_each_control_message_in_order() {
        let hub = Hub::new(16, StreamLimits::NONE);
        let (_reg, mut ctl) = hub.register(1, Scope::AllRooms, 0).unwrap();
        let waiting = tokio::spawn(async move {
            let mut rooms = Vec::new();
            for _ in 0..4 {
                match ctl.recv().await {
                    Control::Remove { room_id, .. } => rooms.push(room_id),
                    _ => panic!("not a Remove"),
                }
            }
            (rooms, ctl.try_recv().is_none())
        });
        // Some while the stream waits, two at once.
        for rooms in [&[1][..], &[2], &[3, 4]] {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let hub = hub.clone();
            let notices = rooms.iter().map(|&room_id| Notice::Left { room_id, user_id: 1, last_event_id: 0 }).collect();
            std::thread::spawn(move || hub.publish(notices)).join().unwrap();
        }
        let (rooms, empty) = tokio::time::timeout(std::time::Duration::from_secs(10), waiting).await.unwrap().unwrap();
        assert_eq!(rooms, [1, 2, 3, 4]);
        assert!(empty);
    }
}
