//! Human review through the API: which item a claim returns, role and lane filters, leases that
//! lapse when the clock moves, stale leases, the escalation chain, two-person confirmation, and
//! the decisions themselves.

mod common;

use common::{TestApp, at, id, lease, submission, time};
use serde_json::{Value, json};

/// A policy whose channel picks the lane (chat P0, phone P1, otherwise P2) and whose
/// `route_to_*` signals raise the role.
fn routed_policy() -> Value {
    json!({
        "review_signals": [],
        "routing": {"rules": [
            {"name": "chat", "when": {"channel_in": ["chat"]}, "then": {"lane": "P0"}},
            {"name": "phone", "when": {"channel_in": ["phone"]}, "then": {"lane": "P1"}},
            {"name": "quality", "when": {"signal": "route_to_quality"}, "then": {"role": "quality"}},
            {"name": "sme", "when": {"signal": "route_to_sme"}, "then": {"role": "sme"}}
        ]}
    })
}

/// A queued submission in `channel`'s lane, requiring `role`, for `customer`.
fn queued(channel: &str, role: &str, customer: &str) -> Value {
    let signals = match role {
        "triage" => json!([]),
        other => json!([format!("route_to_{other}")]),
    };
    submission(
        0.5,
        json!({"input": {"channel": channel}, "customer": {"id": customer}, "signals": signals}),
    )
}

#[tokio::test]
async fn claim_returns_nothing_when_nothing_waits() {
    let app = TestApp::spawn().await;
    let alice = app.reviewer("alice", &["triage"]).await;

    assert_eq!(app.claim(&alice, None).await, None);
    assert_eq!(app.claim(&alice, Some(json!({}))).await, None);
}

#[tokio::test]
async fn claims_take_the_most_urgent_lane_first_then_the_earliest_deadline() {
    let app = TestApp::spawn().await;
    app.put_policy(routed_policy()).await;
    let agent = app.agent("bot").await;
    let lead = app.lead("lena").await;

    let p2 = app.submit(&agent, queued("email", "triage", "a")).await;
    app.advance(1);
    let p1 = app.submit(&agent, queued("phone", "triage", "b")).await;
    app.advance(1);
    let p0 = app.submit(&agent, queued("chat", "triage", "c")).await;
    app.advance(1);
    // Submitted last, but its tightened deadline (450 s) comes before the other P0 item's (900 s).
    let mut strategic = queued("chat", "triage", "d");
    common::merge(&mut strategic, &json!({"customer": {"tier": "strategic"}}));
    let p0_strategic = app.submit(&agent, strategic).await;
    assert!(time(&p0_strategic["sla"]["first_review_due"]) < time(&p0["sla"]["first_review_due"]));

    let mut order = Vec::new();
    while let Some(claimed) = app.claim(&lead, None).await {
        order.push(claimed["item"]["id"].as_str().expect("id").to_owned());
    }

    assert_eq!(order, [id(&p0_strategic), id(&p0), id(&p1), id(&p2)]);
}

#[tokio::test]
async fn a_triage_reviewer_is_never_offered_a_quality_or_sme_item() {
    let app = TestApp::spawn().await;
    app.put_policy(routed_policy()).await;
    let agent = app.agent("bot").await;
    let triage = app.reviewer("tom", &["triage"]).await;
    let quality = app.reviewer("quinn", &["quality"]).await;
    let sme = app.reviewer("sam", &["sme"]).await;

    let sme_item = app.submit(&agent, queued("chat", "sme", "a")).await;
    let quality_item = app.submit(&agent, queued("chat", "quality", "b")).await;
    let triage_item = app.submit(&agent, queued("email", "triage", "c")).await;

    // The P0 items are more urgent, but only the P2 triage item is the triage reviewer's.
    assert_eq!(app.claim_item(&triage).await["id"], id(&triage_item));
    assert_eq!(app.claim(&triage, None).await, None);
    // Asking for a role one does not hold gives nothing, not someone else's work.
    assert_eq!(
        app.claim(&triage, Some(json!({"roles": ["sme"]}))).await,
        None
    );
    // A quality reviewer takes quality work but not an SME's.
    assert_eq!(app.claim_item(&quality).await["id"], id(&quality_item));
    assert_eq!(app.claim(&quality, None).await, None);
    let claimed = app.claim_item(&sme).await;
    assert_eq!(claimed["id"], id(&sme_item));
    assert_eq!(claimed["lease"]["role"], "sme");
}

#[tokio::test]
async fn higher_roles_take_lower_roles_work() {
    let app = TestApp::spawn().await;
    app.put_policy(routed_policy()).await;
    let agent = app.agent("bot").await;
    let sme = app.reviewer("sam", &["sme"]).await;
    let item = app.submit(&agent, queued("email", "triage", "a")).await;

    let claimed = app.claim_item(&sme).await;

    assert_eq!(claimed["id"], id(&item));
    assert_eq!(claimed["lease"]["role"], "sme");
}

#[tokio::test]
async fn claim_filters_choose_roles_and_lanes() {
    let app = TestApp::spawn().await;
    app.put_policy(routed_policy()).await;
    let agent = app.agent("bot").await;
    let both = app.reviewer("bea", &["triage", "quality"]).await;
    let lead = app.lead("lena").await;

    let urgent_triage = app.submit(&agent, queued("chat", "triage", "a")).await;
    let quality = app.submit(&agent, queued("email", "quality", "b")).await;
    let phone = app.submit(&agent, queued("phone", "triage", "c")).await;

    let by_role = app.claim(&both, Some(json!({"roles": ["quality"]}))).await;
    assert_eq!(by_role.expect("an item")["item"]["id"], id(&quality));
    let by_lane = app.claim(&lead, Some(json!({"lanes": ["P1", "P2"]}))).await;
    assert_eq!(by_lane.expect("an item")["item"]["id"], id(&phone));
    let by_both = app
        .claim(&lead, Some(json!({"roles": ["triage"], "lanes": ["P2"]})))
        .await;
    assert_eq!(by_both, None);
    assert_eq!(app.claim_item(&both).await["id"], id(&urgent_triage));
}

#[tokio::test]
async fn a_claim_carries_the_customers_history_and_earlier_reviews() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;

    let approved = app.submit(&agent, submission(0.95, json!({}))).await;
    app.advance(1);
    let rejected = app.submit(&agent, submission(0.05, json!({}))).await;
    app.advance(1);
    let other_customer = submission(0.95, json!({"customer": {"id": "globex"}}));
    app.submit(&agent, other_customer).await;
    app.advance(1);
    let queued = app.submit(&agent, submission(0.5, json!({}))).await;

    let first = app.claim(&alice, None).await.expect("an item");
    assert_eq!(first["item"]["id"], id(&queued));
    assert_eq!(first["reviews"], json!([]));
    let history: Vec<(&str, &str)> = first["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| {
            (
                h["id"].as_str().expect("id"),
                h["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        history,
        [
            (id(&rejected), "auto_rejected"),
            (id(&approved), "auto_approved")
        ]
    );

    app.decide(
        &alice,
        id(&queued),
        lease(&first["item"]),
        "approve",
        json!({"rationale": "matches the invoice", "codes": [], "rubric": {"correctness": 5}}),
    )
    .await
    .expect(200);
    let second = app.claim(&bob, None).await.expect("the confirmation");
    let reviews = second["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["reviewer"]["name"], "alice");
    assert_eq!(reviews[0]["decision"], "approve");
    assert_eq!(reviews[0]["rationale"], "matches the invoice");
    assert_eq!(reviews[0]["rubric"], json!({"correctness": 5}));
}

#[tokio::test]
async fn a_lapsed_lease_returns_the_item_to_the_queue_for_the_next_reviewer() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"lease_seconds": 60})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    let alices = app.claim_item(&alice).await;
    assert_eq!(alices["status"], "in_review");
    assert_eq!(alices["lease"]["holder"]["name"], "alice");
    assert_eq!(time(&alices["lease"]["claimed_at"]), at(0));
    assert_eq!(time(&alices["lease"]["expires_at"]), at(60));
    assert_eq!(
        app.claim(&bob, None).await,
        None,
        "a leased item is not offered"
    );

    app.advance(61);
    let bobs = app.claim_item(&bob).await;

    assert_eq!(bobs["id"], id(&item));
    assert_eq!(bobs["lease"]["holder"]["name"], "bob");
    assert_ne!(lease(&bobs), lease(&alices));
    assert_eq!(time(&bobs["first_claimed_at"]), at(0));
    let trail: Vec<(String, Value, Value)> = app
        .audit(id(&item))
        .await
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["from"].clone(),
                e["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("submitted".to_owned(), json!("received"), json!("queued")),
            ("claimed".to_owned(), json!("queued"), json!("in_review")),
            (
                "lease_expired".to_owned(),
                json!("in_review"),
                json!("queued")
            ),
            ("claimed".to_owned(), json!("queued"), json!("in_review")),
        ]
    );
    let expiry = &app.audit(id(&item)).await[2];
    assert_eq!(expiry["actor"]["role"], "system");
    assert_eq!(time(&expiry["at"]), at(61));

    // Alice's lease is gone: her decision is refused and changes nothing.
    let before = app.item(&app.admin, id(&item)).await;
    app.decide(&alice, id(&item), lease(&alices), "approve", json!({}))
        .await
        .expect_error(409, "lease_not_held");
    assert_eq!(app.item(&app.admin, id(&item)).await, before);
    let done = app.decide_claimed(&bob, &bobs, "approve").await;
    assert_eq!(done["status"], "approved");
}

#[tokio::test]
async fn a_decision_under_a_lapsed_lease_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"lease_seconds": 60})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;
    let audit_before = app.audit_len().await;

    app.advance(60);
    let before = app.item(&app.admin, id(&item)).await;
    let message = app
        .decide(&alice, id(&item), lease(&claimed), "approve", json!({}))
        .await
        .expect_error(409, "lease_expired");

    assert!(message.contains(lease(&claimed)), "{message}");
    assert_eq!(app.item(&app.admin, id(&item)).await, before);
    assert_eq!(before["status"], "in_review");
    assert_eq!(app.audit_len().await, audit_before);
    assert_eq!(
        app.get(&format!("/v1/items/{}/reviews", id(&item)), &app.admin)
            .await
            .expect(200)["reviews"],
        json!([])
    );
}

#[tokio::test]
async fn a_decision_just_before_the_lease_lapses_is_accepted() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"lease_seconds": 60})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;

    app.advance(59);
    let done = app.decide_claimed(&alice, &claimed, "reject").await;

    assert_eq!(done["status"], "rejected");
    let reviews = app
        .get(&format!("/v1/items/{}/reviews", id(&claimed)), &app.admin)
        .await
        .expect(200)["reviews"]
        .clone();
    assert_eq!(reviews[0]["time_on_task_ms"], 59_000);
}

#[tokio::test]
async fn the_server_default_lease_applies_when_the_policy_sets_none() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    app.advance(10);

    let claimed = app.claim_item(&alice).await;

    assert_eq!(time(&claimed["lease"]["expires_at"]), at(10 + 5 * 60));
}

#[tokio::test]
async fn only_the_lease_holder_decides_with_the_lease_it_was_given() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;
    let before = app.item(&app.admin, id(&item)).await;

    let made_up = "0190c1b2-0000-7000-8000-000000000000";
    app.decide(&alice, id(&item), made_up, "approve", json!({}))
        .await
        .expect_error(409, "lease_not_held");
    app.decide(&bob, id(&item), lease(&claimed), "approve", json!({}))
        .await
        .expect_error(409, "lease_not_held");

    assert_eq!(app.item(&app.admin, id(&item)).await, before);
    let done = app.decide_claimed(&alice, &claimed, "approve").await;
    assert_eq!(done["outcome"]["decided_by"][0]["name"], "alice");
    app.decide(&alice, id(&item), lease(&claimed), "reject", json!({}))
        .await
        .expect_error(409, "lease_not_held");
    assert_eq!(app.item(&app.admin, id(&item)).await["status"], "approved");
}

#[tokio::test]
async fn escalation_climbs_from_triage_to_quality_to_sme_and_stops_there() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let triage = app.reviewer("tom", &["triage"]).await;
    let quality = app.reviewer("quinn", &["quality"]).await;
    let sme = app.reviewer("sam", &["sme"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    let claimed = app.claim_item(&triage).await;
    let escalated = app.decide_claimed(&triage, &claimed, "escalate").await;
    assert_eq!(
        (
            &escalated["status"],
            &escalated["required_role"],
            &escalated["stage"],
            &escalated["escalations"]
        ),
        (
            &json!("queued"),
            &json!("quality"),
            &json!("quality"),
            &json!(1)
        )
    );
    assert_eq!(app.claim(&triage, None).await, None);

    let claimed = app.claim_item(&quality).await;
    let escalated = app.decide_claimed(&quality, &claimed, "escalate").await;
    assert_eq!(
        (
            &escalated["status"],
            &escalated["required_role"],
            &escalated["stage"],
            &escalated["escalations"]
        ),
        (&json!("queued"), &json!("sme"), &json!("sme"), &json!(2))
    );
    assert_eq!(app.claim(&triage, None).await, None);
    assert_eq!(app.claim(&quality, None).await, None);

    let claimed = app.claim_item(&sme).await;
    let before = app.item(&app.admin, id(&item)).await;
    app.decide(&sme, id(&item), lease(&claimed), "escalate", json!({}))
        .await
        .expect_error(409, "cannot_escalate");
    assert_eq!(app.item(&app.admin, id(&item)).await, before);

    let done = app.decide_claimed(&sme, &claimed, "approve").await;
    assert_eq!(done["status"], "approved");
    assert_eq!(
        app.audit_actions(id(&item)).await,
        [
            "submitted",
            "claimed",
            "escalated",
            "claimed",
            "escalated",
            "claimed",
            "approved"
        ]
    );
    let reviews = app
        .get(&format!("/v1/items/{}/reviews", id(&item)), &app.admin)
        .await
        .expect(200)["reviews"]
        .clone();
    let summary: Vec<(&str, &str, &str)> = reviews
        .as_array()
        .expect("reviews")
        .iter()
        .map(|r| {
            (
                r["role"].as_str().expect("role"),
                r["stage"].as_str().expect("stage"),
                r["decision"].as_str().expect("decision"),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("triage", "triage", "escalate"),
            ("quality", "quality", "escalate"),
            ("sme", "sme", "approve")
        ]
    );
}

#[tokio::test]
async fn two_people_must_agree_and_the_proposer_cannot_be_the_second() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    assert_eq!(item["two_person"], true);

    let alices = app.claim_item(&alice).await;
    let proposed = app.decide_claimed(&alice, &alices, "approve").await;
    assert_eq!(proposed["status"], "awaiting_confirmation");
    assert_eq!(proposed["stage"], "confirm");
    assert_eq!(proposed["final"], false);
    assert_eq!(proposed["outcome"], Value::Null);
    assert_eq!(proposed["pending"]["proposer"]["name"], "alice");
    assert_eq!(proposed["pending"]["outcome"], "approved");

    // The proposer is not offered their own proposal, and cannot decide it.
    assert_eq!(app.claim(&alice, None).await, None);
    app.decide(&alice, id(&item), lease(&alices), "approve", json!({}))
        .await
        .expect_error(409, "lease_not_held");
    assert_eq!(app.item(&app.admin, id(&item)).await, proposed);

    let bobs = app.claim_item(&bob).await;
    assert_eq!(bobs["id"], id(&item));
    assert_eq!(bobs["stage"], "confirm");
    app.advance(5);
    let done = app.decide_claimed(&bob, &bobs, "approve").await;

    assert_eq!(done["status"], "approved");
    assert_eq!(done["final"], true);
    let deciders: Vec<&Value> = done["outcome"]["decided_by"]
        .as_array()
        .expect("decided_by")
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(deciders, [&json!("alice"), &json!("bob")]);
    assert_eq!(done["outcome"]["payload"], json!({"text": "Hello"}));
    assert_eq!(time(&done["outcome"]["decided_at"]), at(5));
    let trail: Vec<(String, Value, Value)> = app
        .audit(id(&item))
        .await
        .iter()
        .map(|e| {
            (
                e["action"].as_str().expect("action").to_owned(),
                e["from"].clone(),
                e["to"].clone(),
            )
        })
        .collect();
    assert_eq!(
        trail,
        [
            ("submitted".to_owned(), json!("received"), json!("queued")),
            ("claimed".to_owned(), json!("queued"), json!("in_review")),
            (
                "approved".to_owned(),
                json!("in_review"),
                json!("awaiting_confirmation")
            ),
            (
                "claimed".to_owned(),
                json!("awaiting_confirmation"),
                json!("in_review")
            ),
            (
                "confirmed".to_owned(),
                json!("in_review"),
                json!("approved")
            ),
        ]
    );
}

#[tokio::test]
async fn a_lead_who_proposed_is_not_offered_the_confirmation_either() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let lead = app.lead("lena").await;
    app.submit(&agent, submission(0.5, json!({}))).await;

    let claimed = app.claim_item(&lead).await;
    app.decide_claimed(&lead, &claimed, "approve").await;

    assert_eq!(app.claim(&lead, None).await, None);
    assert_eq!(
        app.claim(&app.admin, None)
            .await
            .expect("the admin confirms")["item"]["id"],
        id(&claimed)
    );
}

#[tokio::test]
async fn the_confirmer_can_send_the_approval_back_to_review() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let alices = app.claim_item(&alice).await;
    app.decide_claimed(&alice, &alices, "approve").await;
    let bobs = app.claim_item(&bob).await;

    let sent_back = app.decide_claimed(&bob, &bobs, "send_back").await;

    assert_eq!(sent_back["status"], "queued");
    assert_eq!(sent_back["pending"], Value::Null);
    assert_eq!(sent_back["stage"], "triage");
    // With the proposal discarded, Alice may review it again.
    assert_eq!(app.claim_item(&alice).await["id"], id(&item));
    assert_eq!(
        app.audit_actions(id(&item)).await,
        [
            "submitted",
            "claimed",
            "approved",
            "claimed",
            "sent_back",
            "claimed"
        ]
    );
}

#[tokio::test]
async fn an_edit_waits_for_confirmation_and_the_edited_payload_becomes_final() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["quality"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let alices = app.claim_item(&alice).await;

    let edited = json!({"text": "Hello, your invoice is attached."});
    let proposed = app
        .decide(&alice, id(&item), lease(&alices), "edit",
                json!({"edited_payload": edited, "codes": ["INCOMPLETE"], "rubric": {"completeness": 2}}))
        .await
        .expect(200)
        .clone();
    assert_eq!(proposed["status"], "awaiting_confirmation");
    assert_eq!(proposed["pending"]["outcome"], "edited");
    assert_eq!(proposed["pending"]["payload"], edited);
    assert_eq!(
        proposed["pending"]["diff"]["patch"],
        json!([{"op": "replace", "path": "/text", "value": "Hello, your invoice is attached."}])
    );

    let bobs = app.claim_item(&bob).await;
    let done = app.decide_claimed(&bob, &bobs, "approve").await;

    assert_eq!(done["status"], "edited");
    assert_eq!(done["outcome"]["payload"], edited);
    assert_eq!(
        done["proposal"]["payload"],
        json!({"text": "Hello"}),
        "the proposal is kept as submitted"
    );
    let reviews = app
        .get(&format!("/v1/items/{}/reviews", id(&item)), &app.admin)
        .await
        .expect(200)["reviews"]
        .clone();
    assert_eq!(reviews[0]["codes"], json!(["INCOMPLETE"]));
    assert_eq!(reviews[0]["edited_payload"], edited);
    assert!(
        reviews[0]["diff"]["unified"]
            .as_str()
            .expect("unified")
            .contains("+Hello, your invoice is attached.")
    );
    assert_eq!(reviews[1]["stage"], "confirm");
}

#[tokio::test]
async fn irreversible_policies_always_need_two_people() {
    let app = TestApp::spawn().await;
    let stored = app
        .put_policy(json!({"name": "action.refund", "kind": "action", "risk": "irreversible", "two_person": false}))
        .await;
    assert_eq!(stored["two_person"], true);
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let item = app
        .submit(
            &agent,
            submission(
                0.99,
                json!({"policy": "action.refund",
                                     "proposal": {"kind": "action", "payload": {"amount": 10}}}),
            ),
        )
        .await;
    assert_eq!(item["status"], "queued");
    assert_eq!(item["two_person"], true);

    let alices = app.claim_item(&alice).await;
    let proposed = app.decide_claimed(&alice, &alices, "approve").await;
    assert_eq!(proposed["status"], "awaiting_confirmation");
    let bobs = app.claim_item(&bob).await;
    let done = app.decide_claimed(&bob, &bobs, "approve").await;
    assert_eq!(done["status"], "approved");
    assert_eq!(
        done["outcome"]["decided_by"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test]
async fn a_rejection_needs_only_one_person_even_under_two_person_rules() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;

    let done = app
        .decide(
            &alice,
            id(&claimed),
            lease(&claimed),
            "reject",
            json!({"codes": ["INCORRECT", "TONE"]}),
        )
        .await
        .expect(200)
        .clone();

    assert_eq!(done["status"], "rejected");
    assert_eq!(done["outcome"]["payload"], Value::Null);
    assert_eq!(done["outcome"]["decided_by"][0]["name"], "alice");
}

#[tokio::test]
async fn a_lapsed_confirmation_lease_returns_the_item_to_awaiting_confirmation() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"two_person": true, "lease_seconds": 30}))
        .await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let bob = app.reviewer("bob", &["triage"]).await;
    let carol = app.reviewer("carol", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let alices = app.claim_item(&alice).await;
    app.decide_claimed(&alice, &alices, "approve").await;
    app.claim_item(&bob).await;

    app.advance(31);
    assert_eq!(
        app.claim(&alice, None).await,
        None,
        "still Alice's own proposal"
    );
    let carols = app.claim_item(&carol).await;

    assert_eq!(carols["id"], id(&item));
    assert_eq!(carols["pending"]["proposer"]["name"], "alice");
    let expiry = app
        .audit(id(&item))
        .await
        .into_iter()
        .find(|e| e["action"] == "lease_expired")
        .expect("a lease_expired entry");
    assert_eq!(
        (&expiry["from"], &expiry["to"]),
        (&json!("in_review"), &json!("awaiting_confirmation"))
    );
    let done = app.decide_claimed(&carol, &carols, "approve").await;
    let deciders: Vec<&Value> = done["outcome"]["decided_by"]
        .as_array()
        .expect("decided_by")
        .iter()
        .map(|a| &a["name"])
        .collect();
    assert_eq!(deciders, [&json!("alice"), &json!("carol")]);
}

#[tokio::test]
async fn inconsistent_decisions_are_refused_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;
    let before = app.stored_state().await;

    let cases = [
        ("edit", json!({}), "invalid_decision", "edited_payload"),
        (
            "approve",
            json!({"edited_payload": {"text": "x"}}),
            "invalid_decision",
            "edited_payload",
        ),
        (
            "reject",
            json!({"codes": ["MADE_UP"]}),
            "invalid_decision",
            "MADE_UP",
        ),
        (
            "reject",
            json!({"codes": ["TONE", "TONE"]}),
            "invalid_decision",
            "twice",
        ),
        (
            "approve",
            json!({"rubric": {"tone": 6}}),
            "invalid_decision",
            "rubric.tone",
        ),
        (
            "edit",
            json!({"edited_payload": {"text": "Hello"}}),
            "edit_changes_nothing",
            "approve",
        ),
        (
            "send_back",
            json!({}),
            "send_back_outside_confirmation",
            "send_back",
        ),
    ];
    for (decision, extra, code, mentions) in cases {
        let message = app
            .decide(&alice, id(&item), lease(&claimed), decision, extra.clone())
            .await
            .expect_error(422, code);
        assert!(message.contains(mentions), "{decision} {extra}: {message}");
    }

    assert_eq!(app.stored_state().await, before);
    assert_eq!(
        app.decide_claimed(&alice, &claimed, "approve").await["status"],
        "approved"
    );
}

#[tokio::test]
async fn workspace_decision_codes_can_be_used_once_defined() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let lead = app.lead("lena").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    app.submit(&agent, submission(0.5, json!({}))).await;
    let claimed = app.claim_item(&alice).await;

    app.decide(
        &alice,
        id(&claimed),
        lease(&claimed),
        "reject",
        json!({"codes": ["WRONG_CURRENCY"]}),
    )
    .await
    .expect_error(422, "invalid_decision");
    app.post(
        "/v1/decision-codes",
        &lead,
        json!({"code": "WRONG_CURRENCY", "description": "Amount in the wrong currency."}),
    )
    .await
    .expect(201);
    let codes = app
        .get("/v1/decision-codes", &alice)
        .await
        .expect(200)
        .clone();
    let listed: Vec<(&str, bool)> = codes["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| (c["code"].as_str().expect("code"), c["builtin"] == true))
        .collect();
    assert!(listed.contains(&("WRONG_CURRENCY", false)), "{listed:?}");
    assert!(listed.contains(&("INCORRECT", true)), "{listed:?}");

    let done = app
        .decide(
            &alice,
            id(&claimed),
            lease(&claimed),
            "reject",
            json!({"codes": ["WRONG_CURRENCY"]}),
        )
        .await
        .expect(200)
        .clone();
    assert_eq!(done["status"], "rejected");
}
