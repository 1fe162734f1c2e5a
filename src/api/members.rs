//! Room members: list, add, change role or mute, remove or leave.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{created, no_content, ok, Json};
use crate::auth::CurrentUser;
use crate::chat::members::{self, MemberChange};
use crate::chat::Chat;
use crate::domain::{RoomId, UserId};
use crate::error::ApiResult;

pub async fn list(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<RoomId>) -> ApiResult<HttpResponse> {
    Ok(ok(&members::list(&chat, user.into_actor(), path.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddBody {
    user_id: UserId,
    role: Option<String>,
}

pub async fn add(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<RoomId>,
    Json(body): Json<AddBody>,
) -> ApiResult<HttpResponse> {
    let member = members::add(&chat, user.into_actor(), path.into_inner(), body.user_id, body.role).await?;
    Ok(created(&member))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    role: Option<String>,
    is_muted: Option<bool>,
    notify: Option<String>,
}

pub async fn update(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<(RoomId, UserId)>,
    Json(body): Json<UpdateBody>,
) -> ApiResult<HttpResponse> {
    let (room_id, target) = path.into_inner();
    let change = MemberChange { role: body.role, is_muted: body.is_muted, notify: body.notify };
    Ok(ok(&members::update(&chat, user.into_actor(), room_id, target, change).await?))
}

pub async fn remove(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<(RoomId, UserId)>,
) -> ApiResult<HttpResponse> {
    let (room_id, target) = path.into_inner();
    members::remove(&chat, user.into_actor(), room_id, target).await?;
    Ok(no_content())
}
