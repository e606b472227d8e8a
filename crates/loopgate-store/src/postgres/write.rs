//! One write transaction: the rows a store method changes, then the audit entries, outcomes and
//! change notifications that go with them, committed together.
//!
//! The audit chain is what makes concurrent servers safe to run: each workspace's chain head is
//! one row, and every transaction appending to it holds that row locked from the moment it reads
//! the head until it commits. Entries of a workspace are therefore appended strictly one
//! transaction at a time, whichever server runs them, and the chain stays one valid chain.
//! To keep that critical section short, a transaction takes its head locks *last*, after all its
//! other work (item row locks included), and in workspace order; since nothing is locked after a
//! head, no two transactions can wait on each other in a cycle.

use std::collections::BTreeMap;

use loopgate_core::audit::{AuditEntry, AuditEvent, ChainHead, GENESIS};
use loopgate_core::clock::to_millis;
use loopgate_core::{Item, Timestamp, WorkspaceId};
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::feed::Feed;
use crate::{ItemChanged, NewOutcome, StoreResult};

/// An open write transaction with what it will append when it commits.
pub(super) struct Write {
    tx: Transaction<'static, Postgres>,
    /// Audit events per workspace, in the order they happened.
    audit: BTreeMap<WorkspaceId, Vec<(Timestamp, AuditEvent)>>,
    /// Outcomes per workspace.
    outcomes: BTreeMap<WorkspaceId, Vec<(NewOutcome, Timestamp)>>,
    changed: Vec<ItemChanged>,
}

impl Write {
    /// Begins a transaction (READ COMMITTED: row locks and `SKIP LOCKED` do the isolating).
    pub(super) async fn begin(pool: &PgPool) -> StoreResult<Self> {
        Ok(Self {
            tx: pool.begin().await?,
            audit: BTreeMap::new(),
            outcomes: BTreeMap::new(),
            changed: Vec::new(),
        })
    }

    /// The transaction's connection.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        &mut self.tx
    }

    /// Appends `event` to the workspace's chain when the transaction commits.
    pub(super) fn audit(&mut self, workspace: &WorkspaceId, at: Timestamp, event: AuditEvent) {
        self.audit
            .entry(workspace.clone())
            .or_default()
            .push((at, event));
    }

    /// Records a labelled outcome when the transaction commits.
    pub(super) fn outcome(&mut self, workspace: &WorkspaceId, outcome: NewOutcome, at: Timestamp) {
        self.outcomes
            .entry(workspace.clone())
            .or_default()
            .push((outcome, at));
    }

    /// Announces the item's new state to every server once the transaction commits.
    pub(super) fn changed(&mut self, item: &Item) {
        self.changed.push(ItemChanged {
            workspace: item.workspace.clone(),
            id: item.id,
            status: item.status,
        });
    }

    /// Appends the audit entries and outcomes under the chain locks, queues the notifications,
    /// and commits. On `Ok` the write is durable and every server will hear of the change.
    pub(super) async fn commit(mut self, feed: &Feed) -> StoreResult<()> {
        // NOTIFY is transactional: delivered at commit, dropped on rollback. Sent before the
        // chain locks so it costs nothing inside the critical section.
        feed.notify(&mut self.tx, &self.changed).await?;
        let mut workspaces: Vec<WorkspaceId> = self.audit.keys().cloned().collect();
        workspaces.extend(self.outcomes.keys().cloned());
        workspaces.sort();
        workspaces.dedup();
        for ws in workspaces {
            let head = lock_head(&mut self.tx, &ws).await?;
            let events = self.audit.remove(&ws).unwrap_or_default();
            let outcomes = self.outcomes.remove(&ws).unwrap_or_default();
            append(&mut self.tx, &ws, head, events, outcomes).await?;
        }
        self.tx.commit().await?;
        feed.publish_local(self.changed);
        Ok(())
    }
}

/// Locks the workspace's chain head until the transaction ends and returns it, creating it
/// (empty) first if the workspace has none yet; a concurrent first append waits on the insert.
async fn lock_head(conn: &mut PgConnection, ws: &WorkspaceId) -> StoreResult<ChainHead> {
    const LOCK: &str = "SELECT seq, hash FROM audit_heads WHERE workspace = $1 FOR UPDATE";
    let head: Option<(i64, String)> = sqlx::query_as(LOCK)
        .bind(ws.as_str())
        .fetch_optional(&mut *conn)
        .await?;
    let (seq, hash) = match head {
        Some(head) => head,
        None => {
            sqlx::query(
                "INSERT INTO audit_heads (workspace, seq, hash) VALUES ($1, 0, $2)
                 ON CONFLICT (workspace) DO NOTHING",
            )
            .bind(ws.as_str())
            .bind(GENESIS)
            .execute(&mut *conn)
            .await?;
            sqlx::query_as(LOCK)
                .bind(ws.as_str())
                .fetch_one(&mut *conn)
                .await?
        }
    };
    Ok(ChainHead { seq, hash })
}

/// Chains `events` after `head`, and writes them, the new head and the outcomes in one
/// statement: one round trip while the head is locked.
async fn append(
    conn: &mut PgConnection,
    ws: &WorkspaceId,
    mut head: ChainHead,
    events: Vec<(Timestamp, AuditEvent)>,
    outcomes: Vec<(NewOutcome, Timestamp)>,
) -> StoreResult<()> {
    if events.is_empty() && outcomes.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let mut seq = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut item_id = Vec::with_capacity(n);
    let mut actor_id = Vec::with_capacity(n);
    let mut actor_name = Vec::with_capacity(n);
    let mut actor_role = Vec::with_capacity(n);
    let mut action = Vec::with_capacity(n);
    let mut from_state = Vec::with_capacity(n);
    let mut to_state = Vec::with_capacity(n);
    let mut detail = Vec::with_capacity(n);
    let mut prev_hash = Vec::with_capacity(n);
    let mut hash = Vec::with_capacity(n);
    for (when, event) in events {
        let entry = AuditEntry::chain(&head, ws, when, event);
        head = entry.head();
        seq.push(entry.seq);
        at.push(to_millis(entry.at));
        item_id.push(entry.item_id.map(|i| i.to_string()));
        actor_id.push(entry.actor.id.map(|i| i.to_string()));
        actor_name.push(entry.actor.name);
        actor_role.push(entry.actor.role);
        action.push(entry.action);
        from_state.push(entry.from);
        to_state.push(entry.to);
        detail.push(serde_json::to_string(&entry.detail)?);
        prev_hash.push(entry.prev_hash);
        hash.push(entry.hash);
    }
    let mut o_policy = Vec::with_capacity(outcomes.len());
    let mut o_item = Vec::with_capacity(outcomes.len());
    let mut o_source = Vec::with_capacity(outcomes.len());
    let mut o_score = Vec::with_capacity(outcomes.len());
    let mut o_correct = Vec::with_capacity(outcomes.len());
    let mut o_inclusion = Vec::with_capacity(outcomes.len());
    let mut o_text = Vec::with_capacity(outcomes.len());
    let mut o_proposed = Vec::with_capacity(outcomes.len());
    let mut o_label = Vec::with_capacity(outcomes.len());
    let mut o_at = Vec::with_capacity(outcomes.len());
    for (o, when) in outcomes {
        o_policy.push(o.policy.as_str().to_owned());
        o_item.push(o.item_id.to_string());
        o_source.push(o.source.as_str().to_owned());
        o_score.push(o.score);
        o_correct.push(o.correct);
        o_inclusion.push(o.inclusion);
        o_text.push(o.text);
        o_proposed.push(o.proposed);
        o_label.push(o.label);
        o_at.push(to_millis(when));
    }
    // Outcome ids are drawn here, under the head lock: within a workspace they increase in
    // commit order. A second judgement of the same kind for the same item is ignored.
    sqlx::query(
        "WITH appended AS (
             INSERT INTO audit_log (workspace, seq, at, item_id, actor_id, actor_name, actor_role, action,
                                    from_state, to_state, detail, prev_hash, hash)
             SELECT $1, * FROM UNNEST($2::int8[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[],
                                      $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])
         ), judged AS (
             INSERT INTO outcomes (workspace, policy, item_id, source, score, correct, inclusion, text,
                                   proposed, label, recorded_at)
             SELECT $1, * FROM UNNEST($16::text[], $17::text[], $18::text[], $19::float8[], $20::bool[],
                                      $21::float8[], $22::text[], $23::text[], $24::text[], $25::int8[])
             ON CONFLICT (workspace, policy, item_id, source) DO NOTHING
         )
         UPDATE audit_heads SET seq = $14, hash = $15 WHERE workspace = $1 AND seq <> $14",
    )
    .bind(ws.as_str())
    .bind(seq)
    .bind(at)
    .bind(item_id)
    .bind(actor_id)
    .bind(actor_name)
    .bind(actor_role)
    .bind(action)
    .bind(from_state)
    .bind(to_state)
    .bind(detail)
    .bind(prev_hash)
    .bind(hash)
    .bind(head.seq)
    .bind(head.hash)
    .bind(o_policy)
    .bind(o_item)
    .bind(o_source)
    .bind(o_score)
    .bind(o_correct)
    .bind(o_inclusion)
    .bind(o_text)
    .bind(o_proposed)
    .bind(o_label)
    .bind(o_at)
    .execute(conn)
    .await?;
    Ok(())
}
