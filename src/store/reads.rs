//! Read marks. A member's mark (`last_read_message_id`, `last_read_at`) drives unread
//! counts; `chat_message_reads` keeps one row per mark, from which "seen by" is derived.

use diesel::backend::Backend;
use diesel::dsl::{max, min};
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::BigInt;

use super::models::MemberRow;
use super::schema::{chat_message_reads, chat_messages, chat_room_members};
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

/// The sender's mark moves to the message they just sent: whoever writes has read the
/// room up to there. One update that finds the member by its (room, user) key, and the
/// mark's row when it moved.
pub fn mark_sent(
    conn: &mut DbConn,
    room_id: RoomId,
    user_id: UserId,
    message_id: MessageId,
    now: i64,
) -> QueryResult<()> {
    let mark = MoveSentMark { room_id: room_id.get(), user_id: user_id.get(), message_id: message_id.get(), now };
    let moved = per_backend!(conn, |c| mark.execute(c))?;
    if moved > 0 {
        per_backend!(conn, |c| diesel::insert_into(chat_message_reads::table)
            .values((
                chat_message_reads::room_id.eq(room_id),
                chat_message_reads::user_id.eq(user_id),
                chat_message_reads::message_id.eq(message_id),
                chat_message_reads::read_at.eq(now),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// The update of `mark_sent`, written out: diesel keeps no `UPDATE` prepared (a change set
/// may leave out its `None` fields, so its text may vary), and this one runs on every
/// message. Its text never changes, so it is prepared once per connection.
struct MoveSentMark {
    room_id: i64,
    user_id: i64,
    message_id: i64,
    now: i64,
}

impl QueryId for MoveSentMark {
    type QueryId = Self;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB: Backend> QueryFragment<DB> for MoveSentMark
where
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE chat_room_members SET last_read_message_id = ");
        out.push_bind_param::<BigInt, _>(&self.message_id)?;
        out.push_sql(", last_read_at = ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" WHERE room_id = ");
        out.push_bind_param::<BigInt, _>(&self.room_id)?;
        out.push_sql(" AND user_id = ");
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(" AND last_read_message_id < ");
        out.push_bind_param::<BigInt, _>(&self.message_id)?;
        Ok(())
    }
}

impl<Conn> RunQueryDsl<Conn> for MoveSentMark {}

/// A newcomer's mark starts at the room's newest message: history from before they
/// joined is there to read, but is not unread. No receipt row: they have not seen it.
pub fn start_at_newest(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<()> {
    let newest: Option<i64> =
        chat_messages::table.filter(chat_messages::room_id.eq(room_id)).select(max(chat_messages::id)).first(conn)?;
    if let Some(newest) = newest {
        diesel::update(
            chat_room_members::table
                .filter(chat_room_members::room_id.eq(room_id))
                .filter(chat_room_members::user_id.eq(user_id)),
        )
        .set(chat_room_members::last_read_message_id.eq(MessageId(newest)))
        .execute(conn)?;
    }
    Ok(())
}
