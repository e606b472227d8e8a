//! Loopgate's storage. [`Store`] is everything the server needs from a database; the SQLite
//! implementation is the embedded default, the PostgreSQL one lets several servers share one
//! database, and the same test suite holds every implementation to the same behaviour.
//!
//! Stores persist what `loopgate-core` computes: a store never decides a verdict or a transition
//! itself, it loads an item, lets the core change it, and writes the item, its review and its
//! audit entries in one transaction.

mod columns;
mod error;
pub mod postgres;
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

use std::fmt::Debug;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use loopgate_core::audit::{AuditActor, AuditEntry, AuditEvent, ChainBreak};
use loopgate_core::lifecycle::{Reviewer, TransitionError};
use loopgate_core::{
    AccessRole, Item, ItemId, KeyId, Lane, LeaseId, Policy, PolicyName, Principal, PrincipalId,
    Review, Role, Status, Timestamp, WorkspaceId,
};
use serde::Serialize;
use tokio::sync::broadcast;

pub use error::StoreError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

/// Result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// What a change to an item produces besides the item itself.
#[derive(Debug, Default)]
pub struct Effects {
    /// Audit events, appended to the workspace's chain in order.
    pub events: Vec<AuditEvent>,
    /// A review to record.
    pub review: Option<Review>,
    /// A labelled outcome of the AI's proposal, for the learning loop.
    pub outcome: Option<NewOutcome>,
}

/// Where a labelled outcome comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeSource {
    /// People decided the item while the policy was live.
    Review,
    /// People decided the item while the policy ran in shadow mode.
    Shadow,
    /// An auto-approved item was sampled and judged afterwards.
    Audit,
}

impl OutcomeSource {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeSource::Review => "review",
            OutcomeSource::Shadow => "shadow",
            OutcomeSource::Audit => "audit",
        }
    }
}

/// A human judgement of one proposal.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutcome {
    /// The policy.
    pub policy: PolicyName,
    /// The item.
    pub item_id: ItemId,
    /// Where the judgement comes from.
    pub source: OutcomeSource,
    /// The proposal's raw confidence.
    pub score: f64,
    /// Whether people judged the proposal right as it was.
    pub correct: bool,
    /// The probability that the item was labelled at all (1, or the audit rate).
    pub inclusion: f64,
    /// Whether people labelled the item for a reason independent of its content (the audit
    /// coin, an audit, shadow mode, a policy-wide kill switch, an irreversible action), so
    /// that the outcome may feed the threshold bound.
    pub representative: bool,
    /// Whether Loopgate's own model made the proposal.
    pub embedded: bool,
    /// For label policies: the input text.
    pub text: Option<String>,
    /// For label policies: the proposed label.
    pub proposed: Option<String>,
    /// For label policies: the label people settled on.
    pub label: Option<String>,
}

/// A stored outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutcomeRow {
    /// Increasing id: the order outcomes were recorded in.
    pub id: i64,
    /// The item.
    pub item_id: ItemId,
    /// Where it comes from.
    pub source: OutcomeSource,
    /// Raw confidence.
    pub score: f64,
    /// Judged right.
    pub correct: bool,
    /// Probability of being labelled.
    pub inclusion: f64,
    /// Labelled for a reason independent of the item's content; see [`NewOutcome`].
    pub representative: bool,
    /// Proposed by Loopgate's own model.
    pub embedded: bool,
    /// Input text (label policies).
    pub text: Option<String>,
    /// Proposed label (label policies).
    pub proposed: Option<String>,
    /// Final label (label policies).
    pub label: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// An audit of an auto-approved item.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditTask {
    /// The audit's id.
    pub id: String,
    /// The item's policy.
    pub policy: PolicyName,
    /// The audited item.
    pub item_id: ItemId,
    /// The probability it was sampled with.
    pub probability: f64,
    /// `pending`, `in_review` or `done`.
    pub status: String,
    /// The current lease, while in review.
    pub lease_id: Option<LeaseId>,
    /// Who holds it.
    pub holder: Option<PrincipalId>,
    /// When the lease lapses.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The verdict: whether a wrong proposal escaped.
    pub escaped: Option<bool>,
    /// When it was sampled.
    pub created_at: DateTime<Utc>,
}

/// A change to a policy's learned state, run inside the store's transaction on the stored state:
/// returns the new state and, when something a person relies on changed, an audit event.
pub type PolicyStateChange = Box<
    dyn FnOnce(
            Option<serde_json::Value>,
        ) -> Result<(serde_json::Value, Option<AuditEvent>), StoreError>
        + Send,
>;

/// A change to one item, run inside the store's transaction on the current version of the item.
/// Returning an error leaves the item untouched.
pub type ItemMutation = Box<dyn FnOnce(&mut Item) -> Result<Effects, TransitionError> + Send>;

/// A new item to insert.
#[derive(Debug)]
pub struct NewItem {
    /// The routed item.
    pub item: Item,
    /// Ties a retried submit to the first one.
    pub idempotency: Option<IdempotencyClaim>,
    /// When the item was sampled for audit: the sampling probability.
    pub audit: Option<f64>,
}

/// An `Idempotency-Key` and a hash of the request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyClaim {
    /// The key, as the client sent it.
    pub key: String,
    /// A hash of the request body; the same key with another body is refused.
    pub request_hash: String,
}

/// The result of inserting one item.
#[derive(Debug, Clone)]
pub struct Inserted {
    /// The item as stored: the new one, or the one first created under the same key.
    pub item: Item,
    /// True when the idempotency key matched an earlier submit and nothing was written.
    pub replayed: bool,
    /// The item's JSON as `serde_json` writes an [`Item`], when the store rendered it anyway (a
    /// new item): a response can reuse it instead of serialising the item again.
    pub json: Option<String>,
}

/// What a reviewer asks for when claiming.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The reviewer, with the roles they may act in.
    pub reviewer: Reviewer,
    /// Only items requiring one of these roles; all the reviewer may handle when empty.
    pub roles: Vec<Role>,
    /// Only items in these lanes; every lane when empty.
    pub lanes: Vec<Lane>,
    /// The new lease's id.
    pub lease_id: LeaseId,
    /// Lease length when the item's policy does not set one.
    pub default_lease: Duration,
    /// The time of the claim.
    pub now: Timestamp,
}

/// A filter for listing items, newest first.
#[derive(Debug, Clone, Default)]
pub struct ItemFilter {
    /// Only these statuses.
    pub statuses: Vec<Status>,
    /// Only this policy.
    pub policy: Option<PolicyName>,
    /// Only this lane.
    pub lane: Option<Lane>,
    /// Only this customer.
    pub customer_id: Option<String>,
    /// Only items submitted by this principal.
    pub submitted_by: Option<PrincipalId>,
    /// Only items older than this one (the previous page's last id).
    pub before: Option<ItemId>,
    /// At most this many.
    pub limit: u32,
}

/// A policy with its version.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredPolicy {
    /// The policy.
    pub policy: Policy,
    /// 1 for the first version, incremented on each replacement.
    pub version: u32,
    /// When this version was stored.
    pub updated_at: DateTime<Utc>,
}

/// A key to create, for a principal that is created if it does not exist.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// The workspace (created if new).
    pub workspace: WorkspaceId,
    /// The principal's name, unique in the workspace.
    pub name: String,
    /// The principal's access role; must match an existing principal's.
    pub access: AccessRole,
    /// Reviewer roles (reviewers only).
    pub reviewer_roles: Vec<Role>,
    /// SHA-256 of the secret. The secret itself is never stored.
    pub secret_hash: [u8; 32],
    /// The secret's first characters, to tell keys apart in listings.
    pub prefix: String,
}

/// An API key as listed: never the secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyRecord {
    /// The key's id.
    pub id: KeyId,
    /// Whose it is.
    pub principal: Principal,
    /// The secret's first characters.
    pub prefix: String,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A decision code defined by a workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeRecord {
    /// The code, `UPPER_SNAKE_CASE`.
    pub code: String,
    /// What it means.
    pub description: String,
}

/// An earlier item of the same customer, for reviewers' context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryEntry {
    /// The item.
    pub id: ItemId,
    /// Its policy.
    pub policy: PolicyName,
    /// Where it ended or stands.
    pub status: Status,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
}

/// A person's account to create, or whose password to set.
#[derive(Debug, Clone)]
pub struct NewAccount {
    /// The workspace (created if new).
    pub workspace: WorkspaceId,
    /// Sign-in name, unique in the workspace.
    pub name: String,
    /// Access role; must match an existing principal's.
    pub access: AccessRole,
    /// Reviewer roles (reviewers only).
    pub reviewer_roles: Vec<Role>,
    /// The password's argon2 hash (PHC string). The password itself is never stored.
    pub password_hash: String,
}

/// A browser session to store.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the cookie secret.
    pub secret_hash: [u8; 32],
    /// Who signed in.
    pub principal: PrincipalId,
    /// The token every form of the session must carry.
    pub csrf_token: String,
    /// When it began.
    pub created_at: Timestamp,
    /// When it ends.
    pub expires_at: Timestamp,
}

/// A live browser session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Who signed in.
    pub principal: Principal,
    /// The token every form of the session must carry.
    pub csrf_token: String,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
}

/// A tripped kill switch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KillSwitch {
    /// The policy whose items all go to people.
    pub policy: PolicyName,
    /// For a switch scoped to one intent of a label policy: the proposed label it stops.
    /// `None` stops the whole policy.
    pub intent: Option<String>,
    /// When it tripped.
    pub tripped_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
    /// Who or what tripped it.
    pub tripped_by: String,
}

/// Queue health for a lead.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QueueStats {
    /// Items waiting (queued or awaiting confirmation), per lane and required role.
    pub backlog: Vec<BacklogCell>,
    /// Waiting items whose current deadline has passed, most overdue first.
    pub breached: Vec<Item>,
    /// Waiting items whose deadline falls within the look-ahead, soonest first.
    pub due_soon: Vec<Item>,
    /// Decisions per reviewer over the look-back window.
    pub throughput: Vec<ReviewerThroughput>,
}

/// Waiting items in one lane for one role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BacklogCell {
    /// The lane.
    pub lane: Lane,
    /// The role required.
    pub role: Role,
    /// How many.
    pub count: u64,
}

/// One reviewer's decisions.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewerThroughput {
    /// The reviewer.
    pub reviewer: String,
    /// Decisions made.
    pub decisions: u64,
    /// Median milliseconds from claim to decision.
    pub median_time_on_task_ms: i64,
}

/// What the verdict pipeline needs from the store to route a submission of one policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutingContext {
    /// The policy, current version.
    pub policy: StoredPolicy,
    /// Its tripped kill switches: policy-wide and per intent.
    pub kill_switches: Vec<KillSwitch>,
    /// Its learned state (opaque JSON owned by the server), if any.
    pub state: Option<serde_json::Value>,
}

/// An item changed; sent to subscribers after the change is committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemChanged {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// The item.
    pub id: ItemId,
    /// Its new status.
    pub status: Status,
}

/// The verification of one workspace's audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainReport {
    /// The workspace.
    pub workspace: WorkspaceId,
    /// Entries checked, or the first break.
    pub result: Result<i64, ChainBreak>,
}

/// Everything Loopgate keeps. Every method is scoped to one workspace where data belongs to one.
/// Writes are durable when the method returns `Ok`.
#[async_trait]
pub trait Store: Send + Sync + Debug {
    /// Whether any API key exists (revoked or not).
    async fn has_keys(&self) -> StoreResult<bool>;
    /// Creates a key, and its principal if new. Fails with `Conflict` when the principal exists
    /// with another access role.
    async fn create_key(
        &self,
        key: NewKey,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord>;
    /// The principal owning an unrevoked key with this secret hash.
    async fn principal_by_key(&self, secret_hash: [u8; 32]) -> StoreResult<Option<Principal>>;
    /// A page of a workspace's keys, newest first: at most `limit` of them, all made before the
    /// key `before` when it is given (the previous page's last key). A `before` that is not a
    /// key of the workspace gives an empty page.
    async fn list_keys(
        &self,
        workspace: &WorkspaceId,
        before: Option<KeyId>,
        limit: u32,
    ) -> StoreResult<Vec<KeyRecord>>;
    /// Revokes a key; revoking twice is not an error.
    async fn revoke_key(
        &self,
        workspace: &WorkspaceId,
        id: KeyId,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KeyRecord>;

    /// The workspace's own decision codes.
    async fn decision_codes(&self, workspace: &WorkspaceId) -> StoreResult<Vec<CodeRecord>>;
    /// Defines (or redescribes) a workspace decision code.
    async fn define_code(
        &self,
        workspace: &WorkspaceId,
        code: CodeRecord,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<CodeRecord>;

    /// Creates or replaces a policy; returns it with its new version.
    async fn put_policy(
        &self,
        workspace: &WorkspaceId,
        policy: Policy,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<StoredPolicy>;
    /// The current version of a policy.
    async fn get_policy(
        &self,
        workspace: &WorkspaceId,
        name: &PolicyName,
    ) -> StoreResult<Option<StoredPolicy>>;
    /// Every policy of the workspace, by name.
    async fn list_policies(&self, workspace: &WorkspaceId) -> StoreResult<Vec<StoredPolicy>>;
    /// A policy with its kill switch and learned state, for routing a submission; `None` when
    /// there is no such policy. Backends that can read all three in one go override this.
    async fn routing_context(
        &self,
        workspace: &WorkspaceId,
        name: &PolicyName,
    ) -> StoreResult<Option<RoutingContext>> {
        let Some(policy) = self.get_policy(workspace, name).await? else {
            return Ok(None);
        };
        Ok(Some(RoutingContext {
            policy,
            kill_switches: self.policy_kill_switches(workspace, name).await?,
            state: self.policy_state(workspace, name).await?,
        }))
    }

    /// Inserts items with their `submitted` audit entries, all or nothing. An idempotency key
    /// seen before returns the earlier item (`replayed`); the same key with a different request
    /// hash fails the whole call with `IdempotencyMismatch`.
    async fn insert_items(
        &self,
        workspace: &WorkspaceId,
        submitter: PrincipalId,
        items: Vec<NewItem>,
    ) -> StoreResult<Vec<Inserted>>;
    /// One item.
    async fn get_item(&self, workspace: &WorkspaceId, id: ItemId) -> StoreResult<Option<Item>>;
    /// Items matching the filter, newest first.
    async fn list_items(
        &self,
        workspace: &WorkspaceId,
        filter: &ItemFilter,
    ) -> StoreResult<Vec<Item>>;
    /// Changes one item in a transaction: the mutation sees the current item; its effects are
    /// written with it. `NotFound` when there is no such item.
    async fn mutate_item(
        &self,
        workspace: &WorkspaceId,
        id: ItemId,
        mutation: ItemMutation,
    ) -> StoreResult<Item>;
    /// Leases the most urgent item the reviewer may handle (lane, then earliest deadline), first
    /// returning to the queue any item of the workspace whose lease has lapsed. `None` when there
    /// is nothing to claim.
    async fn claim_next(
        &self,
        workspace: &WorkspaceId,
        request: ClaimRequest,
    ) -> StoreResult<Option<Item>>;
    /// Returns to their queues up to `limit` items, of any workspace, whose leases lapsed by
    /// `now`. Returns how many.
    async fn expire_leases(&self, now: Timestamp, limit: u32) -> StoreResult<u32>;
    /// An item's reviews, oldest first.
    async fn reviews(&self, workspace: &WorkspaceId, item: ItemId) -> StoreResult<Vec<Review>>;
    /// The customer's other items, newest first.
    async fn customer_history(
        &self,
        workspace: &WorkspaceId,
        customer_id: &str,
        except: ItemId,
        limit: u32,
    ) -> StoreResult<Vec<HistoryEntry>>;

    /// An item's audit entries, in order.
    async fn item_audit(
        &self,
        workspace: &WorkspaceId,
        item: ItemId,
    ) -> StoreResult<Vec<AuditEntry>>;
    /// Verifies every workspace's audit chain.
    async fn verify_audit(&self) -> StoreResult<Vec<ChainReport>>;

    /// Creates a person's account (and principal, if new) or sets its password. Fails with
    /// `Conflict` when the principal exists with another access role.
    async fn set_account(
        &self,
        account: NewAccount,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<Principal>;
    /// A principal with a password, by workspace and sign-in name, with the password hash.
    async fn account(
        &self,
        workspace: &WorkspaceId,
        name: &str,
    ) -> StoreResult<Option<(Principal, String)>>;
    /// The workspace's principals, by name.
    async fn principals(&self, workspace: &WorkspaceId) -> StoreResult<Vec<Principal>>;
    /// Stores a browser session.
    async fn create_session(&self, session: NewSession) -> StoreResult<()>;
    /// The unexpired session with this secret hash.
    async fn session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<Option<Session>>;
    /// Ends a session (and any expired ones).
    async fn end_session(&self, secret_hash: [u8; 32], now: Timestamp) -> StoreResult<()>;

    /// The workspace's tripped kill switches, of every scope.
    async fn kill_switches(&self, workspace: &WorkspaceId) -> StoreResult<Vec<KillSwitch>>;
    /// A policy's policy-wide kill switch, if tripped.
    async fn kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<KillSwitch>>;
    /// Every tripped kill switch of a policy: policy-wide and per intent.
    async fn policy_kill_switches(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<KillSwitch>>;
    /// Trips a kill switch of a policy, or of one intent of it (a no-op if already tripped).
    async fn trip_kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        intent: Option<&str>,
        reason: &str,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<KillSwitch>;
    /// Resets a kill switch of a policy or of one intent of it. `NotFound("kill switch")` when
    /// that switch is not tripped.
    async fn reset_kill_switch(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        intent: Option<&str>,
        reason: &str,
        actor: AuditActor,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Backlog, SLA breaches, items due within `look_ahead`, and throughput since `since`.
    async fn queue_stats(
        &self,
        workspace: &WorkspaceId,
        now: Timestamp,
        look_ahead: Duration,
        since: Timestamp,
    ) -> StoreResult<QueueStats>;

    /// A policy's outcomes with id above `after`, oldest first, at most `limit`.
    async fn outcomes(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<OutcomeRow>>;
    /// A policy's learned state (opaque JSON owned by the server).
    async fn policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<serde_json::Value>>;
    /// Stores a policy's learned state, with an audit event when something a person relies on
    /// changed.
    async fn put_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        state: serde_json::Value,
        event: Option<AuditEvent>,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Changes a policy's learned state atomically: the change sees the stored state.
    async fn update_policy_state(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        change: PolicyStateChange,
        now: Timestamp,
    ) -> StoreResult<serde_json::Value>;
    /// The policies of every workspace, as (workspace, policy) pairs.
    async fn all_policies(&self) -> StoreResult<Vec<(WorkspaceId, PolicyName)>>;

    /// Leases the oldest pending audit (or one whose lease lapsed) to `reviewer` until `until`.
    async fn claim_audit(
        &self,
        workspace: &WorkspaceId,
        reviewer: AuditActor,
        lease_id: LeaseId,
        until: Timestamp,
        now: Timestamp,
    ) -> StoreResult<Option<(AuditTask, Item)>>;
    /// Records an audit's verdict under its lease, with the outcome it makes. `Conflict` when
    /// the lease is not the audit's current one or has lapsed.
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
    ) -> StoreResult<(AuditTask, Item)>;
    /// A policy's audits, sampled and done.
    async fn audits(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Vec<AuditTask>>;
    /// How many of a policy's items were auto-approved.
    async fn auto_approved(&self, workspace: &WorkspaceId, policy: &PolicyName)
    -> StoreResult<u64>;

    /// A policy's embedded model and the last outcome id it learned from.
    async fn model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
    ) -> StoreResult<Option<(Vec<u8>, i64)>>;
    /// Saves a policy's embedded model.
    async fn put_model(
        &self,
        workspace: &WorkspaceId,
        policy: &PolicyName,
        bytes: Vec<u8>,
        through: i64,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Items people decided (approved, edited, rejected) and updated after `since`, oldest
    /// first, from after `after` (an item id) on, at most `limit`.
    async fn decided_items(
        &self,
        workspace: &WorkspaceId,
        since: Timestamp,
        policy: Option<&PolicyName>,
        after: Option<ItemId>,
        limit: u32,
    ) -> StoreResult<Vec<Item>>;

    /// Changes to items, as they are committed. A lagging subscriber misses events and must
    /// re-read what it waits for.
    fn subscribe(&self) -> broadcast::Receiver<ItemChanged>;
}

/// The audit detail of a kill switch change: the policy, the intent when the switch is scoped to
/// one, and the reason.
pub(crate) fn kill_switch_detail(
    policy: &PolicyName,
    intent: Option<&str>,
    reason: &str,
) -> serde_json::Value {
    match intent {
        Some(intent) => serde_json::json!({"policy": policy, "intent": intent, "reason": reason}),
        None => serde_json::json!({"policy": policy, "reason": reason}),
    }
}
