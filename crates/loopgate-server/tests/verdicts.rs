//! The verdict pipeline through `POST /v1/items`: each band, each override that forces review,
//! and the lane, role and SLA deadlines a queued item gets, computed from the injected clock.

mod common;

use common::{TestApp, at, date_in, reason_codes, submission, time};
use serde_json::{Value, json};

#[tokio::test]
async fn confident_items_are_approved_without_a_person() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;

    let item = app.submit(&agent, submission(0.95, json!({}))).await;

    assert_eq!(item["status"], "auto_approved");
    assert_eq!(item["final"], true);
    assert_eq!(item["verdict"]["band"], "approve");
    assert_eq!(item["verdict"]["forced_review"], false);
    assert_eq!(reason_codes(&item), ["above_approve_threshold"]);
    assert_eq!(item["outcome"]["status"], "auto_approved");
    assert_eq!(item["outcome"]["payload"], json!({"text": "Hello"}));
    assert_eq!(item["outcome"]["decided_by"], json!([]));
    assert_eq!(time(&item["outcome"]["decided_at"]), at(0));
    for nothing in [
        "lane",
        "required_role",
        "sla",
        "stage",
        "lease",
        "sla_status",
    ] {
        assert_eq!(item[nothing], Value::Null, "{nothing}");
    }
}

#[tokio::test]
async fn hopeless_items_are_rejected_without_a_person() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;

    let item = app.submit(&agent, submission(0.1, json!({}))).await;

    assert_eq!(item["status"], "auto_rejected");
    assert_eq!(item["final"], true);
    assert_eq!(item["verdict"]["band"], "reject");
    assert_eq!(reason_codes(&item), ["below_reject_threshold"]);
    assert_eq!(item["outcome"]["payload"], Value::Null);
}

#[tokio::test]
async fn thresholds_are_inclusive_at_approve_and_exclusive_at_reject() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;

    let at_u = app.submit(&agent, submission(0.9, json!({}))).await;
    let at_l = app.submit(&agent, submission(0.2, json!({}))).await;
    let below_l = app.submit(&agent, submission(0.19, json!({}))).await;

    assert_eq!(at_u["status"], "auto_approved");
    assert_eq!(at_l["status"], "queued");
    assert_eq!(below_l["status"], "auto_rejected");
}

#[tokio::test]
async fn uncertain_items_queue_in_the_default_lane_with_deadlines_from_the_clock() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    app.advance(90);

    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    assert_eq!(item["status"], "queued");
    assert_eq!(item["final"], false);
    assert_eq!(item["verdict"]["band"], "review");
    assert_eq!(item["verdict"]["forced_review"], false);
    assert_eq!(reason_codes(&item), ["between_thresholds", "default_route"]);
    assert_eq!(item["lane"], "P2");
    assert_eq!(item["required_role"], "triage");
    assert_eq!(item["stage"], "triage");
    assert_eq!(item["outcome"], Value::Null);
    // P2 defaults: first review within 4 hours, resolution within 24, from submission.
    assert_eq!(time(&item["created_at"]), at(90));
    assert_eq!(time(&item["sla"]["first_review_due"]), at(90 + 4 * 3600));
    assert_eq!(time(&item["sla"]["resolve_due"]), at(90 + 24 * 3600));
    assert_eq!(item["sla"].get("tightened_by"), None);
    assert_eq!(
        item["sla_status"],
        json!({"first_review_breached": false, "resolve_breached": false,
               "remaining_ms": 4 * 3600 * 1000})
    );
}

#[tokio::test]
async fn sla_status_reports_a_breach_once_the_clock_passes_the_deadline() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;
    let id = common::id(&item);

    app.advance(4 * 3600 + 1);
    let late = app.item(&agent, id).await;

    assert_eq!(
        late["sla_status"],
        json!({"first_review_breached": true, "resolve_breached": false, "remaining_ms": -1000})
    );
}

/// One override: the policy settings, the submission changes, and the reasons expected for a
/// confident (0.95) submission that the override sends to a person anyway.
struct Override {
    name: &'static str,
    policy: Value,
    submission: Value,
    reasons: &'static [&'static str],
}

fn overrides() -> Vec<Override> {
    vec![
        Override {
            name: "irreversible",
            policy: json!({"risk": "irreversible"}),
            submission: json!({}),
            reasons: &[
                "above_approve_threshold",
                "irreversible_action",
                "default_route",
            ],
        },
        Override {
            name: "required-fields",
            policy: json!({"validators": {"required_fields": ["subject"]}}),
            submission: json!({}),
            reasons: &[
                "validator_failed",
                "above_approve_threshold",
                "default_route",
            ],
        },
        Override {
            name: "min-citations",
            policy: json!({"validators": {"min_citations": 1}}),
            submission: json!({}),
            reasons: &[
                "validator_failed",
                "above_approve_threshold",
                "default_route",
            ],
        },
        Override {
            name: "blocked-terms",
            policy: json!({"validators": {"blocked_terms": ["guaranteed"]}}),
            submission: json!({"proposal": {"payload": {"text": "A refund is Guaranteed."}}}),
            reasons: &[
                "validator_failed",
                "above_approve_threshold",
                "default_route",
            ],
        },
        Override {
            name: "max-amount",
            policy: json!({"validators": {"max_amount": {"field": "refund/amount", "limit": 100}}}),
            submission: json!({"proposal": {"payload": {"text": "ok", "refund": {"amount": "250.00"}}}}),
            reasons: &[
                "validator_failed",
                "above_approve_threshold",
                "default_route",
            ],
        },
        Override {
            name: "risk-signal",
            policy: json!({}),
            submission: json!({"signals": ["legal"]}),
            reasons: &["above_approve_threshold", "risk_signal", "default_route"],
        },
        Override {
            name: "customer-tier",
            policy: json!({"customer_rules": {"review_tiers": ["enterprise"]}}),
            submission: json!({"customer": {"tier": "Enterprise"}}),
            reasons: &["above_approve_threshold", "customer_tier", "default_route"],
        },
        Override {
            name: "deal-value",
            policy: json!({"customer_rules": {"max_deal_value": 50000}}),
            submission: json!({"customer": {"deal_value": 90000}}),
            reasons: &[
                "above_approve_threshold",
                "deal_value_above_limit",
                "default_route",
            ],
        },
        Override {
            name: "renewal",
            // A renewal this close also tightens the SLA under the default tightening rule.
            policy: json!({"customer_rules": {"renewal_within_days": 30}}),
            submission: json!({"customer": {"renewal_date": date_in(10)}}),
            reasons: &[
                "above_approve_threshold",
                "renewal_soon",
                "default_route",
                "sla_tightened",
            ],
        },
        Override {
            name: "shadow",
            policy: json!({"mode": "shadow"}),
            submission: json!({}),
            reasons: &["above_approve_threshold", "shadow_mode", "default_route"],
        },
        Override {
            name: "routing-rule",
            policy: json!({"routing": {"rules": [
                {"name": "lawyers", "when": {"text_contains": ["lawyer"]}, "then": {"force_review": true}}
            ]}}),
            submission: json!({"input": {"text": "My lawyer will call you"}}),
            reasons: &["above_approve_threshold", "routing_rule", "default_route"],
        },
    ]
}

#[tokio::test]
async fn every_override_sends_a_confident_item_to_a_person_and_says_why() {
    let app = TestApp::spawn().await;
    let agent = app.agent("bot").await;
    for case in overrides() {
        let name = format!("case.{}", case.name);
        let mut policy = case.policy.clone();
        common::merge(&mut policy, &json!({"name": name}));
        app.put_policy(policy).await;
        let mut overrides = case.submission.clone();
        common::merge(&mut overrides, &json!({"policy": name}));

        let item = app.submit(&agent, submission(0.95, overrides)).await;

        assert_eq!(item["status"], "queued", "{}", case.name);
        assert_eq!(item["verdict"]["band"], "approve", "{}", case.name);
        assert_eq!(item["verdict"]["forced_review"], true, "{}", case.name);
        assert_eq!(reason_codes(&item), case.reasons, "{}", case.name);
    }
}

#[tokio::test]
async fn the_same_submission_passes_when_the_override_does_not_apply() {
    let app = TestApp::spawn().await;
    let agent = app.agent("bot").await;
    app.put_policy(json!({
        "validators": {"required_fields": ["text"], "min_citations": 1,
                       "blocked_terms": ["guaranteed"], "max_amount": {"limit": 100}},
        "customer_rules": {"review_tiers": ["enterprise"], "max_deal_value": 50000,
                           "renewal_within_days": 30}
    }))
    .await;

    let item = app
        .submit(
            &agent,
            submission(
                0.95,
                json!({
                    "customer": {"tier": "standard", "deal_value": 50000, "renewal_date": date_in(31)},
                    "proposal": {"payload": {"text": "Guarantees vary", "amount": 100},
                                 "citations": [{"source": "kb://refunds"}]},
                    "signals": ["billing"]
                }),
            ),
        )
        .await;

    assert_eq!(item["status"], "auto_approved", "{item:#}");
    assert_eq!(reason_codes(&item), ["above_approve_threshold"]);
    let validators: Vec<(&str, bool)> = item["verdict"]["validators"]
        .as_array()
        .expect("validators")
        .iter()
        .map(|v| (v["validator"].as_str().expect("name"), v["passed"] == true))
        .collect();
    assert_eq!(
        validators,
        [
            ("required_fields", true),
            ("min_citations", true),
            ("blocked_terms", true),
            ("max_amount", true)
        ]
    );
}

#[tokio::test]
async fn each_failing_validator_is_named_with_what_failed() {
    let app = TestApp::spawn().await;
    let agent = app.agent("bot").await;
    app.put_policy(json!({
        "kind": "action", "name": "action.refund",
        "validators": {"required_fields": ["currency"], "min_citations": 2,
                       "blocked_terms": ["guaranteed"], "max_amount": {"limit": 100}}
    }))
    .await;

    let item = app
        .submit(
            &agent,
            submission(
                0.95,
                json!({"policy": "action.refund",
                       "proposal": {"kind": "action",
                                    "payload": {"amount": 250, "note": "guaranteed refund"}}}),
            ),
        )
        .await;

    let results = item["verdict"]["validators"]
        .as_array()
        .expect("validators");
    let failed: Vec<&str> = results
        .iter()
        .filter(|v| v["passed"] == false)
        .map(|v| v["validator"].as_str().expect("name"))
        .collect();
    assert_eq!(
        failed,
        [
            "required_fields",
            "min_citations",
            "blocked_terms",
            "max_amount"
        ]
    );
    let messages: Vec<&str> = results
        .iter()
        .map(|v| v["message"].as_str().expect("message"))
        .collect();
    assert!(messages[0].contains("/currency"), "{messages:?}");
    assert!(messages[1].contains("0 citation"), "{messages:?}");
    assert!(messages[2].contains("guaranteed"), "{messages:?}");
    assert!(
        messages[3].contains("exceeds the limit 100"),
        "{messages:?}"
    );
    let reasons = reason_codes(&item);
    assert_eq!(
        reasons.iter().filter(|c| *c == "validator_failed").count(),
        4
    );
}

#[tokio::test]
async fn signals_the_policy_does_not_review_do_not_force_review() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"review_signals": ["safety"]})).await;
    let agent = app.agent("bot").await;

    let legal = app
        .submit(&agent, submission(0.95, json!({"signals": ["legal"]})))
        .await;
    let safety = app
        .submit(&agent, submission(0.95, json!({"signals": ["safety"]})))
        .await;

    assert_eq!(legal["status"], "auto_approved");
    assert_eq!(safety["status"], "queued");
    assert!(reason_codes(&safety).contains(&"risk_signal".to_owned()));
}

#[tokio::test]
async fn a_routing_rule_sets_lane_and_role_and_the_deadlines_follow_the_lane() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"routing": {"rules": [
        {"name": "lawyers", "when": {"text_contains": ["lawyer"]},
         "then": {"force_review": true, "lane": "P0", "role": "sme"}},
        {"name": "phone", "when": {"channel_in": ["phone"]}, "then": {"lane": "P1"}}
    ]}}))
    .await;
    let agent = app.agent("bot").await;

    let legal = app
        .submit(
            &agent,
            submission(0.95, json!({"input": {"text": "My lawyer says no"}})),
        )
        .await;
    let phone = app
        .submit(
            &agent,
            submission(0.5, json!({"input": {"channel": "phone"}})),
        )
        .await;

    assert_eq!(legal["status"], "queued");
    assert_eq!(legal["lane"], "P0");
    assert_eq!(legal["required_role"], "sme");
    assert_eq!(legal["stage"], "sme");
    assert_eq!(
        reason_codes(&legal),
        ["above_approve_threshold", "routing_rule", "routing_rule"]
    );
    let steps: Vec<&str> = legal["verdict"]["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r["step"].as_str().expect("step"))
        .collect();
    assert_eq!(steps, ["band", "override", "routing"]);
    assert_eq!(time(&legal["sla"]["first_review_due"]), at(15 * 60));
    assert_eq!(time(&legal["sla"]["resolve_due"]), at(3600));

    assert_eq!(phone["lane"], "P1");
    assert_eq!(phone["required_role"], "triage");
    assert_eq!(phone["verdict"]["forced_review"], false);
    assert_eq!(time(&phone["sla"]["first_review_due"]), at(3600));
    assert_eq!(time(&phone["sla"]["resolve_due"]), at(8 * 3600));
}

#[tokio::test]
async fn strategic_customers_get_tightened_deadlines() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({"routing": {"default_lane": "P1"}}))
        .await;
    let agent = app.agent("bot").await;
    app.advance(60);

    let strategic = app
        .submit(
            &agent,
            submission(0.5, json!({"customer": {"tier": "strategic"}})),
        )
        .await;
    let standard = app.submit(&agent, submission(0.5, json!({}))).await;

    // P1 targets are 1 h and 8 h; the default tightening halves them for the strategic tier.
    assert_eq!(time(&strategic["sla"]["first_review_due"]), at(60 + 1800));
    assert_eq!(time(&strategic["sla"]["resolve_due"]), at(60 + 4 * 3600));
    assert_eq!(strategic["sla"]["tightened_by"], 0.5);
    assert_eq!(strategic["sla"]["tightened_because"], "tier strategic");
    assert_eq!(
        reason_codes(&strategic),
        ["between_thresholds", "default_route", "sla_tightened"]
    );
    assert_eq!(time(&standard["sla"]["first_review_due"]), at(60 + 3600));
    assert_eq!(time(&standard["sla"]["resolve_due"]), at(60 + 8 * 3600));
}

#[tokio::test]
async fn a_near_renewal_tightens_by_the_policys_factor() {
    let app = TestApp::spawn().await;
    app.put_policy(
        json!({"sla": {"P2": {"first_review": 1000, "resolve": 10000},
                                  "tightening": {"factor": 0.25, "renewal_within_days": 14}}}),
    )
    .await;
    let agent = app.agent("bot").await;

    let soon = app
        .submit(
            &agent,
            submission(0.5, json!({"customer": {"renewal_date": date_in(14)}})),
        )
        .await;
    let later = app
        .submit(
            &agent,
            submission(0.5, json!({"customer": {"renewal_date": date_in(15)}})),
        )
        .await;

    assert_eq!(time(&soon["sla"]["first_review_due"]), at(250));
    assert_eq!(time(&soon["sla"]["resolve_due"]), at(2500));
    assert_eq!(soon["sla"]["tightened_by"], 0.25);
    assert_eq!(time(&later["sla"]["first_review_due"]), at(1000));
    assert_eq!(later["sla"].get("tightened_by"), None);
}

#[tokio::test]
async fn items_keep_the_policy_version_that_routed_them() {
    let app = TestApp::spawn().await;
    let v1 = app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let first = app.submit(&agent, submission(0.85, json!({}))).await;

    let v2 = app
        .put_policy(json!({"thresholds": {"approve_at": 0.8, "reject_below": 0.2}}))
        .await;
    let second = app.submit(&agent, submission(0.85, json!({}))).await;

    assert_eq!(
        (v1["version"].clone(), v2["version"].clone()),
        (json!(1), json!(2))
    );
    assert_eq!(first["policy_version"], 1);
    assert_eq!(first["status"], "queued");
    assert_eq!(second["policy_version"], 2);
    assert_eq!(second["status"], "auto_approved");
    let reread = app.item(&agent, common::id(&first)).await;
    assert_eq!(reread["policy_version"], 1);
    assert_eq!(reread["status"], "queued");
}

#[tokio::test]
async fn extra_context_is_kept_as_given() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;

    let item = app
        .submit(
            &agent,
            submission(
                0.5,
                json!({"input": {"ticket": "T-42", "subject": "Invoice"},
                       "customer": {"region": "EU", "history": [{"ticket": "T-1"}]}}),
            ),
        )
        .await;
    let reread = app.item(&agent, common::id(&item)).await;

    assert_eq!(reread["input"]["ticket"], "T-42");
    assert_eq!(reread["customer"]["region"], "EU");
    assert_eq!(reread["customer"]["history"], json!([{"ticket": "T-1"}]));
}

#[tokio::test]
async fn a_queued_item_as_the_api_shows_it() {
    // A seeded sampling coin, so that `representative` is the same on every run.
    let app = TestApp::spawn_with(loopgate_server::Settings {
        audit_seed: Some(1),
        ..loopgate_server::Settings::default()
    })
    .await;
    app.put_policy(json!({
        "validators": {"min_citations": 1},
        "routing": {"rules": [{"name": "chat", "when": {"channel_in": ["chat"]}, "then": {"lane": "P1"}}]}
    }))
    .await;
    let agent = app.agent("bot").await;
    app.advance(30);

    let item = app
        .submit(
            &agent,
            submission(
                0.7,
                json!({
                    "input": {"channel": "chat", "ticket": "T-7"},
                    "customer": {"tier": "strategic", "deal_value": 120000, "health_score": 0.4},
                    "proposal": {"model": "gpt-x", "model_version": "2026-10",
                                 "rationale": "The invoice was sent on the 3rd."},
                    "signals": ["churn_risk"]
                }),
            ),
        )
        .await;

    // Timestamps come from the manual clock and are stable; only ids are random.
    insta::assert_json_snapshot!("queued_item", item, {
        ".id" => "[item id]",
        ".submitted_by.id" => "[principal id]",
    });
}

#[tokio::test]
async fn once_claimed_in_time_the_sla_counts_toward_resolution() {
    let app = TestApp::spawn().await;
    app.put_policy(json!({})).await;
    let agent = app.agent("bot").await;
    let alice = app.reviewer("alice", &["triage"]).await;
    let item = app.submit(&agent, submission(0.5, json!({}))).await;

    app.advance(3600);
    let claimed = app.claim_item(&alice).await;
    assert_eq!(
        claimed["sla_status"],
        json!({"first_review_breached": false, "resolve_breached": false,
               "remaining_ms": 23 * 3600 * 1000})
    );

    // Past the first-review deadline, but the first review happened in time.
    app.advance(4 * 3600);
    let later = app.item(&agent, common::id(&item)).await;
    assert_eq!(time(&later["first_claimed_at"]), at(3600));
    assert_eq!(later["sla_status"]["first_review_breached"], false);
    assert_eq!(later["sla_status"]["remaining_ms"], 19 * 3600 * 1000);
}
