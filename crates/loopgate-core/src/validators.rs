//! Validators: checks on a proposal that run before any threshold. A failing validator never
//! rejects on its own; it sends the item to a person, with the failure named.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::item::Proposal;
use crate::policy::Validators;
use crate::rules::{contains_term, number};

/// The outcome of one validator on one proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorResult {
    /// Which validator: `required_fields`, `min_citations`, `blocked_terms` or `max_amount`.
    pub validator: String,
    /// Whether the proposal passed.
    pub passed: bool,
    /// What was checked, and what failed.
    pub message: String,
}

/// Runs every validator the policy configures, in a fixed order.
pub fn run(validators: &Validators, proposal: &Proposal) -> Vec<ValidatorResult> {
    let mut results = Vec::new();
    let payload = &proposal.payload;

    if !validators.required_fields.is_empty() {
        let missing: Vec<&str> = validators
            .required_fields
            .iter()
            .filter(|p| payload.pointer(p).is_none_or(Value::is_null))
            .map(String::as_str)
            .collect();
        results.push(ValidatorResult {
            validator: "required_fields".into(),
            passed: missing.is_empty(),
            message: if missing.is_empty() {
                format!("payload has {}", validators.required_fields.join(", "))
            } else {
                format!("payload is missing {}", missing.join(", "))
            },
        });
    }

    if validators.min_citations > 0 {
        let have = proposal.citations.len();
        let need = validators.min_citations as usize;
        results.push(ValidatorResult {
            validator: "min_citations".into(),
            passed: have >= need,
            message: format!("{have} citation(s), at least {need} required"),
        });
    }

    if !validators.blocked_terms.is_empty() {
        let mut texts = Vec::new();
        collect_strings(payload, &mut texts);
        let found: Vec<&str> = validators
            .blocked_terms
            .iter()
            .filter(|term| texts.iter().any(|t| contains_term(t, term)))
            .map(String::as_str)
            .collect();
        results.push(ValidatorResult {
            validator: "blocked_terms".into(),
            passed: found.is_empty(),
            message: if found.is_empty() {
                "no blocked terms".into()
            } else {
                format!("payload contains blocked term(s): {}", found.join(", "))
            },
        });
    }

    if let Some(max) = &validators.max_amount {
        let limit = max.limit.get();
        let (passed, message) = match payload.pointer(&max.field).map(|v| (v, number(v))) {
            None => (false, format!("payload has no amount at {}", max.field)),
            Some((v, None)) => (false, format!("{} is not a number: {v}", max.field)),
            Some((_, Some(n))) if n > limit => (
                false,
                format!("{} = {n} exceeds the limit {limit}", max.field),
            ),
            Some((_, Some(n))) if n < 0.0 => (false, format!("{} = {n} is negative", max.field)),
            Some((_, Some(n))) => (
                true,
                format!("{} = {n} within the limit {limit}", max.field),
            ),
        };
        results.push(ValidatorResult {
            validator: "max_amount".into(),
            passed,
            message,
        });
    }

    results
}

fn collect_strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|i| collect_strings(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect_strings(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn proposal(payload: Value, citations: usize) -> Proposal {
        let citations: Vec<Value> = (0..citations)
            .map(|i| json!({"source": format!("kb://{i}")}))
            .collect();
        serde_json::from_value(json!({
            "kind": "action", "payload": payload, "confidence": 0.5, "citations": citations
        }))
        .unwrap()
    }

    fn validators(v: Value) -> Validators {
        crate::policy::PolicySpec {
            validators: serde_json::from_value(v).unwrap(),
            ..serde_json::from_value(json!({
                "name": "p", "kind": "action", "thresholds": {"approve_at": 1, "reject_below": 0}
            }))
            .unwrap()
        }
        .validate()
        .unwrap()
        .validators
        .clone()
    }

    #[test]
    fn nothing_configured_means_nothing_run() {
        assert!(run(&Validators::default(), &proposal(json!({}), 0)).is_empty());
    }

    #[test]
    fn each_validator_passes_and_fails() {
        let v = validators(json!({
            "required_fields": ["amount", "/currency"],
            "min_citations": 1,
            "blocked_terms": ["guaranteed"],
            "max_amount": {"limit": 100}
        }));
        let good = run(
            &v,
            &proposal(json!({"amount": 50, "currency": "EUR", "note": "ok"}), 1),
        );
        assert!(good.iter().all(|r| r.passed), "{good:?}");

        let bad = run(
            &v,
            &proposal(
                json!({"amount": "150.5", "currency": null, "note": "Guaranteed!"}),
                0,
            ),
        );
        let failed: Vec<&str> = bad
            .iter()
            .filter(|r| !r.passed)
            .map(|r| r.validator.as_str())
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
        assert!(bad[0].message.contains("/currency"));
        assert!(bad[3].message.contains("exceeds the limit 100"));
    }

    #[test]
    fn a_missing_or_non_numeric_amount_fails() {
        let v = validators(json!({"max_amount": {"field": "/refund/amount", "limit": 10}}));
        assert!(!run(&v, &proposal(json!({}), 0))[0].passed);
        assert!(!run(&v, &proposal(json!({"refund": {"amount": "ten"}}), 0))[0].passed);
        assert!(run(&v, &proposal(json!({"refund": {"amount": 10}}), 0))[0].passed);
    }
}
