//! Human review: claiming the most urgent item under a lease, and deciding it.

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use loopgate_core::lifecycle::Reviewer;
use loopgate_core::{DecisionRequest, Lane, LeaseId, Permission, Role};
use loopgate_store::ClaimRequest;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, Auth, JsonBody, item_id};
use crate::state::AppState;
use crate::views::{ClaimedItem, ItemView};

/// How many of the customer's other items come with a claim.
const HISTORY: u32 = 10;

/// What to claim. Both lists are optional filters.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClaimBody {
    /// Only items requiring one of these roles (among those the caller holds).
    #[serde(default)]
    pub roles: Vec<Role>,
    /// Only items in these lanes.
    #[serde(default)]
    pub lanes: Vec<Lane>,
}

/// Leases the most urgent item the caller may handle — lane first, then the earliest SLA
/// deadline — and returns it with its full context. Items awaiting confirmation are offered to
/// anyone but their proposer. A lease lapses after the policy's `lease_seconds` (or the server
/// default) and the item returns to its queue. `204` when nothing is waiting.
#[utoipa::path(
    post, path = "/v1/reviews/claim", tag = "reviews",
    request_body(content = Option<ClaimBody>, description = "Optional filters; an empty body claims anything"),
    responses(
        (status = 200, body = ClaimedItem), (status = 204, description = "Nothing to claim"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn claim(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let principal = auth.require(Permission::Review, "review items")?;
    let body: ClaimBody = body.parse_or_default()?;
    let reviewer = Reviewer {
        actor: principal.actor(),
        roles: principal.effective_roles(),
    };
    let request = ClaimRequest {
        reviewer,
        roles: body.roles,
        lanes: body.lanes,
        lease_id: LeaseId::new(),
        default_lease: state.settings().default_lease,
        now: state.clock().now(),
    };
    let ws = &principal.workspace;
    let Some(item) = state.store().claim_next(ws, request).await? else {
        return Ok(StatusCode::NO_CONTENT.into_response());
    };
    let reviews = state.store().reviews(ws, item.id).await?;
    let history = state
        .store()
        .customer_history(ws, &item.customer.id, item.id, HISTORY)
        .await?;
    let claimed = ClaimedItem {
        item: ItemView::new(item, state.clock().now()),
        reviews,
        history: history.into_iter().map(Into::into).collect(),
    };
    Ok(Json(claimed).into_response())
}

/// Records the lease holder's decision. `approve` and `edit` become final, or wait for a second
/// person when the policy needs two; `reject` is final; `escalate` re-queues at the next role;
/// `send_back` (confirmation only) returns the item to review. A stale or lapsed lease is
/// refused with `lease_not_held` or `lease_expired`.
#[utoipa::path(
    post, path = "/v1/items/{id}/decision", tag = "reviews",
    params(("id" = String, Path, description = "Item id")),
    request_body = DecisionRequest,
    responses(
        (status = 200, body = ItemView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn decide(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    body: JsonBody,
) -> Result<Json<ItemView>, ApiError> {
    let principal = auth.require(Permission::Review, "review items")?;
    let id = item_id(&id)?;
    let request: DecisionRequest = body.parse()?;
    let ws = &principal.workspace;
    let known: BTreeSet<String> = state
        .store()
        .decision_codes(ws)
        .await?
        .into_iter()
        .map(|c| c.code)
        .collect();
    let reviewer = Reviewer {
        actor: principal.actor(),
        roles: principal.effective_roles(),
    };
    let now = state.clock().now();
    let item = state
        .store()
        .mutate_item(
            ws,
            id,
            Box::new(move |item| crate::learning::decide(item, &reviewer, &request, &known, now)),
        )
        .await?;
    Ok(Json(ItemView::new(item, state.clock().now())))
}
