//! Reading and writing Loopgate's records in PostgreSQL: items, reviews, principals, audits and
//! queue statistics. Every function runs on a connection the caller has placed in a
//! transaction; the audit chain itself is appended by [`super::write::Write`].

use chrono::{DateTime, Utc};
use loopgate_core::audit::{AuditActor, AuditEntry};
use loopgate_core::clock::{from_millis, to_millis};
use loopgate_core::{
    AccessRole, Item, ItemId, Lane, Principal, PrincipalId, Review, Role, Timestamp, WorkspaceId,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};

use crate::columns::ItemColumns;
use crate::error::is_unique_violation;
use crate::{
    AuditTask, BacklogCell, KillSwitch, QueueStats, ReviewerThroughput, StoreError, StoreResult,
};

pub(super) fn time(ms: i64) -> StoreResult<DateTime<Utc>> {
    from_millis(ms)
        .ok_or_else(|| StoreError::Internal(format!("stored timestamp {ms} is out of range")))
}

pub(super) fn parse<T: std::str::FromStr>(text: &str, what: &str) -> StoreResult<T> {
    text.parse()
        .map_err(|_| StoreError::Internal(format!("stored {what} {text:?} does not parse")))
}

/// Items as stored JSON documents.
pub(super) fn items(docs: &[String]) -> StoreResult<Vec<Item>> {
    docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
}

/// One item by id, within a workspace.
pub(super) async fn load_item(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    id: ItemId,
) -> StoreResult<Option<Item>> {
    item_by(
        conn,
        "SELECT doc FROM items WHERE workspace = $1 AND id = $2",
        workspace,
        id,
    )
    .await
}

/// One item by id, locked until the transaction ends: whoever changes an item holds its row, so
/// two servers never change the same item at once.
pub(super) async fn lock_item(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    id: ItemId,
) -> StoreResult<Option<Item>> {
    item_by(
        conn,
        "SELECT doc FROM items WHERE workspace = $1 AND id = $2 FOR UPDATE",
        workspace,
        id,
    )
    .await
}

/// The item `sql` selects by workspace and id, parsed.
async fn item_by(
    conn: &mut PgConnection,
    sql: &'static str,
    workspace: &WorkspaceId,
    id: ItemId,
) -> StoreResult<Option<Item>> {
    let doc: Option<String> = sqlx::query_scalar(sql)
        .bind(workspace.as_str())
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    doc.map(|d| serde_json::from_str(&d).map_err(StoreError::from))
        .transpose()
}

/// Inserts items in one statement (a batch of a thousand is one round trip).
pub(super) async fn insert_items(conn: &mut PgConnection, items: &[&Item]) -> StoreResult<()> {
    if items.is_empty() {
        return Ok(());
    }
    let n = items.len();
    let mut id = Vec::with_capacity(n);
    let mut workspace = Vec::with_capacity(n);
    let mut policy = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut claimable = Vec::with_capacity(n);
    let mut required_role = Vec::with_capacity(n);
    let mut lane = Vec::with_capacity(n);
    let mut due_at = Vec::with_capacity(n);
    let mut proposer = Vec::with_capacity(n);
    let mut lease_expires_at = Vec::with_capacity(n);
    let mut customer_id = Vec::with_capacity(n);
    let mut submitted_by = Vec::with_capacity(n);
    let mut created_at = Vec::with_capacity(n);
    let mut updated_at = Vec::with_capacity(n);
    let mut doc = Vec::with_capacity(n);
    for item in items {
        let c = ItemColumns::of(item);
        id.push(item.id.to_string());
        workspace.push(item.workspace.as_str().to_owned());
        policy.push(item.policy.as_str().to_owned());
        status.push(item.status.as_str().to_owned());
        claimable.push(c.claimable);
        required_role.push(c.required_role.map(i16::from));
        lane.push(c.lane.map(i16::from));
        due_at.push(c.due_at);
        proposer.push(c.proposer);
        lease_expires_at.push(c.lease_expires_at);
        customer_id.push(item.customer.id.clone());
        submitted_by.push(item.submitted_by.id.to_string());
        created_at.push(to_millis(item.created_at));
        updated_at.push(to_millis(item.updated_at));
        doc.push(serde_json::to_string(item)?);
    }
    sqlx::query(
        "INSERT INTO items (id, workspace, policy, status, claimable, required_role, lane, due_at, proposer,
                            lease_expires_at, customer_id, submitted_by, created_at, updated_at, doc)
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::int2[],
                              $7::int2[], $8::int8[], $9::text[], $10::int8[], $11::text[], $12::text[],
                              $13::int8[], $14::int8[], $15::text[])",
    )
    .bind(id)
    .bind(workspace)
    .bind(policy)
    .bind(status)
    .bind(claimable)
    .bind(required_role)
    .bind(lane)
    .bind(due_at)
    .bind(proposer)
    .bind(lease_expires_at)
    .bind(customer_id)
    .bind(submitted_by)
    .bind(created_at)
    .bind(updated_at)
    .bind(doc)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) async fn update_item(conn: &mut PgConnection, item: &Item) -> StoreResult<()> {
    let c = ItemColumns::of(item);
    let n = sqlx::query(
        "UPDATE items SET status = $3, claimable = $4, required_role = $5, lane = $6, due_at = $7,
                          proposer = $8, lease_expires_at = $9, updated_at = $10, doc = $11
         WHERE workspace = $1 AND id = $2",
    )
    .bind(item.workspace.as_str())
    .bind(item.id.to_string())
    .bind(item.status.as_str())
    .bind(c.claimable)
    .bind(c.required_role.map(i16::from))
    .bind(c.lane.map(i16::from))
    .bind(c.due_at)
    .bind(c.proposer)
    .bind(c.lease_expires_at)
    .bind(to_millis(item.updated_at))
    .bind(serde_json::to_string(item)?)
    .execute(conn)
    .await?
    .rows_affected();
    if n == 1 {
        Ok(())
    } else {
        Err(StoreError::NotFound("item"))
    }
}

pub(super) async fn insert_review(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    review: &Review,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO reviews (id, item_id, workspace, reviewer_id, decided_at, doc) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(review.id.to_string())
    .bind(review.item_id.to_string())
    .bind(workspace.as_str())
    .bind(review.reviewer.id.to_string())
    .bind(to_millis(review.decided_at))
    .bind(serde_json::to_string(review)?)
    .execute(conn)
    .await?;
    Ok(())
}

pub(super) const AUDIT_COLUMNS: &str = "workspace, seq, at, item_id, actor_id, actor_name, actor_role, action, \
                                        from_state, to_state, detail, prev_hash, hash";

pub(super) fn audit_entry(r: &PgRow) -> StoreResult<AuditEntry> {
    let workspace: String = r.try_get(0)?;
    let item_id: Option<String> = r.try_get(3)?;
    let actor_id: Option<String> = r.try_get(4)?;
    let detail: String = r.try_get(10)?;
    Ok(AuditEntry {
        workspace: parse(&workspace, "workspace")?,
        seq: r.try_get(1)?,
        at: time(r.try_get(2)?)?,
        item_id: item_id.map(|i| parse(&i, "item id")).transpose()?,
        actor: AuditActor {
            id: actor_id.map(|i| parse(&i, "principal id")).transpose()?,
            name: r.try_get(5)?,
            role: r.try_get(6)?,
        },
        action: r.try_get(7)?,
        from: r.try_get(8)?,
        to: r.try_get(9)?,
        detail: serde_json::from_str(&detail)?,
        prev_hash: r.try_get(11)?,
        hash: r.try_get(12)?,
    })
}

pub(super) const PRINCIPAL_COLUMNS: &str = "p.id, p.workspace, p.name, p.access, p.reviewer_roles";

pub(super) fn principal(r: &PgRow) -> StoreResult<Principal> {
    let id: String = r.try_get(0)?;
    let workspace: String = r.try_get(1)?;
    let access: String = r.try_get(3)?;
    let roles: String = r.try_get(4)?;
    Ok(Principal {
        id: parse::<PrincipalId>(&id, "principal id")?,
        workspace: parse(&workspace, "workspace")?,
        name: r.try_get(2)?,
        access: parse::<AccessRole>(&access, "access role")?,
        reviewer_roles: serde_json::from_str(&roles)?,
    })
}

pub(super) async fn ensure_workspace(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO workspaces (id, created_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING",
    )
    .bind(workspace.as_str())
    .bind(to_millis(now))
    .execute(conn)
    .await?;
    Ok(())
}

/// The principal named `name` in `workspace`, created if new. Fails with `Conflict` when it
/// exists with another access role; its reviewer roles are updated to `roles`. Two servers
/// creating the same principal at once both end up with the one row: the insert yields to an
/// existing (or concurrently inserted) row, which is then read and locked.
pub(super) async fn upsert_principal(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    name: &str,
    access: AccessRole,
    roles: &[Role],
    now: Timestamp,
) -> StoreResult<Principal> {
    let roles_json = serde_json::to_string(roles)?;
    let fresh = PrincipalId::new();
    let inserted = sqlx::query(
        "INSERT INTO principals (id, workspace, name, access, reviewer_roles, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace, name) DO NOTHING",
    )
    .bind(fresh.to_string())
    .bind(workspace.as_str())
    .bind(name)
    .bind(access.as_str())
    .bind(&roles_json)
    .bind(to_millis(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if inserted == 1 {
        return Ok(Principal {
            id: fresh,
            workspace: workspace.clone(),
            name: name.to_owned(),
            access,
            reviewer_roles: roles.to_vec(),
        });
    }
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.workspace = $1 AND p.name = $2 FOR UPDATE"
    )))
    .bind(workspace.as_str())
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    let mut p = principal(&row)?;
    if p.access != access {
        return Err(StoreError::Conflict(format!(
            "{} already exists as {}; use that role, or another name",
            p.name, p.access
        )));
    }
    if p.reviewer_roles != roles {
        sqlx::query("UPDATE principals SET reviewer_roles = $2 WHERE id = $1")
            .bind(p.id.to_string())
            .bind(&roles_json)
            .execute(&mut *conn)
            .await?;
        p.reviewer_roles = roles.to_vec();
    }
    Ok(p)
}

/// Maps a unique violation to `Conflict` with `message`; any other failure as usual.
pub(super) fn conflict_on_duplicate(message: &str) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| {
        if is_unique_violation(&e) {
            StoreError::Conflict(message.to_owned())
        } else {
            e.into()
        }
    }
}

pub(super) fn kill_switch(r: &PgRow) -> StoreResult<KillSwitch> {
    let policy: String = r.try_get(0)?;
    let intent: String = r.try_get(4)?;
    Ok(KillSwitch {
        policy: parse(&policy, "policy name")?,
        intent: (!intent.is_empty()).then_some(intent),
        tripped_at: time(r.try_get(1)?)?,
        reason: r.try_get(2)?,
        tripped_by: r.try_get(3)?,
    })
}

/// Backlog, breaches, items due soon and reviewer throughput of a workspace.
pub(super) async fn queue_stats(
    conn: &mut PgConnection,
    workspace: &WorkspaceId,
    now: Timestamp,
    look_ahead: chrono::Duration,
    since: Timestamp,
) -> StoreResult<QueueStats> {
    let ws = workspace.as_str();
    let mut stats = QueueStats::default();
    let cells: Vec<(i16, i16, i64)> = sqlx::query_as(
        "SELECT lane, required_role, COUNT(*) FROM items WHERE workspace = $1 AND claimable
         GROUP BY lane, required_role ORDER BY lane, required_role",
    )
    .bind(ws)
    .fetch_all(&mut *conn)
    .await?;
    for (lane, role, count) in cells {
        stats.backlog.push(BacklogCell {
            lane: u8::try_from(lane)
                .ok()
                .and_then(Lane::from_rank)
                .ok_or_else(|| StoreError::Internal(format!("stored lane {lane}")))?,
            role: u8::try_from(role)
                .ok()
                .and_then(Role::from_rank)
                .ok_or_else(|| StoreError::Internal(format!("stored role {role}")))?,
            count: count.max(0) as u64,
        });
    }
    let breached: Vec<String> = sqlx::query_scalar(
        "SELECT doc FROM items WHERE workspace = $1 AND claimable AND due_at < $2 ORDER BY due_at, id LIMIT 50",
    )
    .bind(ws)
    .bind(to_millis(now))
    .fetch_all(&mut *conn)
    .await?;
    stats.breached = items(&breached)?;
    let due_soon: Vec<String> = sqlx::query_scalar(
        "SELECT doc FROM items WHERE workspace = $1 AND claimable AND due_at >= $2 AND due_at < $3
         ORDER BY due_at, id LIMIT 50",
    )
    .bind(ws)
    .bind(to_millis(now))
    .bind(to_millis(now + look_ahead))
    .fetch_all(&mut *conn)
    .await?;
    stats.due_soon = items(&due_soon)?;

    let reviews: Vec<String> = sqlx::query_scalar(
        "SELECT doc FROM reviews WHERE workspace = $1 AND decided_at >= $2 ORDER BY decided_at, id",
    )
    .bind(ws)
    .bind(to_millis(since))
    .fetch_all(&mut *conn)
    .await?;
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

pub(super) const AUDIT_TASK_COLUMNS: &str = "id, policy, item_id, probability, status, lease_id, holder_id, lease_expires_at, escaped, created_at";

pub(super) fn audit_task(r: &PgRow) -> StoreResult<AuditTask> {
    let policy: String = r.try_get(1)?;
    let item: String = r.try_get(2)?;
    let lease: Option<String> = r.try_get(5)?;
    let holder: Option<String> = r.try_get(6)?;
    let expires: Option<i64> = r.try_get(7)?;
    Ok(AuditTask {
        id: r.try_get(0)?,
        policy: parse(&policy, "policy name")?,
        item_id: parse(&item, "item id")?,
        probability: r.try_get(3)?,
        status: r.try_get(4)?,
        lease_id: lease.map(|l| parse(&l, "lease id")).transpose()?,
        holder: holder.map(|h| parse(&h, "principal id")).transpose()?,
        lease_expires_at: expires.map(time).transpose()?,
        escaped: r.try_get(8)?,
        created_at: time(r.try_get(9)?)?,
    })
}
