//! Random sequences of API calls against a fresh app each: submits (some of them retries),
//! claims by reviewers of different roles, decisions under current, stale and made-up leases, and
//! clock moves that let leases lapse. Whatever the sequence, no call is a 5xx (checked by
//! `TestApp::send`), every item is in a legal state whose audit trail is an unbroken walk from
//! `received` to where it is, and the workspace's chain holds exactly one entry per accepted
//! change and verifies.

mod common;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use common::{TestApp, id, lease, submission, time};
use proptest::prelude::*;
use serde_json::{Value, json};

/// Reviewers: (name, reviewer roles); an empty list makes a lead.
const REVIEWERS: &[(&str, &[&str])] = &[
    ("tom", &["triage"]),
    ("quinn", &["quality"]),
    ("sam", &["sme"]),
    ("lena", &[]),
];
const DECISIONS: &[&str] = &["approve", "reject", "escalate", "edit", "send_back"];
/// Distinct submissions; a repeated one is a retry with the same Idempotency-Key.
const SUBMISSIONS: u8 = 12;
const LEASE_SECONDS: i64 = 60;

#[derive(Debug, Clone)]
enum LeaseChoice {
    Current,
    Stale,
    MadeUp,
}

#[derive(Debug, Clone)]
enum Op {
    Submit(u8),
    Claim {
        reviewer: usize,
    },
    Decide {
        item: usize,
        reviewer: Option<usize>,
        decision: usize,
        lease: LeaseChoice,
    },
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let lease = prop_oneof![
        6 => Just(LeaseChoice::Current),
        1 => Just(LeaseChoice::Stale),
        1 => Just(LeaseChoice::MadeUp),
    ];
    prop_oneof![
        3 => (0..SUBMISSIONS).prop_map(Op::Submit),
        3 => (0..REVIEWERS.len()).prop_map(|reviewer| Op::Claim { reviewer }),
        4 => (0..16usize, proptest::option::weighted(0.2, 0..REVIEWERS.len()), 0..DECISIONS.len(), lease)
            .prop_map(|(item, reviewer, decision, lease)| Op::Decide { item, reviewer, decision, lease }),
        1 => (1..=90i64).prop_map(Op::Advance),
    ]
}

/// What the test knows of an item: what the API last said, and the leases it was given.
#[derive(Debug)]
struct Known {
    id: String,
    status: String,
    pending: bool,
    lease: Option<(String, usize, DateTime<Utc>)>,
    old_leases: Vec<String>,
}

/// Submission `n`: its policy, confidence and signals follow from `n`, so that a repeat is an
/// identical retry.
fn nth_submission(n: u8) -> Value {
    let confidence = [0.5, 0.95, 0.6, 0.05, 0.7, 0.4][usize::from(n % 6)];
    let policy = if n.is_multiple_of(2) {
        "reply.draft"
    } else {
        "reply.pair"
    };
    let signals = if n.is_multiple_of(3) {
        json!(["route_to_quality"])
    } else {
        json!([])
    };
    submission(
        confidence,
        json!({"policy": policy, "signals": signals, "customer": {"id": format!("c{}", n % 3)}}),
    )
}

async fn run(ops: Vec<Op>) {
    let app = TestApp::spawn().await;
    let rules = json!({"review_signals": [], "lease_seconds": LEASE_SECONDS, "routing": {"rules": [
        {"name": "quality", "when": {"signal": "route_to_quality"}, "then": {"role": "quality"}}
    ]}});
    app.put_policy(rules.clone()).await;
    let mut pair = rules;
    common::merge(
        &mut pair,
        &json!({"name": "reply.pair", "two_person": true}),
    );
    app.put_policy(pair).await;
    let agent = app.agent("bot").await;
    let mut reviewers = Vec::new();
    for (name, roles) in REVIEWERS {
        reviewers.push(if roles.is_empty() {
            app.lead(name).await
        } else {
            app.reviewer(name, roles).await
        });
    }
    // Bootstrap key, two policies, the agent's and the reviewers' keys.
    let mut expected_entries: i64 = 1 + 2 + 1 + REVIEWERS.len() as i64;
    let mut items: Vec<Known> = Vec::new();
    let mut submitted: BTreeSet<u8> = BTreeSet::new();

    for op in ops {
        match op {
            Op::Submit(n) => {
                let res = app
                    .send_with(
                        reqwest::Method::POST,
                        "/v1/items",
                        Some(&agent),
                        common::Body::Json(nth_submission(n)),
                        &[("Idempotency-Key", &format!("submission-{n}"))],
                    )
                    .await;
                let item = res.expect(201);
                let replayed = res.header("idempotent-replayed") == Some("true");
                assert_eq!(replayed, !submitted.insert(n), "only a repeat is replayed");
                if !replayed {
                    expected_entries += 1;
                    items.push(Known {
                        id: id(item).to_owned(),
                        status: item["status"].as_str().expect("status").to_owned(),
                        pending: false,
                        lease: None,
                        old_leases: Vec::new(),
                    });
                }
            }
            Op::Claim { reviewer } => {
                // A claim first returns lapsed leases to their queues, each one audit entry.
                let now = app.now();
                for known in items.iter_mut() {
                    if known.status == "in_review"
                        && known.lease.as_ref().is_some_and(|l| l.2 <= now)
                    {
                        let (old, _, _) = known.lease.take().expect("leased");
                        known.old_leases.push(old);
                        known.status = if known.pending {
                            "awaiting_confirmation"
                        } else {
                            "queued"
                        }
                        .to_owned();
                        expected_entries += 1;
                    }
                }
                if let Some(claimed) = app.claim(&reviewers[reviewer], None).await {
                    let item = &claimed["item"];
                    let known = items
                        .iter_mut()
                        .find(|k| k.id == id(item))
                        .expect("a known item");
                    assert!(
                        matches!(known.status.as_str(), "queued" | "awaiting_confirmation"),
                        "claimed an item that was {}",
                        known.status
                    );
                    known.status = "in_review".to_owned();
                    known.lease = Some((
                        lease(item).to_owned(),
                        reviewer,
                        time(&item["lease"]["expires_at"]),
                    ));
                    expected_entries += 1;
                }
            }
            Op::Decide {
                item,
                reviewer,
                decision,
                lease: choice,
            } => {
                if items.is_empty() {
                    continue;
                }
                let count = items.len();
                let known = &mut items[item % count];
                let holder = known.lease.as_ref().map(|l| l.1);
                let Some(by) = reviewer.or(holder) else {
                    continue;
                };
                let made_up = "0190c1b2-0000-7000-8000-000000000000".to_owned();
                let lease_id = match choice {
                    LeaseChoice::Current => known.lease.as_ref().map(|l| l.0.clone()),
                    LeaseChoice::Stale => known.old_leases.last().cloned(),
                    LeaseChoice::MadeUp => None,
                }
                .unwrap_or(made_up);
                let extra = if DECISIONS[decision] == "edit" {
                    json!({"edited_payload": {"text": format!("edited by {}", REVIEWERS[by].0)}})
                } else {
                    json!({})
                };
                let res = app
                    .decide(
                        &reviewers[by],
                        &known.id,
                        &lease_id,
                        DECISIONS[decision],
                        extra,
                    )
                    .await;
                if res.status.as_u16() == 200 {
                    let (old, _, _) = known.lease.take().expect("only a leased item is decided");
                    known.old_leases.push(old);
                    known.status = res.body["status"].as_str().expect("status").to_owned();
                    known.pending = !res.body["pending"].is_null();
                    expected_entries += 1;
                } else {
                    assert!(
                        matches!(res.status.as_u16(), 403 | 409 | 422),
                        "a refused decision is 403, 409 or 422: {} {:#}",
                        res.status,
                        res.body
                    );
                }
            }
            Op::Advance(seconds) => app.advance(seconds),
        }
    }

    for known in &items {
        let item = app.item(&app.admin, &known.id).await;
        assert_eq!(item["status"], known.status.as_str(), "{item:#}");
        check_legal(&item);
        check_trail(&app.audit(&known.id).await, &item);
    }
    assert_eq!(app.audit_len().await, expected_entries);
}

/// The fields that must agree with an item's status.
fn check_legal(item: &Value) {
    let status = item["status"].as_str().expect("status");
    let is_final = matches!(
        status,
        "approved" | "edited" | "rejected" | "auto_approved" | "auto_rejected"
    );
    assert!(
        is_final || matches!(status, "queued" | "in_review" | "awaiting_confirmation"),
        "{status} is not a state"
    );
    assert_eq!(item["final"], is_final, "{item:#}");
    assert_eq!(item["outcome"].is_null(), !is_final, "{item:#}");
    assert_eq!(item["lease"].is_null(), status != "in_review", "{item:#}");
    if status == "awaiting_confirmation" {
        assert!(!item["pending"].is_null(), "{item:#}");
    }
    if !item["pending"].is_null() {
        assert!(
            matches!(status, "awaiting_confirmation" | "in_review"),
            "{item:#}"
        );
    }
    if is_final {
        assert_eq!(item["outcome"]["status"], status);
        assert!(item["stage"].is_null());
        let deciders: Vec<&Value> = item["outcome"]["decided_by"]
            .as_array()
            .expect("decided_by")
            .iter()
            .map(|a| &a["id"])
            .collect();
        match status {
            "auto_approved" | "auto_rejected" => assert!(deciders.is_empty()),
            "approved" | "edited" if item["two_person"] == true => {
                assert_eq!(deciders.len(), 2, "{item:#}");
                assert_ne!(deciders[0], deciders[1], "two different people: {item:#}");
            }
            // A rejection while confirming names the proposer and the one who rejected.
            "rejected" if item["two_person"] == true => {
                assert!(matches!(deciders.len(), 1 | 2), "{item:#}");
                assert!(
                    deciders.len() == 1 || deciders[0] != deciders[1],
                    "{item:#}"
                );
            }
            _ => assert_eq!(deciders.len(), 1, "{item:#}"),
        }
    } else {
        for field in ["lane", "required_role", "sla", "stage"] {
            assert!(
                !item[field].is_null(),
                "{field} of a {status} item: {item:#}"
            );
        }
    }
}

/// An item's trail starts at `received`, each entry starts where the previous one ended, and the
/// last ends at the item's status.
fn check_trail(entries: &[Value], item: &Value) {
    let mut at = json!("received");
    let mut actions = BTreeMap::new();
    for entry in entries {
        assert_eq!(entry["from"], at, "{entries:#?}");
        at = entry["to"].clone();
        *actions
            .entry(entry["action"].as_str().expect("action").to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(at, item["status"], "{entries:#?}");
    assert_eq!(actions.get("submitted"), Some(&1));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn any_sequence_of_calls_keeps_items_legal_and_the_chain_exact(ops in proptest::collection::vec(op(), 10..80)) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(run(ops));
    }
}
