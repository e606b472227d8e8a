//! Properties of the threshold arithmetic: for any thresholds `0 <= L <= U <= 1` and any
//! confidence, the band is exactly what the policy promises, raising confidence never makes the
//! route worse, and any forcing override sends the item to a person with a lane, role and SLA.

mod common;

use common::{ctx, date_in, novel, policy_spec, submission, t0};
use loopgate_core::verdict::{ReasonCode, decide};
use loopgate_core::{Policy, Probability, Route, Status, Submission, Thresholds};
use proptest::prelude::*;
use serde_json::{Value, json};

/// `(L, U)` with `0 <= L <= U <= 1`, with the edges (0, 1, L = U) well represented.
fn thresholds() -> impl Strategy<Value = (f64, f64)> {
    let p = || {
        prop_oneof![
            1 => Just(0.0),
            1 => Just(1.0),
            6 => 0.0..=1.0f64,
        ]
    };
    prop_oneof![
        6 => (p(), p()).prop_map(|(a, b)| if a <= b { (a, b) } else { (b, a) }),
        1 => p().prop_map(|a| (a, a)),
    ]
}

/// A confidence that often sits exactly on a threshold.
fn confidence(l: f64, u: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        2 => Just(l),
        2 => Just(u),
        1 => Just(0.0),
        1 => Just(1.0),
        6 => 0.0..=1.0f64,
    ]
}

fn policy_with(l: f64, u: f64, overrides: Value) -> Policy {
    let mut spec = policy_spec(overrides);
    spec.thresholds = Thresholds {
        approve_at: Probability::new(u),
        reject_below: Probability::new(l),
        target_escape: None,
        confidence: None,
    };
    spec.validate().expect("valid policy")
}

fn plain_route(l: f64, u: f64, c: f64) -> Route {
    decide(
        &policy_with(l, u, json!({})),
        &submission(c, json!({})),
        &ctx(t0()),
    )
}

/// Worse to better: rejected, a person, approved.
fn rank(status: Status) -> u8 {
    match status {
        Status::AutoRejected => 0,
        Status::Queued => 1,
        Status::AutoApproved => 2,
        other => panic!("the pipeline never routes to {other}"),
    }
}

/// Every way of forcing review, applied to a policy, a submission and the context.
#[derive(Debug, Clone, Copy)]
enum Force {
    Irreversible,
    RequiredField,
    MinCitations,
    BlockedTerm,
    MaxAmount,
    Signal,
    Tier,
    DealValue,
    Renewal,
    KillSwitch,
    Novelty,
    Shadow,
    Rule,
}

impl Force {
    const ALL: [Force; 13] = [
        Force::Irreversible,
        Force::RequiredField,
        Force::MinCitations,
        Force::BlockedTerm,
        Force::MaxAmount,
        Force::Signal,
        Force::Tier,
        Force::DealValue,
        Force::Renewal,
        Force::KillSwitch,
        Force::Novelty,
        Force::Shadow,
        Force::Rule,
    ];

    fn policy(self) -> Value {
        match self {
            Force::Irreversible => json!({"risk": "irreversible"}),
            Force::RequiredField => json!({"validators": {"required_fields": ["label"]}}),
            Force::MinCitations => json!({"validators": {"min_citations": 2}}),
            Force::BlockedTerm => json!({"validators": {"blocked_terms": ["hello"]}}),
            Force::MaxAmount => json!({"validators": {"max_amount": {"limit": 10}}}),
            Force::Tier => json!({"customer_rules": {"review_tiers": ["standard"]}}),
            Force::DealValue => json!({"customer_rules": {"max_deal_value": 1000}}),
            Force::Renewal => json!({"customer_rules": {"renewal_within_days": 10}}),
            Force::Shadow => json!({"mode": "shadow"}),
            Force::Rule => json!({"routing": {"rules": [
                {"name": "email", "when": {"channel_in": ["email"]}, "then": {"force_review": true}}
            ]}}),
            Force::Signal | Force::KillSwitch | Force::Novelty => json!({}),
        }
    }

    fn submission(self, c: f64) -> Submission {
        let overrides = match self {
            Force::Signal => json!({"signals": ["safety"]}),
            Force::DealValue => json!({"customer": {"deal_value": 1000.5}}),
            Force::Renewal => json!({"customer": {"renewal_date": date_in(10)}}),
            Force::MaxAmount => json!({"proposal": {"payload": {"amount": "10.01"}}}),
            _ => json!({}),
        };
        submission(c, overrides)
    }

    fn code(self) -> ReasonCode {
        match self {
            Force::Irreversible => ReasonCode::IrreversibleAction,
            Force::RequiredField | Force::MinCitations | Force::BlockedTerm | Force::MaxAmount => {
                ReasonCode::ValidatorFailed
            }
            Force::Signal => ReasonCode::RiskSignal,
            Force::Tier => ReasonCode::CustomerTier,
            Force::DealValue => ReasonCode::DealValueAboveLimit,
            Force::Renewal => ReasonCode::RenewalSoon,
            Force::KillSwitch => ReasonCode::KillSwitch,
            Force::Novelty => ReasonCode::NovelInput,
            Force::Shadow => ReasonCode::ShadowMode,
            Force::Rule => ReasonCode::RoutingRule,
        }
    }
}

proptest! {
    #[test]
    fn without_overrides_the_band_is_exactly_the_threshold_comparison(
        (l, u, c) in thresholds().prop_flat_map(|(l, u)| (Just(l), Just(u), confidence(l, u)))
    ) {
        let r = plain_route(l, u, c);
        let expected = if c >= u {
            Status::AutoApproved
        } else if c < l {
            Status::AutoRejected
        } else {
            Status::Queued
        };
        prop_assert_eq!(r.status, expected, "L={} U={} c={}", l, u, c);
        prop_assert!(!r.verdict.forced_review);
        let queued = r.status == Status::Queued;
        prop_assert_eq!(r.lane.is_some(), queued);
        prop_assert_eq!(r.required_role.is_some(), queued);
        prop_assert_eq!(r.sla.is_some(), queued);
    }

    #[test]
    fn raising_confidence_never_makes_the_route_worse(
        (l, u, a, b) in thresholds().prop_flat_map(|(l, u)| (Just(l), Just(u), confidence(l, u), confidence(l, u)))
    ) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let before = plain_route(l, u, low).status;
        let after = plain_route(l, u, high).status;
        prop_assert!(
            rank(before) <= rank(after),
            "L={} U={}: c={} gives {} but c={} gives {}", l, u, low, before, high, after
        );
    }

    #[test]
    fn a_forcing_override_always_queues_with_lane_role_and_sla(
        (l, u, c) in thresholds().prop_flat_map(|(l, u)| (Just(l), Just(u), confidence(l, u))),
        force in prop::sample::select(Force::ALL.to_vec()),
    ) {
        let p = policy_with(l, u, force.policy());
        let mut context = ctx(t0());
        if matches!(force, Force::KillSwitch) {
            context.kill_switch = Some("tripped by CUSUM");
        }
        if matches!(force, Force::Novelty) {
            context.novelty = Some(novel());
        }
        let r = decide(&p, &force.submission(c), &context);
        prop_assert_eq!(r.status, Status::Queued, "{:?} at L={} U={} c={}", force, l, u, c);
        prop_assert!(r.verdict.forced_review);
        prop_assert!(r.lane.is_some() && r.required_role.is_some());
        let sla = r.sla.as_ref().expect("queued items have deadlines");
        prop_assert!(t0() < sla.first_review_due && sla.first_review_due <= sla.resolve_due);
        prop_assert!(
            r.verdict.reasons.iter().any(|x| x.code == force.code()),
            "{:?}: no {:?} reason", force, force.code()
        );
    }
}
