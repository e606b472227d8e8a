//! SLA arithmetic: deadlines from a lane's targets, tightened for sensitive customers, and
//! whether they are met.

use chrono::Duration;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::clock::Timestamp;
use crate::item::Customer;
use crate::policy::SlaPolicy;
use crate::rules::renewal_within;
use crate::types::Lane;

/// The two deadlines of a queued item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SlaDeadlines {
    /// A person must have claimed the item by then.
    pub first_review_due: DateTime<Utc>,
    /// The item must be final by then.
    pub resolve_due: DateTime<Utc>,
    /// The factor the lane's targets were multiplied by, when tightened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tightened_by: Option<f64>,
    /// Why they were tightened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tightened_because: Option<String>,
}

/// Whether an item's SLA deadlines are met, at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SlaStatus {
    /// The first-review deadline passed before anyone claimed the item.
    pub first_review_breached: bool,
    /// The resolution deadline passed before the item became final.
    pub resolve_breached: bool,
    /// Milliseconds until the next unmet deadline; negative once breached; `None` when all met.
    pub remaining_ms: Option<i64>,
}

/// Deadlines for an item entering `lane` at `now`. The targets shrink by the policy's factor when
/// the customer renews soon or has a listed tier.
pub fn deadlines(
    policy: &SlaPolicy,
    lane: Lane,
    customer: &Customer,
    now: Timestamp,
) -> SlaDeadlines {
    let targets = policy.lane(lane);
    let t = &policy.tightening;
    let tier_listed = customer
        .tier
        .as_ref()
        .filter(|tier| t.tiers.iter().any(|x| x.eq_ignore_ascii_case(tier)));
    let renews_soon = t
        .renewal_within_days
        .is_some_and(|days| renewal_within(customer.renewal_date, now.date_naive(), days));
    let because = match (tier_listed, renews_soon) {
        (Some(tier), true) => Some(format!(
            "tier {tier} and renewal within {} days",
            t.renewal_within_days.unwrap_or(0)
        )),
        (Some(tier), false) => Some(format!("tier {tier}")),
        (None, true) => Some(format!(
            "renewal within {} days",
            t.renewal_within_days.unwrap_or(0)
        )),
        (None, false) => None,
    };
    let factor = if because.is_some() { t.factor } else { 1.0 };
    let scaled = |seconds: u32| {
        Duration::milliseconds((f64::from(seconds) * 1000.0 * factor).round() as i64)
    };
    SlaDeadlines {
        first_review_due: now + scaled(targets.first_review),
        resolve_due: now + scaled(targets.resolve),
        tightened_by: because.is_some().then_some(factor),
        tightened_because: because,
    }
}

impl SlaDeadlines {
    /// Whether the deadlines are met at `now`, given when the item was first claimed and whether
    /// it is final.
    pub fn status(
        &self,
        now: Timestamp,
        first_claimed_at: Option<Timestamp>,
        is_final: bool,
    ) -> SlaStatus {
        let first_review_breached = match first_claimed_at {
            Some(at) => at > self.first_review_due,
            None => now > self.first_review_due,
        };
        let resolve_breached = !is_final && now > self.resolve_due;
        let remaining_ms = if is_final {
            None
        } else if first_claimed_at.is_none() {
            Some((self.first_review_due - now).num_milliseconds())
        } else {
            Some((self.resolve_due - now).num_milliseconds())
        };
        SlaStatus {
            first_review_breached,
            resolve_breached,
            remaining_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::from_millis;
    use serde_json::json;

    fn customer(v: serde_json::Value) -> Customer {
        serde_json::from_value(v).unwrap()
    }

    fn now() -> Timestamp {
        // 2026-11-24T00:00:00Z
        from_millis(1_795_478_400_000).unwrap()
    }

    #[test]
    fn plain_customers_get_the_lane_targets() {
        let d = deadlines(
            &SlaPolicy::default(),
            Lane::P1,
            &customer(json!({"id": "c"})),
            now(),
        );
        assert_eq!((d.first_review_due - now()).num_seconds(), 3600);
        assert_eq!((d.resolve_due - now()).num_seconds(), 8 * 3600);
        assert_eq!(d.tightened_by, None);
    }

    #[test]
    fn strategic_tier_and_near_renewal_tighten_by_the_factor() {
        let policy = SlaPolicy::default();
        let d = deadlines(
            &policy,
            Lane::P0,
            &customer(json!({"id": "c", "tier": "strategic"})),
            now(),
        );
        assert_eq!((d.first_review_due - now()).num_seconds(), 450);
        assert_eq!(d.tightened_by, Some(0.5));

        let soon = customer(json!({"id": "c", "renewal_date": "2026-12-20"}));
        let d = deadlines(&policy, Lane::P2, &soon, now());
        assert_eq!((d.resolve_due - now()).num_hours(), 12);
        assert!(d.tightened_because.unwrap().contains("renewal"));

        let far = customer(json!({"id": "c", "renewal_date": "2027-06-01"}));
        assert_eq!(deadlines(&policy, Lane::P2, &far, now()).tightened_by, None);
    }

    #[test]
    fn breaches_are_judged_against_first_claim_and_finality() {
        let d = deadlines(
            &SlaPolicy::default(),
            Lane::P0,
            &customer(json!({"id": "c"})),
            now(),
        );
        let later = now() + Duration::minutes(20);
        let s = d.status(later, None, false);
        assert!(s.first_review_breached && !s.resolve_breached);
        assert_eq!(s.remaining_ms, Some(-5 * 60 * 1000));
        let s = d.status(later, Some(now() + Duration::minutes(5)), false);
        assert!(!s.first_review_breached);
        assert_eq!(s.remaining_ms, Some(40 * 60 * 1000));
        let s = d.status(now() + Duration::hours(2), Some(now()), true);
        assert!(!s.resolve_breached && s.remaining_ms.is_none());
    }
}
