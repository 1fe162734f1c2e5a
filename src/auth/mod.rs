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

use crate::domain::permissions::{authorize, Action, Grants};
use crate::domain::views::User;
use crate::domain::Permission;
use crate::error::ApiError;
use crate::startup::AppState;
use crate::store::{models::UserRow, tokens, users};

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
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
    pub credential: Credential,
}

impl Grants for CurrentUser {
    fn is_admin(&self) -> bool {
        self.is_admin
    }

    fn holds(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }
}

impl CurrentUser {
    /// Checks an action against the permission matrix.
    pub fn may(&self, action: Action) -> Result<(), ApiError> {
        authorize(self, action).map_err(ApiError::from)
    }

    /// The contract's `User` with permissions (for `/me`).
    pub fn view(&self) -> User {
        let held = self.permissions.iter().map(|p| p.as_str().to_owned()).collect();
        User {
            id: self.id,
            username: self.username.clone(),
            display_name: self.display_name.clone(),
            is_admin: self.is_admin,
            permissions: Some(shown_permissions(self.is_admin, held)),
            disabled: None,
        }
    }
}

/// The permissions a `User` shows: an admin holds all of them, whatever is stored.
fn shown_permissions(is_admin: bool, held: Vec<String>) -> Vec<String> {
    if is_admin {
        Permission::ALL.iter().map(|p| p.as_str().to_owned()).collect()
    } else {
        held
    }
}

/// The public `User` shape of a row (no permissions).
pub fn public_user(row: &UserRow) -> User {
    User {
        id: row.id,
        username: row.username.clone(),
        display_name: row.display_name.clone(),
        is_admin: row.is_admin,
        permissions: None,
        disabled: None,
    }
}

/// The admin `User` shape of a row: with the permissions it holds (all, for an admin) and
/// whether it is disabled.
pub fn admin_user(row: &UserRow, held: Vec<String>) -> User {
    User { permissions: Some(shown_permissions(row.is_admin, held)), disabled: Some(row.disabled), ..public_user(row) }
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
    let known = match state.auth_cache.get(&hash) {
        Some(known) => known,
        None => {
            let via_session = matches!(credential, Credential::Session(_));
            let key = hash.clone();
            let known =
                state.db.run(move |conn| lookup(conn, &key, via_session)).await?.ok_or(ApiError::Unauthenticated)?;
            state.auth_cache.put(hash, known.clone());
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
        permissions: permissions.iter().filter_map(|p| Permission::parse(p).ok()).collect(),
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
                let public_url = state.as_ref().and_then(|s| s.settings.public_url.clone());
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
            tracing::Span::current().record("user_id", user.id);
            Ok(user)
        })
    }
}
