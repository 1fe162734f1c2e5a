//! Rooms: mine, channels to join, create (one direct room per pair), look, rename, join.

use super::access::{enabled_user, room_and_role};
use super::messages::post_system;
use super::{views, Actor, Chat, Tx};
use crate::broker::Notice;
use crate::domain::views::{MemberChanged, Room};
use crate::domain::{direct_key, Action, Role, RoomEvent, RoomId, RoomName, RoomType, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{MemberRow, NewRoom, RoomRow};
use crate::store::{now_micros, reads, rooms, DbConn};

/// The caller's rooms, most recent activity first.
pub async fn mine(chat: &Chat, user: Actor) -> ApiResult<Vec<Room>> {
    user.may(Action::Browse)?;
    chat.read(move |conn| {
        let mine: Vec<_> = rooms::of_member(conn, user.id)?.into_iter().map(|(r, m)| (r, Some(m))).collect();
        Ok(views::rooms(conn, &mine, Some(user.id))?)
    })
    .await
}

/// Channels the caller has not joined, by name.
pub async fn channels(chat: &Chat, user: Actor) -> ApiResult<Vec<Room>> {
    user.may(Action::Browse)?;
    chat.read(move |conn| {
        let open: Vec<_> = rooms::channels_not_joined(conn, user.id)?.into_iter().map(|r| (r, None)).collect();
        Ok(views::rooms(conn, &open, Some(user.id))?)
    })
    .await
}

/// What a new room is to be.
pub struct NewRoomRequest {
    pub room_type: RoomType,
    pub name: Option<String>,
    pub member_ids: Vec<UserId>,
}

/// Whether `create` made the room or found it (a direct room asked for again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    Created,
    Found,
}

/// Creates a group or channel with the caller as its admin, or gets (creating it the first
/// time) the direct room of the caller and one other user, bringing back whoever of the
/// two had left it.
pub async fn create(chat: &Chat, user: Actor, request: NewRoomRequest) -> ApiResult<(Room, Made)> {
    chat.actions.spend(user.id)?;
    let NewRoomRequest { room_type, name, member_ids } = request;
    let mut others: Vec<UserId> = member_ids.into_iter().filter(|id| *id != user.id).collect();
    others.sort_unstable();
    others.dedup();
    match room_type {
        RoomType::Direct => {
            user.may(Action::OpenDirect)?;
            if name.is_some() {
                return Err(ApiError::invalid("name: a direct room takes no name"));
            }
            let [other] = others[..] else {
                return Err(ApiError::invalid("member_ids: a direct room needs exactly one other user"));
            };
            chat.commit(move |tx| open_direct(tx, &user, other)).await
        }
        RoomType::Group | RoomType::Channel => {
            user.may(Action::CreateRoom)?;
            let name = RoomName::parse(name.as_deref().unwrap_or(""))?;
            chat.commit(move |tx| {
                for id in &others {
                    if enabled_user(tx, *id)?.is_none() {
                        return Err(ApiError::NotFound(format!("user {id} not found")));
                    }
                }
                let room = insert_room(tx, name.as_str(), room_type, user.id, None)?;
                enroll(tx, room.id, user.id, Role::Admin)?;
                for id in &others {
                    enroll(tx, room.id, *id, Role::Member)?;
                }
                Ok((my_view(tx, room, user.id)?, Made::Created))
            })
            .await
        }
    }
}

fn open_direct(tx: &mut Tx<'_>, user: &Actor, other: UserId) -> ApiResult<(Room, Made)> {
    let peer = enabled_user(tx, other)?.ok_or_else(|| ApiError::not_found("user"))?;
    let key = direct_key(user.id, other);
    let (room, made) = match rooms::by_direct_key(tx, &key)? {
        Some(room) => (room, Made::Found),
        None => (insert_room(tx, "", RoomType::Direct, user.id, Some(&key))?, Made::Created),
    };
    // Asking again after leaving brings the caller (or the peer) back.
    for (id, name) in [(user.id, user.display_name.as_str()), (other, peer.display_name.as_str())] {
        if rooms::membership(tx, room.id, id)?.is_none() {
            enroll(tx, room.id, id, Role::Member)?;
            if made == Made::Found {
                post_system(tx, room.id, user.id, &format!("{name} joined"))?;
            }
        }
    }
    Ok((my_view(tx, room, user.id)?, made))
}

fn insert_room(
    conn: &mut DbConn,
    name: &str,
    room_type: RoomType,
    creator: UserId,
    direct_key: Option<&str>,
) -> ApiResult<RoomRow> {
    let now = now_micros();
    let new = NewRoom {
        name,
        room_type,
        created_by_id: creator,
        direct_key,
        created_at: now,
        updated_at: now,
        last_activity_at: now,
    };
    Ok(rooms::insert(conn, &new)?)
}

/// Adds a member and tells their open streams and the room, in that order.
pub(crate) fn enroll(tx: &mut Tx<'_>, room_id: RoomId, user_id: UserId, role: Role) -> ApiResult<MemberRow> {
    let row = rooms::add_member(tx, room_id, user_id, role, now_micros())?;
    tx.notify(Notice::Joined { room_id: room_id.get(), user_id: user_id.get() });
    let member = views::member(tx, room_id, user_id)?;
    tx.record(RoomEvent::MemberJoined(MemberChanged { room_id, member }))?;
    Ok(row)
}

/// The caller's view of a room they are a member of.
pub(crate) fn my_view(conn: &mut DbConn, room: RoomRow, me: UserId) -> ApiResult<Room> {
    let membership = rooms::membership(conn, room.id, me)?.ok_or_else(|| ApiError::not_found("room"))?;
    Ok(views::room_for(conn, room, membership)?)
}

/// A room with its members, for one who may read it.
pub async fn get(chat: &Chat, user: Actor, room_id: RoomId) -> ApiResult<Room> {
    chat.read(move |conn| {
        let (room, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ReadRoom(role))?;
        let mut view = my_view(conn, room, user.id)?;
        view.members = Some(views::members(conn, room_id)?);
        Ok(view)
    })
    .await
    .map(|mut room| {
        room.members = room.members.take().map(|members| chat.with_presence(members));
        room
    })
}

/// Renames a group or channel; the room hears of it with a notice and `room_updated`.
pub async fn rename(chat: &Chat, user: Actor, room_id: RoomId, name: String) -> ApiResult<Room> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (room, role) = room_and_role(tx, room_id, user.id)?;
        user.may(Action::ManageRoom(role))?;
        if room.room_type == RoomType::Direct {
            return Err(ApiError::invalid("name: a direct room cannot be renamed"));
        }
        let name = RoomName::parse(&name)?;
        let old_name = room.name;
        let room = rooms::rename(tx, room_id, name.as_str(), now_micros())?;
        if old_name != room.name {
            // The notice first, so that the room's `last_message` in the event is current.
            let text = format!("{} renamed the room to {}", user.display_name, room.name);
            post_system(tx, room_id, user.id, &text)?;
            let shared = views::shared_room(tx, room.clone())?;
            tx.record(RoomEvent::RoomUpdated(shared))?;
        }
        my_view(tx, room, user.id)
    })
    .await
}

/// Joins a channel; joining one the caller is in already answers the room as it is.
pub async fn join(chat: &Chat, user: Actor, room_id: RoomId) -> ApiResult<Room> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (room, role) = room_and_role(tx, room_id, user.id)?;
        if role.is_some() {
            return my_view(tx, room, user.id);
        }
        if room.room_type != RoomType::Channel {
            return Err(ApiError::not_found("room"));
        }
        user.may(Action::JoinChannel)?;
        enroll(tx, room_id, user.id, Role::Member)?;
        reads::start_at_newest(tx, room_id, user.id)?;
        post_system(tx, room_id, user.id, &format!("{} joined", user.display_name))?;
        my_view(tx, room, user.id)
    })
    .await
}
