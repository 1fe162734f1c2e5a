//! Moving a whole database: every table's rows as JSON objects, read in one snapshot and
//! written in one transaction, on either backend (`causerie backup`, `export`, `import`).
//!
//! Generic over the tables: the columns come from the database itself (`pragma_table_info`,
//! `information_schema.columns`), each row is made a JSON object by the database
//! (`json_object`, `row_to_json`) and read back into rows by it (`json_each` with
//! `json_extract`, `json_populate_recordset`), so that a table added later needs one line in
//! [`TABLES`] and nothing else. Values keep their JSON type: SQLite's 0/1 booleans are
//! written as `true`/`false`, times are the stored microseconds, NULL is `null`.
//!
//! Queries return `QueryResult` (the command line names what failed); opening and checking a
//! SQLite file, like `Db::connect`, returns `anyhow::Result`.

use std::collections::BTreeMap;
use std::path::Path;

use diesel::connection::SimpleConnection;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{Connection, QueryableByName, RunQueryDsl, SqliteConnection};

use anyhow::Context;

use super::{events, DbConn, QueryError, QueryResult};

/// Every table an export carries, parents before children: import inserts in this order,
/// so that each row's references exist. A table added to the schema is added here (a test
/// compares this list with the tables of a migrated database).
pub const TABLES: &[&str] = &[
    "users",
    "user_permissions",
    "sessions",
    "api_tokens",
    "chat_rooms",
    "chat_room_members",
    "chat_messages",
    "chat_attachments",
    "chat_mentions",
    "chat_reactions",
    "chat_pins",
    "chat_message_reads",
    "chat_events",
    "chat_event_counter",
];

/// The one table a migration fills (its single row), which an import replaces.
const COUNTER: &str = "chat_event_counter";

/// Rows read per query of an export, and inserted per statement of an import.
pub const BATCH: usize = 500;

/// A column as the database describes it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Column {
    #[diesel(sql_type = Text)]
    pub name: String,
    /// The declared type, e.g. `BIGINT`, `BOOLEAN`, `boolean`, `text`.
    #[diesel(sql_type = Text)]
    pub kind: String,
}

impl Column {
    fn is_boolean(&self) -> bool {
        self.kind.to_ascii_lowercase().starts_with("bool")
    }
}

#[derive(QueryableByName)]
struct Line {
    #[diesel(sql_type = Text)]
    line: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Sequence {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Nullable<BigInt>)]
    value: Option<i64>,
}

fn quote(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

/// The columns of `table` in their declared order; empty when there is no such table.
/// Generated columns (PostgreSQL's search vector) are left out: the database computes them.
pub fn columns(conn: &mut DbConn, table: &str) -> QueryResult<Vec<Column>> {
    match conn {
        DbConn::Sqlite(c) => diesel::sql_query("SELECT name, type AS kind FROM pragma_table_info(?) ORDER BY cid")
            .bind::<Text, _>(table)
            .load::<Column>(c),
        DbConn::Pg(c) => diesel::sql_query(
            "SELECT column_name::text AS name, data_type::text AS kind FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND is_generated = 'NEVER' \
             ORDER BY ordinal_position",
        )
        .bind::<Text, _>(table)
        .load::<Column>(c),
    }
}

/// The tables of the database other than the migrations' own and SQLite's internal ones.
pub fn table_names(conn: &mut DbConn) -> QueryResult<Vec<String>> {
    let sql = match conn {
        DbConn::Sqlite(_) => {
            // Virtual tables (a full-text index) and their shadow tables are not data of their
            // own: `pragma_table_list` tells them apart.
            "SELECT name AS line FROM pragma_table_list WHERE schema = 'main' AND type = 'table' \
             AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_\\_diesel%' ESCAPE '\\' ORDER BY name"
        }
        DbConn::Pg(_) => {
            "SELECT table_name::text AS line FROM information_schema.tables WHERE table_schema = current_schema() \
             AND table_type = 'BASE TABLE' AND table_name NOT LIKE '\\_\\_diesel%' ORDER BY table_name"
        }
    };
    let rows: Vec<Line> = diesel::sql_query(sql).load(conn)?;
    Ok(rows.into_iter().map(|r| r.line).collect())
}

/// Runs `f` in one read transaction: every table is read from the same snapshot while the
/// server keeps writing.
pub fn snapshot<T, E: From<QueryError>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    conn.transaction(|conn| {
        if let DbConn::Pg(c) = conn {
            c.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        f(conn)
    })
}

/// Runs `f` in one write transaction: all of it is stored, or none.
pub fn all_or_nothing<T, E: From<QueryError>>(
    conn: &mut DbConn,
    f: impl FnOnce(&mut DbConn) -> Result<T, E>,
) -> Result<T, E> {
    conn.transaction(f)
}

/// Calls `each` with every row of `table` as one line of JSON, in primary-key order (by
/// `id` in batches where the table has one).
pub fn each_row<E: From<QueryError>>(
    conn: &mut DbConn,
    table: &str,
    columns: &[Column],
    mut each: impl FnMut(&str) -> Result<(), E>,
) -> Result<u64, E> {
    let object = match conn {
        DbConn::Sqlite(_) => {
            let fields: Vec<String> = columns
                .iter()
                .map(|c| {
                    let name = quote(&c.name);
                    let value = if c.is_boolean() {
                        format!(
                            "CASE WHEN {name} IS NULL THEN NULL WHEN {name} THEN json('true') ELSE json('false') END"
                        )
                    } else {
                        name
                    };
                    format!("'{}', {value}", c.name.replace('\'', "''"))
                })
                .collect();
            format!("json_object({})", fields.join(", "))
        }
        DbConn::Pg(_) => "row_to_json(t)::text".to_owned(),
    };
    let keyed = columns.iter().any(|c| c.name == "id");
    let order: Vec<String> = columns.iter().map(|c| quote(&c.name)).collect();
    let mut rows = 0u64;
    let mut after = i64::MIN;
    let mut offset = 0i64;
    loop {
        let sql = if keyed {
            format!(
                "SELECT {object} AS line, CAST(id AS BIGINT) AS n FROM {} t WHERE id > {after} ORDER BY id LIMIT {BATCH}",
                quote(table)
            )
        } else {
            format!(
                "SELECT {object} AS line, CAST(0 AS BIGINT) AS n FROM {} t ORDER BY {} LIMIT {BATCH} OFFSET {offset}",
                quote(table),
                order.join(", ")
            )
        };
        #[derive(QueryableByName)]
        struct Keyed {
            #[diesel(sql_type = Text)]
            line: String,
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        let batch: Vec<Keyed> = diesel::sql_query(sql).load(conn)?;
        for row in &batch {
            each(&row.line)?;
            after = row.n;
        }
        rows += batch.len() as u64;
        offset += batch.len() as i64;
        if batch.len() < BATCH {
            return Ok(rows);
        }
    }
}

/// Whether `table` holds any row (the event counter: any but its first state).
pub fn has_rows(conn: &mut DbConn, table: &str) -> QueryResult<bool> {
    let sql = if table == COUNTER {
        format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {} WHERE last_id <> 0 OR pruned_through <> 0", quote(table))
    } else {
        format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM (SELECT 1 FROM {} LIMIT 1) t", quote(table))
    };
    let count: Count = diesel::sql_query(sql).get_result(conn)?;
    Ok(count.n > 0)
}

/// Removes every row of `table`: on import, the counter row a migration made.
pub fn clear(conn: &mut DbConn, table: &str) -> QueryResult<()> {
    diesel::sql_query(format!("DELETE FROM {}", quote(table))).execute(conn)?;
    Ok(())
}

/// Inserts rows given as a JSON array of objects (`[{"id":1,…},…]`) into these columns of
/// `table`; a column missing from an object is NULL. Returns how many were inserted.
pub fn insert_rows(conn: &mut DbConn, table: &str, columns: &[String], array: &str) -> QueryResult<usize> {
    let list: Vec<String> = columns.iter().map(|c| quote(c)).collect();
    match conn {
        DbConn::Sqlite(c) => {
            let values: Vec<String> = columns
                .iter()
                .map(|name| format!("json_extract(value, '$.{}')", quote(name).replace('\'', "''")))
                .collect();
            let sql = format!(
                "INSERT INTO {} ({}) SELECT {} FROM json_each(?) ORDER BY key",
                quote(table),
                list.join(", "),
                values.join(", ")
            );
            diesel::sql_query(sql).bind::<Text, _>(array).execute(c)
        }
        DbConn::Pg(c) => {
            let sql = format!(
                "INSERT INTO {table_q} ({cols}) SELECT {cols} FROM json_populate_recordset(NULL::{table_q}, $1::json)",
                table_q = quote(table),
                cols = list.join(", ")
            );
            diesel::sql_query(sql).bind::<Text, _>(array).execute(c)
        }
    }
}

/// The last value handed out by each table's id sequence (SQLite's `AUTOINCREMENT`,
/// PostgreSQL's `BIGSERIAL`), so that ids of rows deleted before the export are not given
/// again after the import.
pub fn sequences(conn: &mut DbConn) -> QueryResult<BTreeMap<String, i64>> {
    let mut found = BTreeMap::new();
    match conn {
        DbConn::Sqlite(c) => {
            let rows: Vec<Sequence> = diesel::sql_query("SELECT name, seq AS value FROM sqlite_sequence").load(c)?;
            for row in rows {
                if TABLES.contains(&row.name.as_str()) {
                    found.insert(row.name, row.value.unwrap_or(0));
                }
            }
        }
        DbConn::Pg(_) => {
            for table in TABLES {
                if !columns(conn, table)?.iter().any(|c| c.name == "id") {
                    continue;
                }
                let rows: Vec<Sequence> = diesel::sql_query(
                    "SELECT $1::text AS name, pg_sequence_last_value(s::regclass) AS value \
                     FROM pg_get_serial_sequence($1, 'id') s WHERE s IS NOT NULL",
                )
                .bind::<Text, _>(*table)
                .load(conn)?;
                for row in rows {
                    found.insert(row.name, row.value.unwrap_or(0));
                }
            }
        }
    }
    Ok(found)
}

/// Makes `table`'s next id come after `at_least` and after every id it holds.
pub fn continue_sequence(conn: &mut DbConn, table: &str, at_least: i64) -> QueryResult<()> {
    let has_id = columns(conn, table)?.iter().any(|c| c.name == "id");
    if !has_id {
        return Ok(());
    }
    let newest: Count =
        diesel::sql_query(format!("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) AS n FROM {}", quote(table)))
            .get_result(conn)?;
    let value = newest.n.max(at_least);
    match conn {
        DbConn::Sqlite(c) => {
            #[derive(QueryableByName)]
            struct Auto {
                #[diesel(sql_type = BigInt)]
                n: i64,
            }
            let auto: Auto = diesel::sql_query(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM sqlite_master WHERE type = 'table' AND name = ? \
                 AND upper(sql) LIKE '%AUTOINCREMENT%'",
            )
            .bind::<Text, _>(table)
            .get_result(c)?;
            if auto.n == 0 || value <= 0 {
                return Ok(());
            }
            let updated = diesel::sql_query("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = ?")
                .bind::<BigInt, _>(value)
                .bind::<Text, _>(table)
                .execute(c)?;
            if updated == 0 {
                diesel::sql_query("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)")
                    .bind::<Text, _>(table)
                    .bind::<BigInt, _>(value)
                    .execute(c)?;
            }
            Ok(())
        }
        DbConn::Pg(c) => {
            if value <= 0 {
                return Ok(());
            }
            diesel::sql_query(
                "SELECT setval(s::regclass, $2) FROM pg_get_serial_sequence($1, 'id') s WHERE s IS NOT NULL",
            )
            .bind::<Text, _>(table)
            .bind::<BigInt, _>(value)
            .execute(c)
            .map(|_| ())
        }
    }
}

/// The newest event id handed out (a resume id any stream may hold).
pub fn last_event_id(conn: &mut DbConn) -> QueryResult<i64> {
    let (_, last) = events::bounds(conn)?;
    Ok(last)
}

/// Makes new events take ids after `last_id`, on either backend.
pub fn continue_events(conn: &mut DbConn, last_id: i64) -> QueryResult<()> {
    diesel::sql_query(format!(
        "UPDATE {COUNTER} SET last_id = CASE WHEN last_id > {last_id} THEN last_id ELSE {last_id} END"
    ))
    .execute(conn)?;
    continue_sequence(conn, "chat_events", last_id)
}

/// Copies the SQLite database at `source` into a new file `dest` in one read transaction
/// (`VACUUM INTO`): a consistent copy while a server keeps writing to it.
pub fn sqlite_copy(source: &str, dest: &Path) -> anyhow::Result<()> {
    let mut conn =
        SqliteConnection::establish(source).with_context(|| format!("cannot open the SQLite database {source}"))?;
    conn.batch_execute("PRAGMA busy_timeout = 10000;")?;
    let dest = dest.to_str().context("the backup path is not valid UTF-8")?;
    diesel::sql_query("VACUUM INTO ?").bind::<Text, _>(dest).execute(&mut conn).context("copying the database")?;
    Ok(())
}

/// Checks the SQLite database at `path` (a fresh copy) with `PRAGMA quick_check`.
pub fn sqlite_check(path: &Path) -> anyhow::Result<()> {
    let path = path.to_str().context("the path is not valid UTF-8")?;
    let mut conn = SqliteConnection::establish(path).context("opening the copy")?;
    let rows: Vec<Line> = diesel::sql_query("SELECT quick_check AS line FROM pragma_quick_check")
        .load(&mut conn)
        .context("checking the copy")?;
    match rows.first() {
        Some(row) if rows.len() == 1 && row.line == "ok" => Ok(()),
        _ => anyhow::bail!(
            "the copy failed its check: {}",
            rows.into_iter().map(|r| r.line).collect::<Vec<_>>().join("; ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{DatabaseUrl, Db};

    /// A full-text index (a virtual table and its shadow tables) is not data to move: it is
    /// not among the tables an export must carry.
    #[test]
    fn full_text_indexes_are_not_tables_of_their_own() {
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let db = Db::connect(&url, 1).unwrap();
        let mut conn = db.get().unwrap();
        conn.batch_execute("CREATE VIRTUAL TABLE notes_fts USING fts5(body)").unwrap();
        let names = table_names(&mut conn).unwrap();
        let mut listed: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        listed.sort();
        assert_eq!(names, listed);
    }
}
