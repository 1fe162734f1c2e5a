//! Pinned messages: room admins and moderators pin, anyone in a direct room.

use super::access::{message_denied, room_and_role, visible_message};
use super::{views, Actor, Chat};
use crate::domain::permissions::authorize;
use crate::domain::views::Message;
use crate::domain::{Action, MessageId, RoomEvent, RoomId, RoomType};
use crate::error::{ApiError, ApiResult};
use crate::store::{messages, now_micros, pins, rooms};

/// Pins listed at most: the most recent ones.
pub const MAX_LISTED: i64 = 100;

/// Pins (`pin == true`) or unpins a message; doing it again changes nothing. The room hears
/// of a change as `message_updated`.
pub async fn set(chat: &Chat, user: Actor, id: MessageId, pin: bool) -> ApiResult<()> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (message, role) = visible_message(tx, &user, id)?;
        let room = rooms::by_id(tx, message.room_id)?.ok_or_else(|| ApiError::not_found("message"))?;
        authorize(&user, Action::Pin { role: Some(role), direct: room.room_type == RoomType::Direct })
            .map_err(message_denied)?;
        if message.is_deleted {
            return Err(ApiError::invalid("message_id: the message was deleted"));
        }
        let changed =
            if pin { pins::pin(tx, id, message.room_id, user.id, now_micros())? } else { pins::unpin(tx, id)? };
        if changed {
            let view = views::message(tx, &message)?;
            tx.record(RoomEvent::MessageUpdated(view))?;
        }
        Ok(())
    })
    .await
}

/// A room's pinned messages, most recently pinned first.
pub async fn list(chat: &Chat, user: Actor, room_id: RoomId) -> ApiResult<Vec<Message>> {
    chat.read(move |conn| {
        let (_, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ReadRoom(role))?;
        let ids = pins::of_room(conn, room_id, MAX_LISTED)?;
        let rows = messages::by_ids(conn, &ids)?;
        let mut list = views::messages(conn, &rows, None)?;
        list.sort_by_key(|m| ids.iter().position(|id| *id == m.id));
        Ok(list)
    })
    .await
}
