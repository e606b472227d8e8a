//! Regressions: behaviour that was once wrong, each test named after what must hold.

mod common;

use common::{Body, MAX_BODY, TestApp, id, submission};
use reqwest::Method;
use serde_json::json;

/// `parse_json` deserialises while it parses, so a data error met before the syntax error wins:
/// a body that is not JSON at all is answered 422 `invalid_request` instead of 400
/// `malformed_json`.
#[tokio::test]
async fn a_body_that_is_not_json_is_always_malformed_json() {
    let app = TestApp::spawn().await;
    for body in [
        &b"{\"policy\": "[..],
        b"{} trailing",
        b"{\"name\": 5",
        b"[1, 2",
    ] {
        app.send(
            Method::POST,
            "/v1/policies",
            Some(&app.admin),
            Body::Raw(Some("application/json"), body.to_vec()),
        )
        .await
        .expect_error(400, "malformed_json");
    }
}

/// The OpenAPI document leaves out statuses the server answers with.
#[tokio::test]
async fn every_status_the_server_answers_is_documented() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let reviewer = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let doc = app
        .get("/v1/openapi.json", &app.admin)
        .await
        .expect(200)
        .clone();
    let big = || Body::Raw(Some("application/json"), vec![b' '; MAX_BODY + 1]);
    let text = || Body::Raw(Some("text/plain"), b"{}".to_vec());
    let garbled = || Body::Raw(Some("application/json"), b"{".to_vec());
    let decision = format!("/v1/items/{}/decision", id(&item));
    let cases: Vec<(Method, &str, String, &str, Body)> = vec![
        (
            Method::GET,
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            &agent,
            Body::Empty,
        ),
        (
            Method::GET,
            "/v1/items/{id}/audit",
            "/v1/items/x/audit".into(),
            &agent,
            Body::Empty,
        ),
        (
            Method::GET,
            "/v1/items/{id}/reviews",
            "/v1/items/x/reviews".into(),
            &agent,
            Body::Empty,
        ),
        (
            Method::POST,
            "/v1/reviews/claim",
            "/v1/reviews/claim".into(),
            &reviewer,
            garbled(),
        ),
        (
            Method::POST,
            "/v1/reviews/claim",
            "/v1/reviews/claim".into(),
            &reviewer,
            big(),
        ),
        (
            Method::POST,
            "/v1/reviews/claim",
            "/v1/reviews/claim".into(),
            &reviewer,
            text(),
        ),
        (
            Method::POST,
            "/v1/items",
            "/v1/items".into(),
            &agent,
            text(),
        ),
        (
            Method::POST,
            "/v1/items:batch",
            "/v1/items:batch".into(),
            &agent,
            text(),
        ),
        (
            Method::POST,
            "/v1/policies",
            "/v1/policies".into(),
            &app.admin,
            big(),
        ),
        (
            Method::POST,
            "/v1/policies",
            "/v1/policies".into(),
            &app.admin,
            text(),
        ),
        (
            Method::POST,
            "/v1/keys",
            "/v1/keys".into(),
            &app.admin,
            garbled(),
        ),
        (
            Method::POST,
            "/v1/keys",
            "/v1/keys".into(),
            &app.admin,
            big(),
        ),
        (
            Method::POST,
            "/v1/keys",
            "/v1/keys".into(),
            &app.admin,
            text(),
        ),
        (
            Method::POST,
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            &app.admin,
            garbled(),
        ),
        (
            Method::POST,
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            &app.admin,
            Body::Json(json!({"code": "TONE", "description": "mine"})),
        ),
        (
            Method::POST,
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            &app.admin,
            big(),
        ),
        (
            Method::POST,
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            &app.admin,
            text(),
        ),
        (
            Method::POST,
            "/v1/items/{id}/decision",
            decision.clone(),
            &reviewer,
            big(),
        ),
        (
            Method::POST,
            "/v1/items/{id}/decision",
            decision,
            &reviewer,
            text(),
        ),
    ];
    let mut undocumented = Vec::new();
    for (method, documented_path, path, key, body) in cases {
        let res = app.send(method.clone(), &path, Some(key), body).await;
        let status = res.status.as_u16().to_string();
        let responses = &doc["paths"][documented_path][method.as_str().to_lowercase()]["responses"];
        if responses.get(&status).is_none() {
            undocumented.push(format!("{method} {documented_path} answers {status}"));
        }
    }
    assert!(
        undocumented.is_empty(),
        "undocumented statuses:\n{}",
        undocumented.join("\n")
    );
}

/// A batch stores its Idempotency-Key per item as `{key}#{index}`, in the same namespace as
/// single submits: a single submit with a key the client never used before is "replayed" (or
/// refused as reused) when it happens to look like a batch item's key.
#[tokio::test]
async fn single_submit_keys_never_collide_with_a_batchs_keys() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    app.send_with(
        Method::POST,
        "/v1/items:batch",
        Some(&agent),
        Body::Json(json!({"items": [submission(0.5, json!({})), submission(0.5, json!({}))]})),
        &[("Idempotency-Key", "abc")],
    )
    .await
    .expect(201);

    let single = app
        .send_with(
            Method::POST,
            "/v1/items",
            Some(&agent),
            Body::Json(submission(0.5, json!({}))),
            &[("Idempotency-Key", "abc#1")],
        )
        .await;

    single.expect(201);
    assert_eq!(
        single.header("idempotent-replayed"),
        None,
        "a new key creates a new item"
    );
    assert_eq!(app.all_items().await.len(), 3);
}

/// Revoking a key that is already revoked changes nothing, yet appends a `key_revoked` entry
/// each time; the audit log should hold one entry per state change.
#[tokio::test]
async fn revoking_a_revoked_key_adds_nothing_to_the_audit_chain() {
    let app = TestApp::spawn().await;
    let created = app.create_key("bot", "agent", &[]).await;
    let path = format!("/v1/keys/{}", created["id"].as_str().expect("id"));
    app.delete(&path, &app.admin).await.expect(200);
    let entries = app.audit_len().await;

    app.delete(&path, &app.admin).await.expect(200);

    assert_eq!(app.audit_len().await, entries);
}
