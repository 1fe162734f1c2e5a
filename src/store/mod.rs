//! The only code that speaks SQL. Plain functions take the connection first and return
//! `QueryResult`; `Db` runs them on the blocking pool, never on the async reactor, and
//! write transactions on the writer thread. Rows only: no JSON shapes, no URLs.
//!
//! Error policy: store functions return `QueryResult`, and a look-up that may find nothing
//! returns `Option`; the use cases turn them into `ApiError` (`None` -> 404 where the caller
//! asked for that thing, a unique violation -> 409, pool timeout -> 503, anything else -> 500
//! logged with its cause); start-up and the CLI use `anyhow`.
//!
//! Look-ups by a unique key use `get_result`, not `first`: `first` binds its `LIMIT` as a
//! parameter, and SQLite re-prepares such a statement each time it runs, on the path of
//! every message.
//!
//! The statements of every message (the membership check, the message and event rows) run
//! on the backend's own connection: through [`per_backend!`], or a `match` where the
//! backends' SQL differs.

/// Runs one diesel query, written once, on the concrete connection inside a `DbConn`.
/// Through the multi-backend connection diesel builds a query's SQL text every time it
/// runs, to find its prepared statement; on the backend's own connection a query whose
/// shape is fixed finds it by its type. Used for the statements every message runs.
macro_rules! per_backend {
    ($conn:expr, |$c:ident| $query:expr) => {
        match $conn {
            $crate::store::DbConn::Sqlite($c) => $query,
            $crate::store::DbConn::Pg($c) => $query,
        }
    };
}

pub mod attachments;
pub mod dump;
pub mod events;
pub mod mentions;
pub mod messages;
pub mod models;
pub mod pins;
pub mod reactions;
pub mod reads;
pub mod rooms;
pub mod schema;
pub mod search;
pub mod tokens;
pub mod types;
pub mod users;

mod checkpoint;
mod connection;
mod db;
mod prepared;
mod url;
mod writer;

use diesel::{PgConnection, SqliteConnection};

pub use connection::{prepare_postgres, DbError, DbManager};
pub use db::{Db, DbPool};
pub use url::DatabaseUrl;

pub use diesel::result::Error as QueryError;
pub type QueryResult<T> = Result<T, QueryError>;

/// One connection type over both backends. SQLite stays last: `establish` tries the
/// variants in order and SQLite accepts any path (we connect through `DbManager` anyway).
#[derive(diesel::MultiConnection)]
pub enum DbConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

diesel::define_sql_function! {
    /// The rowid of the row the connection inserted last (SQLite).
    fn last_insert_rowid() -> diesel::sql_types::BigInt;
}

/// The id of the row just inserted on this SQLite connection: what `RETURNING id` would
/// say, without the temporary table SQLite fills to return rows. A trigger's own inserts
/// do not count once the statement that fired it ended.
fn sqlite_inserted_id(c: &mut SqliteConnection) -> QueryResult<i64> {
    use diesel::RunQueryDsl;
    diesel::select(last_insert_rowid()).get_result(c)
}

/// Microseconds since the Unix epoch: how every time is stored.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Escapes `%`, `_` and `\` for a LIKE pattern that uses `\` as its escape character.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
