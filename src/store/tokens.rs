//! Browser sessions and API tokens. Both are random secrets of which only a SHA-256
//! hash is stored.

use diesel::prelude::*;

use super::models::UserRow;
use super::schema::{api_tokens, sessions, users};
use super::{now_micros, DbConn, QueryResult};
use crate::domain::UserId;

pub fn create_session(conn: &mut DbConn, user_id: UserId, token_hash: &str, expires_at: i64) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values((
            sessions::user_id.eq(user_id),
            sessions::token_hash.eq(token_hash),
            sessions::created_at.eq(now_micros()),
            sessions::expires_at.eq(expires_at),
        ))
        .execute(conn)
        .map(|_| ())
}

/// The enabled user of an unexpired session.
pub fn session_user(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<UserRow>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::token_hash.eq(token_hash))
        .filter(sessions::expires_at.gt(now_micros()))
        .filter(users::disabled.eq(false))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

pub fn delete_session(conn: &mut DbConn, token_hash: &str) -> QueryResult<()> {
    diesel::delete(sessions::table.filter(sessions::token_hash.eq(token_hash))).execute(conn).map(|_| ())
}

/// Ends every session of a user but the one with the hash `keep`, and removes expired
/// sessions of everybody.
pub fn delete_sessions_of(conn: &mut DbConn, user_id: UserId, keep: Option<&str>) -> QueryResult<()> {
    let theirs = sessions::user_id.eq(user_id).and(sessions::token_hash.ne(keep.unwrap_or("")));
    diesel::delete(sessions::table.filter(theirs.or(sessions::expires_at.le(now_micros())))).execute(conn).map(|_| ())
}

pub fn create_api_token(conn: &mut DbConn, user_id: UserId, name: &str, token_hash: &str) -> QueryResult<i64> {
    diesel::insert_into(api_tokens::table)
        .values((
            api_tokens::user_id.eq(user_id),
            api_tokens::name.eq(name),
            api_tokens::token_hash.eq(token_hash),
            api_tokens::created_at.eq(now_micros()),
        ))
        .returning(api_tokens::id)
        .get_result(conn)
}

pub fn token_user(conn: &mut DbConn, token_hash: &str) -> QueryResult<Option<UserRow>> {
    api_tokens::table
        .inner_join(users::table)
        .filter(api_tokens::token_hash.eq(token_hash))
        .filter(users::disabled.eq(false))
        .select(UserRow::as_select())
        .get_result(conn)
        .optional()
}

/// `(id, name, created_at, last_used_at)` of a token.
pub type TokenRow = (i64, String, i64, Option<i64>);

pub fn list_api_tokens(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<TokenRow>> {
    api_tokens::table
        .filter(api_tokens::user_id.eq(user_id))
        .order(api_tokens::id.asc())
        .select((api_tokens::id, api_tokens::name, api_tokens::created_at, api_tokens::last_used_at))
        .load(conn)
}

/// Removes the user's token; its hash, or `None` when the user has no such token.
pub fn revoke_api_token(conn: &mut DbConn, user_id: UserId, token_id: i64) -> QueryResult<Option<String>> {
    diesel::delete(api_tokens::table.filter(api_tokens::id.eq(token_id)).filter(api_tokens::user_id.eq(user_id)))
        .returning(api_tokens::token_hash)
        .get_result(conn)
        .optional()
}

/// Removes every API token of a user but the one with the hash `keep`.
pub fn delete_api_tokens_of(conn: &mut DbConn, user_id: UserId, keep: Option<&str>) -> QueryResult<()> {
    diesel::delete(
        api_tokens::table.filter(api_tokens::user_id.eq(user_id)).filter(api_tokens::token_hash.ne(keep.unwrap_or(""))),
    )
    .execute(conn)
    .map(|_| ())
}
