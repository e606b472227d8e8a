//! Verifying the workspace's audit chain over HTTP.

use axum::Json;
use axum::extract::State;
use loopgate_core::Permission;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{ApiError, ErrorBody};
use crate::extract::Auth;
use crate::state::AppState;

/// The result of verifying a workspace's audit chain.
#[derive(Debug, Serialize, ToSchema)]
pub struct Verification {
    /// True when every entry is present, unaltered and linked.
    pub valid: bool,
    /// Entries checked (up to the first break).
    pub entries: Option<i64>,
    /// The first broken entry, described.
    pub broken: Option<String>,
}

/// Verifies the caller's workspace audit chain: every entry present, unaltered, linked.
#[utoipa::path(
    get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = Verification), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("api_key" = []))
)]
pub async fn verify(
    State(state): State<AppState>,
    auth: Auth,
) -> Result<Json<Verification>, ApiError> {
    let principal = auth.require(Permission::ManagePolicies, "verify the audit trail")?;
    let report = state
        .store()
        .verify_audit()
        .await?
        .into_iter()
        .find(|r| r.workspace == principal.workspace);
    Ok(Json(match report.map(|r| r.result) {
        None => Verification {
            valid: true,
            entries: Some(0),
            broken: None,
        },
        Some(Ok(n)) => Verification {
            valid: true,
            entries: Some(n),
            broken: None,
        },
        Some(Err(b)) => Verification {
            valid: false,
            entries: None,
            broken: Some(b.to_string()),
        },
    }))
}
