//! Login, logout, `/me` and API tokens.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{created, no_content, ok, Json, OptionalJson};
use crate::auth::{password, secret, Credential, CurrentUser, SESSION_COOKIE, TOKEN_PREFIX};
use crate::chat::views::public_user;
use crate::domain::views::{CreatedToken, TokenInfo};
use crate::domain::{format_time, TokenName};
use crate::error::{ApiError, ApiResult};
use crate::startup::AppState;
use crate::store::{now_micros, tokens, users};

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

const BAD_LOGIN: &str = "wrong username or password";

#[tracing::instrument(skip_all, fields(user_id))]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    Json(body): Json<LoginBody>,
) -> ApiResult<HttpResponse> {
    let ip = req.peer_addr().map(|a| a.ip()).unwrap_or(std::net::Ipv4Addr::LOCALHOST.into());
    let username = body.username.trim().to_lowercase();
    state.chat.limits.login_allowed(ip, &username)?;
    let session_days = i64::from(state.chat.settings.session_days);
    let name = username.clone();
    let outcome = state
        .chat
        .db
        .run(move |conn| {
            let Some(user) = users::by_username(conn, &name)? else {
                password::verify_nobody(&body.password);
                return Ok::<_, ApiError>(None);
            };
            if user.disabled || !password::verify(&body.password, &user.password_hash) {
                return Ok(None);
            }
            let (token, hash) = secret::generate("");
            let expires = now_micros() + session_days * 86_400 * 1_000_000;
            tokens::create_session(conn, user.id, &hash, expires)?;
            Ok(Some((user, token)))
        })
        .await?;
    let Some((user, token)) = outcome else {
        state.chat.limits.login_failed(ip, &username);
        return Err(ApiError::UnauthenticatedBecause(BAD_LOGIN));
    };
    tracing::Span::current().record("user_id", user.id.get());
    let cookie = Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.chat.settings.secure_cookies)
        .max_age(CookieDuration::days(session_days))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(serde_json::json!({ "user": public_user(&user) })))
}

pub async fn logout(state: web::Data<AppState>, user: CurrentUser) -> ApiResult<HttpResponse> {
    if let Credential::Session(hash) = user.credential {
        state.auth_cache.forget(&hash);
        state.chat.db.run(move |conn| tokens::delete_session(conn, &hash).map_err(ApiError::from)).await?;
    }
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).finish();
    gone.make_removal();
    let mut response = no_content();
    response.add_removal_cookie(&gone).map_err(ApiError::internal)?;
    Ok(response)
}

pub async fn me(user: CurrentUser) -> HttpResponse {
    ok(&user.view())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    name: Option<String>,
}

pub async fn create_token(
    state: web::Data<AppState>,
    user: CurrentUser,
    body: OptionalJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    let name = match body.0.and_then(|b| b.name) {
        None => "api".to_owned(),
        Some(name) => TokenName::parse(&name)?.into_string(),
    };
    let (token, hash) = secret::generate(TOKEN_PREFIX);
    let id = state
        .chat
        .db
        .run(move |conn| tokens::create_api_token(conn, user.id, &name, &hash).map_err(ApiError::from))
        .await?;
    Ok(created(&CreatedToken { id, token }))
}

pub async fn list_tokens(state: web::Data<AppState>, user: CurrentUser) -> ApiResult<HttpResponse> {
    let rows = state.chat.db.run(move |conn| tokens::list_api_tokens(conn, user.id).map_err(ApiError::from)).await?;
    let list: Vec<TokenInfo> = rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| TokenInfo {
            id,
            name,
            created_at: format_time(created_at),
            last_used_at: last_used_at.map(format_time),
        })
        .collect();
    Ok(ok(&list))
}

pub async fn revoke_token(
    state: web::Data<AppState>,
    user: CurrentUser,
    path: web::Path<i64>,
) -> ApiResult<HttpResponse> {
    let id = path.into_inner();
    let user_id = user.id;
    let found =
        state.chat.db.run(move |conn| tokens::revoke_api_token(conn, user_id, id).map_err(ApiError::from)).await?;
    // The cache knows credentials by hash, not by token id: forget all of this user's.
    state.auth_cache.forget_user(user_id);
    if found {
        Ok(no_content())
    } else {
        Err(ApiError::not_found("token"))
    }
}
