//! Checkpoints of the SQLite write-ahead log, off the writer thread.
//!
//! SQLite starts the log over at a write only once a checkpoint has copied all of it into the
//! database. Under a steady stream of writes one pass never gets there (commits land while
//! it copies), and the log would grow for as long as the writes go on: every commit then
//! extends the file instead of overwriting pages already in the page cache, and the disk
//! fills. So the checkpointer copies again what landed during its last pass, a few times,
//! and when the log is still long, waits for the writer once to have it start over.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sql_types::BigInt;
use diesel::{Connection, QueryResult, QueryableByName, RunQueryDsl, SqliteConnection};

/// How often the checkpointer copies the SQLite write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// Passes in one go, each copying what was committed during the one before.
const PASSES: usize = 8;
/// A log still longer than this after the passes (64 MiB of 4 KiB pages) is started over
/// with a checkpoint that waits for the writer.
const RESTART_ABOVE_FRAMES: i64 = 16 * 1024;
/// How long that checkpoint waits (ms), for the writer and then, holding new writes back, for
/// readers of older snapshots (a long `causerie backup`): at most this long a stall of sends.
const RESTART_WAIT_MS: u32 = 50;
/// What a log that grew in a burst is cut back to once it starts over (bytes).
pub(super) const LOG_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Checkpoints the write-ahead log beside the writer, on a connection of its own, while
/// the database is in use (`alive` is the `Db`'s).
pub(super) fn spawn_checkpointer(
    path: String,
    alive: std::sync::Weak<std::sync::atomic::AtomicU64>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name("causerie-checkpoint".into()).spawn(move || {
        let mut conn: Option<SqliteConnection> = None;
        while alive.strong_count() > 0 {
            std::thread::sleep(CHECKPOINT_EVERY);
            let result = match conn.as_mut() {
                Some(c) => checkpoint(c, RESTART_ABOVE_FRAMES).map(|_| ()),
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
    conn.batch_execute(&format!(
        "PRAGMA busy_timeout = {RESTART_WAIT_MS}; PRAGMA journal_size_limit = {LOG_SIZE_LIMIT};"
    ))?;
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
}

/// Copies the log into the database without waiting for anyone, again while commits landed
/// during the last pass, up to `PASSES` times: once a pass finds nothing new and all of it
/// copied, the next write starts the log over. If the log still holds more than
/// `restart_above` frames, once more waiting for the writer and for readers of older
/// snapshots (`RESTART_WAIT_MS` in all), so that the next write starts it over.
pub(super) fn checkpoint(conn: &mut SqliteConnection, restart_above: i64) -> QueryResult<Checkpointed> {
    let mut last = passive(conn)?;
    for _ in 1..PASSES {
        let next = passive(conn)?;
        let settled = next.log <= last.log && next.caught_up();
        last = next;
        if settled {
            return Ok(last);
        }
    }
    if last.log > restart_above {
        last = diesel::sql_query("PRAGMA wal_checkpoint(RESTART)").get_result(conn)?;
    }
    Ok(last)
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

    #[test]
    fn the_log_starts_over_after_a_checkpoint_however_steady_the_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wal.db").to_string_lossy().into_owned();
        let mut writer = wal_connection(&path);
        writer.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)").unwrap();
        let mut checkpointer = open(&path).unwrap();

        // Quiet: a checkpoint copies everything, and the next write starts the log over.
        write(&mut writer, 200);
        let full = log_bytes(&path);
        assert!(checkpoint(&mut checkpointer, RESTART_ABOVE_FRAMES).unwrap().caught_up());
        write(&mut writer, 1);
        let after = passive(&mut checkpointer).unwrap();
        assert!(after.log <= 4, "started over: {after:?}");

        // A reader on an old snapshot holds the log: the passes copy what it does not need,
        // and the checkpoint that waits for it gives up after a short wait, during which
        // the writer waits for it.
        let mut reader = wal_connection(&path);
        reader.batch_execute("BEGIN; SELECT count(*) FROM t;").unwrap();
        write(&mut writer, 20);
        let held = checkpoint(&mut checkpointer, 0).unwrap();
        assert_eq!(held.busy, 1, "{held:?}");
        assert!(held.checkpointed < held.log, "{held:?}");
        reader.batch_execute("COMMIT").unwrap();
        let freed = checkpoint(&mut checkpointer, 0).unwrap();
        assert_eq!((freed.busy, freed.checkpointed), (0, freed.log));

        // Steady: a writer that commits every millisecond or so and never pauses longer,
        // checkpointed every 100 ms, as the checkpointer does every second under a heavier
        // load. Without starting over, the log would hold every page written; it stays near
        // what 100 ms of writes take.
        let total = 2_000;
        let steady_path = path.clone();
        let steady = std::thread::spawn(move || {
            let mut conn = wal_connection(&steady_path);
            for _ in 0..total {
                write(&mut conn, 1);
                std::thread::sleep(Duration::from_millis(1));
            }
        });
        let restart_above = 1_000;
        while !steady.is_finished() {
            std::thread::sleep(Duration::from_millis(100));
            checkpoint(&mut checkpointer, restart_above).unwrap();
        }
        steady.join().unwrap();
        let grown = log_bytes(&path);
        // 2,000 transactions write about 6,000 frames: 24 MiB.
        assert!(grown < full.max(8 * 1024 * 1024), "the log grew to {grown} bytes ({full} after 200 writes)");
        let rows: Rows = diesel::sql_query("SELECT count(*) AS n FROM t").get_result(&mut checkpointer).unwrap();
        assert_eq!(rows.n, 221 + total as i64);
    }
}
