//! The API's one error type. Every failure leaves as
//! `{"error": {"code": "stable_snake_case", "message": "what was wrong and how to fix it"}}` with
//! the status from [`ErrorCode::status`]; the code table below is the only place they are paired.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use loopgate_core::lifecycle::TransitionError;
use loopgate_store::StoreError;
use serde::Serialize;
use utoipa::ToSchema;

macro_rules! error_codes {
    ($($variant:ident => ($status:ident, $code:literal, $doc:literal)),+ $(,)?) => {
        /// Stable error codes. Clients may match on them; they are never renamed.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum ErrorCode {
            $(#[doc = $doc] $variant),+
        }

        impl ErrorCode {
            /// Every code, for documentation and tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant),+];

            /// The HTTP status this code is sent with.
            pub fn status(self) -> StatusCode {
                match self { $(ErrorCode::$variant => StatusCode::$status),+ }
            }

            /// The code as sent.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $code),+ }
            }

            /// What the code means.
            pub fn description(self) -> &'static str {
                match self { $(ErrorCode::$variant => $doc),+ }
            }
        }
    };
}

error_codes! {
    MalformedJson => (BAD_REQUEST, "malformed_json", "The body is not valid JSON."),
    JsonTooDeep => (BAD_REQUEST, "json_too_deep", "The body nests arrays and objects deeper than the limit (32 levels)."),
    InvalidQuery => (BAD_REQUEST, "invalid_query", "A query parameter is missing or malformed."),
    InvalidHeader => (BAD_REQUEST, "invalid_header", "A header is malformed."),
    InvalidPath => (BAD_REQUEST, "invalid_path", "A path parameter is malformed, e.g. an id that is not a UUID."),
    Unauthenticated => (UNAUTHORIZED, "unauthenticated", "No valid API key: send Authorization: Bearer <key>."),
    Forbidden => (FORBIDDEN, "forbidden", "The key's role does not allow this request."),
    RoleTooLow => (FORBIDDEN, "role_too_low", "The item requires a higher reviewer role."),
    ProposerCannotConfirm => (FORBIDDEN, "proposer_cannot_confirm", "The proposer of an approval cannot confirm it."),
    RouteNotFound => (NOT_FOUND, "route_not_found", "No such endpoint."),
    ItemNotFound => (NOT_FOUND, "item_not_found", "No such item in the workspace."),
    PolicyNotFound => (NOT_FOUND, "policy_not_found", "No such policy in the workspace."),
    KeyNotFound => (NOT_FOUND, "key_not_found", "No such key in the workspace."),
    AuditNotFound => (NOT_FOUND, "audit_not_found", "No such audit in the workspace."),
    MethodNotAllowed => (METHOD_NOT_ALLOWED, "method_not_allowed", "The endpoint exists but not with this method."),
    RequestTimeout => (REQUEST_TIMEOUT, "request_timeout", "The request's body paused for longer than the server waits (LOOPGATE_CLIENT_TIMEOUT_SECONDS), or took more than 10 minutes in all; nothing was done. Send the request again."),
    LeaseNotHeld => (CONFLICT, "lease_not_held", "The decision's lease is not the item's current lease."),
    LeaseExpired => (CONFLICT, "lease_expired", "The decision's lease has expired."),
    ItemNotClaimable => (CONFLICT, "item_not_claimable", "The item is not waiting for a reviewer."),
    CannotEscalate => (CONFLICT, "cannot_escalate", "The item is at the highest role already."),
    Conflict => (CONFLICT, "conflict", "The request contradicts what is stored."),
    PayloadTooLarge => (PAYLOAD_TOO_LARGE, "payload_too_large", "The body exceeds the size limit."),
    UnsupportedMediaType => (UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "The body must be JSON (Content-Type: application/json)."),
    InvalidRequest => (UNPROCESSABLE_ENTITY, "invalid_request", "The JSON is well-formed but a field is missing, of the wrong type or out of range."),
    InvalidPolicy => (UNPROCESSABLE_ENTITY, "invalid_policy", "The policy's settings are inconsistent."),
    UnknownPolicy => (UNPROCESSABLE_ENTITY, "unknown_policy", "The submission names a policy that does not exist."),
    KindMismatch => (UNPROCESSABLE_ENTITY, "kind_mismatch", "The proposal's kind differs from the policy's."),
    InvalidDecision => (UNPROCESSABLE_ENTITY, "invalid_decision", "The decision is inconsistent, e.g. edit without edited_payload, or an unknown code."),
    EditChangesNothing => (UNPROCESSABLE_ENTITY, "edit_changes_nothing", "An edit must change the payload; use approve otherwise."),
    SendBackOutsideConfirmation => (UNPROCESSABLE_ENTITY, "send_back_outside_confirmation", "send_back is only for confirming a second person's approval."),
    IdempotencyKeyReused => (UNPROCESSABLE_ENTITY, "idempotency_key_reused", "The Idempotency-Key was used for a different request."),
    BatchTooLarge => (UNPROCESSABLE_ENTITY, "batch_too_large", "The batch has too many items or none."),
    WorkspaceFull => (UNPROCESSABLE_ENTITY, "workspace_full", "The workspace holds as many policies, or decision codes of its own, as it may (1,000 each)."),
    RateLimited => (TOO_MANY_REQUESTS, "rate_limited", "The key sent more requests than its rate limit; retry after the Retry-After header's seconds."),
    Unavailable => (SERVICE_UNAVAILABLE, "unavailable", "The database is unreachable or busy; retry later."),
    StorageFull => (INSUFFICIENT_STORAGE, "storage_full", "The disk holding the database is full; nothing was written. Retry once an operator has freed space."),
    Internal => (INTERNAL_SERVER_ERROR, "internal", "An unexpected server failure; it is logged."),
}

/// An error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The code, and through it the status.
    pub code: ErrorCode,
    /// For people: what was wrong and how to fix it.
    pub message: String,
    /// Seconds after which a retry may succeed, sent as `Retry-After`.
    pub retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// An error's code and message.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `lease_expired`.
    pub code: String,
    /// What was wrong and how to fix it.
    pub message: String,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 for a key over its rate limit, retryable after `wait`.
    pub fn rate_limited(wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Self {
            retry_after: Some(seconds.max(1)),
            ..Self::new(
                ErrorCode::RateLimited,
                "this key is over its rate limit; slow down and retry after the Retry-After seconds",
            )
        }
    }

    /// 403 for a role without the right.
    pub fn forbidden(what: &str) -> Self {
        Self::new(
            ErrorCode::Forbidden,
            format!("your key's role may not {what}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.code.status().is_server_error() {
            tracing::error!(code = self.code.as_str(), message = %self.message, "request failed");
        }
        let retry_after = match self.code {
            ErrorCode::Unavailable => Some(self.retry_after.unwrap_or(1)),
            ErrorCode::StorageFull => Some(self.retry_after.unwrap_or(30)),
            _ => self.retry_after,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.as_str().to_owned(),
                message: self.message,
            },
        };
        let mut response = (self.code.status(), axum::Json(body)).into_response();
        if self.code == ErrorCode::Unauthenticated {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        use TransitionError::*;
        let code = match &e {
            NotClaimable { .. } => ErrorCode::ItemNotClaimable,
            RoleTooLow { .. } => ErrorCode::RoleTooLow,
            ProposerCannotConfirm => ErrorCode::ProposerCannotConfirm,
            LeaseNotHeld { .. } | LeaseNotExpired => ErrorCode::LeaseNotHeld,
            LeaseExpired { .. } => ErrorCode::LeaseExpired,
            CannotEscalate => ErrorCode::CannotEscalate,
            SendBackOutsideConfirmation => ErrorCode::SendBackOutsideConfirmation,
            EditChangesNothing => ErrorCode::EditChangesNothing,
            Invalid(_) => ErrorCode::InvalidDecision,
        };
        Self::new(code, e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound("item") => {
                Self::new(ErrorCode::ItemNotFound, "no such item in your workspace")
            }
            StoreError::NotFound("policy") => Self::new(
                ErrorCode::PolicyNotFound,
                "no such policy in your workspace",
            ),
            StoreError::NotFound("key") => {
                Self::new(ErrorCode::KeyNotFound, "no such key in your workspace")
            }
            StoreError::NotFound("audit") => {
                Self::new(ErrorCode::AuditNotFound, "no such audit in your workspace")
            }
            StoreError::NotFound(what) => {
                Self::new(ErrorCode::RouteNotFound, format!("no such {what}"))
            }
            StoreError::Rejected(t) => t.into(),
            StoreError::IdempotencyMismatch { key, .. } => Self::new(
                ErrorCode::IdempotencyKeyReused,
                format!(
                    "Idempotency-Key {key:?} was already used with a different body; use a new key for a new request"
                ),
            ),
            StoreError::Conflict(m) => Self::new(ErrorCode::Conflict, m),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                Self::new(
                    ErrorCode::Unavailable,
                    "the database is unavailable; retry shortly",
                )
            }
            StoreError::Full(m) => {
                tracing::error!(error = %m, "the database disk is full; writes fail until space is freed");
                Self::new(
                    ErrorCode::StorageFull,
                    "the server's disk is full, so nothing was written; retry once space is freed",
                )
            }
            StoreError::Internal(m) => {
                Self::new(ErrorCode::Internal, format!("internal error: {m}"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_snake_case_and_client_errors_are_4xx() {
        let mut seen = std::collections::BTreeSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "duplicate {}", code.as_str());
            assert!(
                code.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            let server = matches!(
                code,
                ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::StorageFull
            );
            assert_eq!(code.status().is_server_error(), server, "{}", code.as_str());
        }
    }
}
