//! Messages: insert, page, edit, soft delete; the newest of each room; unread counts.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::models::{MessageRow, NewMessage};
use super::schema::{chat_mentions, chat_messages, chat_room_members};
use super::{DbConn, QueryResult};
use crate::domain::{MessageId, MessageType, RoomId, UserId};

/// Inserts a message with the HTML it shows and whether it mentions the whole room. On
/// SQLite the row is built from what was inserted and its new id, rather than read back
/// with `RETURNING`, which SQLite runs through a temporary table on every message; every
/// column is bound, so the statement keeps one text and stays prepared.
pub fn insert(conn: &mut DbConn, new: &NewMessage<'_>, html: &str, mentions_room: bool) -> QueryResult<MessageRow> {
    match conn {
        DbConn::Sqlite(c) => {
            diesel::insert_into(chat_messages::table)
                .values((
                    chat_messages::room_id.eq(new.room_id),
                    chat_messages::sender_id.eq(new.sender_id),
                    chat_messages::content.eq(new.content),
                    chat_messages::message_type.eq(new.message_type),
                    chat_messages::reply_to_id.eq(new.reply_to_id),
                    chat_messages::created_at.eq(new.created_at),
                    chat_messages::content_html.eq(html),
                    chat_messages::mentions_room.eq(mentions_room),
                ))
                .execute(c)?;
            Ok(inserted_row(new, MessageId(super::sqlite_inserted_id(c)?), html, mentions_room))
        }
        DbConn::Pg(c) => diesel::insert_into(chat_messages::table)
            .values((new, chat_messages::content_html.eq(html), chat_messages::mentions_room.eq(mentions_room)))
            .returning(chat_messages::all_columns)
            .get_result(c),
    }
}

/// The row of a message just inserted under `id`: what was written, and the columns'
/// defaults for a new message.
fn inserted_row(new: &NewMessage<'_>, id: MessageId, html: &str, mentions_room: bool) -> MessageRow {
    MessageRow {
        id,
        room_id: new.room_id,
        sender_id: new.sender_id,
        content: new.content.to_owned(),
        message_type: new.message_type,
        reply_to_id: new.reply_to_id,
        is_edited: false,
        is_deleted: false,
        created_at: new.created_at,
        edited_at: None,
        content_html: Some(html.to_owned()),
        mentions_room,
    }
}

/// Inserts a message as `insert` does and, when `mark_read`, moves its sender's read mark
/// to it as `reads::mark_sent` does: on PostgreSQL in one statement, a round trip less
/// on the path of every message.
pub fn insert_sent(
    conn: &mut DbConn,
    new: &NewMessage<'_>,
    html: &str,
    mentions_room: bool,
    mark_read: bool,
) -> QueryResult<MessageRow> {
    let c = match conn {
        DbConn::Pg(c) if mark_read => c,
        _ => {
            let row = insert(conn, new, html, mentions_room)?;
            if mark_read {
                super::reads::mark_sent(conn, row.room_id, row.sender_id, row.id, row.created_at)?;
            }
            return Ok(row);
        }
    };
    use diesel::sql_types::{Nullable, Text};
    #[derive(QueryableByName)]
    struct Inserted {
        #[diesel(sql_type = BigInt)]
        id: i64,
    }
    struct InsertSent;
    let inserted: Inserted = super::prepared::prepared::<InsertSent, _>(
        diesel::sql_query(PG_INSERT_SENT)
            .bind::<BigInt, _>(new.room_id.get())
            .bind::<BigInt, _>(new.sender_id.get())
            .bind::<Text, _>(new.content)
            .bind::<Text, _>(new.message_type.as_str())
            .bind::<Nullable<BigInt>, _>(new.reply_to_id.map(|m| m.get()))
            .bind::<BigInt, _>(new.created_at)
            .bind::<Text, _>(html)
            .bind::<diesel::sql_types::Bool, _>(mentions_room),
    )
    .get_result(c)?;
    Ok(inserted_row(new, MessageId(inserted.id), html, mentions_room))
}

/// The message, the sender's read mark moved to it (unless it was already further) and
/// the mark's row when it moved. The statements of one `WITH` see the same snapshot, which
/// holds nothing they change.
const PG_INSERT_SENT: &str = "WITH m AS (\
     INSERT INTO chat_messages (room_id, sender_id, content, message_type, reply_to_id, created_at, content_html, mentions_room) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id), \
     moved AS (UPDATE chat_room_members SET last_read_message_id = m.id, last_read_at = $6 FROM m \
     WHERE chat_room_members.room_id = $1 AND chat_room_members.user_id = $2 \
     AND chat_room_members.last_read_message_id < m.id RETURNING m.id AS message_id), \
     marked AS (INSERT INTO chat_message_reads (room_id, user_id, message_id, read_at) \
     SELECT $1, $2, message_id, $6 FROM moved) \
     SELECT id FROM m";

pub fn by_id(conn: &mut DbConn, id: MessageId) -> QueryResult<Option<MessageRow>> {
    chat_messages::table.find(id).select(MessageRow::as_select()).get_result(conn).optional()
}

pub fn by_ids(conn: &mut DbConn, ids: &[MessageId]) -> QueryResult<Vec<MessageRow>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    chat_messages::table.filter(chat_messages::id.eq_any(ids)).select(MessageRow::as_select()).load(conn)
}

/// The messages that reply to this one.
pub fn replies_to(conn: &mut DbConn, id: MessageId) -> QueryResult<Vec<MessageId>> {
    chat_messages::table.filter(chat_messages::reply_to_id.eq(id)).select(chat_messages::id).load(conn)
}

/// Where a page of messages starts and ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    pub limit: i64,
}

/// A page in ascending id order, and whether more lie beyond it: older ones when paging
/// back (`before`, or no cursor), newer ones when paging forward (`after` alone).
pub fn page(conn: &mut DbConn, room_id: RoomId, cursor: Cursor) -> QueryResult<(Vec<MessageRow>, bool)> {
    let mut query = chat_messages::table
        .filter(chat_messages::room_id.eq(room_id))
        .select(MessageRow::as_select())
        .limit(cursor.limit + 1)
        .into_boxed();
    if let Some(before) = cursor.before {
        query = query.filter(chat_messages::id.lt(before));
    }
    if let Some(after) = cursor.after {
        query = query.filter(chat_messages::id.gt(after));
    }
    let forward = cursor.after.is_some() && cursor.before.is_none();
    let mut rows = if forward {
        query.order(chat_messages::id.asc()).load(conn)?
    } else {
        query.order(chat_messages::id.desc()).load(conn)?
    };
    let has_more = rows.len() as i64 > cursor.limit;
    rows.truncate(cursor.limit as usize);
    if !forward {
        rows.reverse();
    }
    Ok((rows, has_more))
}

/// The new text, the HTML it shows and whether it mentions the whole room.
pub fn edit(
    conn: &mut DbConn,
    id: MessageId,
    content: &str,
    html: &str,
    mentions_room: bool,
    now: i64,
) -> QueryResult<MessageRow> {
    diesel::update(chat_messages::table.find(id))
        .set((
            chat_messages::content.eq(content),
            chat_messages::content_html.eq(html),
            chat_messages::mentions_room.eq(mentions_room),
            chat_messages::is_edited.eq(true),
            chat_messages::edited_at.eq(now),
        ))
        .returning(chat_messages::all_columns)
        .get_result(conn)
}

/// Keeps the message's id and place; its text goes.
pub fn soft_delete(conn: &mut DbConn, id: MessageId) -> QueryResult<MessageRow> {
    diesel::update(chat_messages::table.find(id))
        .set((
            chat_messages::content.eq(""),
            chat_messages::content_html.eq(""),
            chat_messages::mentions_room.eq(false),
            chat_messages::is_deleted.eq(true),
        ))
        .returning(chat_messages::all_columns)
        .get_result(conn)
}

/// The newest message of each room.
pub fn last_of_rooms(conn: &mut DbConn, room_ids: &[RoomId]) -> QueryResult<HashMap<RoomId, MessageRow>> {
    if room_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let newest: Vec<Option<i64>> = chat_messages::table
        .filter(chat_messages::room_id.eq_any(room_ids))
        .group_by(chat_messages::room_id)
        .select(diesel::dsl::max(chat_messages::id))
        .load(conn)?;
    let ids: Vec<MessageId> = newest.into_iter().flatten().map(MessageId).collect();
    let rows = by_ids(conn, &ids)?;
    Ok(rows.into_iter().map(|m| (m.room_id, m)).collect())
}

/// Unread messages per room for a member (newer than their mark, from somebody else, not
/// deleted, not system notices), and how many of those mention them or the room: one
/// query for every room.
pub fn unread_counts(
    conn: &mut DbConn,
    user_id: UserId,
    room_ids: &[RoomId],
) -> QueryResult<HashMap<RoomId, (i64, i64)>> {
    if room_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(RoomId, i64, i64)> = chat_messages::table
        .inner_join(
            chat_room_members::table
                .on(chat_room_members::room_id.eq(chat_messages::room_id).and(chat_room_members::user_id.eq(user_id))),
        )
        .left_join(
            chat_mentions::table
                .on(chat_mentions::message_id.eq(chat_messages::id).and(chat_mentions::user_id.eq(user_id))),
        )
        .filter(chat_messages::room_id.eq_any(room_ids))
        .filter(chat_messages::id.gt(chat_room_members::last_read_message_id))
        .filter(chat_messages::sender_id.ne(user_id))
        .filter(chat_messages::is_deleted.eq(false))
        .filter(chat_messages::message_type.ne(MessageType::System))
        .group_by(chat_messages::room_id)
        .select((
            chat_messages::room_id,
            count_star(),
            sql::<BigInt>(
                "COUNT(CASE WHEN chat_messages.mentions_room OR chat_mentions.message_id IS NOT NULL THEN 1 END)",
            ),
        ))
        .load(conn)?;
    Ok(rows.into_iter().map(|(room, unread, mentions)| (room, (unread, mentions))).collect())
}

/// Messages that mention a user by name or mention the whole room, in rooms they are a
/// member of, from somebody else, not deleted; newest first, older than `before`. Two
/// index walks (the user's mention rows; the rooms' `@room` messages) merged, rather than a
/// scan of every message of every room.
pub fn mentioning(
    conn: &mut DbConn,
    user_id: UserId,
    before: Option<MessageId>,
    limit: i64,
) -> QueryResult<(Vec<MessageRow>, bool)> {
    let before = before.unwrap_or(MessageId(i64::MAX));
    let in_my_rooms = chat_room_members::table
        .on(chat_room_members::room_id.eq(chat_messages::room_id).and(chat_room_members::user_id.eq(user_id)));
    let mut rows: Vec<MessageRow> = chat_mentions::table
        .inner_join(chat_messages::table.inner_join(in_my_rooms))
        .filter(chat_mentions::user_id.eq(user_id))
        .filter(chat_mentions::message_id.lt(before))
        .filter(chat_messages::sender_id.ne(user_id))
        .filter(chat_messages::is_deleted.eq(false))
        .order(chat_mentions::message_id.desc())
        .limit(limit + 1)
        .select(MessageRow::as_select())
        .load(conn)?;
    let whole_room: Vec<MessageRow> = chat_messages::table
        .inner_join(
            chat_room_members::table
                .on(chat_room_members::room_id.eq(chat_messages::room_id).and(chat_room_members::user_id.eq(user_id))),
        )
        .filter(chat_messages::mentions_room.eq(true))
        .filter(chat_messages::id.lt(before))
        .filter(chat_messages::sender_id.ne(user_id))
        .filter(chat_messages::is_deleted.eq(false))
        .order(chat_messages::id.desc())
        .limit(limit + 1)
        .select(MessageRow::as_select())
        .load(conn)?;
    rows.extend(whole_room);
    rows.sort_by_key(|m| std::cmp::Reverse(m.id));
    rows.dedup_by_key(|m| m.id);
    let has_more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, has_more))
}
