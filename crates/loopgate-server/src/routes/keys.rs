//! API keys over HTTP, for admins: create (the secret is shown once), list, revoke.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, KeyId, Permission, Principal, Role};
use loopgate_store::NewKey;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiPath, ApiQuery, Auth, JsonBody};
use crate::keys;
use crate::state::AppState;
use crate::views::{CreatedKey, KeyList, KeyView};

/// A key to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// The principal's name (1 to 100 characters), unique in the workspace. A second key for an
    /// existing name belongs to the same principal (for rotation).
    pub name: String,
    /// `agent`, `reviewer`, `lead` or `admin`.
    pub role: AccessRole,
    /// For reviewers: the roles they review in, e.g. `["triage", "quality"]`.
    #[serde(default)]
    pub reviewer_roles: Vec<Role>,
}

/// Checks a key request: a sensible name, and reviewer roles exactly for reviewers.
pub fn check_new_key(name: &str, role: AccessRole, reviewer_roles: &[Role]) -> Result<(), String> {
    if name.trim().is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err("name must be 1 to 100 printable characters".into());
    }
    match (role, reviewer_roles.is_empty()) {
        (AccessRole::Reviewer, true) => {
            Err("a reviewer needs reviewer_roles, e.g. [\"triage\"] (triage, quality, sme)".into())
        }
        (AccessRole::Reviewer, false) => Ok(()),
        (other, false) => Err(format!(
            "reviewer_roles are only for reviewers; a {other} reviews in every role or none"
        )),
        (_, true) => Ok(()),
    }
}

/// Creates an API key in the caller's workspace. The secret is in the response only.
#[utoipa::path(
    post, path = "/v1/keys", tag = "keys",
    request_body = CreateKey,
    responses((status = 201, body = CreatedKey), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn create_key(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody,
) -> Result<(StatusCode, Json<CreatedKey>), ApiError> {
    let principal = auth.require(Permission::ManageKeys, "manage keys")?;
    let body: CreateKey = body.parse()?;
    let mut roles = body.reviewer_roles.clone();
    roles.sort();
    roles.dedup();
    check_new_key(&body.name, body.role, &roles)
        .map_err(|m| ApiError::new(ErrorCode::InvalidRequest, m))?;
    let minted = keys::mint();
    let record = state
        .store()
        .create_key(
            NewKey {
                workspace: principal.workspace.clone(),
                name: body.name.trim().to_owned(),
                access: body.role,
                reviewer_roles: roles,
                secret_hash: minted.hash,
                prefix: minted.prefix.clone(),
            },
            actor(principal),
            state.clock().now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedKey {
            key: minted.secret,
            record: record.into(),
        }),
    ))
}

/// A page of the key listing.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyQuery {
    /// Keys made before this one: the previous page's `next_before`.
    pub before: Option<String>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// The workspace's keys, newest first, a page at a time; revoked keys included. Secrets are
/// never shown.
#[utoipa::path(
    get, path = "/v1/keys", tag = "keys",
    params(KeyQuery),
    responses((status = 200, body = KeyList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_keys(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(q): ApiQuery<KeyQuery>,
) -> Result<Json<KeyList>, ApiError> {
    let principal = auth.require(Permission::ManageKeys, "manage keys")?;
    let bad = |m: String| ApiError::new(ErrorCode::InvalidQuery, m);
    let max = state.settings().max_page;
    let limit = q.limit.unwrap_or(100);
    if !(1..=max).contains(&limit) {
        return Err(bad(format!(
            "limit must be between 1 and {max}, got {limit}"
        )));
    }
    let before = q
        .before
        .as_deref()
        .map(str::parse::<KeyId>)
        .transpose()
        .map_err(|_| bad("before must be a key id".into()))?;
    let keys = state
        .store()
        .list_keys(&principal.workspace, before, limit)
        .await?;
    let next_before = (keys.len() == limit as usize)
        .then(|| keys.last().map(|k| k.id.to_string()))
        .flatten();
    Ok(Json(KeyList {
        keys: keys.into_iter().map(Into::into).collect(),
        next_before,
    }))
}

/// Revokes a key at once; requests with it fail from now on.
#[utoipa::path(
    delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    auth: Auth,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<KeyView>, ApiError> {
    let principal = auth.require(Permission::ManageKeys, "manage keys")?;
    let id: KeyId = id.parse().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidPath,
            format!("{id:?} is not a key id; ids are UUIDs"),
        )
    })?;
    let record = state
        .store()
        .revoke_key(
            &principal.workspace,
            id,
            actor(principal),
            state.clock().now(),
        )
        .await?;
    Ok(Json(record.into()))
}

fn actor(p: &Principal) -> AuditActor {
    AuditActor::person(&p.actor(), p.access.as_str())
}

/// Who the caller is.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The principal behind the key.
    pub principal: Principal,
    /// Reviewer roles they may act in.
    pub effective_roles: Vec<Role>,
}

/// The principal behind the key: name, workspace, role. Useful to check a key works.
#[utoipa::path(
    get, path = "/v1/me", tag = "keys",
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn me(Auth(principal): Auth) -> Json<Me> {
    let effective_roles = principal.effective_roles();
    Json(Me {
        principal,
        effective_roles,
    })
}
