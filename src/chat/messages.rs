//! Messages: page, send, edit, delete; typing notices.

use std::collections::HashMap;

use super::access::{check_send, message_denied, room_and_role, visible_message};
use super::{views, Actor, Chat, Tx};
use crate::domain::markup;
use crate::domain::permissions::authorize;
use crate::domain::views::{Message, MessageDeleted, MessagePage, Typing};
use crate::domain::{
    Action, EventKind, MessageContent, MessageId, MessageType, PassingEvent, RoomEvent, RoomId, UserId,
};
use crate::error::{ApiError, ApiResult};
use crate::store::messages::Cursor;
use crate::store::models::{MessageRow, NewMessage};
use crate::store::{events, mentions, messages, now_micros, pins, reactions, DbConn};

pub const DEFAULT_PAGE: i64 = 50;
pub const MAX_PAGE: i64 = 100;

/// Which page of a room's messages: before or after an id, or the newest.
#[derive(Debug, Clone, Copy, Default)]
pub struct PageRequest {
    pub before: Option<MessageId>,
    pub after: Option<MessageId>,
    pub limit: Option<i64>,
}

/// A page of a room's messages in ascending order; `limit` defaults to 50 and is capped at
/// 100.
pub async fn page(chat: &Chat, user: Actor, room_id: RoomId, request: PageRequest) -> ApiResult<MessagePage> {
    let limit = match request.limit {
        None => DEFAULT_PAGE,
        Some(n) if n < 1 => return Err(ApiError::invalid("limit must be at least 1")),
        Some(n) => n.min(MAX_PAGE),
    };
    let cursor = Cursor { before: request.before, after: request.after, limit };
    chat.read(move |conn| {
        let (_, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::ReadRoom(role))?;
        let (rows, has_more) = messages::page(conn, room_id, cursor)?;
        Ok(MessagePage { messages: views::messages(conn, &rows, None)?, has_more })
    })
    .await
}

/// Messages that mention the caller by name, or mention a whole room, in rooms they are
/// still in; newest first, paged back with `before`; `limit` as for a room's messages.
pub async fn mentioning_me(
    chat: &Chat,
    user: Actor,
    before: Option<MessageId>,
    limit: Option<i64>,
) -> ApiResult<MessagePage> {
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(n) if n < 1 => return Err(ApiError::invalid("limit must be at least 1")),
        Some(n) => n.min(MAX_PAGE),
    };
    // A query across every room of the caller: counted like an action.
    chat.actions.spend(user.id)?;
    chat.read(move |conn| {
        user.may(Action::Browse)?;
        let (rows, has_more) = messages::mentioning(conn, user.id, before, limit)?;
        Ok(MessagePage { messages: views::messages(conn, &rows, None)?, has_more })
    })
    .await
}

/// A text message to send.
pub struct Draft {
    pub room_id: RoomId,
    pub content: String,
    pub reply_to_id: Option<MessageId>,
}

/// Sends a text message, within the sender's rate limit.
pub async fn send(chat: &Chat, user: Actor, draft: Draft) -> ApiResult<Message> {
    let Draft { room_id, content, reply_to_id } = draft;
    let content = MessageContent::parse(&content);
    chat.message_allowed(user.id).await?;
    chat.commit(move |tx| {
        let reply_to = check_send(tx, &user, room_id, reply_to_id)?;
        let content = content?;
        let new = NewMessage {
            room_id,
            sender_id: user.id,
            content: content.as_str(),
            message_type: MessageType::Text,
            reply_to_id,
            created_at: now_micros(),
        };
        post(tx, &new, Some(&user.display_name), reply_to.as_ref(), |_, _| Ok(()))
    })
    .await
}

/// Inserts a message, lets `store_files` record what it carries, moves the sender's read
/// mark to it (a sender has read the room up to what they write; the `new_message` event
/// says so, no `read` event follows), and records its `new_message` event. `sender_name`,
/// when the caller has it, spares a look-up, and so does `reply_to`, the message replied
/// to, read by `check_send`: a text message's view is then built from what is known
/// rather than read back.
pub(crate) fn post(
    tx: &mut Tx<'_>,
    new: &NewMessage<'_>,
    sender_name: Option<&str>,
    reply_to: Option<&MessageRow>,
    store_files: impl FnOnce(&mut DbConn, &MessageRow) -> ApiResult<()>,
) -> ApiResult<Message> {
    let marked = mark_up(tx, new.room_id, new.sender_id, new.content, new.message_type)?;
    let mark_read = new.message_type != MessageType::System;
    let row = messages::insert_sent(tx, new, &marked.html, marked.room, mark_read)?;
    mentions::add(tx, row.id, &marked.named)?;
    store_files(tx, &row)?;
    let reply_known = match (row.reply_to_id, reply_to) {
        (None, _) => true,
        (Some(id), Some(target)) => target.id == id,
        (Some(_), None) => false,
    };
    let view = match sender_name {
        Some(name) if row.message_type == MessageType::Text && reply_known => {
            let quote = match reply_to {
                Some(target) if row.reply_to_id.is_some() => {
                    Some(views::reply_quote(tx, target, (row.sender_id, name))?)
                }
                _ => None,
            };
            views::fresh(&row, name, quote, marked.named)
        }
        _ => {
            let known = sender_name.map(|name| (row.sender_id, name));
            views::messages(tx, std::slice::from_ref(&row), known)?
                .pop()
                .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no view of a new message")))?
        }
    };
    tx.record(RoomEvent::NewMessage(view.clone()))?;
    Ok(view)
}

/// What a message shows and whom it mentions, as of now in its room.
struct Marked {
    html: String,
    /// Members mentioned by `@username`.
    named: Vec<UserId>,
    /// `@room`, used by a sender allowed to.
    room: bool,
}

/// Renders a message's text and finds its mentions: `@username` of the room's members, and
/// `@room` where the sender may use it (anyone in direct rooms and groups, admins and
/// moderators in channels; from others it stays text).
fn mark_up(
    tx: &mut DbConn,
    room_id: RoomId,
    sender_id: UserId,
    content: &str,
    message_type: MessageType,
) -> ApiResult<Marked> {
    let html = markup::message_html(content, message_type, false);
    if message_type == MessageType::System {
        return Ok(Marked { html, named: Vec::new(), room: false });
    }
    let written = markup::written_mentions(content);
    let named = mentions::members_named(tx, room_id, &written.usernames)?;
    let room = written.room && {
        let (room, role) = room_and_role(tx, room_id, sender_id)?;
        markup::may_mention_room(room.room_type, role)
    };
    Ok(Marked { html, named, room })
}

/// Posts a system notice (membership changes, renames) in the room.
pub(crate) fn post_system(tx: &mut Tx<'_>, room_id: RoomId, actor_id: UserId, text: &str) -> ApiResult<()> {
    let new = NewMessage {
        room_id,
        sender_id: actor_id,
        content: text,
        message_type: MessageType::System,
        reply_to_id: None,
        created_at: now_micros(),
    };
    post(tx, &new, None, None, |_, _| Ok(())).map(|_| ())
}

/// Edits the caller's own message (or, with the right, another's); system messages and
/// deleted ones cannot be edited.
pub async fn edit(chat: &Chat, user: Actor, id: MessageId, content: String) -> ApiResult<Message> {
    chat.actions.spend(user.id)?;
    chat.commit(move |tx| {
        let (message, role) = visible_message(tx, &user, id)?;
        authorize(&user, Action::Edit { role: Some(role), is_sender: message.sender_id == user.id })
            .map_err(message_denied)?;
        if message.is_deleted {
            return Err(ApiError::not_found("message"));
        }
        if message.message_type == MessageType::System {
            return Err(ApiError::Forbidden("system messages cannot be edited".into()));
        }
        let content = MessageContent::parse(&content)?;
        let marked = mark_up(tx, message.room_id, message.sender_id, content.as_str(), message.message_type)?;
        let row = messages::edit(tx, id, content.as_str(), &marked.html, marked.room, now_micros())?;
        mentions::replace(tx, id, &marked.named)?;
        rewrite_stored(tx, id)?;
        let view = views::message(tx, &row)?;
        tx.record(RoomEvent::MessageUpdated(view.clone()))?;
        Ok(view)
    })
    .await
}

/// Deletes a message: its row keeps its place with no text; its files go. Deleting a
/// deleted message changes nothing.
pub async fn delete(chat: &Chat, user: Actor, id: MessageId) -> ApiResult<()> {
    chat.actions.spend(user.id)?;
    let room_id = chat
        .commit(move |tx| {
            let (message, role) = visible_message(tx, &user, id)?;
            authorize(&user, Action::Delete { role: Some(role), is_sender: message.sender_id == user.id })
                .map_err(message_denied)?;
            if message.is_deleted {
                return Ok(message.room_id);
            }
            messages::soft_delete(tx, id)?;
            // Its reactions and pin go with its text, and so do the reaction events in the
            // log: a later replay does not tell who reacted to what was deleted.
            reactions::clear(tx, id)?;
            pins::unpin(tx, id)?;
            mentions::replace(tx, id, &[])?;
            rewrite_stored(tx, id)?;
            let room_id = message.room_id;
            tx.record(RoomEvent::MessageDeleted(MessageDeleted { id, room_id }))?;
            Ok(room_id)
        })
        .await?;
    remove_files(chat, room_id, id).await;
    Ok(())
}

/// Removes a deleted message's files. A failure here leaves them to `causerie uploads gc`.
async fn remove_files(chat: &Chat, room_id: RoomId, id: MessageId) {
    let uploads = chat.settings.uploads_dir.clone();
    let removed =
        tokio::task::spawn_blocking(move || crate::uploads::gc::remove_message_files(&uploads, room_id, id)).await;
    match removed {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "removing a deleted message's files"),
        Err(error) => tracing::warn!(%error, "removing a deleted message's files"),
    }
}

/// Rewrites every stored event that shows a message, or a reply quoting it, with what it
/// shows now: after an edit or a delete no earlier text of the message stays in the log for
/// a stream to replay, whoever reads it and whenever they joined.
fn rewrite_stored(tx: &mut Tx<'_>, id: MessageId) -> ApiResult<()> {
    let mut shown = vec![id];
    shown.extend(messages::replies_to(tx, id)?);
    let stored = events::showing(tx, &shown)?;
    if stored.is_empty() {
        return Ok(());
    }
    let rows = messages::by_ids(tx, &shown)?;
    let now: HashMap<MessageId, Message> = views::messages(tx, &rows, None)?.into_iter().map(|m| (m.id, m)).collect();
    for (event_id, kind, payload, message_id) in stored {
        let Some(message) = now.get(&message_id) else { continue };
        let rewritten = match kind {
            EventKind::NewMessage | EventKind::MessageUpdated => serde_json::to_string(message),
            EventKind::RoomUpdated => {
                let mut room: serde_json::Value = serde_json::from_str(&payload).map_err(ApiError::internal)?;
                room["last_message"] = serde_json::to_value(message).map_err(ApiError::internal)?;
                serde_json::to_string(&room)
            }
            _ => continue,
        }
        .map_err(ApiError::internal)?;
        events::set_payload(tx, event_id, &rewritten)?;
    }
    Ok(())
}

/// Tells the room's open streams that the caller is typing; never stored.
pub async fn typing(chat: &Chat, user: Actor, room_id: RoomId) -> ApiResult<()> {
    let asker = user.clone();
    chat.read(move |conn| {
        let (_, role) = room_and_role(conn, room_id, asker.id)?;
        Ok(asker.may(Action::Send(role))?)
    })
    .await?;
    chat.limits.typing(user.id)?;
    chat.pass_on(PassingEvent::Typing(Typing { room_id, user_id: user.id, display_name: user.display_name }));
    Ok(())
}
