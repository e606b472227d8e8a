//! What the pages show, computed from domain types: short strings ready for a template.

use loopgate_core::clock::to_millis;
use loopgate_core::{Item, Permission, Principal, Review, Timestamp};
use serde_json::Value;

use super::session::Viewer;

/// The header every page shows.
#[derive(Debug, Clone)]
pub struct Nav {
    pub name: String,
    pub role: String,
    pub workspace: String,
    pub csrf: String,
    pub section: &'static str,
    pub lead: bool,
    pub admin: bool,
    pub auditor: bool,
    pub flash: Option<String>,
}

impl Nav {
    pub fn new(viewer: &Viewer, section: &'static str, flash: Option<String>) -> Self {
        let p = &viewer.principal;
        let roles: Vec<&str> = p.effective_roles().iter().map(|r| r.as_str()).collect();
        Self {
            name: p.name.clone(),
            role: if roles.is_empty() {
                p.access.to_string()
            } else {
                format!("{} ({})", p.access, roles.join(", "))
            },
            workspace: p.workspace.to_string(),
            csrf: viewer.csrf.clone(),
            section,
            lead: p.can(Permission::ManagePolicies),
            admin: p.can(Permission::ManageKeys),
            auditor: p.can(Permission::Review)
                && p.effective_roles()
                    .iter()
                    .any(|r| *r >= loopgate_core::Role::Quality),
            flash,
        }
    }
}

/// One queue row.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: String,
    pub lane: String,
    pub due_ms: i64,
    pub due_text: String,
    pub breached: bool,
    pub policy: String,
    pub customer: String,
    pub tier: String,
    pub confidence: String,
    pub stage: String,
    pub holder: Option<String>,
    pub reasons: String,
}

/// The deadline a reviewer works against: first review until claimed, then resolution.
pub fn current_due(item: &Item) -> Option<Timestamp> {
    item.sla.as_ref().map(|s| {
        if item.first_claimed_at.is_none() {
            s.first_review_due
        } else {
            s.resolve_due
        }
    })
}

pub fn row(item: &Item, now: Timestamp) -> Row {
    let due = current_due(item);
    let reasons: Vec<&str> = item
        .verdict
        .reasons
        .iter()
        .filter(|r| r.code.as_str() != "default_route")
        .map(|r| r.message.as_str())
        .collect();
    Row {
        id: item.id.to_string(),
        lane: item.lane.map_or("–".into(), |l| l.to_string()),
        due_ms: due.map_or(0, to_millis),
        due_text: due.map_or(String::new(), |d| {
            let left = (d - now).num_seconds();
            if left < 0 {
                format!("breached {}m ago", -left / 60)
            } else {
                format!("{}m", left / 60)
            }
        }),
        breached: due.is_some_and(|d| d < now),
        policy: item.policy.to_string(),
        customer: item
            .customer
            .name
            .clone()
            .unwrap_or_else(|| item.customer.id.clone()),
        tier: item.customer.tier.clone().unwrap_or_default(),
        confidence: format!("{:.2}", item.verdict.confidence.calibrated.get()),
        stage: item
            .stage
            .map_or(item.status.to_string(), |s| s.to_string()),
        holder: item.lease.as_ref().map(|l| l.holder.name.clone()),
        reasons: reasons.join(" · "),
    }
}

/// Whether the person may handle the item now: their role is high enough, and it is not their
/// own proposal waiting for confirmation.
pub fn may_handle(p: &Principal, item: &Item) -> bool {
    let highest = p.effective_roles().into_iter().max();
    let role_ok = match (highest, item.required_role) {
        (Some(h), Some(r)) => h >= r,
        _ => false,
    };
    role_ok
        && item
            .pending
            .as_ref()
            .is_none_or(|pending| pending.proposer.id != p.id)
}

/// How the edit box edits a payload: a text field of it, or the whole JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditTarget {
    /// The payload is an object with this string field (a draft's text).
    Field(String),
    /// The whole payload, as JSON.
    Json,
}

pub fn edit_target(payload: &Value) -> EditTarget {
    for key in ["text", "body", "reply", "message"] {
        if payload.get(key).is_some_and(Value::is_string) {
            return EditTarget::Field(key.to_owned());
        }
    }
    EditTarget::Json
}

/// The text the edit box starts with.
pub fn edit_value(payload: &Value, target: &EditTarget) -> String {
    match target {
        EditTarget::Field(key) => payload[key].as_str().unwrap_or_default().to_owned(),
        EditTarget::Json => serde_json::to_string_pretty(payload).unwrap_or_default(),
    }
}

/// The payload an edit box's text stands for.
pub fn edited_payload(original: &Value, target: &EditTarget, text: &str) -> Result<Value, String> {
    match target {
        EditTarget::Field(key) => {
            let mut p = original.clone();
            p[key] = Value::String(text.to_owned());
            Ok(p)
        }
        EditTarget::Json => serde_json::from_str(text)
            .map_err(|e| format!("the edited payload is not valid JSON: {e}")),
    }
}

/// A scalar JSON value as text; objects and arrays as compact JSON.
pub fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

/// A review, for the page.
#[derive(Debug, Clone)]
pub struct ReviewView {
    pub reviewer: String,
    pub role: String,
    pub stage: String,
    pub decision: String,
    pub codes: String,
    pub at: String,
    pub diff: String,
    pub rationale: String,
}

pub fn review(r: &Review) -> ReviewView {
    ReviewView {
        reviewer: r.reviewer.name.clone(),
        role: r.role.to_string(),
        stage: r.stage.to_string(),
        decision: r.decision.to_string(),
        codes: r.codes.join(", "),
        at: r.decided_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        diff: r
            .diff
            .as_ref()
            .map(|d| d.unified.clone())
            .unwrap_or_default(),
        rationale: r.rationale.clone().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drafts_edit_their_text_and_other_payloads_edit_json() {
        let draft = json!({"text": "Hello", "tone": "warm"});
        let t = edit_target(&draft);
        assert_eq!(t, EditTarget::Field("text".into()));
        assert_eq!(edit_value(&draft, &t), "Hello");
        assert_eq!(
            edited_payload(&draft, &t, "Hi").unwrap(),
            json!({"text": "Hi", "tone": "warm"})
        );
        let refund = json!({"amount": 40, "currency": "EUR"});
        let t = edit_target(&refund);
        assert_eq!(t, EditTarget::Json);
        assert_eq!(
            edited_payload(&refund, &t, r#"{"amount": 30}"#).unwrap(),
            json!({"amount": 30})
        );
        assert!(edited_payload(&refund, &t, "{oops").is_err());
    }
}
