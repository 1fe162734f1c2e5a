//! Rooms and their members.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::models::{MemberRow, NewMember, NewRoom, RoomRow};
use super::schema::{chat_messages, chat_room_members, chat_rooms, users};
use super::{DbConn, QueryResult};
use crate::domain::{Role, RoomId, RoomType, UserId};

/// A membership with the member's username and display name.
pub type MemberRecord = (MemberRow, String, String);

pub fn insert(conn: &mut DbConn, new: &NewRoom<'_>) -> QueryResult<RoomRow> {
    diesel::insert_into(chat_rooms::table).values(new).returning(chat_rooms::all_columns).get_result(conn)
}

pub fn by_id(conn: &mut DbConn, id: RoomId) -> QueryResult<Option<RoomRow>> {
    chat_rooms::table.find(id).select(RoomRow::as_select()).get_result(conn).optional()
}

pub fn by_direct_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<RoomRow>> {
    chat_rooms::table.filter(chat_rooms::direct_key.eq(key)).select(RoomRow::as_select()).get_result(conn).optional()
}

pub fn rename(conn: &mut DbConn, id: RoomId, name: &str, now: i64) -> QueryResult<RoomRow> {
    diesel::update(chat_rooms::table.find(id))
        .set((chat_rooms::name.eq(name), chat_rooms::updated_at.eq(now)))
        .returning(chat_rooms::all_columns)
        .get_result(conn)
}

pub fn membership(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<Option<MemberRow>> {
    per_backend!(conn, |c| chat_room_members::table
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::user_id.eq(user_id))
        .select(MemberRow::as_select())
        .get_result(c)
        .optional())
}

/// The user's role in a room, `None` when not a member.
pub fn role_of(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<Option<Role>> {
    Ok(membership(conn, room_id, user_id)?.map(|m| m.role))
}

pub fn add_member(conn: &mut DbConn, room_id: RoomId, user_id: UserId, role: Role, now: i64) -> QueryResult<MemberRow> {
    diesel::insert_into(chat_room_members::table)
        .values(&NewMember { room_id, user_id, role, joined_at: now })
        .returning(chat_room_members::all_columns)
        .get_result(conn)
}

pub fn remove_member(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<usize> {
    diesel::delete(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .execute(conn)
}

pub fn set_role(conn: &mut DbConn, room_id: RoomId, user_id: UserId, role: Role) -> QueryResult<usize> {
    diesel::update(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .set(chat_room_members::role.eq(role))
    .execute(conn)
}

/// A member's notification level (`all`, `mentions` or `none`).
pub fn set_notify(conn: &mut DbConn, room_id: RoomId, user_id: UserId, level: &str) -> QueryResult<usize> {
    diesel::update(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .set(chat_room_members::notify.eq(level))
    .execute(conn)
}

pub fn set_muted(conn: &mut DbConn, room_id: RoomId, user_id: UserId, muted: bool) -> QueryResult<usize> {
    diesel::update(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .set(chat_room_members::is_muted.eq(muted))
    .execute(conn)
}

pub fn admin_count(conn: &mut DbConn, room_id: RoomId) -> QueryResult<i64> {
    chat_room_members::table
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::role.eq(Role::Admin))
        .count()
        .get_result(conn)
}

/// The ids of the rooms a user is a member of.
pub fn ids_of_member(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<RoomId>> {
    chat_room_members::table
        .filter(chat_room_members::user_id.eq(user_id))
        .select(chat_room_members::room_id)
        .load(conn)
}

/// A user's rooms with their membership, most recent activity first: a room's activity is
/// its newest message, or its creation while it has none. Sending a message writes nothing
/// to the room's row; the newest message of each room is found here, through the
/// `(room_id, id)` index.
pub fn of_member(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<(RoomRow, MemberRow)>> {
    let mut rows: Vec<(RoomRow, MemberRow)> = chat_rooms::table
        .inner_join(chat_room_members::table)
        .filter(chat_room_members::user_id.eq(user_id))
        .select((RoomRow::as_select(), MemberRow::as_select()))
        .load(conn)?;
    let ids: Vec<RoomId> = rows.iter().map(|(room, _)| room.id).collect();
    let newest: Vec<Option<i64>> = chat_messages::table
        .filter(chat_messages::room_id.eq_any(&ids))
        .group_by(chat_messages::room_id)
        .select(diesel::dsl::max(chat_messages::id))
        .load(conn)?;
    let newest: Vec<i64> = newest.into_iter().flatten().collect();
    let last_message: HashMap<RoomId, i64> = chat_messages::table
        .filter(chat_messages::id.eq_any(&newest))
        .select((chat_messages::room_id, chat_messages::created_at))
        .load(conn)?
        .into_iter()
        .collect();
    let activity = |room: &RoomRow| last_message.get(&room.id).copied().unwrap_or(room.last_activity_at);
    rows.sort_by_key(|(room, _)| std::cmp::Reverse((activity(room), room.id)));
    Ok(rows)
}

/// Channels the user has not joined, by name.
pub fn channels_not_joined(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<RoomRow>> {
    let mine =
        chat_room_members::table.filter(chat_room_members::user_id.eq(user_id)).select(chat_room_members::room_id);
    chat_rooms::table
        .filter(chat_rooms::room_type.eq(RoomType::Channel))
        .filter(chat_rooms::id.ne_all(mine))
        .order((chat_rooms::name.asc(), chat_rooms::id.asc()))
        .select(RoomRow::as_select())
        .load(conn)
}

/// How many members each room has.
pub fn member_counts(conn: &mut DbConn, room_ids: &[RoomId]) -> QueryResult<HashMap<RoomId, i64>> {
    Ok(chat_room_members::table
        .filter(chat_room_members::room_id.eq_any(room_ids))
        .group_by(chat_room_members::room_id)
        .select((chat_room_members::room_id, count_star()))
        .load::<(RoomId, i64)>(conn)?
        .into_iter()
        .collect())
}

/// A room's members with their names, longest-standing first.
pub fn member_records(conn: &mut DbConn, room_id: RoomId) -> QueryResult<Vec<MemberRecord>> {
    chat_room_members::table
        .inner_join(users::table)
        .filter(chat_room_members::room_id.eq(room_id))
        .order(chat_room_members::id.asc())
        .select((MemberRow::as_select(), users::username, users::display_name))
        .load(conn)
}

pub fn member_record(conn: &mut DbConn, room_id: RoomId, user_id: UserId) -> QueryResult<MemberRecord> {
    chat_room_members::table
        .inner_join(users::table)
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::user_id.eq(user_id))
        .select((MemberRow::as_select(), users::username, users::display_name))
        .get_result(conn)
}

/// The rooms of each of these people, as `(user, room)` ordered by user: what presence needs
/// of those the hub does not know the rooms of.
pub fn rooms_of_members(conn: &mut DbConn, people: &[UserId]) -> QueryResult<Vec<(UserId, RoomId)>> {
    const CHUNK: usize = 1000;
    let mut pairs: Vec<(UserId, RoomId)> = Vec::new();
    for chunk in people.chunks(CHUNK) {
        let found: Vec<(UserId, RoomId)> = per_backend!(conn, |c| chat_room_members::table
            .filter(chat_room_members::user_id.eq_any(chunk))
            .select((chat_room_members::user_id, chat_room_members::room_id))
            .load(c))?;
        pairs.extend(found);
    }
    pairs.sort_unstable();
    Ok(pairs)
}
