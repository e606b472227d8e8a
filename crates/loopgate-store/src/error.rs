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
            Some(
                DatabaseBusy | DatabaseLocked | CannotOpen | DiskFull | ReadOnly | SystemIoFailure,
            ) => StoreError::Unavailable(e.to_string()),
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
