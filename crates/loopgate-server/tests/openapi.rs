//! The OpenAPI document served at `/v1/openapi.json` lists every route the server serves, and
//! every route it lists is served.

mod common;

use std::collections::BTreeSet;

use common::{Body, TestApp, documented};
use reqwest::Method;
use serde_json::Value;

/// Every route registered in `api()` in `src/lib.rs`. A route added there must be added here.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/openapi.json"),
    ("POST", "/v1/policies"),
    ("GET", "/v1/policies"),
    ("GET", "/v1/policies/{name}"),
    ("POST", "/v1/items"),
    ("GET", "/v1/items"),
    ("POST", "/v1/items:batch"),
    ("GET", "/v1/items/{id}"),
    ("GET", "/v1/items/{id}/audit"),
    ("GET", "/v1/items/{id}/reviews"),
    ("POST", "/v1/items/{id}/decision"),
    ("POST", "/v1/reviews/claim"),
    ("GET", "/v1/decision-codes"),
    ("POST", "/v1/decision-codes"),
    ("POST", "/v1/keys"),
    ("GET", "/v1/keys"),
    ("DELETE", "/v1/keys/{id}"),
    ("GET", "/v1/me"),
    ("GET", "/v1/audit/verify"),
    ("GET", "/v1/policies/{name}/learning"),
    ("POST", "/v1/policies/{name}/refit"),
    ("GET", "/v1/policies/{name}/calibration"),
    ("POST", "/v1/policies/{name}/what-if"),
    ("POST", "/v1/policies/{name}/promote"),
    ("POST", "/v1/policies/{name}/kill-switch"),
    ("GET", "/v1/policies/{name}/escape"),
    ("POST", "/v1/audits/claim"),
    ("POST", "/v1/audits/{id}/verdict"),
    ("GET", "/v1/export"),
];

/// Routes anyone may call without a key.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/v1/openapi.json"];

async fn document(app: &TestApp) -> Value {
    let res = app
        .send(Method::GET, "/v1/openapi.json", None, Body::Empty)
        .await;
    assert_eq!(res.header("content-type"), Some("application/json"));
    res.expect(200).clone()
}

#[tokio::test]
async fn the_document_lists_every_served_route_and_nothing_else() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let listed = documented(&doc);
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(listed, served);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(
        doc,
        serde_json::to_value(loopgate_server::openapi()).expect("JSON")
    );
}

#[tokio::test]
async fn every_documented_route_is_served() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    for (method, path) in documented(&doc) {
        let concrete = path
            .replace("{id}", "0190c1b2-0000-7000-8000-000000000000")
            .replace("{name}", "reply.draft");
        let method: Method = method.parse().expect("method");
        let res = app.send(method.clone(), &concrete, None, Body::Empty).await;

        assert!(
            !matches!(res.status.as_u16(), 404 | 405),
            "{method} {path} is documented but not served: {}",
            res.status
        );
        if PUBLIC.contains(&path.as_str()) {
            res.expect(200);
        } else {
            res.expect_error(401, "unauthenticated");
            let secured = &doc["paths"][&path][method.as_str().to_lowercase()]["security"];
            assert!(secured.is_array(), "{method} {path} documents its API key");
        }
    }
}

#[tokio::test]
async fn the_documented_routes_are_stable() {
    let app = TestApp::spawn().await;
    let doc = document(&app).await;

    let lines: Vec<String> = documented(&doc)
        .into_iter()
        .map(|(m, p)| format!("{m} {p}"))
        .collect();

    insta::assert_snapshot!("routes", lines.join("\n"));
}

#[tokio::test]
async fn health_endpoints_answer_without_a_key() {
    let app = TestApp::spawn().await;

    for path in ["/healthz", "/readyz"] {
        let res = app.send(Method::GET, path, None, Body::Empty).await;
        assert_eq!(res.expect(200)["status"], "ok", "{path}");
    }
}
