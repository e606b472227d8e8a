//! Thresholds with a guarantee: exact binomial bounds and Learn-then-Test.
//!
//! Given labelled outcomes `(score, correct)` — the AI's confidence in its proposal and whether
//! a person found the proposal right — we choose an approve threshold `U` such that, with
//! probability at least `1 - delta` over the labelled sample, the error rate among items scored
//! `>= U` is at most `alpha` (Angelopoulos, Bates, Candès, Jordan, Lei 2021, "Learn then Test").
//! Symmetrically, a reject threshold `L` bounds the rate of *correct* items among those scored
//! `< L`.
//!
//! For each threshold `t` the null hypothesis "the error rate above `t` exceeds `alpha`" has the
//! exact binomial p-value `P(Bin(n_t, alpha) <= k_t)` (`n_t` items above, `k_t` of them wrong).
//! That bounds the error rate of the traffic; what a customer sees is the rate *delivered* on
//! the items actually automated, which carries the luck of their draw on top. So each threshold
//! must also pass "more than `alpha` of the next `n_t` automated items are wrong", whose exact
//! p-value under exchangeability is hypergeometric ([`delivered_p_value`]); a threshold's
//! p-value is the larger of the two. At `alpha` = 1% and 3,500 labelled items this admits 22
//! errors where the traffic bound alone admits 25: the price of promising what is delivered.
//! Thresholds are tested in a sequence fixed before looking at the labels (fixed-sequence
//! testing), strictest first; we stop at the first p-value above `delta`, and the loosest
//! threshold rejected before stopping is certified. Fixed-sequence testing controls the
//! family-wise error rate at `delta` with no multiplicity correction. The sequence starts at the
//! first threshold with at least [`RiskTarget::start_items`] items above it: enough that a
//! threshold whose true error rate is half of `alpha` passes with probability 0.9. It does not
//! start where the bound first becomes reachable, `n_t >= ln(delta) / ln(1 - alpha)`
//! ([`RiskTarget::min_items`], about `3 / alpha`): there only a threshold with zero errors
//! passes, so a fixed-sequence test starting there stops at once on the first error among the
//! most confident items and certifies nothing. The start depends only on how many items lie
//! above each threshold, never on their labels, so the p-values stay valid (conditionally on the
//! scores).
//!
//! The numerics are done here rather than with a statistics crate: `statrs`'s inverse beta is
//! inaccurate at large shape parameters (statrs issues 434/435), and a wrong bound here is a
//! wrong promise to a customer. Binomial tails are sums of log-pmf terms (via ln-gamma) from the
//! mode outwards, and the Clopper–Pearson bound inverts the exact tail by bisection.

use serde::{Deserialize, Serialize};

use crate::Error;

/// A labelled outcome: the model's score for an item and whether its proposal was right.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// The model's confidence score; any finite number (higher = more confident).
    pub score: f64,
    /// Whether a person judged the proposal correct.
    pub correct: bool,
}

/// The smallest tolerated error rate a [`RiskTarget`] accepts: certifying it needs about
/// 30,000 labelled items above a threshold.
pub const MIN_ALPHA: f64 = 1e-4;
/// The smallest failure probability a [`RiskTarget`] accepts (confidence 99.99%).
pub const MIN_DELTA: f64 = 1e-4;

/// A validated risk target: tolerated error rate `alpha` at confidence `1 - delta`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskTarget {
    alpha: f64,
    delta: f64,
}

impl RiskTarget {
    /// `alpha` (tolerated error rate) and `delta` (allowed probability that the guarantee
    /// fails) must both lie strictly inside (0, 1).
    pub fn new(alpha: f64, delta: f64) -> Result<Self, Error> {
        check_open_unit("alpha", alpha)?;
        check_open_unit("delta", delta)?;
        // Below these, certifying anything takes millions of labelled items, and the sample
        // sizes computed here would take as long to search.
        if !(MIN_ALPHA..=0.5).contains(&alpha) {
            return Err(Error::invalid(
                "alpha",
                format!("{alpha} is outside [{MIN_ALPHA}, 0.5]"),
            ));
        }
        if !(MIN_DELTA..=0.5).contains(&delta) {
            return Err(Error::invalid(
                "delta",
                format!("{delta} is outside [{MIN_DELTA}, 0.5]"),
            ));
        }
        Ok(Self { alpha, delta })
    }

    /// Tolerated error rate, in (0, 1).
    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    /// Failure probability of the guarantee, in (0, 1).
    pub fn delta(&self) -> f64 {
        self.delta
    }

    /// Fewest labelled items above a threshold that could certify it even with zero errors:
    /// the smallest `n` with `(1 - alpha)^n <= delta`, about `3 / alpha` for `delta = 0.05`.
    pub fn min_items(&self) -> u64 {
        let n = (self.delta.ln() / (1.0 - self.alpha).ln()).ceil();
        let mut n = n.max(1.0) as u64;
        // Guard the float estimate with the exact tail it stands for.
        while binomial_cdf_ln(0, n, self.alpha) > self.delta.ln() {
            n += 1;
        }
        while n > 1 && binomial_cdf_ln(0, n - 1, self.alpha) <= self.delta.ln() {
            n -= 1;
        }
        n
    }
}

impl RiskTarget {
    /// Where fixed-sequence testing starts: the fewest labelled items above a threshold at
    /// which a threshold whose true error rate is half the target would pass with probability
    /// at least 0.9. Never below [`RiskTarget::min_items`].
    ///
    /// Starting at the barely reachable count (`min_items`) lets one error among the few most
    /// confident items stop the whole sequence before it reaches the thresholds that matter.
    /// The start depends only on how many items lie above each threshold, never on their
    /// errors, so the guarantee of fixed-sequence testing is unchanged.
    pub fn start_items(&self) -> u64 {
        let planned = self.alpha / 2.0;
        let passes_with_power = |n: u64| {
            // The largest error count that passes at n, then the chance of seeing no more.
            let mut k_max = None;
            let mut k = 0;
            while k <= n && binomial_cdf(k, n, self.alpha) <= self.delta {
                k_max = Some(k);
                k += 1;
            }
            k_max.is_some_and(|k| binomial_cdf(k, n, planned) >= 0.9)
        };
        let mut n = self.min_items();
        let mut step = n.max(1);
        // Grow, then bisect back: passing with power is monotone in n up to lattice wiggles.
        while !passes_with_power(n) {
            n += step;
            step *= 2;
        }
        let mut low = self.min_items();
        while low < n {
            let mid = low + (n - low) / 2;
            if passes_with_power(mid) {
                n = mid;
            } else {
                low = mid + 1;
            }
        }
        n.max(self.min_items())
    }
}

fn check_open_unit(name: &'static str, v: f64) -> Result<(), Error> {
    if v.is_finite() && v > 0.0 && v < 1.0 {
        Ok(())
    } else {
        Err(Error::invalid(name, format!("{v} is not in (0, 1)")))
    }
}

/// `ln Γ(x)` for `x > 0` (Lanczos, g = 7, 9 terms; relative error below 1e-14).
pub fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection keeps the series in its accurate range.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = COEF[0];
    let t = x + G + 0.5;
    for (i, c) in COEF.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

/// `ln P(Bin(n, p) = i)`; `-inf` outside the support. `p` must be in [0, 1].
fn ln_pmf(i: u64, n: u64, p: f64) -> f64 {
    if i > n {
        return f64::NEG_INFINITY;
    }
    if p <= 0.0 {
        return if i == 0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if p >= 1.0 {
        return if i == n { 0.0 } else { f64::NEG_INFINITY };
    }
    let (n, i) = (n as f64, i as f64);
    ln_gamma(n + 1.0) - ln_gamma(i + 1.0) - ln_gamma(n - i + 1.0)
        + i * p.ln()
        + (n - i) * (-p).ln_1p()
}

/// `ln` of the sum of pmf terms from `start` stepping by `dir` (+1/-1) while inside
/// `[0, n]`, where the terms fall monotonically away from `start`. Stops once the terms are
/// negligible (below 1e-20 of the running sum).
fn ln_tail_sum(start: u64, n: u64, p: f64, up: bool) -> f64 {
    let first = ln_pmf(start, n, p);
    if first == f64::NEG_INFINITY {
        return first;
    }
    let (lp, lq) = (p.ln(), (-p).ln_1p());
    let mut i = start;
    // Ratio of consecutive pmf terms, exact: avoids re-evaluating ln-gamma per term.
    ln_sum_outwards(first, || {
        if up {
            if i >= n {
                return None;
            }
            let ratio = ((n - i) as f64).ln() - ((i + 1) as f64).ln() + lp - lq;
            i += 1;
            Some(ratio)
        } else {
            if i == 0 {
                return None;
            }
            let ratio = (i as f64).ln() - ((n - i + 1) as f64).ln() + lq - lp;
            i -= 1;
            Some(ratio)
        }
    })
}

/// `ln` of a sum of terms that fall monotonically away from the first, whose log is `first`:
/// `next_ratio` gives the log of each next term over the one before, or `None` at the end of
/// the support. Summed relative to the first term, so nothing underflows; stops once the
/// terms are negligible (below 1e-20 of the running sum).
fn ln_sum_outwards(first: f64, mut next_ratio: impl FnMut() -> Option<f64>) -> f64 {
    let mut sum = 1.0f64; // relative to exp(first)
    let mut term = 0.0f64; // ln(term / first)
    while let Some(ratio) = next_ratio() {
        term += ratio;
        let t = term.exp();
        sum += t;
        if t < sum * 1e-20 {
            break;
        }
    }
    first + sum.ln()
}

/// `ln P(Bin(n, p) <= k)`, accurate far into the tails: the terms are summed in log space
/// from the mode outwards, so there is no cancellation and no underflow (the log stays finite
/// where the probability itself would round to 0). `p` is clamped into [0, 1] (NaN counts as
/// 1); `k >= n` gives 0.
pub fn binomial_cdf_ln(k: u64, n: u64, p: f64) -> f64 {
    let p = if p.is_nan() { 1.0 } else { p.clamp(0.0, 1.0) };
    if k >= n || p == 0.0 {
        return 0.0;
    }
    if p == 1.0 {
        return f64::NEG_INFINITY;
    }
    let mode = ((n + 1) as f64 * p).floor() as u64;
    if k < mode {
        // Lower tail lies left of the mode: terms shrink as i falls from k.
        ln_tail_sum(k, n, p, false)
    } else {
        // k at or right of the mode: the upper tail P(X > k) is at most about one half, so
        // 1 - upper loses no precision.
        let upper = ln_tail_sum(k + 1, n, p, true).exp();
        (-upper).ln_1p()
    }
}

/// `P(Bin(n, p) <= k)`, in [0, 1]. See [`binomial_cdf_ln`].
pub fn binomial_cdf(k: u64, n: u64, p: f64) -> f64 {
    binomial_cdf_ln(k, n, p).exp()
}

/// `ln C(n, k)`.
fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// `ln P(X <= k)` for `X ~ Hypergeometric(population, successes, draws)`: the number of
/// successes among `draws` items drawn without replacement from `population` items of which
/// `successes` are successes. Summed in log space from `k` away from the mode, like
/// [`binomial_cdf_ln`]. `successes` and `draws` are clamped to `population`.
pub fn hypergeometric_cdf_ln(k: u64, population: u64, successes: u64, draws: u64) -> f64 {
    let (n_all, big_k) = (population, successes.min(population));
    let n = draws.min(population);
    let lo = (n + big_k).saturating_sub(n_all);
    let hi = big_k.min(n);
    if k >= hi {
        return 0.0;
    }
    if k < lo {
        return f64::NEG_INFINITY;
    }
    let ln_pmf =
        |x: u64| ln_choose(big_k, x) + ln_choose(n_all - big_k, n - x) - ln_choose(n_all, n);
    let mode = ((n + 1) as f64 * (big_k + 1) as f64 / (n_all + 2) as f64).floor() as u64;
    // The ratio of consecutive terms, pmf(x + 1) / pmf(x), in log space.
    let ln_up = |x: u64| {
        ((big_k - x) as f64).ln() + ((n - x) as f64).ln()
            - ((x + 1) as f64).ln()
            - ((n_all - big_k - n + x + 1) as f64).ln()
    };
    let (start, up) = if k < mode { (k, false) } else { (k + 1, true) };
    let mut x = start;
    let tail = ln_sum_outwards(ln_pmf(start), || {
        if up {
            if x >= hi {
                return None;
            }
            x += 1;
            Some(ln_up(x - 1))
        } else {
            if x <= lo {
                return None;
            }
            x -= 1;
            Some(-ln_up(x))
        }
    });
    if up { (-tail.exp()).ln_1p() } else { tail }
}

/// The p-value of "the error rate among the next `horizon` automated items exceeds `alpha`",
/// given `errors` among `items` labelled ones above the same threshold, when the labelled and
/// the future items are exchangeable (drawn alike from the same traffic).
///
/// The future holds more than `alpha` errors per item when it holds at least
/// `x0 = floor(alpha * horizon) + 1`; of `items + horizon` exchangeable items with `K` errors
/// in all, the labelled ones are a draw without replacement, so their error count is
/// hypergeometric, and the chance of seeing `errors` or fewer is largest at
/// `K = errors + x0`. Unlike the Clopper–Pearson p-value, which bounds the error *rate* of the
/// traffic, this one also accounts for the luck of the draw of the items actually automated:
/// what a customer sees is the delivered rate.
pub fn delivered_p_value(errors: u64, items: u64, horizon: u64, alpha: f64) -> f64 {
    if items == 0 || horizon == 0 {
        return 1.0;
    }
    let x0 = (alpha.clamp(0.0, 1.0) * horizon as f64).floor() as u64 + 1;
    if x0 > horizon {
        return 0.0;
    }
    hypergeometric_cdf_ln(errors, items + horizon, errors + x0, items).exp()
}

/// Exact one-sided Clopper–Pearson upper bound: the largest rate `p` with
/// `P(Bin(n, p) <= k) >= delta`, so the true rate is below it with confidence `1 - delta`.
/// Returns 1 when `n == 0` or `k >= n`. Computed by bisection on the exact tail in log space
/// and rounded up (the returned bound is never below the exact one). Fails when `k > n` or
/// `delta` is not in (0, 1).
pub fn clopper_pearson_upper(k: u64, n: u64, delta: f64) -> Result<f64, Error> {
    check_open_unit("delta", delta)?;
    if k > n {
        return Err(Error::invalid("k", format!("{k} errors out of {n} items")));
    }
    if k == n {
        return Ok(1.0);
    }
    let target = delta.ln();
    // The CDF falls as p rises, from 1 at p = 0 to 0 at p = 1, so [0, 1] brackets the bound
    // for every delta. (It lies above k/n only for delta <= 1/2: k is a median at p = k/n.)
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if binomial_cdf_ln(k, n, mid) >= target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(hi)
}

/// Exact one-sided Clopper–Pearson lower bound: the smallest `p` with
/// `P(Bin(n, p) >= k) >= delta`. Returns 0 when `k == 0`. Fails like
/// [`clopper_pearson_upper`].
pub fn clopper_pearson_lower(k: u64, n: u64, delta: f64) -> Result<f64, Error> {
    if k > n {
        return Err(Error::invalid(
            "k",
            format!("{k} successes out of {n} items"),
        ));
    }
    // By symmetry: the lower bound on p is 1 - the upper bound on 1 - p.
    Ok(1.0 - clopper_pearson_upper(n - k, n, delta)?)
}

/// Which side of the threshold is automated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Items scored `>= threshold` are approved; an error is an approved incorrect proposal.
    Approve,
    /// Items scored `< threshold` are rejected; an error is a rejected correct proposal.
    Reject,
}

/// A certified threshold and what it buys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    /// Which side this threshold automates.
    pub side: Side,
    /// The threshold: approve at `score >= threshold`, or reject at `score < threshold`.
    pub threshold: f64,
    /// Labelled items on the automated side of the threshold.
    pub items: u64,
    /// Errors among them.
    pub errors: u64,
    /// Clopper–Pearson upper bound (confidence `1 - delta`) on their error rate.
    pub error_upper_bound: f64,
    /// The Learn-then-Test p-value at this threshold, `<= delta`: the larger of the traffic
    /// (Clopper–Pearson) and the delivered-rate ([`delivered_p_value`]) p-values.
    pub p_value: f64,
    /// Share of all labelled items on the automated side, in [0, 1]: the automation bought.
    pub automation_rate: f64,
}

/// Learn-then-Test for the approve threshold `U`. `grid` lists candidate thresholds from
/// strictest (highest) to loosest and must be fixed before seeing the labels (e.g.
/// [`uniform_grid`]). Returns the loosest certified threshold, or `None` when no threshold can
/// be certified (too few items, or too many errors even at the strictest reachable one).
/// Fails when the grid is empty, not strictly decreasing, or holds a non-finite value, or when
/// an outcome's score is not finite.
pub fn certify_approve(
    outcomes: &[Outcome],
    grid: &[f64],
    target: RiskTarget,
) -> Result<Option<Certificate>, Error> {
    certify(outcomes, grid, target, Side::Approve)
}

/// Learn-then-Test for the reject threshold `L` (items scored `< L` are rejected; an error is
/// a rejected item whose proposal was correct). `grid` runs from strictest (lowest) to loosest
/// (highest). Otherwise as [`certify_approve`].
pub fn certify_reject(
    outcomes: &[Outcome],
    grid: &[f64],
    target: RiskTarget,
) -> Result<Option<Certificate>, Error> {
    certify(outcomes, grid, target, Side::Reject)
}

/// The confidence thresholds Loopgate tests, strictest first, fixed before any label: from
/// 0.9995 down to 0.02, the gap below 1 growing 4% a step, so dense near 1 where the useful
/// approve thresholds of a good model lie. The server and `loopgate simulate` certify on this
/// one grid; the reject side walks it mirrored (`1 − t`).
pub fn confidence_grid() -> Vec<f64> {
    let mut grid = Vec::new();
    let mut gap = 0.0005_f64;
    while 1.0 - gap > 0.02 {
        grid.push(1.0 - gap);
        gap *= 1.04;
    }
    grid
}

/// `steps + 1` evenly spaced thresholds from `strictest` to `loosest` inclusive, in testing
/// order. Fails unless both ends are finite, distinct, and `steps >= 1`.
pub fn uniform_grid(strictest: f64, loosest: f64, steps: usize) -> Result<Vec<f64>, Error> {
    if !strictest.is_finite() || !loosest.is_finite() || strictest == loosest || steps == 0 {
        return Err(Error::invalid(
            "grid",
            format!(
                "need finite, distinct ends and steps >= 1 (got {strictest}, {loosest}, {steps})"
            ),
        ));
    }
    Ok((0..=steps)
        .map(|i| strictest + (loosest - strictest) * i as f64 / steps as f64)
        .collect())
}

fn check_outcomes(outcomes: &[Outcome]) -> Result<(), Error> {
    match outcomes.iter().find(|o| !o.score.is_finite()) {
        Some(o) => Err(Error::invalid(
            "score",
            format!("{} is not finite", o.score),
        )),
        None => Ok(()),
    }
}

fn certify(
    outcomes: &[Outcome],
    grid: &[f64],
    target: RiskTarget,
    side: Side,
) -> Result<Option<Certificate>, Error> {
    check_outcomes(outcomes)?;
    if grid.is_empty() || grid.iter().any(|t| !t.is_finite()) {
        return Err(Error::invalid("grid", "must be non-empty and finite"));
    }
    let ordered = grid.windows(2).all(|w| match side {
        Side::Approve => w[0] > w[1],
        Side::Reject => w[0] < w[1],
    });
    if !ordered {
        return Err(Error::invalid(
            "grid",
            "must run strictly from strictest to loosest",
        ));
    }

    let total = outcomes.len() as u64;
    let start_items = target.start_items();
    let mut certified = None;
    for &t in grid {
        let (items, errors) = count_side(outcomes, t, side);
        if items < start_items {
            // Too few items to test with power: not part of the tested sequence (decided from
            // counts alone, never from errors).
            continue;
        }
        let p_value = binomial_cdf(errors, items, target.alpha).max(delivered_p_value(
            errors,
            items,
            items,
            target.alpha,
        ));
        if p_value > target.delta {
            break;
        }
        certified = Some(Certificate {
            side,
            threshold: t,
            items,
            errors,
            error_upper_bound: clopper_pearson_upper(errors, items, target.delta)?,
            p_value,
            automation_rate: items as f64 / total as f64,
        });
    }
    Ok(certified)
}

/// Items on the automated side of `t` and the errors among them.
fn count_side(outcomes: &[Outcome], t: f64, side: Side) -> (u64, u64) {
    let mut items = 0;
    let mut errors = 0;
    for o in outcomes {
        let (inside, error) = match side {
            Side::Approve => (o.score >= t, !o.correct),
            Side::Reject => (o.score < t, o.correct),
        };
        if inside {
            items += 1;
            errors += u64::from(error);
        }
    }
    (items, errors)
}

/// Replay of fixed thresholds over labelled history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WhatIf {
    /// Items replayed.
    pub items: u64,
    /// Share of items decided without a person (approved + rejected), in [0, 1].
    pub automation_rate: f64,
    /// Share auto-approved (`score >= approve_at`), in [0, 1].
    pub auto_approve_share: f64,
    /// Share auto-rejected (`score < reject_below`), in [0, 1].
    pub auto_reject_share: f64,
    /// Auto-approved items whose proposal was wrong.
    pub escapes: u64,
    /// Escapes per auto-approved item, in [0, 1]; 0 when nothing was approved.
    pub escape_rate: f64,
    /// Clopper–Pearson upper bound on the escape rate at confidence `1 - delta`; 1 when
    /// nothing was approved.
    pub escape_rate_upper: f64,
    /// Auto-rejected items whose proposal was right.
    pub wrong_rejections: u64,
}

/// Replays `approve_at` (approve when `score >= approve_at`; `None` = never) and
/// `reject_below` (reject when `score < reject_below`; `None` = never) over `history`. Fails
/// when a threshold or score is not finite, when `reject_below > approve_at` (an item could be
/// both), or when `delta` is not in (0, 1).
pub fn what_if(
    history: &[Outcome],
    approve_at: Option<f64>,
    reject_below: Option<f64>,
    delta: f64,
) -> Result<WhatIf, Error> {
    check_outcomes(history)?;
    check_open_unit("delta", delta)?;
    for t in [approve_at, reject_below].into_iter().flatten() {
        if !t.is_finite() {
            return Err(Error::invalid("threshold", format!("{t} is not finite")));
        }
    }
    if let (Some(u), Some(l)) = (approve_at, reject_below)
        && l > u
    {
        return Err(Error::invalid(
            "reject_below",
            format!("{l} is above approve_at {u}"),
        ));
    }
    let (approved, escapes) = approve_at.map_or((0, 0), |u| count_side(history, u, Side::Approve));
    let (rejected, wrong_rejections) =
        reject_below.map_or((0, 0), |l| count_side(history, l, Side::Reject));
    let n = history.len() as u64;
    let share = |x: u64| if n == 0 { 0.0 } else { x as f64 / n as f64 };
    Ok(WhatIf {
        items: n,
        automation_rate: share(approved + rejected),
        auto_approve_share: share(approved),
        auto_reject_share: share(rejected),
        escapes,
        escape_rate: if approved == 0 {
            0.0
        } else {
            escapes as f64 / approved as f64
        },
        escape_rate_upper: clopper_pearson_upper(escapes, approved, delta)?,
        wrong_rejections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, rel: f64) -> bool {
        (a - b).abs() <= rel * b.abs().max(1e-300)
    }

    #[test]
    fn ln_gamma_matches_factorials() {
        let mut fact = 1.0f64;
        for n in 1..30u32 {
            fact *= f64::from(n);
            assert!(
                close(ln_gamma(f64::from(n) + 1.0), fact.ln(), 1e-13),
                "n = {n}"
            );
        }
        assert!(close(
            ln_gamma(0.5),
            std::f64::consts::PI.sqrt().ln(),
            1e-13
        ));
    }

    #[test]
    fn binomial_cdf_matches_exact_values() {
        // Reference values from exact rational arithmetic (Python fractions).
        assert!(close(binomial_cdf(3, 10, 0.5), 176.0 / 1024.0, 1e-13));
        assert!(close(binomial_cdf(0, 20, 0.1), 0.9f64.powi(20), 1e-13));
        assert!(close(
            binomial_cdf(5, 1000, 0.01),
            0.06613951160725197,
            1e-11
        ));
        assert!(close(
            binomial_cdf(950, 1000, 0.9),
            0.9999999972132897,
            1e-13
        ));
        assert!(close(
            binomial_cdf(100, 100_000, 0.002),
            3.540035833331523e-15,
            1e-9
        ));
        assert_eq!(binomial_cdf(10, 10, 0.3), 1.0);
        assert_eq!(binomial_cdf(3, 10, 0.0), 1.0);
        assert_eq!(binomial_cdf(3, 10, 1.0), 0.0);
    }

    #[test]
    fn far_tail_stays_finite_in_log_space() {
        let l = binomial_cdf_ln(0, 1_000_000, 0.01);
        assert!(close(l, 1_000_000.0 * (0.99f64).ln(), 1e-12));
    }

    #[test]
    fn hypergeometric_cdf_matches_exact_sums() {
        // Exact sums of binomial coefficients (Python's math.comb).
        for (k, population, successes, draws, want) in [
            (1, 20, 7, 12, 0.004_437_564_499_484_004),
            (3, 50, 10, 25, 0.144_507_928_079_210_12),
            (7, 50, 10, 25, 0.963_122_529_517_714_6),
            (25, 7000, 61, 3500, 0.099_031_808_226_282_85),
        ] {
            let got = hypergeometric_cdf_ln(k, population, successes, draws).exp();
            assert!(
                close(got, want, 1e-9),
                "{k} {population} {successes} {draws}: {got}"
            );
        }
        assert_eq!(hypergeometric_cdf_ln(10, 50, 10, 25), 0.0, "every draw");
        assert_eq!(
            hypergeometric_cdf_ln(2, 20, 15, 10),
            f64::NEG_INFINITY,
            "at least 5 drawn"
        );
    }

    #[test]
    fn the_delivered_rate_needs_a_wider_margin_than_the_traffic_rate() {
        // 3,500 labelled items above a threshold: Clopper–Pearson at alpha 1%, delta 5% passes
        // up to 25 errors; the delivered rate over the next 3,500 items needs 22 or fewer.
        let passes = |k| delivered_p_value(k, 3_500, 3_500, 0.01) <= 0.05;
        assert!(binomial_cdf(25, 3_500, 0.01) <= 0.05 && binomial_cdf(26, 3_500, 0.01) > 0.05);
        assert!(passes(22) && !passes(23));
        assert_eq!(delivered_p_value(0, 0, 100, 0.01), 1.0);
    }

    #[test]
    fn clopper_pearson_known_values() {
        // Zero errors: closed form 1 - delta^(1/n).
        for n in [1u64, 10, 299, 5000] {
            let u = clopper_pearson_upper(0, n, 0.05).unwrap();
            assert!(
                close(u, 1.0 - 0.05f64.powf(1.0 / n as f64), 1e-9),
                "n = {n}"
            );
        }
        // 1 of 10 at 95%: Beta(0.95; 2, 9) quantile.
        assert!(close(
            clopper_pearson_upper(1, 10, 0.05).unwrap(),
            0.394_163_302_4,
            1e-9
        ));
        // Large shapes (where statrs's inverse beta goes wrong): the bound sits exactly where
        // the exact tail equals delta.
        // References from an independent float computation (Python lgamma + bisection).
        let u = clopper_pearson_upper(500, 10_000, 0.05).unwrap();
        assert!(close(u, 0.053_733_178_190_645_78, 1e-9), "{u}");
        let u = clopper_pearson_upper(20, 100_000, 0.01).unwrap();
        assert!(close(u, 3.310_094_936_383_708e-4, 1e-9), "{u}");
        assert_eq!(clopper_pearson_upper(7, 7, 0.05).unwrap(), 1.0);
        assert_eq!(clopper_pearson_upper(0, 0, 0.05).unwrap(), 1.0);
        assert!(clopper_pearson_upper(8, 7, 0.05).is_err());
        assert!(clopper_pearson_upper(1, 7, 1.0).is_err());
        assert!(close(
            clopper_pearson_lower(9, 10, 0.05).unwrap(),
            1.0 - 0.394_163_302_4,
            1e-9
        ));
    }

    #[test]
    fn clopper_pearson_is_exact_for_delta_above_one_half() {
        // Above delta = 1/2 the bound lies below k/n. References from exact decimal
        // arithmetic (Python decimal, 50 digits, bisection on the binomial polynomial).
        // 1 of 10 at delta 0.75: the Beta(0.25; 2, 9) quantile.
        let u = clopper_pearson_upper(1, 10, 0.75).unwrap();
        assert!(close(u, 0.096_403_852_611_779_08, 1e-9), "{u}");
        assert!(u < 0.1);
        // Zero errors keeps the closed form 1 - delta^(1/n).
        let u = clopper_pearson_upper(0, 10, 0.9).unwrap();
        assert!(close(u, 1.0 - 0.9f64.powf(0.1), 1e-9), "{u}");
        let u = clopper_pearson_upper(3, 20, 0.9).unwrap();
        assert!(close(u, 0.090_213_455_307_470_49, 1e-9), "{u}");
        // The defining relation holds at the returned bound: P(Bin(n, u) <= k) = delta.
        for (k, n, delta) in [
            (1, 10, 0.75),
            (3, 20, 0.9),
            (50, 1_000, 0.6),
            (7, 5_000, 0.99),
        ] {
            let u = clopper_pearson_upper(k, n, delta).unwrap();
            assert!(
                (binomial_cdf(k, n, u) - delta).abs() < 1e-9,
                "{k} {n} {delta}"
            );
        }
        // The lower bound, its mirror image, is exact there too.
        assert!(close(
            clopper_pearson_lower(9, 10, 0.75).unwrap(),
            1.0 - 0.096_403_852_611_779_08,
            1e-9
        ));
    }

    #[test]
    fn testing_starts_where_half_the_target_passes_with_power() {
        let target = RiskTarget::new(0.01, 0.05).unwrap();
        let n = target.start_items();
        assert!(n > target.min_items() && n < 5_000, "{n}");
        // At n, a threshold erring at alpha/2 passes with probability >= 0.9 ...
        let k = (0..n)
            .take_while(|k| binomial_cdf(*k, n, 0.01) <= 0.05)
            .last()
            .unwrap();
        assert!(binomial_cdf(k, n, 0.005) >= 0.9);
        // ... and at a third of n it would not.
        let m = n / 3;
        let k = (0..m)
            .take_while(|k| binomial_cdf(*k, m, 0.01) <= 0.05)
            .last();
        assert!(k.is_none_or(|k| binomial_cdf(k, m, 0.005) < 0.9));
    }

    #[test]
    fn one_error_among_the_most_confident_items_does_not_stop_the_sequence() {
        // 6,000 items, the most confident one wrong, then one error in 500 (0.2%).
        let n = 6_000;
        let outcomes: Vec<Outcome> = (0..n)
            .map(|i| Outcome {
                score: 1.0 - i as f64 / n as f64,
                correct: i != 0 && i % 500 != 250,
            })
            .collect();
        let target = RiskTarget::new(0.01, 0.05).unwrap();
        // Where the bound first becomes reachable only zero errors pass: a sequence starting
        // there would stop at once on the first item.
        assert!(binomial_cdf(1, target.min_items(), 0.01) > 0.05);
        let grid = uniform_grid(1.0, 0.0, 600).unwrap();
        let cert = certify_approve(&outcomes, &grid, target)
            .unwrap()
            .expect("certified despite the early error");
        assert!(cert.items >= target.start_items());
        assert!(cert.automation_rate > 0.9, "{cert:?}");
    }

    #[test]
    fn min_items_is_about_three_over_alpha() {
        assert_eq!(RiskTarget::new(0.01, 0.05).unwrap().min_items(), 299);
        assert_eq!(RiskTarget::new(0.1, 0.05).unwrap().min_items(), 29);
        assert!(RiskTarget::new(0.0, 0.05).is_err());
        assert!(RiskTarget::new(0.1, 1.0).is_err());
        // Targets whose sample sizes would take forever to search are refused.
        assert!(RiskTarget::new(1e-9, 0.05).is_err());
        assert!(RiskTarget::new(0.01, 1e-12).is_err());
        assert!(RiskTarget::new(0.6, 0.05).is_err());
        let strictest = RiskTarget::new(MIN_ALPHA, MIN_DELTA).unwrap();
        assert!(strictest.start_items() >= strictest.min_items());
    }

    fn synthetic(n: usize) -> Vec<Outcome> {
        // Score i/n; the proposal is wrong on every 50th item below 0.8 and every 500th above.
        (0..n)
            .map(|i| {
                let score = i as f64 / n as f64;
                let wrong = if score < 0.8 {
                    i % 50 == 0
                } else {
                    i % 500 == 0
                };
                Outcome {
                    score,
                    correct: !wrong,
                }
            })
            .collect()
    }

    #[test]
    fn certifies_the_clean_region() {
        let outcomes = synthetic(20_000);
        let target = RiskTarget::new(0.01, 0.05).unwrap();
        let grid = uniform_grid(1.0, 0.0, 100).unwrap();
        let cert = certify_approve(&outcomes, &grid, target)
            .unwrap()
            .expect("certified");
        // Above 0.8 the error rate is 0.2%; below it 2%, which the test must not admit.
        assert!(cert.threshold >= 0.7 && cert.threshold <= 0.8, "{cert:?}");
        assert!(cert.items >= target.min_items());
        assert!(cert.p_value <= 0.05);
        assert!(cert.error_upper_bound <= 0.011);
        assert!((cert.automation_rate - (1.0 - cert.threshold)).abs() < 1e-3);
    }

    #[test]
    fn too_few_items_certify_nothing() {
        let outcomes = synthetic(100);
        let target = RiskTarget::new(0.01, 0.05).unwrap();
        let grid = uniform_grid(1.0, 0.0, 20).unwrap();
        assert_eq!(certify_approve(&outcomes, &grid, target).unwrap(), None);
    }

    #[test]
    fn reject_side_bounds_wrongly_rejected_correct_items() {
        // Below 0.3 proposals are mostly wrong: rejecting them rarely rejects a correct one.
        let outcomes: Vec<Outcome> = (0..5_000)
            .map(|i| {
                let score = i as f64 / 5_000.0;
                let correct = if score < 0.3 {
                    i % 1000 == 999
                } else {
                    i % 3 != 0
                };
                Outcome { score, correct }
            })
            .collect();
        let target = RiskTarget::new(0.02, 0.05).unwrap();
        let grid = uniform_grid(0.0, 1.0, 50).unwrap();
        let cert = certify_reject(&outcomes, &grid, target)
            .unwrap()
            .expect("certified");
        assert_eq!(cert.side, Side::Reject);
        assert!((cert.threshold - 0.3).abs() < 1e-9, "{cert:?}");
        assert_eq!((cert.items, cert.errors), (1500, 1));
    }

    #[test]
    fn the_confidence_grid_is_fixed_and_strictly_decreasing() {
        let grid = confidence_grid();
        assert_eq!(grid, confidence_grid());
        assert!(grid.windows(2).all(|w| w[0] > w[1]));
        assert_eq!(grid[0], 0.9995);
        assert!(grid[grid.len() - 1] > 0.02 && grid[grid.len() - 1] < 0.05);
    }

    #[test]
    fn bad_grids_are_rejected() {
        let target = RiskTarget::new(0.1, 0.1).unwrap();
        let o = synthetic(10);
        assert!(certify_approve(&o, &[], target).is_err());
        assert!(certify_approve(&o, &[0.1, 0.9], target).is_err());
        assert!(certify_reject(&o, &[0.9, 0.1], target).is_err());
        assert!(certify_approve(&o, &[f64::NAN], target).is_err());
        let bad = [Outcome {
            score: f64::INFINITY,
            correct: true,
        }];
        assert!(certify_approve(&bad, &[0.5], target).is_err());
        assert!(uniform_grid(1.0, 1.0, 3).is_err());
    }

    #[test]
    fn what_if_replays_thresholds() {
        let history = [
            Outcome {
                score: 0.95,
                correct: true,
            },
            Outcome {
                score: 0.9,
                correct: false,
            },
            Outcome {
                score: 0.6,
                correct: true,
            },
            Outcome {
                score: 0.2,
                correct: false,
            },
            Outcome {
                score: 0.1,
                correct: true,
            },
        ];
        let w = what_if(&history, Some(0.9), Some(0.3), 0.05).unwrap();
        assert_eq!(w.items, 5);
        assert!(close(w.auto_approve_share, 0.4, 1e-12));
        assert!(close(w.auto_reject_share, 0.4, 1e-12));
        assert!(close(w.automation_rate, 0.8, 1e-12));
        assert_eq!(w.escapes, 1);
        assert!(close(w.escape_rate, 0.5, 1e-12));
        assert!(close(
            w.escape_rate_upper,
            clopper_pearson_upper(1, 2, 0.05).unwrap(),
            1e-12
        ));
        assert_eq!(w.wrong_rejections, 1);
        let none = what_if(&history, None, None, 0.05).unwrap();
        assert_eq!(none.automation_rate, 0.0);
        assert_eq!(none.escape_rate_upper, 1.0);
        assert!(what_if(&history, Some(0.3), Some(0.9), 0.05).is_err());
    }

    proptest! {
        #[test]
        fn upper_bound_is_monotone_and_exact(n in 1u64..3000, k_frac in 0.0f64..1.0, delta in 0.001f64..0.999) {
            let k = ((n as f64) * k_frac).floor() as u64;
            let u = clopper_pearson_upper(k, n, delta).unwrap();
            if delta <= 0.5 {
                // k is a median of Bin(n, k/n): the bound lies at or above the observed rate.
                prop_assert!(u >= k as f64 / n as f64);
            }
            prop_assert!(u <= 1.0);
            // More confidence, a higher bound.
            prop_assert!(clopper_pearson_upper(k, n, (delta / 2.0).max(1e-6)).unwrap() >= u);
            if k < n {
                prop_assert!(clopper_pearson_upper(k + 1, n, delta).unwrap() >= u);
            }
            prop_assert!(clopper_pearson_upper(k, n + 1, delta).unwrap() <= u);
            // Exactness: the tail at the bound equals delta (unless the bound is 1).
            if u < 1.0 {
                prop_assert!((binomial_cdf(k, n, u) - delta).abs() < 1e-7);
            }
        }

        #[test]
        fn cdf_is_monotone(n in 1u64..2000, k_frac in 0.0f64..1.0, p in 0.0f64..1.0) {
            let k = ((n as f64) * k_frac).floor() as u64;
            let c = binomial_cdf(k, n, p);
            prop_assert!((0.0..=1.0).contains(&c));
            prop_assert!(binomial_cdf(k + 1, n, p) >= c - 1e-12);
            prop_assert!(binomial_cdf(k, n, (p + 0.01).min(1.0)) <= c + 1e-12);
        }

        #[test]
        fn certified_thresholds_have_enough_items(
            raw in proptest::collection::vec((0.0f64..1.0, 0.0f64..1.0), 0..600),
            alpha in 0.01f64..0.3,
        ) {
            // Errors get likelier as scores fall.
            let outcomes: Vec<Outcome> = raw.iter().map(|&(s, u)| Outcome { score: s, correct: u < 0.5 + 0.5 * s }).collect();
            let target = RiskTarget::new(alpha, 0.1).unwrap();
            let grid = uniform_grid(1.0, 0.0, 20).unwrap();
            let start = target.start_items();
            prop_assert!(start >= target.min_items());
            if let Some(c) = certify_approve(&outcomes, &grid, target).unwrap() {
                // Never rests on fewer labelled outcomes than where testing starts.
                prop_assert!(c.items >= start);
                prop_assert!(c.p_value <= target.delta());
                let above = outcomes.iter().filter(|o| o.score >= c.threshold).count() as u64;
                prop_assert_eq!(above, c.items);
                // Fixed-sequence testing: every stricter threshold with at least `start` items
                // above it was tested before this one, and passed.
                for &t in grid.iter().take_while(|&&t| t > c.threshold) {
                    let (items, errors) = count_side(&outcomes, t, Side::Approve);
                    if items >= start {
                        let p = binomial_cdf(errors, items, alpha)
                            .max(delivered_p_value(errors, items, items, alpha));
                        prop_assert!(p <= target.delta(), "{t} failed before {}", c.threshold);
                    }
                }
            }
        }
    }
}
