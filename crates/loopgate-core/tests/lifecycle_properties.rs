//! The review state machine under random use: claims by reviewers of various roles, decisions
//! under current, stale and unknown leases, lease expiry and time passing. After every step the
//! item must satisfy the invariants the stores and the API rely on.

mod common;

use common::sim::{Scenario, World, scenario};
use loopgate_core::{Item, Stage, Status};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

/// What must hold of any item, in any state.
fn check_state(item: &Item) -> Result<(), TestCaseError> {
    let s = item.status;
    prop_assert_eq!(
        s == Status::InReview,
        item.lease.is_some(),
        "in_review iff leased: {:?}",
        item
    );
    prop_assert_eq!(
        s == Status::AwaitingConfirmation,
        item.pending.is_some() && item.lease.is_none(),
        "awaiting_confirmation iff pending and not leased: {:?}",
        item
    );
    prop_assert_eq!(item.is_final, s.is_final());
    if item.is_final {
        prop_assert!(item.outcome.is_some(), "final without outcome: {:?}", item);
        prop_assert!(item.lease.is_none() && item.pending.is_none() && item.stage.is_none());
        let outcome = item.outcome.as_ref().unwrap();
        prop_assert_eq!(outcome.status, s);
        if item.two_person && matches!(s, Status::Approved | Status::Edited) {
            let people = &outcome.decided_by;
            prop_assert_eq!(people.len(), 2, "two-person approval by {:?}", people);
            prop_assert_ne!(
                people[0].id,
                people[1].id,
                "the same person twice: {:?}",
                people
            );
        }
        if s == Status::Rejected {
            prop_assert!(outcome.payload.is_none());
        } else {
            prop_assert!(outcome.payload.is_some());
        }
    } else {
        prop_assert!(item.outcome.is_none(), "outcome before final: {:?}", item);
        let expected_stage = if item.pending.is_some() {
            Some(Stage::Confirm)
        } else {
            item.required_role.map(Stage::from)
        };
        prop_assert_eq!(item.stage, expected_stage);
    }
    if let Some(p) = &item.pending {
        prop_assert!(item.two_person, "pending approval on a one-person item");
        prop_assert!(matches!(p.outcome, Status::Approved | Status::Edited));
        if let Some(lease) = &item.lease {
            prop_assert_ne!(
                lease.holder.id,
                p.proposer.id,
                "the proposer holds the confirm lease"
            );
        }
    }
    Ok(())
}

/// Runs a scenario, checking every step; returns nothing, fails on the first broken rule.
fn run(s: &Scenario) -> Result<(), TestCaseError> {
    let mut world = World::new(s);
    check_state(&world.item)?;
    let mut last_to = world.item.submitted_event().to.expect("submitted has a to");
    prop_assert_eq!(last_to.as_str(), "queued");

    for (step, op) in s.ops.iter().enumerate() {
        let before = world.item.clone();
        let Some(result) = world.apply(op) else {
            prop_assert_eq!(&world.item, &before, "moving time changed the item");
            continue;
        };
        let after = &world.item;
        match result {
            Err(err) => {
                prop_assert_eq!(
                    after,
                    &before,
                    "step {} {:?} refused ({}) but changed the item",
                    step,
                    op,
                    err
                );
            }
            Ok(event) => {
                prop_assert!(
                    !before.is_final,
                    "step {} {:?} changed a final item",
                    step,
                    op
                );
                prop_assert_eq!(event.item_id, Some(after.id));
                prop_assert_eq!(
                    event.from.as_deref(),
                    Some(before.status.as_str()),
                    "step {} {:?}",
                    step,
                    op
                );
                prop_assert_eq!(
                    event.to.as_deref(),
                    Some(after.status.as_str()),
                    "step {} {:?}",
                    step,
                    op
                );
                prop_assert_eq!(
                    event.from.as_ref(),
                    Some(&last_to),
                    "events do not chain at step {}",
                    step
                );
                last_to = event.to.clone().unwrap();
                prop_assert!(after.updated_at >= before.updated_at);
            }
        }
        prop_assert!(
            after.required_role >= before.required_role,
            "required role fell from {:?} to {:?} at step {} {:?}",
            before.required_role,
            after.required_role,
            step,
            op
        );
        prop_assert!(after.escalations >= before.escalations);
        prop_assert_eq!(
            &after.proposal,
            &before.proposal,
            "the proposal is never rewritten"
        );
        check_state(after)?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn every_step_keeps_the_review_invariants(s in scenario(40)) {
        run(&s)?;
    }
}
