//! Tenant isolation on every route: an admin of another workspace, who holds every permission
//! there, can neither read nor change this workspace's items, reviews, audits, policies, learned
//! state, decision codes, keys, audit log or export. The route table is checked against the
//! OpenAPI document, so a new route cannot be added without saying here what an outsider gets.

mod common;

use std::collections::BTreeSet;

use common::{Body, TestApp, documented, id, submission};
use loopgate_core::AccessRole;
use reqwest::Method;
use serde_json::{Value, json};

/// What an outsider's request must come to.
enum Expect {
    /// This error: the resource does not exist in the outsider's workspace.
    Error(u16, &'static str),
    /// Success, and the body shows nothing of this workspace (checked by the closure).
    Ok(u16, fn(&Value, &Ours) -> bool),
}

/// This workspace's identifiers, which must never show up in an outsider's answers.
struct Ours {
    item: String,
    audited_item: String,
    decided_item: String,
    key_names: Vec<String>,
}

impl Ours {
    fn absent_from(&self, body: &Value) -> bool {
        let text = body.to_string();
        !text.contains(&self.item)
            && !text.contains(&self.audited_item)
            && !text.contains(&self.decided_item)
            && self.key_names.iter().all(|n| !text.contains(n.as_str()))
    }
}

/// The policy's learned state as a lead of this workspace sees it.
async fn learned(app: &TestApp, lead: &str) -> Value {
    json!({
        "learning": app.get("/v1/policies/reply.draft/learning", lead).await.expect(200).clone(),
        "escape": app.get("/v1/policies/reply.draft/escape", lead).await.expect(200).clone(),
        "calibration": app.get("/v1/policies/reply.draft/calibration", lead).await.body,
    })
}

#[tokio::test]
async fn another_workspaces_admin_reaches_nothing_of_this_workspace_on_any_route() {
    let app = TestApp::spawn().await;
    let outsider = app
        .key_in_workspace("other", "other-admin", AccessRole::Admin)
        .await;
    let their_chain = app.get("/v1/audit/verify", &outsider).await.expect(200)["entries"].clone();

    // This workspace: a decided item, a queued item, an auto-approved item whose audit a lead holds, another
    // auto-approved item whose audit waits, a custom decision code, learned state.
    app.put_policy(json!({"audit_rate": 1.0})).await;
    let agent = app.agent("our-bot").await;
    let lead = app.lead("our-lead").await;
    // A decided item, so that this workspace's export is not empty.
    app.submit(&agent, submission(0.5, json!({}))).await;
    let reviewer = app.reviewer("our-reviewer", &["triage"]).await;
    let claimed = app.claim_item(&reviewer).await;
    let decided = app.decide_claimed(&reviewer, &claimed, "approve").await;
    let queued = app.submit(&agent, submission(0.5, json!({}))).await;
    let audited = app.submit(&agent, submission(0.95, json!({}))).await;
    app.submit(&agent, submission(0.96, json!({}))).await;
    let claimed_audit = app
        .post("/v1/audits/claim", &lead, json!({}))
        .await
        .expect(200)["audit"]
        .clone();
    app.post(
        "/v1/decision-codes",
        &lead,
        json!({"code": "OUR_CODE", "description": "Only ours."}),
    )
    .await
    .expect(201);
    app.post("/v1/policies/reply.draft/refit", &lead, json!({}))
        .await
        .expect(200);
    let our_key = app.get("/v1/keys", &app.admin).await.expect(200)["keys"][0]["id"]
        .as_str()
        .expect("key id")
        .to_owned();
    let ours = Ours {
        item: id(&queued).to_owned(),
        audited_item: id(&audited).to_owned(),
        decided_item: id(&decided).to_owned(),
        key_names: vec!["our-bot".into(), "our-lead".into(), "our-reviewer".into()],
    };
    let (_, _, our_export) = app.get_text("/v1/export", &app.admin).await;
    assert!(
        our_export.contains(&ours.decided_item),
        "this workspace's export holds its decided item: {our_export}"
    );
    let before = (app.stored_state().await, learned(&app, &lead).await);

    let item = |suffix: &str| format!("/v1/items/{}{suffix}", ours.item);
    let policy = |suffix: &str| format!("/v1/policies/reply.draft{suffix}");
    let not_item = Expect::Error(404, "item_not_found");
    let not_policy = || Expect::Error(404, "policy_not_found");
    let routes: Vec<(&str, &str, String, Option<Value>, Expect)> = vec![
        (
            "GET",
            "/healthz",
            "/healthz".into(),
            None,
            Expect::Ok(200, |_, _| true),
        ),
        (
            "GET",
            "/readyz",
            "/readyz".into(),
            None,
            Expect::Ok(200, |_, _| true),
        ),
        (
            "GET",
            "/v1/openapi.json",
            "/v1/openapi.json".into(),
            None,
            Expect::Ok(200, |_, _| true),
        ),
        (
            "GET",
            "/v1/items",
            "/v1/items".into(),
            None,
            Expect::Ok(200, |b, _| b["items"] == json!([])),
        ),
        (
            "GET",
            "/v1/items/{id}",
            item(""),
            None,
            Expect::Error(404, "item_not_found"),
        ),
        (
            "GET",
            "/v1/items/{id}/audit",
            item("/audit"),
            None,
            Expect::Error(404, "item_not_found"),
        ),
        (
            "GET",
            "/v1/items/{id}/reviews",
            item("/reviews"),
            None,
            not_item,
        ),
        (
            "POST",
            "/v1/items/{id}/decision",
            item("/decision"),
            Some(json!({"lease_id": "00000000-0000-7000-8000-000000000000", "decision": "reject"})),
            Expect::Error(404, "item_not_found"),
        ),
        (
            "POST",
            "/v1/items",
            "/v1/items".into(),
            Some(submission(0.5, json!({}))),
            Expect::Error(422, "unknown_policy"),
        ),
        (
            "POST",
            "/v1/items:batch",
            "/v1/items:batch".into(),
            Some(json!({"items": [submission(0.5, json!({}))]})),
            Expect::Error(422, "unknown_policy"),
        ),
        (
            "POST",
            "/v1/reviews/claim",
            "/v1/reviews/claim".into(),
            Some(json!({})),
            Expect::Ok(204, |b, _| b.is_null()),
        ),
        (
            "GET",
            "/v1/policies",
            "/v1/policies".into(),
            None,
            Expect::Ok(200, |b, _| b["policies"] == json!([])),
        ),
        // Their own policy, under another name: ours stays as it was (checked at the end).
        (
            "POST",
            "/v1/policies",
            "/v1/policies".into(),
            Some(common::policy(json!({"name": "their.policy"}))),
            Expect::Ok(201, |b, _| b["name"] == "their.policy"),
        ),
        ("GET", "/v1/policies/{name}", policy(""), None, not_policy()),
        (
            "GET",
            "/v1/policies/{name}/learning",
            policy("/learning"),
            None,
            not_policy(),
        ),
        (
            "GET",
            "/v1/policies/{name}/calibration",
            policy("/calibration"),
            None,
            not_policy(),
        ),
        (
            "GET",
            "/v1/policies/{name}/escape",
            policy("/escape"),
            None,
            not_policy(),
        ),
        (
            "POST",
            "/v1/policies/{name}/refit",
            policy("/refit"),
            Some(json!({})),
            not_policy(),
        ),
        (
            "POST",
            "/v1/policies/{name}/what-if",
            policy("/what-if"),
            Some(json!({"approve_at": 0.5})),
            not_policy(),
        ),
        (
            "POST",
            "/v1/policies/{name}/promote",
            policy("/promote"),
            Some(json!({"reason": "theirs"})),
            not_policy(),
        ),
        (
            "POST",
            "/v1/policies/{name}/kill-switch",
            policy("/kill-switch"),
            Some(json!({"action": "trip", "reason": "sabotage"})),
            not_policy(),
        ),
        (
            "POST",
            "/v1/audits/claim",
            "/v1/audits/claim".into(),
            Some(json!({})),
            Expect::Ok(204, |b, _| b.is_null()),
        ),
        (
            "POST",
            "/v1/audits/{id}/verdict",
            format!(
                "/v1/audits/{}/verdict",
                claimed_audit["id"].as_str().expect("audit id")
            ),
            Some(json!({"lease_id": claimed_audit["lease_id"], "escaped": true})),
            Expect::Error(404, "audit_not_found"),
        ),
        (
            "GET",
            "/v1/export",
            "/v1/export".into(),
            None,
            Expect::Ok(200, |b, _| b.is_null()),
        ),
        (
            "GET",
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            None,
            Expect::Ok(200, |b, _| !b.to_string().contains("OUR_CODE")),
        ),
        // Their own code of the same name: ours keeps its description.
        (
            "POST",
            "/v1/decision-codes",
            "/v1/decision-codes".into(),
            Some(json!({"code": "OUR_CODE", "description": "Theirs."})),
            Expect::Ok(201, |b, _| b["description"] == "Theirs."),
        ),
        (
            "GET",
            "/v1/keys",
            "/v1/keys".into(),
            None,
            Expect::Ok(200, |b, o| o.absent_from(b)),
        ),
        (
            "POST",
            "/v1/keys",
            "/v1/keys".into(),
            Some(json!({"name": "their-bot", "role": "agent"})),
            Expect::Ok(201, |b, _| b["principal"]["workspace"] == "other"),
        ),
        (
            "DELETE",
            "/v1/keys/{id}",
            format!("/v1/keys/{our_key}"),
            None,
            Expect::Error(404, "key_not_found"),
        ),
        (
            "GET",
            "/v1/me",
            "/v1/me".into(),
            None,
            Expect::Ok(200, |b, _| b["principal"]["workspace"] == "other"),
        ),
        (
            "GET",
            "/v1/audit/verify",
            "/v1/audit/verify".into(),
            None,
            Expect::Ok(200, |b, _| b["valid"] == true),
        ),
    ];

    // Every documented route is in the table, and nothing else.
    let doc = app
        .get("/v1/openapi.json", &outsider)
        .await
        .expect(200)
        .clone();
    let tested: BTreeSet<(String, String)> = routes
        .iter()
        .map(|(m, p, ..)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        tested,
        documented(&doc),
        "every route says what an outsider gets"
    );

    for (method, template, path, body, expect) in &routes {
        let method = Method::from_bytes(method.as_bytes()).expect("method");
        let body = body.clone().map_or(Body::Empty, Body::Json);
        let res = app.send(method, path, Some(&outsider), body).await;
        match expect {
            Expect::Error(status, code) => {
                res.expect_error(*status, code);
            }
            Expect::Ok(status, check) => {
                res.expect(*status);
                assert!(check(&res.body, &ours), "{template}: {:#}", res.body);
                // (An error may echo the id the caller sent; an answer shows nothing of ours.)
                assert!(
                    ours.absent_from(&res.body),
                    "{template} showed an outsider this workspace: {:#}",
                    res.body
                );
            }
        }
    }

    // Nothing of this workspace changed; the outsider's own audit chain holds only their own
    // writes (a policy, a code and a key: one entry each).
    assert_eq!(
        (app.stored_state().await, learned(&app, &lead).await),
        before
    );
    let theirs = app
        .get("/v1/audit/verify", &outsider)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        theirs["entries"].as_u64(),
        their_chain.as_u64().map(|n| n + 3),
        "{theirs:#}"
    );
}
