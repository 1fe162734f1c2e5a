//! Pinned messages: at most one pin per message.

use diesel::prelude::*;

use super::schema::chat_pins;
use super::{DbConn, QueryResult};
use crate::domain::{MessageId, RoomId, UserId};

/// Pins the message unless it is pinned; true when it was pinned now.
pub fn pin(conn: &mut DbConn, message_id: MessageId, room_id: RoomId, by: UserId, now: i64) -> QueryResult<bool> {
    let row = (
        chat_pins::message_id.eq(message_id),
        chat_pins::room_id.eq(room_id),
        chat_pins::pinned_by_id.eq(by),
        chat_pins::pinned_at.eq(now),
    );
    let added =
        per_backend!(conn, |c| diesel::insert_into(chat_pins::table).values(row).on_conflict_do_nothing().execute(c))?;
    Ok(added > 0)
}

/// Unpins the message; true when it was pinned.
pub fn unpin(conn: &mut DbConn, message_id: MessageId) -> QueryResult<bool> {
    Ok(diesel::delete(chat_pins::table.find(message_id)).execute(conn)? > 0)
}

/// The pins of these messages: `(message, pinned_by, pinned_at)`.
pub fn for_messages(conn: &mut DbConn, ids: &[MessageId]) -> QueryResult<Vec<(MessageId, UserId, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    chat_pins::table
        .filter(chat_pins::message_id.eq_any(ids))
        .select((chat_pins::message_id, chat_pins::pinned_by_id, chat_pins::pinned_at))
        .load(conn)
}

/// A room's pinned messages, most recently pinned first, at most `limit`.
pub fn of_room(conn: &mut DbConn, room_id: RoomId, limit: i64) -> QueryResult<Vec<MessageId>> {
    chat_pins::table
        .filter(chat_pins::room_id.eq(room_id))
        .order((chat_pins::pinned_at.desc(), chat_pins::message_id.desc()))
        .limit(limit)
        .select(chat_pins::message_id)
        .load(conn)
}
