//! The log tail: how the events committed on other nodes reach this node's hub.
//!
//! PostgreSQL stays the one source of truth. Each write transaction that appended events
//! rings `pg_notify('causerie_events', id)` once, with its last event id; one dedicated
//! connection per node (`LISTEN`, never pooled) hears the rings, and a reader reads
//! `id > applied ORDER BY id` in batches and publishes each event to the hub. A ring only
//! says "read now": a lost one costs latency (the safety poll reads every `POLL_EVERY`
//! anyway), never an event. On every (re)connect the listener issues `LISTEN` first, then
//! asks for a read, so that nothing committed in between is missed.
//!
//! Local commits and the tail. Event ids commit in id order (the counter row), and the ids
//! of one transaction, or of one batch of the writer, are consecutive. A node's own commit
//! is handed to [`Tail::committed`] with the notices its transaction recorded:
//! - when its first id follows the last one published (`applied`), it is published at once,
//!   with no read: the common case on one node, and the only way its `Joined`/`Left`
//!   notices keep their exact place;
//! - when ids committed elsewhere come before it, it waits, keyed by its first id, and the
//!   reader is rung; the reader publishes what the log holds before it, then, on reaching
//!   the waiting commit's first id, the commit itself, and skips its ids;
//! - when the reader got there first (it read the rows after the commit and before this
//!   call), the events are not published again; only the notices that are not in the log
//!   (streams ending) are.
//!
//! Everything is published under one lock, in id order, each id once: nothing is skipped,
//! nothing twice. For events read from the log, the notices the writing node published
//! beside them are derived from the row: `member_joined` is preceded by `Joined` and
//! `member_left` followed by `Left`, as the use cases record them.
//!
//! The same connection carries the notices that are never stored (typing, revocations) on
//! a second channel, as small JSON; the tail hands them to a handler set by the caller.
//!
//! SQLite serves one node: there is no tail and commits are published as before.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::Notify;
use tokio_postgres::AsyncMessage;

use super::{Event, Hub, Notice};
use crate::domain::EventKind;
use crate::store::events::{self, EVENTS_CHANNEL, NOTICES_CHANNEL};
use crate::store::models::EventRow;
use crate::store::Db;

/// The safety poll: how long the reader waits for a ring before reading anyway.
pub const POLL_EVERY: Duration = Duration::from_millis(1500);
/// Events read per query.
const BATCH: i64 = 500;
/// The listener's back-off between connection attempts.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Notices longer than this are not sent: PostgreSQL refuses payloads from 8,000 bytes.
pub const MAX_NOTICE_BYTES: usize = 7_900;
/// How the listener's connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "causerie-bus";

/// What receives the notices of the second channel (their JSON text).
pub type NoticeHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// Counters and state for `/metrics` and `/readyz`.
#[derive(Default)]
pub struct TailStats {
    /// Rings heard on the events channel.
    pub notifications: AtomicU64,
    /// Events published that only the safety poll found.
    pub polled: AtomicU64,
    /// Reads of the log (rung, polled, catching up).
    pub reads: AtomicU64,
    /// Times the listener connection was lost and made again.
    pub reconnects: AtomicU64,
    /// The newest event id this node knows of (rung, read or committed here).
    pub newest_seen: AtomicI64,
    /// The last event id published to the hub.
    pub applied: AtomicI64,
    /// The listener is connected and listening.
    pub listening: AtomicBool,
}

impl TailStats {
    /// Events known to exist and not yet published here.
    pub fn lag(&self) -> u64 {
        let seen = self.newest_seen.load(Ordering::Relaxed);
        let applied = self.applied.load(Ordering::Relaxed);
        u64::try_from(seen.saturating_sub(applied)).unwrap_or(0)
    }
}

#[derive(Default)]
struct Sequence {
    /// The last event id published; `None` until the tail is anchored at start (a command
    /// line run never is: it publishes to nobody).
    applied: Option<i64>,
    /// Local commits waiting for ids committed elsewhere: first id -> (last id, notices).
    waiting: BTreeMap<i64, (i64, Vec<Notice>)>,
}

pub struct Tail {
    hub: Arc<Hub>,
    db: Db,
    sequence: Mutex<Sequence>,
    ring: Notify,
    /// The listener's client while connected: it also sends the notices of this node.
    client: Mutex<Option<Arc<tokio_postgres::Client>>>,
    pub stats: TailStats,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The first and last stored event ids among the notices.
fn span(notices: &[Notice]) -> Option<(i64, i64)> {
    notices.iter().fold(None, |span, notice| match notice {
        Notice::Event(e) if e.id > 0 => {
            Some(span.map_or((e.id, e.id), |(a, b): (i64, i64)| (a.min(e.id), b.max(e.id))))
        }
        _ => span,
    })
}

/// The notices that the log does not hold: published even when the events were read first.
fn unlogged(notices: Vec<Notice>) -> Vec<Notice> {
    notices.into_iter().filter(|n| matches!(n, Notice::StreamsEnd { .. } | Notice::CredentialEnds { .. })).collect()
}

/// The notices of one event read from the log, as its use case recorded them.
fn from_row(row: &EventRow) -> Vec<Notice> {
    let (room_id, id) = (row.room_id.get(), row.id);
    let event = Notice::Event(Arc::new(Event::stored(id, room_id, row.kind.as_str(), &row.payload)));
    match (row.kind, row.target_user_id) {
        (EventKind::MemberJoined, Some(user)) => vec![Notice::Joined { room_id, user_id: user.get() }, event],
        (EventKind::MemberLeft, Some(user)) => {
            vec![event, Notice::Left { room_id, user_id: user.get(), last_event_id: id }]
        }
        _ => vec![event],
    }
}

impl Tail {
    pub fn new(hub: Arc<Hub>, db: Db) -> Arc<Self> {
        Arc::new(Self {
            hub,
            db,
            sequence: Mutex::default(),
            ring: Notify::new(),
            client: Mutex::default(),
            stats: TailStats::default(),
        })
    }

    /// A node's own commit, in commit order (from the writer thread).
    pub fn committed(&self, notices: Vec<Notice>) {
        let mut sequence = lock(&self.sequence);
        let (Some(applied), Some((first, last))) = (sequence.applied, span(&notices)) else {
            // Not anchored (nobody listens yet), or nothing stored: no order to keep.
            drop(sequence);
            self.hub.publish(notices);
            return;
        };
        self.stats.newest_seen.fetch_max(last, Ordering::Relaxed);
        if first == applied + 1 {
            self.hub.publish(notices);
            sequence.applied = Some(last);
            self.release(&mut sequence);
        } else if first <= applied {
            self.hub.publish(unlogged(notices));
            if last > applied {
                // The reader stopped inside this commit: it reads the rest.
                self.ring.notify_one();
            }
        } else {
            sequence.waiting.insert(first, (last, notices));
            self.ring.notify_one();
        }
        self.stats.applied.store(sequence.applied.unwrap_or(0), Ordering::Relaxed);
    }

    /// Publishes the waiting commits that now come next.
    fn release(&self, sequence: &mut Sequence) {
        while let Some(entry) = sequence.waiting.first_entry() {
            let applied = sequence.applied.unwrap_or(0);
            let first = *entry.key();
            if first > applied + 1 {
                break;
            }
            let (last, notices) = entry.remove();
            if first == applied + 1 {
                self.hub.publish(notices);
                sequence.applied = Some(last);
            } else {
                // Read from the log already.
                self.hub.publish(unlogged(notices));
            }
        }
    }

    /// Publishes events read from the log after `applied`, in id order.
    fn apply(&self, rows: &[EventRow], polled: bool) {
        let mut sequence = lock(&self.sequence);
        let Some(mut applied) = sequence.applied else { return };
        for row in rows {
            self.stats.newest_seen.fetch_max(row.id, Ordering::Relaxed);
            if row.id <= applied {
                continue;
            }
            if let Some((last, notices)) = sequence.waiting.remove(&row.id) {
                self.hub.publish(notices);
                applied = last;
            } else {
                self.hub.publish(from_row(row));
                applied = row.id;
                if polled {
                    self.stats.polled.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        sequence.applied = Some(applied);
        self.release(&mut sequence);
        self.stats.applied.store(applied, Ordering::Relaxed);
    }

    /// Starts publishing in order after the newest event committed so far: events before
    /// it have no live stream to reach. Call before serving.
    pub async fn anchor(&self) -> anyhow::Result<()> {
        let last = self.db.run(|conn| events::last_id(conn).map_err(anyhow::Error::from)).await?;
        let mut sequence = lock(&self.sequence);
        sequence.applied = Some(last);
        sequence.waiting.retain(|&first, _| first > last);
        self.stats.applied.store(last, Ordering::Relaxed);
        self.stats.newest_seen.fetch_max(last, Ordering::Relaxed);
        Ok(())
    }

    /// Spawns the reader and the listener (on the current tokio runtime).
    pub fn start(self: &Arc<Self>, database_url: String, on_notice: NoticeHandler) {
        let reader = self.clone();
        tokio::spawn(async move { reader.read_forever().await });
        let listener = self.clone();
        tokio::spawn(async move { listener.listen_forever(database_url, on_notice).await });
    }

    /// Reads when rung, and every `POLL_EVERY` without a ring.
    async fn read_forever(self: Arc<Self>) {
        loop {
            let polled = tokio::select! {
                _ = self.ring.notified() => false,
                _ = tokio::time::sleep(POLL_EVERY) => true,
            };
            if let Err(error) = self.read_log(polled).await {
                tracing::warn!(%error, "reading the event log failed; trying again");
                tokio::time::sleep(FIRST_BACKOFF).await;
                self.ring.notify_one();
            }
        }
    }

    /// Reads and publishes everything after `applied`, batch by batch.
    async fn read_log(&self, polled: bool) -> anyhow::Result<()> {
        loop {
            let Some(after) = lock(&self.sequence).applied else { return Ok(()) };
            self.stats.reads.fetch_add(1, Ordering::Relaxed);
            let rows =
                self.db.run_apart(move |conn| events::after(conn, after, BATCH).map_err(anyhow::Error::from)).await?;
            let full = rows.len() as i64 == BATCH;
            self.apply(&rows, polled);
            if !full {
                return Ok(());
            }
        }
    }

    async fn listen_forever(self: Arc<Self>, database_url: String, on_notice: NoticeHandler) {
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.listen(&database_url, &on_notice).await {
                Ok(()) => {
                    tracing::warn!("the cluster bus connection closed; reconnecting");
                    backoff = FIRST_BACKOFF;
                }
                Err(error) => tracing::warn!(%error, "the cluster bus connection failed; reconnecting"),
            }
            self.stats.listening.store(false, Ordering::Relaxed);
            *lock(&self.client) = None;
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One connection's life: `LISTEN`, read what committed meanwhile, then follow the
    /// rings until the connection ends.
    async fn listen(&self, database_url: &str, on_notice: &NoticeHandler) -> Result<(), tokio_postgres::Error> {
        let mut config: tokio_postgres::Config = database_url.parse()?;
        config
            .application_name(APPLICATION_NAME)
            .connect_timeout(Duration::from_secs(5))
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(30));
        let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
        let (heard, mut rings) = tokio::sync::mpsc::unbounded_channel();
        // The connection does its work (queries and notifications) only while polled.
        let driver = tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(n))) => {
                        if heard.send(n).is_err() {
                            return Ok(());
                        }
                    }
                    Some(Ok(_)) => {}
                    Some(Err(error)) => return Err(error),
                    None => return Ok(()),
                }
            }
        });
        let client = Arc::new(client);
        let listening = client.batch_execute(&format!("LISTEN {EVENTS_CHANNEL}; LISTEN {NOTICES_CHANNEL}")).await;
        if let Err(error) = listening {
            driver.abort();
            return Err(error);
        }
        *lock(&self.client) = Some(client);
        self.stats.listening.store(true, Ordering::Relaxed);
        tracing::info!("listening for the other nodes");
        // LISTEN first, then the catch-up read.
        self.ring.notify_one();
        while let Some(notification) = rings.recv().await {
            match notification.channel() {
                EVENTS_CHANNEL => {
                    self.stats.notifications.fetch_add(1, Ordering::Relaxed);
                    let id = notification.payload().parse::<i64>().unwrap_or(i64::MAX);
                    self.stats.newest_seen.fetch_max(id.min(i64::MAX - 1), Ordering::Relaxed);
                    if lock(&self.sequence).applied.is_none_or(|applied| id > applied) {
                        self.ring.notify_one();
                    }
                }
                NOTICES_CHANNEL => on_notice(notification.payload()),
                _ => {}
            }
        }
        match driver.await {
            Ok(result) => result,
            Err(_) => Ok(()),
        }
    }

    /// Sends a notice to every node, this one included (best effort: a notice is
    /// ephemeral; one sent while the bus reconnects is lost).
    pub async fn send(&self, payload: &str) {
        if payload.len() > MAX_NOTICE_BYTES {
            tracing::warn!(bytes = payload.len(), "a notice too long for the cluster bus was not sent");
            return;
        }
        let client = lock(&self.client).clone();
        if let Some(client) = client {
            if let Err(error) = client.execute("SELECT pg_notify($1, $2)", &[&NOTICES_CHANNEL, &payload]).await {
                tracing::debug!(%error, "a notice was not sent to the other nodes");
            }
        }
    }

    pub fn listening(&self) -> bool {
        self.stats.listening.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::hub::{Scope, StreamLimits};
    use crate::domain::RoomId;
    use crate::store::DatabaseUrl;

    fn event(id: i64) -> Notice {
        Notice::Event(Arc::new(Event::stored(id, 1, "new_message", "{}")))
    }

    fn row(id: i64) -> EventRow {
        EventRow {
            id,
            room_id: RoomId(1),
            kind: EventKind::NewMessage,
            payload: "{}".into(),
            target_user_id: None,
            created_at: 0,
            message_id: None,
        }
    }

    /// Local commits and rows read from the log, interleaved every way they can be: the
    /// room's channel sees each id once, in order.
    #[tokio::test]
    async fn local_commits_and_the_log_publish_each_id_once_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let hub = Hub::new(64, StreamLimits::NONE);
        let tail = Tail::new(hub.clone(), Db::connect(&url, 1).unwrap());
        tail.anchor().await.unwrap();
        let (_reg, _ctl) = hub.register(1, Scope::AllRooms, 0).unwrap();
        let mut rx = hub.subscribe(&[1]).pop().unwrap().1;
        tail.committed(vec![event(3), event(4)]); // 1 and 2 were committed elsewhere
        tail.committed(vec![event(1)]); // 1 goes out; 3-4 still wait for 2
        tail.apply(&[row(2), row(3), row(4), row(5)], true); // 2 and 5 from the log, 3-4 local
        tail.committed(vec![event(5)]); // read already: not again
        tail.apply(&[row(5), row(6)], false);
        tail.committed(vec![event(6), event(7)]); // the log had 6 only: 7 is read next
        assert_eq!(tail.stats.applied.load(Ordering::Relaxed), 6);
        tail.apply(&[row(7)], false);
        let mut ids = Vec::new();
        while let Ok(e) = rx.try_recv() {
            ids.push(e.id);
        }
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(tail.stats.polled.load(Ordering::Relaxed), 2, "2 and 5 were found by the poll");
        assert_eq!(tail.stats.lag(), 0);
    }
}
