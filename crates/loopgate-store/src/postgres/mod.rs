//! The scale-out store: PostgreSQL through sqlx, shared by any number of Loopgate servers.
//!
//! Every method is one transaction on a pooled connection. What keeps several servers from
//! stepping on each other:
//! - an item is changed only while its row is locked (`FOR UPDATE`); claims pick the most urgent
//!   unlocked row with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never take the same
//!   item and never wait on each other; lapsed leases and audits are taken the same way, so no
//!   lease is expired twice;
//! - each workspace's audit chain head is locked by every transaction that appends to it, last
//!   and in workspace order (see [`write`]), so the chain stays one chain;
//! - writes that create a named thing (policy versions, learned state, decision codes) first take
//!   a transaction-scoped advisory lock on its name, so two servers never both create it;
//! - changes are announced with `NOTIFY` in the writing transaction and heard by every server's
//!   listener (see [`feed`]).
//!
//! Connection failures, a pool with no free connection within [`Options::acquire_timeout`], and
//! a database shutting down or starting up are [`StoreError::Unavailable`]; the pool replaces
//! dead connections by itself, so the store recovers when the database is back.

mod feed;
mod rows;
mod write;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use chrono::Duration;
use loopgate_core::audit::{
    AuditAction, AuditActor, AuditEntry, AuditEvent, ChainHead, ChainVerifier,
};
use loopgate_core::clock::to_millis;
use loopgate_core::{
    Item, ItemId, KeyId, Lane, LeaseId, Policy, PolicyName, PolicySpec, Principal, PrincipalId,
    Review, Role, Status, Timestamp, WorkspaceId,
};
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, PgConnection, Row};
use tokio::sync::broadcast;

use self::feed::Feed;
use self::rows::{AUDIT_COLUMNS, AUDIT_TASK_COLUMNS, PRINCIPAL_COLUMNS, parse, time};
use self::write::Write;
use crate::{
    AuditTask, ChainReport, ClaimRequest, CodeRecord, HistoryEntry, Inserted, ItemChanged,
    ItemFilter, ItemMutation, KeyRecord, KillSwitch, NewAccount, NewItem, NewKey, NewOutcome,
    NewSession, OutcomeRow, OutcomeSource, PolicyStateChange, QueueStats, Session, Store,
    StoreError, StoreResult, StoredPolicy,
};

/// The migrations of the PostgreSQL schema, applied in order at start-up. Several servers
/// starting at once are safe: sqlx holds an advisory lock while migrating.
static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// How a [`PostgresStore`] uses the database.
#[derive(Debug, Clone)]
pub struct Options {
    /// Most connections this store opens for queries (one more listens for changes).
    pub max_connections: u32,
    /// How long a query waits for a free connection (or for the database to accept one)
    /// before failing with `Unavailable`. Short, so an outage answers 503 promptly.
    pub acquire_timeout: StdDuration,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            max_connections: 10,
            acquire_timeout: StdDuration::from_secs(3),
        }
    }
}

/// The PostgreSQL store. Cheap to clone; clones share the pool and the change feed, which stops
/// listening when the last clone is dropped.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    feed: Feed,
    _listener: Arc<Listening>,
}

/// The listener task, stopped when the store goes away.
#[derive(Debug)]
struct Listening(tokio::task::JoinHandle<()>);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether `url` names a PostgreSQL database (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`; a `search_path` may be
    /// given as `?options=-c%20search_path%3Dname`), brings its schema up to date and starts
    /// listening for other servers' changes. Must run inside a Tokio runtime. Fails with
    /// `Unavailable`, naming the database, when it cannot be reached or migrated.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_with(url, Options::default()).await
    }

    /// As [`PostgresStore::connect`], with other pool settings.
    pub async fn connect_with(url: &str, options: Options) -> StoreResult<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(|e| {
                StoreError::Unavailable(format!("invalid PostgreSQL URL {}: {e}", redact(url)))
            })?
            // An acknowledged write must survive a crash, whatever the server's default.
            .options([("synchronous_commit", "on")]);
        // One plain connection first: a pool reports only that it timed out, while this names
        // the cause (refused, unknown host, authentication failed, no such database).
        let probe = sqlx::PgConnection::connect_with(&connect)
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {}: {e}", redact(url)))
            })?;
        let _ = probe.close().await;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections)
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot connect to {}: {e}", redact(url)))
            })?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot migrate {}: {e}", redact(url))))?;
        let schema: String = sqlx::query_scalar("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        let (events, _) = broadcast::channel(4096);
        let feed = Feed::new(&schema, events);
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .max_lifetime(None)
            .idle_timeout(None)
            .connect_lazy_with(connect);
        let task = feed.listen(listen_pool).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot listen on {}: {e}", redact(url)))
        })?;
        Ok(Self {
            pool,
            feed,
            _listener: Arc::new(Listening(task)),
        })
    }

    /// The connection pool, for tools that inspect the database.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> StoreResult<Write> {
        Write::begin(&self.pool).await
    }

    async fn read(&self) -> StoreResult<sqlx::pool::PoolConnection<sqlx::Postgres>> {
        Ok(self.pool.acquire().await?)
    }
}

/// The URL with its passwords (in the user part, or a `password`/`sslpassword` parameter)
/// replaced by `***`, for messages and logs. A string that is not a URL at all (a libpq
/// `key=value` string, a typo) may hold a password anywhere, so none of it is shown.
pub fn redact(url: &str) -> String {
    let Ok(mut u) = url::Url::parse(url) else {
        return "(a database URL that does not parse; not shown, it may hold a password)".into();
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    }
    if u.query().is_some() {
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let secret = k.to_ascii_lowercase().contains("password");
                (
                    k.into_owned(),
                    if secret { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// Whether `text` holds a NUL character, which PostgreSQL text cannot store (SQLite can): a
/// look-up by such a value matches nothing, as on SQLite, instead of failing.
fn has_nul(text: &str) -> bool {
    text.contains('\0')
}

/// Serialises writers of one named thing across servers until the transaction ends. Used where
/// a write first reads what it replaces (a policy's version, learned state, a code's
/// description) and the row may not exist yet, so there is no row to lock.
async fn lock_name(
    conn: &mut PgConnection,
    kind: &str,
    ws: &WorkspaceId,
    name: &str,
) -> StoreResult<()> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
        .bind(format!("{kind}/{}/{name}", ws.as_str()))
        .execute(conn)
        .await?;
    Ok(())
}

fn policy_row(r: &PgRow) -> StoreResult<StoredPolicy> {
    let spec: String = r.try_get(0)?;
    let version: i32 = r.try_get(1)?;
    let spec: PolicySpec = serde_json::from_str(&spec)?;
    let policy = spec
        .validate()
        .map_err(|p| StoreError::Internal(format!("stored policy is invalid: {}", p.join("; "))))?;
    Ok(StoredPolicy {
        policy,
        version: u32::try_from(version)
            .map_err(|_| StoreError::Internal(format!("stored policy version {version}")))?,
        updated_at: time(r.try_get(2)?)?,
    })
}

fn key_row(r: &PgRow) -> StoreResult<KeyRecord> {
    let id: String = r.try_get(5)?;
    let revoked: Option<i64> = r.try_get(8)?;
    Ok(KeyRecord {
        id: parse(&id, "key id")?,
        principal: rows::principal(r)?,
        prefix: r.try_get(6)?,
        created_at: time(r.try_get(7)?)?,
        revoked_at: revoked.map(time).transpose()?,
    })
}

const KEY_SELECT: &str = "SELECT p.id, p.workspace, p.name, p.access, p.reviewer_roles, k.id, k.prefix, k.created_at, k.revoked_at
     FROM api_keys k JOIN principals p ON p.id = k.principal_id";

/// Returns leases of `workspace` (or of every workspace) that lapsed by `now` to their queues.
/// Rows another transaction holds are skipped: that transaction (a decision, another server's
/// sweep) settles them, so no lease is expired twice.
async fn expire(
    w: &mut Write,
    workspace: Option<&WorkspaceId>,
    now: Timestamp,
    limit: u32,
) -> StoreResult<u32> {
    let docs: Vec<String> = match workspace {
        Some(ws) => {
            sqlx::query_scalar(
                "SELECT doc FROM items
                 WHERE status = 'in_review' AND lease_expires_at <= $1 AND workspace = $2
                 ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED",
            )
            .bind(to_millis(now))
            .bind(ws.as_str())
            .bind(i64::from(limit))
            .fetch_all(w.conn())
            .await?
        }
        None => {
            sqlx::query_scalar(
                "SELECT doc FROM items
                 WHERE status = 'in_review' AND lease_expires_at <= $1
                 ORDER BY lease_expires_at LIMIT $2 FOR UPDATE SKIP LOCKED",
            )
            .bind(to_millis(now))
            .bind(i64::from(limit))
            .fetch_all(w.conn())
            .await?
        }
    };
    let mut expired = 0;
    for doc in docs {
        let mut item: Item = serde_json::from_str(&doc)?;
        let Ok(event) = item.expire_lease(now) else {
            continue;
        };
        rows::update_item(w.conn(), &item).await?;
        w.audit(&item.workspace.clone(), now, event);
        w.changed(&item);
        expired += 1;
    }
    Ok(expired)
}

#[async_trait]
impl Store for PostgresStore {
    async fn has_keys(&self) -> StoreResult<bool> {
        Ok(sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_key(
        &self,
        key: NewKey,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        let mut w = self.begin().await?;
        rows::ensure_workspace(w.conn(), &key.workspace, now).await?;
        let principal = rows::upsert_principal(
            w.conn(),
            &key.workspace,
            &key.name,
            key.access,
            &key.reviewer_roles,
            now,
        )
        .await?;
        let id = KeyId::new();
        sqlx::query(
            "INSERT INTO api_keys (id, principal_id, workspace, secret_hash, prefix, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.to_string())
        .bind(principal.id.to_string())
        .bind(key.workspace.as_str())
        .bind(&key.secret_hash[..])
        .bind(&key.prefix)
        .bind(to_millis(now))
        .execute(w.conn())
        .await
        .map_err(rows::conflict_on_duplicate(
            "this key secret is already registered; generate a new one",
        ))?;
        w.audit(
            &key.workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::KeyCreated,
                from: None,
                to: None,
                detail: json!({
                    "key_id": id, "prefix": key.prefix, "principal": principal.name,
                    "access": principal.access, "reviewer_roles": principal.reviewer_roles,
                }),
            },
        );
        w.commit(&self.feed).await?;
        Ok(KeyRecord {
            id,
            principal,
            prefix: key.prefix,
            created_at: now,
            revoked_at: None,
        })
    }

    async fn principal_by_key(&self, secret_hash: [u8; 32]) -> StoreResult<Option<Principal>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM api_keys k JOIN principals p ON p.id = k.principal_id
             WHERE k.secret_hash = $1 AND k.revoked_at IS NULL"
        )))
        .bind(&secret_hash[..])
        .fetch_optional(&self.pool)
        .await?
        .map(|r| rows::principal(&r))
        .transpose()
    }

    async fn list_keys(
        &self,
        workspace: &WorkspaceId,
        before: Option<KeyId>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>> {
        sqlx::query(AssertSqlSafe(format!(
            "{KEY_SELECT} WHERE k.workspace = $1
               AND ($2::text IS NULL OR (k.created_at, k.id) <
                    (SELECT created_at, id FROM api_keys WHERE workspace = $1 AND id = $2))
             ORDER BY k.created_at DESC, k.id DESC LIMIT $3"
        )))
        .bind(workspace.as_str())
        .bind(before.map(|k| k.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(key_row)
        .collect()
    }

    async fn revoke_key(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        let mut w = self.begin().await?;
        let revoked = sqlx::query(
            "UPDATE api_keys SET revoked_at = $3
             WHERE workspace = $1 AND id = $2 AND revoked_at IS NULL",
        )
        .bind(workspace.as_str())
        .bind(id.to_string())
        .bind(to_millis(now))
        .execute(w.conn())
        .await?
        .rows_affected();
        let record = sqlx::query(AssertSqlSafe(format!(
            "{KEY_SELECT} WHERE k.id = $1 AND k.workspace = $2"
        )))
        .bind(id.to_string())
        .bind(workspace.as_str())
        .fetch_optional(w.conn())
        .await?
        .map(|r| key_row(&r))
        .transpose()?
        .ok_or(StoreError::NotFound("key"))?;
        if revoked == 0 {
            // Already revoked: nothing changed, so nothing to audit.
            return Ok(record);
        }
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::KeyRevoked,
                from: None,
                to: None,
                detail: json!({"key_id": id, "prefix": record.prefix, "principal": record.principal.name}),
            },
        );
        w.commit(&self.feed).await?;
        Ok(record)
    }

    async fn decision_codes(&self, workspace: &WorkspaceId) -> StoreResult<Vec<CodeRecord>> {
        let codes: Vec<(String, String)> = sqlx::query_as(
            "SELECT code, description FROM decision_codes WHERE workspace = $1 ORDER BY code",
        )
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?;
        Ok(codes
            .into_iter()
            .map(|(code, description)| CodeRecord { code, description })
            .collect())
    }

    async fn define_code(
        &self,
        workspace: &WorkspaceId,
        code: CodeRecord,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<CodeRecord> {
        let mut w = self.begin().await?;
        lock_name(w.conn(), "code", workspace, &code.code).await?;
        let before: Option<String> = sqlx::query_scalar(
            "SELECT description FROM decision_codes WHERE workspace = $1 AND code = $2",
        )
        .bind(workspace.as_str())
        .bind(&code.code)
        .fetch_optional(w.conn())
        .await?;
        if before.as_deref() == Some(code.description.as_str()) {
            return Ok(code);
        }
        sqlx::query(
            "INSERT INTO decision_codes (workspace, code, description, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (workspace, code) DO UPDATE SET description = excluded.description",
        )
        .bind(workspace.as_str())
        .bind(&code.code)
        .bind(&code.description)
        .bind(to_millis(now))
        .execute(w.conn())
        .await?;
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::CodeDefined,
                from: None,
                to: None,
                detail: json!({"code": code.code, "before": before, "after": code.description}),
            },
        );
        w.commit(&self.feed).await?;
        Ok(code)
    }

    async fn put_policy(
        &self,
        workspace: &WorkspaceId,
        policy: Policy,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy> {
        let mut w = self.begin().await?;
        lock_name(w.conn(), "policy", workspace, policy.name.as_str()).await?;
        let previous: Option<(i32, String)> =
            sqlx::query_as("SELECT version, spec FROM policies WHERE workspace = $1 AND name = $2")
                .bind(workspace.as_str())
                .bind(policy.name.as_str())
                .fetch_optional(w.conn())
                .await?;
        let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
        let spec = serde_json::to_string(&policy)?;
        sqlx::query(
            "INSERT INTO policies (workspace, name, version, spec, lease_seconds, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace, name) DO UPDATE SET version = excluded.version, spec = excluded.spec,
                 lease_seconds = excluded.lease_seconds, updated_at = excluded.updated_at",
        )
        .bind(workspace.as_str())
        .bind(policy.name.as_str())
        .bind(version)
        .bind(&spec)
        .bind(policy.lease_seconds.map(i64::from))
        .bind(to_millis(now))
        .execute(w.conn())
        .await?;
        sqlx::query(
            "INSERT INTO policy_versions (workspace, name, version, spec, created_at, created_by)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(workspace.as_str())
        .bind(policy.name.as_str())
        .bind(version)
        .bind(&spec)
        .bind(to_millis(now))
        .bind(&actor.name)
        .execute(w.conn())
        .await?;
        let before = previous
            .map(|(_, s)| serde_json::from_str::<serde_json::Value>(&s))
            .transpose()?;
        let version = u32::try_from(version)
            .map_err(|_| StoreError::Internal(format!("policy version {version}")))?;
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::PolicyPut,
                from: None,
                to: None,
                detail: json!({"policy": policy.name, "version": version, "before": before, "after": policy}),
            },
        );
        w.commit(&self.feed).await?;
        Ok(StoredPolicy {
            policy,
            version,
            updated_at: now,
        })
    }

    async fn get_policy(
        &self,
        workspace: &WorkspaceId,
        name: &PolicyName,
    ) -> StoreResult<Option<StoredPolicy>> {
        sqlx::query(
            "SELECT spec, version, updated_at FROM policies WHERE workspace = $1 AND name = $2",
        )
        .bind(workspace.as_str())
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| policy_row(&r))
        .transpose()
    }

    async fn list_policies(&self, workspace: &WorkspaceId) -> StoreResult<Vec<StoredPolicy>> {
        sqlx::query(
            "SELECT spec, version, updated_at FROM policies WHERE workspace = $1 ORDER BY name",
        )
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(policy_row)
        .collect()
    }

    async fn insert_items(
        &self,
        workspace: &WorkspaceId,
        submitter: PrincipalId,
        items: Vec<NewItem>,
    ) -> StoreResult<Vec<Inserted>> {
        // A concurrent submit may register one of our idempotency keys between our look-up and
        // our insert; then the whole call runs again and finds it. Each round can only lose to
        // keys that are new to it, so a few rounds settle any realistic race.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_insert_items(workspace, submitter, &items).await? {
                Some(inserted) => return Ok(inserted),
                None if attempt < 5 => continue,
                None => {
                    return Err(StoreError::Unavailable(
                        "concurrent submits kept racing for the same idempotency keys".into(),
                    ));
                }
            }
        }
    }

    async fn get_item(&self, workspace: &WorkspaceId, id: ItemId) -> StoreResult<Option<Item>> {
        rows::load_item(&mut *self.read().await?, workspace, id).await
    }

    async fn list_items(
        &self,
        workspace: &WorkspaceId,
        filter: &ItemFilter,
    ) -> StoreResult<Vec<Item>> {
        // PostgreSQL text cannot hold NUL, so nothing stored matches a filter containing it.
        if filter.customer_id.as_deref().is_some_and(has_nul) {
            return Ok(Vec::new());
        }
        let statuses: Vec<String> = filter
            .statuses
            .iter()
            .map(|s| s.as_str().to_owned())
            .collect();
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM items WHERE workspace = $1
               AND (cardinality($2::text[]) = 0 OR status = ANY($2))
               AND ($3::text IS NULL OR policy = $3)
               AND ($4::int2 IS NULL OR lane = $4)
               AND ($5::text IS NULL OR customer_id = $5)
               AND ($6::text IS NULL OR submitted_by = $6)
               AND ($7::text IS NULL OR id < $7)
             ORDER BY id DESC LIMIT $8",
        )
        .bind(workspace.as_str())
        .bind(statuses)
        .bind(filter.policy.as_ref().map(|p| p.as_str().to_owned()))
        .bind(filter.lane.map(|l| i16::from(l.rank())))
        .bind(filter.customer_id.clone())
        .bind(filter.submitted_by.map(|p| p.to_string()))
        .bind(filter.before.map(|b| b.to_string()))
        .bind(i64::from(filter.limit))
        .fetch_all(&self.pool)
        .await?;
        rows::items(&docs)
    }

    async fn mutate_item(
        &self,
        workspace: &WorkspaceId,
        id: ItemId,
        mutation: ItemMutation,
    ) -> StoreResult<Item> {
        let mut w = self.begin().await?;
        let mut item = rows::lock_item(w.conn(), workspace, id)
            .await?
            .ok_or(StoreError::NotFound("item"))?;
        let effects = mutation(&mut item)?;
        rows::update_item(w.conn(), &item).await?;
        if let Some(review) = &effects.review {
            rows::insert_review(w.conn(), workspace, review).await?;
        }
        if let Some(outcome) = effects.outcome {
            w.outcome(workspace, outcome, item.updated_at);
        }
        for event in effects.events {
            w.audit(workspace, item.updated_at, event);
        }
        w.changed(&item);
        w.commit(&self.feed).await?;
        Ok(item)
    }

    async fn claim_next(
        &self,
        workspace: &WorkspaceId,
        request: ClaimRequest,
    ) -> StoreResult<Option<Item>> {
        let now = request.now;
        let mut w = self.begin().await?;
        expire(&mut w, Some(workspace), now, 100).await?;
        let claimed = claim_one(&mut w, workspace, &request).await?;
        w.commit(&self.feed).await?;
        Ok(claimed)
    }

    async fn expire_leases(&self, now: Timestamp, limit: u32) -> StoreResult<u32> {
        let mut w = self.begin().await?;
        let n = expire(&mut w, None, now, limit).await?;
        w.commit(&self.feed).await?;
        Ok(n)
    }

    async fn reviews(&self, workspace: &WorkspaceId, item: ItemId) -> StoreResult<Vec<Review>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM reviews WHERE workspace = $1 AND item_id = $2 ORDER BY decided_at, id",
        )
        .bind(workspace.as_str())
        .bind(item.to_string())
        .fetch_all(&self.pool)
        .await?;
        docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
    }

    async fn customer_history(
        &self,
        workspace: &WorkspaceId,
        customer_id: &str,
        except: ItemId,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        if has_nul(customer_id) {
            return Ok(Vec::new());
        }
        let found: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, policy, status, created_at FROM items
             WHERE workspace = $1 AND customer_id = $2 AND id <> $3 ORDER BY id DESC LIMIT $4",
        )
        .bind(workspace.as_str())
        .bind(customer_id)
        .bind(except.to_string())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        found
            .into_iter()
            .map(|(id, policy, status, created_at)| {
                Ok(HistoryEntry {
                    id: parse(&id, "item id")?,
                    policy: parse(&policy, "policy name")?,
                    status: parse::<Status>(&status, "status")?,
                    created_at: time(created_at)?,
                })
            })
            .collect()
    }

    async fn item_audit(
        &self,
        workspace: &WorkspaceId,
        item: ItemId,
    ) -> StoreResult<Vec<AuditEntry>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE item_id = $1 AND workspace = $2 ORDER BY seq"
        )))
        .bind(item.to_string())
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::audit_entry)
        .collect()
    }

    async fn verify_audit(&self) -> StoreResult<Vec<ChainReport>> {
        // One REPEATABLE READ transaction: the heads and the log are seen at the same instant,
        // while other servers go on appending.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let heads: Vec<(String, i64, String)> =
            sqlx::query_as("SELECT workspace, seq, hash FROM audit_heads")
                .fetch_all(&mut *tx)
                .await?;
        let heads: std::collections::BTreeMap<String, ChainHead> = heads
            .into_iter()
            .map(|(ws, seq, hash)| (ws, ChainHead { seq, hash }))
            .collect();
        let mut workspaces: std::collections::BTreeSet<String> = heads.keys().cloned().collect();
        let found: Vec<String> = sqlx::query_scalar("SELECT DISTINCT workspace FROM audit_log")
            .fetch_all(&mut *tx)
            .await?;
        workspaces.extend(found);
        let mut reports = Vec::new();
        for ws in workspaces {
            let workspace: WorkspaceId = parse(&ws, "workspace")?;
            let mut verifier = ChainVerifier::new(workspace.clone());
            let mut broken = None;
            // Pages by seq, so a long chain never sits in memory at once.
            let mut after = 0_i64;
            'pages: loop {
                let page = sqlx::query(AssertSqlSafe(format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE workspace = $1 AND seq > $2 ORDER BY seq LIMIT 5000"
                )))
                .bind(&ws)
                .bind(after)
                .fetch_all(&mut *tx)
                .await?;
                if page.is_empty() {
                    break;
                }
                for r in &page {
                    let entry = rows::audit_entry(r)?;
                    after = entry.seq;
                    if let Err(b) = verifier.push(&entry) {
                        broken = Some(b);
                        break 'pages;
                    }
                }
            }
            let result = match broken {
                Some(b) => Err(b),
                // A chain without a recorded head must be empty; an empty head stands for that.
                None => verifier.finish(Some(heads.get(&ws).unwrap_or(&ChainHead::genesis()))),
            };
            reports.push(ChainReport { workspace, result });
        }
        tx.commit().await?;
        Ok(reports)
    }

    async fn set_account(
        &self,
        account: NewAccount,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<Principal> {
        let mut w = self.begin().await?;
        rows::ensure_workspace(w.conn(), &account.workspace, now).await?;
        let principal = rows::upsert_principal(
            w.conn(),
            &account.workspace,
            &account.name,
            account.access,
            &account.reviewer_roles,
            now,
        )
        .await?;
        sqlx::query(
            "INSERT INTO passwords (principal_id, hash, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (principal_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
        )
        .bind(principal.id.to_string())
        .bind(&account.password_hash)
        .bind(to_millis(now))
        .execute(w.conn())
        .await?;
        w.audit(
            &account.workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::AccountSet,
                from: None,
                to: None,
                detail: json!({
                    "principal": principal.name, "access": principal.access,
                    "reviewer_roles": principal.reviewer_roles,
                }),
            },
        );
        w.commit(&self.feed).await?;
        Ok(principal)
    }

    async fn account(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> StoreResult<Option<(Principal, String)>> {
        if has_nul(name) {
            return Ok(None);
        }
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRINCIPAL_COLUMNS}, w.hash FROM principals p JOIN passwords w ON w.principal_id = p.id
             WHERE p.workspace = $1 AND p.name = $2"
        )))
        .bind(workspace.as_str())
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some((rows::principal(&r)?, r.try_get(5)?))),
            None => Ok(None),
        }
    }

    async fn principals(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Principal>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.workspace = $1 ORDER BY p.name"
        )))
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::principal)
        .collect()
    }

    async fn create_session(&self, session: NewSession) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO sessions (secret_hash, principal_id, csrf_token, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&session.secret_hash[..])
        .bind(session.principal.to_string())
        .bind(&session.csrf_token)
        .bind(to_millis(session.created_at))
        .bind(to_millis(session.expires_at))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<Option<Session>> {
        let row = sqlx::query(AssertSqlSafe(format!(
            "SELECT {PRINCIPAL_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s JOIN principals p ON p.id = s.principal_id
             WHERE s.secret_hash = $1 AND s.expires_at > $2"
        )))
        .bind(&secret_hash[..])
        .bind(to_millis(now))
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(r) => Ok(Some(Session {
                principal: rows::principal(&r)?,
                csrf_token: r.try_get(5)?,
                expires_at: time(r.try_get(6)?)?,
            })),
            None => Ok(None),
        }
    }

    async fn end_session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<()> {
        sqlx::query("DELETE FROM sessions WHERE secret_hash = $1 OR expires_at <= $2")
            .bind(&secret_hash[..])
            .bind(to_millis(now))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn kill_switches(&self, workspace: &WorkspaceId) -> StoreResult<Vec<KillSwitch>> {
        sqlx::query(
            "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = $1 ORDER BY policy, intent",
        )
        .bind(workspace.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::kill_switch)
        .collect()
    }

    async fn kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<KillSwitch>> {
        sqlx::query(
            "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = $1 AND policy = $2 AND intent = ''",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(|r| rows::kill_switch(&r))
        .transpose()
    }

    async fn policy_kill_switches(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<KillSwitch>> {
        sqlx::query(
            "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = $1 AND policy = $2 ORDER BY intent",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::kill_switch)
        .collect()
    }

    async fn trip_kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        intent: Option<&str>,
        reason: &str,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KillSwitch> {
        let mut w = self.begin().await?;
        let scope = intent.unwrap_or("");
        // One winner when several servers trip it at once: the others find it tripped.
        let inserted = sqlx::query(
            "INSERT INTO kill_switches (workspace, policy, intent, tripped_at, reason, tripped_by) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (workspace, policy, intent) DO NOTHING",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .bind(scope)
        .bind(to_millis(now))
        .bind(reason)
        .bind(&actor.name)
        .execute(w.conn())
        .await?
        .rows_affected();
        if inserted == 0 {
            let existing = sqlx::query(
                "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = $1 AND policy = $2 AND intent = $3",
            )
            .bind(workspace.as_str())
            .bind(policy.as_str())
            .bind(scope)
            .fetch_one(w.conn())
            .await?;
            return rows::kill_switch(&existing);
        }
        let switch = KillSwitch {
            policy: policy.clone(),
            intent: intent.map(str::to_owned),
            tripped_at: now,
            reason: reason.to_owned(),
            tripped_by: actor.name.clone(),
        };
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::KillSwitchTripped,
                from: Some("armed".into()),
                to: Some("tripped".into()),
                detail: crate::kill_switch_detail(policy, intent, reason),
            },
        );
        w.commit(&self.feed).await?;
        Ok(switch)
    }

    async fn reset_kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        intent: Option<&str>,
        reason: &str,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut w = self.begin().await?;
        let n = sqlx::query(
            "DELETE FROM kill_switches WHERE workspace = $1 AND policy = $2 AND intent = $3",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .bind(intent.unwrap_or(""))
        .execute(w.conn())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound("kill switch"));
        }
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: None,
                actor,
                action: AuditAction::KillSwitchReset,
                from: Some("tripped".into()),
                to: Some("armed".into()),
                detail: crate::kill_switch_detail(policy, intent, reason),
            },
        );
        w.commit(&self.feed).await
    }

    async fn queue_stats(
        &self,
        workspace: &WorkspaceId,
        now: Timestamp,
        look_ahead: Duration,
        since: Timestamp,
    ) -> StoreResult<QueueStats> {
        // One snapshot for every figure, as SQLite's read connection gives.
        let mut tx = self.pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let stats = rows::queue_stats(&mut tx, workspace, now, look_ahead, since).await?;
        tx.commit().await?;
        Ok(stats)
    }

    async fn outcomes(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutcomeRow>> {
        let found = sqlx::query(
            "SELECT id, item_id, source, score, correct, inclusion, text, proposed, label, recorded_at,
                    representative, embedded
             FROM outcomes WHERE workspace = $1 AND policy = $2 AND id > $3 ORDER BY id LIMIT $4",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        found
            .iter()
            .map(|r| {
                let item: String = r.try_get(1)?;
                let source: String = r.try_get(2)?;
                Ok(OutcomeRow {
                    id: r.try_get(0)?,
                    item_id: parse(&item, "item id")?,
                    source: match source.as_str() {
                        "review" => OutcomeSource::Review,
                        "shadow" => OutcomeSource::Shadow,
                        "audit" => OutcomeSource::Audit,
                        other => {
                            return Err(StoreError::Internal(format!(
                                "stored outcome source {other:?}"
                            )));
                        }
                    },
                    score: r.try_get(3)?,
                    correct: r.try_get(4)?,
                    inclusion: r.try_get(5)?,
                    text: r.try_get(6)?,
                    proposed: r.try_get(7)?,
                    label: r.try_get(8)?,
                    recorded_at: time(r.try_get(9)?)?,
                    representative: r.try_get(10)?,
                    embedded: r.try_get(11)?,
                })
            })
            .collect()
    }

    async fn policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<serde_json::Value>> {
        let state: Option<String> = sqlx::query_scalar(
            "SELECT state FROM policy_state WHERE workspace = $1 AND policy = $2",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_optional(&self.pool)
        .await?;
        state.map(|s| Ok(serde_json::from_str(&s)?)).transpose()
    }

    async fn put_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        state: serde_json::Value,
        event: Option<AuditEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let mut w = self.begin().await?;
        lock_name(w.conn(), "policy_state", workspace, policy.as_str()).await?;
        save_policy_state(w.conn(), workspace, policy, &state, now).await?;
        if let Some(event) = event {
            w.audit(workspace, now, event);
        }
        w.commit(&self.feed).await
    }

    async fn update_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        change: PolicyStateChange,
        now: Timestamp,
    ) -> StoreResult<serde_json::Value> {
        let mut w = self.begin().await?;
        // The state may not exist yet, so there may be no row to lock: lock its name instead.
        lock_name(w.conn(), "policy_state", workspace, policy.as_str()).await?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT state FROM policy_state WHERE workspace = $1 AND policy = $2",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_optional(w.conn())
        .await?;
        let stored = stored.map(|s| serde_json::from_str(&s)).transpose()?;
        let (state, event) = change(stored)?;
        save_policy_state(w.conn(), workspace, policy, &state, now).await?;
        if let Some(event) = event {
            w.audit(workspace, now, event);
        }
        w.commit(&self.feed).await?;
        Ok(state)
    }

    async fn all_policies(&self) -> StoreResult<Vec<(WorkspaceId, PolicyName)>> {
        let pairs: Vec<(String, String)> =
            sqlx::query_as("SELECT workspace, name FROM policies ORDER BY workspace, name")
                .fetch_all(&self.pool)
                .await?;
        pairs
            .into_iter()
            .map(|(w, p)| Ok((parse(&w, "workspace")?, parse(&p, "policy name")?)))
            .collect()
    }

    async fn claim_audit(
        &self,
        workspace: &WorkspaceId,
        reviewer: AuditActor,
        lease_id: LeaseId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<(AuditTask, Item)>> {
        let mut w = self.begin().await?;
        // SKIP LOCKED: quality reviewers claiming at once on any server get different audits.
        let task = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_TASK_COLUMNS} FROM audits
             WHERE workspace = $1 AND (status = 'pending' OR (status = 'in_review' AND lease_expires_at <= $2))
             ORDER BY created_at, id LIMIT 1 FOR UPDATE SKIP LOCKED"
        )))
        .bind(workspace.as_str())
        .bind(to_millis(now))
        .fetch_optional(w.conn())
        .await?
        .map(|r| rows::audit_task(&r))
        .transpose()?;
        let Some(mut task) = task else {
            return Ok(None);
        };
        let holder = reviewer.id.map(|i| i.to_string());
        sqlx::query(
            "UPDATE audits SET status = 'in_review', lease_id = $2, holder_id = $3, lease_expires_at = $4 WHERE id = $1",
        )
        .bind(&task.id)
        .bind(lease_id.to_string())
        .bind(holder)
        .bind(to_millis(until))
        .execute(w.conn())
        .await?;
        task.status = "in_review".into();
        task.lease_id = Some(lease_id);
        task.holder = reviewer.id;
        task.lease_expires_at = Some(until);
        let item = rows::load_item(w.conn(), workspace, task.item_id)
            .await?
            .ok_or(StoreError::NotFound("item"))?;
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: Some(task.item_id),
                actor: reviewer,
                action: AuditAction::AuditClaimed,
                from: Some(item.status.as_str().to_owned()),
                to: Some(item.status.as_str().to_owned()),
                detail: json!({"audit_id": task.id, "lease_id": lease_id, "expires_at": until}),
            },
        );
        w.commit(&self.feed).await?;
        Ok(Some((task, item)))
    }

    #[allow(clippy::too_many_arguments)]
    async fn record_audit(
        &self,
        workspace: &WorkspaceId,
        audit: &str,
        lease_id: LeaseId,
        reviewer: AuditActor,
        escaped: bool,
        detail: serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<(AuditTask, Item)> {
        let mut w = self.begin().await?;
        let mut task = sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_TASK_COLUMNS} FROM audits WHERE workspace = $1 AND id = $2 FOR UPDATE"
        )))
        .bind(workspace.as_str())
        .bind(audit)
        .fetch_optional(w.conn())
        .await?
        .map(|r| rows::audit_task(&r))
        .transpose()?
        .ok_or(StoreError::NotFound("audit"))?;
        let held = task.status == "in_review"
            && task.lease_id == Some(lease_id)
            && task.holder == reviewer.id
            && task.lease_expires_at.is_some_and(|t| t > now);
        if !held {
            return Err(StoreError::Conflict(format!(
                "lease {lease_id} is not this audit's current lease (the audit is {}); claim it again",
                task.status
            )));
        }
        sqlx::query(
            "UPDATE audits SET status = 'done', escaped = $2, decided_by = $3, decided_at = $4,
                 lease_id = NULL, holder_id = NULL, lease_expires_at = NULL WHERE id = $1",
        )
        .bind(&task.id)
        .bind(escaped)
        .bind(&reviewer.name)
        .bind(to_millis(now))
        .execute(w.conn())
        .await?;
        task.status = "done".into();
        task.escaped = Some(escaped);
        task.lease_id = None;
        task.holder = None;
        task.lease_expires_at = None;
        let item = rows::load_item(w.conn(), workspace, task.item_id)
            .await?
            .ok_or(StoreError::NotFound("item"))?;
        let label =
            |v: &serde_json::Value| v.get("label").and_then(|l| l.as_str()).map(str::to_owned);
        let corrected = detail
            .get("label")
            .and_then(|l| l.as_str())
            .map(str::to_owned);
        w.outcome(
            workspace,
            NewOutcome {
                policy: item.policy.clone(),
                item_id: item.id,
                source: OutcomeSource::Audit,
                score: item.verdict.confidence.raw.get(),
                correct: !escaped,
                inclusion: task.probability,
                // Audits are drawn by the coin alone.
                representative: true,
                embedded: item.proposal.model.as_deref() == Some(loopgate_core::EMBEDDED_MODEL),
                text: (item.proposal.kind == loopgate_core::Kind::Label)
                    .then(|| item.input.text.clone()),
                proposed: label(&item.proposal.payload),
                label: if escaped {
                    corrected
                } else {
                    label(&item.proposal.payload)
                },
            },
            now,
        );
        w.audit(
            workspace,
            now,
            AuditEvent {
                item_id: Some(item.id),
                actor: reviewer,
                action: AuditAction::Audited,
                from: Some(item.status.as_str().to_owned()),
                to: Some(item.status.as_str().to_owned()),
                detail: json!({"audit_id": task.id, "escaped": escaped, "verdict": detail}),
            },
        );
        w.commit(&self.feed).await?;
        Ok((task, item))
    }

    async fn audits(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<AuditTask>> {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT {AUDIT_TASK_COLUMNS} FROM audits WHERE workspace = $1 AND policy = $2 ORDER BY created_at, id"
        )))
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(rows::audit_task)
        .collect()
    }

    async fn auto_approved(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<u64> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM items WHERE workspace = $1 AND policy = $2 AND status = 'auto_approved'",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_one(&self.pool)
        .await?;
        Ok(n.max(0) as u64)
    }

    async fn model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<(Vec<u8>, i64)>> {
        Ok(sqlx::query_as(
            "SELECT bytes, through_id FROM models WHERE workspace = $1 AND policy = $2",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn put_model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        bytes: Vec<u8>,
        through: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        // Servers save their models independently; the one that learned from more outcomes wins.
        sqlx::query(
            "INSERT INTO models (workspace, policy, bytes, through_id, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (workspace, policy) DO UPDATE SET bytes = excluded.bytes,
                 through_id = excluded.through_id, updated_at = excluded.updated_at
             WHERE excluded.through_id >= models.through_id",
        )
        .bind(workspace.as_str())
        .bind(policy.as_str())
        .bind(bytes)
        .bind(through)
        .bind(to_millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn decided_items(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        policy: Option<&PolicyName>,
        after: Option<ItemId>,
        limit: u32,
    ) -> StoreResult<Vec<Item>> {
        let docs: Vec<String> = sqlx::query_scalar(
            "SELECT doc FROM items WHERE workspace = $1 AND status IN ('approved', 'edited', 'rejected')
               AND updated_at >= $2 AND ($3::text IS NULL OR policy = $3) AND ($4::text IS NULL OR id > $4)
             ORDER BY id LIMIT $5",
        )
        .bind(workspace.as_str())
        .bind(to_millis(since))
        .bind(policy.map(|p| p.as_str().to_owned()))
        .bind(after.map(|a| a.to_string()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows::items(&docs)
    }

    fn subscribe(&self) -> broadcast::Receiver<ItemChanged> {
        self.feed.subscribe()
    }
}

impl PostgresStore {
    /// One round of [`Store::insert_items`]. `None` when a concurrent submit registered one of
    /// the keys first: nothing was written, and the caller runs the round again.
    async fn try_insert_items(
        &self,
        ws: &WorkspaceId,
        submitter: PrincipalId,
        items: &[NewItem],
    ) -> StoreResult<Option<Vec<Inserted>>> {
        let mut w = self.begin().await?;
        let keys: Vec<String> = items
            .iter()
            .filter_map(|n| n.idempotency.as_ref().map(|c| c.key.clone()))
            .collect();
        // Keys seen before: key -> (request hash, item id).
        let mut seen: std::collections::HashMap<String, (String, ItemId)> = Default::default();
        if !keys.is_empty() {
            let found: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT key, request_hash, item_id FROM idempotency_keys
                 WHERE workspace = $1 AND principal_id = $2 AND key = ANY($3)",
            )
            .bind(ws.as_str())
            .bind(submitter.to_string())
            .bind(&keys)
            .fetch_all(w.conn())
            .await?;
            for (key, hash, item) in found {
                seen.insert(key, (hash, parse(&item, "item id")?));
            }
        }
        // Decide, in order, what each entry is: new, or a replay of an earlier item (stored, or
        // new earlier in this call).
        enum Slot {
            New(usize),
            Replay(ItemId),
        }
        let mut slots = Vec::with_capacity(items.len());
        let mut fresh: Vec<&NewItem> = Vec::new();
        let mut new_keys: Vec<(String, String, ItemId, Timestamp)> = Vec::new();
        for (index, new) in items.iter().enumerate() {
            if let Some(claim) = &new.idempotency {
                if let Some((hash, item_id)) = seen.get(&claim.key) {
                    if *hash != claim.request_hash {
                        return Err(StoreError::IdempotencyMismatch {
                            key: claim.key.clone(),
                            index,
                        });
                    }
                    slots.push(Slot::Replay(*item_id));
                    continue;
                }
                seen.insert(claim.key.clone(), (claim.request_hash.clone(), new.item.id));
                new_keys.push((
                    claim.key.clone(),
                    claim.request_hash.clone(),
                    new.item.id,
                    new.item.created_at,
                ));
            }
            slots.push(Slot::New(fresh.len()));
            fresh.push(new);
        }
        if !new_keys.is_empty() {
            let registered = sqlx::query(
                "INSERT INTO idempotency_keys (workspace, principal_id, key, request_hash, item_id, created_at)
                 SELECT $1, $2, * FROM UNNEST($3::text[], $4::text[], $5::text[], $6::int8[])
                 ON CONFLICT (workspace, principal_id, key) DO NOTHING",
            )
            .bind(ws.as_str())
            .bind(submitter.to_string())
            .bind(new_keys.iter().map(|k| k.0.clone()).collect::<Vec<_>>())
            .bind(new_keys.iter().map(|k| k.1.clone()).collect::<Vec<_>>())
            .bind(new_keys.iter().map(|k| k.2.to_string()).collect::<Vec<_>>())
            .bind(new_keys.iter().map(|k| to_millis(k.3)).collect::<Vec<_>>())
            .execute(w.conn())
            .await?
            .rows_affected();
            if registered != new_keys.len() as u64 {
                // Another submit got there first; dropping `w` rolls this round back.
                return Ok(None);
            }
        }
        let new_items: Vec<&Item> = fresh.iter().map(|n| &n.item).collect();
        rows::insert_items(w.conn(), &new_items).await?;
        let audited: Vec<&NewItem> = fresh
            .iter()
            .copied()
            .filter(|n| n.audit.is_some())
            .collect();
        if !audited.is_empty() {
            sqlx::query(
                "INSERT INTO audits (id, workspace, policy, item_id, probability, status, created_at)
                 SELECT id, $1, policy, item_id, probability, 'pending', created_at
                 FROM UNNEST($2::text[], $3::text[], $4::text[], $5::float8[], $6::int8[])
                      AS a(id, policy, item_id, probability, created_at)",
            )
            .bind(ws.as_str())
            .bind(audited.iter().map(|_| LeaseId::new().to_string()).collect::<Vec<_>>())
            .bind(audited.iter().map(|n| n.item.policy.as_str().to_owned()).collect::<Vec<_>>())
            .bind(audited.iter().map(|n| n.item.id.to_string()).collect::<Vec<_>>())
            .bind(audited.iter().map(|n| n.audit.unwrap_or(1.0)).collect::<Vec<_>>())
            .bind(audited.iter().map(|n| to_millis(n.item.created_at)).collect::<Vec<_>>())
            .execute(w.conn())
            .await?;
        }
        for new in &fresh {
            w.audit(ws, new.item.created_at, new.item.submitted_event());
            w.changed(&new.item);
        }
        // Replays of stored items are read inside the transaction, after the keys were checked.
        let stored: Vec<String> = slots
            .iter()
            .filter_map(|s| match s {
                Slot::Replay(id) if !fresh.iter().any(|n| n.item.id == *id) => Some(id.to_string()),
                _ => None,
            })
            .collect();
        let mut replayed: std::collections::HashMap<ItemId, Item> = Default::default();
        if !stored.is_empty() {
            let docs: Vec<String> =
                sqlx::query_scalar("SELECT doc FROM items WHERE workspace = $1 AND id = ANY($2)")
                    .bind(ws.as_str())
                    .bind(&stored)
                    .fetch_all(w.conn())
                    .await?;
            for item in rows::items(&docs)? {
                replayed.insert(item.id, item);
            }
        }
        w.commit(&self.feed).await?;
        slots
            .into_iter()
            .map(|slot| match slot {
                Slot::New(i) => Ok(Inserted {
                    item: fresh[i].item.clone(),
                    replayed: false,
                    json: None,
                }),
                Slot::Replay(id) => {
                    let item = match replayed.get(&id) {
                        Some(item) => item.clone(),
                        None => fresh
                            .iter()
                            .find(|n| n.item.id == id)
                            .map(|n| n.item.clone())
                            .ok_or(StoreError::NotFound("item"))?,
                    };
                    Ok(Inserted {
                        item,
                        replayed: true,
                        json: None,
                    })
                }
            })
            .collect::<StoreResult<Vec<_>>>()
            .map(Some)
    }
}

/// Leases the most urgent item the reviewer may take: lane, then deadline, then id, skipping
/// items another transaction holds (being claimed or decided right now, on any server).
/// Items without a lane cannot be claimed (as in SQLite, where `lane IN (...)` excludes them).
async fn claim_one(
    w: &mut Write,
    ws: &WorkspaceId,
    request: &ClaimRequest,
) -> StoreResult<Option<Item>> {
    let Some(highest) = request.reviewer.highest_role() else {
        return Ok(None);
    };
    let roles: Vec<i16> = if request.roles.is_empty() {
        Role::ALL
            .iter()
            .filter(|r| **r <= highest)
            .map(|r| i16::from(r.rank()))
            .collect()
    } else {
        request
            .roles
            .iter()
            .filter(|r| **r <= highest)
            .map(|r| i16::from(r.rank()))
            .collect()
    };
    if roles.is_empty() {
        return Ok(None);
    }
    let mut lanes: Vec<i16> = if request.lanes.is_empty() {
        Lane::ALL.iter().map(|l| i16::from(l.rank())).collect()
    } else {
        request.lanes.iter().map(|l| i16::from(l.rank())).collect()
    };
    lanes.sort_unstable();
    lanes.dedup();
    // One lane at a time, most urgent first: with the lane fixed, the claim index
    // (workspace, lane, due_at, id) yields candidates already in order, so the first unlocked
    // one is found without sorting the queue, whatever the planner's statistics say.
    let mut found: Option<(String, Option<i64>)> = None;
    for lane in lanes {
        found = sqlx::query_as(
            "SELECT i.doc,
                    (SELECT p.lease_seconds FROM policies p WHERE p.workspace = i.workspace AND p.name = i.policy)
             FROM items i
             WHERE i.workspace = $1 AND i.claimable AND i.lane = $2 AND i.required_role = ANY($3)
               AND (i.proposer IS NULL OR i.proposer <> $4)
             ORDER BY i.due_at, i.id LIMIT 1
             FOR UPDATE OF i SKIP LOCKED",
        )
        .bind(ws.as_str())
        .bind(lane)
        .bind(&roles)
        .bind(request.reviewer.actor.id.to_string())
        .fetch_optional(w.conn())
        .await?;
        if found.is_some() {
            break;
        }
    }
    let Some((doc, lease_seconds)) = found else {
        return Ok(None);
    };
    let mut item: Item = serde_json::from_str(&doc)?;
    let lease_for = lease_seconds.map_or(request.default_lease, Duration::seconds);
    let event = item.claim(&request.reviewer, request.lease_id, request.now, lease_for)?;
    rows::update_item(w.conn(), &item).await?;
    w.audit(ws, request.now, event);
    w.changed(&item);
    Ok(Some(item))
}

async fn save_policy_state(
    conn: &mut PgConnection,
    ws: &WorkspaceId,
    policy: &PolicyName,
    state: &serde_json::Value,
    now: Timestamp,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO policy_state (workspace, policy, state, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace, policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
    )
    .bind(ws.as_str())
    .bind(policy.as_str())
    .bind(serde_json::to_string(state)?)
    .bind(to_millis(now))
    .execute(conn)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn redacted_urls_keep_where_they_point_and_lose_every_password() {
        assert_eq!(
            redact("postgres://loopgate:s3cret@db.internal:5432/loopgate"),
            "postgres://loopgate:***@db.internal:5432/loopgate"
        );
        assert_eq!(
            redact(
                "postgres://db/loopgate?user=lg&password=s3cret&sslmode=require&sslpassword=k3y"
            ),
            "postgres://db/loopgate?user=lg&password=***&sslmode=require&sslpassword=***"
        );
        assert_eq!(
            redact("postgres://127.0.0.1:5432/test"),
            "postgres://127.0.0.1:5432/test"
        );
        let dsn = redact("host=db user=lg password=s3cret dbname=loopgate");
        assert!(!dsn.contains("s3cret") && !dsn.contains("db"), "{dsn}");
    }
}
