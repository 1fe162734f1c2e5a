//! Checkpoints of the SQLite write-ahead log: copied off the writer thread, started over by it.
//!
//! SQLite starts the log over at a write only once a checkpoint has copied all of it into the
//! database. Under a steady stream of writes one pass never gets there (commits land while
//! it copies), and the log would grow for as long as the writes go on: every commit then
//! extends the file instead of overwriting pages already in the page cache, and the disk
//! fills. So the checkpointer copies again what landed during its last pass, a few times;
//! when the log is still long (a writer that never pauses), it asks the writer thread to
//! start it over between two batches (`restart_log`), which copies the little left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, QueryResult, QueryableByName, RunQueryDsl, SqliteConnection};

/// How often the checkpointer copies the SQLite write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Passes in one go, each copying what was committed during the one before.
const PASSES: usize = 8;
/// A log still longer than this after the passes (64 MiB of 4 KiB pages) is started over
/// by the writer thread.
const RESTART_ABOVE_FRAMES: i64 = 16 * 1024;
/// How long the writer's restart waits (ms) for readers of older snapshots (a long
/// `causerie backup`), holding new writes back: at most this long a stall of sends.
const RESTART_WAIT_MS: u32 = 50;
/// The busy timeout of every other connection (ms): a write waits this long for the lock.
pub(super) const BUSY_TIMEOUT_MS: u32 = 10_000;
/// What a log that grew in a burst is cut back to once it starts over (bytes).
pub(super) const LOG_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Checkpoints the write-ahead log beside the writer, on a connection of its own, while
/// the database is in use (`alive` is the `Db`'s); sets `restart` when the writer thread
/// should start the log over.
pub(super) fn spawn_checkpointer(
    path: String,
    alive: std::sync::Weak<std::sync::atomic::AtomicU64>,
    restart: Arc<AtomicBool>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("causerie-checkpoint".into()).spawn(move || {
        let mut conn: Option<SqliteConnection> = None;
        while alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            let result = match conn.as_mut() {
                Some(c) => checkpoint(c).map(|last| {
                    if last.need_restart(RESTART_ABOVE_FRAMES) {
                        restart.store(true, Ordering::Relaxed);
                    }
                }),
                None => open(&path).map(|c| conn = Some(c)),
            };
            if let Err(error) = result {
                tracing::warn!(%error, "checkpointing the SQLite log failed; retrying");
                conn = None;
            }
        }
    })?;
    Ok(())
}

fn open(path: &str) -> QueryResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(path).map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    conn.batch_execute(&format!("PRAGMA busy_timeout = 1000; PRAGMA journal_size_limit = {LOG_SIZE_LIMIT};"))?;
    Ok(conn)
}

/// What `PRAGMA wal_checkpoint` answers.
#[derive(QueryableByName, Debug, Clone, Copy, PartialEq)]
pub(super) struct Checkpointed {
    /// 1 when a checkpoint that waits could not finish (the writer or a reader held on).
    #[diesel(sql_type = BigInt)]
    pub busy: i64,
    /// Frames in the log.
    #[diesel(sql_type = BigInt)]
    pub log: i64,
    /// Frames of it copied into the database.
    #[diesel(sql_type = BigInt)]
    pub checkpointed: i64,
}

impl Checkpointed {
    /// All of the log is in the database: the next write starts it over.
    fn caught_up(&self) -> bool {
        self.checkpointed >= self.log
    }

    /// The log holds more than `above` frames after the passes: writes kept coming through
    /// every pass, or readers kept it from starting over at the writes after the last
    /// checkpoint. The writer starts it over between two batches.
    pub(super) fn need_restart(&self, above: i64) -> bool {
        self.log > above
    }
}

/// Copies the log into the database without waiting for anyone, again while commits landed
/// during the last pass, up to `PASSES` times, until a pass finds nothing new and all of it
/// copied. Answers the last pass.
pub(super) fn checkpoint(conn: &mut SqliteConnection) -> QueryResult<Checkpointed> {
    let mut last = passive(conn)?;
    for _ in 1..PASSES {
        let next = passive(conn)?;
        let settled = next.log <= last.log && next.caught_up();
        last = next;
        if settled {
            break;
        }
    }
    Ok(last)
}

/// On the writer's connection, between two batches: copies what the checkpointer's passes
/// left (little, they just ran) and waits up to `RESTART_WAIT_MS` for readers of older
/// snapshots, so that the next write starts the log over. The connection's busy timeout is
/// put back whatever happens.
pub(super) fn restart_log(conn: &mut SqliteConnection) -> QueryResult<Checkpointed> {
    conn.batch_execute(&format!("PRAGMA busy_timeout = {RESTART_WAIT_MS}"))?;
    let restarted = diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result(conn);
    conn.batch_execute(&format!("PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}"))?;
    restarted
}

fn passive(conn: &mut SqliteConnection) -> QueryResult<Checkpointed> {
    diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wal_connection(path: &str) -> SqliteConnection {
        let mut conn = SqliteConnection::establish(path).unwrap();
        conn.batch_execute(
            "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA wal_autocheckpoint = 0;",
        )
        .unwrap();
        conn
    }

    /// Writes `n` transactions of one row each, a page of text per row.
    fn write(conn: &mut SqliteConnection, n: usize) {
        for i in 0..n {
            conn.batch_execute(&format!("INSERT INTO t (body) VALUES (printf('%.4000c', '{}'))", i % 10)).unwrap();
        }
    }

    #[derive(QueryableByName)]
    struct Rows {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn log_bytes(path: &str) -> u64 {
        std::fs::metadata(format!("{path}-wal")).map(|m| m.len()).unwrap_or(0)
    }

    #[derive(QueryableByName)]
    struct BusyTimeout {
        #[diesel(sql_type = BigInt)]
        timeout: i64,
    }

    fn new_database() -> (tempfile::TempDir, String, SqliteConnection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db").to_string_lossy().into_owned();
        let mut writer = wal_connection(&path);
        writer.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)").unwrap();
        (dir, path, writer)
    }

    fn count(conn: &mut SqliteConnection) -> i64 {
        diesel::sql_query("SELECT count(*) AS n FROM t").get_result::<Rows>(conn).unwrap().n
    }

    #[test]
    fn the_log_starts_over_after_a_checkpoint_or_the_writers_restart() {
        let (_dir, path, mut writer) = new_database();
        let mut checkpointer = open(&path).unwrap();

        // Quiet: the passes copy everything, and the next write starts the log over.
        write(&mut writer, 200);
        let last = checkpoint(&mut checkpointer).unwrap();
        assert!(last.caught_up() && !last.need_restart(last.log), "{last:?}");
        write(&mut writer, 1);
        let after = passive(&mut checkpointer).unwrap();
        assert!(after.log <= 4, "started over: {after:?}");

        // A reader on an old snapshot holds the log: the passes copy what it does not need,
        // the writer's restart gives up after a short wait, and its busy timeout is back.
        let mut reader = wal_connection(&path);
        reader.batch_execute("BEGIN; SELECT count(*) FROM t;").unwrap();
        write(&mut writer, 20);
        let held = checkpoint(&mut checkpointer).unwrap();
        assert!(held.checkpointed < held.log, "{held:?}");
        assert!(held.need_restart(0), "{held:?}");
        assert!(!held.need_restart(held.log), "{held:?}");
        let gave_up = restart_log(&mut writer).unwrap();
        assert_eq!(gave_up.busy, 1, "{gave_up:?}");
        let timeout: BusyTimeout = diesel::sql_query("PRAGMA busy_timeout").get_result(&mut writer).unwrap();
        assert_eq!(timeout.timeout, i64::from(BUSY_TIMEOUT_MS));
        reader.batch_execute("COMMIT").unwrap();
        let restarted = restart_log(&mut writer).unwrap();
        assert_eq!((restarted.busy, restarted.checkpointed), (0, restarted.log), "{restarted:?}");
        write(&mut writer, 1);
        let after = passive(&mut checkpointer).unwrap();
        assert!(after.log <= 4, "started over: {after:?}");
        assert_eq!(count(&mut checkpointer), 222);
    }

    #[test]
    fn the_log_stays_short_under_steady_writes() {
        let (_dir, path, mut writer) = new_database();
        let mut checkpointer = open(&path).unwrap();
        // A writer that commits every millisecond or so and never pauses longer,
        // checkpointed every 100 ms: the passes settle between two commits. Without
        // starting over, the log would hold every page written (about 24 MiB).
        let total: i64 = 2_000;
        let steady = std::thread::spawn(move || {
            for _ in 0..total {
                write(&mut writer, 1);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        while !steady.is_finished() {
            std::thread::sleep(Duration::from_millis(100));
            checkpoint(&mut checkpointer).unwrap();
        }
        steady.join().unwrap();
        let grown = log_bytes(&path);
        assert!(grown < 8 * 1024 * 1024, "the log grew to {grown} bytes");
        assert_eq!(count(&mut checkpointer), total);
    }

    #[test]
    fn a_writer_without_pauses_starts_the_log_over_when_asked() {
        let (_dir, path, mut writer) = new_database();
        let mut checkpointer = open(&path).unwrap();
        // Commits back to back: the passes never find the log all copied, so the checkpointer
        // asks, and the writer starts the log over between two commits, as the writer thread
        // does between batches.
        let total: i64 = 3_000;
        let restart = Arc::new(AtomicBool::new(false));
        let asked = restart.clone();
        let busy = std::thread::spawn(move || {
            for _ in 0..total {
                write(&mut writer, 1);
                if asked.swap(false, Ordering::Relaxed) {
                    restart_log(&mut writer).unwrap();
                }
            }
        });
        while !busy.is_finished() {
            std::thread::sleep(Duration::from_millis(10));
            if checkpoint(&mut checkpointer).unwrap().need_restart(500) {
                restart.store(true, Ordering::Relaxed);
            }
        }
        busy.join().unwrap();
        // 3,000 commits write about 9,000 frames, 36 MiB: the log holds a fraction of them.
        let grown = log_bytes(&path);
        assert!(grown < 16 * 1024 * 1024, "the log grew to {grown} bytes");
        assert_eq!(count(&mut checkpointer), total);
    }
}
