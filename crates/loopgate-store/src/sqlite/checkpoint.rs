//! WAL checkpoints on their own thread.
//!
//! SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the
//! writer thread: every write queued behind that commit waits while the checkpoint copies pages
//! into the database file and syncs it. Loopgate turns the automatic checkpoint off on the
//! writer's connection and lets this thread, on a connection of its own, run passive
//! checkpoints after commits instead. A passive checkpoint never blocks the writer or readers;
//! it copies what no reader still needs, and once it has copied everything, the writer's next
//! transaction starts the log over from the beginning. Durability does not depend on
//! checkpoints: a commit is on disk in the log (`synchronous=FULL`) before it is acknowledged.

use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::time::Duration;

use rusqlite::Connection;

/// Least time between two checkpoints: each one syncs the log and the database file, so under a
/// steady stream of commits they are spaced out rather than run after every commit.
const INTERVAL: Duration = Duration::from_millis(250);

/// Asks the checkpoint thread to run. Cheap and never blocking: requests made while one is
/// pending are merged into it.
#[derive(Debug, Clone)]
pub(super) struct Checkpointer {
    requests: SyncSender<()>,
}

impl Checkpointer {
    /// Starts the checkpoint thread on `conn`, a connection of its own to the database. It
    /// stops when every `Checkpointer` handle is dropped.
    pub(super) fn spawn(conn: Connection) -> std::io::Result<Self> {
        let (requests, pending) = sync_channel(1);
        std::thread::Builder::new()
            .name("loopgate-sqlite-checkpoint".into())
            .spawn(move || run(conn, pending))?;
        Ok(Self { requests })
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

fn run(conn: Connection, pending: Receiver<()>) {
    while pending.recv().is_ok() {
        // The pragma answers with a row of counts, which nothing here needs.
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "WAL checkpoint failed; will retry after the next commit");
        }
        std::thread::sleep(INTERVAL);
    }
}
