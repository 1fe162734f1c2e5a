//! Rooms and their members.

use std::collections::HashMap;

use diesel::dsl::count_star;
use diesel::prelude::*;

use super::models::{MemberRow, NewMember, NewRoom, RoomRow};
use super::schema::{chat_messages, chat_room_members, chat_rooms, users};
use super::{messages, DbConn, QueryResult};
use crate::domain::views::{Member, Room};
use crate::domain::{direct_peer, format_time, Role, RoomType};

pub fn insert(conn: &mut DbConn, new: &NewRoom<'_>) -> QueryResult<RoomRow> {
    diesel::insert_into(chat_rooms::table).values(new).returning(chat_rooms::all_columns).get_result(conn)
}

pub fn by_id(conn: &mut DbConn, id: i64) -> QueryResult<Option<RoomRow>> {
    chat_rooms::table.find(id).select(RoomRow::as_select()).get_result(conn).optional()
}

pub fn by_direct_key(conn: &mut DbConn, key: &str) -> QueryResult<Option<RoomRow>> {
    chat_rooms::table.filter(chat_rooms::direct_key.eq(key)).select(RoomRow::as_select()).get_result(conn).optional()
}

pub fn rename(conn: &mut DbConn, id: i64, name: &str, now: i64) -> QueryResult<RoomRow> {
    diesel::update(chat_rooms::table.find(id))
        .set((chat_rooms::name.eq(name), chat_rooms::updated_at.eq(now)))
        .returning(chat_rooms::all_columns)
        .get_result(conn)
}

pub fn membership(conn: &mut DbConn, room_id: i64, user_id: i64) -> QueryResult<Option<MemberRow>> {
    per_backend!(conn, |c| chat_room_members::table
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::user_id.eq(user_id))
        .select(MemberRow::as_select())
        .get_result(c)
        .optional())
}

/// The caller's role in a room, `None` when not a member.
pub fn role_of(conn: &mut DbConn, room_id: i64, user_id: i64) -> QueryResult<Option<Role>> {
    Ok(membership(conn, room_id, user_id)?.and_then(|m| Role::parse(&m.role).ok()))
}

pub fn add_member(conn: &mut DbConn, room_id: i64, user_id: i64, role: Role, now: i64) -> QueryResult<MemberRow> {
    diesel::insert_into(chat_room_members::table)
        .values(&NewMember { room_id, user_id, role: role.as_str(), joined_at: now })
        .returning(chat_room_members::all_columns)
        .get_result(conn)
}

pub fn remove_member(conn: &mut DbConn, room_id: i64, user_id: i64) -> QueryResult<usize> {
    diesel::delete(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .execute(conn)
}

pub fn set_role(conn: &mut DbConn, room_id: i64, user_id: i64, role: Role) -> QueryResult<usize> {
    diesel::update(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .set(chat_room_members::role.eq(role.as_str()))
    .execute(conn)
}

pub fn set_muted(conn: &mut DbConn, room_id: i64, user_id: i64, muted: bool) -> QueryResult<usize> {
    diesel::update(
        chat_room_members::table
            .filter(chat_room_members::room_id.eq(room_id))
            .filter(chat_room_members::user_id.eq(user_id)),
    )
    .set(chat_room_members::is_muted.eq(muted))
    .execute(conn)
}

pub fn admin_count(conn: &mut DbConn, room_id: i64) -> QueryResult<i64> {
    chat_room_members::table
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::role.eq(Role::Admin.as_str()))
        .count()
        .get_result(conn)
}

/// The ids of the rooms a user is a member of.
pub fn ids_of_member(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<i64>> {
    chat_room_members::table
        .filter(chat_room_members::user_id.eq(user_id))
        .select(chat_room_members::room_id)
        .load(conn)
}

/// A user's rooms with their membership, most recent activity first: a room's activity is
/// its newest message, or its creation while it has none. Sending a message writes nothing
/// to the room's row; the newest message of each room is found here, through the
/// `(room_id, id)` index.
pub fn of_member(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<(RoomRow, MemberRow)>> {
    let mut rows: Vec<(RoomRow, MemberRow)> = chat_rooms::table
        .inner_join(chat_room_members::table)
        .filter(chat_room_members::user_id.eq(user_id))
        .select((RoomRow::as_select(), MemberRow::as_select()))
        .load(conn)?;
    let ids: Vec<i64> = rows.iter().map(|(room, _)| room.id).collect();
    let newest: Vec<Option<i64>> = chat_messages::table
        .filter(chat_messages::room_id.eq_any(&ids))
        .group_by(chat_messages::room_id)
        .select(diesel::dsl::max(chat_messages::id))
        .load(conn)?;
    let newest: Vec<i64> = newest.into_iter().flatten().collect();
    let last_message: HashMap<i64, i64> = chat_messages::table
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
pub fn channels_not_joined(conn: &mut DbConn, user_id: i64) -> QueryResult<Vec<RoomRow>> {
    let mine =
        chat_room_members::table.filter(chat_room_members::user_id.eq(user_id)).select(chat_room_members::room_id);
    chat_rooms::table
        .filter(chat_rooms::room_type.eq(RoomType::Channel.as_str()))
        .filter(chat_rooms::id.ne_all(mine))
        .order((chat_rooms::name.asc(), chat_rooms::id.asc()))
        .select(RoomRow::as_select())
        .load(conn)
}

type MemberTuple = (MemberRow, String, String);

fn member_view((row, username, display_name): MemberTuple) -> Member {
    Member {
        user_id: row.user_id,
        username,
        display_name,
        role: row.role,
        last_read_at: row.last_read_at.map(format_time),
        is_muted: row.is_muted,
    }
}

pub fn members(conn: &mut DbConn, room_id: i64) -> QueryResult<Vec<Member>> {
    let rows: Vec<MemberTuple> = chat_room_members::table
        .inner_join(users::table)
        .filter(chat_room_members::room_id.eq(room_id))
        .order(chat_room_members::id.asc())
        .select((MemberRow::as_select(), users::username, users::display_name))
        .load(conn)?;
    Ok(rows.into_iter().map(member_view).collect())
}

pub fn member(conn: &mut DbConn, room_id: i64, user_id: i64) -> QueryResult<Member> {
    let row: MemberTuple = chat_room_members::table
        .inner_join(users::table)
        .filter(chat_room_members::room_id.eq(room_id))
        .filter(chat_room_members::user_id.eq(user_id))
        .select((MemberRow::as_select(), users::username, users::display_name))
        .get_result(conn)?;
    Ok(member_view(row))
}

/// The JSON shape of rooms. With `me` the caller's fields (role, mute, unread count) are
/// filled (null role, not muted, nothing unread where `me` is not a member) and a direct
/// room is named after the other party; without, they are left out (a `room_updated`
/// event goes to every member alike).
pub fn views(conn: &mut DbConn, rooms: &[(RoomRow, Option<MemberRow>)], me: Option<i64>) -> QueryResult<Vec<Room>> {
    let ids: Vec<i64> = rooms.iter().map(|(r, _)| r.id).collect();
    let counts: HashMap<i64, i64> = chat_room_members::table
        .filter(chat_room_members::room_id.eq_any(&ids))
        .group_by(chat_room_members::room_id)
        .select((chat_room_members::room_id, count_star()))
        .load::<(i64, i64)>(conn)?
        .into_iter()
        .collect();
    let last_rows = messages::last_of_rooms(conn, &ids)?;
    let last_list: Vec<_> = last_rows.values().cloned().collect();
    let mut last: HashMap<i64, _> = messages::views(conn, &last_list)?.into_iter().map(|m| (m.room_id, m)).collect();
    let unread = match me {
        Some(me) => messages::unread_counts(conn, me, &ids)?,
        None => HashMap::new(),
    };
    // A direct room is named after the other party of its pair, found from the room's key:
    // still there after they left the room.
    let mut others: HashMap<i64, String> = HashMap::new();
    if let Some(me) = me {
        let peers: Vec<(i64, i64)> = rooms
            .iter()
            .filter(|(r, _)| r.room_type == RoomType::Direct.as_str())
            .filter_map(|(r, _)| Some((r.id, direct_peer(r.direct_key.as_deref()?, me)?)))
            .collect();
        if !peers.is_empty() {
            let ids: Vec<i64> = peers.iter().map(|&(_, peer)| peer).collect();
            let names: HashMap<i64, String> = users::table
                .filter(users::id.eq_any(&ids))
                .select((users::id, users::display_name))
                .load::<(i64, String)>(conn)?
                .into_iter()
                .collect();
            others.extend(peers.into_iter().filter_map(|(room, peer)| Some((room, names.get(&peer)?.clone()))));
        }
    }
    Ok(rooms
        .iter()
        .map(|(room, membership)| Room {
            id: room.id,
            name: others.remove(&room.id).unwrap_or_else(|| room.name.clone()),
            room_type: room.room_type.clone(),
            created_by_id: room.created_by_id,
            created_at: format_time(room.created_at),
            updated_at: format_time(room.updated_at),
            my_role: me.map(|_| membership.as_ref().map(|m| m.role.clone())),
            is_muted: me.map(|_| membership.as_ref().is_some_and(|m| m.is_muted)),
            unread_count: me.map(|_| unread.get(&room.id).copied().unwrap_or(0)),
            last_message: last.remove(&room.id),
            member_count: counts.get(&room.id).copied().unwrap_or(0),
            members: None,
        })
        .collect())
}

/// One room as its member sees it.
pub fn view_for(conn: &mut DbConn, room: RoomRow, membership: MemberRow) -> QueryResult<Room> {
    let me = membership.user_id;
    let mut list = views(conn, &[(room, Some(membership))], Some(me))?;
    list.pop().ok_or(diesel::result::Error::NotFound)
}

/// One room without the caller's fields (for `room_updated`).
pub fn shared_view(conn: &mut DbConn, room: RoomRow) -> QueryResult<Room> {
    let mut list = views(conn, &[(room, None)], None)?;
    list.pop().ok_or(diesel::result::Error::NotFound)
}
