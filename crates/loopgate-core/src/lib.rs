//! Loopgate's domain, with no IO: items and policies, the verdict pipeline that routes every AI
//! output, the review state machine, SLA arithmetic, permissions, and the audit hash chain.
//!
//! Time comes in through a [`clock::Clock`]; nothing here reads the wall clock, a file, a socket
//! or a database. The stores persist what this crate computes; the server exposes it over HTTP.

pub mod access;
pub mod audit;
pub mod clock;
pub mod item;
pub mod lifecycle;
pub mod policy;
pub mod review;
pub mod rules;
pub mod sla;
pub mod types;
pub mod validators;
pub mod verdict;

pub use access::{AccessRole, Permission, Principal};
pub use audit::{
    AuditAction, AuditActor, AuditEntry, AuditEvent, ChainBreak, ChainHead, ChainVerifier,
};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use item::{
    Actor, Customer, EMBEDDED_MODEL, Input, Item, Lease, Outcome, PendingApproval, Proposal,
    Submission,
};
pub use lifecycle::{Reviewer, TransitionError};
pub use policy::{Policy, PolicySpec, Thresholds};
pub use review::{Decision, DecisionRequest, PayloadDiff, Review, Rubric};
pub use types::{
    Amount, ItemId, KeyId, Kind, Lane, LeaseId, Mode, PolicyName, PrincipalId, Probability,
    ReviewId, Risk, Role, Stage, Status, WorkspaceId,
};
pub use verdict::{Calibrator, Route, Uncalibrated, Verdict, VerdictContext};
