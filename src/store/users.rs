//! User accounts and their global permissions.

use std::collections::HashMap;

use diesel::prelude::*;

use super::models::{NewUser, UserChanges, UserRow};
use super::schema::{user_permissions, users};
use super::{like_escape, DbConn, QueryResult};
use crate::domain::{Permission, UserId};

diesel::define_sql_function!(fn lower(x: diesel::sql_types::Text) -> diesel::sql_types::Text);

pub fn insert(conn: &mut DbConn, user: &NewUser<'_>, permissions: &[Permission]) -> QueryResult<UserRow> {
    let row: UserRow = diesel::insert_into(users::table).values(user).returning(users::all_columns).get_result(conn)?;
    set_permissions(conn, row.id, permissions)?;
    Ok(row)
}

pub fn by_id(conn: &mut DbConn, id: UserId) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).get_result(conn).optional()
}

pub fn by_username(conn: &mut DbConn, username: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::username.eq(username)).select(UserRow::as_select()).get_result(conn).optional()
}

pub fn count(conn: &mut DbConn) -> QueryResult<i64> {
    users::table.count().get_result(conn)
}

/// Enabled users whose username or display name contains `q` (any case).
pub fn search(conn: &mut DbConn, q: &str, limit: i64) -> QueryResult<Vec<UserRow>> {
    let pattern = format!("%{}%", like_escape(&q.to_lowercase()));
    users::table
        .filter(users::disabled.eq(false))
        .filter(users::username.like(&pattern).escape('\\').or(lower(users::display_name).like(&pattern).escape('\\')))
        .order(users::username.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

/// Applies the changes; `None` when there is no such user.
pub fn update(conn: &mut DbConn, id: UserId, changes: &UserChanges) -> QueryResult<Option<UserRow>> {
    if changes.display_name.is_none()
        && changes.password_hash.is_none()
        && changes.is_admin.is_none()
        && changes.disabled.is_none()
    {
        return by_id(conn, id);
    }
    diesel::update(users::table.find(id)).set(changes).returning(users::all_columns).get_result(conn).optional()
}

pub fn permissions(conn: &mut DbConn, user_id: UserId) -> QueryResult<Vec<Permission>> {
    user_permissions::table
        .filter(user_permissions::user_id.eq(user_id))
        .order(user_permissions::permission.asc())
        .select(user_permissions::permission)
        .load(conn)
}

/// Every user, disabled ones too, by username, each with the permissions they hold.
pub fn all_with_permissions(conn: &mut DbConn) -> QueryResult<Vec<(UserRow, Vec<Permission>)>> {
    let rows: Vec<UserRow> = users::table.order(users::username.asc()).select(UserRow::as_select()).load(conn)?;
    let grants: Vec<(UserId, Permission)> = user_permissions::table
        .order((user_permissions::user_id.asc(), user_permissions::permission.asc()))
        .select((user_permissions::user_id, user_permissions::permission))
        .load(conn)?;
    let mut held: HashMap<UserId, Vec<Permission>> = HashMap::new();
    for (user_id, permission) in grants {
        held.entry(user_id).or_default().push(permission);
    }
    Ok(rows
        .into_iter()
        .map(|row| {
            let permissions = held.remove(&row.id).unwrap_or_default();
            (row, permissions)
        })
        .collect())
}

pub fn set_permissions(conn: &mut DbConn, user_id: UserId, permissions: &[Permission]) -> QueryResult<()> {
    diesel::delete(user_permissions::table.filter(user_permissions::user_id.eq(user_id))).execute(conn)?;
    grant(conn, user_id, permissions)
}

pub fn grant(conn: &mut DbConn, user_id: UserId, permissions: &[Permission]) -> QueryResult<()> {
    let held = self::permissions(conn, user_id)?;
    for permission in permissions {
        if !held.contains(permission) {
            diesel::insert_into(user_permissions::table)
                .values((user_permissions::user_id.eq(user_id), user_permissions::permission.eq(*permission)))
                .execute(conn)?;
        }
    }
    Ok(())
}

pub fn revoke(conn: &mut DbConn, user_id: UserId, permissions: &[Permission]) -> QueryResult<()> {
    diesel::delete(
        user_permissions::table
            .filter(user_permissions::user_id.eq(user_id))
            .filter(user_permissions::permission.eq_any(permissions)),
    )
    .execute(conn)
    .map(|_| ())
}

/// `id -> (username, display_name)` for the given users.
pub fn names(conn: &mut DbConn, ids: &[UserId]) -> QueryResult<HashMap<UserId, (String, String)>> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let rows: Vec<(UserId, String, String)> = users::table
        .filter(users::id.eq_any(&ids))
        .select((users::id, users::username, users::display_name))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, u, d)| (id, (u, d))).collect())
}
