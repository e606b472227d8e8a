//! The review state machine. Every transition checks who may make it and from which state,
//! changes the item, and returns exactly one audit event describing the change.
//!
//! ```text
//! received ─► auto_approved | auto_rejected | queued
//! queued ─claim─► in_review ─approve/edit─► approved | edited            (one person)
//!                           ─approve/edit─► awaiting_confirmation        (two people)
//!                           ─reject─► rejected
//!                           ─escalate─► queued (next role)
//!                           ─lease lapses─► queued
//! awaiting_confirmation ─claim (not the proposer)─► in_review (confirm)
//!                           ─approve─► approved | edited   ─reject─► rejected
//!                           ─edit─► awaiting_confirmation (the editor becomes the proposer)
//!                           ─send_back─► queued            ─escalate─► queued (next role)
//!                           ─lease lapses─► awaiting_confirmation
//! ```

use std::collections::BTreeSet;

use chrono::Duration;
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{AuditAction, AuditActor, AuditEvent, PreparedEvent};
use crate::clock::Timestamp;
use crate::item::{Actor, Item, Lease, Outcome, PendingApproval, Submission};
use crate::policy::Policy;
use crate::review::{Decision, DecisionRequest, PayloadDiff, Review};
use crate::types::{
    ItemId, Lane, LeaseId, PolicyName, Probability, ReviewId, Role, Stage, Status, WorkspaceId,
};
use crate::verdict::{Band, ReasonCode, Route, Step};

/// A person acting as a reviewer, with the roles they may act in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reviewer {
    /// Who.
    pub actor: Actor,
    /// Reviewer roles they hold (leads and admins hold all).
    pub roles: Vec<Role>,
}

impl Reviewer {
    /// Their highest role, if any.
    pub fn highest_role(&self) -> Option<Role> {
        self.roles.iter().copied().max()
    }

    /// Whether they may review an item that requires `role`: they hold it or a higher one.
    pub fn may_review(&self, role: Role) -> bool {
        self.highest_role().is_some_and(|r| r >= role)
    }
}

/// Why a transition was refused. Each is the caller's to fix, never an internal failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// Only queued items, and items awaiting confirmation, can be claimed.
    #[error("item is {status}; only queued items and items awaiting confirmation can be claimed")]
    NotClaimable {
        /// The item's status.
        status: Status,
    },
    /// The reviewer's roles are below the item's required role.
    #[error("item requires role {required}; you hold {held}")]
    RoleTooLow {
        /// The role required.
        required: Role,
        /// What the reviewer holds.
        held: String,
    },
    /// The person who proposed an approval may not confirm it.
    #[error("you proposed this approval; a different person must confirm it")]
    ProposerCannotConfirm,
    /// The caller does not hold the item's current lease.
    #[error(
        "lease {lease_id} is not the item's current lease (the item is {status}); claim it again"
    )]
    LeaseNotHeld {
        /// The lease presented.
        lease_id: LeaseId,
        /// The item's status now.
        status: Status,
    },
    /// The caller's lease lapsed before the decision.
    #[error("lease {lease_id} expired at {expired_at}; claim the item again")]
    LeaseExpired {
        /// The lease presented.
        lease_id: LeaseId,
        /// When it expired.
        expired_at: Timestamp,
    },
    /// The item is at the highest role already.
    #[error("item is already at role sme, the highest; approve, edit or reject it")]
    CannotEscalate,
    /// `send_back` outside confirmation.
    #[error("send_back is only possible when confirming another person's approval")]
    SendBackOutsideConfirmation,
    /// An edit that changes nothing.
    #[error("edited_payload equals the payload under review; use approve instead")]
    EditChangesNothing,
    /// The lease has not lapsed.
    #[error("the lease has not expired")]
    LeaseNotExpired,
    /// The decision request is inconsistent.
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// The state fields an audit entry records before and after a transition.
#[derive(Debug, Serialize)]
struct Snapshot<'a> {
    status: Status,
    stage: Option<Stage>,
    required_role: Option<Role>,
    lane: Option<Lane>,
    lease: Option<&'a Lease>,
    pending_outcome: Option<Status>,
    proposer: Option<&'a str>,
}

impl Item {
    /// A new item from a routed submission.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: ItemId,
        workspace: WorkspaceId,
        policy: &Policy,
        policy_version: u32,
        submission: Submission,
        route: Route,
        submitted_by: Actor,
        now: Timestamp,
    ) -> Self {
        let outcome = match route.status {
            Status::AutoApproved => Some(Outcome {
                status: Status::AutoApproved,
                payload: Some(submission.proposal.payload.clone()),
                decided_by: Vec::new(),
                decided_at: now,
            }),
            Status::AutoRejected => Some(Outcome {
                status: Status::AutoRejected,
                payload: None,
                decided_by: Vec::new(),
                decided_at: now,
            }),
            _ => None,
        };
        let mut item = Self {
            id,
            workspace,
            policy: submission.policy,
            policy_version,
            status: route.status,
            is_final: false,
            stage: None,
            lane: route.lane,
            required_role: route.required_role,
            sla: route.sla,
            two_person: policy.needs_two_people(),
            input: submission.input,
            customer: submission.customer,
            proposal: submission.proposal,
            signals: submission.signals,
            verdict: route.verdict,
            lease: None,
            pending: None,
            outcome,
            escalations: 0,
            submitted_by,
            created_at: now,
            updated_at: now,
            first_claimed_at: None,
            representative: false,
        };
        item.settle();
        item
    }

    /// The audit event of the item's creation.
    pub fn submitted_event(&self) -> AuditEvent {
        AuditEvent {
            item_id: Some(self.id),
            actor: AuditActor::person(&self.submitted_by, "agent"),
            action: AuditAction::Submitted,
            from: Some("received".to_owned()),
            to: Some(self.status.as_str().to_owned()),
            detail: json!({
                "policy": self.policy,
                "policy_version": self.policy_version,
                "after": self.snapshot(),
                "band": self.verdict.band,
                "confidence": self.verdict.confidence,
                "reasons": self.verdict.reasons,
            }),
        }
    }

    /// The `submitted` event rendered for the chain: the same entry as
    /// `PreparedEvent::new(self.created_at, self.submitted_event())`, with the detail written
    /// straight to JSON text rather than through a `serde_json::Value`, which a batch of a
    /// thousand items would build and drop a thousand times.
    pub fn submitted_prepared(&self) -> PreparedEvent {
        if self.lease.is_some() || self.pending.is_some() {
            // Not as submitted: the general path renders whatever it holds.
            return PreparedEvent::new(self.created_at, self.submitted_event());
        }
        // Field order is key order: a `Value` writes its keys sorted.
        #[derive(Serialize)]
        struct Detail<'a> {
            after: After,
            band: Band,
            confidence: Confidence<'a>,
            policy: &'a PolicyName,
            policy_version: u32,
            reasons: Vec<SortedReason<'a>>,
        }
        #[derive(Serialize)]
        struct After {
            lane: Option<Lane>,
            lease: Option<()>,
            pending_outcome: Option<()>,
            proposer: Option<()>,
            required_role: Option<Role>,
            stage: Option<Stage>,
            status: Status,
        }
        #[derive(Serialize)]
        struct Confidence<'a> {
            calibrated: Probability,
            calibrator: &'a str,
            raw: Probability,
        }
        #[derive(Serialize)]
        struct SortedReason<'a> {
            code: ReasonCode,
            message: &'a str,
            step: Step,
        }
        let v = &self.verdict;
        let detail = Detail {
            after: After {
                lane: self.lane,
                lease: None,
                pending_outcome: None,
                proposer: None,
                required_role: self.required_role,
                stage: self.stage,
                status: self.status,
            },
            band: v.band,
            confidence: Confidence {
                calibrated: v.confidence.calibrated,
                calibrator: &v.confidence.calibrator,
                raw: v.confidence.raw,
            },
            policy: &self.policy,
            policy_version: self.policy_version,
            reasons: v
                .reasons
                .iter()
                .map(|r| SortedReason {
                    code: r.code,
                    message: &r.message,
                    step: r.step,
                })
                .collect(),
        };
        PreparedEvent::rendered(
            self.created_at,
            Some(self.id),
            AuditActor::person(&self.submitted_by, "agent"),
            AuditAction::Submitted,
            Some("received".to_owned()),
            Some(self.status.as_str().to_owned()),
            serde_json::to_string(&detail).expect("a submitted detail always serialises"),
        )
    }

    fn snapshot(&self) -> Value {
        serde_json::to_value(Snapshot {
            status: self.status,
            stage: self.stage,
            required_role: self.required_role,
            lane: self.lane,
            lease: self.lease.as_ref(),
            pending_outcome: self.pending.as_ref().map(|p| p.outcome),
            proposer: self.pending.as_ref().map(|p| p.proposer.name.as_str()),
        })
        .expect("a snapshot always serialises")
    }

    fn event(
        &self,
        actor: AuditActor,
        action: AuditAction,
        from: Status,
        before: Value,
        extra: Value,
    ) -> AuditEvent {
        let mut detail = json!({"before": before, "after": self.snapshot()});
        if let (Value::Object(d), Value::Object(e)) = (&mut detail, extra) {
            d.extend(e);
        }
        AuditEvent {
            item_id: Some(self.id),
            actor,
            action,
            from: Some(from.as_str().to_owned()),
            to: Some(self.status.as_str().to_owned()),
            detail,
        }
    }

    /// Leases the item to `reviewer` until `now + lease_for`.
    pub fn claim(
        &mut self,
        reviewer: &Reviewer,
        lease_id: LeaseId,
        now: Timestamp,
        lease_for: Duration,
    ) -> Result<AuditEvent, TransitionError> {
        if !matches!(self.status, Status::Queued | Status::AwaitingConfirmation) {
            return Err(TransitionError::NotClaimable {
                status: self.status,
            });
        }
        let required = self.required_role.unwrap_or(Role::Triage);
        let Some(role) = reviewer.highest_role().filter(|r| *r >= required) else {
            return Err(TransitionError::RoleTooLow {
                required,
                held: held(reviewer),
            });
        };
        if self
            .pending
            .as_ref()
            .is_some_and(|p| p.proposer.id == reviewer.actor.id)
        {
            return Err(TransitionError::ProposerCannotConfirm);
        }
        let before = self.snapshot();
        let from = self.status;
        self.lease = Some(Lease {
            id: lease_id,
            holder: reviewer.actor.clone(),
            role,
            claimed_at: now,
            expires_at: now + lease_for,
        });
        self.status = Status::InReview;
        self.first_claimed_at.get_or_insert(now);
        self.updated_at = now;
        self.settle();
        Ok(self.event(
            AuditActor::person(&reviewer.actor, role.as_str()),
            AuditAction::Claimed,
            from,
            before,
            json!({"lease_id": lease_id, "expires_at": now + lease_for}),
        ))
    }

    /// Whether the item is leased and the lease has lapsed at `now`.
    pub fn lease_expired(&self, now: Timestamp) -> bool {
        self.status == Status::InReview && self.lease.as_ref().is_some_and(|l| now >= l.expires_at)
    }

    /// Returns an item whose lease lapsed to where it was before the claim.
    pub fn expire_lease(&mut self, now: Timestamp) -> Result<AuditEvent, TransitionError> {
        if !self.lease_expired(now) {
            return Err(TransitionError::LeaseNotExpired);
        }
        let before = self.snapshot();
        let lease = self.lease.take().expect("checked by lease_expired");
        self.status = if self.pending.is_some() {
            Status::AwaitingConfirmation
        } else {
            Status::Queued
        };
        self.updated_at = now;
        self.settle();
        Ok(self.event(
            AuditActor::system("lease-expiry"),
            AuditAction::LeaseExpired,
            Status::InReview,
            before,
            json!({"lease_id": lease.id, "holder": lease.holder.name, "expired_at": lease.expires_at}),
        ))
    }

    /// Records `reviewer`'s decision under their lease. `known_codes` are the workspace's own
    /// decision codes (built-in codes are always known).
    pub fn decide(
        &mut self,
        reviewer: &Reviewer,
        request: &DecisionRequest,
        known_codes: &BTreeSet<String>,
        now: Timestamp,
    ) -> Result<(AuditEvent, Review), TransitionError> {
        let problems = request.problems(known_codes);
        if !problems.is_empty() {
            return Err(TransitionError::Invalid(problems));
        }
        let lease = match &self.lease {
            Some(l) if l.id == request.lease_id && l.holder.id == reviewer.actor.id => l.clone(),
            _ => {
                return Err(TransitionError::LeaseNotHeld {
                    lease_id: request.lease_id,
                    status: self.status,
                });
            }
        };
        if now >= lease.expires_at {
            return Err(TransitionError::LeaseExpired {
                lease_id: lease.id,
                expired_at: lease.expires_at,
            });
        }

        let confirming = self.pending.clone();
        if confirming
            .as_ref()
            .is_some_and(|p| p.proposer.id == reviewer.actor.id)
        {
            return Err(TransitionError::ProposerCannotConfirm);
        }
        let before = self.snapshot();
        let stage = if confirming.is_some() {
            Stage::Confirm
        } else {
            Stage::from(self.required_role.unwrap_or(Role::Triage))
        };
        let under_review = confirming
            .as_ref()
            .map_or(&self.proposal.payload, |p| &p.payload)
            .clone();
        let diff = match (&request.decision, &request.edited_payload) {
            (Decision::Edit, Some(edited)) => {
                if *edited == under_review {
                    return Err(TransitionError::EditChangesNothing);
                }
                Some(PayloadDiff::between(&self.proposal.payload, edited))
            }
            _ => None,
        };
        let review = Review {
            id: ReviewId::new(),
            item_id: self.id,
            reviewer: reviewer.actor.clone(),
            role: lease.role,
            stage,
            decision: request.decision,
            codes: request.codes.clone(),
            rubric: request.rubric,
            edited_payload: request.edited_payload.clone(),
            diff: diff.clone(),
            rationale: request.rationale.clone(),
            lease_id: lease.id,
            claimed_at: lease.claimed_at,
            decided_at: now,
            time_on_task_ms: (now - lease.claimed_at).num_milliseconds(),
        };

        let deciders = |last: &Actor| match &confirming {
            Some(p) => vec![p.proposer.clone(), last.clone()],
            None => vec![last.clone()],
        };
        let action = match (request.decision, &confirming) {
            (Decision::Approve | Decision::Edit, None) if self.two_person => {
                let (outcome, payload, action) = match &request.edited_payload {
                    Some(p) => (Status::Edited, p.clone(), AuditAction::Edited),
                    None => (Status::Approved, under_review, AuditAction::Approved),
                };
                self.pending = Some(PendingApproval {
                    review_id: review.id,
                    proposer: reviewer.actor.clone(),
                    outcome,
                    payload,
                    diff: diff.clone(),
                    proposed_at: now,
                });
                self.status = Status::AwaitingConfirmation;
                action
            }
            (Decision::Approve, None) => {
                self.finish(
                    Status::Approved,
                    Some(under_review),
                    deciders(&reviewer.actor),
                    now,
                );
                AuditAction::Approved
            }
            (Decision::Edit, None) => {
                self.finish(
                    Status::Edited,
                    request.edited_payload.clone(),
                    deciders(&reviewer.actor),
                    now,
                );
                AuditAction::Edited
            }
            (Decision::Approve, Some(pending)) => {
                self.finish(
                    pending.outcome,
                    Some(pending.payload.clone()),
                    deciders(&reviewer.actor),
                    now,
                );
                AuditAction::Confirmed
            }
            (Decision::Edit, Some(_)) => {
                // The confirmer's edit is a new proposal; someone other than them confirms it.
                self.pending = Some(PendingApproval {
                    review_id: review.id,
                    proposer: reviewer.actor.clone(),
                    outcome: Status::Edited,
                    payload: request.edited_payload.clone().expect("checked by problems"),
                    diff: diff.clone(),
                    proposed_at: now,
                });
                self.status = Status::AwaitingConfirmation;
                AuditAction::Edited
            }
            (Decision::Reject, _) => {
                self.finish(Status::Rejected, None, deciders(&reviewer.actor), now);
                AuditAction::Rejected
            }
            (Decision::Escalate, _) => {
                let current = self.required_role.unwrap_or(Role::Triage);
                let next = current.next().ok_or(TransitionError::CannotEscalate)?;
                self.required_role = Some(next);
                self.pending = None;
                self.escalations += 1;
                self.status = Status::Queued;
                AuditAction::Escalated
            }
            (Decision::SendBack, Some(_)) => {
                self.pending = None;
                self.status = Status::Queued;
                AuditAction::SentBack
            }
            (Decision::SendBack, None) => return Err(TransitionError::SendBackOutsideConfirmation),
        };
        self.lease = None;
        self.updated_at = now;
        self.settle();
        let event = self.event(
            AuditActor::person(&reviewer.actor, lease.role.as_str()),
            action,
            Status::InReview,
            before,
            json!({
                "review_id": review.id,
                "stage": stage,
                "decision": request.decision,
                "codes": request.codes,
                "rubric": request.rubric,
                "diff": diff,
                "rationale": request.rationale,
            }),
        );
        Ok((event, review))
    }

    fn finish(
        &mut self,
        status: Status,
        payload: Option<Value>,
        decided_by: Vec<Actor>,
        now: Timestamp,
    ) {
        self.status = status;
        self.pending = None;
        self.outcome = Some(Outcome {
            status,
            payload,
            decided_by,
            decided_at: now,
        });
    }
}

fn held(reviewer: &Reviewer) -> String {
    if reviewer.roles.is_empty() {
        "no reviewer role".to_owned()
    } else {
        reviewer
            .roles
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}
