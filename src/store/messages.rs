//! Messages: insert, page, edit, soft delete, and their JSON views.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::models::{MessageRow, NewMessage};
use super::schema::{chat_messages, chat_room_members};
use super::{attachments, users, DbConn, QueryResult};
use crate::domain::views::{Message, ReplyTo};
use crate::domain::{excerpt, format_time, MessageType};

pub fn insert(conn: &mut DbConn, new: &NewMessage<'_>) -> QueryResult<MessageRow> {
    per_backend!(conn, |c| diesel::insert_into(chat_messages::table)
        .values(new)
        .returning(chat_messages::all_columns)
        .get_result(c))
}

pub fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<MessageRow>> {
    chat_messages::table.find(id).select(MessageRow::as_select()).get_result(conn).optional()
}

/// Where a page of messages starts and ends.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cursor {
    pub before: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

/// A page in ascending id order, and whether more lie beyond it: older ones when paging
/// back (`before`, or no cursor), newer ones when paging forward (`after` alone).
pub fn page(conn: &mut DbConn, room_id: i64, cursor: Cursor) -> QueryResult<(Vec<MessageRow>, bool)> {
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

pub fn edit(conn: &mut DbConn, id: i64, content: &str, now: i64) -> QueryResult<MessageRow> {
    diesel::update(chat_messages::table.find(id))
        .set((chat_messages::content.eq(content), chat_messages::is_edited.eq(true), chat_messages::edited_at.eq(now)))
        .returning(chat_messages::all_columns)
        .get_result(conn)
}

/// Keeps the message's id and place; its text goes.
pub fn soft_delete(conn: &mut DbConn, id: i64) -> QueryResult<MessageRow> {
    diesel::update(chat_messages::table.find(id))
        .set((chat_messages::content.eq(""), chat_messages::is_deleted.eq(true)))
        .returning(chat_messages::all_columns)
        .get_result(conn)
}

/// The newest message of each room.
pub fn last_of_rooms(conn: &mut DbConn, room_ids: &[i64]) -> QueryResult<HashMap<i64, MessageRow>> {
    if room_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let newest: Vec<Option<i64>> = chat_messages::table
        .filter(chat_messages::room_id.eq_any(room_ids))
        .group_by(chat_messages::room_id)
        .select(diesel::dsl::max(chat_messages::id))
        .load(conn)?;
    let ids: Vec<i64> = newest.into_iter().flatten().collect();
    let rows: Vec<MessageRow> =
        chat_messages::table.filter(chat_messages::id.eq_any(&ids)).select(MessageRow::as_select()).load(conn)?;
    Ok(rows.into_iter().map(|m| (m.room_id, m)).collect())
}

/// Unread messages per room for a member: newer than their mark, from somebody else,
/// not deleted, not system notices.
pub fn unread_counts(conn: &mut DbConn, user_id: i64, room_ids: &[i64]) -> QueryResult<HashMap<i64, i64>> {
    if room_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(i64, i64)> = chat_messages::table
        .inner_join(
            chat_room_members::table
                .on(chat_room_members::room_id.eq(chat_messages::room_id).and(chat_room_members::user_id.eq(user_id))),
        )
        .filter(chat_messages::room_id.eq_any(room_ids))
        .filter(chat_messages::id.gt(chat_room_members::last_read_message_id))
        .filter(chat_messages::sender_id.ne(user_id))
        .filter(chat_messages::is_deleted.eq(false))
        .filter(chat_messages::message_type.ne(MessageType::System.as_str()))
        .group_by(chat_messages::room_id)
        .select((chat_messages::room_id, count_star()))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// The JSON shape of messages, with sender names, reply quotes and attachments.
pub fn views(conn: &mut DbConn, rows: &[MessageRow]) -> QueryResult<Vec<Message>> {
    views_knowing(conn, rows, None)
}

/// Like `views`; `known` is a sender whose display name the caller has at hand (sending a
/// message), which spares the name look-up on the hot path.
pub fn views_knowing(conn: &mut DbConn, rows: &[MessageRow], known: Option<(i64, &str)>) -> QueryResult<Vec<Message>> {
    let reply_ids: Vec<i64> = rows.iter().filter_map(|m| m.reply_to_id).collect();
    let replies: HashMap<i64, MessageRow> = if reply_ids.is_empty() {
        HashMap::new()
    } else {
        chat_messages::table
            .filter(chat_messages::id.eq_any(&reply_ids))
            .select(MessageRow::as_select())
            .load(conn)?
            .into_iter()
            .map(|m| (m.id, m))
            .collect()
    };
    let mut people: Vec<i64> = rows.iter().map(|m| m.sender_id).collect();
    people.extend(replies.values().map(|m| m.sender_id));
    people.retain(|id| known.is_none_or(|(k, _)| k != *id));
    let mut names = if people.is_empty() { HashMap::new() } else { users::names(conn, &people)? };
    if let Some((id, name)) = known {
        names.insert(id, (String::new(), name.to_owned()));
    }
    let name_of = |id: i64| names.get(&id).map(|(_, d)| d.clone()).unwrap_or_default();
    // Only file messages carry attachments.
    let live: Vec<i64> =
        rows.iter().filter(|m| !m.is_deleted && m.message_type == MessageType::File.as_str()).map(|m| m.id).collect();
    let mut files: HashMap<i64, Vec<_>> = HashMap::new();
    for row in attachments::for_messages(conn, &live)? {
        files.entry(row.message_id).or_default().push(attachments::view(&row));
    }
    Ok(rows
        .iter()
        .map(|m| Message {
            id: m.id,
            room_id: m.room_id,
            sender_id: m.sender_id,
            sender_name: name_of(m.sender_id),
            content: m.content.clone(),
            message_type: m.message_type.clone(),
            reply_to_id: m.reply_to_id,
            reply_to: m.reply_to_id.and_then(|id| replies.get(&id)).map(|r| ReplyTo {
                id: r.id,
                sender_name: name_of(r.sender_id),
                excerpt: excerpt(&r.content),
            }),
            is_edited: m.is_edited,
            is_deleted: m.is_deleted,
            created_at: format_time(m.created_at),
            edited_at: m.edited_at.map(format_time),
            attachments: files.remove(&m.id).unwrap_or_default(),
        })
        .collect())
}

pub fn view(conn: &mut DbConn, row: &MessageRow) -> QueryResult<Message> {
    let mut views = views(conn, std::slice::from_ref(row))?;
    views.pop().ok_or(diesel::result::Error::NotFound)
}
