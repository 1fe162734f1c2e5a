//! Messages: page, send, edit, delete; read marks, receipts and typing.

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::rooms::room_and_role;
use super::{commit, created, no_content, ok, parse_json, Query};
use crate::auth::CurrentUser;
use crate::broker::{Event, Outbox};
use crate::domain::permissions::Denied;
use crate::domain::views::{MessageDeleted, MessagePage, ReadMarked, Typing};
use crate::domain::{format_time, Action, MessageContent, MessageType};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::messages::Cursor;
use crate::store::models::{MessageRow, NewMessage};
use crate::store::{events, messages, now_micros, reads, rooms, DbConn};

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 100;

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<i64>,
    after: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    query: Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let PageQuery { before, after, limit } = query.into_inner();
    let limit = match limit {
        None => DEFAULT_PAGE,
        Some(n) if n < 1 => return Err(ApiError::invalid("limit must be at least 1")),
        Some(n) => n.min(MAX_PAGE),
    };
    let page = state
        .db
        .run(move |conn| {
            let (_, role) = room_and_role(conn, room_id, user.id)?;
            user.may(Action::ReadRoom(role))?;
            let (rows, has_more) = messages::page(conn, room_id, Cursor { before, after, limit })?;
            Ok::<_, ApiError>(MessagePage { messages: messages::views(conn, &rows)?, has_more })
        })
        .await?;
    Ok(ok(&page))
}

/// Inserts a message and records its `new_message` event. `sender_name`, when the caller
/// has it, spares a look-up.
pub fn insert_and_announce(
    conn: &mut DbConn,
    outbox: &mut Outbox,
    new: &NewMessage<'_>,
    sender_name: Option<&str>,
    store_files: impl FnOnce(&mut DbConn, &MessageRow) -> ApiResult<()>,
) -> ApiResult<crate::domain::views::Message> {
    let row = messages::insert(conn, new)?;
    store_files(conn, &row)?;
    let known = sender_name.map(|name| (row.sender_id, name));
    let view = messages::views_knowing(conn, std::slice::from_ref(&row), known)?
        .pop()
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("no view of a new message")))?;
    events::record(conn, outbox, row.room_id, "new_message", &view, None)?;
    Ok(view)
}

/// Posts a system notice (membership changes, renames) in the room.
pub(crate) fn post_system(
    conn: &mut DbConn,
    outbox: &mut Outbox,
    room_id: i64,
    actor_id: i64,
    text: &str,
) -> ApiResult<()> {
    let new = NewMessage {
        room_id,
        sender_id: actor_id,
        content: text,
        message_type: MessageType::System.as_str(),
        reply_to_id: None,
        created_at: now_micros(),
    };
    insert_and_announce(conn, outbox, &new, None, |_, _| Ok(())).map(|_| ())
}

/// Checks that the caller may post in the room and that the reply target is there.
pub(crate) fn check_send(
    conn: &mut DbConn,
    user: &CurrentUser,
    room_id: i64,
    reply_to_id: Option<i64>,
) -> ApiResult<()> {
    // One query: a membership row implies the room exists.
    let role = rooms::role_of(conn, room_id, user.id)?;
    user.may(Action::Send(role))?;
    if let Some(reply_to) = reply_to_id {
        match messages::by_id(conn, reply_to)? {
            Some(target) if target.room_id == room_id => {}
            _ => return Err(ApiError::invalid("reply_to_id: must be a message in the same room")),
        }
    }
    Ok(())
}

#[derive(Deserialize)]
pub struct SendBody {
    room_id: i64,
    content: String,
    reply_to_id: Option<i64>,
}

/// `POST /messages`: JSON, or `multipart/form-data` with files.
pub async fn send(
    state: web::Data<AppState>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    if is_multipart {
        return super::attachments::send_with_files(state, user, req, payload).await;
    }
    let body = web::Bytes::from_request(&req, &mut payload.into_inner())
        .await
        .map_err(|e| super::body_error(e, state.settings.max_json_bytes))?;
    let body: SendBody = parse_json(&body)?;
    let content = MessageContent::parse(&body.content);
    state.limits.message(user.id)?;
    let message = commit(&state, move |conn, outbox| {
        check_send(conn, &user, body.room_id, body.reply_to_id)?;
        let content = content?;
        let new = NewMessage {
            room_id: body.room_id,
            sender_id: user.id,
            content: content.as_str(),
            message_type: MessageType::Text.as_str(),
            reply_to_id: body.reply_to_id,
            created_at: now_micros(),
        };
        insert_and_announce(conn, outbox, &new, Some(&user.display_name), |_, _| Ok(()))
    })
    .await?;
    Ok(created(&message))
}

/// The message and the caller's role in its room; 404 for a message the caller may not see.
fn visible_message(
    conn: &mut DbConn,
    user: &CurrentUser,
    id: i64,
) -> ApiResult<(MessageRow, Option<crate::domain::Role>)> {
    let message = messages::by_id(conn, id)?.ok_or_else(|| ApiError::not_found("message"))?;
    let role = rooms::role_of(conn, message.room_id, user.id)?;
    if role.is_none() {
        return Err(ApiError::not_found("message"));
    }
    Ok((message, role))
}

fn message_denied(denied: Denied) -> ApiError {
    match denied {
        Denied::NotFound => ApiError::not_found("message"),
        other => other.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    content: String,
}

pub async fn edit(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: super::Json<EditBody>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let content = MessageContent::parse(&body.0.content);
    let message = commit(&state, move |conn, outbox| {
        let (message, role) = visible_message(conn, &user, id)?;
        crate::domain::permissions::authorize(&user, Action::Edit { role, is_sender: message.sender_id == user.id })
            .map_err(message_denied)?;
        if message.is_deleted {
            return Err(ApiError::not_found("message"));
        }
        if message.message_type == MessageType::System.as_str() {
            return Err(ApiError::Forbidden("system messages cannot be edited".into()));
        }
        let content = content?;
        let row = messages::edit(conn, id, content.as_str(), now_micros())?;
        let view = messages::view(conn, &row)?;
        events::record(conn, outbox, row.room_id, "message_updated", &view, None)?;
        Ok(view)
    })
    .await?;
    Ok(ok(&message))
}

pub async fn delete(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let room_id = commit(&state, move |conn, outbox| {
        let (message, role) = visible_message(conn, &user, id)?;
        crate::domain::permissions::authorize(&user, Action::Delete { role, is_sender: message.sender_id == user.id })
            .map_err(message_denied)?;
        if message.is_deleted {
            return Ok(message.room_id);
        }
        messages::soft_delete(conn, id)?;
        let room_id = message.room_id;
        events::record(conn, outbox, room_id, "message_deleted", &MessageDeleted { id, room_id }, None)?;
        Ok(room_id)
    })
    .await?;
    // The rows stay (the message keeps its place); its files go. A failure here leaves
    // them to `causerie uploads gc`.
    let uploads = state.settings.uploads_dir.clone();
    if let Err(error) = web::block(move || crate::uploads::gc::remove_message_files(&uploads, room_id, id)).await {
        tracing::warn!(?error, "removing a deleted message's files");
    }
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    message_id: i64,
}

pub async fn mark_read(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    body: super::Json<ReadBody>,
) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let message_id = body.0.message_id;
    commit(&state, move |conn, outbox| {
        let (_, role) = room_and_role(conn, room_id, user.id)?;
        user.may(Action::OwnMembership(role))?;
        match messages::by_id(conn, message_id)? {
            Some(m) if m.room_id == room_id => {}
            _ => return Err(ApiError::not_found("message")),
        }
        let member = rooms::membership(conn, room_id, user.id)?.ok_or_else(|| ApiError::not_found("room"))?;
        let now = now_micros();
        if reads::mark(conn, &member, message_id, now)? {
            let read = ReadMarked { room_id, user_id: user.id, message_id, read_at: format_time(now) };
            events::record(conn, outbox, room_id, "read", &read, None)?;
        }
        Ok(())
    })
    .await?;
    Ok(no_content())
}

pub async fn receipts(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let list = state
        .db
        .run(move |conn| {
            let (message, role) = visible_message(conn, &user, id)?;
            crate::domain::permissions::authorize(&user, Action::ReadRoom(role)).map_err(message_denied)?;
            Ok::<_, ApiError>(reads::receipts(conn, message.room_id, id, message.sender_id)?)
        })
        .await?;
    Ok(ok(&list))
}

pub async fn typing(state: web::Data<AppState>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    let room_id = path.into_inner();
    let (user_id, display_name) = (user.id, user.display_name.clone());
    state
        .db
        .run(move |conn| {
            let (_, role) = room_and_role(conn, room_id, user.id)?;
            user.may(Action::Send(role))
        })
        .await?;
    state.limits.typing(user_id)?;
    state.hub.publish_ephemeral(Event::ephemeral(room_id, "typing", &Typing { room_id, user_id, display_name }));
    Ok(no_content())
}
