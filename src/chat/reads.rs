//! Read marks and receipts.

use super::access::{message_denied, room_and_role, visible_message};
use super::{views, Actor, Chat};
use crate::domain::permissions::authorize;
use crate::domain::views::{ReadMarked, Receipt};
use crate::domain::{format_time, Action, MessageId, RoomEvent, RoomId};
use crate::error::{ApiError, ApiResult};
use crate::store::{messages, now_micros, reads, rooms};

/// Moves the caller's read mark in a room forward to a message of that room; the room
/// hears of it (`read`) only when the mark moved.
pub async fn mark(chat: &Chat, user: Actor, room_id: RoomId, message_id: MessageId) -> ApiResult<()> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (_, role) = room_and_role(tx, room_id, user.id)?;
        user.may(Action::OwnMembership(role))?;
        match messages::by_id(tx, message_id)? {
            Some(m) if m.room_id == room_id => {}
            _ => return Err(ApiError::not_found("message")),
        }
        let member = rooms::membership(tx, room_id, user.id)?.ok_or_else(|| ApiError::not_found("room"))?;
        let now = now_micros();
        if reads::mark(tx, &member, message_id, now)? {
            tx.record(RoomEvent::Read(ReadMarked {
                room_id,
                user_id: user.id,
                message_id,
                read_at: format_time(now),
            }))?;
        }
        Ok(())
    })
    .await
}

/// Who has seen a message.
pub async fn receipts(chat: &Chat, user: Actor, id: MessageId) -> ApiResult<Vec<Receipt>> {
    chat.read(move |conn| {
        let (message, role) = visible_message(conn, &user, id)?;
        authorize(&user, Action::ReadRoom(Some(role))).map_err(message_denied)?;
        Ok(views::receipts(conn, &message)?)
    })
    .await
}
