//! Submitting through the API: idempotent retries, batches (all or nothing), listing, and
//! long-polling for a verdict.

mod common;

use std::time::Duration;

use common::{Body, TestApp, id, submission};
use reqwest::Method;
use serde_json::{Value, json};

async fn submit_with_key(app: &TestApp, agent: &str, key: &str, body: Value) -> common::Res {
    app.send_with(
        Method::POST,
        "/v1/items",
        Some(agent),
        Body::Json(body),
        &[("Idempotency-Key", key)],
    )
    .await
}

#[tokio::test]
async fn a_retried_submit_returns_the_first_item_and_creates_nothing() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let body = submission(0.5, json!({}));

    let first = submit_with_key(&app, &agent, "ticket-42-draft-1", body.clone()).await;
    let audit_after_first = app.audit_len().await;
    let retry = submit_with_key(&app, &agent, "ticket-42-draft-1", body).await;

    first.expect(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    retry.expect(201);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));
    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(retry.body, first.body);
    assert_eq!(app.all_items().await.len(), 1);
    assert_eq!(app.audit_len().await, audit_after_first);
}

#[tokio::test]
async fn a_retry_returns_the_item_as_it_stands_now() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let body = submission(0.5, json!({}));
    let first = submit_with_key(&app, &agent, "k1", body.clone()).await;
    let claimed = app.claim_item(&alice).await;
    app.decide_claimed(&alice, &claimed, "approve").await;

    let retry = submit_with_key(&app, &agent, "k1", body).await;

    assert_eq!(retry.body["id"], first.body["id"]);
    assert_eq!(retry.body["status"], "approved");
    assert_eq!(app.all_items().await.len(), 1);
}

#[tokio::test]
async fn reusing_a_key_for_a_different_submission_is_refused() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    submit_with_key(&app, &agent, "k1", submission(0.5, json!({})))
        .await
        .expect(201);
    let before = app.stored_state().await;

    let message = submit_with_key(&app, &agent, "k1", submission(0.6, json!({})))
        .await
        .expect_error(422, "idempotency_key_reused");

    assert!(message.contains("k1"), "{message}");
    assert_eq!(app.stored_state().await, before);
}

#[tokio::test]
async fn idempotency_keys_belong_to_the_agent_that_sent_them() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let one = app.agent("one").await;
    let two = app.agent("two").await;

    let a = submit_with_key(&app, &one, "same", submission(0.5, json!({}))).await;
    let b = submit_with_key(&app, &two, "same", submission(0.5, json!({}))).await;

    assert_ne!(a.expect(201)["id"], b.expect(201)["id"]);
    assert_eq!(b.header("idempotent-replayed"), None);
    assert_eq!(app.all_items().await.len(), 2);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_refused() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let before = app.stored_state().await;

    let too_long = "k".repeat(256);
    submit_with_key(&app, &agent, &too_long, submission(0.5, json!({})))
        .await
        .expect_error(400, "invalid_header");
    submit_with_key(&app, &agent, "has space", submission(0.5, json!({})))
        .await
        .expect_error(400, "invalid_header");

    assert_eq!(app.stored_state().await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_retries_with_one_key_create_exactly_one_item() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let audit_before = app.audit_len().await;
    let body = submission(0.5, json!({}));

    let mut retries = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let request = app
            .client
            .post(format!("{}/v1/items", app.base))
            .bearer_auth(&agent)
            .header("Idempotency-Key", "burst-1")
            .json(&body);
        retries.spawn(async move {
            let response = request.send().await.expect("the request is answered");
            let replayed = response.headers().contains_key("idempotent-replayed");
            let status = response.status().as_u16();
            let item: Value = response.json().await.expect("JSON");
            (status, replayed, item["id"].clone())
        });
    }
    let answers = retries.join_all().await;

    assert!(
        answers.iter().all(|(status, _, _)| *status == 201),
        "{answers:?}"
    );
    assert_eq!(
        answers.iter().filter(|(_, replayed, _)| !replayed).count(),
        1
    );
    assert!(answers.iter().all(|(_, _, id)| *id == answers[0].2));
    assert_eq!(app.all_items().await.len(), 1);
    assert_eq!(app.audit_len().await, audit_before + 1);
}

#[tokio::test]
async fn a_batch_is_routed_item_by_item_in_request_order() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let audit_before = app.audit_len().await;

    let res = app
        .post(
            "/v1/items:batch",
            &agent,
            json!({"items": [submission(0.95, json!({})), submission(0.5, json!({})), submission(0.05, json!({}))]}),
        )
        .await;

    let items = res.expect(201)["items"].as_array().expect("items").clone();
    let statuses: Vec<&Value> = items.iter().map(|i| &i["status"]).collect();
    assert_eq!(
        statuses,
        [
            &json!("auto_approved"),
            &json!("queued"),
            &json!("auto_rejected")
        ]
    );
    for item in &items {
        assert_eq!(app.item(&agent, id(item)).await["status"], item["status"]);
    }
    assert_eq!(app.audit_len().await, audit_before + 3);
}

#[tokio::test]
async fn a_batchs_items_read_back_exactly_as_answered() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let body = json!({"items": [
        submission(0.95, json!({})),
        submission(0.5, json!({"input": {"text": "Héllo \"quoted\" \u{1F600}", "ticket": "T-9"},
                               "customer": {"id": "b", "tier": "strategic", "renewal_date": "2026-12-01"}})),
        submission(0.05, json!({"signals": ["legal"]})),
    ]});

    let res = app.post("/v1/items:batch", &agent, body).await;

    let items = res.expect(201)["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3);
    for item in &items {
        assert_eq!(&app.item(&agent, id(item)).await, item);
    }
}

/// A batch of five good submissions with `bad` at index 3.
fn batch_with_bad_item(bad: Value) -> Value {
    let mut items: Vec<Value> = (0..5).map(|_| submission(0.5, json!({}))).collect();
    items[3] = bad;
    json!({"items": items})
}

#[tokio::test]
async fn one_bad_item_refuses_the_whole_batch_and_names_it() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let before = app.stored_state().await;

    let cases = [
        (
            submission(1.5, json!({})),
            "invalid_request",
            "items[3].proposal.confidence",
        ),
        (
            submission(0.5, json!({"proposal": {"confidence": "high"}})),
            "invalid_request",
            "items[3].proposal.confidence",
        ),
        (
            submission(0.5, json!({"signals": ["Legal!"]})),
            "invalid_request",
            "items[3].signals[0]",
        ),
        (
            submission(0.5, json!({"policy": "no.such.policy"})),
            "unknown_policy",
            "items[3].policy",
        ),
        (
            submission(0.5, json!({"proposal": {"kind": "action"}})),
            "kind_mismatch",
            "items[3].proposal.kind",
        ),
        (
            submission(0.5, json!({"surprise": true})),
            "invalid_request",
            "surprise",
        ),
    ];
    for (bad, code, names) in cases {
        let message = app
            .post("/v1/items:batch", &agent, batch_with_bad_item(bad))
            .await
            .expect_error(422, code);
        assert!(message.contains(names), "expected {names:?} in {message:?}");
    }

    assert_eq!(app.stored_state().await, before);
}

#[tokio::test]
async fn a_batch_holds_one_to_a_thousand_items() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let before = app.stored_state().await;
    let items = |n: usize| json!({"items": vec![submission(0.95, json!({})); n]});

    app.post("/v1/items:batch", &agent, items(1001))
        .await
        .expect_error(422, "batch_too_large");
    app.post("/v1/items:batch", &agent, items(0))
        .await
        .expect_error(422, "batch_too_large");
    assert_eq!(app.stored_state().await, before);

    let audit_before = app.audit_len().await;
    let created = app.post("/v1/items:batch", &agent, items(1000)).await;
    assert_eq!(
        created.expect(201)["items"].as_array().map(Vec::len),
        Some(1000)
    );
    assert_eq!(app.audit_len().await, audit_before + 1000);
}

#[tokio::test]
async fn a_batch_may_be_larger_than_the_single_request_limit() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let text = "x".repeat(4000);
    let items: Vec<Value> = (0..300)
        .map(|_| submission(0.95, json!({"input": {"text": text}})))
        .collect();
    let body = json!({"items": items});
    assert!(serde_json::to_vec(&body).expect("JSON").len() > common::MAX_BODY);

    let res = app.post("/v1/items:batch", &agent, body).await;

    assert_eq!(res.expect(201)["items"].as_array().map(Vec::len), Some(300));
}

#[tokio::test]
async fn a_retried_batch_returns_the_first_batchs_items() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let body = json!({"items": [submission(0.5, json!({})), submission(0.5, json!({"customer": {"id": "b"}}))]});
    let send = || {
        app.send_with(
            Method::POST,
            "/v1/items:batch",
            Some(&agent),
            Body::Json(body.clone()),
            &[("Idempotency-Key", "batch-7")],
        )
    };

    let first = send().await;
    let retry = send().await;

    let ids = |r: &common::Res| -> Vec<Value> {
        r.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    first.expect(201);
    assert_eq!(ids(&retry), ids(&first));
    assert_eq!(app.all_items().await.len(), 2);
}

#[tokio::test]
async fn a_batch_sent_with_prefer_return_minimal_answers_ids_statuses_and_lanes_only() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let body = json!({"items": [submission(0.95, json!({})), submission(0.5, json!({})), submission(0.05, json!({}))]});

    let res = app
        .send_with(
            Method::POST,
            "/v1/items:batch",
            Some(&agent),
            Body::Json(body),
            &[("Prefer", "respond-async, RETURN=\"minimal\"; foo=bar")],
        )
        .await;

    let items = res.expect(201)["items"].as_array().expect("items").clone();
    assert_eq!(res.header("preference-applied"), Some("return=minimal"));
    assert_eq!(items.len(), 3);
    for (summary, status) in items
        .iter()
        .zip(["auto_approved", "queued", "auto_rejected"])
    {
        let keys: Vec<&String> = summary.as_object().expect("object").keys().collect();
        assert_eq!(keys, ["id", "lane", "status"]);
        assert_eq!(summary["status"], status);
        let stored = app.item(&agent, id(summary)).await;
        assert_eq!(stored["status"], status);
        assert_eq!(stored["lane"], summary["lane"]);
    }
    assert_eq!(items[1]["lane"], "P2");
    assert_eq!(items[0]["lane"], Value::Null);
    assert_eq!(app.all_items().await.len(), 3);
}

#[tokio::test]
async fn a_submit_answers_the_whole_item_unless_it_prefers_minimal() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let send = async |prefer: &str| {
        app.send_with(
            Method::POST,
            "/v1/items",
            Some(&agent),
            Body::Json(submission(0.5, json!({}))),
            &[("Prefer", prefer)],
        )
        .await
    };

    let whole = send("return=representation").await;
    let unknown = send("handling=lenient, wait=10").await;
    let minimal = send("return=minimal").await;

    for full in [&whole, &unknown] {
        assert_eq!(full.expect(201)["verdict"]["band"], "review");
        assert_eq!(full.header("preference-applied"), None);
    }
    let summary = minimal.expect(201).clone();
    assert_eq!(minimal.header("preference-applied"), Some("return=minimal"));
    assert_eq!(
        summary,
        json!({"id": summary["id"], "status": "queued", "lane": "P2"})
    );
    assert_eq!(app.item(&agent, id(&summary)).await["status"], "queued");
}

#[tokio::test]
async fn a_retried_large_minimal_batch_answers_the_first_batchs_ids() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    // Large enough to be rendered while the writer inserts it.
    let items: Vec<Value> = (0..300)
        .map(|i| submission(if i % 2 == 0 { 0.5 } else { 0.95 }, json!({})))
        .collect();
    let body = json!({ "items": items });
    let send = async |prefer: &str| {
        app.send_with(
            Method::POST,
            "/v1/items:batch",
            Some(&agent),
            Body::Json(body.clone()),
            &[("Idempotency-Key", "import-3"), ("Prefer", prefer)],
        )
        .await
    };

    let first = send("return=minimal").await;
    let retry = send("return=minimal").await;
    let whole = send("return=representation").await;

    let ids = |r: &common::Res| -> Vec<Value> {
        r.expect(201)["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| i["id"].clone())
            .collect()
    };
    assert_eq!(ids(&first).len(), 300);
    assert_eq!(ids(&retry), ids(&first));
    assert_eq!(ids(&whole), ids(&first));
    assert_eq!(whole.body["items"][1]["status"], "auto_approved");
    assert_eq!(whole.body["items"][298]["status"], "queued");
    assert_eq!(app.all_items().await.len(), 300);
}

#[tokio::test]
async fn listing_filters_by_status_policy_lane_and_customer_and_pages_newest_first() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"routing": {"rules": [
        {"name": "chat", "when": {"channel_in": ["chat"]}, "then": {"lane": "P0"}}
    ]}}))
    .await;
    app.put_policy(json!({"name": "ticket.classify", "kind": "label"}))
        .await;
    let agent = app.agent("bot").await;
    let approved = app.submit(&agent, submission(0.95, json!({}))).await;
    let queued = app
        .submit(
            &agent,
            submission(0.5, json!({"customer": {"id": "globex"}})),
        )
        .await;
    let urgent = app
        .submit(
            &agent,
            submission(0.5, json!({"input": {"channel": "chat"}})),
        )
        .await;
    let label = app
        .submit(
            &agent,
            submission(0.95, json!({"policy": "ticket.classify", "proposal": {"kind": "label", "payload": "billing"}})),
        )
        .await;
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| id(i).to_owned())
            .collect()
    };

    let all = app.get("/v1/items", &agent).await.expect(200).clone();
    assert_eq!(
        ids(&all),
        [id(&label), id(&urgent), id(&queued), id(&approved)]
    );
    assert_eq!(all["next_before"], Value::Null);
    let page = app
        .get("/v1/items?status=queued", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), [id(&urgent), id(&queued)]);
    let page = app
        .get("/v1/items?status=auto_approved,queued&lane=P0", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), [id(&urgent)]);
    let page = app
        .get("/v1/items?policy=ticket.classify", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), [id(&label)]);
    let page = app
        .get("/v1/items?customer=globex", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&page), [id(&queued)]);

    let first = app
        .get("/v1/items?limit=3", &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&first), [id(&label), id(&urgent), id(&queued)]);
    let next = first["next_before"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/items?limit=3&before={next}"), &agent)
        .await
        .expect(200)
        .clone();
    assert_eq!(ids(&second), [id(&approved)]);
    assert_eq!(second["next_before"], Value::Null);
}

#[tokio::test]
async fn a_long_poll_wakes_up_when_the_item_becomes_final() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let url = format!("{}/v1/items/{}?wait=60", app.base, id(&item));
    let request = app.client.get(url).bearer_auth(&agent);
    let poll = tokio::spawn(async move {
        let response = request.send().await.expect("the long-poll is answered");
        (
            response.status().as_u16(),
            response.json::<Value>().await.expect("JSON"),
        )
    });

    app.wait_for_watchers(1).await;
    // A change that is not final does not end the wait.
    let claimed = app.claim_item(&alice).await;
    app.decide_claimed(&alice, &claimed, "approve").await;

    // Far less than the 60 s the poll may wait: a missed wake-up fails here, not after a minute.
    let (status, polled) = tokio::time::timeout(Duration::from_secs(30), poll)
        .await
        .expect("the long-poll returns when the item is final")
        .expect("the task completes");
    assert_eq!(status, 200);
    assert_eq!(polled["id"], item["id"]);
    assert_eq!(polled["status"], "approved");
    assert_eq!(polled["final"], true);
    assert_eq!(polled["outcome"]["decided_by"][0]["name"], "alice");
    app.wait_for_watchers(0).await;
}

#[tokio::test]
async fn a_long_poll_on_a_final_item_returns_at_once() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let item = app.submit(&agent, submission(0.95, json!({}))).await;

    let polled = tokio::time::timeout(
        Duration::from_secs(30),
        app.get(&format!("/v1/items/{}?wait=60", id(&item)), &agent),
    )
    .await
    .expect("a final item is returned without waiting");

    assert_eq!(polled.expect(200)["status"], "auto_approved");
    assert!(app.state.watchers().is_empty());
}

#[tokio::test]
async fn a_short_wait_returns_the_item_as_it_is_when_the_wait_ends() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    let polled = app
        .get(&format!("/v1/items/{}?wait=1", id(&item)), &agent)
        .await;

    assert_eq!(polled.expect(200)["status"], "queued");
    assert_eq!(polled.body["id"], item["id"]);
    assert!(app.state.watchers().is_empty());
}

#[tokio::test]
async fn a_wait_outside_zero_to_sixty_seconds_is_refused() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    for wait in ["61", "3600", "-1", "soon", "1.5", ""] {
        let message = app
            .get(&format!("/v1/items/{}?wait={wait}", id(&item)), &agent)
            .await
            .expect_error(400, "invalid_query");
        assert!(message.contains("wait"), "wait={wait}: {message}");
    }
    let polled = app
        .get(&format!("/v1/items/{}?wait=0", id(&item)), &agent)
        .await;
    assert_eq!(polled.expect(200)["status"], "queued");
}
