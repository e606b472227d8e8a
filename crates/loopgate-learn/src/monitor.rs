//! The automatic kill switch: a Bernoulli CUSUM on audit outcomes, in e-process form
//! (Reynolds & Stoumbos 1999; Page 1954).
//!
//! Each audited auto-approval gives `y = 1` (escape) or `y = 0`. Under the in-control escape
//! rate `p0` and the out-of-control rate `p1 > p0` to detect, each observation's likelihood
//! ratio is the e-value `E = (p1/p0)^y ((1−p1)/(1−p0))^(1−y)` (its mean under `p0` is 1). The
//! statistic `S_t = max(S_{t−1}, 0) + ln E_t` is the log of the largest product of e-values
//! over any recent stretch, and the switch trips when `S_t >= h = ln(ARL0)`. By Lorden's
//! bound, the mean number of in-control observations before a false alarm is at least about
//! `ARL0`. Once tripped it stays tripped until [`Cusum::reset`] (a lead's decision).

use serde::{Deserialize, Serialize};

use crate::Error;

/// Bernoulli CUSUM state; serializable so it survives restarts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cusum {
    p0: f64,
    p1: f64,
    threshold: f64,
    statistic: f64,
    observations: u64,
    tripped_at: Option<u64>,
}

/// What one observation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Below the threshold: keep automating.
    InControl,
    /// At or above the threshold now or earlier, and not yet reset: send everything to people.
    Tripped,
}

impl Cusum {
    /// A fresh monitor that detects a rise of the escape rate from `p0` to `p1` and has an
    /// in-control average run length of about `arl0` observations. Fails unless
    /// `0 < p0 < p1 < 1` and `arl0 > 1`.
    pub fn new(p0: f64, p1: f64, arl0: f64) -> Result<Self, Error> {
        if !(p0 > 0.0 && p0 < p1 && p1 < 1.0) {
            return Err(Error::invalid(
                "p0/p1",
                format!("need 0 < p0 < p1 < 1 (got {p0}, {p1})"),
            ));
        }
        if !(arl0 > 1.0 && arl0.is_finite()) {
            return Err(Error::invalid(
                "arl0",
                format!("{arl0} must be finite and > 1"),
            ));
        }
        Ok(Self {
            p0,
            p1,
            threshold: arl0.ln(),
            statistic: 0.0,
            observations: 0,
            tripped_at: None,
        })
    }

    /// `ln E` for one observation: `ln(p1/p0)` for an escape, `ln((1−p1)/(1−p0))` (< 0) else.
    pub fn log_e_value(&self, escaped: bool) -> f64 {
        if escaped {
            (self.p1 / self.p0).ln()
        } else {
            ((1.0 - self.p1) / (1.0 - self.p0)).ln()
        }
    }

    /// Adds one audit outcome and reports the status. After tripping, further observations
    /// still update the statistic but the status stays [`Status::Tripped`] until reset.
    pub fn observe(&mut self, escaped: bool) -> Status {
        self.statistic = self.statistic.max(0.0) + self.log_e_value(escaped);
        self.observations += 1;
        if self.tripped_at.is_none() && self.statistic >= self.threshold {
            self.tripped_at = Some(self.observations);
        }
        self.status()
    }

    /// Current status.
    pub fn status(&self) -> Status {
        if self.tripped_at.is_some() {
            Status::Tripped
        } else {
            Status::InControl
        }
    }

    /// `S_t`, in log e-value units (nats).
    pub fn statistic(&self) -> f64 {
        self.statistic
    }

    /// The alarm threshold `h = ln(ARL0)`.
    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    /// Observations since creation or the last reset.
    pub fn observations(&self) -> u64 {
        self.observations
    }

    /// The observation (1-based, since the last reset) at which the switch tripped.
    pub fn tripped_at(&self) -> Option<u64> {
        self.tripped_at
    }

    /// A monitor with the same `p0`, `p1` and threshold that has seen nothing yet.
    pub fn fresh(&self) -> Self {
        let mut m = self.clone();
        m.reset();
        m
    }

    /// Clears the statistic and the alarm, keeping `p0`, `p1` and the threshold.
    pub fn reset(&mut self) {
        self.statistic = 0.0;
        self.observations = 0;
        self.tripped_at = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::{RngExt, SeedableRng};

    #[test]
    fn statistic_follows_the_recursion_by_hand() {
        let mut c = Cusum::new(0.01, 0.05, 1000.0).unwrap();
        let up = (5.0f64).ln();
        let down = (0.95f64 / 0.99).ln();
        assert_eq!(c.observe(false), Status::InControl);
        assert!((c.statistic() - down).abs() < 1e-15);
        c.observe(true);
        // max(down, 0) = 0, so S = up.
        assert!((c.statistic() - up).abs() < 1e-15);
        c.observe(true);
        assert!((c.statistic() - 2.0 * up).abs() < 1e-12);
        assert!((c.threshold() - 1000f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn trips_on_a_burst_and_stays_tripped_until_reset() {
        let mut c = Cusum::new(0.01, 0.05, 1000.0).unwrap();
        // ln(1000) / ln(5) = 4.29: the fifth escape in a row trips it.
        for _ in 0..4 {
            assert_eq!(c.observe(true), Status::InControl);
        }
        assert_eq!(c.observe(true), Status::Tripped);
        assert_eq!(c.tripped_at(), Some(5));
        for _ in 0..1000 {
            assert_eq!(c.observe(false), Status::Tripped);
        }
        c.reset();
        assert_eq!(c.status(), Status::InControl);
        assert_eq!((c.statistic(), c.observations()), (0.0, 0));
    }

    #[test]
    fn false_alarms_are_rare_and_shifts_are_caught() {
        let mut rng = rand::rngs::Xoshiro256PlusPlus::seed_from_u64(11);
        // In control at p0 = 2%: with ARL0 = 5000, 2000 observations rarely alarm.
        let mut alarms = 0;
        for _ in 0..50 {
            let mut c = Cusum::new(0.02, 0.06, 5000.0).unwrap();
            for _ in 0..2000 {
                c.observe(rng.random::<f64>() < 0.02);
            }
            alarms += usize::from(c.status() == Status::Tripped);
        }
        assert!(alarms <= 15, "{alarms} false alarms in 50 runs");
        // At p1 = 6% the alarm comes within a few hundred observations.
        let mut delays = Vec::new();
        for _ in 0..50 {
            let mut c = Cusum::new(0.02, 0.06, 5000.0).unwrap();
            let mut t = 0;
            while c.observe(rng.random::<f64>() < 0.06) == Status::InControl {
                t += 1;
            }
            delays.push(t);
        }
        delays.sort_unstable();
        assert!(delays[25] < 400, "median delay {}", delays[25]);
    }

    #[test]
    fn bad_parameters_are_rejected() {
        assert!(Cusum::new(0.05, 0.01, 100.0).is_err());
        assert!(Cusum::new(0.0, 0.01, 100.0).is_err());
        assert!(Cusum::new(0.01, 1.0, 100.0).is_err());
        assert!(Cusum::new(0.01, 0.05, 1.0).is_err());
        assert!(Cusum::new(0.01, 0.05, f64::INFINITY).is_err());
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut c = Cusum::new(0.01, 0.05, 1000.0).unwrap();
        c.observe(true);
        let back: Cusum = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        // JSON may move a float by one unit in the last place.
        assert!((back.statistic() - c.statistic()).abs() < 1e-12);
        assert_eq!(
            (back.observations(), back.status(), back.threshold()),
            (1, Status::InControl, c.threshold())
        );
    }

    proptest! {
        #[test]
        fn statistic_never_falls_below_a_single_step(outcomes in proptest::collection::vec(any::<bool>(), 0..500)) {
            let mut c = Cusum::new(0.02, 0.1, 500.0).unwrap();
            for y in outcomes {
                c.observe(y);
                prop_assert!(c.statistic() >= c.log_e_value(false) - 1e-12);
                if let Some(t) = c.tripped_at() {
                    prop_assert!(t <= c.observations());
                    prop_assert_eq!(c.status(), Status::Tripped);
                }
            }
        }
    }
}
