//! Shared builders for loopgate-core's integration tests: policies and submissions written as
//! JSON overrides of one plain baseline, reviewers, items routed into a queue, decision requests,
//! and a fixed start time, so that every test states only what it is about.

// Each test crate compiles this module on its own and uses a subset of it.
#![allow(dead_code)]

pub mod sim;

use chrono::{Duration, NaiveDate};
use loopgate_core::clock::from_millis;
use loopgate_core::verdict::{NoveltyFinding, decide};
use loopgate_core::{
    Actor, Decision, DecisionRequest, Item, ItemId, LeaseId, Policy, PolicySpec, PrincipalId,
    Reviewer, Role, Route, Status, Submission, Timestamp, Uncalibrated, VerdictContext,
    WorkspaceId,
};
use serde_json::{Value, json};

/// How long every lease in these tests lasts unless a test says otherwise.
pub const LEASE: Duration = Duration::minutes(10);

/// 2026-11-24T00:00:00Z, the time every test starts at.
pub fn t0() -> Timestamp {
    from_millis(1_795_478_400_000).expect("in range")
}

/// `t0` plus `seconds`.
pub fn at(seconds: i64) -> Timestamp {
    t0() + Duration::seconds(seconds)
}

/// The UTC date of `t0`.
pub fn today() -> NaiveDate {
    t0().date_naive()
}

/// `today` plus `days`, as the `YYYY-MM-DD` text a submission carries.
pub fn date_in(days: i64) -> String {
    (today() + Duration::days(days)).to_string()
}

/// The baseline policy: a reversible, live reply policy with U = 0.9 and L = 0.2 and every other
/// setting at its documented default.
pub fn base_policy() -> Value {
    json!({
        "name": "reply.draft",
        "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.2}
    })
}

/// The baseline policy with `overrides` applied as a JSON Merge Patch (RFC 7396).
pub fn policy_spec(overrides: Value) -> PolicySpec {
    let mut v = base_policy();
    json_patch::merge(&mut v, &overrides);
    serde_json::from_value(v).expect("policy spec parses")
}

/// The baseline policy with `overrides`, validated.
pub fn policy(overrides: Value) -> Policy {
    policy_spec(overrides)
        .validate()
        .unwrap_or_else(|problems| panic!("test policy is invalid: {problems:?}"))
}

/// The baseline submission: a standard customer, no signals, no citations, reply `Hello`.
pub fn base_submission(confidence: f64) -> Value {
    json!({
        "policy": "reply.draft",
        "input": {"text": "Where is my invoice?", "channel": "email"},
        "customer": {"id": "acme", "tier": "standard"},
        "proposal": {"kind": "reply", "payload": {"text": "Hello"}, "confidence": confidence},
        "signals": []
    })
}

/// The baseline submission at `confidence`, with `overrides` applied as a JSON Merge Patch.
pub fn submission(confidence: f64, overrides: Value) -> Submission {
    let mut v = base_submission(confidence);
    json_patch::merge(&mut v, &overrides);
    serde_json::from_value(v).expect("submission parses")
}

/// A context at `now` with no calibrator, no kill switch and no novelty finding.
pub fn ctx(now: Timestamp) -> VerdictContext<'static> {
    VerdictContext {
        now,
        calibrator: &Uncalibrated,
        kill_switch: None,
        novelty: None,
        thresholds: None,
    }
}

/// A novelty finding as the novelty check would report it.
pub fn novel() -> NoveltyFinding {
    NoveltyFinding {
        p_value: 0.001,
        level: 0.01,
    }
}

/// The verdict at `t0` with the plain context.
pub fn route(policy: &Policy, submission: &Submission) -> Route {
    decide(policy, submission, &ctx(t0()))
}

/// A person.
pub fn actor(name: &str) -> Actor {
    Actor {
        id: PrincipalId::new(),
        name: name.to_owned(),
    }
}

/// A reviewer holding `roles`.
pub fn reviewer(name: &str, roles: &[Role]) -> Reviewer {
    Reviewer {
        actor: actor(name),
        roles: roles.to_vec(),
    }
}

/// An item created at `t0` from `submission` under `policy`.
pub fn item_from(policy: &Policy, submission: Submission) -> Item {
    let route = route(policy, &submission);
    Item::new(
        ItemId::new(),
        WorkspaceId::default_workspace(),
        policy,
        1,
        submission,
        route,
        actor("agent"),
        t0(),
    )
}

/// A queued item under `policy`: the baseline submission at confidence 0.5 (between the
/// baseline thresholds).
pub fn queued_item(policy: &Policy) -> Item {
    let item = item_from(policy, submission(0.5, json!({})));
    assert_eq!(item.status, Status::Queued, "test item must start queued");
    item
}

/// A decision request with nothing but the lease and the decision.
pub fn request(lease_id: LeaseId, decision: Decision) -> DecisionRequest {
    DecisionRequest {
        lease_id,
        decision,
        codes: Vec::new(),
        rubric: None,
        edited_payload: None,
        rationale: None,
    }
}

/// An `edit` request carrying `payload`.
pub fn edit(lease_id: LeaseId, payload: Value) -> DecisionRequest {
    DecisionRequest {
        edited_payload: Some(payload),
        ..request(lease_id, Decision::Edit)
    }
}
