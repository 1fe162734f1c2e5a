//! Messages: page, send, edit, delete; read marks, receipts and typing.

use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::extract::{body_error, json_label, require_label};
use super::{created, no_content, ok, Json, Query};
use crate::auth::CurrentUser;
use crate::chat::messages::{Draft, PageRequest};
use crate::chat::Chat;
use crate::chat::{messages, pins, reactions, reads};
use crate::domain::{parse_json, MessageId, RoomId};
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct PageQuery {
    before: Option<MessageId>,
    after: Option<MessageId>,
    limit: Option<i64>,
}

pub async fn list(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<RoomId>,
    query: Query<PageQuery>,
) -> ApiResult<HttpResponse> {
    let PageQuery { before, after, limit } = query.into_inner();
    let page =
        messages::page(&chat, user.into_actor(), path.into_inner(), PageRequest { before, after, limit }).await?;
    Ok(ok(&page))
}

#[derive(Deserialize)]
pub struct MentionsQuery {
    before: Option<MessageId>,
    limit: Option<i64>,
}

/// `GET /me/mentions`: messages that mention me, newest first.
pub async fn mentions(
    chat: web::Data<Chat>,
    user: CurrentUser,
    query: Query<MentionsQuery>,
) -> ApiResult<HttpResponse> {
    let MentionsQuery { before, limit } = query.into_inner();
    Ok(ok(&messages::mentioning_me(&chat, user.into_actor(), before, limit).await?))
}

#[derive(Deserialize)]
pub struct SendBody {
    room_id: RoomId,
    content: String,
    reply_to_id: Option<MessageId>,
}

const MULTIPART: &str = "multipart/form-data";

/// `POST /messages`: JSON, or `multipart/form-data` with files.
pub async fn send(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    payload: web::Payload,
) -> ApiResult<HttpResponse> {
    let is_multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim_start().get(..MULTIPART.len()))
        .is_some_and(|v| v.eq_ignore_ascii_case(MULTIPART));
    if is_multipart {
        return super::attachments::send_with_files(chat, user, req, payload).await;
    }
    let labelled = json_label(&req)?;
    let body = web::Bytes::from_request(&req, &mut payload.into_inner())
        .await
        .map_err(|e| body_error(e, chat.settings.max_json_bytes))?;
    require_label(labelled, &body)?;
    let SendBody { room_id, content, reply_to_id } = parse_json(&body)?;
    let message = messages::send(&chat, user.into_actor(), Draft { room_id, content, reply_to_id }).await?;
    Ok(created(&message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EditBody {
    content: String,
}

pub async fn edit(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<MessageId>,
    Json(body): Json<EditBody>,
) -> ApiResult<HttpResponse> {
    let message = messages::edit(&chat, user.into_actor(), path.into_inner(), body.content).await?;
    Ok(ok(&message))
}

pub async fn delete(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<MessageId>) -> ApiResult<HttpResponse> {
    messages::delete(&chat, user.into_actor(), path.into_inner()).await?;
    Ok(no_content())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    message_id: MessageId,
}

pub async fn mark_read(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<RoomId>,
    Json(body): Json<ReadBody>,
) -> ApiResult<HttpResponse> {
    reads::mark(&chat, user.into_actor(), path.into_inner(), body.message_id).await?;
    Ok(no_content())
}

pub async fn receipts(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<MessageId>) -> ApiResult<HttpResponse> {
    let list = reads::receipts(&chat, user.into_actor(), path.into_inner()).await?;
    Ok(ok(&list))
}

pub async fn typing(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<RoomId>) -> ApiResult<HttpResponse> {
    messages::typing(&chat, user.into_actor(), path.into_inner()).await?;
    Ok(no_content())
}

/// The `{emoji}` segment as sent, still percent-encoded: the router's decoding would let
/// invalid encodings through as text.
fn emoji_segment(req: &HttpRequest) -> &str {
    req.uri().path().rsplit('/').next().unwrap_or_default()
}

pub async fn add_reaction(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(MessageId, String)>,
) -> ApiResult<HttpResponse> {
    reactions::add(&chat, user.into_actor(), path.into_inner().0, emoji_segment(&req)).await?;
    Ok(no_content())
}

pub async fn remove_reaction(
    chat: web::Data<Chat>,
    user: CurrentUser,
    req: HttpRequest,
    path: web::Path<(MessageId, String)>,
) -> ApiResult<HttpResponse> {
    reactions::remove(&chat, user.into_actor(), path.into_inner().0, emoji_segment(&req)).await?;
    Ok(no_content())
}

pub async fn pin(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<MessageId>) -> ApiResult<HttpResponse> {
    pins::set(&chat, user.into_actor(), path.into_inner(), true).await?;
    Ok(no_content())
}

pub async fn unpin(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<MessageId>) -> ApiResult<HttpResponse> {
    pins::set(&chat, user.into_actor(), path.into_inner(), false).await?;
    Ok(no_content())
}

pub async fn pins(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<RoomId>) -> ApiResult<HttpResponse> {
    let list = pins::list(&chat, user.into_actor(), path.into_inner()).await?;
    Ok(ok(&list))
}
