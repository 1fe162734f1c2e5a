//! Rooms: list, browse channels, create (direct rooms are one per pair), rename, join.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::messages::post_system;
use super::{commit, created, ok, Json};
use crate::auth::CurrentUser;
use crate::broker::{Notice, Outbox};
use crate::domain::views::MemberChanged;
use crate::domain::{direct_key, Action, Role, RoomName, RoomType};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::models::{MemberRow, NewRoom, RoomRow};
use crate::store::{events, now_micros, rooms, users, DbConn};

pub async fn list(state: web::Data<AppState>, user: CurrentUser) -> ApiResult<HttpResponse> {
    user.may(Action::Browse)?;
    let me = user.id;
    let list = state
        .db
        .run(move |conn| {
            let mine: Vec<_> = rooms::of_member(conn, me)?.into_iter().map(|(r, m)| (r, Some(m))).collect();
            rooms::views(conn, &mine, Some(me)).map_err(ApiError::from)
        })
        .await?;
    Ok(ok(&list))
}

pub async fn channels(state: web::Data<AppState>, user: CurrentUser) -> ApiResult<HttpResponse> {
    user.may(Action::Browse)?;
    let me = user.id;
    let list = state
        .db
        .run(move |conn| {
            let open: Vec<_> = rooms::channels_not_joined(conn, me)?.into_iter().map(|r| (r, None)).collect();
            rooms::views(conn, &open, Some(me)).map_err(ApiError::from)
        })
        .await?;
    Ok(ok(&list))
}

#[derive(Deserialize)]
pub struct CreateRoomBody {
    room_type: String,
    name: Option<String>,
    /// Absent and `null` both mean none.
    #[serde(default)]
    member_ids: Option<Vec<i64>>,
}

/// Adds a member and tells their open streams and the room, in that order.
pub(crate) fn enroll(
    conn: &mut DbConn,
    outbox: &mut Outbox,
    room_id: i64,
    user_id: i64,
    role: Role,
) -> ApiResult<MemberRow> {
    let row = rooms::add_member(conn, room_id, user_id, role, now_micros())?;
    outbox.push(Notice::Joined { room_id, user_id });
    let member = rooms::member(conn, room_id, user_id)?;
    events::record(conn, outbox, room_id, "member_joined", &MemberChanged { room_id, member }, Some(user_id))?;
    Ok(row)
}

/// The caller's view of a room they are a member of.
fn my_view(conn: &mut DbConn, room: RoomRow, me: i64) -> ApiResult<crate::domain::views::Room> {
    let membership = rooms::membership(conn, room.id, me)?.ok_or_else(|| ApiError::not_found("room"))?;
    Ok(rooms::view_for(conn, room, membership)?)
}

pub async fn create(
    state: web::Data<AppState>,
    user: CurrentUser,
    Json(body): Json<CreateRoomBody>,
) -> ApiResult<HttpResponse> {
    let room_type = RoomType::parse(&body.room_type)?;
    let mut others: Vec<i64> = body.member_ids.iter().flatten().copied().filter(|id| *id != user.id).collect();
    others.sort_unstable();
    others.dedup();
    let me = user.id;
    match room_type {
        RoomType::Direct => {
            user.may(Action::OpenDirect)?;
            if body.name.is_some() {
                return Err(ApiError::invalid("name: a direct room takes no name"));
            }
            let [other] = others[..] else {
                return Err(ApiError::invalid("member_ids: a direct room needs exactly one other user"));
            };
            let (room, was_new) = commit(&state, move |conn, outbox| {
                let peer = users::by_id(conn, other).map_err(|_| ApiError::not_found("user"))?;
                if peer.disabled {
                    return Err(ApiError::not_found("user"));
                }
                let key = direct_key(me, other);
                let (room, was_new) = match rooms::by_direct_key(conn, &key)? {
                    Some(room) => (room, false),
                    None => {
                        let now = now_micros();
                        let room = rooms::insert(
                            conn,
                            &NewRoom {
                                name: "",
                                room_type: RoomType::Direct.as_str(),
                                created_by_id: me,
                                direct_key: Some(&key),
                                created_at: now,
                                updated_at: now,
                                last_activity_at: now,
                            },
                        )?;
                        (room, true)
                    }
                };
                // Asking again after leaving brings the caller (or the peer) back.
                for (id, name) in [(me, user.display_name.as_str()), (other, peer.display_name.as_str())] {
                    if rooms::membership(conn, room.id, id)?.is_none() {
                        enroll(conn, outbox, room.id, id, Role::Member)?;
                        if !was_new {
                            post_system(conn, outbox, room.id, me, &format!("{name} joined"))?;
                        }
                    }
                }
                Ok((my_view(conn, room, me)?, was_new))
            })
            .await?;
            Ok(if was_new { created(&room) } else { ok(&room) })
        }
        RoomType::Group | RoomType::Channel => {
            user.may(Action::CreateRoom)?;
            let name = RoomName::parse(body.name.as_deref().unwrap_or(""))?;
            let room = commit(&state, move |conn, outbox| {
                for id in &others {
                    match users::by_id(conn, *id) {
                        Ok(u) if !u.disabled => {}
                        _ => return Err(ApiError::NotFound(format!("user {id} not found"))),
                    }
                }
                let now = now_micros();
                let room = rooms::insert(
                    conn,
                    &NewRoom {
                        name: name.as_str(),
                        room_type: room_type.as_str(),
                        created_by_id: me,
                        direct_key: None,
                        created_at: now,
                        updated_at: now,
                        last_activity_at: now,
                    },
                )?;
                enroll(conn, outbox, room.id, me, Role::Admin)?;
                for id in &others {
                    enroll(conn, outbox, room.id, *id, Role::Member)?;
                }
                my_view(conn, room, me)
            })
            .await?;
            Ok(created(&room))
        }
    }
}

/// The room and the caller's role there, or 404 when it does not exist.
pub(crate) fn room_and_role(conn: &mut DbConn, room_id: i64, me: i64) -> ApiResult<(RoomRow, Option<Role>)> {
    let room = rooms::by_id(conn, room_id)?.ok_or_else(|| ApiError::not_found("room"))?;
    let role = rooms::role_of(conn, room_id, me)?;
    Ok((room, role))
}

pub async fn get(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let room = state
        .db
        .run(move |conn| {
            let (room, role) = room_and_role(conn, room_id, user.id)?;
            user.may(Action::ReadRoom(role))?;
            let mut view = my_view(conn, room, user.id)?;
            view.members = Some(rooms::members(conn, room_id)?);
            Ok::<_, ApiError>(view)
        })
        .await?;
    Ok(ok(&room))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    name: String,
}

pub async fn rename(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    Json(body): Json<RenameBody>,
) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let name = RoomName::parse(&body.name);
    let room = commit(&state, move |conn, outbox| {
        let (room, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ManageRoom(role))?;
        if room.room_type == RoomType::Direct.as_str() {
            return Err(ApiError::invalid("name: a direct room cannot be renamed"));
        }
        let name = name?;
        let old_name = room.name.clone();
        let room = rooms::rename(conn, room_id, name.as_str(), now_micros())?;
        if old_name != room.name {
            // The notice first, so that the room's `last_message` in the event is current.
            let text = format!("{} renamed the room to {}", user.display_name, room.name);
            post_system(conn, outbox, room_id, user.id, &text)?;
            let shared = rooms::shared_view(conn, room.clone())?;
            events::record(conn, outbox, room_id, "room_updated", &shared, None)?;
        }
        my_view(conn, room, user.id)
    })
    .await?;
    Ok(ok(&room))
}

pub async fn join(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let room = commit(&state, move |conn, outbox| {
        let (room, role) = room_and_role(conn, room_id, user.id)?;
        if role.is_some() {
            return my_view(conn, room, user.id);
        }
        if room.room_type != RoomType::Channel.as_str() {
            return Err(ApiError::not_found("room"));
        }
        user.may(Action::JoinChannel)?;
        enroll(conn, outbox, room_id, user.id, Role::Member)?;
        post_system(conn, outbox, room_id, user.id, &format!("{} joined", user.display_name))?;
        my_view(conn, room, user.id)
    })
    .await?;
    Ok(ok(&room))
}
