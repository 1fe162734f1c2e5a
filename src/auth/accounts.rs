//! Creating and changing accounts: shared by the admin API, the CLI, first start and the
//! demo seed.

use crate::domain::{DisplayName, Password, Permission, Username};
use crate::error::{ApiError, ApiResult};
use crate::store::models::{NewUser, UserRow};
use crate::store::{now_micros, users, DbConn};

/// A validated request for a new account, its password already hashed.
pub struct NewAccount {
    pub username: Username,
    password_hash: String,
    pub display_name: DisplayName,
    pub is_admin: bool,
    pub permissions: Vec<Permission>,
}

impl NewAccount {
    /// Validates and hashes. Hashing is slow on purpose (argon2id): call it off the reactor.
    pub fn parse(
        username: &str,
        password: &str,
        display_name: Option<&str>,
        is_admin: bool,
        permissions: Vec<Permission>,
    ) -> ApiResult<Self> {
        let username = Username::parse(username)?;
        let display_name = DisplayName::parse(display_name.unwrap_or(username.as_str()))?;
        let password = Password::parse(password)?;
        let password_hash = super::password::hash(password.as_str()).map_err(ApiError::internal)?;
        Ok(Self { password_hash, username, display_name, is_admin, permissions })
    }
}

/// Hashes the password and inserts the account; a taken username is a 409.
pub fn create(conn: &mut DbConn, account: &NewAccount) -> ApiResult<UserRow> {
    if users::by_username(conn, account.username.as_str())?.is_some() {
        return Err(ApiError::Conflict(format!("username {} is taken", account.username.as_str())));
    }
    let row = users::insert(
        conn,
        &NewUser {
            username: account.username.as_str(),
            display_name: account.display_name.as_str(),
            password_hash: &account.password_hash,
            is_admin: account.is_admin,
            disabled: false,
            created_at: now_micros(),
        },
        &account.permissions,
    )?;
    Ok(row)
}

/// The named permissions, each once (a name given twice is granted once).
pub fn parse_permissions(names: &[String]) -> ApiResult<Vec<Permission>> {
    Permission::parse_all(names.iter().map(String::as_str)).map_err(|e| ApiError::invalid(e.0))
}
