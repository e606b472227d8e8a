//! The single writer of an SQLite database, with group commit.
//!
//! SQLite allows one writer at a time, so Loopgate gives all writes to one thread that owns the
//! write connection. The thread takes every job waiting in its queue, runs each in its own
//! savepoint inside one transaction, and commits them with a single fsync: under load many
//! acknowledged writes share one disk flush, and a failing job rolls back only itself. A job
//! alone in its transaction runs without a savepoint; if it fails, the transaction is rolled
//! back. A job's
//! caller hears back only after the commit, so an acknowledged write is on disk.

use std::panic::{AssertUnwindSafe, catch_unwind};

use rusqlite::{Connection, TransactionBehavior};
use tokio::sync::{broadcast, mpsc, oneshot};

use super::checkpoint::{self, Checkpointer};
use crate::{ItemChanged, StoreError, StoreResult};

/// Most jobs committed together.
const MAX_BATCH: usize = 256;
/// Jobs that may wait for the writer before callers are made to wait to enqueue.
const QUEUE: usize = 4096;

/// A write, as the writer thread sees it.
trait Job: Send {
    /// Runs inside a savepoint; returns whether to keep its changes.
    fn run(&mut self, conn: &Connection, changed: &mut Vec<ItemChanged>) -> bool;
    /// Reports to the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, commit: StoreResult<()>);
}

struct Typed<T, F> {
    work: Option<F>,
    outcome: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: FnOnce(&Connection, &mut Vec<ItemChanged>) -> StoreResult<T> + Send,
{
    fn run(&mut self, conn: &Connection, changed: &mut Vec<ItemChanged>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        // A panicking job must not take the writer thread down with it.
        let outcome = catch_unwind(AssertUnwindSafe(|| work(conn, changed))).unwrap_or_else(|_| {
            Err(StoreError::Internal(
                "a write panicked and was rolled back".into(),
            ))
        });
        let keep = outcome.is_ok();
        self.outcome = Some(outcome);
        keep
    }

    fn finish(self: Box<Self>, commit: StoreResult<()>) {
        let result = match (self.outcome, commit) {
            (Some(Err(e)), _) => Err(e),
            (Some(Ok(value)), Ok(())) => Ok(value),
            (_, Err(e)) => Err(e),
            (None, Ok(())) => Err(StoreError::Internal("a write was never run".into())),
        };
        // The caller may have gone away (a dropped request); the write stands regardless.
        let _ = self.reply.send(result);
    }
}

/// Sends writes to the writer thread.
#[derive(Clone, Debug)]
pub(super) struct Writer {
    jobs: mpsc::Sender<Box<dyn Job>>,
}

impl Writer {
    /// Starts the writer thread on `conn`. It stops when every `Writer` handle is dropped.
    /// After each commit it asks `checkpoints` to move the log into the database file.
    pub(super) fn spawn(
        conn: Connection,
        events: broadcast::Sender<ItemChanged>,
        checkpoints: Checkpointer,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::channel(QUEUE);
        std::thread::Builder::new()
            .name("loopgate-sqlite-writer".into())
            .spawn(move || run(conn, queue, events, checkpoints))?;
        Ok(Self { jobs })
    }

    /// Runs `work` in the write transaction and returns its result once committed.
    pub(super) async fn write<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection, &mut Vec<ItemChanged>) -> StoreResult<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed {
            work: Some(work),
            outcome: None,
            reply,
        });
        self.jobs
            .send(job)
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the SQLite writer stopped during a write".into())
        })?
    }
}

fn run(
    mut conn: Connection,
    mut queue: mpsc::Receiver<Box<dyn Job>>,
    events: broadcast::Sender<ItemChanged>,
    checkpoints: Checkpointer,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = queue.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit(&mut conn, &mut batch, &events);
        if checkpoints.writer_should_catch_up()
            && let Err(e) = checkpoint::passive_checkpoint(&conn)
        {
            tracing::warn!(error = %e, "WAL checkpoint on the writer failed; will retry");
        }
        checkpoints.request();
    }
}

fn commit(
    conn: &mut Connection,
    batch: &mut Vec<Box<dyn Job>>,
    events: &broadcast::Sender<ItemChanged>,
) {
    let mut changed = Vec::new();
    let outcome = (|| -> StoreResult<()> {
        let mut tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if let [job] = batch.as_mut_slice() {
            // A lone job needs no savepoint: its failure rolls back the whole transaction,
            // which holds nothing else. A savepoint would copy every page the job touches into
            // its journal first, which a thousand-item batch pays for on every page.
            let mut job_changed = Vec::new();
            if !job.run(&tx, &mut job_changed) {
                tx.rollback()?;
                return Ok(());
            }
            changed.append(&mut job_changed);
            tx.commit()?;
            return Ok(());
        }
        for job in batch.iter_mut() {
            let savepoint = tx.savepoint()?;
            let mut job_changed = Vec::new();
            if job.run(&savepoint, &mut job_changed) {
                savepoint.commit()?;
                changed.append(&mut job_changed);
            }
            // Dropping an uncommitted savepoint rolls it back.
        }
        tx.commit()?;
        Ok(())
    })();
    if let Err(e) = &outcome {
        tracing::error!(error = %e, jobs = batch.len(), "SQLite write transaction failed");
    } else {
        for change in changed {
            // No subscribers is fine.
            let _ = events.send(change);
        }
    }
    for job in batch.drain(..) {
        job.finish(outcome.clone());
    }
}
