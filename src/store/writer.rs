//! The one thread that runs write transactions, in batches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::r2d2::ManageConnection;
use diesel::Connection;

use super::checkpoint;
use super::connection::{DbError, DbManager};
use super::{events, DbConn, QueryError};

/// One write transaction queued for the writer thread.
pub(super) trait WriteJob: Send {
    /// Runs the transaction: as a savepoint inside the batch's transaction, where a
    /// failure undoes this job's changes only, or on its own (`alone`) when the batch is
    /// this job.
    fn run(&mut self, conn: &mut DbConn, alone: bool);
    /// True once `run` returned an error (or never ran).
    fn failed(&self) -> bool;
    /// Answers the caller once the batch committed or failed as a whole; only then do
    /// `after_commit` hooks (publishing) run, in queue order.
    fn finish(self: Box<Self>, batch: Batch);
}

pub(super) struct Write<T, E, F, A> {
    pub(super) f: Option<F>,
    pub(super) after_commit: A,
    pub(super) result: Option<Result<T, E>>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    pub(super) span: tracing::Span,
}

impl<T, E, F, A> WriteJob for Write<T, E, F, A>
where
    F: FnOnce(&mut DbConn) -> Result<T, E> + Send + 'static,
    A: FnOnce(&mut T) + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + From<QueryError> + Send + 'static,
{
    fn run(&mut self, conn: &mut DbConn, alone: bool) {
        let _entered = self.span.enter();
        if let Some(f) = self.f.take() {
            self.result = Some(match (alone, &conn) {
                (true, _) => write_transaction(conn, f),
                // PostgreSQL: `run_pg_batch` sets the savepoint around the job.
                (false, DbConn::Pg(_)) => f(conn),
                (false, DbConn::Sqlite(_)) => conn.transaction(f),
            });
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
pub(super) enum Batch {
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
///
/// On SQLite, when the checkpointer sets `restart_log` (the log still held over 64 MiB after
/// its passes: writes without a pause, or readers that kept it from starting over), the
/// thread starts the log over between batches.
pub(super) fn spawn_writer(
    manager: DbManager,
    restart_log: Arc<AtomicBool>,
) -> std::io::Result<std::sync::mpsc::Sender<Box<dyn WriteJob>>> {
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
            if restart_log.swap(false, Ordering::Relaxed) {
                if let Some(DbConn::Sqlite(conn)) = held.as_mut() {
                    if let Err(error) = checkpoint::restart_log(conn) {
                        tracing::warn!(%error, "starting the SQLite log over failed");
                    }
                }
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
        return match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn, true))) {
            Ok(()) => Batch::Committed,
            Err(_) => {
                tracing::error!("a write panicked and was rolled back");
                Batch::RolledBack
            }
        };
    }
    if let DbConn::Pg(_) = conn {
        return run_pg_batch(conn, batch);
    }
    let outcome = write_transaction(conn, |conn| {
        for job in batch.iter_mut() {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn, false))).is_err() {
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

/// The savepoint around each job of a batch on PostgreSQL.
const JOB_SAVEPOINT: &str = "SAVEPOINT job";
/// Leaves the previous job's savepoint and sets the next one's, in one round trip.
const NEXT_JOB_SAVEPOINT: &str = "RELEASE SAVEPOINT job; SAVEPOINT job";
const UNDO_JOB: &str = "ROLLBACK TO SAVEPOINT job";

/// A batch on PostgreSQL, where every statement is a round trip to the server. The
/// savepoints are set here rather than by `Connection::transaction`: one savepoint is
/// released and the next set in the same round trip. The jobs' events ring the other nodes
/// once, for the batch, with its last event id (see `events::insert`).
fn run_pg_batch(conn: &mut DbConn, batch: &mut [Box<dyn WriteJob>]) -> Batch {
    let outcome = conn.transaction(|conn| {
        let _ring = events::BatchRing::start();
        for (i, job) in batch.iter_mut().enumerate() {
            conn.batch_execute(if i == 0 { JOB_SAVEPOINT } else { NEXT_JOB_SAVEPOINT })?;
            let rung = events::BatchRing::last();
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.run(conn, false))).is_err() {
                return Err(QueryError::RollbackTransaction);
            }
            if job.failed() {
                // Its events are undone with it: the batch rings for the ones that stay.
                events::BatchRing::reset(rung);
                conn.batch_execute(UNDO_JOB)?;
            }
        }
        events::BatchRing::ring(conn)
    });
    match outcome {
        Ok(()) => Batch::Committed,
        Err(error) => {
            tracing::error!(%error, jobs = batch.len(), "a batch of writes was rolled back");
            Batch::RolledBack
        }
    }
}

/// Runs `f` in a transaction that holds the write lock from its start. On SQLite that is
/// `BEGIN IMMEDIATE`: a transaction begun by a read (the membership check) and upgraded to a
/// write later fails at once with "database is locked" when another process (the command
/// line) committed in between, whatever the busy timeout; one that takes the lock first
/// waits for it instead. PostgreSQL locks rows as it goes.
fn write_transaction<T, E, F>(conn: &mut DbConn, f: F) -> Result<T, E>
where
    F: FnOnce(&mut DbConn) -> Result<T, E>,
    E: From<QueryError>,
{
    match conn {
        DbConn::Sqlite(c) => AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?,
        DbConn::Pg(_) => {
            return conn.transaction(|conn| {
                let _ring = events::BatchRing::start();
                let value = f(conn)?;
                events::BatchRing::ring(conn)?;
                Ok(value)
            })
        }
    }
    type Manager = <DbConn as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Manager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => match Manager::rollback_transaction(conn) {
            Ok(()) | Err(QueryError::BrokenTransactionManager) => Err(error),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use crate::store::{DatabaseUrl, Db, DbConn};

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
}
