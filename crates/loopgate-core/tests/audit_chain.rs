//! The audit hash chain over real item histories: the events of a random review run, chained,
//! verify; changing any field of any single entry, or removing any entry, is caught and the
//! first bad entry is named.

mod common;

use chrono::Duration;
use common::sim::{Scenario, World, scenario};
use common::{LEASE, at, policy, queued_item, request, reviewer, t0};
use loopgate_core::audit::GENESIS;
use loopgate_core::{
    AuditEntry, AuditEvent, ChainBreak, ChainHead, ChainVerifier, Decision, ItemId, LeaseId,
    PrincipalId, Role, Timestamp, WorkspaceId,
};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The submission event and every successful transition of a run, with the time it happened.
fn history(s: &Scenario) -> Vec<(Timestamp, AuditEvent)> {
    let mut world = World::new(s);
    let mut events = vec![(t0(), world.item.submitted_event())];
    for op in &s.ops {
        let now = world.now();
        if let Some(Ok(event)) = world.apply(op) {
            events.push((now, event));
        }
    }
    events
}

fn chain(events: Vec<(Timestamp, AuditEvent)>) -> Vec<AuditEntry> {
    let ws = WorkspaceId::default_workspace();
    let mut head = ChainHead::genesis();
    events
        .into_iter()
        .map(|(when, event)| {
            let entry = AuditEntry::chain(&head, &ws, when, event);
            head = entry.head();
            entry
        })
        .collect()
}

fn verify(entries: &[AuditEntry], recorded: Option<&ChainHead>) -> Result<i64, ChainBreak> {
    let mut v = ChainVerifier::new(WorkspaceId::default_workspace());
    for e in entries {
        v.push(e)?;
    }
    v.finish(recorded)
}

/// The seq a chain break names as the first bad entry.
fn named(err: &ChainBreak) -> i64 {
    match err {
        ChainBreak::Gap { expected, .. } => *expected,
        ChainBreak::BrokenLink { seq, .. } | ChainBreak::Altered { seq, .. } => *seq,
        ChainBreak::Truncated { last, .. } => *last + 1,
    }
}

/// A change to one field of a stored entry.
#[derive(Debug, Clone, Copy)]
enum Tamper {
    Workspace,
    Seq(i64),
    At(i64),
    ItemId,
    ActorId,
    ActorName,
    ActorRole,
    Action,
    From,
    To,
    DetailAdd,
    DetailRemove,
    DetailNested,
    PrevHash,
    Hash,
}

fn tamper() -> impl Strategy<Value = Tamper> {
    prop_oneof![
        Just(Tamper::Workspace),
        prop_oneof![Just(-1i64), Just(1), Just(7)].prop_map(Tamper::Seq),
        prop_oneof![-86_400_000..=-1i64, 1..=86_400_000i64].prop_map(Tamper::At),
        Just(Tamper::ItemId),
        Just(Tamper::ActorId),
        Just(Tamper::ActorName),
        Just(Tamper::ActorRole),
        Just(Tamper::Action),
        Just(Tamper::From),
        Just(Tamper::To),
        Just(Tamper::DetailAdd),
        Just(Tamper::DetailRemove),
        Just(Tamper::DetailNested),
        Just(Tamper::PrevHash),
        Just(Tamper::Hash),
    ]
}

fn other(s: &Option<String>) -> Option<String> {
    match s {
        Some(v) => Some(format!("{v}x")),
        None => Some("queued".to_owned()),
    }
}

fn flip_hex(h: &str) -> String {
    let mut chars: Vec<char> = h.chars().collect();
    chars[0] = if chars[0] == '0' { '1' } else { '0' };
    chars.into_iter().collect()
}

fn apply(t: Tamper, e: &mut AuditEntry) {
    match t {
        Tamper::Workspace => e.workspace = WorkspaceId::parse("other").unwrap(),
        Tamper::Seq(d) => e.seq += d,
        Tamper::At(ms) => e.at += Duration::milliseconds(ms),
        Tamper::ItemId => e.item_id = Some(ItemId::new()),
        Tamper::ActorId => {
            e.actor.id = match e.actor.id {
                Some(_) => None,
                None => Some(PrincipalId::new()),
            }
        }
        Tamper::ActorName => e.actor.name.push('x'),
        Tamper::ActorRole => {
            e.actor.role = if e.actor.role == "sme" { "lead" } else { "sme" }.to_owned()
        }
        Tamper::Action => {
            e.action = if e.action == "approved" {
                "rejected"
            } else {
                "approved"
            }
            .to_owned()
        }
        Tamper::From => e.from = other(&e.from),
        Tamper::To => e.to = other(&e.to),
        Tamper::DetailAdd => {
            e.detail["tampered"] = json!(true);
        }
        Tamper::DetailRemove => {
            let map = e.detail.as_object_mut().expect("details are objects");
            let key = map.keys().next().expect("details are not empty").clone();
            map.remove(&key);
        }
        Tamper::DetailNested => {
            let after = &mut e.detail["after"]["status"];
            *after = if *after == json!("approved") {
                json!("rejected")
            } else {
                json!("approved")
            };
        }
        Tamper::PrevHash => e.prev_hash = flip_hex(&e.prev_hash),
        Tamper::Hash => e.hash = flip_hex(&e.hash),
    }
}

#[test]
fn a_two_person_review_history_verifies_entry_by_entry() {
    let mut item = queued_item(&policy(json!({"two_person": true})));
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Quality]);
    let codes = Default::default();
    let mut events = vec![(t0(), item.submitted_event())];
    let lease = LeaseId::new();
    events.push((at(10), item.claim(&ana, lease, at(10), LEASE).unwrap()));
    let decided = item.decide(&ana, &request(lease, Decision::Approve), &codes, at(20));
    events.push((at(20), decided.unwrap().0));
    let lease = LeaseId::new();
    events.push((at(30), item.claim(&bo, lease, at(30), LEASE).unwrap()));
    let decided = item.decide(&bo, &request(lease, Decision::Approve), &codes, at(40));
    events.push((at(40), decided.unwrap().0));

    let entries = chain(events);
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["submitted", "claimed", "approved", "claimed", "confirmed"]
    );
    assert_eq!(entries[0].prev_hash, GENESIS);
    for pair in entries.windows(2) {
        assert_eq!(pair[1].prev_hash, pair[0].hash);
        assert_eq!(pair[1].seq, pair[0].seq + 1);
    }
    assert_eq!(verify(&entries, Some(&entries[4].head())), Ok(5));

    // Stored as JSON and read back, the chain still verifies.
    let stored: Value = serde_json::to_value(&entries).unwrap();
    let back: Vec<AuditEntry> = serde_json::from_value(stored).unwrap();
    assert_eq!(verify(&back, Some(&entries[4].head())), Ok(5));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn a_random_history_verifies_and_any_altered_field_is_caught(
        s in scenario(30),
        pick in any::<prop::sample::Index>(),
        t in tamper(),
    ) {
        let entries = chain(history(&s));
        let n = entries.len();
        let head = entries[n - 1].head();
        prop_assert_eq!(verify(&entries, Some(&head)), Ok(n as i64));

        let k = pick.index(n);
        let mut forged = entries.clone();
        apply(t, &mut forged[k]);
        prop_assert_ne!(&forged[k], &entries[k], "{:?} changed nothing", t);
        let err = verify(&forged, Some(&head)).expect_err("tampering must be detected");
        prop_assert_eq!(named(&err), entries[k].seq, "{:?} on entry {} reported as {}", t, k + 1, err);
    }

    #[test]
    fn removing_any_entry_is_caught(s in scenario(30), pick in any::<prop::sample::Index>()) {
        let entries = chain(history(&s));
        let head = entries[entries.len() - 1].head();
        let k = pick.index(entries.len());
        let mut cut = entries.clone();
        cut.remove(k);
        let err = verify(&cut, Some(&head)).expect_err("a removal must be detected");
        prop_assert_eq!(named(&err), entries[k].seq, "{}", err);
    }
}

/// A fresh item of every route (approved, rejected, queued in each lane, forced, validated),
/// from `confidence` and a submission's overrides.
fn fresh_item(confidence: f64, overrides: Value) -> loopgate_core::Item {
    let policy = policy(json!({
        "validators": {"blocked_terms": ["refund"], "required_fields": ["text"]},
        "customer_rules": {"review_tiers": ["strategic"]},
        "routing": {"rules": [
            {"name": "lawyer", "when": {"signal": "legal"}, "then": {"force_review": true}}
        ]}
    }));
    common::item_from(&policy, common::submission(confidence, overrides))
}

proptest! {
    #[test]
    fn a_submitted_entry_rendered_directly_is_the_one_its_value_gives(
        confidence in 0.0..=1.0f64,
        signal in prop::sample::select(vec!["", "legal", "urgent", "churn_risk"]),
        tier in prop::sample::select(vec!["standard", "strategic", "enterprise"]),
        text in prop::sample::select(vec!["Hello", "A refund, \"now\" \u{e9}\u{1F600}", ""]),
    ) {
        let signals: Vec<&str> = if signal.is_empty() { vec![] } else { vec![signal] };
        let item = fresh_item(confidence, json!({
            "signals": signals,
            "customer": {"tier": tier},
            "proposal": {"payload": {"text": text}},
        }));
        let direct = item.submitted_prepared();
        let via_value = loopgate_core::audit::PreparedEvent::new(item.created_at, item.submitted_event());
        prop_assert_eq!(&direct.detail_json, &via_value.detail_json);
        prop_assert_eq!(&direct.tail, &via_value.tail);
        // And it verifies as stored: the entry read back hashes to what was linked.
        let ws = WorkspaceId::default_workspace();
        let head = direct.link(&ChainHead::genesis(), &loopgate_core::audit::json_text(ws.as_str()));
        let entry = AuditEntry::chain(&ChainHead::genesis(), &ws, item.created_at, item.submitted_event());
        prop_assert_eq!(head, entry.head());
    }
}
