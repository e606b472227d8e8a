//! The store's errors: what the caller did wrong, kept apart from what went wrong underneath.

use loopgate_core::lifecycle::TransitionError;

/// Why a store operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The thing named does not exist in the workspace.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The core refused the transition; nothing was written.
    #[error(transparent)]
    Rejected(#[from] TransitionError),
    /// An `Idempotency-Key` was reused with a different request; nothing was written.
    #[error("Idempotency-Key {key:?} was already used for a different request")]
    IdempotencyMismatch {
        /// The key.
        key: String,
        /// Position of the offending item in the call.
        index: usize,
    },
    /// The write contradicts what is stored; nothing was written.
    #[error("{0}")]
    Conflict(String),
    /// The disk holding the database is full: nothing was written, and writes fail until an
    /// operator frees space. Reads still work.
    #[error("database disk full: {0}")]
    Full(String),
    /// The database cannot be reached or is busy; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The database failed or holds data Loopgate cannot read.
    #[error("database failure: {0}")]
    Internal(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode::*;
        match e.sqlite_error_code() {
            Some(DiskFull) => StoreError::Full(e.to_string()),
            Some(DatabaseBusy | DatabaseLocked | CannotOpen | ReadOnly | SystemIoFailure) => {
                StoreError::Unavailable(e.to_string())
            }
            _ => StoreError::Internal(e.to_string()),
        }
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(e: r2d2::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Internal(format!("stored JSON does not parse: {e}"))
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if matches!(&e, sqlx::Error::Database(db) if db.code().as_deref() == Some("53100")) {
            StoreError::Full(e.to_string())
        } else if is_unavailable(&e) {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Internal(e.to_string())
        }
    }
}

/// Whether a PostgreSQL failure means "cannot reach the database right now": a lost or refused
/// connection, a pool with no connection to give within its timeout, a server shutting down or
/// starting up, too many connections, or a transaction aborted by a deadlock or serialization
/// failure. Retrying later may succeed, so these answer 503, never 500.
fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::BeginFailed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection exception; 53: insufficient resources; 57P0x: shutdown, crash
            // recovery or start-up; 40001/40P01: serialization failure, deadlock; 55P03: lock
            // not available.
            code.starts_with("08")
                || code.starts_with("53")
                || code.starts_with("57P0")
                || code == "40001"
                || code == "40P01"
                || code == "55P03"
        }),
        _ => false,
    }
}

/// Whether a PostgreSQL failure is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.code().as_deref() == Some("23505"))
}
