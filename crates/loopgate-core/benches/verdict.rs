//! Cost of one verdict: `loopgate_core::verdict::decide` on a realistic policy (validators,
//! customer rules, routing rules) for a submission that is auto-approved, one that goes to a
//! person through a routing rule, and an irreversible refund that must be reviewed. Criterion
//! reports verdicts per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loopgate_core::clock::from_millis;
use loopgate_core::verdict::{EffectiveThresholds, decide};
use loopgate_core::{Policy, PolicySpec, Submission, Uncalibrated, VerdictContext};
use serde_json::{Value, json};

fn policy(spec: Value) -> Policy {
    serde_json::from_value::<PolicySpec>(spec)
        .expect("bench policy parses")
        .validate()
        .expect("bench policy is valid")
}

fn submission(value: Value) -> Submission {
    serde_json::from_value(value).expect("bench submission parses")
}

fn reply_policy() -> Policy {
    policy(json!({
        "name": "reply.draft", "kind": "reply",
        "thresholds": {"approve_at": 0.9, "reject_below": 0.3},
        "validators": {"required_fields": ["text"], "blocked_terms": ["guaranteed", "lawsuit", "free of charge"]},
        "customer_rules": {"review_tiers": ["strategic"], "max_deal_value": 250000, "renewal_within_days": 30},
        "routing": {"rules": [
            {"name": "legal to SME", "when": {"signal": "legal"}, "then": {"lane": "P0", "role": "sme"}},
            {"name": "enterprise billing", "when": {"all": [{"tier_in": ["enterprise"]}, {"signal": "billing"}]},
             "then": {"lane": "P1", "role": "quality", "force_review": true}}
        ]}
    }))
}

fn reply(confidence: f64, tier: &str, signals: &[&str]) -> Submission {
    submission(json!({
        "policy": "reply.draft",
        "input": {"text": "Our invoice for October charges 12 seats, we only have 10.", "channel": "email"},
        "customer": {"id": "acme-gmbh", "tier": tier, "health_score": 0.62,
                     "deal_value": 48000, "renewal_date": "2027-03-01"},
        "proposal": {"kind": "reply", "confidence": confidence, "model": "gpt-support",
                     "payload": {"text": "Sorry about that! We have corrected your invoice to 10 seats."},
                     "rationale": "Seat count mismatch; billing shows 10 active seats."},
        "signals": signals
    }))
}

fn bench(c: &mut Criterion) {
    let now = from_millis(1_795_478_400_000).expect("in range");
    let reply_policy = reply_policy();
    let refund_policy = policy(json!({
        "name": "action.refund", "kind": "action", "risk": "irreversible",
        "thresholds": {"approve_at": 0.95, "reject_below": 0.2},
        "validators": {"max_amount": {"field": "amount", "limit": 500}}
    }));
    let refund = submission(json!({
        "policy": "action.refund",
        "input": {"text": "Please refund the duplicate charge of 120 EUR."},
        "customer": {"id": "acme-gmbh", "tier": "standard"},
        "proposal": {"kind": "action", "confidence": 0.97, "payload": {"action": "refund", "amount": 120}}
    }));
    let cases = [
        ("auto_approve", &reply_policy, reply(0.95, "standard", &[])),
        (
            "routed_review",
            &reply_policy,
            reply(0.95, "enterprise", &["billing"]),
        ),
        ("irreversible_action", &refund_policy, refund),
    ];

    let mut group = c.benchmark_group("verdict");
    group.throughput(Throughput::Elements(1));
    for (name, policy, submission) in &cases {
        let ctx = VerdictContext {
            now,
            calibrator: &Uncalibrated,
            kill_switch: None,
            novelty: None,
            thresholds: Some(EffectiveThresholds::of(policy)),
        };
        group.bench_function(*name, |b| {
            b.iter(|| decide(black_box(policy), black_box(submission), black_box(&ctx)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
