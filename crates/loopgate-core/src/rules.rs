//! Routing conditions: a small language of data, not code, so that a lead can change routing by
//! editing a policy. Each condition reads the submission, the calibrated confidence and the date.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::item::Submission;
use crate::types::{Amount, Probability};

/// Deepest nesting of `all` / `any` / `not` accepted.
pub const MAX_DEPTH: usize = 8;

/// A condition over an item, written as a one-key JSON object, e.g. `{"signal": "legal"}`,
/// `{"tier_in": ["strategic"]}` or `{"all": [{"deal_value_above": 50000}, {"renewal_within_days": 30}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
#[schema(no_recursion)]
pub enum Condition {
    /// Every condition holds (and the list is not empty).
    All(Vec<Condition>),
    /// At least one condition holds.
    Any(Vec<Condition>),
    /// The condition does not hold.
    Not(Box<Condition>),
    /// The agent raised this signal.
    Signal(String),
    /// The customer's tier is one of these.
    TierIn(Vec<String>),
    /// The customer's deal value is above this.
    DealValueAbove(Amount),
    /// The customer's renewal is between today and this many days from today.
    RenewalWithinDays(u32),
    /// The customer's health score is below this.
    HealthBelow(Probability),
    /// The calibrated confidence is below this.
    ConfidenceBelow(Probability),
    /// The input's channel is one of these.
    ChannelIn(Vec<String>),
    /// The input text contains one of these terms (case-insensitive, whole words).
    TextContains(Vec<String>),
    /// A number in the payload (JSON Pointer `field`) is above `value`.
    PayloadAbove {
        /// JSON Pointer into the proposal's payload, e.g. `/amount`.
        field: String,
        /// The bound.
        value: f64,
    },
    /// A value anywhere in the submission equals the given JSON, e.g.
    /// `{"equals": {"path": "/input/priority", "value": "urgent"}}`.
    Equals {
        /// JSON Pointer into the submission (`/input/...`, `/customer/...`, `/proposal/...`).
        path: String,
        /// The value to compare with.
        value: Value,
    },
}

/// What a condition is evaluated against.
#[derive(Debug)]
pub struct Facts<'a> {
    /// The submission.
    pub submission: &'a Submission,
    /// The calibrated confidence.
    pub confidence: Probability,
    /// Today's date (UTC).
    pub today: NaiveDate,
}

impl Condition {
    /// Whether the condition holds for these facts.
    pub fn holds(&self, facts: &Facts<'_>) -> bool {
        let customer = &facts.submission.customer;
        match self {
            Condition::All(cs) => cs.iter().all(|c| c.holds(facts)),
            Condition::Any(cs) => cs.iter().any(|c| c.holds(facts)),
            Condition::Not(c) => !c.holds(facts),
            Condition::Signal(s) => facts.submission.signals.iter().any(|x| x == s),
            Condition::TierIn(tiers) => customer
                .tier
                .as_ref()
                .is_some_and(|t| tiers.iter().any(|x| x.eq_ignore_ascii_case(t))),
            Condition::DealValueAbove(v) => customer.deal_value.is_some_and(|d| d > *v),
            Condition::RenewalWithinDays(days) => {
                renewal_within(customer.renewal_date, facts.today, *days)
            }
            Condition::HealthBelow(h) => customer.health_score.is_some_and(|x| x < *h),
            Condition::ConfidenceBelow(c) => facts.confidence < *c,
            Condition::ChannelIn(channels) => facts
                .submission
                .input
                .channel
                .as_ref()
                .is_some_and(|ch| channels.iter().any(|x| x.eq_ignore_ascii_case(ch))),
            Condition::TextContains(terms) => terms
                .iter()
                .any(|t| contains_term(&facts.submission.input.text, t)),
            Condition::PayloadAbove { field, value } => facts
                .submission
                .proposal
                .payload
                .pointer(field)
                .and_then(number)
                .is_some_and(|n| n > *value),
            Condition::Equals { path, value } => {
                let whole = serde_json::to_value(facts.submission).unwrap_or(Value::Null);
                whole.pointer(path) == Some(value)
            }
        }
    }

    /// Refuses conditions that are certainly mistakes: empty lists, too deep, bad pointers.
    pub fn check(&self) -> Result<(), String> {
        self.check_at(1)
    }

    fn check_at(&self, depth: usize) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("conditions nest deeper than {MAX_DEPTH} levels"));
        }
        match self {
            Condition::All(cs) | Condition::Any(cs) => {
                if cs.is_empty() {
                    return Err("`all` and `any` need at least one condition".to_owned());
                }
                cs.iter().try_for_each(|c| c.check_at(depth + 1))
            }
            Condition::Not(c) => c.check_at(depth + 1),
            Condition::TierIn(v) | Condition::ChannelIn(v) | Condition::TextContains(v)
                if v.is_empty() =>
            {
                Err("the list must not be empty".to_owned())
            }
            Condition::PayloadAbove { field, .. } if !field.starts_with('/') => Err(format!(
                "payload_above.field {field:?} must be a JSON Pointer starting with '/'"
            )),
            Condition::PayloadAbove { value, .. } if !value.is_finite() => {
                Err("payload_above.value must be a finite number".to_owned())
            }
            Condition::Equals { path, .. } if !path.starts_with('/') => Err(format!(
                "equals.path {path:?} must be a JSON Pointer starting with '/'"
            )),
            _ => Ok(()),
        }
    }
}

/// True when `renewal` lies between `today` and `today + days`, both inclusive.
pub fn renewal_within(renewal: Option<NaiveDate>, today: NaiveDate, days: u32) -> bool {
    renewal.is_some_and(|r| {
        let ahead = (r - today).num_days();
        (0..=i64::from(days)).contains(&ahead)
    })
}

/// A JSON number, or a string holding one (amounts often arrive as `"49.90"`).
pub fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

/// Case-insensitive search for `term` as a whole word or phrase: the characters around a match
/// must not be letters or digits, so that `ass` does not match `class`.
pub fn contains_term(text: &str, term: &str) -> bool {
    let term = term.trim().to_lowercase();
    if term.is_empty() {
        return false;
    }
    let text = text.to_lowercase();
    text.match_indices(&term).any(|(at, m)| {
        let before = text[..at].chars().next_back();
        let after = text[at + m.len()..].chars().next();
        !before.is_some_and(char::is_alphanumeric) && !after.is_some_and(char::is_alphanumeric)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn submission() -> Submission {
        serde_json::from_value(json!({
            "policy": "p",
            "input": {"text": "Our lawyer says the contract is void", "channel": "email", "priority": "urgent"},
            "customer": {"id": "c", "tier": "Strategic", "health_score": 0.2, "deal_value": 90000,
                         "renewal_date": "2026-12-10"},
            "proposal": {"kind": "action", "payload": {"amount": "250.00"}, "confidence": 0.9},
            "signals": ["legal"]
        }))
        .unwrap()
    }

    fn holds(c: Value) -> bool {
        let s = submission();
        let facts = Facts {
            submission: &s,
            confidence: Probability::new(0.9).unwrap(),
            today: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        };
        let c: Condition = serde_json::from_value(c).unwrap();
        c.check().unwrap();
        c.holds(&facts)
    }

    #[test]
    fn each_condition_reads_its_fact() {
        assert!(holds(json!({"signal": "legal"})));
        assert!(!holds(json!({"signal": "safety"})));
        assert!(holds(json!({"tier_in": ["strategic"]})));
        assert!(holds(json!({"deal_value_above": 50000})));
        assert!(!holds(json!({"deal_value_above": 90000})));
        assert!(holds(json!({"renewal_within_days": 16})));
        assert!(!holds(json!({"renewal_within_days": 15})));
        assert!(holds(json!({"health_below": 0.3})));
        assert!(!holds(json!({"confidence_below": 0.9})));
        assert!(holds(json!({"channel_in": ["EMAIL"]})));
        assert!(holds(json!({"text_contains": ["lawyer"]})));
        assert!(!holds(json!({"text_contains": ["law"]})));
        assert!(holds(
            json!({"payload_above": {"field": "/amount", "value": 200}})
        ));
        assert!(holds(
            json!({"equals": {"path": "/input/priority", "value": "urgent"}})
        ));
        assert!(holds(
            json!({"all": [{"signal": "legal"}, {"not": {"signal": "safety"}}]})
        ));
        assert!(holds(
            json!({"any": [{"signal": "safety"}, {"tier_in": ["strategic"]}]})
        ));
    }

    #[test]
    fn mistakes_are_refused() {
        let bad = [
            json!({"all": []}),
            json!({"tier_in": []}),
            json!({"payload_above": {"field": "amount", "value": 1}}),
            json!({"equals": {"path": "input", "value": 1}}),
        ];
        for c in bad {
            let c: Condition = serde_json::from_value(c).unwrap();
            assert!(c.check().is_err(), "{c:?}");
        }
        let mut deep = json!({"signal": "x"});
        for _ in 0..MAX_DEPTH {
            deep = json!({"not": deep});
        }
        let c: Condition = serde_json::from_value(deep).unwrap();
        assert!(c.check().unwrap_err().contains("deeper"));
        assert!(serde_json::from_value::<Condition>(json!({"sigal": "x"})).is_err());
    }

    #[test]
    fn renewal_window_excludes_past_dates() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let yesterday = today.pred_opt();
        assert!(!renewal_within(yesterday, today, 30));
        assert!(renewal_within(Some(today), today, 0));
    }

    #[test]
    fn terms_match_whole_words_only() {
        assert!(contains_term("Full REFUND now", "refund"));
        assert!(!contains_term("refunded", "refund"));
        assert!(contains_term("a guaranteed refund.", "guaranteed refund"));
        assert!(!contains_term("anything", ""));
    }
}
