//! Bad input for every endpoint: malformed JSON, wrong types, out-of-range values, unknown fields,
//! oversized bodies, other content types, bad path ids and query strings, and the domain's own
//! refusals. Each gets its documented 4xx code and a message naming what was wrong, and after
//! each nothing is stored. (`TestApp::send` checks on every response that it is not a 5xx and
//! that the error body has the documented shape.)

mod common;

use common::{Body, MAX_BODY, TestApp, id, lease, submission};
use reqwest::Method;
use serde_json::{Value, json};

/// An app with a policy, an agent, a reviewer holding the lease of one queued item, and another
/// item still queued.
struct Fixture {
    app: TestApp,
    agent: String,
    reviewer: String,
    item: String,
    lease: String,
}

impl Fixture {
    async fn new() -> Self {
        let app = TestApp::spawn().await;
        app.put_policy(json!({})).await;
        let agent = app.agent("bot").await;
        let reviewer = app.reviewer("alice", &["triage"]).await;
        app.submit(&agent, submission(0.5, json!({}))).await;
        app.submit(
            &agent,
            submission(0.5, json!({"customer": {"id": "globex"}})),
        )
        .await;
        let claimed = app.claim_item(&reviewer).await;
        Self {
            item: id(&claimed).to_owned(),
            lease: lease(&claimed).to_owned(),
            app,
            agent,
            reviewer,
        }
    }

    /// Every endpoint that takes a JSON body: name, path, a key allowed to call it, and a
    /// valid body.
    fn endpoints(&self) -> Vec<(&'static str, String, &str, Value)> {
        vec![
            (
                "policies",
                "/v1/policies".into(),
                &self.app.admin,
                common::policy(json!({})),
            ),
            (
                "items",
                "/v1/items".into(),
                &self.agent,
                submission(0.5, json!({})),
            ),
            (
                "batch",
                "/v1/items:batch".into(),
                &self.agent,
                json!({"items": [submission(0.5, json!({}))]}),
            ),
            (
                "decision",
                format!("/v1/items/{}/decision", self.item),
                &self.reviewer,
                json!({"lease_id": self.lease, "decision": "approve"}),
            ),
            (
                "claim",
                "/v1/reviews/claim".into(),
                &self.reviewer,
                json!({"lanes": ["P2"]}),
            ),
            (
                "decision codes",
                "/v1/decision-codes".into(),
                &self.app.admin,
                json!({"code": "WRONG_CURRENCY", "description": "Wrong currency."}),
            ),
            (
                "keys",
                "/v1/keys".into(),
                &self.app.admin,
                json!({"name": "new-bot", "role": "agent"}),
            ),
        ]
    }

    async fn post_raw(
        &self,
        path: &str,
        key: &str,
        content_type: Option<&'static str>,
        body: Vec<u8>,
    ) -> common::Res {
        self.app
            .send(Method::POST, path, Some(key), Body::Raw(content_type, body))
            .await
    }
}

#[tokio::test]
async fn malformed_json_is_400_for_every_endpoint() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;

    for (name, path, key, valid) in f.endpoints() {
        let mut trailing = serde_json::to_vec(&valid).expect("JSON");
        trailing.extend_from_slice(b" trailing");
        let bodies: [&[u8]; 6] = [
            b"{",
            b"{\"unterminated",
            b"{'single': 'quotes'}",
            b"\xff\xfe",
            b"nul",
            &trailing,
        ];
        for body in bodies {
            let message = f
                .post_raw(&path, key, Some("application/json"), body.to_vec())
                .await
                .expect_error(400, "malformed_json");
            assert!(message.contains("JSON"), "{name}: {message}");
        }
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn an_empty_body_is_refused_except_where_it_means_no_filter() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;

    for (name, path, key, _) in f.endpoints().into_iter().filter(|e| e.0 != "claim") {
        let message = f
            .post_raw(&path, key, Some("application/json"), Vec::new())
            .await
            .expect_error(400, "malformed_json");
        assert!(message.contains("empty"), "{name}: {message}");
    }
    assert_eq!(f.app.stored_state().await, before);

    // An empty claim body claims anything: here, the second queued item.
    let claimed = f
        .post_raw(
            "/v1/reviews/claim",
            &f.reviewer,
            Some("application/json"),
            Vec::new(),
        )
        .await;
    assert_eq!(claimed.expect(200)["item"]["customer"]["id"], "globex");
}

#[tokio::test]
async fn wrong_types_and_out_of_range_values_are_422_naming_the_field() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;
    let cases: Vec<(&str, String, &str, Value, &str)> = vec![
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"thresholds": {"approve_at": "high"}})),
            "thresholds.approve_at",
        ),
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"thresholds": {"approve_at": 1.5}})),
            "thresholds.approve_at",
        ),
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"audit_rate": -0.1})),
            "audit_rate",
        ),
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"name": "Reply Draft"})),
            "name",
        ),
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"routing": {"default_lane": "P7"}})),
            "routing.default_lane",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"proposal": {"confidence": "high"}})),
            "proposal.confidence",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(1.5, json!({})),
            "proposal.confidence",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(-0.01, json!({})),
            "proposal.confidence",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"customer": {"health_score": 1.2}})),
            "customer.health_score",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"customer": {"deal_value": -5}})),
            "customer.deal_value",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"customer": {"renewal_date": "2026-02-30"}})),
            "customer.renewal_date",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"proposal": {"kind": "essay"}})),
            "proposal.kind",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"signals": "legal"})),
            "signals",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"customer": {"id": 7}})),
            "customer.id",
        ),
        (
            "batch",
            "/v1/items:batch".into(),
            &f.agent,
            json!({"items": [submission(0.5, json!({})), submission(0.5, json!({"customer": {"deal_value": "lots"}}))]}),
            "items[1].customer.deal_value",
        ),
        (
            "batch",
            "/v1/items:batch".into(),
            &f.agent,
            json!({"items": {}}),
            "items",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": "not-a-uuid", "decision": "approve"}),
            "lease_id",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": f.lease, "decision": "maybe"}),
            "decision",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": f.lease, "decision": "reject", "rubric": {"tone": 300}}),
            "rubric.tone",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": f.lease, "decision": "reject", "codes": "TONE"}),
            "codes",
        ),
        (
            "claim",
            "/v1/reviews/claim".into(),
            &f.reviewer,
            json!({"roles": ["boss"]}),
            "roles[0]",
        ),
        (
            "claim",
            "/v1/reviews/claim".into(),
            &f.reviewer,
            json!({"lanes": "P0"}),
            "lanes",
        ),
        (
            "decision codes",
            "/v1/decision-codes".into(),
            &f.app.admin,
            json!({"code": 5, "description": "x"}),
            "code",
        ),
        (
            "keys",
            "/v1/keys".into(),
            &f.app.admin,
            json!({"name": "x", "role": "superuser"}),
            "role",
        ),
        (
            "keys",
            "/v1/keys".into(),
            &f.app.admin,
            json!({"name": "x", "role": "reviewer", "reviewer_roles": ["boss"]}),
            "reviewer_roles[0]",
        ),
    ];

    for (name, path, key, body, field) in cases {
        let message = f
            .app
            .post(&path, key, body)
            .await
            .expect_error(422, "invalid_request");
        assert!(
            message.starts_with(&format!("{field}: ")),
            "{name}: expected {field:?} first in {message:?}"
        );
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn unknown_and_missing_fields_are_422_naming_them() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;
    let mut no_confidence = submission(0.5, json!({}));
    no_confidence["proposal"]
        .as_object_mut()
        .expect("proposal")
        .remove("confidence");
    let cases: Vec<(&str, String, &str, Value, &str)> = vec![
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"treshold": 1})),
            "treshold",
        ),
        (
            "policies",
            "/v1/policies".into(),
            &f.app.admin,
            common::policy(json!({"validators": {"min_citation": 1}})),
            "validators.min_citation",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"surprise": true})),
            "surprise",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"proposal": {"confidance": 0.4}})),
            "proposal.confidance",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            no_confidence,
            "confidence",
        ),
        (
            "items",
            "/v1/items".into(),
            &f.agent,
            json!({"policy": "reply.draft"}),
            "input",
        ),
        (
            "batch",
            "/v1/items:batch".into(),
            &f.agent,
            json!({"itemz": []}),
            "itemz",
        ),
        (
            "batch",
            "/v1/items:batch".into(),
            &f.agent,
            json!({"items": [submission(0.5, json!({"surprise": 1}))]}),
            "items[0].surprise",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": f.lease, "decision": "approve", "comment": "ok"}),
            "comment",
        ),
        (
            "decision",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"decision": "approve"}),
            "lease_id",
        ),
        (
            "claim",
            "/v1/reviews/claim".into(),
            &f.reviewer,
            json!({"lane": ["P0"]}),
            "lane",
        ),
        (
            "decision codes",
            "/v1/decision-codes".into(),
            &f.app.admin,
            json!({"code": "X_Y", "description": "d", "colour": "red"}),
            "colour",
        ),
        (
            "keys",
            "/v1/keys".into(),
            &f.app.admin,
            json!({"name": "x", "role": "reviewer", "roles": ["triage"]}),
            "roles",
        ),
        (
            "keys",
            "/v1/keys".into(),
            &f.app.admin,
            json!({"role": "agent"}),
            "name",
        ),
    ];

    for (name, path, key, body, field) in cases {
        let message = f
            .app
            .post(&path, key, body)
            .await
            .expect_error(422, "invalid_request");
        assert!(
            message.contains(field),
            "{name}: expected {field:?} in {message:?}"
        );
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn bodies_over_the_limit_are_413() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;
    let oversized = |limit: usize| {
        // Valid JSON, so that only the size is wrong.
        let mut body = b"{\"pad\": \"".to_vec();
        body.resize(limit + 1, b'x');
        body.extend_from_slice(b"\"}");
        body
    };

    for (name, path, key, _) in f.endpoints() {
        let limit = if name == "batch" {
            32 * MAX_BODY
        } else {
            MAX_BODY
        };
        let message = f
            .post_raw(&path, key, Some("application/json"), oversized(limit))
            .await
            .expect_error(413, "payload_too_large");
        assert!(message.contains("larger"), "{name}: {message}");
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn bodies_that_are_not_json_are_415() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;

    for (name, path, key, valid) in f.endpoints() {
        let bytes = serde_json::to_vec(&valid).expect("JSON");
        for content_type in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
        ] {
            let message = f
                .post_raw(&path, key, Some(content_type), bytes.clone())
                .await
                .expect_error(415, "unsupported_media_type");
            assert!(
                message.contains("application/json"),
                "{name} {content_type}: {message}"
            );
        }
    }
    f.post_raw(
        "/v1/reviews/claim",
        &f.reviewer,
        Some("text/plain"),
        Vec::new(),
    )
    .await
    .expect_error(415, "unsupported_media_type");

    assert_eq!(f.app.stored_state().await, before);
    // JSON under a structured-syntax type, or with a charset, is JSON.
    let bytes = serde_json::to_vec(&submission(0.5, json!({}))).expect("JSON");
    f.post_raw(
        "/v1/items",
        &f.agent,
        Some("application/json; charset=utf-8"),
        bytes.clone(),
    )
    .await
    .expect(201);
    f.post_raw(
        "/v1/items",
        &f.agent,
        Some("application/vnd.loopgate+json"),
        bytes,
    )
    .await
    .expect(201);
}

#[tokio::test]
async fn malformed_path_ids_are_400_and_unknown_ones_404() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;
    let decision = json!({"lease_id": f.lease, "decision": "approve"});
    let unknown = "0190c1b2-0000-7000-8000-000000000000";

    for bad in ["not-a-uuid", "123", "0190c1b2-0000-7000-8000-00000000000g"] {
        for path in [
            format!("/v1/items/{bad}"),
            format!("/v1/items/{bad}?wait=5"),
            format!("/v1/items/{bad}/audit"),
            format!("/v1/items/{bad}/reviews"),
        ] {
            let message = f
                .app
                .get(&path, &f.app.admin)
                .await
                .expect_error(400, "invalid_path");
            assert!(message.contains(bad), "{path}: {message}");
        }
        f.app
            .post(
                &format!("/v1/items/{bad}/decision"),
                &f.reviewer,
                decision.clone(),
            )
            .await
            .expect_error(400, "invalid_path");
        f.app
            .delete(&format!("/v1/keys/{bad}"), &f.app.admin)
            .await
            .expect_error(400, "invalid_path");
    }
    for path in [
        format!("/v1/items/{unknown}"),
        format!("/v1/items/{unknown}/audit"),
        format!("/v1/items/{unknown}/reviews"),
    ] {
        f.app
            .get(&path, &f.app.admin)
            .await
            .expect_error(404, "item_not_found");
    }
    f.app
        .post(
            &format!("/v1/items/{unknown}/decision"),
            &f.reviewer,
            decision,
        )
        .await
        .expect_error(404, "item_not_found");
    f.app
        .delete(&format!("/v1/keys/{unknown}"), &f.app.admin)
        .await
        .expect_error(404, "key_not_found");
    for name in ["nope", "Not%20A%20Name", "UPPER"] {
        f.app
            .get(&format!("/v1/policies/{name}"), &f.app.admin)
            .await
            .expect_error(404, "policy_not_found");
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn path_segments_that_are_not_utf8_are_400_in_json() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;
    let decision = json!({"lease_id": f.lease, "decision": "approve"});

    for (method, path, body) in [
        (Method::GET, "/v1/items/%FF", Body::Empty),
        (Method::GET, "/v1/items/%FF?wait=5", Body::Empty),
        (Method::GET, "/v1/items/%FF/audit", Body::Empty),
        (Method::GET, "/v1/items/%FF/reviews", Body::Empty),
        (Method::POST, "/v1/items/%FF/decision", Body::Json(decision)),
        (Method::DELETE, "/v1/keys/%FF", Body::Empty),
        (Method::GET, "/v1/policies/%FF", Body::Empty),
    ] {
        let key = if method == Method::POST {
            &f.reviewer
        } else {
            &f.app.admin
        };
        f.app
            .send(method, path, Some(key), body)
            .await
            .expect_error(400, "invalid_path");
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn malformed_listing_queries_are_400() {
    let f = Fixture::new().await;

    for (query, mentions) in [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=many", "limit"),
        ("limit=1&limit=2", "limit"),
        ("status=pending", "status"),
        ("status=queued,", "status"),
        ("lane=P9", "lane"),
        ("policy=Not%20A%20Name", "policy"),
        ("before=yesterday", "before"),
    ] {
        let message = f
            .app
            .get(&format!("/v1/items?{query}"), &f.app.admin)
            .await
            .expect_error(400, "invalid_query");
        assert!(message.contains(mentions), "{query}: {message}");
    }
}

#[tokio::test]
async fn submissions_that_parse_but_break_the_rules_are_422() {
    let f = Fixture::new().await;
    f.app
        .put_policy(json!({"name": "action.refund", "kind": "action"}))
        .await;
    let before = f.app.stored_state().await;

    let cases = [
        (
            submission(0.5, json!({"policy": "no.such.policy"})),
            "unknown_policy",
            "no.such.policy",
        ),
        (
            submission(0.5, json!({"policy": "action.refund"})),
            "kind_mismatch",
            "proposal.kind",
        ),
        (
            submission(0.5, json!({"proposal": {"kind": "action"}})),
            "kind_mismatch",
            "reply",
        ),
        (
            submission(0.5, json!({"customer": {"id": " "}})),
            "invalid_request",
            "customer.id",
        ),
        (
            submission(0.5, json!({"customer": {"id": "acme\u{0}"}})),
            "invalid_request",
            "customer.id",
        ),
        (
            submission(0.5, json!({"signals": ["Legal!"]})),
            "invalid_request",
            "signals[0]",
        ),
        (
            submission(0.5, json!({"input": {"text": "x".repeat(100_001)}})),
            "invalid_request",
            "input.text",
        ),
        (
            submission(0.5, json!({"customer": {"tier": "t".repeat(201)}})),
            "invalid_request",
            "customer.tier",
        ),
    ];
    for (body, code, mentions) in cases {
        let message = f
            .app
            .post("/v1/items", &f.agent, body)
            .await
            .expect_error(422, code);
        assert!(message.contains(mentions), "{code}: {message}");
    }

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn inconsistent_policies_keys_and_codes_are_refused() {
    let f = Fixture::new().await;
    let before = f.app.stored_state().await;

    let policies = [
        (
            json!({"thresholds": {"approve_at": 0.3, "reject_below": 0.6}}),
            "reject_below",
        ),
        (json!({"lease_seconds": 0}), "lease_seconds"),
        (
            json!({"sla": {"P1": {"first_review": 600, "resolve": 60}}}),
            "sla.P1",
        ),
        (
            json!({"routing": {"rules": [{"name": "r", "when": {"signal": "legal"}, "then": {}}]}}),
            "routing.rules[0]",
        ),
        (
            json!({"routing": {"rules": [{"name": "r", "when": {"all": []}, "then": {"lane": "P0"}}]}}),
            "routing.rules[0].when",
        ),
    ];
    for (overrides, mentions) in policies {
        let message = f
            .app
            .post("/v1/policies", &f.app.admin, common::policy(overrides))
            .await
            .expect_error(422, "invalid_policy");
        assert!(message.contains(mentions), "{message}");
    }
    let keys = [
        (json!({"name": "r", "role": "reviewer"}), "reviewer_roles"),
        (
            json!({"name": "a", "role": "agent", "reviewer_roles": ["triage"]}),
            "reviewer_roles",
        ),
        (json!({"name": " ", "role": "agent"}), "name"),
    ];
    for (body, mentions) in keys {
        let message = f
            .app
            .post("/v1/keys", &f.app.admin, body)
            .await
            .expect_error(422, "invalid_request");
        assert!(message.contains(mentions), "{message}");
    }
    f.app
        .post(
            "/v1/decision-codes",
            &f.app.admin,
            json!({"code": "lowercase", "description": "d"}),
        )
        .await
        .expect_error(422, "invalid_request");
    f.app
        .post(
            "/v1/decision-codes",
            &f.app.admin,
            json!({"code": "NEW_CODE", "description": "  "}),
        )
        .await
        .expect_error(422, "invalid_request");
    f.app
        .post(
            "/v1/decision-codes",
            &f.app.admin,
            json!({"code": "NEW_CODE", "description": "nul\u{0}byte"}),
        )
        .await
        .expect_error(422, "invalid_request");
    f.app
        .post(
            "/v1/decision-codes",
            &f.app.admin,
            json!({"code": "TONE", "description": "mine"}),
        )
        .await
        .expect_error(409, "conflict");

    assert_eq!(f.app.stored_state().await, before);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let f = Fixture::new().await;

    for path in ["/v1/nope", "/v2/items", "/v1/items/x/y/z", "/v1"] {
        let message = f
            .app
            .get(path, &f.app.admin)
            .await
            .expect_error(404, "route_not_found");
        assert!(message.contains("openapi"), "{message}");
    }
    for (method, path) in [
        (Method::PUT, "/v1/items"),
        (Method::DELETE, "/v1/items"),
        (Method::GET, "/v1/items:batch"),
        (Method::GET, "/v1/reviews/claim"),
        (Method::PATCH, "/v1/policies/reply.draft"),
        (Method::POST, "/v1/audit/verify"),
    ] {
        f.app
            .send(method, path, Some(&f.app.admin), Body::Empty)
            .await
            .expect_error(405, "method_not_allowed");
    }
}

#[tokio::test]
async fn texts_over_their_documented_lengths_are_422_naming_them_and_change_nothing() {
    let f = Fixture::new().await;
    // An auto-approved item whose audit a lead holds, for the audit verdict's rationale.
    f.app.put_policy(json!({"audit_rate": 1.0})).await;
    f.app.submit(&f.agent, submission(0.95, json!({}))).await;
    let lead = f.app.lead("lena").await;
    let audit = f
        .app
        .post("/v1/audits/claim", &lead, json!({}))
        .await
        .expect(200)["audit"]
        .clone();
    let before = f.app.stored_state().await;
    let long = |n: usize| "r".repeat(n);

    let cases: Vec<(&str, String, &str, Value, &str, &str)> = vec![
        (
            "a proposal's rationale",
            "/v1/items".into(),
            &f.agent,
            submission(0.5, json!({"proposal": {"rationale": long(20_001)}})),
            "invalid_request",
            "proposal.rationale must be at most 20000",
        ),
        (
            "a decision's rationale",
            format!("/v1/items/{}/decision", f.item),
            &f.reviewer,
            json!({"lease_id": f.lease, "decision": "approve", "rationale": long(20_001)}),
            "invalid_decision",
            "rationale must be at most 20000",
        ),
        (
            "an audit verdict's rationale",
            format!("/v1/audits/{}/verdict", audit["id"].as_str().expect("id")),
            &lead,
            json!({"lease_id": audit["lease_id"], "escaped": false, "rationale": long(20_001)}),
            "invalid_request",
            "rationale must be at most 20000",
        ),
        (
            "a kill switch's reason",
            "/v1/policies/reply.draft/kill-switch".into(),
            &lead,
            json!({"action": "trip", "reason": long(501)}),
            "invalid_request",
            "reason must be 1 to 500 characters",
        ),
        (
            "a kill switch's intent",
            "/v1/policies/reply.draft/kill-switch".into(),
            &lead,
            json!({"action": "trip", "reason": "spike", "intent": long(201)}),
            "invalid_request",
            "intent must be 1 to 200 characters",
        ),
    ];
    for (what, path, key, body, code, mentions) in cases {
        let message = f.app.post(&path, key, body).await.expect_error(422, code);
        assert!(message.contains(mentions), "{what}: {message}");
    }
    assert_eq!(f.app.stored_state().await, before);

    // At the limit, the same texts are taken.
    f.app
        .post(
            "/v1/items",
            &f.agent,
            submission(0.5, json!({"proposal": {"rationale": long(20_000)}})),
        )
        .await
        .expect(201);
    f.app
        .decide(
            &f.reviewer,
            &f.item,
            &f.lease,
            "approve",
            json!({"rationale": long(20_000)}),
        )
        .await
        .expect(200);
}

/// The web workspace's forms: one that cannot be read is answered with the workspace's error
/// page, saying what was wrong, under the status that says why.
#[tokio::test]
async fn web_forms_that_cannot_be_read_get_the_error_page() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &str, u16, &str); 2] = [
        (
            "application/x-www-form-urlencoded",
            "name=rita",
            422,
            "missing field",
        ),
        (
            "application/json",
            r#"{"name": "rita"}"#,
            415,
            "Content-Type",
        ),
    ];
    for (content_type, body, status, says) in cases {
        let response = app
            .client
            .post(format!("{}/login", app.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("the form is answered");
        assert_eq!(response.status().as_u16(), status, "{content_type} {body}");
        let html = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/html"));
        let page = response.text().await.expect("a page");
        assert!(
            html && page.contains("Please check the form") && page.contains(says),
            "{content_type} {body}: the error page says {says:?}: {page}"
        );
    }
}
