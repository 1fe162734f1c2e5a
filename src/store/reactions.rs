//! Reactions: one row per (message, user, emoji).

use diesel::prelude::*;

use super::schema::{chat_events, chat_reactions};
use super::{DbConn, QueryResult};
use crate::domain::{EventKind, MessageId, RoomId, UserId};

/// Adds the reaction unless it is there; true when it was added.
pub fn add(
    conn: &mut DbConn,
    message_id: MessageId,
    room_id: RoomId,
    user_id: UserId,
    emoji: &str,
    now: i64,
) -> QueryResult<bool> {
    let row = (
        chat_reactions::message_id.eq(message_id),
        chat_reactions::room_id.eq(room_id),
        chat_reactions::user_id.eq(user_id),
        chat_reactions::emoji.eq(emoji),
        chat_reactions::created_at.eq(now),
    );
    let added = per_backend!(conn, |c| diesel::insert_into(chat_reactions::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    Ok(added > 0)
}

/// Removes the reaction; true when there was one.
pub fn remove(conn: &mut DbConn, message_id: MessageId, user_id: UserId, emoji: &str) -> QueryResult<bool> {
    let removed = diesel::delete(
        chat_reactions::table
            .filter(chat_reactions::message_id.eq(message_id))
            .filter(chat_reactions::user_id.eq(user_id))
            .filter(chat_reactions::emoji.eq(emoji)),
    )
    .execute(conn)?;
    Ok(removed > 0)
}

/// The distinct emoji on a message.
pub fn emoji_of(conn: &mut DbConn, message_id: MessageId) -> QueryResult<Vec<String>> {
    chat_reactions::table
        .filter(chat_reactions::message_id.eq(message_id))
        .select(chat_reactions::emoji)
        .distinct()
        .load(conn)
}

/// Every reaction on these messages, `(message, emoji, user)`, in the order they were made:
/// one query for a whole page.
pub fn for_messages(conn: &mut DbConn, ids: &[MessageId]) -> QueryResult<Vec<(MessageId, String, UserId)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    chat_reactions::table
        .filter(chat_reactions::message_id.eq_any(ids))
        .order(chat_reactions::id.asc())
        .select((chat_reactions::message_id, chat_reactions::emoji, chat_reactions::user_id))
        .load(conn)
}

/// Removes a message's reactions and their events from the log (the message was deleted).
pub fn clear(conn: &mut DbConn, message_id: MessageId) -> QueryResult<()> {
    diesel::delete(chat_reactions::table.filter(chat_reactions::message_id.eq(message_id))).execute(conn)?;
    diesel::delete(
        chat_events::table
            .filter(chat_events::message_id.eq(message_id))
            .filter(chat_events::kind.eq_any([EventKind::ReactionAdded, EventKind::ReactionRemoved])),
    )
    .execute(conn)?;
    Ok(())
}
