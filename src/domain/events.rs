//! The events a stream carries: one enum of kinds with their wire names, and the typed
//! events that the use cases record.

use serde::Serialize;

use super::views::{MemberChanged, Message, MessageDeleted, ReactionChanged, ReadMarked, Room, Typing};
use super::{text_enum, MessageId, RoomId, UserId};

text_enum!(
    /// Every `event:` name a stream may carry, stored or not.
    EventKind, "event" {
        NewMessage => "new_message",
        MessageUpdated => "message_updated",
        MessageDeleted => "message_deleted",
        Read => "read",
        MemberJoined => "member_joined",
        MemberUpdated => "member_updated",
        MemberLeft => "member_left",
        RoomUpdated => "room_updated",
        Typing => "typing",
        MeUpdated => "me_updated",
        Reset => "reset",
        ReactionAdded => "reaction_added",
        ReactionRemoved => "reaction_removed",
        Presence => "presence",
    }
);

impl EventKind {
    /// The schema of the event's `data`, as the OpenAPI description names it.
    pub fn payload_schema(self) -> &'static str {
        match self {
            Self::NewMessage | Self::MessageUpdated => "Message",
            Self::MessageDeleted => "MessageDeleted",
            Self::Read => "ReadMarked",
            Self::MemberJoined | Self::MemberUpdated | Self::MemberLeft => "MemberChanged",
            Self::RoomUpdated => "Room",
            Self::Typing => "Typing",
            Self::MeUpdated => "User",
            Self::Reset => "{}",
            Self::ReactionAdded | Self::ReactionRemoved => "ReactionChanged",
            Self::Presence => "PresenceChanged",
        }
    }

    /// Whether the event has a place in the log (an `id:`), so that a stream resumes
    /// after it.
    pub fn is_stored(self) -> bool {
        !matches!(self, Self::Typing | Self::MeUpdated | Self::Reset | Self::Presence)
    }
}

/// A change a room's members must see, recorded in the event log in the transaction that
/// makes it.
#[derive(Debug, Clone)]
pub enum RoomEvent {
    NewMessage(Message),
    MessageUpdated(Message),
    MessageDeleted(MessageDeleted),
    Read(ReadMarked),
    MemberJoined(MemberChanged),
    MemberUpdated(MemberChanged),
    MemberLeft(MemberChanged),
    RoomUpdated(Room),
    ReactionAdded(ReactionChanged),
    ReactionRemoved(ReactionChanged),
}

impl RoomEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::NewMessage(_) => EventKind::NewMessage,
            Self::MessageUpdated(_) => EventKind::MessageUpdated,
            Self::MessageDeleted(_) => EventKind::MessageDeleted,
            Self::Read(_) => EventKind::Read,
            Self::MemberJoined(_) => EventKind::MemberJoined,
            Self::MemberUpdated(_) => EventKind::MemberUpdated,
            Self::MemberLeft(_) => EventKind::MemberLeft,
            Self::RoomUpdated(_) => EventKind::RoomUpdated,
            Self::ReactionAdded(_) => EventKind::ReactionAdded,
            Self::ReactionRemoved(_) => EventKind::ReactionRemoved,
        }
    }

    pub fn room_id(&self) -> RoomId {
        match self {
            Self::NewMessage(m) | Self::MessageUpdated(m) => m.room_id,
            Self::MessageDeleted(d) => d.room_id,
            Self::Read(r) => r.room_id,
            Self::MemberJoined(c) | Self::MemberUpdated(c) | Self::MemberLeft(c) => c.room_id,
            Self::RoomUpdated(r) => r.id,
            Self::ReactionAdded(r) | Self::ReactionRemoved(r) => r.room_id,
        }
    }

    /// The user the event is also addressed to beyond the room's members: whoever joined or
    /// left, so that their own stream hears it although they are not (or no longer) a member.
    pub fn addressee(&self) -> Option<UserId> {
        match self {
            Self::MemberJoined(c) | Self::MemberLeft(c) => Some(c.member.user_id),
            _ => None,
        }
    }

    /// The message the event shows, whose text it carries (its own, or the room's last), or
    /// the message a reaction is on: deleting it removes those from the log.
    pub fn message_id(&self) -> Option<MessageId> {
        match self {
            Self::NewMessage(m) | Self::MessageUpdated(m) => Some(m.id),
            Self::ReactionAdded(r) | Self::ReactionRemoved(r) => Some(r.message_id),
            Self::RoomUpdated(r) => r.last_message.as_ref().map(|m| m.id),
            _ => None,
        }
    }

    /// The event's `data`, as JSON.
    pub fn payload(&self) -> serde_json::Result<String> {
        fn json(value: &impl Serialize) -> serde_json::Result<String> {
            serde_json::to_string(value)
        }
        match self {
            Self::NewMessage(m) | Self::MessageUpdated(m) => json(m),
            Self::MessageDeleted(d) => json(d),
            Self::Read(r) => json(r),
            Self::MemberJoined(c) | Self::MemberUpdated(c) | Self::MemberLeft(c) => json(c),
            Self::RoomUpdated(r) => json(r),
            Self::ReactionAdded(r) | Self::ReactionRemoved(r) => json(r),
        }
    }
}

/// A notice that is sent and forgotten: never stored, never replayed.
#[derive(Debug, Clone)]
pub enum PassingEvent {
    Typing(Typing),
}

impl PassingEvent {
    pub fn kind(&self) -> EventKind {
        match self {
            Self::Typing(_) => EventKind::Typing,
        }
    }

    pub fn room_id(&self) -> RoomId {
        match self {
            Self::Typing(t) => t.room_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_typing_me_updated_reset_and_presence_stay_out_of_the_log() {
        let passing: Vec<_> = EventKind::ALL.iter().filter(|k| !k.is_stored()).collect();
        assert_eq!(passing, [&EventKind::Typing, &EventKind::MeUpdated, &EventKind::Reset, &EventKind::Presence]);
    }

    /// The web client listens for every kind by name (`addEventListener`), so its list must
    /// be the server's.
    #[test]
    fn the_web_client_listens_for_every_event_kind() {
        let source = include_str!("../../web/js/stream.js");
        let start = source.find("const EVENTS = [").expect("stream.js keeps its EVENTS list");
        let end = start + source[start..].find("];").expect("the list ends");
        let listed: Vec<&str> = source[start..end].split('\'').skip(1).step_by(2).collect();
        let kinds: Vec<&str> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(listed, kinds);
    }
}
