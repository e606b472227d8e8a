//! Response bodies that add to the domain types what only the API shows: SLA status at the time
//! of the request, a policy's version, the context that comes with a claim.

use chrono::{DateTime, Utc};
use loopgate_core::sla::SlaStatus;
use loopgate_core::{
    Item, ItemId, Lane, PolicyName, PolicySpec, Principal, Review, Status, Timestamp,
};
use loopgate_store::{HistoryEntry, KeyRecord, StoredPolicy};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

/// An item as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemView {
    /// The item.
    #[serde(flatten)]
    pub item: Item,
    /// Whether its SLA deadlines are met, as of the response.
    pub sla_status: Option<SlaStatus>,
}

impl ItemView {
    /// The view of `item` at `now`.
    pub fn new(item: Item, now: Timestamp) -> Self {
        let sla_status = item
            .sla
            .as_ref()
            .map(|s| s.status(now, item.first_claimed_at, item.is_final));
        Self { item, sla_status }
    }
}

/// A page of items, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct ItemPage {
    /// The items.
    pub items: Vec<ItemView>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<ItemId>,
}

/// The items of a batch submit, in request order.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResult {
    /// The items.
    pub items: Vec<ItemView>,
}

/// Where a submitted item went, and nothing else: the answer to a submit sent with
/// `Prefer: return=minimal`. `GET /v1/items/{id}` has the rest.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemSummary {
    /// The item's id.
    pub id: ItemId,
    /// Where the verdict sent it: `auto_approved`, `auto_rejected` or `queued`.
    pub status: Status,
    /// Its priority lane while it needs people.
    pub lane: Option<Lane>,
}

impl ItemSummary {
    /// The summary of `item`.
    pub fn of(item: &Item) -> Self {
        Self {
            id: item.id,
            status: item.status,
            lane: item.lane,
        }
    }
}

/// The items of a batch submit sent with `Prefer: return=minimal`, in request order.
#[derive(Debug, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSummary {
    /// Each item's id, status and lane.
    pub items: Vec<ItemSummary>,
}

/// The answer to `POST /v1/items`: the whole item, or its summary under `Prefer: return=minimal`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum SubmitAnswer {
    /// The item (no `Prefer`, or `return=representation`).
    Full(Box<ItemView>),
    /// The summary (`return=minimal`).
    Minimal(ItemSummary),
}

/// The answer to `POST /v1/items:batch`: every item whole, or their summaries under
/// `Prefer: return=minimal`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum BatchAnswer {
    /// The items (no `Prefer`, or `return=representation`).
    Full(BatchResult),
    /// The summaries (`return=minimal`).
    Minimal(BatchSummary),
}

/// A claimed item with everything a reviewer needs to decide it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedItem {
    /// The item, with its lease.
    pub item: ItemView,
    /// Earlier reviews of the item (e.g. the proposer's, when confirming).
    pub reviews: Vec<Review>,
    /// The customer's other items, newest first.
    pub history: Vec<HistoryView>,
}

/// An earlier item of the same customer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    /// The item.
    pub id: ItemId,
    /// Its policy.
    pub policy: PolicyName,
    /// Where it ended or stands.
    pub status: Status,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
}

impl From<HistoryEntry> for HistoryView {
    fn from(h: HistoryEntry) -> Self {
        Self {
            id: h.id,
            policy: h.policy,
            status: h.status,
            created_at: h.created_at,
        }
    }
}

/// A policy with its version.
#[derive(Debug, Serialize)]
pub struct PolicyView {
    /// The policy's settings, defaults filled in.
    #[serde(flatten)]
    pub policy: PolicySpec,
    /// 1 for the first version, incremented on each replacement.
    pub version: u32,
    /// When this version was stored.
    pub updated_at: DateTime<Utc>,
}

// By hand: the derived schema would flatten `PolicySpec`, which refuses unknown fields as a
// request body, so `version` and `updated_at` would break it. This is its properties plus those.
impl utoipa::PartialSchema for PolicyView {
    fn schema() -> RefOr<Schema> {
        let mut schema = <PolicySpec as utoipa::PartialSchema>::schema();
        if let RefOr::T(Schema::Object(object)) = &mut schema {
            object.additional_properties = None;
            object.description = Some("A policy with its version, defaults filled in.".into());
            object.properties.insert(
                "version".into(),
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
                    .description(Some(
                        "1 for the first version, incremented on each replacement.",
                    ))
                    .into(),
            );
            object.properties.insert(
                "updated_at".into(),
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .description(Some("When this version was stored."))
                    .into(),
            );
            object
                .required
                .extend(["version".into(), "updated_at".into()]);
        }
        schema
    }
}

impl ToSchema for PolicyView {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        <PolicySpec as ToSchema>::schemas(schemas);
    }
}

impl From<StoredPolicy> for PolicyView {
    fn from(p: StoredPolicy) -> Self {
        Self {
            policy: p.policy.into_spec(),
            version: p.version,
            updated_at: p.updated_at,
        }
    }
}

/// Every policy of the workspace.
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyList {
    /// By name.
    pub policies: Vec<PolicyView>,
}

/// An API key as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The key's id.
    pub id: String,
    /// Tells keys apart without revealing them: `lg_` and the first 8 random characters of a
    /// key Loopgate made; `sha256:` and 8 hex digits of the hash of a key an operator chose
    /// (`LOOPGATE_BOOTSTRAP_ADMIN_KEY`).
    pub prefix: String,
    /// Whose key it is.
    pub principal: Principal,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<KeyRecord> for KeyView {
    fn from(k: KeyRecord) -> Self {
        Self {
            id: k.id.to_string(),
            prefix: k.prefix,
            principal: k.principal,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A newly created key. The secret is shown this once (and never in `Debug`).
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The secret: send it as `Authorization: Bearer <key>`. It cannot be shown again.
    pub key: String,
    /// The key as listed.
    #[serde(flatten)]
    pub record: KeyView,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &"[redacted]")
            .field("record", &self.record)
            .finish()
    }
}

/// The workspace's keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Newest first.
    pub keys: Vec<KeyView>,
    /// Pass as `before` to get the next page; absent on the last page.
    pub next_before: Option<String>,
}
