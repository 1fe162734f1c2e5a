//! People: finding users to add, and account administration (the admin API and the command
//! line alike).

use super::cluster::NodeNotice;
use super::{views, Actor, Chat, Tx};
use crate::auth::accounts::{self, NewAccount};
use crate::auth::{credential_tag, password};
use crate::broker::{Event, Notice};
use crate::domain::views::User;
use crate::domain::{Action, DisplayName, EventKind, Password, Permission, UserId};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{UserChanges, UserRow};
use crate::store::{tokens, users};

/// Enabled users whose username or display name contains `q`; `limit` defaults to 50 and
/// is kept within 1-200.
pub async fn search(chat: &Chat, user: Actor, q: String, limit: Option<i64>) -> ApiResult<Vec<User>> {
    user.may(Action::Browse)?;
    let limit = limit.unwrap_or(50).clamp(1, 200);
    let mut found: Vec<User> = chat
        .read(move |conn| Ok(users::search(conn, q.trim(), limit)?.iter().map(views::public_user).collect()))
        .await?;
    for user in &mut found {
        user.online = Some(chat.hub.presence.is_online(user.id.get()));
    }
    Ok(found)
}

/// Every account, disabled ones too, with their permissions.
pub async fn list(chat: &Chat, user: Actor) -> ApiResult<Vec<User>> {
    user.may(Action::ManageUsers)?;
    chat.read(move |conn| {
        let rows = users::all_with_permissions(conn)?;
        Ok(rows.into_iter().map(|(row, permissions)| views::admin_user(&row, permissions)).collect())
    })
    .await
}

/// A new account as an administrator asks for it.
pub struct AccountRequest {
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
    /// `None`: the configured default set.
    pub permissions: Option<Vec<String>>,
    pub is_admin: bool,
}

pub async fn create(chat: &Chat, user: Actor, request: AccountRequest) -> ApiResult<User> {
    chat.actions.spend(user.id)?;
    user.may(Action::ManageUsers)?;
    let permissions = match &request.permissions {
        Some(names) => accounts::parse_permissions(names)?,
        None => chat.settings.default_permission_list(),
    };
    // Hashing the password takes a while: off the reactor.
    let account = tokio::task::spawn_blocking(move || {
        NewAccount::parse(
            &request.username,
            &request.password,
            request.display_name.as_deref(),
            request.is_admin,
            permissions,
        )
    })
    .await
    .map_err(ApiError::internal)??;
    chat.commit(move |tx| {
        let row = accounts::create(tx, &account)?;
        Ok(views::admin_user(&row, users::permissions(tx, row.id)?))
    })
    .await
}

/// What an administrator changes of an account; `None` leaves a field as it is.
#[derive(Default)]
pub struct AccountChange {
    pub display_name: Option<String>,
    pub password: Option<String>,
    pub permissions: Option<Vec<String>>,
    pub is_admin: Option<bool>,
    pub disabled: Option<bool>,
}

/// Changes an account. Disabling it ends its sessions, tokens and open streams; a new
/// password ends every other sign-in of the account (all but `signed_in_with`, the hash of
/// the caller's own session or token, when the account is the caller's) and their streams;
/// taking away `chat.read` ends its streams; any other change of permissions, admin right or
/// name reaches the account's open streams as `me_updated`.
pub async fn update(
    chat: &Chat,
    user: Actor,
    signed_in_with: &str,
    id: UserId,
    change: AccountChange,
) -> ApiResult<User> {
    chat.actions.spend(user.id)?;
    user.may(Action::ManageUsers)?;
    if id == user.id && (change.disabled == Some(true) || change.is_admin == Some(false)) {
        return Err(ApiError::invalid("administrators cannot disable or demote themselves"));
    }
    let display_name = change.display_name.as_deref().map(DisplayName::parse).transpose()?;
    let password_hash = match change.password.as_deref().map(Password::parse).transpose()? {
        Some(p) => Some(
            tokio::task::spawn_blocking(move || password::hash(p.as_str()))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?,
        ),
        None => None,
    };
    let permissions = change.permissions.as_deref().map(accounts::parse_permissions).transpose()?;
    let changes = UserChanges {
        display_name: display_name.map(|d| d.as_str().to_owned()),
        password_hash,
        is_admin: change.is_admin,
        disabled: change.disabled,
    };
    let keep = (id == user.id).then(|| signed_in_with.to_owned());
    let view = chat
        .commit(move |tx| {
            let row = users::update(tx, id, &changes)?.ok_or_else(|| ApiError::not_found("user"))?;
            if let Some(permissions) = &permissions {
                users::set_permissions(tx, id, permissions)?;
            }
            let user_id = id.get();
            if changes.disabled == Some(true) {
                tokens::delete_sessions_of(tx, id, None)?;
                tokens::delete_api_tokens_of(tx, id, None)?;
                tx.notify_everywhere(Notice::StreamsEnd { user_id, keep: None })?;
            } else if changes.password_hash.is_some() {
                tokens::delete_sessions_of(tx, id, keep.as_deref())?;
                tokens::delete_api_tokens_of(tx, id, keep.as_deref())?;
                tx.notify_everywhere(Notice::StreamsEnd { user_id, keep: keep.as_deref().map(credential_tag) })?;
            }
            let held = users::permissions(tx, id)?;
            if !row.is_admin && !held.contains(&Permission::Read) {
                tx.notify_everywhere(Notice::StreamsEnd { user_id, keep: None })?;
                tx.tell_other_nodes(NodeNotice::AccountChanged { user_id, me: None })?;
            } else if !row.disabled
                && (permissions.is_some() || changes.is_admin.is_some() || changes.display_name.is_some())
            {
                announce_account(tx, &row, &held)?;
            } else {
                tx.tell_other_nodes(NodeNotice::AccountChanged { user_id, me: None })?;
            }
            Ok(views::admin_user(&row, held))
        })
        .await?;
    // Sessions are remembered by hash: forget all of this user's, so the change applies now.
    chat.auth_cache.forget_user(id);
    Ok(view)
}

/// The account of a username, for the command line.
pub async fn by_username(chat: &Chat, name: &str) -> ApiResult<UserRow> {
    let name = name.to_owned();
    chat.read(move |conn| {
        users::by_username(conn, &name)?.ok_or_else(|| ApiError::NotFound(format!("no user named {name}")))
    })
    .await
}

/// Gives permissions to an account, each once.
pub async fn grant(chat: &Chat, id: UserId, permissions: Vec<Permission>) -> ApiResult<()> {
    chat.commit(move |tx| {
        users::grant(tx, id, &permissions)?;
        announce_changed(tx, id)
    })
    .await
}

/// Takes permissions from an account.
pub async fn revoke(chat: &Chat, id: UserId, permissions: Vec<Permission>) -> ApiResult<()> {
    chat.commit(move |tx| {
        users::revoke(tx, id, &permissions)?;
        announce_changed(tx, id)
    })
    .await
}

/// Tells the user's open pages what their account now is (`me_updated`), here and on every
/// other node, where their sign-ins are looked up again too. Every node acts at commit.
fn announce_account(tx: &mut Tx<'_>, row: &UserRow, held: &[Permission]) -> ApiResult<()> {
    let user_id = row.id.get();
    let me = views::me(row.id, &row.username, &row.display_name, row.is_admin, held);
    let remote = serde_json::to_value(&me).map_err(ApiError::internal)?;
    tx.notify(Notice::ToUser { user_id, event: Event::ephemeral(0, EventKind::MeUpdated.as_str(), &me) });
    tx.tell_other_nodes(NodeNotice::AccountChanged { user_id, me: Some(remote) })
}

/// After a change made from the command line: the serving nodes (on PostgreSQL) tell the
/// user's open pages.
fn announce_changed(tx: &mut Tx<'_>, id: UserId) -> ApiResult<()> {
    let row = users::by_id(tx, id)?.ok_or_else(|| ApiError::not_found("user"))?;
    let held = users::permissions(tx, id)?;
    if row.disabled {
        return tx.tell_other_nodes(NodeNotice::AccountChanged { user_id: id.get(), me: None });
    }
    announce_account(tx, &row, &held)
}
