//! Read marks. A member's mark (`last_read_message_id`, `last_read_at`) drives unread
//! counts; `chat_message_reads` keeps one row per mark, from which "seen by" is derived.

use diesel::dsl::min;
use diesel::prelude::*;

use super::models::MemberRow;
use super::schema::{chat_message_reads, chat_room_members};
use super::{DbConn, QueryResult};
use crate::domain::{MessageId, RoomId, UserId};

/// Moves the member's mark forward to `message_id`. False when the mark was already
/// there or further (marking an older message changes nothing).
pub fn mark(conn: &mut DbConn, member: &MemberRow, message_id: MessageId, now: i64) -> QueryResult<bool> {
    let moved = diesel::update(chat_room_members::table.find(member.id))
        .filter(chat_room_members::last_read_message_id.lt(message_id))
        .set((chat_room_members::last_read_message_id.eq(message_id), chat_room_members::last_read_at.eq(now)))
        .execute(conn)?;
    if moved == 0 {
        return Ok(false);
    }
    diesel::insert_into(chat_message_reads::table)
        .values((
            chat_message_reads::room_id.eq(member.room_id),
            chat_message_reads::user_id.eq(member.user_id),
            chat_message_reads::message_id.eq(message_id),
            chat_message_reads::read_at.eq(now),
        ))
        .execute(conn)?;
    Ok(true)
}

/// Who has seen a message, with when: every current member (but its sender) whose mark
/// reached it, timed by their first mark at or past it.
pub fn first_reads(
    conn: &mut DbConn,
    room_id: RoomId,
    message_id: MessageId,
    sender_id: UserId,
) -> QueryResult<Vec<(UserId, i64)>> {
    let members =
        chat_room_members::table.filter(chat_room_members::room_id.eq(room_id)).select(chat_room_members::user_id);
    let rows: Vec<(UserId, Option<i64>)> = chat_message_reads::table
        .filter(chat_message_reads::room_id.eq(room_id))
        .filter(chat_message_reads::message_id.ge(message_id))
        .filter(chat_message_reads::user_id.ne(sender_id))
        .filter(chat_message_reads::user_id.eq_any(members))
        .group_by(chat_message_reads::user_id)
        .select((chat_message_reads::user_id, min(chat_message_reads::read_at)))
        .load(conn)?;
    Ok(rows.into_iter().filter_map(|(user_id, read_at)| Some((user_id, read_at?))).collect())
}
