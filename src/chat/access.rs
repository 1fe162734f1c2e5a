//! Who may see what: the room and the caller's role in it, a message the caller may see,
//! whether they may post, and accounts that may be added to rooms.

use super::Actor;
use crate::domain::permissions::Denied;
use crate::domain::{Action, MessageId, Role, RoomId, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{MessageRow, RoomRow, UserRow};
use crate::store::{messages, rooms, users, DbConn};

/// The room and the caller's role there, or 404 when it does not exist.
pub fn room_and_role(conn: &mut DbConn, room_id: RoomId, me: UserId) -> ApiResult<(RoomRow, Option<Role>)> {
    let room = rooms::by_id(conn, room_id)?.ok_or_else(|| ApiError::not_found("room"))?;
    let role = rooms::role_of(conn, room_id, me)?;
    Ok((room, role))
}

/// Checks that the caller may post in the room and that the reply target is there;
/// returns the reply target.
pub fn check_send(
    conn: &mut DbConn,
    user: &Actor,
    room_id: RoomId,
    reply_to_id: Option<MessageId>,
) -> ApiResult<Option<MessageRow>> {
    // One query: a membership row implies the room exists.
    let role = rooms::role_of(conn, room_id, user.id)?;
    user.may(Action::Send(role))?;
    let Some(reply_to) = reply_to_id else { return Ok(None) };
    match messages::by_id(conn, reply_to)? {
        Some(target) if target.room_id == room_id => Ok(Some(target)),
        _ => Err(ApiError::invalid("reply_to_id: must be a message in the same room")),
    }
}

/// The message and the caller's role in its room; 404 for a message the caller may not see.
pub fn visible_message(conn: &mut DbConn, user: &Actor, id: MessageId) -> ApiResult<(MessageRow, Role)> {
    let message = messages::by_id(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
    let role = rooms::role_of(conn, message.room_id, user.id)?.ok_or_else(|| ApiError::not_found("message"))?;
    Ok((message, role))
}

/// A refusal about a message: one the caller may not see is not found.
pub fn message_denied(denied: Denied) -> ApiError {
    match denied {
        Denied::NotFound => ApiError::not_found("message"),
        other => other.into(),
    }
}

/// The user, unless there is none or the account is disabled: nobody adds a disabled
/// account anywhere.
pub fn enabled_user(conn: &mut DbConn, id: UserId) -> ApiResult<Option<UserRow>> {
    Ok(users::by_id(conn, id)?.filter(|user| !user.disabled))
}
