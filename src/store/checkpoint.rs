//! Checkpoints of the SQLite write-ahead log, off the writer thread.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};

/// How often the checkpointer copies the SQLite write-ahead log into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// Checkpoints the write-ahead log beside the writer, on a connection of its own, while
/// the database is in use (`alive` is the `Db`'s). PASSIVE: it never waits for readers or
/// the writer, and copies what they no longer need.
pub(super) fn spawn_checkpointer(
    path: String,
    alive: std::sync::Weak<std::sync::atomic::AtomicU64>,
) -> std::io::Result<()> {
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
