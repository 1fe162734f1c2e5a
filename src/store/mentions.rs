//! Who a message mentions by name.

use std::collections::HashMap;

use diesel::prelude::*;

use super::schema::{chat_mentions, chat_room_members, users};
use super::{DbConn, QueryResult};
use crate::domain::{MessageId, RoomId, UserId};

/// The members of a room among these usernames.
pub fn members_named(conn: &mut DbConn, room_id: RoomId, usernames: &[String]) -> QueryResult<Vec<UserId>> {
    if usernames.is_empty() {
        return Ok(Vec::new());
    }
    chat_room_members::table
        .inner_join(users::table)
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(users::username.eq_any(usernames))
        .select(users::id)
        .order(users::id.asc())
        .load(conn)
}

/// Records who a message mentions, in place of what was recorded before.
pub fn replace(conn: &mut DbConn, message_id: MessageId, mentioned: &[UserId]) -> QueryResult<()> {
    diesel::delete(chat_mentions::table.filter(chat_mentions::message_id.eq(message_id))).execute(conn)?;
    add(conn, message_id, mentioned)
}

/// Records who a new message mentions.
pub fn add(conn: &mut DbConn, message_id: MessageId, mentioned: &[UserId]) -> QueryResult<()> {
    if mentioned.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = mentioned
        .iter()
        .map(|user| (chat_mentions::message_id.eq(message_id), chat_mentions::user_id.eq(*user)))
        .collect();
    per_backend!(conn, |c| diesel::insert_into(chat_mentions::table).values(&rows).execute(c))?;
    Ok(())
}

/// Who each of these messages mentions by name, in id order.
pub fn of_messages(conn: &mut DbConn, ids: &[MessageId]) -> QueryResult<HashMap<MessageId, Vec<UserId>>> {
    let mut out: HashMap<MessageId, Vec<UserId>> = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(MessageId, UserId)> = chat_mentions::table
        .filter(chat_mentions::message_id.eq_any(ids))
        .select((chat_mentions::message_id, chat_mentions::user_id))
        .order((chat_mentions::message_id.asc(), chat_mentions::user_id.asc()))
        .load(conn)?;
    for (message, user) in rows {
        out.entry(message).or_default().push(user);
    }
    Ok(out)
}
