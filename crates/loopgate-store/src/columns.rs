//! The columns both backends copy out of an item's JSON document, so that claims, leases and
//! listings filter and sort on the same values whichever database holds the item.

use loopgate_core::clock::to_millis;
use loopgate_core::{Item, Role, Status};

/// The queryable copy of an item's state.
pub(crate) struct ItemColumns {
    /// Queued or awaiting confirmation: what a claim may take.
    pub claimable: bool,
    /// The role the item needs (rank).
    pub required_role: Option<u8>,
    /// The lane (rank).
    pub lane: Option<u8>,
    /// The deadline a claim orders by, in Unix milliseconds: first review until the item was
    /// first claimed, then resolution.
    pub due_at: Option<i64>,
    /// The first person of a pending two-person approval.
    pub proposer: Option<String>,
    /// When the current lease lapses, in Unix milliseconds, while in review.
    pub lease_expires_at: Option<i64>,
}

impl ItemColumns {
    /// The columns of `item`.
    pub(crate) fn of(item: &Item) -> Self {
        let claimable = matches!(item.status, Status::Queued | Status::AwaitingConfirmation);
        Self {
            claimable,
            required_role: item.required_role.map(Role::rank),
            lane: item.lane.map(|l| l.rank()),
            due_at: item.sla.as_ref().map(|s| {
                if item.first_claimed_at.is_none() {
                    to_millis(s.first_review_due)
                } else {
                    to_millis(s.resolve_due)
                }
            }),
            proposer: item.pending.as_ref().map(|p| p.proposer.id.to_string()),
            lease_expires_at: item
                .lease
                .as_ref()
                .filter(|_| item.status == Status::InReview)
                .map(|l| to_millis(l.expires_at)),
        }
    }
}
