//! A random walk through the review state machine, for the property tests: a generated scenario
//! (a policy, three reviewers, a list of operations) and a world that applies the operations to
//! one item, with time on a `ManualClock`.

use std::collections::BTreeSet;

use chrono::Duration;
use loopgate_core::{
    AuditEvent, Clock, Decision, DecisionRequest, Item, LeaseId, ManualClock, Reviewer, Role,
    Rubric, Timestamp, TransitionError,
};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{policy, queued_item, request, reviewer, t0};

/// Payloads an edit may carry. The first equals the proposal's payload.
pub const EDITS: [&str; 3] = [
    "Hello",
    "Hello, your invoice is attached.",
    "Hi, the invoice is on its way.",
];

/// What a reviewer sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionKind {
    Approve,
    Reject,
    Escalate,
    SendBack,
    /// An edit to `EDITS[i]`.
    Edit(usize),
    /// Invalid: `edit` without a payload.
    EditWithoutPayload,
    /// Invalid: a decision code nobody defined.
    UnknownCode,
    /// Invalid: a rubric score out of range.
    BadRubric,
    /// Valid: a workspace's own code and a rubric.
    RejectWithCustomCode,
}

/// Which lease a decision is sent under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseChoice {
    /// The item's current lease, or the latest one issued when none is current.
    Current,
    /// Some lease issued earlier (picked by index, modulo how many were issued).
    Earlier(usize),
    /// A lease id never issued.
    Unknown,
}

/// One step of a scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Claim {
        who: usize,
        lease_seconds: i64,
    },
    Decide {
        /// A reviewer by index, or `None` for whoever holds the lease (the first reviewer when
        /// nobody does).
        who: Option<usize>,
        decision: DecisionKind,
        lease: LeaseChoice,
    },
    Expire,
    Advance {
        seconds: i64,
    },
}

/// A generated run: the policy's shape, three reviewers' roles, and the operations.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub two_person: bool,
    pub irreversible: bool,
    pub start_role: Role,
    pub roles: [Vec<Role>; 3],
    pub ops: Vec<Op>,
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn roles() -> impl Strategy<Value = Vec<Role>> {
    // Mostly one role, sometimes several, rarely none.
    prop_oneof![
        6 => role().prop_map(|r| vec![r]),
        2 => prop::collection::vec(role(), 2..=3),
        1 => Just(Vec::new()),
    ]
}

fn decision() -> impl Strategy<Value = DecisionKind> {
    prop_oneof![
        6 => Just(DecisionKind::Approve),
        1 => Just(DecisionKind::Reject),
        2 => Just(DecisionKind::Escalate),
        2 => Just(DecisionKind::SendBack),
        4 => (0..EDITS.len()).prop_map(DecisionKind::Edit),
        1 => Just(DecisionKind::EditWithoutPayload),
        1 => Just(DecisionKind::UnknownCode),
        1 => Just(DecisionKind::BadRubric),
        1 => Just(DecisionKind::RejectWithCustomCode),
    ]
}

fn lease_choice() -> impl Strategy<Value = LeaseChoice> {
    prop_oneof![
        6 => Just(LeaseChoice::Current),
        2 => any::<usize>().prop_map(LeaseChoice::Earlier),
        1 => Just(LeaseChoice::Unknown),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3usize, 1..=600i64).prop_map(|(who, lease_seconds)| Op::Claim { who, lease_seconds }),
        6 => (prop::option::weighted(0.4, 0..3usize), decision(), lease_choice())
            .prop_map(|(who, decision, lease)| Op::Decide { who, decision, lease }),
        1 => Just(Op::Expire),
        2 => (0..=900i64).prop_map(|seconds| Op::Advance { seconds }),
    ]
}

/// Random scenarios of up to `max_ops` operations.
pub fn scenario(max_ops: usize) -> impl Strategy<Value = Scenario> {
    (
        any::<bool>(),
        prop::bool::weighted(0.2),
        role(),
        [roles(), roles(), roles()],
        prop::collection::vec(op(), 0..=max_ops),
    )
        .prop_map(
            |(two_person, irreversible, start_role, roles, ops)| Scenario {
                two_person,
                irreversible,
                start_role,
                roles,
                ops,
            },
        )
}

/// One item and the people and clock acting on it.
#[derive(Debug)]
pub struct World {
    pub item: Item,
    pub reviewers: Vec<Reviewer>,
    pub clock: ManualClock,
    /// Every lease id handed out, oldest first.
    pub leases: Vec<LeaseId>,
    pub known_codes: BTreeSet<String>,
}

impl World {
    /// A queued item under the scenario's policy, at `t0`.
    pub fn new(s: &Scenario) -> Self {
        let policy = policy(json!({
            "two_person": s.two_person,
            "risk": if s.irreversible { "irreversible" } else { "reversible" },
            "routing": {"default_role": s.start_role},
        }));
        let names = ["ana", "bo", "cy"];
        Self {
            item: queued_item(&policy),
            reviewers: names
                .iter()
                .zip(&s.roles)
                .map(|(name, roles)| reviewer(name, roles))
                .collect(),
            clock: ManualClock::new(t0()),
            leases: Vec::new(),
            known_codes: ["WRONG_CURRENCY".to_owned()].into(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Applies `op`; `None` for an operation that is not a transition (moving time).
    pub fn apply(&mut self, op: &Op) -> Option<Result<AuditEvent, TransitionError>> {
        let now = self.clock.now();
        match *op {
            Op::Advance { seconds } => {
                self.clock.advance(Duration::seconds(seconds));
                None
            }
            Op::Expire => Some(self.item.expire_lease(now)),
            Op::Claim { who, lease_seconds } => {
                let lease_id = LeaseId::new();
                let result = self.item.claim(
                    &self.reviewers[who],
                    lease_id,
                    now,
                    Duration::seconds(lease_seconds),
                );
                if result.is_ok() {
                    self.leases.push(lease_id);
                }
                Some(result)
            }
            Op::Decide {
                who,
                decision,
                lease,
            } => {
                let lease_id = self.pick_lease(lease);
                let req = decision_request(lease_id, decision);
                let who = who.unwrap_or_else(|| self.holder().unwrap_or(0));
                Some(
                    self.item
                        .decide(&self.reviewers[who], &req, &self.known_codes, now)
                        .map(|(event, _review)| event),
                )
            }
        }
    }

    /// The index of the reviewer holding the item's lease, if any.
    fn holder(&self) -> Option<usize> {
        let lease = self.item.lease.as_ref()?;
        self.reviewers
            .iter()
            .position(|r| r.actor.id == lease.holder.id)
    }

    fn pick_lease(&self, choice: LeaseChoice) -> LeaseId {
        let latest = self
            .item
            .lease
            .as_ref()
            .map(|l| l.id)
            .or_else(|| self.leases.last().copied());
        match choice {
            LeaseChoice::Current => latest.unwrap_or_default(),
            LeaseChoice::Earlier(i) if !self.leases.is_empty() => {
                self.leases[i % self.leases.len()]
            }
            LeaseChoice::Earlier(_) | LeaseChoice::Unknown => LeaseId::new(),
        }
    }
}

/// The request a reviewer sends for `decision` under `lease_id`.
pub fn decision_request(lease_id: LeaseId, decision: DecisionKind) -> DecisionRequest {
    let edited = |text: &str| -> Value { json!({"text": text}) };
    match decision {
        DecisionKind::Approve => request(lease_id, Decision::Approve),
        DecisionKind::Reject => request(lease_id, Decision::Reject),
        DecisionKind::Escalate => request(lease_id, Decision::Escalate),
        DecisionKind::SendBack => request(lease_id, Decision::SendBack),
        DecisionKind::Edit(i) => super::edit(lease_id, edited(EDITS[i])),
        DecisionKind::EditWithoutPayload => request(lease_id, Decision::Edit),
        DecisionKind::UnknownCode => DecisionRequest {
            codes: vec!["MADE_UP".to_owned()],
            ..request(lease_id, Decision::Reject)
        },
        DecisionKind::BadRubric => DecisionRequest {
            rubric: Some(Rubric {
                tone: Some(9),
                ..Rubric::default()
            }),
            ..request(lease_id, Decision::Approve)
        },
        DecisionKind::RejectWithCustomCode => DecisionRequest {
            codes: vec!["WRONG_CURRENCY".to_owned(), "TONE".to_owned()],
            rubric: Some(Rubric {
                correctness: Some(2),
                ..Rubric::default()
            }),
            ..request(lease_id, Decision::Reject)
        },
    }
}
