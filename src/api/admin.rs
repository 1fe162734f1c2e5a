//! User search (for picking members) and account administration.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{created, ok, Json, Query};
use crate::auth::CurrentUser;
use crate::chat::users::{self, AccountChange, AccountRequest};
use crate::chat::Chat;
use crate::domain::UserId;
use crate::error::ApiResult;

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<i64>,
}

pub async fn search_users(
    chat: web::Data<Chat>,
    user: CurrentUser,
    query: Query<SearchQuery>,
) -> ApiResult<HttpResponse> {
    let SearchQuery { q, limit } = query.into_inner();
    Ok(ok(&users::search(&chat, user.into_actor(), q, limit).await?))
}

pub async fn list_users(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    Ok(ok(&users::list(&chat, user.into_actor()).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUserBody {
    username: String,
    password: String,
    display_name: Option<String>,
    permissions: Option<Vec<String>>,
    is_admin: Option<bool>,
}

pub async fn create_user(
    chat: web::Data<Chat>,
    user: CurrentUser,
    Json(body): Json<CreateUserBody>,
) -> ApiResult<HttpResponse> {
    let request = AccountRequest {
        username: body.username,
        password: body.password,
        display_name: body.display_name,
        permissions: body.permissions,
        is_admin: body.is_admin.unwrap_or(false),
    };
    Ok(created(&users::create(&chat, user.into_actor(), request).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    display_name: Option<String>,
    password: Option<String>,
    permissions: Option<Vec<String>>,
    is_admin: Option<bool>,
    disabled: Option<bool>,
}

pub async fn update_user(
    chat: web::Data<Chat>,
    user: CurrentUser,
    path: web::Path<UserId>,
    Json(body): Json<UpdateUserBody>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let change = AccountChange {
        display_name: body.display_name,
        password: body.password,
        permissions: body.permissions,
        is_admin: body.is_admin,
        disabled: body.disabled,
    };
    let signed_in_with = user.credential.hash().to_owned();
    Ok(ok(&users::update(&chat, user.into_actor(), &signed_in_with, id, change).await?))
}
