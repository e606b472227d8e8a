//! WAL checkpoints on their own thread.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! writer thread: every write queued behind that commit waits while the checkpoint copies pages
//! into the database file and syncs it. Loopgate turns the automatic checkpoint off on the
//! writer's connection and lets this thread, on a connection of its own, run passive
//! checkpoints after commits instead. A passive checkpoint never blocks the writer or readers.
//!
//! The log starts over from the beginning only when a checkpoint has copied all of it and the
//! writer then begins a transaction. Under a steady stream of commits the background thread is
//! always a little behind, so the log would grow without end: once it is longer than
//! [`CATCH_UP_FRAMES`], this thread asks the writer to run one more passive checkpoint itself,
//! between two commits. Nothing is appended meanwhile, so that checkpoint finishes (it has only
//! the last few frames left to copy) and the next transaction starts the log over.
//!
//! Durability does not depend on checkpoints: a commit is on disk in the log
//! (`synchronous=FULL`) before it is acknowledged.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// Least time between two checkpoints: each one syncs the log and the database file, so under a
/// steady stream of commits they are spaced out rather than run after every commit.
const INTERVAL: Duration = Duration::from_millis(250);
/// Log length, in pages, past which the writer finishes a checkpoint itself (about 64 MiB).
pub(super) const CATCH_UP_FRAMES: i64 = 16_384;

/// Asks the checkpoint thread to run. Cheap and never blocking: requests made while one is
/// pending are merged into it.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    requests: SyncSender<()>,
    catch_up: Arc<AtomicBool>,
}

impl Checkpointer {
    /// Starts the checkpoint thread on `conn`, a connection of its own to the database. It
    /// stops when every `Checkpointer` handle is dropped.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (requests, pending) = sync_channel(1);
        let catch_up = Arc::new(AtomicBool::new(false));
        let flag = catch_up.clone();
        std::thread::Builder::new()
            .name("loopgate-sqlite-checkpoint".into())
            .spawn(move || run(conn, pending, flag))?;
        Ok(Self { requests, catch_up })
    }

    /// Whether the writer should finish a checkpoint itself now (see the module docs); asking
    /// clears the request.
    pub(super) fn writer_should_catch_up(&self) -> bool {
        self.catch_up.swap(false, Ordering::Relaxed)
    }

    /// Requests a checkpoint soon.
    pub(super) fn request(&self) {
        match self.requests.try_send(()) {
            Ok(()) | Err(TrySendError::Full(())) => {}
            // The thread has gone (its connection failed); the log then grows until the next
            // start, which checkpoints it, and nothing is lost.
            Err(TrySendError::Disconnected(())) => {}
        }
    }
}

fn run(conn: Connection, pending: Receiver<()>, catch_up: Arc<AtomicBool>) {
    while pending.recv().is_ok() {
        match passive_checkpoint(&conn) {
            Ok(frames) if frames > CATCH_UP_FRAMES => catch_up.store(true, Ordering::Relaxed),
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "WAL checkpoint failed; will retry after the next commit")
            }
        }
        std::thread::sleep(INTERVAL);
    }
}

/// Runs a passive checkpoint on `conn`; returns the log's length in pages.
pub(super) fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i64> {
    // The pragma answers (busy, pages in the log, pages copied); -1 when not in WAL mode.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
}
