//! Policies: how the items of one kind of work are decided. A policy is data — thresholds,
//! validators, customer rules, routing rules and SLAs — and [`PolicySpec::validate`] is the only
//! way to get a [`Policy`], so a policy that exists is consistent.

use std::collections::BTreeSet;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::rules::Condition;
use crate::types::{Amount, Kind, Lane, Mode, PolicyName, Probability, Risk, Role};

/// A policy as a client writes it. Unknown fields are refused so that a typo is an error, not a
/// silently ignored setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicySpec {
    /// Unique within the workspace; submitting the same name again replaces the policy.
    pub name: PolicyName,
    /// The kind of work this policy decides; a proposal of another kind is refused.
    pub kind: Kind,
    /// `irreversible` forces every item to a person and two people to agree.
    #[serde(default = "default_risk")]
    pub risk: Risk,
    /// Confidence thresholds for automatic verdicts.
    pub thresholds: Thresholds,
    /// Share of auto-approved items sampled for audit, in `[0, 1]`.
    #[serde(default = "default_audit_rate")]
    pub audit_rate: Probability,
    /// `shadow` sends everything to people while recording what the AI proposed.
    #[serde(default = "default_mode")]
    pub mode: Mode,
    /// Whether an approval needs a second, different person. Always true when irreversible.
    #[serde(default)]
    pub two_person: bool,
    /// SLA per lane, and when to tighten it.
    #[serde(default)]
    pub sla: SlaPolicy,
    /// Checks run on every proposal; a failure forces review.
    #[serde(default)]
    pub validators: Validators,
    /// Risk signals that force review when an agent raises them.
    #[serde(default = "default_review_signals")]
    pub review_signals: Vec<String>,
    /// Customer properties that force review.
    #[serde(default)]
    pub customer_rules: CustomerRules,
    /// Default lane and role, and data-driven routing rules.
    #[serde(default)]
    pub routing: Routing,
    /// How long a reviewer's claim lasts, in seconds; the server default when absent.
    #[serde(default)]
    pub lease_seconds: Option<u32>,
    /// Free text for people reading the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The strictest target escape rate a policy may set: certifying it takes about 30,000
/// labelled outcomes above a threshold (the learning crate's `MIN_ALPHA`).
pub const MIN_TARGET_ESCAPE: f64 = 1e-4;
/// The highest confidence a policy's target may ask for (the learning crate's `1 - MIN_DELTA`).
pub const MAX_CONFIDENCE: f64 = 0.9999;

/// Confidence thresholds, in one of two forms: fixed probabilities
/// (`0 <= reject_below <= approve_at <= 1`), or a target escape rate from which Loopgate derives
/// them by Learn-then-Test on the policy's labelled outcomes (`target_escape`, `confidence`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Fixed: calibrated confidence at or above this is approved without a person (U).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_at: Option<Probability>,
    /// Fixed: calibrated confidence below this is rejected without a person (L).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject_below: Option<Probability>,
    /// Target: the largest share of auto-approved items that may be wrong, in (0, 0.5].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_escape: Option<Probability>,
    /// Target: the probability that the derived thresholds meet the target; 0.95 by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Probability>,
}

impl Thresholds {
    /// Fixed thresholds `(approve_at, reject_below)`, when the policy gives them.
    pub fn fixed(&self) -> Option<(Probability, Probability)> {
        self.approve_at.zip(self.reject_below)
    }

    /// The target `(escape rate, confidence)`, when the policy gives one.
    pub fn target(&self) -> Option<(f64, f64)> {
        self.target_escape
            .map(|a| (a.get(), self.confidence.map_or(0.95, Probability::get)))
    }

    fn problems(&mut self) -> Vec<String> {
        let fixed = self.approve_at.is_some() || self.reject_below.is_some();
        let target = self.target_escape.is_some() || self.confidence.is_some();
        let mut problems = Vec::new();
        match (fixed, target) {
            (true, false) => match self.fixed() {
                Some((u, l)) if l > u => problems.push(format!(
                    "thresholds.reject_below ({l}) must not exceed thresholds.approve_at ({u})"
                )),
                Some(_) => {}
                None => problems.push(
                    "thresholds: fixed thresholds need both approve_at and reject_below".to_owned(),
                ),
            },
            (false, true) => {
                match self.target_escape {
                    Some(a) if (MIN_TARGET_ESCAPE..=0.5).contains(&a.get()) => {}
                    Some(a) => problems.push(format!(
                        "thresholds.target_escape must be in [{MIN_TARGET_ESCAPE}, 0.5], got {} \
                         (a target of 0.0001 already needs about 30,000 labelled outcomes)",
                        a.get()
                    )),
                    None => problems.push(
                        "thresholds: a target needs target_escape (confidence is optional)".to_owned(),
                    ),
                }
                match self.confidence {
                    Some(c) if !(0.5..=MAX_CONFIDENCE).contains(&c.get()) => {
                        problems.push(format!(
                            "thresholds.confidence must be in [0.5, {MAX_CONFIDENCE}], got {}",
                            c.get()
                        ))
                    }
                    Some(_) => {}
                    None => self.confidence = Probability::new(0.95),
                }
            }
            _ => problems.push(
                "thresholds: give either approve_at and reject_below, or target_escape (and optionally confidence)"
                    .to_owned(),
            ),
        }
        problems
    }
}

/// SLA targets per lane in seconds, and the rule that tightens them for sensitive customers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaPolicy {
    /// Most urgent lane.
    #[serde(rename = "P0", default = "LaneSla::p0")]
    pub p0: LaneSla,
    /// Normal lane.
    #[serde(rename = "P1", default = "LaneSla::p1")]
    pub p1: LaneSla,
    /// Least urgent lane.
    #[serde(rename = "P2", default = "LaneSla::p2")]
    pub p2: LaneSla,
    /// When deadlines are tightened, and by how much.
    #[serde(default)]
    pub tightening: SlaTightening,
}

impl SlaPolicy {
    /// The targets of one lane.
    pub fn lane(&self, lane: Lane) -> LaneSla {
        match lane {
            Lane::P0 => self.p0,
            Lane::P1 => self.p1,
            Lane::P2 => self.p2,
        }
    }
}

impl Default for SlaPolicy {
    fn default() -> Self {
        Self {
            p0: LaneSla::p0(),
            p1: LaneSla::p1(),
            p2: LaneSla::p2(),
            tightening: SlaTightening::default(),
        }
    }
}

/// Time targets of one lane, in seconds from submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LaneSla {
    /// Seconds until a person must have picked the item up.
    pub first_review: u32,
    /// Seconds until the item must be final.
    pub resolve: u32,
}

impl LaneSla {
    fn p0() -> Self {
        Self {
            first_review: 15 * 60,
            resolve: 60 * 60,
        }
    }
    fn p1() -> Self {
        Self {
            first_review: 60 * 60,
            resolve: 8 * 60 * 60,
        }
    }
    fn p2() -> Self {
        Self {
            first_review: 4 * 60 * 60,
            resolve: 24 * 60 * 60,
        }
    }
}

/// Deadlines shrink by `factor` for a customer whose renewal is near or whose tier is listed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaTightening {
    /// Multiplier in `(0, 1]` applied to both deadlines.
    #[serde(default = "default_tightening_factor")]
    pub factor: f64,
    /// A renewal date within this many days (from today, inclusive) tightens the SLA.
    #[serde(default = "default_tightening_days")]
    pub renewal_within_days: Option<u32>,
    /// Customer tiers that always get the tighter SLA, e.g. `strategic`.
    #[serde(default = "default_tightening_tiers")]
    pub tiers: Vec<String>,
}

impl Default for SlaTightening {
    fn default() -> Self {
        Self {
            factor: default_tightening_factor(),
            renewal_within_days: default_tightening_days(),
            tiers: default_tightening_tiers(),
        }
    }
}

/// Checks on the proposal. Each failing check forces the item to a person, with the check named.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Validators {
    /// JSON Pointers (RFC 6901, e.g. `/label` or `/refund/amount`) that must be present and
    /// non-null in the proposal's payload. A bare name `label` means `/label`.
    #[serde(default)]
    pub required_fields: Vec<String>,
    /// Minimum number of citations the proposal must carry.
    #[serde(default)]
    pub min_citations: u32,
    /// Terms that must not appear in any text of the payload (case-insensitive).
    #[serde(default)]
    pub blocked_terms: Vec<String>,
    /// Upper limit on an amount in the payload, for actions such as refunds.
    #[serde(default)]
    pub max_amount: Option<MaxAmount>,
}

/// An amount field of the payload and its limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaxAmount {
    /// JSON Pointer to the amount in the payload; `/amount` when absent.
    #[serde(default = "default_amount_field")]
    pub field: String,
    /// The largest amount allowed without review.
    pub limit: Amount,
}

/// Customer properties that force review whatever the confidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerRules {
    /// Tiers whose items always go to a person, e.g. `strategic`.
    #[serde(default)]
    pub review_tiers: Vec<String>,
    /// A deal value above this forces review.
    #[serde(default)]
    pub max_deal_value: Option<Amount>,
    /// A renewal within this many days forces review.
    #[serde(default)]
    pub renewal_within_days: Option<u32>,
}

/// Where queued items go by default, and the rules that move them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Routing {
    /// Lane of a queued item when no matching rule names a lane.
    #[serde(default = "default_lane")]
    pub default_lane: Lane,
    /// Role required for a queued item that no rule raises.
    #[serde(default = "default_role")]
    pub default_role: Role,
    /// Every matching rule applies: the most urgent lane named by a match wins (the default
    /// lane when none names one), and the highest role among the default and the matches.
    #[serde(default)]
    pub rules: Vec<RoutingRule>,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            default_lane: default_lane(),
            default_role: default_role(),
            rules: Vec::new(),
        }
    }
}

/// A routing rule: when the condition holds, apply the action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoutingRule {
    /// Shown in the verdict's reasons when the rule matches.
    pub name: String,
    /// The condition, e.g. `{"signal": "legal"}` or `{"all": [{"tier_in": ["strategic"]}, ...]}`.
    pub when: Condition,
    /// What a match does.
    pub then: RuleAction,
}

/// The effect of a matching routing rule. At least one field must be set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleAction {
    /// Move the item to this lane (the most urgent of all matches wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lane: Option<Lane>,
    /// Require at least this role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Send the item to a person even when confident.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_review: bool,
}

fn default_risk() -> Risk {
    Risk::Reversible
}
fn default_mode() -> Mode {
    Mode::Live
}
fn default_audit_rate() -> Probability {
    Probability::new(0.05).expect("constant in range")
}
fn default_review_signals() -> Vec<String> {
    ["legal", "safety", "churn_risk"]
        .map(str::to_owned)
        .to_vec()
}
fn default_tightening_factor() -> f64 {
    0.5
}
fn default_tightening_days() -> Option<u32> {
    Some(30)
}
fn default_tightening_tiers() -> Vec<String> {
    vec!["strategic".to_owned()]
}
fn default_amount_field() -> String {
    "/amount".to_owned()
}
fn default_lane() -> Lane {
    Lane::P2
}
fn default_role() -> Role {
    Role::Triage
}

/// The longest a lease may be configured to last: one day.
pub const MAX_LEASE_SECONDS: u32 = 24 * 60 * 60;
/// The longest SLA target: one year.
pub const MAX_SLA_SECONDS: u32 = 366 * 24 * 60 * 60;
/// Routing rules per policy.
pub const MAX_RULES: usize = 200;
/// Entries per list setting (terms, tiers, fields, signals).
pub const MAX_LIST: usize = 500;

/// A validated policy. Dereferences to its [`PolicySpec`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct Policy(PolicySpec);

impl Deref for Policy {
    type Target = PolicySpec;
    fn deref(&self) -> &PolicySpec {
        &self.0
    }
}

impl Policy {
    /// Whether approvals need a second person (always for irreversible risk).
    pub fn needs_two_people(&self) -> bool {
        self.two_person || self.risk == Risk::Irreversible
    }

    /// The spec this policy was validated from.
    pub fn into_spec(self) -> PolicySpec {
        self.0
    }
}

impl PolicySpec {
    /// Checks everything serde cannot: threshold order, SLA sanity, pointer syntax, rule shape.
    /// Returns every problem found, each a sentence naming the field and how to fix it.
    /// Normalises bare field names to JSON Pointers and sets `two_person` for irreversible risk.
    pub fn validate(mut self) -> Result<Policy, Vec<String>> {
        let mut problems = Vec::new();

        problems.extend(self.thresholds.problems());

        for (lane, sla) in [
            ("P0", self.sla.p0),
            ("P1", self.sla.p1),
            ("P2", self.sla.p2),
        ] {
            if sla.first_review == 0 || sla.resolve == 0 {
                problems.push(format!("sla.{lane}: deadlines must be at least 1 second"));
            }
            if sla.first_review > sla.resolve {
                problems.push(format!(
                    "sla.{lane}.first_review ({}) must not exceed sla.{lane}.resolve ({})",
                    sla.first_review, sla.resolve
                ));
            }
            if sla.resolve > MAX_SLA_SECONDS {
                problems.push(format!(
                    "sla.{lane}.resolve must be at most {MAX_SLA_SECONDS} seconds"
                ));
            }
        }
        let factor = self.sla.tightening.factor;
        if !(factor.is_finite() && factor > 0.0 && factor <= 1.0) {
            problems.push(format!(
                "sla.tightening.factor must be in (0, 1], got {factor}"
            ));
        }

        if let Some(lease) = self.lease_seconds
            && !(1..=MAX_LEASE_SECONDS).contains(&lease)
        {
            problems.push(format!(
                "lease_seconds must be between 1 and {MAX_LEASE_SECONDS}, got {lease}"
            ));
        }

        for field in &mut self.validators.required_fields {
            normalise_pointer(field, "validators.required_fields", &mut problems);
        }
        if let Some(max) = &mut self.validators.max_amount {
            normalise_pointer(&mut max.field, "validators.max_amount.field", &mut problems);
        }
        if self
            .validators
            .blocked_terms
            .iter()
            .any(|t| t.trim().is_empty())
        {
            problems.push("validators.blocked_terms must not contain empty terms".to_owned());
        }

        let lists = [
            (
                "validators.required_fields",
                self.validators.required_fields.len(),
            ),
            (
                "validators.blocked_terms",
                self.validators.blocked_terms.len(),
            ),
            ("review_signals", self.review_signals.len()),
            (
                "customer_rules.review_tiers",
                self.customer_rules.review_tiers.len(),
            ),
            ("sla.tightening.tiers", self.sla.tightening.tiers.len()),
        ];
        for (name, len) in lists {
            if len > MAX_LIST {
                problems.push(format!("{name} has {len} entries; the limit is {MAX_LIST}"));
            }
        }

        if self.routing.rules.len() > MAX_RULES {
            problems.push(format!(
                "routing.rules has {} rules; the limit is {MAX_RULES}",
                self.routing.rules.len()
            ));
        }
        let mut names = BTreeSet::new();
        for (i, rule) in self.routing.rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                problems.push(format!("routing.rules[{i}].name must not be empty"));
            } else if !names.insert(rule.name.as_str()) {
                problems.push(format!(
                    "routing.rules[{i}].name {:?} is used by an earlier rule; names must be unique",
                    rule.name
                ));
            }
            if rule.then == RuleAction::default() {
                problems.push(format!(
                    "routing.rules[{i}].then does nothing; set lane, role or force_review"
                ));
            }
            if let Err(problem) = rule.when.check() {
                problems.push(format!("routing.rules[{i}].when: {problem}"));
            }
        }

        if self.risk == Risk::Irreversible {
            self.two_person = true;
        }

        if problems.is_empty() {
            Ok(Policy(self))
        } else {
            Err(problems)
        }
    }
}

fn normalise_pointer(field: &mut String, setting: &str, problems: &mut Vec<String>) {
    if field.is_empty() {
        problems.push(format!("{setting}: a field must not be empty"));
    } else if !field.starts_with('/') {
        field.insert(0, '/');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(value: serde_json::Value) -> PolicySpec {
        serde_json::from_value(value).expect("spec parses")
    }

    #[test]
    fn minimal_policy_gets_documented_defaults() {
        let policy = spec(json!({
            "name": "ticket.classify", "kind": "label",
            "thresholds": {"approve_at": 0.9, "reject_below": 0.2}
        }))
        .validate()
        .unwrap();
        assert_eq!(policy.risk, Risk::Reversible);
        assert_eq!(policy.mode, Mode::Live);
        assert_eq!(policy.audit_rate.get(), 0.05);
        assert_eq!(policy.sla.p0.first_review, 900);
        assert_eq!(policy.routing.default_lane, Lane::P2);
        assert!(!policy.needs_two_people());
    }

    #[test]
    fn thresholds_are_fixed_or_a_target_never_both() {
        let base = |th: serde_json::Value| {
            spec(json!({"name": "p", "kind": "label", "thresholds": th})).validate()
        };
        let target = base(json!({"target_escape": 0.01})).unwrap();
        assert_eq!(target.thresholds.target(), Some((0.01, 0.95)));
        assert_eq!(target.thresholds.fixed(), None);
        assert!(base(json!({"target_escape": 0.01, "approve_at": 0.9})).is_err());
        assert!(base(json!({"approve_at": 0.9})).is_err());
        assert!(base(json!({})).is_err());
        assert!(base(json!({"target_escape": 0.7})).is_err());
        assert!(base(json!({"target_escape": 0.01, "confidence": 1.0})).is_err());
        // Targets that no amount of labels could certify in practice (and whose sample sizes
        // would take forever to compute) are refused, naming the bound.
        let strict = base(json!({"target_escape": 1e-9})).unwrap_err();
        assert!(
            strict.iter().any(|p| p.contains("[0.0001, 0.5]")),
            "{strict:?}"
        );
        assert!(base(json!({"target_escape": 0.01, "confidence": 0.999999})).is_err());
        assert!(base(json!({"target_escape": 0.01, "confidence": 0.3})).is_err());
        assert!(base(json!({"target_escape": 0.0001, "confidence": 0.9999})).is_ok());
    }

    #[test]
    fn irreversible_always_needs_two_people() {
        let policy = spec(json!({
            "name": "action.refund", "kind": "action", "risk": "irreversible", "two_person": false,
            "thresholds": {"approve_at": 0.9, "reject_below": 0.2}
        }))
        .validate()
        .unwrap();
        assert!(policy.two_person);
        assert!(policy.needs_two_people());
    }

    #[test]
    fn inconsistent_settings_are_all_reported() {
        let problems = spec(json!({
            "name": "p", "kind": "label",
            "thresholds": {"approve_at": 0.3, "reject_below": 0.6},
            "sla": {"P1": {"first_review": 600, "resolve": 60}, "tightening": {"factor": 0.0}},
            "lease_seconds": 0,
            "routing": {"rules": [
                {"name": "a", "when": {"signal": "legal"}, "then": {}},
                {"name": "a", "when": {"all": []}, "then": {"lane": "P0"}}
            ]}
        }))
        .validate()
        .unwrap_err();
        let all = problems.join("\n");
        for needle in [
            "reject_below (0.6) must not exceed",
            "sla.P1.first_review (600) must not exceed",
            "tightening.factor",
            "lease_seconds",
            "does nothing",
            "names must be unique",
            "routing.rules[1].when",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
    }

    #[test]
    fn unknown_fields_are_refused() {
        let err = serde_json::from_value::<PolicySpec>(json!({
            "name": "p", "kind": "label", "treshold": {},
            "thresholds": {"approve_at": 0.9, "reject_below": 0.1}
        }))
        .unwrap_err();
        assert!(err.to_string().contains("treshold"), "{err}");
    }

    #[test]
    fn bare_field_names_become_pointers() {
        let policy = spec(json!({
            "name": "p", "kind": "action",
            "thresholds": {"approve_at": 0.9, "reject_below": 0.1},
            "validators": {"required_fields": ["amount", "/currency"], "max_amount": {"field": "amount", "limit": 100}}
        }))
        .validate()
        .unwrap();
        assert_eq!(
            policy.validators.required_fields,
            vec!["/amount", "/currency"]
        );
        assert_eq!(
            policy.validators.max_amount.as_ref().unwrap().field,
            "/amount"
        );
    }
}
