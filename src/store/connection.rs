//! Opening a connection of the configured backend, prepared for use.

use diesel::connection::SimpleConnection;
use diesel::r2d2::{self, ManageConnection};
use diesel::{Connection, PgConnection, SqliteConnection};

use super::checkpoint::{BUSY_TIMEOUT_MS, LOG_SIZE_LIMIT};
use super::{Backend, DatabaseUrl, DbConn};

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
    pub(super) url: DatabaseUrl,
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
                // A log that grew in a burst is cut back when it starts over.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                     PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = {LOG_SIZE_LIMIT};",
                ))
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
