//! The verdict pipeline: from a submission and its policy to a route — approve, reject, or a
//! person in a given lane and role with SLA deadlines — and the reasons for it. Pure: the caller
//! brings the time, the calibrator, the kill switch state and the novelty finding.
//!
//! The steps, in order: validators, novelty, calibration, band from thresholds, overrides that
//! force review, then lane, role and SLA deadlines for anything a person must see.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::item::Submission;
use crate::policy::Policy;
use crate::rules::{Facts, renewal_within};
use crate::sla::{SlaDeadlines, deadlines};
use crate::types::{Lane, Mode, Probability, Risk, Role, Status, string_enum};
use crate::validators::{self, ValidatorResult};

/// Maps a model's raw confidence to the probability of being right.
pub trait Calibrator: Send + Sync {
    /// A short name for the reasons, e.g. `platt` or `isotonic`.
    fn name(&self) -> &str;
    /// The calibrated probability.
    fn calibrate(&self, raw: Probability) -> Probability;
    /// True when `calibrate` returns its input unchanged; the verdict then lists no
    /// calibration reason.
    fn is_identity(&self) -> bool {
        false
    }
}

/// The calibrator of a policy that has none yet: the raw confidence as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct Uncalibrated;

impl Calibrator for Uncalibrated {
    fn name(&self) -> &str {
        "none"
    }
    fn calibrate(&self, raw: Probability) -> Probability {
        raw
    }
    fn is_identity(&self) -> bool {
        true
    }
}

/// A finding of the novelty check: the input is unlike what the policy has seen.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NoveltyFinding {
    /// Conformal p-value of the input's novelty score; small means unusual.
    pub p_value: f64,
    /// The level it was compared with.
    pub level: f64,
}

/// The thresholds in force for one verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EffectiveThresholds {
    /// Approve at or above this calibrated confidence; never when absent.
    pub approve_at: Option<Probability>,
    /// Reject below this calibrated confidence; never when absent.
    pub reject_below: Option<Probability>,
    /// Where they come from, for the reasons (e.g. `certified on 2,400 outcomes`).
    pub basis: String,
}

impl EffectiveThresholds {
    /// The thresholds a policy gives itself: its fixed ones, or none yet for a target policy.
    pub fn of(policy: &Policy) -> Self {
        match policy.thresholds.fixed() {
            Some((u, l)) => Self {
                approve_at: Some(u),
                reject_below: Some(l),
                basis: "fixed".to_owned(),
            },
            None => Self {
                approve_at: None,
                reject_below: None,
                basis: "target not yet certified: too few labelled outcomes".to_owned(),
            },
        }
    }
}

/// Everything outside the submission and policy that the pipeline depends on.
pub struct VerdictContext<'a> {
    /// The time of the verdict; SLA deadlines count from it.
    pub now: Timestamp,
    /// The policy's calibrator.
    pub calibrator: &'a dyn Calibrator,
    /// The reason, when the kill switch covering this item is tripped.
    pub kill_switch: Option<&'a str>,
    /// Set when the novelty check flagged the input.
    pub novelty: Option<NoveltyFinding>,
    /// Thresholds derived for a target policy; `None` uses [`EffectiveThresholds::of`].
    pub thresholds: Option<EffectiveThresholds>,
}

impl std::fmt::Debug for VerdictContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictContext")
            .field("now", &self.now)
            .field("calibrator", &self.calibrator.name())
            .field("kill_switch", &self.kill_switch)
            .field("novelty", &self.novelty)
            .finish()
    }
}

string_enum!(
    /// Which side of the thresholds the calibrated confidence fell on.
    Band {
        /// At or above `approve_at`.
        Approve => "approve",
        /// Between the thresholds.
        Review => "review",
        /// Below `reject_below`.
        Reject => "reject",
    }
);

string_enum!(
    /// The pipeline step a reason comes from.
    Step {
        /// Validators.
        Validators => "validators",
        /// Novelty check.
        Novelty => "novelty",
        /// Calibration.
        Calibration => "calibration",
        /// Band from thresholds.
        Band => "band",
        /// Overrides that force review.
        Override => "override",
        /// Routing rules, lane and role.
        Routing => "routing",
        /// SLA deadlines.
        Sla => "sla",
    }
);

string_enum!(
    /// Stable, machine-readable reason codes.
    ReasonCode {
        /// A validator failed.
        ValidatorFailed => "validator_failed",
        /// The input is novel.
        NovelInput => "novel_input",
        /// Raw confidence was mapped through a calibrator.
        Calibrated => "calibrated",
        /// Calibrated confidence at or above the approve threshold.
        AboveApproveThreshold => "above_approve_threshold",
        /// Calibrated confidence below the reject threshold.
        BelowRejectThreshold => "below_reject_threshold",
        /// Calibrated confidence between the thresholds.
        BetweenThresholds => "between_thresholds",
        /// The action cannot be undone.
        IrreversibleAction => "irreversible_action",
        /// The agent raised a risk signal the policy reviews.
        RiskSignal => "risk_signal",
        /// The customer's tier is always reviewed.
        CustomerTier => "customer_tier",
        /// The customer's deal value is above the policy's limit.
        DealValueAboveLimit => "deal_value_above_limit",
        /// The customer renews soon.
        RenewalSoon => "renewal_soon",
        /// The kill switch is tripped.
        KillSwitch => "kill_switch",
        /// The policy runs in shadow mode.
        ShadowMode => "shadow_mode",
        /// A routing rule matched.
        RoutingRule => "routing_rule",
        /// The lane and role no rule changed.
        DefaultRoute => "default_route",
        /// SLA deadlines were tightened.
        SlaTightened => "sla_tightened",
    }
);

/// One reason on an item's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Reason {
    /// The pipeline step.
    pub step: Step,
    /// Stable code.
    pub code: ReasonCode,
    /// For people: what was compared with what.
    pub message: String,
}

/// Raw and calibrated confidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfidenceScores {
    /// As the model reported it.
    pub raw: Probability,
    /// After the policy's calibrator; the thresholds apply to this.
    pub calibrated: Probability,
    /// The calibrator's name (`none` when uncalibrated).
    pub calibrator: String,
}

/// Why an item went where it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    /// Band from the thresholds, before overrides.
    pub band: Band,
    /// Raw and calibrated confidence.
    pub confidence: ConfidenceScores,
    /// Every validator's result.
    pub validators: Vec<ValidatorResult>,
    /// The reasons, in pipeline order.
    pub reasons: Vec<Reason>,
    /// Whether an override sent it to a person regardless of the band.
    pub forced_review: bool,
}

/// The pipeline's answer for one submission.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// `auto_approved`, `auto_rejected` or `queued`.
    pub status: Status,
    /// Lane, when queued.
    pub lane: Option<Lane>,
    /// Lowest role that may review it, when queued.
    pub required_role: Option<Role>,
    /// Deadlines, when queued.
    pub sla: Option<SlaDeadlines>,
    /// The reasons.
    pub verdict: Verdict,
}

/// Runs the verdict pipeline.
pub fn decide(policy: &Policy, submission: &Submission, ctx: &VerdictContext<'_>) -> Route {
    let mut reasons = Vec::new();
    let mut forcing = 0usize;
    let mut force = |reasons: &mut Vec<Reason>, step, code, message: String| {
        forcing += 1;
        reasons.push(Reason {
            step,
            code,
            message,
        });
    };

    // 1. Validators.
    let validator_results = validators::run(&policy.validators, &submission.proposal);
    for failed in validator_results.iter().filter(|r| !r.passed) {
        force(
            &mut reasons,
            Step::Validators,
            ReasonCode::ValidatorFailed,
            format!("{}: {}", failed.validator, failed.message),
        );
    }

    // 2. Novelty.
    if let Some(n) = ctx.novelty {
        force(
            &mut reasons,
            Step::Novelty,
            ReasonCode::NovelInput,
            format!(
                "input is unlike earlier ones (p = {:.4} <= {})",
                n.p_value, n.level
            ),
        );
    }

    // 3. Calibration.
    let raw = submission.proposal.confidence;
    let calibrated = ctx.calibrator.calibrate(raw);
    if !ctx.calibrator.is_identity() {
        reasons.push(Reason {
            step: Step::Calibration,
            code: ReasonCode::Calibrated,
            message: format!(
                "raw confidence {raw:.4} calibrated to {calibrated:.4} ({})",
                ctx.calibrator.name()
            ),
        });
    }

    // 4. Band.
    let t = ctx
        .thresholds
        .clone()
        .unwrap_or_else(|| EffectiveThresholds::of(policy));
    let show = |p: Option<Probability>| p.map_or("none".to_owned(), |p| format!("{p}"));
    // Fixed thresholds need no explanation; derived ones say where they come from.
    let basis = if t.basis == "fixed" {
        String::new()
    } else {
        format!(" ({})", t.basis)
    };
    let (band, code, message) = match (t.approve_at, t.reject_below) {
        (Some(u), _) if calibrated >= u => (
            Band::Approve,
            ReasonCode::AboveApproveThreshold,
            format!("confidence {calibrated:.4} >= approve_at {u}{basis}"),
        ),
        (_, Some(l)) if calibrated < l => (
            Band::Reject,
            ReasonCode::BelowRejectThreshold,
            format!("confidence {calibrated:.4} < reject_below {l}{basis}"),
        ),
        (u, l) => (
            Band::Review,
            ReasonCode::BetweenThresholds,
            format!(
                "confidence {calibrated:.4} between reject_below {} and approve_at {}{basis}",
                show(l),
                show(u)
            ),
        ),
    };
    reasons.push(Reason {
        step: Step::Band,
        code,
        message,
    });

    // 5. Overrides that force review.
    if policy.risk == Risk::Irreversible {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::IrreversibleAction,
            format!(
                "policy {} is irreversible: a person always decides",
                policy.name
            ),
        );
    }
    let raised: std::collections::BTreeSet<&String> = submission.signals.iter().collect();
    for signal in raised
        .into_iter()
        .filter(|s| policy.review_signals.contains(s))
    {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::RiskSignal,
            format!("risk signal {signal}"),
        );
    }
    let customer = &submission.customer;
    let rules = &policy.customer_rules;
    if let Some(tier) = customer.tier.as_ref().filter(|tier| {
        rules
            .review_tiers
            .iter()
            .any(|x| x.eq_ignore_ascii_case(tier))
    }) {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::CustomerTier,
            format!("customer tier {tier} is always reviewed"),
        );
    }
    if let (Some(value), Some(limit)) = (customer.deal_value, rules.max_deal_value)
        && value > limit
    {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::DealValueAboveLimit,
            format!("deal value {} above the limit {}", value.get(), limit.get()),
        );
    }
    let today = ctx.now.date_naive();
    if let Some(days) = rules.renewal_within_days
        && renewal_within(customer.renewal_date, today, days)
    {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::RenewalSoon,
            format!(
                "renewal on {} is within {days} days",
                customer
                    .renewal_date
                    .map(|d| d.to_string())
                    .unwrap_or_default()
            ),
        );
    }
    if let Some(why) = ctx.kill_switch {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::KillSwitch,
            format!("kill switch tripped: {why}"),
        );
    }
    if policy.mode == Mode::Shadow {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::ShadowMode,
            "policy in shadow mode: people decide, the proposal is recorded".to_owned(),
        );
    }

    // Routing rules are evaluated once; a rule may force review, and its lane and role apply
    // only if the item ends up queued.
    let facts = Facts {
        submission,
        confidence: calibrated,
        today,
    };
    let matched: Vec<_> = policy
        .routing
        .rules
        .iter()
        .filter(|r| r.when.holds(&facts))
        .collect();
    for rule in matched.iter().filter(|r| r.then.force_review) {
        force(
            &mut reasons,
            Step::Override,
            ReasonCode::RoutingRule,
            format!("rule {:?} forces review", rule.name),
        );
    }

    let forced_review = forcing > 0;
    let status = match (forced_review, band) {
        (true, _) | (false, Band::Review) => Status::Queued,
        (false, Band::Approve) => Status::AutoApproved,
        (false, Band::Reject) => Status::AutoRejected,
    };

    // 6. Lane, role and SLA for what people must see.
    let (lane, required_role, sla) = if status == Status::Queued {
        // The most urgent lane any matching rule names, else the default; the role is a floor
        // that rules can only raise.
        let mut lane: Option<Lane> = None;
        let mut role = policy.routing.default_role;
        for rule in &matched {
            let mut effects = Vec::new();
            if let Some(l) = rule.then.lane {
                effects.push(format!("lane {l}"));
                lane = Some(lane.map_or(l, |current| current.min(l)));
            }
            if let Some(r) = rule.then.role {
                effects.push(format!("role {r}"));
                role = role.max(r);
            }
            if !effects.is_empty() {
                reasons.push(Reason {
                    step: Step::Routing,
                    code: ReasonCode::RoutingRule,
                    message: format!("rule {:?} matched: {}", rule.name, effects.join(", ")),
                });
            }
        }
        let lane = lane.unwrap_or(policy.routing.default_lane);
        if matched
            .iter()
            .all(|r| r.then.lane.is_none() && r.then.role.is_none())
        {
            reasons.push(Reason {
                step: Step::Routing,
                code: ReasonCode::DefaultRoute,
                message: format!("default lane {lane}, role {role}"),
            });
        }
        let sla = deadlines(&policy.sla, lane, customer, ctx.now);
        if let (Some(factor), Some(why)) = (sla.tightened_by, &sla.tightened_because) {
            reasons.push(Reason {
                step: Step::Sla,
                code: ReasonCode::SlaTightened,
                message: format!("deadlines x{factor} because of {why}"),
            });
        }
        (Some(lane), Some(role), Some(sla))
    } else {
        (None, None, None)
    };

    Route {
        status,
        lane,
        required_role,
        sla,
        verdict: Verdict {
            band,
            confidence: ConfidenceScores {
                raw,
                calibrated,
                calibrator: ctx.calibrator.name().to_owned(),
            },
            validators: validator_results,
            reasons,
            forced_review,
        },
    }
}
