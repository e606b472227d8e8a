//! The learning loop over HTTP: calibration and derived thresholds per policy, what-if replay,
//! shadow-mode promotion, audits of auto-approved items, the escape-rate estimate, the kill
//! switch, and training data out.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use loopgate_core::audit::AuditActor;
use loopgate_core::{ItemId, Kind, LeaseId, Mode, Permission, Policy, PolicyName, Principal, Role};
use loopgate_learn::escape::{self, Audit, EscapeEstimate};
use loopgate_learn::risk::{self, Outcome, WhatIf};
use loopgate_store::{AuditTask, StoredPolicy};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, Auth, JsonBody};
use crate::learning::{self, CalibrationReport, LearningView, PolicyState};
use crate::state::AppState;
use crate::views::{ItemView, PolicyView};

async fn policy(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<StoredPolicy, ApiError> {
    let not_found = || {
        ApiError::new(
            ErrorCode::PolicyNotFound,
            format!("no policy {name:?} in your workspace"),
        )
    };
    let name: PolicyName = name.parse().map_err(|_| not_found())?;
    state
        .store()
        .get_policy(&principal.workspace, &name)
        .await?
        .ok_or_else(not_found)
}

async fn view(
    state: &AppState,
    principal: &Principal,
    policy: &Policy,
) -> Result<LearningView, ApiError> {
    let learned = PolicyState::from_json(
        state
            .store()
            .policy_state(&principal.workspace, &policy.name)
            .await?,
    );
    let rows = learning::all_outcomes(state.store(), &principal.workspace, &policy.name).await?;
    let agreement = (!rows.is_empty())
        .then(|| rows.iter().filter(|r| r.correct).count() as f64 / rows.len() as f64);
    Ok(LearningView {
        mode: policy.mode,
        thresholds: learned.thresholds(policy),
        state: learned,
        agreement,
        intents: learning::intent_stats(&rows),
    })
}

/// What a policy has learned: calibrator, thresholds in force and why, agreement of people
/// with the AI (in shadow mode: what automating would have kept).
#[utoipa::path(
    get, path = "/v1/policies/{name}/learning", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = LearningView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn learning_view(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<LearningView>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let stored = policy(&state, principal, &name).await?;
    Ok(Json(view(&state, principal, &stored.policy).await?))
}

/// Refits the policy's calibrator and derived thresholds now (they are also refitted on a
/// cadence). A change of thresholds is recorded in the audit trail.
#[utoipa::path(
    post, path = "/v1/policies/{name}/refit", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = LearningView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn refit(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<LearningView>, ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "refit policies")?;
    let stored = policy(&state, principal, &name).await?;
    learning::refit(
        state.store(),
        state.models(),
        &principal.workspace,
        &stored.policy,
        state.clock().now(),
    )
    .await?;
    Ok(Json(view(&state, principal, &stored.policy).await?))
}

/// The reliability table and ECE of the policy's calibrator on its labelled outcomes.
#[utoipa::path(
    get, path = "/v1/policies/{name}/calibration", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = CalibrationReport), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn calibration(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<CalibrationReport>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let stored = policy(&state, principal, &name).await?;
    let learned = PolicyState::from_json(
        state
            .store()
            .policy_state(&principal.workspace, &stored.policy.name)
            .await?,
    );
    let rows =
        learning::all_outcomes(state.store(), &principal.workspace, &stored.policy.name).await?;
    Ok(Json(learning::calibration_report(&learned, &rows)))
}

/// Thresholds to replay over history.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfRequest {
    /// Approve at or above this calibrated confidence; never when absent.
    pub approve_at: Option<f64>,
    /// Reject below this calibrated confidence; never when absent.
    pub reject_below: Option<f64>,
}

/// What-if replay.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhatIfResult {
    /// Labelled outcomes replayed.
    pub items: u64,
    /// Share decided without a person.
    pub automation_rate: f64,
    /// Share auto-approved.
    pub auto_approve_share: f64,
    /// Share auto-rejected.
    pub auto_reject_share: f64,
    /// Auto-approved outcomes that were wrong.
    pub escapes: u64,
    /// Their share among the auto-approved.
    pub escape_rate: f64,
    /// 95% Clopper–Pearson upper bound on the escape rate.
    pub escape_rate_upper: f64,
}

impl From<WhatIf> for WhatIfResult {
    fn from(w: WhatIf) -> Self {
        Self {
            items: w.items,
            automation_rate: w.automation_rate,
            auto_approve_share: w.auto_approve_share,
            auto_reject_share: w.auto_reject_share,
            escapes: w.escapes,
            escape_rate: w.escape_rate,
            escape_rate_upper: w.escape_rate_upper,
        }
    }
}

/// Replays proposed thresholds over the policy's labelled history (calibrated with the current
/// calibrator): the automation they would buy and the escape rate with its bound.
#[utoipa::path(
    post, path = "/v1/policies/{name}/what-if", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    request_body = WhatIfRequest,
    responses((status = 200, body = WhatIfResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn what_if(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    body: JsonBody,
) -> Result<Json<WhatIfResult>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let request: WhatIfRequest = body.parse()?;
    for (field, value) in [
        ("approve_at", request.approve_at),
        ("reject_below", request.reject_below),
    ] {
        if value.is_some_and(|v| !(0.0..=1.0).contains(&v)) {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{field} must be a probability between 0 and 1"),
            ));
        }
    }
    let stored = policy(&state, principal, &name).await?;
    let learned = PolicyState::from_json(
        state
            .store()
            .policy_state(&principal.workspace, &stored.policy.name)
            .await?,
    );
    let rows =
        learning::all_outcomes(state.store(), &principal.workspace, &stored.policy.name).await?;
    let history: Vec<Outcome> = rows
        .iter()
        .map(|r| Outcome {
            score: learned
                .calibrator
                .map_or(r.score, |c| c.probability(r.score)),
            correct: r.correct,
        })
        .collect();
    let replay = risk::what_if(&history, request.approve_at, request.reject_below, 0.05)
        .map_err(|e| ApiError::new(ErrorCode::InvalidRequest, e.to_string()))?;
    Ok(Json(replay.into()))
}

/// Moves a policy from shadow mode to live: one audited change of the policy.
#[utoipa::path(
    post, path = "/v1/policies/{name}/promote", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn promote(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "promote policies")?;
    let stored = policy(&state, principal, &name).await?;
    if stored.policy.mode == Mode::Live {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("policy {name} is already live"),
        ));
    }
    let mut spec = stored.policy.into_spec();
    spec.mode = Mode::Live;
    let policy = spec
        .validate()
        .map_err(|p| ApiError::new(ErrorCode::InvalidPolicy, p.join("; ")))?;
    let stored = state
        .store()
        .put_policy(
            &principal.workspace,
            policy,
            AuditActor::person(&principal.actor(), principal.access.as_str()),
            state.clock().now(),
        )
        .await?;
    Ok(Json(stored.into()))
}

/// A kill switch action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KillSwitchRequest {
    /// `trip` or `reset`.
    pub action: String,
    /// Why, for the audit trail (1 to 500 characters).
    pub reason: String,
    /// For a label policy: the proposed label whose switch to act on (1 to 200 characters).
    /// Absent: the switch of the whole policy.
    pub intent: Option<String>,
}

/// One kill switch's state.
#[derive(Debug, Serialize, ToSchema)]
pub struct KillSwitchView {
    /// The proposed label the switch stops; absent for the whole policy.
    pub intent: Option<String>,
    /// Whether every item of the scope goes to people.
    pub tripped: bool,
    /// Why, when tripped.
    pub reason: Option<String>,
    /// Who or what tripped it.
    pub tripped_by: Option<String>,
    /// Every tripped switch of the policy, policy-wide and per intent.
    #[schema(value_type = Vec<Object>)]
    pub policy_switches: Vec<loopgate_store::KillSwitch>,
}

/// Trips or resets a kill switch by hand — the policy's, or (for a label policy) one proposed
/// label's; both are in the audit trail. While tripped, every item of the scope goes to people.
#[utoipa::path(
    post, path = "/v1/policies/{name}/kill-switch", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    request_body = KillSwitchRequest,
    responses((status = 200, body = KillSwitchView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn kill_switch(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
    body: JsonBody,
) -> Result<Json<KillSwitchView>, ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "trip or reset kill switches")?;
    let request: KillSwitchRequest = body.parse()?;
    let reason = request.reason.trim();
    // NUL is refused because no database keeps it in text.
    if reason.is_empty() || reason.chars().count() > 500 || reason.contains('\0') {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "reason must be 1 to 500 characters, without NUL",
        ));
    }
    let intent = request.intent.as_deref().map(str::trim);
    if intent.is_some_and(|i| i.is_empty() || i.chars().count() > 200) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "intent must be 1 to 200 characters, or absent for the whole policy",
        ));
    }
    let stored = policy(&state, principal, &name).await?;
    if intent.is_some() && stored.policy.kind != Kind::Label {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "intent: policy {} decides {} proposals; only label policies have per-intent kill switches",
                stored.policy.name, stored.policy.kind
            ),
        ));
    }
    let ws = &principal.workspace;
    let actor = AuditActor::person(&principal.actor(), principal.access.as_str());
    let now = state.clock().now();
    match request.action.as_str() {
        "trip" => {
            state
                .store()
                .trip_kill_switch(ws, &stored.policy.name, intent, reason, actor, now)
                .await?;
        }
        "reset" => match state
            .store()
            .reset_kill_switch(ws, &stored.policy.name, intent, reason, actor, now)
            .await
        {
            Ok(()) | Err(loopgate_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        },
        other => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("action must be trip or reset, not {other:?}"),
            ));
        }
    }
    let switches = state
        .store()
        .policy_kill_switches(ws, &stored.policy.name)
        .await?;
    let switch = switches
        .iter()
        .find(|k| k.intent.as_deref() == intent)
        .cloned();
    Ok(Json(KillSwitchView {
        intent: intent.map(str::to_owned),
        tripped: switch.is_some(),
        reason: switch.as_ref().map(|k| k.reason.clone()),
        tripped_by: switch.map(|k| k.tripped_by),
        policy_switches: switches,
    }))
}

/// The escape-rate estimate of a policy from its audits (Horvitz–Thompson and Hájek, with a
/// 95% interval). 404 `no_audits` style answers are avoided: with no audit yet, the estimate is
/// absent.
#[derive(Debug, Serialize, ToSchema)]
pub struct EscapeView {
    /// Auto-approved items of the policy.
    pub auto_approved: u64,
    /// Audits sampled, and done.
    pub audits_sampled: usize,
    /// Audits with a verdict.
    pub audits_done: usize,
    /// The estimate, once an audit is done.
    #[schema(value_type = Option<Object>)]
    pub estimate: Option<EscapeEstimate>,
}

/// The escape rate among a policy's auto-approved items, estimated from its audits.
#[utoipa::path(
    get, path = "/v1/policies/{name}/escape", tag = "learning",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = EscapeView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn escape_rate(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<EscapeView>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let stored = policy(&state, principal, &name).await?;
    let ws = &principal.workspace;
    let audits = state.store().audits(ws, &stored.policy.name).await?;
    let population = state.store().auto_approved(ws, &stored.policy.name).await?;
    let done: Vec<Audit> = audits
        .iter()
        .filter_map(|a| {
            a.escaped.map(|escaped| Audit {
                inclusion_probability: a.probability,
                escaped,
            })
        })
        .collect();
    let estimate = if done.is_empty() {
        None
    } else {
        Some(
            escape::estimate(&done, population.max(done.len() as u64) as usize, 0.95)
                .map_err(|e| ApiError::new(ErrorCode::Internal, e.to_string()))?,
        )
    };
    Ok(Json(EscapeView {
        auto_approved: population,
        audits_sampled: audits.len(),
        audits_done: done.len(),
        estimate,
    }))
}

/// A claimed audit with its item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimedAudit {
    /// The audit, with its lease.
    #[schema(value_type = Object)]
    pub audit: AuditTask,
    /// The auto-approved item to judge.
    pub item: ItemView,
}

/// Leases the oldest waiting audit of an auto-approved item to a quality reviewer (or higher).
/// `204` when none waits.
#[utoipa::path(
    post, path = "/v1/audits/claim", tag = "learning",
    responses((status = 200, body = ClaimedAudit), (status = 204, description = "No audit waiting"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn claim_audit(State(state): State<AppState>, auth: Auth) -> Result<Response, ApiError> {
    let principal = auth.require(Permission::Review, "audit items")?;
    if !principal
        .effective_roles()
        .iter()
        .any(|r| *r >= Role::Quality)
    {
        return Err(ApiError::new(
            ErrorCode::RoleTooLow,
            "audits are for quality reviewers and SMEs",
        ));
    }
    let now = state.clock().now();
    let claimed = state
        .store()
        .claim_audit(
            &principal.workspace,
            AuditActor::person(&principal.actor(), "quality"),
            LeaseId::new(),
            now + state.settings().default_lease,
            now,
        )
        .await?;
    Ok(match claimed {
        None => StatusCode::NO_CONTENT.into_response(),
        Some((audit, item)) => Json(ClaimedAudit {
            audit,
            item: ItemView::new(item, now),
        })
        .into_response(),
    })
}

/// An audit verdict.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuditVerdict {
    /// The lease from the claim.
    pub lease_id: LeaseId,
    /// True when the auto-approved proposal was wrong: an escape.
    pub escaped: bool,
    /// For label policies: the right label, when it escaped (trains the embedded model).
    #[serde(default)]
    pub label: Option<String>,
    /// Decision codes.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Why.
    #[serde(default)]
    pub rationale: Option<String>,
}

/// The audit as recorded.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditResult {
    /// The audit.
    #[schema(value_type = Object)]
    pub audit: AuditTask,
    /// Whether this verdict tripped a kill switch (the policy's, or its proposed label's).
    pub kill_switch_tripped: bool,
    /// The scopes it tripped: `policy`, or `intent:<label>` for a label policy's intent.
    pub tripped: Vec<String>,
}

/// Records an audit verdict under its lease. It becomes a labelled outcome, feeds the escape
/// estimate and the escape monitor, which trips the policy's kill switch when escapes spike.
#[utoipa::path(
    post, path = "/v1/audits/{id}/verdict", tag = "learning",
    params(("id" = String, Path, description = "Audit id")),
    request_body = AuditVerdict,
    responses((status = 200, body = AuditResult), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
              (status = 413, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn audit_verdict(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
    body: JsonBody,
) -> Result<Json<AuditResult>, ApiError> {
    let principal = auth.require(Permission::Review, "audit items")?;
    let verdict: AuditVerdict = body.parse()?;
    if verdict
        .rationale
        .as_ref()
        .is_some_and(|r| r.chars().count() > 20_000)
    {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "rationale must be at most 20000 characters",
        ));
    }
    let now = state.clock().now();
    let ws = &principal.workspace;
    let (audit, item) = state
        .store()
        .record_audit(
            ws,
            &id,
            verdict.lease_id,
            AuditActor::person(&principal.actor(), "quality"),
            verdict.escaped,
            json!({"label": verdict.label, "codes": verdict.codes, "rationale": verdict.rationale}),
            now,
        )
        .await
        .map_err(|e| match e {
            loopgate_store::StoreError::NotFound(_) => ApiError::new(
                ErrorCode::AuditNotFound,
                format!("no audit {id} in your workspace"),
            ),
            loopgate_store::StoreError::Conflict(m) => ApiError::new(ErrorCode::LeaseNotHeld, m),
            other => other.into(),
        })?;
    let policy = state
        .store()
        .get_policy(ws, &item.policy)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::PolicyNotFound, "the item's policy is gone"))?;
    let tripped = learning::monitor_audit(
        state.store(),
        ws,
        &policy.policy,
        learning::intent_of(&item).as_deref(),
        verdict.escaped,
        now,
    )
    .await?;
    Ok(Json(AuditResult {
        audit,
        kill_switch_tripped: !tripped.is_empty(),
        tripped: tripped
            .into_iter()
            .map(|scope| scope.map_or_else(|| "policy".to_owned(), |l| format!("intent:{l}")))
            .collect(),
    }))
}

/// What to export.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only items decided at or after this time (RFC 3339); everything when absent.
    pub since: Option<DateTime<Utc>>,
    /// Only this policy.
    pub policy: Option<String>,
}

/// Streams, as JSON Lines, every item people decided: the input, the AI's proposal, the final
/// payload and whether the proposal was right, each review (codes, rubric, diff), and a
/// preference pair (chosen = final, rejected = proposal) for edits, for fine-tuning the agent's
/// own model.
#[utoipa::path(
    get, path = "/v1/export", tag = "learning",
    params(ExportQuery),
    responses((status = 200, description = "JSON Lines", content_type = "application/x-ndjson"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn export(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(query): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    let principal = auth
        .require(Permission::ManagePolicies, "export training data")?
        .clone();
    let policy = match &query.policy {
        Some(p) => Some(
            p.parse::<PolicyName>()
                .map_err(|e| ApiError::new(ErrorCode::InvalidQuery, format!("policy: {e}")))?,
        ),
        None => None,
    };
    let since = query.since.unwrap_or(DateTime::<Utc>::MIN_UTC);
    let store = state.store_arc();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<String, std::io::Error>>(16);
    tokio::spawn(async move {
        let mut after: Option<ItemId> = None;
        loop {
            let page = match store
                .decided_items(&principal.workspace, since, policy.as_ref(), after, 500)
                .await
            {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                    return;
                }
            };
            let Some(last) = page.last() else {
                return;
            };
            after = Some(last.id);
            for item in page {
                let reviews = store
                    .reviews(&principal.workspace, item.id)
                    .await
                    .unwrap_or_default();
                let line = crate::export::record(&item, &reviews);
                if tx.send(Ok(format!("{line}\n"))).await.is_err() {
                    return;
                }
            }
        }
    });
    let stream = tokio_stream::wrappers::ReceiverStream::new(rx);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}
