//! The change feed across servers: every write transaction `NOTIFY`s the items it changed, and
//! every store `LISTEN`s on a dedicated connection and forwards what other servers changed to
//! its local broadcast, which long-polls and the live queue subscribe to.
//!
//! A store's own changes go straight to its local broadcast after commit (no round trip through
//! the database), so notifications carry the sending store's origin id and the listener skips
//! its own. The channel is named after the schema, so stores on different schemas of one
//! database (tests running side by side) never hear each other.
//!
//! Notifications are not queued for a disconnected listener: changes committed while the
//! listening connection is down are not announced. The listener reconnects by itself; a long-poll
//! that missed its wake-up returns at its deadline with the item as it then is.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::broadcast;

use crate::{ItemChanged, StoreError, StoreResult};

/// PostgreSQL refuses payloads of 8000 bytes or more; changes are packed below that.
const MAX_PAYLOAD: usize = 7000;
/// PostgreSQL identifiers (channel names) are at most 63 bytes.
const MAX_CHANNEL: usize = 63;

/// Where a store announces its changes and hears other servers'.
#[derive(Debug, Clone)]
pub(super) struct Feed {
    channel: String,
    origin: String,
    local: broadcast::Sender<ItemChanged>,
}

/// One notification's payload.
#[derive(Serialize, Deserialize)]
struct Payload {
    /// The store that made the changes.
    o: String,
    /// Changes as `[workspace, item id, status]`.
    c: Vec<(String, String, String)>,
}

impl Feed {
    /// The feed of stores working in `schema`.
    pub(super) fn new(schema: &str, local: broadcast::Sender<ItemChanged>) -> Self {
        let mut channel = format!("loopgate_changes.{schema}");
        while channel.len() > MAX_CHANNEL {
            channel.pop();
        }
        Self {
            channel,
            // Unique per store instance: a v7 UUID.
            origin: loopgate_core::LeaseId::new().to_string(),
            local,
        }
    }

    /// The local broadcast.
    pub(super) fn subscribe(&self) -> broadcast::Receiver<ItemChanged> {
        self.local.subscribe()
    }

    /// Queues notifications of `changed` in the transaction on `conn`: sent if it commits.
    pub(super) async fn notify(
        &self,
        conn: &mut PgConnection,
        changed: &[ItemChanged],
    ) -> StoreResult<()> {
        if changed.is_empty() {
            return Ok(());
        }
        let mut payloads = Vec::new();
        let mut batch = Payload {
            o: self.origin.clone(),
            c: Vec::new(),
        };
        let mut size = 0;
        for change in changed {
            let c = (
                change.workspace.as_str().to_owned(),
                change.id.to_string(),
                change.status.as_str().to_owned(),
            );
            let len = c.0.len() + c.1.len() + c.2.len() + 12;
            if size + len > MAX_PAYLOAD && !batch.c.is_empty() {
                payloads.push(serde_json::to_string(&batch)?);
                batch.c.clear();
                size = 0;
            }
            size += len;
            batch.c.push(c);
        }
        payloads.push(serde_json::to_string(&batch)?);
        sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
            .bind(&self.channel)
            .bind(payloads)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// Tells this process's subscribers about committed changes.
    pub(super) fn publish_local(&self, changed: Vec<ItemChanged>) {
        for change in changed {
            // No subscribers is fine.
            let _ = self.local.send(change);
        }
    }

    /// Starts listening on a connection of `pool` (a pool of its own, so the listener never
    /// competes with queries), and returns once it listens: a change committed by any server
    /// after this returns reaches the local broadcast. Then forwards other servers' changes
    /// until the returned task is aborted, reconnecting by itself when the connection drops.
    pub(super) async fn listen(&self, pool: PgPool) -> StoreResult<tokio::task::JoinHandle<()>> {
        let first = self.connect(&pool).await?;
        let feed = self.clone();
        Ok(tokio::spawn(async move {
            let mut listener = Some(first);
            let mut backoff = Duration::from_millis(50);
            loop {
                let mut current = match listener.take() {
                    Some(l) => l,
                    None => match feed.connect(&pool).await {
                        Ok(l) => {
                            tracing::info!(channel = %feed.channel, "change feed listening again");
                            backoff = Duration::from_millis(50);
                            l
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "change feed cannot reconnect yet");
                            // A pause between attempts while the database is down.
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(2));
                            continue;
                        }
                    },
                };
                loop {
                    match current.try_recv().await {
                        Ok(Some(n)) => feed.forward(n.payload()),
                        // The connection dropped and was re-established: keep listening.
                        Ok(None) => {
                            tracing::warn!("change feed connection lost; reconnected");
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "change feed connection lost; reconnecting");
                            break;
                        }
                    }
                }
            }
        }))
    }

    async fn connect(&self, pool: &PgPool) -> StoreResult<PgListener> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }

    /// Forwards another server's changes to the local broadcast.
    fn forward(&self, payload: &str) {
        let payload: Payload = match serde_json::from_str(payload) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a change notification that does not parse");
                return;
            }
        };
        if payload.o == self.origin {
            return;
        }
        for (ws, id, status) in payload.c {
            let change = (|| -> Result<ItemChanged, StoreError> {
                Ok(ItemChanged {
                    workspace: super::rows::parse(&ws, "workspace")?,
                    id: super::rows::parse(&id, "item id")?,
                    status: super::rows::parse(&status, "status")?,
                })
            })();
            match change {
                Ok(change) => {
                    let _ = self.local.send(change);
                }
                Err(e) => tracing::warn!(error = %e, "ignoring a change notification"),
            }
        }
    }
}
