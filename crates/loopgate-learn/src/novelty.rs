//! Novelty: is this input unlike the traffic the model was checked on?
//!
//! A [`NoveltyDetector`] holds novelty scores of a calibration set of ordinary inputs (not
//! used for training) and turns a new input's score `s` into the conformal outlier p-value
//! `p(s) = (1 + #{calibration scores >= s}) / (n + 1)` (Bates, Candès, Lei, Romano, Sesia 2023,
//! "Testing for outliers with conformal p-values"). When the new input is exchangeable with the
//! calibration set, `P(p <= level) <= level`, so flagging `p <= level` flags at most about a
//! `level` share of ordinary traffic, whatever the score function. The score function only
//! decides how well real novelties are caught.
//!
//! [`NoveltyScore`] offers scores built from [`Scores`]: low top probability, energy
//! (`−logsumexp(logits)`, Liu et al. 2020), the share of n-grams no training text contained,
//! and a combination.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::classifier::Scores;

/// A novelty score function; higher means more novel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoveltyScore {
    /// `1 − max probability`, in [0, 1].
    MaxProbability,
    /// `−ln Σ exp(logit)`: low when some class fits strongly.
    Energy,
    /// Share of the text's n-gram buckets never seen in training, in [0, 1] (0 for no n-grams).
    UnseenShare,
    /// `(1 − max probability) + unseen share`, in [0, 2]: unsure *or* unfamiliar.
    Combined,
}

impl NoveltyScore {
    /// The score of one prediction. With no known classes, probability-based parts count as
    /// maximally novel (max probability 0, energy +inf).
    pub fn score(&self, s: &Scores) -> f64 {
        let max_p = s.probabilities.iter().copied().fold(0.0, f64::max);
        let unseen = if s.features == 0 {
            0.0
        } else {
            s.unseen_features as f64 / s.features as f64
        };
        match self {
            NoveltyScore::MaxProbability => 1.0 - max_p,
            NoveltyScore::Energy => {
                let m = s.logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if m == f64::NEG_INFINITY {
                    return f64::INFINITY;
                }
                -(m + s.logits.iter().map(|l| (l - m).exp()).sum::<f64>().ln())
            }
            NoveltyScore::UnseenShare => unseen,
            NoveltyScore::Combined => (1.0 - max_p) + unseen,
        }
    }
}

/// Conformal outlier p-value of `score` against calibration scores: in `[1/(n+1), 1]`. The
/// calibration slice need not be sorted. Fails when it is empty or holds a NaN, or `score` is
/// NaN.
pub fn conformal_p_value(calibration: &[f64], score: f64) -> Result<f64, Error> {
    if calibration.is_empty() {
        return Err(Error::EmptyInput("calibration scores"));
    }
    if score.is_nan() || calibration.iter().any(|s| s.is_nan()) {
        return Err(Error::invalid("score", "NaN"));
    }
    let at_least = calibration.iter().filter(|&&c| c >= score).count();
    Ok((1 + at_least) as f64 / (calibration.len() + 1) as f64)
}

/// Flags inputs whose conformal p-value is at most `level`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NoveltyDetector {
    /// Calibration scores, sorted ascending.
    calibration: Vec<f64>,
    level: f64,
    score: NoveltyScore,
}

impl NoveltyDetector {
    /// A detector from novelty scores of ordinary held-out inputs (computed with `score`) and
    /// a target flag rate `level` in (0, 1). Fails on empty or NaN calibration scores or a
    /// level outside (0, 1). With `n` calibration scores nothing is ever flagged unless
    /// `level >= 1/(n+1)`.
    pub fn new(calibration: Vec<f64>, score: NoveltyScore, level: f64) -> Result<Self, Error> {
        if !(level > 0.0 && level < 1.0) {
            return Err(Error::invalid("level", format!("{level} is not in (0, 1)")));
        }
        if calibration.is_empty() {
            return Err(Error::EmptyInput("calibration scores"));
        }
        if calibration.iter().any(|s| s.is_nan()) {
            return Err(Error::invalid("calibration", "holds NaN"));
        }
        let mut calibration = calibration;
        calibration.sort_by(f64::total_cmp);
        Ok(Self {
            calibration,
            level,
            score,
        })
    }

    /// The score function this detector was calibrated with.
    pub fn score_function(&self) -> NoveltyScore {
        self.score
    }

    /// Target flag rate on ordinary traffic.
    pub fn level(&self) -> f64 {
        self.level
    }

    /// Conformal p-value of a raw novelty score, in `[1/(n+1), 1]`; NaN counts as most novel.
    pub fn p_value(&self, score: f64) -> f64 {
        let n = self.calibration.len();
        let below = if score.is_nan() {
            n
        } else {
            self.calibration.partition_point(|&c| c < score)
        };
        (1 + n - below) as f64 / (n + 1) as f64
    }

    /// Conformal p-value of a prediction.
    pub fn p_value_of(&self, scores: &Scores) -> f64 {
        self.p_value(self.score.score(scores))
    }

    /// Whether a prediction is novel: `p_value_of(scores) <= level`.
    pub fn is_novel(&self, scores: &Scores) -> bool {
        self.p_value_of(scores) <= self.level
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};

    fn scores(probabilities: Vec<f64>, unseen: usize, features: usize) -> Scores {
        Scores {
            logits: probabilities.iter().map(|p| p.ln()).collect(),
            probabilities,
            features,
            unseen_features: unseen,
        }
    }

    #[test]
    fn p_value_by_hand() {
        let cal = [0.1, 0.2, 0.3, 0.4];
        assert_eq!(conformal_p_value(&cal, 0.35).unwrap(), 2.0 / 5.0);
        assert_eq!(conformal_p_value(&cal, 0.3).unwrap(), 3.0 / 5.0);
        assert_eq!(conformal_p_value(&cal, 9.0).unwrap(), 1.0 / 5.0);
        assert_eq!(conformal_p_value(&cal, -9.0).unwrap(), 1.0);
        assert!(conformal_p_value(&[], 0.1).is_err());
        let d = NoveltyDetector::new(cal.to_vec(), NoveltyScore::MaxProbability, 0.2).unwrap();
        for s in [0.35, 0.3, 9.0, -9.0] {
            assert_eq!(d.p_value(s), conformal_p_value(&cal, s).unwrap());
        }
    }

    #[test]
    fn score_functions() {
        let s = scores(vec![0.7, 0.2, 0.1], 3, 12);
        assert!((NoveltyScore::MaxProbability.score(&s) - 0.3).abs() < 1e-12);
        assert!((NoveltyScore::UnseenShare.score(&s) - 0.25).abs() < 1e-12);
        assert!((NoveltyScore::Combined.score(&s) - 0.55).abs() < 1e-12);
        // Logits are log-probabilities here, so logsumexp = 0.
        assert!(NoveltyScore::Energy.score(&s).abs() < 1e-12);
        let empty = scores(vec![], 0, 0);
        assert_eq!(NoveltyScore::Energy.score(&empty), f64::INFINITY);
        assert_eq!(NoveltyScore::UnseenShare.score(&empty), 0.0);
    }

    #[test]
    fn flag_rate_on_ordinary_data_is_close_to_the_level() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(5);
        let mut draw = || -> f64 { (0..6).map(|_| rng.random::<f64>()).sum() };
        // With n calibration scores the flag rate, given the calibration set, has standard
        // deviation about sqrt(level (1 - level) / n): 0.2% for n = 10,000.
        let calibration: Vec<f64> = (0..10_000).map(|_| draw()).collect();
        let detector = NoveltyDetector::new(calibration, NoveltyScore::Combined, 0.05).unwrap();
        let flagged = (0..20_000)
            .filter(|_| detector.p_value(draw()) <= 0.05)
            .count();
        let rate = flagged as f64 / 20_000.0;
        assert!((rate - 0.05).abs() < 0.01, "flag rate {rate}");
        // Far-out scores are flagged.
        assert!(detector.p_value(100.0) <= 0.05);
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(NoveltyDetector::new(vec![], NoveltyScore::Energy, 0.1).is_err());
        assert!(NoveltyDetector::new(vec![0.1], NoveltyScore::Energy, 0.0).is_err());
        assert!(NoveltyDetector::new(vec![f64::NAN], NoveltyScore::Energy, 0.1).is_err());
    }

    proptest! {
        #[test]
        fn p_values_are_valid_and_monotone(cal in proptest::collection::vec(-10.0f64..10.0, 1..100), a in -12.0f64..12.0, b in -12.0f64..12.0) {
            let d = NoveltyDetector::new(cal.clone(), NoveltyScore::MaxProbability, 0.1).unwrap();
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            let n = cal.len() as f64;
            prop_assert!(d.p_value(hi) <= d.p_value(lo));
            prop_assert!(d.p_value(lo) <= 1.0 && d.p_value(hi) >= 1.0 / (n + 1.0));
        }
    }
}
