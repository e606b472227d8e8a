//! `loopgate simulate`: replays a labelled ticket stream through Loopgate's real verdict
//! pipeline with its embedded model and simulated reviewers, and reports what each policy
//! delivers — the AI alone, fixed thresholds, Loopgate's risk-controlled thresholds with and
//! without second opinions, and the hindsight oracle — side by side, from one run.
//!
//! The crate reads and writes nothing: the caller brings the tickets and writes the report.

mod baselines;
pub mod engine;
pub mod outcome;
pub mod render;
pub mod stream;

use serde::Serialize;

use crate::outcome::{PolicyResult, summarise};
pub use crate::stream::Ticket;

/// Why a simulation could not run.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting or the data is unusable.
    #[error("{0}")]
    Invalid(String),
    /// The learning math refused a parameter.
    #[error(transparent)]
    Learn(#[from] loopgate_learn::Error),
}

/// Drift: from item `at` on, the AI is wrong on an extra share `error` of items. Each right
/// proposal is replaced by a wrong label with probability `error / a`, where `a` is the share of
/// right proposals the model made over the 1,000 items just before (every right proposal when
/// `a` is at most `error`: a model cannot be made wrong on more items than it gets right).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Drift {
    /// First drifting item (0-based).
    pub at: usize,
    /// Extra share of all items whose proposal is made wrong, in [0, 1].
    pub error: f64,
}

/// The automatic kill switch's settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KillSwitch {
    /// The alarm escape rate as a multiple of the target (p1 = multiple × alpha).
    pub alarm_multiple: f64,
    /// Audited items between false alarms when escapes run at the target (ARL0).
    pub arl0: f64,
    /// Items after a trip before the simulated lead resets the switch.
    pub reset_after: usize,
}

/// A simulation's settings.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Config {
    /// Target escape rate alpha among auto-approved items, in (0, 1).
    pub target_escape: f64,
    /// Confidence of the guarantee, 1 - delta, in (0, 1).
    pub confidence: f64,
    /// Probability a simulated reviewer gives the true label, in [0, 1].
    pub reviewer_accuracy: f64,
    /// Share of auto-approved items audited, in [0, 1].
    pub audit_rate: f64,
    /// Seed of the shuffle and of every simulated reviewer and audit draw.
    pub seed: u64,
    /// Items between refits of calibration and thresholds.
    pub refit_every: usize,
    /// Folds for out-of-fold scoring of labelled items (at least 2).
    pub folds: usize,
    /// A second reviewer decides when the first disagrees with a model at least this confident.
    pub second_opinion_min_confidence: f64,
    /// Injected drift, if any.
    pub drift: Option<Drift>,
    /// The kill switch.
    pub kill_switch: KillSwitch,
    /// Earlier labels the models rehearse after each new one.
    pub replay: usize,
    /// Run Loopgate with second opinions (the `loopgate` row).
    pub second_opinion: bool,
    /// Run Loopgate with single reviews, no second opinion (the `loopgate-single-review` row).
    pub compare_single_review: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            target_escape: 0.01,
            confidence: 0.95,
            reviewer_accuracy: 0.98,
            audit_rate: 0.05,
            seed: 1,
            refit_every: 500,
            folds: 5,
            second_opinion_min_confidence: 0.0,
            drift: None,
            kill_switch: KillSwitch {
                alarm_multiple: 5.0,
                arl0: 10_000.0,
                reset_after: 1_000,
            },
            replay: 8,
            second_opinion: true,
            compare_single_review: true,
        }
    }
}

impl Config {
    /// Checks every setting, as [`simulate`] does before it starts: call it before writing
    /// anything.
    pub fn validate(&self) -> Result<(), SimError> {
        let open = |name: &str, v: f64| {
            if v > 0.0 && v < 1.0 {
                Ok(())
            } else {
                Err(SimError::Invalid(format!(
                    "{name} must be strictly between 0 and 1, got {v}"
                )))
            }
        };
        let closed = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(SimError::Invalid(format!(
                    "{name} must be between 0 and 1, got {v}"
                )))
            }
        };
        open("target escape", self.target_escape)?;
        open("confidence", self.confidence)?;
        // The bound's own limits, checked here so a run fails before it starts.
        loopgate_learn::risk::RiskTarget::new(self.target_escape, 1.0 - self.confidence).map_err(
            |e| {
                SimError::Invalid(format!(
                    "target escape {} at confidence {} cannot be certified: {e} \
                     (target escape must lie in [{}, 0.5], confidence in [0.5, {}])",
                    self.target_escape,
                    self.confidence,
                    loopgate_learn::risk::MIN_ALPHA,
                    1.0 - loopgate_learn::risk::MIN_DELTA,
                ))
            },
        )?;
        closed("reviewer accuracy", self.reviewer_accuracy)?;
        closed("audit rate", self.audit_rate)?;
        closed(
            "second-opinion confidence",
            self.second_opinion_min_confidence,
        )?;
        if let Some(d) = self.drift {
            closed("drift error", d.error)?;
        }
        if !self.second_opinion && !self.compare_single_review {
            return Err(SimError::Invalid(
                "run Loopgate with second opinions, with single reviews, or both".into(),
            ));
        }
        if self.refit_every == 0 || self.folds < 2 {
            return Err(SimError::Invalid(
                "refit cadence must be >= 1 and folds >= 2".into(),
            ));
        }
        if !(self.kill_switch.arl0 > 1.0 && self.kill_switch.alarm_multiple > 1.0) {
            return Err(SimError::Invalid(
                "kill switch needs ARL0 > 1 and an alarm multiple > 1".into(),
            ));
        }
        Ok(())
    }
}

/// A simulation's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The settings.
    pub config: Config,
    /// Tickets in the stream.
    pub items: usize,
    /// Distinct labels.
    pub labels: usize,
    /// The oracle's hindsight threshold on raw confidence.
    pub oracle_threshold: Option<f64>,
    /// Loopgate's certified raw-confidence threshold at each refit, as (item, threshold): of
    /// the `loopgate` run, or of `loopgate-single-review` when only that one runs.
    pub loopgate_thresholds: Vec<(usize, Option<f64>)>,
    /// Per policy.
    pub policies: Vec<PolicyResult>,
}

impl Report {
    /// A policy's result by name.
    pub fn policy(&self, name: &str) -> Option<&PolicyResult> {
        self.policies.iter().find(|p| p.name == name)
    }
}

/// Simulates every policy on `tickets` shuffled with the configured seed.
pub fn simulate(tickets: &[Ticket], config: &Config) -> Result<Report, SimError> {
    simulate_stream(&stream::shuffled(tickets, config.seed), tickets, config)
}

/// Simulates every policy on `stream` as given (already shuffled, perhaps cut short); the
/// labels reviewers may confuse are those of `all`.
pub fn simulate_stream(
    stream: &[Ticket],
    all: &[Ticket],
    config: &Config,
) -> Result<Report, SimError> {
    config.validate()?;
    if stream.is_empty() {
        return Err(SimError::Invalid("no tickets to simulate".into()));
    }
    let mut labels: Vec<String> = all.iter().map(|t| t.label.clone()).collect();
    labels.sort();
    labels.dedup();

    let alpha = config.target_escape;
    // The escape rate's upper bound at the run's confidence.
    let delta = 1.0 - config.confidence;
    let upper = |k: usize, n: usize| {
        loopgate_learn::risk::clopper_pearson_upper(k as u64, n as u64, delta).unwrap_or(1.0)
    };
    // The Loopgate variants asked for; the baselines are evaluated on the first one's proposals.
    let mut runs = Vec::new();
    if config.second_opinion {
        runs.push((
            "loopgate",
            "Learn-then-Test threshold at the target, out-of-fold labels, second opinion on disagreement, kill switch",
            engine::run_loop(stream, &labels, config, true)?,
        ));
    }
    if config.compare_single_review {
        runs.push((
            "loopgate-single-review",
            "as loopgate, but every label from a single reviewer (the bound sees reviewer noise)",
            engine::run_loop(stream, &labels, config, false)?,
        ));
    }
    let main = &runs[0].2;
    let per_1000 = |seconds: f64| seconds / stream.len() as f64 * 1000.0;

    let mut policies = Vec::new();
    let timed = |f: &dyn Fn() -> Vec<outcome::Fate>| {
        let t = std::time::Instant::now();
        let fates = f();
        (fates, t.elapsed().as_secs_f64())
    };

    let (fates, s) = timed(&|| baselines::ai_only(&main.steps));
    let mut r = summarise(
        "ai-only",
        "every proposal delivered as the AI made it",
        &fates,
        upper,
    );
    r.seconds_per_1000 = per_1000(s);
    policies.push(r);

    for t in [0.7, 0.9] {
        let (fates, s) = timed(&|| baselines::fixed(&main.steps, t));
        let mut r = summarise(
            &format!("fixed-{t}"),
            &format!("raw confidence >= {t} delivered, the rest to one reviewer"),
            &fates,
            upper,
        );
        r.reviews.first = fates.iter().filter(|f| !f.automated).count();
        r.seconds_per_1000 = per_1000(s);
        policies.push(r);
    }

    for (name, description, run) in &runs {
        let mut r = summarise(name, description, &run.fates, upper);
        r.reviews = run.reviews;
        r.kill_switch_trips = run.trips;
        r.intent_kill_switch_trips = run.intent_trips;
        r.first_trip_after_drift = run.first_trip_after_drift;
        r.proposal_accuracy = Some(
            run.steps.iter().filter(|s| s.proposal_correct).count() as f64 / run.steps.len() as f64,
        );
        r.seconds_per_1000 = per_1000(run.seconds);
        policies.push(r);
    }

    let oracle_threshold = baselines::oracle_threshold(&main.steps, alpha);
    let (fates, s) =
        timed(&|| baselines::fixed(&main.steps, oracle_threshold.unwrap_or(f64::INFINITY)));
    let mut r = summarise(
        "oracle",
        "the loosest fixed threshold that keeps escapes at the target, chosen in hindsight on true labels",
        &fates,
        upper,
    );
    r.reviews.first = fates.iter().filter(|f| !f.automated).count();
    r.seconds_per_1000 = per_1000(s);
    policies.push(r);

    Ok(Report {
        config: config.clone(),
        items: stream.len(),
        labels: labels.len(),
        oracle_threshold,
        loopgate_thresholds: main.thresholds.clone(),
        policies,
    })
}
