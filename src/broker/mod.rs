//! Real-time delivery: the per-room broadcast hub, SSE framing and the subscriber loop.
//!
//! An event is committed with its row in `chat_events`, framed once as SSE bytes, and
//! published on its room's `tokio::sync::broadcast` channel by the writer thread before the
//! next transaction starts, so channels see events in id order. A per-user control channel carries what
//! concerns one user rather than one room: added to a room, removed, account disabled.

pub mod hub;
pub mod presence;
pub mod sse;
pub mod subscriber;
pub mod tail;

use bytes::Bytes;
use serde::Serialize;

pub use hub::{Full, Hub, PresenceRooms, Scope, StreamLimits};
pub use presence::Presence;
pub use subscriber::{CatchUp, CatchUpBatch, CatchUpFrom, Subscriber};

/// One event as it travels to subscribers. `id == 0` marks an ephemeral event (typing),
/// which has no place in the log and is never replayed.
#[derive(Debug)]
pub struct Event {
    pub id: i64,
    pub room_id: i64,
    /// Where the event stands in a stream's id order: its own id when stored; an ephemeral
    /// event follows the last stored event published before it (set by the hub).
    pub follows: i64,
    pub frame: Bytes,
}

impl Event {
    pub fn stored(id: i64, room_id: i64, kind: &str, payload: &str) -> Self {
        Self { id, room_id, follows: id, frame: sse::frame(Some(id), kind, payload) }
    }

    pub fn ephemeral(room_id: i64, kind: &str, data: &impl Serialize) -> Self {
        let payload = serde_json::to_string(data).unwrap_or_else(|_| "{}".into());
        Self { id: 0, room_id, follows: 0, frame: sse::frame(None, kind, &payload) }
    }

    /// The key that puts a stream's pending events in order: by id, each ephemeral event
    /// right after the stored one it follows.
    pub fn order(&self) -> (i64, bool) {
        (self.follows, self.id == 0)
    }
}

/// What a transaction wants the hub to do once it has committed, in order.
#[derive(Debug)]
pub enum Notice {
    Event(std::sync::Arc<Event>),
    /// The user's open all-rooms streams start carrying the room (before its next event).
    Joined {
        room_id: i64,
        user_id: i64,
    },
    /// The user's streams stop carrying the room after `last_event_id`.
    Left {
        room_id: i64,
        user_id: i64,
        last_event_id: i64,
    },
    /// The user's streams end: all of them (the account disabled, its right to read taken
    /// away), or all but those opened with `keep` (every other sign-in ended).
    StreamsEnd {
        user_id: i64,
        keep: Option<u64>,
    },
    /// The streams opened with one credential end (a logout, a revoked token).
    CredentialEnds {
        user_id: i64,
        credential: u64,
    },
    /// A framed event for the user's own open streams, whatever their rooms (their account
    /// changed); never stored, like `typing`.
    ToUser {
        user_id: i64,
        event: Event,
    },
}

/// Collects the notices of one transaction; published only after commit.
#[derive(Debug, Default)]
pub struct Outbox {
    notices: Vec<Notice>,
}

impl Outbox {
    pub fn push(&mut self, notice: Notice) {
        self.notices.push(notice);
    }

    pub fn is_empty(&self) -> bool {
        self.notices.is_empty()
    }

    pub fn take(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }
}
