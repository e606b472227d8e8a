//! The verdict pipeline, example by example: the band from the thresholds, every override that
//! sends a confident item to a person, routing, SLA deadlines, the reasons and calibration.

mod common;

use chrono::Duration;
use common::{at, ctx, date_in, novel, policy, route, submission, t0};
use loopgate_core::verdict::{Band, ReasonCode, Step, decide};
use loopgate_core::{Calibrator, Lane, Probability, Role, Route, Status, VerdictContext};
use serde_json::{Value, json};

/// The (step, code) pairs of a route's reasons, in order.
fn steps(route: &Route) -> Vec<(Step, ReasonCode)> {
    route
        .verdict
        .reasons
        .iter()
        .map(|r| (r.step, r.code))
        .collect()
}

fn reason(route: &Route, code: ReasonCode) -> Option<&str> {
    route
        .verdict
        .reasons
        .iter()
        .find(|r| r.code == code)
        .map(|r| r.message.as_str())
}

/// A queued route carries a lane, a role and deadlines; an automatic one carries none.
fn assert_route_shape(route: &Route, what: &str) {
    let queued = route.status == Status::Queued;
    assert_eq!(route.lane.is_some(), queued, "{what}: lane");
    assert_eq!(route.required_role.is_some(), queued, "{what}: role");
    assert_eq!(route.sla.is_some(), queued, "{what}: sla");
}

#[test]
fn the_band_follows_the_thresholds_exactly_at_the_boundaries() {
    use ReasonCode::*;
    use Status::*;
    // (approve_at U, reject_below L, calibrated confidence, status, band, reason code)
    let cases = [
        (
            0.9,
            0.2,
            1.0,
            AutoApproved,
            Band::Approve,
            AboveApproveThreshold,
        ),
        (
            0.9,
            0.2,
            0.9,
            AutoApproved,
            Band::Approve,
            AboveApproveThreshold,
        ),
        (0.9, 0.2, 0.8999, Queued, Band::Review, BetweenThresholds),
        (0.9, 0.2, 0.5, Queued, Band::Review, BetweenThresholds),
        (0.9, 0.2, 0.2, Queued, Band::Review, BetweenThresholds),
        (
            0.9,
            0.2,
            0.1999,
            AutoRejected,
            Band::Reject,
            BelowRejectThreshold,
        ),
        (
            0.9,
            0.2,
            0.0,
            AutoRejected,
            Band::Reject,
            BelowRejectThreshold,
        ),
        // U = L: nothing is queued on confidence alone.
        (
            0.7,
            0.7,
            0.7,
            AutoApproved,
            Band::Approve,
            AboveApproveThreshold,
        ),
        (
            0.7,
            0.7,
            0.6999,
            AutoRejected,
            Band::Reject,
            BelowRejectThreshold,
        ),
        // U = 1, L = 0: only certainty passes, nothing is rejected.
        (
            1.0,
            0.0,
            1.0,
            AutoApproved,
            Band::Approve,
            AboveApproveThreshold,
        ),
        (1.0, 0.0, 0.9999, Queued, Band::Review, BetweenThresholds),
        (1.0, 0.0, 0.0, Queued, Band::Review, BetweenThresholds),
        // U = 0: everything passes.
        (
            0.0,
            0.0,
            0.0,
            AutoApproved,
            Band::Approve,
            AboveApproveThreshold,
        ),
    ];
    for (u, l, c, status, band, code) in cases {
        let what = format!("U={u} L={l} c={c}");
        let p = policy(json!({"thresholds": {"approve_at": u, "reject_below": l}}));
        let r = route(&p, &submission(c, json!({})));
        assert_eq!(r.status, status, "{what}");
        assert_eq!(r.verdict.band, band, "{what}");
        assert!(!r.verdict.forced_review, "{what}");
        assert_eq!(steps(&r)[0], (Step::Band, code), "{what}");
        assert_route_shape(&r, &what);
        assert_eq!(r.verdict.confidence.raw.get(), c, "{what}");
        assert_eq!(r.verdict.confidence.calibrated.get(), c, "{what}");
    }
}

/// One override case: what to change, and the reason it must produce.
struct Override {
    name: &'static str,
    policy: Value,
    submission: Value,
    kill_switch: Option<&'static str>,
    novel: bool,
    step: Step,
    code: ReasonCode,
    message: &'static str,
}

impl Override {
    fn new(name: &'static str, step: Step, code: ReasonCode, message: &'static str) -> Self {
        Self {
            name,
            policy: json!({}),
            submission: json!({}),
            kill_switch: None,
            novel: false,
            step,
            code,
            message,
        }
    }
    fn policy(mut self, v: Value) -> Self {
        self.policy = v;
        self
    }
    fn submission(mut self, v: Value) -> Self {
        self.submission = v;
        self
    }
    fn run(&self) -> Route {
        let p = policy(self.policy.clone());
        let s = submission(1.0, self.submission.clone());
        let mut c = ctx(t0());
        c.kill_switch = self.kill_switch;
        c.novelty = self.novel.then(novel);
        decide(&p, &s, &c)
    }
}

#[test]
fn each_override_forces_review_even_at_full_confidence() {
    use ReasonCode::*;
    let cases = vec![
        Override::new("irreversible risk", Step::Override, IrreversibleAction, "irreversible")
            .policy(json!({"risk": "irreversible"})),
        Override::new("required field missing", Step::Validators, ValidatorFailed, "required_fields: payload is missing /label")
            .policy(json!({"validators": {"required_fields": ["label"]}})),
        Override::new("too few citations", Step::Validators, ValidatorFailed, "min_citations: 0 citation(s), at least 1 required")
            .policy(json!({"validators": {"min_citations": 1}})),
        Override::new("blocked term", Step::Validators, ValidatorFailed, "blocked_terms: payload contains blocked term(s): guaranteed")
            .policy(json!({"validators": {"blocked_terms": ["guaranteed"]}}))
            .submission(json!({"proposal": {"payload": {"text": "A Guaranteed refund."}}})),
        Override::new("amount above limit", Step::Validators, ValidatorFailed, "max_amount: /amount = 150 exceeds the limit 100")
            .policy(json!({"validators": {"max_amount": {"limit": 100}}}))
            .submission(json!({"proposal": {"payload": {"amount": 150}}})),
        Override::new("amount missing", Step::Validators, ValidatorFailed, "max_amount: payload has no amount at /amount")
            .policy(json!({"validators": {"max_amount": {"limit": 100}}})),
        Override::new("listed risk signal", Step::Override, RiskSignal, "risk signal legal")
            .submission(json!({"signals": ["legal"]})),
        Override::new("signal listed by the policy", Step::Override, RiskSignal, "risk signal vip_escalation")
            .policy(json!({"review_signals": ["vip_escalation"]}))
            .submission(json!({"signals": ["billing", "vip_escalation"]})),
        Override::new("review tier, any case", Step::Override, CustomerTier, "customer tier Strategic")
            .policy(json!({"customer_rules": {"review_tiers": ["strategic"]}}))
            .submission(json!({"customer": {"tier": "Strategic"}})),
        Override::new("deal value above limit", Step::Override, DealValueAboveLimit, "deal value 50001 above the limit 50000")
            .policy(json!({"customer_rules": {"max_deal_value": 50000}}))
            .submission(json!({"customer": {"deal_value": 50001}})),
        Override::new("renewal today", Step::Override, RenewalSoon, "within 30 days")
            .policy(json!({"customer_rules": {"renewal_within_days": 30}}))
            .submission(json!({"customer": {"renewal_date": date_in(0)}})),
        Override::new("renewal on the last day of the window", Step::Override, RenewalSoon, "within 30 days")
            .policy(json!({"customer_rules": {"renewal_within_days": 30}}))
            .submission(json!({"customer": {"renewal_date": date_in(30)}})),
        Override {
            kill_switch: Some("escape rate above target"),
            ..Override::new("kill switch", Step::Override, KillSwitch, "kill switch tripped: escape rate above target")
        },
        Override {
            novel: true,
            ..Override::new("novel input", Step::Novelty, NovelInput, "unlike earlier ones")
        },
        Override::new("shadow mode", Step::Override, ShadowMode, "shadow mode")
            .policy(json!({"mode": "shadow"})),
        Override::new("routing rule with force_review", Step::Override, RoutingRule, "rule \"lawyer\" forces review")
            .policy(json!({"routing": {"rules": [
                {"name": "lawyer", "when": {"text_contains": ["lawyer"]}, "then": {"force_review": true}}
            ]}}))
            .submission(json!({"input": {"text": "My lawyer will call you."}})),
    ];
    for case in cases {
        let r = case.run();
        let what = case.name;
        assert_eq!(r.status, Status::Queued, "{what}");
        assert!(r.verdict.forced_review, "{what}");
        assert_eq!(
            r.verdict.band,
            Band::Approve,
            "{what}: the band is before overrides"
        );
        assert_route_shape(&r, what);
        let found = r
            .verdict
            .reasons
            .iter()
            .find(|x| x.step == case.step && x.code == case.code)
            .unwrap_or_else(|| panic!("{what}: no {:?} reason in {:?}", case.code, steps(&r)));
        assert!(
            found.message.contains(case.message),
            "{what}: {:?} does not mention {:?}",
            found.message,
            case.message
        );
    }
}

#[test]
fn near_misses_of_each_override_leave_a_confident_item_automatic() {
    let cases = [
        (
            "signal the policy does not list",
            json!({}),
            json!({"signals": ["billing"]}),
        ),
        (
            "signal listed by default but not by this policy",
            json!({"review_signals": ["safety"]}),
            json!({"signals": ["legal"]}),
        ),
        (
            "tier not listed",
            json!({"customer_rules": {"review_tiers": ["strategic"]}}),
            json!({"customer": {"tier": "enterprise"}}),
        ),
        (
            "deal value exactly at the limit",
            json!({"customer_rules": {"max_deal_value": 50000}}),
            json!({"customer": {"deal_value": 50000}}),
        ),
        (
            "renewal one day past the window",
            json!({"customer_rules": {"renewal_within_days": 30}}),
            json!({"customer": {"renewal_date": date_in(31)}}),
        ),
        (
            "renewal in the past",
            json!({"customer_rules": {"renewal_within_days": 30}}),
            json!({"customer": {"renewal_date": date_in(-1)}}),
        ),
        (
            "every validator passes",
            json!({"validators": {
                "required_fields": ["text"], "min_citations": 1,
                "blocked_terms": ["guaranteed"], "max_amount": {"limit": 100}
            }}),
            json!({"proposal": {
                "payload": {"text": "Refund on its way", "amount": 100},
                "citations": [{"source": "kb://refunds#3"}]
            }}),
        ),
        (
            "routing rule that does not match",
            json!({"routing": {"rules": [
                {"name": "lawyer", "when": {"text_contains": ["lawyer"]}, "then": {"force_review": true}}
            ]}}),
            json!({}),
        ),
        (
            "matching rule that only sets a lane and role",
            json!({"routing": {"rules": [
                {"name": "email", "when": {"channel_in": ["email"]}, "then": {"lane": "P0", "role": "sme"}}
            ]}}),
            json!({}),
        ),
    ];
    for (what, p, s) in cases {
        let r = route(&policy(p), &submission(1.0, s));
        assert_eq!(r.status, Status::AutoApproved, "{what}: {:?}", steps(&r));
        assert!(!r.verdict.forced_review, "{what}");
        assert_route_shape(&r, what);
        assert!(r.verdict.validators.iter().all(|v| v.passed), "{what}");
    }
}

#[test]
fn an_override_also_rescues_an_item_below_the_reject_threshold() {
    let p = policy(json!({"mode": "shadow"}));
    let r = route(&p, &submission(0.05, json!({})));
    assert_eq!(r.verdict.band, Band::Reject);
    assert_eq!(r.status, Status::Queued);
    assert!(r.verdict.forced_review);
}

#[test]
fn matching_rules_choose_the_most_urgent_lane_and_the_highest_role() {
    let p = policy(json!({"routing": {"rules": [
        {"name": "billing", "when": {"signal": "billing"}, "then": {"lane": "P1", "role": "quality"}},
        {"name": "enterprise", "when": {"tier_in": ["enterprise"]}, "then": {"lane": "P0"}},
        {"name": "chat", "when": {"channel_in": ["chat"]}, "then": {"role": "sme"}},
        {"name": "big", "when": {"deal_value_above": 10}, "then": {"role": "triage", "lane": "P2"}}
    ]}}));
    let s = submission(
        0.5,
        json!({"signals": ["billing"], "customer": {"tier": "enterprise", "deal_value": 100}}),
    );
    let r = route(&p, &s);
    assert_eq!(r.status, Status::Queued);
    assert_eq!(r.lane, Some(Lane::P0));
    assert_eq!(r.required_role, Some(Role::Quality));
    let routing: Vec<&str> = r
        .verdict
        .reasons
        .iter()
        .filter(|x| x.step == Step::Routing)
        .map(|x| x.message.as_str())
        .collect();
    assert_eq!(
        routing,
        [
            "rule \"billing\" matched: lane P1, role quality",
            "rule \"enterprise\" matched: lane P0",
            "rule \"big\" matched: lane P2, role triage",
        ]
    );
    assert!(reason(&r, ReasonCode::DefaultRoute).is_none());
}

#[test]
fn without_a_matching_rule_the_policy_defaults_apply() {
    let p = policy(json!({"routing": {
        "default_lane": "P1", "default_role": "quality",
        "rules": [{"name": "chat", "when": {"channel_in": ["chat"]}, "then": {"lane": "P0"}}]
    }}));
    let r = route(&p, &submission(0.5, json!({})));
    assert_eq!(
        (r.lane, r.required_role),
        (Some(Lane::P1), Some(Role::Quality))
    );
    assert_eq!(
        reason(&r, ReasonCode::DefaultRoute),
        Some("default lane P1, role quality")
    );

    let plain = route(&policy(json!({})), &submission(0.5, json!({})));
    assert_eq!(
        (plain.lane, plain.required_role),
        (Some(Lane::P2), Some(Role::Triage))
    );
}

#[test]
fn a_matching_rule_may_move_an_item_to_a_less_urgent_lane_than_the_default() {
    let p = policy(json!({"routing": {
        "default_lane": "P1",
        "rules": [{"name": "slow", "when": {"channel_in": ["email"]}, "then": {"lane": "P2"}}]
    }}));
    let r = route(
        &p,
        &submission(0.5, json!({"input": {"text": "hi", "channel": "email"}})),
    );
    assert_eq!(r.lane, Some(Lane::P2));
    assert_eq!(
        reason(&r, ReasonCode::RoutingRule),
        Some("rule \"slow\" matched: lane P2")
    );
    assert!(reason(&r, ReasonCode::DefaultRoute).is_none());
}

const SLA: &str = r#"{
    "P0": {"first_review": 300, "resolve": 1800},
    "P1": {"first_review": 1200, "resolve": 7200},
    "P2": {"first_review": 3600, "resolve": 86400},
    "tightening": {"factor": 0.25, "renewal_within_days": 14, "tiers": ["strategic"]}
}"#;

fn sla_policy() -> loopgate_core::Policy {
    let sla: Value = serde_json::from_str(SLA).unwrap();
    policy(json!({"sla": sla, "routing": {"rules": [
        {"name": "urgent", "when": {"signal": "urgent"}, "then": {"lane": "P0"}},
        {"name": "normal", "when": {"signal": "normal"}, "then": {"lane": "P1"}}
    ]}}))
}

#[test]
fn sla_deadlines_are_now_plus_the_lane_targets() {
    let p = sla_policy();
    let now = at(12_345);
    for (signals, lane, first, resolve) in [
        (json!(["urgent"]), Lane::P0, 300, 1800),
        (json!(["normal"]), Lane::P1, 1200, 7200),
        (json!([]), Lane::P2, 3600, 86400),
    ] {
        let r = decide(&p, &submission(0.5, json!({"signals": signals})), &ctx(now));
        assert_eq!(r.lane, Some(lane));
        let sla = r.sla.as_ref().unwrap();
        assert_eq!(
            sla.first_review_due,
            now + Duration::seconds(first),
            "{lane}"
        );
        assert_eq!(sla.resolve_due, now + Duration::seconds(resolve), "{lane}");
        assert_eq!(sla.tightened_by, None, "{lane}");
        assert!(reason(&r, ReasonCode::SlaTightened).is_none(), "{lane}");
    }
}

#[test]
fn sla_deadlines_tighten_for_a_listed_tier_and_a_near_renewal() {
    let p = sla_policy();
    let now = t0();
    // (customer, tightened?, what the reason names)
    let cases = [
        (json!({"tier": "Strategic"}), true, "tier Strategic"),
        (
            json!({"renewal_date": date_in(14)}),
            true,
            "renewal within 14 days",
        ),
        (
            json!({"renewal_date": date_in(0)}),
            true,
            "renewal within 14 days",
        ),
        (
            json!({"tier": "strategic", "renewal_date": date_in(3)}),
            true,
            "tier strategic and renewal within 14 days",
        ),
        (json!({"renewal_date": date_in(15)}), false, ""),
        (json!({"renewal_date": date_in(-2)}), false, ""),
        (json!({"tier": "enterprise"}), false, ""),
    ];
    for (customer, tightened, because) in cases {
        let what = customer.to_string();
        let s = submission(0.5, json!({"signals": ["urgent"], "customer": customer}));
        let r = decide(&p, &s, &ctx(now));
        let sla = r.sla.as_ref().unwrap();
        let (first, resolve) = if tightened { (75, 450) } else { (300, 1800) };
        assert_eq!(
            sla.first_review_due,
            now + Duration::seconds(first),
            "{what}"
        );
        assert_eq!(sla.resolve_due, now + Duration::seconds(resolve), "{what}");
        assert_eq!(sla.tightened_by, tightened.then_some(0.25), "{what}");
        if tightened {
            assert_eq!(sla.tightened_because.as_deref(), Some(because), "{what}");
            let msg = reason(&r, ReasonCode::SlaTightened).expect("sla reason");
            assert!(msg.contains(because) && msg.contains("x0.25"), "{msg}");
        } else {
            assert!(reason(&r, ReasonCode::SlaTightened).is_none(), "{what}");
        }
    }
}

/// Squares the raw confidence: a model that is overconfident.
#[derive(Debug)]
struct Square;

impl Calibrator for Square {
    fn name(&self) -> &str {
        "square"
    }
    fn calibrate(&self, raw: Probability) -> Probability {
        Probability::clamped(raw.get() * raw.get())
    }
}

/// Square root of the raw confidence: a model that is underconfident.
#[derive(Debug)]
struct Root;

impl Calibrator for Root {
    fn name(&self) -> &str {
        "root"
    }
    fn calibrate(&self, raw: Probability) -> Probability {
        Probability::clamped(raw.get().sqrt())
    }
}

#[test]
fn the_band_is_taken_on_the_calibrated_confidence() {
    let p = policy(json!({"thresholds": {"approve_at": 0.75, "reject_below": 0.2}}));
    // (raw, calibrator, status without calibration, status with it)
    let cases: [(f64, &dyn Calibrator, Status, Status); 3] = [
        (0.8, &Square, Status::AutoApproved, Status::Queued),
        (0.64, &Root, Status::Queued, Status::AutoApproved),
        (0.3, &Square, Status::Queued, Status::AutoRejected),
    ];
    for (raw, calibrator, plain, calibrated) in cases {
        let s = submission(raw, json!({}));
        assert_eq!(route(&p, &s).status, plain, "raw {raw} uncalibrated");
        let c = VerdictContext {
            calibrator,
            ..ctx(t0())
        };
        let r = decide(&p, &s, &c);
        assert_eq!(
            r.status,
            calibrated,
            "raw {raw} through {}",
            calibrator.name()
        );
        let scores = &r.verdict.confidence;
        assert_eq!(scores.raw.get(), raw);
        assert_eq!(scores.calibrated, calibrator.calibrate(scores.raw));
        assert_eq!(scores.calibrator, calibrator.name());
        let msg = reason(&r, ReasonCode::Calibrated).expect("calibration reason");
        assert!(msg.contains(calibrator.name()), "{msg}");
    }

    let r = route(&p, &submission(0.5, json!({})));
    assert_eq!(r.verdict.confidence.calibrator, "none");
    assert!(reason(&r, ReasonCode::Calibrated).is_none());
}

#[test]
fn reasons_name_every_step_in_pipeline_order_with_stable_codes() {
    let p = policy(json!({
        "risk": "irreversible",
        "validators": {"min_citations": 1},
        "routing": {"rules": [
            {"name": "vip", "when": {"tier_in": ["strategic"]}, "then": {"lane": "P0", "role": "sme"}}
        ]}
    }));
    let s = submission(0.9, json!({"customer": {"tier": "strategic"}}));
    let c = VerdictContext {
        calibrator: &Square,
        kill_switch: Some("manual"),
        novelty: Some(novel()),
        ..ctx(t0())
    };
    let r = decide(&p, &s, &c);
    assert_eq!(r.status, Status::Queued);
    assert_eq!((r.lane, r.required_role), (Some(Lane::P0), Some(Role::Sme)));
    let wire: Vec<(String, String)> = serde_json::to_value(&r.verdict.reasons)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["step"].as_str().unwrap().to_owned(),
                x["code"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("validators", "validator_failed"),
        ("novelty", "novel_input"),
        ("calibration", "calibrated"),
        ("band", "between_thresholds"),
        ("override", "irreversible_action"),
        ("override", "kill_switch"),
        ("routing", "routing_rule"),
        ("sla", "sla_tightened"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(wire, expected);
}

#[test]
fn every_forcing_override_is_listed_when_several_apply() {
    let p = policy(json!({
        "mode": "shadow",
        "customer_rules": {"review_tiers": ["strategic"], "max_deal_value": 10, "renewal_within_days": 7},
    }));
    let s = submission(
        1.0,
        json!({
            "signals": ["safety", "churn_risk"],
            "customer": {"tier": "strategic", "deal_value": 11, "renewal_date": date_in(7)}
        }),
    );
    let r = route(&p, &s);
    use ReasonCode::*;
    let overrides: Vec<ReasonCode> = steps(&r)
        .into_iter()
        .filter(|(step, _)| *step == Step::Override)
        .map(|(_, code)| code)
        .collect();
    assert_eq!(
        overrides,
        [
            RiskSignal,
            RiskSignal,
            CustomerTier,
            DealValueAboveLimit,
            RenewalSoon,
            ShadowMode
        ]
    );
}
