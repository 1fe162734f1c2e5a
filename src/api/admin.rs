//! User search (for picking members) and account administration.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use super::{commit, created, ok, Json, Query};
use crate::auth::accounts::{self, NewAccount};
use crate::auth::{admin_user, password, public_user, CurrentUser};
use crate::broker::Notice;
use crate::domain::{Action, DisplayName, Password};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::models::UserChanges;
use crate::store::{tokens, users};

#[derive(Deserialize)]
pub struct SearchQuery {
    #[serde(default)]
    q: String,
    limit: Option<i64>,
}

pub async fn search_users(
    state: web::Data<AppState>,
    user: CurrentUser,
    query: Query<SearchQuery>,
) -> ApiResult<HttpResponse> {
    user.may(Action::Browse)?;
    let SearchQuery { q, limit } = query.into_inner();
    let limit = limit.unwrap_or(50).clamp(1, 200);
    let rows = state.db.run(move |conn| users::search(conn, q.trim(), limit).map_err(ApiError::from)).await?;
    Ok(ok(&rows.iter().map(public_user).collect::<Vec<_>>()))
}

pub async fn list_users(state: web::Data<AppState>, user: CurrentUser) -> ApiResult<HttpResponse> {
    user.may(Action::ManageUsers)?;
    let list = state
        .db
        .run(move |conn| {
            let rows = users::all_with_permissions(conn)?;
            Ok::<_, ApiError>(
                rows.into_iter().map(|(row, permissions)| admin_user(&row, permissions)).collect::<Vec<_>>(),
            )
        })
        .await?;
    Ok(ok(&list))
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
    state: web::Data<AppState>,
    user: CurrentUser,
    Json(body): Json<CreateUserBody>,
) -> ApiResult<HttpResponse> {
    user.may(Action::ManageUsers)?;
    let permissions = match &body.permissions {
        Some(names) => accounts::parse_permissions(names)?,
        None => state.settings.default_permission_list(),
    };
    let account = web::block(move || {
        NewAccount::parse(
            &body.username,
            &body.password,
            body.display_name.as_deref(),
            body.is_admin.unwrap_or(false),
            permissions,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    let view = commit(&state, move |conn, _| {
        let row = accounts::create(conn, &account)?;
        Ok(admin_user(&row, users::permissions(conn, row.id)?))
    })
    .await?;
    Ok(created(&view))
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
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
    Json(body): Json<UpdateUserBody>,
) -> ApiResult<HttpResponse> {
    user.may(Action::ManageUsers)?;
    let id = path.into_inner();
    if id == user.id && (body.disabled == Some(true) || body.is_admin == Some(false)) {
        return Err(ApiError::invalid("administrators cannot disable or demote themselves"));
    }
    let display_name = body.display_name.as_deref().map(DisplayName::parse).transpose()?;
    let password_hash = match body.password.as_deref().map(Password::parse).transpose()? {
        Some(p) => Some(
            web::block(move || password::hash(p.as_str()))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let permissions = body.permissions.as_deref().map(accounts::parse_permissions).transpose()?;
    let changes = UserChanges {
        display_name: display_name.map(|d| d.as_str().to_owned()),
        password_hash,
        is_admin: body.is_admin,
        disabled: body.disabled,
    };
    let view = commit(&state, move |conn, outbox| {
        users::by_id(conn, id).map_err(|_| ApiError::not_found("user"))?;
        let row = users::update(conn, id, &changes)?;
        if let Some(permissions) = &permissions {
            let names: Vec<&str> = permissions.iter().map(|p| p.as_str()).collect();
            users::set_permissions(conn, id, &names)?;
        }
        if changes.disabled == Some(true) {
            tokens::delete_sessions_of(conn, id)?;
            tokens::delete_api_tokens_of(conn, id)?;
            outbox.push(Notice::UserDisabled { user_id: id });
        }
        Ok(admin_user(&row, users::permissions(conn, id)?))
    })
    .await?;
    state.auth_cache.forget_user(id);
    Ok(ok(&view))
}
