//! Signing in and out, and API tokens.

use std::net::IpAddr;

use super::cluster::{self, NodeNotice};
use super::{views, Chat};
use crate::auth::{credential_tag, secret, Credential, CurrentUser, TOKEN_PREFIX};
use crate::broker::Notice;
use crate::domain::views::{CreatedToken, TokenInfo, User};
use crate::domain::{format_time, TokenName, UserId, Username};
use crate::error::{ApiError, ApiResult};
use crate::store::{now_micros, tokens, users};

const BAD_LOGIN: &str = "wrong username or password";

/// A new session: who signed in, and the session's secret for the cookie.
pub struct Session {
    pub user: User,
    pub secret: String,
}

/// Checks a username and password and opens a session. A wrong password, an unknown or a
/// disabled account answer alike and after the same work. Failures count per client
/// address and username, and per address; a username no account can have is refused before
/// any look-up and counts for its address only.
pub async fn login(chat: &Chat, client: IpAddr, username: &str, given: String) -> ApiResult<Session> {
    let username = username.trim().to_lowercase();
    if Username::parse(&username).is_err() {
        chat.login_allowed(client, None).await?;
        chat.login_failed(client, None).await;
        return Err(ApiError::UnauthenticatedBecause(BAD_LOGIN));
    }
    chat.login_allowed(client, Some(&username)).await?;
    let name = username.clone();
    let user = chat.read(move |conn| Ok(users::by_username(conn, &name)?)).await?;
    // The password is checked once the database connection is back in the pool.
    let hash = user.as_ref().filter(|u| !u.disabled).map(|u| u.password_hash.clone());
    let verified = chat.verifier.verify(given, hash).await;
    let user = match user {
        Some(user) if verified && !user.disabled => user,
        _ => {
            chat.login_failed(client, Some(&username)).await;
            return Err(ApiError::UnauthenticatedBecause(BAD_LOGIN));
        }
    };
    let session_days = i64::from(chat.settings.session_days);
    let (secret, hash) = secret::generate("");
    let expires = now_micros() + session_days * 86_400 * 1_000_000;
    let user_id = user.id;
    chat.read(move |conn| Ok(tokens::create_session(conn, user_id, &hash, expires)?)).await?;
    Ok(Session { user: views::public_user(&user), secret })
}

/// The caller's own account, with their permissions (all of them, for an admin).
pub fn me(user: &CurrentUser) -> User {
    views::me(user.id, &user.username, &user.display_name, user.is_admin, &user.permissions)
}

/// Ends the session the caller signed in with, and the streams it opened; a bearer token is
/// left as it is.
pub async fn logout(chat: &Chat, user_id: UserId, credential: Credential) -> ApiResult<()> {
    if let Credential::Session(hash) = credential {
        chat.auth_cache.forget(&hash);
        let tag = credential_tag(&hash);
        let (node, ends) = (chat.node, NodeNotice::CredentialEnds { user_id: user_id.get(), credential: tag });
        chat.read(move |conn| {
            tokens::delete_session(conn, &hash)?;
            cluster::ring(conn, node, ends)
        })
        .await?;
        chat.hub.publish(vec![Notice::CredentialEnds { user_id: user_id.get(), credential: tag }]);
    }
    Ok(())
}

/// The caller's API tokens, never their secrets.
pub async fn tokens(chat: &Chat, user_id: UserId) -> ApiResult<Vec<TokenInfo>> {
    let rows = chat.read(move |conn| Ok(tokens::list_api_tokens(conn, user_id)?)).await?;
    Ok(rows
        .into_iter()
        .map(|(id, name, created_at, last_used_at)| TokenInfo {
            id,
            name,
            created_at: format_time(created_at),
            last_used_at: last_used_at.map(format_time),
        })
        .collect())
}

/// Creates an API token named `name` (default `api`); its secret is shown this once.
pub async fn create_token(chat: &Chat, user_id: UserId, name: Option<String>) -> ApiResult<CreatedToken> {
    chat.actions.spend(user_id)?;
    let name = match name {
        None => "api".to_owned(),
        Some(name) => TokenName::parse(&name)?.into_string(),
    };
    let (token, hash) = secret::generate(TOKEN_PREFIX);
    let id = chat.read(move |conn| Ok(tokens::create_api_token(conn, user_id, &name, &hash)?)).await?;
    Ok(CreatedToken { id, token })
}

/// Revokes one of the caller's API tokens.
pub async fn revoke_token(chat: &Chat, user_id: UserId, id: i64) -> ApiResult<()> {
    chat.actions.spend(user_id)?;
    let node = chat.node;
    let revoked = chat
        .read(move |conn| {
            let hash = tokens::revoke_api_token(conn, user_id, id)?;
            if let Some(hash) = &hash {
                let ends = NodeNotice::CredentialEnds { user_id: user_id.get(), credential: credential_tag(hash) };
                cluster::ring(conn, node, ends)?;
            }
            Ok(hash)
        })
        .await?;
    let hash = revoked.ok_or_else(|| ApiError::not_found("token"))?;
    chat.auth_cache.forget(&hash);
    chat.hub.publish(vec![Notice::CredentialEnds { user_id: user_id.get(), credential: credential_tag(&hash) }]);
    Ok(())
}
