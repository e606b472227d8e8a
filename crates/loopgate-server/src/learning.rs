//! The learning loop, live: each policy's calibrator and derived thresholds fitted from its
//! human-labelled outcomes, the escape monitor that trips the kill switch, and the outcome every
//! human decision records.
//!
//! A policy's learned state is kept in the store as JSON ([`PolicyState`]), so that every
//! server sharing the database reads the same calibrator and thresholds.

use std::collections::BTreeSet;

use loopgate_core::audit::{AuditAction, AuditActor, AuditEvent};
use loopgate_core::lifecycle::{Reviewer, TransitionError};
use loopgate_core::verdict::{Calibrator, EffectiveThresholds};
use loopgate_core::{
    DecisionRequest, Item, Kind, Mode, Policy, PolicyName, Probability, Status, Timestamp,
    WorkspaceId,
};
use loopgate_learn::calibration::{PlattScaling, ece, reliability_table};
use loopgate_learn::monitor::{Cusum, Status as Alarm};
use loopgate_learn::risk::{self, Outcome, RiskTarget};
use loopgate_store::{Effects, NewOutcome, OutcomeRow, OutcomeSource, Store, StoreError};

use crate::model::Models;
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;

/// Fewest outcomes, with both right and wrong among them, before a calibrator is fitted.
pub const MIN_CALIBRATION_OUTCOMES: usize = 30;
/// The escape monitor raises its alarm rate to this multiple of the target (or of 2% for a
/// fixed-threshold policy).
pub const ALARM_MULTIPLE: f64 = 5.0;
/// Audits between false alarms of the escape monitor when escapes run at the target.
pub const MONITOR_ARL0: f64 = 10_000.0;

/// What a policy has learned. Stored as JSON; every field may be absent in older states.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyState {
    /// Platt scaling from raw confidence to the probability of being right.
    #[schema(value_type = Option<Object>)]
    pub calibrator: Option<PlattScaling>,
    /// Thresholds certified by Learn-then-Test, for a target policy.
    pub certified: Option<Certified>,
    /// Outcomes the last refit certified on: the representative ones.
    pub outcomes: usize,
    /// When the state was last refitted.
    pub refitted_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The escape monitor over audit outcomes.
    #[schema(value_type = Option<Object>)]
    pub monitor: Option<Cusum>,
    /// For label policies: one escape monitor per proposed label, so that one intent going
    /// wrong stops that intent before it moves the policy's monitor.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub intent_monitors: std::collections::BTreeMap<String, Cusum>,
    /// Where the certified outcomes came from: `out_of_fold` (the embedded model's labelled
    /// texts re-scored by fold models that never saw them) or `live` (the scores proposals
    /// were made with).
    #[serde(default)]
    pub scored: Option<String>,
    /// The last [`HISTORY`] changes of the thresholds in force, oldest first.
    #[serde(default)]
    pub history: Vec<ThresholdChange>,
}

/// Threshold changes a policy's state remembers (the audit trail keeps all of them).
pub const HISTORY: usize = 20;

/// A change of the thresholds in force, made by a refit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ThresholdChange {
    /// When the refit stored it.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The approve threshold from then on (calibrated confidence); none when absent.
    pub approve_at: Option<Probability>,
    /// The reject threshold from then on; none when absent.
    pub reject_below: Option<Probability>,
    /// Labelled outcomes the refit certified on.
    pub outcomes: usize,
}

/// Certified thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Certified {
    /// Approve at or above this calibrated confidence; none certified yet when absent.
    pub approve_at: Option<Probability>,
    /// Reject below this calibrated confidence; none certified yet when absent.
    pub reject_below: Option<Probability>,
    /// The same thresholds on the raw confidence.
    pub raw_approve_at: Option<f64>,
    /// The same thresholds on the raw confidence.
    pub raw_reject_below: Option<f64>,
    /// Labelled outcomes at or above the approve threshold.
    pub approve_items: u64,
    /// Wrong ones among them.
    pub approve_errors: u64,
    /// Clopper–Pearson upper bound on their error rate.
    pub approve_error_upper: Option<f64>,
    /// Fewest outcomes above a threshold before it is tested at all.
    pub start_items: u64,
    /// Share of labelled outcomes the certified thresholds would have decided without a
    /// person: the automation they buy.
    pub automation_rate: f64,
}

impl Calibrator for PolicyCalibrator {
    fn name(&self) -> &str {
        "platt"
    }
    fn calibrate(&self, raw: Probability) -> Probability {
        Probability::clamped(self.0.probability(raw.get()))
    }
}

/// A fitted Platt calibrator, for the verdict pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PolicyCalibrator(pub PlattScaling);

impl PolicyState {
    /// Reads a stored state; an unreadable one counts as nothing learned yet.
    pub fn from_json(value: Option<serde_json::Value>) -> Self {
        value
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default()
    }

    /// The calibrator to apply, if one is fitted.
    pub fn calibrator(&self) -> Option<PolicyCalibrator> {
        self.calibrator.map(PolicyCalibrator)
    }

    /// The thresholds in force for `policy`: fixed ones as given, derived ones as certified.
    pub fn thresholds(&self, policy: &Policy) -> EffectiveThresholds {
        match (policy.thresholds.target(), &self.certified) {
            (None, _) => EffectiveThresholds::of(policy),
            (Some(_), Some(c)) if c.approve_at.is_some() || c.reject_below.is_some() => {
                EffectiveThresholds {
                    approve_at: c.approve_at,
                    reject_below: c.reject_below,
                    basis: format!(
                        "certified on {} labelled outcomes; {} above approve_at with {} wrong",
                        self.outcomes, c.approve_items, c.approve_errors
                    ),
                }
            }
            (Some(_), certified) => EffectiveThresholds {
                approve_at: None,
                reject_below: None,
                basis: format!(
                    "target not yet certified: {} labelled outcomes so far, a threshold is tested once {} lie above it",
                    self.outcomes,
                    certified.as_ref().map_or(0, |c| c.start_items)
                ),
            },
        }
    }
}

/// The outcome a human decision records, once the item is final: the proposal was right if
/// people approved it as it was.
pub fn outcome_of(item: &Item) -> Option<NewOutcome> {
    if !matches!(
        item.status,
        Status::Approved | Status::Edited | Status::Rejected
    ) {
        return None;
    }
    let shadow = item
        .verdict
        .reasons
        .iter()
        .any(|r| r.code.as_str() == "shadow_mode");
    let label = |v: Option<&serde_json::Value>| {
        v.and_then(|p| p.get("label"))
            .and_then(|l| l.as_str())
            .map(str::to_owned)
    };
    let is_label = item.proposal.kind == Kind::Label;
    Some(NewOutcome {
        policy: item.policy.clone(),
        item_id: item.id,
        source: if shadow {
            OutcomeSource::Shadow
        } else {
            OutcomeSource::Review
        },
        score: item.verdict.confidence.raw.get(),
        correct: item.status == Status::Approved,
        inclusion: 1.0,
        representative: item.representative,
        embedded: item.proposal.model.as_deref() == Some(loopgate_core::EMBEDDED_MODEL),
        text: is_label.then(|| item.input.text.clone()),
        proposed: label(Some(&item.proposal.payload)),
        label: if is_label {
            label(item.outcome.as_ref().and_then(|o| o.payload.as_ref()))
        } else {
            None
        },
    })
}

/// The proposed label of a label policy's item: the intent its kill switch and escape monitor
/// are scoped to.
pub fn intent_of(item: &Item) -> Option<String> {
    (item.proposal.kind == Kind::Label)
        .then(|| {
            item.proposal
                .payload
                .get("label")?
                .as_str()
                .map(str::to_owned)
        })
        .flatten()
}

/// A reviewer's decision as store effects: the audit event, the review, and the outcome when
/// the decision made the item final.
pub fn decide(
    item: &mut Item,
    reviewer: &Reviewer,
    request: &DecisionRequest,
    known_codes: &BTreeSet<String>,
    now: Timestamp,
) -> Result<Effects, TransitionError> {
    let (event, review) = item.decide(reviewer, request, known_codes, now)?;
    Ok(Effects {
        events: vec![event],
        review: Some(review),
        outcome: outcome_of(item),
    })
}

/// Loads every outcome of a policy.
pub async fn all_outcomes(
    store: &dyn Store,
    ws: &WorkspaceId,
    policy: &PolicyName,
) -> Result<Vec<OutcomeRow>, StoreError> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = store.outcomes(ws, policy, after, 10_000).await?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.id;
        out.extend(page);
    }
    Ok(out)
}

/// Refits a policy's calibrator and, for a target policy, its thresholds, from its
/// representative labelled outcomes (see `Item::representative`); stores the state, with an
/// audit entry when the thresholds in force change.
///
/// When Loopgate's own model makes most of the policy's proposals, the outcomes are its labelled
/// texts re-scored out of fold, as `loopgate simulate` certifies; otherwise the scores the
/// proposals were made with.
pub async fn refit(
    store: &dyn Store,
    models: &Models,
    ws: &WorkspaceId,
    policy: &Policy,
    now: Timestamp,
) -> Result<PolicyState, StoreError> {
    let rows = all_outcomes(store, ws, &policy.name).await?;
    let representative: Vec<&OutcomeRow> = rows.iter().filter(|r| r.representative).collect();
    let embedded = representative.iter().filter(|r| r.embedded).count();
    let out_of_fold = policy.kind == Kind::Label && 2 * embedded > representative.len();
    let live = |rows: &mut dyn Iterator<Item = &OutcomeRow>| -> Vec<Outcome> {
        rows.map(|r| Outcome {
            score: r.score,
            correct: r.correct,
        })
        .collect()
    };
    // The bound needs a fair sample; a calibrator only needs the order of scores kept, so it
    // may learn from every labelled outcome.
    let (outcomes, calibration) = if out_of_fold {
        let scored = models.out_of_fold(store, ws, &policy.name).await?;
        (scored.clone(), scored)
    } else {
        (
            live(&mut representative.iter().copied()),
            live(&mut rows.iter()),
        )
    };
    let mut state = PolicyState {
        calibrator: None,
        certified: None,
        outcomes: outcomes.len(),
        refitted_at: Some(now),
        monitor: None,
        intent_monitors: Default::default(),
        scored: Some(if out_of_fold { "out_of_fold" } else { "live" }.to_owned()),
        history: Vec::new(),
    };
    let both = calibration.iter().any(|o| o.correct) && calibration.iter().any(|o| !o.correct);
    if calibration.len() >= MIN_CALIBRATION_OUTCOMES && both {
        let scores: Vec<f64> = calibration.iter().map(|o| o.score).collect();
        let correct: Vec<bool> = calibration.iter().map(|o| o.correct).collect();
        // Only an increasing calibrator keeps the order the certified threshold relies on.
        state.calibrator = PlattScaling::fit(&scores, &correct)
            .ok()
            .filter(|p| p.a > 0.0);
    }
    if let Some((alpha, confidence)) = policy.thresholds.target() {
        let target = RiskTarget::new(alpha, 1.0 - confidence)
            .map_err(|e| StoreError::Internal(format!("policy target: {e}")))?;
        let grid = risk::confidence_grid();
        let approve = if outcomes.is_empty() {
            None
        } else {
            risk::certify_approve(&outcomes, &grid, target)
                .map_err(|e| StoreError::Internal(e.to_string()))?
        };
        // The reject side tests from the strictest (lowest) threshold up.
        let reversed: Vec<f64> = grid.iter().map(|t| 1.0 - t).collect();
        // A label proposal people would have to relabel anyway is not stopped but reviewed:
        // only replies and actions get a reject threshold.
        let reject = if outcomes.is_empty() || policy.kind == Kind::Label {
            None
        } else {
            risk::certify_reject(&outcomes, &reversed, target)
                .map_err(|e| StoreError::Internal(e.to_string()))?
        };
        let map = |t: f64| Probability::clamped(state.calibrator.map_or(t, |c| c.probability(t)));
        state.certified = Some(Certified {
            approve_at: approve.as_ref().map(|c| map(c.threshold)),
            reject_below: reject.as_ref().map(|c| map(c.threshold)),
            raw_approve_at: approve.as_ref().map(|c| c.threshold),
            raw_reject_below: reject.as_ref().map(|c| c.threshold),
            approve_items: approve.as_ref().map_or(0, |c| c.items),
            approve_errors: approve.as_ref().map_or(0, |c| c.errors),
            approve_error_upper: approve.as_ref().map(|c| c.error_upper_bound),
            start_items: target.start_items(),
            automation_rate: approve.as_ref().map_or(0.0, |c| c.automation_rate)
                + reject.as_ref().map_or(0.0, |c| c.automation_rate),
        });
    }
    let fitted = state.clone();
    let audited = policy.clone();
    store
        .update_policy_state(
            ws,
            &policy.name,
            Box::new(move |stored| {
                let stored = PolicyState::from_json(stored);
                // The escape monitors move with every audit; keep the stored ones, not those
                // read before the refit began.
                let mut state = fitted;
                state.monitor = stored.monitor.clone();
                state.intent_monitors = stored.intent_monitors.clone();
                state.history = stored.history.clone();
                // A change is judged against the state as stored now, not as read before the
                // refit: when several servers refit at once, only the first to store a change
                // audits it.
                let was = stored.thresholds(&audited);
                let is = state.thresholds(&audited);
                let changed =
                    was.approve_at != is.approve_at || was.reject_below != is.reject_below;
                if changed {
                    state.history.push(ThresholdChange {
                        at: now,
                        approve_at: is.approve_at,
                        reject_below: is.reject_below,
                        outcomes: state.outcomes,
                    });
                    let excess = state.history.len().saturating_sub(HISTORY);
                    state.history.drain(..excess);
                }
                let event = changed.then(|| AuditEvent {
                    item_id: None,
                    actor: AuditActor::system("refit"),
                    action: AuditAction::ThresholdsChanged,
                    from: None,
                    to: None,
                    detail: json!({
                        "policy": audited.name,
                        "before": {"approve_at": was.approve_at, "reject_below": was.reject_below},
                        "after": {"approve_at": is.approve_at, "reject_below": is.reject_below},
                        "basis": is.basis,
                        "outcomes": state.outcomes,
                    }),
                });
                let value = serde_json::to_value(&state)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok((value, event))
            }),
            now,
        )
        .await?;
    Ok(state)
}

/// Feeds an audit verdict to the policy's escape monitor and, for a label policy, to the
/// monitor of the proposed label; trips the kill switch of each scope whose monitor alarms.
/// Returns the scopes tripped (`None` for the whole policy, `Some(label)` for one intent).
pub async fn monitor_audit(
    store: &dyn Store,
    ws: &WorkspaceId,
    policy: &Policy,
    intent: Option<&str>,
    escaped: bool,
    now: Timestamp,
) -> Result<Vec<Option<String>>, StoreError> {
    let p0 = policy.thresholds.target().map_or(0.02, |(a, _)| a);
    let intent = intent.map(str::to_owned);
    let alarms = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let raised = alarms.clone();
    // Read, observe and write in one transaction, so concurrent verdicts never lose one.
    store
        .update_policy_state(
            ws,
            &policy.name,
            Box::new(move |stored| {
                let mut state = PolicyState::from_json(stored);
                let fresh = || {
                    Cusum::new(p0, (p0 * ALARM_MULTIPLE).min(0.5), MONITOR_ARL0)
                        .map_err(|e| StoreError::Internal(format!("escape monitor: {e}")))
                };
                let mut tripped = Vec::new();
                let monitor = match state.monitor.as_mut() {
                    Some(m) => m,
                    None => state.monitor.insert(fresh()?),
                };
                if monitor.observe(escaped) == Alarm::Tripped {
                    monitor.reset();
                    tripped.push(None);
                }
                if let Some(intent) = intent {
                    let monitor = match state.intent_monitors.get_mut(&intent) {
                        Some(m) => m,
                        None => state
                            .intent_monitors
                            .entry(intent.clone())
                            .or_insert(fresh()?),
                    };
                    if monitor.observe(escaped) == Alarm::Tripped {
                        monitor.reset();
                        tripped.push(Some(intent));
                    }
                }
                *raised.lock().expect("alarm list poisoned") = tripped;
                let value = serde_json::to_value(&state)
                    .map_err(|e| StoreError::Internal(e.to_string()))?;
                Ok((value, None))
            }),
            now,
        )
        .await?;
    let tripped = std::mem::take(&mut *alarms.lock().expect("alarm list poisoned"));
    for scope in &tripped {
        let reason = match scope {
            None => "audited escapes rose above the target (CUSUM alarm)".to_owned(),
            Some(label) => {
                format!(
                    "audited escapes of proposals labelled {label} rose above the target (CUSUM alarm)"
                )
            }
        };
        store
            .trip_kill_switch(
                ws,
                &policy.name,
                scope.as_deref(),
                &reason,
                AuditActor::system("escape-monitor"),
                now,
            )
            .await?;
    }
    Ok(tripped)
}

/// The calibration report of a policy: reliability table and ECE of the current calibrator on
/// its labelled outcomes.
#[derive(Debug, Serialize, ToSchema)]
pub struct CalibrationReport {
    /// `platt`, or `none` while too few outcomes.
    pub calibrator: String,
    /// Platt's slope and intercept on the raw confidence, as `[a, b]`.
    #[schema(value_type = Option<Vec<f64>>)]
    pub parameters: Option<(f64, f64)>,
    /// Labelled outcomes.
    pub outcomes: usize,
    /// Expected calibration error with 10 equal-mass bins, of raw and calibrated confidence.
    pub ece_raw: Option<f64>,
    /// The same after calibration.
    pub ece_calibrated: Option<f64>,
    /// Per bin: count, confidence range and mean, observed accuracy.
    #[schema(value_type = Vec<Object>)]
    pub reliability: Vec<loopgate_learn::calibration::ReliabilityBin>,
}

/// Builds the calibration report from a state and its outcomes.
pub fn calibration_report(state: &PolicyState, rows: &[OutcomeRow]) -> CalibrationReport {
    let raw: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let correct: Vec<bool> = rows.iter().map(|r| r.correct).collect();
    let calibrated: Vec<f64> = raw
        .iter()
        .map(|s| state.calibrator.map_or(*s, |c| c.probability(*s)))
        .collect();
    let bins = 10.min(rows.len()).max(1);
    CalibrationReport {
        calibrator: if state.calibrator.is_some() {
            "platt"
        } else {
            "none"
        }
        .to_owned(),
        parameters: state.calibrator.map(|c| (c.a, c.b)),
        outcomes: rows.len(),
        ece_raw: ece(&raw, &correct, bins).ok(),
        ece_calibrated: ece(&calibrated, &correct, bins).ok(),
        reliability: reliability_table(&calibrated, &correct, bins).unwrap_or_default(),
    }
}

/// The learning state, the mode and what shadow mode would have bought, for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct LearningView {
    /// `live` or `shadow`.
    pub mode: Mode,
    /// The thresholds in force, and why.
    pub thresholds: EffectiveThresholds,
    /// The learned state.
    pub state: PolicyState,
    /// Share of labelled outcomes where people kept the AI's proposal as it was.
    pub agreement: Option<f64>,
    /// For label policies: how often people overrode each proposed label, most overridden
    /// first — where the model is weak.
    pub intents: Vec<IntentStats>,
}

/// How people judged one proposed label.
#[derive(Debug, Serialize, ToSchema)]
pub struct IntentStats {
    /// The proposed label.
    pub intent: String,
    /// Labelled outcomes where it was proposed.
    pub outcomes: usize,
    /// Of those, how many people overrode.
    pub overridden: usize,
    /// `overridden / outcomes`.
    pub override_rate: f64,
}

/// Override rates per proposed label.
pub fn intent_stats(rows: &[OutcomeRow]) -> Vec<IntentStats> {
    let mut by: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    for r in rows {
        if let Some(p) = &r.proposed {
            let e = by.entry(p.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(!r.correct);
        }
    }
    let mut stats: Vec<IntentStats> = by
        .into_iter()
        .map(|(intent, (outcomes, overridden))| IntentStats {
            intent: intent.to_owned(),
            outcomes,
            overridden,
            override_rate: overridden as f64 / outcomes as f64,
        })
        .collect();
    stats.sort_by(|a, b| {
        b.override_rate
            .total_cmp(&a.override_rate)
            .then(b.outcomes.cmp(&a.outcomes))
    });
    stats
}
