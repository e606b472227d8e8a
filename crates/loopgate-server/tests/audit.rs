//! The audit trail through the API: one entry per state change with where it came from and went
//! to, per-item trails, and verification of the workspace's hash chain.

mod common;

use common::{TestApp, at, id, submission, time};
use serde_json::{Value, json};

#[tokio::test]
async fn every_transition_of_an_item_is_one_entry_with_from_and_to() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let tom = app.reviewer("tom", &["triage"]).await;
    let quinn = app.reviewer("quinn", &["quality"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    app.advance(10);
    let claimed = app.claim_item(&tom).await;
    app.advance(10);
    app.decide_claimed(&tom, &claimed, "escalate").await;
    app.advance(10);
    let claimed = app.claim_item(&quinn).await;
    app.advance(10);
    app.decide_claimed(&quinn, &claimed, "approve").await;
    app.advance(10);
    let claimed = app.claim_item(&app.admin).await;
    app.advance(10);
    app.decide_claimed(&app.admin, &claimed, "approve").await;

    let entries = app.audit(id(&item)).await;
    let trail: Vec<(&str, &Value, &Value, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action"),
                &e["from"],
                &e["to"],
                e["actor"]["name"].as_str().expect("actor"),
                e["actor"]["role"].as_str().expect("role"),
            )
        })
        .collect();
    let (received, queued, in_review, awaiting, approved) = (
        json!("received"),
        json!("queued"),
        json!("in_review"),
        json!("awaiting_confirmation"),
        json!("approved"),
    );
    assert_eq!(
        trail,
        [
            ("submitted", &received, &queued, "bot", "agent"),
            ("claimed", &queued, &in_review, "tom", "triage"),
            ("escalated", &in_review, &queued, "tom", "triage"),
            ("claimed", &queued, &in_review, "quinn", "quality"),
            ("approved", &in_review, &awaiting, "quinn", "quality"),
            ("claimed", &awaiting, &in_review, "admin", "sme"),
            ("confirmed", &in_review, &approved, "admin", "sme"),
        ]
    );
    let times: Vec<_> = entries.iter().map(|e| time(&e["at"])).collect();
    assert_eq!(times, (0..7).map(|i| at(i * 10)).collect::<Vec<_>>());
    let seqs: Vec<i64> = entries
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    for (a, b) in entries.iter().zip(entries.iter().skip(1)) {
        if b["seq"].as_i64() == a["seq"].as_i64().map(|s| s + 1) {
            assert_eq!(b["prev_hash"], a["hash"], "consecutive entries link");
        }
    }
    // The escalation records what changed, not just that something did.
    assert_eq!(entries[2]["detail"]["before"]["required_role"], "triage");
    assert_eq!(entries[2]["detail"]["after"]["required_role"], "quality");
}

#[tokio::test]
async fn an_automatic_verdict_is_a_single_entry() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;

    let item = app.submit(&agent, submission(0.95, json!({}))).await;

    let entries = app.audit(id(&item)).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["action"], "submitted");
    assert_eq!(
        (&entries[0]["from"], &entries[0]["to"]),
        (&json!("received"), &json!("auto_approved"))
    );
    assert_eq!(
        entries[0]["detail"]["reasons"][0]["code"],
        "above_approve_threshold"
    );
}

#[tokio::test]
async fn the_chain_counts_every_accepted_change_and_verifies() {
    let app = TestApp::spawn().await;
    // The bootstrap admin key is the first entry.
    assert_eq!(
        app.verify().await,
        json!({"valid": true, "entries": 1, "broken": null})
    );

    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let lead = app.lead("lena").await;
    app.post(
        "/v1/decision-codes",
        &lead,
        json!({"code": "WRONG_CURRENCY", "description": "Wrong currency."}),
    )
    .await
    .expect(201);
    assert_eq!(app.audit_len().await, 1 + 1 + 3 + 1);

    app.submit(&agent, submission(0.95, json!({}))).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;
    // Refused requests leave no trace.
    app.decide(
        &alice,
        id(&claimed),
        "0190c1b2-0000-7000-8000-000000000000",
        "approve",
        json!({}),
    )
    .await
    .expect_error(409, "lease_not_held");
    app.post(
        "/v1/items",
        &agent,
        submission(0.5, json!({"policy": "nope"})),
    )
    .await
    .expect_error(422, "unknown_policy");
    app.decide_claimed(&alice, &claimed, "approve").await;

    assert_eq!(app.audit_len().await, 6 + 2 + 1 + 1);
}

#[tokio::test]
async fn policy_and_key_changes_are_in_the_chain_too() {
    let app = TestApp::spawn().await;
    let before = app.audit_len().await;

    app.put_policy(json!({})).await;
    app.put_policy(json!({"audit_rate": 0.1})).await;
    let created = app.create_key("bot", "agent", &[]).await;
    let key_id = created["id"].as_str().expect("key id");
    app.delete(&format!("/v1/keys/{key_id}"), &app.admin)
        .await
        .expect(200);

    assert_eq!(app.audit_len().await, before + 4);
}

#[tokio::test]
async fn agents_read_the_trail_of_their_own_items_only() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let one = app.agent("one").await;
    let two = app.agent("two").await;
    let reviewer = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&one, submission(0.5, json!({}))).await;
    let path = format!("/v1/items/{}/audit", id(&item));

    assert_eq!(
        app.get(&path, &one).await.expect(200)["entries"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        app.get(&path, &reviewer).await.expect(200)["entries"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    app.get(&path, &two)
        .await
        .expect_error(404, "item_not_found");
}

#[tokio::test]
async fn only_leads_and_admins_verify_the_chain() {
    let app = TestApp::spawn().await;
    let agent = app.agent("bot").await;
    let reviewer = app.reviewer("alice", &["triage"]).await;
    let lead = app.lead("lena").await;

    app.get("/v1/audit/verify", &agent)
        .await
        .expect_error(403, "forbidden");
    app.get("/v1/audit/verify", &reviewer)
        .await
        .expect_error(403, "forbidden");
    assert_eq!(
        app.get("/v1/audit/verify", &lead).await.expect(200)["valid"],
        true
    );
}
