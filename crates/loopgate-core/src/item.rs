//! Items: one AI proposal each, with the input it answers, the customer it concerns, the verdict
//! that decided its route, and where it is in human review.

use chrono::NaiveDate;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::review::PayloadDiff;
use crate::sla::SlaDeadlines;
use crate::types::{
    Amount, ItemId, Kind, Lane, LeaseId, PolicyName, PrincipalId, Probability, ReviewId, Role,
    Stage, Status, WorkspaceId,
};
use crate::verdict::Verdict;

/// The model name of Loopgate's own embedded model: an agent that names it (and brings no
/// payload or confidence) lets Loopgate propose the label.
pub const EMBEDDED_MODEL: &str = "loopgate";

/// Longest ticket text accepted, in characters.
pub const MAX_TEXT_CHARS: usize = 100_000;
/// Longest short string (ids, names, tiers, channels, models), in characters.
pub const MAX_SHORT_CHARS: usize = 200;
/// Longest rationale, in characters.
pub const MAX_RATIONALE_CHARS: usize = 20_000;
/// Most citations on one proposal.
pub const MAX_CITATIONS: usize = 100;
/// Most signals on one item.
pub const MAX_SIGNALS: usize = 50;

/// What an agent submits: one AI output and its context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// Name of the policy that decides this item.
    pub policy: PolicyName,
    /// What the AI answered: the ticket text, its channel, and anything else.
    pub input: Input,
    /// The customer concerned.
    pub customer: Customer,
    /// The AI's proposal.
    pub proposal: Proposal,
    /// Risk signals raised by the agent, e.g. `legal`, `safety`, `churn_risk`.
    #[serde(default)]
    pub signals: Vec<String>,
}

/// The input the AI worked from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Input {
    /// The customer's message or ticket text.
    pub text: String,
    /// Where it came from, e.g. `email`, `chat`, `portal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Any other fields (subject, ticket id, thread…), kept as given.
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub extra: Map<String, Value>,
}

/// The customer an item concerns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Customer {
    /// The customer's account id in the support system.
    pub id: String,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Commercial tier, e.g. `strategic`, `enterprise`, `standard`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// Account health in `[0, 1]`; low is at risk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_score: Option<Probability>,
    /// Value of the account's deal, in currency units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deal_value: Option<Amount>,
    /// Next renewal date, `YYYY-MM-DD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_date: Option<NaiveDate>,
    /// Any other context (history, linked documents…), kept as given.
    #[serde(flatten)]
    #[schema(additional_properties)]
    pub extra: Map<String, Value>,
}

/// The AI's proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Proposal {
    /// Must equal the policy's kind.
    pub kind: Kind,
    /// The output itself: a label, a draft reply, an action with its amount. Any JSON.
    pub payload: Value,
    /// The model's raw confidence that the payload is right, in `[0, 1]`.
    pub confidence: Probability,
    /// Which model produced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The model's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The model's explanation, shown to reviewers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rationale: Option<String>,
    /// Sources the proposal relies on.
    #[serde(default)]
    pub citations: Vec<Citation>,
}

/// A source a proposal cites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Citation {
    /// Where it is, e.g. a URL or `kb://refunds#3`.
    pub source: String,
    /// Its title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The passage relied on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<String>,
}

impl Submission {
    /// Checks the limits serde does not: lengths, counts and signal names. Returns every problem
    /// found, each naming its field.
    pub fn check(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut short = |field: &str, value: Option<&str>| {
            if let Some(v) = value
                && v.chars().count() > MAX_SHORT_CHARS
            {
                problems.push(format!(
                    "{field} must be at most {MAX_SHORT_CHARS} characters"
                ));
            }
        };
        short("input.channel", self.input.channel.as_deref());
        short("customer.id", Some(&self.customer.id));
        short("customer.name", self.customer.name.as_deref());
        short("customer.tier", self.customer.tier.as_deref());
        short("proposal.model", self.proposal.model.as_deref());
        short(
            "proposal.model_version",
            self.proposal.model_version.as_deref(),
        );
        if self.customer.id.trim().is_empty() {
            problems.push("customer.id must not be empty".to_owned());
        }
        // An account id is an identifier: control characters are a client's mistake, and NUL
        // could not even be stored in a PostgreSQL text column.
        if self.customer.id.chars().any(char::is_control) {
            problems.push("customer.id must not contain control characters".to_owned());
        }
        if self.input.text.chars().count() > MAX_TEXT_CHARS {
            problems.push(format!(
                "input.text must be at most {MAX_TEXT_CHARS} characters"
            ));
        }
        if let Some(r) = &self.proposal.rationale
            && r.chars().count() > MAX_RATIONALE_CHARS
        {
            problems.push(format!(
                "proposal.rationale must be at most {MAX_RATIONALE_CHARS} characters"
            ));
        }
        if self.proposal.citations.len() > MAX_CITATIONS {
            problems.push(format!(
                "proposal.citations has {} entries; the limit is {MAX_CITATIONS}",
                self.proposal.citations.len()
            ));
        }
        if self.signals.len() > MAX_SIGNALS {
            problems.push(format!(
                "signals has {} entries; the limit is {MAX_SIGNALS}",
                self.signals.len()
            ));
        }
        for (i, signal) in self.signals.iter().enumerate() {
            if !is_signal_name(signal) {
                problems.push(format!(
                    "signals[{i}] {signal:?} is not a signal name; use 1 to 64 lowercase letters, digits or '_'"
                ));
            }
        }
        problems
    }
}

fn is_signal_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Who did something: a principal's id and name at the time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    /// The principal's id.
    pub id: PrincipalId,
    /// The principal's name.
    pub name: String,
}

/// A reviewer's claim on an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Lease {
    /// Must be sent back with the decision; a decision under another lease is refused.
    pub id: LeaseId,
    /// Who holds it.
    pub holder: Actor,
    /// The role the holder reviews in.
    pub role: Role,
    /// When it was taken.
    pub claimed_at: DateTime<Utc>,
    /// When it lapses and the item returns to its queue.
    pub expires_at: DateTime<Utc>,
}

/// What the first of two people decided, waiting for the second.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PendingApproval {
    /// The first person's review.
    pub review_id: ReviewId,
    /// The first person; they can never confirm their own proposal.
    pub proposer: Actor,
    /// `approved` or `edited`: what becomes final on confirmation.
    pub outcome: Status,
    /// The payload that becomes final on confirmation.
    pub payload: Value,
    /// The edit against the AI's proposal, when edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff: Option<PayloadDiff>,
    /// When the first person decided.
    pub proposed_at: DateTime<Utc>,
}

/// How an item ended.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Outcome {
    /// The final status.
    pub status: Status,
    /// What the agent may act on: the proposal, or the edited version. `null` when rejected.
    pub payload: Option<Value>,
    /// The people who decided, in order (empty for automatic verdicts).
    pub decided_by: Vec<Actor>,
    /// When it became final.
    pub decided_at: DateTime<Utc>,
}

/// One AI proposal on its way through Loopgate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    /// Unique id.
    pub id: ItemId,
    /// The tenant.
    pub workspace: WorkspaceId,
    /// The deciding policy's name.
    pub policy: PolicyName,
    /// The policy version that decided it.
    pub policy_version: u32,
    /// Where it is in its journey.
    pub status: Status,
    /// `true` once the status is final.
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The review step while not final.
    pub stage: Option<Stage>,
    /// Priority lane while it needs people.
    pub lane: Option<Lane>,
    /// Lowest role that may review it now.
    pub required_role: Option<Role>,
    /// SLA deadlines while it needs people.
    pub sla: Option<SlaDeadlines>,
    /// Whether an approval needs a second, different person.
    pub two_person: bool,
    /// The input.
    pub input: Input,
    /// The customer.
    pub customer: Customer,
    /// The AI's proposal, as submitted.
    pub proposal: Proposal,
    /// Risk signals raised by the agent.
    pub signals: Vec<String>,
    /// Why it went where it went.
    pub verdict: Verdict,
    /// The current reviewer's claim.
    pub lease: Option<Lease>,
    /// An approval waiting for a second person.
    pub pending: Option<PendingApproval>,
    /// How it ended, once final.
    pub outcome: Option<Outcome>,
    /// How many times it was escalated to a higher role.
    pub escalations: u32,
    /// The agent that submitted it.
    pub submitted_by: Actor,
    /// When it was submitted.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
    /// When a person first claimed it.
    pub first_claimed_at: Option<DateTime<Utc>>,
    /// Whether a human label of this item may feed the policy's threshold bound: it reaches
    /// people (or an audit) for a reason independent of its content — the policy's sampling
    /// coin, drawn at submit at the audit rate, came up, or every item of the policy goes to
    /// people (shadow mode, a policy-wide kill switch, an irreversible action).
    #[serde(default)]
    pub representative: bool,
}

impl Item {
    /// Recomputes the fields derived from the status, after a transition.
    pub(crate) fn settle(&mut self) {
        self.is_final = self.status.is_final();
        self.stage = if self.is_final {
            None
        } else if self.pending.is_some() {
            Some(Stage::Confirm)
        } else {
            self.required_role.map(Stage::from)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission() -> Value {
        json!({
            "policy": "reply.draft",
            "input": {"text": "Where is my invoice?", "channel": "email", "ticket": "T-1"},
            "customer": {"id": "acme", "tier": "enterprise", "health_score": 0.7,
                         "deal_value": 120000, "renewal_date": "2027-01-15", "region": "EU"},
            "proposal": {"kind": "reply", "payload": {"text": "Hi"}, "confidence": 0.8},
            "signals": ["churn_risk"]
        })
    }

    #[test]
    fn extra_context_is_kept_as_given() {
        let s: Submission = serde_json::from_value(submission()).unwrap();
        assert_eq!(s.input.extra["ticket"], "T-1");
        assert_eq!(s.customer.extra["region"], "EU");
        let back = serde_json::to_value(&s).unwrap();
        assert_eq!(back["customer"]["region"], "EU");
        assert!(s.check().is_empty());
    }

    #[test]
    fn out_of_range_values_are_refused_at_parse() {
        let mut v = submission();
        v["customer"]["health_score"] = json!(1.2);
        assert!(serde_json::from_value::<Submission>(v).is_err());
        let mut v = submission();
        v["customer"]["deal_value"] = json!(-5);
        assert!(serde_json::from_value::<Submission>(v).is_err());
        let mut v = submission();
        v["customer"]["renewal_date"] = json!("next week");
        assert!(serde_json::from_value::<Submission>(v).is_err());
    }

    #[test]
    fn limits_and_signal_names_are_checked() {
        let mut s: Submission = serde_json::from_value(submission()).unwrap();
        s.signals = vec!["Legal!".into()];
        s.customer.id = " ".into();
        let problems = s.check().join("\n");
        assert!(problems.contains("signals[0]"), "{problems}");
        assert!(
            problems.contains("customer.id must not be empty"),
            "{problems}"
        );
    }
}
