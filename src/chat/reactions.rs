//! Reactions: one emoji per person per message, at most 20 distinct per message.

use super::access::{message_denied, visible_message};
use super::{Actor, Chat};
use crate::domain::permissions::authorize;
use crate::domain::reactions::{Emoji, MAX_DISTINCT_PER_MESSAGE};
use crate::domain::views::ReactionChanged;
use crate::domain::{Action, MessageId, MessageType, RoomEvent};
use crate::error::{ApiError, ApiResult};
use crate::store::models::MessageRow;
use crate::store::{now_micros, reactions};

/// Adds the caller's reaction; adding it again changes nothing. `emoji` is the path
/// segment as sent (percent-encoded).
pub async fn add(chat: &Chat, user: Actor, id: MessageId, emoji: &str) -> ApiResult<()> {
    let emoji = Emoji::from_path_segment(emoji);
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let message = reactable(tx, &user, id)?;
        let emoji = emoji?;
        let present = reactions::emoji_of(tx, id)?;
        if !present.iter().any(|e| e == emoji.as_str()) && present.len() >= MAX_DISTINCT_PER_MESSAGE {
            return Err(ApiError::Conflict(format!(
                "a message carries at most {MAX_DISTINCT_PER_MESSAGE} different emoji"
            )));
        }
        if reactions::add(tx, id, message.room_id, user.id, emoji.as_str(), now_micros())? {
            let change = ReactionChanged {
                room_id: message.room_id,
                message_id: id,
                emoji: emoji.as_str().to_owned(),
                user_id: user.id,
            };
            tx.record(RoomEvent::ReactionAdded(change))?;
        }
        Ok(())
    })
    .await
}

/// Removes the caller's reaction; removing one that is not there changes nothing.
pub async fn remove(chat: &Chat, user: Actor, id: MessageId, emoji: &str) -> ApiResult<()> {
    let emoji = Emoji::from_path_segment(emoji);
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let message = reactable(tx, &user, id)?;
        let emoji = emoji?;
        if reactions::remove(tx, id, user.id, emoji.as_str())? {
            let change = ReactionChanged {
                room_id: message.room_id,
                message_id: id,
                emoji: emoji.as_str().to_owned(),
                user_id: user.id,
            };
            tx.record(RoomEvent::ReactionRemoved(change))?;
        }
        Ok(())
    })
    .await
}

/// A message the caller may react to: visible to them, who may post in its room, and
/// neither deleted nor a system notice.
fn reactable(tx: &mut crate::store::DbConn, user: &Actor, id: MessageId) -> ApiResult<MessageRow> {
    let (message, role) = visible_message(tx, user, id)?;
    authorize(user, Action::Send(Some(role))).map_err(message_denied)?;
    if message.is_deleted {
        return Err(ApiError::invalid("message_id: the message was deleted"));
    }
    if message.message_type == MessageType::System {
        return Err(ApiError::invalid("message_id: system messages take no reactions"));
    }
    Ok(message)
}
