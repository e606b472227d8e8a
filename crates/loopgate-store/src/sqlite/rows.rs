//! Reading and writing Loopgate's records in SQLite: items, reviews, principals and the audit
//! chain. Every function runs on a connection the caller has placed in a transaction.

use chrono::{DateTime, Utc};
use loopgate_core::audit::{
    AuditActor, AuditEntry, AuditEvent, ChainHead, PreparedEvent, json_text,
};
use loopgate_core::clock::{from_millis, to_millis};
use loopgate_core::{
    AccessRole, Item, ItemId, Lane, Principal, PrincipalId, Review, Role, Timestamp, WorkspaceId,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::columns::ItemColumns;
use crate::{
    AuditTask, BacklogCell, ItemChanged, KillSwitch, NewOutcome, QueueStats, ReviewerThroughput,
    StoreError, StoreResult,
};

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

/// Inserts `item`, given its id as text and its JSON document, both rendered beforehand.
pub(super) fn insert_item(conn: &Connection, item: &Item, id: &str, doc: &str) -> StoreResult<()> {
    let c = ItemColumns::of(item);
    conn.prepare_cached(
        "INSERT INTO items (id, workspace, policy, status, claimable, required_role, lane, due_at, proposer,
                            lease_expires_at, customer_id, submitted_by, created_at, updated_at, doc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?
    .execute(params![
        id,
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
        doc,
    ])?;
    Ok(())
}

pub(super) fn update_item(conn: &Connection, item: &Item) -> StoreResult<()> {
    let c = ItemColumns::of(item);
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
    /// The workspace as JSON text, as the hash input has it.
    workspace_json: String,
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
            workspace_json: json_text(workspace.as_str()),
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
        let detail = event.detail.clone();
        let item_id = event.item_id.map(|i| i.to_string());
        let actor_id = event.actor.id.map(|i| i.to_string());
        let prepared = PreparedEvent::new(at, event);
        let prev = self.head.clone();
        self.append_prepared(conn, &prepared, item_id.as_deref(), actor_id.as_deref())?;
        Ok(prepared.into_entry(&self.workspace, prev, self.head.clone(), detail))
    }

    /// Appends an event rendered beforehand (see [`PreparedEvent`]), `item_id` and `actor_id`
    /// being its ids as text: linking it is one SHA-256.
    pub(super) fn append_prepared(
        &mut self,
        conn: &Connection,
        prepared: &PreparedEvent,
        item_id: Option<&str>,
        actor_id: Option<&str>,
    ) -> StoreResult<()> {
        let head = prepared.link(&self.head, &self.workspace_json);
        conn.prepare_cached(
            "INSERT INTO audit_log (workspace, seq, at, item_id, actor_id, actor_name, actor_role, action,
                                    from_state, to_state, detail, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )?
        .execute(params![
            self.workspace.as_str(),
            head.seq,
            to_millis(prepared.at),
            item_id,
            actor_id,
            prepared.actor.name,
            prepared.actor.role,
            prepared.action.as_str(),
            prepared.from,
            prepared.to,
            prepared.detail_json,
            self.head.hash,
            head.hash,
        ])?;
        self.head = head;
        self.dirty = true;
        Ok(())
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

/// The principal named `name` in `workspace`, created if new. Fails with `Conflict` when it
/// exists with another access role; its reviewer roles are updated to `roles`.
pub(super) fn upsert_principal(
    conn: &Connection,
    workspace: &WorkspaceId,
    name: &str,
    access: AccessRole,
    roles: &[Role],
    now: Timestamp,
) -> StoreResult<Principal> {
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.workspace = ?1 AND p.name = ?2"
        ))?
        .query_row(params![workspace.as_str(), name], |r| Ok(principal(r)))
        .optional()?
        .transpose()?;
    let roles_json = serde_json::to_string(roles)?;
    match existing {
        Some(p) if p.access != access => Err(StoreError::Conflict(format!(
            "{} already exists as {}; use that role, or another name",
            p.name, p.access
        ))),
        Some(mut p) => {
            if p.reviewer_roles != roles {
                conn.execute(
                    "UPDATE principals SET reviewer_roles = ?2 WHERE id = ?1",
                    params![p.id.to_string(), roles_json],
                )?;
                p.reviewer_roles = roles.to_vec();
            }
            Ok(p)
        }
        None => {
            let p = Principal {
                id: PrincipalId::new(),
                workspace: workspace.clone(),
                name: name.to_owned(),
                access,
                reviewer_roles: roles.to_vec(),
            };
            conn.execute(
                "INSERT INTO principals (id, workspace, name, access, reviewer_roles, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    p.id.to_string(),
                    p.workspace.as_str(),
                    p.name,
                    p.access.as_str(),
                    roles_json,
                    to_millis(now)
                ],
            )?;
            Ok(p)
        }
    }
}

pub(super) fn kill_switch(r: &Row<'_>) -> StoreResult<KillSwitch> {
    let policy: String = r.get(0)?;
    let intent: String = r.get(4)?;
    Ok(KillSwitch {
        policy: parse(&policy, "policy name")?,
        intent: (!intent.is_empty()).then_some(intent),
        tripped_at: time(r.get(1)?)?,
        reason: r.get(2)?,
        tripped_by: r.get(3)?,
    })
}

/// Backlog, breaches, items due soon and reviewer throughput of a workspace.
pub(super) fn queue_stats(
    conn: &Connection,
    workspace: &WorkspaceId,
    now: Timestamp,
    look_ahead: chrono::Duration,
    since: Timestamp,
) -> StoreResult<QueueStats> {
    let ws = workspace.as_str();
    let mut stats = QueueStats::default();
    let mut stmt = conn.prepare_cached(
        "SELECT lane, required_role, COUNT(*) FROM items WHERE workspace = ?1 AND claimable = 1
         GROUP BY lane, required_role ORDER BY lane, required_role",
    )?;
    let mut rows = stmt.query([ws])?;
    while let Some(r) = rows.next()? {
        let lane: u8 = r.get(0)?;
        let role: u8 = r.get(1)?;
        let count: i64 = r.get(2)?;
        stats.backlog.push(BacklogCell {
            lane: Lane::from_rank(lane)
                .ok_or_else(|| StoreError::Internal(format!("stored lane {lane}")))?,
            role: Role::from_rank(role)
                .ok_or_else(|| StoreError::Internal(format!("stored role {role}")))?,
            count: count.max(0) as u64,
        });
    }
    let docs = |sql: &str, a: i64| -> StoreResult<Vec<Item>> {
        let mut stmt = conn.prepare_cached(sql)?;
        let found: Vec<String> = stmt
            .query_map(params![ws, a], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        found.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    };
    stats.breached = docs(
        "SELECT doc FROM items WHERE workspace = ?1 AND claimable = 1 AND due_at < ?2 ORDER BY due_at LIMIT 50",
        to_millis(now),
    )?;
    let mut stmt = conn.prepare_cached(
        "SELECT doc FROM items WHERE workspace = ?1 AND claimable = 1 AND due_at >= ?2 AND due_at < ?3
         ORDER BY due_at LIMIT 50",
    )?;
    let found: Vec<String> = stmt
        .query_map(
            params![ws, to_millis(now), to_millis(now + look_ahead)],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    stats.due_soon = found
        .iter()
        .map(|d| Ok(serde_json::from_str(d)?))
        .collect::<StoreResult<_>>()?;

    let mut stmt = conn.prepare_cached(
        "SELECT doc FROM reviews WHERE workspace = ?1 AND decided_at >= ?2 ORDER BY decided_at",
    )?;
    let reviews: Vec<String> = stmt
        .query_map(params![ws, to_millis(since)], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let mut by_reviewer: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
    for doc in reviews {
        let review: Review = serde_json::from_str(&doc)?;
        by_reviewer
            .entry(review.reviewer.name)
            .or_default()
            .push(review.time_on_task_ms);
    }
    stats.throughput = by_reviewer
        .into_iter()
        .map(|(reviewer, mut times)| {
            times.sort_unstable();
            ReviewerThroughput {
                reviewer,
                decisions: times.len() as u64,
                median_time_on_task_ms: times[times.len() / 2],
            }
        })
        .collect();
    stats
        .throughput
        .sort_by_key(|t| std::cmp::Reverse(t.decisions));
    Ok(stats)
}

pub(super) fn insert_outcome(
    conn: &Connection,
    workspace: &WorkspaceId,
    o: &NewOutcome,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO outcomes (workspace, policy, item_id, source, score, correct, inclusion, text, proposed, label, recorded_at, representative, embedded)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (workspace, policy, item_id, source) DO NOTHING",
    )?
    .execute(params![
        workspace.as_str(),
        o.policy.as_str(),
        o.item_id.to_string(),
        o.source.as_str(),
        o.score,
        o.correct,
        o.inclusion,
        o.text,
        o.proposed,
        o.label,
        to_millis(now),
        o.representative,
        o.embedded
    ])?;
    Ok(())
}

pub(super) const AUDIT_TASK_COLUMNS: &str = "id, policy, item_id, probability, status, lease_id, holder_id, lease_expires_at, escaped, created_at";

pub(super) fn audit_task(r: &Row<'_>) -> StoreResult<AuditTask> {
    let policy: String = r.get(1)?;
    let item: String = r.get(2)?;
    let lease: Option<String> = r.get(5)?;
    let holder: Option<String> = r.get(6)?;
    let expires: Option<i64> = r.get(7)?;
    Ok(AuditTask {
        id: r.get(0)?,
        policy: parse(&policy, "policy name")?,
        item_id: parse(&item, "item id")?,
        probability: r.get(3)?,
        status: r.get(4)?,
        lease_id: lease.map(|l| parse(&l, "lease id")).transpose()?,
        holder: holder.map(|h| parse(&h, "principal id")).transpose()?,
        lease_expires_at: expires.map(time).transpose()?,
        escaped: r.get(8)?,
        created_at: time(r.get(9)?)?,
    })
}
