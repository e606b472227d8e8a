//! Escape-rate estimate: how often an auto-approved item was actually wrong, from audits of a
//! sample of auto-approved items drawn with known inclusion probabilities.
//!
//! Audits are assumed drawn by Poisson sampling: each auto-approved item `i` is audited
//! independently with a known probability `π_i > 0` (higher for riskier items, say). With
//! `y_i = 1` for an escape and `w_i = 1/π_i`:
//!
//! - Horvitz–Thompson: `R_HT = Σ w_i y_i / N`, unbiased when the number `N` of auto-approved
//!   items is known;
//! - Hájek: `R_H = Σ w_i y_i / Σ w_i`, a ratio that needs no `N`, is always in [0, 1], and has
//!   smaller variance when the weights vary; this is the headline estimate.
//!
//! Interval: the Hájek ratio's variance is linearised (Taylor) as
//! `V = Σ (1 − π_i) w_i² (y_i − R_H)² / (Σ w_i)²` (Särndal, Swensson & Wretman 1992, §5.7). A
//! Wald interval `R ± z√V` collapses to a point when no escape was seen, exactly when the
//! upper end matters most, so we report a Wilson score interval at `R_H` with an effective
//! sample size `n_eff = R_H (1 − R_H) / V`, chosen so the Wilson interval has the linearised
//! variance; when `R_H` is 0 or 1 (`V = 0`) we fall back to Kish's `n_eff = (Σ w)² / Σ w²`.
//! With equal `π` and `N` large this is the ordinary Wilson interval. It is approximate
//! (normal theory), unlike the exact bounds of [`crate::risk`].

use serde::{Deserialize, Serialize};

use crate::Error;

/// One audited auto-approved item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Audit {
    /// Probability in (0, 1] with which this item was chosen for audit.
    pub inclusion_probability: f64,
    /// Whether the audit found the auto-approval wrong.
    pub escaped: bool,
}

/// Escape-rate estimates with a confidence interval; rates are shares in [0, 1].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EscapeEstimate {
    /// Audits used.
    pub audited: usize,
    /// Escapes found among them (unweighted count).
    pub escapes: usize,
    /// Horvitz–Thompson estimate, `Σ y/π / N`; may exceed 1 in unlucky samples.
    pub horvitz_thompson: f64,
    /// Hájek estimate, `Σ y/π / Σ 1/π`, in [0, 1].
    pub hajek: f64,
    /// Linearised standard error of the Hájek estimate.
    pub std_error: f64,
    /// Effective sample size behind the interval.
    pub effective_sample_size: f64,
    /// Lower end of the Wilson interval, in [0, 1].
    pub lower: f64,
    /// Upper end of the Wilson interval, in [0, 1].
    pub upper: f64,
    /// Two-sided confidence level of the interval, in (0, 1).
    pub confidence: f64,
}

/// Estimates the escape rate among `population` auto-approved items from `audits`. Fails when
/// there are no audits, an inclusion probability is outside (0, 1], `population` is smaller
/// than the number of audits, or `confidence` is not in (0, 1).
pub fn estimate(
    audits: &[Audit],
    population: usize,
    confidence: f64,
) -> Result<EscapeEstimate, Error> {
    if audits.is_empty() {
        return Err(Error::EmptyInput("audits"));
    }
    if !(confidence > 0.0 && confidence < 1.0) {
        return Err(Error::invalid(
            "confidence",
            format!("{confidence} is not in (0, 1)"),
        ));
    }
    if population < audits.len() {
        return Err(Error::invalid(
            "population",
            format!(
                "{population} auto-approved items but {} audits",
                audits.len()
            ),
        ));
    }
    if let Some(a) = audits
        .iter()
        .find(|a| !(a.inclusion_probability > 0.0 && a.inclusion_probability <= 1.0))
    {
        return Err(Error::invalid(
            "inclusion_probability",
            format!("{} is not in (0, 1]", a.inclusion_probability),
        ));
    }

    let y = |a: &Audit| if a.escaped { 1.0 } else { 0.0 };
    let sum_w: f64 = audits.iter().map(|a| 1.0 / a.inclusion_probability).sum();
    let sum_w2: f64 = audits
        .iter()
        .map(|a| a.inclusion_probability.powi(-2))
        .sum();
    let sum_wy: f64 = audits.iter().map(|a| y(a) / a.inclusion_probability).sum();
    let hajek = (sum_wy / sum_w).clamp(0.0, 1.0);
    let variance: f64 = audits
        .iter()
        .map(|a| {
            let w = 1.0 / a.inclusion_probability;
            (1.0 - a.inclusion_probability) * (w * (y(a) - hajek)).powi(2)
        })
        .sum::<f64>()
        / (sum_w * sum_w);

    let kish = sum_w * sum_w / sum_w2;
    let n_eff = if variance > 0.0 && hajek > 0.0 && hajek < 1.0 {
        hajek * (1.0 - hajek) / variance
    } else {
        kish
    };
    let z = normal_quantile(0.5 + confidence / 2.0);
    let (lower, upper) = wilson(hajek, n_eff, z);
    Ok(EscapeEstimate {
        audited: audits.len(),
        escapes: audits.iter().filter(|a| a.escaped).count(),
        horvitz_thompson: sum_wy / population as f64,
        hajek,
        std_error: variance.sqrt(),
        effective_sample_size: n_eff,
        lower,
        upper,
        confidence,
    })
}

/// Wilson score interval for a rate `p` from `n` (possibly fractional) trials.
fn wilson(p: f64, n: f64, z: f64) -> (f64, f64) {
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// Standard normal quantile by Acklam's rational approximation (relative error below
/// 1.2e-9, ample for interval ends). `p` must be in (0, 1).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn normal_quantiles() {
        assert!((normal_quantile(0.975) - 1.959_963_984_540_054).abs() < 1e-8);
        assert!((normal_quantile(0.5)).abs() < 1e-12);
        assert!((normal_quantile(0.05) + 1.644_853_626_951_472_2).abs() < 1e-8);
        assert!((normal_quantile(1e-6) + 4.753_424_308_822_899).abs() < 1e-7);
    }

    #[test]
    fn equal_probabilities_reduce_to_the_plain_rate() {
        let audits: Vec<Audit> = (0..200)
            .map(|i| Audit {
                inclusion_probability: 0.1,
                escaped: i < 10,
            })
            .collect();
        let e = estimate(&audits, 2_000, 0.95).unwrap();
        assert!((e.hajek - 0.05).abs() < 1e-12);
        assert!((e.horvitz_thompson - 0.05).abs() < 1e-12);
        // Linearised variance = (1 - π) p (1 - p) / n: a Wilson interval with n / (1 - π).
        let (lo, hi) = wilson(0.05, 200.0 / 0.9, normal_quantile(0.975));
        assert!((e.lower - lo).abs() < 1e-9 && (e.upper - hi).abs() < 1e-9);
        assert!(e.lower < 0.05 && e.upper > 0.05);
    }

    #[test]
    fn no_escapes_still_gives_a_positive_upper_end() {
        let audits = vec![
            Audit {
                inclusion_probability: 0.5,
                escaped: false
            };
            100
        ];
        let e = estimate(&audits, 200, 0.95).unwrap();
        assert_eq!(e.hajek, 0.0);
        assert_eq!(e.lower, 0.0);
        // Wilson at p = 0 with Kish n = 100: z² / (n + z²).
        let z2 = normal_quantile(0.975).powi(2);
        assert!((e.upper - z2 / (100.0 + z2)).abs() < 1e-9);
    }

    #[test]
    fn weights_correct_for_oversampled_risky_items() {
        // 1,000 risky items (20% escape) audited at π = 0.5; 9,000 safe (1%) at π = 0.05.
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(7);
        let mut audits = Vec::new();
        for i in 0..10_000 {
            let (pi, rate) = if i < 1_000 { (0.5, 0.2) } else { (0.05, 0.01) };
            if rng.random::<f64>() < pi {
                audits.push(Audit {
                    inclusion_probability: pi,
                    escaped: rng.random::<f64>() < rate,
                });
            }
        }
        let e = estimate(&audits, 10_000, 0.95).unwrap();
        let truth = (1_000.0 * 0.2 + 9_000.0 * 0.01) / 10_000.0; // 0.029
        let naive = e.escapes as f64 / e.audited as f64;
        assert!(
            naive > 0.08,
            "unweighted share is biased towards risky items: {naive}"
        );
        assert!((e.hajek - truth).abs() < 0.012, "{e:?}");
        assert!(e.lower <= truth && truth <= e.upper, "{e:?}");
    }

    #[test]
    fn bad_input_is_rejected() {
        let ok = Audit {
            inclusion_probability: 0.5,
            escaped: false,
        };
        assert!(estimate(&[], 10, 0.95).is_err());
        assert!(estimate(&[ok], 0, 0.95).is_err());
        assert!(estimate(&[ok], 10, 1.0).is_err());
        assert!(
            estimate(
                &[Audit {
                    inclusion_probability: 0.0,
                    escaped: true
                }],
                10,
                0.9
            )
            .is_err()
        );
        assert!(
            estimate(
                &[Audit {
                    inclusion_probability: 1.5,
                    escaped: true
                }],
                10,
                0.9
            )
            .is_err()
        );
    }

    proptest! {
        #[test]
        fn interval_brackets_the_hajek_estimate(
            audits in proptest::collection::vec((0.01f64..=1.0, any::<bool>()), 1..300),
            confidence in 0.5f64..0.999,
        ) {
            let audits: Vec<Audit> = audits.into_iter().map(|(p, e)| Audit { inclusion_probability: p, escaped: e }).collect();
            let e = estimate(&audits, audits.len() * 10, confidence).unwrap();
            prop_assert!((0.0..=1.0).contains(&e.hajek));
            prop_assert!(e.lower <= e.hajek + 1e-12 && e.hajek <= e.upper + 1e-12);
            prop_assert!(e.lower >= 0.0 && e.upper <= 1.0);
        }
    }
}
