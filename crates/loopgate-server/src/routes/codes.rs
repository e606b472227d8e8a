//! Decision codes: the built-in ones and a workspace's own.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use loopgate_core::Permission;
use loopgate_core::audit::AuditActor;
use loopgate_core::review::{BUILTIN_CODES, is_code_name};
use loopgate_store::CodeRecord;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{Auth, JsonBody};
use crate::state::AppState;

/// A decision code.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionCode {
    /// `UPPER_SNAKE_CASE`, 2 to 40 characters.
    pub code: String,
    /// What it means, for reviewers (1 to 500 characters).
    pub description: String,
    /// True for the codes every workspace has.
    #[serde(default)]
    pub builtin: bool,
}

/// Every decision code reviewers may use.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeList {
    /// Built-in codes first, then the workspace's own by name.
    pub codes: Vec<DecisionCode>,
}

/// The decision codes reviewers may use: built-in and the workspace's own.
#[utoipa::path(
    get, path = "/v1/decision-codes", tag = "reviews",
    responses((status = 200, body = CodeList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn list_codes(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<CodeList>, ApiError> {
    let principal = auth.require(
        loopgate_core::Permission::ReadPolicies,
        "read decision codes",
    )?;
    let mut codes: Vec<DecisionCode> = BUILTIN_CODES
        .iter()
        .map(|(c, d)| DecisionCode {
            code: (*c).to_owned(),
            description: (*d).to_owned(),
            builtin: true,
        })
        .collect();
    codes.extend(
        state
            .store()
            .decision_codes(&principal.workspace)
            .await?
            .into_iter()
            .map(|c| DecisionCode {
                code: c.code,
                description: c.description,
                builtin: false,
            }),
    );
    Ok(Json(CodeList { codes }))
}

/// Defines a workspace decision code (or changes its description).
#[utoipa::path(
    post, path = "/v1/decision-codes", tag = "reviews",
    request_body = DecisionCode,
    responses((status = 201, body = DecisionCode), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody), (status = 415, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn define_code(
    State(state): State<AppState>,
    auth: Auth,
    body: JsonBody,
) -> Result<(StatusCode, Json<DecisionCode>), ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "define decision codes")?;
    let body: DecisionCode = body.parse()?;
    if !is_code_name(&body.code) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            format!(
                "code {:?} must be UPPER_SNAKE_CASE, 2 to 40 characters",
                body.code
            ),
        ));
    }
    if BUILTIN_CODES.iter().any(|(c, _)| *c == body.code) {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("{} is a built-in code and cannot be redefined", body.code),
        ));
    }
    let description = body.description.trim();
    // NUL is refused because no database keeps it in text.
    if description.is_empty() || description.chars().count() > 500 || description.contains('\0') {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "description must be 1 to 500 characters, without NUL",
        ));
    }
    let defined = state.store().decision_codes(&principal.workspace).await?;
    let max = state.settings().max_codes;
    if defined.len() >= max && !defined.iter().any(|c| c.code == body.code) {
        return Err(ApiError::new(
            ErrorCode::WorkspaceFull,
            format!(
                "the workspace has {max} decision codes of its own, the most it may; \
                 reuse one or change its description"
            ),
        ));
    }
    let record = state
        .store()
        .define_code(
            &principal.workspace,
            CodeRecord {
                code: body.code,
                description: description.to_owned(),
            },
            AuditActor::person(&principal.actor(), principal.access.as_str()),
            state.clock().now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(DecisionCode {
            code: record.code,
            description: record.description,
            builtin: false,
        }),
    ))
}
