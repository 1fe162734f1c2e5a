//! Room members: list, add, change role or mute, remove or leave. Membership changes post
//! a system message in the room.

use super::access::{enabled_user, room_and_role};
use super::messages::post_system;
use super::rooms::enroll;
use super::{views, Actor, Chat};
use crate::broker::Notice;
use crate::domain::markup::Notify;
use crate::domain::views::{Member, MemberChanged};
use crate::domain::{Action, Role, RoomEvent, RoomId, RoomType, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::{reads, rooms};

pub async fn list(chat: &Chat, user: Actor, room_id: RoomId) -> ApiResult<Vec<Member>> {
    chat.read(move |conn| {
        let (_, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ReadRoom(role))?;
        Ok(views::members(conn, room_id)?)
    })
    .await
    .map(|members| chat.with_presence(members))
}

/// Adds a user to a group or channel (room admins); `role` is the text the client sent,
/// checked once the caller is known to manage the room.
pub async fn add(chat: &Chat, user: Actor, room_id: RoomId, added: UserId, role: Option<String>) -> ApiResult<Member> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (room, my_role) = room_and_role(tx, room_id, user.id)?;
        user.may(Action::ManageRoom(my_role))?;
        if room.room_type == RoomType::Direct {
            return Err(ApiError::invalid("room_id: a direct room has exactly two members"));
        }
        let role = role.as_deref().map(Role::parse).transpose()?.unwrap_or(Role::Member);
        let added = enabled_user(tx, added)?.ok_or_else(|| ApiError::not_found("user"))?;
        if rooms::membership(tx, room_id, added.id)?.is_some() {
            return Err(ApiError::Conflict("already a member".into()));
        }
        enroll(tx, room_id, added.id, role)?;
        reads::start_at_newest(tx, room_id, added.id)?;
        post_system(tx, room_id, user.id, &format!("{} added {}", user.display_name, added.display_name))?;
        Ok(views::member(tx, room_id, added.id)?)
    })
    .await
    .map(|member| chat.member_with_presence(member))
}

/// What a member PATCH changes: the role (room admins) and the caller's own mute and
/// notification level.
pub struct MemberChange {
    pub role: Option<String>,
    pub is_muted: Option<bool>,
    pub notify: Option<String>,
}

pub async fn update(
    chat: &Chat,
    user: Actor,
    room_id: RoomId,
    target: UserId,
    change: MemberChange,
) -> ApiResult<Member> {
    chat.actions.spend(user.id)?;
    if change.role.is_none() && change.is_muted.is_none() && change.notify.is_none() {
        return Err(ApiError::invalid("role, is_muted or notify is required"));
    }
    let role = change.role.as_deref().map(Role::parse).transpose();
    let notify = change.notify.as_deref().map(Notify::parse).transpose();
    chat.commit(move |tx| {
        let (room, my_role) = room_and_role(tx, room_id, user.id)?;
        user.may(Action::OwnMembership(my_role))?;
        let current = rooms::membership(tx, room_id, target)?.ok_or_else(|| ApiError::not_found("member"))?;
        if let Some(role) = role? {
            user.may(Action::ManageRoom(my_role))?;
            if room.room_type == RoomType::Direct {
                return Err(ApiError::invalid("role: roles do not apply to direct rooms"));
            }
            if current.role != role {
                if current.role == Role::Admin && rooms::admin_count(tx, room_id)? <= 1 {
                    return Err(ApiError::Conflict("a room keeps at least one admin".into()));
                }
                rooms::set_role(tx, room_id, target, role)?;
                let name = views::member(tx, room_id, target)?.display_name;
                post_system(tx, room_id, user.id, &format!("{} made {} {}", user.display_name, name, role))?;
            }
        }
        if let Some(muted) = change.is_muted {
            if target != user.id {
                return Err(ApiError::Forbidden("members mute rooms for themselves only".into()));
            }
            rooms::set_muted(tx, room_id, target, muted)?;
        }
        if let Some(level) = notify? {
            if target != user.id {
                return Err(ApiError::Forbidden("members choose their notifications for themselves only".into()));
            }
            rooms::set_notify(tx, room_id, target, level.as_str())?;
        }
        let member = views::member(tx, room_id, target)?;
        tx.record(RoomEvent::MemberUpdated(MemberChanged { room_id, member: member.clone() }))?;
        Ok(member)
    })
    .await
    .map(|member| chat.member_with_presence(member))
}

/// Removes a member (room admins) or leaves (anyone). When the last admin goes, the
/// longest-standing member becomes admin, so that no room is left without one.
pub async fn remove(chat: &Chat, user: Actor, room_id: RoomId, target: UserId) -> ApiResult<()> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (_, my_role) = room_and_role(tx, room_id, user.id)?;
        let leaving = target == user.id;
        if leaving {
            user.may(Action::OwnMembership(my_role))?;
        } else {
            user.may(Action::ManageRoom(my_role))?;
        }
        let current = rooms::membership(tx, room_id, target)?.ok_or_else(|| ApiError::not_found("member"))?;
        let member = views::member(tx, room_id, target)?;
        let mut heir_name = None;
        if current.role == Role::Admin && rooms::admin_count(tx, room_id)? <= 1 {
            if let Some(heir) = views::members(tx, room_id)?.into_iter().find(|m| m.user_id != target) {
                rooms::set_role(tx, room_id, heir.user_id, Role::Admin)?;
                let heir = views::member(tx, room_id, heir.user_id)?;
                heir_name = Some(heir.display_name.clone());
                tx.record(RoomEvent::MemberUpdated(MemberChanged { room_id, member: heir }))?;
            }
        }
        rooms::remove_member(tx, room_id, target)?;
        let last_event_id = tx.record(RoomEvent::MemberLeft(MemberChanged { room_id, member: member.clone() }))?;
        tx.notify(Notice::Left { room_id: room_id.get(), user_id: target.get(), last_event_id });
        let text = if leaving {
            format!("{} left", member.display_name)
        } else {
            format!("{} removed {}", user.display_name, member.display_name)
        };
        post_system(tx, room_id, user.id, &text)?;
        if let Some(heir) = heir_name {
            post_system(tx, room_id, user.id, &format!("{heir} is now an admin"))?;
        }
        Ok(())
    })
    .await
}
