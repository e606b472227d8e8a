//! The review state machine, example by example: claim and decide, edits and their diffs,
//! escalation up the roles, two-person approval, lease expiry, and the refusals that leave an
//! item exactly as it was.

mod common;

use std::collections::BTreeSet;

use chrono::Duration;
use common::{LEASE, at, edit, item_from, policy, queued_item, request, reviewer, submission, t0};
use loopgate_core::{
    AuditAction, Decision, DecisionRequest, Item, LeaseId, Reviewer, Role, Stage, Status,
    TransitionError,
};
use serde_json::json;

fn no_codes() -> BTreeSet<String> {
    BTreeSet::new()
}

/// Claims `item` for `who` at `now`; panics if refused.
fn claim(item: &mut Item, who: &Reviewer, now: chrono::DateTime<chrono::Utc>) -> LeaseId {
    let lease = LeaseId::new();
    let event = item.claim(who, lease, now, LEASE).expect("claim");
    assert_eq!(event.action, AuditAction::Claimed);
    assert_eq!(event.to.as_deref(), Some("in_review"));
    lease
}

/// Runs a transition that must be refused, and checks the item did not change.
fn refused<T: std::fmt::Debug>(
    item: &mut Item,
    op: impl FnOnce(&mut Item) -> Result<T, TransitionError>,
) -> TransitionError {
    let before = item.clone();
    let err = op(item).expect_err("transition must be refused");
    assert_eq!(*item, before, "a refused transition changed the item");
    err
}

fn reply(text: &str) -> serde_json::Value {
    json!({"text": text})
}

#[test]
fn claim_then_approve_makes_the_proposal_final() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Triage]);
    assert_eq!(item.stage, Some(Stage::Triage));

    let lease = LeaseId::new();
    let claimed = item.claim(&ana, lease, at(30), LEASE).unwrap();
    assert_eq!(
        (claimed.from.as_deref(), claimed.to.as_deref()),
        (Some("queued"), Some("in_review"))
    );
    assert_eq!(item.status, Status::InReview);
    let held = item.lease.as_ref().unwrap();
    assert_eq!(
        (held.id, &held.holder, held.role),
        (lease, &ana.actor, Role::Triage)
    );
    assert_eq!(held.expires_at, at(30) + LEASE);
    assert_eq!(item.first_claimed_at, Some(at(30)));

    let (event, review) = item
        .decide(
            &ana,
            &request(lease, Decision::Approve),
            &no_codes(),
            at(150),
        )
        .unwrap();
    assert_eq!(event.action, AuditAction::Approved);
    assert_eq!(
        (event.from.as_deref(), event.to.as_deref()),
        (Some("in_review"), Some("approved"))
    );
    assert_eq!(item.status, Status::Approved);
    assert!(item.is_final);
    assert_eq!(
        (item.stage, &item.lease, &item.pending),
        (None, &None, &None)
    );
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(outcome.status, Status::Approved);
    assert_eq!(outcome.payload.as_ref(), Some(&item.proposal.payload));
    assert_eq!(outcome.decided_by, std::slice::from_ref(&ana.actor));
    assert_eq!(outcome.decided_at, at(150));
    assert_eq!(review.time_on_task_ms, 120_000);
    assert_eq!((review.stage, review.lease_id), (Stage::Triage, lease));
}

#[test]
fn an_edit_records_its_diff_and_the_edited_payload_becomes_final() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Quality]);
    let lease = claim(&mut item, &ana, t0());
    let edited = reply("Hello, your invoice is attached.");
    let (event, review) = item
        .decide(&ana, &edit(lease, edited.clone()), &no_codes(), at(60))
        .unwrap();
    assert_eq!(event.action, AuditAction::Edited);
    assert_eq!(event.to.as_deref(), Some("edited"));
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(outcome.status, Status::Edited);
    assert_eq!(outcome.payload, Some(edited.clone()));
    assert_eq!(
        item.proposal.payload,
        reply("Hello"),
        "the proposal is kept"
    );
    let diff = review.diff.as_ref().unwrap();
    assert_eq!(
        diff.patch,
        json!([{"op": "replace", "path": "/text", "value": "Hello, your invoice is attached."}])
    );
    assert!(
        diff.unified
            .contains("-Hello\n+Hello, your invoice is attached."),
        "{}",
        diff.unified
    );
    assert_eq!(review.edited_payload, Some(edited));
    assert_eq!(event.detail["diff"], serde_json::to_value(diff).unwrap());
}

#[test]
fn an_edit_that_changes_nothing_is_refused() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Quality]);
    let lease = claim(&mut item, &ana, t0());
    let err = refused(&mut item, |i| {
        i.decide(&ana, &edit(lease, reply("Hello")), &no_codes(), at(1))
    });
    assert_eq!(err, TransitionError::EditChangesNothing);
}

#[test]
fn reject_is_final_with_no_payload_and_keeps_the_codes() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Triage]);
    let lease = claim(&mut item, &ana, t0());
    let req = DecisionRequest {
        codes: vec!["INCORRECT".into(), "WRONG_CURRENCY".into()],
        rationale: Some("Wrong invoice".into()),
        ..request(lease, Decision::Reject)
    };
    let known: BTreeSet<String> = ["WRONG_CURRENCY".to_owned()].into();
    let (event, review) = item.decide(&ana, &req, &known, at(5)).unwrap();
    assert_eq!(event.action, AuditAction::Rejected);
    assert_eq!(item.status, Status::Rejected);
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(
        (outcome.status, &outcome.payload),
        (Status::Rejected, &None)
    );
    assert_eq!(review.codes, ["INCORRECT", "WRONG_CURRENCY"]);
    assert_eq!(
        event.detail["codes"],
        json!(["INCORRECT", "WRONG_CURRENCY"])
    );
}

#[test]
fn escalation_climbs_triage_quality_sme_and_stops_there() {
    let mut item = queued_item(&policy(json!({})));
    let triage = reviewer("tess", &[Role::Triage]);
    let quality = reviewer("quinn", &[Role::Triage, Role::Quality]);
    let sme = reviewer("sam", &[Role::Sme]);

    let lease = claim(&mut item, &triage, t0());
    let (event, _) = item
        .decide(
            &triage,
            &request(lease, Decision::Escalate),
            &no_codes(),
            at(10),
        )
        .unwrap();
    assert_eq!(event.action, AuditAction::Escalated);
    assert_eq!(
        (event.from.as_deref(), event.to.as_deref()),
        (Some("in_review"), Some("queued"))
    );
    assert_eq!(
        (
            item.status,
            item.required_role,
            item.stage,
            item.escalations
        ),
        (Status::Queued, Some(Role::Quality), Some(Stage::Quality), 1)
    );
    let err = refused(&mut item, |i| {
        i.claim(&triage, LeaseId::new(), at(11), LEASE)
    });
    assert_eq!(
        err,
        TransitionError::RoleTooLow {
            required: Role::Quality,
            held: "triage".into()
        }
    );

    let lease = claim(&mut item, &quality, at(20));
    assert_eq!(item.lease.as_ref().unwrap().role, Role::Quality);
    item.decide(
        &quality,
        &request(lease, Decision::Escalate),
        &no_codes(),
        at(30),
    )
    .unwrap();
    assert_eq!(
        (item.required_role, item.stage, item.escalations),
        (Some(Role::Sme), Some(Stage::Sme), 2)
    );
    refused(&mut item, |i| {
        i.claim(&quality, LeaseId::new(), at(31), LEASE)
    });

    let lease = claim(&mut item, &sme, at(40));
    let err = refused(&mut item, |i| {
        i.decide(
            &sme,
            &request(lease, Decision::Escalate),
            &no_codes(),
            at(41),
        )
    });
    assert_eq!(err, TransitionError::CannotEscalate);

    let (_, review) = item
        .decide(
            &sme,
            &request(lease, Decision::Approve),
            &no_codes(),
            at(42),
        )
        .unwrap();
    assert_eq!(review.stage, Stage::Sme);
    assert_eq!(item.status, Status::Approved);
}

#[test]
fn a_reviewer_below_the_required_role_cannot_claim() {
    let mut item = queued_item(&policy(json!({"routing": {"default_role": "sme"}})));
    let cases = [
        (
            reviewer("tq", &[Role::Triage, Role::Quality]),
            "triage, quality",
        ),
        (reviewer("nobody", &[]), "no reviewer role"),
    ];
    for (who, held) in cases {
        let err = refused(&mut item, |i| i.claim(&who, LeaseId::new(), t0(), LEASE));
        assert_eq!(
            err,
            TransitionError::RoleTooLow {
                required: Role::Sme,
                held: held.into()
            }
        );
    }
}

#[test]
fn only_queued_or_awaiting_items_can_be_claimed() {
    let p = policy(json!({}));
    let ana = reviewer("ana", &[Role::Sme]);
    let bo = reviewer("bo", &[Role::Sme]);

    let mut item = queued_item(&p);
    claim(&mut item, &ana, t0());
    let err = refused(&mut item, |i| i.claim(&bo, LeaseId::new(), at(1), LEASE));
    assert_eq!(
        err,
        TransitionError::NotClaimable {
            status: Status::InReview
        }
    );

    for (confidence, status) in [(0.95, Status::AutoApproved), (0.1, Status::AutoRejected)] {
        let mut auto = item_from(&p, submission(confidence, json!({})));
        assert!(auto.is_final && auto.outcome.as_ref().unwrap().decided_by.is_empty());
        assert_eq!(
            (auto.lane, auto.required_role, &auto.sla),
            (None, None, &None)
        );
        let err = refused(&mut auto, |i| i.claim(&bo, LeaseId::new(), at(1), LEASE));
        assert_eq!(err, TransitionError::NotClaimable { status });
    }
}

/// A two-person item that `proposer` approved (or edited to `edited`), awaiting confirmation.
fn proposed(proposer: &Reviewer, edited: Option<serde_json::Value>) -> Item {
    let mut item = queued_item(&policy(json!({"two_person": true})));
    assert!(item.two_person);
    let lease = claim(&mut item, proposer, t0());
    let req = match edited {
        Some(p) => edit(lease, p),
        None => request(lease, Decision::Approve),
    };
    let (event, _) = item.decide(proposer, &req, &no_codes(), at(60)).unwrap();
    assert_eq!(
        (event.from.as_deref(), event.to.as_deref()),
        (Some("in_review"), Some("awaiting_confirmation"))
    );
    assert_eq!(item.status, Status::AwaitingConfirmation);
    assert_eq!(item.stage, Some(Stage::Confirm));
    assert!(!item.is_final && item.outcome.is_none() && item.lease.is_none());
    assert_eq!(item.pending.as_ref().unwrap().proposer, proposer.actor);
    item
}

#[test]
fn two_people_must_agree_and_the_proposer_cannot_confirm() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Quality]);
    let mut item = proposed(&ana, None);
    let pending = item.pending.clone().unwrap();
    assert_eq!(pending.outcome, Status::Approved);
    assert_eq!(pending.payload, item.proposal.payload);

    let err = refused(&mut item, |i| i.claim(&ana, LeaseId::new(), at(70), LEASE));
    assert_eq!(err, TransitionError::ProposerCannotConfirm);

    let lease = LeaseId::new();
    let claimed = item.claim(&bo, lease, at(80), LEASE).unwrap();
    assert_eq!(claimed.from.as_deref(), Some("awaiting_confirmation"));
    assert_eq!(item.stage, Some(Stage::Confirm));

    let (event, review) = item
        .decide(&bo, &request(lease, Decision::Approve), &no_codes(), at(90))
        .unwrap();
    assert_eq!(event.action, AuditAction::Confirmed);
    assert_eq!(review.stage, Stage::Confirm);
    assert_eq!(item.status, Status::Approved);
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(outcome.decided_by, [ana.actor.clone(), bo.actor.clone()]);
    assert_eq!(outcome.payload.as_ref(), Some(&item.proposal.payload));
    assert!(item.pending.is_none());
}

#[test]
fn an_irreversible_policy_always_needs_two_people() {
    let p = policy(json!({"risk": "irreversible", "two_person": false}));
    let mut item = item_from(&p, submission(1.0, json!({})));
    assert_eq!(item.status, Status::Queued);
    assert!(item.two_person);
    let ana = reviewer("ana", &[Role::Triage]);
    let lease = claim(&mut item, &ana, t0());
    item.decide(&ana, &request(lease, Decision::Approve), &no_codes(), at(1))
        .unwrap();
    assert_eq!(item.status, Status::AwaitingConfirmation);
}

#[test]
fn a_confirmed_edit_makes_the_edited_payload_final() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let edited = reply("Hello, your invoice is attached.");
    let mut item = proposed(&ana, Some(edited.clone()));
    assert_eq!(item.pending.as_ref().unwrap().outcome, Status::Edited);
    let lease = claim(&mut item, &bo, at(100));
    item.decide(
        &bo,
        &request(lease, Decision::Approve),
        &no_codes(),
        at(110),
    )
    .unwrap();
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(
        (outcome.status, outcome.payload.clone()),
        (Status::Edited, Some(edited))
    );
    assert_eq!(outcome.decided_by, [ana.actor.clone(), bo.actor.clone()]);
}

#[test]
fn the_confirmer_can_send_back_to_the_queue() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let mut item = proposed(&ana, None);
    let lease = claim(&mut item, &bo, at(100));
    let (event, _) = item
        .decide(
            &bo,
            &request(lease, Decision::SendBack),
            &no_codes(),
            at(110),
        )
        .unwrap();
    assert_eq!(event.action, AuditAction::SentBack);
    assert_eq!(
        (event.from.as_deref(), event.to.as_deref()),
        (Some("in_review"), Some("queued"))
    );
    assert_eq!(
        (item.status, item.stage),
        (Status::Queued, Some(Stage::Triage))
    );
    assert!(item.pending.is_none() && item.lease.is_none() && !item.is_final);
    // The first person's decision is discarded, so they may review again.
    claim(&mut item, &ana, at(120));
}

#[test]
fn a_confirmers_edit_is_a_new_proposal_someone_else_confirms() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let mut item = proposed(&ana, None);
    let lease = claim(&mut item, &bo, at(100));
    let edited = reply("Hi, the invoice is on its way.");
    let (event, _) = item
        .decide(&bo, &edit(lease, edited.clone()), &no_codes(), at(110))
        .unwrap();
    assert_eq!(event.action, AuditAction::Edited);
    assert_eq!(item.status, Status::AwaitingConfirmation);
    let pending = item.pending.as_ref().unwrap();
    assert_eq!(pending.proposer, bo.actor);
    assert_eq!(
        (pending.outcome, &pending.payload),
        (Status::Edited, &edited)
    );

    let err = refused(&mut item, |i| i.claim(&bo, LeaseId::new(), at(120), LEASE));
    assert_eq!(err, TransitionError::ProposerCannotConfirm);
    let lease = claim(&mut item, &ana, at(130));
    item.decide(
        &ana,
        &request(lease, Decision::Approve),
        &no_codes(),
        at(140),
    )
    .unwrap();
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(
        (outcome.status, outcome.payload.clone()),
        (Status::Edited, Some(edited))
    );
    assert_eq!(outcome.decided_by, [bo.actor.clone(), ana.actor.clone()]);
}

#[test]
fn the_confirmer_can_reject_with_both_people_recorded() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let mut item = proposed(&ana, None);
    let lease = claim(&mut item, &bo, at(100));
    item.decide(&bo, &request(lease, Decision::Reject), &no_codes(), at(110))
        .unwrap();
    let outcome = item.outcome.as_ref().unwrap();
    assert_eq!(
        (outcome.status, &outcome.payload),
        (Status::Rejected, &None)
    );
    assert_eq!(outcome.decided_by, [ana.actor.clone(), bo.actor.clone()]);
}

#[test]
fn send_back_outside_confirmation_is_refused() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Triage]);
    let lease = claim(&mut item, &ana, t0());
    let err = refused(&mut item, |i| {
        i.decide(
            &ana,
            &request(lease, Decision::SendBack),
            &no_codes(),
            at(1),
        )
    });
    assert_eq!(err, TransitionError::SendBackOutsideConfirmation);
}

#[test]
fn a_lapsed_lease_returns_the_item_to_its_queue() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Triage]);
    let lease = claim(&mut item, &ana, t0());
    let expires = t0() + LEASE;

    let just_before = expires - Duration::milliseconds(1);
    assert!(!item.lease_expired(just_before));
    let err = refused(&mut item, |i| i.expire_lease(just_before));
    assert_eq!(err, TransitionError::LeaseNotExpired);

    // The lease ends at expires_at: from then on it can be expired, and decisions are refused.
    assert!(item.lease_expired(expires));
    let err = refused(&mut item, |i| {
        i.decide(
            &ana,
            &request(lease, Decision::Approve),
            &no_codes(),
            expires,
        )
    });
    assert_eq!(
        err,
        TransitionError::LeaseExpired {
            lease_id: lease,
            expired_at: expires
        }
    );

    let event = item.expire_lease(expires).unwrap();
    assert_eq!(event.action, AuditAction::LeaseExpired);
    assert_eq!(
        (event.from.as_deref(), event.to.as_deref()),
        (Some("in_review"), Some("queued"))
    );
    assert_eq!(
        (event.actor.id, event.actor.role.as_str()),
        (None, "system")
    );
    assert_eq!(
        (item.status, item.stage),
        (Status::Queued, Some(Stage::Triage))
    );
    assert!(item.lease.is_none());
    assert_eq!(
        item.first_claimed_at,
        Some(t0()),
        "the first claim is kept for the SLA"
    );

    let err = refused(&mut item, |i| i.expire_lease(expires + LEASE));
    assert_eq!(err, TransitionError::LeaseNotExpired);
    let err = refused(&mut item, |i| {
        i.decide(
            &ana,
            &request(lease, Decision::Approve),
            &no_codes(),
            expires,
        )
    });
    assert_eq!(
        err,
        TransitionError::LeaseNotHeld {
            lease_id: lease,
            status: Status::Queued
        }
    );
}

#[test]
fn a_lapsed_confirmation_lease_returns_to_awaiting_confirmation() {
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let mut item = proposed(&ana, None);
    let pending = item.pending.clone();
    claim(&mut item, &bo, at(100));
    let event = item.expire_lease(at(100) + LEASE).unwrap();
    assert_eq!(event.to.as_deref(), Some("awaiting_confirmation"));
    assert_eq!(item.status, Status::AwaitingConfirmation);
    assert_eq!(item.stage, Some(Stage::Confirm));
    assert_eq!(item.pending, pending, "the first approval survives");
    assert!(item.lease.is_none());
}

#[test]
fn a_decision_under_a_stale_or_foreign_lease_is_refused() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Triage]);
    let bo = reviewer("bo", &[Role::Triage]);
    let first = claim(&mut item, &ana, t0());
    item.expire_lease(t0() + LEASE).unwrap();
    let second = claim(&mut item, &ana, at(700));

    let err = refused(&mut item, |i| {
        i.decide(
            &ana,
            &request(first, Decision::Approve),
            &no_codes(),
            at(701),
        )
    });
    assert_eq!(
        err,
        TransitionError::LeaseNotHeld {
            lease_id: first,
            status: Status::InReview
        }
    );

    // Bo presents Ana's lease: he does not hold it.
    let err = refused(&mut item, |i| {
        i.decide(
            &bo,
            &request(second, Decision::Reject),
            &no_codes(),
            at(702),
        )
    });
    assert_eq!(
        err,
        TransitionError::LeaseNotHeld {
            lease_id: second,
            status: Status::InReview
        }
    );

    item.decide(
        &ana,
        &request(second, Decision::Approve),
        &no_codes(),
        at(703),
    )
    .unwrap();
    assert_eq!(item.status, Status::Approved);
}

#[test]
fn inconsistent_decision_requests_are_invalid_and_change_nothing() {
    let mut item = queued_item(&policy(json!({})));
    let ana = reviewer("ana", &[Role::Quality]);
    let lease = claim(&mut item, &ana, t0());
    let cases = [
        (request(lease, Decision::Edit), "edited_payload"),
        (
            DecisionRequest {
                edited_payload: Some(reply("x")),
                ..request(lease, Decision::Approve)
            },
            "only accepted with decision edit",
        ),
        (
            DecisionRequest {
                codes: vec!["MADE_UP".into()],
                ..request(lease, Decision::Reject)
            },
            "unknown decision code \"MADE_UP\"",
        ),
        (
            DecisionRequest {
                codes: vec!["TONE".into(), "TONE".into()],
                ..request(lease, Decision::Reject)
            },
            "listed twice",
        ),
        (
            DecisionRequest {
                rubric: Some(loopgate_core::Rubric {
                    tone: Some(6),
                    ..Default::default()
                }),
                ..request(lease, Decision::Approve)
            },
            "rubric.tone",
        ),
    ];
    for (req, needle) in cases {
        let err = refused(&mut item, |i| i.decide(&ana, &req, &no_codes(), at(1)));
        match err {
            TransitionError::Invalid(problems) => {
                assert!(
                    problems.join("; ").contains(needle),
                    "{problems:?} lacks {needle:?}"
                )
            }
            other => panic!("expected Invalid for {needle:?}, got {other:?}"),
        }
    }
    // The request is checked before the lease: a bad request is reported as such.
    let err = refused(&mut item, |i| {
        i.decide(
            &ana,
            &request(LeaseId::new(), Decision::Edit),
            &no_codes(),
            at(1),
        )
    });
    assert!(matches!(err, TransitionError::Invalid(_)), "{err:?}");
}
