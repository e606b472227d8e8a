//! Loopgate's learning loop as plain math: no files, no network, no clocks; randomness only
//! from seeds the caller passes. See DESIGN.md, "The learning loop".
//!
//! - [`classifier`]: the embedded triage model (online logistic regression on hashed n-grams);
//!   [`features`] turns text into its hashed n-grams; [`learner`] holds the fold models the
//!   loop proposes with and certifies on.
//! - [`calibration`]: raw score → probability of being right (Platt, isotonic), ECE and
//!   reliability tables.
//! - [`risk`]: exact binomial bounds and Learn-then-Test thresholds with a guarantee; what-if
//!   replay of thresholds on history.
//! - [`escape`]: the escape rate of auto-approvals from inverse-probability-weighted audits.
//! - [`monitor`]: the automatic kill switch (Bernoulli CUSUM).
//! - [`novelty`]: conformal p-values that flag inputs unlike ordinary traffic.
//! - [`agreement`]: reviewer agreement (Cohen's and Fleiss' kappa, Krippendorff's alpha).

pub mod agreement;
pub mod calibration;
pub mod classifier;
pub mod escape;
pub mod features;
pub mod learner;
pub mod monitor;
pub mod novelty;
pub mod risk;

/// Why a learning-loop computation refused its input. All variants are caller errors (bad or
/// insufficient data); nothing in this crate fails for internal reasons.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A parameter is outside its domain.
    #[error("invalid {name}: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Nothing to compute on.
    #[error("no {0} to compute on")]
    EmptyInput(&'static str),
    /// Two inputs that must pair up element by element differ in length.
    #[error("length mismatch: expected {expected}, found {found}")]
    LengthMismatch {
        /// Length of the first input.
        expected: usize,
        /// Length of the other.
        found: usize,
    },
    /// The statistic is undefined for this data (e.g. kappa when every rating is one label).
    #[error("undefined: {0}")]
    Undefined(&'static str),
    /// Bytes that are not a model written by this crate.
    #[error("corrupt model: {0}")]
    CorruptModel(String),
}

impl Error {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        Self::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }
}
