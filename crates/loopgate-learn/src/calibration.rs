//! Calibration: raw confidence score → probability that the proposal is right, fitted per
//! policy on human-labelled outcomes; and how to measure it (ECE, reliability table).
//!
//! - [`PlattScaling`] fits `p = 1 / (1 + exp(-(a·s + b)))` by Newton's method on the
//!   log-loss, with Platt's smoothed targets `(N+ + 1)/(N+ + 2)` and `1/(N- + 2)` so that a
//!   perfectly separable sample does not push the slope to infinity (Platt 1999; the
//!   safeguarded Newton iteration of Lin, Lin & Weng 2007).
//! - [`IsotonicRegression`] fits the best non-decreasing step function by weighted
//!   pool-adjacent-violators (Zadrozny & Elkan 2002). It needs more data than Platt but assumes
//!   no shape.
//!
//! Both are plain data (serde) so a fitted calibrator can be stored with its policy.

use serde::{Deserialize, Serialize};

use crate::Error;

fn check_pairs(scores: &[f64], n: usize) -> Result<(), Error> {
    if scores.is_empty() {
        return Err(Error::EmptyInput("scores"));
    }
    if scores.len() != n {
        return Err(Error::LengthMismatch {
            expected: scores.len(),
            found: n,
        });
    }
    if let Some(s) = scores.iter().find(|s| !s.is_finite()) {
        return Err(Error::invalid("score", format!("{s} is not finite")));
    }
    Ok(())
}

/// Platt scaling: `p(s) = 1 / (1 + exp(-(a·s + b)))`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PlattScaling {
    /// Slope on the raw score.
    pub a: f64,
    /// Intercept.
    pub b: f64,
}

/// `ln(1 + e^x)` without overflow.
fn softplus(x: f64) -> f64 {
    if x > 0.0 {
        x + (-x).exp().ln_1p()
    } else {
        x.exp().ln_1p()
    }
}

fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

impl PlattScaling {
    /// Fits on `(score, correct)` pairs. Fails on empty input, different lengths, or a
    /// non-finite score. Works with one class only (then `a = 0` and `p` is the smoothed rate).
    pub fn fit(scores: &[f64], outcomes: &[bool]) -> Result<Self, Error> {
        check_pairs(scores, outcomes.len())?;
        let pos = outcomes.iter().filter(|&&y| y).count() as f64;
        let neg = outcomes.len() as f64 - pos;
        let t_pos = (pos + 1.0) / (pos + 2.0);
        let t_neg = 1.0 / (neg + 2.0);
        let targets: Vec<f64> = outcomes
            .iter()
            .map(|&y| if y { t_pos } else { t_neg })
            .collect();

        // Cross-entropy against the smoothed targets, as a function of (a, b).
        let loss = |a: f64, b: f64| -> f64 {
            scores
                .iter()
                .zip(&targets)
                .map(|(&s, &t)| {
                    let z = a * s + b;
                    // -t ln σ(z) - (1-t) ln(1-σ(z)) = softplus(z) - t z
                    softplus(z) - t * z
                })
                .sum()
        };
        let (mut a, mut b) = (0.0, ((pos + 1.0) / (neg + 1.0)).ln());
        let mut f = loss(a, b);
        for _ in 0..100 {
            let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (0.0, 0.0, 1e-12, 0.0, 1e-12);
            for (&s, &t) in scores.iter().zip(&targets) {
                let p = sigmoid(a * s + b);
                let d = p - t;
                let w = (p * (1.0 - p)).max(1e-300);
                ga += d * s;
                gb += d;
                haa += w * s * s;
                hab += w * s;
                hbb += w;
            }
            if ga.abs() < 1e-10 && gb.abs() < 1e-10 {
                break;
            }
            let det = haa * hbb - hab * hab;
            if det <= 0.0 || !det.is_finite() {
                break;
            }
            let da = -(hbb * ga - hab * gb) / det;
            let db = -(haa * gb - hab * ga) / det;
            // Backtracking line search keeps every step a descent step.
            let mut step = 1.0;
            let mut improved = false;
            while step >= 1e-10 {
                let (na, nb) = (a + step * da, b + step * db);
                let nf = loss(na, nb);
                if nf < f + 1e-4 * step * (ga * da + gb * db) {
                    (a, b, f) = (na, nb, nf);
                    improved = true;
                    break;
                }
                step /= 2.0;
            }
            if !improved {
                break;
            }
        }
        Ok(Self { a, b })
    }

    /// Probability in (0, 1) for a raw score (saturates to 0 or 1 only for extreme scores).
    /// A NaN score gives NaN.
    pub fn probability(&self, score: f64) -> f64 {
        sigmoid(self.a * score + self.b)
    }
}

/// A fitted non-decreasing step function from score to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IsotonicRegression {
    /// Lowest score of each block, strictly increasing.
    thresholds: Vec<f64>,
    /// Fitted value of each block, non-decreasing, in [0, 1] for 0/1 targets.
    values: Vec<f64>,
}

impl IsotonicRegression {
    /// Fits on `(score, correct)` pairs with unit weights. Fails like [`PlattScaling::fit`].
    pub fn fit(scores: &[f64], outcomes: &[bool]) -> Result<Self, Error> {
        let targets: Vec<f64> = outcomes
            .iter()
            .map(|&y| if y { 1.0 } else { 0.0 })
            .collect();
        Self::fit_weighted(scores, &targets, &vec![1.0; targets.len()])
    }

    /// Weighted pool-adjacent-violators on `(score, target, weight)`; targets are usually 0/1
    /// but may be any finite number. Fails on empty input, different lengths, non-finite
    /// values, or a negative weight; points with zero weight are ignored, and if all are zero
    /// the input counts as empty.
    pub fn fit_weighted(scores: &[f64], targets: &[f64], weights: &[f64]) -> Result<Self, Error> {
        check_pairs(scores, targets.len())?;
        check_pairs(scores, weights.len())?;
        if targets.iter().any(|t| !t.is_finite()) {
            return Err(Error::invalid("target", "must be finite"));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) {
            return Err(Error::invalid("weight", "must be finite and >= 0"));
        }
        let mut order: Vec<usize> = (0..scores.len()).filter(|&i| weights[i] > 0.0).collect();
        if order.is_empty() {
            return Err(Error::EmptyInput("weights (all zero)"));
        }
        order.sort_by(|&i, &j| scores[i].total_cmp(&scores[j]));

        // Blocks of (lowest score, weighted sum of targets, total weight). Equal scores start
        // in one block: a function of the score cannot tell them apart.
        let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
        for &i in &order {
            let (s, wy, w) = (scores[i], targets[i] * weights[i], weights[i]);
            match blocks.last_mut() {
                Some(last) if last.0 == s => {
                    last.1 += wy;
                    last.2 += w;
                }
                _ => blocks.push((s, wy, w)),
            }
            // Pool while the last block's mean falls below its predecessor's.
            while blocks.len() >= 2 {
                let (l, p) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
                if l.1 / l.2 >= p.1 / p.2 {
                    break;
                }
                blocks.pop();
                let prev = blocks.last_mut().expect("two blocks");
                prev.1 += l.1;
                prev.2 += l.2;
            }
        }
        Ok(Self {
            thresholds: blocks.iter().map(|b| b.0).collect(),
            values: blocks.iter().map(|b| b.1 / b.2).collect(),
        })
    }

    /// The fitted value of the block holding `score`: the last block starting at or below it,
    /// or the first block for scores below all data. Non-decreasing in `score`. NaN counts as
    /// above every score.
    pub fn probability(&self, score: f64) -> f64 {
        let i = self
            .thresholds
            .partition_point(|&t| t <= score || score.is_nan());
        self.values[i.saturating_sub(1)]
    }

    /// The blocks as `(lowest score, value)`, in increasing order.
    pub fn blocks(&self) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.thresholds
            .iter()
            .copied()
            .zip(self.values.iter().copied())
    }
}

/// Either calibration method, for storage with a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "snake_case")]
pub enum Calibrator {
    /// Platt scaling.
    Platt(PlattScaling),
    /// Isotonic regression.
    Isotonic(IsotonicRegression),
}

impl Calibrator {
    /// Calibrated probability in [0, 1] for a raw score.
    pub fn probability(&self, score: f64) -> f64 {
        match self {
            Calibrator::Platt(p) => p.probability(score),
            Calibrator::Isotonic(i) => i.probability(score),
        }
    }
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// Items in the bin.
    pub count: usize,
    /// Lowest and highest confidence in the bin.
    pub min_confidence: f64,
    /// Highest confidence in the bin.
    pub max_confidence: f64,
    /// Mean stated confidence, in [0, 1].
    pub mean_confidence: f64,
    /// Observed share correct, in [0, 1].
    pub accuracy: f64,
}

/// Reliability table with `bins` equal-mass bins (sizes differ by at most one; fewer bins when
/// there are fewer items than bins). `confidences` are probabilities in [0, 1]. Fails on empty
/// input, different lengths, `bins == 0`, or a confidence outside [0, 1].
pub fn reliability_table(
    confidences: &[f64],
    outcomes: &[bool],
    bins: usize,
) -> Result<Vec<ReliabilityBin>, Error> {
    check_pairs(confidences, outcomes.len())?;
    if bins == 0 {
        return Err(Error::invalid("bins", "must be at least 1"));
    }
    if let Some(c) = confidences.iter().find(|c| !(0.0..=1.0).contains(*c)) {
        return Err(Error::invalid(
            "confidence",
            format!("{c} is not in [0, 1]"),
        ));
    }
    let mut order: Vec<usize> = (0..confidences.len()).collect();
    order.sort_by(|&i, &j| confidences[i].total_cmp(&confidences[j]));
    let n = order.len();
    let bins = bins.min(n);
    Ok((0..bins)
        .map(|b| {
            let slice = &order[b * n / bins..(b + 1) * n / bins];
            let count = slice.len();
            let conf: f64 = slice.iter().map(|&i| confidences[i]).sum();
            let right = slice.iter().filter(|&&i| outcomes[i]).count();
            ReliabilityBin {
                count,
                min_confidence: confidences[slice[0]],
                max_confidence: confidences[slice[count - 1]],
                mean_confidence: conf / count as f64,
                accuracy: right as f64 / count as f64,
            }
        })
        .collect())
}

/// Expected calibration error with equal-mass bins: `Σ_b (n_b / n) · |accuracy_b −
/// confidence_b|`, in [0, 1]. Fails like [`reliability_table`].
pub fn ece(confidences: &[f64], outcomes: &[bool], bins: usize) -> Result<f64, Error> {
    let table = reliability_table(confidences, outcomes, bins)?;
    let n = confidences.len() as f64;
    Ok(table
        .iter()
        .map(|b| b.count as f64 / n * (b.accuracy - b.mean_confidence).abs())
        .sum())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};

    /// Outcomes drawn with true probability `sigmoid(3s - 1)`.
    fn sample(n: usize, seed: u64) -> (Vec<f64>, Vec<bool>) {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(seed);
        (0..n)
            .map(|_| {
                let s: f64 = rng.random::<f64>() * 4.0 - 2.0;
                let y = rng.random::<f64>() < sigmoid(3.0 * s - 1.0);
                (s, y)
            })
            .unzip()
    }

    #[test]
    fn platt_recovers_a_logistic_link() {
        let (s, y) = sample(20_000, 1);
        let p = PlattScaling::fit(&s, &y).unwrap();
        assert!((p.a - 3.0).abs() < 0.15, "{p:?}");
        assert!((p.b + 1.0).abs() < 0.1, "{p:?}");
    }

    #[test]
    fn platt_on_separable_data_stays_finite() {
        let s = [0.1, 0.2, 0.3, 0.7, 0.8, 0.9];
        let y = [false, false, false, true, true, true];
        let p = PlattScaling::fit(&s, &y).unwrap();
        assert!(p.a.is_finite() && p.a > 0.0);
        // Platt's targets cap the fitted probabilities near 4/5 and 1/5 at the data.
        assert!(p.probability(0.9) < 0.95 && p.probability(0.1) > 0.05);
    }

    #[test]
    fn platt_with_one_class_gives_the_smoothed_rate() {
        let p = PlattScaling::fit(&[0.1, 0.5, 0.9], &[true, true, true]).unwrap();
        assert!((p.probability(0.5) - 0.8).abs() < 1e-6, "{p:?}");
    }

    #[test]
    fn bad_input_is_rejected() {
        assert!(matches!(
            PlattScaling::fit(&[], &[]),
            Err(Error::EmptyInput(_))
        ));
        assert!(matches!(
            PlattScaling::fit(&[0.1], &[true, false]),
            Err(Error::LengthMismatch { .. })
        ));
        assert!(IsotonicRegression::fit(&[f64::NAN], &[true]).is_err());
        assert!(IsotonicRegression::fit_weighted(&[0.1], &[1.0], &[-1.0]).is_err());
        assert!(IsotonicRegression::fit_weighted(&[0.1], &[1.0], &[0.0]).is_err());
        assert!(ece(&[0.5], &[true], 0).is_err());
        assert!(ece(&[1.5], &[true], 1).is_err());
    }

    #[test]
    fn pav_textbook_example() {
        // y = 1, 3, 2, 4, 3, 5 pools to 1, 2.5, 2.5, 3.5, 3.5, 5.
        let s = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let y = [1.0, 3.0, 2.0, 4.0, 3.0, 5.0];
        let iso = IsotonicRegression::fit_weighted(&s, &y, &[1.0; 6]).unwrap();
        let fitted: Vec<f64> = s.iter().map(|&x| iso.probability(x)).collect();
        assert_eq!(fitted, [1.0, 2.5, 2.5, 3.5, 3.5, 5.0]);
        // Weights pull the pooled mean: 3 (weight 3) and 2 (weight 1) pool to 2.75.
        let iso = IsotonicRegression::fit_weighted(&[1.0, 2.0], &[3.0, 2.0], &[3.0, 1.0]).unwrap();
        assert_eq!(iso.probability(1.5), 2.75);
        // Outside the data: clamp to the end blocks.
        assert_eq!(iso.probability(-10.0), 2.75);
    }

    #[test]
    fn isotonic_calibrates_a_sample() {
        let (s, y) = sample(20_000, 2);
        let iso = IsotonicRegression::fit(&s, &y).unwrap();
        for x in [-1.0, 0.0, 0.5, 1.0] {
            assert!(
                (iso.probability(x) - sigmoid(3.0 * x - 1.0)).abs() < 0.06,
                "at {x}"
            );
        }
    }

    #[test]
    fn ece_of_calibrated_and_overconfident_scores() {
        let (s, y) = sample(50_000, 3);
        let truth: Vec<f64> = s.iter().map(|&x| sigmoid(3.0 * x - 1.0)).collect();
        assert!(ece(&truth, &y, 10).unwrap() < 0.01);
        // Claiming 99% or 1% wherever the truth leans one way is far off.
        let overconfident: Vec<f64> = truth
            .iter()
            .map(|&p| if p > 0.5 { 0.99 } else { 0.01 })
            .collect();
        assert!(ece(&overconfident, &y, 10).unwrap() > 0.1);
    }

    #[test]
    fn reliability_table_by_hand() {
        let c = [0.1, 0.2, 0.3, 0.9, 0.8, 0.7];
        let y = [false, false, true, true, true, false];
        let t = reliability_table(&c, &y, 2).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].count, 3);
        assert!((t[0].mean_confidence - 0.2).abs() < 1e-12);
        assert!((t[0].accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert!((t[1].mean_confidence - 0.8).abs() < 1e-12);
        assert!((t[1].accuracy - 2.0 / 3.0).abs() < 1e-12);
        let e = ece(&c, &y, 2).unwrap();
        assert!((e - (0.5 * (1.0 / 3.0 - 0.2) + 0.5 * (0.8 - 2.0 / 3.0))).abs() < 1e-12);
        // More bins than items: one bin per item.
        assert_eq!(reliability_table(&c, &y, 100).unwrap().len(), 6);
    }

    #[test]
    fn calibrators_serialize() {
        let iso =
            Calibrator::Isotonic(IsotonicRegression::fit(&[0.1, 0.9], &[false, true]).unwrap());
        let json = serde_json::to_string(&iso).unwrap();
        assert!(json.contains("\"method\":\"isotonic\""));
        assert_eq!(serde_json::from_str::<Calibrator>(&json).unwrap(), iso);
        let platt = Calibrator::Platt(PlattScaling { a: 2.0, b: -1.0 });
        let back: Calibrator =
            serde_json::from_str(&serde_json::to_string(&platt).unwrap()).unwrap();
        assert_eq!(back, platt);
    }

    proptest! {
        #[test]
        fn pav_is_monotone(points in proptest::collection::vec((-5.0f64..5.0, 0.0f64..1.0, 0.01f64..10.0), 1..200)) {
            let s: Vec<f64> = points.iter().map(|p| p.0).collect();
            let y: Vec<f64> = points.iter().map(|p| p.1).collect();
            let w: Vec<f64> = points.iter().map(|p| p.2).collect();
            let iso = IsotonicRegression::fit_weighted(&s, &y, &w).unwrap();
            let mut grid: Vec<f64> = s.clone();
            grid.extend([-10.0, 10.0, 0.0]);
            grid.sort_by(f64::total_cmp);
            let fitted: Vec<f64> = grid.iter().map(|&x| iso.probability(x)).collect();
            prop_assert!(fitted.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(fitted.iter().all(|v| (0.0..=1.0).contains(v)));
            // PAV preserves the weighted mean.
            let mean_y: f64 = y.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>() / w.iter().sum::<f64>();
            let mean_fit: f64 = s.iter().zip(&w).map(|(&x, b)| iso.probability(x) * b).sum::<f64>() / w.iter().sum::<f64>();
            prop_assert!((mean_y - mean_fit).abs() < 1e-9);
        }

        #[test]
        fn platt_output_is_a_probability(points in proptest::collection::vec((-100.0f64..100.0, any::<bool>()), 1..100), x in -1e3f64..1e3) {
            let (s, y): (Vec<f64>, Vec<bool>) = points.into_iter().unzip();
            let p = PlattScaling::fit(&s, &y).unwrap();
            let v = p.probability(x);
            prop_assert!((0.0..=1.0).contains(&v));
            prop_assert!(p.probability(s[0]) > 0.0 && p.probability(s[0]) < 1.0);
        }

        #[test]
        fn ece_is_in_unit_interval(points in proptest::collection::vec((0.0f64..=1.0, any::<bool>()), 1..100), bins in 1usize..20) {
            let (c, y): (Vec<f64>, Vec<bool>) = points.into_iter().unzip();
            let e = ece(&c, &y, bins).unwrap();
            prop_assert!((0.0..=1.0).contains(&e));
            let t = reliability_table(&c, &y, bins).unwrap();
            prop_assert_eq!(t.iter().map(|b| b.count).sum::<usize>(), c.len());
        }
    }
}
