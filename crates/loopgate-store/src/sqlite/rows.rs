//! Reading and writing Loopgate's records in SQLite: items, reviews, principals and the audit
//! chain. Every function runs on a connection the caller has placed in a transaction.

use chrono::{DateTime, Utc};
use loopgate_core::audit::{AuditActor, AuditEntry, AuditEvent, ChainHead};
use loopgate_core::clock::{from_millis, to_millis};
use loopgate_core::{
    AccessRole, Item, ItemId, Principal, PrincipalId, Review, Role, Status, Timestamp, WorkspaceId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{ItemChanged, StoreError, StoreResult};

pub(super) fn time(ms: i64) -> StoreResult<DateTime<Utc>> {
    from_millis(ms)
        .ok_or_else(|| StoreError::Internal(format!("stored timestamp {ms} is out of range")))
}

pub(super) fn parse<T: std::str::FromStr>(text: &str, what: &str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::Internal(format!("stored {what} {text:?} does not parse")))
}

/// One item by id, within a workspace.
pub(super) fn load_item(
    conn: &Connection,
    workspace: &WorkspaceId,
    id: ItemId,
) -> StoreResult<Option<Item>> {
    let doc: Option<String> = conn
        .prepare_cached("SELECT doc FROM items WHERE workspace = ?1 AND id = ?2")?
        .query_row(params![workspace.as_str(), id.to_string()], |r| r.get(0))
        .optional()?;
    doc.map(|d| serde_json::from_str(&d).map_err(StoreError::from))
        .transpose()
}

/// The columns queries filter and sort on, copied out of an item.
struct ItemColumns {
    claimable: bool,
    required_role: Option<u8>,
    lane: Option<u8>,
    due_at: Option<i64>,
    proposer: Option<String>,
    lease_expires_at: Option<i64>,
}

fn columns(item: &Item) -> ItemColumns {
    let claimable = matches!(item.status, Status::Queued | Status::AwaitingConfirmation);
    ItemColumns {
        claimable,
        required_role: item.required_role.map(Role::rank),
        lane: item.lane.map(|l| l.rank()),
        due_at: item.sla.as_ref().map(|s| {
            if item.first_claimed_at.is_none() {
                to_millis(s.first_review_due)
            } else {
                to_millis(s.resolve_due)
            }
        }),
        proposer: item.pending.as_ref().map(|p| p.proposer.id.to_string()),
        lease_expires_at: item
            .lease
            .as_ref()
            .filter(|_| item.status == Status::InReview)
            .map(|l| to_millis(l.expires_at)),
    }
}

pub(super) fn insert_item(conn: &Connection, item: &Item) -> StoreResult<()> {
    let c = columns(item);
    conn.prepare_cached(
        "INSERT INTO items (id, workspace, policy, status, claimable, required_role, lane, due_at, proposer,
                            lease_expires_at, customer_id, submitted_by, created_at, updated_at, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        item.id.to_string(),
        item.workspace.as_str(),
        item.policy.as_str(),
        item.status.as_str(),
        c.claimable,
        c.required_role,
        c.lane,
        c.due_at,
        c.proposer,
        c.lease_expires_at,
        item.customer.id,
        item.submitted_by.id.to_string(),
        to_millis(item.created_at),
        to_millis(item.updated_at),
        serde_json::to_string(item)?,
    ])?;
    Ok(())
}

pub(super) fn update_item(conn: &Connection, item: &Item) -> StoreResult<()> {
    let c = columns(item);
    let n = conn
        .prepare_cached(
            "UPDATE items SET status = ?3, claimable = ?4, required_role = ?5, lane = ?6, due_at = ?7,
                              proposer = ?8, lease_expires_at = ?9, updated_at = ?10, doc = ?11
             WHERE workspace = ?1 AND id = ?2",
        )?
        .execute(params![
            item.workspace.as_str(),
            item.id.to_string(),
            item.status.as_str(),
            c.claimable,
            c.required_role,
            c.lane,
            c.due_at,
            c.proposer,
            c.lease_expires_at,
            to_millis(item.updated_at),
            serde_json::to_string(item)?,
        ])?;
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound("item"))
    }
}

pub(super) fn changed(item: &Item) -> ItemChanged {
    ItemChanged {
        workspace: item.workspace.clone(),
        id: item.id,
        status: item.status,
    }
}

pub(super) fn insert_review(
    conn: &Connection,
    workspace: &WorkspaceId,
    review: &Review,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO reviews (id, item_id, workspace, reviewer_id, decided_at, doc) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        review.id.to_string(),
        review.item_id.to_string(),
        workspace.as_str(),
        review.reviewer.id.to_string(),
        to_millis(review.decided_at),
        serde_json::to_string(review)?,
    ])?;
    Ok(())
}

/// A workspace's audit chain, appended to within one transaction.
pub(super) struct Chain {
    workspace: WorkspaceId,
    head: ChainHead,
    dirty: bool,
}

impl Chain {
    pub(super) fn load(conn: &Connection, workspace: &WorkspaceId) -> StoreResult<Self> {
        let head = conn
            .prepare_cached("SELECT seq, hash FROM audit_heads WHERE workspace = ?1")?
            .query_row([workspace.as_str()], |r| {
                Ok(ChainHead {
                    seq: r.get(0)?,
                    hash: r.get(1)?,
                })
            })
            .optional()?
            .unwrap_or_else(ChainHead::genesis);
        Ok(Self {
            workspace: workspace.clone(),
            head,
            dirty: false,
        })
    }

    pub(super) fn append(
        &mut self,
        conn: &Connection,
        at: Timestamp,
        event: AuditEvent,
    ) -> StoreResult<AuditEntry> {
        let entry = AuditEntry::chain(&self.head, &self.workspace, at, event);
        conn.prepare_cached(
            "INSERT INTO audit_log (workspace, seq, at, item_id, actor_id, actor_name, actor_role, action,
                                    from_state, to_state, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            entry.workspace.as_str(),
            entry.seq,
            to_millis(entry.at),
            entry.item_id.map(|i| i.to_string()),
            entry.actor.id.map(|i| i.to_string()),
            entry.actor.name,
            entry.actor.role,
            entry.action,
            entry.from,
            entry.to,
            serde_json::to_string(&entry.detail)?,
            entry.prev_hash,
            entry.hash,
        ])?;
        self.head = entry.head();
        self.dirty = true;
        Ok(entry)
    }

    /// Records the new head. Must be called before the transaction commits.
    pub(super) fn save(self, conn: &Connection) -> StoreResult<()> {
        if self.dirty {
            conn.prepare_cached(
                "INSERT INTO audit_heads (workspace, seq, hash) VALUES (?1, ?2, ?3)
                 ON CONFLICT (workspace) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )?
            .execute(params![
                self.workspace.as_str(),
                self.head.seq,
                self.head.hash
            ])?;
        }
        Ok(())
    }
}

pub(super) const AUDIT_COLUMNS: &str = "workspace, seq, at, item_id, actor_id, actor_name, actor_role, action, \
                                        from_state, to_state, detail, prev_hash, hash";

pub(super) fn audit_entry(r: &Row<'_>) -> StoreResult<AuditEntry> {
    let workspace: String = r.get(0)?;
    let item_id: Option<String> = r.get(3)?;
    let actor_id: Option<String> = r.get(4)?;
    let detail: String = r.get(10)?;
    Ok(AuditEntry {
        workspace: parse(&workspace, "workspace")?,
        seq: r.get(1)?,
        at: time(r.get(2)?)?,
        item_id: item_id.map(|i| parse(&i, "item id")).transpose()?,
        actor: AuditActor {
            id: actor_id.map(|i| parse(&i, "principal id")).transpose()?,
            name: r.get(5)?,
            role: r.get(6)?,
        },
        action: r.get(7)?,
        from: r.get(8)?,
        to: r.get(9)?,
        detail: serde_json::from_str(&detail)?,
        prev_hash: r.get(11)?,
        hash: r.get(12)?,
    })
}

pub(super) const PRINCIPAL_COLUMNS: &str = "p.id, p.workspace, p.name, p.access, p.reviewer_roles";

pub(super) fn principal(r: &Row<'_>) -> StoreResult<Principal> {
    let id: String = r.get(0)?;
    let workspace: String = r.get(1)?;
    let access: String = r.get(3)?;
    let roles: String = r.get(4)?;
    Ok(Principal {
        id: parse::<PrincipalId>(&id, "principal id")?,
        workspace: parse(&workspace, "workspace")?,
        name: r.get(2)?,
        access: parse::<AccessRole>(&access, "access role")?,
        reviewer_roles: serde_json::from_str(&roles)?,
    })
}

pub(super) fn ensure_workspace(
    conn: &Connection,
    workspace: &WorkspaceId,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO workspaces (id, created_at) VALUES (?1, ?2) ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![workspace.as_str(), to_millis(now)])?;
    Ok(())
}
