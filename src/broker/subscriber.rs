//! One open stream: merges its rooms' channels into one strictly ascending sequence of
//! events, catches up from the database when it resumes or lags, and keeps the
//! connection alive with pings.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::future::select_all;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::Instant;

use super::hub::{Control, ControlReceiver, Registration, RoomReceiver, Scope};
use super::{sse, Event, Hub};

/// Events read back from the log: their frames, the last id, and whether more follow.
pub struct CatchUpBatch {
    pub frames: Vec<Bytes>,
    pub last_id: Option<i64>,
    pub more: bool,
    /// The stream may no longer see what it asked for (removed from its room).
    pub revoked: bool,
}

/// What a catch-up reads: the events after `after` that the user may see, of one room or of
/// all of theirs.
#[derive(Debug, Clone, Copy)]
pub struct CatchUpFrom {
    pub user_id: i64,
    pub room_id: Option<i64>,
    pub after: i64,
}

/// Reads the events a catch-up asks for. One is shared by every stream of the server.
pub type CatchUp =
    Arc<dyn Fn(CatchUpFrom) -> Pin<Box<dyn Future<Output = Result<CatchUpBatch, ()>> + Send>> + Send + Sync>;

/// A stream that catches up this many times within `LAG_WINDOW` cannot keep up: it is
/// ended and the client resumes by id.
const MAX_CATCH_UPS: u32 = 5;
const LAG_WINDOW: Duration = Duration::from_secs(60);
/// Bounds one round of draining the channels under a constant stream of events.
const MAX_PASSES: usize = 32;

pub struct Subscriber {
    hub: Arc<Hub>,
    registration: Registration,
    rooms: Vec<(i64, RoomReceiver)>,
    control: ControlReceiver,
    catch_up: CatchUp,
    /// The last stored event id written to the stream.
    last_sent: i64,
    /// Received but not yet safe to write: an earlier event may still be in flight.
    pending: Vec<Arc<Event>>,
    /// Bytes ready to be written (the opening `retry:` line, a `reset`).
    ready: Option<Bytes>,
    needs_catch_up: bool,
    /// Pending events up to this id are complete (see `drain`).
    complete_through: i64,
    catch_ups: Vec<Instant>,
    /// A ping is due (a whole keep-alive interval passed without a write).
    ping: bool,
    closed: bool,
    /// Write what is complete, then end (the stream's only room was left).
    ending: bool,
}

impl Subscriber {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hub: Arc<Hub>,
        registration: Registration,
        control: ControlReceiver,
        rooms: Vec<(i64, RoomReceiver)>,
        catch_up: CatchUp,
        opening: Bytes,
        resume_after: Option<i64>,
    ) -> Self {
        Self {
            hub,
            registration,
            rooms,
            control,
            catch_up,
            last_sent: resume_after.unwrap_or(0),
            pending: Vec::new(),
            ready: Some(opening),
            needs_catch_up: resume_after.is_some(),
            complete_through: 0,
            catch_ups: Vec::new(),
            ping: false,
            closed: false,
            ending: false,
        }
    }

    /// Turns the subscriber into the response body.
    pub fn into_stream(self) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> {
        futures_util::stream::unfold(self, |mut sub| async move {
            let chunk = sub.next_chunk().await?;
            Some((Ok(chunk), sub))
        })
    }

    /// The next bytes to write, or `None` when the stream ends.
    pub async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            if self.closed {
                return None;
            }
            if let Some(bytes) = self.ready.take() {
                return Some(self.sent(bytes));
            }
            if std::mem::take(&mut self.ping) {
                return Some(self.sent(sse::ping()));
            }
            if self.needs_catch_up {
                // Boxed: catching up is rare, and its state would otherwise be carried by
                // every waiting stream.
                match Box::pin(self.run_catch_up()).await {
                    Some(bytes) if bytes.is_empty() => continue,
                    Some(bytes) => return Some(self.sent(bytes)),
                    None => return None,
                }
            }
            if let Some(bytes) = self.take_emittable() {
                return Some(self.sent(bytes));
            }
            if self.ending {
                return None;
            }
            self.wait().await;
            self.drain();
        }
    }

    fn sent(&mut self, bytes: Bytes) -> Bytes {
        self.control.wrote();
        bytes
    }

    /// Waits for a control message (a room added or removed, a keep-alive tick, the end)
    /// or an event.
    async fn wait(&mut self) {
        let Self { rooms, control, .. } = self;
        let any_room = async {
            match rooms.len() {
                0 => std::future::pending().await,
                1 => (0, rooms[0].1.recv().await),
                _ => {
                    let (result, index, rest) = select_all(rooms.iter_mut().map(|(_, rx)| Box::pin(rx.recv()))).await;
                    drop(rest);
                    (index, result)
                }
            }
        };
        tokio::select! {
            biased;
            message = control.recv() => self.apply(message),
            (index, result) = any_room => self.received(index, result),
        }
    }

    fn received(&mut self, index: usize, result: Result<Arc<Event>, RecvError>) {
        match result {
            Ok(event) => self.pending.push(event),
            Err(RecvError::Lagged(_)) => self.lagged(),
            // The channel went away: only when the hub dropped it, which it does not while
            // we hold a receiver; forget the room.
            Err(RecvError::Closed) => {
                self.rooms.swap_remove(index);
            }
        }
    }

    fn take_queued(&mut self, room_id: i64) {
        let mut lagged = false;
        if let Some((_, rx)) = self.rooms.iter_mut().find(|(r, _)| *r == room_id) {
            loop {
                match rx.try_recv() {
                    Ok(event) => self.pending.push(event),
                    Err(TryRecvError::Lagged(_)) => lagged = true,
                    Err(_) => break,
                }
            }
        }
        if lagged {
            self.lagged();
        }
    }

    fn lagged(&mut self) {
        self.hub.stats.lagged.fetch_add(1, Ordering::Relaxed);
        self.needs_catch_up = true;
    }

    fn apply(&mut self, message: Control) {
        match message {
            Control::Add(room_id, receiver) => {
                if !self.rooms.iter().any(|(r, _)| *r == room_id) {
                    self.rooms.push((room_id, receiver));
                }
            }
            Control::Remove { room_id, last_event_id } => {
                // What the room published before the removal is still queued: keep it.
                self.take_queued(room_id);
                if self.registration.scope == Scope::Room(room_id) {
                    // Keep what was published up to the removal, then end.
                    self.pending.retain(|e| e.room_id != room_id || e.id <= last_event_id);
                    self.rooms.clear();
                    self.complete_through = i64::MAX;
                    self.ending = true;
                    return;
                }
                self.rooms.retain(|(r, _)| *r != room_id);
                self.pending.retain(|e| e.room_id != room_id || e.id <= last_event_id);
                self.hub.release([room_id]);
            }
            Control::Close => self.closed = true,
            Control::Ping => self.ping = true,
            Control::Passing(event) => self.pending.push(event),
        }
    }

    /// Collects whatever is already queued, in passes, until a whole pass finds nothing.
    /// An event seen in one pass was published after every smaller id, so the next full
    /// pass sees those: everything up to the largest id known before the last pass is
    /// complete and may be written in id order.
    fn drain(&mut self) {
        let mut passes = 0;
        loop {
            let known = self.pending.iter().map(|e| e.id).max().unwrap_or(0);
            let mut found = false;
            while let Some(message) = self.control.try_recv() {
                self.apply(message);
                found = true;
            }
            let mut lagged = false;
            for (_, rx) in self.rooms.iter_mut() {
                loop {
                    match rx.try_recv() {
                        Ok(event) => {
                            self.pending.push(event);
                            found = true;
                        }
                        Err(TryRecvError::Lagged(_)) => lagged = true,
                        Err(TryRecvError::Empty) | Err(TryRecvError::Closed) => break,
                    }
                }
            }
            if lagged {
                self.lagged();
            }
            passes += 1;
            if !found {
                self.complete_through = i64::MAX;
                return;
            }
            if passes >= MAX_PASSES {
                self.complete_through = known;
                return;
            }
        }
    }

    /// Frames of the pending events that are complete, in id order, as one chunk:
    /// several ready events go out in one write.
    fn take_emittable(&mut self) -> Option<Bytes> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending.sort_by_key(|e| e.order());
        let through = self.complete_through;
        let mut chunk: Option<Bytes> = None;
        let mut joined: Option<BytesMut> = None;
        let mut delivered = 0;
        let last_sent = &mut self.last_sent;
        self.pending.retain(|event| {
            if event.follows > through {
                return true;
            }
            if event.id != 0 {
                if event.id <= *last_sent {
                    return false; // already written (from the catch-up)
                }
                *last_sent = event.id;
            }
            delivered += 1;
            match (&mut joined, chunk.take()) {
                (Some(buf), _) => buf.extend_from_slice(&event.frame),
                (None, None) => chunk = Some(event.frame.clone()),
                (None, Some(first)) => {
                    let mut buf = BytesMut::with_capacity(first.len() + event.frame.len() * 2);
                    buf.extend_from_slice(&first);
                    buf.extend_from_slice(&event.frame);
                    joined = Some(buf);
                }
            }
            false
        });
        self.hub.stats.delivered.fetch_add(delivered, Ordering::Relaxed);
        joined.map(BytesMut::freeze).or(chunk)
    }

    /// Reads one batch of missed events from the log. `None` ends the stream: the
    /// subscriber cannot keep up, or may no longer see its room.
    async fn run_catch_up(&mut self) -> Option<Bytes> {
        let now = Instant::now();
        self.catch_ups.retain(|t| now.duration_since(*t) < LAG_WINDOW);
        self.catch_ups.push(now);
        if self.catch_ups.len() as u32 > MAX_CATCH_UPS {
            self.hub.stats.dropped_slow.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.hub.stats.catch_ups.fetch_add(1, Ordering::Relaxed);
        let from = CatchUpFrom {
            user_id: self.registration.user_id(),
            room_id: match self.registration.scope {
                Scope::Room(room_id) => Some(room_id),
                Scope::AllRooms => None,
            },
            after: self.last_sent,
        };
        let batch = (self.catch_up)(from).await.ok()?;
        if batch.revoked {
            return None;
        }
        if batch.more {
            // A long replay is not lag: do not count its batches against the stream.
            self.catch_ups.pop();
        } else {
            self.needs_catch_up = false;
        }
        if let Some(last) = batch.last_id {
            self.last_sent = self.last_sent.max(last);
        }
        self.hub.stats.delivered.fetch_add(batch.frames.len() as u64, Ordering::Relaxed);
        Some(match batch.frames.len() {
            0 => Bytes::new(),
            1 => batch.frames.into_iter().next().unwrap_or_default(),
            _ => batch.frames.concat().into(),
        })
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        // A stream that ends while behind (a client that stalled and was dropped as gone)
        // fell behind its channel as much as one that went on to catch up.
        if self.rooms.iter().any(|(_, rx)| self.hub.overflowed(rx)) {
            self.hub.stats.lagged.fetch_add(1, Ordering::Relaxed);
        }
        let rooms: Vec<i64> = self.rooms.drain(..).map(|(room_id, _)| room_id).collect();
        self.hub.release(rooms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::hub::TICKS_PER_PING;
    use crate::broker::Notice;

    /// An all-rooms stream of user 1 over `rooms`, new (not resuming); catching up fails.
    fn all_rooms_stream(hub: &Arc<Hub>, rooms: &[i64], opening: &'static [u8]) -> Subscriber {
        let (registration, control) = hub.register(1, Scope::AllRooms, 0).unwrap();
        let catch_up: CatchUp = Arc::new(|_: CatchUpFrom| Box::pin(async { Err(()) }));
        let rooms = hub.subscribe(rooms);
        Subscriber::new(hub.clone(), registration, control, rooms, catch_up, Bytes::from_static(opening), None)
    }

    fn stored(id: i64, room_id: i64) -> Notice {
        Notice::Event(Arc::new(Event::stored(id, room_id, "new_message", &format!("{{\"n\":{id}}}"))))
    }

    #[tokio::test]
    async fn an_ephemeral_event_keeps_its_place_among_events_that_wait_together() {
        let hub = Hub::new(16, crate::broker::StreamLimits::NONE);
        let mut subscriber = all_rooms_stream(&hub, &[1, 2], b"retry: 3000\n\n");
        assert_eq!(subscriber.next_chunk().await.unwrap(), "retry: 3000\n\n");
        // All published before the stream wakes: it finds them together.
        hub.publish(vec![stored(5, 1)]);
        hub.publish_ephemeral(Event::ephemeral(2, "typing", &serde_json::json!({"room_id": 2})));
        hub.publish(vec![stored(6, 1)]);
        hub.publish_ephemeral(Event::ephemeral(1, "typing", &serde_json::json!({"room_id": 1})));
        let chunk = subscriber.next_chunk().await.unwrap();
        let text = std::str::from_utf8(&chunk).unwrap();
        let events: Vec<&str> = text.split("\n\n").filter(|b| !b.is_empty()).collect();
        assert_eq!(events.len(), 4, "{text}");
        assert!(events[0].starts_with("id: 5\n"), "{text}");
        assert!(events[1].starts_with("event: typing\n") && events[1].contains("\"room_id\":2"), "{text}");
        assert!(events[2].starts_with("id: 6\n"), "{text}");
        assert!(events[3].starts_with("event: typing\n") && events[3].contains("\"room_id\":1"), "{text}");
    }

    #[tokio::test]
    async fn a_stream_that_ends_behind_its_channel_counts_as_lagged() {
        let hub = Hub::new(2, crate::broker::StreamLimits::NONE);
        let lagged = || hub.stats.lagged.load(Ordering::Relaxed);
        let mut kept_up = all_rooms_stream(&hub, &[1], b"retry: 1\n\n");
        let behind = all_rooms_stream(&hub, &[1], b"retry: 1\n\n");
        hub.publish(vec![stored(1, 1)]);
        hub.publish(vec![stored(2, 1)]);
        assert_eq!(kept_up.next_chunk().await.unwrap(), "retry: 1\n\n");
        assert!(kept_up.next_chunk().await.unwrap().starts_with(b"id: 1\n"));
        // Two events fit the channel: neither stream is behind it yet.
        drop(kept_up);
        assert_eq!(lagged(), 0);
        let mut caught = all_rooms_stream(&hub, &[1], b"retry: 1\n\n");
        hub.publish(vec![stored(3, 1)]);
        drop(behind);
        assert_eq!(lagged(), 1, "ended three events behind a channel of two");
        // One that saw its overflow counted it then, not again when it ends.
        hub.publish(vec![stored(4, 1)]);
        hub.publish(vec![stored(5, 1)]);
        assert_eq!(caught.next_chunk().await.unwrap(), "retry: 1\n\n");
        let _ = tokio::time::timeout(Duration::from_millis(50), caught.next_chunk()).await;
        assert_eq!(lagged(), 2);
        drop(caught);
        assert_eq!(lagged(), 2);
    }

    #[tokio::test]
    async fn a_stream_pings_once_it_was_quiet_for_a_whole_interval() {
        let hub = Hub::new(16, crate::broker::StreamLimits::NONE);
        let mut subscriber = all_rooms_stream(&hub, &[1], b"retry: 1\n\n");
        let quiet = Duration::from_millis(50);
        let ticks = |n: u8| (0..n).for_each(|_| hub.tick());
        assert_eq!(subscriber.next_chunk().await.unwrap(), "retry: 1\n\n");
        // The opening was a write: a ping only after a whole interval of ticks.
        ticks(TICKS_PER_PING - 1);
        assert!(tokio::time::timeout(quiet, subscriber.next_chunk()).await.is_err());
        ticks(1);
        assert_eq!(subscriber.next_chunk().await.unwrap(), ": ping\n\n");
        ticks(TICKS_PER_PING);
        assert_eq!(subscriber.next_chunk().await.unwrap(), ": ping\n\n", "an idle stream pings every interval");
        ticks(TICKS_PER_PING - 1);
        hub.publish(vec![stored(7, 1)]);
        assert!(subscriber.next_chunk().await.unwrap().starts_with(b"id: 7\n"));
        ticks(TICKS_PER_PING - 1);
        assert!(tokio::time::timeout(quiet, subscriber.next_chunk()).await.is_err(), "an event was written");
        ticks(1);
        assert_eq!(subscriber.next_chunk().await.unwrap(), ": ping\n\n");
    }
}
