//! Who is calling: sessions (cookie), bearer tokens, CSRF checks, rate limits.

pub mod accounts;
pub mod cache;
pub mod csrf;
pub mod limits;
pub mod password;
pub mod secret;

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::{header, Method};
use actix_web::{web, FromRequest, HttpRequest};

use crate::chat::{views, Actor};
use crate::domain::views::User;
use crate::domain::{Permission, UserId};
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{tokens, users};

pub const SESSION_COOKIE: &str = "causerie_session";
pub const TOKEN_PREFIX: &str = "cau_";

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie; its token hash.
    Session(String),
    Bearer,
}

/// The authenticated caller, handed to every handler that needs one.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
    pub credential: Credential,
}

impl CurrentUser {
    /// The caller as the use cases know them.
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            display_name: self.display_name.clone(),
            is_admin: self.is_admin,
            permissions: self.permissions.clone(),
        }
    }

    /// The contract's `User` with permissions (for `/me`).
    pub fn view(&self) -> User {
        views::me(self.id, &self.username, &self.display_name, self.is_admin, &self.permissions)
    }
}

/// The token of an `Authorization: Bearer …` header. A header of another scheme is not
/// causerie's (a reverse proxy's own Basic login, which browsers send with every request)
/// and is passed over, so the session cookie still counts; a Bearer header without a token
/// is refused.
fn bearer_token(value: Option<&[u8]>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else { return Ok(None) };
    let Ok(value) = std::str::from_utf8(value) else { return Ok(None) };
    let value = value.trim();
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Ok(None);
    }
    match token.trim() {
        "" => Err(ApiError::Unauthenticated),
        token => Ok(Some(token.to_owned())),
    }
}

/// How a request says who it is, from its `Authorization: Bearer` header (which wins) and
/// its session cookie: the credential and the hash to look up.
pub fn credential(
    authorization: Option<&[u8]>,
    session_cookie: Option<&str>,
) -> Result<Option<(Credential, String)>, ApiError> {
    Ok(match bearer_token(authorization)? {
        Some(token) => Some((Credential::Bearer, secret::digest(&token))),
        None => session_cookie.map(|value| {
            let hash = secret::digest(value);
            (Credential::Session(hash.clone()), hash)
        }),
    })
}

/// The enabled user behind a credential: from the cache, else from the database.
pub async fn authenticate(state: &AppState, credential: Credential, hash: String) -> Result<CurrentUser, ApiError> {
    let known = match state.chat.auth_cache.get(&hash) {
        Some(known) => known,
        None => {
            let via_session = matches!(credential, Credential::Session(_));
            let key = hash.clone();
            let known = state
                .chat
                .db
                .run(move |conn| lookup(conn, &key, via_session))
                .await?
                .ok_or(ApiError::Unauthenticated)?;
            state.chat.auth_cache.put(hash, known.clone());
            known
        }
    };
    Ok(CurrentUser {
        id: known.id,
        username: known.username,
        display_name: known.display_name,
        is_admin: known.is_admin,
        permissions: known.permissions,
        credential,
    })
}

/// The enabled user behind a session or token hash, with their permissions.
fn lookup(conn: &mut crate::store::DbConn, hash: &str, via_session: bool) -> Result<Option<cache::Known>, ApiError> {
    let row = if via_session { tokens::session_user(conn, hash)? } else { tokens::token_user(conn, hash)? };
    let Some(row) = row else { return Ok(None) };
    let permissions = users::permissions(conn, row.id)?;
    Ok(Some(cache::Known {
        id: row.id,
        username: row.username,
        display_name: row.display_name,
        is_admin: row.is_admin,
        permissions,
    }))
}

fn changes_state(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PATCH | Method::PUT | Method::DELETE)
}

impl FromRequest for CurrentUser {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let authorization = req.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes());
        let cookie = req.cookie(SESSION_COOKIE);
        let credential = credential(authorization, cookie.as_ref().map(|c| c.value()));
        let csrf = match &credential {
            Ok(Some((Credential::Session(_), _))) if changes_state(req.method()) => {
                let public_url = state.as_ref().and_then(|s| s.chat.settings.public_url.clone());
                csrf::check(req, public_url.as_deref())
            }
            _ => Ok(()),
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| ApiError::internal(anyhow::anyhow!("no application state")))?;
            let Some((credential, hash)) = credential? else { return Err(ApiError::Unauthenticated) };
            let user = authenticate(&state, credential, hash).await?;
            // Authentication first: a stranger learns nothing from a CSRF refusal.
            csrf?;
            tracing::Span::current().record("user_id", user.id.get());
            Ok(user)
        })
    }
}
