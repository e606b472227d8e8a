//! One write transaction: the rows a store method changes, then the audit entries, outcomes and
//! change notifications that go with them, committed together.
//!
//! The audit chain is what makes concurrent servers safe to run: each workspace's chain head is
//! one row, and every transaction appending to it holds that row locked from the moment it reads
//! the head until it commits. Entries of a workspace are therefore appended strictly one
//! transaction at a time, whichever server runs them, and the chain stays one valid chain.
//! To keep that critical section short, a transaction takes its head locks *last*, after all its
//! other work (item row locks included), and in workspace order; since nothing is locked after a
//! head, no two transactions can wait on each other in a cycle. The lock, the linking and the
//! writes happen in one call of a database function (`loopgate_append`), so while a head is
//! locked only that call's answer and the commit travel between server and database.

use std::collections::BTreeMap;

use loopgate_core::audit::{AuditEntry, AuditEvent, ChainHead, json_text};
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
            let events = self.audit.remove(&ws).unwrap_or_default();
            let outcomes = self.outcomes.remove(&ws).unwrap_or_default();
            append(&mut self.tx, &ws, events, outcomes).await?;
        }
        self.tx.commit().await?;
        feed.publish_local(self.changed);
        Ok(())
    }
}

/// Appends `events` to the workspace's chain and records `outcomes`, in one call of
/// `loopgate_append` (migration 0003): the database locks the chain head, links the entries
/// from the hash tails computed here, and writes them, the new head and the outcomes. The head
/// stays locked until the transaction ends, so this runs last.
async fn append(
    conn: &mut PgConnection,
    ws: &WorkspaceId,
    events: Vec<(Timestamp, AuditEvent)>,
    outcomes: Vec<(NewOutcome, Timestamp)>,
) -> StoreResult<()> {
    if events.is_empty() && outcomes.is_empty() {
        return Ok(());
    }
    let n = events.len();
    let mut tail = Vec::with_capacity(n);
    let mut at = Vec::with_capacity(n);
    let mut item_id = Vec::with_capacity(n);
    let mut actor_id = Vec::with_capacity(n);
    let mut actor_name = Vec::with_capacity(n);
    let mut actor_role = Vec::with_capacity(n);
    let mut action = Vec::with_capacity(n);
    let mut from_state = Vec::with_capacity(n);
    let mut to_state = Vec::with_capacity(n);
    let mut detail = Vec::with_capacity(n);
    for (when, event) in events {
        // Placed after an arbitrary head: only the fields that do not depend on the place in
        // the chain are used; the database links the entry to the real head.
        let entry = AuditEntry::chain(&ChainHead::genesis(), ws, when, event);
        tail.push(entry.hash_tail());
        at.push(to_millis(entry.at));
        item_id.push(entry.item_id.map(|i| i.to_string()));
        actor_id.push(entry.actor.id.map(|i| i.to_string()));
        actor_name.push(entry.actor.name);
        actor_role.push(entry.actor.role);
        action.push(entry.action);
        from_state.push(entry.from);
        to_state.push(entry.to);
        detail.push(serde_json::to_string(&entry.detail)?);
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
    let mut o_representative = Vec::with_capacity(outcomes.len());
    let mut o_embedded = Vec::with_capacity(outcomes.len());
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
        o_representative.push(o.representative);
        o_embedded.push(o.embedded);
    }
    sqlx::query(
        "SELECT loopgate_append($1, $2, $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[],
                                $8::text[], $9::text[], $10::text[], $11::text[], $12::text[],
                                $13::text[], $14::text[], $15::text[], $16::float8[], $17::bool[],
                                $18::float8[], $19::text[], $20::text[], $21::text[], $22::int8[],
                                $23::bool[], $24::bool[])",
    )
    .bind(ws.as_str())
    .bind(json_text(ws.as_str()))
    .bind(tail)
    .bind(at)
    .bind(item_id)
    .bind(actor_id)
    .bind(actor_name)
    .bind(actor_role)
    .bind(action)
    .bind(from_state)
    .bind(to_state)
    .bind(detail)
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
    .bind(o_representative)
    .bind(o_embedded)
    .execute(conn)
    .await?;
    Ok(())
}
