//! Loopgate's HTTP server: the `/v1` API, its OpenAPI document, health endpoints, and the
//! background work a running server does (returning lapsed leases to their queues).
//!
//! This is the only crate that knows HTTP. Handlers parse input into core types, ask the core for
//! verdicts and transitions, and let the store persist them; they hold no state that a second
//! server sharing the database would need.

pub mod error;
pub mod export;
pub mod extract;
pub mod keys;
pub mod learning;
pub mod model;
pub mod routes;
mod serve;
pub mod state;
pub mod views;
pub mod watch;
pub mod web;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Extension};
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use loopgate_core::audit::AuditActor;
use loopgate_core::{AccessRole, WorkspaceId};
use loopgate_store::{NewKey, Store, StoreError};
use tower_http::trace::TraceLayer;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ErrorCode};
use crate::routes::{
    audit, codes, health, items, keys as key_routes, learning as learn_routes, policies, reviews,
};
pub use crate::serve::serve;
pub use crate::state::{AppState, Settings};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Loopgate",
        description = "A human-in-the-loop gateway for AI in B2B customer support. Every AI output \
                       is submitted here; Loopgate approves the confident ones, stops the hopeless \
                       ones, and routes the rest to people by lane and SLA, recording every decision \
                       in a hash-chained audit trail. Errors are `{\"error\": {\"code\", \"message\"}}`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "items", description = "Submitting AI outputs and reading their verdicts"),
        (name = "reviews", description = "Claiming and deciding items"),
        (name = "policies", description = "How items are decided"),
        (name = "audit", description = "The tamper-evident audit trail"),
        (name = "keys", description = "API keys and principals"),
        (name = "learning", description = "Calibration, derived thresholds, audits, escape rate, kill switch, export"),
        (name = "health", description = "Liveness and readiness"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

fn api(settings: &Settings) -> OpenApiRouter<AppState> {
    let (schemas, paths, batch) = routes!(items::submit_batch);
    let batch = batch.layer(DefaultBodyLimit::max(settings.max_batch_body_bytes));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(policies::put_policy, policies::list_policies))
        .routes(routes!(policies::get_policy))
        .routes(routes!(items::submit, items::list_items))
        .routes((schemas, paths, batch))
        .routes(routes!(items::get_item))
        .routes(routes!(items::item_audit))
        .routes(routes!(items::item_reviews))
        .routes(routes!(reviews::decide))
        .routes(routes!(reviews::claim))
        .routes(routes!(codes::list_codes, codes::define_code))
        .routes(routes!(key_routes::create_key, key_routes::list_keys))
        .routes(routes!(key_routes::revoke_key))
        .routes(routes!(key_routes::me))
        .routes(routes!(audit::verify))
        .routes(routes!(learn_routes::learning_view))
        .routes(routes!(learn_routes::refit))
        .routes(routes!(learn_routes::calibration))
        .routes(routes!(learn_routes::what_if))
        .routes(routes!(learn_routes::promote))
        .routes(routes!(learn_routes::kill_switch))
        .routes(routes!(learn_routes::escape_rate))
        .routes(routes!(learn_routes::claim_audit))
        .routes(routes!(learn_routes::audit_verdict))
        .routes(routes!(learn_routes::export))
}

/// The OpenAPI document of every route the server serves.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api(&Settings::default()).into_openapi()
}

/// The whole HTTP application over `state`.
pub fn router(state: AppState) -> Router {
    let settings = state.settings().clone();
    let (router, doc) = api(&settings).split_for_parts();
    let doc: Arc<str> = doc
        .to_json()
        .expect("the OpenAPI document serialises")
        .into();
    router
        .merge(web::routes())
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(Extension(doc))
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// The OpenAPI document of this API.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "health",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(Extension(doc): Extension<Arc<str>>) -> impl IntoResponse {
    ([(CONTENT_TYPE, "application/json")], doc.to_string())
}

async fn route_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::RouteNotFound,
        format!("no endpoint at {}; see /v1/openapi.json", uri.path()),
    )
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        format!(
            "{} does not accept {method}; see /v1/openapi.json",
            uri.path()
        ),
    )
}

/// Starts the background work of a running server: lapsed leases return to their queues every
/// `interval`, even when nobody claims. Safe with several servers on one database: the store
/// re-checks each lease inside its transaction.
pub fn spawn_workers(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match state.store().expire_leases(state.clock().now(), 1000).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "returned lapsed leases to their queues"),
                Err(e) => tracing::warn!(error = %e, "lease expiry failed; will retry"),
            }
        }
    })
}

/// Refits every policy's calibrator and derived thresholds, and saves the embedded models, every
/// `interval`. Several servers
/// may run it at once: a refit is a pure function of the stored outcomes.
pub fn spawn_refits(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let policies = match state.store().all_policies().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "refit: cannot list policies; will retry");
                    continue;
                }
            };
            for (ws, name) in policies {
                let Ok(Some(stored)) = state.store().get_policy(&ws, &name).await else {
                    continue;
                };
                if let Err(e) = learning::refit(
                    state.store(),
                    state.models(),
                    &ws,
                    &stored.policy,
                    state.clock().now(),
                )
                .await
                {
                    tracing::warn!(error = %e, policy = %name, "refit failed; will retry");
                }
            }
            if let Err(e) = state
                .models()
                .save(state.store(), state.clock().now(), false)
                .await
            {
                tracing::warn!(error = %e, "saving the embedded models failed; will retry");
            }
        }
    })
}

/// Registers `secret` as the admin key of the default workspace, if the store has no key at all.
/// Returns whether it did. Lets a script start from an empty store, also when several servers
/// sharing one database start at once with the same key: one registers it, and the others find
/// it registered.
pub async fn bootstrap_admin(
    store: &dyn Store,
    secret: &str,
    now: loopgate_core::Timestamp,
) -> Result<bool, StoreError> {
    if store.has_keys().await? {
        return Ok(false);
    }
    let minted = keys::chosen(secret.to_owned());
    let hash = minted.hash;
    let created = store
        .create_key(
            NewKey {
                workspace: WorkspaceId::default_workspace(),
                name: "admin".to_owned(),
                access: AccessRole::Admin,
                reviewer_roles: Vec::new(),
                secret_hash: minted.hash,
                prefix: minted.prefix,
            },
            AuditActor::system("bootstrap"),
            now,
        )
        .await;
    match created {
        Ok(_) => Ok(true),
        Err(StoreError::Conflict(_)) if store.principal_by_key(hash).await?.is_some() => Ok(false),
        Err(e) => Err(e),
    }
}
