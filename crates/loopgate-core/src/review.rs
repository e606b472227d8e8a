//! Reviews: one person's decision on one item — the decision, its codes and rubric scores, an
//! edited payload with its diff, and the time it took.

use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use similar::TextDiff;
use utoipa::ToSchema;

use crate::item::{Actor, MAX_RATIONALE_CHARS};
use crate::types::{ItemId, LeaseId, ReviewId, Role, Stage, string_enum};

string_enum!(
    /// What a reviewer decides.
    Decision {
        /// The proposal is right as it is.
        Approve => "approve",
        /// The proposal is right after the reviewer's edit (`edited_payload`).
        Edit => "edit",
        /// The proposal must not be used.
        Reject => "reject",
        /// A higher role must decide (triage → quality → sme).
        Escalate => "escalate",
        /// At confirmation only: back to review, the first person's decision discarded.
        SendBack => "send_back",
    }
);

/// The decision codes every workspace has.
pub const BUILTIN_CODES: &[(&str, &str)] = &[
    ("INCORRECT", "The output is wrong."),
    ("INCOMPLETE", "The output leaves out something needed."),
    (
        "UNSAFE",
        "The output could harm the customer or the company.",
    ),
    ("POLICY_VIOLATION", "The output breaks a written policy."),
    ("TONE", "The output's tone is wrong for the customer."),
    (
        "OUT_OF_SCOPE",
        "The request is outside what the AI should handle.",
    ),
];

/// Whether `code` is a well-formed decision code: `UPPER_SNAKE_CASE`, 2 to 40 characters.
pub fn is_code_name(code: &str) -> bool {
    (2..=40).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_uppercase())
        && code
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// Rubric scores, each an integer from 1 (poor) to 5 (excellent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rubric {
    /// Is it right?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correctness: Option<u8>,
    /// Does it cover everything needed?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completeness: Option<u8>,
    /// Does it follow written policy?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_compliance: Option<u8>,
    /// Is the tone right?
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tone: Option<u8>,
}

impl Rubric {
    fn problems(&self) -> Vec<String> {
        [
            ("correctness", self.correctness),
            ("completeness", self.completeness),
            ("policy_compliance", self.policy_compliance),
            ("tone", self.tone),
        ]
        .into_iter()
        .filter_map(|(name, score)| {
            score
                .filter(|s| !(1..=5).contains(s))
                .map(|s| format!("rubric.{name} must be an integer from 1 to 5, got {s}"))
        })
        .collect()
    }
}

/// A reviewer's decision as sent to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The lease returned by the claim. A decision under any other lease is refused.
    pub lease_id: LeaseId,
    /// The decision.
    pub decision: Decision,
    /// Decision codes, e.g. `INCORRECT`, `TONE`, or the workspace's own.
    #[serde(default)]
    pub codes: Vec<String>,
    /// Rubric scores.
    #[serde(default)]
    pub rubric: Option<Rubric>,
    /// Required with `edit`, refused otherwise: the corrected payload.
    #[serde(default)]
    pub edited_payload: Option<Value>,
    /// Why, in the reviewer's words.
    #[serde(default)]
    pub rationale: Option<String>,
}

impl DecisionRequest {
    /// Checks the request's own consistency and its codes against the workspace's catalog
    /// (`known` holds the custom codes; built-in codes are always known).
    pub fn problems(&self, known: &BTreeSet<String>) -> Vec<String> {
        let mut problems = self.rubric.map(|r| r.problems()).unwrap_or_default();
        match (self.decision, &self.edited_payload) {
            (Decision::Edit, None) => {
                problems.push("decision edit needs edited_payload: the corrected payload".into())
            }
            (d, Some(_)) if d != Decision::Edit => problems.push(format!(
                "edited_payload is only accepted with decision edit, not {d}"
            )),
            _ => {}
        }
        let mut seen = BTreeSet::new();
        for code in &self.codes {
            if !seen.insert(code) {
                problems.push(format!("code {code} is listed twice"));
            } else if !BUILTIN_CODES.iter().any(|(c, _)| c == code) && !known.contains(code) {
                problems.push(format!(
                    "unknown decision code {code:?}; use a built-in code ({}) or one defined for the workspace",
                    BUILTIN_CODES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
                ));
            }
        }
        if self
            .rationale
            .as_ref()
            .is_some_and(|r| r.chars().count() > MAX_RATIONALE_CHARS)
        {
            problems.push(format!(
                "rationale must be at most {MAX_RATIONALE_CHARS} characters"
            ));
        }
        problems
    }
}

/// An edit against the proposal, in two forms: RFC 6902 JSON Patch operations (for machines) and
/// a unified diff of the pretty-printed JSON with one line of context (for people).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PayloadDiff {
    /// JSON Patch operations turning the proposal into the edit.
    #[schema(value_type = Vec<Object>)]
    pub patch: Value,
    /// Unified diff, compact.
    pub unified: String,
}

impl PayloadDiff {
    /// The diff from `before` to `after`. When the edit only changed text fields of an object
    /// (a draft's body), the unified diff is of those texts, line by line, so a reviewer reads
    /// the sentences that changed rather than one long JSON string.
    pub fn between(before: &Value, after: &Value) -> Self {
        let patch = serde_json::to_value(json_patch::diff(before, after))
            .expect("a JSON patch always serialises");
        let unified = match changed_texts(before, after) {
            Some(texts) => texts
                .iter()
                .map(|(key, old, new)| {
                    let (old, new) = (with_newline(old), with_newline(new));
                    TextDiff::from_lines(&old, &new)
                        .unified_diff()
                        .context_radius(1)
                        .header(&format!("proposal {key}"), &format!("edited {key}"))
                        .to_string()
                })
                .collect(),
            None => {
                let (old, new) = (pretty(before), pretty(after));
                TextDiff::from_lines(&old, &new)
                    .unified_diff()
                    .context_radius(1)
                    .header("proposal", "edited")
                    .to_string()
            }
        };
        Self { patch, unified }
    }

    /// True when the two payloads were equal.
    pub fn is_empty(&self) -> bool {
        self.patch.as_array().is_some_and(Vec::is_empty)
    }
}

/// The changed fields of two objects with the same keys, when every change is text to text.
fn changed_texts<'a>(
    before: &'a Value,
    after: &'a Value,
) -> Option<Vec<(&'a str, &'a str, &'a str)>> {
    let (Value::Object(b), Value::Object(a)) = (before, after) else {
        return None;
    };
    if b.len() != a.len() || b.keys().any(|k| !a.contains_key(k)) {
        return None;
    }
    let mut texts = Vec::new();
    for (key, old) in b {
        let new = &a[key];
        if old == new {
            continue;
        }
        match (old, new) {
            (Value::String(o), Value::String(n)) => {
                texts.push((key.as_str(), o.as_str(), n.as_str()))
            }
            _ => return None,
        }
    }
    (!texts.is_empty()).then_some(texts)
}

fn with_newline(s: &str) -> String {
    let mut s = s.to_owned();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("a JSON value always serialises");
    s.push('\n');
    s
}

/// One person's decision on one item, as recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Review {
    /// Unique id.
    pub id: ReviewId,
    /// The item.
    pub item_id: ItemId,
    /// Who decided.
    pub reviewer: Actor,
    /// The role they decided in.
    pub role: Role,
    /// The stage decided.
    pub stage: Stage,
    /// The decision.
    pub decision: Decision,
    /// Decision codes.
    pub codes: Vec<String>,
    /// Rubric scores.
    pub rubric: Option<Rubric>,
    /// The edited payload, for `edit`.
    pub edited_payload: Option<Value>,
    /// The edit's diff against the proposal, for `edit`.
    pub diff: Option<PayloadDiff>,
    /// The reviewer's rationale.
    pub rationale: Option<String>,
    /// The lease it was decided under.
    pub lease_id: LeaseId,
    /// When the reviewer claimed the item.
    pub claimed_at: DateTime<Utc>,
    /// When they decided.
    pub decided_at: DateTime<Utc>,
    /// Milliseconds from claim to decision.
    pub time_on_task_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(v: Value) -> DecisionRequest {
        let mut v = v;
        v["lease_id"] = json!(LeaseId::new());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn edit_needs_a_payload_and_only_edit_takes_one() {
        let none = BTreeSet::new();
        assert!(
            !request(json!({"decision": "edit"}))
                .problems(&none)
                .is_empty()
        );
        assert!(
            !request(json!({"decision": "approve", "edited_payload": {}}))
                .problems(&none)
                .is_empty()
        );
        assert!(
            request(json!({"decision": "edit", "edited_payload": {"a": 1}}))
                .problems(&none)
                .is_empty()
        );
    }

    #[test]
    fn codes_must_be_known_and_rubric_in_range() {
        let custom: BTreeSet<String> = ["WRONG_CURRENCY".to_owned()].into();
        let r = request(json!({
            "decision": "reject", "codes": ["TONE", "WRONG_CURRENCY", "MADE_UP", "TONE"],
            "rubric": {"correctness": 0, "tone": 5}
        }));
        let problems = r.problems(&custom).join("\n");
        assert!(problems.contains("MADE_UP"), "{problems}");
        assert!(problems.contains("listed twice"), "{problems}");
        assert!(problems.contains("rubric.correctness"), "{problems}");
        assert!(!problems.contains("WRONG_CURRENCY"), "{problems}");
        assert!(serde_json::from_value::<Rubric>(json!({"accuracy": 3})).is_err());
    }

    #[test]
    fn diff_shows_only_what_changed() {
        let before = json!({"subject": "Refund", "text": "We will refund 50 EUR.", "sign": "Ana"});
        let after = json!({"subject": "Refund", "text": "We will refund 45 EUR.", "sign": "Ana"});
        let d = PayloadDiff::between(&before, &after);
        assert_eq!(
            d.patch,
            json!([{"op": "replace", "path": "/text", "value": "We will refund 45 EUR."}])
        );
        assert!(
            d.unified.contains("-We will refund 50 EUR."),
            "{}",
            d.unified
        );
        assert!(
            d.unified.contains("+We will refund 45 EUR."),
            "{}",
            d.unified
        );
        assert!(!d.is_empty());
        assert!(PayloadDiff::between(&before, &before).is_empty());
    }

    #[test]
    fn text_edits_diff_by_line_and_other_edits_by_json() {
        let before = json!({"text": "Hello Ana,\nwe fixed it.\nBest regards"});
        let after = json!({"text": "Hello Ana,\nwe fixed it.\nKind regards, Quinn"});
        let d = PayloadDiff::between(&before, &after);
        assert!(d.unified.contains("--- proposal text"), "{}", d.unified);
        assert!(
            d.unified.contains("-Best regards\n+Kind regards, Quinn"),
            "{}",
            d.unified
        );
        assert!(!d.unified.contains("Hello Ana,\\n"), "{}", d.unified);
        let d = PayloadDiff::between(&json!({"amount": 50}), &json!({"amount": 45}));
        assert!(d.unified.contains("-  \"amount\": 50"), "{}", d.unified);
    }

    #[test]
    fn code_names_are_upper_snake() {
        assert!(is_code_name("WRONG_CURRENCY"));
        assert!(!is_code_name("wrong"));
        assert!(!is_code_name("_X"));
    }
}
