//! Submitting items, reading them (with long-polling), listing them, and their audit trails.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loopgate_core::audit::AuditEntry;
use loopgate_core::verdict::{self, Calibrator, NoveltyFinding, ReasonCode, VerdictContext};
use loopgate_core::{
    Item, ItemId, Lane, Permission, PolicyName, Principal, Review, Status, Submission, Timestamp,
    Uncalibrated,
};
use loopgate_store::{IdempotencyClaim, ItemFilter, NewItem, StoreError, StoredPolicy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::time::Instant;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, Auth, JsonBody, from_value, item_id};
use crate::learning::PolicyState;
use crate::model;
use crate::state::AppState;
use crate::views::{BatchAnswer, BatchSummary, ItemPage, ItemSummary, ItemView, SubmitAnswer};

/// Header naming a retried request.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Response header set when an idempotent submit was answered from the first attempt.
pub const REPLAYED: &str = "idempotent-replayed";
/// Response header naming the preferences of `Prefer` (RFC 7240) the answer honours.
pub const PREFERENCE_APPLIED: &str = "preference-applied";

/// The `Prefer` header as the submit routes read it (RFC 7240).
const PREFER_DOC: &str = "`return=minimal` answers with each item's id, status and lane only (and `Preference-Applied: return=minimal`), for clients that import in bulk; `return=representation`, the default, answers with the whole item. Other preferences are ignored.";

/// Submits one AI output. The verdict pipeline routes it at once: `auto_approved`,
/// `auto_rejected`, or `queued` for a person, with lane, SLA deadlines and the reasons.
#[utoipa::path(
    post, path = "/v1/items", tag = "items",
    request_body = Submission,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retried submit return the first item instead of creating another (1-255 visible ASCII characters)."),
           ("Prefer" = Option<String>, Header, description = PREFER_DOC)),
    responses(
        (status = 201, description = "Created (or replayed, see `Idempotent-Replayed`)", body = SubmitAnswer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn submit(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let principal = auth.require(Permission::SubmitItems, "submit items")?;
    let (submission, novelty) = match body.try_parse::<Submission>() {
        // It brings its own proposal (a submission asking Loopgate to propose lacks the
        // payload and confidence it needs to parse).
        Some(submission) => (submission, vec![None]),
        None => {
            let mut value: Value = body.parse()?;
            let novelty =
                propose_where_asked(&state, principal, std::slice::from_mut(&mut value), "")
                    .await?;
            (from_value(value)?, novelty)
        }
    };
    let key = idempotency_key(&headers)?;
    let mut inserted = route_and_store(
        &state,
        principal,
        vec![submission],
        novelty,
        key.as_deref(),
        "",
    )
    .await?;
    let one = inserted.pop().expect("one submission gives one item");
    let minimal = prefers_minimal(&headers);
    let mut response = if minimal {
        (StatusCode::CREATED, Json(ItemSummary::of(&one.item))).into_response()
    } else {
        (
            StatusCode::CREATED,
            Json(ItemView::new(one.item, state.clock().now())),
        )
            .into_response()
    };
    if minimal {
        applied_minimal(&mut response);
    }
    if one.replayed {
        response
            .headers_mut()
            .insert(REPLAYED, HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// A batch of submissions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchSubmit {
    /// 1 to 1000 submissions, each as for `POST /v1/items`.
    pub items: Vec<Submission>,
}

/// Submits up to 1000 items at once, all or nothing: one invalid item refuses the whole batch,
/// naming it by index. With `Idempotency-Key`, a retried batch returns the first batch's items.
#[utoipa::path(
    post, path = "/v1/items:batch", tag = "items",
    request_body = BatchSubmit,
    params(("Idempotency-Key" = Option<String>, Header,
            description = "Makes a retried batch return the first batch's items."),
           ("Prefer" = Option<String>, Header, description = PREFER_DOC)),
    responses(
        (status = 201, body = BatchAnswer),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 413, body = ErrorBody), (status = 422, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn submit_batch(
    State(state): State<AppState>,
    auth: Auth,
    headers: HeaderMap,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let principal = auth.require(Permission::SubmitItems, "submit items")?;
    let max = state.settings().max_batch_items;
    let (submissions, novelty) = match body.try_parse::<BatchSubmit>() {
        // The usual batch, every item with its own proposal, parses straight into submissions.
        // Anything else (items asking Loopgate to propose, which lack the payload and
        // confidence to parse; a mistake; a batch of the wrong size) takes the path below,
        // which proposes where asked and reports mistakes in the order it always has.
        Some(batch) if (1..=max).contains(&batch.items.len()) => {
            let n = batch.items.len();
            (batch.items, vec![None; n])
        }
        _ => {
            let mut value: Value = body.parse()?;
            let count = value.get("items").and_then(Value::as_array).map(Vec::len);
            if let Some(n) = count
                && (n == 0 || n > max)
            {
                return Err(ApiError::new(
                    ErrorCode::BatchTooLarge,
                    format!("a batch holds 1 to {max} items; this one has {n}"),
                ));
            }
            let novelty = match value.get_mut("items").and_then(Value::as_array_mut) {
                Some(items) => propose_where_asked(&state, principal, items, "items").await?,
                None => Vec::new(),
            };
            let batch: BatchSubmit = from_value(value)?;
            (batch.items, novelty)
        }
    };
    let key = idempotency_key(&headers)?;
    let inserted = route_and_store(
        &state,
        principal,
        submissions,
        novelty,
        key.as_deref(),
        "items",
    )
    .await?;
    let minimal = prefers_minimal(&headers);
    let body = if minimal {
        let summary = BatchSummary {
            items: inserted.iter().map(|i| ItemSummary::of(&i.item)).collect(),
        };
        serde_json::to_vec(&summary).expect("a summary always serialises")
    } else {
        batch_result_json(inserted, state.clock().now())
    };
    let mut response = (
        StatusCode::CREATED,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    if minimal {
        applied_minimal(&mut response);
    }
    Ok(response)
}

/// Whether the request asks for `return=minimal` in a `Prefer` header (RFC 7240: the
/// preference's name is case-insensitive, its value may be quoted, parameters after `;` and
/// preferences Loopgate does not know are ignored; the first `return` wins).
fn prefers_minimal(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::HeaderName::from_static("prefer"))
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|preference| {
            let token = preference.split(';').next().unwrap_or_default();
            let (name, value) = token.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("return")
                .then(|| value.trim().trim_matches('"'))
        })
        .next()
        == Some("minimal")
}

fn applied_minimal(response: &mut Response) {
    response.headers_mut().insert(
        PREFERENCE_APPLIED,
        HeaderValue::from_static("return=minimal"),
    );
}

/// The JSON of a [`BatchResult`](crate::views::BatchResult) of `inserted`, as of `now`. An item the store already rendered
/// is spliced in as it is, with its `sla_status` added, instead of being serialised again:
/// [`ItemView`] flattens the item and adds that one field last, so the text is the same.
fn batch_result_json(inserted: Vec<loopgate_store::Inserted>, now: Timestamp) -> Vec<u8> {
    let guess: usize = inserted
        .iter()
        .map(|i| i.json.as_ref().map_or(2048, |j| j.len() + 64))
        .sum();
    let mut body = Vec::with_capacity(guess + 16);
    body.extend_from_slice(b"{\"items\":[");
    for (n, one) in inserted.into_iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        let view = ItemView::new(one.item, now);
        match one.json.as_deref().and_then(|j| j.strip_suffix('}')) {
            Some(open) => {
                body.extend_from_slice(open.as_bytes());
                body.extend_from_slice(b",\"sla_status\":");
                serde_json::to_writer(&mut body, &view.sla_status)
                    .expect("an SLA status always serialises");
                body.push(b'}');
            }
            None => serde_json::to_writer(&mut body, &view).expect("an item always serialises"),
        }
    }
    body.extend_from_slice(b"]}");
    body
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(k) if (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()) => {
            Ok(Some(k.to_owned()))
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidHeader,
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// Fills in the proposal of every submission that asks Loopgate to propose
/// (`"proposal": {"kind": "label", "model": "loopgate"}` without payload and confidence), and
/// returns the novelty findings, one per submission.
async fn propose_where_asked(
    state: &AppState,
    principal: &Principal,
    values: &mut [Value],
    field: &str,
) -> Result<Vec<Option<NoveltyFinding>>, ApiError> {
    let mut findings = Vec::with_capacity(values.len());
    for (i, v) in values.iter_mut().enumerate() {
        let asks = v.pointer("/proposal/model").and_then(Value::as_str) == Some(model::MODEL_NAME)
            && v.pointer("/proposal/confidence").is_none()
            && v.pointer("/proposal/payload").is_none();
        if !asks {
            findings.push(None);
            continue;
        }
        let at = if field.is_empty() {
            String::new()
        } else {
            format!("{field}[{i}].")
        };
        if v.pointer("/proposal/kind").and_then(Value::as_str) != Some("label") {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!(
                    "{at}proposal: Loopgate proposes labels only; give kind \"label\" or bring your own payload and confidence"
                ),
            ));
        }
        let policy = v
            .get("policy")
            .and_then(Value::as_str)
            .and_then(|p| p.parse::<PolicyName>().ok());
        let text = v
            .pointer("/input/text")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let (Some(policy), Some(text)) = (policy, text) else {
            // Parsing reports what is missing.
            findings.push(None);
            continue;
        };
        if state
            .store()
            .get_policy(&principal.workspace, &policy)
            .await?
            .is_none()
        {
            findings.push(None);
            continue;
        }
        let proposed = state
            .models()
            .propose(state.store(), &principal.workspace, &policy, &text)
            .await?;
        if let Some(p) = v.get_mut("proposal").and_then(Value::as_object_mut) {
            p.insert("payload".into(), json!({ "label": proposed.label }));
            p.insert("confidence".into(), json!(proposed.probability));
            p.entry("model_version").or_insert(json!("online"));
        }
        findings.push(proposed.novelty);
    }
    Ok(findings)
}

/// Checks, routes and stores submissions, all or nothing. `field` prefixes error messages of a
/// batch (`items[3].…`).
async fn route_and_store(
    state: &AppState,
    principal: &Principal,
    submissions: Vec<Submission>,
    novelty: Vec<Option<NoveltyFinding>>,
    key: Option<&str>,
    field: &str,
) -> Result<Vec<loopgate_store::Inserted>, ApiError> {
    let at = |i: usize| {
        if field.is_empty() {
            String::new()
        } else {
            format!("{field}[{i}].")
        }
    };
    let mut problems = Vec::new();
    for (i, s) in submissions.iter().enumerate() {
        problems.extend(s.check().into_iter().map(|p| format!("{}{p}", at(i))));
    }
    if !problems.is_empty() {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            problems.join("; "),
        ));
    }

    // Each policy once: its current version, its kill switches (a tripped one sends every item
    // of its scope, the policy or one proposed label, to people) and its learned state
    // (calibrator and derived thresholds).
    let mut policies: BTreeMap<PolicyName, StoredPolicy> = BTreeMap::new();
    let mut switches: BTreeMap<PolicyName, Switches> = BTreeMap::new();
    let mut learned: BTreeMap<PolicyName, PolicyState> = BTreeMap::new();
    for (i, s) in submissions.iter().enumerate() {
        if !policies.contains_key(&s.policy) {
            let context = state
                .store()
                .routing_context(&principal.workspace, &s.policy)
                .await?
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::UnknownPolicy,
                        format!(
                            "{}policy: there is no policy {:?} in workspace {}; create it with POST /v1/policies",
                            at(i),
                            s.policy.as_str(),
                            principal.workspace
                        ),
                    )
                })?;
            switches.insert(s.policy.clone(), Switches::new(context.kill_switches));
            learned.insert(s.policy.clone(), PolicyState::from_json(context.state));
            policies.insert(s.policy.clone(), context.policy);
        }
        let policy = &policies[&s.policy].policy;
        if s.proposal.kind != policy.kind {
            return Err(ApiError::new(
                ErrorCode::KindMismatch,
                format!(
                    "{}proposal.kind is {} but policy {} decides {} proposals",
                    at(i),
                    s.proposal.kind,
                    policy.name,
                    policy.kind
                ),
            ));
        }
    }
    let now = state.clock().now();
    let submitter = principal.actor();
    let batch = submissions.len() > 1 || !field.is_empty();
    let new_items = submissions
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let stored = &policies[&s.policy];
            let idempotency = key.map(|k| IdempotencyClaim {
                // A space cannot occur in a client's key, so a batch item's key never collides
                // with a single submit's.
                key: if batch {
                    format!("{k} {i}")
                } else {
                    k.to_owned()
                },
                request_hash: hex::encode(Sha256::digest(
                    serde_json::to_vec(&s).expect("a submission always serialises"),
                )),
            });
            let learned = &learned[&s.policy];
            let calibrator = learned.calibrator();
            let switch = switches[&s.policy].applying(&s);
            let thresholds = learned.thresholds(&stored.policy);
            // With no threshold in force nothing is automated: every item goes to people
            // whatever it scored.
            let automates = thresholds.approve_at.is_some() || thresholds.reject_below.is_some();
            let ctx = VerdictContext {
                now,
                calibrator: calibrator
                    .as_ref()
                    .map_or(&Uncalibrated as &dyn Calibrator, |c| c as &dyn Calibrator),
                kill_switch: switch.as_ref().map(|(why, _)| why.as_str()),
                novelty: novelty.get(i).copied().flatten(),
                thresholds: Some(thresholds),
            };
            let route = verdict::decide(&stored.policy, &s, &ctx);
            // The sampling coin is drawn for every item, before looking at where it went: an
            // auto-approved item it picks is audited, a reviewed one feeds the bound.
            let coin = state.sample_audit(stored.policy.audit_rate.get());
            let whole_policy = !automates
                || route.verdict.reasons.iter().any(|r| {
                    matches!(
                        r.code,
                        ReasonCode::ShadowMode | ReasonCode::IrreversibleAction
                    )
                })
                || switch.as_ref().is_some_and(|(_, policy_wide)| *policy_wide);
            let mut item = Item::new(
                ItemId::new(),
                principal.workspace.clone(),
                &stored.policy,
                stored.version,
                s,
                route,
                submitter.clone(),
                now,
            );
            item.representative = coin || whole_policy;
            let audit = (item.status == Status::AutoApproved && coin)
                .then(|| stored.policy.audit_rate.get());
            NewItem {
                item,
                idempotency,
                audit,
            }
        })
        .collect();
    state
        .store()
        .insert_items(&principal.workspace, principal.id, new_items)
        .await
        .map_err(|e| match (e, key) {
            (StoreError::IdempotencyMismatch { index, .. }, Some(k)) if batch => ApiError::new(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "Idempotency-Key {k:?} was already used for a batch whose item {index} differs from this one; use a new key for a new batch"
                ),
            ),
            (e, _) => e.into(),
        })
}

/// The tripped kill switches of one policy, as the submit path applies them.
struct Switches {
    /// Why the whole policy is stopped, if it is.
    policy: Option<String>,
    /// Proposed labels stopped on their own, with why.
    intents: BTreeMap<String, String>,
}

impl Switches {
    fn new(tripped: Vec<loopgate_store::KillSwitch>) -> Self {
        let mut switches = Self {
            policy: None,
            intents: BTreeMap::new(),
        };
        for k in tripped {
            match k.intent {
                Some(intent) => {
                    switches.intents.insert(intent, k.reason);
                }
                None => switches.policy = Some(k.reason),
            }
        }
        switches
    }

    /// The switch that stops `submission`, with whether it stops the whole policy: the
    /// policy's own first, else the one of its proposed label.
    fn applying(&self, submission: &Submission) -> Option<(String, bool)> {
        if let Some(why) = &self.policy {
            return Some((why.clone(), true));
        }
        let label = submission.proposal.payload.get("label")?.as_str()?;
        let why = self.intents.get(label)?;
        Some((format!("intent {label}: {why}"), false))
    }
}

/// Loads an item the principal may see: agents see only what they submitted.
pub(crate) async fn visible_item(
    state: &AppState,
    principal: &Principal,
    id: ItemId,
) -> Result<Item, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorCode::ItemNotFound,
            format!("no item {id} in your workspace"),
        )
    };
    let item = state
        .store()
        .get_item(&principal.workspace, id)
        .await?
        .ok_or_else(not_found)?;
    if principal.can(Permission::ReadAllItems) || item.submitted_by.id == principal.id {
        Ok(item)
    } else {
        Err(not_found())
    }
}

/// Long-poll parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to wait for the item to become final (0 to 60). The current item is returned
    /// when it becomes final or when the wait ends, whichever is first; a server that is
    /// shutting down ends the wait at once.
    pub wait: Option<u64>,
}

/// Reads an item; with `wait`, holds the request until the item is final or the wait ends.
#[utoipa::path(
    get, path = "/v1/items/{id}", tag = "items",
    params(("id" = String, Path, description = "Item id"), WaitQuery),
    responses((status = 200, body = ItemView), (status = 400, body = ErrorBody),
              (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_item(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<WaitQuery>,
) -> Result<Json<ItemView>, ApiError> {
    let id = item_id(&id)?;
    let wait = query.wait.unwrap_or(0);
    let max = state.settings().max_wait_seconds;
    if wait > max {
        return Err(ApiError::new(
            ErrorCode::InvalidQuery,
            format!("wait must be between 0 and {max} seconds, got {wait}"),
        ));
    }
    if wait == 0 {
        let item = visible_item(&state, &principal, id).await?;
        return Ok(Json(ItemView::new(item, state.clock().now())));
    }
    let deadline = Instant::now() + std::time::Duration::from_secs(wait);
    let watch = state.watchers().watch(id);
    loop {
        // Register for the wake-up before reading, so a change between the two is not missed.
        let notified = watch.notify().notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let item = visible_item(&state, &principal, id).await?;
        if item.is_final || Instant::now() >= deadline {
            return Ok(Json(ItemView::new(item, state.clock().now())));
        }
        let woken = tokio::select! {
            () = notified => true,
            () = tokio::time::sleep_until(deadline) => false,
            // A shutting-down server answers with the item as it is, as at the wait's end.
            () = state.drained() => false,
        };
        if !woken {
            let item = visible_item(&state, &principal, id).await?;
            return Ok(Json(ItemView::new(item, state.clock().now())));
        }
    }
}

/// Listing filters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Comma-separated statuses, e.g. `queued,in_review`.
    pub status: Option<String>,
    /// Only this policy.
    pub policy: Option<String>,
    /// Only this lane.
    pub lane: Option<String>,
    /// Only this customer id.
    pub customer: Option<String>,
    /// Items older than this id: the previous page's `next_before`.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// Lists items, newest first. Agents see only the items they submitted.
#[utoipa::path(
    get, path = "/v1/items", tag = "items",
    params(ListQuery),
    responses((status = 200, body = ItemPage), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_items(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ItemPage>, ApiError> {
    let bad = |m: String| ApiError::new(ErrorCode::InvalidQuery, m);
    let max = state.settings().max_page;
    let limit = q.limit.unwrap_or(50);
    if !(1..=max).contains(&limit) {
        return Err(bad(format!(
            "limit must be between 1 and {max}, got {limit}"
        )));
    }
    let statuses = match &q.status {
        Some(s) => s
            .split(',')
            .map(|x| x.trim().parse::<Status>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(format!("status: {e}")))?,
        None => Vec::new(),
    };
    let filter = ItemFilter {
        statuses,
        policy: q
            .policy
            .as_deref()
            .map(str::parse::<PolicyName>)
            .transpose()
            .map_err(|e| bad(format!("policy: {e}")))?,
        lane: q
            .lane
            .as_deref()
            .map(str::parse::<Lane>)
            .transpose()
            .map_err(|e| bad(format!("lane: {e}")))?,
        customer_id: q.customer.clone(),
        submitted_by: (!principal.can(Permission::ReadAllItems)).then_some(principal.id),
        before: q
            .before
            .as_deref()
            .map(str::parse::<ItemId>)
            .transpose()
            .map_err(|_| bad("before must be an item id".into()))?,
        limit,
    };
    let items = state
        .store()
        .list_items(&principal.workspace, &filter)
        .await?;
    let next_before = (items.len() == limit as usize)
        .then(|| items.last().map(|i| i.id))
        .flatten();
    let now = state.clock().now();
    Ok(Json(ItemPage {
        items: items.into_iter().map(|i| ItemView::new(i, now)).collect(),
        next_before,
    }))
}

/// An item's audit entries.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditTrail {
    /// In chain order.
    pub entries: Vec<AuditEntry>,
}

/// An item's audit trail: every state change, who made it and when, hash-chained.
#[utoipa::path(
    get, path = "/v1/items/{id}/audit", tag = "audit",
    params(("id" = String, Path, description = "Item id")),
    responses((status = 200, body = AuditTrail), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn item_audit(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<AuditTrail>, ApiError> {
    let id = item_id(&id)?;
    visible_item(&state, &principal, id).await?;
    let entries = state.store().item_audit(&principal.workspace, id).await?;
    Ok(Json(AuditTrail { entries }))
}

/// An item's reviews.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReviewList {
    /// Oldest first.
    pub reviews: Vec<Review>,
}

/// An item's reviews: each person's decision, codes, rubric, edit and diff.
#[utoipa::path(
    get, path = "/v1/items/{id}/reviews", tag = "reviews",
    params(("id" = String, Path, description = "Item id")),
    responses((status = 200, body = ReviewList), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn item_reviews(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<ReviewList>, ApiError> {
    let id = item_id(&id)?;
    visible_item(&state, &principal, id).await?;
    let reviews = state.store().reviews(&principal.workspace, id).await?;
    Ok(Json(ReviewList { reviews }))
}
