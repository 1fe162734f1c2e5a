//! Rooms: list, browse channels, create (direct rooms are one per pair), rename, join.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{created, ok, Json};
use crate::auth::CurrentUser;
use crate::chat::rooms::{self, Made, NewRoomRequest};
use crate::chat::Chat;
use crate::domain::{RoomId, RoomType, UserId};
use crate::error::ApiResult;

pub async fn list(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    Ok(ok(&rooms::mine(&chat, user.into_actor()).await?))
}

pub async fn channels(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    Ok(ok(&rooms::channels(&chat, user.into_actor()).await?))
}

#[derive(Deserialize)]
pub struct CreateRoomBody {
    room_type: String,
    name: Option<String>,
    /// Absent and `null` both mean none.
    #[serde(default)]
    member_ids: Option<Vec<UserId>>,
}

pub async fn create(
    chat: web::Data<Chat>,
    user: CurrentUser,
    Json(body): Json<CreateRoomBody>,
) -> ApiResult<HttpResponse> {
    let request = NewRoomRequest {
        room_type: RoomType::parse(&body.room_type)?,
        name: body.name,
        member_ids: body.member_ids.unwrap_or_default(),
    };
    let (room, made) = rooms::create(&chat, user.into_actor(), request).await?;
    Ok(match made {
        Made::Created => created(&room),
        Made::Found => ok(&room),
    })
}

pub async fn get(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<RoomId>) -> ApiResult<HttpResponse> {
    Ok(ok(&rooms::get(&chat, user.into_actor(), path.into_inner()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenameBody {
    name: String,
}

pub async fn rename(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<RoomId>,
    Json(body): Json<RenameBody>,
) -> ApiResult<HttpResponse> {
    Ok(ok(&rooms::rename(&chat, user.into_actor(), path.into_inner(), body.name).await?))
}

pub async fn join(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<RoomId>) -> ApiResult<HttpResponse> {
    Ok(ok(&rooms::join(&chat, user.into_actor(), path.into_inner()).await?))
}
