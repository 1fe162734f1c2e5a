//! The database handle: the connection pool for reads, the writer thread for writes,
//! migrations, and how every connection is prepared.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{ManageConnection, Pool, PooledConnection};
use diesel::{Connection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tracing::Instrument;

use super::checkpoint::spawn_checkpointer;
use super::connection::{DbError, DbManager};
use super::writer::{spawn_writer, Write, WriteJob};
use super::{Backend, DatabaseUrl, DbConn, QueryError};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub type DbPool = Pool<DbManager>;

/// The database handle shared by every request: a pool plus the writer thread.
#[derive(Clone)]
pub struct Db {
    pool: DbPool,
    backend: Backend,
    /// Write transactions go to one thread (see `spawn_writer`).
    writer: std::sync::mpsc::Sender<Box<dyn WriteJob>>,
    /// Database calls made (`run` and `write`), for `/metrics`.
    calls: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// One per pooled connection: a call waits here, not on a blocking thread of its own
    /// parked in the pool (thousands of streams opening at once would start as many threads).
    readers: std::sync::Arc<tokio::sync::Semaphore>,
}

impl Db {
    /// Connects, prepares the database (WAL on SQLite) and applies pending migrations.
    pub fn connect(url: &DatabaseUrl, pool_size: u32) -> anyhow::Result<Self> {
        if url.backend == Backend::Sqlite {
            if let Some(parent) = std::path::Path::new(&url.target).parent() {
                if !parent.as_os_str().is_empty() {
                    std::fs::create_dir_all(parent).map_err(|e| {
                        anyhow::anyhow!("cannot create the folder {} of the SQLite database: {e}", parent.display())
                    })?;
                }
            }
            // Once, before the pool exists: switching journal modes from several pooled
            // connections at once races and fails with "database is locked".
            let cannot =
                |e: &dyn std::fmt::Display| anyhow::anyhow!("cannot open the SQLite database {}: {e}", url.target);
            let mut conn = SqliteConnection::establish(&url.target).map_err(|e| cannot(&e))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;").map_err(|e| cannot(&e))?;
        }
        // One connection first: an unreachable or misspelt database stops the start with
        // one line, instead of the pool's retries.
        let manager = DbManager { url: url.clone() };
        manager.connect().map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
        // A SQLite connection is a file handle that cannot drop out, so it is not checked with
        // a query each time it leaves the pool; a PostgreSQL connection can, and is.
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(url.backend == Backend::Postgres)
            .build(manager)?;
        // Set by the SQLite checkpointer when the writer thread should start the log over.
        let restart_log = std::sync::Arc::<std::sync::atomic::AtomicBool>::default();
        let writer = spawn_writer(DbManager { url: url.clone() }, restart_log.clone())?;
        let readers = std::sync::Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize));
        let calls = std::sync::Arc::<std::sync::atomic::AtomicU64>::default();
        if url.backend == Backend::Sqlite {
            spawn_checkpointer(url.target.clone(), std::sync::Arc::downgrade(&calls), restart_log)?;
        }
        let db = Self { pool, backend: url.backend, writer, calls, readers };
        db.migrate()?;
        Ok(db)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    fn migrate(&self) -> anyhow::Result<()> {
        let mut conn = self.pool.get()?;
        let result = match &mut *conn {
            DbConn::Pg(c) => c.run_pending_migrations(POSTGRES_MIGRATIONS).map(|_| ()),
            DbConn::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|_| ()),
        };
        result.map_err(|e| anyhow::anyhow!("applying migrations: {e}"))
    }

    /// True when the database answers and no migration is pending.
    pub fn is_ready(&self) -> bool {
        let Ok(mut conn) = self.pool.get() else { return false };
        match &mut *conn {
            DbConn::Pg(c) => c.has_pending_migration(POSTGRES_MIGRATIONS).map(|p| !p).unwrap_or(false),
            DbConn::Sqlite(c) => c.has_pending_migration(SQLITE_MIGRATIONS).map(|p| !p).unwrap_or(false),
        }
    }

    /// A connection for synchronous callers (the CLI, start-up).
    pub fn get(&self) -> Result<PooledConnection<DbManager>, DbError> {
        Ok(self.pool.get()?)
    }

    /// How many database calls (`run`, `write`) were made so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Runs `f` with a pooled connection on the blocking pool, in the caller's span.
    pub async fn run<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.run_apart(f).await
    }

    /// Like `run`, left out of `calls()`: for the log tail of several nodes, which counts
    /// its reads itself (`causerie_bus_reads_total`), so that `calls()` keeps measuring
    /// what requests and streams cost.
    pub async fn run_apart<T, E, F>(&self, f: F) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + Send + 'static,
    {
        // The semaphore is never closed.
        let _permit = self.readers.acquire().await.map_err(|_| E::from(DbError::Task))?;
        let pool = self.pool.clone();
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _entered = span.enter();
            let mut conn = pool.get().map_err(DbError::from)?;
            f(&mut conn)
        })
        .in_current_span()
        .await
        .map_err(|_| E::from(DbError::Task))?
    }

    /// Runs `f` inside one transaction on the writer thread; `after_commit` runs there too,
    /// before the next transaction starts, so whatever it publishes goes out in commit order.
    pub async fn write<T, E, F, A>(&self, f: F, after_commit: A) -> Result<T, E>
    where
        F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
        A: FnOnce(&mut T) + Send + 'static,
        T: Send + 'static,
        E: From<DbError> + From<QueryError> + Send + 'static,
    {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Box::new(Write { f: Some(f), after_commit, result: None, reply, span: tracing::Span::current() });
        self.writer.send(job).map_err(|_| E::from(DbError::Task))?;
        answer.await.map_err(|_| E::from(DbError::Task))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{events, schema};

    /// The check on a message's type, which a migration rewrites in place, still refuses an
    /// unknown type, on the connection that ran the migrations and on a new one alike, and
    /// the database stays consistent.
    #[test]
    fn a_message_of_an_unknown_type_is_refused_after_the_migrations() {
        use diesel::RunQueryDsl;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db").display().to_string();
        let db = Db::connect(&DatabaseUrl::parse(&format!("sqlite://{path}")).unwrap(), 1).unwrap();
        let mut migrated = db.get().unwrap();
        migrated
            .batch_execute(
                "INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (1, 'u', 'U', 'x', 0); \
                 INSERT INTO chat_rooms (id, name, room_type, created_by_id, created_at, updated_at, last_activity_at) \
                 VALUES (1, 'r', 'group', 1, 0, 0, 0);",
            )
            .unwrap();
        let fresh = SqliteConnection::establish(&path).unwrap();
        let insert = |message_type: &str| {
            format!(
                "INSERT INTO chat_messages (room_id, sender_id, content, message_type, created_at) \
                 VALUES (1, 1, 'hello', '{message_type}', 0)"
            )
        };
        for conn in [&mut *migrated, &mut DbConn::Sqlite(fresh)] {
            for known in ["text", "file", "system"] {
                diesel::sql_query(insert(known)).execute(conn).unwrap();
            }
            let refused = diesel::sql_query(insert("voice")).execute(conn);
            assert!(
                matches!(
                    refused,
                    Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::CheckViolation, _))
                ),
                "{refused:?}"
            );
        }
        #[derive(diesel::QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let checks: Vec<Check> = diesel::sql_query("PRAGMA integrity_check").load(&mut *migrated).unwrap();
        assert_eq!(checks.iter().map(|c| c.integrity_check.as_str()).collect::<Vec<_>>(), ["ok"]);
    }

    /// A database made before the event id became the rowid keeps its events, and new ids
    /// continue after the counter's, also when retention had removed every event.
    #[test]
    fn upgrading_sqlite_keeps_the_event_ids_going() {
        use diesel::{QueryDsl, RunQueryDsl};
        for (events, last_id, pruned_through, next) in [(vec![1_i64, 2, 3], 3_i64, 0_i64, 4_i64), (vec![], 7, 7, 8)] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.db");
            let mut conn = SqliteConnection::establish(&path.display().to_string()).unwrap();
            conn.run_next_migration(SQLITE_MIGRATIONS).unwrap();
            for id in &events {
                diesel::sql_query(format!(
                    "INSERT INTO chat_events (id, room_id, kind, payload, created_at) VALUES ({id}, 1, 'x', '{{}}', {id})"
                ))
                .execute(&mut conn)
                .unwrap();
            }
            diesel::sql_query(format!(
                "UPDATE chat_event_counter SET last_id = {last_id}, pruned_through = {pruned_through}"
            ))
            .execute(&mut conn)
            .unwrap();
            conn.run_pending_migrations(SQLITE_MIGRATIONS).unwrap();
            let mut conn = DbConn::Sqlite(conn);
            assert_eq!(events::bounds(&mut conn).unwrap(), (pruned_through, last_id));
            let event = crate::store::models::NewEvent {
                room_id: crate::domain::RoomId(1),
                kind: crate::domain::EventKind::Read,
                payload: "{}",
                target_user_id: None,
                message_id: None,
            };
            let id = events::insert(&mut conn, &event).unwrap();
            assert_eq!(id, next);
            assert_eq!(events::bounds(&mut conn).unwrap(), (pruned_through, next));
            let kept: Vec<i64> = schema::chat_events::table
                .select(schema::chat_events::id)
                .order(schema::chat_events::id)
                .load(&mut conn)
                .unwrap();
            assert_eq!(kept, events.iter().copied().chain([next]).collect::<Vec<_>>());
        }
    }
}
