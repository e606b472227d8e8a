//! Policies: create or replace by name, read, list.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use loopgate_core::audit::AuditActor;
use loopgate_core::{Permission, PolicyName, PolicySpec};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiPath, Auth, JsonBody};
use crate::state::AppState;
use crate::views::{PolicyList, PolicyView};

/// Creates a policy, or replaces the one with the same name (its version goes up by one). Items
/// already routed keep the version that routed them. Every change is in the audit trail.
#[utoipa::path(
    post, path = "/v1/policies", tag = "policies",
    request_body = PolicySpec,
    responses(
        (status = 201, description = "Created", body = PolicyView),
        (status = 200, description = "Replaced", body = PolicyView),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn put_policy(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody,
) -> Result<(StatusCode, Json<PolicyView>), ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "manage policies")?;
    let spec: PolicySpec = body.parse()?;
    let policy = spec
        .validate()
        .map_err(|problems| ApiError::new(ErrorCode::InvalidPolicy, problems.join("; ")))?;
    let store = state.store();
    if store
        .get_policy(&principal.workspace, &policy.name)
        .await?
        .is_none()
    {
        let max = state.settings().max_policies;
        if store.list_policies(&principal.workspace).await?.len() >= max {
            return Err(ApiError::new(
                ErrorCode::WorkspaceFull,
                format!(
                    "the workspace has {max} policies, the most it may; \
                     change one of them instead of adding {}",
                    policy.name
                ),
            ));
        }
    }
    let stored = state
        .store()
        .put_policy(
            &principal.workspace,
            policy,
            AuditActor::person(&principal.actor(), principal.access.as_str()),
            state.clock().now(),
        )
        .await?;
    let status = if stored.version == 1 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(stored.into())))
}

/// One policy, current version.
#[utoipa::path(
    get, path = "/v1/policies/{name}", tag = "policies",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = PolicyView), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn get_policy(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<PolicyView>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let not_found = || {
        ApiError::new(
            ErrorCode::PolicyNotFound,
            format!("no policy {name:?} in your workspace"),
        )
    };
    let name: PolicyName = name.parse().map_err(|_| not_found())?;
    let stored = state
        .store()
        .get_policy(&principal.workspace, &name)
        .await?
        .ok_or_else(not_found)?;
    Ok(Json(stored.into()))
}

/// Every policy of the workspace.
#[utoipa::path(
    get, path = "/v1/policies", tag = "policies",
    responses((status = 200, body = PolicyList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_policies(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<PolicyList>, ApiError> {
    let principal = auth.require(Permission::ReadPolicies, "read policies")?;
    let policies = state.store().list_policies(&principal.workspace).await?;
    Ok(Json(PolicyList {
        policies: policies.into_iter().map(Into::into).collect(),
    }))
}
