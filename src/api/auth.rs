//! Login, logout, `/me` and API tokens.

use std::net::{IpAddr, Ipv4Addr};

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::{created, no_content, ok, Json, OptionalJson, Query};
use crate::auth::{csrf, CurrentUser, SESSION_COOKIE};
use crate::chat::sessions;
use crate::chat::Chat;
use crate::error::{ApiError, ApiResult};

#[derive(Deserialize)]
pub struct LoginBody {
    username: String,
    password: String,
}

/// Signing in from another site is refused like any cookie-authenticated write: a page
/// elsewhere must not sign a visitor into an account of its choosing.
#[tracing::instrument(skip_all, fields(user_id))]
pub async fn login(chat: web::Data<Chat>, req: HttpRequest, Json(body): Json<LoginBody>) -> ApiResult<HttpResponse> {
    csrf::check(&req, chat.settings.public_url.as_deref())?;
    let ip = client_address(&req, &chat);
    let session = sessions::login(&chat, ip, &body.username, body.password).await?;
    tracing::Span::current().record("user_id", session.user.id.get());
    let cookie = Cookie::build(SESSION_COOKIE, session.secret)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(chat.settings.secure_cookies)
        .max_age(CookieDuration::days(i64::from(chat.settings.session_days)))
        .finish();
    Ok(HttpResponse::Ok().cookie(cookie).json(serde_json::json!({ "user": session.user })))
}

/// The peer's address, or the client's as a trusted proxy tells it.
fn client_address(req: &HttpRequest, chat: &Chat) -> IpAddr {
    let peer = req.peer_addr().map(|a| a.ip()).unwrap_or(Ipv4Addr::LOCALHOST.into());
    let forwarded = req.headers().get_all("x-forwarded-for").map(|v| v.as_bytes()).collect::<Vec<_>>();
    chat.trusted_proxies.client(peer, forwarded.into_iter())
}

pub async fn logout(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    sessions::logout(&chat, user.id, user.credential).await?;
    let mut gone = Cookie::build(SESSION_COOKIE, "").path("/").http_only(true).finish();
    gone.make_removal();
    let mut response = no_content();
    response.add_removal_cookie(&gone).map_err(ApiError::internal)?;
    Ok(response)
}

#[derive(Deserialize, Default)]
pub struct MeQuery {
    /// The web client's start-up probe: nobody signed in is an expected answer (204), not
    /// an error (401) for the browser's console and the server's log.
    #[serde(default)]
    optional: bool,
}

pub async fn me(user: Result<CurrentUser, ApiError>, query: Query<MeQuery>) -> ApiResult<HttpResponse> {
    match user {
        Ok(user) => Ok(ok(&sessions::me(&user))),
        Err(ApiError::Unauthenticated | ApiError::UnauthenticatedBecause(_)) if query.0.optional => Ok(no_content()),
        Err(error) => Err(error),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenBody {
    name: Option<String>,
}

pub async fn create_token(
    chat: web::Data<Chat>,
    user: CurrentUser,
    body: OptionalJson<TokenBody>,
) -> ApiResult<HttpResponse> {
    let name = body.0.and_then(|b| b.name);
    Ok(created(&sessions::create_token(&chat, user.id, name).await?))
}

pub async fn list_tokens(chat: web::Data<Chat>, user: CurrentUser) -> ApiResult<HttpResponse> {
    Ok(ok(&sessions::tokens(&chat, user.id).await?))
}

pub async fn revoke_token(chat: web::Data<Chat>, user: CurrentUser, path: web::Path<i64>) -> ApiResult<HttpResponse> {
    sessions::revoke_token(&chat, user.id, path.into_inner()).await?;
    Ok(no_content())
}
