//! The embedded store: one SQLite file in WAL mode, written by a single thread with group commit
//! and read through a pool of read-only connections.
//!
//! Why rusqlite rather than sqlx here: SQLite runs in-process, so direct calls on a dedicated
//! writer thread avoid a channel hop per statement and let a whole batch of writes share one
//! transaction and one fsync. PostgreSQL, which is remote and concurrent, goes through sqlx.

mod checkpoint;
mod rows;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::Duration;
use loopgate_core::audit::{
    AuditAction, AuditActor, AuditEntry, AuditEvent, ChainHead, ChainVerifier, PreparedEvent,
};
use loopgate_core::clock::to_millis;
use loopgate_core::{
    Item, ItemId, KeyId, Lane, LeaseId, Policy, PolicyName, PolicySpec, Principal, PrincipalId,
    Review, Role, Status, Timestamp, WorkspaceId,
};
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::{Connection, MAIN_DB, OpenFlags, OptionalExtension, params, params_from_iter};
use rusqlite_migration::{M, Migrations};
use serde_json::json;
use tokio::sync::{Semaphore, broadcast};

use self::checkpoint::Checkpointer;
use self::rows::{AUDIT_COLUMNS, AUDIT_TASK_COLUMNS, Chain, PRINCIPAL_COLUMNS, parse, time};
use self::writer::Writer;
use crate::{
    AuditTask, ChainReport, ClaimRequest, CodeRecord, HistoryEntry, Inserted, ItemChanged,
    ItemFilter, ItemMutation, KeyRecord, KillSwitch, NewAccount, NewItem, NewKey, NewOutcome,
    NewSession, OutcomeRow, OutcomeSource, PolicyStateChange, QueueStats, RoutingContext, Session,
    Store, StoreError, StoreResult, StoredPolicy,
};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "loopgate.db";

/// Connections in the read pool.
const READERS: u32 = 4;
/// Page cache of the writer connection, KiB.
const WRITER_CACHE_KIB: i64 = 32 * 1024;
/// How long a connection waits for another process's lock before reporting the database busy.
const BUSY_TIMEOUT_MS: u32 = 5_000;

/// A new item with what inserting it needs rendered beforehand, off the writer thread.
struct PreparedItem {
    new: NewItem,
    /// The item's id as text.
    id: String,
    /// The item's JSON document.
    doc: String,
    /// Its `submitted` audit event.
    submitted: PreparedEvent,
    /// The submitter's id as text.
    actor_id: Option<String>,
}

/// Batches at least this long are rendered on a thread of their own while the writer inserts.
const STREAMED_RENDER: usize = 256;
/// Items a streamed batch renders before handing them to the writer.
const RENDER_CHUNK: usize = 64;

impl PreparedItem {
    fn new(new: NewItem) -> StoreResult<Self> {
        let submitted = new.item.submitted_prepared();
        Ok(Self {
            id: new.item.id.to_string(),
            doc: serde_json::to_string(&new.item)?,
            actor_id: submitted.actor.id.map(|i| i.to_string()),
            submitted,
            new,
        })
    }
}

/// A batch's new items as the writer takes them, in order: rendered already, or still being
/// rendered on another thread.
enum Rendered {
    /// Every item, rendered.
    Ready(std::vec::IntoIter<PreparedItem>),
    /// Chunks from the rendering thread; `left` counts the items still to come.
    Streaming {
        chunks: std::sync::mpsc::Receiver<StoreResult<Vec<PreparedItem>>>,
        current: std::vec::IntoIter<PreparedItem>,
        left: usize,
    },
}

impl Rendered {
    /// Renders `items`. A small batch is rendered here, on the caller's task. A large one is
    /// rendered a chunk at a time on a thread of its own, so that the writer binds and links
    /// the first items while the rest are rendered: under a lone sender of large batches the
    /// writer and the renderer then share the two cores instead of taking turns.
    fn start(items: Vec<NewItem>) -> StoreResult<Self> {
        let left = items.len();
        if left < STREAMED_RENDER {
            return Ok(Self::Ready(
                items
                    .into_iter()
                    .map(PreparedItem::new)
                    .collect::<StoreResult<Vec<_>>>()?
                    .into_iter(),
            ));
        }
        let (send, chunks) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("loopgate-render".into())
            .spawn(move || {
                let mut items = items.into_iter();
                loop {
                    let chunk: Vec<NewItem> = items.by_ref().take(RENDER_CHUNK).collect();
                    if chunk.is_empty() {
                        break;
                    }
                    let rendered = chunk.into_iter().map(PreparedItem::new).collect();
                    // The writer stops listening when the write failed; so does this thread.
                    if send.send(rendered).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| StoreError::Internal(format!("cannot start a rendering thread: {e}")))?;
        Ok(Self::Streaming {
            chunks,
            current: Vec::new().into_iter(),
            left,
        })
    }

    /// How many items the batch holds that have not been taken yet.
    fn len(&self) -> usize {
        match self {
            Self::Ready(items) => items.len(),
            Self::Streaming { current, left, .. } => current.len() + left,
        }
    }
}

impl Iterator for Rendered {
    type Item = StoreResult<PreparedItem>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Ready(items) => items.next().map(Ok),
            Self::Streaming {
                chunks,
                current,
                left,
            } => loop {
                if let Some(item) = current.next() {
                    return Some(Ok(item));
                }
                if *left == 0 {
                    return None;
                }
                match chunks.recv() {
                    Ok(Ok(chunk)) => {
                        *left = left.saturating_sub(chunk.len());
                        *current = chunk.into_iter();
                    }
                    Ok(Err(e)) => {
                        *left = 0;
                        return Some(Err(e));
                    }
                    // The thread ended before the last item: it panicked. Nothing of the batch
                    // may be kept.
                    Err(_) => {
                        *left = 0;
                        return Some(Err(StoreError::Internal(
                            "rendering a batch of items failed".into(),
                        )));
                    }
                }
            },
        }
    }
}

fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(include_str!("../../migrations/sqlite/0001_init.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0002_people_and_switches.sql"
        )),
        M::up(include_str!("../../migrations/sqlite/0003_learning.sql")),
        M::up(include_str!(
            "../../migrations/sqlite/0004_claim_and_lease_indexes.sql"
        )),
        M::up(include_str!(
            "../../migrations/sqlite/0005_representative_outcomes_and_intent_switches.sql"
        )),
    ])
}

/// The embedded SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: r2d2::Pool<SqliteConnectionManager>,
    /// One per reader connection: a read holds one while it uses a connection.
    read_permits: Arc<Semaphore>,
    events: broadcast::Sender<ItemChanged>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database in `data_dir`, and brings its schema up to date.
    /// Fails with `Unavailable`, naming the path, when the directory cannot be created or written.
    pub fn open(data_dir: &Path) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot create data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        // SQLite opens a file it may not write read-only rather than fail: the server would then
        // start and answer every write "unavailable, retry" until someone fixed the disk.
        if conn.is_readonly(MAIN_DB).unwrap_or(true) {
            return Err(StoreError::Unavailable(format!(
                "{} cannot be written (a read-only file or file system): Loopgate needs to write \
                 its data directory {}",
                path.display(),
                data_dir.display()
            )));
        }
        configure(&conn)
            .map_err(|e| StoreError::Unavailable(format!("cannot use {}: {e}", path.display())))?;
        migrations().to_latest(&mut conn).map_err(|e| {
            StoreError::Unavailable(format!("cannot migrate {}: {e}", path.display()))
        })?;

        configure_writer(&conn)
            .map_err(|e| StoreError::Unavailable(format!("cannot use {}: {e}", path.display())))?;

        let checkpoint_conn = Connection::open(&path)
            .and_then(|c| configure(&c).map(|()| c))
            .map_err(|e| StoreError::Unavailable(format!("cannot open {}: {e}", path.display())))?;
        let checkpoints = Checkpointer::spawn(checkpoint_conn).map_err(|e| {
            StoreError::Internal(format!("cannot start the checkpoint thread: {e}"))
        })?;
        let (events, _) = broadcast::channel(4096);
        let writer = Writer::spawn(conn, events.clone(), checkpoints)
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        let manager = SqliteConnectionManager::file(&path)
            .with_flags(OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_init(|c| {
                c.busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
                c.pragma_update(None, "query_only", true)
            });
        let readers = r2d2::Pool::builder()
            .max_size(READERS)
            .build(manager)
            .map_err(|e| {
                StoreError::Unavailable(format!("cannot open readers on {}: {e}", path.display()))
            })?;
        Ok(Self {
            path,
            writer,
            readers,
            read_permits: Arc::new(Semaphore::new(READERS as usize)),
            events,
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs a read that may take a while (a scan, a page of documents) on a blocking thread.
    async fn read<T, F>(&self, work: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        // Waiting for a connection here, rather than in the pool, keeps a burst of reads (ten
        // thousand long-polls waking at once) from starting a blocking thread each.
        let permit = self
            .read_permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite readers have been closed".into()))?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.get()?;
            work(&conn)
        })
        .await
        .map_err(|e| StoreError::Internal(format!("a read failed: {e}")))?
    }

    /// Runs a point read (one row by its key: an API key, a policy, an item) on the calling
    /// task. Such a read takes microseconds on cached pages, less than handing it to a blocking
    /// thread and back; in WAL mode no writer or checkpoint makes it wait. The permit guarantees
    /// a free connection, so taking one from the pool does not block.
    async fn read_now<T, F>(&self, work: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T>,
    {
        let _permit =
            self.read_permits.acquire().await.map_err(|_| {
                StoreError::Unavailable("the SQLite readers have been closed".into())
            })?;
        let conn = self.readers.get()?;
        work(&conn)
    }
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_millis(u64::from(BUSY_TIMEOUT_MS)))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk before it is acknowledged, even across power loss.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// The writer connection's own settings, on top of [`configure`].
fn configure_writer(conn: &Connection) -> rusqlite::Result<()> {
    // A group commit touches many pages; a small cache makes SQLite spill dirty pages to the log
    // in the middle of the transaction and write hot pages (index edges) several times over.
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    // Each job runs in a savepoint; its rollback journal stays in memory instead of a temp file.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    // Checkpoints run on their own thread (see `checkpoint`), not inside the writer's commits.
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    // When the log starts over, its file is cut back to this size instead of keeping the
    // largest size it ever reached. It is twice the length at which the writer makes the log
    // start over (`checkpoint::CATCH_UP_FRAMES`), so that under a steady load the file keeps its
    // blocks from one round to the next: a commit that writes past the end of the file makes
    // the file system allocate and zero new blocks, which costs more than the write itself.
    conn.pragma_update(
        None,
        "journal_size_limit",
        2 * checkpoint::CATCH_UP_FRAMES * 4096,
    )?;
    Ok(())
}

fn policy_row(r: &rusqlite::Row<'_>) -> StoreResult<StoredPolicy> {
    let spec: String = r.get(0)?;
    let version: u32 = r.get(1)?;
    let spec: PolicySpec = serde_json::from_str(&spec)?;
    let policy = spec
        .validate()
        .map_err(|p| StoreError::Internal(format!("stored policy is invalid: {}", p.join("; "))))?;
    Ok(StoredPolicy {
        policy,
        version,
        updated_at: time(r.get(2)?)?,
    })
}

fn read_policy(
    c: &Connection,
    ws: &WorkspaceId,
    name: &PolicyName,
) -> StoreResult<Option<StoredPolicy>> {
    c.prepare_cached(
        "SELECT spec, version, updated_at FROM policies WHERE workspace = ?1 AND name = ?2",
    )?
    .query_row(params![ws.as_str(), name.as_str()], |r| Ok(policy_row(r)))
    .optional()?
    .transpose()
}

/// The policy-wide kill switch of a policy, if tripped.
fn read_kill_switch(
    c: &Connection,
    ws: &WorkspaceId,
    policy: &PolicyName,
) -> StoreResult<Option<KillSwitch>> {
    let mut stmt = c.prepare_cached(
        "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = ?1 AND policy = ?2 AND intent = ''",
    )?;
    let mut rows = stmt.query(params![ws.as_str(), policy.as_str()])?;
    match rows.next()? {
        Some(r) => Ok(Some(rows::kill_switch(r)?)),
        None => Ok(None),
    }
}

/// Every tripped kill switch of a policy, policy-wide first.
fn read_kill_switches(
    c: &Connection,
    ws: &WorkspaceId,
    policy: &PolicyName,
) -> StoreResult<Vec<KillSwitch>> {
    let mut stmt = c.prepare_cached(
        "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = ?1 AND policy = ?2 ORDER BY intent",
    )?;
    let mut rows = stmt.query(params![ws.as_str(), policy.as_str()])?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(rows::kill_switch(r)?);
    }
    Ok(out)
}

fn read_policy_state(
    c: &Connection,
    ws: &WorkspaceId,
    policy: &PolicyName,
) -> StoreResult<Option<serde_json::Value>> {
    let state: Option<String> = c
        .prepare_cached("SELECT state FROM policy_state WHERE workspace = ?1 AND policy = ?2")?
        .query_row(params![ws.as_str(), policy.as_str()], |r| r.get(0))
        .optional()?;
    state.map(|s| Ok(serde_json::from_str(&s)?)).transpose()
}

fn key_row(r: &rusqlite::Row<'_>) -> StoreResult<KeyRecord> {
    let id: String = r.get(5)?;
    let revoked: Option<i64> = r.get(8)?;
    Ok(KeyRecord {
        id: parse(&id, "key id")?,
        principal: rows::principal(r)?,
        prefix: r.get(6)?,
        created_at: time(r.get(7)?)?,
        revoked_at: revoked.map(time).transpose()?,
    })
}

const KEY_SELECT: &str = "SELECT p.id, p.workspace, p.name, p.access, p.reviewer_roles, k.id, k.prefix, k.created_at, k.revoked_at
     FROM api_keys k JOIN principals p ON p.id = k.principal_id";

/// Returns leases of `workspace` (or of every workspace) that lapsed by `now` to their queues.
fn expire(
    conn: &Connection,
    workspace: Option<&WorkspaceId>,
    now: Timestamp,
    limit: u32,
    changed: &mut Vec<ItemChanged>,
) -> StoreResult<u32> {
    let due: Vec<(String, String)> = match workspace {
        Some(ws) => conn
            .prepare_cached(
                "SELECT workspace, id FROM items
                 WHERE status = 'in_review' AND lease_expires_at <= ?1 AND workspace = ?2
                 ORDER BY lease_expires_at LIMIT ?3",
            )?
            .query_map(params![to_millis(now), ws.as_str(), limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?,
        None => conn
            .prepare_cached(
                "SELECT workspace, id FROM items
                 WHERE status = 'in_review' AND lease_expires_at <= ?1
                 ORDER BY lease_expires_at LIMIT ?2",
            )?
            .query_map(params![to_millis(now), limit], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<Result<_, _>>()?,
    };
    let mut expired = 0;
    for (ws, id) in due {
        let ws: WorkspaceId = parse(&ws, "workspace")?;
        let id: ItemId = parse(&id, "item id")?;
        let Some(mut item) = rows::load_item(conn, &ws, id)? else {
            continue;
        };
        let Ok(event) = item.expire_lease(now) else {
            continue;
        };
        let mut chain = Chain::load(conn, &ws)?;
        rows::update_item(conn, &item)?;
        chain.append(conn, now, event)?;
        chain.save(conn)?;
        changed.push(rows::changed(&item));
        expired += 1;
    }
    Ok(expired)
}

#[async_trait]
impl Store for SqliteStore {
    async fn has_keys(&self) -> StoreResult<bool> {
        self.read(|c| Ok(c.query_row("SELECT EXISTS (SELECT 1 FROM api_keys)", [], |r| r.get(0))?))
            .await
    }

    async fn create_key(
        &self,
        key: NewKey,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        self.writer
            .write(move |c, _| {
                rows::ensure_workspace(c, &key.workspace, now)?;
                let principal = rows::upsert_principal(
                    c,
                    &key.workspace,
                    &key.name,
                    key.access,
                    &key.reviewer_roles,
                    now,
                )?;
                let id = KeyId::new();
                c.execute(
                    "INSERT INTO api_keys (id, principal_id, workspace, secret_hash, prefix, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        id.to_string(),
                        principal.id.to_string(),
                        key.workspace.as_str(),
                        &key.secret_hash[..],
                        key.prefix,
                        to_millis(now)
                    ],
                )
                .map_err(|e| match e.sqlite_error_code() {
                    Some(rusqlite::ErrorCode::ConstraintViolation) => {
                        StoreError::Conflict("this key secret is already registered; generate a new one".into())
                    }
                    _ => e.into(),
                })?;
                let mut chain = Chain::load(c, &key.workspace)?;
                chain.append(
                    c,
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
                )?;
                chain.save(c)?;
                Ok(KeyRecord {
                    id,
                    principal,
                    prefix: key.prefix,
                    created_at: now,
                    revoked_at: None,
                })
            })
            .await
    }

    async fn principal_by_key(&self, secret_hash: [u8; 32]) -> StoreResult<Option<Principal>> {
        self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT {PRINCIPAL_COLUMNS} FROM api_keys k JOIN principals p ON p.id = k.principal_id
                 WHERE k.secret_hash = ?1 AND k.revoked_at IS NULL"
            ))?
            .query_row([&secret_hash[..]], |r| Ok(rows::principal(r)))
            .optional()?
            .transpose()
        })
        .await
    }

    async fn list_keys(
        &self,
        workspace: &WorkspaceId,
        before: Option<KeyId>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>> {
        let ws = workspace.clone();
        let before = before.map(|k| k.to_string());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "{KEY_SELECT} WHERE k.workspace = ?1
                   AND (?2 IS NULL OR (k.created_at, k.id) <
                        (SELECT created_at, id FROM api_keys WHERE workspace = ?1 AND id = ?2))
                 ORDER BY k.created_at DESC, k.id DESC LIMIT ?3"
            ))?;
            let mut rows = stmt.query(params![ws.as_str(), before, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(key_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn revoke_key(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, _| {
                let revoked = c.execute(
                    "UPDATE api_keys SET revoked_at = ?3
                     WHERE workspace = ?1 AND id = ?2 AND revoked_at IS NULL",
                    params![ws.as_str(), id.to_string(), to_millis(now)],
                )?;
                let record = c
                    .prepare_cached(&format!("{KEY_SELECT} WHERE k.id = ?1 AND k.workspace = ?2"))?
                    .query_row(params![id.to_string(), ws.as_str()], |r| Ok(key_row(r)))
                    .optional()?
                    .transpose()?
                    .ok_or(StoreError::NotFound("key"))?;
                if revoked == 0 {
                    // Already revoked: nothing changed, so nothing to audit.
                    return Ok(record);
                }
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: None,
                        actor,
                        action: AuditAction::KeyRevoked,
                        from: None,
                        to: None,
                        detail: json!({"key_id": id, "prefix": record.prefix, "principal": record.principal.name}),
                    },
                )?;
                chain.save(c)?;
                Ok(record)
            })
            .await
    }

    async fn decision_codes(&self, workspace: &WorkspaceId) -> StoreResult<Vec<CodeRecord>> {
        let ws = workspace;
        self.read_now(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT code, description FROM decision_codes WHERE workspace = ?1 ORDER BY code",
            )?;
            let codes = stmt
                .query_map([ws.as_str()], |r| {
                    Ok(CodeRecord {
                        code: r.get(0)?,
                        description: r.get(1)?,
                    })
                })?
                .collect::<Result<_, _>>()?;
            Ok(codes)
        })
        .await
    }

    async fn define_code(
        &self,
        workspace: &WorkspaceId,
        code: CodeRecord,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<CodeRecord> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, _| {
                let before: Option<String> = c
                    .query_row(
                        "SELECT description FROM decision_codes WHERE workspace = ?1 AND code = ?2",
                        params![ws.as_str(), code.code],
                        |r| r.get(0),
                    )
                    .optional()?;
                if before.as_deref() == Some(code.description.as_str()) {
                    return Ok(code);
                }
                c.execute(
                    "INSERT INTO decision_codes (workspace, code, description, created_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace, code) DO UPDATE SET description = excluded.description",
                    params![ws.as_str(), code.code, code.description, to_millis(now)],
                )?;
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: None,
                        actor,
                        action: AuditAction::CodeDefined,
                        from: None,
                        to: None,
                        detail: json!({"code": code.code, "before": before, "after": code.description}),
                    },
                )?;
                chain.save(c)?;
                Ok(code)
            })
            .await
    }

    async fn put_policy(
        &self,
        workspace: &WorkspaceId,
        policy: Policy,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, _| {
                let previous: Option<(u32, String)> = c
                    .query_row(
                        "SELECT version, spec FROM policies WHERE workspace = ?1 AND name = ?2",
                        params![ws.as_str(), policy.name.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()?;
                let version = previous.as_ref().map_or(1, |(v, _)| v + 1);
                let spec = serde_json::to_string(&policy)?;
                c.execute(
                    "INSERT INTO policies (workspace, name, version, spec, lease_seconds, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (workspace, name) DO UPDATE SET version = excluded.version, spec = excluded.spec,
                         lease_seconds = excluded.lease_seconds, updated_at = excluded.updated_at",
                    params![ws.as_str(), policy.name.as_str(), version, spec, policy.lease_seconds, to_millis(now)],
                )?;
                c.execute(
                    "INSERT INTO policy_versions (workspace, name, version, spec, created_at, created_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![ws.as_str(), policy.name.as_str(), version, spec, to_millis(now), actor.name],
                )?;
                let before = previous
                    .map(|(_, s)| serde_json::from_str::<serde_json::Value>(&s))
                    .transpose()?;
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: None,
                        actor,
                        action: AuditAction::PolicyPut,
                        from: None,
                        to: None,
                        detail: json!({"policy": policy.name, "version": version, "before": before, "after": policy}),
                    },
                )?;
                chain.save(c)?;
                Ok(StoredPolicy {
                    policy,
                    version,
                    updated_at: now,
                })
            })
            .await
    }

    async fn get_policy(
        &self,
        workspace: &WorkspaceId,
        name: &PolicyName,
    ) -> StoreResult<Option<StoredPolicy>> {
        self.read_now(|c| read_policy(c, workspace, name)).await
    }

    async fn routing_context(
        &self,
        workspace: &WorkspaceId,
        name: &PolicyName,
    ) -> StoreResult<Option<RoutingContext>> {
        self.read_now(|c| {
            // One read transaction: the three are seen at the same instant.
            let tx = c.unchecked_transaction()?;
            let Some(policy) = read_policy(&tx, workspace, name)? else {
                return Ok(None);
            };
            Ok(Some(RoutingContext {
                policy,
                kill_switches: read_kill_switches(&tx, workspace, name)?,
                state: read_policy_state(&tx, workspace, name)?,
            }))
        })
        .await
    }

    async fn list_policies(&self, workspace: &WorkspaceId) -> StoreResult<Vec<StoredPolicy>> {
        let ws = workspace.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT spec, version, updated_at FROM policies WHERE workspace = ?1 ORDER BY name",
            )?;
            let mut rows = stmt.query([ws.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(policy_row(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn insert_items(
        &self,
        workspace: &WorkspaceId,
        submitter: PrincipalId,
        items: Vec<NewItem>,
    ) -> StoreResult<Vec<Inserted>> {
        let ws = workspace.clone();
        let submitter = submitter.to_string();
        // Everything that needs neither the database nor the chain head is rendered off the
        // writer thread, which every write in the process waits for: it only looks up keys,
        // binds rows and links hashes.
        let prepared = Rendered::start(items)?;
        self.writer
            .write(move |c, changed| {
                let mut chain = Chain::load(c, &ws)?;
                let mut out = Vec::with_capacity(prepared.len());
                for (index, p) in prepared.enumerate() {
                    let PreparedItem {
                        new,
                        id,
                        doc,
                        submitted,
                        actor_id,
                    } = p?;
                    if let Some(claim) = &new.idempotency {
                        let seen: Option<(String, String)> = c
                            .prepare_cached(
                                "SELECT request_hash, item_id FROM idempotency_keys
                                 WHERE workspace = ?1 AND principal_id = ?2 AND key = ?3",
                            )?
                            .query_row(params![ws.as_str(), submitter, claim.key], |r| {
                                Ok((r.get(0)?, r.get(1)?))
                            })
                            .optional()?;
                        if let Some((hash, item_id)) = seen {
                            if hash != claim.request_hash {
                                return Err(StoreError::IdempotencyMismatch {
                                    key: claim.key.clone(),
                                    index,
                                });
                            }
                            let item = rows::load_item(c, &ws, parse(&item_id, "item id")?)?
                                .ok_or(StoreError::NotFound("item"))?;
                            out.push(Inserted {
                                item,
                                replayed: true,
                                json: None,
                            });
                            continue;
                        }
                        c.prepare_cached(
                            "INSERT INTO idempotency_keys (workspace, principal_id, key, request_hash, item_id, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )?
                        .execute(params![
                            ws.as_str(),
                            submitter,
                            claim.key,
                            claim.request_hash,
                            id,
                            to_millis(new.item.created_at)
                        ])?;
                    }
                    rows::insert_item(c, &new.item, &id, &doc)?;
                    if let Some(probability) = new.audit {
                        c.prepare_cached(
                            "INSERT INTO audits (id, workspace, policy, item_id, probability, status, created_at)
                             VALUES (?1, ?2, ?3, ?4, ?5, 'pending', ?6)",
                        )?
                        .execute(params![
                            LeaseId::new().to_string(),
                            ws.as_str(),
                            new.item.policy.as_str(),
                            id,
                            probability,
                            to_millis(new.item.created_at)
                        ])?;
                    }
                    chain.append_prepared(c, &submitted, Some(&id), actor_id.as_deref())?;
                    changed.push(rows::changed(&new.item));
                    out.push(Inserted {
                        item: new.item,
                        replayed: false,
                        json: Some(doc),
                    });
                }
                chain.save(c)?;
                Ok(out)
            })
            .await
    }

    async fn get_item(&self, workspace: &WorkspaceId, id: ItemId) -> StoreResult<Option<Item>> {
        self.read_now(|c| rows::load_item(c, workspace, id)).await
    }

    async fn list_items(
        &self,
        workspace: &WorkspaceId,
        filter: &ItemFilter,
    ) -> StoreResult<Vec<Item>> {
        let ws = workspace.clone();
        let f = filter.clone();
        self.read(move |c| {
            let mut sql = String::from("SELECT doc FROM items WHERE workspace = ?");
            let mut args: Vec<rusqlite::types::Value> = vec![ws.to_string().into()];
            if !f.statuses.is_empty() {
                sql.push_str(&format!(
                    " AND status IN ({})",
                    vec!["?"; f.statuses.len()].join(", ")
                ));
                args.extend(f.statuses.iter().map(|s| s.as_str().to_owned().into()));
            }
            if let Some(p) = &f.policy {
                sql.push_str(" AND policy = ?");
                args.push(p.to_string().into());
            }
            if let Some(l) = f.lane {
                sql.push_str(" AND lane = ?");
                args.push(i64::from(l.rank()).into());
            }
            if let Some(cust) = &f.customer_id {
                sql.push_str(" AND customer_id = ?");
                args.push(cust.clone().into());
            }
            if let Some(by) = f.submitted_by {
                sql.push_str(" AND submitted_by = ?");
                args.push(by.to_string().into());
            }
            if let Some(before) = f.before {
                sql.push_str(" AND id < ?");
                args.push(before.to_string().into());
            }
            sql.push_str(" ORDER BY id DESC LIMIT ?");
            args.push(i64::from(f.limit).into());
            let mut stmt = c.prepare_cached(&sql)?;
            let docs: Vec<String> = stmt
                .query_map(params_from_iter(args), |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
        })
        .await
    }

    async fn mutate_item(
        &self,
        workspace: &WorkspaceId,
        id: ItemId,
        mutation: ItemMutation,
    ) -> StoreResult<Item> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, changed| {
                let mut item = rows::load_item(c, &ws, id)?.ok_or(StoreError::NotFound("item"))?;
                let effects = mutation(&mut item)?;
                rows::update_item(c, &item)?;
                if let Some(review) = &effects.review {
                    rows::insert_review(c, &ws, review)?;
                }
                if let Some(outcome) = &effects.outcome {
                    rows::insert_outcome(c, &ws, outcome, item.updated_at)?;
                }
                let mut chain = Chain::load(c, &ws)?;
                for event in effects.events {
                    chain.append(c, item.updated_at, event)?;
                }
                chain.save(c)?;
                changed.push(rows::changed(&item));
                Ok(item)
            })
            .await
    }

    async fn claim_next(
        &self,
        workspace: &WorkspaceId,
        request: ClaimRequest,
    ) -> StoreResult<Option<Item>> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, changed| {
                let now = request.now;
                expire(c, Some(&ws), now, 100, changed)?;
                let Some(highest) = request.reviewer.highest_role() else {
                    return Ok(None);
                };
                let roles: Vec<u8> = if request.roles.is_empty() {
                    Role::ALL.iter().filter(|r| **r <= highest).map(|r| r.rank()).collect()
                } else {
                    request.roles.iter().filter(|r| **r <= highest).map(|r| r.rank()).collect()
                };
                if roles.is_empty() {
                    return Ok(None);
                }
                let lanes: Vec<u8> = if request.lanes.is_empty() {
                    Lane::ALL.iter().map(|l| l.rank()).collect()
                } else {
                    request.lanes.iter().map(|l| l.rank()).collect()
                };
                let list = |v: &[u8]| v.iter().map(u8::to_string).collect::<Vec<_>>().join(", ");
                // The role and lane lists are small integers built above, never client text.
                let sql = format!(
                    "SELECT doc FROM items
                     WHERE workspace = ?1 AND claimable = 1 AND required_role IN ({}) AND lane IN ({})
                       AND (proposer IS NULL OR proposer <> ?2)
                     ORDER BY lane, due_at, id LIMIT 1",
                    list(&roles),
                    list(&lanes)
                );
                let doc: Option<String> = c
                    .prepare_cached(&sql)?
                    .query_row(params![ws.as_str(), request.reviewer.actor.id.to_string()], |r| r.get(0))
                    .optional()?;
                let Some(doc) = doc else {
                    return Ok(None);
                };
                let mut item: Item = serde_json::from_str(&doc)?;
                let lease_seconds: Option<u32> = c
                    .prepare_cached("SELECT lease_seconds FROM policies WHERE workspace = ?1 AND name = ?2")?
                    .query_row(params![ws.as_str(), item.policy.as_str()], |r| r.get(0))
                    .optional()?
                    .flatten();
                let lease_for = lease_seconds.map_or(request.default_lease, |s| Duration::seconds(i64::from(s)));
                let event = item.claim(&request.reviewer, request.lease_id, now, lease_for)?;
                rows::update_item(c, &item)?;
                let mut chain = Chain::load(c, &ws)?;
                chain.append(c, now, event)?;
                chain.save(c)?;
                changed.push(rows::changed(&item));
                Ok(Some(item))
            })
            .await
    }

    async fn expire_leases(&self, now: Timestamp, limit: u32) -> StoreResult<u32> {
        self.writer
            .write(move |c, changed| expire(c, None, now, limit, changed))
            .await
    }

    async fn reviews(&self, workspace: &WorkspaceId, item: ItemId) -> StoreResult<Vec<Review>> {
        // An item has a handful of reviews at most.
        let ws = workspace;
        self.read_now(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM reviews WHERE workspace = ?1 AND item_id = ?2 ORDER BY decided_at, id",
            )?;
            let docs: Vec<String> = stmt
                .query_map(params![ws.as_str(), item.to_string()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
        })
        .await
    }

    async fn customer_history(
        &self,
        workspace: &WorkspaceId,
        customer_id: &str,
        except: ItemId,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>> {
        let (ws, customer) = (workspace, customer_id);
        self.read_now(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, policy, status, created_at FROM items
                 WHERE workspace = ?1 AND customer_id = ?2 AND id <> ?3 ORDER BY id DESC LIMIT ?4",
            )?;
            let mut rows = stmt.query(params![ws.as_str(), customer, except.to_string(), limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let policy: String = r.get(1)?;
                let status: String = r.get(2)?;
                out.push(HistoryEntry {
                    id: parse(&id, "item id")?,
                    policy: parse(&policy, "policy name")?,
                    status: parse::<Status>(&status, "status")?,
                    created_at: time(r.get(3)?)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn item_audit(
        &self,
        workspace: &WorkspaceId,
        item: ItemId,
    ) -> StoreResult<Vec<AuditEntry>> {
        let ws = workspace.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE item_id = ?1 AND workspace = ?2 ORDER BY seq"
            ))?;
            let mut rows = stmt.query(params![item.to_string(), ws.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::audit_entry(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn verify_audit(&self) -> StoreResult<Vec<ChainReport>> {
        self.read(|c| {
            // One read transaction: the heads and the log are seen at the same instant.
            let tx = c.unchecked_transaction()?;
            let mut heads = std::collections::BTreeMap::new();
            {
                let mut stmt = tx.prepare("SELECT workspace, seq, hash FROM audit_heads")?;
                let mut rows = stmt.query([])?;
                while let Some(r) = rows.next()? {
                    let ws: String = r.get(0)?;
                    heads.insert(
                        ws,
                        ChainHead {
                            seq: r.get(1)?,
                            hash: r.get(2)?,
                        },
                    );
                }
            }
            let mut workspaces: std::collections::BTreeSet<String> =
                heads.keys().cloned().collect();
            {
                let mut stmt = tx.prepare("SELECT DISTINCT workspace FROM audit_log")?;
                let found: Vec<String> = stmt
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                workspaces.extend(found);
            }
            let mut reports = Vec::new();
            for ws in workspaces {
                let workspace: WorkspaceId = parse(&ws, "workspace")?;
                let mut verifier = ChainVerifier::new(workspace.clone());
                let mut stmt = tx.prepare(&format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE workspace = ?1 ORDER BY seq"
                ))?;
                let mut rows = stmt.query([&ws])?;
                let mut broken = None;
                while let Some(r) = rows.next()? {
                    if let Err(b) = verifier.push(&rows::audit_entry(r)?) {
                        broken = Some(b);
                        break;
                    }
                }
                let result = match broken {
                    Some(b) => Err(b),
                    // A chain without a recorded head must be empty; an empty head stands for that.
                    None => verifier.finish(Some(heads.get(&ws).unwrap_or(&ChainHead::genesis()))),
                };
                reports.push(ChainReport { workspace, result });
            }
            Ok(reports)
        })
        .await
    }

    async fn set_account(
        &self,
        account: NewAccount,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<Principal> {
        self.writer
            .write(move |c, _| {
                rows::ensure_workspace(c, &account.workspace, now)?;
                let principal = rows::upsert_principal(
                    c,
                    &account.workspace,
                    &account.name,
                    account.access,
                    &account.reviewer_roles,
                    now,
                )?;
                c.execute(
                    "INSERT INTO passwords (principal_id, hash, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (principal_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at",
                    params![principal.id.to_string(), account.password_hash, to_millis(now)],
                )?;
                let mut chain = Chain::load(c, &account.workspace)?;
                chain.append(
                    c,
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
                )?;
                chain.save(c)?;
                Ok(principal)
            })
            .await
    }

    async fn account(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> StoreResult<Option<(Principal, String)>> {
        let (ws, name) = (workspace.clone(), name.to_owned());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PRINCIPAL_COLUMNS}, w.hash FROM principals p JOIN passwords w ON w.principal_id = p.id
                 WHERE p.workspace = ?1 AND p.name = ?2"
            ))?;
            let mut rows = stmt.query(params![ws.as_str(), name])?;
            match rows.next()? {
                Some(r) => Ok(Some((rows::principal(r)?, r.get(5)?))),
                None => Ok(None),
            }
        })
        .await
    }

    async fn principals(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Principal>> {
        let ws = workspace.clone();
        self.read(move |c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {PRINCIPAL_COLUMNS} FROM principals p WHERE p.workspace = ?1 ORDER BY p.name"))?;
            let mut rows = stmt.query([ws.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::principal(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn create_session(&self, session: NewSession) -> StoreResult<()> {
        self.writer
            .write(move |c, _| {
                c.execute(
                    "INSERT INTO sessions (secret_hash, principal_id, csrf_token, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        &session.secret_hash[..],
                        session.principal.to_string(),
                        session.csrf_token,
                        to_millis(session.created_at),
                        to_millis(session.expires_at)
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<Option<Session>> {
        self.read_now(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {PRINCIPAL_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s JOIN principals p ON p.id = s.principal_id
                 WHERE s.secret_hash = ?1 AND s.expires_at > ?2"
            ))?;
            let mut rows = stmt.query(params![&secret_hash[..], to_millis(now)])?;
            match rows.next()? {
                Some(r) => Ok(Some(Session {
                    principal: rows::principal(r)?,
                    csrf_token: r.get(5)?,
                    expires_at: time(r.get(6)?)?,
                })),
                None => Ok(None),
            }
        })
        .await
    }

    async fn end_session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<()> {
        self.writer
            .write(move |c, _| {
                c.execute(
                    "DELETE FROM sessions WHERE secret_hash = ?1 OR expires_at <= ?2",
                    params![&secret_hash[..], to_millis(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn kill_switches(&self, workspace: &WorkspaceId) -> StoreResult<Vec<KillSwitch>> {
        let ws = workspace.clone();
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = ?1 ORDER BY policy, intent",
            )?;
            let mut rows = stmt.query([ws.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::kill_switch(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<KillSwitch>> {
        self.read_now(|c| read_kill_switch(c, workspace, policy))
            .await
    }

    async fn policy_kill_switches(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<KillSwitch>> {
        self.read_now(|c| read_kill_switches(c, workspace, policy))
            .await
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
        let (ws, policy, reason) = (workspace.clone(), policy.clone(), reason.to_owned());
        let intent = intent.map(str::to_owned);
        self.writer
            .write(move |c, _| {
                let scope = intent.as_deref().unwrap_or("");
                let existing = c
                    .prepare_cached(
                        "SELECT policy, tripped_at, reason, tripped_by, intent FROM kill_switches WHERE workspace = ?1 AND policy = ?2 AND intent = ?3",
                    )?
                    .query_row(params![ws.as_str(), policy.as_str(), scope], |r| Ok(rows::kill_switch(r)))
                    .optional()?
                    .transpose()?;
                if let Some(k) = existing {
                    return Ok(k);
                }
                c.execute(
                    "INSERT INTO kill_switches (workspace, policy, intent, tripped_at, reason, tripped_by) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![ws.as_str(), policy.as_str(), scope, to_millis(now), reason, actor.name],
                )?;
                let switch = KillSwitch {
                    policy: policy.clone(),
                    intent: intent.clone(),
                    tripped_at: now,
                    reason: reason.clone(),
                    tripped_by: actor.name.clone(),
                };
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: None,
                        actor,
                        action: AuditAction::KillSwitchTripped,
                        from: Some("armed".into()),
                        to: Some("tripped".into()),
                        detail: crate::kill_switch_detail(&policy, intent.as_deref(), &reason),
                    },
                )?;
                chain.save(c)?;
                Ok(switch)
            })
            .await
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
        let (ws, policy, reason) = (workspace.clone(), policy.clone(), reason.to_owned());
        let intent = intent.map(str::to_owned);
        self.writer
            .write(move |c, _| {
                let n = c.execute(
                    "DELETE FROM kill_switches WHERE workspace = ?1 AND policy = ?2 AND intent = ?3",
                    params![ws.as_str(), policy.as_str(), intent.as_deref().unwrap_or("")],
                )?;
                if n == 0 {
                    return Err(StoreError::NotFound("kill switch"));
                }
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: None,
                        actor,
                        action: AuditAction::KillSwitchReset,
                        from: Some("tripped".into()),
                        to: Some("armed".into()),
                        detail: crate::kill_switch_detail(&policy, intent.as_deref(), &reason),
                    },
                )?;
                chain.save(c)?;
                Ok(())
            })
            .await
    }

    async fn queue_stats(
        &self,
        workspace: &WorkspaceId,
        now: Timestamp,
        look_ahead: Duration,
        since: Timestamp,
    ) -> StoreResult<QueueStats> {
        let ws = workspace.clone();
        self.read(move |c| rows::queue_stats(c, &ws, now, look_ahead, since))
            .await
    }

    async fn outcomes(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutcomeRow>> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, item_id, source, score, correct, inclusion, text, proposed, label, recorded_at, representative, embedded
                 FROM outcomes WHERE workspace = ?1 AND policy = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )?;
            let mut rows = stmt.query(params![ws.as_str(), policy.as_str(), after, limit])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let item: String = r.get(1)?;
                let source: String = r.get(2)?;
                out.push(OutcomeRow {
                    id: r.get(0)?,
                    item_id: parse(&item, "item id")?,
                    source: match source.as_str() {
                        "review" => OutcomeSource::Review,
                        "shadow" => OutcomeSource::Shadow,
                        "audit" => OutcomeSource::Audit,
                        other => return Err(StoreError::Internal(format!("stored outcome source {other:?}"))),
                    },
                    score: r.get(3)?,
                    correct: r.get(4)?,
                    inclusion: r.get(5)?,
                    text: r.get(6)?,
                    proposed: r.get(7)?,
                    label: r.get(8)?,
                    recorded_at: time(r.get(9)?)?,
                    representative: r.get(10)?,
                    embedded: r.get(11)?,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<serde_json::Value>> {
        self.read_now(|c| read_policy_state(c, workspace, policy))
            .await
    }

    async fn put_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        state: serde_json::Value,
        event: Option<AuditEvent>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.writer
            .write(move |c, _| {
                c.execute(
                    "INSERT INTO policy_state (workspace, policy, state, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace, policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                    params![ws.as_str(), policy.as_str(), serde_json::to_string(&state)?, to_millis(now)],
                )?;
                if let Some(event) = event {
                    let mut chain = Chain::load(c, &ws)?;
                    chain.append(c, now, event)?;
                    chain.save(c)?;
                }
                Ok(())
            })
            .await
    }

    async fn update_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        change: PolicyStateChange,
        now: Timestamp,
    ) -> StoreResult<serde_json::Value> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.writer
            .write(move |c, _| {
                let stored: Option<String> = c
                    .prepare_cached("SELECT state FROM policy_state WHERE workspace = ?1 AND policy = ?2")?
                    .query_row(params![ws.as_str(), policy.as_str()], |r| r.get(0))
                    .optional()?;
                let stored = stored.map(|s| serde_json::from_str(&s)).transpose()?;
                let (state, event) = change(stored)?;
                c.execute(
                    "INSERT INTO policy_state (workspace, policy, state, updated_at) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (workspace, policy) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                    params![ws.as_str(), policy.as_str(), serde_json::to_string(&state)?, to_millis(now)],
                )?;
                if let Some(event) = event {
                    let mut chain = Chain::load(c, &ws)?;
                    chain.append(c, now, event)?;
                    chain.save(c)?;
                }
                Ok(state)
            })
            .await
    }

    async fn all_policies(&self) -> StoreResult<Vec<(WorkspaceId, PolicyName)>> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached("SELECT workspace, name FROM policies ORDER BY workspace, name")?;
            let pairs: Vec<(String, String)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            pairs
                .into_iter()
                .map(|(w, p)| Ok((parse(&w, "workspace")?, parse(&p, "policy name")?)))
                .collect()
        })
        .await
    }

    async fn claim_audit(
        &self,
        workspace: &WorkspaceId,
        reviewer: AuditActor,
        lease_id: LeaseId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<(AuditTask, Item)>> {
        let ws = workspace.clone();
        self.writer
            .write(move |c, _| {
                let task = c
                    .prepare_cached(&format!(
                        "SELECT {AUDIT_TASK_COLUMNS} FROM audits
                         WHERE workspace = ?1 AND (status = 'pending' OR (status = 'in_review' AND lease_expires_at <= ?2))
                         ORDER BY created_at LIMIT 1"
                    ))?
                    .query_row(params![ws.as_str(), to_millis(now)], |r| Ok(rows::audit_task(r)))
                    .optional()?
                    .transpose()?;
                let Some(mut task) = task else {
                    return Ok(None);
                };
                let holder = reviewer.id.map(|i| i.to_string());
                c.execute(
                    "UPDATE audits SET status = 'in_review', lease_id = ?2, holder_id = ?3, lease_expires_at = ?4 WHERE id = ?1",
                    params![task.id, lease_id.to_string(), holder, to_millis(until)],
                )?;
                task.status = "in_review".into();
                task.lease_id = Some(lease_id);
                task.holder = reviewer.id;
                task.lease_expires_at = Some(until);
                let item = rows::load_item(c, &ws, task.item_id)?.ok_or(StoreError::NotFound("item"))?;
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: Some(task.item_id),
                        actor: reviewer,
                        action: AuditAction::AuditClaimed,
                        from: Some(item.status.as_str().to_owned()),
                        to: Some(item.status.as_str().to_owned()),
                        detail: json!({"audit_id": task.id, "lease_id": lease_id, "expires_at": until}),
                    },
                )?;
                chain.save(c)?;
                Ok(Some((task, item)))
            })
            .await
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
        let (ws, audit) = (workspace.clone(), audit.to_owned());
        self.writer
            .write(move |c, _| {
                let mut task = c
                    .prepare_cached(&format!("SELECT {AUDIT_TASK_COLUMNS} FROM audits WHERE workspace = ?1 AND id = ?2"))?
                    .query_row(params![ws.as_str(), audit], |r| Ok(rows::audit_task(r)))
                    .optional()?
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
                c.execute(
                    "UPDATE audits SET status = 'done', escaped = ?2, decided_by = ?3, decided_at = ?4,
                         lease_id = NULL, holder_id = NULL, lease_expires_at = NULL WHERE id = ?1",
                    params![task.id, escaped, reviewer.name, to_millis(now)],
                )?;
                task.status = "done".into();
                task.escaped = Some(escaped);
                task.lease_id = None;
                task.holder = None;
                task.lease_expires_at = None;
                let item = rows::load_item(c, &ws, task.item_id)?.ok_or(StoreError::NotFound("item"))?;
                let label = |v: &serde_json::Value| v.get("label").and_then(|l| l.as_str()).map(str::to_owned);
                let corrected = detail.get("label").and_then(|l| l.as_str()).map(str::to_owned);
                rows::insert_outcome(
                    c,
                    &ws,
                    &NewOutcome {
                        policy: item.policy.clone(),
                        item_id: item.id,
                        source: OutcomeSource::Audit,
                        score: item.verdict.confidence.raw.get(),
                        correct: !escaped,
                        inclusion: task.probability,
                        // Audits are drawn by the coin alone.
                        representative: true,
                        embedded: item.proposal.model.as_deref() == Some(loopgate_core::EMBEDDED_MODEL),
                        text: (item.proposal.kind == loopgate_core::Kind::Label).then(|| item.input.text.clone()),
                        proposed: label(&item.proposal.payload),
                        label: if escaped { corrected } else { label(&item.proposal.payload) },
                    },
                    now,
                )?;
                let mut chain = Chain::load(c, &ws)?;
                chain.append(
                    c,
                    now,
                    AuditEvent {
                        item_id: Some(item.id),
                        actor: reviewer,
                        action: AuditAction::Audited,
                        from: Some(item.status.as_str().to_owned()),
                        to: Some(item.status.as_str().to_owned()),
                        detail: json!({"audit_id": task.id, "escaped": escaped, "verdict": detail}),
                    },
                )?;
                chain.save(c)?;
                Ok((task, item))
            })
            .await
    }

    async fn audits(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<AuditTask>> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {AUDIT_TASK_COLUMNS} FROM audits WHERE workspace = ?1 AND policy = ?2 ORDER BY created_at"
            ))?;
            let mut rows = stmt.query(params![ws.as_str(), policy.as_str()])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(rows::audit_task(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn auto_approved(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<u64> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.read(move |c| {
            let n: i64 = c.query_row(
                "SELECT COUNT(*) FROM items WHERE workspace = ?1 AND policy = ?2 AND status = 'auto_approved'",
                params![ws.as_str(), policy.as_str()],
                |r| r.get(0),
            )?;
            Ok(n.max(0) as u64)
        })
        .await
    }

    async fn model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<(Vec<u8>, i64)>> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.read(move |c| {
            Ok(c.prepare_cached(
                "SELECT bytes, through_id FROM models WHERE workspace = ?1 AND policy = ?2",
            )?
            .query_row(params![ws.as_str(), policy.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
        })
        .await
    }

    async fn put_model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        bytes: Vec<u8>,
        through: i64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (ws, policy) = (workspace.clone(), policy.clone());
        self.writer
            .write(move |c, _| {
                c.execute(
                    "INSERT INTO models (workspace, policy, bytes, through_id, updated_at) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (workspace, policy) DO UPDATE SET bytes = excluded.bytes,
                         through_id = excluded.through_id, updated_at = excluded.updated_at
                     WHERE excluded.through_id >= models.through_id",
                    params![ws.as_str(), policy.as_str(), bytes, through, to_millis(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn decided_items(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        policy: Option<&PolicyName>,
        after: Option<ItemId>,
        limit: u32,
    ) -> StoreResult<Vec<Item>> {
        let (ws, policy) = (workspace.clone(), policy.cloned());
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT doc FROM items WHERE workspace = ?1 AND status IN ('approved', 'edited', 'rejected')
                   AND updated_at >= ?2 AND (?3 IS NULL OR policy = ?3) AND (?4 IS NULL OR id > ?4)
                 ORDER BY id LIMIT ?5",
            )?;
            let docs: Vec<String> = stmt
                .query_map(
                    params![
                        ws.as_str(),
                        to_millis(since),
                        policy.as_ref().map(|p| p.as_str().to_owned()),
                        after.map(|a| a.to_string()),
                        limit
                    ],
                    |r| r.get(0),
                )?
                .collect::<Result<_, _>>()?;
            docs.iter().map(|d| Ok(serde_json::from_str(d)?)).collect()
        })
        .await
    }

    fn subscribe(&self) -> broadcast::Receiver<ItemChanged> {
        self.events.subscribe()
    }
}
