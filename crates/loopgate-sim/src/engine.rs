//! Loopgate's closed loop on a ticket stream: the embedded model proposes, the real verdict
//! pipeline routes, simulated reviewers label, every human label trains the model, and the
//! calibrator and the risk-controlled threshold are refitted on a cadence from labels that
//! represent the stream.
//!
//! Where the labels for the bound come from: human labels are scored out of fold — by a model
//! that never trained on them — so that items from every part of the score range count. Once
//! the policy automates, people see only what scored below the threshold (and audits), a
//! sample skewed to hard items; so only labels chosen without looking at the item feed the
//! bound: everything labelled while the policy was not automating, audits, and reviewed items
//! whose audit coin came up (the same coin at the same rate as audits). Those labels are
//! trusted only if reviewer noise cannot flip an outcome: with the second opinion on, a
//! reviewer's label that disagrees with the model is checked by a second, independent reviewer
//! who decides. When the kill switch trips, the labels from before are set aside: the threshold
//! is certified again only from labels gathered since — everything people label while nothing
//! is automated, then the audits — so a false alarm pauses automation without ending it.

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use chrono::{DateTime, Duration};
use loopgate_core::item::{Customer, Input, Proposal};
use loopgate_core::verdict::{self, Calibrator, NoveltyFinding, VerdictContext};
use loopgate_core::{
    Kind, Mode, Policy, PolicySpec, Probability, Status, Submission, Uncalibrated,
};
use loopgate_learn::calibration::PlattScaling;
use loopgate_learn::learner::{Label, Learner, LearnerConfig};
use loopgate_learn::monitor::{Cusum, Status as Alarm};
use loopgate_learn::risk::{self, Outcome, RiskTarget};
use serde_json::{Map, json};

use crate::outcome::{Fate, Reviews, TripDelay};

use crate::stream::{Dice, Purpose, Ticket, review, wrong_label};
use crate::{Config, SimError};

/// The name of the simulated policy.
const POLICY: &str = "sim.classify";

/// What the loop recorded of one item, for the baselines evaluated on the same proposals.
#[derive(Debug, Clone)]
pub struct Step {
    /// The AI's proposed label (after drift, if any).
    pub proposal: String,
    /// The AI's raw confidence.
    pub confidence: f64,
    /// Whether the proposal was right.
    pub proposal_correct: bool,
    /// Whether the first reviewer, alone, would have given the true label.
    pub first_review_correct: bool,
}

/// A finished closed-loop run.
#[derive(Debug)]
pub struct LoopRun {
    /// Each item's fate.
    pub fates: Vec<Fate>,
    /// Each item's proposal, for the baselines.
    pub steps: Vec<Step>,
    /// Reviews spent.
    pub reviews: Reviews,
    /// Kill switch trips.
    pub trips: usize,
    /// Trips of per-intent kill switches.
    pub intent_trips: usize,
    /// First trip after drift began.
    pub first_trip_after_drift: Option<TripDelay>,
    /// Thresholds certified over the run, as (item, raw threshold).
    pub thresholds: Vec<(usize, Option<f64>)>,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Whether a human label of item `i` may feed the bound. While the policy automates, people see
/// only what scored below the threshold, plus audits: a sample skewed to hard items, on which
/// the bound would see more errors than live traffic has and keep the threshold too strict.
/// Reviewed items are therefore admitted by the same coin as audits, so that the admitted
/// labels are a sample of the stream chosen without looking at the items. Shadow and kill switch
/// periods label everything, so all of those are admitted.
fn representative(dice: &Dice, i: usize, automating: bool, audit_rate: f64) -> bool {
    !automating || dice.uniform(i, Purpose::Audit) < audit_rate
}

/// Items over which drift measures the share of right proposals.
const DRIFT_WINDOW: usize = 1_000;

/// How drift makes the AI wrong on an extra share `error` of items: it keeps the share `a` of
/// right proposals (before any corruption) over the last [`DRIFT_WINDOW`] items before the
/// current one, and makes each right proposal wrong with probability `error / a`, so that
/// `a · error / a = error` of all items turn wrong. When no more than `error` were right, every
/// right proposal turns wrong.
#[derive(Debug, Default)]
struct DriftRate {
    recent: VecDeque<bool>,
    right: usize,
}

impl DriftRate {
    /// Records whether the model's own proposal (before any drift) for an item was right.
    fn observe(&mut self, right: bool) {
        if self.recent.len() == DRIFT_WINDOW
            && let Some(oldest) = self.recent.pop_front()
        {
            self.right -= usize::from(oldest);
        }
        self.recent.push_back(right);
        self.right += usize::from(right);
    }

    /// The probability that drift turns a right proposal wrong, for an extra share `error`.
    fn corruption(&self, error: f64) -> f64 {
        let right = self.right as f64 / self.recent.len().max(1) as f64;
        if error <= 0.0 {
            0.0
        } else if right <= error {
            1.0
        } else {
            error / right
        }
    }
}

struct PlattCalibrator(PlattScaling);

impl Calibrator for PlattCalibrator {
    fn name(&self) -> &str {
        "platt"
    }
    fn calibrate(&self, raw: Probability) -> Probability {
        Probability::clamped(self.0.probability(raw.get()))
    }
}

/// Runs the closed loop over `stream` (already shuffled).
pub fn run_loop(
    stream: &[Ticket],
    labels: &[String],
    config: &Config,
    second_opinion: bool,
) -> Result<LoopRun, SimError> {
    let started = Instant::now();
    let dice = Dice::new(config.seed);
    let target = RiskTarget::new(config.target_escape, 1.0 - config.confidence)?;
    let grid = risk::confidence_grid();
    // The server's learner settings, but for the folds and rehearsals the config may vary.
    let mut learner = Learner::new(LearnerConfig {
        folds: config.folds.max(2),
        replay: config.replay,
        ..LearnerConfig::default()
    })?;
    let mut policy = sim_policy(None, config.audit_rate)?;
    let mut calibrator: Option<PlattCalibrator> = None;
    let mut cusum = Cusum::new(
        config.target_escape,
        (config.target_escape * config.kill_switch.alarm_multiple).min(0.5),
        config.kill_switch.arl0,
    )?;
    let mut tripped_until: Option<usize> = None;
    // Per proposed label, as the server keeps them: a monitor, and until when its switch holds.
    let mut intent_monitors: HashMap<String, Cusum> = HashMap::new();
    let mut intent_tripped_until: HashMap<String, usize> = HashMap::new();
    let mut intent_trips = 0;
    // After a trip, out-of-fold scores no longer speak for the live proposals (whatever broke
    // them is outside the models): thresholds are certified again only from the live outcomes
    // of items people reviewed while the switch was tripped, an unbiased sample.
    let mut after_trip: Option<Vec<Outcome>> = None;
    let mut trips = 0;
    let mut first_trip_after_drift = None;
    let mut audited_since_drift = 0usize;
    let mut drift_rate = DriftRate::default();
    let start = DateTime::from_timestamp(1_795_478_400, 0).expect("constant in range");

    let mut fates = Vec::with_capacity(stream.len());
    let mut steps = Vec::with_capacity(stream.len());
    let mut reviews = Reviews::default();
    let mut thresholds = vec![(0, None)];

    for (i, ticket) in stream.iter().enumerate() {
        // The item's own fold model proposes: it never trains on this item, so live scores and
        // the out-of-fold scores the threshold was certified on come from the same kind of model.
        let (mut proposal, confidence) = match learner.predict(&ticket.text) {
            Some(p) => (p.label, p.probability),
            None => (labels[0].clone(), 0.0),
        };
        let drifting = config.drift.is_some_and(|d| i >= d.at);
        let right = proposal == ticket.label;
        if let Some(d) = config.drift.filter(|_| drifting)
            && right
            && dice.uniform(i, Purpose::Drift) < drift_rate.corruption(d.error)
        {
            proposal = wrong_label(&dice, i, &ticket.label, labels);
        }
        drift_rate.observe(right);

        // The real verdict pipeline decides.
        if tripped_until.is_some_and(|until| i >= until) {
            tripped_until = None;
            cusum.reset();
        }
        intent_tripped_until.retain(|_, until| i < *until);
        let intent_switch = intent_tripped_until
            .contains_key(&proposal)
            .then(|| format!("intent {proposal}: audited escapes spiked"));
        let submission = submission(&ticket.text, &proposal, confidence);
        let ctx = VerdictContext {
            now: start + Duration::seconds(i as i64),
            calibrator: calibrator
                .as_ref()
                .map_or(&Uncalibrated as &dyn Calibrator, |c| c as &dyn Calibrator),
            kill_switch: tripped_until
                .map(|_| "audited escapes spiked")
                .or(intent_switch.as_deref()),
            novelty: novelty(&learner, &ticket.text),
            thresholds: None,
        };
        let route = verdict::decide(&policy, &submission, &ctx);
        let automating = policy.mode == Mode::Live && tripped_until.is_none();

        let human = |reviews: &mut Reviews, audit: bool| {
            let (label, n) = human_label(
                &dice,
                i,
                ticket,
                &proposal,
                confidence,
                labels,
                config,
                second_opinion,
            );
            if audit {
                reviews.audit += n;
            } else {
                reviews.first += 1;
                reviews.second += n - 1;
            }
            label
        };
        let fate = if route.status == Status::AutoApproved {
            if dice.uniform(i, Purpose::Audit) < config.audit_rate {
                let label = human(&mut reviews, true);
                let escaped = label != proposal;
                if drifting {
                    audited_since_drift += 1;
                }
                let intent = match intent_monitors.get_mut(&proposal) {
                    Some(m) => m,
                    None => intent_monitors
                        .entry(proposal.clone())
                        .or_insert(cusum.fresh()),
                };
                if intent.observe(escaped) == Alarm::Tripped {
                    intent.reset();
                    intent_trips += 1;
                    intent_tripped_until
                        .insert(proposal.clone(), i + 1 + config.kill_switch.reset_after);
                }
                if tripped_until.is_none() && cusum.observe(escaped) == Alarm::Tripped {
                    trips += 1;
                    tripped_until = Some(i + 1 + config.kill_switch.reset_after);
                    after_trip.get_or_insert_with(Vec::new);
                    policy = sim_policy(None, config.audit_rate)?;
                    calibrator = None;
                    if let (Some(d), None) = (config.drift, first_trip_after_drift)
                        && drifting
                    {
                        first_trip_after_drift = Some(TripDelay {
                            items: i + 1 - d.at,
                            audited: audited_since_drift,
                        });
                    }
                }
                // Audits are chosen by the coin alone: after a trip they feed the new pool too.
                if let Some(live) = after_trip.as_mut() {
                    live.push(Outcome {
                        score: confidence,
                        correct: proposal == label,
                    });
                }
                learner.learn(Label {
                    text: ticket.text.clone(),
                    label,
                    representative: true,
                });
            }
            Fate {
                automated: true,
                correct: proposal == ticket.label,
            }
        } else {
            let label = human(&mut reviews, false);
            // After a trip, the threshold is certified again only from labels gathered since:
            // everything people label while the switch holds or nothing is automated (a
            // false alarm must not end automation for good), then the audits.
            if let Some(live) = after_trip.as_mut().filter(|_| !automating) {
                live.push(Outcome {
                    score: confidence,
                    correct: proposal == label,
                });
            }
            let correct = label == ticket.label;
            learner.learn(Label {
                text: ticket.text.clone(),
                label,
                representative: representative(&dice, i, automating, config.audit_rate),
            });
            Fate {
                automated: false,
                correct,
            }
        };
        fates.push(fate);
        steps.push(Step {
            proposal_correct: proposal == ticket.label,
            first_review_correct: review(
                &dice,
                i,
                0,
                &ticket.label,
                labels,
                config.reviewer_accuracy,
            ) == ticket.label,
            proposal,
            confidence,
        });

        if (i + 1) % config.refit_every == 0 {
            let outcomes: Vec<Outcome> = match &after_trip {
                Some(live) => live.clone(),
                None => learner.out_of_fold(),
            };
            let certified = risk::certify_approve(&outcomes, &grid, target)?.map(|c| c.threshold);
            let scores: Vec<f64> = outcomes.iter().map(|o| o.score).collect();
            let correct: Vec<bool> = outcomes.iter().map(|o| o.correct).collect();
            // A calibrator must keep the order of scores, or the certified threshold would
            // select other items once mapped.
            calibrator = PlattScaling::fit(&scores, &correct)
                .ok()
                .filter(|p| p.a > 0.0)
                .map(PlattCalibrator);
            let approve_at = certified.map(|t| match &calibrator {
                Some(c) => c.0.probability(t),
                None => t,
            });
            policy = sim_policy(approve_at, config.audit_rate)?;
            thresholds.push((i + 1, certified));
        }
    }

    Ok(LoopRun {
        fates,
        steps,
        reviews,
        trips,
        intent_trips,
        first_trip_after_drift,
        thresholds,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The learner's novelty finding for `text`, as the server's submit path makes it.
fn novelty(learner: &Learner, text: &str) -> Option<NoveltyFinding> {
    let level = learner.config().novelty.level;
    let p_value = learner.novelty_p_value(text);
    (p_value <= level).then_some(NoveltyFinding { p_value, level })
}

/// A person's label for item `i`: the first reviewer's, unless the second opinion applies — the
/// reviewer disagrees with a model at least as confident as configured. Then a second reviewer
/// looks; if they side with either the first reviewer or the model, that is the label, and if
/// they side with neither, a third reviewer breaks the tie. Returns the label and the reviews it
/// took.
#[allow(clippy::too_many_arguments)]
fn human_label(
    dice: &Dice,
    i: usize,
    ticket: &Ticket,
    proposal: &str,
    confidence: f64,
    labels: &[String],
    config: &Config,
    second_opinion: bool,
) -> (String, usize) {
    let look = |slot| {
        review(
            dice,
            i,
            slot,
            &ticket.label,
            labels,
            config.reviewer_accuracy,
        )
    };
    let first = look(0);
    if !second_opinion || first == proposal || confidence < config.second_opinion_min_confidence {
        return (first, 1);
    }
    let second = look(1);
    if second == first || second == proposal {
        return (second, 2);
    }
    let third = look(2);
    let label = if third == second {
        second
    } else if third == proposal {
        proposal.to_owned()
    } else {
        first
    };
    (label, 3)
}

/// The simulated label policy: shadow (people decide everything) until a threshold is
/// certified, then live with that threshold.
fn sim_policy(approve_at: Option<f64>, audit_rate: f64) -> Result<Policy, SimError> {
    let spec: PolicySpec = serde_json::from_value(json!({
        "name": POLICY,
        "kind": "label",
        "mode": if approve_at.is_some() { "live" } else { "shadow" },
        "thresholds": {"approve_at": approve_at.unwrap_or(1.0).clamp(0.0, 1.0), "reject_below": 0.0},
        "audit_rate": audit_rate,
        "validators": {"required_fields": ["label"]},
        "review_signals": [],
    }))
    .map_err(|e| SimError::Invalid(format!("simulated policy: {e}")))?;
    spec.validate()
        .map_err(|p| SimError::Invalid(format!("simulated policy: {}", p.join("; "))))
}

fn submission(text: &str, proposal: &str, confidence: f64) -> Submission {
    Submission {
        policy: POLICY.parse().expect("constant policy name"),
        input: Input {
            text: text.to_owned(),
            channel: None,
            extra: Map::new(),
        },
        customer: Customer {
            id: "simulated".to_owned(),
            name: None,
            tier: None,
            health_score: None,
            deal_value: None,
            renewal_date: None,
            extra: Map::new(),
        },
        proposal: Proposal {
            kind: Kind::Label,
            payload: json!({ "label": proposal }),
            confidence: Probability::clamped(confidence),
            model: Some("loopgate".to_owned()),
            model_version: None,
            rationale: None,
            citations: Vec::new(),
        },
        signals: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Drift, KillSwitch};

    fn labels() -> Vec<String> {
        (0..20).map(|i| format!("intent_{i}")).collect()
    }

    fn ticket() -> Ticket {
        Ticket {
            text: "card not arrived".into(),
            label: "intent_3".into(),
        }
    }

    fn config(accuracy: f64) -> Config {
        Config {
            reviewer_accuracy: accuracy,
            ..Config::default()
        }
    }

    #[test]
    fn agreement_with_the_model_needs_one_review() {
        let dice = Dice::new(1);
        let (label, n) = human_label(
            &dice,
            0,
            &ticket(),
            "intent_3",
            0.9,
            &labels(),
            &config(1.0),
            true,
        );
        assert_eq!((label.as_str(), n), ("intent_3", 1));
    }

    #[test]
    fn disagreement_gets_a_second_opinion_only_when_enabled() {
        let dice = Dice::new(1);
        let (label, n) = human_label(
            &dice,
            0,
            &ticket(),
            "intent_7",
            0.9,
            &labels(),
            &config(1.0),
            true,
        );
        assert_eq!((label.as_str(), n), ("intent_3", 2));
        let (_, n) = human_label(
            &dice,
            0,
            &ticket(),
            "intent_7",
            0.9,
            &labels(),
            &config(1.0),
            false,
        );
        assert_eq!(n, 1);
        let strict = Config {
            second_opinion_min_confidence: 0.95,
            ..config(1.0)
        };
        let (_, n) = human_label(
            &dice,
            0,
            &ticket(),
            "intent_7",
            0.9,
            &labels(),
            &strict,
            true,
        );
        assert_eq!(
            n, 1,
            "the model is not confident enough to warrant a second look"
        );
    }

    #[test]
    fn second_opinions_remove_most_reviewer_noise() {
        let dice = Dice::new(5);
        let labels = labels();
        let cfg = config(0.9);
        let n = 5_000;
        let wrong = |second: bool| {
            (0..n)
                .filter(|i| {
                    human_label(&dice, *i, &ticket(), "intent_7", 0.9, &labels, &cfg, second).0
                        != "intent_3"
                })
                .count() as f64
                / n as f64
        };
        let single = wrong(false);
        let checked = wrong(true);
        assert!((single - 0.1).abs() < 0.02, "{single}");
        assert!(checked < 0.03, "{checked}");
    }

    #[test]
    fn drift_turns_right_proposals_wrong_in_proportion_to_how_many_are_right() {
        let mut rate = DriftRate::default();
        assert_eq!(rate.corruption(0.2), 1.0, "nothing seen yet");
        for i in 0..DRIFT_WINDOW {
            rate.observe(i % 5 != 0);
        }
        // 80% right: a quarter of the right ones makes 20% of all items wrong.
        assert!((rate.corruption(0.2) - 0.25).abs() < 1e-12);
        assert_eq!(rate.corruption(0.0), 0.0);
        assert_eq!(
            rate.corruption(0.9),
            1.0,
            "cannot take more than the right ones"
        );
        // The window slides: the model now gets everything right.
        for _ in 0..DRIFT_WINDOW {
            rate.observe(true);
        }
        assert!((rate.corruption(0.2) - 0.2).abs() < 1e-12);
    }

    /// Tickets of 8 intents, each with its own words, except that about a third say nothing
    /// telling: the model gets roughly 70% right, so "an extra share E of items wrong" and "a
    /// share E of right proposals wrong" differ.
    fn partly_learnable(n: usize) -> Vec<Ticket> {
        (0..n)
            .map(|i| {
                let mix = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32;
                let intent = mix % 8;
                let text = if mix.is_multiple_of(3) {
                    format!("hello i have a question {}", mix % 5)
                } else {
                    format!("about topic{intent} my thing{intent} is broken {}", mix % 7)
                };
                Ticket {
                    text,
                    label: format!("intent_{intent}"),
                }
            })
            .collect()
    }

    #[test]
    fn a_false_alarm_of_the_kill_switch_does_not_end_automation_for_good() {
        let stream = partly_learnable(8_000);
        let labels: Vec<String> = (0..8).map(|i| format!("intent_{i}")).collect();
        // A hair trigger: one audited escape trips the switch, which the lead resets 100 items
        // later, far fewer than a threshold needs labelled outcomes above it.
        let config = Config {
            reviewer_accuracy: 1.0,
            target_escape: 0.05,
            audit_rate: 0.3,
            kill_switch: KillSwitch {
                alarm_multiple: 2.0,
                arl0: 1.5,
                reset_after: 100,
            },
            ..Config::default()
        };
        let run = run_loop(&stream, &labels, &config, true).unwrap();
        let automated =
            |range: std::ops::Range<usize>| run.fates[range].iter().filter(|f| f.automated).count();
        assert!(run.trips >= 1, "the switch tripped");
        assert!(
            automated(6_000..8_000) > 0,
            "automation resumed after the trips"
        );
    }

    #[test]
    fn drift_makes_the_ai_wrong_on_an_extra_share_of_items() {
        let stream = partly_learnable(2_000);
        let labels: Vec<String> = (0..8).map(|i| format!("intent_{i}")).collect();
        let config = |drift| Config {
            reviewer_accuracy: 1.0,
            drift,
            ..Config::default()
        };
        let at = 1_000;
        let wrong_after_drift = |drift| {
            let run = run_loop(&stream, &labels, &config(drift), true).unwrap();
            let after = &run.steps[at..];
            let right = after.iter().filter(|s| s.proposal_correct).count();
            (1.0 - right as f64 / after.len() as f64, run.steps)
        };
        let (base, steady) = wrong_after_drift(None);
        let accuracy = 1.0 - base;
        assert!(
            (0.55..0.85).contains(&accuracy),
            "model accuracy {accuracy}"
        );
        let (drifted, steps) = wrong_after_drift(Some(Drift { at, error: 0.3 }));
        let extra = drifted - base;
        // 0.3 of all items, not 0.3 of the right ones (which would be about 0.21).
        assert!((extra - 0.3).abs() < 0.04, "extra wrong share {extra}");
        // Before the drift the AI proposes what it would have.
        let proposals = |s: &[Step]| {
            s[..at]
                .iter()
                .map(|s| s.proposal.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(proposals(&steps), proposals(&steady));
    }
}
