//! Room members: list, add, change role or mute, remove or leave. Membership changes post
//! a system message in the room.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::messages::post_system;
use super::rooms::{enroll, room_and_role};
use super::{commit, created, no_content, ok, Json};
use crate::auth::CurrentUser;
use crate::broker::Notice;
use crate::domain::views::MemberChanged;
use crate::domain::{Action, Role, RoomType};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::{events, rooms, users};

pub async fn list(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let members = state
        .db
        .run(move |conn| {
            let (_, role) = room_and_role(conn, room_id, user.id)?;
            user.may(Action::ReadRoom(role))?;
            Ok::<_, ApiError>(rooms::members(conn, room_id)?)
        })
        .await?;
    Ok(ok(&members))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    user_id: i64,
    role: Option<String>,
}

pub async fn add(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    Json(body): Json<AddBody>,
) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let role = body.role.as_deref().map(Role::parse).transpose();
    let member = commit(&state, move |conn, outbox| {
        let (room, my_role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ManageRoom(my_role))?;
        if room.room_type == RoomType::Direct.as_str() {
            return Err(ApiError::invalid("room_id: a direct room has exactly two members"));
        }
        let role = role?.unwrap_or(Role::Member);
        let added = users::by_id(conn, body.user_id).map_err(|_| ApiError::not_found("user"))?;
        if added.disabled {
            return Err(ApiError::not_found("user"));
        }
        if rooms::membership(conn, room_id, added.id)?.is_some() {
            return Err(ApiError::Conflict("already a member".into()));
        }
        enroll(conn, outbox, room_id, added.id, role)?;
        post_system(conn, outbox, room_id, user.id, &format!("{} added {}", user.display_name, added.display_name))?;
        Ok(rooms::member(conn, room_id, added.id)?)
    })
    .await?;
    Ok(created(&member))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    role: Option<String>,
    is_muted: Option<bool>,
}

pub async fn update(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<HttpResponse> {
    let (room_id, target) = path.into_inner();
    if body.role.is_none() && body.is_muted.is_none() {
        return Err(ApiError::invalid("role or is_muted is required"));
    }
    let role = body.role.as_deref().map(Role::parse).transpose();
    let member = commit(&state, move |conn, outbox| {
        let (room, my_role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::OwnMembership(my_role))?;
        let current = rooms::membership(conn, room_id, target)?.ok_or_else(|| ApiError::not_found("member"))?;
        if let Some(role) = role? {
            user.may(Action::ManageRoom(my_role))?;
            if room.room_type == RoomType::Direct.as_str() {
                return Err(ApiError::invalid("role: roles do not apply to direct rooms"));
            }
            if current.role != role.as_str() {
                if current.role == Role::Admin.as_str() && rooms::admin_count(conn, room_id)? <= 1 {
                    return Err(ApiError::Conflict("a room keeps at least one admin".into()));
                }
                rooms::set_role(conn, room_id, target, role)?;
                let name = rooms::member(conn, room_id, target)?.display_name;
                post_system(conn, outbox, room_id, user.id, &format!("{} made {} {}", user.display_name, name, role))?;
            }
        }
        if let Some(muted) = body.is_muted {
            if target != user.id {
                return Err(ApiError::Forbidden("members mute rooms for themselves only".into()));
            }
            rooms::set_muted(conn, room_id, target, muted)?;
        }
        let member = rooms::member(conn, room_id, target)?;
        events::record(
            conn,
            outbox,
            room_id,
            "member_updated",
            &MemberChanged { room_id, member: member.clone() },
            None,
        )?;
        Ok(member)
    })
    .await?;
    Ok(ok(&member))
}

pub async fn remove(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<(i64, i64)>,
) -> ApiResult<HttpResponse> {
    let (room_id, target) = path.into_inner();
    commit(&state, move |conn, outbox| {
        let (_, my_role) = room_and_role(conn, room_id, user.id)?;
        let leaving = target == user.id;
        if leaving {
            user.may(Action::OwnMembership(my_role))?;
        } else {
            user.may(Action::ManageRoom(my_role))?;
        }
        let current = rooms::membership(conn, room_id, target)?.ok_or_else(|| ApiError::not_found("member"))?;
        let member = rooms::member(conn, room_id, target)?;
        let mut heir_name = None;
        if current.role == Role::Admin.as_str() && rooms::admin_count(conn, room_id)? <= 1 {
            // The last admin leaves: hand the room to the longest-standing member.
            if let Some(heir) = rooms::members(conn, room_id)?.into_iter().find(|m| m.user_id != target) {
                rooms::set_role(conn, room_id, heir.user_id, Role::Admin)?;
                let heir = rooms::member(conn, room_id, heir.user_id)?;
                heir_name = Some(heir.display_name.clone());
                events::record(
                    conn,
                    outbox,
                    room_id,
                    "member_updated",
                    &MemberChanged { room_id, member: heir },
                    None,
                )?;
            }
        }
        rooms::remove_member(conn, room_id, target)?;
        let last_event_id = events::record(
            conn,
            outbox,
            room_id,
            "member_left",
            &MemberChanged { room_id, member: member.clone() },
            Some(target),
        )?;
        outbox.push(Notice::Left { room_id, user_id: target, last_event_id });
        let text = if leaving {
            format!("{} left", member.display_name)
        } else {
            format!("{} removed {}", user.display_name, member.display_name)
        };
        post_system(conn, outbox, room_id, user.id, &text)?;
        if let Some(heir) = heir_name {
            post_system(conn, outbox, room_id, user.id, &format!("{heir} is now an admin"))?;
        }
        Ok(())
    })
    .await?;
    Ok(no_content())
}
