//! Who is calling: sessions (cookie), bearer tokens, CSRF checks, rate limits.

pub mod accounts;
pub mod budget;
pub mod cache;
pub mod csrf;
pub mod limits;
pub mod password;
pub mod proxies;
pub mod secret;
pub mod shared;

use cache::AuthCache;

use crate::domain::{Actor, Permission, UserId};
use crate::error::ApiError;
use crate::store::{tokens, users, Db};

pub const SESSION_COOKIE: &str = "causerie_session";
pub const TOKEN_PREFIX: &str = "cau_";

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// The session cookie; its token's hash.
    Session(String),
    /// An API token; its hash.
    Bearer(String),
}

impl Credential {
    /// The stored hash of the session or token.
    pub fn hash(&self) -> &str {
        match self {
            Self::Session(hash) | Self::Bearer(hash) => hash,
        }
    }

    /// What the hub knows the sign-in by, to end the streams it opened.
    pub fn tag(&self) -> u64 {
        credential_tag(self.hash())
    }
}

/// A short tag of a session or token hash (its first eight bytes), for the hub's list of
/// open streams: the whole hash need not be kept per stream, and a user's sign-ins do not
/// share their first eight bytes but by a chance of one in 2^64.
pub fn credential_tag(hash: &str) -> u64 {
    hash.get(..16).and_then(|head| u64::from_str_radix(head, 16).ok()).unwrap_or_default()
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
    /// The caller as the use cases know them, keeping nothing else.
    pub fn into_actor(self) -> Actor {
        Actor { id: self.id, display_name: self.display_name, is_admin: self.is_admin, permissions: self.permissions }
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
        Some(token) => {
            let hash = secret::digest(&token);
            Some((Credential::Bearer(hash.clone()), hash))
        }
        None => session_cookie.map(|value| {
            let hash = secret::digest(value);
            (Credential::Session(hash.clone()), hash)
        }),
    })
}

/// The enabled user behind a credential: from the cache, else from the database.
pub async fn authenticate(
    cache: &AuthCache,
    db: &Db,
    credential: Credential,
    hash: String,
) -> Result<CurrentUser, ApiError> {
    let known = match cache.get(&hash) {
        Some(known) => known,
        None => {
            let via_session = matches!(credential, Credential::Session(_));
            let key = hash.clone();
            let known = db.run(move |conn| lookup(conn, &key, via_session)).await?.ok_or(ApiError::Unauthenticated)?;
            cache.put(hash, known.clone());
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
