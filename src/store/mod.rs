//! The only code that speaks SQL. Plain functions take the connection first and return
//! `QueryResult`; `Db` runs them on the blocking pool, never on the async reactor.
//!
//! Error policy: store functions return `QueryResult`; handlers turn them into `ApiError`
//! (`NotFound` -> 404, unique violation -> 409, pool timeout -> 503, anything else -> 500
//! logged with its cause); start-up and the CLI use `anyhow`.
//!
//! Look-ups by a unique key use `get_result`, not `first`: `first` binds its `LIMIT` as a
//! parameter, and SQLite (3.53) re-prepares such a statement each time it runs: the
//! membership check took a fifth of the writer's time per message that way.
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
pub mod events;
pub mod messages;
pub mod models;
pub mod reads;
pub mod rooms;
pub mod schema;
pub mod tokens;
pub mod types;
pub mod users;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection, Pool, PooledConnection};
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use tracing::Instrument;

pub use diesel::result::Error as QueryError;
pub type QueryResult<T> = Result<T, QueryError>;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

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

/// Where the database lives, parsed from `CAUSERIE_DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    pub backend: Backend,
    /// What the backend's driver takes: a libpq URL or an SQLite file path.
    pub target: String,
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self { backend: Backend::Postgres, target: url.to_owned() });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or_else(|| format!("expected sqlite://PATH or postgres://…, got {url:?}"))?;
        if path.is_empty() {
            return Err("the SQLite path is empty".into());
        }
        Ok(Self { backend: Backend::Sqlite, target: path.to_owned() })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("no database connection available")]
    Pool(#[from] r2d2::PoolError),
    #[error("database task failed")]
    Task,
    #[error("the writer has no database connection")]
    NoConnection,
}

/// Opens connections of the configured backend and prepares every SQLite connection.
pub struct DbManager {
    url: DatabaseUrl,
}

impl ManageConnection for DbManager {
    type Connection = DbConn;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConn, r2d2::Error> {
        match self.url.backend {
            Backend::Postgres => {
                prepare_postgres();
                PgConnection::establish(&self.url.target).map(DbConn::Pg).map_err(r2d2::Error::ConnectionError)
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.url.target).map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first, so the others wait for a busy database instead of failing.
                // Checkpoints are left to the checkpointer thread: run by a committing
                // connection, one stalls the writer thread (and every publish behind it)
                // for the checkpoint's fsyncs.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = 0;",
                )
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConn::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConn) -> Result<(), r2d2::Error> {
        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, _conn: &mut DbConn) -> bool {
        false
    }
}

/// Sets up OpenSSL, which libpq uses for PostgreSQL's TLS, without its clean-up at exit;
/// every PostgreSQL connection is opened after it. That clean-up runs inside `exit` and
/// frees what other threads may still be using: the process ends with the writer's and
/// the pool's connections open, and a thread closing or opening one meanwhile crashed
/// the process on its way out. OpenSSL takes the setting from its first initialisation
/// only, so this must come before any other connection (the tests call it too).
pub fn prepare_postgres() {
    openssl_sys::init();
}

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
                        anyhow::anyhow!(
                            "cannot create the folder {} of the SQLite database ({}): {e}",
                            parent.display(),
                            crate::config::where_set("database_url")
                        )
                    })?;
                }
            }
            // Once, before the pool exists: switching journal modes from several pooled
            // connections at once races and fails with "database is locked".
            let cannot = |e: &dyn std::fmt::Display| {
                anyhow::anyhow!(
                    "cannot open the SQLite database {} ({}): {e}",
                    url.target,
                    crate::config::where_set("database_url")
                )
            };
            let mut conn = SqliteConnection::establish(&url.target).map_err(|e| cannot(&e))?;
            conn.batch_execute("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL;").map_err(|e| cannot(&e))?;
        }
        // One connection first: an unreachable or misspelt database stops the start with
        // one line, instead of the pool's retries.
        let manager = DbManager { url: url.clone() };
        manager.connect().map_err(|e| {
            anyhow::anyhow!("cannot connect to the database ({}): {e}", crate::config::where_set("database_url"))
        })?;
        // A SQLite connection is a file handle that cannot drop out, so it is not checked with
        // a query each time it leaves the pool; a PostgreSQL connection can, and is.
        let pool = Pool::builder()
            .max_size(pool_size)
            .connection_timeout(Duration::from_secs(10))
            .test_on_check_out(url.backend == Backend::Postgres)
            .build(manager)?;
        let writer = spawn_writer(DbManager { url: url.clone() })?;
        let readers = std::sync::Arc::new(tokio::sync::Semaphore::new(pool_size.max(1) as usize));
        let calls = std::sync::Arc::<std::sync::atomic::AtomicU64>::default();
        if url.backend == Backend::Sqlite {
            spawn_checkpointer(url.target.clone(), std::sync::Arc::downgrade(&calls))?;
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

/// One write transaction queued for the writer thread.
trait WriteJob: Send {
    /// Runs the transaction: as a savepoint inside the batch's transaction, where a
    /// failure undoes this job's changes only, or on its own when the batch is this job.
    fn run(&mut self, conn: &mut DbConn);
    /// True once `run` returned an error (or never ran).
    fn failed(&self) -> bool;
    /// Answers the caller once the batch committed or failed as a whole; only then do
    /// `after_commit` hooks (publishing) run, in queue order.
    fn finish(self: Box<Self>, batch: Batch);
}

struct Write<T, E, F, A> {
    f: Option<F>,
    after_commit: A,
    result: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    span: tracing::Span,
}

impl<T, E, F, A> WriteJob for Write<T, E, F, A>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    A: FnOnce(&mut T) + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + From<QueryError> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConn) {
        let _entered = self.span.enter();
        if let Some(f) = self.f.take() {
            self.result = Some(conn.transaction(f));
        }
    }

    fn failed(&self) -> bool {
        !matches!(self.result, Some(Ok(_)))
    }

    fn finish(self: Box<Self>, batch: Batch) {
        let _entered = self.span.enter();
        let result = match (self.result, batch) {
            (Some(Ok(mut out)), Batch::Committed) => {
                (self.after_commit)(&mut out);
                Ok(out)
            }
            (Some(Err(error)), _) => Err(error),
            (_, Batch::NoConnection) => Err(E::from(DbError::NoConnection)),
            // Not run (a job before it panicked) or rolled back with its batch.
            _ => Err(E::from(DbError::Task)),
        };
        let _ = self.reply.send(result);
    }
}

/// How a batch of write jobs ended.
#[derive(Clone, Copy)]
enum Batch {
    Committed,
    RolledBack,
    NoConnection,
}

/// Transactions committed together at most: what queued while the last batch ran.
const MAX_BATCH: usize = 64;

/// The one thread that runs write transactions. SQLite has one writer anyway; here writers
/// queue without holding connections or waking each other, events commit and are published
/// in id order on PostgreSQL too, and what queued up meanwhile commits as one transaction
/// (each job in a savepoint of its own), so a burst of messages pays for one commit.
///
/// The thread keeps a connection of its own, outside the pool: no check-out per batch. It
/// is replaced after a batch that failed as a whole, or when a job failed and the
/// connection no longer answers (a lost PostgreSQL connection shows up that way).
fn spawn_writer(manager: DbManager) -> std::io::Result<std::sync::mpsc::Sender<Box<dyn WriteJob>>> {
    let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn WriteJob>>();
    std::thread::Builder::new().name("causerie-writer".into()).spawn(move || {
        let mut held: Option<DbConn> = None;
        while let Ok(first) = queue.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            if held.is_none() {
                match manager.connect() {
                    Ok(conn) => held = Some(conn),
                    Err(error) => tracing::warn!(%error, "no database connection for the writer"),
                }
            }
            let outcome = match held.as_mut() {
                Some(conn) => run_batch(conn, &mut batch),
                None => Batch::NoConnection,
            };
            let lost = match (outcome, held.as_mut()) {
                (Batch::RolledBack, _) => true,
                (_, Some(conn)) => batch.iter().any(|job| job.failed()) && manager.is_valid(conn).is_err(),
                (_, None) => false,
            };
            if lost {
                held = None;
            }
            for job in batch {
                job.finish(outcome);
            }
        }
    })?;
    Ok(jobs)
}

/// Runs the jobs in one transaction. A panicking job (a bug) rolls the whole batch back:
/// its savepoint may be left half done. A batch of one job is that job's own transaction,
/// without a savepoint; should it panic, the connection is dropped, which rolls it back.
fn run_batch(conn: &mut DbConn, batch: &mut [Box<dyn WriteJob>]) -> Batch {
    if let [job] = batch {
        return match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn))) {
            Ok(()) => Batch::Committed,
            Err(_) => {
                tracing::error!("a write panicked and was rolled back");
                Batch::RolledBack
            }
        };
    }
    let outcome = conn.transaction(|conn| {
        for job in batch.iter_mut() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn))).is_err() {
                return Err(QueryError::RollbackTransaction);
            }
        }
        Ok::<_, QueryError>(())
    });
    match outcome {
        Ok(()) => Batch::Committed,
        Err(error) => {
            tracing::error!(%error, jobs = batch.len(), "a batch of writes was rolled back");
            Batch::RolledBack
        }
    }
}

/// How often the checkpointer copies the SQLite write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the write-ahead log beside the writer, on a connection of its own, while
/// the database is in use (`alive` is the `Db`'s). PASSIVE: it never waits for readers or
/// the writer, and copies what they no longer need.
fn spawn_checkpointer(path: String, alive: std::sync::Weak<std::sync::atomic::AtomicU64>) -> std::io::Result<()> {
    std::thread::Builder::new().name("causerie-checkpoint".into()).spawn(move || {
        let mut conn: Option<SqliteConnection> = None;
        while alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            let result = match conn.as_mut() {
                Some(c) => c.batch_execute("PRAGMA wal_checkpoint(PASSIVE);"),
                None => SqliteConnection::establish(&path)
                    .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))
                    .and_then(|mut c| c.batch_execute("PRAGMA busy_timeout = 1000;").map(|()| c))
                    .map(|c| conn = Some(c)),
            };
            if let Err(error) = result {
                tracing::warn!(%error, "checkpointing the SQLite log failed; retrying");
                conn = None;
            }
        }
    })?;
    Ok(())
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
    fn a_database_that_cannot_be_opened_is_named_with_its_setting() {
        let dir = tempfile::tempdir().unwrap();
        // A file where the database's folder should be.
        let blocker = dir.path().join("not-a-folder");
        std::fs::write(&blocker, b"").unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}/chat.db", blocker.display())).unwrap();
        let error = Db::connect(&url, 1).err().expect("no database there").to_string();
        assert!(error.contains("CAUSERIE_DATABASE_URL") && error.contains("not-a-folder"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn database_urls_select_the_backend() {
        let sqlite = DatabaseUrl::parse("sqlite://causerie.db").unwrap();
        assert_eq!(sqlite.backend, Backend::Sqlite);
        assert_eq!(sqlite.target, "causerie.db");
        let abs = DatabaseUrl::parse("sqlite:///tmp/x.db").unwrap();
        assert_eq!(abs.target, "/tmp/x.db");
        let pg = DatabaseUrl::parse("postgres://u@localhost/db").unwrap();
        assert_eq!(pg.backend, Backend::Postgres);
        assert!(DatabaseUrl::parse("mysql://x").is_err());
        assert!(DatabaseUrl::parse("sqlite://").is_err());
    }

    /// A database in a temp directory with a table `t (v)`, for the writer's tests.
    async fn db_with_table_t() -> (tempfile::TempDir, Db) {
        use diesel::RunQueryDsl;
        let dir = tempfile::tempdir().unwrap();
        let url = DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("t.db").display())).unwrap();
        let db = Db::connect(&url, 2).unwrap();
        let setup = |conn: &mut DbConn| diesel::sql_query("CREATE TABLE t (v INTEGER NOT NULL)").execute(conn);
        db.write(move |conn| setup(conn).map_err(crate::error::ApiError::from), |_| {}).await.unwrap();
        (dir, db)
    }

    /// The values in `t`, read on a pooled connection: what committed.
    fn committed_values(db: &Db) -> Vec<i64> {
        use diesel::RunQueryDsl;
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            v: i64,
        }
        let mut conn = db.get().unwrap();
        let rows: Vec<Row> = diesel::sql_query("SELECT v FROM t ORDER BY v").load(&mut conn).unwrap();
        rows.into_iter().map(|r| r.v).collect()
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
            let id = events::insert(&mut conn, crate::domain::RoomId(1), crate::domain::EventKind::Read, "{}", None)
                .unwrap();
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_is_rolled_back_and_the_writer_goes_on() {
        use diesel::RunQueryDsl;
        let (_dir, db) = db_with_table_t().await;
        let insert = |conn: &mut DbConn, v: i64| {
            diesel::sql_query(format!("INSERT INTO t (v) VALUES ({v})"))
                .execute(conn)
                .map_err(crate::error::ApiError::from)
        };
        // One at a time, so each is a batch of its own (no savepoint around it).
        let panicked: Result<(), crate::error::ApiError> = db
            .write(
                move |conn| {
                    insert(conn, 1)?;
                    if conn.batch_execute("SELECT 1").is_ok() {
                        panic!("a bug in a write");
                    }
                    Ok(())
                },
                |_| {},
            )
            .await;
        assert!(panicked.is_err());
        db.write(move |conn| insert(conn, 2), |_| {}).await.unwrap();
        assert_eq!(committed_values(&db), vec![2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_in_a_batch_undoes_only_itself() {
        use diesel::RunQueryDsl;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let (_dir, db) = db_with_table_t().await;
        let published = Arc::new(AtomicUsize::new(0));
        // Submitted at once: the writer commits what queued together.
        let writes = (0..90).map(|v| {
            let (db, published) = (db.clone(), published.clone());
            async move {
                db.write(
                    move |conn| {
                        diesel::sql_query(format!("INSERT INTO t (v) VALUES ({v})")).execute(conn)?;
                        if v % 3 == 0 {
                            return Err(crate::error::ApiError::invalid("refused"));
                        }
                        Ok(v)
                    },
                    move |_| {
                        published.fetch_add(1, Ordering::SeqCst);
                    },
                )
                .await
            }
        });
        let results = futures_util::future::join_all(writes).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 60);
        assert_eq!(published.load(Ordering::SeqCst), 60, "after_commit runs for committed writes only");
        assert_eq!(committed_values(&db), (0..90).filter(|v| v % 3 != 0).collect::<Vec<i64>>());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(like_escape("a%b_c\\"), "a\\%b\\_c\\\\");
    }
}
