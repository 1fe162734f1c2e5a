//! Full-text search over messages: FTS5 on SQLite, a `tsvector` column on PostgreSQL
//! (both kept current by the migration). Only messages of the searcher's rooms, never
//! deleted or system ones; newest first.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text};
use diesel::{PgConnection, SqliteConnection};

use super::{DbConn, QueryResult};
use crate::domain::search::SearchQuery;
use crate::domain::{MessageId, RoomId, UserId};

/// Which messages a search may return.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Only rooms this user is a member of.
    pub member: UserId,
    pub room_id: Option<RoomId>,
    pub sender_id: Option<UserId>,
    /// Only messages older than this one.
    pub before: Option<MessageId>,
    pub limit: i64,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

#[derive(QueryableByName)]
struct Lexeme {
    #[diesel(sql_type = BigInt)]
    word: i64,
    #[diesel(sql_type = Text)]
    lexeme: String,
}

/// Ids of the messages matching the query in the scope, newest first.
pub fn matches(conn: &mut DbConn, query: &SearchQuery, scope: &Scope) -> QueryResult<Vec<MessageId>> {
    if query.is_empty() {
        return Ok(Vec::new());
    }
    match conn {
        DbConn::Sqlite(c) => sqlite_matches(c, &query.fts5(), scope),
        DbConn::Pg(c) => {
            let terms = query.terms();
            let words: Vec<String> = terms.iter().flat_map(|t| t.words.iter().cloned()).collect();
            let mut term_of_word = Vec::with_capacity(words.len());
            for (i, term) in terms.iter().enumerate() {
                term_of_word.extend(std::iter::repeat_n(i, term.words.len()));
            }
            let mut lexemes = vec![Vec::new(); terms.len()];
            for (word, lexeme) in pg_lexemes(c, &words)? {
                if let Some(&term) = term_of_word.get(word) {
                    lexemes[term].push(lexeme);
                }
            }
            match query.tsquery(&lexemes) {
                Some(tsquery) => pg_matches(c, &tsquery, scope),
                None => Ok(Vec::new()),
            }
        }
    }
}

/// The WHERE clauses of the optional filters, with the placeholder syntax of the backend.
fn filters(scope: &Scope, mut placeholder: impl FnMut() -> String) -> String {
    let mut sql = String::new();
    if scope.room_id.is_some() {
        sql += &format!(" AND m.room_id = {}", placeholder());
    }
    if scope.sender_id.is_some() {
        sql += &format!(" AND m.sender_id = {}", placeholder());
    }
    sql
}

/// Ids of the messages matching an FTS5 query (built by `SearchQuery::fts5`, never from
/// raw user text), newest first.
fn sqlite_matches(c: &mut SqliteConnection, fts: &str, scope: &Scope) -> QueryResult<Vec<MessageId>> {
    // The index drives the loop, newest row first, so the LIMIT ends it early.
    let sql = format!(
        "SELECT m.id AS id FROM chat_messages_fts f \
         JOIN chat_messages m ON m.id = f.rowid \
         JOIN chat_room_members rm ON rm.room_id = m.room_id AND rm.user_id = ? \
         WHERE chat_messages_fts MATCH ? AND f.rowid < ?{} \
         AND NOT m.is_deleted AND m.message_type <> 'system' \
         ORDER BY f.rowid DESC LIMIT ?",
        filters(scope, || "?".into())
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed::<diesel::sqlite::Sqlite>()
        .bind::<BigInt, _>(scope.member.0)
        .bind::<Text, _>(fts)
        .bind::<BigInt, _>(scope.before.map_or(i64::MAX, |b| b.0));
    if let Some(room_id) = scope.room_id {
        query = query.bind::<BigInt, _>(room_id.0);
    }
    if let Some(sender_id) = scope.sender_id {
        query = query.bind::<BigInt, _>(sender_id.0);
    }
    let found: Vec<Found> = query.bind::<BigInt, _>(scope.limit).load(c)?;
    Ok(found.into_iter().map(|f| MessageId(f.id)).collect())
}

/// The lexemes PostgreSQL makes of each word, by the function that makes the indexed
/// ones: `(word index, lexeme)` in the order of the words and of the lexemes in each.
fn pg_lexemes(c: &mut PgConnection, words: &[String]) -> QueryResult<Vec<(usize, String)>> {
    let rows: Vec<Lexeme> = diesel::sql_query(
        "SELECT w.i - 1 AS word, t.lexeme AS lexeme \
         FROM unnest($1::text[]) WITH ORDINALITY AS w(word, i), \
         LATERAL unnest(to_tsvector('simple'::regconfig, causerie_search_text(w.word))) AS t \
         ORDER BY w.i, t.positions[1]",
    )
    .bind::<Array<Text>, _>(words)
    .load(c)?;
    Ok(rows.into_iter().filter_map(|r| Some((usize::try_from(r.word).ok()?, r.lexeme))).collect())
}

/// Ids of the messages matching a `tsquery` (built by `SearchQuery::tsquery` from
/// lexemes, never from raw user text), newest first.
fn pg_matches(c: &mut PgConnection, tsquery: &str, scope: &Scope) -> QueryResult<Vec<MessageId>> {
    let mut n = 3;
    let clauses = filters(scope, || {
        n += 1;
        format!("${n}")
    });
    let limit_at = n + 1;
    let sql = format!(
        "SELECT m.id AS id FROM chat_messages m \
         JOIN chat_room_members rm ON rm.room_id = m.room_id AND rm.user_id = $1 \
         WHERE m.search_vector @@ CAST($2 AS tsquery) AND m.id < $3{} \
         AND NOT m.is_deleted AND m.message_type <> 'system' \
         ORDER BY m.id DESC LIMIT ${limit_at}",
        clauses
    );
    let mut query = diesel::sql_query(sql)
        .into_boxed::<diesel::pg::Pg>()
        .bind::<BigInt, _>(scope.member.0)
        .bind::<Text, _>(tsquery)
        .bind::<BigInt, _>(scope.before.map_or(i64::MAX, |b| b.0));
    if let Some(room_id) = scope.room_id {
        query = query.bind::<BigInt, _>(room_id.0);
    }
    if let Some(sender_id) = scope.sender_id {
        query = query.bind::<BigInt, _>(sender_id.0);
    }
    let found: Vec<Found> = query.bind::<BigInt, _>(scope.limit).load(c)?;
    Ok(found.into_iter().map(|f| MessageId(f.id)).collect())
}
