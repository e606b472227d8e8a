//! The limits that keep one client from hurting the others: per-key request rates (429 with
//! `Retry-After`), the nesting depth of JSON bodies, and how many policies and decision codes a
//! workspace holds. Body sizes, batch sizes, text lengths and
//! page sizes are tested with the rest of the bad input in `bad_input.rs`, `submit.rs` and
//! `review.rs`.

mod common;

use std::num::NonZeroU32;

use common::{Body, TestApp, submission};
use loopgate_server::Settings;
use loopgate_server::state::RateLimit;
use reqwest::Method;
use serde_json::{Value, json};

fn limited(per_second: u32, burst: u32) -> Settings {
    Settings {
        rate_limit: Some(RateLimit {
            per_second: NonZeroU32::new(per_second).expect("non-zero"),
            burst: NonZeroU32::new(burst).expect("non-zero"),
        }),
        ..Settings::default()
    }
}

#[tokio::test]
async fn a_key_over_its_rate_gets_429_with_retry_after_and_its_request_does_nothing() {
    let app = TestApp::spawn_with(limited(1, 5)).await;
    app.put_policy(json!({})).await;
    let agent = app.agent("eager-bot").await;
    let other = app.agent("calm-bot").await;
    // (The admin has spent its burst setting up; a lead counts the items.)
    let lead = app.lead("counting-lead").await;

    // The burst passes; right after it, the key is over its rate.
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.push(
            app.post("/v1/items", &agent, submission(0.5, json!({})))
                .await,
        );
    }
    for res in &answers[..5] {
        res.expect(201);
    }
    let refused: Vec<_> = answers.iter().filter(|r| r.status == 429).collect();
    assert!(!refused.is_empty(), "ten submits at once from one key");
    for res in &refused {
        res.expect_error(429, "rate_limited");
        let wait: u64 = res
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .expect("seconds");
        assert!(
            (1..=2).contains(&wait),
            "Retry-After {wait} at one request a second"
        );
    }
    assert_eq!(
        answers.iter().filter(|r| r.status == 201).count() + refused.len(),
        answers.len(),
        "every submit was either stored or refused as over the rate"
    );

    // Refused submits stored nothing; another key is not slowed by this one.
    let stored = app.get("/v1/items", &lead).await.expect(200)["items"]
        .as_array()
        .expect("items")
        .len();
    assert_eq!(stored, answers.len() - refused.len());
    app.get("/v1/me", &other).await.expect(200);
}

#[tokio::test]
async fn requests_without_a_valid_key_are_refused_before_any_rate_is_spent() {
    let app = TestApp::spawn_with(limited(1, 2)).await;
    let agent = app.agent("bot").await;
    for _ in 0..5 {
        app.send(
            Method::GET,
            "/v1/me",
            Some("lg_not_a_key_at_all_000000000000"),
            Body::Empty,
        )
        .await
        .expect_error(401, "unauthenticated");
    }
    app.get("/v1/me", &agent).await.expect(200);
    app.get("/v1/me", &agent).await.expect(200);
}

#[tokio::test]
async fn bodies_nested_deeper_than_32_levels_are_400_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let nest = |levels: usize| {
        let mut v = json!("leaf");
        for _ in 0..levels {
            v = json!({"deeper": v});
        }
        v
    };
    let before = app.stored_state().await;

    // The submission, its proposal and the payload are three levels: 29 more fit, 30 do not.
    let payload = |levels: usize| json!({"proposal": {"payload": {"trace": nest(levels)}}});
    let deep = submission(0.5, payload(30));
    let message = app
        .post("/v1/items", &agent, deep)
        .await
        .expect_error(400, "json_too_deep");
    assert!(message.contains("32 levels"), "{message}");
    let batch = json!({"items": [submission(0.5, payload(40))]});
    app.post("/v1/items:batch", &agent, batch)
        .await
        .expect_error(400, "json_too_deep");
    assert_eq!(app.stored_state().await, before);

    let fits = submission(0.5, payload(29));
    let item: Value = app
        .post("/v1/items", &agent, fits)
        .await
        .expect(201)
        .clone();
    assert_eq!(item["status"], "queued");
}

#[tokio::test]
async fn bodies_that_are_not_json_objects_are_422_even_where_every_field_is_optional() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let reviewer = app.reviewer("rita", &["triage"]).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    let before = app.stored_state().await;

    // `[]` would otherwise be a claim with no filters, and take the item.
    for body in [json!([]), json!([[], []]), json!("claim"), json!(7)] {
        let message = app
            .post("/v1/reviews/claim", &reviewer, body.clone())
            .await
            .expect_error(422, "invalid_request");
        assert!(message.contains("JSON object"), "{body}: {message}");
    }
    assert_eq!(app.stored_state().await, before);
    assert!(
        app.claim(&reviewer, None).await.is_some(),
        "the item still waits"
    );
}

#[tokio::test]
async fn a_workspace_holds_a_bounded_number_of_policies_and_codes_and_may_still_change_them() {
    let app = TestApp::spawn_with(Settings {
        max_policies: 2,
        max_codes: 2,
        ..Settings::default()
    })
    .await;
    let policy = |name: &str, approve_at: f64| json!({"name": name, "kind": "reply", "thresholds": {"approve_at": approve_at, "reject_below": 0.1}});
    app.post("/v1/policies", &app.admin, policy("reply.one", 0.9))
        .await
        .expect(201);
    app.post("/v1/policies", &app.admin, policy("reply.two", 0.9))
        .await
        .expect(201);
    let code = |code: &str, description: &str| json!({"code": code, "description": description});
    app.post("/v1/decision-codes", &app.admin, code("OURS_ONE", "One."))
        .await
        .expect(201);
    app.post("/v1/decision-codes", &app.admin, code("OURS_TWO", "Two."))
        .await
        .expect(201);
    let before = app.stored_state().await;

    let message = app
        .post("/v1/policies", &app.admin, policy("reply.three", 0.9))
        .await
        .expect_error(422, "workspace_full");
    assert!(message.contains("2 policies"), "{message}");
    let message = app
        .post(
            "/v1/decision-codes",
            &app.admin,
            code("OURS_THREE", "Three."),
        )
        .await
        .expect_error(422, "workspace_full");
    assert!(message.contains("2 decision codes"), "{message}");
    assert_eq!(app.stored_state().await, before);

    // What the workspace holds may still change.
    app.post("/v1/policies", &app.admin, policy("reply.two", 0.95))
        .await
        .expect(200);
    let changed = app
        .post(
            "/v1/decision-codes",
            &app.admin,
            code("OURS_TWO", "Two, reworded."),
        )
        .await
        .expect(201)
        .clone();
    assert_eq!(changed["description"], "Two, reworded.");
    let listed = app
        .get("/v1/policies", &app.admin)
        .await
        .expect(200)
        .clone();
    assert_eq!(
        listed["policies"].as_array().map(Vec::len),
        Some(2),
        "{listed:#}"
    );
}
